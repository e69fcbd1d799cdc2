//! The feddns RFC 2136 provider: a zone on a primary DNS server (BIND 9, Knot, ...) written with
//! TSIG-signed dynamic updates (RFC 2136, RFC 8945) and listed by TSIG-signed zone transfer
//! (RFC 5936), built on hickory-proto's message and TSIG code over a TCP connection of its own.
//!
//! [`Rfc2136Provider`] implements [`feddns_provider::Provider`]; see it for the prerequisites
//! that make every UPDATE exact, and for how answers map to errors.
//!
//! With feature `testing`, `testing` starts real BIND 9 (`named`) and Knot (`knotd`) servers on
//! loopback, with a zone and a TSIG key made for the test, for this crate's and other crates'
//! tests and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), feddns_rfc2136::Rfc2136Error> {
//! use feddns_provider::Provider;
//! let cfg: feddns_rfc2136::Rfc2136Config = serde_json::from_str(
//!     r#"{"server": "127.0.0.1:53", "tsig": {"name": "feddns-key", "secret_env": "FEDDNS_TSIG_SECRET"}}"#,
//! ).unwrap();
//! let provider = feddns_rfc2136::Rfc2136Provider::connect(&cfg, "example.com").await?;
//! let sets = provider.list().await;
//! # let _ = sets;
//! # Ok(())
//! # }
//! ```

mod config;
mod conn;
mod error;
mod provider;
#[cfg(feature = "testing")]
pub mod testing;
mod tsig;
mod wire;

pub use config::{
    DEFAULT_MAX_CHANGES_PER_UPDATE, MAX_CHANGES_PER_UPDATE, Rfc2136Config, Transfer, TsigConfig, TsigKey,
    parse_algorithm,
};
pub use error::{Answer, Operation, Rfc2136Error, Target};
pub use provider::{DEFAULT_TIMEOUT, MAX_VALUE_CHARS_PER_UPDATE, Rfc2136Provider, TransferInfo};
