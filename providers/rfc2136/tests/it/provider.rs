//! The provider's own behaviour against BIND 9 and Knot: foreign records, stale views refused by
//! the prerequisites, refusals (a wrong key, no update policy, no transfer), a 10,000-record zone,
//! and, through a `Front` relay that injects faults, tampered answers, SERVFAIL and
//! silence.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use feddns_provider::{Change, Provider, ProviderError, RecordSet, RecordType};
use feddns_rfc2136::testing::{DnsServer, Fault, Front, KEY_NAME, Kind, Options, ServerZone, random_secret};
use feddns_rfc2136::{Rfc2136Provider, TsigKey};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use tokio::net::TcpListener;

const ZONE: &str = "example.com";

fn set(label: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    RecordSet::new(
        &format!("{label}.{ZONE}"),
        rtype,
        ttl,
        values.iter().map(|v| (*v).to_string()),
    )
}

async fn start(kind: Kind, opts: Options) -> ServerZone {
    ServerZone::start(kind, opts).await
}

/// A server whose zone file holds `records` too.
async fn start_with(kind: Kind, records: String) -> ServerZone {
    start(
        kind,
        Options {
            records,
            ..Options::default()
        },
    )
    .await
}

fn calls(p: &Rfc2136Provider, op: &str) -> u64 {
    p.api_stats().calls.get(op).copied().unwrap_or(0)
}

/// Sets not at the apex and not the server's `ns` name.
async fn listed(p: &dyn Provider) -> Vec<RecordSet> {
    p.list()
        .await
        .expect("list")
        .into_iter()
        .filter(|s| s.name != ZONE && s.name != format!("ns.{ZONE}"))
        .collect()
}

/// Records in the zone file that feddns did not write.
const FOREIGN: &str = "www 300 IN A 192.0.2.80\n\
                       mail 300 IN MX 10 mx.example.net.\n\
                       spf 300 IN TXT \"v=spf1\" \" -all\"\n\
                       *.wild 300 IN A 192.0.2.99\n\
                       shared 300 IN MX 10 mx.example.net.\n";

fn foreign_sets() -> Vec<RecordSet> {
    let mut v = vec![
        set("www", RecordType::A, 300, &["192.0.2.80"]),
        set(
            "mail",
            RecordType::Other("MX".into()),
            300,
            &["10 mx.example.net."],
        ),
        set("spf", RecordType::Txt, 300, &["v=spf1 -all"]),
        set("*.wild", RecordType::A, 300, &["192.0.2.99"]),
        set(
            "shared",
            RecordType::Other("MX".into()),
            300,
            &["10 mx.example.net."],
        ),
    ];
    v.sort();
    v
}

async fn foreign_records_are_never_touched(kind: Kind) {
    let z = start_with(kind, FOREIGN.into()).await;
    let p: &dyn Provider = &*z;
    let foreign = foreign_sets();
    assert_eq!(listed(p).await, foreign, "{} lists the zone file", kind.name());
    let ours = |s: &RecordSet| !foreign.contains(s);
    let a = set("shared", RecordType::A, 60, &["192.0.2.1"]);
    let txt = set("_feddns.shared", RecordType::Txt, 60, &["heritage=feddns"]);
    let a2 = set("shared", RecordType::A, 60, &["192.0.2.2", "192.0.2.3"]);
    let steps = vec![
        vec![Change::create(a.clone()), Change::create(txt.clone())],
        vec![Change::replace(a.clone(), a2.clone())],
        vec![Change::delete(a2.clone()), Change::delete(txt)],
    ];
    for batch in steps {
        p.apply(&batch).await.unwrap();
        let now = listed(p).await;
        let kept: Vec<RecordSet> = now.iter().filter(|s| !ours(s)).cloned().collect();
        assert_eq!(kept, foreign, "{}: foreign sets after {batch:#?}", kind.name());
    }
    // A CNAME where a foreign MX stays is refused before anything is sent, even when the batch
    // deletes the name's other sets: the name is read first.
    p.apply(&[Change::create(a.clone())]).await.unwrap();
    let updates = calls(&z, "UPDATE");
    let c = set("shared", RecordType::Cname, 60, &["lb.example.net"]);
    let e = p
        .apply(&[Change::delete(a.clone()), Change::create(c.clone())])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { reason, .. } if reason.contains("MX")),
        "{e}"
    );
    assert_eq!(calls(&z, "UPDATE"), updates, "no UPDATE sent");
    // And the server's "name not in use" prerequisite refuses a CNAME over the MX alone.
    let e = p
        .apply(&[Change::create(set(
            "mail",
            RecordType::Cname,
            60,
            &["lb.example.net"],
        ))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { reason, .. } if reason.contains("YXDOMAIN") || reason.contains("YXRRSET")),
        "{e}"
    );
    p.apply(&[Change::delete(a)]).await.unwrap();
    assert_eq!(
        listed(p).await,
        foreign,
        "{}: only the foreign sets are left",
        kind.name()
    );
}

async fn a_stale_view_is_refused_by_the_prerequisites(kind: Kind) {
    let z = start(kind, Options::default()).await;
    let other = z.server.provider().await.unwrap();
    let a = set("r", RecordType::A, 60, &["192.0.2.1", "192.0.2.2"]);
    z.apply(&[Change::create(a.clone())]).await.unwrap();
    // Someone else changes the values (same TTL): the replace passes the TTL check, is sent, and
    // the server's "RRset exists (value dependent)" prerequisite refuses it.
    let theirs = set("r", RecordType::A, 60, &["192.0.2.9"]);
    other
        .apply(&[Change::replace(a.clone(), theirs.clone())])
        .await
        .unwrap();
    let (updates, errors) = (calls(&z, "UPDATE"), z.api_stats().errors["UPDATE"]);
    let ours = set("r", RecordType::A, 60, &["192.0.2.3"]);
    let e = z
        .apply(&[Change::replace(a.clone(), ours.clone())])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { key, reason } if key.name == "r.example.com" && reason.contains("NXRRSET")),
        "{}: {e}",
        kind.name()
    );
    assert_eq!(calls(&z, "UPDATE"), updates + 1, "the UPDATE was sent");
    assert_eq!(
        z.api_stats().errors["UPDATE"],
        errors,
        "and answered (NXRRSET is an answer)"
    );
    assert_eq!(listed(&*z).await, vec![theirs.clone()], "nothing was overwritten");

    // A create of a set that someone else created meanwhile: YXRRSET.
    let created = set("c", RecordType::Txt, 60, &["theirs"]);
    other.apply(&[Change::create(created)]).await.unwrap();
    let e = z
        .apply(&[Change::create(set("c", RecordType::Txt, 60, &["ours"]))])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { reason, .. } if reason.contains("YXRRSET")),
        "{e}"
    );

    // A TTL changed behind our back: prerequisites cannot see it, the query before the UPDATE does,
    // and no UPDATE is sent.
    let longer = set("r", RecordType::A, 600, &["192.0.2.9"]);
    other
        .apply(&[Change::replace(theirs.clone(), longer.clone())])
        .await
        .unwrap();
    let updates = calls(&z, "UPDATE");
    let e = z.apply(&[Change::delete(theirs)]).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Conflict { reason, .. } if reason.contains("TTL is 600")),
        "{e}"
    );
    assert_eq!(calls(&z, "UPDATE"), updates);
    // With the view re-read, the delete goes through.
    let fresh = z.list_names(&["r.example.com".into()]).await.unwrap();
    assert_eq!(fresh, vec![longer.clone()]);
    z.apply(&[Change::delete(longer)]).await.unwrap();
}

/// A provider for `server` with another key.
fn with_key(server: &DnsServer, name: &str, secret: Vec<u8>) -> Rfc2136Provider {
    let key = TsigKey::new(name, TsigAlgorithm::HmacSha256, secret).unwrap();
    Rfc2136Provider::with_key(&server.config(), ZONE, &key).unwrap()
}

fn assert_permanent(kind: Kind, e: &ProviderError, server: &DnsServer, key: &str, wants: &[&str]) {
    assert!(matches!(e, ProviderError::Other { .. }), "{}: {e}", kind.name());
    let text = e.to_string();
    for want in [ZONE, key, &server.addr().to_string()]
        .into_iter()
        .chain(wants.iter().copied())
    {
        assert!(
            text.contains(want),
            "{}: {text:?} does not say {want:?}",
            kind.name()
        );
    }
    assert!(!text.contains(&server.secret_base64()), "{text}");
}

async fn wrong_keys_are_clear_permanent_errors(kind: Kind) {
    let z = start(kind, Options::default()).await;
    let set = set("x", RecordType::A, 60, &["192.0.2.1"]);
    // The right name, another secret.
    let p = with_key(&z.server, KEY_NAME, random_secret());
    for e in [
        p.list().await.unwrap_err(),
        p.apply(&[Change::create(set.clone())]).await.unwrap_err(),
    ] {
        assert_permanent(kind, &e, &z.server, KEY_NAME, &["NOTAUTH", "BADSIG", "secret"]);
    }
    // A key the server does not know.
    let secret = data_encoding::BASE64
        .decode(z.server.secret_base64().as_bytes())
        .unwrap();
    let p = with_key(&z.server, "nobody-key", secret);
    let e = p.list().await.unwrap_err();
    assert_permanent(kind, &e, &z.server, "nobody-key", &["NOTAUTH", "BADKEY"]);
    // connect() checks the key at once.
    let mut cfg = z.server.config();
    cfg.tsig.secret = Some(data_encoding::BASE64.encode(&random_secret()));
    let e = Rfc2136Provider::connect(&cfg, ZONE).await.unwrap_err();
    assert!(e.to_string().contains("BADSIG"), "{e}");
    assert!(z.list().await.is_ok(), "the right key still works");
    assert!(listed(&*z).await.is_empty(), "nothing was written");
}

async fn refusals_name_what_the_server_needs(kind: Kind) {
    let z = start(
        kind,
        Options {
            updates: false,
            ..Options::default()
        },
    )
    .await;
    let e = z
        .apply(&[Change::create(set("x", RecordType::A, 60, &["192.0.2.1"]))])
        .await
        .unwrap_err();
    let answer = if kind == Kind::Bind { "REFUSED" } else { "NOTAUTH" };
    assert_permanent(
        kind,
        &e,
        &z.server,
        KEY_NAME,
        &[answer, "update-policy", "action: update"],
    );
    assert_eq!(z.api_stats().calls["UPDATE"], 1, "not retried by the provider");

    let server = DnsServer::start(
        kind,
        Options {
            transfers: false,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let p = server.provider().await.unwrap();
    let e = p.list().await.unwrap_err();
    assert_permanent(
        kind,
        &e,
        &server,
        KEY_NAME,
        &["AXFR", "allow-transfer", "action: transfer"],
    );
}

async fn ten_thousand_records_list_in_one_transfer_and_update_in_bounded_batches(kind: Kind) {
    let mut records = String::new();
    for i in 0..10_000 {
        records.push_str(&format!(
            "f{i:05}.foreign 300 IN A 10.0.{}.{}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let z = start_with(kind, records).await;
    let sets = listed(&*z).await;
    assert_eq!(sets.len(), 10_000);
    assert_eq!(calls(&z, "AXFR"), 1, "one transfer");
    let t = z.last_transfer().unwrap();
    assert!(
        t.messages > 1,
        "{}: a multi-message answer, every message verified: {t:?}",
        kind.name()
    );
    assert_eq!(t.records, 10_000 + 3);

    // 10,000 more through UPDATEs of at most `max_changes_per_update` changes each.
    let limit = z.limits().max_records_per_batch;
    assert_eq!(limit, 500);
    let ours: Vec<Change> = (0..10_000)
        .map(|i| {
            Change::create(set(
                &format!("svc-{i:05}.ns.fed.svc"),
                RecordType::A,
                180,
                &[&format!("10.1.{}.{}", i / 250, i % 250 + 1)],
            ))
        })
        .collect();
    for batch in ours.chunks(limit) {
        z.apply(batch).await.unwrap();
    }
    assert_eq!(calls(&z, "UPDATE"), 20);
    let e = z.apply(&ours[..limit + 1]).await.unwrap_err();
    assert!(matches!(e, ProviderError::TooLarge(_)), "{e}");
    assert_eq!(calls(&z, "UPDATE"), 20, "an oversized batch is not sent");
    assert_eq!(listed(&*z).await.len(), 20_000);
    assert_eq!(calls(&z, "AXFR"), 2);
    // Deleting a full batch queries 500 TTLs over one connection, pipelined.
    let deletes: Vec<Change> = ours[..limit]
        .iter()
        .map(|c| Change::delete(c.subject_shared().clone()))
        .collect();
    z.apply(&deletes).await.unwrap();
    assert_eq!(listed(&*z).await.len(), 20_000 - limit);
}

/// Long names fill an UPDATE before `max_changes_per_update` changes do: such a batch is refused
/// before anything is sent, and its halves go through.
async fn an_update_over_64_kib_is_refused_before_anything_is_sent(kind: Kind) {
    let z = start(kind, Options::default()).await;
    let long = "a-long-label-of-the-kind-kubernetes-names-make-0123456789";
    let changes: Vec<Change> = (0..500)
        .map(|i| Change::create(set(&format!("{long}.{i}"), RecordType::A, 60, &["192.0.2.1"])))
        .collect();
    let e = z.apply(&changes).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::TooLarge(m) if m.contains("65,535")),
        "{e}"
    );
    assert_eq!(
        calls(&z, "UPDATE") + calls(&z, "QUERY"),
        1,
        "only connect()'s SOA query"
    );
    let (first, second) = changes.split_at(250);
    z.apply(first).await.unwrap();
    z.apply(second).await.unwrap();
    assert_eq!(listed(&*z).await.len(), 500);
}

async fn the_serial_is_remembered(kind: Kind) {
    let z = start(kind, Options::default()).await;
    assert_eq!(z.serial(), None);
    z.list().await.unwrap();
    let first = z.serial().unwrap();
    assert_eq!(first, 1, "the zone file's serial");
    z.apply(&[Change::create(set("s", RecordType::A, 60, &["192.0.2.1"]))])
        .await
        .unwrap();
    z.list_names(&["s.example.com".into()]).await.unwrap();
    assert!(z.serial().unwrap() > first, "an update bumps the serial");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod bind {
            $(
                #[tokio::test]
                #[ignore = "needs named (Debian bind9); tests/run-all.sh installs it"]
                async fn $name() {
                    super::$name(feddns_rfc2136::testing::Kind::Bind).await;
                }
            )*
        }
        mod knot {
            $(
                #[tokio::test]
                #[ignore = "needs knotd (Debian knot); tests/run-all.sh installs it"]
                async fn $name() {
                    super::$name(feddns_rfc2136::testing::Kind::Knot).await;
                }
            )*
        }
    };
}

both!(
    foreign_records_are_never_touched,
    a_stale_view_is_refused_by_the_prerequisites,
    wrong_keys_are_clear_permanent_errors,
    refusals_name_what_the_server_needs,
    ten_thousand_records_list_in_one_transfer_and_update_in_bounded_batches,
    an_update_over_64_kib_is_refused_before_anything_is_sent,
    the_serial_is_remembered,
    tampered_answers_are_refused,
);

/// A provider for the zone of `server`, talking to `addr` instead.
fn through(server: &DnsServer, addr: SocketAddr) -> Rfc2136Provider {
    let mut cfg = server.config();
    cfg.server = addr.to_string();
    Rfc2136Provider::with_key(&cfg, ZONE, &server.key()).unwrap()
}

async fn tampered_answers_are_refused(kind: Kind) {
    let mut records = String::new();
    for i in 0..3000 {
        records.push_str(&format!("t{i:04} 300 IN TXT \"{}\"\n", "x".repeat(40)));
    }
    let z = start_with(kind, records).await;
    z.list().await.unwrap();
    let messages = z.last_transfer().unwrap().messages;
    assert!(messages >= 3, "{}: {messages} messages", kind.name());
    for n in [1, 2, messages] {
        let front = Front::start(Some(z.server.addr()), Fault::Tamper(n))
            .await
            .unwrap();
        let e = through(&z.server, front.addr()).list().await.unwrap_err();
        assert_eq!(front.faults(), 1);
        assert!(
            matches!(&e, ProviderError::Other { message: m, .. } if m.contains("signature") || m.contains("MAC")),
            "{}: message {n} of {messages} tampered: {e}",
            kind.name()
        );
    }
}

#[tokio::test]
async fn servfail_timeouts_and_refused_connections_are_transient() {
    // The zone of a server that is never started: only the address and key matter.
    let key = TsigKey::new(KEY_NAME, TsigAlgorithm::HmacSha256, random_secret()).unwrap();
    let cfg = |addr: SocketAddr| feddns_rfc2136::Rfc2136Config {
        server: addr.to_string(),
        zone: Some(ZONE.into()),
        tsig: feddns_rfc2136::TsigConfig {
            name: KEY_NAME.into(),
            algorithm: "hmac-sha256".into(),
            secret: Some("AAAA".into()),
            secret_file: None,
            secret_env: None,
        },
        transfer: feddns_rfc2136::Transfer::Axfr,
        max_changes_per_update: 500,
    };
    let change = [Change::create(set("x", RecordType::A, 60, &["192.0.2.1"]))];

    let front = Front::start(None, Fault::ServFailAll).await.unwrap();
    let p = Rfc2136Provider::with_key(&cfg(front.addr()), ZONE, &key).unwrap();
    for e in [p.list().await.unwrap_err(), p.apply(&change).await.unwrap_err()] {
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("SERVFAIL"), "{e}");
    }
    assert_eq!(front.requests(), 2, "one request each: retries are the caller's");

    let front = Front::start(None, Fault::Silent).await.unwrap();
    let p = Rfc2136Provider::with_key(&cfg(front.addr()), ZONE, &key)
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    for e in [p.list().await.unwrap_err(), p.apply(&change).await.unwrap_err()] {
        assert!(e.is_transient() && e.to_string().contains("timed out"), "{e}");
    }

    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let p = Rfc2136Provider::with_key(&cfg(addr), ZONE, &key).unwrap();
    let e = p.list().await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    let e = Rfc2136Provider::connect(&cfg(addr), ZONE).await.unwrap_err();
    assert!(
        e.is_transient() && e.to_string().contains(&addr.to_string()),
        "{e}"
    );
}
