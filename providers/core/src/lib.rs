//! The record model, the [`Provider`] trait, the in-memory reference provider and the provider
//! conformance suite shared by every feddns DNS provider.
//!
//! Providers depend on this crate only; the controller (root crate `feddns`) depends on it and on
//! every provider.

mod batch;
pub mod conformance;
mod gate;
pub mod memory;
mod name;
pub mod parse_error;
pub mod probe;
mod provider;
mod record;
mod slots;

pub use batch::{check_batch, check_limits};
pub use gate::ApiGate;
pub use memory::{MemoryProvider, ZoneState};
pub use name::DnsName;
pub use parse_error::ParseError;
pub use provider::{ApiStats, Capabilities, Change, Limits, Provider, ProviderError};
pub use record::{
    AliasTarget, RecordKey, RecordSet, RecordType, Routing, Unmodelled, in_zone, normalize_name,
};
pub use slots::SetsAtName;
