//! Integration tests of the Cloud DNS provider against the strict fake: the conformance suite,
//! authentication (service-account files and the token endpoint), the provider's own behaviour
//! (paging, geo routing, conflicts, retries, stale views) and the fake's rules.

mod auth;
mod common;
mod conformance_fake;
mod fake_rules;
mod provider;
