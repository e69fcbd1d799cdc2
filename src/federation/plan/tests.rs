//! Planner vectors: every scenario of the Federation v1 DNS controller's unit test
//! (`pkg/federation-controller/service/dns/dns_test.go`), with feddns's corrections where v1 was
//! wrong, plus ownership, safety and property tests. Each run goes planner → diff → the reference
//! zone (which validates every batch as a strict provider would).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use feddns_provider::{Capabilities, Change, Limits, RecordSet, RecordType, ZoneState};
use proptest::prelude::*;

use super::*;
use crate::federation::index::tests::Snap;
use crate::federation::model::MemberSnapshot;
use crate::federation::names::Naming;
use crate::federation::planner::{DEFAULT_TTL, PlannerConfig};

mod hosts;

const ZONE: &str = "example.com";

struct Harness {
    index: Index,
    cache: ZoneCache,
    zone: ZoneState,
    cfg: PlannerConfig,
    hosts: BTreeMap<String, Vec<IpAddr>>,
    opts: PlanOptions,
}

impl Harness {
    fn new(caps: Capabilities) -> Self {
        Self {
            index: Index::new(),
            cache: ZoneCache::new("_feddns", "test-owner", "ufp"),
            zone: ZoneState::new(
                ZONE,
                caps,
                Limits {
                    max_records_per_batch: 100_000,
                    max_value_chars_per_batch: usize::MAX,
                    replace_cost: 2,
                },
            ),
            cfg: PlannerConfig::new(Naming::new("ufp", ZONE).unwrap(), DEFAULT_TTL, caps),
            hosts: BTreeMap::from([(
                "a9.us-west-2.elb.amazonaws.com".to_string(),
                vec!["198.51.100.1".parse().unwrap()],
            )]),
            opts: PlanOptions {
                owner_id: "test-owner".into(),
                ..PlanOptions::default()
            },
        }
    }

    /// The v1 fixture: c1 in fooregion/foozone, c2 in barregion/barzone.
    fn v1() -> Self {
        Self::new(Capabilities::default())
    }

    fn member(&mut self, name: &str, zone: &str, region: &str, ingress: &[&str], ready: usize) {
        let mut snap = Snap::default().node(&format!("{name}-node"), zone, region);
        if !ingress.is_empty() || ready > 0 {
            snap = snap.service("test", "nginx", ingress, ready);
        }
        self.index.set_snapshot(name, snap.build());
    }

    /// Loads the cache from the zone, as a listing does (adopting per `opts`).
    fn relist(&mut self) {
        let zone = self.zone.clone();
        self.relist_from(&zone);
    }

    fn relist_from(&mut self, zone: &ZoneState) {
        self.cache = ZoneCache::new("_feddns", &self.opts.owner_id, "ufp").with_adopt(self.opts.adopt);
        self.cache.load(zone.shared().cloned());
    }

    fn plan_all(&self) -> Plan {
        let keys = all_services(&self.index, &self.cache);
        plan(
            &self.index,
            &self.cache,
            &keys,
            &self.cfg,
            &self.hosts,
            &self.opts,
        )
    }

    fn reconcile(&mut self) -> Plan {
        let mut p = self.plan_all();
        p.hosts = host_reports(&self.index, &p.services);
        assert!(p.refused.is_none(), "{:?}", p.refused);
        let batch: Vec<Change> = p.names.iter().flat_map(|n| n.changes.clone()).collect();
        if let Err(e) = self.zone.apply(&batch) {
            panic!("the reference zone rejected the plan: {e}\n{}", render_table(&p));
        }
        self.cache.apply(&batch);
        p
    }

    /// Records as v1's test printed them, without the ownership TXTs.
    fn records(&self) -> BTreeSet<String> {
        self.zone
            .sets()
            .filter(|s| s.rtype != RecordType::Txt)
            .map(|s| format!("{}:{}:{}:[{}]", s.name, s.rtype, s.ttl, s.values.join(" ")))
            .collect()
    }
}

fn set(records: &[&str]) -> BTreeSet<String> {
    records.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn v1_service_with_no_ingress_gets_no_records() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &[], 1);
    h.member("c2", "barzone", "barregion", &[], 1);
    h.reconcile();
    assert!(h.records().is_empty(), "{:?}", h.records());
}

#[test]
fn v1_service_with_single_lb_ingress() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 0);
    h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            "nginx.test.ufp.svc.example.com:A:180:[198.51.100.1]",
            "nginx.test.ufp.svc.fooregion.example.com:A:180:[198.51.100.1]",
            "nginx.test.ufp.svc.foozone.fooregion.example.com:A:180:[198.51.100.1]",
            "nginx.test.ufp.svc.barregion.example.com:CNAME:180:[nginx.test.ufp.svc.example.com]",
            "nginx.test.ufp.svc.barzone.barregion.example.com:CNAME:180:[nginx.test.ufp.svc.barregion.example.com]",
        ])
    );
}

/// v1 resolved the ELB hostname once and froze it into A records everywhere (#35637). feddns
/// writes a CNAME where the hostname stands alone, and re-resolves it only where it is mixed
/// with IPs on a provider without weighted routing.
#[test]
fn v1_service_with_aws_and_gcp_multiple_lb_ingress_keeps_elb_hostnames_as_cnames() {
    let mut h = Harness::v1();
    h.member(
        "c1",
        "foozone",
        "fooregion",
        &["a9.us-west-2.elb.amazonaws.com"],
        1,
    );
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 1);
    h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            "nginx.test.ufp.svc.example.com:A:180:[198.51.100.1 198.51.100.2]",
            "nginx.test.ufp.svc.fooregion.example.com:CNAME:180:[a9.us-west-2.elb.amazonaws.com]",
            "nginx.test.ufp.svc.foozone.fooregion.example.com:CNAME:180:[a9.us-west-2.elb.amazonaws.com]",
            "nginx.test.ufp.svc.barregion.example.com:A:180:[198.51.100.2]",
            "nginx.test.ufp.svc.barzone.barregion.example.com:A:180:[198.51.100.2]",
        ])
    );
    // The ELB moves to another address: the next plan follows it.
    h.hosts.insert(
        "a9.us-west-2.elb.amazonaws.com".into(),
        vec!["198.51.100.9".parse().unwrap()],
    );
    h.reconcile();
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.example.com:A:180:[198.51.100.2 198.51.100.9]")
    );
}

#[test]
fn v1_service_with_no_lb_ingress_ready_gets_only_cnames() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 0);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 0);
    h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            "nginx.test.ufp.svc.fooregion.example.com:CNAME:180:[nginx.test.ufp.svc.example.com]",
            "nginx.test.ufp.svc.foozone.fooregion.example.com:CNAME:180:[nginx.test.ufp.svc.fooregion.example.com]",
            "nginx.test.ufp.svc.barregion.example.com:CNAME:180:[nginx.test.ufp.svc.example.com]",
            "nginx.test.ufp.svc.barzone.barregion.example.com:CNAME:180:[nginx.test.ufp.svc.barregion.example.com]",
        ])
    );
}

#[test]
fn v1_service_with_multiple_lb_ingress() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 1);
    h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            "nginx.test.ufp.svc.example.com:A:180:[198.51.100.1 198.51.100.2]",
            "nginx.test.ufp.svc.fooregion.example.com:A:180:[198.51.100.1]",
            "nginx.test.ufp.svc.foozone.fooregion.example.com:A:180:[198.51.100.1]",
            "nginx.test.ufp.svc.barregion.example.com:A:180:[198.51.100.2]",
            "nginx.test.ufp.svc.barzone.barregion.example.com:A:180:[198.51.100.2]",
        ])
    );
}

/// v1 left the zone and region CNAMEs behind ("Need to remove these leaks in future", #36799).
#[test]
fn v1_service_deleted_takes_every_record_with_it() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 0);
    h.reconcile();
    assert_eq!(h.records().len(), 5);
    h.member("c1", "foozone", "fooregion", &[], 0);
    h.member("c2", "barzone", "barregion", &[], 0);
    h.reconcile();
    assert!(h.records().is_empty(), "{:?}", h.records());
    assert_eq!(h.zone.sets().count(), 0, "ownership TXTs must go too");
    assert!(h.plan_all().is_empty());
}

#[test]
fn v1_service_with_lb_ingress_modified_over_time() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 1);
    h.reconcile();
    h.member("c1", "foozone", "fooregion", &["198.51.100.3"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2", "2001:db8::2"], 1);
    h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            "nginx.test.ufp.svc.example.com:A:180:[198.51.100.2 198.51.100.3]",
            "nginx.test.ufp.svc.example.com:AAAA:180:[2001:db8::2]",
            "nginx.test.ufp.svc.fooregion.example.com:A:180:[198.51.100.3]",
            "nginx.test.ufp.svc.foozone.fooregion.example.com:A:180:[198.51.100.3]",
            "nginx.test.ufp.svc.barregion.example.com:A:180:[198.51.100.2]",
            "nginx.test.ufp.svc.barregion.example.com:AAAA:180:[2001:db8::2]",
            "nginx.test.ufp.svc.barzone.barregion.example.com:A:180:[198.51.100.2]",
            "nginx.test.ufp.svc.barzone.barregion.example.com:AAAA:180:[2001:db8::2]",
        ])
    );
    // c1's endpoints all become unready: its names fall back, the global name shrinks.
    h.member("c1", "foozone", "fooregion", &["198.51.100.3"], 0);
    h.reconcile();
    assert!(h.records().contains("nginx.test.ufp.svc.foozone.fooregion.example.com:CNAME:180:[nginx.test.ufp.svc.fooregion.example.com]"));
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.fooregion.example.com:CNAME:180:[nginx.test.ufp.svc.example.com]")
    );
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.example.com:A:180:[198.51.100.2]")
    );
    assert!(h.plan_all().is_empty(), "a second plan must be empty");
}

/// v1 wrote zone names only for the first zone of a member (kubernetes/kubernetes#50529).
#[test]
fn every_zone_of_a_multi_zone_member_gets_its_names() {
    let mut h = Harness::v1();
    let snap = Snap::default()
        .node("a", "eu-west-1a", "eu-west-1")
        .node("b", "eu-west-1b", "eu-west-1")
        .node("c", "eu-west-1c", "eu-west-1")
        .service("test", "nginx", &["203.0.113.5"], 2);
    h.index.set_snapshot("eu", snap.build());
    h.reconcile();
    for z in ["eu-west-1a", "eu-west-1b", "eu-west-1c"] {
        assert!(
            h.records().contains(&format!(
                "nginx.test.ufp.svc.{z}.eu-west-1.example.com:A:180:[203.0.113.5]"
            )),
            "{z}"
        );
    }
}

#[test]
fn several_hostnames_become_weighted_cnames_where_the_provider_has_them() {
    let caps = Capabilities {
        weighted: true,
        ..Capabilities::default()
    };
    let mut h = Harness::new(caps);
    h.member("c1", "foozone", "fooregion", &["lb-1.elb.example.net"], 1);
    h.member("c2", "barzone", "barregion", &["lb-2.elb.example.net"], 1);
    h.reconcile();
    let global: Vec<RecordSet> = h
        .zone
        .sets_at("nginx.test.ufp.svc.example.com")
        .cloned()
        .collect();
    assert_eq!(global.len(), 2, "{global:#?}");
    assert!(
        global
            .iter()
            .all(|s| s.rtype == RecordType::Cname && s.routing.is_some())
    );
}

#[test]
fn unresolved_hostnames_hold_the_name_until_they_resolve() {
    let mut h = Harness::v1();
    h.member("c1", "foozone", "fooregion", &["new.elb.example.net"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 1);
    let p = h.reconcile();
    assert_eq!(p.held, vec!["nginx.test.ufp.svc.example.com".to_string()]);
    assert!(
        !h.records()
            .iter()
            .any(|r| r.starts_with("nginx.test.ufp.svc.example.com:"))
    );
    assert_eq!(p.hostnames.len(), 1);
    h.hosts
        .insert("new.elb.example.net".into(), vec!["192.0.2.44".parse().unwrap()]);
    h.reconcile();
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.example.com:A:180:[192.0.2.44 198.51.100.2]")
    );
}

#[test]
fn ttl_annotation_applies_to_every_name_of_the_service() {
    let mut h = Harness::v1();
    let mut snap = Snap::default()
        .node("n", "foozone", "fooregion")
        .service("test", "nginx", &["192.0.2.1"], 1)
        .build();
    snap.services.values_mut().for_each(|s| s.options.ttl = Some(30));
    h.index.set_snapshot("c1", snap);
    h.reconcile();
    assert!(h.zone.sets().all(|s| s.ttl == 30));
}

#[test]
fn malformed_annotations_are_reported_on_the_service_and_ignored() {
    let mut h = Harness::v1();
    let mut snap = Snap::default()
        .node("n", "foozone", "fooregion")
        .service("test", "nginx", &["192.0.2.1"], 1)
        .build();
    snap.services.values_mut().for_each(|s| {
        s.problems =
            ["Service test/nginx: annotation feddns.io/ttl=\"soon\" is not an integer; ignored".into()]
                .into();
    });
    h.index.set_snapshot("c1", snap);
    let p = h.reconcile();
    assert_eq!(
        p.problems,
        ["member c1: Service test/nginx: annotation feddns.io/ttl=\"soon\" is not an integer; ignored"]
    );
    assert!(
        h.zone.sets().all(|s| s.ttl == DEFAULT_TTL),
        "the bad value is ignored"
    );
    assert!(!p.names.is_empty(), "the Service is still planned");
}

#[test]
fn invalid_zone_labels_are_reported_and_skipped_not_fatal() {
    let mut h = Harness::v1();
    h.member("c1", "foo_zone", "fooregion", &["192.0.2.1"], 1);
    let p = h.reconcile();
    assert!(
        p.problems
            .iter()
            .any(|m| m.contains("foo_zone") && m.contains("underscores")),
        "{:?}",
        p.problems
    );
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.fooregion.example.com:A:180:[192.0.2.1]")
    );
}

#[test]
fn an_overlong_service_is_reported_and_skipped_while_others_are_planned() {
    let mut h = Harness::v1();
    let long = "s".repeat(64);
    let snap = Snap::default()
        .node("n", "foozone", "fooregion")
        .service("test", &long, &["192.0.2.1"], 1)
        .service("test", "nginx", &["192.0.2.2"], 1);
    h.index.set_snapshot("c1", snap.build());
    let p = h.reconcile();
    assert!(
        p.problems
            .iter()
            .any(|m| m.contains(&format!("service test/{long} skipped")) && m.contains("64 characters")),
        "{:?}",
        p.problems
    );
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.example.com:A:180:[192.0.2.2]")
    );
    assert!(render_table(&p).contains("PROBLEM"));
}

#[test]
fn foreign_records_are_conflicts_and_never_touched() {
    let mut h = Harness::v1();
    let foreign = RecordSet::new(
        "nginx.test.ufp.svc.example.com",
        RecordType::A,
        60,
        ["192.0.2.200".to_string()],
    );
    let foreign_owned = RecordSet::new(
        "nginx.test.ufp.svc.fooregion.example.com",
        RecordType::A,
        60,
        ["192.0.2.201".to_string()],
    );
    let foreign_txt = RecordSet::new(
        "_feddns.nginx.test.ufp.svc.fooregion.example.com",
        RecordType::Txt,
        60,
        ["heritage=feddns,owner=someone-else,federation=ufp,service=test/nginx".to_string()],
    );
    let batch: Vec<Change> = [&foreign, &foreign_owned, &foreign_txt]
        .iter()
        .map(|s| Change::create((*s).clone()))
        .collect();
    h.zone.apply(&batch).unwrap();
    h.relist();
    h.member("c1", "foozone", "fooregion", &["192.0.2.1"], 1);
    let p = h.reconcile();
    let conflicted: BTreeSet<&str> = p.conflicts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        conflicted,
        BTreeSet::from([
            "nginx.test.ufp.svc.example.com",
            "nginx.test.ufp.svc.fooregion.example.com"
        ])
    );
    assert!(p.conflicts.iter().any(|c| c.reason.contains("someone-else")));
    assert!(h.zone.sets().any(|s| *s == foreign) && h.zone.sets().any(|s| *s == foreign_owned));
    assert!(render_table(&p).contains("CONFLICT  nginx.test.ufp.svc.example.com"));
    // The zone name was free: it is ours now.
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.foozone.fooregion.example.com:A:180:[192.0.2.1]")
    );
}

fn with_unmodelled(set: RecordSet, set_id: Option<&str>, field: &str, value: &str) -> RecordSet {
    set.with_unmodelled(feddns_provider::Unmodelled {
        set_id: set_id.map(str::to_string),
        fields: BTreeMap::from([(field.to_string(), value.to_string())]),
        summary: format!("{field} {value}"),
    })
}

/// A set holding fields feddns does not model (a health check someone attached, a failover
/// policy) cannot be rewritten by feddns without losing them: a name holding one is a conflict,
/// even a name feddns owns, or one `adopt` would take over, and nothing at it changes.
#[test]
fn names_holding_sets_with_unmodelled_fields_are_conflicts_even_when_owned() {
    let mut h = latency_harness();
    h.opts.adopt = true;
    let global = "nginx.test.ufp.svc.example.com";
    let region = "nginx.test.ufp.svc.us-east-1.example.com";
    let zone_name = "nginx.test.ufp.svc.us-east-1a.us-east-1.example.com";
    // A failover pair left at the zone name by someone else, without any ownership record.
    let failover = |id: &str, role: &str, ip: &str| {
        with_unmodelled(
            RecordSet::new(zone_name, RecordType::A, 60, [ip.to_string()]),
            Some(id),
            "Failover",
            role,
        )
    };
    let pair = [
        failover("primary", "PRIMARY", "192.0.2.100"),
        failover("secondary", "SECONDARY", "192.0.2.101"),
    ];
    h.zone
        .apply(&pair.iter().map(|s| Change::create(s.clone())).collect::<Vec<_>>())
        .unwrap();
    h.relist();
    h.member("c1", "us-east-1a", "us-east-1", &["192.0.2.1"], 1);
    let p = h.reconcile();
    assert_eq!(
        p.conflicts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [zone_name]
    );
    assert!(
        p.conflicts[0].reason.contains("Failover PRIMARY")
            && p.conflicts[0].reason.contains("does not manage"),
        "{}",
        p.conflicts[0].reason
    );
    assert_eq!(h.zone.sets_at(zone_name).cloned().collect::<Vec<_>>(), pair);
    // Someone attaches a health check to our latency set at the global name.
    let ours = h.zone.sets_at(global).next().cloned().unwrap();
    let checked = with_unmodelled(ours.clone(), None, "HealthCheckId", "7c1e5a52");
    h.zone.apply(&[Change::replace(ours, checked.clone())]).unwrap();
    h.relist();
    // The member's address changes: the region name follows, the global name is a conflict.
    h.member("c1", "us-east-1a", "us-east-1", &["192.0.2.2"], 1);
    let p = h.reconcile();
    let conflict = p
        .conflicts
        .iter()
        .find(|c| c.name == global)
        .expect("the global name is a conflict");
    assert!(
        conflict.reason.contains("HealthCheckId 7c1e5a52") && conflict.reason.contains(global),
        "{}",
        conflict.reason
    );
    assert!(p.names.iter().all(|n| n.name != global), "{}", render_table(&p));
    assert!(render_table(&p).contains(&format!("CONFLICT  {global}")));
    assert!(h.records().contains(&format!("{region}:A:180:[192.0.2.2]")));
    assert_eq!(h.zone.sets_at(global).collect::<Vec<_>>(), [&checked]);
    // The Service goes away: its other names go, the global name and its ownership stay.
    h.index
        .set_snapshot("c1", Snap::default().node("n", "us-east-1a", "us-east-1").build());
    let p = h.reconcile();
    assert!(p.conflicts.iter().any(|c| c.name == global), "{:?}", p.conflicts);
    assert_eq!(h.zone.sets_at(region).count(), 0);
    assert_eq!(h.zone.sets_at(global).collect::<Vec<_>>(), [&checked]);
    assert_eq!(h.zone.sets_at(&format!("_feddns.{global}")).count(), 1);
    assert!(h.plan_all().is_empty());
}

#[test]
fn adopt_takes_over_federation_v1_leftovers_only() {
    let mut h = Harness::v1();
    h.opts.adopt = true;
    let v1_leftover = RecordSet::new(
        "nginx.test.ufp.svc.fooregion.example.com",
        RecordType::Cname,
        180,
        ["nginx.test.ufp.svc.example.com".to_string()],
    );
    let other_owner = RecordSet::new(
        "_feddns.nginx.test.ufp.svc.example.com",
        RecordType::Txt,
        60,
        ["heritage=external-dns,external-dns/owner=default".to_string()],
    );
    h.zone
        .apply(&[Change::create(v1_leftover), Change::create(other_owner)])
        .unwrap();
    h.relist();
    h.member("c1", "foozone", "fooregion", &["192.0.2.1"], 1);
    let p = h.reconcile();
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.fooregion.example.com:A:180:[192.0.2.1]")
    );
    assert_eq!(
        p.conflicts.len(),
        1,
        "a name with a foreign TXT is not adoptable: {:?}",
        p.conflicts
    );
}

#[test]
fn nothing_is_replaced_or_deleted_until_every_member_is_settled() {
    let mut h = Harness::v1();
    h.index.add_member("c1");
    h.index.add_member("c2");
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 1);
    h.member("c2", "barzone", "barregion", &["198.51.100.2"], 1);
    h.reconcile();
    // A restart: c2 has not listed yet, c1 has lost its service.
    let mut fresh = Harness::v1();
    fresh.zone = h.zone.clone();
    fresh.relist();
    fresh.index.add_member("c2");
    fresh.member("c1", "foozone", "fooregion", &[], 0);
    let p = fresh.plan_all();
    assert!(p.names.is_empty(), "{}", render_table(&p));
    assert!(!p.deferred.is_empty());
    fresh.index.set_down("c2");
    assert!(!fresh.plan_all().names.is_empty());
}

#[test]
fn a_plan_deleting_most_owned_records_is_refused_unless_forced() {
    let mut h = Harness::v1();
    for i in 0..5 {
        let mut snap = Snap::default().node("n", "foozone", "fooregion");
        for s in 0..4 {
            snap = snap.service(
                "test",
                &format!("svc{s}"),
                &[&format!("192.0.2.{}", i * 10 + s)],
                1,
            );
        }
        h.index.set_snapshot(&format!("c{i}"), snap.build());
    }
    h.reconcile();
    for i in 0..5 {
        h.index.set_snapshot(
            &format!("c{i}"),
            Snap::default().node("n", "foozone", "fooregion").build(),
        );
    }
    let p = h.plan_all();
    let refused = p.refused.clone().expect("the guard must refuse");
    assert!(
        refused.contains("refusing to delete 12 of 12 owned record sets"),
        "{refused}"
    );
    assert!(render_table(&p).contains("REFUSED"));
    h.opts.force = true;
    assert!(h.plan_all().refused.is_none());
}

// ---- latency routing (Route53) ----

fn latency_harness() -> Harness {
    let caps = Capabilities {
        latency: true,
        weighted: true,
        alias: true,
        ..Capabilities::default()
    };
    let mut h = Harness::new(caps);
    h.cfg.routing = crate::federation::model::RoutingMode::Latency;
    h
}

fn global_sets(h: &Harness, name: &str) -> Vec<String> {
    h.zone
        .sets_at(name)
        .map(|s| {
            format!(
                "{} {} {} {}",
                s.rtype,
                s.routing().map_or("-", |r| r.set_id()),
                match s.routing() {
                    Some(feddns_provider::Routing::Latency { region, .. }) => region.as_str(),
                    _ => "-",
                },
                s.values.join(" ")
            )
        })
        .collect()
}

/// Seed 003 by hand: three clusters in three AWS regions, ELB hostnames, one latency record per
/// region at the global name and at the vanity name `hugo-fed.<domain>`.
#[test]
fn latency_sets_follow_regions_gaining_and_losing_healthy_shards() {
    let mut h = latency_harness();
    let svc = |elb: &str, ready| {
        let mut s = Snap::default().service("test", "nginx", &[elb], ready).build();
        s.services
            .values_mut()
            .for_each(|s| s.options.hostnames = vec!["hugo-fed.example.com".into()]);
        s
    };
    let with_node = |mut s: MemberSnapshot, zone: &str, region: &str| {
        s.nodes.insert(
            "n".into(),
            crate::federation::index::tests::node("n", Some(zone), Some(region)),
        );
        s
    };
    h.index.set_snapshot(
        "usa",
        with_node(
            svc("a1.us-east-1.elb.amazonaws.com", 1),
            "us-east-1a",
            "us-east-1",
        ),
    );
    h.index.set_snapshot(
        "eur",
        with_node(
            svc("a2.eu-west-1.elb.amazonaws.com", 1),
            "eu-west-1a",
            "eu-west-1",
        ),
    );
    h.index.set_snapshot(
        "jpn",
        with_node(
            svc("a3.ap-northeast-1.elb.amazonaws.com", 0),
            "ap-northeast-1a",
            "ap-northeast-1",
        ),
    );
    h.reconcile();
    let want = vec![
        "CNAME eu-west-1 eu-west-1 a2.eu-west-1.elb.amazonaws.com".to_string(),
        "CNAME us-east-1 us-east-1 a1.us-east-1.elb.amazonaws.com".to_string(),
    ];
    assert_eq!(global_sets(&h, "nginx.test.ufp.svc.example.com"), want);
    assert_eq!(global_sets(&h, "hugo-fed.example.com"), want);
    // Japan becomes healthy: its latency set appears.
    h.index.set_snapshot(
        "jpn",
        with_node(
            svc("a3.ap-northeast-1.elb.amazonaws.com", 2),
            "ap-northeast-1a",
            "ap-northeast-1",
        ),
    );
    h.reconcile();
    assert_eq!(global_sets(&h, "hugo-fed.example.com").len(), 3);
    // Europe loses its endpoints: its set goes, the others stay untouched.
    h.index.set_snapshot(
        "eur",
        with_node(
            svc("a2.eu-west-1.elb.amazonaws.com", 0),
            "eu-west-1a",
            "eu-west-1",
        ),
    );
    let p = h.reconcile();
    // The two eu-west-1 latency sets go; the EU zone and region names fall back to CNAMEs.
    assert_eq!(p.counts(), (0, 2, 2), "{}", render_table(&p));
    let deleted: Vec<String> = p
        .names
        .iter()
        .flat_map(|n| &n.changes)
        .filter_map(|c| match c {
            Change::Delete { old } => Some(format!("{} {}", old.name, old.key().set_id.unwrap_or_default())),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        [
            "hugo-fed.example.com eu-west-1",
            "nginx.test.ufp.svc.example.com eu-west-1"
        ]
    );
    assert_eq!(
        global_sets(&h, "nginx.test.ufp.svc.example.com"),
        vec![
            "CNAME ap-northeast-1 ap-northeast-1 a3.ap-northeast-1.elb.amazonaws.com".to_string(),
            "CNAME us-east-1 us-east-1 a1.us-east-1.elb.amazonaws.com".to_string(),
        ]
    );
    // Zone and region names stay plain.
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.eu-west-1.example.com:CNAME:180:[nginx.test.ufp.svc.example.com]")
    );
    assert!(h.plan_all().is_empty());
    // Nothing healthy anywhere: no global record, no vanity record.
    for (m, zone, region, elb) in [
        ("usa", "us-east-1a", "us-east-1", "a1.us-east-1.elb.amazonaws.com"),
        (
            "jpn",
            "ap-northeast-1a",
            "ap-northeast-1",
            "a3.ap-northeast-1.elb.amazonaws.com",
        ),
    ] {
        h.index.set_snapshot(m, with_node(svc(elb, 0), zone, region));
    }
    h.reconcile();
    assert!(global_sets(&h, "nginx.test.ufp.svc.example.com").is_empty());
    assert!(global_sets(&h, "hugo-fed.example.com").is_empty());
}

#[test]
fn latency_regions_are_mapped_from_gce_and_azure_and_unknown_ones_reported() {
    let mut h = latency_harness();
    h.member("gce", "us-east1-b", "us-east1", &["192.0.2.1"], 1);
    h.member(
        "azure",
        "westeurope-1",
        "westeurope",
        &["192.0.2.2", "2001:db8::2"],
        1,
    );
    h.member("dc", "rack-1", "moon-base", &["192.0.2.3"], 1);
    let p = h.reconcile();
    assert_eq!(
        global_sets(&h, "nginx.test.ufp.svc.example.com"),
        vec![
            "A eu-central-1 eu-central-1 192.0.2.2".to_string(),
            "A us-east-1 us-east-1 192.0.2.1".to_string(),
            "AAAA eu-central-1 eu-central-1 2001:db8::2".to_string(),
        ]
    );
    assert!(
        p.problems
            .iter()
            .any(|m| m.contains("region moon-base has no latency region")),
        "{:?}",
        p.problems
    );
    // An override maps it.
    let mut regions = BTreeMap::new();
    regions.insert("moon-base".to_string(), "us-west-2".to_string());
    h.cfg.regions = std::sync::Arc::new(crate::federation::regions::RegionMap::shipped_with(&regions));
    h.index.mark_all_dirty();
    h.reconcile();
    assert!(
        global_sets(&h, "nginx.test.ufp.svc.example.com")
            .contains(&"A us-west-2 us-west-2 192.0.2.3".to_string())
    );
}

/// Route53 allows one latency set per Region for a name and type: members whose regions map to
/// one AWS region (GCE `us-east1` and `us-east4` → `us-east-1`) share one set, its identifier
/// that AWS region, their targets merged; it stays while any of them is healthy.
#[test]
fn latency_members_mapping_to_one_aws_region_share_one_set() {
    let mut h = latency_harness();
    h.member("sc", "us-east1-b", "us-east1", &["192.0.2.2"], 1);
    h.member("va", "us-east4-a", "us-east4", &["192.0.2.1", "192.0.2.2"], 1);
    h.member("eu", "europe-west1-b", "europe-west1", &["192.0.2.3"], 1);
    let global = "nginx.test.ufp.svc.example.com";
    h.reconcile();
    assert_eq!(
        global_sets(&h, global),
        vec![
            "A eu-west-3 eu-west-3 192.0.2.3".to_string(),
            "A us-east-1 us-east-1 192.0.2.1 192.0.2.2".to_string(),
        ]
    );
    assert!(h.plan_all().is_empty());
    // Virginia loses its endpoints: the set stays, with South Carolina's targets only.
    h.member("va", "us-east4-a", "us-east4", &["192.0.2.1", "192.0.2.2"], 0);
    h.reconcile();
    assert_eq!(
        global_sets(&h, global),
        vec![
            "A eu-west-3 eu-west-3 192.0.2.3".to_string(),
            "A us-east-1 us-east-1 192.0.2.2".to_string(),
        ]
    );
    // Both down: the us-east-1 set goes, the other region's stays.
    h.member("sc", "us-east1-b", "us-east1", &["192.0.2.2"], 0);
    h.reconcile();
    assert_eq!(
        global_sets(&h, global),
        vec!["A eu-west-3 eu-west-3 192.0.2.3".to_string()]
    );
    // Each region name still has its own records, and each zone name falls back.
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.us-east1.example.com:CNAME:180:[nginx.test.ufp.svc.example.com]")
    );
}

/// Members in one AWS region behind one ELB share an alias set; behind two different ELBs, the
/// shared set holds their resolved addresses (a latency set has one alias target at most).
#[test]
fn latency_members_sharing_an_aws_region_keep_alias_sets_consistent() {
    let mut h = latency_harness();
    let elb = "a1.us-east-1.elb.amazonaws.com";
    h.hosts.insert(elb.into(), vec!["198.51.100.7".parse().unwrap()]);
    h.member("a", "us-east-1a", "us-east-1", &[elb], 1);
    h.member("b", "us-east1-b", "us-east1", &[elb], 1);
    h.member("c", "eu-west-1a", "eu-west-1", &["192.0.2.9"], 1);
    h.reconcile();
    let global = "nginx.test.ufp.svc.example.com";
    let describe = |h: &Harness| {
        h.zone
            .sets_at(global)
            .map(|s| format!("{} {}", s.rtype, s.describe_values()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        describe(&h),
        [
            "A latency:eu-west-1 region=eu-west-1 192.0.2.9",
            "A latency:us-east-1 region=us-east-1 alias a1.us-east-1.elb.amazonaws.com (Z35SXDOTRQ7X7K)",
        ]
    );
    // The second member moves to another load balancer: one latency set cannot alias both.
    let other = "a2.us-east-1.elb.amazonaws.com";
    h.hosts
        .insert(other.into(), vec!["198.51.100.8".parse().unwrap()]);
    h.member("b", "us-east1-b", "us-east1", &[other], 1);
    h.reconcile();
    assert_eq!(
        describe(&h),
        [
            "A latency:eu-west-1 region=eu-west-1 192.0.2.9",
            "A latency:us-east-1 region=us-east-1 198.51.100.7, 198.51.100.8",
        ]
    );
    assert!(h.plan_all().is_empty());
}

/// A zone written when set identifiers were member regions (`us-east1`) moves to AWS regions:
/// at each owned name the old set is deleted before its successor in the same Region is
/// created, in one batch, which the reference zone (one latency set per Region) accepts.
#[test]
fn latency_sets_named_by_member_region_migrate_to_aws_regions() {
    let mut h = latency_harness();
    let global = "nginx.test.ufp.svc.example.com";
    let owner = Ownership {
        owner: "test-owner".into(),
        federation: "ufp".into(),
        subject: crate::federation::model::Subject::Service(crate::federation::model::ServiceKey::new(
            "test", "nginx",
        )),
        source: None,
    };
    let old = |id: &str, region: &str, ip: &str| {
        RecordSet::new(global, RecordType::A, DEFAULT_TTL, [ip.to_string()]).with_routing(
            feddns_provider::Routing::Latency {
                set_id: id.into(),
                region: region.into(),
            },
        )
    };
    let old_sets = [
        old("us-east1", "us-east-1", "192.0.2.1"),
        old("europe-west1", "eu-west-3", "192.0.2.3"),
        old("eu-west-1", "eu-west-1", "192.0.2.4"),
        RecordSet::new(
            &format!("_feddns.{global}"),
            RecordType::Txt,
            DEFAULT_TTL,
            [owner.encode()],
        ),
    ];
    h.zone
        .apply(
            &old_sets
                .iter()
                .map(|s| Change::create(s.clone()))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    h.relist();
    h.member("sc", "us-east1-b", "us-east1", &["192.0.2.1"], 1);
    h.member("va", "us-east4-a", "us-east4", &["192.0.2.2"], 1);
    h.member("be", "europe-west1-b", "europe-west1", &["192.0.2.3"], 1);
    h.member("ie", "eu-west-1a", "eu-west-1", &["192.0.2.4"], 1);
    let p = h.reconcile();
    let at_global: Vec<String> = p
        .names
        .iter()
        .filter(|n| n.name == global)
        .flat_map(|n| &n.changes)
        .map(|c| format!("{} {}", c.op(), c.key().set_id.unwrap_or_default()))
        .collect();
    assert_eq!(
        at_global,
        [
            "delete europe-west1",
            "delete us-east1",
            "create eu-west-3",
            "create us-east-1"
        ]
    );
    assert_eq!(
        global_sets(&h, global),
        vec![
            "A eu-west-1 eu-west-1 192.0.2.4".to_string(),
            "A eu-west-3 eu-west-3 192.0.2.3".to_string(),
            "A us-east-1 us-east-1 192.0.2.1 192.0.2.2".to_string(),
        ]
    );
    assert!(h.plan_all().is_empty());
}

/// The migration deletes every latency set named by a member region, which can be most of the
/// owned sets (services with vanity names). Each delete comes with a create of the same type at
/// the same name, so nothing goes dark: the delete guard lets it through.
#[test]
fn migrating_latency_set_identifiers_is_not_refused_by_the_delete_guard() {
    let mut h = latency_harness();
    let mut snap = Snap::default().node("n", "us-east1-b", "us-east1");
    for s in 0..12 {
        snap = snap.service("test", &format!("svc{s}"), &[&format!("192.0.2.{s}")], 1);
    }
    let mut snap = snap.build();
    for (key, svc) in &mut snap.services {
        let name = &key.name;
        svc.options.hostnames = vec![format!("{name}-a.example.com"), format!("{name}-b.example.com")];
    }
    h.index.set_snapshot("gce", snap);
    h.reconcile();
    // Rewrite the zone as the old scheme wrote it: set identifier = the member region.
    let renamed: Vec<Change> = h
        .zone
        .sets()
        .filter(|s| s.key().set_id.as_deref() == Some("us-east-1"))
        .flat_map(|s| {
            let old = s.clone().with_routing(feddns_provider::Routing::Latency {
                set_id: "us-east1".into(),
                region: "us-east-1".into(),
            });
            [Change::delete(s.clone()), Change::create(old)]
        })
        .collect();
    assert_eq!(renamed.len(), 2 * 36);
    h.zone.apply(&renamed).unwrap();
    h.relist();
    let p = h.plan_all();
    assert!(p.refused.is_none(), "{:?}", p.refused);
    assert_eq!(p.counts(), (36, 0, 36));
    h.reconcile();
    assert!(
        h.zone
            .sets()
            .filter_map(|s| s.key().set_id)
            .all(|id| id == "us-east-1")
    );
    // A plan that empties names is still refused.
    h.index
        .set_snapshot("gce", Snap::default().node("n", "us-east1-b", "us-east1").build());
    assert!(h.plan_all().refused.is_some());
}

#[test]
fn latency_regions_mixing_elb_hostnames_and_ips_use_alias_sets() {
    let mut h = latency_harness();
    h.member(
        "c1",
        "foozone",
        "us-west-2",
        &["a9.us-west-2.elb.amazonaws.com"],
        1,
    );
    h.member("c2", "barzone", "eu-west-1", &["198.51.100.2"], 1);
    h.reconcile();
    let sets: Vec<RecordSet> = h
        .zone
        .sets_at("nginx.test.ufp.svc.example.com")
        .cloned()
        .collect();
    assert_eq!(sets.len(), 2, "{sets:#?}");
    let alias = sets.iter().find(|s| s.alias.is_some()).expect("an alias set");
    assert_eq!(alias.rtype, RecordType::A);
    assert_eq!(alias.alias().unwrap().hosted_zone_id, "Z1H1FL5HABSF5");
    assert_eq!(alias.key().set_id.as_deref(), Some("us-west-2"));
    assert_eq!(
        global_sets(&h, "nginx.test.ufp.svc.example.com")[0],
        "A eu-west-1 eu-west-1 198.51.100.2"
    );
    assert!(h.plan_all().is_empty());
}

#[test]
fn latency_regions_mixing_other_hostnames_and_ips_resolve_the_hostnames() {
    let caps = Capabilities {
        latency: true,
        ..Capabilities::default()
    };
    let mut h = Harness::new(caps);
    h.cfg.routing = crate::federation::model::RoutingMode::Latency;
    h.member(
        "c1",
        "foozone",
        "us-west-2",
        &["a9.us-west-2.elb.amazonaws.com"],
        1,
    );
    h.member("c2", "barzone", "eu-west-1", &["198.51.100.2"], 1);
    h.reconcile();
    assert_eq!(
        global_sets(&h, "nginx.test.ufp.svc.example.com"),
        vec![
            "A eu-west-1 eu-west-1 198.51.100.2".to_string(),
            "A us-west-2 us-west-2 198.51.100.1".to_string()
        ]
    );
}

/// DESIGN: several hostnames, or hostnames mixed with IPs, on Route53 → weighted sets, one per
/// shard, with alias A for ELB hostnames — never stale A records.
#[test]
fn elb_hostnames_mixed_with_ips_become_weighted_alias_sets_on_route53() {
    let caps = Capabilities {
        latency: true,
        weighted: true,
        alias: true,
        ..Capabilities::default()
    };
    let mut h = Harness::new(caps);
    h.member(
        "c1",
        "foozone",
        "us-west-2",
        &["a9.us-west-2.elb.amazonaws.com"],
        1,
    );
    h.member("c2", "barzone", "eu-west-1", &["198.51.100.2", "2001:db8::2"], 1);
    let p = h.reconcile();
    assert!(
        p.hostnames.is_empty(),
        "nothing needs resolving: {:?}",
        p.hostnames
    );
    let mut got: Vec<String> = h
        .zone
        .sets_at("nginx.test.ufp.svc.example.com")
        .map(|s| {
            format!(
                "{} {} {}",
                s.rtype,
                s.key().set_id.unwrap_or_default(),
                s.describe_values()
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "A c1 weighted:c1 weight=1 alias a9.us-west-2.elb.amazonaws.com (Z1H1FL5HABSF5)",
            "A c2 weighted:c2 weight=1 198.51.100.2",
            "AAAA c2 weighted:c2 weight=1 2001:db8::2",
        ]
    );
    // The ELB alone at its own zone and region names stays a CNAME.
    assert!(h.records().contains(
        "nginx.test.ufp.svc.foozone.us-west-2.example.com:CNAME:180:[a9.us-west-2.elb.amazonaws.com]"
    ));
    assert!(h.plan_all().is_empty());
}

#[test]
fn latency_on_a_provider_without_it_is_reported_and_plain_records_written() {
    let mut h = Harness::v1();
    h.cfg.routing = crate::federation::model::RoutingMode::Latency;
    h.member("c1", "foozone", "fooregion", &["198.51.100.1"], 1);
    let p = h.reconcile();
    assert!(
        p.problems
            .iter()
            .any(|m| m.contains("latency routing is not supported"))
    );
    assert!(
        h.records()
            .contains("nginx.test.ufp.svc.example.com:A:180:[198.51.100.1]")
    );
}

#[test]
fn vanity_names_outside_the_zone_are_reported_and_skipped() {
    let mut h = Harness::v1();
    let mut s = Snap::default()
        .node("n", "foozone", "fooregion")
        .service("test", "nginx", &["192.0.2.1"], 1)
        .build();
    s.services.values_mut().for_each(|s| {
        s.options.hostnames = vec![
            "www.example.org".into(),
            "bad_name.example.com".into(),
            "www.example.com".into(),
        ]
    });
    h.index.set_snapshot("c1", s);
    let p = h.reconcile();
    assert!(h.records().contains("www.example.com:A:180:[192.0.2.1]"));
    assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
    assert!(
        p.problems
            .iter()
            .any(|m| m.contains("www.example.org is not below the zone"))
    );
}

// ---- properties ----

/// (zone index, region index, services: (service index, ingress picks, ready endpoints))
type ArbMember = (u8, u8, Vec<(u8, Vec<u8>, u8)>);

fn arb_member() -> impl Strategy<Value = ArbMember> {
    (
        0u8..3,
        0u8..2,
        prop::collection::vec((0u8..4, prop::collection::vec(0u8..8, 0..3), 0u8..2), 0..4),
    )
}

fn build(h: &mut Harness, members: &[ArbMember]) {
    const TARGETS: [&str; 8] = [
        "192.0.2.1",
        "192.0.2.2",
        "198.51.100.3",
        "2001:db8::4",
        "lb-a.elb.example.net",
        "lb-b.elb.example.net",
        "203.0.113.7",
        "web-1.us-east-1.elb.amazonaws.com",
    ];
    for (i, (z, r, services)) in members.iter().enumerate() {
        let mut snap = Snap::default().node("n", &format!("z{r}{z}"), &format!("r{r}"));
        for (s, picks, ready) in services {
            let ingress: Vec<&str> = picks.iter().map(|p| TARGETS[*p as usize]).collect();
            snap = snap.service("ns", &format!("s{s}"), &ingress, *ready as usize);
        }
        h.index.set_snapshot(&format!("m{i}"), snap.build());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Applying a plan yields exactly the desired records, a second plan is empty, and records
    /// without our ownership are never part of a change.
    #[test]
    fn plans_converge_and_never_touch_foreign_records(
        before in prop::collection::vec(arb_member(), 1..4),
        after in prop::collection::vec(arb_member(), 1..4),
        weighted in any::<bool>(),
        alias in any::<bool>(),
        foreign_svc in 0u8..4,
    ) {
        let mut h = Harness::new(Capabilities { weighted, alias, ..Capabilities::default() });
        h.hosts.insert("web-1.us-east-1.elb.amazonaws.com".into(), vec!["192.0.2.20".parse().unwrap()]);
        // Whole federations are swapped here; the delete guard has a test of its own.
        h.opts.force = true;
        h.hosts.insert("lb-a.elb.example.net".into(), vec!["192.0.2.10".parse().unwrap()]);
        h.hosts.insert("lb-b.elb.example.net".into(), vec![]);
        let foreign = RecordSet::new(&format!("s{foreign_svc}.ns.ufp.svc.example.com"), RecordType::A, 60, ["192.0.2.250".to_string()]);
        let bystander = RecordSet::new("www.example.com", RecordType::A, 60, ["192.0.2.251".to_string()]);
        h.zone.apply(&[Change::create(foreign.clone()), Change::create(bystander.clone())]).unwrap();
        h.relist();
        for state in [&before, &after] {
            h.index = Index::new();
            build(&mut h, state);
            let p = h.reconcile();
            for c in p.names.iter().flat_map(|n| &n.changes) {
                prop_assert!(c.subject().name != foreign.name && c.subject().name != bystander.name, "touched {c}");
            }
            // Exactly the desired records (per name, the planner's sets), nothing else of ours.
            let keys = all_services(&h.index, &h.cache);
            let mut want: BTreeSet<RecordSet> = BTreeSet::new();
            for k in &keys {
                let d = crate::federation::planner::desired_subject(&h.index, k, &h.cfg, &h.hosts);
                for (name, sets) in d.names {
                    if name != foreign.name {
                        want.extend(sets);
                    }
                }
            }
            let have: BTreeSet<RecordSet> = h.zone.sets()
                .filter(|s| s.rtype != RecordType::Txt && **s != foreign && **s != bystander)
                .cloned().collect();
            prop_assert_eq!(have, want);
            let again = h.plan_all();
            prop_assert!(again.is_empty(), "second plan not empty:\n{}", render_table(&again));
        }
        prop_assert!(h.zone.sets().any(|s| *s == foreign));
        prop_assert!(h.zone.sets().any(|s| *s == bystander));
    }
}

fn geo_harness() -> Harness {
    let caps = Capabilities {
        geo: true,
        ..Capabilities::default()
    };
    let mut h = Harness::new(caps);
    h.cfg.routing = crate::federation::model::RoutingMode::Latency;
    h
}

fn geo_items(h: &Harness, name: &str) -> Vec<String> {
    h.zone
        .sets_at(name)
        .map(|s| match s.routing() {
            Some(feddns_provider::Routing::Geo { set_id, location }) => {
                format!("{} {set_id} {location} {}", s.rtype, s.values.join(" "))
            }
            other => panic!("{name}: not a geo set: {other:?}"),
        })
        .collect()
}

/// Cloud DNS: latency mode becomes one geo item per GCP location with healthy shards, at the
/// global name; items follow regions gaining and losing healthy shards.
#[test]
fn geo_items_follow_regions_gaining_and_losing_healthy_shards() {
    let mut h = geo_harness();
    h.member("gke-us", "us-east1-b", "us-east1", &["192.0.2.1"], 1);
    h.member("eks-eu", "eu-central-1a", "eu-central-1", &["192.0.2.2"], 1);
    h.member("aks-eu", "westeurope-1", "westeurope", &["192.0.2.3"], 0);
    h.member("dc", "rack-1", "moon-base", &["192.0.2.9"], 1);
    let p = h.reconcile();
    let global = "nginx.test.ufp.svc.example.com";
    assert_eq!(
        geo_items(&h, global),
        vec![
            "A europe-west3 europe-west3 192.0.2.2".to_string(),
            "A us-east1 us-east1 192.0.2.1".to_string(),
        ]
    );
    assert!(
        p.problems
            .iter()
            .any(|m| m.contains("region moon-base has no geo location") && m.contains("routing.locations")),
        "{:?}",
        p.problems
    );
    // Azure West Europe becomes healthy: a third item.
    h.member("aks-eu", "westeurope-1", "westeurope", &["192.0.2.3"], 1);
    h.reconcile();
    assert_eq!(geo_items(&h, global).len(), 3);
    // A second member region mapping to the same location shares its item.
    h.member("eks-eu2", "eu-central-1b", "eu-central-1", &["192.0.2.4"], 1);
    h.reconcile();
    assert!(
        geo_items(&h, global).contains(&"A europe-west3 europe-west3 192.0.2.2 192.0.2.4".to_string()),
        "{:?}",
        geo_items(&h, global)
    );
    // The US loses its endpoints: its item goes; zone and region names are plain records.
    h.member("gke-us", "us-east1-b", "us-east1", &["192.0.2.1"], 0);
    h.reconcile();
    assert!(!geo_items(&h, global).iter().any(|i| i.contains("us-east1")));
    assert!(h.plan_all().is_empty());
    // An override maps the unknown region.
    let m = crate::federation::regions::RegionMap::default().with_locations(&BTreeMap::from([(
        "moon-base".to_string(),
        "us-west1".to_string(),
    )]));
    h.cfg.regions = std::sync::Arc::new(m);
    h.index.mark_all_dirty();
    h.reconcile();
    assert!(geo_items(&h, global).contains(&"A us-west1 us-west1 192.0.2.9".to_string()));
    // Every member down: no global name at all, regions fall back as usual.
    for m in ["gke-us", "eks-eu", "aks-eu", "eks-eu2", "dc"] {
        h.index.set_down(m);
    }
    h.reconcile();
    assert_eq!(h.zone.sets_at(global).count(), 0);
}
