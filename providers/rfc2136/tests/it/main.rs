//! Integration tests of the RFC 2136 provider against real BIND 9 and Knot servers, each started
//! by the test on a free port of 127.0.0.1 with its own zone and TSIG key (see
//! `feddns_rfc2136::testing`). They need `named` and `knotd` and are ignored by a plain
//! `cargo test`; `tests/run-all.sh` installs both and runs them.

mod conformance;
mod provider;
