//! One running `feddns run`: the members (configured and discovered), the controller, leader
//! election and the admin port, started together and stopped in the right order.
//!
//! Stopping is graceful: the controller finishes the batch in flight and stops, then (and only
//! then) the Lease is released so a successor can take over at once, then the member watchers
//! and the admin port stop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use feddns_provider::{Provider, ProviderError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::{Config, MemberConfig};
use crate::control::controller::{Controller, Stats, StatusHandle};
use crate::control::leader::{ElectionSettings, Leadership};
use crate::control::resolver::Resolve;
use crate::members::discovery::{self, Discovered, DiscoverySettings};
use crate::members::snapshot::Stamp;
use crate::members::{MemberEvent, SourceSettings, Supervisor};
use crate::ops::admin::{AdminServer, AdminState, Heartbeat};
use crate::ops::metrics::Metrics;

/// `/healthz` fails when the controller loop has not turned for this long (it turns at least
/// once a second).
const STALE_AFTER: Duration = Duration::from_secs(30);

/// How long the start waits for the discovery registries' first listing.
const DISCOVERY_WAIT: Duration = Duration::from_secs(20);

/// The current member map of the discovery registries (`None` until they have listed).
pub type DiscoveredMembers = watch::Receiver<Option<BTreeMap<String, Discovered>>>;

/// A running instance.
pub struct Instance {
    controller: JoinHandle<Result<(), ProviderError>>,
    stop_controller: Option<oneshot::Sender<()>>,
    membership: JoinHandle<()>,
    stop_membership: watch::Sender<bool>,
    discovery: Option<JoinHandle<()>>,
    leadership: Option<Leadership>,
    leader: Option<watch::Receiver<bool>>,
    admin: Option<AdminServer>,
    status: StatusHandle,
    stats: Arc<Stats>,
    metrics: Arc<Metrics>,
}

impl Instance {
    /// Starts everything the configuration asks for, writing to `provider`. Fails (having
    /// started nothing that keeps running) when the host cluster, a configured member or the
    /// admin address cannot be used.
    pub async fn start(
        cfg: Config,
        provider: Arc<dyn Provider>,
        resolver: Arc<dyn Resolve>,
        force: bool,
    ) -> anyhow::Result<Self> {
        let host = if cfg.needs_host() {
            Some(connect_host(&cfg).await?)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::new());
        let mut controller = Controller::new(&cfg, provider, resolver, force).with_metrics(metrics.clone());
        let (tx, rx) = mpsc::channel::<MemberEvent>(1024);
        let settings = SourceSettings::from_config(&cfg);
        let mut supervisor = Supervisor::new(tx, settings);

        // With discovery, the member set is known once the registries have listed: wait for
        // that (briefly) so that every member is pending before the controller plans anything,
        // and nothing is deleted for members not yet seen.
        let (discovered, discovery) = match (&host, cfg.discovers()) {
            (Some(client), true) => {
                let (dtx, mut drx) = watch::channel(None);
                for r in &cfg.discovery {
                    info!(registry = %r, "discovering members");
                }
                let task = tokio::spawn(discovery::follow(
                    client.clone(),
                    cfg.discovery.clone(),
                    DiscoverySettings::from(&settings),
                    dtx,
                ));
                let timed_out = tokio::time::timeout(DISCOVERY_WAIT, drx.wait_for(Option::is_some))
                    .await
                    .is_err();
                if timed_out {
                    warn!(waited = ?DISCOVERY_WAIT, "the registries have not listed yet; starting with the configured members");
                }
                (Some(drx), Some(task))
            }
            _ => (None, None),
        };
        let found = discovered.as_ref().and_then(|rx| rx.borrow().clone());
        supervisor
            .reconcile(&wanted_members(&cfg, found.as_ref()), &cfg.selection())
            .await
            .map_err(|errors| anyhow::anyhow!("{}", errors.join("\n")))?;

        let leadership = match (&host, &cfg.leader_election) {
            (Some(client), Some(le)) => {
                let s = ElectionSettings::from_config(le);
                info!(lease = %s.lease, namespace = %s.namespace, identity = %s.identity, "electing a leader; writing only while leading");
                Some(Leadership::start(client.clone(), s))
            }
            _ => None,
        };
        let leader = leadership.as_ref().map(Leadership::subscribe);
        if let Some(l) = &leadership {
            controller = controller.with_leadership(l.subscribe(), l.clock());
        }
        let (ready_tx, ready_rx) = watch::channel(Err("starting".to_string()));
        let heartbeat = Arc::new(Heartbeat::new());
        controller = controller.with_health(ready_tx, heartbeat.clone());
        let status = controller.status_handle();
        let stats = controller.stats();

        let admin = match &cfg.admin {
            Some(a) => {
                let handle = status.clone();
                let state = AdminState {
                    metrics: metrics.clone(),
                    ready: ready_rx,
                    heartbeat,
                    stale_after: STALE_AFTER,
                    status: Arc::new(move || {
                        let handle = handle.clone();
                        Box::pin(async move {
                            match handle.get().await {
                                Some(r) => serde_json::to_value(r).unwrap_or_default(),
                                None => serde_json::json!({"error": "the controller has stopped"}),
                            }
                        })
                    }),
                };
                let server = crate::ops::admin::serve(a.listen, state)
                    .await
                    .with_context(|| format!("cannot serve the admin port (admin.listen {})", a.listen))?;
                Some(server)
            }
            None => None,
        };

        let (stop_membership, stop_rx) = watch::channel(false);
        let membership = tokio::spawn(follow_membership(
            cfg.source.clone(),
            cfg,
            supervisor,
            discovered,
            stop_rx,
        ));
        let (stop_tx, stop_controller_rx) = oneshot::channel::<()>();
        let controller = tokio::spawn(controller.run(rx, async move {
            let _ = stop_controller_rx.await;
        }));
        Ok(Self {
            controller,
            stop_controller: Some(stop_tx),
            membership,
            stop_membership,
            discovery,
            leadership,
            leader,
            admin,
            status,
            stats,
            metrics,
        })
    }

    /// The admin port's address (with the real port when configured with port 0).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// Asks the controller for its status.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// The controller's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Whether this instance leads, when elected.
    pub fn leader(&self) -> Option<watch::Receiver<bool>> {
        self.leader.clone()
    }

    /// Waits until the controller stops on its own (the zone could not be listed at start).
    pub async fn finished(&mut self) -> anyhow::Result<()> {
        match (&mut self.controller).await {
            Ok(r) => r.context("cannot list the zone"),
            Err(e) => Err(anyhow::anyhow!("the controller task failed: {e}")),
        }
    }

    /// Stops gracefully: the batch in flight completes, then the Lease is released, then the
    /// watchers and the admin port stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop_controller.take() {
            let _ = stop.send(());
        }
        let result = match (&mut self.controller).await {
            Ok(r) => r.context("cannot list the zone"),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(anyhow::anyhow!("the controller task failed: {e}")),
        };
        if let Some(l) = self.leadership.take() {
            l.release().await;
        }
        let _ = self.stop_membership.send(true);
        let _ = (&mut self.membership).await;
        if let Some(d) = self.discovery.take() {
            d.abort();
            let _ = d.await;
        }
        if let Some(a) = self.admin.take() {
            a.shutdown().await;
        }
        result
    }

    /// Stops at once without releasing anything, as a crash would (for failover tests): the
    /// Lease expires on its own.
    pub async fn abort(mut self) {
        self.controller.abort();
        if let Some(l) = self.leadership.take() {
            l.abandon();
        }
        let _ = self.stop_membership.send(true);
        let _ = (&mut self.membership).await;
        if let Some(d) = self.discovery.take() {
            d.abort();
        }
        if let Some(a) = self.admin.take() {
            a.shutdown().await;
        }
    }
}

/// A client of the host cluster (`host`); the error names the field.
pub async fn connect_host(cfg: &Config) -> anyhow::Result<::kube::Client> {
    crate::members::kube::connect(&cfg.host.as_member())
        .await
        .map_err(|e| anyhow::anyhow!("host cluster (field `host`): {}", e.problem))
}

/// The members to run: the configured ones, and the discovered ones whose names the
/// configuration does not already use.
fn wanted_members(cfg: &Config, discovered: Option<&BTreeMap<String, Discovered>>) -> Vec<MemberConfig> {
    let mut members = cfg.members.clone();
    for d in discovered.into_iter().flat_map(BTreeMap::values) {
        if cfg.members.iter().any(|m| m.name == d.name) {
            warn!(member = %d.name, origin = %d.origin, "a configured member has this name; the discovered one is ignored");
            continue;
        }
        members.push(MemberConfig::discovered(d));
    }
    members
}

/// Keeps the running members in step with the configuration file (edits, checked every
/// `controller.file_poll`, or SIGHUP) and with the discovery registries: added members start,
/// removed ones stop and their records go, changed ones restart. An invalid file, or a
/// configured member whose kubeconfig cannot be used, is logged and the running configuration
/// stays. Other settings need a restart; a change to them is logged and ignored. Runs until
/// `stop` turns true, then stops every member.
pub async fn follow_membership(
    path: PathBuf,
    mut current: Config,
    mut supervisor: Supervisor,
    mut discovered: Option<DiscoveredMembers>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .inspect_err(|e| warn!(error = %e, "cannot listen for SIGHUP; config edits are still picked up"))
        .ok();
    let mut stamp = Stamp::of(&path);
    let mut poll = tokio::time::interval(current.controller.file_poll.0);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let registry_changed = async {
            match discovered.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        enum Wake {
            Stop,
            File { forced: bool },
            Registry,
        }
        let wake = tokio::select! {
            _ = stop.wait_for(|s| *s) => Wake::Stop,
            () = hangup => Wake::File { forced: true },
            _ = poll.tick() => Wake::File { forced: false },
            () = registry_changed => Wake::Registry,
        };
        let next = match wake {
            Wake::Stop => break,
            Wake::Registry => current.clone(),
            Wake::File { forced } => {
                let now = Stamp::of(&path);
                if !forced && now == stamp {
                    continue;
                }
                stamp = now;
                match Config::load(&path) {
                    Ok(c) => {
                        for field in current.restart_needed(&c) {
                            warn!(
                                field,
                                "this setting changed in the configuration file; it takes effect after a restart"
                            );
                        }
                        c
                    }
                    Err(e) => {
                        error!(error = %e, "configuration not reloaded; the running one stays");
                        continue;
                    }
                }
            }
        };
        let found = discovered.as_ref().and_then(|rx| rx.borrow().clone());
        let members = wanted_members(&next, found.as_ref());
        match supervisor.reconcile(&members, &next.selection()).await {
            Ok(done) => {
                if !done.is_empty() {
                    info!(added = ?done.added, removed = ?done.removed, restarted = ?done.restarted, "members changed");
                }
                current = next;
            }
            Err(errors) => {
                for e in errors {
                    error!(error = %e, "members not changed; the running ones stay");
                }
            }
        }
    }
    supervisor.shutdown().await;
}
