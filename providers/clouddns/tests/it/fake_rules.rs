//! The fake's own rules, checked on the wire (through the REST client, not the provider).

use feddns_clouddns::wire::{WireChange, WireRrset};
use feddns_clouddns::{ApiError, CloudDnsApi, RrsetQuery};

use crate::common::{MZ, PROJECT, ZONE, fake, rest, wire};

fn change(additions: Vec<WireRrset>, deletions: Vec<WireRrset>) -> WireChange {
    WireChange {
        additions,
        deletions,
        ..WireChange::default()
    }
}

fn status(e: &ApiError) -> (u16, &str) {
    (e.status.unwrap_or(0), e.reason.as_deref().unwrap_or(""))
}

#[tokio::test]
async fn zones_start_with_soa_and_ns_which_cannot_simply_be_deleted() {
    let fake = fake().await;
    let api = rest(&fake);
    let page = api
        .list_rrsets(PROJECT, MZ, &RrsetQuery::default())
        .await
        .unwrap();
    let types: Vec<&str> = page.rrsets.iter().map(|w| w.rtype.as_str()).collect();
    assert_eq!(types, ["NS", "SOA"]);
    let ns = page.rrsets[0].clone();
    let e = api
        .create_change(PROJECT, MZ, &change(vec![], vec![ns.clone()]))
        .await
        .unwrap_err();
    assert_eq!(status(&e), (400, "invalid"), "{e}");
    // Replacing the apex NS (deletion + addition) is allowed.
    let mut ns2 = ns.clone();
    ns2.ttl = Some(3600);
    api.create_change(PROJECT, MZ, &change(vec![ns2], vec![ns]))
        .await
        .unwrap();
}

#[tokio::test]
async fn changes_are_exact_atomic_and_numbered() {
    let fake = fake().await;
    let api = rest(&fake);
    let w = wire("x", "A", 60, &["192.0.2.1", "192.0.2.2"]);
    let c = api
        .create_change(PROJECT, MZ, &change(vec![w.clone()], vec![]))
        .await
        .unwrap();
    assert_eq!(
        (c.id.as_deref(), c.status.as_deref()),
        (Some("1"), Some("pending"))
    );
    let got = api.get_change(PROJECT, MZ, "1").await.unwrap();
    assert_eq!(got.status.as_deref(), Some("done"));
    let e = api.get_change(PROJECT, MZ, "7").await.unwrap_err();
    assert_eq!(status(&e), (404, "notFound"));

    // 409 on an existing name and type; nothing of the change applied.
    let y = wire("y", "A", 60, &["192.0.2.3"]);
    let e = api
        .create_change(PROJECT, MZ, &change(vec![y.clone(), w.clone()], vec![]))
        .await
        .unwrap_err();
    assert_eq!(status(&e), (409, "alreadyExists"), "{e}");
    assert!(e.message.contains("additions[1]"), "{e}");
    assert!(fake.rrset(PROJECT, MZ, "y.example.com", "A").is_none());

    // 412 unless the deletion matches exactly; rrdata order does not matter.
    for stale in [
        wire("x", "A", 61, &["192.0.2.1", "192.0.2.2"]),
        wire("x", "A", 60, &["192.0.2.1"]),
        wire("gone", "A", 60, &["192.0.2.1"]),
    ] {
        let e = api
            .create_change(PROJECT, MZ, &change(vec![y.clone()], vec![stale]))
            .await
            .unwrap_err();
        assert_eq!(status(&e), (412, "conditionNotMet"), "{e}");
        assert!(e.message.contains("deletions[0]"), "{e}");
    }
    assert!(fake.rrset(PROJECT, MZ, "y.example.com", "A").is_none());
    let reordered = wire("x", "A", 60, &["192.0.2.2", "192.0.2.1"]);
    let c = api
        .create_change(PROJECT, MZ, &change(vec![], vec![reordered]))
        .await
        .unwrap();
    assert_eq!(c.id.as_deref(), Some("2"));
}

#[tokio::test]
async fn malformed_additions_are_refused_naming_the_field() {
    let fake = fake().await;
    let api = rest(&fake);
    let cases = [
        (
            wire("a", "A", 60, &["192.0.2.1", "2001:db8::1"]),
            "additions[0].rrdata[1]",
        ),
        (wire("a", "AAAA", 60, &["192.0.2.1"]), "additions[0].rrdata[0]"),
        (
            wire("a", "CNAME", 60, &["no-trailing-dot.example.net"]),
            "additions[0].rrdata[0]",
        ),
        (
            wire("a", "TXT", 60, &["\"unterminated"]),
            "additions[0].rrdata[0]",
        ),
        (
            WireRrset {
                name: "www.outside.test.".into(),
                ..wire("a", "A", 60, &["192.0.2.1"])
            },
            "additions[0]",
        ),
    ];
    for (w, field) in cases {
        let e = api
            .create_change(PROJECT, MZ, &change(vec![w.clone()], vec![]))
            .await
            .unwrap_err();
        assert_eq!(status(&e), (400, "invalid"), "{w:?}: {e}");
        assert!(e.message.contains(field), "{w:?}: {e}");
    }
    // A CNAME beside another type.
    api.create_change(
        PROJECT,
        MZ,
        &change(vec![wire("c", "A", 60, &["192.0.2.1"])], vec![]),
    )
    .await
    .unwrap();
    let e = api
        .create_change(
            PROJECT,
            MZ,
            &change(vec![wire("c", "CNAME", 60, &["t.example.net."])], vec![]),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), (400, "invalid"), "{e}");
}

#[tokio::test]
async fn per_change_quotas_are_enforced() {
    let fake = fake().await;
    let api = rest(&fake);
    let many: Vec<WireRrset> = (0..1001)
        .map(|i| wire(&format!("q{i}"), "A", 60, &["192.0.2.1"]))
        .collect();
    let e = api
        .create_change(PROJECT, MZ, &change(many, vec![]))
        .await
        .unwrap_err();
    assert_eq!(status(&e), (400, "quotaExceeded"), "{e}");
    let big = "\"".to_string() + &"x".repeat(250) + "\"";
    let txts: Vec<WireRrset> = (0..400)
        .map(|i| wire(&format!("t{i}"), "TXT", 60, &[&big]))
        .collect();
    let e = api
        .create_change(PROJECT, MZ, &change(txts, vec![]))
        .await
        .unwrap_err();
    assert_eq!(status(&e), (400, "quotaExceeded"), "{e}");
    assert_eq!(fake.rrsets(PROJECT, MZ).len(), 2);
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let fake = fake().await;
    fake.set_page_size(2);
    let api = rest(&fake);
    let adds = vec![
        wire("f", "A", 60, &["192.0.2.1"]),
        wire("f", "TXT", 60, &["\"x\""]),
        wire("g", "A", 60, &["192.0.2.2"]),
    ];
    api.create_change(PROJECT, MZ, &change(adds, vec![]))
        .await
        .unwrap();
    let q = RrsetQuery {
        name: Some(format!("f.{ZONE}.")),
        ..RrsetQuery::default()
    };
    let page = api.list_rrsets(PROJECT, MZ, &q).await.unwrap();
    assert_eq!(page.rrsets.len(), 2);
    assert!(page.next_page_token.is_none());
    let q = RrsetQuery {
        name: Some(format!("f.{ZONE}.")),
        rtype: Some("TXT".into()),
        ..RrsetQuery::default()
    };
    assert_eq!(api.list_rrsets(PROJECT, MZ, &q).await.unwrap().rrsets.len(), 1);
    let q = RrsetQuery {
        rtype: Some("TXT".into()),
        ..RrsetQuery::default()
    };
    assert_eq!(
        status(&api.list_rrsets(PROJECT, MZ, &q).await.unwrap_err()).0,
        400
    );
    let mut q = RrsetQuery::default();
    let mut all = Vec::new();
    loop {
        let page = api.list_rrsets(PROJECT, MZ, &q).await.unwrap();
        assert!(page.rrsets.len() <= 2);
        all.extend(page.rrsets);
        match page.next_page_token {
            Some(t) => q.page_token = Some(t),
            None => break,
        }
    }
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn faults_and_missing_tokens() {
    let fake = fake().await;
    let api = rest(&fake);
    fake.fail_next(429, 1);
    let e = api.get_managed_zone(PROJECT, MZ).await.unwrap_err();
    assert_eq!(status(&e), (429, "rateLimitExceeded"));
    assert!(e.is_throttle() && e.is_transient());
    fake.fail_next(503, 1);
    let e = api.get_managed_zone(PROJECT, MZ).await.unwrap_err();
    assert!(!e.is_throttle() && e.is_transient(), "{e}");
    assert_eq!(
        api.get_managed_zone(PROJECT, MZ).await.unwrap().dns_name,
        "example.com."
    );
    fake.revoke_tokens();
    let e = api.get_managed_zone(PROJECT, MZ).await.unwrap_err();
    assert_eq!(status(&e), (401, "authError"));
    assert_eq!(fake.request_count("managedZones.get"), 4);
}

/// Routing policies feddns does not write (primary/backup with a health check, weighted round
/// robin, or one this code does not even know) are stored and listed as they are, and a
/// deletion must carry them exactly.
#[tokio::test]
async fn routing_policies_feddns_does_not_write_are_kept_and_deleted_only_exactly() {
    let fake = fake().await;
    let api = rest(&fake);
    let rrset = |policy: serde_json::Value| -> WireRrset {
        serde_json::from_value(serde_json::json!({
            "name": format!("pb.{ZONE}."), "type": "A", "ttl": 30, "routingPolicy": policy,
        }))
        .unwrap()
    };
    let policy = serde_json::json!({
        "primaryBackup": {
            "primaryTargets": {"externalEndpoints": ["192.0.2.1"]},
            "backupGeoTargets": {"items": [{"location": "us-east1", "rrdatas": ["192.0.2.2"]}]},
            "trickleTraffic": 0.1,
        },
        "healthCheck": "projects/feddns-test/global/healthChecks/hc-1",
        "someFuturePolicy": {"knob": 3},
    });
    let stored = rrset(policy.clone());
    assert!(fake.put_rrset(PROJECT, MZ, stored.clone()));
    let listed = api
        .list_rrsets(PROJECT, MZ, &RrsetQuery::default())
        .await
        .unwrap()
        .rrsets
        .into_iter()
        .find(|w| w.name == format!("pb.{ZONE}."))
        .expect("listed");
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(
        json["routingPolicy"]["someFuturePolicy"], policy["someFuturePolicy"],
        "{json}"
    );
    assert_eq!(json["routingPolicy"]["primaryBackup"], policy["primaryBackup"]);
    // Another health check, or none, does not match.
    for other in [
        serde_json::json!({"primaryBackup": policy["primaryBackup"], "someFuturePolicy": {"knob": 3}}),
        serde_json::json!({
            "primaryBackup": policy["primaryBackup"],
            "healthCheck": "projects/feddns-test/global/healthChecks/hc-2",
            "someFuturePolicy": {"knob": 3},
        }),
        serde_json::json!({
            "primaryBackup": policy["primaryBackup"],
            "healthCheck": "projects/feddns-test/global/healthChecks/hc-1",
        }),
    ] {
        let e = api
            .create_change(PROJECT, MZ, &change(vec![], vec![rrset(other)]))
            .await
            .unwrap_err();
        assert_eq!(status(&e), (412, "conditionNotMet"), "{e}");
    }
    api.create_change(PROJECT, MZ, &change(vec![], vec![listed]))
        .await
        .unwrap();
    assert!(fake.rrset(PROJECT, MZ, &format!("pb.{ZONE}"), "A").is_none());
}
