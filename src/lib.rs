//! feddns: a federated DNS controller for Kubernetes.
//!
//! Data flow: member sources ([`members`]) feed the pure federation [`index`]; the [`planner`]
//! turns dirty Services into desired record sets; [`diff`] compares them with the provider cache
//! (owned names only, see [`ownership`]); [`plan`] applies the safety rules; the applier writes
//! batches to a `feddns_provider::Provider`.
//!
//! Layout: [`federation`] is the pure core (no I/O), [`control`] the running controller,
//! [`members`] the member edge (Kubernetes clusters, snapshot files, discovery), [`ops`] what
//! operators read (admin port, metrics, status), [`stub`] the in-cluster DNS stub; [`config`]
//! and [`cli`] sit on top.

pub mod cli;
pub mod config;
pub mod control;
pub mod federation;
pub mod members;
pub mod ops;
pub mod stub;

// The modules under their former paths (`crate::planner`, `feddns::controller`, ...).
pub use control::{applier, backoff, controller, leader, resolver, runner, writer};
pub use federation::{
    diff, hosts, index, model, names, ownership, parse_errors, plan, planner, regions, selector,
};
pub use ops::{admin, metrics, status};
