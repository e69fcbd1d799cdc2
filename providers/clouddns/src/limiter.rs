//! A token bucket shared by every call of one provider, and the per-operation call counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use feddns_provider::ApiStats;

use crate::api::Operation;

/// A token bucket: `rate` tokens per second, holding at most `max(rate, 1)` tokens, full at
/// start. A caller that finds it empty reserves the next token and sleeps until it is due, so
/// waiters are served in arrival order.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `rate` must be positive and finite (checked by the configuration); anything else is
    /// treated as 1 per second.
    pub(crate) fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        let burst = rate.max(1.0);
        Self {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token.
    pub(crate) async fn acquire(&self) {
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

/// Requests, throttles and errors per [`Operation`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    calls: [AtomicU64; N],
    throttles: [AtomicU64; N],
    errors: [AtomicU64; N],
}

const N: usize = Operation::ALL.len();

fn index(op: Operation) -> usize {
    match op {
        Operation::ManagedZonesGet => 0,
        Operation::ManagedZonesList => 1,
        Operation::RrsetsList => 2,
        Operation::ChangesCreate => 3,
        Operation::ChangesGet => 4,
    }
}

impl Counters {
    pub(crate) fn call(&self, op: Operation) {
        self.calls[index(op)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, op: Operation, throttle: bool) {
        self.errors[index(op)].fetch_add(1, Ordering::Relaxed);
        if throttle {
            self.throttles[index(op)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> ApiStats {
        let map = |a: &[AtomicU64; N]| -> BTreeMap<String, u64> {
            Operation::ALL
                .iter()
                .map(|op| (op.as_str().to_string(), a[index(*op)].load(Ordering::Relaxed)))
                .collect()
        };
        ApiStats {
            calls: map(&self.calls),
            throttles: map(&self.throttles),
            errors: map(&self.errors),
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
}
