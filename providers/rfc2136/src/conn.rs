//! DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message prefixed by its length, every step
//! bounded by a timeout.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One TCP connection to the server.
pub(crate) struct Conn {
    stream: TcpStream,
    timeout: Duration,
}

fn timed_out(what: &str, after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} timed out after {after:?}"),
    )
}

async fn within<T>(what: &str, after: Duration, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(after, fut)
        .await
        .unwrap_or_else(|_| Err(timed_out(what, after)))
}

impl Conn {
    /// Connects to `host:port` (every address the host resolves to, in turn).
    pub(crate) async fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<Self> {
        let addrs: Vec<_> = within("resolving the server", timeout, async {
            Ok(tokio::net::lookup_host((host, port)).await?.collect())
        })
        .await?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in addrs {
            match within("connecting", timeout, TcpStream::connect(addr)).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Self { stream, timeout });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends one message.
    pub(crate) async fn send(&mut self, message: &[u8]) -> io::Result<()> {
        write_message(&mut self.stream, message, self.timeout).await
    }

    /// Receives one message.
    pub(crate) async fn recv(&mut self) -> io::Result<Vec<u8>> {
        read_message(&mut self.stream, self.timeout).await
    }
}

impl Conn {
    /// Sends every message while receiving as many answers (in whatever order the server sends
    /// them); writing and reading run together so that neither side's buffers can fill up.
    pub(crate) async fn pipeline(&mut self, messages: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
        let timeout = self.timeout;
        let (mut reader, mut writer) = self.stream.split();
        let write = async {
            for m in messages {
                write_message(&mut writer, m, timeout).await?;
            }
            Ok::<(), io::Error>(())
        };
        let read = async {
            let mut answers = Vec::with_capacity(messages.len());
            while answers.len() < messages.len() {
                quickack(reader.as_ref());
                answers.push(read_message(&mut reader, timeout).await?);
            }
            Ok::<_, io::Error>(answers)
        };
        let ((), answers) = tokio::try_join!(write, read)?;
        Ok(answers)
    }
}

/// Writes one length-prefixed message.
async fn write_message(
    w: &mut (impl AsyncWriteExt + Unpin),
    message: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let len = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a DNS message over 65,535 bytes"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    within("sending", timeout, w.write_all(&framed)).await
}

/// Reads one length-prefixed message.
async fn read_message(r: &mut (impl AsyncReadExt + Unpin), timeout: Duration) -> io::Result<Vec<u8>> {
    within("waiting for the answer", timeout, async {
        let len = r.read_u16().await?;
        let mut buf = vec![0; usize::from(len)];
        r.read_exact(&mut buf).await?;
        Ok(buf)
    })
    .await
}

/// Acknowledges the next answer at once. A server that has sent one answer holds back the next
/// small one until it is acknowledged (Nagle), and Linux delays acknowledgements by 40 ms; so
/// without this every pipelined answer after the first few waits 40 ms.
fn quickack(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}
