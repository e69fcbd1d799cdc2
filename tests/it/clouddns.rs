//! The controller with the Cloud DNS provider against the strict fake Cloud DNS server: latency
//! mode as geo routing items that follow regions gaining and losing healthy shards, and a
//! record changed behind feddns's back (a stale cache) repaired.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use feddns::config::{Config, ProviderConfig};
use feddns::control::controller::Controller;
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

type Running = (
    mpsc::Sender<MemberEvent>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), feddns_provider::ProviderError>>,
);

/// A controller with `routing: latency` writing to the fake's zone `example-com` for file members
/// `members` (fed by the test), `extra` added to its config; stopped through the sender.
async fn start_controller(fake: &FakeCloudDns, members: &[&str], extra: &str) -> Running {
    fake.add_zone(PROJECT, "example-com", "example.com");
    fake.add_token(TOKEN);
    let members: Vec<String> = members
        .iter()
        .map(|m| format!("{{ name: {m}, file: {m}.yaml }}"))
        .collect();
    let text = format!(
        "federation: myfed\ndomain: example.com\n\
         provider: {{ clouddns: {{ project: {PROJECT}, managed_zone: example-com, base_url: \"{}\" }} }}\n\
         routing: {{ policy: latency }}\nmembers: [{}]\n\
         controller: {{ debounce: 20ms, max_debounce: 200ms }}\n{extra}",
        fake.base_url(),
        members.join(", ")
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
    (tx, stop, task)
}

#[tokio::test]
async fn geo_items_follow_regions_and_a_stale_cache_recovers() {
    let fake = FakeCloudDns::start().await.unwrap();
    let (tx, stop, task) = start_controller(&fake, &["gke", "eks", "aks"], "").await;
    let send = |member: &str, region: &str, ip: &str, ready: usize| {
        snapshot_event(member, snapshot(region, &[&format!("{region}-a")], ip, ready))
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

/// Someone replaced feddns's record at a name it owns by a health-checked primary/backup policy.
/// feddns cannot write that rrset back without the policy, so the name is a conflict: shown by
/// `feddns plan`, left as it is, and never retried over later reconcile rounds (each periodic
/// verify lists the zone and plans every Service), while the Service's other names follow.
#[tokio::test]
async fn a_primary_backup_policy_at_an_owned_name_is_a_conflict_never_retried() {
    let fake = FakeCloudDns::start().await.unwrap();
    fake.add_zone(PROJECT, "example-com", "example.com");
    fake.add_token(TOKEN);
    let policy: WireRrset = serde_json::from_value(serde_json::json!({
        "name": format!("{GLOBAL}."), "type": "A", "ttl": 30,
        "routingPolicy": {
            "primaryBackup": {
                "primaryTargets": {"externalEndpoints": ["192.0.2.50"]},
                "backupGeoTargets": {"items": [{"location": "us-east1", "rrdatas": ["192.0.2.51"]}]},
            },
            "healthCheck": "projects/feddns-test/global/healthChecks/hc-1",
        },
    }))
    .unwrap();
    assert!(fake.put_rrset(PROJECT, "example-com", policy.clone()));
    let owner = feddns::federation::ownership::Ownership {
        owner: "o1".into(),
        federation: "myfed".into(),
        subject: feddns::federation::model::Subject::Service(feddns::federation::model::ServiceKey::new(
            "default", "nginx",
        )),
        source: None,
    };
    let txt = WireRrset {
        name: format!("_feddns.{GLOBAL}."),
        rtype: "TXT".into(),
        ttl: Some(180),
        rrdatas: vec![format!("\"{}\"", owner.encode())],
        ..WireRrset::default()
    };
    assert!(fake.put_rrset(PROJECT, "example-com", txt));
    let text = format!(
        "federation: myfed\ndomain: example.com\nowner_id: o1\n\
         provider: {{ clouddns: {{ project: {PROJECT}, managed_zone: example-com, base_url: \"{}\" }} }}\n\
         members: [{{ name: gke, file: a.yaml }}]\n\
         safety: {{ member_grace: 400ms }}\n\
         controller: {{ debounce: 20ms, max_debounce: 200ms, verify_interval: 100ms }}\n",
        fake.base_url()
    );
    let cfg = Config::parse(&text, Path::new("/nowhere/config.yaml")).unwrap();
    let ProviderConfig::Clouddns(c) = &cfg.provider else {
        panic!("a clouddns config")
    };
    let connect = || async {
        let p = CloudDnsProvider::with_token_provider(c, Arc::new(StaticTokenProvider::new(TOKEN, None)))
            .await
            .unwrap();
        Arc::new(p)
    };
    let controller = Controller::new(&cfg, connect().await, Arc::new(NoResolve), false);
    let stats = controller.stats();
    let (tx, rx) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(rx, async {
        let _ = stopped.await;
    }));
    let gke = snapshot("us-east1", &["us-east1-b"], "192.0.2.1", 1);
    tx.send(snapshot_event("gke", gke.clone())).await.unwrap();
    let region = "nginx.default.myfed.svc.us-east1.example.com";
    expect_items(&fake, region, &["192.0.2.1"]).await;
    let changes = fake.request_count("changes.create");
    let (plans, lists) = (
        stats.plans.load(Ordering::SeqCst),
        fake.request_count("rrsets.list"),
    );
    eventually("3 more reconcile rounds", || async {
        let (p, l) = (
            stats.plans.load(Ordering::SeqCst),
            fake.request_count("rrsets.list"),
        );
        if p >= plans + 3 && l >= lists + 3 {
            Ok(())
        } else {
            Err(format!("{} plans, {} lists", p - plans, l - lists))
        }
    })
    .await;
    assert_eq!(
        fake.request_count("changes.create"),
        changes,
        "{:?}",
        fake.requests()
    );
    let stored = fake.rrset(PROJECT, "example-com", GLOBAL, "A").unwrap();
    assert_eq!(
        stored.routing_policy, policy.routing_policy,
        "the policy is untouched"
    );
    // What `feddns plan` shows.
    let mut planner = Controller::new(&cfg, connect().await, Arc::new(NoResolve), false);
    planner.apply_event(snapshot_event("gke", gke));
    let plan = planner.plan_once().await.unwrap();
    let conflict = plan
        .conflicts
        .iter()
        .find(|c| c.name == GLOBAL)
        .unwrap_or_else(|| panic!("{GLOBAL} is a conflict: {:?}", plan.conflicts));
    assert!(
        conflict.reason.contains("primaryBackup") && conflict.reason.contains("healthChecks/hc-1"),
        "{}",
        conflict.reason
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A host of Ingresses with `routing: latency` on Cloud DNS: one geo item per GCP location.
#[tokio::test]
async fn a_host_gets_one_geo_item_per_location() {
    const WWW: &str = "www.example.com";
    let fake = FakeCloudDns::start().await.unwrap();
    let (tx, stop, task) = start_controller(&fake, &["gke", "eks"], "sources: [ingress]\n").await;
    for (member, region, ip) in [
        ("gke", "us-east1", "192.0.2.1"),
        ("eks", "eu-central-1", "192.0.2.2"),
    ] {
        tx.send(snapshot_event(member, ingress_snapshot(region, &[WWW], ip, 1)))
            .await
            .unwrap();
    }
    expect_items(&fake, WWW, &["europe-west3=192.0.2.2", "us-east1=192.0.2.1"]).await;
    tx.send(snapshot_event(
        "gke",
        ingress_snapshot("us-east1", &[WWW], "192.0.2.1", 0),
    ))
    .await
    .unwrap();
    expect_items(&fake, WWW, &["europe-west3=192.0.2.2"]).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
