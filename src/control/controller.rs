//! The controller loop: member events in, jobs for the writer out.
//!
//! ```text
//! MemberEvent ──► index (marks Services dirty) ──debounce──► plan (dirty only) ──Job──► writer ──► provider
//!                                                              ▲                          │
//!                           hostname answers ──────────────────┘      cache ◄──Report─────┘
//! ```
//!
//! The loop itself never waits for the provider: listing and applying run in the [`Writer`]
//! task, one job at a time, while the loop keeps indexing member events, answering `/status` and
//! beating `/healthz`. It plans only when the writer is idle, so every plan is made against a
//! cache holding every batch the provider accepted.
//!
//! The provider is listed when this instance starts leading (at start without election) and on
//! the periodic verify; otherwise the cache is kept by our own writes, so a steady state makes
//! no provider calls, and a follower makes none at all. After every listing, and when every
//! member has reported, the names planned are the index's Services **and** every Service the
//! zone holds ownership records for, so records of Services deleted (or members removed) while
//! feddns was down are cleaned up; `feddns plan` plans the same set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use feddns_provider::{Change, Provider, ProviderError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::control::applier::{ApplyOutcome, CallError, RetryPolicy};
use crate::control::leader::LeaseClock;
use crate::control::resolver::{HostCache, Resolution, Resolve, ResolveError};
use crate::control::writer::{Fence, Job, Report, Writer};
use crate::federation::diff::ZoneCache;
use crate::federation::index::{Index, MemberStatus};
use crate::federation::model::Subject;
use crate::federation::plan::{HostDeps, Plan, PlanOptions, all_services, host_reports, plan, refusal};
use crate::federation::planner::PlannerConfig;
use crate::federation::regions::RegionMap;
use crate::members::MemberEvent;
use crate::ops::admin::Heartbeat;
use crate::ops::metrics::{ChangeOp, Metrics};
use crate::ops::status::{StatusContext, StatusReport};

/// Delay before services whose changes failed transiently are planned again.
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// Services planned and applied in one go. A larger round (the first sync, a takeover, a verify)
/// is judged by the delete guard as a whole, then planned and applied this many Services at a
/// time, so its changes are never all in memory at once.
const CHUNK: usize = 1000;

/// Counters a test or the metrics endpoint can read.
#[derive(Debug, Default)]
pub struct Stats {
    /// Plans computed.
    pub plans: AtomicU64,
    /// Provider list calls.
    pub provider_lists: AtomicU64,
    /// Provider apply calls (batches, retries included).
    pub provider_applies: AtomicU64,
    /// Changes the provider accepted.
    pub changes_applied: AtomicU64,
    /// Conflicts in the last plan.
    pub conflicts: AtomicU64,
    /// Names quarantined now.
    pub quarantined: AtomicU64,
    /// Plans refused by the delete guard.
    pub refused: AtomicU64,
    /// Member events received (snapshots, changes, failures, additions, removals).
    pub member_events: AtomicU64,
    /// Member failures reported (a member becoming unavailable).
    pub member_failures: AtomicU64,
    /// Members declared down after the grace period.
    pub members_down: AtomicU64,
    /// Plans whose rest was not sent because the fence closed (leadership lost, or a stop).
    pub fenced_plans: AtomicU64,
}

/// Settings of the loop, from the configuration.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Quiet time after the last event.
    pub debounce: Duration,
    /// Longest delay of a burst.
    pub max_debounce: Duration,
    /// Re-list period.
    pub verify_interval: Duration,
    /// How long an unreachable member keeps its shards.
    pub member_grace: Duration,
    /// Upper bound of hostname re-resolution (the federation TTL, or `resolver.max_refresh`);
    /// a Service with a shorter TTL bounds its own hostnames tighter.
    pub max_refresh: Duration,
    /// Retries of transient provider errors.
    pub retry: RetryPolicy,
}

impl LoopSettings {
    /// From a validated configuration.
    pub fn from_config(cfg: &Config) -> Self {
        let ttl = Duration::from_secs(u64::from(cfg.ttl));
        Self {
            debounce: cfg.controller.debounce.0,
            max_debounce: cfg.controller.max_debounce.0,
            verify_interval: cfg.controller.verify_interval.0,
            member_grace: cfg.safety.member_grace.0,
            max_refresh: cfg.resolver.max_refresh.map_or(ttl, |d| d.0.min(ttl)),
            retry: RetryPolicy::default(),
        }
    }
}

/// Asks a running controller for its [`StatusReport`].
#[derive(Debug, Clone)]
pub struct StatusHandle {
    tx: mpsc::Sender<oneshot::Sender<StatusReport>>,
}

impl StatusHandle {
    /// The report, or `None` when the controller has stopped.
    pub async fn get(&self) -> Option<StatusReport> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).await.ok()?;
        rx.await.ok()
    }
}

/// Observers of a running controller: metrics, readiness, liveness, leadership and status.
#[derive(Default)]
struct Instruments {
    metrics: Option<Arc<Metrics>>,
    ready: Option<watch::Sender<Result<(), String>>>,
    heartbeat: Option<Arc<Heartbeat>>,
    leader: Option<watch::Receiver<bool>>,
    lease: Option<Arc<LeaseClock>>,
    status: Option<mpsc::Receiver<oneshot::Sender<StatusReport>>>,
}

/// Waits until `rx` changes; pending forever without one (or once its sender is gone).
async fn leader_changed(rx: &mut Option<watch::Receiver<bool>>) -> bool {
    match rx {
        Some(r) => match r.changed().await {
            Ok(()) => *r.borrow_and_update(),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn status_request(
    rx: &mut Option<mpsc::Receiver<oneshot::Sender<StatusReport>>>,
) -> oneshot::Sender<StatusReport> {
    match rx {
        Some(r) => match r.recv().await {
            Some(reply) => reply,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The controller's state.
pub struct Controller {
    provider: Arc<dyn Provider>,
    resolver: Arc<dyn Resolve>,
    planner: PlannerConfig,
    opts: PlanOptions,
    settings: LoopSettings,
    index: Index,
    cache: ZoneCache,
    hosts: HostCache,
    service_hosts: BTreeMap<Subject, HostDeps>,
    quarantine: BTreeMap<String, (Vec<Change>, String)>,
    failing_since: BTreeMap<String, Instant>,
    /// Members added after the start, and when (their grace to sync counts from then).
    added_at: BTreeMap<String, Instant>,
    started: Instant,
    retry_keys: BTreeSet<Subject>,
    retry_at: Option<Instant>,
    stats: Arc<Stats>,
    /// The last error of each member that is not current.
    errors: BTreeMap<String, String>,
    /// When the oldest member event not yet planned arrived.
    pending_since: Option<Instant>,
    /// Whether the zone has been listed since the start.
    listed: bool,
    /// Whether the zone must be listed (at start, on taking over, on verify) before planning.
    need_list: bool,
    /// When a failed listing may be tried again.
    list_retry_at: Option<Instant>,
    /// Whether the debounce (or a retry) asked for a plan that has not been made yet.
    plan_due: bool,
    /// The job the writer is doing, if any.
    busy: Option<Busy>,
    /// Consecutive plans that met a stale cache.
    stale_rounds: u32,
    /// What is left to plan of the round in progress, and how it began.
    round: Round,
    federation: String,
    inst: Instruments,
}

impl Controller {
    /// A controller for the configured members, writing to `provider`.
    pub fn new(cfg: &Config, provider: Arc<dyn Provider>, resolver: Arc<dyn Resolve>, force: bool) -> Self {
        let mut index = Index::new();
        for m in &cfg.members {
            index.add_member(&m.name);
        }
        let planner = PlannerConfig {
            naming: cfg.naming(),
            default_ttl: cfg.ttl,
            capabilities: provider.capabilities(),
            routing: cfg.routing.policy,
            regions: Arc::new(
                RegionMap::shipped_with(&cfg.routing.regions).with_locations(&cfg.routing.locations),
            ),
        };
        let opts = PlanOptions {
            owner_id: cfg.owner_id(),
            adopt: cfg.ownership.adopt,
            max_delete_share: cfg.safety.max_delete_share,
            min_guarded_deletes: cfg.safety.min_guarded_deletes,
            force,
        };
        Self {
            cache: ZoneCache::new(&cfg.ownership.txt_prefix, &opts.owner_id, &cfg.federation)
                .with_adopt(opts.adopt),
            provider,
            resolver,
            planner,
            opts,
            settings: LoopSettings::from_config(cfg),
            index,
            hosts: HostCache::new(),
            service_hosts: BTreeMap::new(),
            quarantine: BTreeMap::new(),
            failing_since: BTreeMap::new(),
            added_at: BTreeMap::new(),
            started: Instant::now(),
            retry_keys: BTreeSet::new(),
            retry_at: None,
            stats: Arc::new(Stats::default()),
            errors: BTreeMap::new(),
            pending_since: None,
            listed: false,
            need_list: true,
            list_retry_at: None,
            plan_due: false,
            busy: None,
            stale_rounds: 0,
            round: Round::default(),
            federation: cfg.federation.clone(),
            inst: Instruments::default(),
        }
    }

    /// Builder: export metrics (the provider's API counters included).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        metrics.register_provider(self.provider.clone());
        self.inst.metrics = Some(metrics);
        self
    }

    /// Builder: write only while `leader` says so, and only while `lease` holds (checked before
    /// every provider call). Followers keep following the members but make no provider call;
    /// on becoming leader the zone is listed and everything planned.
    #[must_use]
    pub fn with_leadership(mut self, leader: watch::Receiver<bool>, lease: Arc<LeaseClock>) -> Self {
        self.inst.leader = Some(leader);
        self.inst.lease = Some(lease);
        self
    }

    /// Builder: publish readiness (the zone listed and every member reported or declared down)
    /// and beat `heartbeat` on every loop turn.
    #[must_use]
    pub fn with_health(
        mut self,
        ready: watch::Sender<Result<(), String>>,
        heartbeat: Arc<Heartbeat>,
    ) -> Self {
        self.inst.ready = Some(ready);
        self.inst.heartbeat = Some(heartbeat);
        self
    }

    /// A handle to ask the running controller for its status.
    pub fn status_handle(&mut self) -> StatusHandle {
        let (tx, rx) = mpsc::channel(8);
        self.inst.status = Some(rx);
        StatusHandle { tx }
    }

    /// Whether this instance may write now.
    fn is_leader(&self) -> bool {
        self.inst.leader.as_ref().is_none_or(|rx| *rx.borrow())
    }

    /// The status report of this instance, now.
    pub fn status(&self) -> StatusReport {
        crate::ops::status::build(
            &self.index,
            &self.cache,
            StatusContext {
                federation: &self.federation,
                zone: self.provider.zone(),
                provider: self.provider.kind(),
                leader: self.inst.leader.as_ref().map(|rx| *rx.borrow()),
                errors: Some(&self.errors),
                conflicts: self.stats.conflicts.load(Ordering::SeqCst),
                quarantined: self.quarantine.keys().cloned().collect(),
                listed: self.listed,
            },
        )
    }

    /// Publishes readiness, liveness and the member gauges.
    fn observe(&self) {
        if let Some(h) = &self.inst.heartbeat {
            h.beat();
        }
        if let Some(tx) = &self.inst.ready {
            let now = if !self.listed && self.is_leader() {
                Err("the zone has not been listed yet".to_string())
            } else if !self.index.all_settled() {
                let waiting: Vec<&str> = self
                    .index
                    .members()
                    .iter()
                    .filter(|(_, m)| m.status == MemberStatus::Pending)
                    .map(|(n, _)| n.as_str())
                    .collect();
                Err(format!("waiting for members to report: {}", waiting.join(", ")))
            } else {
                Ok(())
            };
            tx.send_if_modified(|cur| {
                let changed = *cur != now;
                *cur = now;
                changed
            });
        }
        if let Some(m) = &self.inst.metrics {
            let mut counts = [0u64; 4];
            for (name, member) in self.index.members() {
                let i = match member.status {
                    MemberStatus::Synced => 0,
                    MemberStatus::Pending => 1,
                    MemberStatus::Unavailable => 2,
                    MemberStatus::Down => 3,
                };
                counts[i] += 1;
                m.set_member(
                    name,
                    member.status == MemberStatus::Synced,
                    member.status == MemberStatus::Down,
                );
                m.set_member_unread(name, |kind| member.unread().contains_key(kind));
            }
            m.set_members(counts[0], counts[1], counts[2], counts[3]);
            m.set_federated_services(self.index.service_count() as u64);
            m.set_hosts(self.index.host_count() as u64);
            m.set_leader(self.is_leader());
        }
    }

    fn observe_cache(&self) {
        if let Some(m) = &self.inst.metrics {
            m.set_owned_records(self.cache.owned_set_count() as u64);
        }
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Marks dirty every Service worth planning: those the index knows and those the zone holds
    /// ownership records for (the same set `feddns plan` plans).
    fn mark_all_dirty(&mut self) {
        for key in all_services(&self.index, &self.cache) {
            self.index.mark_dirty(key);
        }
    }

    /// Runs until `shutdown` resolves or the event channel closes. Fails only if the zone cannot
    /// be listed at start (without leader election; with it, a failed listing is retried).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<MemberEvent>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ProviderError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let fence = Fence::new(self.inst.lease.clone(), stop_rx);
        let mut writer = Writer::spawn(
            self.provider.clone(),
            fence,
            self.settings.retry,
            self.stats.clone(),
        );
        let (res_tx, mut res_rx) = mpsc::channel::<(String, Result<Resolution, ResolveError>)>(256);
        tokio::pin!(shutdown);
        let tick = (self.settings.member_grace / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut housekeeping = tokio::time::interval(tick);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_verify = Instant::now() + self.settings.verify_interval;
        let mut deadline: Option<(Instant, Instant)> = None; // (fire at, burst started)
        let mut leader = self.inst.leader.take();
        let mut status_rx = self.inst.status.take();
        self.inst.leader.clone_from(&leader);
        self.drive(&writer, &res_tx);
        self.observe();
        let result = loop {
            let fire_at = deadline.map(|(at, _)| at).or(self.retry_at);
            // Whether this wakeup brought news (an event, an answer) that restarts the debounce;
            // timers do not, or a periodic tick would keep pushing a pending plan back.
            let mut news = false;
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                ev = events.recv() => {
                    let Some(ev) = ev else { break Ok(()) };
                    self.on_member_event(ev);
                    self.pending_since.get_or_insert_with(Instant::now);
                    news = true;
                }
                now_leader = leader_changed(&mut leader) => {
                    self.inst.leader.clone_from(&leader);
                    if now_leader {
                        info!("leading: listing the zone, then planning every service");
                        self.need_list = true;
                        self.list_retry_at = None;
                        next_verify = Instant::now() + self.settings.verify_interval;
                    } else {
                        info!("not leading: no further writes");
                        deadline = None;
                    }
                }
                reply = status_request(&mut status_rx) => {
                    let _ = reply.send(self.status());
                }
                Some(report) = writer.report() => {
                    if let Err(e) = self.on_report(report) {
                        break Err(e);
                    }
                    news = true;
                }
                Some((host, answer)) = res_rx.recv() => {
                    news = true;
                    let bound = self.refresh_bound(&host);
                    if self.hosts.record(&host, answer, Instant::now(), bound) {
                        debug!(%host, "hostname resolves differently; re-planning its services");
                        for (key, deps) in &self.service_hosts {
                            if deps.hosts.contains(&host) {
                                self.index.mark_dirty(key.clone());
                            }
                        }
                    }
                }
                _ = housekeeping.tick() => {
                    self.housekeeping(&res_tx);
                    if Instant::now() >= next_verify {
                        next_verify = Instant::now() + self.settings.verify_interval;
                        // Followers make no provider call: they list when they take over.
                        if self.is_leader() {
                            self.need_list = true;
                        }
                    }
                }
                () = sleep_until(fire_at.unwrap_or_else(Instant::now)), if fire_at.is_some() => {
                    deadline = None;
                    self.retry_at = None;
                    self.plan_due = true;
                }
            }
            self.drive(&writer, &res_tx);
            self.observe();
            if self.index.has_dirty() && self.is_leader() && (news || deadline.is_none()) {
                let now = Instant::now();
                let started = deadline.map_or(now, |(_, s)| s);
                let at = (now + self.settings.debounce).min(started + self.settings.max_debounce);
                deadline = Some((at, started));
            }
        };
        // Stop: the batch in flight finishes, nothing is sent after it; what was accepted
        // meanwhile still reaches the cache (and the counters).
        let _ = stop_tx.send(true);
        if let Some(tx) = &self.inst.ready {
            let _previous = tx.send_replace(Err("stopping: finishing the batch in flight".to_string()));
        }
        for report in writer.finish().await {
            if let Report::Accepted(changes) = report {
                self.cache.apply(&changes);
            }
        }
        result
    }

    /// Gives the writer its next job when it is idle and this instance leads: a listing when
    /// one is needed, else the plan that is due.
    fn drive(&mut self, writer: &Writer, res_tx: &mpsc::Sender<(String, Result<Resolution, ResolveError>)>) {
        if self.busy.is_some() || !self.is_leader() {
            return;
        }
        if self.need_list {
            if self.list_retry_at.is_some_and(|at| Instant::now() < at) {
                return;
            }
            if writer.send(Job::List) {
                self.need_list = false;
                self.busy = Some(Busy::Listing);
            }
            return;
        }
        while self.listed && self.plan_due && self.busy.is_none() {
            self.plan_due = false;
            self.reconcile(writer, res_tx);
        }
    }

    /// Takes in what the writer reports. Fails when the first listing fails and there is no
    /// leader election (a provider that cannot be listed at start is a configuration error).
    fn on_report(&mut self, report: Report) -> Result<(), ProviderError> {
        match report {
            Report::Listed(result) => {
                self.busy = None;
                match result {
                    Ok(sets) => {
                        self.cache.load(sets);
                        info!(
                            zone = self.provider.zone(),
                            provider = self.provider.kind(),
                            names = self.cache.name_count(),
                            owned_services = self.cache.owned_subjects().count(),
                            "zone listed"
                        );
                        self.listed = true;
                        self.list_retry_at = None;
                        self.observe_cache();
                        self.mark_all_dirty();
                    }
                    Err(CallError::Fenced(why)) => {
                        debug!(reason = %why, "listing not made");
                        self.need_list = true;
                    }
                    Err(CallError::Provider(e)) => {
                        if !self.listed && self.inst.leader.is_none() {
                            error!(error = %e, "cannot list the zone");
                            return Err(e);
                        }
                        warn!(error = %e, retry_in = ?RETRY_DELAY, "could not list the zone; planning waits for a listing");
                        self.need_list = true;
                        self.list_retry_at = Some(Instant::now() + RETRY_DELAY);
                    }
                }
            }
            Report::Accepted(changes) => self.cache.apply(&changes),
            Report::Reread { names, sets } => match sets {
                Ok(sets) => self.cache.reload_names(&names, sets),
                Err(e) => warn!(error = %e, "re-reading failed; planning again later"),
            },
            Report::Applied(outcome) => {
                let job = self.busy.take();
                if let Some(Busy::Applying(job)) = job {
                    self.applied(job, outcome);
                }
            }
        }
        Ok(())
    }

    fn on_member_event(&mut self, ev: MemberEvent) {
        let was_settled = self.index.all_settled();
        self.stats.member_events.fetch_add(1, Ordering::SeqCst);
        if let Some(m) = &self.inst.metrics {
            m.member_event(ev.member());
        }
        match ev {
            MemberEvent::Snapshot { member, snapshot } => {
                if self.index.member(&member).is_none() {
                    debug!(%member, "snapshot of a member that is no longer configured; ignored");
                    return;
                }
                self.failing_since.remove(&member);
                self.errors.remove(&member);
                self.index.set_snapshot(&member, snapshot);
                if let Some(m) = self.index.member(&member) {
                    let t = &m.topology;
                    info!(%member, region = ?t.region, zones = ?t.zones, services = m.services().count(), hosts = m.hosts().count(), "member synced");
                    if let Some(d) = &t.region_disagreement {
                        warn!(%member, chosen = ?t.region, "nodes disagree on region ({d}); using the majority");
                    }
                    if t.unlabeled_nodes > 0 {
                        warn!(%member, nodes = t.unlabeled_nodes, "nodes without zone or region labels are ignored");
                    }
                }
            }
            MemberEvent::Changes {
                member,
                changes,
                resynced,
            } => {
                if self.index.member(&member).is_none() {
                    return;
                }
                if resynced {
                    self.failing_since.remove(&member);
                    self.errors.remove(&member);
                    let was = self.index.member(&member).map(|m| m.status);
                    info!(%member, changes = changes.len(), previously = ?was, "member current again");
                }
                self.index.apply_changes(&member, changes, resynced);
            }
            MemberEvent::Added { member } => {
                if self.index.member(&member).is_none() {
                    self.index.add_member(&member);
                    self.added_at.insert(member, Instant::now());
                }
            }
            MemberEvent::Removed { member } => {
                if let Some(m) = &self.inst.metrics {
                    m.remove_member(&member);
                }
                self.errors.remove(&member);
                self.failing_since.remove(&member);
                self.added_at.remove(&member);
                self.index.remove_member(&member);
            }
            MemberEvent::Failed { member, error } => {
                if self.index.member(&member).is_none() {
                    return;
                }
                warn!(%member, %error, "member unavailable");
                self.errors.insert(member.clone(), error);
                self.stats.member_failures.fetch_add(1, Ordering::SeqCst);
                self.failing_since
                    .entry(member.clone())
                    .or_insert_with(Instant::now);
                self.index.set_unavailable(&member);
            }
        }
        self.open_gate_if_settled(was_settled);
    }

    /// When the last pending member has just reported or been declared down, re-plans
    /// everything: the changes deferred until then may go through now.
    fn open_gate_if_settled(&mut self, was_settled: bool) {
        if !was_settled && self.index.all_settled() {
            info!("every member has reported: deletions are allowed from now on");
            self.mark_all_dirty();
        }
    }

    fn housekeeping(&mut self, res_tx: &mpsc::Sender<(String, Result<Resolution, ResolveError>)>) {
        let now = Instant::now();
        let grace = self.settings.member_grace;
        let was_settled = self.index.all_settled();
        let mut down = Vec::new();
        for (name, m) in self.index.members() {
            let since = self.failing_since.get(name).copied();
            let expired = match m.status {
                MemberStatus::Pending => {
                    now >= self.added_at.get(name).copied().unwrap_or(self.started) + grace
                }
                MemberStatus::Unavailable => since.is_some_and(|s| now >= s + grace),
                MemberStatus::Synced | MemberStatus::Down => false,
            };
            if expired {
                down.push(name.clone());
            }
        }
        for name in down {
            warn!(member = %name, ?grace, "member unavailable for longer than the grace period: its shards no longer count");
            self.index.set_down(&name);
            self.stats.members_down.fetch_add(1, Ordering::SeqCst);
        }
        self.open_gate_if_settled(was_settled);
        let due = self.hosts.due(now);
        if !due.is_empty() {
            self.hosts.asked(&due, now);
            self.spawn_resolutions(due, res_tx);
        }
    }

    fn spawn_resolutions(
        &self,
        hosts: Vec<String>,
        res_tx: &mpsc::Sender<(String, Result<Resolution, ResolveError>)>,
    ) {
        for host in hosts {
            let resolver = self.resolver.clone();
            let tx = res_tx.clone();
            tokio::spawn(async move {
                let answer = resolver.resolve(&host).await;
                if let Err(e) = &answer {
                    warn!(%host, error = %e, "ingress hostname could not be resolved; will retry");
                }
                let _ = tx.send((host, answer)).await;
            });
        }
    }

    /// Plans the next chunk of the round in progress, or starts a round with the dirty Services
    /// (and those to retry), and hands the changes to the writer.
    fn reconcile(
        &mut self,
        writer: &Writer,
        res_tx: &mpsc::Sender<(String, Result<Resolution, ResolveError>)>,
    ) {
        if self.round.keys.is_empty() {
            let mut keys = self.index.take_dirty();
            keys.append(&mut self.retry_keys);
            if keys.is_empty() {
                return;
            }
            let since = self.pending_since.take();
            // Judge a large round as a whole before anything of it is applied.
            let guarded = keys.len() > CHUNK && !self.opts.force;
            if guarded && let Some(reason) = self.round_refusal(&keys) {
                error!(%reason, "plan refused by the delete guard; nothing applied");
                self.stats.refused.fetch_add(1, Ordering::SeqCst);
                self.retry_keys.extend(keys);
                return;
            }
            self.round = Round {
                keys,
                since,
                guarded,
                conflicts: 0,
            };
        }
        let keys = self.round.next_chunk();
        let since = self.round.since;
        let started = std::time::Instant::now();
        let mut p = self.plan_chunk(&keys, self.round.guarded);
        self.stats.plans.fetch_add(1, Ordering::SeqCst);
        self.round.conflicts += p.conflicts.len();
        if let Some(m) = &self.inst.metrics {
            m.observe_plan_duration(started.elapsed());
            m.set_conflicts(self.round.conflicts as u64);
        }
        self.track_hostnames(&keys, &p, res_tx);
        report(&p);
        self.stats
            .conflicts
            .store(self.round.conflicts as u64, Ordering::SeqCst);
        if let Some(reason) = &p.refused {
            error!(%reason, "plan refused by the delete guard; nothing applied");
            self.stats.refused.fetch_add(1, Ordering::SeqCst);
            self.retry_keys.extend(keys);
            return;
        }
        p.names.retain(|n| match self.quarantine.get(&n.name) {
            Some((changes, reason)) if *changes == n.changes => {
                debug!(name = %n.name, %reason, "name still quarantined");
                false
            }
            _ => true,
        });
        if p.names.is_empty() {
            // Nothing to write in this chunk: on with the round.
            self.plan_due |= !self.round.keys.is_empty();
            return;
        }
        let job = ApplyJob {
            counts: p.counts(),
            names: p.names.iter().map(|n| n.name.clone()).collect(),
            services: keys.len(),
            since,
            started,
        };
        if writer.send(Job::Apply(p.names)) {
            self.busy = Some(Busy::Applying(job));
        } else {
            // The writer has stopped (the instance is stopping): plan these again if it runs on.
            self.retry_keys.extend(keys);
        }
    }

    /// Takes in the outcome of an applied plan: quarantine, retries, stale names, metrics.
    fn applied(&mut self, job: ApplyJob, outcome: ApplyOutcome) {
        if outcome.fenced.is_some() {
            // Whatever is left of the round is planned again when this instance may write.
            self.retry_keys.append(&mut self.round.keys);
        } else if !self.round.keys.is_empty() {
            self.plan_due = true;
        }
        for name in &job.names {
            self.quarantine.remove(name);
        }
        for (g, reason) in outcome.quarantined {
            self.quarantine.insert(g.name.clone(), (g.changes, reason));
        }
        self.stats
            .quarantined
            .store(self.quarantine.len() as u64, Ordering::SeqCst);
        if let Some(m) = &self.inst.metrics {
            m.set_quarantined_names(self.quarantine.len() as u64);
            m.add_changes_applied(ChangeOp::Create, outcome.created as u64);
            m.add_changes_applied(ChangeOp::Replace, outcome.replaced as u64);
            m.add_changes_applied(ChangeOp::Delete, outcome.deleted as u64);
            if !outcome.retry.is_empty() && outcome.fenced.is_none() {
                m.apply_failure();
            }
            if outcome.applied > 0
                && let Some(since) = job.since
            {
                m.observe_convergence(since.elapsed());
            }
        }
        if outcome.applied > 0 {
            self.observe_cache();
        }
        let (c, r, d) = job.counts;
        info!(
            services = job.services,
            creates = c,
            replaces = r,
            deletes = d,
            applied = outcome.applied,
            requests = outcome.requests,
            elapsed = ?job.started.elapsed(),
            api_calls = ?self.provider.api_calls(),
            "plan applied"
        );
        if !outcome.stale.is_empty() {
            self.retry_keys
                .extend(outcome.stale.iter().map(|g| g.service.clone()));
            // At once for three rounds in a row; a name that keeps changing behind our back is
            // then retried after the usual delay, never in a tight loop.
            self.retry_at = Some(if self.stale_rounds < 3 {
                Instant::now()
            } else {
                Instant::now() + RETRY_DELAY
            });
            self.stale_rounds += 1;
        } else {
            self.stale_rounds = 0;
        }
        if !outcome.retry.is_empty() {
            self.retry_keys.extend(outcome.retry);
            if outcome.fenced.is_none() {
                self.retry_at = Some(Instant::now() + RETRY_DELAY);
            }
        }
    }

    fn track_hostnames(
        &mut self,
        keys: &BTreeSet<Subject>,
        p: &Plan,
        res_tx: &mpsc::Sender<(String, Result<Resolution, ResolveError>)>,
    ) {
        for k in keys {
            self.service_hosts.remove(k);
        }
        for deps in &p.hostnames {
            self.service_hosts.insert(deps.service.clone(), deps.clone());
        }
        let used: BTreeSet<String> = self
            .service_hosts
            .values()
            .flat_map(|d| d.hosts.iter().cloned())
            .collect();
        self.hosts.retain(&used);
        let new = self.hosts.start(&used, Instant::now());
        if !new.is_empty() {
            self.spawn_resolutions(new, res_tx);
        }
    }

    /// How long an answer for `host` may be trusted: the shortest TTL of the records that depend
    /// on it, and never longer than the configured bound.
    fn refresh_bound(&self, host: &str) -> Duration {
        self.service_hosts
            .values()
            .filter(|d| d.hosts.contains(host))
            .map(|d| Duration::from_secs(u64::from(d.ttl)))
            .fold(self.settings.max_refresh, Duration::min)
    }

    fn plan_keys(&self, keys: &BTreeSet<Subject>) -> Plan {
        self.plan_chunk(keys, false)
    }

    /// Plans `keys`; with `guarded`, the delete guard has judged their round already.
    fn plan_chunk(&self, keys: &BTreeSet<Subject>, guarded: bool) -> Plan {
        let forced;
        let opts = if guarded {
            forced = PlanOptions {
                force: true,
                ..self.opts.clone()
            };
            &forced
        } else {
            &self.opts
        };
        plan(&self.index, &self.cache, keys, &self.planner, &self.hosts, opts)
    }

    /// Why the delete guard refuses a round of `keys`, counting its deletions chunk by chunk
    /// (nothing of it is kept).
    fn round_refusal(&self, keys: &BTreeSet<Subject>) -> Option<String> {
        let keys: Vec<&Subject> = keys.iter().collect();
        let deletes: usize = keys
            .chunks(CHUNK)
            .map(|chunk| {
                let chunk: BTreeSet<Subject> = chunk.iter().map(|k| (*k).clone()).collect();
                self.plan_chunk(&chunk, true).guarded_deletes()
            })
            .sum();
        refusal(deletes, &self.cache, &self.opts)
    }

    /// Plans every Service once against a fresh listing, without applying (for `feddns plan`):
    /// the same Services `run` plans after a listing, so the plan shows exactly what run does.
    pub async fn plan_once(&mut self) -> Result<Plan, ProviderError> {
        let self_retried = self.provider.self_retried().reads;
        let sets = crate::control::applier::retry_transient(
            self.settings.retry,
            "list",
            &Fence::open(),
            self_retried,
            || {
                self.stats.provider_lists.fetch_add(1, Ordering::SeqCst);
                self.provider.list_shared()
            },
        )
        .await
        .map_err(|e| match e {
            CallError::Provider(e) => e,
            CallError::Fenced(why) => ProviderError::other(why.to_string()),
        })?;
        self.cache.load(sets);
        self.listed = true;
        let keys = all_services(&self.index, &self.cache);
        let first = self.plan_keys(&keys);
        let hosts: BTreeSet<String> = first
            .hostnames
            .iter()
            .flat_map(|d| d.hosts.iter().cloned())
            .collect();
        let mut plan = if hosts.is_empty() {
            first
        } else {
            let now = Instant::now();
            self.hosts.start(&hosts, now);
            for h in &hosts {
                let answer = self.resolver.resolve(h).await;
                self.hosts.record(h, answer, now, self.settings.max_refresh);
            }
            self.plan_keys(&keys)
        };
        // What a person reads of the plan (not built for the plans `run` applies).
        plan.hosts = host_reports(&self.index, &plan.services);
        Ok(plan)
    }

    /// Feeds a member event directly (for `feddns plan`, which loads files once).
    pub fn apply_event(&mut self, ev: MemberEvent) {
        self.on_member_event(ev);
    }
}

/// A round of planning: the Services left to plan, when the oldest event behind them arrived,
/// whether the delete guard judged the round as a whole, and the conflicts met so far.
#[derive(Default)]
struct Round {
    keys: BTreeSet<Subject>,
    since: Option<Instant>,
    guarded: bool,
    conflicts: usize,
}

impl Round {
    /// Takes the next chunk of Services to plan.
    fn next_chunk(&mut self) -> BTreeSet<Subject> {
        if self.keys.len() <= CHUNK {
            return std::mem::take(&mut self.keys);
        }
        let rest = match self.keys.iter().nth(CHUNK) {
            Some(first_of_rest) => {
                let first_of_rest = first_of_rest.clone();
                self.keys.split_off(&first_of_rest)
            }
            None => BTreeSet::new(),
        };
        std::mem::replace(&mut self.keys, rest)
    }
}

/// The job the writer is doing.
enum Busy {
    Listing,
    Applying(ApplyJob),
}

/// What the loop remembers of a plan handed to the writer.
struct ApplyJob {
    /// Creates, replaces, deletes.
    counts: (usize, usize, usize),
    /// The names in the plan.
    names: BTreeSet<String>,
    /// How many Services were planned.
    services: usize,
    /// When the oldest member event behind the plan arrived.
    since: Option<Instant>,
    /// When planning started.
    started: std::time::Instant,
}

fn report(p: &Plan) {
    for problem in &p.problems {
        warn!(%problem, "planning problem");
    }
    for c in &p.conflicts {
        warn!(name = %c.name, service = %c.service, reason = %c.reason, "conflict: name skipped");
    }
    if !p.deferred.is_empty() {
        info!(
            names = p.deferred.len(),
            "changes deferred until every member has reported"
        );
    }
    if !p.held.is_empty() {
        debug!(
            names = p.held.len(),
            "names held until their ingress hostnames resolve"
        );
    }
}
