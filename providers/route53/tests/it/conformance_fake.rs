//! The provider conformance suite against the strict fake Route53.

/// Default pages (300 sets).
mod default_pages {
    use crate::common::{fake_zone, provider_with};

    feddns_provider::conformance_tests!(async {
        let (fake, _) = fake_zone();
        std::sync::Arc::new(provider_with(fake, |_| {}).await)
    });
}

/// Pages of at most 3 sets, so listings cross many page boundaries, some inside groups of
/// routed sets (followed with `NextRecordIdentifier`).
mod small_pages {
    use crate::common::{fake_zone, provider_with};

    feddns_provider::conformance_tests!(async {
        let (fake, _) = fake_zone();
        fake.set_page_cap(3);
        std::sync::Arc::new(provider_with(fake, |_| {}).await)
    });
}
