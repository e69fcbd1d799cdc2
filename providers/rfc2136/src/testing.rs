//! Real primaries for tests and benchmarks (feature `testing`): BIND 9 (`named`) and Knot
//! (`knotd`), each started on a free port of 127.0.0.1 with a temporary directory holding its
//! configuration, a zone file and a TSIG key made for the test (a random secret), and killed
//! when dropped.
//!
//! The binaries are `$FEDDNS_NAMED` / `$FEDDNS_KNOTD`, else `/usr/sbin/named` / `/usr/sbin/knotd`,
//! else `named` / `knotd` on `PATH` (Debian packages `bind9` and `knot`; `tests/run-all.sh`
//! installs them). A missing binary is an error that says so. The servers run as the user that
//! runs the test (root or not: nothing is written outside the temporary directory, and the port
//! is above 1024).
//!
//! BIND gets `update-policy { grant <key> zonesub ANY; }` and `allow-transfer { key <key>; }`;
//! Knot an acl for the key with `action: [update, transfer]`, `zonefile-sync: -1` (the zone
//! file is never rewritten) and `journal-content: changes`. [`Options`] can leave out updates or
//! transfers, to test refusals, and add records to the zone file.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;

use crate::{Rfc2136Config, Rfc2136Provider, Transfer, TsigConfig, TsigKey};

/// The key name the servers know.
pub const KEY_NAME: &str = "feddns-test-key";
/// How long a server may take to answer for its zone after it starts.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// BIND 9 (`named`).
    Bind,
    /// Knot DNS (`knotd`).
    Knot,
}

impl Kind {
    /// Both, in order.
    pub const ALL: [Self; 2] = [Self::Bind, Self::Knot];

    /// `bind` or `knot`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Knot => "knot",
        }
    }

    /// The binary to run.
    pub fn binary(self) -> PathBuf {
        let (var, name) = match self {
            Self::Bind => ("FEDDNS_NAMED", "named"),
            Self::Knot => ("FEDDNS_KNOTD", "knotd"),
        };
        if let Some(bin) = std::env::var_os(var) {
            return PathBuf::from(bin);
        }
        let sbin = Path::new("/usr/sbin").join(name);
        if sbin.is_file() {
            return sbin;
        }
        PathBuf::from(name)
    }

    fn package(self) -> &'static str {
        match self {
            Self::Bind => "bind9",
            Self::Knot => "knot",
        }
    }
}

/// What the server's zone allows and holds.
#[derive(Debug, Clone)]
pub struct Options {
    /// The zone apex.
    pub zone: String,
    /// Whether the key may update the zone.
    pub updates: bool,
    /// Whether the key may transfer the zone.
    pub transfers: bool,
    /// Zone-file lines added after the SOA, NS and `ns` A records (relative names are below
    /// the zone).
    pub records: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            zone: "example.com".into(),
            updates: true,
            transfers: true,
            records: String::new(),
        }
    }
}

/// 32 random bytes (a TSIG secret).
pub fn random_secret() -> Vec<u8> {
    let mut buf = vec![0u8; 32];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf)) {
        Ok(()) => buf,
        // Not cryptographic, but unique per call: enough for a key that lives as long as a test.
        Err(_) => {
            use std::hash::{BuildHasher, RandomState};
            buf.chunks_mut(8)
                .for_each(|c| c.copy_from_slice(&RandomState::new().hash_one(0u8).to_le_bytes()));
            buf
        }
    }
}

/// A running server, killed (and its directory removed) when dropped.
pub struct DnsServer {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    zone: String,
    secret: Vec<u8>,
    dir: tempfile::TempDir,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP (at the time of asking).
fn free_port() -> std::io::Result<u16> {
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

fn zone_file(opts: &Options) -> String {
    let z = &opts.zone;
    let mut text = format!(
        "$ORIGIN {z}.\n$TTL 300\n@ IN SOA ns.{z}. hostmaster.{z}. 1 3600 600 86400 60\n@ IN NS ns.{z}.\nns IN A 127.0.0.1\n"
    );
    text.push_str(&opts.records);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn bind_config(dir: &Path, port: u16, opts: &Options, secret: &str) -> String {
    let d = dir.display();
    let z = &opts.zone;
    let update = if opts.updates {
        format!("update-policy {{ grant {KEY_NAME} zonesub ANY; }};")
    } else {
        String::new()
    };
    let transfer = if opts.transfers {
        format!("allow-transfer {{ key {KEY_NAME}; }};")
    } else {
        "allow-transfer { none; };".to_string()
    };
    format!(
        r#"key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{secret}"; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
zone "{z}" {{
    type primary;
    file "{d}/zone.db";
    {update}
    {transfer}
}};
"#
    )
}

fn knot_config(dir: &Path, port: u16, opts: &Options, secret: &str) -> String {
    let d = dir.display();
    let z = &opts.zone;
    let mut actions = Vec::new();
    if opts.updates {
        actions.push("update");
    }
    if opts.transfers {
        actions.push("transfer");
    }
    let mut text = format!(
        "server:\n  rundir: {d}\n  listen: 127.0.0.1@{port}\n\
         log:\n  - target: stderr\n    any: info\n\
         key:\n  - id: {KEY_NAME}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
         database:\n  storage: {d}\n"
    );
    if !actions.is_empty() {
        let _ = write!(
            text,
            "acl:\n  - id: feddns\n    key: {KEY_NAME}\n    action: [{}]\n",
            actions.join(", ")
        );
    }
    let _ = write!(
        text,
        "template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: changes\n\
         zone:\n  - domain: {z}\n    file: zone.db\n"
    );
    if !actions.is_empty() {
        text.push_str("    acl: feddns\n");
    }
    text
}

impl DnsServer {
    /// Starts a server of `kind` with `opts` and waits until it answers for the zone.
    pub async fn start(kind: Kind, opts: Options) -> Result<Self, String> {
        let bin = kind.binary();
        let secret = random_secret();
        let b64 = data_encoding::BASE64.encode(&secret);
        let mut last = String::new();
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..3 {
            let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
            let port = free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
            let write = |name: &str, text: String| {
                std::fs::write(dir.path().join(name), text)
                    .map_err(|e| format!("cannot write {name} in {}: {e}", dir.path().display()))
            };
            write("zone.db", zone_file(&opts))?;
            let (conf, args): (&str, Vec<String>) = match kind {
                Kind::Bind => {
                    write("named.conf", bind_config(dir.path(), port, &opts, &b64))?;
                    let conf = dir.path().join("named.conf").display().to_string();
                    ("named.conf", vec!["-g".into(), "-4".into(), "-c".into(), conf])
                }
                Kind::Knot => {
                    write("knot.conf", knot_config(dir.path(), port, &opts, &b64))?;
                    let conf = dir.path().join("knot.conf").display().to_string();
                    ("knot.conf", vec!["-c".into(), conf])
                }
            };
            let log = std::fs::File::create(dir.path().join("server.log"))
                .map_err(|e| format!("cannot create the server log: {e}"))?;
            let child = Command::new(&bin)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log)
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot start {} ({e}): install the Debian package {} (tests/run-all.sh does), or set {}",
                        bin.display(),
                        kind.package(),
                        match kind {
                            Kind::Bind => "FEDDNS_NAMED",
                            Kind::Knot => "FEDDNS_KNOTD",
                        }
                    )
                })?;
            let mut server = Self {
                kind,
                child,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                zone: feddns_provider::normalize_name(&opts.zone),
                secret: secret.clone(),
                dir,
            };
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                Err(e) => {
                    last = format!(
                        "{} ({} with {conf}) did not answer for {}: {e}\n--- its log ---\n{}",
                        kind.name(),
                        bin.display(),
                        opts.zone,
                        server.log()
                    );
                    if !last.contains("ddress already in use") && !last.contains("ddress in use") {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// Polls an SOA query over UDP until the server answers it authoritatively, then checks that
    /// it accepts TCP connections.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| e.to_string())?;
        let origin = crate::wire::absolute(&self.zone)?;
        let deadline = tokio::time::Instant::now() + READY_DEADLINE;
        let mut last = "no answer".to_string();
        // Every query asks the same; an answer to an earlier one (late, under load) counts too.
        let mut sent = std::collections::HashSet::new();
        let mut buf = vec![0u8; 4096];
        'poll: loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}"));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("not within {READY_DEADLINE:?} (last: {last})"));
            }
            let q = crate::wire::query(origin.clone(), RecordType::SOA);
            sent.insert(q.metadata.id);
            let bytes = q.to_vec().map_err(|e| e.to_string())?;
            let _ = socket.send_to(&bytes, self.addr).await;
            let wait = tokio::time::Instant::now() + Duration::from_millis(100);
            while let Ok(got) = tokio::time::timeout_at(wait, socket.recv(&mut buf)).await {
                match got
                    .map_err(|e| e.to_string())
                    .and_then(|n| Message::from_vec(&buf[..n]).map_err(|e| e.to_string()))
                {
                    Ok(m) if sent.contains(&m.metadata.id) => {
                        if m.metadata.response_code == ResponseCode::NoError
                            && m.metadata.authoritative
                            && !m.answers.is_empty()
                        {
                            break 'poll;
                        }
                        last = format!("{:?}", m.metadata.response_code);
                    }
                    Ok(_) => {}
                    Err(e) => last = e,
                }
            }
        }
        tokio::net::TcpStream::connect(self.addr)
            .await
            .map(drop)
            .map_err(|e| format!("answers over UDP but not TCP: {e}"))
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The zone apex.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The key's secret, base64.
    pub fn secret_base64(&self) -> String {
        data_encoding::BASE64.encode(&self.secret)
    }

    /// The key the server knows.
    pub fn key(&self) -> TsigKey {
        TsigKey::new(KEY_NAME, TsigAlgorithm::HmacSha256, self.secret.clone())
            .unwrap_or_else(|e| unreachable!("a valid key name: {e}"))
    }

    /// The provider configuration for this server (the secret inline).
    pub fn config(&self) -> Rfc2136Config {
        Rfc2136Config {
            server: self.addr.to_string(),
            zone: Some(self.zone.clone()),
            tsig: TsigConfig {
                name: KEY_NAME.into(),
                algorithm: "hmac-sha256".into(),
                secret: Some(self.secret_base64()),
                secret_file: None,
                secret_env: None,
            },
            transfer: Transfer::Axfr,
            max_changes_per_update: crate::DEFAULT_MAX_CHANGES_PER_UPDATE,
        }
    }

    /// A provider for this server's zone, connected.
    pub async fn provider(&self) -> Result<Rfc2136Provider, String> {
        Rfc2136Provider::connect(&self.config(), &self.zone)
            .await
            .map_err(|e| format!("a provider for {}: {e}", self.kind.name()))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The temporary directory (configuration, zone file, journal, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A server and a provider for its zone; derefs to the provider (the conformance suite's
/// shape), and stops the server when dropped.
pub struct ServerZone {
    /// The provider.
    pub provider: Rfc2136Provider,
    /// The server.
    pub server: DnsServer,
}

impl std::ops::Deref for ServerZone {
    type Target = Rfc2136Provider;
    fn deref(&self) -> &Rfc2136Provider {
        &self.provider
    }
}

impl ServerZone {
    /// Starts a server of `kind` with `opts` and connects a provider; panics, naming what to
    /// install, when the server cannot be started.
    pub async fn start(kind: Kind, opts: Options) -> Self {
        let server = DnsServer::start(kind, opts)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let provider = server.provider().await.unwrap_or_else(|e| panic!("{e}"));
        Self { provider, server }
    }
}

/// What a [`Front`] does to the traffic it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers the first `n` UPDATE requests itself with an unsigned SERVFAIL; relays the rest.
    ServFailUpdates(usize),
    /// Answers every request itself with an unsigned SERVFAIL.
    ServFailAll,
    /// Relays, but changes one record's TTL in the `n`-th answer message of each connection
    /// (1-based), keeping the message's signature.
    Tamper(usize),
    /// Accepts connections and never answers.
    Silent,
}

/// A TCP relay on a free port of 127.0.0.1 in front of a server (or of nothing), injecting a
/// [`Fault`]; stopped with every connection when dropped.
pub struct Front {
    addr: SocketAddr,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    faults: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    updates: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Front {
    /// Starts relaying to `upstream` (none: only faults that answer themselves work).
    pub async fn start(upstream: Option<SocketAddr>, fault: Fault) -> std::io::Result<Self> {
        use std::sync::atomic::AtomicUsize;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let requests = std::sync::Arc::new(AtomicUsize::new(0));
        let faults = std::sync::Arc::new(AtomicUsize::new(0));
        let updates = std::sync::Arc::new(AtomicUsize::new(0));
        let counters = (requests.clone(), faults.clone(), updates.clone());
        let task = tokio::spawn(async move {
            // Connections live in the set, so that stopping the relay stops them.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let counters = counters.clone();
                connections.spawn(async move {
                    let _ = relay(client, upstream, fault, counters).await;
                });
            }
        });
        Ok(Self {
            addr,
            requests,
            faults,
            updates,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Faults injected so far (answers made up or changed).
    pub fn faults(&self) -> usize {
        self.faults.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// UPDATE requests received so far.
    pub fn updates(&self) -> usize {
        self.updates.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Requests, faults and UPDATEs, over all connections.
type Counters = (
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

async fn read_frame(r: &mut (impl tokio::io::AsyncReadExt + Unpin)) -> std::io::Result<Vec<u8>> {
    let len = r.read_u16().await?;
    let mut buf = vec![0; usize::from(len)];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame(w: &mut (impl tokio::io::AsyncWriteExt + Unpin), m: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(m.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(m).await
}

/// An unsigned SERVFAIL answer to `request`.
fn servfail(request: &[u8]) -> std::io::Result<Vec<u8>> {
    let q = Message::from_vec(request).map_err(std::io::Error::other)?;
    let mut answer = Message::error_msg(q.metadata.id, q.metadata.op_code, ResponseCode::ServFail);
    answer.queries = q.queries;
    answer.to_vec().map_err(std::io::Error::other)
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: Option<SocketAddr>,
    fault: Fault,
    (requests, faults, updates): Counters,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    let (mut from_client, mut to_client) = client.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let writer = async move {
        while let Some(frame) = rx.recv().await {
            write_frame(&mut to_client, &frame).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let server = match (upstream, fault) {
        (Some(addr), Fault::ServFailUpdates(_) | Fault::Tamper(_)) => {
            Some(tokio::net::TcpStream::connect(addr).await?.into_split())
        }
        _ => None,
    };
    let (mut from_server, mut to_server) = match server {
        Some((r, w)) => (Some(r), Some(w)),
        None => (None, None),
    };
    let answers = tx.clone();
    let tampered = faults.clone();
    let downstream = async move {
        let Some(from_server) = from_server.as_mut() else {
            return std::future::pending().await;
        };
        let mut n = 0;
        loop {
            let mut frame = read_frame(from_server).await?;
            n += 1;
            if fault == Fault::Tamper(n) {
                let mut m = Message::from_vec(&frame).map_err(std::io::Error::other)?;
                if let Some(r) = m.answers.iter_mut().find(|r| r.ttl > 0) {
                    r.ttl += 1;
                    tampered.fetch_add(1, SeqCst);
                }
                frame = m.to_vec().map_err(std::io::Error::other)?;
            }
            if answers.send(frame).await.is_err() {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    let upstream_pump = async move {
        loop {
            let request = read_frame(&mut from_client).await?;
            requests.fetch_add(1, SeqCst);
            let is_update = request.get(2).is_some_and(|b| (b >> 3) & 0x0f == 5);
            let update = if is_update {
                updates.fetch_add(1, SeqCst) + 1
            } else {
                0
            };
            let answer_it = match fault {
                Fault::ServFailAll => true,
                Fault::ServFailUpdates(n) => is_update && update <= n,
                Fault::Silent => continue,
                _ => false,
            };
            if answer_it {
                faults.fetch_add(1, SeqCst);
                if tx.send(servfail(&request)?).await.is_err() {
                    return Ok(());
                }
            } else if let Some(to_server) = to_server.as_mut() {
                write_frame(to_server, &request).await?;
            }
        }
    };
    tokio::try_join!(writer, downstream, upstream_pump).map(|_| ())
}
