//! Integration tests: one binary, a module per area.

mod common;
mod controller;
mod demo;
mod deploy;
mod kube;
mod route53;
mod stub;
