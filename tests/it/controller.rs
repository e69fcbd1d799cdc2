//! The controller in-process: member events in, answers from the embedded DNS server out.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use feddns::config::Config;
use feddns::control::controller::{Controller, Stats};
use feddns::control::resolver::{Resolution, Resolve, ResolveError};
use feddns::federation::model::{MemberSnapshot, Target};
use feddns::members::MemberEvent;
use hickory_net::proto::rr::RecordType;
use tokio::sync::mpsc;

use crate::common::*;

pub(crate) fn snapshot(region: &str, zones: &[&str], ip: &str, ready: usize) -> MemberSnapshot {
    member_snapshot(region, zones, &[("nginx", ip, ready)])
}

struct Running {
    tx: mpsc::Sender<MemberEvent>,
    stats: Arc<Stats>,
    dns: Dns,
    controller: ControllerTask,
}

impl Running {
    async fn start(extra: &str) -> Self {
        Self::start_with(extra, Arc::new(NoResolve)).await
    }

    async fn start_with(extra: &str, resolver: Arc<dyn Resolve>) -> Self {
        let text = format!(
            "federation: myfed\ndomain: example.com\nprovider: {{ embedded: {{ listen: 127.0.0.1:0 }} }}\n\
             members: [{{ name: m1, file: m1.yaml }}, {{ name: m2, file: m2.yaml }}]\n\
             controller: {{ debounce: 20ms, max_debounce: 200ms }}\n{extra}"
        );
        let cfg = Config::parse(&text, Path::new("/nowhere/config.yaml")).unwrap();
        let (provider, dns) = embedded_with_client().await;
        let controller = Controller::new(&cfg, Arc::new(provider), resolver, false);
        let stats = controller.stats();
        let (tx, rx) = mpsc::channel(256);
        Self {
            tx,
            stats,
            dns,
            controller: ControllerTask::spawn(controller, rx),
        }
    }

    async fn send(&self, member: &str, snapshot: MemberSnapshot) {
        self.tx.send(snapshot_event(member, snapshot)).await.unwrap();
    }

    /// m1 (192.0.2.1 in r1/z1) and m2 (192.0.2.2 in r2/z2), one ready endpoint each; waits until
    /// both answer at the global name.
    async fn both_up(&mut self) {
        self.send("m1", snapshot("r1", &["z1"], "192.0.2.1", 1)).await;
        self.send("m2", snapshot("r2", &["z2"], "192.0.2.2", 1)).await;
        self.dns.expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.2"]).await;
    }

    async fn fail(&self, member: &str) {
        let ev = MemberEvent::Failed {
            member: member.into(),
            error: "connection refused".into(),
        };
        self.tx.send(ev).await.unwrap();
    }

    async fn stop(self) {
        self.controller.stop().await;
    }
}

const M1_ZONE: &str = "nginx.default.myfed.svc.z1.r1.example.com";
const M2_ZONE: &str = "nginx.default.myfed.svc.z2.r2.example.com";
const M2_REGION: &str = "nginx.default.myfed.svc.r2.example.com";

#[tokio::test]
async fn steady_state_makes_no_provider_calls() {
    let mut c = Running::start("").await;
    c.both_up().await;
    c.dns.expect_a(M2_ZONE, &["A 192.0.2.2"]).await;
    let lists = c.stats.provider_lists.load(Ordering::SeqCst);
    let applies = c.stats.provider_applies.load(Ordering::SeqCst);
    assert_eq!(lists, 1, "the zone is listed once at start");

    // The same state again, many times: nothing to write.
    for _ in 0..20 {
        c.send("m1", snapshot("r1", &["z1"], "192.0.2.1", 1)).await;
        c.send("m2", snapshot("r2", &["z2"], "192.0.2.2", 3)).await;
    }
    // A real change after them (events are handled in order): exactly one more batch.
    c.send("m2", snapshot("r2", &["z2"], "192.0.2.22", 3)).await;
    c.dns.expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.22"]).await;
    assert_eq!(c.stats.provider_lists.load(Ordering::SeqCst), lists);
    assert_eq!(c.stats.provider_applies.load(Ordering::SeqCst), applies + 1);
    c.stop().await;
}

#[tokio::test]
async fn bursts_are_debounced_into_few_plans() {
    let mut c = Running::start("").await;
    c.send("m2", snapshot("r2", &["z2"], "192.0.2.2", 1)).await;
    for i in 0..100 {
        c.send("m1", snapshot("r1", &["z1"], &format!("198.51.100.{}", i + 1), 1))
            .await;
    }
    c.dns.expect_a(M1_ZONE, &["A 198.51.100.100"]).await;
    let plans = c.stats.plans.load(Ordering::SeqCst);
    assert!(plans < 20, "101 events made {plans} plans");
    c.stop().await;
}

#[tokio::test]
async fn an_unavailable_member_keeps_its_targets_for_the_grace_period() {
    let mut c = Running::start("safety: { member_grace: 1h }").await;
    c.both_up().await;
    c.fail("m2").await;
    // A later change of m1 is applied; m2's targets are still there.
    c.send("m1", snapshot("r1", &["z1"], "192.0.2.11", 1)).await;
    c.dns.expect_a(GLOBAL, &["A 192.0.2.11", "A 192.0.2.2"]).await;
    c.dns.expect_a(M2_ZONE, &["A 192.0.2.2"]).await;
    c.stop().await;
}

#[tokio::test]
async fn a_member_down_past_the_grace_period_loses_its_targets_until_it_returns() {
    let mut c = Running::start("safety: { member_grace: 200ms }").await;
    c.both_up().await;
    c.fail("m2").await;
    c.dns.expect_a(GLOBAL, &["A 192.0.2.1"]).await;
    expect_answer(
        &mut c.dns,
        M2_ZONE,
        RecordType::CNAME,
        &[&format!("CNAME {M2_REGION}")],
    )
    .await;
    c.send("m2", snapshot("r2", &["z2"], "192.0.2.2", 1)).await;
    c.dns.expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.2"]).await;
    c.dns.expect_a(M2_ZONE, &["A 192.0.2.2"]).await;
    c.stop().await;
}

#[tokio::test]
async fn a_member_that_never_reports_is_declared_down_after_the_grace_period() {
    let mut c = Running::start("safety: { member_grace: 200ms }").await;
    c.send("m1", snapshot("r1", &["z1"], "192.0.2.1", 1)).await;
    // Creates go through at once; m2 never reports, and after the grace the plan is complete.
    c.dns.expect_a(GLOBAL, &["A 192.0.2.1"]).await;
    c.stop().await;
}

/// Resolves from a map the test can change; answers carry `ttl`.
struct Moving {
    addrs: std::sync::Mutex<BTreeMap<String, Vec<IpAddr>>>,
    ttl: std::time::Duration,
}

impl Moving {
    fn new(ttl: std::time::Duration) -> Arc<Self> {
        let addrs = BTreeMap::from([(
            "lb.elb.example.net".to_string(),
            vec!["198.51.100.5".parse().unwrap()],
        )]);
        Arc::new(Self {
            addrs: std::sync::Mutex::new(addrs),
            ttl,
        })
    }

    fn move_to(&self, ip: &str) {
        self.addrs
            .lock()
            .unwrap()
            .insert("lb.elb.example.net".into(), vec![ip.parse().unwrap()]);
    }
}

#[async_trait::async_trait]
impl Resolve for Moving {
    async fn resolve(&self, host: &str) -> Result<Resolution, ResolveError> {
        let addrs = self.addrs.lock().unwrap().get(host).cloned().unwrap_or_default();
        Ok(Resolution { addrs, ttl: self.ttl })
    }
}

/// m1 behind an ELB hostname (with an optional TTL annotation), m2 with an IP.
async fn elb_and_ip(c: &Running, ttl: Option<u32>) {
    let mut elb = snapshot("r1", &["z1"], "192.0.2.1", 1);
    for s in elb.services.values_mut() {
        s.ingress = vec![Target::Hostname("lb.elb.example.net".into())].into();
        s.options.ttl = ttl;
    }
    c.send("m1", elb).await;
    c.send("m2", snapshot("r2", &["z2"], "192.0.2.2", 1)).await;
}

#[tokio::test]
async fn hostnames_that_must_be_resolved_follow_the_resolver() {
    let resolver = Moving::new(std::time::Duration::from_millis(50));
    let mut c = Running::start_with("", resolver.clone()).await;
    elb_and_ip(&c, None).await;
    c.dns.expect_a(GLOBAL, &["A 192.0.2.2", "A 198.51.100.5"]).await;
    expect_answer(
        &mut c.dns,
        M1_ZONE,
        RecordType::CNAME,
        &["CNAME lb.elb.example.net"],
    )
    .await;
    // The ELB moves: the global name follows within the (short) DNS TTL.
    resolver.move_to("198.51.100.6");
    c.dns.expect_a(GLOBAL, &["A 192.0.2.2", "A 198.51.100.6"]).await;
    c.stop().await;
}

/// The resolver's answer may be cached for an hour, the federation TTL is 180 s, but the Service's
/// records live 1 s: its hostnames are re-resolved at least that often.
#[tokio::test]
async fn hostnames_are_re_resolved_within_the_services_own_ttl() {
    let resolver = Moving::new(std::time::Duration::from_secs(3600));
    let mut c = Running::start_with("", resolver.clone()).await;
    elb_and_ip(&c, Some(1)).await;
    c.dns.expect_a(GLOBAL, &["A 192.0.2.2", "A 198.51.100.5"]).await;
    resolver.move_to("198.51.100.7");
    c.dns.expect_a(GLOBAL, &["A 192.0.2.2", "A 198.51.100.7"]).await;
    c.stop().await;
}

/// A timer that fires while a burst is being debounced (the housekeeping tick) must not push
/// planning back: a change is planned `debounce` after it arrived.
#[tokio::test(start_paused = true)]
async fn housekeeping_ticks_do_not_delay_a_debounced_plan() {
    let text = "federation: myfed\ndomain: example.com\nprovider: { embedded: { listen: 127.0.0.1:0 } }\n\
                members: [{ name: m1, file: m1.yaml }]\n\
                controller: { debounce: 100ms, max_debounce: 1s }\nsafety: { member_grace: 400ms }\n";
    let cfg = Config::parse(text, Path::new("/nowhere/config.yaml")).unwrap();
    let provider = Arc::new(feddns_provider::MemoryProvider::plain("example.com"));
    let controller = Controller::new(&cfg, provider, Arc::new(NoResolve), false);
    let stats = controller.stats();
    let (tx, rx) = mpsc::channel(16);
    let running = ControllerTask::spawn(controller, rx);
    // The housekeeping tick runs every member_grace / 4 = 100 ms from the start; the event
    // arrives half-way between two ticks.
    let start = tokio::time::Instant::now();
    tokio::time::sleep_until(start + std::time::Duration::from_millis(150)).await;
    let sent = tokio::time::Instant::now();
    tx.send(snapshot_event("m1", snapshot("r1", &["z1"], "192.0.2.1", 1)))
        .await
        .unwrap();
    while stats.plans.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let waited = sent.elapsed();
    assert!(
        waited <= std::time::Duration::from_millis(105),
        "planned {waited:?} after the event; the debounce is 100 ms"
    );
    running.stop().await;
}
