//! The fake's rules, called directly through `Route53Api` with wire changes.

use feddns_route53::fake::{FakeRoute53, ListQuirk};
use feddns_route53::wire::encode_txt;
use feddns_route53::{
    ApiError, ApiErrorKind, ChangeAction, ChangeStatus, Operation, RecordPageStart, Route53Api, WireAlias,
    WireGeoLocation, WireRecordSet,
};

use crate::common::{ch, fake_zone, wire};

use ChangeAction::{Create, Delete, Upsert};

async fn change(
    fake: &FakeRoute53,
    zone: &str,
    changes: &[feddns_route53::WireChange],
) -> Result<(), ApiError> {
    fake.change_resource_record_sets(zone, changes).await.map(|_| ())
}

/// The same `action` on each of `sets`.
fn each(action: ChangeAction, sets: &[WireRecordSet]) -> Vec<feddns_route53::WireChange> {
    sets.iter().map(|s| ch(action, s)).collect()
}

fn icb(r: Result<(), ApiError>, needle: &str) {
    let e = r.expect_err("the fake should refuse the batch");
    assert_eq!(e.kind, ApiErrorKind::Service);
    assert_eq!(e.code.as_deref(), Some("InvalidChangeBatch"), "{e}");
    assert_eq!(e.status, Some(400));
    assert!(
        e.message.contains(needle),
        "{:?} does not contain {needle:?}",
        e.message
    );
}

fn names(fake: &FakeRoute53, zone: &str) -> Vec<String> {
    fake.records(zone)
        .iter()
        .map(|s| format!("{} {}", s.name, s.rtype))
        .collect()
}

#[tokio::test]
async fn delete_must_match_exactly() {
    let (fake, z) = fake_zone();
    let set = wire("d", "A", 60, &["192.0.2.1", "192.0.2.2"]);
    change(&fake, &z, &[ch(Create, &set)]).await.unwrap();
    icb(
        change(&fake, &z, &[ch(Delete, &wire("d", "A", 60, &["192.0.2.1"]))]).await,
        "do not match the current values",
    );
    icb(
        change(
            &fake,
            &z,
            &[ch(Delete, &wire("d", "A", 61, &["192.0.2.1", "192.0.2.2"]))],
        )
        .await,
        "do not match the current values",
    );
    icb(
        change(&fake, &z, &[ch(Delete, &wire("nope", "A", 60, &["192.0.2.1"]))]).await,
        "but it was not found",
    );
    // Values in another order still match.
    change(
        &fake,
        &z,
        &[ch(Delete, &wire("d", "A", 60, &["192.0.2.2", "192.0.2.1"]))],
    )
    .await
    .unwrap();
    icb(
        change(&fake, &z, &[ch(Delete, &set)]).await,
        "but it was not found",
    );

    // Routed sets: set identifier and region must match too, and only that set goes.
    let mut us = wire("api", "A", 60, &["192.0.2.1"]);
    us.set_identifier = Some("us-east-1".into());
    us.region = Some("us-east-1".into());
    let mut eu = us.clone();
    eu.set_identifier = Some("eu-west-1".into());
    eu.region = Some("eu-west-1".into());
    change(&fake, &z, &[ch(Create, &us), ch(Create, &eu)])
        .await
        .unwrap();
    let mut wrong_region = us.clone();
    wrong_region.region = Some("eu-west-1".into());
    icb(
        change(&fake, &z, &[ch(Delete, &wrong_region)]).await,
        "do not match",
    );
    let mut plain = us.clone();
    plain.set_identifier = None;
    plain.region = None;
    icb(
        change(&fake, &z, &[ch(Delete, &plain)]).await,
        "but it was not found",
    );
    change(&fake, &z, &[ch(Delete, &us)]).await.unwrap();
    assert_eq!(
        fake.records(&z)
            .iter()
            .filter(|s| s.name.starts_with("api."))
            .count(),
        1
    );

    // Alias sets: the target must match.
    let alias = |name: &str| WireRecordSet {
        name: "al.example.com.".into(),
        rtype: "A".into(),
        alias: Some(WireAlias {
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            dns_name: name.into(),
            evaluate_target_health: true,
        }),
        ..WireRecordSet::default()
    };
    change(&fake, &z, &[ch(Create, &alias("lb-1.elb.amazonaws.com."))])
        .await
        .unwrap();
    icb(
        change(&fake, &z, &[ch(Delete, &alias("lb-2.elb.amazonaws.com."))]).await,
        "do not match",
    );
    change(&fake, &z, &[ch(Delete, &alias("LB-1.elb.amazonaws.com"))])
        .await
        .unwrap();
}

#[tokio::test]
async fn batches_are_atomic() {
    let (fake, z) = fake_zone();
    let before = fake.records(&z);
    let good = wire("good", "A", 60, &["192.0.2.1"]);
    let mut outside = wire("x", "A", 60, &["192.0.2.1"]);
    outside.name = "www.other.org.".into();
    icb(
        change(&fake, &z, &[ch(Create, &good), ch(Create, &outside)]).await,
        "is not permitted in zone example.com.",
    );
    icb(
        change(
            &fake,
            &z,
            &[
                ch(Create, &good),
                ch(Delete, &wire("missing", "A", 60, &["192.0.2.1"])),
            ],
        )
        .await,
        "not found",
    );
    assert_eq!(fake.records(&z), before, "nothing of a refused batch may stay");
}

#[tokio::test]
async fn create_over_an_existing_set_fails() {
    let (fake, z) = fake_zone();
    change(&fake, &z, &[ch(Create, &wire("dup", "A", 60, &["192.0.2.1"]))])
        .await
        .unwrap();
    icb(
        change(&fake, &z, &[ch(Create, &wire("dup", "A", 60, &["192.0.2.9"]))]).await,
        "Tried to create resource record set [name='dup.example.com.', type='A'] but it already exists",
    );
    // An UPSERT overwrites it.
    change(&fake, &z, &[ch(Upsert, &wire("dup", "A", 300, &["192.0.2.9"]))])
        .await
        .unwrap();
    assert_eq!(
        fake.records(&z)
            .iter()
            .find(|s| s.name == "dup.example.com.")
            .unwrap()
            .ttl,
        Some(300)
    );
}

#[tokio::test]
async fn cname_is_exclusive() {
    let (fake, z) = fake_zone();
    let a = wire("x", "A", 60, &["192.0.2.1"]);
    let c = wire("x", "CNAME", 60, &["target.example.net."]);
    change(&fake, &z, &[ch(Create, &a)]).await.unwrap();
    icb(
        change(&fake, &z, &[ch(Create, &c)]).await,
        "conflicts with other records",
    );
    // Changes are taken in order: creating first and deleting after fails, the other order works.
    icb(
        change(&fake, &z, &[ch(Create, &c), ch(Delete, &a)]).await,
        "conflicts with other records",
    );
    change(&fake, &z, &[ch(Delete, &a), ch(Create, &c)])
        .await
        .unwrap();
    icb(
        change(&fake, &z, &[ch(Create, &wire("x", "TXT", 60, &["\"hello\""]))]).await,
        "conflicting RRSet of type CNAME",
    );
    icb(
        change(
            &fake,
            &z,
            &[ch(
                Create,
                &wire("y", "CNAME", 60, &["a.example.net.", "b.example.net."]),
            )],
        )
        .await,
        "more than one resource record",
    );
}

#[tokio::test]
async fn one_change_per_set_except_delete_then_create() {
    let (fake, z) = fake_zone();
    let a = wire("t", "A", 60, &["192.0.2.1"]);
    let b = wire("t", "A", 60, &["192.0.2.2"]);
    icb(
        change(&fake, &z, &[ch(Create, &a), ch(Delete, &a)]).await,
        "invalid set of changes for a single resource record set",
    );
    icb(
        change(&fake, &z, &[ch(Upsert, &a), ch(Upsert, &b)]).await,
        "invalid set of changes for a single resource record set",
    );
    change(&fake, &z, &[ch(Create, &a)]).await.unwrap();
    icb(
        change(&fake, &z, &[ch(Delete, &a), ch(Delete, &a)]).await,
        "invalid set of changes for a single resource record set",
    );
    // The classic update: DELETE the exact old set, CREATE the new one, in one batch.
    change(&fake, &z, &[ch(Delete, &a), ch(Create, &b)])
        .await
        .unwrap();
}

#[tokio::test]
async fn limits_count_upserts_twice() {
    let (fake, z) = fake_zone();
    let sets: Vec<WireRecordSet> = (0..1001)
        .map(|i| wire(&format!("n{i}"), "A", 60, &["192.0.2.1"]))
        .collect();
    icb(
        change(&fake, &z, &each(Create, &sets)).await,
        "Number of records limit of 1000 exceeded.",
    );
    change(&fake, &z, &each(Create, &sets[..1000])).await.unwrap();
    icb(
        change(&fake, &z, &each(Upsert, &sets[..501])).await,
        "Number of records limit of 1000 exceeded.",
    );
    change(&fake, &z, &each(Upsert, &sets[..500])).await.unwrap();

    // 32,000 characters of Value, quotes included: 124 quoted 255-byte strings are 31,868.
    let long = encode_txt(&"v".repeat(255));
    assert_eq!(long.len(), 257);
    let txts: Vec<WireRecordSet> = (0..125)
        .map(|i| wire(&format!("t{i}"), "TXT", 60, &[&long]))
        .collect();
    icb(
        change(&fake, &z, &each(Create, &txts)).await,
        "limit of 32000 exceeded",
    );
    change(&fake, &z, &each(Create, &txts[..124])).await.unwrap();
    icb(
        change(&fake, &z, &each(Upsert, &txts[..63])).await,
        "limit of 32000 exceeded",
    );
}

#[tokio::test]
async fn values_are_checked() {
    let (fake, z) = fake_zone();
    for (set, needle) in [
        (wire("b", "A", 60, &["not-an-ip"]), "ARRDATAIllegalIPv4Address"),
        (wire("b", "A", 60, &["2001:db8::1"]), "ARRDATAIllegalIPv4Address"),
        (
            wire("b", "AAAA", 60, &["192.0.2.1"]),
            "AAAARRDATAIllegalIPv6Address",
        ),
        (
            wire("b", "TXT", 60, &["unquoted"]),
            "should be enclosed in quotation marks",
        ),
        (
            wire("b", "TXT", 60, &["\"open"]),
            "should be enclosed in quotation marks",
        ),
    ] {
        icb(change(&fake, &z, &[ch(Create, &set)]).await, needle);
    }
    let too_long = format!("\"{}\"", "x".repeat(256));
    icb(
        change(&fake, &z, &[ch(Create, &wire("b", "TXT", 60, &[&too_long]))]).await,
        "CharacterStringTooLong",
    );
    // Structural errors are InvalidInput, as on Route53.
    let mut no_ttl = wire("b", "A", 60, &["192.0.2.1"]);
    no_ttl.ttl = None;
    let mut no_id = wire("b", "A", 60, &["192.0.2.1"]);
    no_id.region = Some("us-east-1".into());
    let mut alias_ttl = wire("b", "A", 60, &[]);
    alias_ttl.alias = Some(WireAlias {
        hosted_zone_id: "Z1".into(),
        dns_name: "x.example.net.".into(),
        evaluate_target_health: false,
    });
    for set in [no_ttl, no_id, alias_ttl] {
        let e = change(&fake, &z, &[ch(Create, &set)]).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidInput"), "{e}");
    }
    // The apex SOA and NS stay.
    let soa = fake.records(&z).into_iter().find(|s| s.rtype == "SOA").unwrap();
    icb(change(&fake, &z, &[ch(Delete, &soa)]).await, "exactly one SOA");
}

#[tokio::test]
async fn routing_policies_do_not_mix() {
    let (fake, z) = fake_zone();
    let mut w1 = wire("w", "A", 60, &["192.0.2.1"]);
    w1.set_identifier = Some("blue".into());
    w1.weight = Some(10);
    change(&fake, &z, &[ch(Create, &w1)]).await.unwrap();
    icb(
        change(&fake, &z, &[ch(Create, &wire("w", "A", 60, &["192.0.2.3"]))]).await,
        "cannot be created because a weighted rrset exists",
    );
    let mut l = w1.clone();
    l.set_identifier = Some("green".into());
    l.weight = None;
    l.region = Some("us-east-1".into());
    icb(
        change(&fake, &z, &[ch(Create, &l)]).await,
        "cannot be created because a weighted rrset exists",
    );
    // An UPSERT cannot turn a weighted set into a latency set; DELETE + CREATE can.
    let mut same_id_latency = w1.clone();
    same_id_latency.weight = None;
    same_id_latency.region = Some("us-east-1".into());
    icb(
        change(&fake, &z, &[ch(Upsert, &same_id_latency)]).await,
        "with UPSERT",
    );
    change(&fake, &z, &[ch(Delete, &w1), ch(Create, &same_id_latency)])
        .await
        .unwrap();
}

/// Route53 keeps one latency set per Region for a name and type: a second one is refused with
/// the whole batch, and a DELETE of the first earlier in the batch frees the Region (how a zone
/// written with member regions as set identifiers moves to AWS regions).
#[tokio::test]
async fn one_latency_set_per_region_and_name_and_type() {
    let (fake, z) = fake_zone();
    let latency = |label: &str, id: &str, region: &str, ip: &str| {
        let mut s = wire(label, "A", 60, &[ip]);
        s.set_identifier = Some(id.into());
        s.region = Some(region.into());
        s
    };
    let gce = latency("api", "us-east1", "us-east-1", "192.0.2.1");
    change(&fake, &z, &[ch(Create, &gce)]).await.unwrap();
    let before = fake.records(&z);
    let other = wire("other", "A", 60, &["192.0.2.9"]);
    let second = latency("api", "us-east4", "us-east-1", "192.0.2.2");
    icb(
        change(&fake, &z, &[ch(Create, &other), ch(Create, &second)]).await,
        "RRSet with DNS name api.example.com., type A, SetIdentifier us-east4, and Region Name=us-east-1 \
         cannot be created because a latency RRSet with the same name, type and region already exists.",
    );
    assert_eq!(fake.records(&z), before, "nothing of the refused batch applied");
    // Another region, another type or another name are fine.
    let eu = latency("api", "eu-west-1", "eu-west-1", "192.0.2.3");
    let mut v6 = latency("api", "us-east4", "us-east-1", "2001:db8::1");
    v6.rtype = "AAAA".into();
    let elsewhere = latency("www", "us-east4", "us-east-1", "192.0.2.4");
    change(
        &fake,
        &z,
        &[ch(Create, &eu), ch(Create, &v6), ch(Create, &elsewhere)],
    )
    .await
    .unwrap();
    // An UPSERT of the set itself keeps its Region.
    let mut moved = gce.clone();
    moved.values = vec!["192.0.2.5".into()];
    change(&fake, &z, &[ch(Upsert, &moved)]).await.unwrap();
    // The migration: DELETE the old set, then CREATE its successor in the same Region.
    let aws = latency("api", "us-east-1", "us-east-1", "192.0.2.5");
    icb(
        change(&fake, &z, &[ch(Create, &aws), ch(Delete, &moved)]).await,
        "a latency RRSet with the same name, type and region already exists",
    );
    change(&fake, &z, &[ch(Delete, &moved), ch(Create, &aws)])
        .await
        .unwrap();
    let regions: Vec<(Option<String>, Option<String>)> = fake
        .records(&z)
        .iter()
        .filter(|s| s.name == "api.example.com." && s.rtype == "A")
        .map(|s| (s.set_identifier.clone(), s.region.clone()))
        .collect();
    assert_eq!(
        regions,
        [
            (Some("eu-west-1".into()), Some("eu-west-1".into())),
            (Some("us-east-1".into()), Some("us-east-1".into())),
        ]
    );
}

#[tokio::test]
async fn alias_targets_in_the_zone_must_exist() {
    let (fake, z) = fake_zone();
    let alias = WireRecordSet {
        name: "al.example.com.".into(),
        rtype: "A".into(),
        alias: Some(WireAlias {
            hosted_zone_id: z.clone(),
            dns_name: "www.example.com.".into(),
            evaluate_target_health: false,
        }),
        ..WireRecordSet::default()
    };
    icb(
        change(&fake, &z, &[ch(Create, &alias)]).await,
        "alias target name does not lie within the target zone",
    );
    change(
        &fake,
        &z,
        &[
            ch(Create, &wire("www", "A", 60, &["192.0.2.1"])),
            ch(Create, &alias),
        ],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn listing_follows_route53_order_and_splits_groups_with_next_identifier() {
    let (fake, z) = fake_zone();
    let mut changes = Vec::new();
    for region in [
        "us-east-1",
        "eu-west-1",
        "ap-northeast-1",
        "sa-east-1",
        "us-west-2",
    ] {
        let mut s = wire("api", "A", 60, &["192.0.2.1"]);
        s.set_identifier = Some(region.into());
        s.region = Some(region.into());
        changes.push(ch(Create, &s));
    }
    changes.push(ch(Create, &wire("b.a", "A", 60, &["192.0.2.1"])));
    changes.push(ch(Create, &wire("zz", "TXT", 60, &["\"t\""])));
    changes.push(ch(Create, &wire("*.wild", "A", 60, &["192.0.2.1"])));
    change(&fake, &z, &changes).await.unwrap();
    assert_eq!(
        names(&fake, &z),
        [
            "example.com. NS",
            "example.com. SOA",
            "b.a.example.com. A",
            "api.example.com. A",
            "api.example.com. A",
            "api.example.com. A",
            "api.example.com. A",
            "api.example.com. A",
            "\\052.wild.example.com. A",
            "zz.example.com. TXT",
        ]
    );

    // Walk with pages of 2: groups split between pages carry NextRecordIdentifier.
    let mut start = RecordPageStart::default();
    let mut seen = Vec::new();
    let mut identifiers = 0;
    for _ in 0..20 {
        let page = fake.list_resource_record_sets(&z, &start, 2).await.unwrap();
        assert!(page.sets.len() <= 2);
        seen.extend(
            page.sets
                .iter()
                .map(|s| (s.name.clone(), s.set_identifier.clone())),
        );
        match page.next_start() {
            Some(next) => {
                identifiers += usize::from(next.identifier.is_some());
                start = next;
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 10, "every set exactly once: {seen:?}");
    assert!(identifiers >= 2, "pages split the latency group");
    let all: Vec<_> = fake
        .records(&z)
        .iter()
        .map(|s| (s.name.clone(), s.set_identifier.clone()))
        .collect();
    assert_eq!(seen, all);

    // moto's behaviour: the identifier is ignored, so a page inside the group starts it again.
    fake.set_list_quirk(ListQuirk::IgnoreStartIdentifier);
    let first = fake
        .list_resource_record_sets(&z, &RecordPageStart::default(), 4)
        .await
        .unwrap();
    let next = first.next_start().unwrap();
    assert!(next.identifier.is_none());
    let again = fake.list_resource_record_sets(&z, &next, 4).await.unwrap();
    assert_eq!(
        again.sets[0].set_identifier, first.sets[3].set_identifier,
        "the group restarts"
    );
}

#[tokio::test]
async fn changes_go_from_pending_to_insync_after_n_get_change_calls() {
    let (fake, z) = fake_zone();
    fake.set_insync_after(3);
    let info = fake
        .change_resource_record_sets(&z, &[ch(Create, &wire("p", "A", 60, &["192.0.2.1"]))])
        .await
        .unwrap();
    assert_eq!(info.status, ChangeStatus::Pending);
    assert!(info.id.starts_with("/change/"));
    assert_eq!(
        fake.get_change(&info.id).await.unwrap().status,
        ChangeStatus::Pending
    );
    let bare = info.id.trim_start_matches("/change/");
    assert_eq!(fake.get_change(bare).await.unwrap().status, ChangeStatus::Pending);
    assert_eq!(
        fake.get_change(&info.id).await.unwrap().status,
        ChangeStatus::InSync
    );
    assert_eq!(
        fake.get_change(&info.id).await.unwrap().status,
        ChangeStatus::InSync
    );
    let e = fake.get_change("/change/CNOSUCH").await.unwrap_err();
    assert_eq!((e.code.as_deref(), e.status), (Some("NoSuchChange"), Some(404)));
    assert_eq!(fake.calls()["GetChange"], 5);
}

async fn throttle_pattern(seed: u64) -> (Vec<bool>, FakeRoute53) {
    let fake = FakeRoute53::new();
    let z = fake.add_zone("example.com");
    fake.set_throttling(0.5, seed);
    let mut pattern = Vec::new();
    for _ in 0..40 {
        match fake
            .list_resource_record_sets(&z, &RecordPageStart::default(), 300)
            .await
        {
            Ok(_) => pattern.push(false),
            Err(e) => {
                assert_eq!((e.code.as_deref(), e.status), (Some("Throttling"), Some(400)));
                assert!(e.is_throttle());
                pattern.push(true);
            }
        }
    }
    for _ in 0..40 {
        if let Err(e) = fake
            .change_resource_record_sets(&z, &[ch(Upsert, &wire("t", "A", 60, &["192.0.2.1"]))])
            .await
        {
            assert!(e.is_throttle(), "{e}");
        }
    }
    (pattern, fake)
}

#[tokio::test]
async fn throttling_is_deterministic_for_a_seed() {
    let (p1, f1) = throttle_pattern(7).await;
    let (p2, _) = throttle_pattern(7).await;
    let (p3, _) = throttle_pattern(8).await;
    assert_eq!(p1, p2, "same seed, same answers");
    assert_ne!(p1, p3, "another seed, other answers");
    let throttled = p1.iter().filter(|t| **t).count();
    assert!((8..=32).contains(&throttled), "about half: {throttled}");
    assert_eq!(f1.throttled()["ListResourceRecordSets"], throttled as u64);
    assert_eq!(f1.calls()["ListResourceRecordSets"], 40);
    assert!(f1.throttled()["ChangeResourceRecordSets"] > 0);
}

#[tokio::test]
async fn injected_errors() {
    let (fake, z) = fake_zone();
    fake.inject_invalid_change_batch("bad.example.com", None);
    icb(
        change(
            &fake,
            &z,
            &[
                ch(Create, &wire("ok", "A", 60, &["192.0.2.1"])),
                ch(Create, &wire("bad", "A", 60, &["192.0.2.1"])),
            ],
        )
        .await,
        "bad.example.com",
    );
    change(&fake, &z, &[ch(Create, &wire("ok", "A", 60, &["192.0.2.1"]))])
        .await
        .unwrap();
    fake.clear_injected();
    change(&fake, &z, &[ch(Create, &wire("bad", "A", 60, &["192.0.2.1"]))])
        .await
        .unwrap();

    fake.push_error(ApiError::service(
        Operation::ListResourceRecordSets,
        503,
        "ServiceUnavailable",
        "down",
    ));
    let e = fake
        .list_resource_record_sets(&z, &RecordPageStart::default(), 10)
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(503));
    fake.list_resource_record_sets(&z, &RecordPageStart::default(), 10)
        .await
        .expect("one-shot");
    let e = fake
        .list_resource_record_sets("ZNOSUCHZONE", &RecordPageStart::default(), 10)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_deref(), e.status),
        (Some("NoSuchHostedZone"), Some(404))
    );
}

#[tokio::test]
async fn hosted_zones_list_by_name_in_pages() {
    let fake = FakeRoute53::new();
    for i in 0..150 {
        fake.add_zone_with(&format!("Z{i:03}"), &format!("z{i:03}.test"), false);
    }
    fake.add_zone_with("ZPRIV", "example.com", true);
    fake.add_zone_with("ZPUB", "example.com", false);
    let page = fake
        .list_hosted_zones_by_name(Some("example.com."), None, 100)
        .await
        .unwrap();
    assert_eq!(page.zones[0].name, "example.com.");
    assert_eq!(page.zones[0].id, "ZPRIV");
    assert!(page.zones[0].private);
    assert_eq!(page.zones[1].id, "ZPUB");
    let first = fake.list_hosted_zones_by_name(None, None, 100).await.unwrap();
    assert!(first.is_truncated);
    assert_eq!(first.zones.len(), 100);
    let rest = fake
        .list_hosted_zones_by_name(
            first.next_dns_name.as_deref(),
            first.next_hosted_zone_id.as_deref(),
            100,
        )
        .await
        .unwrap();
    assert!(!rest.is_truncated);
    assert_eq!(first.zones.len() + rest.zones.len(), 152);
}

/// Route53 stores a set's health check and routing fields feddns does not model, lists them, and
/// matches an exact DELETE against them like every other field.
#[tokio::test]
async fn health_checks_and_other_routing_fields_are_stored_listed_and_matched_on_delete() {
    let (fake, z) = fake_zone();
    let mut checked = wire("api", "A", 60, &["192.0.2.1"]);
    checked.set_identifier = Some("us-east-1".into());
    checked.region = Some("us-east-1".into());
    checked.health_check_id = Some("0b1e2a6c-hc-1".into());
    let mut primary = wire("fo", "A", 60, &["192.0.2.2"]);
    primary.set_identifier = Some("primary".into());
    primary.failover = Some("PRIMARY".into());
    primary.health_check_id = Some("0b1e2a6c-hc-2".into());
    let mut secondary = primary.clone();
    secondary.set_identifier = Some("secondary".into());
    secondary.failover = Some("SECONDARY".into());
    secondary.health_check_id = None;
    let mut europe = wire("geo", "A", 60, &["192.0.2.3"]);
    europe.set_identifier = Some("eu".into());
    europe.geo_location = Some(WireGeoLocation {
        continent_code: Some("EU".into()),
        ..WireGeoLocation::default()
    });
    let all = [&checked, &primary, &secondary, &europe];
    change(&fake, &z, &all.map(|s| ch(Create, s))).await.unwrap();
    let page = fake
        .list_resource_record_sets(&z, &RecordPageStart::default(), 300)
        .await
        .unwrap();
    for s in all {
        assert!(
            page.sets.contains(s),
            "{s:?} not listed as stored: {:#?}",
            page.sets
        );
    }
    // A DELETE without the health check, or with another one, does not match.
    let mut unchecked = checked.clone();
    unchecked.health_check_id = None;
    icb(
        change(&fake, &z, &[ch(Delete, &unchecked)]).await,
        "do not match the current values",
    );
    let mut other_check = checked.clone();
    other_check.health_check_id = Some("0b1e2a6c-hc-9".into());
    icb(
        change(&fake, &z, &[ch(Delete, &other_check)]).await,
        "do not match the current values",
    );
    // Nor does one with another failover role or location.
    let mut swapped = primary.clone();
    swapped.failover = Some("SECONDARY".into());
    icb(
        change(&fake, &z, &[ch(Delete, &swapped)]).await,
        "do not match the current values",
    );
    let mut elsewhere = europe.clone();
    elsewhere.geo_location = Some(WireGeoLocation {
        country_code: Some("DE".into()),
        ..WireGeoLocation::default()
    });
    icb(
        change(&fake, &z, &[ch(Delete, &elsewhere)]).await,
        "do not match the current values",
    );
    assert_eq!(fake.records(&z).len(), 2 + all.len(), "nothing deleted");
    // The exact sets delete.
    change(&fake, &z, &all.map(|s| ch(Delete, s))).await.unwrap();
    assert_eq!(names(&fake, &z).len(), 2, "only the apex SOA and NS remain");
}
