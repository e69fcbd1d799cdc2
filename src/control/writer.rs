//! The writer: the one task that talks to the provider, fed by the planning loop.
//!
//! ```text
//! controller loop ──Job──► writer ──► provider
//!        ▲                   │
//!        └──────Report───────┘   (listings, every accepted batch, re-reads, outcomes)
//! ```
//!
//! The loop never awaits the provider, so it keeps indexing member events, answering `/status`
//! and beating `/healthz` during a long listing or a long apply. The writer does one job at a
//! time, and the loop sends the next job only when the last one has reported, so a plan is always
//! made against a cache that holds every batch the provider accepted.
//!
//! Every provider call the writer makes first asks the [`Fence`]: this replica must still hold the
//! Lease within its renew deadline (a [`LeaseClock`] that expires by itself), and no stop may have
//! been asked. A stop lets the batch in flight finish and sends nothing after it; a listing in
//! flight is abandoned (it writes nothing).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use feddns_provider::{Change, Provider, RecordSet};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::control::applier::{self, ApplyOutcome, CallError, RetryPolicy};
use crate::control::controller::Stats;
use crate::control::leader::LeaseClock;
use crate::federation::diff::NameChanges;

/// Why the fence refuses a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// A stop was asked.
    Stopping,
    /// This replica does not hold the Lease within its renew deadline.
    NotLeading,
}

impl fmt::Display for Fenced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stopping => "stopping",
            Self::NotLeading => "not leading (the lease is not held within its renew deadline)",
        })
    }
}

/// What must hold for the writer to call the provider.
#[derive(Debug, Clone)]
pub struct Fence {
    lease: Option<Arc<LeaseClock>>,
    stop: watch::Receiver<bool>,
    /// Keeps the stop channel of an [`Fence::open`] fence alive.
    _keep: Option<Arc<watch::Sender<bool>>>,
}

impl Fence {
    /// A fence for `lease` (`None`: no election, this instance always writes) and `stop` (true,
    /// or its sender gone, means stop).
    pub fn new(lease: Option<Arc<LeaseClock>>, stop: watch::Receiver<bool>) -> Self {
        Self {
            lease,
            stop,
            _keep: None,
        }
    }

    /// A fence that is always open (for one-shot commands such as `feddns plan`).
    pub fn open() -> Self {
        let (tx, stop) = watch::channel(false);
        Self {
            lease: None,
            stop,
            _keep: Some(Arc::new(tx)),
        }
    }

    /// Whether a call may be made now.
    pub fn check(&self) -> Result<(), Fenced> {
        if *self.stop.borrow() || self.stop.has_changed().is_err() {
            return Err(Fenced::Stopping);
        }
        match &self.lease {
            Some(clock) if !clock.holds() => Err(Fenced::NotLeading),
            _ => Ok(()),
        }
    }

    /// Resolves once a stop is asked or the stop channel is gone.
    pub async fn stopping(&self) {
        let mut rx = self.stop.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Work for the writer.
#[derive(Debug)]
pub enum Job {
    /// List the whole zone.
    List,
    /// Apply a plan's changes, in batches.
    Apply(Vec<NameChanges>),
}

/// What the writer tells the loop.
#[derive(Debug)]
pub enum Report {
    /// A listing of the whole zone.
    Listed(Result<Vec<Arc<RecordSet>>, CallError>),
    /// One batch the provider accepted: record it in the cache.
    Accepted(Vec<Change>),
    /// A re-read of names whose cached state turned out stale.
    Reread {
        /// The names re-read.
        names: BTreeSet<String>,
        /// What the provider holds at them.
        sets: Result<Vec<Arc<RecordSet>>, CallError>,
    },
    /// The end of an [`Job::Apply`].
    Applied(ApplyOutcome),
}

/// The running writer task. Dropping it aborts the task (as a crash would); [`Writer::finish`]
/// lets it end on its own.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    reports: mpsc::UnboundedReceiver<Report>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Writer {
    /// Starts the writer for `provider`, fenced by `fence`.
    pub fn spawn(provider: Arc<dyn Provider>, fence: Fence, retry: RetryPolicy, stats: Arc<Stats>) -> Self {
        let (jobs, rx) = mpsc::channel(1);
        let (tx, reports) = mpsc::unbounded_channel();
        let task = tokio::spawn(work(provider, fence, retry, stats, rx, tx));
        Self {
            jobs,
            reports,
            task: Some(task),
        }
    }

    /// Hands the writer a job. The loop sends one only when the last one has reported, so this
    /// never waits; it fails only when the writer has stopped.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }

    /// The next report (`None` once the writer has stopped and every report was taken).
    pub async fn report(&mut self) -> Option<Report> {
        self.reports.recv().await
    }

    /// Waits for the writer to finish (after a stop was asked through the fence), and returns
    /// the reports it made meanwhile, so the caller's cache stays true to the provider.
    pub async fn finish(mut self) -> Vec<Report> {
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
            && e.is_panic()
        {
            warn!("the writer task panicked");
        }
        let mut out = Vec::new();
        while let Ok(r) = self.reports.try_recv() {
            out.push(r);
        }
        out
    }
}

async fn work(
    provider: Arc<dyn Provider>,
    fence: Fence,
    retry: RetryPolicy,
    stats: Arc<Stats>,
    mut jobs: mpsc::Receiver<Job>,
    reports: mpsc::UnboundedSender<Report>,
) {
    loop {
        let job = tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break,
            },
            () = fence.stopping() => break,
        };
        let report = match job {
            Job::List => {
                // A listing writes nothing: a stop abandons it at once.
                let listing =
                    applier::retry_transient(retry, "list", &fence, provider.self_retried().reads, || {
                        stats.provider_lists.fetch_add(1, Ordering::SeqCst);
                        provider.list_shared()
                    });
                tokio::select! {
                    sets = listing => Report::Listed(sets),
                    () = fence.stopping() => break,
                }
            }
            Job::Apply(groups) => {
                let outcome = applier::apply(provider.as_ref(), groups, retry, &fence, |changes| {
                    let _ = reports.send(Report::Accepted(changes));
                })
                .await;
                stats
                    .provider_applies
                    .fetch_add(outcome.requests as u64, Ordering::SeqCst);
                stats
                    .changes_applied
                    .fetch_add(outcome.applied as u64, Ordering::SeqCst);
                if outcome.fenced.is_some() {
                    stats.fenced_plans.fetch_add(1, Ordering::SeqCst);
                }
                if !outcome.stale.is_empty() {
                    let names: BTreeSet<String> = outcome
                        .stale
                        .iter()
                        .flat_map(|g| g.changes.iter().map(|c| c.name().to_string()))
                        .collect();
                    warn!(
                        names = names.len(),
                        "zone changed behind our back; re-reading those names"
                    );
                    let wanted: Vec<String> = names.iter().cloned().collect();
                    let sets = applier::retry_transient(
                        retry,
                        "list",
                        &fence,
                        provider.self_retried().reads,
                        || {
                            stats.provider_lists.fetch_add(1, Ordering::SeqCst);
                            provider.list_names(&wanted)
                        },
                    )
                    .await
                    .map(|sets| sets.into_iter().map(Arc::new).collect());
                    let _ = reports.send(Report::Reread { names, sets });
                }
                Report::Applied(outcome)
            }
        };
        if reports.send(report).is_err() {
            break;
        }
    }
}
