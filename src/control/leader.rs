//! Leader election on a `coordination.k8s.io/v1` Lease in the host cluster, so that of several
//! replicas exactly one writes to the zone while the others keep warm caches.
//!
//! The semantics are client-go's `leaderelection` (what kube-controller-manager uses), so
//! `kubectl get lease` shows the holder as for any controller:
//!
//! * A replica takes the Lease when it has no holder, or when its holder has not renewed it for
//!   `leaseDurationSeconds` **as observed by this replica's own clock** (the time since the
//!   replica last saw the holder or renew time change), so clock skew between nodes does not
//!   matter.
//! * Every write is an update carrying the `resourceVersion` it read: of two replicas racing for
//!   a free Lease, the API server accepts one and answers the other 409 Conflict.
//! * The leader renews every `renew_interval`. If it cannot renew for two thirds of the lease
//!   duration (the API server unreachable or hanging, say) it stops leading before anyone else
//!   may start. That deadline is enforced by a timer of its own, and every Lease call has a
//!   timeout, so a call that never returns cannot keep a replica leading: the [`LeaseClock`]
//!   the writer checks before every batch expires on time whatever the calls do.
//! * On shutdown the leader clears the holder, so a successor takes over on its next try
//!   instead of waiting for the lease to expire.
//!
//! [`can_take`] and [`next_spec`] are the pure decisions; [`Leadership`] does the I/O.

use std::sync::{Arc, Mutex, PoisonError};

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::LeaderElectionConfig;

/// What this replica last saw of the Lease, and when (by its own clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    holder: Option<String>,
    renew_time: Option<String>,
    at: Instant,
}

impl Observation {
    /// Records what the Lease says now; the observation time moves only when the holder or the
    /// renew time changed.
    pub fn update(prev: Option<Self>, spec: &LeaseSpec, now: Instant) -> Self {
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let renew_time = spec.renew_time.as_ref().map(|t| t.0.to_string());
        match prev {
            Some(p) if p.holder == holder && p.renew_time == renew_time => p,
            _ => Self {
                holder,
                renew_time,
                at: now,
            },
        }
    }

    /// The holder last seen.
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref()
    }
}

/// Whether `me` may write the Lease now: it is free, already ours, or its holder has not renewed
/// it for its lease duration (`default` when the Lease names none) as observed since `seen.at`.
pub fn can_take(spec: &LeaseSpec, seen: &Observation, me: &str, now: Instant, default: Duration) -> bool {
    match seen.holder() {
        None => true,
        Some(h) if h == me => true,
        Some(_) => {
            let secs = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0);
            let duration = secs.map_or(default, Duration::from_secs);
            now >= seen.at + duration
        }
    }
}

/// The Lease spec after `me` takes or renews it at `now`.
pub fn next_spec(current: Option<&LeaseSpec>, me: &str, duration: Duration, now: Timestamp) -> LeaseSpec {
    let current = current.cloned().unwrap_or_default();
    let ours = current.holder_identity.as_deref() == Some(me);
    let had_holder = current.holder_identity.as_deref().is_some_and(|h| !h.is_empty());
    let secs = i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX);
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(secs),
        acquire_time: if ours {
            current.acquire_time.clone()
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(current.lease_transitions.unwrap_or(0) + i32::from(had_holder && !ours)),
        ..current
    }
}

/// Settings of one elector.
#[derive(Debug, Clone)]
pub struct ElectionSettings {
    /// Lease name.
    pub lease: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// Lease duration.
    pub lease_duration: Duration,
    /// Renew / retry period.
    pub renew_interval: Duration,
}

impl ElectionSettings {
    /// From the configuration (namespace and identity defaults from the pod's environment).
    pub fn from_config(cfg: &LeaderElectionConfig) -> Self {
        Self {
            lease: cfg.lease.clone(),
            namespace: cfg.namespace(),
            identity: cfg.identity(),
            lease_duration: cfg.lease_duration.0,
            renew_interval: cfg.renew_interval.0,
        }
    }

    /// How long a leader keeps leading without a successful renewal: two thirds of the lease
    /// duration, so it stops before anyone else may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }

    /// The longest a single Lease call (a read, or a read and a write) may take: half the renew
    /// deadline, so at least two attempts fit in it.
    pub fn call_timeout(&self) -> Duration {
        self.renew_deadline() / 2
    }
}

/// Until when this replica may write, as far as the Lease is concerned: the start of its last
/// successful acquire or renew plus the renew deadline. Shared by the election task, which sets
/// it, and the writer, which checks it before every batch; it expires by itself, so a renewal
/// that hangs cannot extend it.
#[derive(Debug, Default)]
pub struct LeaseClock {
    valid_until: Mutex<Option<Instant>>,
}

impl LeaseClock {
    /// A clock that grants nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the Lease is held now (within the renew deadline of the last renewal).
    pub fn holds(&self) -> bool {
        self.holds_at(Instant::now())
    }

    /// Whether the Lease is held at `now`.
    pub fn holds_at(&self, now: Instant) -> bool {
        self.valid_until().is_some_and(|t| now < t)
    }

    /// Until when the Lease is held (`None`: not at all).
    pub fn valid_until(&self) -> Option<Instant> {
        *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A renewal that started at `attempt_started` succeeded.
    pub fn renewed(&self, attempt_started: Instant, deadline: Duration) {
        *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner) = Some(attempt_started + deadline);
    }

    /// The Lease is lost (or released): nothing may be written from now on.
    pub fn revoke(&self) {
        *self.valid_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

struct Elector {
    api: Api<Lease>,
    settings: ElectionSettings,
    seen: Option<Observation>,
}

impl Elector {
    /// One attempt: `Ok(true)` when this replica holds the Lease after it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let s = &self.settings;
        let now = Instant::now();
        let Some(lease) = self.api.get_opt(&s.lease).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(s.lease.clone()),
                    namespace: Some(s.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(next_spec(None, &s.identity, s.lease_duration, Timestamp::now())),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(l) => {
                    self.seen = Some(Observation::update(None, &l.spec.unwrap_or_default(), now));
                    Ok(true)
                }
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let seen = Observation::update(self.seen.take(), &spec, now);
        let take = can_take(&spec, &seen, &s.identity, now, s.lease_duration);
        self.seen = Some(seen);
        if !take {
            return Ok(false);
        }
        let mut next = lease;
        next.spec = Some(next_spec(
            Some(&spec),
            &s.identity,
            s.lease_duration,
            Timestamp::now(),
        ));
        match self.api.replace(&s.lease, &PostParams::default(), &next).await {
            Ok(l) => {
                self.seen = Some(Observation::update(None, &l.spec.unwrap_or_default(), now));
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Clears the holder if it is this replica.
    async fn release(&mut self) -> Result<bool, kube::Error> {
        let s = &self.settings;
        let Some(mut lease) = self.api.get_opt(&s.lease).await? else {
            return Ok(false);
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(false);
        };
        if spec.holder_identity.as_deref() != Some(s.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api.replace(&s.lease, &PostParams::default(), &lease).await?;
        Ok(true)
    }
}

/// A running election: follow [`Self::subscribe`] to know whether this replica leads, and check
/// [`Self::clock`] before writing.
pub struct Leadership {
    rx: watch::Receiver<bool>,
    clock: Arc<LeaseClock>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    identity: String,
}

/// Waits until `at`; pending forever without one.
async fn expiry(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Leadership {
    /// Starts electing with `client` (the host cluster).
    pub fn start(client: kube::Client, settings: ElectionSettings) -> Self {
        let (tx, rx) = watch::channel(false);
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let identity = settings.identity.clone();
        let clock = Arc::new(LeaseClock::new());
        let mut elector = Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            seen: None,
        };
        let lease = clock.clone();
        let task = tokio::spawn(async move {
            let s = elector.settings.clone();
            // Stops leading when the renew deadline passes, whatever a call in flight does.
            let expire = |tx: &watch::Sender<bool>| {
                lease.revoke();
                if *tx.borrow() {
                    warn!(lease = %s.lease, deadline = ?s.renew_deadline(), "lease not renewed within the renew deadline: no longer writing");
                    tx.send_replace(false);
                }
            };
            loop {
                let started = Instant::now();
                let result = {
                    let attempt = tokio::time::timeout(s.call_timeout(), elector.try_acquire_or_renew());
                    tokio::pin!(attempt);
                    loop {
                        tokio::select! {
                            r = &mut attempt => break r,
                            () = expiry(lease.valid_until()), if *tx.borrow() => expire(&tx),
                        }
                    }
                };
                match result {
                    Ok(Ok(true)) => {
                        lease.renewed(started, s.renew_deadline());
                        // A renewal that took longer than the deadline grants nothing.
                        if lease.holds() && !*tx.borrow() {
                            info!(lease = %s.lease, namespace = %s.namespace, identity = %s.identity, "became the leader: writing to the zone");
                            tx.send_replace(true);
                        }
                    }
                    Ok(Ok(false)) => {
                        lease.revoke();
                        if *tx.borrow() {
                            warn!(lease = %s.lease, holder = ?elector.seen.as_ref().and_then(Observation::holder), "lost the lease to another replica: no longer writing");
                            tx.send_replace(false);
                        }
                    }
                    Ok(Err(e)) => {
                        warn!(lease = %s.lease, error = %e, "lease could not be read or renewed");
                    }
                    Err(_) => {
                        warn!(lease = %s.lease, timeout = ?s.call_timeout(), "lease call timed out");
                    }
                }
                if *tx.borrow() && !lease.holds() {
                    expire(&tx);
                }
                tokio::select! {
                    _ = &mut stop_rx => break,
                    () = tokio::time::sleep(s.renew_interval) => {}
                    () = expiry(lease.valid_until()), if *tx.borrow() => expire(&tx),
                }
            }
            let was_leading = *tx.borrow();
            lease.revoke();
            tx.send_replace(false);
            if was_leading {
                match tokio::time::timeout(s.call_timeout(), elector.release()).await {
                    Ok(Ok(true)) => info!(lease = %s.lease, "lease released"),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        warn!(lease = %s.lease, error = %e, "lease could not be released; it expires on its own");
                    }
                    Err(_) => {
                        warn!(lease = %s.lease, "releasing the lease timed out; it expires on its own");
                    }
                }
            }
        });
        Self {
            rx,
            clock,
            stop: Some(stop_tx),
            task,
            identity,
        }
    }

    /// Until when this replica may write: check it before every batch.
    pub fn clock(&self) -> Arc<LeaseClock> {
        self.clock.clone()
    }

    /// Whether this replica leads, now and as it changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Stops electing; a leader clears the holder so a successor need not wait for expiry.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops electing without releasing (as a crash would): the Lease expires on its own.
    pub fn abandon(self) {
        self.clock.revoke();
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, secs: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: secs,
            renew_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_free_or_own_lease_can_be_taken_a_fresh_foreign_one_cannot() {
        let t0 = Instant::now();
        let d = Duration::from_secs(15);
        for s in [spec(None, None), spec(Some(""), Some(15))] {
            let seen = Observation::update(None, &s, t0);
            assert!(can_take(&s, &seen, "me", t0, d));
        }
        let mine = spec(Some("me"), Some(15));
        assert!(can_take(
            &mine,
            &Observation::update(None, &mine, t0),
            "me",
            t0,
            d
        ));
        let theirs = spec(Some("other"), Some(10));
        let seen = Observation::update(None, &theirs, t0);
        assert!(!can_take(&theirs, &seen, "me", t0 + Duration::from_secs(9), d));
        assert!(can_take(&theirs, &seen, "me", t0 + Duration::from_secs(10), d));
        // Without a duration in the Lease, the configured one counts.
        let none = spec(Some("other"), None);
        let seen = Observation::update(None, &none, t0);
        assert!(!can_take(&none, &seen, "me", t0 + Duration::from_secs(14), d));
        assert!(can_take(&none, &seen, "me", t0 + d, d));
    }

    #[test]
    fn expiry_counts_from_the_last_observed_change_not_the_holders_clock() {
        let t0 = Instant::now();
        let d = Duration::from_secs(10);
        let a = spec(Some("other"), Some(10));
        let seen = Observation::update(None, &a, t0);
        // Seen again unchanged later: the observation keeps its time.
        let same = Observation::update(Some(seen.clone()), &a, t0 + Duration::from_secs(5));
        assert_eq!(same, seen);
        // A renewal (a new renew time) restarts the clock, whatever the time it names.
        let mut renewed = a.clone();
        renewed.renew_time = Some(MicroTime(Timestamp::from_second(1).unwrap()));
        let later = Observation::update(Some(seen), &renewed, t0 + Duration::from_secs(8));
        assert!(!can_take(&renewed, &later, "me", t0 + Duration::from_secs(12), d));
        assert!(can_take(&renewed, &later, "me", t0 + Duration::from_secs(18), d));
    }

    #[test]
    fn next_spec_counts_transitions_and_keeps_the_acquire_time_on_renewal() {
        let d = Duration::from_secs(15);
        let t1 = Timestamp::from_second(100).unwrap();
        let t2 = Timestamp::from_second(200).unwrap();
        let first = next_spec(None, "a", d, t1);
        assert_eq!(first.holder_identity.as_deref(), Some("a"));
        assert_eq!(first.lease_duration_seconds, Some(15));
        assert_eq!(first.lease_transitions, Some(0));
        let renewed = next_spec(Some(&first), "a", d, t2);
        assert_eq!(renewed.acquire_time, first.acquire_time);
        assert_eq!(renewed.renew_time, Some(MicroTime(t2)));
        assert_eq!(renewed.lease_transitions, Some(0));
        let taken = next_spec(Some(&renewed), "b", d, t2);
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.acquire_time, Some(MicroTime(t2)));
        assert_eq!(taken.lease_transitions, Some(1));
        // Taking a released lease is not counted as a transition from a holder.
        let mut released = taken.clone();
        released.holder_identity = None;
        assert_eq!(next_spec(Some(&released), "a", d, t2).lease_transitions, Some(1));
    }
}
