//! The stub's DNS server: hickory-server on UDP and TCP with a request handler of ours that
//! answers from the current [`Zone`] and, for federated names, the [`Resolver`].
//!
//! * Standard queries of class IN with exactly one question are answered from the zone, with
//!   the answer section a client's resolver can use as it is:
//!   - a local Service with a ready endpoint: the CNAME to its name, then its addresses of the
//!     asked type (A or AAAA; none for other types), every record with `--ttl`;
//!   - otherwise, for A and AAAA: the CNAME to the federated name, then the chain the upstream
//!     gave for it (its CNAMEs and addresses, or NODATA with the upstream's SOA), every record
//!     with the smallest TTL of the chain still left (at most `--ttl`); SERVFAIL when the chain
//!     cannot be completed, never a dangling CNAME. For other types, the CNAME alone;
//!   - the apex SOA, NODATA or NXDOMAIN (both with the SOA in authority), REFUSED outside
//!     `svc.<cluster-domain>`, SERVFAIL while the cluster is not listed or this node's zone
//!     and region are unknown.
//! * AXFR and IXFR are REFUSED (no zone transfer), other opcodes NOTIMP, other classes REFUSED,
//!   several or no questions FORMERR; EDNS is answered at version 0 (BADVERS above).
//! * Answers are authoritative; recursion is never offered (RA=0); RD is echoed as RFC 1035
//!   asks.
//! * UDP is served by a loop of ours per socket: [`super::fast`] answers the common A/AAAA query
//!   from the wire; any other query is decoded and handed to the handler in a task, its response
//!   encoded as hickory's UDP server does. TCP is hickory-server's.

use std::io;
use std::iter;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::Server;
use hickory_server::net::NetError;
use hickory_server::net::runtime::{Time, TokioTime};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// Why the DNS server cannot start or stop cleanly; every message names the address or the
/// protocol at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A socket cannot be bound.
    #[error("cannot bind DNS {protocol} socket on {addr}: {source}")]
    Bind {
        /// `UDP` or `TCP`.
        protocol: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A UDP thread, or its runtime, cannot be started.
    #[error("{what}: {source}")]
    Thread {
        /// What could not be started.
        what: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A UDP thread ended before it served.
    #[error("a DNS server thread ended before serving")]
    ThreadEnded,
    /// The TCP server failed while stopping.
    #[error("DNS server on {addr} failed while shutting down: {source}")]
    Shutdown {
        /// The address served.
        addr: SocketAddr,
        /// hickory-server's error.
        #[source]
        source: NetError,
    },
    /// A UDP thread panicked (or could not be joined) while stopping.
    #[error("DNS server on {addr}: a UDP thread panicked")]
    Panicked {
        /// The address served.
        addr: SocketAddr,
    },
}

use super::chain::Resolver;
use super::fast;
use super::metrics::{AnswerKind, StubMetrics};
use super::zone::{Answer, Zone};

/// How long a TCP connection may stay idle before the server closes it.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses buffered per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 64;
/// Attempts to find a port free for both UDP and TCP when the configured port is 0.
const BIND_ATTEMPTS: usize = 8;
/// The EDNS version answered.
const EDNS_VERSION: u8 = 0;

/// The zone the server answers from, replaced whole as the state changes. Cloning gives another
/// handle to the same slot.
#[derive(Debug, Clone)]
pub struct Shared(Arc<RwLock<Arc<Zone>>>);

impl Shared {
    /// A slot holding `zone`.
    pub fn new(zone: Zone) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(zone))))
    }

    /// The zone queries are answered from now.
    pub fn current(&self) -> Arc<Zone> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes `zone` the one answered from; queries in flight finish with the old one.
    pub fn replace(&self, zone: Zone) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(zone);
    }
}

/// What a query is answered from: the current zone, the federated chains, and the counters.
/// Cloning gives more handles to the same ones.
#[derive(Debug, Clone)]
pub struct Answering {
    /// The zone answered from.
    pub zone: Shared,
    /// Completes federated answers.
    pub resolver: Resolver,
    /// Counts the answers.
    pub metrics: Arc<StubMetrics>,
}

/// The request handler: one lookup in the current zone per query, and for a federated name the
/// chain from the resolver.
struct Handler(Answering);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let (kind, info) = self.answer(request, response_handle).await;
        self.0.metrics.answered(kind);
        info
    }
}

impl Handler {
    async fn answer<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> (AnswerKind, ResponseInfo) {
        let mut response_edns = None;
        if let Some(req) = &request.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns.set_version(EDNS_VERSION);
            if req.version() > EDNS_VERSION {
                edns.set_rcode_high(ResponseCode::BADVERS.high());
                let info = send_error(request, ResponseCode::BADVERS, Some(&edns), response_handle).await;
                return (AnswerKind::Error, info);
            }
            response_edns = Some(edns);
        }
        let response_edns = response_edns.as_ref();
        let fail = |code: ResponseCode, response_handle: R| async move {
            let kind = match code {
                ResponseCode::Refused => AnswerKind::Refused,
                ResponseCode::ServFail => AnswerKind::ServFail,
                _ => AnswerKind::Error,
            };
            (
                kind,
                send_error(request, code, response_edns, response_handle).await,
            )
        };
        if request.metadata.message_type != MessageType::Query {
            return fail(ResponseCode::FormErr, response_handle).await;
        }
        if request.metadata.op_code != OpCode::Query {
            return fail(ResponseCode::NotImp, response_handle).await;
        }
        let Ok(info) = request.request_info() else {
            return fail(ResponseCode::FormErr, response_handle).await;
        };
        let query = info.query;
        let qtype = query.query_type();
        if query.query_class() != DNSClass::IN || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return fail(ResponseCode::Refused, response_handle).await;
        }
        let zone = self.0.zone.current();
        let answer = zone.answer(query.name(), qtype == RecordType::SOA);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let builder = MessageResponseBuilder::new(&request.queries, response_edns);
        let ttl = zone.settings().ttl;
        let qname = query.original().name();
        let cname =
            |target: &Name, ttl| Record::from_rdata(qname.clone(), ttl, RData::CNAME(CNAME(target.clone())));
        let address_query = matches!(qtype, RecordType::A | RecordType::AAAA);
        let (kind, result) = match answer {
            Answer::Local(local) => {
                let record = cname(&local.target, ttl);
                let answers = iter::once(&record).chain(local.addresses(qtype));
                let response = builder.build(metadata, answers, iter::empty(), iter::empty(), iter::empty());
                let kind = if address_query {
                    AnswerKind::Local
                } else {
                    AnswerKind::Cname
                };
                (kind, response_handle.send_response(response).await)
            }
            Answer::Federated(target) if !address_query => {
                let record = cname(&target, ttl);
                let response = builder.build(
                    metadata,
                    iter::once(&record),
                    iter::empty(),
                    iter::empty(),
                    iter::empty(),
                );
                (AnswerKind::Cname, response_handle.send_response(response).await)
            }
            Answer::Federated(target) => {
                let Ok((chain, left)) = self.0.resolver.resolve(&target, qtype).await else {
                    // The lookup logged and counted why.
                    return fail(ResponseCode::ServFail, response_handle).await;
                };
                // Every record holds as long as the shortest of the chain still does.
                let ttl = ttl.min(u32::try_from(left.as_secs()).unwrap_or(u32::MAX));
                let served = chain.served(ttl);
                let record = cname(&target, ttl);
                let answers = iter::once(&record).chain(served.records.iter());
                let response =
                    builder.build(metadata, answers, iter::empty(), served.soa.iter(), iter::empty());
                (
                    AnswerKind::Federated,
                    response_handle.send_response(response).await,
                )
            }
            Answer::Soa => {
                let response = builder.build(
                    metadata,
                    iter::once(zone.soa()),
                    iter::empty(),
                    iter::empty(),
                    iter::empty(),
                );
                (AnswerKind::Apex, response_handle.send_response(response).await)
            }
            negative @ (Answer::NoData | Answer::NxDomain) => {
                let kind = if negative == Answer::NxDomain {
                    metadata.response_code = ResponseCode::NXDomain;
                    AnswerKind::NxDomain
                } else {
                    AnswerKind::Apex
                };
                let response = builder.build(
                    metadata,
                    iter::empty(),
                    iter::empty(),
                    iter::once(zone.soa()),
                    iter::empty(),
                );
                (kind, response_handle.send_response(response).await)
            }
            Answer::Refused => return fail(ResponseCode::Refused, response_handle).await,
            Answer::ServFail => {
                debug!(name = %query.name(), "federation query not answerable yet: SERVFAIL");
                return fail(ResponseCode::ServFail, response_handle).await;
            }
        };
        let info = result.unwrap_or_else(|error| {
            warn!(%error, "cannot send a DNS response");
            serve_failed(request)
        });
        (kind, info)
    }
}

/// Sends a response with no records and `code`.
async fn send_error(
    request: &Request,
    code: ResponseCode,
    edns: Option<&Edns>,
    mut response_handle: impl ResponseHandler,
) -> ResponseInfo {
    let response = MessageResponseBuilder::new(&request.queries, edns).error_msg(&request.metadata, code);
    response_handle
        .send_response(response)
        .await
        .unwrap_or_else(|error| {
            warn!(%error, "cannot send a DNS response");
            serve_failed(request)
        })
}

/// What is reported for a response that could not be sent.
fn serve_failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// A running stub DNS server. Stop it with [`shutdown`](Self::shutdown); dropping it also stops
/// it (TCP tasks are aborted, UDP threads end on their own).
pub struct StubServer {
    addr: SocketAddr,
    /// TCP, on the runtime that started the server.
    server: Server<Handler>,
    /// One thread per UDP socket.
    udp: Vec<UdpThread>,
}

/// A thread with its own single-threaded runtime serving one UDP socket.
struct UdpThread {
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for StubServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubServer")
            .field("addr", &self.addr)
            .field("udp_threads", &self.udp.len())
            .finish()
    }
}

impl StubServer {
    /// Binds UDP and TCP on `listen` (with port 0, on a port free for both) and answers from
    /// `zone`. Errors name the protocol and the address.
    ///
    /// UDP is served by one socket per available CPU (on Unix; one elsewhere), all bound to the
    /// address with `SO_REUSEPORT` so that the kernel spreads clients over them, each served by
    /// our UDP loop on its own thread with a single-threaded runtime: a query is received,
    /// answered and sent on one thread, with no hand-over between threads. TCP is served by
    /// hickory-server on the calling runtime.
    pub async fn start(listen: SocketAddr, answering: Answering) -> Result<Self, ServeError> {
        let count = if cfg!(unix) {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            1
        };
        let (sockets, tcp, addr) = bind(listen, count).await?;
        let mut udp = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            udp.push(UdpThread::start(i, socket, answering.clone()).await?);
        }
        let mut server = Server::new(Handler(answering));
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        Ok(Self { addr, server, udp })
    }

    /// The address answered on (UDP and TCP), with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops answering and waits until the sockets are closed.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        let addr = self.addr;
        let tcp = self
            .server
            .shutdown_gracefully()
            .await
            .map_err(|source| ServeError::Shutdown { addr, source });
        for t in std::mem::take(&mut self.udp) {
            let _ = t.stop.send(());
            match tokio::task::spawn_blocking(move || t.thread.join()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(ServeError::Panicked { addr }),
            }
        }
        tcp
    }
}

impl UdpThread {
    /// Starts serving `socket` on a new thread; returns once it is served.
    async fn start(
        index: usize,
        socket: std::net::UdpSocket,
        answering: Answering,
    ) -> Result<Self, ServeError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = oneshot::channel::<Result<(), ServeError>>();
        let thread = std::thread::Builder::new()
            .name(format!("stub-udp-{index}"))
            .spawn(move || serve_udp(socket, answering, ready, stopped))
            .map_err(|source| ServeError::Thread {
                what: "cannot start a DNS server thread",
                source,
            })?;
        match started.await {
            Ok(Ok(())) => Ok(Self { stop, thread }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ServeError::ThreadEnded),
        }
    }
}

/// The body of a UDP thread: serves until `stopped` fires or its sender is dropped.
fn serve_udp(
    socket: std::net::UdpSocket,
    answering: Answering,
    ready: oneshot::Sender<Result<(), ServeError>>,
    stopped: oneshot::Receiver<()>,
) {
    let thread = |what| move |source| ServeError::Thread { what, source };
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(thread("cannot start a runtime for DNS over UDP"))
        .and_then(|runtime| {
            let socket = {
                let _entered = runtime.enter();
                UdpSocket::from_std(socket).map_err(thread("cannot serve DNS over UDP"))?
            };
            Ok((runtime, socket))
        });
    match started {
        Ok((runtime, socket)) => {
            let _ = ready.send(Ok(()));
            runtime.block_on(udp_loop(Arc::new(socket), Arc::new(Handler(answering)), stopped));
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
}

/// Serves one UDP socket until `stopped`: the fast path answers what it takes at once, the
/// handler (in a task of its own) everything else.
async fn udp_loop(socket: Arc<UdpSocket>, handler: Arc<Handler>, stopped: oneshot::Receiver<()>) {
    let mut stopped = std::pin::pin!(stopped);
    let mut query = vec![0u8; UDP_QUERY_MAX];
    let mut out = Vec::with_capacity(512);
    loop {
        let (len, src) = tokio::select! {
            _ = &mut stopped => return,
            received = socket.recv_from(&mut query) => match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors of earlier sends surface here; the socket stays usable.
                    debug!(error = %e, "receiving a DNS query over UDP failed");
                    continue;
                }
            },
        };
        // Nothing can be sent back there.
        if src.port() == 0 || src.ip().is_unspecified() {
            continue;
        }
        let query = &query[..len];
        if let Some(kind) = fast::answer(&handler.0, query, &mut out) {
            handler.0.metrics.answered(kind);
            if let Err(e) = socket.send_to(&out, src).await {
                debug!(%src, error = %e, "cannot send a DNS response");
            }
            continue;
        }
        let (raw, socket, handler) = (query.to_vec(), socket.clone(), handler.clone());
        tokio::spawn(async move {
            let responder = UdpResponder { socket, dst: src };
            match Request::from_bytes(raw.clone(), src, Protocol::Udp) {
                Ok(request) => {
                    // Responses are not answered (no reflection).
                    if request.metadata.message_type == MessageType::Query {
                        handler.handle_request::<_, TokioTime>(&request, responder).await;
                    }
                }
                Err(e) => {
                    debug!(%src, error = %e, "malformed DNS query over UDP");
                    if let Some(formerr) = header_only(&raw, ResponseCode::FormErr) {
                        responder.send(&formerr).await;
                    }
                }
            }
        });
    }
}

/// Largest UDP query read.
const UDP_QUERY_MAX: usize = 4096;

/// A response with only the header of `query` (a query, not a response), answering `code`.
fn header_only(query: &[u8], code: ResponseCode) -> Option<[u8; 12]> {
    let header = query.get(..12)?;
    if header[2] & 0x80 != 0 {
        return None;
    }
    let mut out = [0u8; 12];
    out[..2].copy_from_slice(&header[..2]);
    // QR, the opcode and RD echoed; the response code.
    out[2] = 0x80 | (header[2] & 0x79);
    out[3] = code.low();
    Some(out)
}

/// Sends one response over UDP to the client of the query, encoded as hickory's own UDP
/// handler does: within the client's EDNS payload size (512 without EDNS), truncated (TC) when
/// it does not fit.
#[derive(Clone)]
struct UdpResponder {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

impl UdpResponder {
    async fn send(&self, bytes: &[u8]) {
        if let Err(e) = self.socket.send_to(bytes, self.dst).await {
            debug!(dst = %self.dst, error = %e, "cannot send a DNS response");
        }
    }
}

#[async_trait::async_trait]
impl ResponseHandler for UdpResponder {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(response.edns().map_or(512, Edns::max_payload));
        let info = response.destructive_emit(&mut encoder)?;
        self.send(&bytes).await;
        Ok(info)
    }
}

/// Binds `count` UDP sockets on `listen` (`SO_REUSEPORT` when more than one), then TCP on the
/// address the first one got. With port 0, a port taken for TCP makes it try again with another
/// port.
async fn bind(
    listen: SocketAddr,
    count: usize,
) -> Result<(Vec<std::net::UdpSocket>, TcpListener, SocketAddr), ServeError> {
    let failed = |protocol: &'static str, addr: SocketAddr, source: io::Error| ServeError::Bind {
        protocol,
        addr,
        source,
    };
    let reuse_port = count > 1;
    let mut attempt = 1;
    loop {
        let udp = udp_socket(listen, reuse_port).map_err(|e| failed("UDP", listen, e))?;
        let addr = udp.local_addr().map_err(|e| failed("UDP", listen, e))?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => {
                let mut sockets = vec![udp];
                for _ in 1..count {
                    sockets.push(udp_socket(addr, reuse_port).map_err(|e| failed("UDP", addr, e))?);
                }
                return Ok((sockets, tcp, addr));
            }
            Err(e)
                if listen.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempt < BIND_ATTEMPTS =>
            {
                debug!(%addr, attempt, "TCP port taken, trying another port");
                attempt += 1;
            }
            Err(e) => return Err(failed("TCP", addr, e)),
        }
    }
}

/// A non-blocking UDP socket bound to `addr`, optionally with `SO_REUSEPORT`.
fn udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::rdata::{A, AAAA};

    use super::*;
    use crate::stub::query::parse_federations;
    use crate::stub::upstream::{Exchange, UpstreamError};
    use crate::stub::zone::{LocalAnswer, LocalServices, Location, StubSettings, StubState};

    /// Every federated name resolves to the same chain: a CNAME to a global name and two
    /// addresses of each family.
    struct Upstream;

    #[async_trait::async_trait]
    impl Exchange for Upstream {
        async fn exchange(
            &self,
            name: &Name,
            qtype: RecordType,
            _deadline: tokio::time::Instant,
        ) -> Result<Message, UpstreamError> {
            let global = Name::from_ascii("web.shop.myfed.svc.example.com.").unwrap();
            let mut m = Message::new(1, MessageType::Response, OpCode::Query);
            m.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::CNAME(CNAME(global.clone())),
            ));
            for i in 1..=2 {
                let data = match qtype {
                    RecordType::A => RData::A(A::new(203, 0, 113, i)),
                    _ => RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i))),
                };
                m.answers.push(Record::from_rdata(global.clone(), 60, data));
            }
            Ok(m)
        }
    }

    fn answering() -> Answering {
        let settings = StubSettings::new("cluster.local", 30).unwrap();
        let mut local = LocalServices::new();
        for (name, addrs) in [("web", &["10.96.0.1"][..]), ("dual", &["10.96.0.2", "fd00::2"])] {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
            let answer = LocalAnswer::new(&settings, "shop", name, &addrs).unwrap();
            local.insert("shop", name, Arc::new(answer));
        }
        let state = StubState {
            federations: parse_federations("myfed=example.com").unwrap(),
            location: Some(Location {
                zone: "z1".into(),
                region: "r1".into(),
            }),
            local: Some(Arc::new(local)),
        };
        let metrics = Arc::new(StubMetrics::new());
        Answering {
            zone: Shared::new(Zone::new(&settings, state)),
            resolver: Resolver::new(Arc::new(Upstream), Duration::from_secs(1), 100, metrics.clone()),
            metrics,
        }
    }

    fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
        let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.queries
            .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            m.edns = Some(e);
        }
        m.to_vec().unwrap()
    }

    /// The handler's response to `bytes`, as the UDP loop sends it.
    async fn slow(answering: &Answering, bytes: &[u8]) -> Message {
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dst = client.local_addr().unwrap();
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let request = Request::from_bytes(bytes.to_vec(), dst, Protocol::Udp).unwrap();
        Handler(answering.clone())
            .handle_request::<_, TokioTime>(&request, UdpResponder { socket, dst })
            .await;
        let mut buf = vec![0u8; 4096];
        let len = client.recv(&mut buf).await.unwrap();
        Message::from_vec(&buf[..len]).unwrap()
    }

    /// Header, question, answers and EDNS, in order.
    fn shown(m: &Message) -> String {
        format!(
            "{:?} {:?} {:?} edns={:?}",
            m.metadata,
            m.queries,
            m.answers,
            m.edns
                .as_ref()
                .map(|e| (e.max_payload(), e.version(), e.flags().dnssec_ok))
        )
    }

    #[tokio::test]
    async fn the_fast_path_answers_what_the_handler_answers() {
        let answering = answering();
        let fed = "Web.Shop.MyFed.svc.cluster.local.";
        // The federated chain is cached by a first query through the handler.
        for qtype in [RecordType::A, RecordType::AAAA] {
            slow(&answering, &query(fed, qtype, None)).await;
        }
        let mut out = Vec::new();
        for name in [
            "web.shop.myfed.svc.cluster.local.",
            "DUAL.shop.myfed.svc.Cluster.Local.",
            fed,
        ] {
            for qtype in [RecordType::A, RecordType::AAAA] {
                for edns in [None, Some(1232), Some(100)] {
                    let bytes = query(name, qtype, edns);
                    let kind = fast::answer(&answering, &bytes, &mut out);
                    assert!(kind.is_some(), "{name} {qtype} {edns:?} not taken");
                    let fast = Message::from_vec(&out).unwrap();
                    let slow = slow(&answering, &bytes).await;
                    assert_eq!(shown(&fast), shown(&slow), "{name} {qtype} {edns:?}");
                    assert!(!fast.answers.is_empty());
                }
            }
        }
    }

    #[tokio::test]
    async fn other_queries_are_left_to_the_handler() {
        let answering = answering();
        let mut out = Vec::new();
        let fed = "web.shop.myfed.svc.cluster.local.";
        for bytes in [
            // Other types, names and states.
            query(fed, RecordType::TXT, None),
            query(fed, RecordType::CNAME, None),
            query("svc.cluster.local.", RecordType::SOA, None),
            query("x.shop.nofed.svc.cluster.local.", RecordType::A, None),
            query("www.example.com.", RecordType::A, None),
            // Federated, not cached yet.
            query("api.shop.myfed.svc.cluster.local.", RecordType::A, None),
            // Truncated, or with trailing bytes.
            query(fed, RecordType::A, None)[..20].to_vec(),
            [query(fed, RecordType::A, None), vec![0]].concat(),
        ] {
            assert_eq!(fast::answer(&answering, &bytes, &mut out), None, "{bytes:?}");
        }
        // A response, another opcode, EDNS version 1.
        let mut response = query(fed, RecordType::A, None);
        response[2] |= 0x80;
        let mut notify = query(fed, RecordType::A, None);
        notify[2] |= 4 << 3;
        let mut edns1 = query(fed, RecordType::A, Some(1232));
        let at = edns1.len() - 5;
        edns1[at] = 1;
        for bytes in [response, notify, edns1] {
            assert_eq!(fast::answer(&answering, &bytes, &mut out), None);
        }
    }

    #[test]
    fn malformed_queries_get_formerr_and_responses_nothing() {
        let q = query("web.shop.myfed.svc.cluster.local.", RecordType::A, None);
        let formerr = header_only(&q, ResponseCode::FormErr).unwrap();
        let m = Message::from_vec(&formerr).unwrap();
        assert_eq!(
            (m.metadata.id, m.metadata.response_code),
            (4242, ResponseCode::FormErr)
        );
        assert!(m.metadata.recursion_desired && m.metadata.message_type == MessageType::Response);
        let mut response = q.clone();
        response[2] |= 0x80;
        assert!(header_only(&response, ResponseCode::FormErr).is_none());
        assert!(header_only(&q[..5], ResponseCode::FormErr).is_none());
    }
}
