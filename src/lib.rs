//! feddns: a federated DNS controller for Kubernetes.
//!
//! Data flow: member sources ([`members`]) feed the pure federation [`index`]; the [`planner`]
//! turns dirty Services into desired record sets; [`diff`] compares them with the provider cache
//! (owned names only, see [`ownership`]); [`plan`] applies the safety rules; the applier writes
//! batches to a `feddns_provider::Provider`.

pub mod admin;
pub mod applier;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod controller;
pub mod diff;
pub mod hosts;
pub mod index;
pub mod leader;
pub mod members;
pub mod metrics;
pub mod model;
pub mod names;
pub mod ownership;
pub mod parse_errors;
pub mod plan;
pub mod planner;
pub mod regions;
pub mod resolver;
pub mod runner;
pub mod selector;
pub mod status;
pub mod stub;
pub mod writer;
