//! A TCP proxy that can hang, for putting a client out of reach of a [`crate::FakeApiServer`]
//! (or any server) without stopping it: a partition, or an API server that stops answering.

use std::net::SocketAddr;

use tokio::sync::watch;

/// A TCP proxy on 127.0.0.1 in front of `target` that can hang: while hung it accepts and keeps
/// connections but forwards nothing, in either direction (a partition, or an API server that
/// stops answering), and forwards what it held once let go.
pub struct HangingProxy {
    addr: SocketAddr,
    hung: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HangingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HangingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`.
    ///
    /// # Panics
    ///
    /// When no port of 127.0.0.1 can be bound.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hung = watch::channel(false).0;
        let gate = hung.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let gate = gate.clone();
                conns.spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, gate.subscribe()), pump(sr, cw, gate.subscribe()));
                });
            }
        });
        Self { addr, hung, task }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` and the proxy's address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Hangs (true) or lets go (false).
    pub fn hang(&self, hung: bool) {
        self.hung.send_replace(hung);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut hung: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if hung.wait_for(|h| !*h).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
