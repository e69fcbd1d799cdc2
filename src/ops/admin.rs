//! The admin HTTP port: `/metrics`, `/healthz`, `/readyz` and `/status`.
//!
//! HTTP/1.1 only (hyper 1), one task per connection. [`serve`] binds and spawns the accept
//! loop; [`AdminServer::shutdown`] stops accepting, lets in-flight requests finish (closing idle
//! keep-alive connections at once) and waits for them, up to [`SHUTDOWN_GRACE`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::ops::metrics::MetricsText;

/// Content type of `/metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long [`AdminServer::shutdown`] waits for in-flight connections before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A client that has not sent its request headers within this time is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// The controller loop's liveness heartbeat, behind `/healthz`.
///
/// Uses [`tokio::time::Instant`], so it follows a paused test clock.
#[derive(Debug)]
pub struct Heartbeat {
    last: Mutex<Instant>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl Heartbeat {
    /// A heartbeat that just beat.
    pub fn new() -> Self {
        Self {
            last: Mutex::new(Instant::now()),
        }
    }

    /// Records that the loop is alive now.
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    /// Records a beat at `at` (which may be in the past: tests use it to make the heartbeat
    /// stale without sleeping).
    pub fn beat_at(&self, at: Instant) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// Time since the last beat (zero if the last beat is in the future).
    pub fn age(&self) -> Duration {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        Instant::now().saturating_duration_since(last)
    }
}

/// The future producing a `/status` body.
pub type StatusFuture = Pin<Box<dyn Future<Output = serde_json::Value> + Send>>;

/// What the admin handlers read.
#[derive(Clone)]
pub struct AdminState {
    /// Served by `/metrics`.
    pub metrics: Arc<dyn MetricsText>,
    /// Whether /readyz answers 200; the String says why not (served as the 503 body).
    pub ready: watch::Receiver<Result<(), String>>,
    /// Liveness heartbeat: the controller loop calls [`Heartbeat::beat`] every loop turn;
    /// `/healthz` is 503 when the last beat is older than `stale_after`.
    pub heartbeat: Arc<Heartbeat>,
    /// See `heartbeat`.
    pub stale_after: Duration,
    /// Body of /status (JSON), produced on demand: called once per request, and the future
    /// awaited (give it its own timeout if it can hang; a client that gives up drops it).
    pub status: Arc<dyn Fn() -> StatusFuture + Send + Sync>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("ready", &*self.ready.borrow())
            .field("heartbeat", &self.heartbeat)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

/// A running admin server. Dropping the handle leaves the server running (detached); call
/// [`AdminServer::shutdown`] to stop it.
#[derive(Debug)]
pub struct AdminServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// The address the server listens on (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting (the listening socket is closed when this returns), closes idle
    /// connections, and waits up to [`SHUTDOWN_GRACE`] for in-flight requests to finish.
    pub async fn shutdown(self) {
        // The accept loop holds a receiver until it ends, so this cannot fail while it runs.
        let _ = self.shutdown.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "admin server task failed");
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and spawns the accept loop on the current tokio
/// runtime.
pub async fn serve(addr: SocketAddr, state: AdminState) -> std::io::Result<AdminServer> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, Arc::new(state), shutdown_rx));
    tracing::info!(addr = %local_addr, "admin server listening");
    Ok(AdminServer {
        local_addr,
        shutdown,
        task,
    })
}

/// Resolves once shutdown is requested; never if the handle was dropped without asking.
async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<AdminState>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown_requested(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve_connection(stream, peer, Arc::clone(&state), shutdown.clone()));
                }
                Err(e) => {
                    // Typically EMFILE/ENFILE or a connection reset before accept: back off a
                    // little rather than spin.
                    tracing::warn!(error = %e, "admin server accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(joined) = conns.join_next(), if !conns.is_empty() => log_join(joined),
        }
    }
    drop(listener);
    let drain = async {
        while let Some(joined) = conns.join_next().await {
            log_join(joined);
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            remaining = conns.len(),
            "admin connections still open after the shutdown grace period; dropping them"
        );
        conns.shutdown().await;
    }
    tracing::info!("admin server stopped");
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        tracing::warn!(error = %e, "admin connection task failed");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<AdminState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(route(&state, req.method(), req.uri().path()).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown_requested(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "admin connection ended with an error");
    }
}

/// The response to `method path`.
async fn route(state: &AdminState, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let known = matches!(path, "/metrics" | "/healthz" | "/readyz" | "/status");
    if !known {
        return respond(StatusCode::NOT_FOUND, TEXT, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut resp = respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    match path {
        "/metrics" => respond(StatusCode::OK, OPENMETRICS_CONTENT_TYPE, state.metrics.encode()),
        "/healthz" => {
            let age = state.heartbeat.age();
            if age > state.stale_after {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    format!(
                        "controller loop stalled: last heartbeat {:.1}s ago (limit {:.1}s)\n",
                        age.as_secs_f64(),
                        state.stale_after.as_secs_f64()
                    ),
                )
            } else {
                respond(StatusCode::OK, TEXT, "ok\n")
            }
        }
        "/readyz" => {
            let ready = state.ready.borrow().clone();
            match ready {
                Ok(()) => respond(StatusCode::OK, TEXT, "ok\n"),
                Err(why) => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
            }
        }
        _ => {
            let status = (state.status)().await;
            match serde_json::to_vec_pretty(&status) {
                Ok(mut body) => {
                    body.push(b'\n');
                    respond(StatusCode::OK, JSON, body)
                }
                Err(e) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT,
                    format!("status could not be encoded: {e}\n"),
                ),
            }
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET http://{addr}{path}` on an admin port (for `feddns status` and the like): the body of a
/// 200 response. Other statuses are errors carrying the status and body; the whole exchange is
/// bounded by `timeout` ([`std::io::ErrorKind::TimedOut`]).
pub async fn http_get(addr: &str, path: &str, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, Error>(raw)
    };
    let raw = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::new(ErrorKind::TimedOut, format!("no answer within {timeout:?}")))??;
    let (status, body) =
        parse_response(&raw).ok_or_else(|| Error::new(ErrorKind::InvalidData, "not an HTTP/1.1 response"))?;
    if status == 200 {
        Ok(body)
    } else {
        Err(Error::other(format!("HTTP {status}: {}", body.trim_end())))
    }
}

/// The status and body of a complete `Connection: close` HTTP/1.x response. Chunked bodies are
/// decoded; otherwise the body is everything after the head (cut at `Content-Length`).
fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let mut status_line = lines.next()?.splitn(3, ' ');
    if !status_line.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = status_line.next()?.parse().ok()?;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value.parse().ok()?;
            body = body.get(..len)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = std::str::from_utf8(&rest[..eol]).ok()?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        out
    } else {
        body.to_vec()
    };
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::metrics::Metrics;

    /// A parsed HTTP/1.1 response.
    #[derive(Debug)]
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn parse(raw: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// Sends `raw` on a fresh connection and reads the reply until the server closes it.
    async fn send_raw(addr: SocketAddr, raw: &str) -> Reply {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
            .await
            .expect("the server closes the connection")
            .unwrap();
        parse(&buf)
    }

    async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
        send_raw(
            addr,
            &format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"),
        )
        .await
    }

    async fn get(addr: SocketAddr, path: &str) -> Reply {
        request(addr, "GET", path).await
    }

    struct Fixture {
        server: AdminServer,
        metrics: Arc<Metrics>,
        ready: watch::Sender<Result<(), String>>,
        heartbeat: Arc<Heartbeat>,
    }

    async fn start() -> Fixture {
        let metrics = Arc::new(Metrics::new());
        let (ready, ready_rx) = watch::channel(Err("waiting for member caches to sync".to_owned()));
        let heartbeat = Arc::new(Heartbeat::new());
        let state = AdminState {
            metrics: metrics.clone(),
            ready: ready_rx,
            heartbeat: Arc::clone(&heartbeat),
            stale_after: Duration::from_secs(30),
            status: Arc::new(|| {
                Box::pin(async {
                    tokio::task::yield_now().await;
                    serde_json::json!({"members": {"east": "synced"}, "leader": true})
                })
            }),
        };
        let server = serve("127.0.0.1:0".parse().unwrap(), state).await.unwrap();
        Fixture {
            server,
            metrics,
            ready,
            heartbeat,
        }
    }

    #[tokio::test]
    async fn metrics_route_serves_openmetrics() {
        let f = start().await;
        f.metrics.set_owned_records(17);
        let r = get(f.server.local_addr(), "/metrics").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(OPENMETRICS_CONTENT_TYPE));
        assert!(
            r.body.lines().any(|l| l == "feddns_owned_records 17"),
            "{}",
            r.body
        );
        assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
        // A query string does not change the route.
        assert_eq!(get(f.server.local_addr(), "/metrics?x=1").await.status, 200);
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn readyz_follows_the_watch() {
        let f = start().await;
        let addr = f.server.local_addr();
        let r = get(addr, "/readyz").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.header("content-type"), Some(TEXT));
        assert_eq!(r.body, "waiting for member caches to sync\n");

        f.ready.send(Ok(())).unwrap();
        let r = get(addr, "/readyz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "ok\n");

        f.ready.send(Err("lost the provider".to_owned())).unwrap();
        let r = get(addr, "/readyz").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "lost the provider\n");
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn healthz_is_503_when_the_heartbeat_is_stale() {
        let f = start().await;
        let addr = f.server.local_addr();
        let r = get(addr, "/healthz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(TEXT));
        assert_eq!(r.body, "ok\n");

        f.heartbeat.beat_at(Instant::now() - Duration::from_secs(31));
        assert!(f.heartbeat.age() >= Duration::from_secs(31));
        let r = get(addr, "/healthz").await;
        assert_eq!(r.status, 503);
        assert!(r.body.contains("last heartbeat 31"), "{}", r.body);

        f.heartbeat.beat();
        assert_eq!(get(addr, "/healthz").await.status, 200);

        // A beat in the future counts as fresh.
        f.heartbeat.beat_at(Instant::now() + Duration::from_secs(60));
        assert_eq!(f.heartbeat.age(), Duration::ZERO);
        assert_eq!(get(addr, "/healthz").await.status, 200);
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn status_route_serves_json() {
        let f = start().await;
        let r = get(f.server.local_addr(), "/status").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(JSON));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"members": {"east": "synced"}, "leader": true})
        );
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn unknown_paths_404_and_other_methods_405() {
        let f = start().await;
        let addr = f.server.local_addr();
        for path in ["/", "/metricsx", "/status/", "/nope", "//metrics"] {
            assert_eq!(get(addr, path).await.status, 404, "{path}");
        }
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
            let r = request(addr, method, "/metrics").await;
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
        assert_eq!(request(addr, "POST", "/nope").await.status, 404);
        // HEAD is GET without a body.
        let r = request(addr, "HEAD", "/healthz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "");
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn garbage_input_gets_an_error_not_a_crash() {
        let f = start().await;
        let addr = f.server.local_addr();
        let r = send_raw(addr, "NOT HTTP AT ALL\r\n\r\n").await;
        assert_eq!(r.status, 400);
        // Unparseable request: the connection is closed without a reply or with a 4xx.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"\x00\xff\xfe garbage\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
        // The server still answers.
        assert_eq!(get(addr, "/healthz").await.status, 200);
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn keep_alive_serves_several_requests() {
        let f = start().await;
        let mut stream = TcpStream::connect(f.server.local_addr()).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{text}");
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("HTTP/1.1 503"), "{text}");
        f.server.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_the_listener() {
        let f = start().await;
        let addr = f.server.local_addr();
        // An idle keep-alive connection, after one complete exchange.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

        tokio::time::timeout(Duration::from_secs(3), f.server.shutdown())
            .await
            .expect("shutdown does not wait for idle connections");
        // The idle connection was closed by the server.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), idle.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        // Nobody listens any more.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn shutdown_finishes_in_flight_requests() {
        let f = start().await;
        let addr = f.server.local_addr();
        // A request whose headers are half sent when shutdown starts.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        // Let the server accept it (hyper counts a connection as busy from its start until its
        // first response, so graceful shutdown waits for this request).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let shutdown = tokio::spawn(f.server.shutdown());
        // The listener closes first.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(Instant::now() < deadline, "the listener is still open");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stream.write_all(b"\r\n").await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let r = parse(&buf);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        tokio::time::timeout(Duration::from_secs(5), shutdown)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn dropping_the_handle_keeps_serving() {
        let f = start().await;
        let addr = f.server.local_addr();
        drop(f.server);
        assert_eq!(get(addr, "/healthz").await.status, 200);
    }

    #[tokio::test]
    async fn http_get_returns_200_bodies_and_errors_otherwise() {
        let f = start().await;
        let addr = f.server.local_addr().to_string();
        let t = Duration::from_secs(5);
        let body = http_get(&addr, "/status", t).await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["leader"], true);
        assert_eq!(http_get(&addr, "/healthz", t).await.unwrap(), "ok\n");

        let e = http_get(&addr, "/readyz", t).await.unwrap_err();
        assert_eq!(e.to_string(), "HTTP 503: waiting for member caches to sync");
        let e = http_get(&addr, "/nope", t).await.unwrap_err();
        assert!(e.to_string().starts_with("HTTP 404"), "{e}");

        f.server.shutdown().await;
        assert!(http_get(&addr, "/status", t).await.is_err());
    }

    #[tokio::test]
    async fn http_get_times_out() {
        // A listener that accepts but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let _hold = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let e = http_get(&addr, "/status", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn parse_response_handles_lengths_and_chunks() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA"),
            Some((200, "ok".to_owned()))
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            ),
            Some((200, "abcde".to_owned()))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 503 X\r\n\r\nwhy"),
            Some((503, "why".to_owned()))
        );
        assert_eq!(parse_response(b"garbage"), None);
        assert_eq!(parse_response(b"SSH-2.0\r\n\r\n"), None);
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort"),
            None
        );
    }

    #[test]
    fn heartbeat_ages() {
        let h = Heartbeat::new();
        assert!(h.age() < Duration::from_secs(5));
        h.beat_at(Instant::now() - Duration::from_secs(10));
        assert!(h.age() >= Duration::from_secs(10));
        h.beat();
        assert!(h.age() < Duration::from_secs(5));
    }
}
