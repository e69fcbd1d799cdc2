//! Integration tests: one binary, a module per area.

mod clouddns;
mod common;
mod controller;
mod demo;
mod deploy;
mod discovery;
mod host;
mod ingress;
mod kube;
mod restart;
mod rfc2136;
mod route53;
mod stub;
mod writer;
