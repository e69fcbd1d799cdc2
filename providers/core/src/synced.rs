//! The one wait-until-synced helper: after a provider accepted a change, poll its status with a
//! doubling interval until it is in effect, for a bounded time.

use std::future::Future;
use std::time::Duration;

/// How long and how often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncWait {
    /// Give up after this long.
    pub timeout: Duration,
    /// First interval; doubles up to `max_interval`.
    pub first_interval: Duration,
    /// Longest interval.
    pub max_interval: Duration,
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPoll {
    /// The change is in effect.
    Synced,
    /// Still pending, or the poll failed in a way worth polling again.
    Pending,
    /// The change cannot be followed (the poll failed for good).
    Lost(String),
}

impl SyncPoll {
    /// The poll's answer `r` (`Ok(true)`: in effect, `Ok(false)`: pending); an error is worth
    /// polling again when `retryable` says so, else the change is lost.
    pub fn of<E: std::fmt::Display>(r: Result<bool, E>, retryable: impl Fn(&E) -> bool) -> Self {
        match r {
            Ok(true) => Self::Synced,
            Ok(false) => Self::Pending,
            Err(e) if retryable(&e) => Self::Pending,
            Err(e) => Self::Lost(e.to_string()),
        }
    }
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The change is in effect.
    Synced,
    /// Still pending after the timeout.
    TimedOut(Duration),
    /// A poll failed for good; the message says why.
    Lost(String),
}

impl SyncOutcome {
    /// Why the change was not followed until it was in effect, for a warning; `None` if it was.
    pub fn problem(&self) -> Option<String> {
        match self {
            Self::Synced => None,
            Self::TimedOut(t) => Some(format!("still pending after {t:?}; not waiting longer")),
            Self::Lost(why) => Some(format!("cannot follow the change ({why}); not waiting longer")),
        }
    }
}

/// Polls with `poll`, first after `first_interval`, until it reports synced or lost or the
/// timeout passes.
pub async fn wait_until_synced<F, Fut>(wait: SyncWait, mut poll: F) -> SyncOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = SyncPoll>,
{
    let deadline = tokio::time::Instant::now() + wait.timeout;
    let mut delay = wait.first_interval;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return SyncOutcome::TimedOut(wait.timeout);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        match poll().await {
            SyncPoll::Synced => return SyncOutcome::Synced,
            SyncPoll::Pending => {}
            SyncPoll::Lost(why) => return SyncOutcome::Lost(why),
        }
        delay = (delay * 2).min(wait.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const WAIT: SyncWait = SyncWait {
        timeout: Duration::from_secs(10),
        first_interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(4),
    };

    #[tokio::test(start_paused = true)]
    async fn polls_until_synced_lost_or_timed_out() {
        let polls = AtomicUsize::new(0);
        let out = wait_until_synced(WAIT, || {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    SyncPoll::Pending
                } else {
                    SyncPoll::Synced
                }
            }
        })
        .await;
        assert_eq!(out, SyncOutcome::Synced);
        assert_eq!(polls.load(Ordering::SeqCst), 3);

        let out = wait_until_synced(WAIT, || async { SyncPoll::Lost("gone".into()) }).await;
        assert_eq!(out, SyncOutcome::Lost("gone".into()));

        let start = tokio::time::Instant::now();
        polls.store(0, Ordering::SeqCst);
        let out = wait_until_synced(WAIT, || {
            polls.fetch_add(1, Ordering::SeqCst);
            async { SyncPoll::Pending }
        })
        .await;
        assert_eq!(out, SyncOutcome::TimedOut(WAIT.timeout));
        assert!(out.problem().unwrap().contains("still pending after 10s"));
        assert_eq!(start.elapsed(), WAIT.timeout);
        // 1 + 2 + 4 + 3 (cut at the deadline) seconds.
        assert_eq!(polls.load(Ordering::SeqCst), 4);
    }
}
