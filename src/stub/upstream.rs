//! The upstream resolvers federated names are resolved through: `--upstream ADDR[:PORT],...`,
//! by default the nameservers of `/etc/resolv.conf`; and one query sent to them.
//!
//! A query goes to the servers in order, each given an equal share of what is left of the
//! deadline, until one answers NOERROR or NXDOMAIN. A truncated UDP answer is asked again over
//! TCP. SERVFAIL, REFUSED, another error code, no answer in time, or a network error moves on to
//! the next server; when none is left, the last failure is the result.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_resolver::net::NetError;
use hickory_resolver::net::client::{Client, ClientHandle};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::tcp::TcpClientStream;
use hickory_resolver::net::udp::UdpClientStream;
use tokio::time::Instant;

/// The DNS port.
pub const DNS_PORT: u16 = 53;

/// Why an upstream query got no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// No answer in time.
    #[error("no answer from {server} within {waited:?}")]
    Timeout {
        /// The server asked last.
        server: SocketAddr,
        /// How long it was given.
        waited: Duration,
    },
    /// An answer with an error code other than NXDOMAIN.
    #[error("{server} answered {rcode}")]
    Rcode {
        /// The server.
        server: SocketAddr,
        /// Its response code (SERVFAIL, REFUSED, ...).
        rcode: ResponseCode,
    },
    /// The query could not be sent or its answer read.
    #[error("cannot query {server}")]
    Network {
        /// The server.
        server: SocketAddr,
        /// What failed.
        #[source]
        source: NetError,
    },
    /// There is no server to ask.
    #[error("no upstream resolver is configured")]
    NoServers,
}

/// Something that answers one DNS query: the upstream resolvers, or a test's stand-in.
#[async_trait::async_trait]
pub trait Exchange: Send + Sync + 'static {
    /// The answer to `name`/`qtype` (recursion desired), NOERROR or NXDOMAIN, received before
    /// `deadline`.
    async fn exchange(
        &self,
        name: &Name,
        qtype: RecordType,
        deadline: Instant,
    ) -> Result<Message, UpstreamError>;
}

/// The upstream resolvers, over UDP with TCP for truncated answers.
pub struct DnsUpstream {
    servers: Vec<(SocketAddr, Client<TokioRuntimeProvider>)>,
}

impl std::fmt::Debug for DnsUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<_> = self.servers.iter().map(|(a, _)| a).collect();
        f.debug_struct("DnsUpstream").field("servers", &servers).finish()
    }
}

impl DnsUpstream {
    /// Clients for `servers`; their background tasks run on the current runtime. `timeout` bounds
    /// one query to one server.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Self {
        let servers = servers
            .iter()
            .map(|&addr| {
                let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
                    .with_timeout(Some(timeout))
                    .build();
                let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
                tokio::spawn(background);
                (addr, client)
            })
            .collect();
        Self { servers }
    }

    /// The servers, in the order they are asked.
    pub fn servers(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|(a, _)| *a).collect()
    }
}

#[async_trait::async_trait]
impl Exchange for DnsUpstream {
    async fn exchange(
        &self,
        name: &Name,
        qtype: RecordType,
        deadline: Instant,
    ) -> Result<Message, UpstreamError> {
        let mut last = UpstreamError::NoServers;
        for (i, (server, client)) in self.servers.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let share = left / u32::try_from(self.servers.len() - i).unwrap_or(u32::MAX);
            match ask(*server, client.clone(), name, qtype, share).await {
                Ok(message) => return Ok(message),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// One server, within `budget`: UDP, then TCP when the answer is truncated.
async fn ask(
    server: SocketAddr,
    mut udp: Client<TokioRuntimeProvider>,
    name: &Name,
    qtype: RecordType,
    budget: Duration,
) -> Result<Message, UpstreamError> {
    let timeout = || UpstreamError::Timeout {
        server,
        waited: budget,
    };
    let deadline = Instant::now() + budget;
    let network = |source| match source {
        NetError::Timeout => timeout(),
        source => UpstreamError::Network { server, source },
    };
    let response = tokio::time::timeout_at(deadline, udp.query(name.clone(), DNSClass::IN, qtype))
        .await
        .map_err(|_| timeout())?
        .map_err(network)?;
    let mut message = response.into_message();
    if message.metadata.truncation {
        let tcp = async {
            let left = deadline.saturating_duration_since(Instant::now());
            let (connect, handle) =
                TcpClientStream::new(server, None, Some(left), TokioRuntimeProvider::default());
            let stream = connect.await?;
            let (mut client, background) = Client::<TokioRuntimeProvider>::with_timeout(stream, handle, left);
            let background = tokio::spawn(background);
            let answer = client.query(name.clone(), DNSClass::IN, qtype).await;
            background.abort();
            answer
        };
        message = tokio::time::timeout_at(deadline, tcp)
            .await
            .map_err(|_| timeout())?
            .map_err(network)?
            .into_message();
    }
    match message.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(message),
        rcode => Err(UpstreamError::Rcode { server, rcode }),
    }
}

/// Parses `--upstream`: comma-separated `ADDR` or `ADDR:PORT` (`[v6]:PORT` for IPv6 with a
/// port), port 53 by default. The error names the entry.
pub fn parse_upstreams(text: &str) -> Result<Vec<SocketAddr>, String> {
    let mut servers = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let addr = if let Ok(ip) = entry.parse::<IpAddr>() {
            SocketAddr::new(ip, DNS_PORT)
        } else if let Ok(addr) = entry.parse::<SocketAddr>() {
            addr
        } else {
            return Err(format!(
                "{entry:?} is not an IP address, ADDR:PORT or [IPv6]:PORT"
            ));
        };
        if addr.port() == 0 {
            return Err(format!("{entry:?}: port 0"));
        }
        if !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    Ok(servers)
}

/// The `nameserver` entries of a resolv.conf (read by the resolv-conf parser hickory uses), on
/// port 53. Errors name the file: unreadable, or without a nameserver.
pub fn resolv_conf_nameservers(path: &Path) -> Result<Vec<SocketAddr>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(&text)
        .map_err(|e| format!("{shown}: {e}; set --upstream"))?;
    let mut servers: Vec<SocketAddr> = Vec::new();
    for ns in config.name_servers() {
        let addr = SocketAddr::new(ns.ip, DNS_PORT);
        if !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    if servers.is_empty() {
        return Err(format!("{shown}: no nameserver; set --upstream"));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_parse_with_and_without_ports() {
        let got = parse_upstreams("10.0.0.10, 127.0.0.1:5353,::1,[fd00::53]:5300,10.0.0.10").unwrap();
        let want: Vec<SocketAddr> = ["10.0.0.10:53", "127.0.0.1:5353", "[::1]:53", "[fd00::53]:5300"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        for bad in [
            "",
            "dns.google",
            "10.0.0.1:",
            "10.0.0.1:99999",
            "10.0.0.1,,10.0.0.2",
            "127.0.0.1:0",
        ] {
            let e = parse_upstreams(bad).unwrap_err();
            assert!(e.contains('"'), "{bad:?}: {e}");
        }
    }

    #[test]
    fn resolv_conf_gives_its_nameservers_or_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(
            &path,
            "# comment\nsearch default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\n\
             options ndots:5\nnameserver fd00::10\nnameserver 10.96.0.10\n",
        )
        .unwrap();
        let got = resolv_conf_nameservers(&path).unwrap();
        assert_eq!(
            got,
            [
                "10.96.0.10:53".parse::<SocketAddr>().unwrap(),
                "[fd00::10]:53".parse().unwrap()
            ]
        );
        std::fs::write(&path, "search example.com\noptions ndots:2\n").unwrap();
        let e = resolv_conf_nameservers(&path).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: ", path.display())) && e.contains("--upstream"),
            "{e}"
        );
        let missing = dir.path().join("missing.conf");
        let e = resolv_conf_nameservers(&missing).unwrap_err();
        assert!(e.starts_with(&format!("{}: ", missing.display())), "{e}");
    }
}
