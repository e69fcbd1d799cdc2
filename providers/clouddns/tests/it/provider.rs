//! The provider's own behaviour against the fake.

use std::sync::Arc;

use feddns_clouddns::fake::StaticTokenProvider;
use feddns_clouddns::wire::{WireGeoItem, WireGeoPolicy, WireRoutingPolicy, WireRrset};
use feddns_clouddns::{CloudDnsConfig, CloudDnsError, CloudDnsProvider};
use feddns_provider::{Change, Provider, ProviderError, RecordSet, RecordType, Routing};

use crate::common::{MZ, PROJECT, TOKEN, ZONE, a, fake, geo, geo_items, name, provider, provider_with, wire};

fn create(s: &RecordSet) -> Change {
    Change::create(s.clone())
}

/// The sets the provider lists at `label`, sorted.
async fn sets_at(p: &CloudDnsProvider, label: &str) -> Vec<RecordSet> {
    let mut sets: Vec<RecordSet> = p
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name == name(label))
        .collect();
    sets.sort();
    sets
}

#[tokio::test]
async fn listing_follows_page_tokens() {
    let fake = fake().await;
    fake.set_page_size(3);
    let p = provider(&fake).await;
    let sets: Vec<RecordSet> = (0..10).map(|i| a(&format!("p{i}"), 60, &["192.0.2.1"])).collect();
    p.apply(&sets.iter().map(create).collect::<Vec<_>>())
        .await
        .unwrap();
    let listed = p.list().await.unwrap();
    assert_eq!(listed.len(), 12, "10 sets plus the apex SOA and NS: {listed:#?}");
    for s in &sets {
        assert!(listed.contains(s), "{s:?} missing");
    }
    assert!(
        listed
            .iter()
            .any(|s| s.name == ZONE && s.rtype == RecordType::Other("SOA".into()))
    );
    assert_eq!(p.api_stats().calls["rrsets.list"], 4, "12 rrsets in pages of 3");
}

#[tokio::test]
async fn a_geo_rrset_is_listed_as_one_set_per_item() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let mut w = wire("g", "A", 120, &[]);
    w.routing_policy = Some(WireRoutingPolicy {
        geo: Some(WireGeoPolicy {
            items: ["us-east1", "europe-west1", "asia-east1"]
                .iter()
                .enumerate()
                .map(|(i, loc)| WireGeoItem {
                    location: (*loc).into(),
                    rrdatas: vec![format!("192.0.2.{}", i + 1), format!("198.51.100.{}", i + 1)],
                    ..WireGeoItem::default()
                })
                .collect(),
            ..WireGeoPolicy::default()
        }),
        ..WireRoutingPolicy::default()
    });
    assert!(fake.put_rrset(PROJECT, MZ, w));
    let got = sets_at(&p, "g").await;
    let mut want: Vec<RecordSet> = [("us-east1", 1), ("europe-west1", 2), ("asia-east1", 3)]
        .iter()
        .map(|(loc, i)| {
            let mut s = geo("g", loc, &[&format!("192.0.2.{i}"), &format!("198.51.100.{i}")]);
            s.ttl = 120;
            s
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn geo_items_change_one_at_a_time_leaving_the_others_untouched() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let us = geo("g", "us-east1", &["192.0.2.1"]);
    let eu = geo("g", "europe-west1", &["192.0.2.2", "192.0.2.3"]);
    p.apply(&[create(&us), create(&eu)]).await.unwrap();
    let stored = || {
        fake.rrset(PROJECT, MZ, &name("g"), "A")
            .expect("geo rrset stored")
    };
    assert_eq!(
        geo_items(&stored()),
        vec![
            (
                "europe-west1".to_string(),
                vec!["192.0.2.2".to_string(), "192.0.2.3".to_string()]
            ),
            ("us-east1".to_string(), vec!["192.0.2.1".to_string()]),
        ],
        "one rrset, items sorted by location"
    );
    assert!(stored().rrdatas.is_empty());

    // Add an item.
    let asia = geo("g", "asia-east1", &["192.0.2.9"]);
    p.apply(&[create(&asia)]).await.unwrap();
    let items = geo_items(&stored());
    assert_eq!(
        items.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["asia-east1", "europe-west1", "us-east1"]
    );
    assert_eq!(items[1].1, ["192.0.2.2", "192.0.2.3"], "europe untouched");
    assert_eq!(items[2].1, ["192.0.2.1"], "us untouched");

    // Change one item.
    let eu2 = geo("g", "europe-west1", &["192.0.2.4"]);
    p.apply(&[Change::replace(eu.clone(), eu2.clone())])
        .await
        .unwrap();
    let items = geo_items(&stored());
    assert_eq!(items[0].1, ["192.0.2.9"]);
    assert_eq!(items[1].1, ["192.0.2.4"]);
    assert_eq!(items[2].1, ["192.0.2.1"]);

    // Remove one item.
    p.apply(&[Change::delete(us.clone())]).await.unwrap();
    let items = geo_items(&stored());
    assert_eq!(
        items.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["asia-east1", "europe-west1"]
    );
    let listed = sets_at(&p, "g").await;
    let mut want = vec![asia.clone(), eu2.clone()];
    want.sort();
    assert_eq!(listed, want);

    // Remove the rest: the rrset is gone.
    p.apply(&[Change::delete(asia), Change::delete(eu2)])
        .await
        .unwrap();
    assert!(fake.rrset(PROJECT, MZ, &name("g"), "A").is_none());
    // Every write was ONE changes.create.
    assert_eq!(fake.request_count("changes.create"), 5);
}

#[tokio::test]
async fn a_plain_set_can_become_geo_in_one_batch_but_never_mix() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let plain = a("m", 60, &["192.0.2.1"]);
    p.apply(&[create(&plain)]).await.unwrap();
    let us = geo("m", "us-east1", &["192.0.2.1"]);
    let e = p.apply(&[create(&us)]).await.unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    p.apply(&[Change::delete(plain), create(&us)]).await.unwrap();
    assert_eq!(
        geo_items(&fake.rrset(PROJECT, MZ, &name("m"), "A").unwrap()).len(),
        1
    );
}

#[tokio::test]
async fn geo_change_based_on_a_stale_item_is_a_conflict() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let us = geo("s", "us-east1", &["192.0.2.1"]);
    let eu = geo("s", "europe-west1", &["192.0.2.2"]);
    p.apply(&[create(&us), create(&eu)]).await.unwrap();
    // Someone changes the us-east1 item behind the provider's back.
    let mut w = fake.rrset(PROJECT, MZ, &name("s"), "A").unwrap();
    for item in &mut w.routing_policy.as_mut().unwrap().geo.as_mut().unwrap().items {
        if item.location == "us-east1" {
            item.rrdatas = vec!["203.0.113.1".into()];
        }
    }
    fake.put_rrset(PROJECT, MZ, w.clone());
    let before = fake.request_count("changes.create");
    let e = p
        .apply(&[Change::replace(us.clone(), geo("s", "us-east1", &["192.0.2.5"]))])
        .await
        .unwrap_err();
    match &e {
        ProviderError::Conflict { key, .. } => assert_eq!(key.set_id.as_deref(), Some("us-east1")),
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(
        fake.request_count("changes.create"),
        before,
        "refused before sending"
    );
    assert_eq!(
        fake.rrset(PROJECT, MZ, &name("s"), "A").unwrap(),
        w,
        "nothing applied"
    );
    // A change to another item keeps the (current) us-east1 item as it is now.
    let asia = geo("s", "asia-east1", &["192.0.2.7"]);
    p.apply(&[create(&asia)]).await.unwrap();
    let items = geo_items(&fake.rrset(PROJECT, MZ, &name("s"), "A").unwrap());
    assert_eq!(
        items[2],
        ("us-east1".to_string(), vec!["203.0.113.1".to_string()])
    );
}

#[tokio::test]
async fn a_deletion_that_does_not_match_exactly_is_a_conflict_and_nothing_is_applied() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let old = a("d", 60, &["192.0.2.1", "192.0.2.2"]);
    p.apply(&[create(&old)]).await.unwrap();
    fake.put_rrset(PROJECT, MZ, wire("d", "A", 60, &["192.0.2.1"]));
    let good = a("good", 60, &["192.0.2.3"]);
    let e = p
        .apply(&[create(&good), Change::delete(old.clone())])
        .await
        .unwrap_err();
    match &e {
        ProviderError::Conflict { key, reason } => {
            assert_eq!(key, &old.key(), "{reason}");
            assert!(reason.contains("412"), "{reason}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(fake.rrset(PROJECT, MZ, &name("good"), "A").is_none(), "atomic");
    let stats = p.api_stats();
    assert_eq!(stats.errors["changes.create"], 1, "{stats:?}");
    assert_eq!(stats.throttles["changes.create"], 0, "{stats:?}");
}

#[tokio::test]
async fn an_addition_of_an_existing_set_is_a_conflict_naming_it() {
    let fake = fake().await;
    let p = provider(&fake).await;
    p.apply(&[create(&a("e", 60, &["192.0.2.1"]))]).await.unwrap();
    let other = a("other", 60, &["192.0.2.1"]);
    let again = a("e", 60, &["192.0.2.2"]);
    let e = p.apply(&[create(&other), create(&again)]).await.unwrap_err();
    match &e {
        ProviderError::Conflict { key, reason } => {
            assert_eq!(key, &again.key(), "{reason}");
            assert!(
                reason.contains("409") && reason.contains("alreadyExists"),
                "{reason}"
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(fake.rrset(PROJECT, MZ, &name("other"), "A").is_none());
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_counted() {
    let fake = fake().await;
    let p = provider(&fake).await;
    fake.fail_next(429, 2);
    p.apply(&[create(&a("t", 60, &["192.0.2.1"]))]).await.unwrap();
    fake.fail_next(503, 2);
    let listed = p.list().await.unwrap();
    assert!(listed.iter().any(|s| s.name == name("t")));
    let stats = p.api_stats();
    assert_eq!(stats.calls["changes.create"], 3, "{stats:?}");
    assert_eq!(stats.throttles["changes.create"], 2, "{stats:?}");
    assert_eq!(stats.errors["changes.create"], 2, "{stats:?}");
    assert_eq!(stats.calls["rrsets.list"], 3, "{stats:?}");
    assert_eq!(stats.errors["rrsets.list"], 2, "{stats:?}");
    assert_eq!(stats.throttles["rrsets.list"], 0, "{stats:?}");
    assert_eq!(
        fake.rrset(PROJECT, MZ, &name("t"), "A").unwrap().rrdatas,
        ["192.0.2.1"]
    );

    // Bounded: a service that keeps failing gives a transient error.
    fake.fail_next(503, 5);
    let e = p
        .apply(&[create(&a("t2", 60, &["192.0.2.1"]))])
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(p.api_stats().calls["changes.create"], 8);
    assert!(fake.rrset(PROJECT, MZ, &name("t2"), "A").is_none());
}

#[tokio::test]
async fn an_invalid_rrdata_the_server_refuses_names_the_set() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let fine = a("fine", 60, &["192.0.2.1"]);
    let mx = RecordSet::new(
        &name("mail"),
        RecordType::Other("MX".into()),
        60,
        ["not an mx".to_string()],
    );
    let e = p.apply(&[create(&fine), create(&mx)]).await.unwrap_err();
    match &e {
        ProviderError::Invalid { key, reason } => {
            assert_eq!(key, &mx.key(), "{reason}");
            assert!(reason.contains("rrdata[0]"), "{reason}");
        }
        other => panic!("expected invalid, got {other}"),
    }
    assert!(fake.rrset(PROJECT, MZ, &name("fine"), "A").is_none());

    // Caught locally, without a request.
    let before = fake.request_count("changes.create");
    let e = p
        .apply(&[create(&a("bad", 60, &["300.1.2.3"]))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Invalid { key, .. } if key.name == name("bad")),
        "{e}"
    );
    let e = p
        .apply(&[create(&a("w", 60, &["192.0.2.1"]).with_routing(
            Routing::Weighted {
                set_id: "x".into(),
                weight: 1,
            },
        ))])
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    assert_eq!(fake.request_count("changes.create"), before);
}

#[tokio::test]
async fn a_stale_replace_is_a_conflict_and_list_names_reads_the_current_state() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let old = a("stale", 60, &["192.0.2.1"]);
    p.apply(&[create(&old), create(&a("other", 60, &["192.0.2.8"]))])
        .await
        .unwrap();
    fake.put_rrset(PROJECT, MZ, wire("stale", "A", 300, &["198.51.100.1"]));
    fake.put_rrset(PROJECT, MZ, wire("stale", "TXT", 300, &["\"owner=someone\""]));
    let e = p
        .apply(&[Change::replace(old.clone(), a("stale", 60, &["192.0.2.2"]))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { key, .. } if *key == old.key()),
        "{e}"
    );
    let lists_before = p.api_stats().calls["rrsets.list"];
    let mut current = p.list_names(&[name("stale")]).await.unwrap();
    current.sort();
    assert_eq!(
        current,
        vec![
            a("stale", 300, &["198.51.100.1"]),
            RecordSet::new(
                &name("stale"),
                RecordType::Txt,
                300,
                ["owner=someone".to_string()]
            ),
        ]
    );
    assert_eq!(
        p.api_stats().calls["rrsets.list"],
        lists_before + 1,
        "one filtered read"
    );
    // The replace based on the current state succeeds.
    p.apply(&[Change::replace(
        a("stale", 300, &["198.51.100.1"]),
        a("stale", 60, &["192.0.2.2"]),
    )])
    .await
    .unwrap();
}

#[tokio::test]
async fn wait_for_done_polls_the_change() {
    let fake = fake().await;
    fake.set_pending_gets(1);
    let p = provider_with(&fake, |c| c.wait_for_done = true).await;
    p.apply(&[create(&a("w", 60, &["192.0.2.1"]))]).await.unwrap();
    assert_eq!(fake.request_count("changes.get"), 2, "pending once, then done");
    let changes = fake.changes(PROJECT, MZ);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].id.as_deref(), Some("1"));
    assert_eq!(changes[0].status.as_deref(), Some("done"));
}

#[tokio::test]
async fn the_zone_is_found_by_managed_zone_or_dns_name() {
    let fake = fake().await;
    let p = provider_with(&fake, |c| {
        c.dns_name = None;
        c.managed_zone = Some(MZ.into());
    })
    .await;
    assert_eq!(p.zone(), ZONE);
    assert_eq!(p.managed_zone(), MZ);
    assert_eq!(p.api_stats().calls["managedZones.get"], 1);
    let p = provider(&fake).await;
    assert_eq!(p.managed_zone(), MZ);
    assert_eq!(p.api_stats().calls["managedZones.list"], 1);

    let e = connect_err(&fake, |c| c.managed_zone = Some(MZ.into()), "other.com").await;
    assert!(matches!(e, CloudDnsError::ZoneMismatch { .. }), "{e}");
    let e = connect_err(&fake, |_| {}, "nope.com").await;
    assert!(matches!(e, CloudDnsError::ZoneNotFound { .. }), "{e}");
    let e = connect_err(&fake, |c| c.managed_zone = Some("nope".into()), ZONE).await;
    assert!(matches!(e, CloudDnsError::ZoneNotFound { .. }), "{e}");
    fake.add_zone(PROJECT, "example-com-private", ZONE);
    let e = connect_err(&fake, |_| {}, ZONE).await;
    assert!(
        matches!(&e, CloudDnsError::AmbiguousZone { zones, .. } if zones.len() == 2),
        "{e}"
    );
    assert!(e.to_string().contains("managed_zone"), "{e}");
}

async fn connect_err(
    fake: &feddns_clouddns::fake::FakeCloudDns,
    tweak: impl FnOnce(&mut CloudDnsConfig),
    dns_name: &str,
) -> CloudDnsError {
    let mut cfg = crate::common::config(fake);
    cfg.dns_name = Some(dns_name.into());
    tweak(&mut cfg);
    CloudDnsProvider::with_token_provider(&cfg, Arc::new(StaticTokenProvider::new(TOKEN, None)))
        .await
        .unwrap_err()
}

/// Rrsets with routing feddns does not model (weighted round robin, primary/backup with a
/// health check, geo items with health-checked targets) are listed as one set each, the policy
/// kept, and a deletion built from the listing matches exactly; one without the policy does not.
#[tokio::test]
async fn rrsets_with_routing_feddns_does_not_model_are_listed_and_deleted_exactly() {
    let fake = fake().await;
    let p = provider(&fake).await;
    let with_policy = |label: &str, policy: serde_json::Value| -> WireRrset {
        serde_json::from_value(serde_json::json!({
            "name": format!("{}.", name(label)), "type": "A", "ttl": 60, "routingPolicy": policy,
        }))
        .unwrap()
    };
    let seeded = [
        with_policy(
            "wrr",
            serde_json::json!({"wrr": {"items": [{"weight": 1.0, "rrdatas": ["192.0.2.1"]}]}}),
        ),
        with_policy(
            "pb",
            serde_json::json!({
                "primaryBackup": {
                    "primaryTargets": {"externalEndpoints": ["192.0.2.1"]},
                    "backupGeoTargets": {"items": [{"location": "us-east1", "rrdatas": ["192.0.2.2"]}]},
                },
                "healthCheck": "projects/feddns-test/global/healthChecks/hc-1",
            }),
        ),
        with_policy(
            "hc",
            serde_json::json!({"geo": {"items": [
                {"location": "us-east1", "healthCheckedTargets": {"externalEndpoints": ["192.0.2.3"]}},
            ]}, "healthCheck": "projects/feddns-test/global/healthChecks/hc-2"}),
        ),
    ];
    for w in &seeded {
        fake.put_rrset(PROJECT, MZ, w.clone());
    }
    let stored: Vec<WireRrset> = fake.rrsets(PROJECT, MZ);
    let listed: Vec<RecordSet> = p
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name != ZONE)
        .collect();
    assert_eq!(listed.len(), 3, "{listed:#?}");
    for s in &listed {
        let u = s
            .unmodelled
            .as_deref()
            .unwrap_or_else(|| panic!("{s:?} keeps its policy"));
        assert!(s.routing.is_none() && s.key().set_id.is_none(), "{s:?}");
        assert!(u.fields.contains_key("routingPolicy"), "{u:?}");
    }
    let summary = |label: &str| {
        listed
            .iter()
            .find(|s| s.name == name(label))
            .and_then(|s| s.unmodelled.as_deref())
            .map(|u| u.summary.clone())
            .unwrap_or_default()
    };
    assert!(summary("wrr").contains("wrr"), "{}", summary("wrr"));
    assert!(
        summary("pb").contains("primaryBackup") && summary("pb").contains("healthChecks/hc-1"),
        "{}",
        summary("pb")
    );
    assert!(
        summary("hc").contains("healthCheckedTargets"),
        "{}",
        summary("hc")
    );
    // A geo change at such a name and type is refused rather than overwriting the policy.
    let e = p
        .apply(&[create(&geo("wrr", "us-east1", &["192.0.2.1"]))])
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    // Without its policy (as a plain set of its address), a deletion does not match: a
    // conflict, nothing deleted.
    let mut bare = listed[0].clone();
    bare.unmodelled = None;
    bare.set_values(["192.0.2.1".to_string()]);
    let e = p.apply(&[Change::delete(bare)]).await.unwrap_err();
    assert!(matches!(e, ProviderError::Conflict { .. }), "{e}");
    assert_eq!(fake.rrsets(PROJECT, MZ), stored);
    // Built from the listing, deletions match exactly.
    p.apply(
        &listed
            .iter()
            .map(|s| Change::delete(s.clone()))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.rrsets(PROJECT, MZ).len(),
        2,
        "only the apex SOA and NS remain"
    );
}
