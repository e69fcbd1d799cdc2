//! The feddns Route53 provider.
//!
//! [`Route53Provider`] implements [`feddns_provider::Provider`] for one hosted zone over the
//! narrow [`Route53Api`] trait, which has two implementations:
//!
//! * [`SdkApi`]: the real service through `aws-sdk-route53` (default credential chain: env,
//!   profile, web identity / IRSA, ECS, IMDS; endpoint and region overridable for tests);
//! * `fake::FakeRoute53` (feature `fake`): a strict in-memory Route53 that enforces the service's
//!   documented rules, with throttling and error injection, for this crate's and other crates'
//!   tests (`feddns-route53 = { path = "...", features = ["fake"] }`), also served over HTTP in
//!   Route53's REST-XML protocol for the real SDK (`fake::http`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), feddns_route53::Route53Error> {
//! use feddns_provider::Provider;
//! let cfg = feddns_route53::Route53Config {
//!     zone_name: Some("example.com".into()),
//!     ..Default::default()
//! };
//! let provider = feddns_route53::Route53Provider::connect(&cfg).await?;
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
#[cfg(feature = "fake")]
pub mod moto;
mod provider;
mod sdk;
pub mod wire;

pub use api::{
    ApiError, ApiErrorKind, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, HostedZonePage, Operation,
    RecordPage, RecordPageStart, Route53Api, WireAlias, WireChange, WireCidrRouting, WireGeoLocation,
    WireGeoProximity, WireRecordSet,
};
pub use config::Route53Config;
pub use error::Route53Error;
pub use feddns_provider::ApiStats;
pub use provider::{MAX_PAGE_SIZE, MAX_RECORDS_PER_REQUEST, MAX_VALUE_CHARS_PER_REQUEST, Route53Provider};
pub use sdk::{DEFAULT_REGION, SdkApi};

/// The AWS SDK crates this provider is built on, for callers that need their types (for
/// example [`Credentials`](aws_sdk_route53::config::Credentials) for [`SdkApi::with_credentials`]).
pub use aws_sdk_route53;
