//! Helpers shared by the tests.

use std::sync::{Arc, Mutex};

use feddns_provider::{RecordSet, RecordType, Routing};
use feddns_route53::fake::FakeRoute53;
use feddns_route53::{
    ApiError, ChangeAction, ChangeInfo, HostedZonePage, RecordPage, RecordPageStart, Route53Api,
    Route53Config, Route53Provider, WireChange, WireRecordSet,
};

pub(crate) const ZONE: &str = "example.com";

/// A fake account with one zone `example.com`; returns the fake and the zone id.
pub(crate) fn fake_zone() -> (Arc<FakeRoute53>, String) {
    let fake = Arc::new(FakeRoute53::new());
    let id = fake.add_zone(ZONE);
    (fake, id)
}

/// Settings for tests: the zone by name and no practical rate limit.
pub(crate) fn test_config() -> Route53Config {
    Route53Config {
        zone_name: Some(ZONE.into()),
        requests_per_second: 10_000.0,
        ..Route53Config::default()
    }
}

/// A provider over `api` for `example.com` with [`test_config`] changed by `tweak`.
pub(crate) async fn provider_with(
    api: Arc<dyn Route53Api>,
    tweak: impl FnOnce(&mut Route53Config),
) -> Route53Provider {
    let mut cfg = test_config();
    tweak(&mut cfg);
    Route53Provider::with_api_config(api, &cfg)
        .await
        .expect("provider over the fake")
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

pub(crate) fn txt(label: &str, values: &[&str]) -> RecordSet {
    RecordSet::new(
        &name(label),
        RecordType::Txt,
        60,
        values.iter().map(|s| (*s).to_string()),
    )
}

pub(crate) fn latency(label: &str, region: &str, ip: &str) -> RecordSet {
    a(label, 60, &[ip]).with_routing(Routing::Latency {
        set_id: region.into(),
        region: region.into(),
    })
}

pub(crate) fn weighted(label: &str, id: &str, weight: u32, ip: &str) -> RecordSet {
    a(label, 60, &[ip]).with_routing(Routing::Weighted {
        set_id: id.into(),
        weight,
    })
}

/// A wire set for direct calls to the fake.
pub(crate) fn wire(label: &str, rtype: &str, ttl: i64, values: &[&str]) -> WireRecordSet {
    WireRecordSet {
        name: format!("{}.", name(label)),
        rtype: rtype.into(),
        ttl: Some(ttl),
        values: values.iter().map(|s| (*s).to_string()).collect(),
        ..WireRecordSet::default()
    }
}

pub(crate) fn ch(action: ChangeAction, set: &WireRecordSet) -> WireChange {
    WireChange {
        action,
        set: set.clone(),
    }
}

/// A [`Route53Api`] that records every change batch and forwards everything to a fake.
pub(crate) struct Recorder {
    pub(crate) inner: Arc<FakeRoute53>,
    pub(crate) batches: Mutex<Vec<Vec<WireChange>>>,
}

impl Recorder {
    pub(crate) fn new(inner: Arc<FakeRoute53>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            batches: Mutex::new(Vec::new()),
        })
    }

    /// The actions of the last batch, with the names they touched.
    pub(crate) fn last_actions(&self) -> Vec<(ChangeAction, String)> {
        self.batches
            .lock()
            .unwrap()
            .last()
            .map(|b| b.iter().map(|c| (c.action, c.set.name.clone())).collect())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Route53Api for Recorder {
    async fn list_hosted_zones_by_name(
        &self,
        dns_name: Option<&str>,
        hosted_zone_id: Option<&str>,
        max_items: i32,
    ) -> Result<HostedZonePage, ApiError> {
        self.inner
            .list_hosted_zones_by_name(dns_name, hosted_zone_id, max_items)
            .await
    }

    async fn list_resource_record_sets(
        &self,
        zone_id: &str,
        start: &RecordPageStart,
        max_items: i32,
    ) -> Result<RecordPage, ApiError> {
        self.inner
            .list_resource_record_sets(zone_id, start, max_items)
            .await
    }

    async fn change_resource_record_sets(
        &self,
        zone_id: &str,
        changes: &[WireChange],
    ) -> Result<ChangeInfo, ApiError> {
        self.batches.lock().unwrap().push(changes.to_vec());
        self.inner.change_resource_record_sets(zone_id, changes).await
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ApiError> {
        self.inner.get_change(change_id).await
    }
}
