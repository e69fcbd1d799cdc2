//! The provider over the fake: translation of changes, TXT quoting, listing, error mapping, zone
//! selection, rate limiting, counters and INSYNC waiting.

use std::sync::Arc;
use std::time::Duration;

use feddns_provider::{
    AliasTarget, Change, Provider, ProviderError, RecordSet, RecordType, Routing, Unmodelled,
};
use feddns_route53::fake::{FakeRoute53, ListQuirk};
use feddns_route53::wire::txt_strings;
use feddns_route53::{
    ApiError, ApiErrorKind, ChangeAction, Operation, Route53Error, Route53Provider, WireAlias, WireRecordSet,
};

use crate::common::{Recorder, a, fake_zone, latency, name, provider_with, txt, weighted, wire};

use ChangeAction::{Create, Delete, Upsert};

fn create(s: &RecordSet) -> Change {
    Change::create(s.clone())
}

fn replace(old: &RecordSet, new: &RecordSet) -> Change {
    Change::replace(old.clone(), new.clone())
}

async fn listed(p: &Route53Provider) -> Vec<RecordSet> {
    let mut sets: Vec<_> = p
        .list()
        .await
        .expect("list")
        .into_iter()
        .filter(|s| s.name != "example.com")
        .collect();
    sets.sort();
    sets
}

fn alias_set(label: &str, target: &str) -> RecordSet {
    RecordSet::new(&name(label), RecordType::A, 0, Vec::<String>::new()).with_alias(AliasTarget {
        hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        dns_name: target.into(),
        evaluate_target_health: true,
    })
}

#[tokio::test]
async fn replace_is_delete_then_create_unless_upserts_are_asked_for() {
    let (fake, _) = fake_zone();
    let rec = Recorder::new(fake.clone());
    let p = provider_with(rec.clone(), |_| {}).await;
    let old = a("r", 60, &["192.0.2.1"]);
    let new = a("r", 120, &["192.0.2.2"]);
    p.apply(&[create(&old)]).await.unwrap();
    p.apply(&[replace(&old, &new)]).await.unwrap();
    let fqdn = "r.example.com.".to_string();
    assert_eq!(
        rec.last_actions(),
        [(Delete, fqdn.clone()), (Create, fqdn.clone())]
    );
    // A stale replace is refused (the DELETE does not match), and names the set.
    let e = p
        .apply(&[replace(&old, &a("r", 60, &["192.0.2.3"]))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { key, .. } if key == &new.key()),
        "{e}"
    );

    let up = provider_with(rec.clone(), |c| c.upsert_replaces = true).await;
    let newer = a("r", 120, &["192.0.2.4"]);
    up.apply(&[replace(&new, &newer)]).await.unwrap();
    assert_eq!(rec.last_actions(), [(Upsert, fqdn.clone())]);
    // The trade-off of UPSERTs: a stale `old` goes unnoticed.
    up.apply(&[replace(&new, &a("r", 120, &["192.0.2.5"]))])
        .await
        .unwrap();

    // Changing the routing policy, or plain <-> alias, needs DELETE + CREATE even then.
    let w = weighted("w", "m1", 10, "192.0.2.1");
    let l = latency("w", "m1", "192.0.2.1");
    let l = RecordSet {
        routing: Some(Box::new(Routing::Latency {
            set_id: "m1".into(),
            region: "us-east-1".into(),
        })),
        ..l
    };
    up.apply(&[create(&w)]).await.unwrap();
    up.apply(&[replace(&w, &l)]).await.unwrap();
    assert_eq!(
        rec.last_actions(),
        [
            (Delete, "w.example.com.".into()),
            (Create, "w.example.com.".into())
        ]
    );
    let plain = a("al", 60, &["192.0.2.1"]);
    let alias = alias_set("al", "lb-1.elb.amazonaws.com");
    up.apply(&[create(&plain)]).await.unwrap();
    up.apply(&[replace(&plain, &alias)]).await.unwrap();
    assert_eq!(rec.last_actions().len(), 2);
    let listed = listed(&up).await;
    assert!(listed.contains(&l) && listed.contains(&alias), "{listed:#?}");
}

#[tokio::test]
async fn txt_values_are_quoted_escaped_split_and_listed_back() {
    let (fake, z) = fake_zone();
    let p = provider_with(fake.clone(), |_| {}).await;
    let long = format!("{}-{}", "a".repeat(300), "b".repeat(300));
    let values = [
        "heritage=feddns,feddns/owner=a b,feddns/service=ns/\"q\"",
        "back\\slash and \"quotes\"",
        "ünïcödé, tab\there",
        "",
        long.as_str(),
    ];
    let set = txt("_owner.www", &values);
    p.apply(&[create(&set)]).await.unwrap();
    let stored = fake
        .records(&z)
        .into_iter()
        .find(|s| s.name == "_owner.www.example.com.")
        .unwrap();
    assert!(
        stored
            .values
            .iter()
            .all(|v| v.starts_with('"') && v.ends_with('"'))
    );
    assert!(
        stored.values.iter().any(|v| v.contains("\\\"q\\\"")),
        "{:?}",
        stored.values
    );
    assert!(
        stored.values.iter().any(|v| v.contains("back\\\\slash")),
        "{:?}",
        stored.values
    );
    let split = stored.values.iter().find(|v| v.len() > 600).unwrap();
    assert_eq!(
        txt_strings(split).iter().map(Vec::len).collect::<Vec<_>>(),
        [255, 255, 91]
    );
    assert_eq!(listed(&p).await, vec![set.clone()]);
    // The listed form deletes exactly.
    p.apply(&[Change::delete(set)]).await.unwrap();
    assert!(listed(&p).await.is_empty());
}

#[tokio::test]
async fn listing_converts_route53_sets() {
    let (fake, z) = fake_zone();
    let seeded = |s: WireRecordSet| fake.seed(&z, s);
    seeded(wire("*.wild", "A", 60, &["192.0.2.1"]));
    seeded(wire("MiXeD", "CNAME", 300, &["Target.Example.NET."]));
    seeded(wire(
        "multi",
        "TXT",
        60,
        &["\"v=spf1 \" \"-all\"", "\"\\101\\\\\""],
    ));
    seeded(wire("mx", "MX", 300, &["10 mail.example.com."]));
    let mut lat = wire("api", "A", 60, &["192.0.2.7"]);
    lat.set_identifier = Some("eu".into());
    lat.region = Some("eu-west-1".into());
    seeded(lat);
    let mut w = wire("w", "AAAA", 60, &["2001:db8::1"]);
    w.set_identifier = Some("blue".into());
    w.weight = Some(90);
    seeded(w);
    seeded(WireRecordSet {
        name: "al.example.com.".into(),
        rtype: "A".into(),
        alias: Some(WireAlias {
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            dns_name: "Dualstack.LB-1.elb.amazonaws.com.".into(),
            evaluate_target_health: false,
        }),
        ..WireRecordSet::default()
    });
    let mut failover = wire("fo", "A", 60, &["192.0.2.9"]);
    failover.set_identifier = Some("primary".into());
    failover.failover = Some("PRIMARY".into());
    seeded(failover);

    let p = provider_with(fake.clone(), |_| {}).await;
    let all = p.list().await.unwrap();
    let apex: Vec<_> = all
        .iter()
        .filter(|s| s.name == "example.com")
        .map(|s| s.rtype.clone())
        .collect();
    assert_eq!(
        apex,
        [RecordType::Other("NS".into()), RecordType::Other("SOA".into())]
    );
    let mut want = vec![
        a("*.wild", 60, &["192.0.2.1"]),
        RecordSet::new(
            &name("mixed"),
            RecordType::Cname,
            300,
            ["target.example.net".to_string()],
        ),
        txt("multi", &["v=spf1 -all", "A\\"]),
        RecordSet::new(
            &name("mx"),
            RecordType::Other("MX".into()),
            300,
            ["10 mail.example.com.".to_string()],
        ),
        a("api", 60, &["192.0.2.7"]).with_routing(Routing::Latency {
            set_id: "eu".into(),
            region: "eu-west-1".into(),
        }),
        RecordSet::new(&name("w"), RecordType::Aaaa, 60, ["2001:db8::1".to_string()]).with_routing(
            Routing::Weighted {
                set_id: "blue".into(),
                weight: 90,
            },
        ),
        RecordSet::new(&name("al"), RecordType::A, 0, Vec::<String>::new()).with_alias(AliasTarget {
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            dns_name: "dualstack.lb-1.elb.amazonaws.com".into(),
            evaluate_target_health: false,
        }),
        a("fo", 60, &["192.0.2.9"]).with_unmodelled(Unmodelled {
            set_id: Some("primary".into()),
            fields: [("Failover".to_string(), "PRIMARY".to_string())].into(),
            summary: "Failover PRIMARY".into(),
        }),
    ];
    want.sort();
    assert_eq!(
        listed(&p).await,
        want,
        "every set converted, the failover set with its policy kept"
    );
}

#[tokio::test(start_paused = true)]
async fn pagination_follows_split_groups_and_refuses_repeated_pages() {
    let (fake, _) = fake_zone();
    let p = provider_with(fake.clone(), |_| {}).await.with_page_size(2);
    let sets: Vec<RecordSet> = [
        "us-east-1",
        "eu-west-1",
        "ap-northeast-1",
        "sa-east-1",
        "us-west-2",
    ]
    .iter()
    .map(|r| latency("api", r, "192.0.2.1"))
    .chain([a("b", 60, &["192.0.2.1"]), a("c", 60, &["192.0.2.1"])])
    .collect();
    p.apply(&sets.iter().map(create).collect::<Vec<_>>())
        .await
        .unwrap();
    let before = p.api_calls()["ListResourceRecordSets"];
    let mut want = sets.clone();
    want.sort();
    assert_eq!(listed(&p).await, want);
    assert_eq!(
        p.api_calls()["ListResourceRecordSets"] - before,
        5,
        "9 sets in pages of 2"
    );

    // A server that ignores StartRecordIdentifier (moto) restarts the group forever: an error.
    fake.set_list_quirk(ListQuirk::IgnoreStartIdentifier);
    let e = p.list().await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Other { message: m, .. } if m.contains("repeated the page")),
        "{e}"
    );
    // With pages larger than the group it still makes progress (duplicates are dropped).
    let big = provider_with(fake.clone(), |_| {}).await.with_page_size(6);
    assert_eq!(listed(&big).await, want);

    // A server that always answers the first page: an error after two calls, not a loop.
    fake.set_list_quirk(ListQuirk::RepeatFirstPage);
    let before = p.api_calls()["ListResourceRecordSets"];
    let e = p.list().await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Other { message: m, .. } if m.contains("repeated the page")),
        "{e}"
    );
    assert_eq!(p.api_calls()["ListResourceRecordSets"] - before, 2);
}

#[tokio::test(start_paused = true)]
async fn errors_map_to_provider_errors() {
    let (fake, z) = fake_zone();
    let p = provider_with(fake.clone(), |_| {}).await;
    let s = a("e", 60, &["192.0.2.1"]);
    let op = Operation::ChangeResourceRecordSets;
    for e in [
        ApiError::service(op, 400, "Throttling", "Rate exceeded"),
        ApiError::service(op, 400, "PriorRequestNotComplete", "still processing"),
        ApiError::service(op, 500, "InternalFailure", "oops"),
        ApiError::client(op, ApiErrorKind::Timeout, "timed out"),
        ApiError::client(op, ApiErrorKind::Dispatch, "connection refused"),
    ] {
        fake.push_error(e.clone());
        let got = p.apply(&[create(&s)]).await.unwrap_err();
        assert!(got.is_transient(), "{e} became {got}");
    }
    for e in [
        ApiError::service(op, 404, "NoSuchHostedZone", "No hosted zone found with ID: Z1"),
        ApiError::service(op, 403, "AccessDenied", "not allowed"),
        ApiError::client(op, ApiErrorKind::Client, "no credentials"),
    ] {
        fake.push_error(e.clone());
        let got = p.apply(&[create(&s)]).await.unwrap_err();
        assert!(matches!(got, ProviderError::Other { .. }), "{e} became {got}");
    }
    // The service's own refusals.
    fake.seed_set(&z, &s);
    let e = p
        .apply(&[create(&a("ok", 60, &["192.0.2.1"])), create(&s)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { key, .. } if *key == s.key()),
        "{e}"
    );
    let e = p
        .apply(&[Change::delete(a("gone", 60, &["192.0.2.1"]))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { key, .. } if key.name == name("gone")),
        "{e}"
    );
    let cn = RecordSet::new(&name("e"), RecordType::Cname, 60, ["t.example.net".to_string()]);
    let e = p
        .apply(&[create(&a("fine", 60, &["192.0.2.1"])), create(&cn)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Invalid { key, .. } if *key == cn.key()),
        "{e}"
    );
    fake.inject_invalid_change_batch(&name("inj"), None);
    let inj = a("inj", 60, &["192.0.2.1"]);
    let e = p
        .apply(&[create(&a("x1", 60, &["192.0.2.1"])), create(&inj)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Invalid { key, .. } if *key == inj.key()),
        "{e}"
    );

    // Reads are retried on transient errors, a few times.
    let list = Operation::ListResourceRecordSets;
    for _ in 0..2 {
        fake.push_error(ApiError::service(list, 400, "Throttling", "Rate exceeded"));
    }
    p.list().await.expect("retried past two throttles");
    for _ in 0..5 {
        fake.push_error(ApiError::service(list, 503, "ServiceUnavailable", "down"));
    }
    assert!(p.list().await.unwrap_err().is_transient());
    fake.push_error(ApiError::service(list, 404, "NoSuchHostedZone", "gone"));
    assert!(matches!(p.list().await.unwrap_err(), ProviderError::Other { .. }));
    let stats = p.api_stats();
    assert_eq!(stats.throttles["ListResourceRecordSets"], 2);
    assert_eq!(stats.throttles["ChangeResourceRecordSets"], 2);
    assert_eq!(stats.errors["ListResourceRecordSets"], 2 + 5 + 1);
}

#[tokio::test]
async fn checks_before_sending() {
    let (fake, _) = fake_zone();
    let p = provider_with(fake.clone(), |_| {}).await;
    let calls = || fake.calls()["ChangeResourceRecordSets"];
    let geo = a("g", 60, &["192.0.2.1"]).with_routing(Routing::Geo {
        set_id: "x".into(),
        location: "us-east1".into(),
    });
    let outside = RecordSet::new("www.other.org", RecordType::A, 60, ["192.0.2.1".to_string()]);
    let twice = a("t", 60, &["192.0.2.1"]);
    let heavy = weighted("h", "m", 256, "192.0.2.1");
    for batch in [
        vec![create(&geo)],
        vec![create(&outside)],
        vec![create(&a("bad", 60, &["not-an-ip"]))],
        vec![create(&twice), Change::delete(twice.clone())],
        vec![create(&heavy)],
        vec![replace(
            &a("k1", 60, &["192.0.2.1"]),
            &a("k2", 60, &["192.0.2.1"]),
        )],
    ] {
        let e = p.apply(&batch).await.unwrap_err();
        assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    }
    // Limits, counted on the wire: records, and characters of quoted values.
    let many: Vec<Change> = (0..1001)
        .map(|i| create(&a(&format!("n{i}"), 60, &["192.0.2.1"])))
        .collect();
    assert!(matches!(
        p.apply(&many).await.unwrap_err(),
        ProviderError::TooLarge(_)
    ));
    // Every `"` is escaped on the wire: the declared count fits, the request would not.
    let v = "\"".repeat(120);
    let quoted: Vec<Change> = (0..200).map(|i| create(&txt(&format!("t{i}"), &[&v]))).collect();
    let declared: usize = quoted.iter().map(|c| c.value_chars(2)).sum();
    assert!(declared <= 32_000, "fits the declared limit: {declared}");
    assert!(matches!(
        p.apply(&quoted).await.unwrap_err(),
        ProviderError::TooLarge(_)
    ));
    assert_eq!(calls(), 0, "nothing was sent");
    p.apply(&[]).await.unwrap();
    assert_eq!(calls(), 0);
}

#[tokio::test]
async fn zones_are_chosen_by_name_or_id() {
    let fake = Arc::new(FakeRoute53::new());
    for i in 0..120 {
        fake.add_zone_with(&format!("ZA{i:03}"), &format!("a{i:03}.test"), false);
    }
    fake.add_zone_with("ZPUBLIC", "example.com", false);
    fake.add_zone_with("ZPRIVATE", "example.com", true);
    fake.add_zone_with("ZOTHER", "other.org", false);
    let by_name = |n: &'static str| {
        let fake = fake.clone();
        async move { Route53Provider::with_api(fake, None, Some(n)).await }
    };
    let e = by_name("example.com").await.unwrap_err();
    assert!(
        matches!(&e, Route53Error::AmbiguousZone { ids, .. } if ids.len() == 2),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("ZPUBLIC") && msg.contains("ZPRIVATE (private)") && msg.contains("zone_id"),
        "{msg}"
    );
    let e = by_name("missing.example").await.unwrap_err();
    assert!(e.to_string().contains("missing.example"), "{e}");
    let p = by_name("Other.Org.").await.unwrap();
    assert_eq!((p.zone_id(), p.zone()), ("ZOTHER", "other.org"));

    let p = Route53Provider::with_api(fake.clone(), Some("/hostedzone/ZPRIVATE"), None)
        .await
        .unwrap();
    assert_eq!((p.zone_id(), p.zone()), ("ZPRIVATE", "example.com"));
    let p = Route53Provider::with_api(fake.clone(), Some("ZA110"), Some("a110.test"))
        .await
        .unwrap();
    assert_eq!(p.zone(), "a110.test");
    assert!(
        p.api_calls()["ListHostedZonesByName"] >= 2,
        "the id was found on the second page"
    );
    let e = Route53Provider::with_api(fake.clone(), Some("ZOTHER"), Some("example.com"))
        .await
        .unwrap_err();
    assert!(matches!(e, Route53Error::ZoneMismatch { .. }), "{e}");
    let e = Route53Provider::with_api(fake.clone(), Some("ZNOPE"), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ZNOPE"), "{e}");
    let e = Route53Provider::with_api(fake.clone(), None, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Route53Error::Config(_)), "{e}");
}

#[tokio::test(start_paused = true)]
async fn calls_are_rate_limited_across_operations() {
    let (fake, _) = fake_zone();
    let p = provider_with(fake.clone(), |c| c.requests_per_second = 2.0).await;
    // The zone lookup took one token of the two in the bucket.
    let start = tokio::time::Instant::now();
    for i in 0..5 {
        p.list().await.unwrap();
        p.apply(&[create(&a(&format!("r{i}"), 60, &["192.0.2.1"]))])
            .await
            .unwrap();
    }
    let took = start.elapsed();
    // 11 calls in all at 2/s with a burst of 2: the last is due 4.5 s after the first.
    assert!(
        took >= Duration::from_millis(4400) && took <= Duration::from_millis(4600),
        "{took:?}"
    );
    let calls = p.api_calls();
    assert_eq!(calls["ListHostedZonesByName"], 1);
    assert_eq!(calls["ListResourceRecordSets"], 5);
    assert_eq!(calls["ChangeResourceRecordSets"], 5);
    assert_eq!(calls["GetChange"], 0);
    assert_eq!(calls, fake.calls(), "the provider counts what the server saw");
}

#[tokio::test(start_paused = true)]
async fn waits_for_insync_when_asked() {
    let (fake, _) = fake_zone();
    fake.set_insync_after(3);
    let rec = Recorder::new(fake.clone());
    let p = provider_with(rec.clone(), |c| c.wait_for_insync = true).await;
    p.apply(&[create(&a("s", 60, &["192.0.2.1"]))]).await.unwrap();
    assert_eq!(p.api_calls()["GetChange"], 3);
    let no_wait = provider_with(rec.clone(), |_| {}).await;
    no_wait
        .apply(&[create(&a("s2", 60, &["192.0.2.1"]))])
        .await
        .unwrap();
    assert_eq!(no_wait.api_calls()["GetChange"], 0);
    assert_eq!(fake.calls()["GetChange"], 3);
    // A change that never gets INSYNC: apply still returns, after the bounded wait.
    fake.set_insync_after(u32::MAX);
    let start = tokio::time::Instant::now();
    p.apply(&[create(&a("s3", 60, &["192.0.2.1"]))]).await.unwrap();
    assert!(
        start.elapsed() <= Duration::from_secs(301),
        "{:?}",
        start.elapsed()
    );
    assert!(p.api_calls()["GetChange"] > 3);
}

#[tokio::test(start_paused = true)]
async fn throttled_server_still_lists_and_apply_reports_transient() {
    let (fake, _) = fake_zone();
    let p = provider_with(fake.clone(), |_| {}).await;
    p.apply(
        &(0..20)
            .map(|i| create(&a(&format!("h{i}"), 60, &["192.0.2.1"])))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    fake.set_throttling(0.3, 42);
    let mut ok = 0;
    let mut transient = 0;
    for i in 0..30 {
        let n = p.list().await.expect("reads retry past throttles").len();
        assert_eq!(n, 22 + ok, "SOA, NS, 20 sets and the accepted creates");
        match p.apply(&[create(&a(&format!("n{i}"), 60, &["192.0.2.1"]))]).await {
            Ok(()) => ok += 1,
            Err(e) if e.is_transient() => transient += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(ok > 0 && transient > 0, "ok {ok}, transient {transient}");
    let stats = p.api_stats();
    assert_eq!(stats.throttles["ChangeResourceRecordSets"], transient);
    assert_eq!(stats.throttles, fake.throttled());
    fake.clear_throttling();
    assert_eq!(p.list().await.unwrap().len(), 22 + ok);
}

/// The SDK client builds with the default credential chain and the lean rustls/ring HTTP client
/// (no call is made: the chain would look for instance metadata).
#[tokio::test]
async fn sdk_api_builds_with_the_default_credential_chain() {
    let cfg = feddns_route53::Route53Config {
        zone_name: Some("example.com".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        region: Some("eu-central-1".into()),
        ..feddns_route53::Route53Config::default()
    };
    let api = feddns_route53::SdkApi::from_config(&cfg).await;
    let conf = api.client().config();
    assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-central-1"));
    assert!(conf.http_client().is_some());
}

/// A set someone attached a health check to lists with it, and a DELETE built from the listed
/// set matches on the strict fake (as on Route53, where a DELETE without the HealthCheckId is
/// refused as "not matching", which feddns would take for a stale cache and retry forever).
#[tokio::test]
async fn a_health_checked_set_lists_with_its_health_check_and_deletes_exactly() {
    let (fake, z) = fake_zone();
    let mut w = wire("api", "A", 60, &["192.0.2.1"]);
    w.set_identifier = Some("us-east-1".into());
    w.region = Some("us-east-1".into());
    w.health_check_id = Some("7c1e5a52-hc".into());
    fake.seed(&z, w);
    let p = provider_with(fake.clone(), |_| {}).await;
    let sets = listed(&p).await;
    let [set] = sets.as_slice() else {
        panic!("one set expected: {sets:#?}")
    };
    assert_eq!(set.key().set_id.as_deref(), Some("us-east-1"));
    let u = set.unmodelled.as_deref().expect("the health check is kept");
    assert_eq!(
        u.fields.get("HealthCheckId").map(String::as_str),
        Some("7c1e5a52-hc")
    );
    assert!(u.summary.contains("HealthCheckId"), "{}", u.summary);
    // Without the health check the DELETE does not match: a conflict, nothing deleted.
    let mut bare = set.clone();
    bare.unmodelled = None;
    let e = p.apply(&[Change::delete(bare)]).await.unwrap_err();
    assert!(matches!(e, ProviderError::Conflict { .. }), "{e}");
    assert_eq!(listed(&p).await.len(), 1);
    p.apply(&[Change::delete(set.clone())]).await.unwrap();
    assert!(listed(&p).await.is_empty());
}

/// Failover, geolocation, geoproximity, multivalue answer and CIDR sets (and alias sets with
/// health checks) list as distinct sets with their fields kept, delete exactly, and written back
/// from the listing they are stored exactly as before.
#[tokio::test]
async fn sets_with_routing_feddns_does_not_model_round_trip_exactly() {
    use feddns_route53::{WireCidrRouting, WireGeoLocation, WireGeoProximity};
    let (fake, z) = fake_zone();
    let routed = |label: &str, id: &str, ip: &str, f: &dyn Fn(&mut WireRecordSet)| {
        let mut w = wire(label, "A", 60, &[ip]);
        w.set_identifier = Some(id.into());
        f(&mut w);
        w
    };
    let seeded = [
        routed("fo", "primary", "192.0.2.1", &|w| {
            w.failover = Some("PRIMARY".into());
            w.health_check_id = Some("hc-primary".into());
        }),
        routed("fo", "secondary", "192.0.2.2", &|w| {
            w.failover = Some("SECONDARY".into());
        }),
        routed("geo", "europe", "192.0.2.3", &|w| {
            w.geo_location = Some(WireGeoLocation {
                continent_code: Some("EU".into()),
                ..WireGeoLocation::default()
            });
        }),
        routed("geo", "california", "192.0.2.4", &|w| {
            w.geo_location = Some(WireGeoLocation {
                country_code: Some("US".into()),
                subdivision_code: Some("CA".into()),
                ..WireGeoLocation::default()
            });
        }),
        routed("geo", "default", "192.0.2.5", &|w| {
            w.geo_location = Some(WireGeoLocation {
                country_code: Some("*".into()),
                ..WireGeoLocation::default()
            });
        }),
        routed("gp", "virginia", "192.0.2.6", &|w| {
            w.geo_proximity_location = Some(WireGeoProximity {
                aws_region: Some("us-east-1".into()),
                bias: Some(-20),
                ..WireGeoProximity::default()
            });
        }),
        routed("gp", "office", "192.0.2.7", &|w| {
            w.geo_proximity_location = Some(WireGeoProximity {
                coordinates: Some(("49.22".into(), "-74.01".into())),
                ..WireGeoProximity::default()
            });
        }),
        routed("mv", "one", "192.0.2.8", &|w| {
            w.multi_value_answer = Some(true);
            w.health_check_id = Some("hc-mv".into());
        }),
        routed("cidr", "branch", "192.0.2.9", &|w| {
            w.cidr_routing_config = Some(WireCidrRouting {
                collection_id: "c8c4-collection".into(),
                location_name: "branch_office".into(),
            });
        }),
        WireRecordSet {
            name: "w.example.com.".into(),
            rtype: "A".into(),
            set_identifier: Some("blue".into()),
            weight: Some(10),
            health_check_id: Some("hc-blue".into()),
            alias: Some(WireAlias {
                hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                dns_name: "lb-1.us-east-1.elb.amazonaws.com.".into(),
                evaluate_target_health: true,
            }),
            ..WireRecordSet::default()
        },
    ];
    for w in &seeded {
        fake.seed(&z, w.clone());
    }
    let stored = fake.records(&z);
    let p = provider_with(fake.clone(), |_| {}).await;
    let sets = listed(&p).await;
    assert_eq!(sets.len(), seeded.len(), "every set listed: {sets:#?}");
    assert!(sets.iter().all(|s| s.unmodelled.is_some()), "{sets:#?}");
    let keys: std::collections::BTreeSet<_> = sets.iter().map(RecordSet::key).collect();
    assert_eq!(keys.len(), sets.len(), "distinct keys: {keys:#?}");
    let fo = sets
        .iter()
        .find(|s| s.name == name("fo") && s.key().set_id.as_deref() == Some("primary"));
    let fo = fo.and_then(|s| s.unmodelled.as_deref()).expect("the primary");
    assert_eq!(fo.fields.get("Failover").map(String::as_str), Some("PRIMARY"));
    assert_eq!(
        fo.fields.get("HealthCheckId").map(String::as_str),
        Some("hc-primary")
    );
    // Exact DELETEs of all of them in one batch, then CREATEs from the listing.
    p.apply(&sets.iter().map(|s| Change::delete(s.clone())).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(listed(&p).await.is_empty());
    p.apply(&sets.iter().map(create).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(fake.records(&z), stored, "written back exactly as listed");
    assert_eq!(listed(&p).await, sets);
}
