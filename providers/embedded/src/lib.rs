//! The embedded feddns provider: an authoritative DNS server (hickory) for one zone, on a local
//! UDP and TCP port, whose records are changed through the [`Provider`] trait.
//!
//! The zone's record sets live once, in a [`ZoneState`], which validates every batch. DNS is
//! answered from it by a zone handler of ours plugged into hickory's `Catalog` (which keeps
//! doing the message handling: UDP and TCP, EDNS, truncation, AXFR refused); an answer's hickory
//! records are built when the query comes. A batch and its SOA serial bump are applied under one
//! write lock that queries read under, so a query sees either the whole batch or none of it.
//! The apex SOA and NS sets belong to the server and cannot be changed.
//!
//! All hickory API use stays inside this crate.

mod handler;
mod records;
mod zone;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use feddns_provider::{
    Capabilities, Change, Limits, Provider, ProviderError, RecordSet, ZoneState, normalize_name,
};
use hickory_server::Server;
use hickory_server::zone_handler::{Catalog, ZoneHandler};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::handler::ZoneServer;
use crate::records::Apex;
pub use crate::records::{APEX_TTL, SOA_EXPIRE, SOA_MINIMUM, SOA_REFRESH, SOA_RETRY};
use crate::zone::Served;

/// Plain record sets, and wildcard names: the handler answers below a wildcard (RFC 4592).
pub const CAPABILITIES: Capabilities = Capabilities {
    weighted: false,
    latency: false,
    geo: false,
    alias: false,
    wildcard: true,
};

/// The SOA serial of a freshly started zone.
pub const INITIAL_SERIAL: u32 = 1;

/// How long a TCP connection may stay idle before the server closes it.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses buffered per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 64;
/// Attempts to find a port free for both UDP and TCP when the configured port is 0.
const BIND_ATTEMPTS: usize = 8;

/// Where and for which zone the embedded server runs.
///
/// The apex gets an NS set `ns1.<zone>.` and an SOA with mname `ns1.<zone>.`, rname
/// `hostmaster.<zone>.`, TTL [`APEX_TTL`] and the timers [`SOA_REFRESH`], [`SOA_RETRY`],
/// [`SOA_EXPIRE`] and [`SOA_MINIMUM`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// The zone apex (case and a trailing dot do not matter).
    pub zone: String,
    /// The address to serve UDP and TCP on; port 0 picks a port free for both.
    pub listen: SocketAddr,
}

/// Errors starting or stopping the embedded server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The configured zone is not a usable DNS name.
    #[error("invalid zone {zone:?}: {reason}")]
    InvalidZone {
        /// The zone as configured.
        zone: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A socket could not be bound or inspected.
    #[error("failed to bind DNS {protocol} socket on {addr}: {source}")]
    Bind {
        /// `UDP` or `TCP`.
        protocol: &'static str,
        /// The address it tried.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server reported an error while shutting down.
    #[error("DNS server on {addr} failed while shutting down: {reason}")]
    Shutdown {
        /// The address it served.
        addr: SocketAddr,
        /// The server's error.
        reason: String,
    },
}

/// An authoritative DNS server for one zone, serving on UDP and TCP, and a [`Provider`] for it.
///
/// Stop it with [`shutdown`](Self::shutdown); dropping it also stops the server (its tasks are
/// aborted), though the sockets are then released asynchronously.
pub struct EmbeddedProvider {
    apex: Arc<Apex>,
    addr: SocketAddr,
    /// The zone and serial, shared with the zone handler. Queries and `list` read it; `apply`
    /// writes it.
    served: Arc<RwLock<Served>>,
    /// Taken by `apply` and `list`, so that a long `list` holds off writers here rather than
    /// leaving one waiting for the write lock, which would hold off queries meanwhile.
    writer: Mutex<()>,
    /// Owns the server's tasks: dropping it aborts them.
    server: Server<Catalog>,
}

impl std::fmt::Debug for EmbeddedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedProvider")
            .field("zone", &self.apex.zone)
            .field("addr", &self.addr)
            .finish()
    }
}

impl EmbeddedProvider {
    /// Binds UDP and TCP on `cfg.listen` (with port 0, on a port free for both) and starts
    /// serving the zone with only its apex SOA (serial [`INITIAL_SERIAL`]) and NS sets.
    pub async fn start(cfg: EmbeddedConfig) -> Result<Self, EmbeddedError> {
        let zone = normalize_name(&cfg.zone);
        let apex = Arc::new(Apex::new(&zone).map_err(|reason| EmbeddedError::InvalidZone {
            zone: cfg.zone.clone(),
            reason,
        })?);
        let state = ZoneState::new(&zone, CAPABILITIES, Limits::default());
        let served = Arc::new(RwLock::new(Served::new(state, INITIAL_SERIAL)));

        let handler = ZoneServer::new(apex.clone(), served.clone());
        let mut catalog = Catalog::new();
        catalog.upsert(
            handler.origin().clone(),
            vec![Arc::new(handler) as Arc<dyn ZoneHandler>],
        );

        let (udp, tcp, addr) = bind(cfg.listen).await?;
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        info!(zone = %apex.zone, %addr, "embedded DNS server started");

        Ok(Self {
            apex,
            addr,
            served,
            writer: Mutex::new(()),
            server,
        })
    }

    /// The address the server answers on (UDP and TCP), with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SOA serial currently served.
    pub async fn serial(&self) -> u32 {
        self.read().serial()
    }

    fn read(&self) -> RwLockReadGuard<'_, Served> {
        self.served.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Served> {
        self.served.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the server: stops accepting queries and waits until its sockets are closed, so the
    /// port is free again when this returns.
    pub async fn shutdown(mut self) -> Result<(), EmbeddedError> {
        let addr = self.addr;
        self.server
            .shutdown_gracefully()
            .await
            .map_err(|e| EmbeddedError::Shutdown {
                addr,
                reason: e.to_string(),
            })?;
        info!(zone = %self.apex.zone, %addr, "embedded DNS server stopped");
        Ok(())
    }
}

/// Binds UDP on `listen`, then TCP on the address UDP got. With port 0, a port taken for TCP
/// makes it try again with another port.
async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), EmbeddedError> {
    let mut attempt = 1;
    loop {
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|source| EmbeddedError::Bind {
                protocol: "UDP",
                addr: listen,
                source,
            })?;
        let addr = udp.local_addr().map_err(|source| EmbeddedError::Bind {
            protocol: "UDP",
            addr: listen,
            source,
        })?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp, addr)),
            Err(e)
                if listen.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < BIND_ATTEMPTS =>
            {
                debug!(%addr, attempt, "TCP port taken, trying another port");
                attempt += 1;
            }
            Err(source) => {
                return Err(EmbeddedError::Bind {
                    protocol: "TCP",
                    addr,
                    source,
                });
            }
        }
    }
}

#[async_trait]
impl Provider for EmbeddedProvider {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn zone(&self) -> &str {
        &self.apex.zone
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// Every set of the zone, including the apex SOA (`Other("SOA")`) and NS (`Other("NS")`)
    /// sets, whose values are in zone-file presentation form.
    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        let shared = self.list_shared().await?;
        Ok(shared.into_iter().map(Arc::unwrap_or_clone).collect())
    }

    /// The sets DNS is answered from, shared: the controller's cache keeps these very sets.
    async fn list_shared(&self) -> Result<Vec<Arc<RecordSet>>, ProviderError> {
        let _writer = self.writer.lock().await;
        let served = self.read();
        Ok(self
            .apex
            .listed(served.serial())
            .into_iter()
            .map(Arc::new)
            .chain(served.zone().shared().cloned())
            .collect())
    }

    /// Applies the batch atomically and bumps the SOA serial once; an empty batch changes
    /// nothing. Changes to the apex SOA or NS, a CNAME at the apex, values hickory cannot
    /// parse, ANAME sets and names not in canonical presentation form (lower-case, escaped as
    /// hickory writes them: no query could reach them) are rejected as
    /// [`ProviderError::Invalid`].
    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        if changes.is_empty() {
            return Ok(());
        }
        for change in changes {
            records::check(change, &self.apex)?;
        }
        let _writer = self.writer.lock().await;
        let (names, serial) = {
            let mut served = self.write();
            let names = served.apply(changes)?;
            (names, served.serial())
        };
        debug!(zone = %self.apex.zone, serial, changes = changes.len(), names, "applied batch");
        Ok(())
    }
}
