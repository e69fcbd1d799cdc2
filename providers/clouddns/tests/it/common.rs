//! Helpers shared by the tests.

use std::sync::Arc;
use std::time::Duration;

use feddns_clouddns::fake::{FakeCloudDns, StaticTokenProvider};
use feddns_clouddns::wire::WireRrset;
use feddns_clouddns::{CloudDnsConfig, CloudDnsProvider, RestApi};
use feddns_provider::{RecordSet, RecordType, Routing};

pub(crate) const PROJECT: &str = "feddns-test";
pub(crate) const MZ: &str = "example-com";
pub(crate) const ZONE: &str = "example.com";
pub(crate) const TOKEN: &str = "ya29.test-token";

/// A fake with the zone `example.com` (managed zone `example-com`) and [`TOKEN`] accepted.
pub(crate) async fn fake() -> FakeCloudDns {
    let fake = FakeCloudDns::start().await.expect("fake starts");
    fake.add_zone(PROJECT, MZ, ZONE);
    fake.add_token(TOKEN);
    fake
}

/// Settings for tests: the zone by DNS name, the fake's URL and no practical rate limit.
pub(crate) fn config(fake: &FakeCloudDns) -> CloudDnsConfig {
    CloudDnsConfig {
        project: Some(PROJECT.into()),
        dns_name: Some(ZONE.into()),
        base_url: fake.base_url(),
        requests_per_second: 10_000.0,
        ..CloudDnsConfig::default()
    }
}

/// A provider over the fake with [`config`] changed by `tweak`, authenticated with [`TOKEN`].
pub(crate) async fn provider_with(
    fake: &FakeCloudDns,
    tweak: impl FnOnce(&mut CloudDnsConfig),
) -> CloudDnsProvider {
    let mut cfg = config(fake);
    tweak(&mut cfg);
    CloudDnsProvider::with_token_provider(&cfg, Arc::new(StaticTokenProvider::new(TOKEN, None)))
        .await
        .expect("provider over the fake")
        .with_retry_backoff(Duration::from_millis(5))
}

pub(crate) async fn provider(fake: &FakeCloudDns) -> CloudDnsProvider {
    provider_with(fake, |_| {}).await
}

/// The raw REST client, for checking the fake's rules directly.
pub(crate) fn rest(fake: &FakeCloudDns) -> RestApi {
    RestApi::new(&fake.base_url(), Arc::new(StaticTokenProvider::new(TOKEN, None))).expect("client")
}

pub(crate) fn name(label: &str) -> String {
    format!("{label}.{ZONE}")
}

pub(crate) fn a(label: &str, ttl: u32, ips: &[&str]) -> RecordSet {
    RecordSet::new(
        &name(label),
        RecordType::A,
        ttl,
        ips.iter().map(|s| (*s).to_string()),
    )
}

pub(crate) fn geo(label: &str, location: &str, ips: &[&str]) -> RecordSet {
    a(label, 60, ips).with_routing(Routing::Geo {
        set_id: location.into(),
        location: location.into(),
    })
}

/// A plain wire rrset.
pub(crate) fn wire(label: &str, rtype: &str, ttl: i64, rrdatas: &[&str]) -> WireRrset {
    WireRrset {
        name: format!("{}.", name(label)),
        rtype: rtype.into(),
        ttl: Some(ttl),
        rrdatas: rrdatas.iter().map(|s| (*s).to_string()).collect(),
        ..WireRrset::default()
    }
}

/// The (location, rrdatas) items of a stored geo rrset.
pub(crate) fn geo_items(w: &WireRrset) -> Vec<(String, Vec<String>)> {
    w.routing_policy
        .as_ref()
        .and_then(|p| p.geo.as_ref())
        .map(|g| {
            g.items
                .iter()
                .map(|i| {
                    let mut r = i.rrdatas.clone();
                    r.sort();
                    (i.location.clone(), r)
                })
                .collect()
        })
        .unwrap_or_default()
}
