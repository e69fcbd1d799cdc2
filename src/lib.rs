//! feddns: a federated DNS controller for Kubernetes.

pub mod members;
pub mod model;
