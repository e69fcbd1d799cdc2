//! The applier: writes a plan to a provider in batches within its limits.
//!
//! * A name's changes (its record sets and its ownership TXT) always travel in one batch.
//! * Transient errors (throttling, 5xx, network) are retried with exponential backoff and jitter.
//! * A batch the provider rejects as invalid is split in halves until the bad name is isolated;
//!   that name is quarantined and reported, the rest goes through.
//! * A batch rejected because the provider holds something else than the cache says (a conflict)
//!   is split the same way; the stale names are reported so the caller re-lists and re-plans.
//!
//! * The writer is fenced: before every attempt (retries included) the [`Fence`] must allow
//!   writing (this replica still leads within its renew deadline, and no stop was asked). A stop
//!   lets the batch in flight finish and sends nothing after it.
//!
//! Every accepted batch is handed to the caller's sink at once (the controller records it in its
//! cache), so the cache always equals what the provider acknowledged.

use std::collections::BTreeSet;

use feddns_provider::{Change, ErrorClass, Limits, Provider, ProviderError, Retrier};
use tracing::{debug, info, warn};

use crate::control::writer::{Fence, Fenced};
use crate::federation::diff::NameChanges;
use crate::federation::model::Subject;

/// The retry settings of provider calls: the one policy of `feddns_provider::retry`.
pub use feddns_provider::RetryPolicy;

/// What applying a plan did.
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    /// Changes the provider accepted.
    pub applied: usize,
    /// Of those, creations.
    pub created: usize,
    /// Of those, replacements.
    pub replaced: usize,
    /// Of those, deletions.
    pub deleted: usize,
    /// Batches sent (accepted or not).
    pub requests: usize,
    /// Names the provider rejected on their own: (name, service, changes, reason).
    pub quarantined: Vec<(NameChanges, String)>,
    /// Names whose current state differs from the cache: re-list, then re-plan.
    pub stale: Vec<NameChanges>,
    /// Services whose changes could not be applied now (transient errors outlasted the retries,
    /// or another error): plan them again later.
    pub retry: BTreeSet<Subject>,
    /// The last error that made `retry` non-empty.
    pub error: Option<String>,
    /// Why the rest of the plan was not sent, when the fence closed during it (its Services are
    /// in `retry`).
    pub fenced: Option<Fenced>,
    /// Names left unsent because the fence closed.
    pub fenced_names: usize,
}

/// Splits name groups into batches within the limits, keeping each name's changes together. A
/// group that alone exceeds the limits gets a batch of its own (the provider will refuse it and
/// it will be quarantined).
pub fn batches(groups: Vec<NameChanges>, limits: Limits) -> Vec<Vec<NameChanges>> {
    let mut out: Vec<Vec<NameChanges>> = Vec::new();
    let (mut cost, mut chars) = (0, 0);
    for g in groups {
        let gc: usize = g.changes.iter().map(|c| c.cost(limits.replace_cost)).sum();
        let gv: usize = g.changes.iter().map(|c| c.value_chars(limits.replace_cost)).sum();
        let fits =
            cost + gc <= limits.max_records_per_batch && chars + gv <= limits.max_value_chars_per_batch;
        match out.last_mut() {
            Some(batch) if fits && !batch.is_empty() => {
                batch.push(g);
                cost += gc;
                chars += gv;
            }
            _ => {
                out.push(vec![g]);
                cost = gc;
                chars = gv;
            }
        }
    }
    out
}

/// Applies name groups to the provider, batch by batch, handing every accepted batch to
/// `accepted`. Stops before the next attempt as soon as `fence` closes.
pub async fn apply(
    provider: &dyn Provider,
    groups: Vec<NameChanges>,
    retry: RetryPolicy,
    fence: &Fence,
    mut accepted: impl FnMut(Vec<Change>),
) -> ApplyOutcome {
    let mut out = ApplyOutcome::default();
    let mut work: Vec<Vec<NameChanges>> = batches(groups, provider.limits());
    work.reverse();
    while let Some(batch) = work.pop() {
        let changes: Vec<Change> = batch.iter().flat_map(|g| g.changes.iter().cloned()).collect();
        match send(provider, &changes, retry, fence, &mut out.requests).await {
            Ok(()) => {
                out.applied += changes.len();
                for c in &changes {
                    match c {
                        Change::Create { .. } => out.created += 1,
                        Change::Replace { .. } => out.replaced += 1,
                        Change::Delete { .. } => out.deleted += 1,
                    }
                }
                accepted(changes);
            }
            Err(CallError::Fenced(why)) => {
                let rest = std::iter::once(batch).chain(work.drain(..));
                for g in rest.flatten() {
                    out.fenced_names += 1;
                    out.retry.insert(g.service);
                }
                info!(reason = %why, names = out.fenced_names, "writer fenced: the rest of the plan is not sent");
                out.fenced = Some(why);
            }
            Err(CallError::Provider(
                e @ (ProviderError::Invalid { .. }
                | ProviderError::TooLarge(_)
                | ProviderError::Conflict { .. }),
            )) if batch.len() > 1 => {
                debug!(error = %e, names = batch.len(), "batch rejected; splitting it to isolate the name at fault");
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                work.push(second);
                work.push(first);
            }
            Err(CallError::Provider(ProviderError::Conflict { key, reason })) => {
                let g = single(batch);
                warn!(name = %g.name, %key, %reason, "provider state differs from the cache");
                out.stale.push(g);
            }
            Err(CallError::Provider(e @ (ProviderError::Invalid { .. } | ProviderError::TooLarge(_)))) => {
                let g = single(batch);
                warn!(name = %g.name, service = %g.service, error = %e, "name quarantined: the provider refuses its changes");
                out.quarantined.push((g, e.to_string()));
            }
            Err(CallError::Provider(e)) => {
                warn!(error = %e, "provider error; the affected services will be planned again");
                out.retry.extend(batch.iter().map(|g| g.service.clone()));
                for rest in work.drain(..) {
                    out.retry.extend(rest.iter().map(|g| g.service.clone()));
                }
                out.error = Some(e.to_string());
            }
        }
    }
    out
}

fn single(mut batch: Vec<NameChanges>) -> NameChanges {
    // Only called with exactly one group.
    batch
        .pop()
        .unwrap_or_else(|| unreachable!("a batch holds at least one name"))
}

/// Why a provider call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The provider answered with an error (after the retries, when transient).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The fence closed before an attempt: nothing was sent.
    #[error("not sent: {0}")]
    Fenced(Fenced),
}

/// Sends one batch (see [`retry_transient`]).
async fn send(
    provider: &dyn Provider,
    changes: &[Change],
    retry: RetryPolicy,
    fence: &Fence,
    requests: &mut usize,
) -> Result<(), CallError> {
    let self_retried = provider.self_retried().writes;
    retry_transient(retry, "apply", fence, self_retried, || {
        *requests += 1;
        provider.apply(changes)
    })
    .await
}

/// Runs `call` under the shared retry policy (`feddns_provider::Retrier`): transient errors are
/// retried after an exponential backoff with full jitter, within the attempts and the budget,
/// unless the provider retried the call itself (`self_retried`): then one attempt is made, so
/// no call is retried at two levels. Every attempt first asks `fence`, and a stop cuts a backoff
/// short: a replica that stopped leading, or is stopping, sends nothing more.
pub(crate) async fn retry_transient<T, F, Fut>(
    retry: RetryPolicy,
    what: &str,
    fence: &Fence,
    self_retried: bool,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let policy = if self_retried {
        RetryPolicy { attempts: 1, ..retry }
    } else {
        retry
    };
    let classify = |e: &CallError| match e {
        CallError::Provider(e) => {
            let class = ErrorClass::of(e);
            if class.is_retryable() {
                debug!(error = %e, "transient provider error on {what}; backing off");
            }
            class
        }
        CallError::Fenced(_) => ErrorClass::Fatal,
    };
    let sleep = |delay| async move {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = fence.stopping() => {}
        }
    };
    Retrier::new(policy)
        .run_with_sleep(classify, sleep, || {
            let attempt = fence.check().map(|()| call());
            async move {
                attempt
                    .map_err(CallError::Fenced)?
                    .await
                    .map_err(CallError::Provider)
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use feddns_provider::{Capabilities, MemoryProvider, RecordSet, RecordType};

    use std::time::Duration;

    use super::*;
    use crate::federation::diff::ZoneCache;

    fn group(name: &str, values: usize) -> NameChanges {
        let set = RecordSet::new(
            &format!("{name}.example.com"),
            RecordType::A,
            60,
            (0..values).map(|i| format!("192.0.2.{}", i % 250 + 1)),
        );
        NameChanges {
            name: set.name.to_string(),
            service: Subject::Service(crate::federation::model::ServiceKey::new("ns", name)),
            changes: vec![Change::create(set)],
        }
    }

    #[test]
    fn batches_respect_record_and_character_limits_and_keep_names_whole() {
        let limits = Limits {
            max_records_per_batch: 10,
            max_value_chars_per_batch: 1000,
            replace_cost: 2,
        };
        let groups = vec![group("a", 4), group("b", 4), group("c", 4), group("d", 30)];
        let b = batches(groups, limits);
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        assert_eq!(
            sizes,
            vec![2, 1, 1],
            "a and b fit, c alone, the oversized d alone"
        );
        let limits = Limits {
            max_records_per_batch: 1000,
            max_value_chars_per_batch: 30,
            replace_cost: 2,
        };
        assert_eq!(
            batches(vec![group("a", 2), group("b", 2)], limits).len(),
            2,
            "characters count too"
        );
    }

    /// Fails transiently a number of times, and refuses names containing "bad".
    struct Flaky {
        inner: MemoryProvider,
        transient: AtomicUsize,
        calls: Mutex<Vec<usize>>,
    }

    #[async_trait::async_trait]
    impl Provider for Flaky {
        fn kind(&self) -> &'static str {
            "flaky"
        }
        fn zone(&self) -> &str {
            self.inner.zone()
        }
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        fn limits(&self) -> Limits {
            Limits {
                max_records_per_batch: 4,
                ..Limits::default()
            }
        }
        async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
            self.inner.list().await
        }
        async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
            self.calls.lock().unwrap().push(changes.len());
            if self.transient.load(Ordering::SeqCst) > 0 {
                self.transient.fetch_sub(1, Ordering::SeqCst);
                return Err(ProviderError::transient("Throttling: Rate exceeded"));
            }
            if let Some(c) = changes.iter().find(|c| c.name().contains("bad")) {
                return Err(ProviderError::Invalid {
                    key: c.key(),
                    reason: "refused".into(),
                });
            }
            self.inner.apply(changes).await
        }
    }

    fn flaky(transient: usize) -> Flaky {
        Flaky {
            inner: MemoryProvider::plain("example.com"),
            transient: AtomicUsize::new(transient),
            calls: Mutex::new(vec![]),
        }
    }

    /// Applies with `fence`, recording what the provider accepted in a cache, as the controller
    /// does with the writer's reports.
    async fn run_with(
        p: &Flaky,
        groups: Vec<NameChanges>,
        retry: RetryPolicy,
        fence: &Fence,
    ) -> (ApplyOutcome, ZoneCache) {
        let mut cache = ZoneCache::new("_feddns", "o", "f");
        let out = apply(p, groups, retry, fence, |changes| cache.apply(&changes)).await;
        (out, cache)
    }

    async fn run(p: &Flaky, groups: Vec<NameChanges>, retry: RetryPolicy) -> (ApplyOutcome, ZoneCache) {
        run_with(p, groups, retry, &Fence::open()).await
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_they_pass() {
        let p = flaky(3);
        let (out, cache) = run(&p, vec![group("a", 1), group("b", 1)], RetryPolicy::default()).await;
        assert_eq!(out.applied, 2);
        assert!(out.retry.is_empty() && out.quarantined.is_empty());
        assert_eq!(out.requests, 4);
        assert_eq!(cache.name_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_outlasting_the_retries_leave_the_services_for_later() {
        let p = flaky(100);
        let (out, cache) = run(
            &p,
            vec![group("a", 1)],
            RetryPolicy {
                attempts: 3,
                ..RetryPolicy::default()
            },
        )
        .await;
        assert_eq!(out.applied, 0);
        assert_eq!(out.retry.len(), 1);
        assert!(out.error.unwrap().contains("Throttling"));
        assert_eq!(
            cache.name_count(),
            0,
            "the cache holds only what the provider accepted"
        );
    }

    #[tokio::test]
    async fn an_invalid_name_is_isolated_and_the_rest_applied() {
        let p = flaky(0);
        let groups = vec![group("a", 1), group("b", 1), group("bad", 1), group("c", 1)];
        let (out, _) = run(&p, groups, RetryPolicy::default()).await;
        assert_eq!(out.applied, 3);
        assert_eq!(out.quarantined.len(), 1);
        assert_eq!(out.quarantined[0].0.name, "bad.example.com");
        let names: Vec<String> = p
            .inner
            .snapshot()
            .await
            .into_iter()
            .map(|s| s.name.to_string())
            .collect();
        assert_eq!(names, ["a.example.com", "b.example.com", "c.example.com"]);
    }

    #[tokio::test]
    async fn a_stale_name_is_reported_and_the_rest_applied() {
        let p = flaky(0);
        // Someone created b behind our back.
        p.inner.apply(&group("b", 2).changes).await.unwrap();
        let (out, _) = run(&p, vec![group("a", 1), group("b", 1)], RetryPolicy::default()).await;
        assert_eq!(out.applied, 1);
        assert_eq!(out.stale.len(), 1);
        assert_eq!(out.stale[0].name, "b.example.com");
    }

    /// A stop asked while a plan is being applied lets the batch in flight finish and sends
    /// nothing after it; the unsent Services are left for later.
    #[tokio::test]
    async fn a_stop_lets_the_batch_in_flight_finish_and_sends_nothing_after_it() {
        let p = flaky(0);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let fence = Fence::new(None, stop_rx);
        // Four names of 4 records each, with 4 records a batch: four batches. The stop comes
        // while the first is being applied (when its changes are handed over).
        let groups = vec![group("a", 4), group("b", 4), group("c", 4), group("d", 4)];
        let mut batches = 0;
        let out = apply(&p, groups, RetryPolicy::default(), &fence, |_| {
            batches += 1;
            let _ = stop_tx.send(true);
        })
        .await;
        assert_eq!(batches, 1);
        assert_eq!(p.calls.lock().unwrap().len(), 1, "one batch sent");
        assert_eq!(out.fenced, Some(Fenced::Stopping));
        assert_eq!(out.fenced_names, 3);
        assert_eq!(out.retry.len(), 3);
    }

    /// A lease past its renew deadline sends nothing, even a retry of a batch already tried.
    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_sends_nothing_not_even_a_retry() {
        use crate::control::leader::LeaseClock;
        let clock = std::sync::Arc::new(LeaseClock::new());
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let fence = Fence::new(Some(clock.clone()), stop_rx);
        let p = flaky(0);
        let (out, _) = run_with(&p, vec![group("a", 1)], RetryPolicy::default(), &fence).await;
        assert_eq!(out.fenced, Some(Fenced::NotLeading), "never renewed");
        assert!(p.calls.lock().unwrap().is_empty());

        // Renewed now, valid for 1 s; the first attempt is throttled and the backoff outlasts
        // the deadline: the retry is not sent.
        clock.renewed(tokio::time::Instant::now(), Duration::from_secs(1));
        let p = flaky(1);
        let retry = RetryPolicy {
            base: Duration::from_secs(4),
            jitter: feddns_provider::Jitter::Equal,
            ..RetryPolicy::default()
        };
        let (out, cache) = run_with(&p, vec![group("a", 1)], retry, &fence).await;
        assert_eq!(p.calls.lock().unwrap().len(), 1, "the throttled attempt only");
        assert_eq!(out.fenced, Some(Fenced::NotLeading));
        assert_eq!(out.retry.len(), 1);
        assert_eq!(cache.name_count(), 0);
    }
}
