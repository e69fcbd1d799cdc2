//! `feddns stub`: kube-dns' `--federations` resolution for a member cluster, as an authoritative
//! DNS server that CoreDNS (which dropped its federation plugin in 1.7) or kube-dns forwards
//! `<federation>.svc.<cluster-domain>` to. Its answers resolve as kube-dns' did: the CNAME and
//! what it leads to.
//!
//! ```text
//! <svc>.<ns>.<fed>.svc.<cluster-domain>
//!   local Service with ≥1 ready endpoint  → CNAME <svc>.<ns>.svc.<cluster-domain>.
//!                                           + its ClusterIPs (headless: ready endpoint addresses)
//!   otherwise                             → CNAME <svc>.<ns>.<fed>.svc.<zone>.<region>.<domain>.
//!                                           + the chain the upstream resolvers give for it
//!                                           (zone and region of the node the stub runs on)
//! ```
//!
//! * [`query`]: the federations map parser and the query-name classifier (pure).
//! * [`zone`]: the state answered from, precompiled into an immutable [`zone::Zone`] (pure).
//! * [`cluster`]: the local Services and EndpointSlices folded into local answers (pure).
//! * [`chain`]: federated chains completed through the upstream, cached and coalesced.
//! * [`upstream`]: the upstream resolvers (`--upstream`, `/etc/resolv.conf`).
//! * [`server`]: the hickory server on UDP and TCP that answers from the current zone.
//! * [`fast`]: the common UDP query answered straight from the wire.
//! * [`watch`]: the Kubernetes side that builds new zones as the cluster and the kube-dns
//!   ConfigMap change.
//! * [`metrics`]: `feddns_stub_*`, served with `/healthz`, `/readyz` and `/status` on `--admin`.
//!
//! Owns: everything `feddns stub` does inside one member cluster. May not: run the controller
//! or call a DNS provider; it shares the pure core, the member projections and connection, the
//! watch backoff and the admin port.

pub mod chain;
pub mod cluster;
pub mod fast;
pub mod metrics;
pub mod query;
pub mod server;
pub mod upstream;
pub mod watch;
pub mod zone;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch as channel;
use tokio::task::JoinHandle;

use self::chain::Resolver;
use self::upstream::DnsUpstream;
use crate::config::MemberConfig;
use crate::federation::names::NameError;
use crate::members::kube::ConnectError;
use crate::ops::admin::{AdminServer, AdminState, Heartbeat};

pub use self::metrics::StubMetrics;
pub use self::server::{Answering, Shared, StubServer};
pub use self::watch::{Sources, StubStats};
pub use self::zone::{Answer, LocalAnswer, LocalServices, Location, StubSettings, StubState, Zone};

/// `/healthz` fails when the follow loop has not turned for this long.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// How federated names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// The resolvers, asked in order.
    pub servers: Vec<SocketAddr>,
    /// The most one federated answer may wait for the upstream (the whole chain).
    pub timeout: Duration,
    /// Most chains kept in the cache.
    pub cache_size: usize,
}

/// Everything a stub is started with.
#[derive(Debug, Clone)]
pub struct StubOptions {
    /// Address to answer DNS on, UDP and TCP (port 0 picks one).
    pub listen: SocketAddr,
    /// Names and TTL.
    pub settings: StubSettings,
    /// Where the changing state comes from.
    pub sources: Sources,
    /// How federated names are resolved.
    pub upstream: UpstreamSettings,
    /// Address of the admin port (`/metrics`, `/healthz`, `/readyz`, `/status`), if any.
    pub admin: Option<SocketAddr>,
}

/// A running stub: the DNS server, the task that follows the cluster, and the admin port.
#[derive(Debug)]
pub struct Stub {
    server: StubServer,
    shared: Shared,
    stats: Arc<StubStats>,
    metrics: Arc<StubMetrics>,
    follow: JoinHandle<()>,
    admin: Option<AdminServer>,
}

/// Why the stub cannot start or stop, by the flag whose address failed.
#[derive(Debug, thiserror::Error)]
pub enum StubError {
    /// The DNS server cannot serve `--listen`.
    #[error("--listen {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What failed (the protocol, the address and the system's error).
        #[source]
        source: Box<server::ServeError>,
    },
    /// The admin port cannot listen on `--admin`.
    #[error("--admin {addr}")]
    Admin {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// `--cluster-domain` is not a DNS name.
    #[error(transparent)]
    ClusterDomain(NameError),
    /// `--cluster-domain` is too long for the names the stub answers under it.
    #[error("--cluster-domain {value:?}: {source}")]
    ClusterDomainName {
        /// The cluster domain, normalized.
        value: String,
        /// hickory's error.
        #[source]
        source: hickory_proto::ProtoError,
    },
    /// The local cluster cannot be reached through the client configuration found.
    #[error("cannot reach the cluster through {through}: {source}")]
    Connect {
        /// The configuration used (the flags, `$KUBECONFIG`, `~/.kube/config`, in-cluster).
        through: String,
        /// Why the client cannot be built.
        #[source]
        source: Box<ConnectError>,
    },
    /// The DNS server failed while stopping.
    #[error(transparent)]
    Shutdown(Box<server::ServeError>),
}

impl Stub {
    /// Starts answering on `options.listen` and following the cluster behind `client`. Until
    /// the cluster has been listed (and the ConfigMap, when one is configured, listed or found
    /// unreadable), federation queries are SERVFAIL. Errors name the address that failed.
    pub async fn start(client: Client, options: StubOptions) -> Result<Self, StubError> {
        let StubOptions {
            listen,
            settings,
            sources,
            upstream,
            admin,
        } = options;
        let state = StubState {
            federations: sources.federations.clone(),
            location: None,
            local: None,
        };
        let shared = Shared::new(Zone::new(&settings, state));
        let metrics = Arc::new(StubMetrics::new());
        let exchange = Arc::new(DnsUpstream::new(&upstream.servers, upstream.timeout));
        let resolver = Resolver::new(exchange, upstream.timeout, upstream.cache_size, metrics.clone());
        let answering = Answering {
            zone: shared.clone(),
            resolver: resolver.clone(),
            metrics: metrics.clone(),
        };
        let server = StubServer::start(listen, answering)
            .await
            .map_err(|source| StubError::Listen {
                addr: listen,
                source: Box::new(source),
            })?;
        let stats = Arc::new(StubStats::default());
        let (ready, ready_rx) = channel::channel(Err("the local cluster is not listed yet".to_string()));
        let heartbeat = Arc::new(Heartbeat::new());
        let admin = match admin {
            None => None,
            Some(addr) => {
                let status = status_source(&shared, &resolver, &sources, &upstream);
                let state = AdminState {
                    metrics: metrics.clone(),
                    ready: ready_rx,
                    heartbeat: heartbeat.clone(),
                    stale_after: STALE_AFTER,
                    status,
                };
                let served = crate::ops::admin::serve(addr, state)
                    .await
                    .map_err(|source| StubError::Admin { addr, source })?;
                Some(served)
            }
        };
        let outputs = watch::Outputs {
            shared: shared.clone(),
            stats: stats.clone(),
            metrics: metrics.clone(),
            ready,
            heartbeat,
        };
        let follow = tokio::spawn(watch::follow(client, settings, sources, outputs));
        Ok(Self {
            server,
            shared,
            stats,
            metrics,
            follow,
            admin,
        })
    }

    /// The address answered on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The admin port's address, with the real port.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// The zone answered from now.
    pub fn zone(&self) -> Arc<Zone> {
        self.shared.current()
    }

    /// What the Kubernetes side has done so far.
    pub fn stats(&self) -> &StubStats {
        &self.stats
    }

    /// The metrics.
    pub fn metrics(&self) -> &StubMetrics {
        &self.metrics
    }

    /// Stops following the cluster, answering and the admin port.
    pub async fn shutdown(self) -> Result<(), StubError> {
        self.follow.abort();
        let _ = self.follow.await;
        if let Some(admin) = self.admin {
            admin.shutdown().await;
        }
        self.server
            .shutdown()
            .await
            .map_err(|e| StubError::Shutdown(Box::new(e)))
    }
}

/// The `/status` body: what the stub answers from.
fn status_source(
    shared: &Shared,
    resolver: &Resolver,
    sources: &Sources,
    upstream: &UpstreamSettings,
) -> Arc<dyn Fn() -> crate::ops::admin::StatusFuture + Send + Sync> {
    let (shared, resolver) = (shared.clone(), resolver.clone());
    let node = sources.node_name.clone();
    let servers: Vec<String> = upstream.servers.iter().map(ToString::to_string).collect();
    Arc::new(move || {
        let zone = shared.current();
        let state = zone.state();
        let body = serde_json::json!({
            "node": node,
            "location": state.location.as_ref().map(|l| serde_json::json!({"zone": l.zone, "region": l.region})),
            "federations": state.federations,
            "listed": state.local.is_some(),
            "local_services": state.local.as_ref().map_or(0, |l| l.len()),
            "upstreams": servers,
            "cached_chains": resolver.cached_chains(),
        });
        Box::pin(async move { body })
    })
}

/// Where the stub's client configuration comes from, as kubectl finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSource {
    /// `--kubeconfig` and/or `--context` (without `--kubeconfig`: `$KUBECONFIG`, else
    /// `~/.kube/config`).
    Flags {
        /// `--kubeconfig`.
        kubeconfig: Option<PathBuf>,
        /// `--context`.
        context: Option<String>,
    },
    /// `$KUBECONFIG` (one file, or several separated by `:`).
    KubeconfigEnv(String),
    /// `~/.kube/config`, which exists.
    HomeKubeconfig(PathBuf),
    /// The pod's service account.
    InCluster,
}

impl ClientSource {
    /// kubectl's order: the flags; without them `$KUBECONFIG` if set, else `~/.kube/config` if
    /// it exists, else the pod's service account. `home` is `$HOME`.
    pub fn infer(
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        env_kubeconfig: Option<String>,
        home: Option<&Path>,
    ) -> Self {
        if kubeconfig.is_some() || context.is_some() {
            return Self::Flags { kubeconfig, context };
        }
        if let Some(env) = env_kubeconfig.filter(|v| !v.trim().is_empty()) {
            return Self::KubeconfigEnv(env);
        }
        match home.map(|h| h.join(".kube").join("config")) {
            Some(path) if path.exists() => Self::HomeKubeconfig(path),
            _ => Self::InCluster,
        }
    }

    /// What errors say the configuration came from.
    pub fn describe(&self) -> String {
        match self {
            Self::Flags {
                kubeconfig: Some(p), ..
            } => format!("--kubeconfig {}", p.display()),
            Self::Flags { kubeconfig: None, .. } => "--context (in $KUBECONFIG or ~/.kube/config)".into(),
            Self::KubeconfigEnv(v) => format!("$KUBECONFIG ({v})"),
            Self::HomeKubeconfig(p) => format!("~/.kube/config ({})", p.display()),
            Self::InCluster => {
                "the pod's service account (no --kubeconfig, no $KUBECONFIG, no ~/.kube/config)".into()
            }
        }
    }

    /// A client from this source; the error names it.
    pub async fn connect(&self) -> Result<Client, StubError> {
        let (kubeconfig, context, in_cluster) = match self {
            Self::Flags { kubeconfig, context } => (kubeconfig.clone(), context.clone(), false),
            // One file is named in errors; several are merged by kube as kubectl does.
            Self::KubeconfigEnv(v) if !v.contains(':') => (Some(PathBuf::from(v)), None, false),
            Self::KubeconfigEnv(_) => (None, None, false),
            Self::HomeKubeconfig(p) => (Some(p.clone()), None, false),
            Self::InCluster => (None, None, true),
        };
        let member = MemberConfig {
            name: "local".into(),
            file: None,
            kubeconfig,
            context,
            in_cluster,
            discovered: None,
        };
        crate::members::kube::connect(&member)
            .await
            .map_err(|source| StubError::Connect {
                through: self.describe(),
                source: Box::new(source),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_source_is_found_as_kubectl_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let flag = Some(PathBuf::from("/k/config"));
        assert_eq!(
            ClientSource::infer(flag.clone(), None, Some("/env".into()), Some(home)),
            ClientSource::Flags {
                kubeconfig: flag,
                context: None
            }
        );
        assert!(matches!(
            ClientSource::infer(None, Some("ctx".into()), None, Some(home)),
            ClientSource::Flags { kubeconfig: None, .. }
        ));
        assert_eq!(
            ClientSource::infer(None, None, Some("/env/a:/env/b".into()), Some(home)),
            ClientSource::KubeconfigEnv("/env/a:/env/b".into())
        );
        // No ~/.kube/config: the service account.
        assert_eq!(
            ClientSource::infer(None, None, Some(" ".into()), Some(home)),
            ClientSource::InCluster
        );
        assert_eq!(
            ClientSource::infer(None, None, None, None),
            ClientSource::InCluster
        );
        std::fs::create_dir(home.join(".kube")).unwrap();
        std::fs::write(home.join(".kube/config"), "").unwrap();
        assert_eq!(
            ClientSource::infer(None, None, None, Some(home)),
            ClientSource::HomeKubeconfig(home.join(".kube/config"))
        );
    }

    #[tokio::test]
    async fn connection_errors_name_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        for source in [
            ClientSource::KubeconfigEnv(missing.display().to_string()),
            ClientSource::HomeKubeconfig(missing.clone()),
            ClientSource::Flags {
                kubeconfig: Some(missing.clone()),
                context: None,
            },
        ] {
            let Err(e) = source.connect().await else {
                panic!("{source:?} connected")
            };
            assert!(
                matches!(&e, StubError::Connect { source: c, .. } if c.member == "local"),
                "{e:?}"
            );
            let e = e.to_string();
            assert!(e.contains(&missing.display().to_string()), "{e}");
            assert!(
                e.starts_with(&format!("cannot reach the cluster through {}", source.describe())),
                "{e}"
            );
        }
        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: []\n",
        )
        .unwrap();
        let Err(e) = ClientSource::KubeconfigEnv(bad.display().to_string())
            .connect()
            .await
        else {
            panic!("connected")
        };
        let e = e.to_string();
        assert!(
            e.contains("$KUBECONFIG") && e.contains("has no context \"c\""),
            "{e}"
        );
    }
}
