//! [`FakeRoute53`] over HTTP: Route53's REST-XML protocol on `127.0.0.1`, for the real AWS SDK
//! ([`SdkApi`](crate::SdkApi) with `endpoint_url` set to [`FakeRoute53Server::endpoint`]).
//!
//! It serves exactly the operations the provider uses, and maps them onto the shared fake's
//! [`Route53Api`] methods, so every rule, injected error and counter of the fake holds over the
//! wire:
//!
//! | operation | request |
//! |---|---|
//! | `ListHostedZonesByName` | `GET /2013-04-01/hostedzonesbyname?dnsname=&hostedzoneid=&maxitems=` |
//! | `ListResourceRecordSets` | `GET /2013-04-01/hostedzone/{Id}/rrset?name=&type=&identifier=&maxitems=` |
//! | `ChangeResourceRecordSets` | `POST /2013-04-01/hostedzone/{Id}/rrset` (or `rrset/`), XML body |
//! | `GetChange` | `GET /2013-04-01/change/{Id}` |
//!
//! Errors are the service's documents with its HTTP statuses: `<ErrorResponse><Error><Type>
//! <Code><Message></Error><RequestId></ErrorResponse>` (`Sender` for 4xx, `Receiver` for 5xx), and
//! on request ([`FakeRoute53Server::set_invalid_change_batch_shape`]) `InvalidChangeBatch`'s own
//! `<InvalidChangeBatch><Messages><Message>...` document. An error the fake is told to give that
//! is not a service answer (a timeout, a network failure: [`ApiErrorKind`] other than `Service`)
//! closes the connection without an answer. Every answer carries `x-amzn-RequestId`.
//!
//! One route is the fake's own: `GET /_fake/calls` lists the calls received per operation, one
//! `Operation count` line each (see [`remote_calls`]), so a process that does not hold the fake
//! can tell whether the zone is still being written.
//!
//! Signatures are not checked (any credentials do). No TLS.
//!
//! For another process (a benchmark measuring a controller alone), [`serve_standalone`] serves
//! a new fake until its standard input closes, and [`FakeRoute53Child`] starts such a process and
//! reads the endpoint it prints.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::{FakeRoute53, Refusal};
use crate::api::{ApiError, ApiErrorKind, Operation, RecordPageStart, Route53Api};
use crate::fake::xml;

/// The API version prefix of every Route53 path.
const PREFIX: &str = "/2013-04-01";
/// The fake's own route: calls received per operation.
pub const CALLS_PATH: &str = "/_fake/calls";
/// Largest request body accepted (a full batch of 1,000 records is far smaller).
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How long [`FakeRoute53Child::spawn`] waits for the child's endpoint.
const CHILD_START: Duration = Duration::from_secs(60);

/// How `InvalidChangeBatch` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum InvalidChangeBatchShape {
    /// `<ErrorResponse>` with `Code` `InvalidChangeBatch` and every message in brackets in
    /// `Message`: what Route53 answers now (the AWS SDK for Kotlin dropped its special case for the
    /// other shape in 2024 because of it).
    #[default]
    ErrorResponse,
    /// `<InvalidChangeBatch><Messages><Message>...</Message></Messages></InvalidChangeBatch>`, one
    /// `Message` per problem, as the API reference documents it.
    Legacy,
}

/// State shared by the handle and the connections.
#[derive(Debug)]
struct Shared {
    fake: Arc<FakeRoute53>,
    icb_shape: AtomicU8,
    requests: AtomicU64,
}

impl Shared {
    fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("00000000-fa4e-4053-8000-{n:012x}")
    }

    fn legacy_icb(&self) -> bool {
        self.icb_shape.load(Ordering::Relaxed) == InvalidChangeBatchShape::Legacy as u8
    }
}

/// A running HTTP server for a [`FakeRoute53`]; it stops on [`FakeRoute53Server::stop`] or drop.
#[derive(Debug)]
pub struct FakeRoute53Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

/// Serves `fake` over HTTP/1.1 on a free port of `127.0.0.1`. Must be called within a Tokio
/// runtime.
pub async fn start(fake: Arc<FakeRoute53>) -> io::Result<FakeRoute53Server> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        fake,
        icb_shape: AtomicU8::new(InvalidChangeBatchShape::default() as u8),
        requests: AtomicU64::new(0),
    });
    let conns = Arc::new(Mutex::new(JoinSet::new()));
    let accept = tokio::spawn(accept_loop(listener, shared.clone(), conns.clone()));
    Ok(FakeRoute53Server {
        shared,
        addr,
        accept,
        conns,
    })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, conns: Arc<Mutex<JoinSet<()>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let mut set = conns.lock().unwrap_or_else(PoisonError::into_inner);
        // Reap finished connections so the set does not grow with every request.
        while set.try_join_next().is_some() {}
        set.spawn(async move {
            // A connection ends with an error when the client goes away or an injected failure
            // closes it: nothing to report.
            let _ = conn.await;
        });
    }
}

impl FakeRoute53Server {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fake served.
    pub fn fake(&self) -> &Arc<FakeRoute53> {
        &self.shared.fake
    }

    /// How `InvalidChangeBatch` is written from now on.
    pub fn set_invalid_change_batch_shape(&self, shape: InvalidChangeBatchShape) {
        self.shared.icb_shape.store(shape as u8, Ordering::Relaxed);
    }

    /// Stops serving: closes the listener and every connection, and returns once they are closed.
    pub async fn stop(self) {
        self.accept.abort();
        let mut conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(PoisonError::into_inner));
        conns.shutdown().await;
    }
}

impl Drop for FakeRoute53Server {
    fn drop(&mut self) {
        self.accept.abort();
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

/// An injected failure that is not a service answer: the connection is closed unanswered.
#[derive(Debug, thiserror::Error)]
#[error("injected {kind:?} failure of {operation}: {message}")]
struct Unanswered {
    operation: Operation,
    kind: ApiErrorKind,
    message: String,
}

/// What a request comes to.
enum Outcome {
    /// 200 with this XML.
    Ok(String),
    /// An error document.
    Failed(ApiError),
    /// A refused change batch.
    Refused(Refusal),
    /// A plain-text answer of the fake's own route.
    Text(String),
}

impl From<Result<String, ApiError>> for Outcome {
    fn from(r: Result<String, ApiError>) -> Self {
        r.map_or_else(Self::Failed, Self::Ok)
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Unanswered> {
    let request_id = shared.request_id();
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let path = parts.uri.path().to_string();
    let outcome = match (parts.method.clone(), route(&path)) {
        (Method::GET, Route::ZonesByName) => zones_by_name(&shared.fake, &query).await.into(),
        (Method::GET, Route::RecordSets(zone)) => list_sets(&shared.fake, &zone, &query).await.into(),
        (Method::POST, Route::RecordSets(zone)) => change_sets(&shared.fake, &zone, body).await,
        (Method::GET, Route::Change(id)) => shared
            .fake
            .get_change(&id)
            .await
            .map(|info| xml::change_info("GetChangeResponse", &info))
            .into(),
        (Method::GET, Route::Calls) => Outcome::Text(
            shared
                .fake
                .calls()
                .iter()
                .map(|(op, n)| format!("{op} {n}\n"))
                .collect(),
        ),
        (method, Route::Unknown) => Outcome::Failed(unknown(404, "UnknownOperation", &method, &path)),
        (method, _) => Outcome::Failed(unknown(405, "MethodNotAllowed", &method, &path)),
    };
    let (status, content_type, body) = match outcome {
        Outcome::Ok(doc) => (200, "text/xml", doc),
        Outcome::Text(text) => (200, "text/plain", text),
        Outcome::Refused(Refusal::InvalidChangeBatch(msgs)) if shared.legacy_icb() => (
            400,
            "text/xml",
            xml::legacy_invalid_change_batch(&msgs, &request_id),
        ),
        Outcome::Refused(r) => error_document(r.into_api(), &request_id)?,
        Outcome::Failed(e) => error_document(e, &request_id)?,
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    Ok(resp)
}

/// The status and error document of an error, or the connection closed unanswered for an error
/// that is not a service answer.
fn error_document(e: ApiError, request_id: &str) -> Result<(u16, &'static str, String), Unanswered> {
    if e.kind != ApiErrorKind::Service {
        return Err(Unanswered {
            operation: e.operation,
            kind: e.kind,
            message: e.message,
        });
    }
    Ok((
        e.status.unwrap_or(400),
        "text/xml",
        xml::error_response(&e, request_id),
    ))
}

/// A request for something the fake does not serve (answered as an `ErrorResponse`).
fn unknown(status: u16, code: &str, method: &Method, path: &str) -> ApiError {
    // The operation is only a label here; the answer names the request.
    ApiError::service(
        Operation::ListHostedZonesByName,
        status,
        code,
        format!("the Route53 fake does not serve {method} {path}"),
    )
}

enum Route {
    ZonesByName,
    RecordSets(String),
    Change(String),
    Calls,
    Unknown,
}

/// A percent-decoded path segment.
fn segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn route(path: &str) -> Route {
    if path == CALLS_PATH {
        return Route::Calls;
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Route::Unknown;
    };
    let parts: Vec<&str> = rest
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    match parts.as_slice() {
        ["hostedzonesbyname"] => Route::ZonesByName,
        ["hostedzone", id, "rrset"] if !id.is_empty() => Route::RecordSets(segment(id)),
        ["change", id] if !id.is_empty() => Route::Change(segment(id)),
        _ => Route::Unknown,
    }
}

/// Query parameters, percent-decoded (the SDK encodes every reserved character, `+` included).
struct Query(BTreeMap<String, String>);

impl Query {
    fn parse(query: Option<&str>) -> Self {
        Self(
            query
                .unwrap_or_default()
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (segment(k), segment(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `maxitems`, or `default` when absent; `InvalidInput` when it is not a number.
    fn max_items(&self, op: Operation, default: i32) -> Result<i32, ApiError> {
        match self.get("maxitems") {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::service(
                    op,
                    400,
                    "InvalidInput",
                    format!("Invalid request: maxitems {v:?} is not a number"),
                )
            }),
        }
    }
}

async fn zones_by_name(fake: &FakeRoute53, q: &Query) -> Result<String, ApiError> {
    let max_items = q.max_items(Operation::ListHostedZonesByName, 100)?;
    let (dns_name, zone_id) = (q.get("dnsname"), q.get("hostedzoneid"));
    let page = fake
        .list_hosted_zones_by_name(dns_name, zone_id, max_items)
        .await?;
    Ok(xml::hosted_zones(&page, dns_name, zone_id, max_items))
}

async fn list_sets(fake: &FakeRoute53, zone: &str, q: &Query) -> Result<String, ApiError> {
    let max_items = q.max_items(Operation::ListResourceRecordSets, 300)?;
    let start = RecordPageStart {
        name: q.get("name").map(str::to_string),
        rtype: q.get("type").map(str::to_string),
        identifier: q.get("identifier").map(str::to_string),
    };
    let page = fake.list_resource_record_sets(zone, &start, max_items).await?;
    Ok(xml::record_sets(&page, max_items))
}

async fn change_sets(fake: &FakeRoute53, zone: &str, body: Incoming) -> Outcome {
    let op = Operation::ChangeResourceRecordSets;
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Outcome::Failed(ApiError::service(
                op,
                400,
                "InvalidInput",
                format!("cannot read the request body: {e}"),
            ));
        }
    };
    let changes = match xml::parse_change_request(&bytes) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(ApiError::service(op, 400, e.code(), e.to_string())),
    };
    match fake.change_batch(zone, &changes) {
        Ok(info) => Outcome::Ok(xml::change_info("ChangeResourceRecordSetsResponse", &info)),
        Err(r) => Outcome::Refused(r),
    }
}

/// Reads the calls a fake served at `endpoint` (`http://127.0.0.1:PORT`) has received, by
/// operation name (the fake's own `GET /_fake/calls`).
pub async fn remote_calls(endpoint: &str) -> io::Result<BTreeMap<String, u64>> {
    let other = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::other(format!("{what} {endpoint}{CALLS_PATH}: {e}"))
    };
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| other("not an http:// endpoint:", &"expected http://HOST:PORT"))?
        .trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| other("cannot connect to", &e))?;
    let driver = tokio::spawn(conn);
    let req = Request::get(CALLS_PATH)
        .header(HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| other("cannot build a request for", &e))?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| other("cannot get", &e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| other("cannot read", &e))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(other("unexpected answer from", &status));
        }
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .map(|line| {
                line.split_once(' ')
                    .and_then(|(op, n)| Some((op.to_string(), n.trim().parse().ok()?)))
                    .ok_or_else(|| other("unreadable line from", &format!("{line:?}")))
            })
            .collect()
    }
    .await;
    driver.abort();
    result
}

/// Serves a new [`FakeRoute53`] holding a public hosted zone for each of `zones` until standard
/// input closes (so it ends with the process that started it, even one that was killed). The
/// first line written to standard output is the endpoint, `http://127.0.0.1:PORT`; nothing else
/// is written there. Must be called within a Tokio runtime.
pub async fn serve_standalone(zones: &[&str]) -> io::Result<()> {
    let fake = Arc::new(FakeRoute53::new());
    for z in zones {
        fake.add_zone(z);
    }
    let server = start(fake).await?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", server.endpoint())?;
        out.flush()?;
    }
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = closed.send(());
    });
    let _ = stdin_closed.await;
    server.stop().await;
    Ok(())
}

/// Why a [`FakeRoute53Child`] could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The program could not be run.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// The program did not print an endpoint.
    #[error("{program} printed no endpoint (a line http://127.0.0.1:PORT): {reason}")]
    NoEndpoint {
        /// The program.
        program: String,
        /// What happened instead.
        reason: String,
    },
}

/// A process serving a fake with [`serve_standalone`], killed (and reaped) when dropped.
#[derive(Debug)]
pub struct FakeRoute53Child {
    child: Child,
    endpoint: String,
}

impl FakeRoute53Child {
    /// Runs `command` (a program that calls [`serve_standalone`]) with standard input and output
    /// piped, and waits (up to 60 s, blocking the thread) for the endpoint it prints: the first
    /// line that starts with `http://` (lines before it, such as a test harness's, are skipped).
    /// Its standard error is inherited.
    pub fn spawn(mut command: Command) -> Result<Self, ChildError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| ChildError::Spawn {
                program: program.clone(),
                source,
            })?;
        let no_endpoint = |reason: String| ChildError::NoEndpoint {
            program: program.clone(),
            reason,
        };
        let stdout = child.stdout.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Some(out) = stdout else {
                let _ = tx.send(Err("its output is not piped".to_string()));
                return;
            };
            let mut lines = BufReader::new(out).lines();
            let mut other = 0;
            let found = loop {
                match lines.next() {
                    None => break Err(format!("it closed its output after {other} other lines")),
                    Some(Err(e)) => break Err(format!("its output could not be read: {e}")),
                    Some(Ok(line)) if line.trim().starts_with("http://") => {
                        break Ok(line.trim().to_string());
                    }
                    Some(Ok(_)) => other += 1,
                }
            };
            let _ = tx.send(found);
            // Keep reading, so that the child never writes into a closed pipe.
            lines.for_each(drop);
        });
        let endpoint = rx
            .recv_timeout(CHILD_START)
            .unwrap_or_else(|_| Err(format!("nothing within {CHILD_START:?}")))
            .map_err(no_endpoint);
        match endpoint {
            Ok(endpoint) => Ok(Self { child, endpoint }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for FakeRoute53Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
