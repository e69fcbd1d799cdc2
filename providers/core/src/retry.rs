//! The one retry policy of feddns: exponential backoff with jitter, a retry budget, and a
//! classification of errors into retryable / throttled / conflict / invalid / fatal.
//!
//! A call is retried at exactly one level. The providers retry the single requests they make on
//! their own (a page of a listing, a zone lookup, a status poll) with [`Retrier::run`] and say so
//! in [`crate::Provider::self_retried`]; the controller's applier retries the rest (a batch sent
//! with `apply`, a listing of a provider that does not retry its reads) with the same policy,
//! and makes a single attempt of a call the provider already retried.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::provider::ProviderError;

/// What a failed call means for whoever would retry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A server error or a network failure: the same call may succeed later.
    Retryable,
    /// The service throttled the call: the same call may succeed later, after a backoff.
    Throttled,
    /// The zone does not hold what the call expected: re-read before trying anything else.
    Conflict,
    /// The call is malformed or breaks a rule: sending it again fails the same way.
    Invalid,
    /// Anything else that retrying will not fix (authentication, a zone that is gone).
    Fatal,
}

impl ErrorClass {
    /// True for [`Self::Retryable`] and [`Self::Throttled`].
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Retryable | Self::Throttled)
    }

    /// The class of a provider's own API error: [`Self::Fatal`] unless `retryable`, then
    /// [`Self::Throttled`] where the service `throttled` the call, else [`Self::Retryable`].
    pub fn retryable_if(retryable: bool, throttled: bool) -> Self {
        match (retryable, throttled) {
            (false, _) => Self::Fatal,
            (true, true) => Self::Throttled,
            (true, false) => Self::Retryable,
        }
    }

    /// The class of a [`ProviderError`]: transient errors are retryable (a provider that can
    /// tell throttling apart classifies its own API errors before mapping them).
    pub fn of(e: &ProviderError) -> Self {
        match e {
            ProviderError::Transient { .. } => Self::Retryable,
            ProviderError::Conflict { .. } => Self::Conflict,
            ProviderError::Invalid { .. } | ProviderError::TooLarge(_) => Self::Invalid,
            ProviderError::Other { .. } => Self::Fatal,
        }
    }
}

/// How the delay of one backoff step is drawn from the exponential value `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Anywhere in `[0, d]` ("full jitter"): clients that failed together spread out the most.
    #[default]
    Full,
    /// In `[d/2, d]`: never much shorter than `d` (watch restarts, and callers that need a
    /// lower bound).
    Equal,
}

/// Retry settings: attempts per call, the backoff and the retry budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
    /// How each delay is drawn.
    pub jitter: Jitter,
    /// Retries one [`Retrier`] may spend before it stops retrying; each success gives one back
    /// (up to this many), so a service that keeps failing is not hammered call after call.
    pub budget: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            jitter: Jitter::Full,
            budget: 100,
        }
    }
}

impl RetryPolicy {
    /// `attempts` attempts starting at `base`, never waiting longer than `max`, with full
    /// jitter and the default budget.
    pub fn new(attempts: u32, base: Duration, max: Duration) -> Self {
        Self {
            attempts,
            base,
            max,
            ..Self::default()
        }
    }
}

/// Delays that double from `base` up to `max`, each drawn with [`Jitter`].
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: Jitter,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A backoff starting at `base`, never longer than `max`.
    pub fn new(base: Duration, max: Duration, jitter: Jitter) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
        Self {
            base,
            max: max.max(base),
            jitter,
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1 << self.attempt.min(16)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let unit = self.next_unit();
        match self.jitter {
            Jitter::Full => exp.mul_f64(unit),
            Jitter::Equal => exp / 2 + exp.mul_f64(unit / 2.0),
        }
    }

    /// Starts over from `base` (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// xorshift: no need for cryptographic randomness.
    fn next_unit(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs calls under one [`RetryPolicy`], spending one retry budget across all of them.
#[derive(Debug)]
pub struct Retrier {
    policy: RetryPolicy,
    tokens: AtomicU32,
}

impl Retrier {
    /// A retrier with a full budget.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            tokens: AtomicU32::new(policy.budget),
        }
    }

    /// The policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Runs `call` until it succeeds, fails with an error `classify` does not call retryable,
    /// the attempts are used up or the budget is spent; sleeps between attempts.
    pub async fn run<T, E, F, Fut>(&self, classify: impl Fn(&E) -> ErrorClass, call: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_with_sleep(classify, tokio::time::sleep, call).await
    }

    /// [`Self::run`] with a caller's way of waiting out a backoff (one that a stop cuts short).
    pub async fn run_with_sleep<T, E, F, Fut, S, SFut>(
        &self,
        classify: impl Fn(&E) -> ErrorClass,
        mut sleep: S,
        mut call: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: FnMut(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        let p = self.policy;
        let mut backoff = Backoff::new(p.base, p.max, p.jitter);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Ok(v) => {
                    self.refund();
                    return Ok(v);
                }
                Err(e) if attempt < p.attempts && classify(&e).is_retryable() && self.spend() => {
                    sleep(backoff.next_delay()).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes one retry from the budget; false when it is spent.
    fn spend(&self) -> bool {
        self.tokens
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1))
            .is_ok()
    }

    /// Gives one retry back after a success.
    fn refund(&self) {
        let cap = self.policy.budget;
        let _ = self
            .tokens
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| (t < cap).then_some(t + 1));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn full_jitter_stays_under_the_doubling_cap_and_equal_jitter_above_half() {
        let mut full = Backoff::new(MS(100), MS(1000), Jitter::Full);
        let mut equal = Backoff::new(MS(100), MS(1000), Jitter::Equal);
        for exp in [100, 200, 400, 800, 1000, 1000] {
            let f = full.next_delay();
            let e = equal.next_delay();
            assert!(f <= MS(exp), "{f:?} for {exp}ms");
            assert!(e >= MS(exp / 2) && e <= MS(exp), "{e:?} for {exp}ms");
        }
        full.reset();
        assert!(full.next_delay() <= MS(100));
    }

    #[test]
    fn full_jitter_spreads_delays_below_half() {
        let mut b = Backoff::new(MS(1000), MS(1000), Jitter::Full);
        let low = (0..200).filter(|_| b.next_delay() < MS(500)).count();
        assert!((40..160).contains(&low), "{low} of 200 below half");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_within_the_attempts() {
        let r = Retrier::new(RetryPolicy::new(4, MS(10), MS(100)));
        let calls = AtomicUsize::new(0);
        let classify = |e: &ErrorClass| *e;
        let out: Result<(), ErrorClass> = r
            .run(&classify, || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 2 { Err(ErrorClass::Throttled) } else { Ok(()) } }
            })
            .await;
        assert!(out.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let out: Result<(), ErrorClass> = r
            .run(&classify, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(ErrorClass::Throttled) }
            })
            .await;
        assert_eq!(out, Err(ErrorClass::Throttled));
        assert_eq!(calls.load(Ordering::SeqCst), 7, "4 more attempts, then the error");
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_conflicts_invalid_or_fatal_errors() {
        let r = Retrier::new(RetryPolicy::default());
        for class in [ErrorClass::Conflict, ErrorClass::Invalid, ErrorClass::Fatal] {
            let calls = AtomicUsize::new(0);
            let out: Result<(), ErrorClass> = r
                .run(
                    |e: &ErrorClass| *e,
                    || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        async move { Err(class) }
                    },
                )
                .await;
            assert_eq!(out, Err(class));
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{class:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_stops_retrying_and_successes_refill_it() {
        let r = Retrier::new(RetryPolicy {
            budget: 3,
            ..RetryPolicy::new(10, MS(1), MS(1))
        });
        let calls = AtomicUsize::new(0);
        let fail = || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(ErrorClass::Retryable) }
        };
        assert!(r.run(|e: &ErrorClass| *e, fail).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4, "the first attempt and 3 retries");
        assert!(r.run(|e: &ErrorClass| *e, fail).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5, "no budget left: one attempt");
        r.run(|e: &ErrorClass| *e, || async { Ok::<(), ErrorClass>(()) })
            .await
            .unwrap();
        assert!(r.run(|e: &ErrorClass| *e, fail).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 7, "a success gave one retry back");
    }

    #[test]
    fn provider_errors_are_classified_by_kind() {
        use crate::{RecordKey, RecordType};
        let key = RecordKey {
            name: "a.example.com".into(),
            rtype: RecordType::A,
            set_id: None,
        };
        assert_eq!(
            ErrorClass::of(&ProviderError::transient("x")),
            ErrorClass::Retryable
        );
        assert_eq!(
            ErrorClass::of(&ProviderError::conflict(key.clone(), "x")),
            ErrorClass::Conflict
        );
        assert_eq!(
            ErrorClass::of(&ProviderError::invalid(key, "x")),
            ErrorClass::Invalid
        );
        assert_eq!(
            ErrorClass::of(&ProviderError::TooLarge("x".into())),
            ErrorClass::Invalid
        );
        assert_eq!(ErrorClass::of(&ProviderError::other("x")), ErrorClass::Fatal);
        assert_eq!(ErrorClass::retryable_if(false, true), ErrorClass::Fatal);
        assert_eq!(ErrorClass::retryable_if(true, true), ErrorClass::Throttled);
        assert_eq!(ErrorClass::retryable_if(true, false), ErrorClass::Retryable);
    }
}
