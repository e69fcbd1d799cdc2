//! Integration tests of the Route53 provider: the conformance suite against the strict fake, in
//! process and served over HTTP through the real SDK (and, ignored unless moto is installed,
//! through the real SDK against moto's server), the fake's rules, and the provider's own
//! behaviour.

mod common;
mod conformance_fake;
mod fake_rules;
mod http;
mod moto;
mod provider;
