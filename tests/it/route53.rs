//! The controller writing to Route53: the provider over the strict fake Route53 (the same
//! provider code the SDK path uses), observed through the fake's records and call counters.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use feddns::config::Config;
use feddns::control::controller::{Controller, Stats};
use feddns::federation::model::{MemberSnapshot, NodeProj, ServiceKey, Target};
use feddns::federation::plan::Plan;
use feddns::members::MemberEvent;
use feddns_provider::{RecordSet, RecordType, Routing};
use feddns_route53::Route53Provider;
use feddns_route53::WireRecordSet;
use feddns_route53::fake::FakeRoute53;
use feddns_route53::{ApiError, Operation};
use tokio::sync::mpsc;

use crate::common::{NoResolve, add_service, eventually, ingress_snapshot, snapshot_event};

/// Sets per Service with two members in two regions: global, two regions, two zones, each with
/// its ownership TXT.
const SETS_PER_SERVICE: usize = 10;

/// A member with `services` Services (`svc-<i>` in `ns-<i % 10>`), each with `ips` addresses.
fn member(
    region: Option<(&str, &str)>,
    services: usize,
    ips: usize,
    salt: u32,
    ready: usize,
) -> MemberSnapshot {
    let mut s = MemberSnapshot::default();
    let (zone, region) = region.map_or((None, None), |(z, r)| (Some(z.to_string()), Some(r.to_string())));
    s.nodes.insert(
        "node".into(),
        NodeProj {
            name: "node".into(),
            zone,
            region,
        },
    );
    for i in 0..services {
        let key = ServiceKey::new(format!("ns-{}", i % 10), format!("svc-{i}"));
        let ingress = (0..ips)
            .map(|j| {
                Target::Ip(IpAddr::from([
                    10,
                    (salt % 256) as u8,
                    (i / 256) as u8 + (j as u8) * 40,
                    (i % 256) as u8,
                ]))
            })
            .collect();
        add_service(&mut s, key, ingress, &format!("svc-{i}-x"), ready);
    }
    s
}

/// A member with one Service `default/hugo` behind the load balancer `elb`, with the vanity name
/// `hugo-fed.example.com`.
fn elb_member(zone: &str, region: &str, elb: &str, ready: usize) -> MemberSnapshot {
    let mut s = member(Some((zone, region)), 0, 0, 0, ready);
    let key = ServiceKey::new("default", "hugo");
    add_service(
        &mut s,
        key.clone(),
        vec![Target::Hostname(elb.into())],
        "hugo-x",
        ready,
    );
    s.services.get_mut(&key).unwrap().options.hostnames = vec!["hugo-fed.example.com".into()];
    s
}

struct R53 {
    fake: Arc<FakeRoute53>,
    zone_id: String,
    cfg: Config,
    stats: Arc<Stats>,
    tx: mpsc::Sender<MemberEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for R53 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl R53 {
    async fn start(members: &[&str], extra: &str, prepare: impl FnOnce(&FakeRoute53, &str)) -> Self {
        let list: Vec<String> = members
            .iter()
            .map(|m| format!("{{ name: {m}, file: {m}.yaml }}"))
            .collect();
        let controller = if extra.contains("controller:") {
            ""
        } else {
            "controller: { debounce: 20ms, max_debounce: 200ms }\n"
        };
        let text = format!(
            "federation: myfed\ndomain: example.com\nowner_id: o1\n\
             provider: {{ route53: {{ zone_name: example.com, requests_per_second: 1000 }} }}\n\
             members: [{}]\n{controller}{extra}",
            list.join(", ")
        );
        let cfg = Config::parse(&text, Path::new("/nowhere/config.yaml")).unwrap();
        let fake = Arc::new(FakeRoute53::new());
        let zone_id = fake.add_zone("example.com");
        prepare(&fake, &zone_id);
        let provider = Route53Provider::with_api(fake.clone(), Some(&zone_id), None)
            .await
            .unwrap();
        let controller = Controller::new(&cfg, Arc::new(provider), Arc::new(NoResolve), false);
        let stats = controller.stats();
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            controller.run(rx, std::future::pending()).await.unwrap();
        });
        Self {
            fake,
            zone_id,
            cfg,
            stats,
            tx,
            task,
        }
    }

    /// What `feddns plan` shows for these member snapshots against the fake's zone now.
    async fn plan(&self, snapshots: &[(&str, MemberSnapshot)]) -> Plan {
        let provider = Route53Provider::with_api(self.fake.clone(), Some(&self.zone_id), None)
            .await
            .unwrap();
        let mut c = Controller::new(&self.cfg, Arc::new(provider), Arc::new(NoResolve), false);
        for (member, snapshot) in snapshots {
            c.apply_event(snapshot_event(member, snapshot.clone()));
        }
        c.plan_once().await.unwrap()
    }

    /// Waits until the controller has planned `rounds` more times (each periodic verify re-lists
    /// the zone and plans every Service), then checks it sent no `ChangeResourceRecordSets`
    /// meanwhile.
    async fn no_changes_over(&self, rounds: u64) {
        let changes = self.calls("ChangeResourceRecordSets");
        let lists = self.calls("ListResourceRecordSets");
        let plans = self.stats.plans.load(Ordering::SeqCst);
        self.until(&format!("{rounds} more reconcile rounds"), |r| {
            let (p, l) = (
                r.stats.plans.load(Ordering::SeqCst),
                r.calls("ListResourceRecordSets"),
            );
            if p >= plans + rounds && l >= lists + rounds {
                Ok(())
            } else {
                Err(format!("{} plans, {} lists", p - plans, l - lists))
            }
        })
        .await;
        assert_eq!(
            self.calls("ChangeResourceRecordSets"),
            changes,
            "change requests over {rounds} rounds: {:?}",
            self.fake.calls()
        );
    }

    async fn send(&self, member: &str, snapshot: MemberSnapshot) {
        self.tx.send(snapshot_event(member, snapshot)).await.unwrap();
    }

    /// Sets below the apex (no SOA/NS).
    fn sets(&self) -> Vec<RecordSet> {
        self.fake
            .record_sets(&self.zone_id)
            .into_iter()
            .filter(|s| s.name != "example.com")
            .collect()
    }

    fn latency(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .sets()
            .into_iter()
            .filter(|s| s.name == name)
            .filter_map(|s| match s.routing() {
                Some(Routing::Latency { set_id, region }) => {
                    Some(format!("{set_id}/{region} {}", s.values.join(" ")))
                }
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    fn calls(&self, op: &str) -> u64 {
        self.fake.calls().get(op).copied().unwrap_or(0)
    }

    async fn until(&self, what: &str, check: impl Fn(&Self) -> Result<(), String>) {
        eventually(what, || {
            let r = check(self);
            async move { r }
        })
        .await;
    }

    /// Waits until the latency sets at `name` (as [`Self::latency`] gives them) pass `ok`.
    async fn until_latency(&self, what: &str, name: &str, ok: impl Fn(&[String]) -> bool) {
        self.until(what, |r| {
            let g = r.latency(name);
            if ok(&g) { Ok(()) } else { Err(format!("{g:?}")) }
        })
        .await;
    }

    /// Waits until the zone holds `n` sets below the apex.
    async fn until_sets(&self, what: &str, n: usize) {
        self.until(what, |r| {
            let got = r.sets().len();
            if got == n {
                Ok(())
            } else {
                Err(format!("{got} sets"))
            }
        })
        .await;
    }
}

const GLOBAL: &str = "hugo.default.myfed.svc.example.com";
const VANITY: &str = "hugo-fed.example.com";

/// Seed 003's members `usa`, `eur` and `jpn`, each in its AWS region behind an ELB, with `ready`
/// endpoints.
fn seed_003(member: &str, ready: usize) -> MemberSnapshot {
    let (region, elb) = match member {
        "usa" => ("us-east-1", "a1-1"),
        "eur" => ("eu-west-1", "a2-2"),
        "jpn" => ("ap-northeast-1", "a3-3"),
        other => panic!("no member {other} in seed 003"),
    };
    let host = format!("{elb}.{region}.elb.amazonaws.com");
    elb_member(&format!("{region}a"), region, &host, ready)
}

/// Seed 003, done by feddns: three members in three AWS regions behind ELBs, one latency record
/// per region with healthy shards, at the global name and at the vanity name.
#[tokio::test]
async fn latency_sets_appear_and_disappear_as_regions_gain_and_lose_healthy_shards() {
    let r = R53::start(&["usa", "eur", "jpn"], "routing: { policy: latency }", |_, _| {}).await;
    for (member, ready) in [("usa", 1), ("eur", 1), ("jpn", 0)] {
        r.send(member, seed_003(member, ready)).await;
    }
    let two = [
        "eu-west-1/eu-west-1 a2-2.eu-west-1.elb.amazonaws.com".to_string(),
        "us-east-1/us-east-1 a1-1.us-east-1.elb.amazonaws.com".to_string(),
    ];
    r.until("two latency sets", |r| {
        let (g, v) = (r.latency(GLOBAL), r.latency(VANITY));
        if g == two && v == two {
            Ok(())
        } else {
            Err(format!("global {g:?}, vanity {v:?}"))
        }
    })
    .await;
    r.send("jpn", seed_003("jpn", 3)).await;
    r.until_latency("Japan joins", VANITY, |v| v.len() == 3).await;
    r.send("usa", seed_003("usa", 0)).await;
    r.until_latency("the US leaves", GLOBAL, |g| {
        g.len() == 2 && !g.iter().any(|s| s.starts_with("us-east-1"))
    })
    .await;
}

/// 2,500 Services with three addresses each: 2,500 A sets of 3 records plus 2,500 ownership
/// TXTs = 10,000 records, in at most 10 ChangeResourceRecordSets requests.
#[tokio::test]
async fn a_10000_record_initial_sync_takes_at_most_10_change_requests() {
    let r = R53::start(&["big"], "", |_, _| {}).await;
    r.send("big", member(None, 2_500, 3, 1, 1)).await;
    r.until("10,000 records", |r| {
        let records: usize = r.sets().iter().map(|s| s.values.len()).sum();
        if records == 10_000 {
            Ok(())
        } else {
            Err(format!("{records} records"))
        }
    })
    .await;
    let changes = r.calls("ChangeResourceRecordSets");
    println!(
        "10,000-record initial sync: {changes} ChangeResourceRecordSets requests, calls {:?}",
        r.fake.calls()
    );
    assert!(changes <= 10, "{changes} change requests");
    assert_eq!(r.calls("ListResourceRecordSets"), 1, "one page of an empty zone");
}

/// A listing that keeps failing costs Route53's own attempts per page and nothing more: the
/// provider retries each page itself and says so, so the controller does not retry the whole
/// listing on top (it once did: 6 controller attempts of 5 page attempts each, 30 requests).
#[tokio::test(start_paused = true)]
async fn a_failing_listing_is_retried_at_one_level_only() {
    let text = "federation: myfed\ndomain: example.com\nowner_id: o1\n\
                provider: { route53: { zone_name: example.com, requests_per_second: 1000 } }\n\
                members: [{ name: m1, file: m1.yaml }]\n";
    let cfg = Config::parse(text, Path::new("/nowhere/config.yaml")).unwrap();
    let fake = Arc::new(FakeRoute53::new());
    let zone_id = fake.add_zone("example.com");
    let provider = Route53Provider::with_api(fake.clone(), Some(&zone_id), None)
        .await
        .unwrap();
    let list = Operation::ListResourceRecordSets;
    for _ in 0..100 {
        fake.push_error(ApiError::service(list, 503, "ServiceUnavailable", "down"));
    }
    let mut c = Controller::new(&cfg, Arc::new(provider), Arc::new(NoResolve), false);
    c.apply_event(snapshot_event("m1", member(Some(("z1", "r1")), 1, 1, 1, 1)));
    let e = c.plan_once().await.unwrap_err();
    assert!(e.to_string().contains("ServiceUnavailable"), "{e}");
    let requests = fake.calls().get(list.as_str()).copied().unwrap_or(0);
    assert_eq!(
        requests, 5,
        "Route53's 5 attempts of the first page, not retried again around them"
    );
}

#[tokio::test]
async fn steady_state_makes_no_route53_calls() {
    let r = R53::start(&["m1", "m2"], "", |_, _| {}).await;
    r.send("m1", member(Some(("z1", "r1")), 50, 1, 1, 1)).await;
    r.send("m2", member(Some(("z2", "r2")), 50, 1, 2, 1)).await;
    r.until_sets("converged", 50 * SETS_PER_SERVICE).await;
    let before = r.fake.calls();
    for _ in 0..10 {
        r.send("m1", member(Some(("z1", "r1")), 50, 1, 1, 2)).await;
        r.send("m2", member(Some(("z2", "r2")), 50, 1, 2, 1)).await;
    }
    // One real change after the no-ops: exactly one more change request, no list.
    let mut changed = member(Some(("z2", "r2")), 50, 1, 2, 1);
    changed.services.values_mut().next().unwrap().ingress =
        vec![Target::Ip("192.0.2.99".parse().unwrap())].into();
    r.send("m2", changed).await;
    r.until("the change lands", |r| {
        if r.sets().iter().any(|s| s.values == ["192.0.2.99"]) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    let after = r.fake.calls();
    let diff = |op: &str| after.get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0);
    assert_eq!(diff("ChangeResourceRecordSets"), 1, "{before:?} -> {after:?}");
    assert_eq!(diff("ListResourceRecordSets"), 0);
}

#[tokio::test]
async fn everything_converges_with_30_percent_of_calls_throttled() {
    let r = R53::start(&["m1", "m2"], "", |f, _| f.set_throttling(0.3, 7)).await;
    r.send("m1", member(Some(("z1", "r1")), 300, 1, 1, 1)).await;
    r.send("m2", member(Some(("z2", "r2")), 300, 2, 2, 1)).await;
    r.until_sets("converged", 300 * SETS_PER_SERVICE).await;
    let throttled: u64 = r.fake.throttled().values().sum();
    println!(
        "30% throttling: {throttled} calls throttled, calls {:?}",
        r.fake.calls()
    );
    assert!(throttled > 0, "the fake throttled nothing");
}

#[tokio::test]
async fn one_invalid_record_does_not_block_the_others() {
    let bad = "svc-7.ns-7.myfed.svc.example.com";
    let r = R53::start(&["m1"], "", |f, _| f.inject_invalid_change_batch(bad, None)).await;
    r.send("m1", member(None, 40, 1, 1, 1)).await;
    r.until("39 services written", |r| {
        let names = r
            .sets()
            .iter()
            .filter(|s| s.name.ends_with(".myfed.svc.example.com") && !s.name.starts_with('_'))
            .count();
        if names == 39 {
            Ok(())
        } else {
            Err(format!("{names} names"))
        }
    })
    .await;
    assert!(!r.sets().iter().any(|s| s.name == bad));
    // The bad name was isolated by splitting the batch, not by sending every name alone.
    let calls = r.calls("ChangeResourceRecordSets");
    println!("one invalid name among 40: {calls} change requests");
    assert!(calls < 20, "{calls} change requests for 40 services");
}

const SVC0: &str = "svc-0.ns-0.myfed.svc.example.com";

/// Route53 allows one latency set per Region for a name and type: two members whose regions map
/// to one AWS region (GCE `us-east1` and `us-east4` → `us-east-1`) get one set, `us-east-1`,
/// holding both members' targets, on the strict fake that enforces that rule.
#[tokio::test]
async fn members_mapping_to_one_aws_region_share_one_latency_set() {
    let r = R53::start(&["sc", "va", "eu"], "routing: { policy: latency }", |_, _| {}).await;
    r.send("sc", member(Some(("us-east1-b", "us-east1")), 1, 1, 1, 1))
        .await;
    r.send("va", member(Some(("us-east4-a", "us-east4")), 1, 1, 2, 1))
        .await;
    r.send("eu", member(Some(("europe-west1-b", "europe-west1")), 1, 1, 3, 1))
        .await;
    let want = [
        "eu-west-3/eu-west-3 10.3.0.0".to_string(),
        "us-east-1/us-east-1 10.1.0.0 10.2.0.0".to_string(),
    ];
    r.until_latency("one latency set per AWS region", SVC0, |g| g == want)
        .await;
    // Virginia goes down: the shared set keeps South Carolina's target.
    r.send("va", member(Some(("us-east4-a", "us-east4")), 1, 1, 2, 0))
        .await;
    r.until_latency("the shared set keeps the other member", SVC0, |g| {
        g.contains(&"us-east-1/us-east-1 10.1.0.0".to_string()) && g.len() == 2
    })
    .await;
}

/// A zone written when latency set identifiers were member regions (`us-east1`) converges to
/// sets named by AWS region: the old set is deleted before its successor in the same Region is
/// created, in one batch, so the strict fake's one-set-per-Region rule never refuses it.
#[tokio::test]
async fn latency_sets_named_by_member_region_migrate_to_aws_regions() {
    let owner = feddns::federation::ownership::Ownership {
        owner: "o1".into(),
        federation: "myfed".into(),
        subject: feddns::federation::model::Subject::Service(ServiceKey::new("ns-0", "svc-0")),
        source: None,
    };
    let old = |id: &str, region: &str, ip: &str| {
        RecordSet::new(SVC0, RecordType::A, 180, [ip.to_string()]).with_routing(Routing::Latency {
            set_id: id.into(),
            region: region.into(),
        })
    };
    let r = R53::start(&["sc", "eu"], "routing: { policy: latency }", |fake, zone| {
        fake.seed_set(zone, &old("us-east1", "us-east-1", "10.1.0.0"));
        fake.seed_set(zone, &old("europe-west1", "eu-west-3", "10.3.0.0"));
        fake.seed_set(
            zone,
            &RecordSet::new(&format!("_feddns.{SVC0}"), RecordType::Txt, 180, [owner.encode()]),
        );
    })
    .await;
    assert_eq!(
        r.latency(SVC0),
        [
            "europe-west1/eu-west-3 10.3.0.0".to_string(),
            "us-east1/us-east-1 10.1.0.0".to_string()
        ]
    );
    r.send("sc", member(Some(("us-east1-b", "us-east1")), 1, 1, 1, 1))
        .await;
    r.send("eu", member(Some(("europe-west1-b", "europe-west1")), 1, 1, 3, 1))
        .await;
    let want = [
        "eu-west-3/eu-west-3 10.3.0.0".to_string(),
        "us-east-1/us-east-1 10.1.0.0".to_string(),
    ];
    r.until_latency("sets named by AWS region", SVC0, |g| g == want)
        .await;
}

/// Verify every 100 ms (the housekeeping tick follows `member_grace`), so that reconcile rounds
/// come without member events.
const ROUNDS: &str = "safety: { member_grace: 400ms }\n\
                      controller: { debounce: 20ms, max_debounce: 200ms, verify_interval: 100ms }\n";

fn ownership_txt(name: &str) -> RecordSet {
    let owner = feddns::federation::ownership::Ownership {
        owner: "o1".into(),
        federation: "myfed".into(),
        subject: feddns::federation::model::Subject::Service(ServiceKey::new("ns-0", "svc-0")),
        source: None,
    };
    RecordSet::new(&format!("_feddns.{name}"), RecordType::Txt, 180, [owner.encode()])
}

/// Someone attached a Route53 health check to feddns's own latency set. feddns cannot write that
/// set back without the health check (and Route53 refuses a DELETE without it), so the name is a
/// conflict: reported in the plan, left as it is, and never retried, while the Service's other
/// names follow the member.
#[tokio::test]
async fn a_health_check_on_an_owned_set_is_a_conflict_never_retried() {
    let checked = {
        let ours = RecordSet::new(SVC0, RecordType::A, 180, ["192.0.2.1".to_string()]).with_routing(
            Routing::Latency {
                set_id: "us-east-1".into(),
                region: "us-east-1".into(),
            },
        );
        let mut w = feddns_route53::wire::to_wire(&ours);
        w.health_check_id = Some("7c1e5a52-hc".into());
        w
    };
    let seeded = checked.clone();
    let r = R53::start(
        &["sc"],
        &format!("routing: {{ policy: latency }}\n{ROUNDS}"),
        move |fake, zone| {
            fake.seed(zone, seeded);
            fake.seed_set(zone, &ownership_txt(SVC0));
        },
    )
    .await;
    let sc = member(Some(("us-east1-b", "us-east1")), 1, 1, 1, 1);
    r.send("sc", sc.clone()).await;
    let region = "svc-0.ns-0.myfed.svc.us-east1.example.com";
    r.until("the region name is written", |r| {
        let v: Vec<_> = r.sets().into_iter().filter(|s| s.name == region).collect();
        if v.iter().any(|s| s.values == ["10.1.0.0"]) {
            Ok(())
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    r.no_changes_over(3).await;
    let global: Vec<_> = r
        .fake
        .records(&r.zone_id)
        .into_iter()
        .filter(|w| w.name == format!("{SVC0}.") && w.rtype == "A")
        .collect();
    assert_eq!(global, [checked], "the health-checked set is untouched");
    assert!(r.stats.conflicts.load(Ordering::SeqCst) >= 1);
    let plan = r.plan(&[("sc", sc)]).await;
    let conflict = plan
        .conflicts
        .iter()
        .find(|c| c.name == SVC0)
        .unwrap_or_else(|| panic!("{SVC0} is a conflict: {:?}", plan.conflicts));
    assert!(
        conflict.reason.contains("HealthCheckId 7c1e5a52-hc") && conflict.reason.contains("does not manage"),
        "{}",
        conflict.reason
    );
    assert!(plan.names.iter().all(|n| n.name != SVC0));
}

/// A weighted set with a health check, left by someone else at a name feddns wants, with
/// `ownership.adopt` on: feddns would take over a bare leftover, but not a set whose health
/// check it would drop. A conflict, reported and never retried.
#[tokio::test]
async fn a_health_checked_set_at_a_wanted_name_is_a_conflict_even_with_adopt() {
    let foreign = WireRecordSet {
        name: format!("{SVC0}."),
        rtype: "A".into(),
        set_identifier: Some("blue".into()),
        weight: Some(100),
        ttl: Some(60),
        values: vec!["203.0.113.7".into()],
        health_check_id: Some("d00d-hc".into()),
        ..WireRecordSet::default()
    };
    let seeded = foreign.clone();
    let r = R53::start(
        &["m1"],
        &format!("ownership: {{ adopt: true }}\n{ROUNDS}"),
        move |fake, zone| fake.seed(zone, seeded),
    )
    .await;
    let m1 = member(Some(("z1", "r1")), 1, 1, 1, 1);
    r.send("m1", m1.clone()).await;
    let region = "svc-0.ns-0.myfed.svc.r1.example.com";
    r.until("the region name is written", |r| {
        if r.sets().iter().any(|s| s.name == region) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    r.no_changes_over(3).await;
    let at_global: Vec<_> = r
        .fake
        .records(&r.zone_id)
        .into_iter()
        .filter(|w| w.name.starts_with(SVC0) || w.name.starts_with(&format!("_feddns.{SVC0}")))
        .collect();
    assert_eq!(at_global, [foreign], "nothing written at or beside the name");
    let plan = r.plan(&[("m1", m1)]).await;
    assert!(
        plan.conflicts
            .iter()
            .any(|c| c.name == SVC0 && c.reason.contains("HealthCheckId d00d-hc")),
        "{:?}",
        plan.conflicts
    );
}

/// A host of Ingresses in three members with `routing: latency`: one latency set per AWS region
/// with healthy members (GCE `us-east4` shares `us-east-1`), its ownership TXT naming the
/// Ingress and the host; a region whose Ingress loses its ready backend loses its set.
#[tokio::test]
async fn a_host_gets_one_latency_set_per_aws_region() {
    const WWW: &str = "www.example.com";
    let r = R53::start(
        &["use", "euw", "gce"],
        "routing: { policy: latency }\nsources: [service, ingress]\n\
         controller: { debounce: 20ms, max_debounce: 200ms, verify_interval: 100ms }\n",
        |_, _| {},
    )
    .await;
    r.send("use", ingress_snapshot("us-east-1", &[WWW], "192.0.2.1", 1))
        .await;
    r.send("euw", ingress_snapshot("eu-west-1", &[WWW], "192.0.2.2", 1))
        .await;
    r.send("gce", ingress_snapshot("us-east4", &[WWW], "192.0.2.3", 1))
        .await;
    let want = [
        "eu-west-1/eu-west-1 192.0.2.2",
        "us-east-1/us-east-1 192.0.2.1 192.0.2.3",
    ];
    r.until_latency("latency sets at the host", WWW, |g| g == want)
        .await;
    let txt: Vec<String> = r
        .sets()
        .into_iter()
        .filter(|s| s.name == "_feddns.www.example.com")
        .flat_map(|s| s.values)
        .collect();
    assert_eq!(
        txt,
        ["heritage=feddns,owner=o1,federation=myfed,ingress=shop/web,host=www.example.com"]
    );
    r.send("euw", ingress_snapshot("eu-west-1", &[WWW], "192.0.2.2", 0))
        .await;
    r.until("eu-west-1 leaves", |r| {
        let got = r.latency(WWW);
        if got == ["us-east-1/us-east-1 192.0.2.1 192.0.2.3"] {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    r.no_changes_over(2).await;
}
