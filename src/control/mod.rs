//! The running controller: the reconcile loop, the writer task that makes every provider call
//! (fenced by the Lease and by a stop) with the applier's batching and retries, leader election,
//! hostname resolution and the runner that wires one `feddns run` together.
//!
//! Owns: time, tasks and the provider. May not: decide records itself (that is
//! [`crate::federation`]'s) or talk to member clusters directly (that is [`crate::members`]'s).

pub mod applier;
pub mod backoff;
pub mod controller;
pub mod leader;
pub mod resolver;
pub mod runner;
pub mod writer;
