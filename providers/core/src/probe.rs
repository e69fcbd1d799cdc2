//! A provider in front of another, for tests and benchmarks: it counts every call, records every
//! accepted batch with the time its call started, and can hold listings and applies until it is
//! let go (a slow or hanging provider, without sleeping) or delay every listing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::{ApiStats, Capabilities, Change, Limits, Provider, ProviderError, RecordSet};

/// See the module documentation.
pub struct Probe {
    inner: Arc<dyn Provider>,
    limits: Option<Limits>,
    lists: AtomicU64,
    applies: watch::Sender<u64>,
    accepted: Mutex<Vec<(Instant, Vec<Change>)>>,
    lists_open: watch::Sender<bool>,
    applies_open: watch::Sender<bool>,
    list_delay: Mutex<Duration>,
}

impl Probe {
    /// A probe in front of `inner`.
    pub fn new(inner: Arc<dyn Provider>) -> Arc<Self> {
        Self::with_limits(inner, None)
    }

    /// With other per-request limits than the inner provider's (small batches).
    pub fn with_limits(inner: Arc<dyn Provider>, limits: Option<Limits>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            limits,
            lists: AtomicU64::new(0),
            applies: watch::channel(0).0,
            accepted: Mutex::new(Vec::new()),
            lists_open: watch::channel(true).0,
            applies_open: watch::channel(true).0,
            list_delay: Mutex::new(Duration::ZERO),
        })
    }

    /// Every call made through the probe (listings, re-reads and applies).
    pub fn calls(&self) -> u64 {
        self.lists() + self.applies()
    }

    /// Listing and re-reading calls made.
    pub fn lists(&self) -> u64 {
        self.lists.load(Ordering::SeqCst)
    }

    /// Apply calls made (held and refused ones included).
    pub fn applies(&self) -> u64 {
        *self.applies.borrow()
    }

    /// The changes of every accepted batch, in order.
    pub fn accepted_changes(&self) -> Vec<Change> {
        lock(&self.accepted)
            .iter()
            .flat_map(|(_, c)| c.iter().cloned())
            .collect()
    }

    /// Every accepted batch, with the time its call started.
    pub fn accepted(&self) -> Vec<(Instant, Vec<Change>)> {
        lock(&self.accepted).clone()
    }

    /// When each accepted batch's call started.
    pub fn accepted_at(&self) -> Vec<Instant> {
        lock(&self.accepted).iter().map(|(t, _)| *t).collect()
    }

    /// Holds (false) or lets go (true) listings.
    pub fn open_lists(&self, open: bool) {
        self.lists_open.send_replace(open);
    }

    /// Holds (false) or lets go (true) applies.
    pub fn open_applies(&self, open: bool) {
        self.applies_open.send_replace(open);
    }

    /// Makes every listing take at least `delay` (a large zone at a low request rate).
    pub fn delay_lists(&self, delay: Duration) {
        *lock(&self.list_delay) = delay;
    }

    /// Waits until `n` apply calls have started.
    pub async fn applies_started(&self, n: u64) {
        let mut rx = self.applies.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
    }

    async fn before_list(&self) {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let delay = *lock(&self.list_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        wait_open(&self.lists_open).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn wait_open(gate: &watch::Sender<bool>) {
    let mut rx = gate.subscribe();
    let _ = rx.wait_for(|open| *open).await;
}

#[async_trait::async_trait]
impl Provider for Probe {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn zone(&self) -> &str {
        self.inner.zone()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn limits(&self) -> Limits {
        self.limits.unwrap_or_else(|| self.inner.limits())
    }
    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        self.before_list().await;
        self.inner.list().await
    }
    async fn list_names(&self, names: &[String]) -> Result<Vec<RecordSet>, ProviderError> {
        self.before_list().await;
        self.inner.list_names(names).await
    }
    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        let at = Instant::now();
        self.applies.send_modify(|n| *n += 1);
        wait_open(&self.applies_open).await;
        self.inner.apply(changes).await?;
        lock(&self.accepted).push((at, changes.to_vec()));
        Ok(())
    }
    /// The inner provider's counters, and this probe's own calls as `apply` and `list`.
    fn api_stats(&self) -> ApiStats {
        let mut stats = self.inner.api_stats();
        stats.calls.insert("apply".into(), self.applies());
        stats.calls.insert("list".into(), self.lists());
        stats
    }
}
