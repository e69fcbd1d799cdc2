//! The writer runs apart from the planning loop: a stop in the middle of a multi-batch plan
//! lets only the batch in flight finish, and the loop keeps answering `/healthz` and `/status`
//! (and indexing member events) while the provider takes its time to list the zone.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use feddns::config::Config;
use feddns::control::runner::Instance;
use feddns_provider::{Limits, MemoryProvider, Provider};

use crate::common::*;

/// A snapshot file of one member in `region` with `services` LoadBalancer Services.
fn member_file(region: &str, services: usize) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: List\nitems:\n\
         - {{ apiVersion: v1, kind: Node, metadata: {{ name: n1, labels: {{ topology.kubernetes.io/region: {region}, topology.kubernetes.io/zone: {region}a }} }} }}\n"
    );
    for i in 0..services {
        out.push_str(&format!(
            "- {{ apiVersion: v1, kind: Service, metadata: {{ name: s{i}, namespace: default }}, spec: {{ type: LoadBalancer }}, \
               status: {{ loadBalancer: {{ ingress: [{{ ip: 192.0.2.{} }}] }} }} }}\n",
            i + 1
        ));
    }
    out
}

/// An instance with one member of `services` Services and the admin port, on `provider`.
async fn start(dir: &Path, services: usize, provider: Arc<dyn Provider>) -> Instance {
    std::fs::write(dir.join("m1.yaml"), member_file("r1", services)).unwrap();
    let cfg = "federation: myfed\ndomain: example.com\nprovider: { embedded: { listen: 127.0.0.1:0 } }\n\
               members: [{ name: m1, file: m1.yaml }]\n\
               controller: { debounce: 20ms, max_debounce: 200ms }\n\
               admin: { listen: 127.0.0.1:0 }\n";
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    let cfg = Config::load(&dir.join("config.yaml")).unwrap();
    Instance::start(cfg, provider, Arc::new(NoResolve), false)
        .await
        .unwrap()
}

async fn admin(instance: &Instance, path: &str) -> Result<String, String> {
    let addr = instance.admin_addr().unwrap().to_string();
    feddns::ops::admin::http_get(&addr, path, Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())
}

/// SIGTERM (a graceful stop) in the middle of a plan of many batches: the batch in flight
/// finishes, and nothing is sent after it.
#[tokio::test]
async fn a_stop_mid_plan_finishes_the_batch_in_flight_only() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    // Two names (a set and its ownership TXT each) per batch: 12 Services make 18 batches.
    let probe = Probe::with_limits(
        zone.clone(),
        Some(Limits {
            max_records_per_batch: 4,
            ..Limits::default()
        }),
    );
    probe.open_applies(false);
    let instance = start(dir.path(), 12, probe.clone()).await;
    let addr = instance.admin_addr().unwrap().to_string();
    tokio::time::timeout(DEADLINE, probe.applies_started(1))
        .await
        .expect("the first batch is sent");
    let stopping = tokio::spawn(instance.stop());
    // The loop sees the stop while the batch is still held (it reports it is not ready).
    eventually("the instance says it is stopping", || async {
        match feddns::ops::admin::http_get(&addr, "/readyz", Duration::from_secs(2)).await {
            Err(e) if e.to_string().contains("stopping") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    probe.open_applies(true);
    stopping.await.unwrap().unwrap();
    assert_eq!(probe.applies(), 1, "batches sent after the stop");
    assert_eq!(probe.accepted_changes().len(), 4);
    let written = zone
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name != "example.com")
        .count();
    assert_eq!(written, 4, "the zone holds the one batch");
}

/// A provider that takes its time listing the zone (a large zone at 5 requests/s): meanwhile
/// the loop answers `/healthz` and `/status`, and indexes the members' state; then it plans.
#[tokio::test]
async fn healthz_and_status_answer_during_a_long_listing() {
    let dir = tempfile::tempdir().unwrap();
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let probe = Probe::new(zone.clone());
    probe.open_lists(false);
    let instance = start(dir.path(), 3, probe.clone()).await;
    eventually("the listing has started", || async {
        if probe.lists() > 0 {
            Ok(())
        } else {
            Err("no listing yet".into())
        }
    })
    .await;
    eventually(
        "/status shows the member indexed while the zone is being listed",
        || async {
            let body = admin(&instance, "/status").await?;
            let status: feddns::ops::status::StatusReport =
                serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let synced = status
                .members
                .iter()
                .any(|m| m.name == "m1" && m.status == "synced");
            if synced && status.services.len() == 3 {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    assert_eq!(admin(&instance, "/healthz").await.unwrap().trim(), "ok");
    let ready = admin(&instance, "/readyz").await.unwrap_err();
    assert!(ready.contains("the zone has not been listed yet"), "{ready}");
    assert_eq!(probe.applies(), 0, "nothing planned before the zone is listed");
    probe.open_lists(true);
    eventually("planned once listed", || async {
        let n = zone
            .list()
            .await
            .unwrap()
            .iter()
            .filter(|s| s.name.starts_with("s2.default"))
            .count();
        if n > 0 { Ok(()) } else { Err("not yet".into()) }
    })
    .await;
    instance.stop().await.unwrap();
}

/// A controller on `provider` fed member events directly (no member sources).
struct Direct {
    tx: tokio::sync::mpsc::Sender<feddns::members::MemberEvent>,
    stats: Arc<feddns::control::controller::Stats>,
    controller: ControllerTask,
}

impl Direct {
    fn start(provider: Arc<dyn Provider>) -> Self {
        let text = "federation: myfed\ndomain: example.com\nowner_id: o1\n\
                    provider: { embedded: { listen: 127.0.0.1:0 } }\n\
                    members: [{ name: m1, file: m1.yaml }]\n\
                    controller: { debounce: 20ms, max_debounce: 200ms }\n";
        let cfg = Config::parse(text, Path::new("/nowhere/config.yaml")).unwrap();
        let controller =
            feddns::control::controller::Controller::new(&cfg, provider, Arc::new(NoResolve), false);
        let stats = controller.stats();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        Self {
            tx,
            stats,
            controller: ControllerTask::spawn(controller, rx),
        }
    }

    async fn member(&self, services: usize) {
        let owned: Vec<(String, String)> = (0..services)
            .map(|i| (format!("s{i}"), format!("10.0.{}.{}", i / 256, i % 256)))
            .collect();
        let services: Vec<(&str, &str, usize)> =
            owned.iter().map(|(s, ip)| (s.as_str(), ip.as_str(), 1)).collect();
        let snap = member_snapshot("r1", &["r1a"], &services);
        self.tx.send(snapshot_event("m1", snap)).await.unwrap();
    }

    async fn stop(self) {
        self.controller.stop().await;
    }
}

fn owned_sets(zone: &[feddns_provider::RecordSet]) -> usize {
    zone.iter().filter(|s| s.name.contains(".myfed.svc")).count()
}

/// Waits until the zone holds the global, region and zone names of `services` Services with
/// their ownership TXTs: 6 sets each.
async fn synced(zone: &MemoryProvider, services: usize) {
    eventually("the first sync converges", || async {
        let n = owned_sets(&zone.list().await.unwrap());
        if n == services * 6 {
            Ok(())
        } else {
            Err(format!("{n} sets"))
        }
    })
    .await;
}

/// The first sync of many Services is planned and applied a chunk of Services at a time (its
/// changes are never all in memory at once), and converges.
#[tokio::test]
async fn a_large_round_is_planned_and_applied_chunk_by_chunk() {
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let c = Direct::start(zone.clone());
    c.member(2500).await;
    synced(&zone, 2500).await;
    let plans = c.stats.plans.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        plans >= 3,
        "2,500 Services in chunks of at most 1,000: {plans} plans"
    );
    c.stop().await;
}

/// Chunks do not weaken the delete guard: a round deleting most owned records is refused as a
/// whole, though each chunk alone deletes less than the allowed share.
#[tokio::test]
async fn the_delete_guard_judges_a_whole_round() {
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let c = Direct::start(zone.clone());
    c.member(2500).await;
    synced(&zone, 2500).await;
    // Every Service disappears from the only member (an emptied watch, a broken selector).
    c.member(0).await;
    eventually("the round is refused", || async {
        let refused = c.stats.refused.load(std::sync::atomic::Ordering::SeqCst);
        if refused > 0 {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    assert_eq!(
        owned_sets(&zone.list().await.unwrap()),
        2500 * 6,
        "nothing deleted"
    );
    c.stop().await;
}
