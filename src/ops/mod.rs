//! Operations: the admin port (health, readiness, metrics, status), the Prometheus metrics and
//! the status report.
//!
//! Owns: what an operator reads. May not: change state; it only reads what the controller,
//! the members and the stub publish.

pub mod admin;
pub mod metrics;
pub mod status;
