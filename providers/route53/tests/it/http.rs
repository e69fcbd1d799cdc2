//! The strict fake served over HTTP (`fake::http`), through the real AWS SDK: the conformance
//! suite, pagination, errors as the in-process fake gives them, fields feddns does not model, TXT
//! escaping, and the fake in a process of its own.

use std::ops::Deref;
use std::sync::Arc;

use feddns_provider::{Change, Provider, RecordSet, RecordType};
use feddns_route53::aws_sdk_route53::config::Credentials;
use feddns_route53::fake::FakeRoute53;
use feddns_route53::fake::http::{self, FakeRoute53Child, FakeRoute53Server, InvalidChangeBatchShape};
use feddns_route53::wire::encode_txt;
use feddns_route53::{
    ApiError, ApiErrorKind, ChangeAction, Operation, RecordPageStart, Route53Api, Route53Config,
    Route53Provider, SdkApi, WireAlias, WireChange, WireCidrRouting, WireGeoLocation, WireGeoProximity,
    WireRecordSet,
};

use crate::common::{ZONE, ch, fake_zone, latency, test_config, wire};

/// An SDK client for a fake served at `endpoint` (static credentials: the fake checks none).
async fn sdk(endpoint: &str) -> Arc<SdkApi> {
    let cfg = Route53Config {
        endpoint_url: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        ..test_config()
    };
    let credentials = Credentials::new("AKIDFAKE", "SECRETFAKE", None, None, "static");
    Arc::new(SdkApi::with_credentials(&cfg, credentials).await)
}

/// A fake with the zone `example.com`, served over HTTP, and a provider reaching it through the
/// SDK.
pub(crate) struct HttpZone {
    provider: Route53Provider,
    api: Arc<SdkApi>,
    fake: Arc<FakeRoute53>,
    zone_id: String,
    server: FakeRoute53Server,
}

impl Deref for HttpZone {
    type Target = Route53Provider;
    fn deref(&self) -> &Route53Provider {
        &self.provider
    }
}

impl HttpZone {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// `prepare` may change the fake before the provider looks at it.
    async fn start_with(prepare: impl FnOnce(&FakeRoute53)) -> Self {
        let (fake, zone_id) = fake_zone();
        prepare(&fake);
        let server = http::start(fake.clone()).await.expect("serve the fake");
        let api = sdk(&server.endpoint()).await;
        let provider = Route53Provider::with_api_config(api.clone(), &test_config())
            .await
            .expect("a provider through the SDK and HTTP");
        Self {
            provider,
            api,
            fake,
            zone_id,
            server,
        }
    }
}

/// The conformance suite through the SDK and HTTP: every case, as against the fake in process.
mod conformance {
    feddns_provider::conformance_tests!(super::HttpZone::start());
}

/// Pages of at most 3 sets: page boundaries inside groups of routed sets travel as
/// `NextRecordIdentifier` and come back as `identifier`.
mod conformance_small_pages {
    feddns_provider::conformance_tests!(super::HttpZone::start_with(|f| f.set_page_cap(3)));
}

fn latency_wire(label: &str, region: &str, ip: &str) -> WireRecordSet {
    WireRecordSet {
        set_identifier: Some(region.into()),
        region: Some(region.into()),
        ..wire(label, "A", 60, &[ip])
    }
}

/// Pages of two sets, walked by hand through the SDK: every `NextRecordName`, `NextRecordType`
/// and `NextRecordIdentifier` the fake writes is read back and sent as the next start, and the
/// pages together are the zone, field for field.
#[tokio::test]
async fn pages_carry_next_name_type_and_identifier() {
    let z = HttpZone::start().await;
    let mut sets = vec![
        wire("a", "A", 60, &["192.0.2.1"]),
        wire("a", "TXT", 60, &["\"x\""]),
        wire("b", "AAAA", 60, &["2001:db8::1"]),
    ];
    for r in [
        "ap-northeast-1",
        "eu-west-1",
        "us-east-1",
        "us-west-2",
        "sa-east-1",
    ] {
        sets.push(latency_wire("api", r, "192.0.2.9"));
    }
    let batch: Vec<WireChange> = sets.iter().map(|s| ch(ChangeAction::Create, s)).collect();
    z.api
        .change_resource_record_sets(&z.zone_id, &batch)
        .await
        .unwrap();

    let mut start = RecordPageStart::default();
    let mut listed = Vec::new();
    let (mut pages, mut split_groups) = (0, 0);
    loop {
        let page = z
            .api
            .list_resource_record_sets(&z.zone_id, &start, 2)
            .await
            .unwrap();
        pages += 1;
        assert!(page.sets.len() <= 2, "{page:?}");
        listed.extend(page.sets.iter().cloned());
        if page.next_identifier.is_some() {
            split_groups += 1;
        }
        match page.next_start() {
            Some(next) => start = next,
            None => break,
        }
        assert!(pages < 100, "the listing does not end");
    }
    assert_eq!(listed, z.fake.records(&z.zone_id));
    assert_eq!(pages, listed.len().div_ceil(2));
    assert!(split_groups >= 2, "no page ended inside the latency group");
    // The provider's own pagination, one set per page, sees the same.
    let one = Route53Provider::with_api_config(z.api.clone(), &test_config())
        .await
        .unwrap()
        .with_page_size(1);
    let mut from_provider = one.list().await.unwrap();
    let mut in_fake = z.fake.record_sets(&z.zone_id);
    from_provider.sort();
    in_fake.sort();
    assert_eq!(from_provider, in_fake);
    assert_eq!(one.api_calls()["ListResourceRecordSets"], listed.len() as u64);
}

/// What one call gives in process and through the SDK and HTTP.
async fn both<T: std::fmt::Debug + PartialEq>(
    local: &FakeRoute53,
    remote: &SdkApi,
    zone: &str,
    call: impl AsyncFn(&dyn Route53Api, &str) -> Result<T, ApiError>,
) -> (Result<T, ApiError>, Result<T, ApiError>) {
    (call(local, zone).await, call(remote, zone).await)
}

/// Two fakes with the same zone and the same seeded throttling, one in process and one served:
/// the same calls get the same answers, throttles included (`Throttling` and
/// `PriorRequestNotComplete`, HTTP 400), as equal `ApiError`s.
#[tokio::test]
async fn throttles_arrive_as_the_in_process_fake_gives_them() {
    let (local, zone) = fake_zone();
    let z = HttpZone::start().await;
    assert_eq!(z.zone_id, zone);
    for f in [&local, &z.fake] {
        f.set_throttling(0.5, 7);
    }
    let mut codes = Vec::new();
    for i in 0..40 {
        let set = wire(&format!("t{i}"), "A", 60, &["192.0.2.1"]);
        let (a, b) = both(&local, &z.api, &zone, async |api, zone| {
            api.change_resource_record_sets(zone, &[ch(ChangeAction::Create, &set)])
                .await
        })
        .await;
        assert_eq!(a, b, "change {i}");
        codes.extend(b.err().and_then(|e| e.code));
        let (a, b) = both(&local, &z.api, &zone, async |api, zone| {
            api.list_resource_record_sets(zone, &RecordPageStart::default(), 300)
                .await
        })
        .await;
        assert_eq!(a, b, "list {i}");
        for e in [a.err(), b.err()].into_iter().flatten() {
            assert_eq!((e.kind, e.status), (ApiErrorKind::Service, Some(400)), "{e}");
            assert!(e.is_throttle(), "{e}");
        }
    }
    for code in ["Throttling", "PriorRequestNotComplete"] {
        assert!(codes.iter().any(|c| c == code), "no {code} in {codes:?}");
    }
    for op in ["ChangeResourceRecordSets", "ListResourceRecordSets"] {
        assert_eq!(z.fake.calls()[op], local.calls()[op], "{op}");
    }
    assert_eq!(z.fake.throttled(), local.throttled());
    assert!(z.fake.throttled()["ChangeResourceRecordSets"] > 0);
}

/// A refused batch (several problems at once), an unknown zone, an unknown change, a bad
/// request and a service failure arrive through the SDK exactly as the fake gives them in
/// process; `InvalidChangeBatch` in either of its documents.
#[tokio::test]
async fn service_errors_arrive_as_the_in_process_fake_gives_them() {
    let (local, zone) = fake_zone();
    let z = HttpZone::start().await;
    let existing = wire("dup", "A", 60, &["192.0.2.1"]);
    for api in [&*local as &dyn Route53Api, &*z.api] {
        api.change_resource_record_sets(&zone, &[ch(ChangeAction::Create, &existing)])
            .await
            .unwrap();
    }
    let refused = [
        ch(ChangeAction::Create, &existing),
        ch(ChangeAction::Delete, &wire("gone", "A", 60, &["192.0.2.2"])),
        ch(ChangeAction::Create, &wire("bad", "A", 60, &["not-an-ip"])),
    ];
    let icb = async |api: &dyn Route53Api, zone: &str| api.change_resource_record_sets(zone, &refused).await;
    for shape in [
        InvalidChangeBatchShape::ErrorResponse,
        InvalidChangeBatchShape::Legacy,
    ] {
        z.server.set_invalid_change_batch_shape(shape);
        let (a, b) = both(&local, &z.api, &zone, icb).await;
        assert_eq!(a, b, "{shape:?}");
        let e = b.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidChangeBatch"), "{shape:?}: {e}");
        assert_eq!(e.status, Some(400));
        for needle in ["already exists", "was not found", "not-an-ip"] {
            assert!(e.message.contains(needle), "{shape:?}: {e}");
        }
    }
    z.server
        .set_invalid_change_batch_shape(InvalidChangeBatchShape::ErrorResponse);

    let (a, b) = both(&local, &z.api, "ZNOSUCHZONE", async |api, zone| {
        api.list_resource_record_sets(zone, &RecordPageStart::default(), 10)
            .await
    })
    .await;
    assert_eq!(a, b);
    assert_eq!(b.unwrap_err().status, Some(404));
    let (a, b) = both(&local, &z.api, "ZNOSUCHZONE", async |api, zone| {
        api.change_resource_record_sets(zone, &[ch(ChangeAction::Create, &existing)])
            .await
    })
    .await;
    assert_eq!(a, b);
    assert_eq!(b.unwrap_err().code.as_deref(), Some("NoSuchHostedZone"));
    let (a, b) = both(&local, &z.api, &zone, async |api, _| {
        api.get_change("/change/CNOSUCHCHANGE").await
    })
    .await;
    assert_eq!(a, b);
    assert_eq!(b.unwrap_err().code.as_deref(), Some("NoSuchChange"));
    // The fake's structural checks (InvalidInput).
    let (a, b) = both(&local, &z.api, &zone, async |api, zone| {
        let mut routed = wire("r", "A", 60, &["192.0.2.1"]);
        routed.weight = Some(10);
        api.change_resource_record_sets(zone, &[ch(ChangeAction::Create, &routed)])
            .await
    })
    .await;
    assert_eq!(a, b);
    assert_eq!(b.unwrap_err().code.as_deref(), Some("InvalidInput"));
    let (a, b) = both(&local, &z.api, &zone, async |api, zone| {
        api.list_hosted_zones_by_name(None, Some(zone), 10).await
    })
    .await;
    assert_eq!(a, b);
    // Injected failures, a 5xx and PriorRequestNotComplete.
    for (status, code) in [(503, "ServiceUnavailable"), (400, "PriorRequestNotComplete")] {
        for f in [&local, &z.fake] {
            f.push_error(ApiError::service(
                Operation::ChangeResourceRecordSets,
                status,
                code,
                "injected",
            ));
        }
        let (a, b) = both(&local, &z.api, &zone, async |api, zone| {
            api.change_resource_record_sets(zone, &[ch(ChangeAction::Create, &existing)])
                .await
        })
        .await;
        assert_eq!(a, b, "{code}");
        assert_eq!(b.unwrap_err().status, Some(status));
    }
    assert_eq!(z.fake.records(&zone), local.records(&zone));
}

/// An injected failure that is not a service answer closes the connection: the SDK reports a
/// network failure (retryable), and the next call is answered.
#[tokio::test]
async fn a_failure_without_an_answer_closes_the_connection() {
    let z = HttpZone::start().await;
    z.fake.push_error(ApiError::client(
        Operation::ListResourceRecordSets,
        ApiErrorKind::Dispatch,
        "connection reset",
    ));
    let e = z
        .api
        .list_resource_record_sets(&z.zone_id, &RecordPageStart::default(), 10)
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.code.as_deref()), (ApiErrorKind::Dispatch, None), "{e}");
    let page = z
        .api
        .list_resource_record_sets(&z.zone_id, &RecordPageStart::default(), 10)
        .await
        .unwrap();
    assert_eq!(page.sets, z.fake.records(&z.zone_id));
}

/// Every field feddns does not model (health check, failover, geolocation, geoproximity,
/// multivalue answer, CIDR routing, traffic policy instance), and alias targets, travel through
/// the XML both ways: listed field for field, and deleted by an exact DELETE built from the
/// listing (which the strict fake refuses if any field is lost).
#[tokio::test]
async fn fields_feddns_does_not_model_round_trip_through_xml() {
    let z = HttpZone::start().await;
    let with = |label: &str, id: &str, f: &dyn Fn(&mut WireRecordSet)| {
        let mut s = wire(label, "A", 60, &["192.0.2.1"]);
        s.set_identifier = Some(id.into());
        f(&mut s);
        s
    };
    let mut sets = vec![
        {
            let mut s = latency_wire("hc", "us-east-1", "192.0.2.1");
            s.health_check_id = Some("5b3f0d7e-hc".into());
            s
        },
        with("fo", "primary", &|s| {
            s.failover = Some("PRIMARY".into());
            s.health_check_id = Some("5b3f0d7e-hc".into());
        }),
        with("geo", "ca", &|s| {
            s.geo_location = Some(WireGeoLocation {
                continent_code: None,
                country_code: Some("US".into()),
                subdivision_code: Some("CA".into()),
            });
        }),
        with("gp", "near", &|s| {
            s.geo_proximity_location = Some(WireGeoProximity {
                aws_region: None,
                local_zone_group: Some("us-west-2-lax-1".into()),
                coordinates: Some(("49.22".into(), "-74.01".into())),
                bias: Some(-5),
            });
        }),
        with("mv", "one", &|s| s.multi_value_answer = Some(true)),
        with("cidr", "office", &|s| {
            s.cidr_routing_config = Some(WireCidrRouting {
                collection_id: "c-1".into(),
                location_name: "office".into(),
            });
        }),
        WireRecordSet {
            traffic_policy_instance_id: Some("tp-1".into()),
            ..wire("tp", "A", 60, &["192.0.2.5"])
        },
        WireRecordSet {
            ttl: None,
            values: vec![],
            alias: Some(WireAlias {
                hosted_zone_id: z.zone_id.clone(),
                dns_name: format!("hc.{ZONE}."),
                evaluate_target_health: true,
            }),
            ..wire("al", "A", 0, &[])
        },
    ];
    let batch: Vec<WireChange> = sets.iter().map(|s| ch(ChangeAction::Create, s)).collect();
    z.api
        .change_resource_record_sets(&z.zone_id, &batch)
        .await
        .unwrap();
    // What the fake stored is what was sent.
    let mut stored: Vec<WireRecordSet> = z
        .fake
        .records(&z.zone_id)
        .into_iter()
        .filter(|s| s.rtype == "A")
        .collect();
    stored.sort();
    sets.sort();
    assert_eq!(stored, sets);
    // What the SDK lists is what the fake holds.
    let listed = z
        .api
        .list_resource_record_sets(&z.zone_id, &RecordPageStart::default(), 300)
        .await
        .unwrap();
    assert_eq!(listed.sets, z.fake.records(&z.zone_id));
    let hc = listed
        .sets
        .iter()
        .find(|s| s.name == format!("hc.{ZONE}."))
        .unwrap();
    assert_eq!(hc.health_check_id.as_deref(), Some("5b3f0d7e-hc"));
    // Exact DELETEs built from the listing (alias first: it targets `hc`).
    let mut deletes: Vec<WireChange> = listed
        .sets
        .iter()
        .filter(|s| s.rtype == "A")
        .map(|s| ch(ChangeAction::Delete, s))
        .collect();
    deletes.sort_by_key(|c| c.set.alias.is_none());
    z.api
        .change_resource_record_sets(&z.zone_id, &deletes)
        .await
        .unwrap();
    assert!(z.fake.records(&z.zone_id).iter().all(|s| s.rtype != "A"));
}

/// TXT values with quotes, backslashes, XML's special characters, control and non-ASCII bytes,
/// and more than 255 bytes, and a wildcard name: written by the provider through the SDK, stored
/// by the fake exactly as quoted and escaped on the wire, and listed back unchanged.
#[tokio::test]
async fn txt_escaping_and_wildcards_round_trip() {
    let z = HttpZone::start().await;
    let values = [
        "heritage=feddns,owner=\"a\\b\"".to_string(),
        "<tag> & 'quote' ]]>".to_string(),
        "tab\there, ünïcode".to_string(),
        format!("{}-{}", "x".repeat(255), "y".repeat(100)),
    ];
    let txt = RecordSet::new(&format!("_owner.www.{ZONE}"), RecordType::Txt, 60, values.clone());
    let wild = RecordSet::new(
        &format!("*.wild.{ZONE}"),
        RecordType::Cname,
        300,
        ["lb-1.elb.example.net".to_string()],
    );
    z.apply(&[Change::create(txt.clone()), Change::create(wild.clone())])
        .await
        .unwrap();
    let stored = z.fake.records(&z.zone_id);
    let stored_txt = stored.iter().find(|s| s.rtype == "TXT").unwrap();
    let mut want: Vec<String> = values.iter().map(|v| encode_txt(v)).collect();
    let mut got = stored_txt.values.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(stored.iter().any(|s| s.name == format!("\\052.wild.{ZONE}.")));
    let listed = z.list().await.unwrap();
    assert!(listed.contains(&txt), "{listed:#?}");
    assert!(listed.contains(&wild), "{listed:#?}");
}

/// Set in the child process of `a_fake_in_another_process_serves_until_dropped`.
const CHILD_ROLE: &str = "FEDDNS_ROUTE53_TEST_ROLE";

/// A fake in a process of its own: this test binary, run again for this test alone with
/// [`CHILD_ROLE`] set, serves it with `serve_standalone`. The endpoint it prints is served,
/// `remote_calls` counts the calls the provider made, and dropping the handle ends the process.
#[tokio::test]
async fn a_fake_in_another_process_serves_until_dropped() {
    if std::env::var_os(CHILD_ROLE).is_some() {
        http::serve_standalone(&[ZONE]).await.unwrap();
        return;
    }
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "http::a_fake_in_another_process_serves_until_dropped",
        "--test-threads=1",
        // Terse: the harness writes nothing on the endpoint's line.
        "--quiet",
    ])
    .env(CHILD_ROLE, "route53-fake");
    let child = tokio::task::spawn_blocking(move || FakeRoute53Child::spawn(cmd))
        .await
        .unwrap()
        .unwrap();
    let pid = child.id();
    let api = sdk(child.endpoint()).await;
    let p = Route53Provider::with_api_config(api, &test_config())
        .await
        .unwrap();
    let set = latency("api", "us-east-1", "192.0.2.7");
    p.apply(&[Change::create(set.clone())]).await.unwrap();
    assert!(p.list().await.unwrap().contains(&set));
    let calls = http::remote_calls(child.endpoint()).await.unwrap();
    assert_eq!(calls, p.api_calls());
    drop(child);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child {pid} still runs"
    );
}
