//! Integration tests: one binary, a module per area.

mod common;
mod controller;
mod demo;
mod kube;
mod route53;
