//! The provider conformance suite against the strict fake Cloud DNS.

/// Default pages (the fake's cap of 100 rrsets).
mod default_pages {
    use crate::common::{fake, provider};

    feddns_provider::conformance_tests!(async {
        let fake = fake().await;
        let p = provider(&fake).await;
        // The server lives as long as the test's runtime.
        Box::leak(Box::new(fake));
        std::sync::Arc::new(p)
    });
}

/// Pages of at most 7 rrsets, so listings and filtered reads cross many page boundaries.
mod small_pages {
    use crate::common::{fake, provider};

    feddns_provider::conformance_tests!(async {
        let fake = fake().await;
        fake.set_page_size(7);
        let p = provider(&fake).await;
        Box::leak(Box::new(fake));
        std::sync::Arc::new(p)
    });
}
