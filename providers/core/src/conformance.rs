//! The provider conformance suite: the semantics every [`Provider`] must have.
//!
//! Each case takes a provider holding an empty zone (sets at the apex, such as SOA and NS, are
//! allowed) and works below the `cf.` label of that zone. Run the whole suite from a provider's
//! tests with [`conformance_tests!`](crate::conformance_tests), which writes one test per case:
//!
//! ```text
//! feddns_provider::conformance_tests!(async { std::sync::Arc::new(MyProvider::start().await) });
//! ```

use crate::provider::{Change, Provider, ProviderError};
use crate::record::{RecordSet, RecordType, Routing};

fn name(p: &dyn Provider, label: &str) -> String {
    format!("{label}.cf.{}", p.zone())
}

fn set(p: &dyn Provider, label: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    RecordSet::new(
        &name(p, label),
        rtype,
        ttl,
        values.iter().map(|v| (*v).to_string()),
    )
}

/// The sets the suite created (below `cf.<zone>`), sorted.
pub async fn suite_sets(p: &dyn Provider) -> Vec<RecordSet> {
    let suffix = format!(".cf.{}", p.zone());
    let mut sets: Vec<_> = p
        .list()
        .await
        .expect("list")
        .into_iter()
        .filter(|s| s.name.ends_with(&suffix))
        .collect();
    sets.sort();
    sets
}

async fn apply_ok(p: &dyn Provider, changes: Vec<Change>) {
    if let Err(e) = p.apply(&changes).await {
        panic!("{} rejected a valid batch: {e}\nbatch: {changes:#?}", p.kind());
    }
}

async fn apply_err(p: &dyn Provider, changes: Vec<Change>, what: &str) -> ProviderError {
    let before = suite_sets(p).await;
    match p.apply(&changes).await {
        Ok(()) => panic!("{} accepted {what}: {changes:#?}", p.kind()),
        Err(e) => {
            assert!(
                !e.is_transient(),
                "{} answered {what} with a transient error: {e}",
                p.kind()
            );
            assert_eq!(
                suite_sets(p).await,
                before,
                "{} changed the zone although it rejected {what}",
                p.kind()
            );
            e
        }
    }
}

fn create(s: &RecordSet) -> Change {
    Change::create(s.clone())
}

/// Sets of every managed type are created and listed back exactly.
pub async fn create_then_list(p: &dyn Provider) {
    let sets = vec![
        set(
            p,
            "www",
            RecordType::A,
            180,
            &["192.0.2.2", "192.0.2.1", "198.51.100.7"],
        ),
        set(p, "www", RecordType::Aaaa, 180, &["2001:db8::1"]),
        set(p, "alias", RecordType::Cname, 300, &["lb-1.elb.example.net"]),
        set(
            p,
            "_owner.www",
            RecordType::Txt,
            180,
            &["heritage=feddns,feddns/owner=a b,feddns/service=ns/\"q\""],
        ),
    ];
    apply_ok(p, sets.iter().map(create).collect()).await;
    let mut want = sets;
    want.sort();
    assert_eq!(
        suite_sets(p).await,
        want,
        "{} did not list back what was created",
        p.kind()
    );
}

/// Creating a set that exists fails and leaves the zone unchanged.
pub async fn create_existing_fails(p: &dyn Provider) {
    let a = set(p, "dup", RecordType::A, 60, &["192.0.2.1"]);
    apply_ok(p, vec![create(&a)]).await;
    let again = set(p, "dup", RecordType::A, 60, &["192.0.2.9"]);
    apply_err(p, vec![create(&again)], "a create over an existing set").await;
}

/// A replace names the exact current set; its new values and TTL take effect.
pub async fn replace_exact(p: &dyn Provider) {
    let old = set(p, "r", RecordType::A, 60, &["192.0.2.1", "192.0.2.2"]);
    apply_ok(p, vec![create(&old)]).await;
    let new = set(p, "r", RecordType::A, 120, &["192.0.2.3"]);
    apply_ok(p, vec![Change::replace(old.clone(), new.clone())]).await;
    assert_eq!(suite_sets(p).await, vec![new.clone()]);
    // The provider must refuse a replace whose `old` is stale.
    let newer = set(p, "r", RecordType::A, 120, &["192.0.2.4"]);
    apply_err(p, vec![Change::replace(old, newer)], "a replace of a stale set").await;
}

/// A delete must match the current set exactly; deleting a missing set fails.
pub async fn delete_exact(p: &dyn Provider) {
    let a = set(p, "d", RecordType::A, 60, &["192.0.2.1", "192.0.2.2"]);
    apply_ok(p, vec![create(&a)]).await;
    let partial = set(p, "d", RecordType::A, 60, &["192.0.2.1"]);
    apply_err(
        p,
        vec![Change::delete(partial)],
        "a delete with values that differ",
    )
    .await;
    let other_ttl = set(p, "d", RecordType::A, 61, &["192.0.2.1", "192.0.2.2"]);
    apply_err(
        p,
        vec![Change::delete(other_ttl)],
        "a delete with a TTL that differs",
    )
    .await;
    apply_ok(p, vec![Change::delete(a.clone())]).await;
    assert!(suite_sets(p).await.is_empty());
    apply_err(p, vec![Change::delete(a)], "a delete of a missing set").await;
}

/// A CNAME cannot share its name with another type, in either order; swapping types in one batch
/// (delete then create) works.
pub async fn cname_is_exclusive(p: &dyn Provider) {
    let a = set(p, "x", RecordType::A, 60, &["192.0.2.1"]);
    let c = set(p, "x", RecordType::Cname, 60, &["target.example.net"]);
    apply_ok(p, vec![create(&a)]).await;
    apply_err(p, vec![create(&c)], "a CNAME beside an A set").await;
    apply_ok(p, vec![Change::delete(a.clone()), create(&c)]).await;
    assert_eq!(suite_sets(p).await, vec![c.clone()]);
    let txt = set(p, "x", RecordType::Txt, 60, &["hello"]);
    apply_err(p, vec![create(&txt)], "a TXT beside a CNAME").await;
    let c2 = set(
        p,
        "x2",
        RecordType::Cname,
        60,
        &["a.example.net", "b.example.net"],
    );
    apply_err(p, vec![create(&c2)], "a CNAME with two values").await;
}

/// A batch with one bad change applies nothing.
pub async fn batch_is_atomic(p: &dyn Provider) {
    let good = set(p, "good", RecordType::A, 60, &["192.0.2.1"]);
    let exists = set(p, "exists", RecordType::A, 60, &["192.0.2.2"]);
    apply_ok(p, vec![create(&exists)]).await;
    apply_err(
        p,
        vec![create(&good), create(&exists)],
        "a batch whose second change conflicts",
    )
    .await;
    assert!(
        !suite_sets(p).await.contains(&good),
        "{} applied part of a rejected batch",
        p.kind()
    );
}

/// Two changes to the same set in one batch are rejected.
pub async fn one_change_per_set(p: &dyn Provider) {
    let a = set(p, "twice", RecordType::A, 60, &["192.0.2.1"]);
    apply_ok(p, vec![create(&a)]).await;
    let b = set(p, "twice", RecordType::A, 60, &["192.0.2.2"]);
    apply_err(
        p,
        vec![Change::delete(a.clone()), Change::create(b)],
        "two changes to one set in one batch",
    )
    .await;
}

/// Names outside the zone and malformed values are rejected as invalid.
pub async fn invalid_input_rejected(p: &dyn Provider) {
    let outside = RecordSet::new(
        "www.outside-the-zone.invalid",
        RecordType::A,
        60,
        ["192.0.2.1".to_string()],
    );
    let e = apply_err(p, vec![create(&outside)], "a name outside the zone").await;
    assert!(
        matches!(e, ProviderError::Invalid { .. }),
        "{} answered a name outside the zone with {e}",
        p.kind()
    );
    let bad_ip = set(p, "bad", RecordType::A, 60, &["not-an-ip"]);
    apply_err(p, vec![create(&bad_ip)], "an A value that is not an IPv4 address").await;
    let v6_in_a = set(p, "bad", RecordType::A, 60, &["2001:db8::1"]);
    apply_err(p, vec![create(&v6_in_a)], "an IPv6 address in an A set").await;
}

/// Routed sets: accepted and listed back where the provider declares support, rejected otherwise.
pub async fn routing_per_capabilities(p: &dyn Provider) {
    let caps = p.capabilities();
    let cases = [
        (
            caps.weighted,
            "weighted",
            [
                Routing::Weighted {
                    set_id: "m1".into(),
                    weight: 1,
                },
                Routing::Weighted {
                    set_id: "m2".into(),
                    weight: 1,
                },
            ],
        ),
        (
            caps.latency,
            "latency",
            [
                Routing::Latency {
                    set_id: "us-east-1".into(),
                    region: "us-east-1".into(),
                },
                Routing::Latency {
                    set_id: "eu-west-1".into(),
                    region: "eu-west-1".into(),
                },
            ],
        ),
        (
            caps.geo,
            "geo",
            [
                Routing::Geo {
                    set_id: "us-east1".into(),
                    location: "us-east1".into(),
                },
                Routing::Geo {
                    set_id: "europe-west1".into(),
                    location: "europe-west1".into(),
                },
            ],
        ),
    ];
    for (supported, label, [r1, r2]) in cases {
        let s1 = set(p, label, RecordType::A, 60, &["192.0.2.1"]).with_routing(r1);
        let s2 = set(p, label, RecordType::A, 60, &["192.0.2.2"]).with_routing(r2);
        if supported {
            apply_ok(p, vec![create(&s1), create(&s2)]).await;
            let listed = suite_sets(p).await;
            assert!(
                listed.contains(&s1) && listed.contains(&s2),
                "{} lost {label} sets: {listed:#?}",
                p.kind()
            );
            let plain = set(p, label, RecordType::A, 60, &["192.0.2.3"]);
            apply_err(p, vec![create(&plain)], "a plain set beside routed sets").await;
            if label == "latency" {
                // Route53 answers from the set of the nearest region: one set per region.
                let twin = set(p, label, RecordType::A, 60, &["192.0.2.4"]).with_routing(Routing::Latency {
                    set_id: "us-east-1-twin".into(),
                    region: "us-east-1".into(),
                });
                apply_err(p, vec![create(&twin)], "a second latency set for one region").await;
            }
        } else {
            apply_err(p, vec![create(&s1)], "a routing policy it does not declare").await;
        }
    }
}

/// A batch over the declared record limit is refused as a whole.
pub async fn limits_enforced(p: &dyn Provider) {
    let limit = p.limits().max_records_per_batch;
    if limit > 5000 {
        return;
    }
    let changes: Vec<Change> = (0..=limit)
        .map(|i| create(&set(p, &format!("n{i}"), RecordType::A, 60, &["192.0.2.1"])))
        .collect();
    let e = apply_err(p, changes, "a batch over its record limit").await;
    assert!(
        matches!(e, ProviderError::TooLarge(_) | ProviderError::Invalid { .. }),
        "{e}"
    );
}

/// A wildcard name (`*.<name>`, as feddns writes for a wildcard host) and its ownership
/// companion (`_feddns.*.<name>`, where `*` is an ordinary label) are stored and listed back
/// exactly where the provider declares wildcard support; a wildcard is rejected otherwise.
pub async fn wildcards_per_capabilities(p: &dyn Provider) {
    let wildcard = set(p, "*.w", RecordType::A, 60, &["192.0.2.1"]);
    if !p.capabilities().wildcard {
        apply_err(p, vec![create(&wildcard)], "a wildcard name it cannot hold").await;
        return;
    }
    let companion = set(
        p,
        "_feddns.*.w",
        RecordType::Txt,
        60,
        &["heritage=feddns,owner=o,federation=f,gateway=infra/gw,host=*.w.cf.example.com"],
    );
    apply_ok(p, vec![create(&wildcard), create(&companion)]).await;
    let mut want = vec![wildcard.clone(), companion];
    want.sort();
    assert_eq!(suite_sets(p).await, want);
    apply_ok(p, vec![Change::delete(wildcard)]).await;
    assert_eq!(suite_sets(p).await.len(), 1);
}

/// Many sets are all listed (providers that page must follow every page).
pub async fn lists_every_set(p: &dyn Provider) {
    let n = 620.min(p.limits().max_records_per_batch.saturating_sub(1)).max(1);
    let sets: Vec<RecordSet> = (0..n)
        .map(|i| set(p, &format!("h{i:04}"), RecordType::A, 60, &["192.0.2.1"]))
        .collect();
    for chunk in sets.chunks(p.limits().max_records_per_batch.max(1)) {
        apply_ok(p, chunk.iter().map(create).collect()).await;
    }
    let mut want = sets;
    want.sort();
    assert_eq!(suite_sets(p).await, want);
}

/// Writes one `#[tokio::test]` per conformance case. The argument is an expression that evaluates
/// to a future of something that derefs to a [`Provider`] with an empty zone; it is evaluated
/// afresh for every case. Attributes before it (such as `#[ignore = "..."]`) go on every test.
#[macro_export]
macro_rules! conformance_tests {
    // Attributes are gathered one by one: a repetition of them followed by an expression would be
    // ambiguous (an expression may start with an attribute).
    (#[$meta:meta] $($rest:tt)+) => {
        $crate::conformance_tests!(@attrs [#[$meta]] $($rest)+);
    };
    (@attrs [$($attrs:tt)*] #[$meta:meta] $($rest:tt)+) => {
        $crate::conformance_tests!(@attrs [$($attrs)* #[$meta]] $($rest)+);
    };
    (@attrs [$($attrs:tt)*] $make:expr) => {
        $crate::conformance_tests!(@cases [$($attrs)*] $make;
            create_then_list, create_existing_fails, replace_exact, delete_exact, cname_is_exclusive,
            batch_is_atomic, one_change_per_set, invalid_input_rejected, routing_per_capabilities,
            limits_enforced, lists_every_set, wildcards_per_capabilities);
    };
    (@cases $attrs:tt $make:expr; $($case:ident),*) => {
        $( $crate::conformance_tests!(@one $attrs $make; $case); )*
    };
    (@one [$(#[$meta:meta])*] $make:expr; $case:ident) => {
        #[tokio::test]
        $(#[$meta])*
        async fn $case() {
            let provider = $make.await;
            $crate::conformance::$case(&*provider).await;
        }
    };
    ($make:expr) => {
        $crate::conformance_tests!(@attrs [] $make);
    };
}
