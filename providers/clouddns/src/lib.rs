//! The feddns Google Cloud DNS provider.
//!
//! [`CloudDnsProvider`] implements [`feddns_provider::Provider`] for one Cloud DNS managed zone
//! over the narrow [`CloudDnsApi`] trait. Its production implementation, [`RestApi`], speaks the
//! Cloud DNS v1 REST API with `reqwest` (rustls on ring) and gets OAuth2 access tokens from a
//! [`gcp_auth::TokenProvider`]: a service-account JSON file, or gcp_auth's default chain
//! (`GOOGLE_APPLICATION_CREDENTIALS`, the application-default credentials file, the metadata
//! server / Workload Identity, `gcloud`).
//!
//! With feature `fake`, `fake::FakeCloudDns` is a strict Cloud DNS v1 server on loopback
//! (managed zones, rrsets, changes, a service-account `/token` endpoint, fault injection) for
//! this crate's and other crates' tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), feddns_clouddns::CloudDnsError> {
//! use feddns_provider::Provider;
//! let cfg = feddns_clouddns::CloudDnsConfig {
//!     project: Some("my-project".into()),
//!     dns_name: Some("example.com".into()),
//!     ..Default::default()
//! };
//! let provider = feddns_clouddns::CloudDnsProvider::connect(&cfg).await?;
//! let sets = provider.list().await;
//! # let _ = sets;
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
mod provider;
mod rest;
pub mod wire;

pub use api::{ApiError, ApiErrorKind, CloudDnsApi, ManagedZonePage, Operation, RrsetPage, RrsetQuery};
pub use config::{CloudDnsConfig, DEFAULT_BASE_URL};
pub use error::CloudDnsError;
pub use feddns_provider::ApiStats;
pub use provider::{
    CloudDnsProvider, DEFAULT_PAGE_SIZE, MAX_ADDITIONS_PER_CHANGE, MAX_DELETIONS_PER_CHANGE,
    MAX_RRDATA_BYTES_PER_CHANGE, MAX_RRDATAS_PER_RRSET,
};
pub use rest::{RestApi, SCOPE};

/// The authentication crate this provider is built on, for callers that need its types (for
/// example to build a [`gcp_auth::CustomServiceAccount`] for
/// [`CloudDnsProvider::with_token_provider`]).
pub use gcp_auth;
