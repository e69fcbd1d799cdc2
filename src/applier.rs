//! The applier: writes a plan to a provider in batches within its limits.
//!
//! * A name's changes (its record sets and its ownership TXT) always travel in one batch.
//! * Transient errors (throttling, 5xx, network) are retried with exponential backoff and jitter.
//! * A batch the provider rejects as invalid is split in halves until the bad name is isolated;
//!   that name is quarantined and reported, the rest goes through.
//! * A batch rejected because the provider holds something else than the cache says (a conflict)
//!   is split the same way; the stale names are reported so the caller re-lists and re-plans.
//!
//! Every accepted batch is recorded in the cache, so the cache always equals what the provider
//! acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;

use feddns_provider::{Change, Limits, Provider, ProviderError};
use tracing::{debug, warn};

use crate::backoff::Backoff;
use crate::diff::{NameChanges, ZoneCache};
use crate::model::ServiceKey;

/// Retry settings for transient errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included.
    pub attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

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
    pub retry: BTreeSet<ServiceKey>,
    /// The last error that made `retry` non-empty.
    pub error: Option<String>,
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

/// Applies name groups to the provider and records what it accepted in the cache.
pub async fn apply(
    provider: &dyn Provider,
    groups: Vec<NameChanges>,
    cache: &mut ZoneCache,
    retry: RetryPolicy,
) -> ApplyOutcome {
    let mut out = ApplyOutcome::default();
    let mut work: Vec<Vec<NameChanges>> = batches(groups, provider.limits());
    work.reverse();
    while let Some(batch) = work.pop() {
        let changes: Vec<Change> = batch.iter().flat_map(|g| g.changes.iter().cloned()).collect();
        match send(provider, &changes, retry, &mut out.requests).await {
            Ok(()) => {
                cache.apply(&changes);
                out.applied += changes.len();
                for c in &changes {
                    match c {
                        Change::Create { .. } => out.created += 1,
                        Change::Replace { .. } => out.replaced += 1,
                        Change::Delete { .. } => out.deleted += 1,
                    }
                }
            }
            Err(
                e @ (ProviderError::Invalid { .. }
                | ProviderError::TooLarge(_)
                | ProviderError::Conflict { .. }),
            ) if batch.len() > 1 => {
                debug!(error = %e, names = batch.len(), "batch rejected; splitting it to isolate the name at fault");
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                work.push(second);
                work.push(first);
            }
            Err(ProviderError::Conflict { key, reason }) => {
                let g = single(batch);
                warn!(name = %g.name, %key, %reason, "provider state differs from the cache");
                out.stale.push(g);
            }
            Err(e @ (ProviderError::Invalid { .. } | ProviderError::TooLarge(_))) => {
                let g = single(batch);
                warn!(name = %g.name, service = %g.service, error = %e, "name quarantined: the provider refuses its changes");
                out.quarantined.push((g, e.to_string()));
            }
            Err(e) => {
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

async fn send(
    provider: &dyn Provider,
    changes: &[Change],
    retry: RetryPolicy,
    requests: &mut usize,
) -> Result<(), ProviderError> {
    retry_transient(retry, "apply", || {
        *requests += 1;
        provider.apply(changes)
    })
    .await
}

/// Runs `call` until it succeeds, fails for good, or the attempts are used up; transient errors
/// are retried after an exponential backoff with jitter (between half and all of the delay).
pub(crate) async fn retry_transient<T, F, Fut>(
    retry: RetryPolicy,
    what: &str,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut backoff = Backoff::new(retry.base, retry.max);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(e) if e.is_transient() && attempt < retry.attempts => {
                let delay = backoff.next_delay();
                debug!(error = %e, attempt, ?delay, "transient provider error on {what}; backing off");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use feddns_provider::{Capabilities, MemoryProvider, RecordSet, RecordType};

    use super::*;

    fn group(name: &str, values: usize) -> NameChanges {
        let set = RecordSet::new(
            &format!("{name}.example.com"),
            RecordType::A,
            60,
            (0..values).map(|i| format!("192.0.2.{}", i % 250 + 1)),
        );
        NameChanges {
            name: set.name.clone(),
            service: ServiceKey::new("ns", name),
            changes: vec![Change::Create { new: set }],
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
                return Err(ProviderError::Transient("Throttling: Rate exceeded".into()));
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

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_they_pass() {
        let p = flaky(3);
        let mut cache = ZoneCache::new("_feddns", "o", "f");
        let out = apply(
            &p,
            vec![group("a", 1), group("b", 1)],
            &mut cache,
            RetryPolicy::default(),
        )
        .await;
        assert_eq!(out.applied, 2);
        assert!(out.retry.is_empty() && out.quarantined.is_empty());
        assert_eq!(out.requests, 4);
        assert_eq!(cache.sets().count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_outlasting_the_retries_leave_the_services_for_later() {
        let p = flaky(100);
        let mut cache = ZoneCache::new("_feddns", "o", "f");
        let out = apply(
            &p,
            vec![group("a", 1)],
            &mut cache,
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
            cache.sets().count(),
            0,
            "the cache holds only what the provider accepted"
        );
    }

    #[tokio::test]
    async fn an_invalid_name_is_isolated_and_the_rest_applied() {
        let p = flaky(0);
        let mut cache = ZoneCache::new("_feddns", "o", "f");
        let groups = vec![group("a", 1), group("b", 1), group("bad", 1), group("c", 1)];
        let out = apply(&p, groups, &mut cache, RetryPolicy::default()).await;
        assert_eq!(out.applied, 3);
        assert_eq!(out.quarantined.len(), 1);
        assert_eq!(out.quarantined[0].0.name, "bad.example.com");
        let names: Vec<String> = p.inner.snapshot().await.into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["a.example.com", "b.example.com", "c.example.com"]);
    }

    #[tokio::test]
    async fn a_stale_name_is_reported_and_the_rest_applied() {
        let p = flaky(0);
        // Someone created b behind our back.
        p.inner.apply(&group("b", 2).changes).await.unwrap();
        let mut cache = ZoneCache::new("_feddns", "o", "f");
        let out = apply(
            &p,
            vec![group("a", 1), group("b", 1)],
            &mut cache,
            RetryPolicy::default(),
        )
        .await;
        assert_eq!(out.applied, 1);
        assert_eq!(out.stale.len(), 1);
        assert_eq!(out.stale[0].name, "b.example.com");
    }
}
