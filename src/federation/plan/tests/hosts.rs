//! Hosts of Ingresses and Gateways through planner → diff → the reference zone.

use super::*;
use crate::federation::model::{ObjectChange, ServiceKey};

const WWW: &str = "www.example.com";

fn member(h: &mut Harness, name: &str, region: &str, snap: Snap) {
    let snap = snap.node(&format!("{name}-node"), &format!("{region}a"), region);
    h.index.set_snapshot(name, snap.build());
}

fn www(ip: &str) -> Snap {
    Snap::default().ingress("shop", "web", &[WWW], &[ip], "web", 1)
}

fn txt(h: &Harness, name: &str) -> Vec<String> {
    h.zone
        .sets_at(&format!("_feddns.{name}"))
        .flat_map(|s| s.values.clone())
        .collect()
}

#[test]
fn one_host_in_three_members_is_one_merged_name() {
    let mut h = Harness::v1();
    member(&mut h, "m1", "r1", www("192.0.2.1"));
    // The same address twice, and a Gateway serving the host in the third member.
    member(
        &mut h,
        "m2",
        "r2",
        www("192.0.2.1").ingress("shop", "web2", &[WWW], &["192.0.2.2"], "web", 1),
    );
    member(
        &mut h,
        "m3",
        "r3",
        Snap::default()
            .gateway("gw", &["2001:db8::3"], &[("https", 443, None)])
            .route("web", &[WWW], &[("gw", None)]),
    );
    let p = h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            "www.example.com:A:180:[192.0.2.1 192.0.2.2]",
            "www.example.com:AAAA:180:[2001:db8::3]"
        ])
    );
    assert_eq!(
        txt(&h, WWW),
        ["heritage=feddns,owner=test-owner,federation=ufp,ingress=shop/web,host=www.example.com"]
    );
    let table = render_table(&p);
    assert!(
        table.contains(
            "HOST      www.example.com: m1 (ingress shop/web; 192.0.2.1), \
             m2 (ingress shop/web, ingress shop/web2; 192.0.2.1 192.0.2.2), \
             m3 (gateway infra/gw, httproute web/web; 2001:db8::3)"
        ),
        "{table}"
    );
    // Planned again: nothing to do.
    assert!(h.reconcile().is_empty());
}

#[test]
fn a_member_losing_its_addresses_leaves_the_name_and_the_last_takes_it_away() {
    let mut h = Harness::v1();
    member(&mut h, "m1", "r1", www("192.0.2.1"));
    member(&mut h, "m2", "r2", www("192.0.2.2"));
    h.reconcile();
    assert_eq!(h.records(), set(&["www.example.com:A:180:[192.0.2.1 192.0.2.2]"]));

    let lost = |ip: &str| {
        let mut snap = www(ip).build();
        let key = ServiceKey::new("shop", "web");
        let mut ing = snap.ingresses.remove(&key).unwrap();
        ing.addresses = Box::new([]);
        vec![ObjectChange::Ingress(key, Some(ing))]
    };
    h.index.apply_changes("m2", lost("192.0.2.2"), false);
    let dirty = h.index.take_dirty();
    assert_eq!(dirty.into_iter().collect::<Vec<_>>(), [Subject::Host(WWW.into())]);
    h.reconcile();
    assert_eq!(h.records(), set(&["www.example.com:A:180:[192.0.2.1]"]));

    // No ready endpoint behind the last Ingress: not healthy anywhere, the name goes.
    h.index.set_snapshot(
        "m1",
        Snap::default()
            .node("m1-node", "r1a", "r1")
            .ingress("shop", "web", &[WWW], &["192.0.2.1"], "web", 0)
            .build(),
    );
    h.reconcile();
    assert!(h.records().is_empty(), "{:?}", h.records());
    assert!(txt(&h, WWW).is_empty(), "the ownership record goes too");
}

#[test]
fn a_route_detached_from_its_gateway_takes_its_hosts_away() {
    let mut h = Harness::v1();
    let gw = || Snap::default().gateway("gw", &["192.0.2.10"], &[("http", 80, None)]);
    member(
        &mut h,
        "m1",
        "r1",
        gw().route("shop", &["shop.example.com"], &[("gw", None)]),
    );
    h.reconcile();
    assert_eq!(h.records(), set(&["shop.example.com:A:180:[192.0.2.10]"]));
    // The Gateway no longer accepts it (its status has no Accepted=True parent): no parents.
    member(&mut h, "m1", "r1", gw().route("shop", &["shop.example.com"], &[]));
    h.reconcile();
    assert!(h.records().is_empty(), "{:?}", h.records());
}

#[test]
fn a_listener_hostname_narrows_a_routes_hostnames() {
    let caps = Capabilities {
        wildcard: true,
        ..Capabilities::default()
    };
    let mut h = Harness::new(caps);
    let snap = Snap::default()
        .gateway(
            "gw",
            &["192.0.2.10"],
            &[
                ("shop", 443, Some("*.shop.example.com")),
                ("api", 443, Some("api.example.com")),
            ],
        )
        .route(
            "web",
            &["cart.shop.example.com", "api.example.com", "www.example.net"],
            &[("gw", Some("shop"))],
        );
    member(&mut h, "m1", "r1", snap);
    let p = h.reconcile();
    assert_eq!(
        h.records(),
        set(&[
            // The listeners' own hostnames, the wildcard written as one.
            "*.shop.example.com:A:180:[192.0.2.10]",
            "api.example.com:A:180:[192.0.2.10]",
            // Of the route's three hostnames only the one the `shop` listener matches.
            "cart.shop.example.com:A:180:[192.0.2.10]",
        ])
    );
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn wildcard_hosts_are_written_where_the_provider_can_and_reported_where_it_cannot() {
    let mut h = Harness::v1();
    member(
        &mut h,
        "m1",
        "r1",
        Snap::default().ingress("shop", "web", &["*.example.com", WWW], &["192.0.2.1"], "web", 1),
    );
    let p = h.reconcile();
    assert_eq!(h.records(), set(&["www.example.com:A:180:[192.0.2.1]"]));
    assert!(
        p.problems
            .iter()
            .any(|e| e.contains("host *.example.com (ingress shop/web in m1)")
                && e.contains("cannot hold wildcard names")),
        "{:?}",
        p.problems
    );
}

#[test]
fn a_host_outside_the_zone_is_reported_and_skipped() {
    let mut h = Harness::v1();
    member(
        &mut h,
        "m1",
        "r1",
        Snap::default().ingress("shop", "web", &["www.example.net", WWW], &["192.0.2.1"], "web", 1),
    );
    let p = h.reconcile();
    assert_eq!(h.records(), set(&["www.example.com:A:180:[192.0.2.1]"]));
    let problem = p
        .problems
        .iter()
        .find(|e| e.contains("www.example.net"))
        .unwrap_or_else(|| panic!("{:?}", p.problems));
    assert_eq!(
        problem,
        "host www.example.net (ingress shop/web in m1) is not in the zone example.com; skipped"
    );
    assert!(render_table(&p).contains("PROBLEM   host www.example.net"));
}

#[test]
fn two_objects_claiming_one_host_in_one_member_are_merged() {
    let mut h = Harness::v1();
    let snap = Snap::default()
        .ingress("shop", "web", &["api.example.com"], &["192.0.2.1"], "web", 1)
        .gateway("gw", &["192.0.2.2"], &[("api", 443, Some("api.example.com"))]);
    member(&mut h, "m1", "r1", snap);
    let p = h.reconcile();
    assert_eq!(h.records(), set(&["api.example.com:A:180:[192.0.2.1 192.0.2.2]"]));
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(
        txt(&h, "api.example.com"),
        ["heritage=feddns,owner=test-owner,federation=ufp,ingress=shop/web,host=api.example.com"]
    );
}

#[test]
fn a_host_held_by_a_foreign_record_or_a_service_is_a_conflict() {
    let mut h = Harness::v1();
    let foreign = RecordSet::new(WWW, RecordType::A, 60, ["192.0.2.200".to_string()]);
    h.zone.apply(&[Change::create(foreign.clone())]).unwrap();
    h.relist();
    // A host that is also a Service's global name: the Service's.
    let global = "nginx.test.ufp.svc.example.com";
    let snap = Snap::default()
        .service("test", "nginx", &["192.0.2.5"], 1)
        .ingress("shop", "web", &[WWW, global], &["192.0.2.1"], "web", 1);
    member(&mut h, "m1", "r1", snap);
    let p = h.reconcile();
    let conflicts: Vec<String> = p
        .conflicts
        .iter()
        .map(|c| format!("{} ({}): {}", c.name, c.service, c.reason))
        .collect();
    assert!(
        conflicts.iter().any(|c| c.starts_with(
            "www.example.com (host www.example.com): records exist without an ownership record"
        )),
        "{conflicts:?}"
    );
    // The Service, planned first, takes its name; the host is refused it.
    assert!(
        conflicts.iter().any(|c| c.starts_with(&format!(
            "{global} (host {global}): wanted by service test/nginx too, which takes it"
        ))),
        "{conflicts:?}"
    );
    assert!(
        h.zone.sets().any(|s| *s == foreign),
        "the foreign record is untouched"
    );
    assert!(h.records().contains(&format!("{global}:A:180:[192.0.2.5]")));
    assert!(render_table(&p).contains("CONFLICT  www.example.com  (host www.example.com)"));
    // Planned again, the name is the Service's in the zone.
    let p = h.reconcile();
    assert!(
        p.conflicts
            .iter()
            .any(|c| c.name == global && c.reason == "owned by service test/nginx"),
        "{:?}",
        p.conflicts
    );
}

#[test]
fn hosts_that_vanished_while_feddns_was_down_are_cleaned_up() {
    let mut h = Harness::v1();
    member(&mut h, "m1", "r1", www("192.0.2.1"));
    h.reconcile();
    assert!(!h.records().is_empty());
    // A new instance: the zone holds our host, the member no longer has the Ingress.
    let zone = h.zone.clone();
    let mut fresh = Harness::v1();
    fresh.zone = zone;
    fresh.relist();
    member(&mut fresh, "m1", "r1", Snap::default());
    let keys = all_services(&fresh.index, &fresh.cache);
    assert!(keys.contains(&Subject::Host(WWW.into())), "{keys:?}");
    fresh.reconcile();
    assert!(fresh.records().is_empty(), "{:?}", fresh.records());
    assert!(txt(&fresh, WWW).is_empty());
}

#[test]
fn latency_routing_of_a_host_gives_one_set_per_aws_region() {
    let mut h = latency_harness();
    member(&mut h, "use", "us-east-1", www("192.0.2.1"));
    member(&mut h, "euw", "eu-west-1", www("192.0.2.2"));
    // GCE's us-east4 maps to AWS us-east-1: one set with both members.
    member(&mut h, "gce", "us-east4", www("192.0.2.3"));
    h.reconcile();
    let mut sets = global_sets(&h, WWW);
    sets.sort();
    assert_eq!(
        sets,
        [
            "A eu-west-1 eu-west-1 192.0.2.2",
            "A us-east-1 us-east-1 192.0.2.1 192.0.2.3",
        ]
    );
    // The Ingress of eu-west-1 loses its ready backend: its set goes.
    h.index.set_snapshot(
        "euw",
        Snap::default()
            .node("euw-node", "eu-west-1a", "eu-west-1")
            .ingress("shop", "web", &[WWW], &["192.0.2.2"], "web", 0)
            .build(),
    );
    h.reconcile();
    assert_eq!(
        global_sets(&h, WWW),
        ["A us-east-1 us-east-1 192.0.2.1 192.0.2.3"]
    );
}

#[test]
fn geo_routing_of_a_host_gives_one_item_per_location() {
    let mut h = geo_harness();
    member(&mut h, "use", "us-east1", www("192.0.2.1"));
    member(&mut h, "euw", "europe-west1", www("192.0.2.2"));
    h.reconcile();
    let mut items = geo_items(&h, WWW);
    items.sort();
    assert_eq!(
        items,
        [
            "A europe-west1 europe-west1 192.0.2.2",
            "A us-east1 us-east1 192.0.2.1"
        ]
    );
}
