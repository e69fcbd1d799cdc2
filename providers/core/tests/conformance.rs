//! The reference provider passes its own suite, with and without routing support.

use std::sync::Arc;

use feddns_provider::{Capabilities, Limits, MemoryProvider};

mod plain {
    use super::*;
    feddns_provider::conformance_tests!(async { Arc::new(MemoryProvider::plain("example.com")) });
}

mod routed {
    use super::*;
    feddns_provider::conformance_tests!(async {
        let caps = Capabilities {
            weighted: true,
            latency: true,
            geo: true,
            alias: true,
            wildcard: true,
        };
        Arc::new(MemoryProvider::new(
            "Example.COM.",
            caps,
            Limits {
                max_records_per_batch: 700,
                ..Limits::default()
            },
        ))
    });
}
