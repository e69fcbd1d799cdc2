//! The record model, the [`Provider`] trait, the in-memory reference provider, the provider
//! conformance suite, and the toolkit every feddns DNS provider builds on: the set validator
//! ([`validate`]), the retry policy ([`retry`]), the wait-until-synced helper ([`synced`]) and
//! the pagination guard ([`pages`]). A provider uses these rather than its own copy.
//!
//! Providers depend on this crate only; the controller (root crate `feddns`) depends on it and on
//! every provider.

mod batch;
pub mod conformance;
mod gate;
pub mod memory;
mod name;
pub mod pages;
pub mod parse_error;
pub mod probe;
mod provider;
mod record;
pub mod retry;
mod slots;
pub mod synced;
pub mod txt;
pub mod validate;

pub use batch::{check_batch, check_limits};
pub use gate::ApiGate;
pub use memory::{MemoryProvider, ZoneState};
pub use name::DnsName;
pub use pages::{ListingStopped, MAX_PAGES, PageError, PageGuard};
pub use parse_error::ParseError;
pub use provider::{ApiStats, BoxError, Capabilities, Change, Limits, Provider, ProviderError, SelfRetried};
pub use record::{
    AliasTarget, RecordKey, RecordSet, RecordType, Routing, Unmodelled, in_zone, normalize_name,
};
pub use retry::{Backoff, ErrorClass, Jitter, Retrier, RetryPolicy};
pub use slots::SetsAtName;
pub use synced::{SyncOutcome, SyncPoll, SyncWait, wait_until_synced};
pub use validate::{SetRules, check_name, check_set, check_set_with, check_values};
