//! feddns: a federated DNS controller for Kubernetes.
//!
//! Data flow: member sources ([`members`]) feed the pure federation [`index`](federation::index);
//! the [`planner`](federation::planner) turns dirty Services and hosts into desired record sets;
//! [`diff`](federation::diff) compares them with the provider cache (owned names only, see
//! [`ownership`](federation::ownership)); [`plan`](federation::plan) applies the safety rules;
//! the [`applier`](control::applier) writes batches to a `feddns_provider::Provider`.
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
