//! `feddns stub`: kube-dns' `--federations` resolution for a member cluster, as an authoritative
//! DNS server that CoreDNS (which dropped its federation plugin in 1.7) or kube-dns forwards
//! `<federation>.svc.<cluster-domain>` to.
//!
//! ```text
//! <svc>.<ns>.<fed>.svc.<cluster-domain>
//!   local Service exists with ≥1 ready endpoint  → CNAME <svc>.<ns>.svc.<cluster-domain>.
//!   otherwise                                     → CNAME <svc>.<ns>.<fed>.svc.<zone>.<region>.<domain>.
//!                                                   (zone and region of the node the stub runs on)
//! ```
//!
//! * [`query`]: the federations map parser and the query-name classifier (pure).
//! * [`zone`]: the state answered from, precompiled into an immutable [`zone::Zone`] (pure).
//! * [`server`]: the hickory server on UDP and TCP that answers from the current zone.
//! * [`watch`]: the Kubernetes side that builds new zones as the cluster and the kube-dns
//!   ConfigMap change.

pub mod query;
pub mod server;
pub mod watch;
pub mod zone;

use std::net::SocketAddr;
use std::sync::Arc;

use kube::Client;
use tokio::task::JoinHandle;

pub use self::server::{Shared, StubServer};
pub use self::watch::{Sources, StubStats};
pub use self::zone::{Answer, LocalServices, Location, StubSettings, StubState, Zone};

/// A running stub: the DNS server and the task that follows the cluster.
#[derive(Debug)]
pub struct Stub {
    server: StubServer,
    shared: Shared,
    stats: Arc<StubStats>,
    follow: JoinHandle<()>,
}

impl Stub {
    /// Starts answering on `listen` (UDP and TCP; port 0 picks one) and following the cluster
    /// behind `client`. Until the cluster has been listed (and the ConfigMap, when one is
    /// configured, listed or found unreadable), federation queries are SERVFAIL.
    pub async fn start(
        client: Client,
        listen: SocketAddr,
        settings: StubSettings,
        sources: Sources,
    ) -> Result<Self, String> {
        let state = StubState {
            federations: sources.federations.clone(),
            location: None,
            local: None,
        };
        let shared = Shared::new(Zone::new(&settings, state));
        let server = StubServer::start(listen, shared.clone()).await?;
        let stats = Arc::new(StubStats::default());
        let follow = tokio::spawn(watch::follow(
            client,
            settings,
            sources,
            shared.clone(),
            stats.clone(),
        ));
        Ok(Self {
            server,
            shared,
            stats,
            follow,
        })
    }

    /// The address answered on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The zone answered from now.
    pub fn zone(&self) -> Arc<Zone> {
        self.shared.current()
    }

    /// What the Kubernetes side has done so far.
    pub fn stats(&self) -> &StubStats {
        &self.stats
    }

    /// Stops following the cluster and answering.
    pub async fn shutdown(self) -> Result<(), String> {
        self.follow.abort();
        let _ = self.follow.await;
        self.server.shutdown().await
    }
}
