//! [`ApiGate`]: what every remote provider puts in front of its API calls, a client-side rate
//! limit shared by all calls and per-operation counters of calls, errors and throttles (read by
//! [`Provider::api_stats`](crate::Provider::api_stats) for the metrics).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::provider::ApiStats;

/// A token bucket: `rate` tokens per second, holding at most `max(rate, 1)` tokens, full at
/// start. A caller that finds it empty reserves the next token and sleeps until it is due, so
/// waiters are served in arrival order.
#[derive(Debug)]
struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `rate` must be positive and finite (checked by the providers' configurations); anything
    /// else is treated as 1 per second.
    fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        let burst = rate.max(1.0);
        Self {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token.
    async fn acquire(&self) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let refill = now.saturating_duration_since(s.1).as_secs_f64() * self.rate;
            s.0 = (s.0 + refill).min(self.burst) - 1.0;
            s.1 = now;
            (s.0 < 0.0).then(|| Duration::from_secs_f64(-s.0 / self.rate))
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Counters of one operation.
#[derive(Debug, Default)]
struct OpCounters {
    calls: AtomicU64,
    throttles: AtomicU64,
    errors: AtomicU64,
}

/// A rate limit and per-operation counters for one provider's API.
#[derive(Debug)]
pub struct ApiGate {
    limiter: RateLimiter,
    ops: Vec<(&'static str, OpCounters)>,
}

impl ApiGate {
    /// A gate allowing `requests_per_second` across all calls, counting `operations` (every
    /// operation the provider calls, by the names its stats use).
    pub fn new(requests_per_second: f64, operations: impl IntoIterator<Item = &'static str>) -> Self {
        Self {
            limiter: RateLimiter::new(requests_per_second),
            ops: operations
                .into_iter()
                .map(|name| (name, OpCounters::default()))
                .collect(),
        }
    }

    fn counters(&self, op: &str) -> Option<&OpCounters> {
        self.ops.iter().find(|(name, _)| *name == op).map(|(_, c)| c)
    }

    /// Waits for the rate limit, then runs `fut` as one call of `op`, counting it, and counting
    /// (and logging at debug level) an error, and a throttle where `is_throttle` says so.
    pub async fn call<T, E: std::fmt::Display>(
        &self,
        op: &str,
        is_throttle: impl FnOnce(&E) -> bool,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.limiter.acquire().await;
        let counters = self.counters(op);
        debug_assert!(counters.is_some(), "operation {op} is not counted");
        if let Some(c) = counters {
            c.calls.fetch_add(1, Ordering::Relaxed);
        }
        let r = fut.await;
        if let Err(e) = &r {
            tracing::debug!(operation = op, error = %e, "provider API call failed");
            if let Some(c) = counters {
                c.errors.fetch_add(1, Ordering::Relaxed);
                if is_throttle(e) {
                    c.throttles.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        r
    }

    /// The counters so far, every operation listed (0 where nothing happened).
    pub fn stats(&self) -> ApiStats {
        let map = |f: fn(&OpCounters) -> &AtomicU64| -> BTreeMap<String, u64> {
            self.ops
                .iter()
                .map(|(name, c)| ((*name).to_string(), f(c).load(Ordering::Relaxed)))
                .collect()
        };
        ApiStats {
            calls: map(|c| &c.calls),
            throttles: map(|c| &c.throttles),
            errors: map(|c| &c.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_the_rate() {
        let l = RateLimiter::new(5.0);
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a full bucket serves a burst");
        for _ in 0..10 {
            l.acquire().await;
        }
        let waited = start.elapsed().as_secs_f64();
        assert!(
            (waited - 2.0).abs() < 0.01,
            "10 more calls at 5/s take 2 s, took {waited}"
        );
    }

    #[tokio::test]
    async fn calls_errors_and_throttles_are_counted_by_operation() {
        let gate = ApiGate::new(1000.0, ["list", "change"]);
        let ok: Result<(), bool> = gate.call("list", |t| *t, async { Ok(()) }).await;
        assert!(ok.is_ok());
        let _ = gate
            .call("change", |t: &bool| *t, async { Err::<(), _>(true) })
            .await;
        let _ = gate
            .call("change", |t: &bool| *t, async { Err::<(), _>(false) })
            .await;
        let s = gate.stats();
        assert_eq!(s.calls["list"], 1);
        assert_eq!(s.calls["change"], 2);
        assert_eq!(s.errors["list"], 0);
        assert_eq!(s.errors["change"], 2);
        assert_eq!(s.throttles["change"], 1);
    }
}
