//! The controller with the Cloud DNS provider against the strict fake Cloud DNS server: latency
//! mode as geo routing items that follow regions gaining and losing healthy shards, and a
//! record changed behind feddns's back (a stale cache) repaired.

use std::path::Path;
use std::sync::Arc;

use feddns::config::{Config, ProviderConfig};
use feddns::controller::Controller;
use feddns::members::MemberEvent;
use feddns_clouddns::CloudDnsProvider;
use feddns_clouddns::fake::{FakeCloudDns, StaticTokenProvider};
use feddns_clouddns::wire::WireRrset;
use tokio::sync::{mpsc, oneshot};

use crate::common::*;
use crate::controller::snapshot;

const PROJECT: &str = "feddns-test";
const TOKEN: &str = "ya29.test";

/// `name`/`type` in the fake as `location=values` items (geo) or plain values.
fn items(fake: &FakeCloudDns, name: &str, rtype: &str) -> Vec<String> {
    let Some(r) = fake.rrset(PROJECT, "example-com", &format!("{name}."), rtype) else {
        return Vec::new();
    };
    match r.routing_policy.and_then(|p| p.geo) {
        Some(geo) => geo
            .items
            .iter()
            .map(|i| format!("{}={}", i.location, i.rrdatas.join(",")))
            .collect(),
        None => r.rrdatas,
    }
}

async fn expect_items(fake: &FakeCloudDns, name: &str, want: &[&str]) {
    eventually(&format!("{name} A holds {want:?}"), || async {
        let got = items(fake, name, "A");
        if got.iter().map(String::as_str).eq(want.iter().copied()) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn geo_items_follow_regions_and_a_stale_cache_recovers() {
    let fake = FakeCloudDns::start().await.unwrap();
    fake.add_zone(PROJECT, "example-com", "example.com");
    fake.add_token(TOKEN);
    let text = format!(
        "federation: myfed\ndomain: example.com\n\
         provider: {{ clouddns: {{ project: {PROJECT}, managed_zone: example-com, base_url: \"{}\" }} }}\n\
         routing: {{ policy: latency }}\n\
         members: [{{ name: gke, file: a.yaml }}, {{ name: eks, file: b.yaml }}, {{ name: aks, file: c.yaml }}]\n\
         controller: {{ debounce: 20ms, max_debounce: 200ms }}\n",
        fake.base_url()
    );
    let cfg = Config::parse(&text, Path::new("/nowhere/config.yaml")).unwrap();
    let ProviderConfig::Clouddns(c) = &cfg.provider else {
        panic!("a clouddns config")
    };
    let provider = CloudDnsProvider::with_token_provider(c, Arc::new(StaticTokenProvider::new(TOKEN, None)))
        .await
        .unwrap();
    let controller = Controller::new(&cfg, Arc::new(provider), Arc::new(NoResolve), false);
    let (tx, rx) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(rx, async {
        let _ = stopped.await;
    }));
    let send = |member: &str, region: &str, ip: &str, ready: usize| MemberEvent::Snapshot {
        member: member.into(),
        snapshot: snapshot(region, &[&format!("{region}-a")], ip, ready),
    };
    tx.send(send("gke", "us-east1", "192.0.2.1", 1)).await.unwrap();
    tx.send(send("eks", "eu-central-1", "192.0.2.2", 1))
        .await
        .unwrap();
    tx.send(send("aks", "westeurope", "192.0.2.3", 0)).await.unwrap();
    // One geo rrset at the global name, one item per GCP location with healthy shards.
    expect_items(&fake, GLOBAL, &["europe-west3=192.0.2.2", "us-east1=192.0.2.1"]).await;
    // Zone and region names are plain.
    assert_eq!(
        items(&fake, "nginx.default.myfed.svc.us-east1.example.com", "A"),
        vec!["192.0.2.1"]
    );
    // Azure West Europe gains a ready endpoint: its item appears; the others are unchanged.
    tx.send(send("aks", "westeurope", "192.0.2.3", 2)).await.unwrap();
    expect_items(
        &fake,
        GLOBAL,
        &[
            "europe-west3=192.0.2.2",
            "europe-west4=192.0.2.3",
            "us-east1=192.0.2.1",
        ],
    )
    .await;
    // The US loses its endpoints: its item goes.
    tx.send(send("gke", "us-east1", "192.0.2.1", 0)).await.unwrap();
    expect_items(
        &fake,
        GLOBAL,
        &["europe-west3=192.0.2.2", "europe-west4=192.0.2.3"],
    )
    .await;

    // Behind feddns's back, someone edits the region name's record. The next change to it is
    // refused by Cloud DNS (412: the deletion no longer matches); feddns re-reads and converges.
    let region = "nginx.default.myfed.svc.eu-central-1.example.com";
    let mut edited = fake
        .rrset(PROJECT, "example-com", &format!("{region}."), "A")
        .unwrap();
    edited.rrdatas = vec!["203.0.113.66".into()];
    let edited = WireRrset { ..edited };
    assert!(fake.put_rrset(PROJECT, "example-com", edited));
    tx.send(send("eks", "eu-central-1", "192.0.2.20", 1))
        .await
        .unwrap();
    expect_items(&fake, region, &["192.0.2.20"]).await;
    expect_items(
        &fake,
        GLOBAL,
        &["europe-west3=192.0.2.20", "europe-west4=192.0.2.3"],
    )
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
