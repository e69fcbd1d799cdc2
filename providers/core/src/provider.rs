//! The `Provider` trait, the change model and the provider error type.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::record::{RecordKey, RecordSet};

/// One change to one record set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Change {
    /// Create a set that must not exist yet.
    Create {
        /// The set to create.
        new: Arc<RecordSet>,
    },
    /// Replace a set whose current content must be exactly `old` (same key as `new`).
    Replace {
        /// The set as the provider holds it now.
        old: Arc<RecordSet>,
        /// The set it becomes.
        new: Arc<RecordSet>,
    },
    /// Delete a set whose current content must be exactly `old`.
    Delete {
        /// The set as the provider holds it now.
        old: Arc<RecordSet>,
    },
}

impl Change {
    /// Creates `new`, which must not exist yet.
    pub fn create(new: impl Into<Arc<RecordSet>>) -> Self {
        Self::Create { new: new.into() }
    }

    /// Replaces `old`, which must be exactly what the provider holds, with `new`.
    pub fn replace(old: impl Into<Arc<RecordSet>>, new: impl Into<Arc<RecordSet>>) -> Self {
        Self::Replace {
            old: old.into(),
            new: new.into(),
        }
    }

    /// Deletes `old`, which must be exactly what the provider holds.
    pub fn delete(old: impl Into<Arc<RecordSet>>) -> Self {
        Self::Delete { old: old.into() }
    }

    /// The set after the change (created or new), shared; the deleted set for a deletion.
    pub fn subject_shared(&self) -> &Arc<RecordSet> {
        match self {
            Self::Create { new } | Self::Replace { new, .. } => new,
            Self::Delete { old } => old,
        }
    }

    /// The name the change touches.
    pub fn name(&self) -> &str {
        &self.subject().name
    }

    /// The key of the set the change touches.
    pub fn key(&self) -> RecordKey {
        self.subject().key()
    }

    /// The set after the change (created or new), or the deleted set.
    pub fn subject(&self) -> &RecordSet {
        match self {
            Self::Create { new } | Self::Replace { new, .. } => new,
            Self::Delete { old } => old,
        }
    }

    /// `create`, `replace` or `delete`.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Replace { .. } => "replace",
            Self::Delete { .. } => "delete",
        }
    }

    /// How many records this change counts for against a per-request limit where a replace
    /// (Route53 UPSERT, or Cloud DNS deletion + addition) counts `replace_cost` times.
    pub fn cost(&self, replace_cost: usize) -> usize {
        let records = |s: &RecordSet| s.values.len().max(1);
        match self {
            Self::Create { new } => records(new),
            Self::Delete { old } => records(old),
            Self::Replace { old, new } => records(old).max(records(new)) * replace_cost,
        }
    }

    /// Characters of values this change counts for against a per-request size limit.
    pub fn value_chars(&self, replace_cost: usize) -> usize {
        match self {
            Self::Create { new } => new.value_chars(),
            Self::Delete { old } => old.value_chars(),
            Self::Replace { old, new } => old.value_chars().max(new.value_chars()) * replace_cost,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { new } => write!(f, "create {} {} {}", new.key(), new.ttl, new.describe_values()),
            Self::Replace { old, new } => write!(
                f,
                "replace {} {} {} -> {} {}",
                new.key(),
                old.ttl,
                old.describe_values(),
                new.ttl,
                new.describe_values()
            ),
            Self::Delete { old } => write!(f, "delete {} {} {}", old.key(), old.ttl, old.describe_values()),
        }
    }
}

/// What a provider can represent beyond plain record sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Weighted record sets (several sets per name/type, each with a weight).
    pub weighted: bool,
    /// Latency-based record sets (Route53).
    pub latency: bool,
    /// Geo-routed record sets (Cloud DNS).
    pub geo: bool,
    /// Alias record sets (Route53 alias targets).
    pub alias: bool,
    /// Wildcard names (`*.example.com`) answer for the names below them that hold nothing.
    #[serde(default)]
    pub wildcard: bool,
}

/// Per-request limits of a provider; the applier splits changes into batches within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Records per request (Route53: 1,000).
    pub max_records_per_batch: usize,
    /// Characters of values per request (Route53: 32,000).
    pub max_value_chars_per_batch: usize,
    /// How many times a replace counts against the limits (Route53 UPSERT: 2).
    pub replace_cost: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records_per_batch: 1000,
            max_value_chars_per_batch: 32_000,
            replace_cost: 2,
        }
    }
}

/// Errors a provider returns. `Invalid` and `Conflict` reject a whole batch and leave the zone
/// unchanged; `Transient` may be retried as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The batch is malformed or breaks a rule of the zone (a CNAME beside other types, a name
    /// outside the zone, an unsupported routing policy, two changes to one set). Nothing applied.
    #[error("invalid change for {key}: {reason}")]
    Invalid {
        /// The set the provider complained about.
        key: RecordKey,
        /// What is wrong.
        reason: String,
    },
    /// The zone does not hold what the batch expected (create over an existing set, delete or
    /// replace of a set that differs or is gone): the caller's view is stale. Nothing applied.
    #[error("conflict on {key}: {reason}")]
    Conflict {
        /// The set whose current state differs.
        key: RecordKey,
        /// What differs.
        reason: String,
    },
    /// The batch exceeds the provider's per-request limits. Nothing applied.
    #[error("batch too large: {0}")]
    TooLarge(String),
    /// Throttling, a server error or a network failure: retry with backoff.
    #[error("transient provider error: {message}")]
    Transient {
        /// What failed, with the call it failed in.
        message: String,
        /// The error the provider's API or transport returned, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Anything else (authentication, zone not found, a broken response).
    #[error("provider error: {message}")]
    Other {
        /// What failed, with the call it failed in.
        message: String,
        /// The error the provider's API or transport returned, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

/// The cause a [`ProviderError`] keeps: whatever error the provider's API or transport gave.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl ProviderError {
    /// [`Self::Invalid`] for `key`.
    pub fn invalid(key: RecordKey, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            reason: reason.into(),
        }
    }

    /// [`Self::Conflict`] for `key`.
    pub fn conflict(key: RecordKey, reason: impl Into<String>) -> Self {
        Self::Conflict {
            key,
            reason: reason.into(),
        }
    }

    /// [`Self::Transient`] without an underlying error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            source: None,
        }
    }

    /// [`Self::Transient`] caused by `source`; `message` says what failed (the message is what
    /// a user reads, so it usually includes the source's text too).
    pub fn transient_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Transient {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// [`Self::Other`] without an underlying error.
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other {
            message: message.into(),
            source: None,
        }
    }

    /// [`Self::Other`] caused by `source` (see [`Self::transient_from`]).
    pub fn other_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Other {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// True when retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// A short low-cardinality label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::Conflict { .. } => "conflict",
            Self::TooLarge(_) => "too_large",
            Self::Transient { .. } => "transient",
            Self::Other { .. } => "other",
        }
    }
}

/// A DNS provider holding one zone.
///
/// `list` returns every record set of the zone (including sets feddns does not own); `apply`
/// applies a batch atomically: either every change takes effect, in order, or none does.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics (`embedded`, `route53`, ...).
    fn kind(&self) -> &'static str;

    /// The zone apex, lower-case without the trailing dot.
    fn zone(&self) -> &str;

    /// What this provider can represent.
    fn capabilities(&self) -> Capabilities;

    /// Per-request limits.
    fn limits(&self) -> Limits;

    /// Every record set in the zone.
    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError>;

    /// Apply a batch atomically, in order.
    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError>;

    /// Every record set in the zone, shared: a provider that keeps its sets in memory hands out
    /// the very sets it holds, so whoever keeps the listing (the controller's cache) adds no
    /// copy. The default wraps [`Self::list`].
    async fn list_shared(&self) -> Result<Vec<Arc<RecordSet>>, ProviderError> {
        Ok(self.list().await?.into_iter().map(Arc::new).collect())
    }

    /// Re-reads the record sets at `names` (lower-case, without the trailing dot), for a caller
    /// whose view of those names turned out stale. The default lists the whole zone and keeps
    /// those names; providers whose API can read single names do better.
    async fn list_names(&self, names: &[String]) -> Result<Vec<RecordSet>, ProviderError> {
        let wanted: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|s| wanted.contains(s.name.as_str()))
            .collect())
    }

    /// Which calls the provider retries itself with [`crate::Retrier`]; a caller makes a single
    /// attempt of those, so that no call is retried at two levels. The default: none.
    fn self_retried(&self) -> SelfRetried {
        SelfRetried::default()
    }

    /// Requests sent to the provider's API so far, by operation, with their errors and
    /// throttles, for metrics. Providers without a remote API have none.
    fn api_stats(&self) -> ApiStats {
        ApiStats::default()
    }

    /// Requests sent to the provider's API so far, by operation.
    fn api_calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.api_stats().calls
    }
}

/// Which of a provider's calls the provider retries itself (see [`Provider::self_retried`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SelfRetried {
    /// `list`, `list_shared` and `list_names`: every request of a listing is retried.
    pub reads: bool,
    /// `apply`: a batch the service throttled or never received is sent again.
    pub writes: bool,
}

/// A provider's API counters, by operation name (`ListResourceRecordSets`, `changes.create`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiStats {
    /// Requests sent (each page and each retry counts), by operation.
    pub calls: std::collections::BTreeMap<String, u64>,
    /// Requests the provider answered with a throttling error, by operation.
    pub throttles: std::collections::BTreeMap<String, u64>,
    /// Requests that failed for any reason (throttles included), by operation.
    pub errors: std::collections::BTreeMap<String, u64>,
}
