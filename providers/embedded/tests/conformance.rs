//! The provider conformance suite against the embedded server. Each case starts its own server
//! on 127.0.0.1 port 0; dropping the provider at the end of the case stops it.

use feddns_embedded::{EmbeddedConfig, EmbeddedProvider};

feddns_provider::conformance_tests!(async {
    std::sync::Arc::new(
        EmbeddedProvider::start(EmbeddedConfig {
            zone: "example.com".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
        })
        .await
        .unwrap(),
    )
});
