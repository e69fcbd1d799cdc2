//! Cleanup survives downtime: a Service deleted, and a member removed, while feddns is down lose
//! their records after the restart, on every provider; and `feddns plan` on that state lists
//! exactly the changes `feddns run` then applies.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use feddns::config::{Config, ProviderConfig};
use feddns::control::controller::Controller;
use feddns::federation::model::MemberSnapshot;
use feddns::members::MemberEvent;
use feddns_provider::{Change, MemoryProvider, Provider, RecordSet, RecordType};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::common::*;

/// A member in `region`/`zone` serving each `(service, ip)` in `default`.
fn member(region: &str, zone: &str, services: &[(&str, &str)]) -> MemberSnapshot {
    let services: Vec<(&str, &str, usize)> = services.iter().map(|(svc, ip)| (*svc, *ip, 1)).collect();
    member_snapshot(region, &[zone], &services)
}

fn config(members: &[&str], provider: &str) -> Config {
    let list: Vec<String> = members
        .iter()
        .map(|m| format!("{{ name: {m}, file: {m}.yaml }}"))
        .collect();
    let text = format!(
        "federation: myfed\ndomain: example.com\nowner_id: o1\nprovider: {provider}\n\
         members: [{}]\ncontroller: {{ debounce: 20ms, max_debounce: 200ms }}\n",
        list.join(", ")
    );
    Config::parse(&text, Path::new("/nowhere/config.yaml")).unwrap()
}

/// A running controller on `provider`, fed by the returned sender.
struct Run {
    tx: mpsc::Sender<MemberEvent>,
    controller: ControllerTask,
}

impl Run {
    fn start(cfg: &Config, provider: Arc<dyn Provider>) -> Self {
        let controller = Controller::new(cfg, provider, Arc::new(NoResolve), false);
        let (tx, rx) = mpsc::channel(64);
        Self {
            tx,
            controller: ControllerTask::spawn(controller, rx),
        }
    }

    async fn send(&self, member: &str, snapshot: MemberSnapshot) {
        self.tx.send(snapshot_event(member, snapshot)).await.unwrap();
    }

    async fn stop(self) {
        self.controller.stop().await;
    }
}

/// `name TYPE values` of every set in the zone but the apex (SOA, NS), sorted.
async fn zone_lines(p: &dyn Provider) -> BTreeSet<String> {
    p.list()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name != p.zone())
        .map(|s| format!("{} {} {}", s.name, s.rtype, s.describe_values()))
        .collect()
}

fn names_of(lines: &BTreeSet<String>) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

fn sorted(changes: impl IntoIterator<Item = Change>) -> Vec<String> {
    let mut v: Vec<String> = changes
        .into_iter()
        .map(|c| serde_json::to_string(&c).unwrap())
        .collect();
    v.sort();
    v
}

const WEB: &str = "web.default.myfed.svc.example.com";
const API: &str = "api.default.myfed.svc";
const FOREIGN: &str = "foreign.example.com";

/// The scenario, on any provider: `connect` gives a fresh provider on the same zone each time
/// (as a restarted process would make).
async fn cleanup_after_downtime(provider: &str, connect: &dyn Fn() -> BoxFuture<'static, Arc<dyn Provider>>) {
    // Someone else's record, which must survive everything.
    connect()
        .await
        .apply(&[Change::create(RecordSet::new(
            FOREIGN,
            RecordType::A,
            300,
            ["198.51.100.7".to_string()],
        ))])
        .await
        .unwrap();
    let m1 = || member("r1", "z1", &[("web", "192.0.2.1"), ("api", "192.0.2.3")]);
    let m2 = || member("r2", "z2", &[("web", "192.0.2.2")]);

    // First run: both members, both Services.
    let run = Run::start(&config(&["m1", "m2"], provider), connect().await);
    run.send("m1", m1()).await;
    run.send("m2", m2()).await;
    let p = connect().await;
    eventually("both Services written", || async {
        let names = names_of(&zone_lines(p.as_ref()).await);
        let want = [
            format!("{API}.example.com"),
            format!("{API}.z1.r1.example.com"),
            "web.default.myfed.svc.z2.r2.example.com".to_string(),
            format!("_feddns.{API}.r1.example.com"),
        ];
        match want.iter().find(|n| !names.contains(*n)) {
            None => Ok(()),
            Some(n) => Err(format!("{n} missing: {names:?}")),
        }
    })
    .await;
    run.stop().await;
    let before = zone_lines(p.as_ref()).await;
    assert!(before.contains(&format!("{FOREIGN} A 198.51.100.7")));

    // While feddns is down: `api` is deleted from m1, and m2 leaves the federation.
    let cfg = config(&["m1"], provider);
    let m1_now = member("r1", "z1", &[("web", "192.0.2.1")]);

    // `feddns plan` on that state.
    let mut planner = Controller::new(&cfg, connect().await, Arc::new(NoResolve), false);
    planner.apply_event(snapshot_event("m1", m1_now.clone()));
    let plan = planner.plan_once().await.unwrap();
    assert!(plan.refused.is_none(), "{:?}", plan.refused);
    assert!(plan.deferred.is_empty() && plan.conflicts.is_empty());
    let planned: Vec<Change> = plan.names.into_iter().flat_map(|n| n.changes).collect();
    let deletes = planned.iter().filter(|c| c.op() == "delete").count();
    // api: global, region, zone and their TXTs; web in m2: region, zone and their TXTs.
    assert_eq!(deletes, 10, "{planned:#?}");

    // `feddns run` on the same state.
    let probe = Probe::new(connect().await);
    let run = Run::start(&cfg, probe.clone());
    run.send("m1", m1_now).await;
    eventually(
        "the records of the deleted Service and the removed member are gone",
        || async {
            let lines = zone_lines(p.as_ref()).await;
            let names = names_of(&lines);
            let left: Vec<&String> = names
                .iter()
                .filter(|n| n.contains("api.default") || n.contains(".r2.") || n.contains(".z2."))
                .collect();
            let web = lines
                .iter()
                .find(|l| l.starts_with(&format!("{WEB} A")))
                .cloned()
                .unwrap_or_default();
            if left.is_empty() && web == format!("{WEB} A 192.0.2.1") {
                Ok(())
            } else {
                Err(format!("left: {left:?}; web: {web:?}"))
            }
        },
    )
    .await;
    run.stop().await;
    assert_eq!(
        sorted(probe.accepted_changes()),
        sorted(planned),
        "run applied exactly what plan showed"
    );
    let after = zone_lines(p.as_ref()).await;
    assert!(after.contains(&format!("{FOREIGN} A 198.51.100.7")), "{after:#?}");
    // Nothing of m1's web records was touched beyond the global name.
    for kept in [
        "web.default.myfed.svc.r1.example.com A 192.0.2.1",
        "web.default.myfed.svc.z1.r1.example.com A 192.0.2.1",
    ] {
        assert!(after.contains(kept), "{kept} missing: {after:#?}");
    }
}

#[tokio::test]
async fn cleanup_after_downtime_in_memory() {
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    cleanup_after_downtime("{ embedded: { listen: 127.0.0.1:0 } }", &move || {
        let zone: Arc<dyn Provider> = zone.clone();
        Box::pin(async move { zone })
    })
    .await;
}

#[tokio::test]
async fn cleanup_after_downtime_on_route53_strict_fake() {
    use feddns_route53::Route53Provider;
    use feddns_route53::fake::FakeRoute53;
    let fake = Arc::new(FakeRoute53::new());
    let zone_id = fake.add_zone("example.com");
    cleanup_after_downtime(
        "{ route53: { zone_name: example.com, requests_per_second: 1000 } }",
        &move || {
            let (fake, zone_id) = (fake.clone(), zone_id.clone());
            Box::pin(async move {
                let p: Arc<dyn Provider> = Arc::new(
                    Route53Provider::with_api(fake, Some(&zone_id), None)
                        .await
                        .unwrap(),
                );
                p
            })
        },
    )
    .await;
}

#[tokio::test]
async fn cleanup_after_downtime_on_clouddns_strict_fake() {
    use feddns_clouddns::CloudDnsProvider;
    use feddns_clouddns::fake::{FakeCloudDns, StaticTokenProvider};
    let fake = FakeCloudDns::start().await.unwrap();
    fake.add_zone("p1", "example-com", "example.com");
    fake.add_token("ya29.t");
    let provider = format!(
        "{{ clouddns: {{ project: p1, managed_zone: example-com, base_url: \"{}\" }} }}",
        fake.base_url()
    );
    let cfg = config(&["m1"], &provider);
    let ProviderConfig::Clouddns(c) = cfg.provider.clone() else {
        panic!("a clouddns config")
    };
    cleanup_after_downtime(&provider, &move || {
        let c = c.clone();
        Box::pin(async move {
            let p: Arc<dyn Provider> = Arc::new(
                CloudDnsProvider::with_token_provider(&c, Arc::new(StaticTokenProvider::new("ya29.t", None)))
                    .await
                    .unwrap(),
            );
            p
        })
    })
    .await;
    fake.stop().await;
}

#[tokio::test]
#[ignore = "needs moto_server (PyPI moto[server]); tests/run-all.sh installs it"]
async fn cleanup_after_downtime_on_moto() {
    use feddns_route53::moto::MotoZone;
    use feddns_route53::{Route53Config, Route53Provider};
    let moto = MotoZone::start()
        .await
        .unwrap_or_else(|e| panic!("{e}; tests/run-all.sh installs moto"));
    let api = moto.api.clone();
    cleanup_after_downtime("{ route53: { zone_name: example.com } }", &move || {
        let api = api.clone();
        Box::pin(async move {
            let cfg = Route53Config {
                zone_name: Some("example.com".into()),
                requests_per_second: 1000.0,
                ..Route53Config::default()
            };
            let p: Arc<dyn Provider> = Arc::new(Route53Provider::with_api_config(api, &cfg).await.unwrap());
            p
        })
    })
    .await;
    drop(moto);
}
