//! The embedded feddns provider: an authoritative DNS server (hickory) for one zone, on a local
//! UDP and TCP port, whose records are changed through the [`Provider`] trait.
//!
//! The zone's record sets live in a [`ZoneState`], which validates every batch; after a batch is
//! applied, the touched RRsets are written into hickory's in-memory zone and the SOA serial is
//! bumped, all under one write lock, so a query sees either the whole batch or none of it. The
//! apex SOA and NS sets belong to the server and cannot be changed.
//!
//! All hickory API use stays inside this crate.

mod records;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feddns_provider::{
    Capabilities, Change, Limits, Provider, ProviderError, RecordSet, ZoneState, normalize_name,
};
use hickory_proto::rr::LowerName;
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::records::Apex;
pub use crate::records::{APEX_TTL, SOA_EXPIRE, SOA_MINIMUM, SOA_REFRESH, SOA_RETRY};

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

/// The zone as feddns sees it and the SOA serial DNS currently serves.
#[derive(Debug)]
struct Served {
    zone: ZoneState,
    serial: u32,
}

/// An authoritative DNS server for one zone, serving on UDP and TCP, and a [`Provider`] for it.
///
/// Stop it with [`shutdown`](Self::shutdown); dropping it also stops the server (its tasks are
/// aborted), though the sockets are then released asynchronously.
pub struct EmbeddedProvider {
    apex: Apex,
    addr: SocketAddr,
    handler: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    state: Mutex<Served>,
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
        let apex = Apex::new(&zone).map_err(|reason| EmbeddedError::InvalidZone {
            zone: cfg.zone.clone(),
            reason,
        })?;

        let mut handler = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            apex.origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let records = handler.records_get_mut();
        records.insert(apex.soa_key(), Arc::new(apex.soa(INITIAL_SERIAL)));
        records.insert(apex.ns_key(), Arc::new(apex.ns()));
        let handler = Arc::new(handler);

        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::new(&apex.origin),
            vec![handler.clone() as Arc<dyn ZoneHandler>],
        );

        let (udp, tcp, addr) = bind(cfg.listen).await?;
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        info!(zone = %apex.zone, %addr, "embedded DNS server started");

        let state = ZoneState::new(&zone, Capabilities::default(), Limits::default());
        Ok(Self {
            apex,
            addr,
            handler,
            state: Mutex::new(Served {
                zone: state,
                serial: INITIAL_SERIAL,
            }),
            server,
        })
    }

    /// The address the server answers on (UDP and TCP), with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SOA serial currently served.
    pub async fn serial(&self) -> u32 {
        self.state.lock().await.serial
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
        Capabilities::default()
    }

    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// Every set of the zone, including the apex SOA (`Other("SOA")`) and NS (`Other("NS")`)
    /// sets, whose values are in zone-file presentation form.
    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        let served = self.state.lock().await;
        Ok(self
            .apex
            .listed(served.serial)
            .into_iter()
            .chain(served.zone.sets().cloned())
            .collect())
    }

    /// Applies the batch atomically and bumps the SOA serial once; an empty batch changes
    /// nothing. Changes to the apex SOA or NS, a CNAME at the apex and values hickory cannot
    /// serve are rejected as [`ProviderError::Invalid`].
    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        if changes.is_empty() {
            return Ok(());
        }
        let writes = changes
            .iter()
            .map(|c| records::translate(c, &self.apex))
            .collect::<Result<Vec<_>, _>>()?;
        let mut served = self.state.lock().await;
        let touched = served.zone.apply(changes)?;
        // One change per set (checked by `ZoneState`), so the writes are independent; each
        // replaces or removes a whole RRset.
        let serial = served.serial.wrapping_add(1);
        {
            let mut records = self.handler.records_mut().await;
            for (key, rrset) in writes {
                match rrset {
                    Some(rrset) => records.insert(key, Arc::new(rrset)),
                    None => records.remove(&key),
                };
            }
            records.insert(self.apex.soa_key(), Arc::new(self.apex.soa(serial)));
        }
        served.serial = serial;
        debug!(zone = %self.apex.zone, serial, changes = changes.len(), names = touched.len(), "applied batch");
        Ok(())
    }
}
