//! Real DNS over UDP and TCP on 127.0.0.1 against the embedded server, with hickory's client.

use std::net::SocketAddr;
use std::time::Duration;

use feddns_embedded::{EmbeddedConfig, EmbeddedError, EmbeddedProvider, INITIAL_SERIAL, SOA_MINIMUM};
use feddns_provider::{Change, Provider, ProviderError, RecordSet, RecordType};
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::{DnsResponse, ResponseCode};
use hickory_net::proto::rr::{self, DNSClass, Name, RData};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;

const ZONE: &str = "example.com";
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

async fn start() -> EmbeddedProvider {
    EmbeddedProvider::start(EmbeddedConfig {
        zone: ZONE.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .unwrap()
}

async fn client(addr: SocketAddr, transport: Transport) -> Client<TokioRuntimeProvider> {
    let provider = TokioRuntimeProvider::default();
    match transport {
        Transport::Udp => {
            let stream = UdpClientStream::builder(addr, provider)
                .with_timeout(Some(TIMEOUT))
                .build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        }
        Transport::Tcp => {
            let (connect, handle) = TcpClientStream::new(addr, None, Some(TIMEOUT), provider);
            let (client, bg) =
                Client::<TokioRuntimeProvider>::with_timeout(connect.await.unwrap(), handle, TIMEOUT);
            tokio::spawn(bg);
            client
        }
    }
}

async fn query(client: &mut Client<TokioRuntimeProvider>, name: &str, rtype: rr::RecordType) -> DnsResponse {
    let name = Name::from_ascii(format!("{name}.")).unwrap();
    client.query(name, DNSClass::IN, rtype).await.unwrap()
}

async fn serial(client: &mut Client<TokioRuntimeProvider>) -> u32 {
    let resp = query(client, ZONE, rr::RecordType::SOA).await;
    match resp.answers.as_slice() {
        [rec] => match &rec.data {
            RData::SOA(soa) => soa.serial,
            other => panic!("SOA query answered with {other:?}"),
        },
        other => panic!("SOA query answered with {other:?}"),
    }
}

/// The answers of an authoritative NOERROR response, as (type, ttl, presentation value).
fn answers(resp: &DnsResponse) -> Vec<(rr::RecordType, u32, String)> {
    assert_eq!(resp.response_code, ResponseCode::NoError, "{resp:?}");
    assert!(resp.authoritative, "answer is not authoritative: {resp:?}");
    let mut v: Vec<_> = resp
        .answers
        .iter()
        .map(|r| (r.record_type(), r.ttl, r.data.to_string()))
        .collect();
    v.sort();
    v
}

fn set(label: &str, rtype: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
    let name = if label.is_empty() {
        ZONE.to_string()
    } else {
        format!("{label}.{ZONE}")
    };
    RecordSet::new(&name, rtype, ttl, values.iter().map(|v| (*v).to_string()))
}

fn create(s: &RecordSet) -> Change {
    Change::create(s.clone())
}

async fn serves_applied_changes(transport: Transport) {
    use rr::RecordType::{A, AAAA, CNAME, MX, TXT};
    let p = start().await;
    let mut c = client(p.local_addr(), transport).await;
    let s0 = serial(&mut c).await;
    assert_eq!(s0, INITIAL_SERIAL);

    let a = set("www", RecordType::A, 180, &["192.0.2.1", "192.0.2.2"]);
    let aaaa = set("www", RecordType::Aaaa, 240, &["2001:db8::1"]);
    let cname = set("alias", RecordType::Cname, 300, &["www.example.com"]);
    let ext = set("ext", RecordType::Cname, 300, &["lb-1.elb.example.net"]);
    let text = "heritage=feddns,feddns/owner=a b,feddns/service=ns/\"q\"";
    let txt = set("_owner.www", RecordType::Txt, 120, &[text]);
    p.apply(&[
        create(&a),
        create(&aaaa),
        create(&cname),
        create(&ext),
        create(&txt),
    ])
    .await
    .unwrap();
    assert_eq!(
        serial(&mut c).await,
        s0 + 1,
        "one applied batch bumps the serial once"
    );

    assert_eq!(
        answers(&query(&mut c, "www.example.com", A).await),
        vec![(A, 180, "192.0.2.1".into()), (A, 180, "192.0.2.2".into())]
    );
    assert_eq!(
        answers(&query(&mut c, "www.example.com", AAAA).await),
        vec![(AAAA, 240, "2001:db8::1".into())]
    );
    assert_eq!(
        answers(&query(&mut c, "alias.example.com", CNAME).await),
        vec![(CNAME, 300, "www.example.com.".into())]
    );
    // An A query at an in-zone CNAME: hickory chases the target inside the zone.
    assert_eq!(
        answers(&query(&mut c, "alias.example.com", A).await),
        vec![
            (A, 180, "192.0.2.1".into()),
            (A, 180, "192.0.2.2".into()),
            (CNAME, 300, "www.example.com.".into()),
        ]
    );
    assert_eq!(
        answers(&query(&mut c, "ext.example.com", A).await),
        vec![(CNAME, 300, "lb-1.elb.example.net.".into())]
    );
    let resp = query(&mut c, "_owner.www.example.com", TXT).await;
    assert_eq!(answers(&resp).len(), 1);
    match &resp.answers[0].data {
        RData::TXT(t) => assert_eq!(
            t.txt_data.as_ref(),
            [text.as_bytes().into()],
            "one character-string"
        ),
        other => panic!("TXT query answered with {other:?}"),
    }

    // A rejected batch changes neither the answers nor the serial.
    let e = p
        .apply(&[create(&set("new", RecordType::A, 60, &["192.0.2.9"])), create(&a)])
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Conflict { .. }), "{e}");
    assert_eq!(serial(&mut c).await, s0 + 1);
    assert_eq!(
        query(&mut c, "new.example.com", A).await.response_code,
        ResponseCode::NXDomain
    );
    let soa = set("", RecordType::Other("SOA".into()), 3600, &["a. b. 99 1 1 1 1"]);
    let e = p.apply(&[create(&soa)]).await.unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    assert_eq!(serial(&mut c).await, s0 + 1);

    // A replace changes the answer and its TTL.
    let a2 = set("www", RecordType::A, 60, &["198.51.100.7"]);
    p.apply(&[Change::replace(a.clone(), a2.clone())]).await.unwrap();
    assert_eq!(serial(&mut c).await, s0 + 2);
    assert_eq!(
        answers(&query(&mut c, "www.example.com", A).await),
        vec![(A, 60, "198.51.100.7".into())]
    );

    // A delete of the only set at a name gives NXDOMAIN, with the SOA as the negative answer.
    p.apply(&[Change::delete(cname)]).await.unwrap();
    assert_eq!(serial(&mut c).await, s0 + 3);
    let resp = query(&mut c, "alias.example.com", CNAME).await;
    assert_eq!(resp.response_code, ResponseCode::NXDomain);
    assert!(resp.authoritative && resp.answers.is_empty(), "{resp:?}");
    assert!(
        resp.authorities
            .iter()
            .any(|r| matches!(&r.data, RData::SOA(s) if s.minimum == SOA_MINIMUM)),
        "{resp:?}"
    );

    // Other types are served from their presentation form.
    p.apply(&[create(&set(
        "",
        RecordType::Other("MX".into()),
        600,
        &["10 mail.example.com."],
    ))])
    .await
    .unwrap();
    assert_eq!(
        answers(&query(&mut c, ZONE, MX).await),
        vec![(MX, 600, "10 mail.example.com.".into())]
    );
}

async fn answers_negatively(transport: Transport) {
    let p = start().await;
    let mut c = client(p.local_addr(), transport).await;
    p.apply(&[create(&set("www", RecordType::A, 60, &["192.0.2.1"]))])
        .await
        .unwrap();

    let missing = query(&mut c, "nope.example.com", rr::RecordType::A).await;
    assert_eq!(missing.response_code, ResponseCode::NXDomain, "{missing:?}");
    assert!(missing.authoritative);

    let nodata = query(&mut c, "www.example.com", rr::RecordType::MX).await;
    assert_eq!(nodata.response_code, ResponseCode::NoError, "{nodata:?}");
    assert!(nodata.authoritative && nodata.answers.is_empty(), "{nodata:?}");

    let outside = query(&mut c, "www.example.org", rr::RecordType::A).await;
    assert_eq!(outside.response_code, ResponseCode::Refused, "{outside:?}");

    let ns = query(&mut c, ZONE, rr::RecordType::NS).await;
    assert_eq!(
        answers(&ns),
        vec![(rr::RecordType::NS, 3600, "ns1.example.com.".into())]
    );
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn serves_applied_changes_over_udp() {
    serves_applied_changes(Transport::Udp).await;
}

#[tokio::test]
async fn serves_applied_changes_over_tcp() {
    serves_applied_changes(Transport::Tcp).await;
}

#[tokio::test]
async fn answers_nxdomain_nodata_and_refused_over_udp() {
    answers_negatively(Transport::Udp).await;
}

#[tokio::test]
async fn answers_nxdomain_nodata_and_refused_over_tcp() {
    answers_negatively(Transport::Tcp).await;
}

#[tokio::test]
async fn list_shows_the_apex_soa_with_the_current_serial() {
    let p = start().await;
    let soa = |sets: &[RecordSet]| -> String {
        let s = sets
            .iter()
            .find(|s| s.rtype == RecordType::Other("SOA".into()))
            .expect("SOA listed");
        s.values[0].clone()
    };
    let before = p.list().await.unwrap();
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(
        before
            .iter()
            .any(|s| s.rtype == RecordType::Other("NS".into()) && s.values == ["ns1.example.com."])
    );
    assert_eq!(
        soa(&before),
        "ns1.example.com. hostmaster.example.com. 1 3600 600 86400 60"
    );
    p.apply(&[create(&set("x", RecordType::A, 60, &["192.0.2.1"]))])
        .await
        .unwrap();
    assert_eq!(p.serial().await, 2);
    assert_eq!(
        soa(&p.list().await.unwrap()),
        "ns1.example.com. hostmaster.example.com. 2 3600 600 86400 60"
    );
    // Changes to the apex NS are refused.
    let ns = before
        .into_iter()
        .find(|s| s.rtype == RecordType::Other("NS".into()))
        .unwrap();
    let e = p.apply(&[Change::delete(ns)]).await.unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    assert_eq!(p.serial().await, 2);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_frees_the_udp_and_tcp_port() {
    let p = start().await;
    let addr = p.local_addr();
    assert_ne!(addr.port(), 0);
    p.shutdown().await.unwrap();
    let _udp = std::net::UdpSocket::bind(addr).unwrap();
    let _tcp = std::net::TcpListener::bind(addr).unwrap();
}

#[tokio::test]
async fn dropping_the_provider_stops_the_server() {
    let p = start().await;
    let addr = p.local_addr();
    drop(p);
    // The server's tasks are aborted on drop and release the sockets when the runtime next
    // polls them: poll until both binds succeed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::UdpSocket::bind(addr).is_err() || std::net::TcpListener::bind(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{addr} still taken after the provider was dropped"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_taken_port_is_reported_with_its_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = EmbeddedProvider::start(EmbeddedConfig {
        zone: ZONE.into(),
        listen: addr,
    })
    .await
    .unwrap_err();
    assert!(matches!(err, EmbeddedError::Bind { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()) && msg.contains("TCP"), "{msg}");
}

#[tokio::test]
async fn the_root_is_not_a_zone() {
    let cfg = EmbeddedConfig {
        zone: ".".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
    };
    let err = EmbeddedProvider::start(cfg).await.unwrap_err();
    assert!(matches!(err, EmbeddedError::InvalidZone { .. }), "{err}");
}

/// The authority section's SOA serial of a negative answer.
fn negative_serial(resp: &DnsResponse) -> u32 {
    assert!(resp.authoritative && resp.answers.is_empty(), "{resp:?}");
    match resp.authorities.as_slice() {
        [rec] => match &rec.data {
            RData::SOA(soa) => soa.serial,
            other => panic!("authority holds {other:?}"),
        },
        other => panic!("authority holds {other:?}"),
    }
}

#[tokio::test]
async fn names_with_only_names_below_them_answer_nodata() {
    use rr::RecordType::{A, TXT};
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Udp).await;
    let txt = set("_feddns.x", RecordType::Txt, 60, &["owner"]);
    let deep = set("a.b.c", RecordType::A, 60, &["192.0.2.1"]);
    p.apply(&[create(&txt), create(&deep)]).await.unwrap();
    let serial = p.serial().await;
    for ent in ["x.example.com", "b.c.example.com", "c.example.com"] {
        let resp = query(&mut c, ent, A).await;
        assert_eq!(resp.response_code, ResponseCode::NoError, "{ent}: {resp:?}");
        assert_eq!(negative_serial(&resp), serial, "{ent}");
    }
    for missing in [
        "y.example.com",
        "a.x.example.com",
        "b.example.com",
        "d.c.example.com",
    ] {
        let resp = query(&mut c, missing, A).await;
        assert_eq!(resp.response_code, ResponseCode::NXDomain, "{missing}: {resp:?}");
        assert_eq!(negative_serial(&resp), serial, "{missing}");
    }

    // The name itself gets a record and loses it again: NODATA again, then NXDOMAIN when the
    // name below goes too.
    let own = set("x", RecordType::A, 60, &["192.0.2.2"]);
    p.apply(&[create(&own)]).await.unwrap();
    assert_eq!(
        answers(&query(&mut c, "x.example.com", A).await),
        vec![(A, 60, "192.0.2.2".into())]
    );
    p.apply(&[Change::delete(own)]).await.unwrap();
    let resp = query(&mut c, "x.example.com", A).await;
    assert_eq!(resp.response_code, ResponseCode::NoError, "{resp:?}");
    assert_eq!(negative_serial(&resp), serial + 2);
    p.apply(&[Change::delete(txt), Change::delete(deep)])
        .await
        .unwrap();
    for gone in [
        "x.example.com",
        "_feddns.x.example.com",
        "c.example.com",
        "a.b.c.example.com",
    ] {
        let resp = query(&mut c, gone, TXT).await;
        assert_eq!(resp.response_code, ResponseCode::NXDomain, "{gone}: {resp:?}");
        assert_eq!(negative_serial(&resp), serial + 3, "{gone}");
    }
}

#[tokio::test]
async fn a_cname_answers_every_type_and_is_followed_inside_the_zone() {
    use rr::RecordType::{A, AAAA, CNAME, MX, TXT};
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Tcp).await;
    p.apply(&[
        create(&set("www", RecordType::A, 180, &["192.0.2.1"])),
        create(&set("c1", RecordType::Cname, 300, &["c2.example.com"])),
        create(&set("c2", RecordType::Cname, 240, &["www.example.com"])),
        create(&set("ext", RecordType::Cname, 300, &["lb.example.net"])),
        create(&set("loop1", RecordType::Cname, 60, &["loop2.example.com"])),
        create(&set("loop2", RecordType::Cname, 60, &["loop1.example.com"])),
        create(&set("dangling", RecordType::Cname, 60, &["nothing.example.com"])),
    ])
    .await
    .unwrap();
    let c1 = (CNAME, 300, "c2.example.com.".to_string());
    let c2 = (CNAME, 240, "www.example.com.".to_string());
    // The whole chain, then the address.
    assert_eq!(
        answers(&query(&mut c, "c1.example.com", A).await),
        vec![(A, 180, "192.0.2.1".into()), c2.clone(), c1.clone()]
    );
    // A type the target does not have: the chain alone, NOERROR.
    for rtype in [AAAA, TXT, MX] {
        assert_eq!(
            answers(&query(&mut c, "c1.example.com", rtype).await),
            vec![c2.clone(), c1.clone()],
            "{rtype}"
        );
    }
    // A CNAME query is not followed.
    assert_eq!(
        answers(&query(&mut c, "c1.example.com", CNAME).await),
        vec![c1.clone()]
    );
    // Out of the zone, a loop, a target that does not exist: the CNAMEs that were found.
    assert_eq!(
        answers(&query(&mut c, "ext.example.com", AAAA).await),
        vec![(CNAME, 300, "lb.example.net.".into())]
    );
    assert_eq!(
        answers(&query(&mut c, "loop1.example.com", A).await),
        vec![
            (CNAME, 60, "loop1.example.com.".into()),
            (CNAME, 60, "loop2.example.com.".into())
        ]
    );
    assert_eq!(
        answers(&query(&mut c, "dangling.example.com", A).await),
        vec![(CNAME, 60, "nothing.example.com.".into())]
    );
    // A name below a CNAME does not exist.
    let below = query(&mut c, "x.c1.example.com", A).await;
    assert_eq!(below.response_code, ResponseCode::NXDomain, "{below:?}");
    assert!(below.authoritative && below.answers.is_empty(), "{below:?}");
}

#[tokio::test]
async fn names_are_matched_without_regard_to_case() {
    use rr::RecordType::{A, CNAME};
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Udp).await;
    p.apply(&[
        create(&set("www", RecordType::A, 60, &["192.0.2.1"])),
        create(&set("alias", RecordType::Cname, 60, &["WWW.Example.COM."])),
    ])
    .await
    .unwrap();
    for name in ["WWW.EXAMPLE.COM", "wWw.ExAmPlE.cOm"] {
        let resp = query(&mut c, name, A).await;
        assert_eq!(answers(&resp), vec![(A, 60, "192.0.2.1".into())], "{name}");
        assert_eq!(resp.answers[0].name.to_ascii(), "www.example.com.");
    }
    assert_eq!(
        answers(&query(&mut c, "ALIAS.example.com", A).await),
        vec![
            (A, 60, "192.0.2.1".into()),
            (CNAME, 60, "www.example.com.".into())
        ]
    );
    let soa = query(&mut c, "EXAMPLE.com", rr::RecordType::SOA).await;
    assert_eq!(answers(&soa).len(), 1);
    let missing = query(&mut c, "NOPE.Example.Com", A).await;
    assert_eq!(missing.response_code, ResponseCode::NXDomain, "{missing:?}");
}

#[tokio::test]
async fn soa_answers_carry_the_serial_of_the_last_batch_and_the_apex_ns() {
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Udp).await;
    for i in 1..=3u32 {
        p.apply(&[create(&set(&format!("n{i}"), RecordType::A, 60, &["192.0.2.1"]))])
            .await
            .unwrap();
        let resp = query(&mut c, ZONE, rr::RecordType::SOA).await;
        assert_eq!(
            answers(&resp),
            vec![(
                rr::RecordType::SOA,
                3600,
                format!(
                    "ns1.example.com. hostmaster.example.com. {} 3600 600 86400 60",
                    INITIAL_SERIAL + i
                )
            )]
        );
        let ns: Vec<String> = resp.authorities.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(ns, ["ns1.example.com."]);
        let nodata = query(&mut c, "n1.example.com", rr::RecordType::TXT).await;
        assert_eq!(nodata.response_code, ResponseCode::NoError);
        assert_eq!(negative_serial(&nodata), INITIAL_SERIAL + i);
    }
    // A NODATA at the apex too.
    let apex_txt = query(&mut c, ZONE, rr::RecordType::TXT).await;
    assert_eq!(apex_txt.response_code, ResponseCode::NoError);
    assert_eq!(negative_serial(&apex_txt), INITIAL_SERIAL + 3);
}

#[tokio::test]
async fn any_queries_answer_one_type_of_the_name() {
    use rr::RecordType::{A, AAAA, ANY, CNAME, TXT};
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Tcp).await;
    p.apply(&[
        create(&set("www", RecordType::Aaaa, 60, &["2001:db8::1"])),
        create(&set("www", RecordType::A, 60, &["192.0.2.1"])),
        create(&set("www", RecordType::Txt, 60, &["t"])),
        create(&set("v6", RecordType::Aaaa, 60, &["2001:db8::2"])),
        create(&set("v6", RecordType::Txt, 60, &["t"])),
        create(&set("text", RecordType::Txt, 60, &["only"])),
        create(&set("alias", RecordType::Cname, 60, &["www.example.com"])),
        create(&set("_o.ent", RecordType::Txt, 60, &["o"])),
    ])
    .await
    .unwrap();
    assert_eq!(
        answers(&query(&mut c, "www.example.com", ANY).await),
        vec![(A, 60, "192.0.2.1".into())]
    );
    assert_eq!(
        answers(&query(&mut c, "v6.example.com", ANY).await),
        vec![(AAAA, 60, "2001:db8::2".into())]
    );
    assert_eq!(
        answers(&query(&mut c, "text.example.com", ANY).await),
        vec![(TXT, 60, "only".into())]
    );
    assert_eq!(
        answers(&query(&mut c, "alias.example.com", ANY).await),
        vec![(CNAME, 60, "www.example.com.".into())]
    );
    let ent = query(&mut c, "ent.example.com", ANY).await;
    assert_eq!(ent.response_code, ResponseCode::NoError, "{ent:?}");
    assert!(ent.answers.is_empty(), "{ent:?}");
    let missing = query(&mut c, "nope.example.com", ANY).await;
    assert_eq!(missing.response_code, ResponseCode::NXDomain, "{missing:?}");
    let apex: Vec<_> = answers(&query(&mut c, ZONE, ANY).await)
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(apex, [rr::RecordType::NS]);
}

#[tokio::test]
async fn txt_values_are_served_in_255_byte_strings_with_their_ttl() {
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Udp).await;
    let long = "y".repeat(255);
    p.apply(&[create(&set("t", RecordType::Txt, 42, &[&long, "", "short"]))])
        .await
        .unwrap();
    let resp = query(&mut c, "t.example.com", rr::RecordType::TXT).await;
    let mut strings: Vec<Vec<usize>> = resp
        .answers
        .iter()
        .map(|r| {
            assert_eq!(r.ttl, 42);
            match &r.data {
                RData::TXT(t) => t.txt_data.iter().map(|s| s.len()).collect(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    strings.sort();
    assert_eq!(strings, vec![vec![0], vec![5], vec![255]]);
}

#[tokio::test]
async fn mx_answers_carry_the_addresses_of_in_zone_exchanges() {
    use rr::RecordType::{A, AAAA, MX};
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Udp).await;
    p.apply(&[
        create(&set(
            "",
            RecordType::Other("MX".into()),
            300,
            &["10 mail.example.com."],
        )),
        create(&set("mail", RecordType::A, 60, &["192.0.2.25"])),
        create(&set("mail", RecordType::Aaaa, 60, &["2001:db8::25"])),
    ])
    .await
    .unwrap();
    let resp = query(&mut c, ZONE, MX).await;
    assert_eq!(answers(&resp), vec![(MX, 300, "10 mail.example.com.".into())]);
    let mut adds: Vec<_> = resp
        .additionals
        .iter()
        .map(|r| (r.record_type(), r.data.to_string()))
        .collect();
    adds.sort();
    assert_eq!(
        adds,
        vec![(A, "192.0.2.25".into()), (AAAA, "2001:db8::25".into())]
    );
}

#[tokio::test]
async fn delegations_and_wildcards_are_answered_as_before() {
    use rr::RecordType::{A, NS, TXT};
    let p = start().await;
    let mut c = client(p.local_addr(), Transport::Udp).await;
    p.apply(&[
        create(&set(
            "sub",
            RecordType::Other("NS".into()),
            120,
            &["ns.sub.example.com."],
        )),
        create(&set("*.wild", RecordType::A, 90, &["192.0.2.42"])),
    ])
    .await
    .unwrap();
    // Below a delegation: a referral, the NS set in the authority section.
    for name in ["sub.example.com", "www.sub.example.com"] {
        let resp = query(&mut c, name, A).await;
        assert_eq!(resp.response_code, ResponseCode::NoError, "{resp:?}");
        assert!(resp.answers.is_empty(), "{resp:?}");
        let auth: Vec<_> = resp
            .authorities
            .iter()
            .map(|r| (r.name.to_ascii(), r.record_type(), r.data.to_string()))
            .collect();
        assert_eq!(
            auth,
            [(
                "sub.example.com.".to_string(),
                NS,
                "ns.sub.example.com.".to_string()
            )]
        );
    }
    assert_eq!(
        answers(&query(&mut c, "sub.example.com", NS).await),
        vec![(NS, 120, "ns.sub.example.com.".into())]
    );
    // A wildcard answers for the names below it, under the name asked.
    let resp = query(&mut c, "a.wild.example.com", A).await;
    assert_eq!(answers(&resp), vec![(A, 90, "192.0.2.42".into())]);
    assert_eq!(resp.answers[0].name.to_ascii(), "a.wild.example.com.");
    let resp = query(&mut c, "b.a.wild.example.com", A).await;
    assert_eq!(answers(&resp), vec![(A, 90, "192.0.2.42".into())]);
    let nodata = query(&mut c, "a.wild.example.com", TXT).await;
    assert_eq!(nodata.response_code, ResponseCode::NXDomain, "{nodata:?}");
    let wild = query(&mut c, "wild.example.com", A).await;
    assert_eq!(wild.response_code, ResponseCode::NoError, "{wild:?}");
    assert!(wild.answers.is_empty());
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp_and_whole_over_tcp_and_axfr_is_refused() {
    let p = start().await;
    let values: Vec<String> = (0..200)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    p.apply(&[create(&set("big", RecordType::A, 60, &refs))])
        .await
        .unwrap();
    let mut udp = client(p.local_addr(), Transport::Udp).await;
    let resp = query(&mut udp, "big.example.com", rr::RecordType::A).await;
    assert!(resp.truncation, "{resp:?}");
    assert!(resp.answers.len() < 200, "{}", resp.answers.len());
    let small = query(&mut udp, ZONE, rr::RecordType::NS).await;
    assert!(!small.truncation && small.edns.is_some(), "{small:?}");
    let mut tcp = client(p.local_addr(), Transport::Tcp).await;
    let resp = query(&mut tcp, "big.example.com", rr::RecordType::A).await;
    assert!(!resp.truncation);
    assert_eq!(answers(&resp).len(), 200);
    let axfr = query(&mut tcp, ZONE, rr::RecordType::AXFR).await;
    assert_eq!(axfr.response_code, ResponseCode::Refused, "{axfr:?}");
    assert!(axfr.answers.is_empty());
}

/// A chain of CNAMEs `chain0` → … → `chain6` → `chain7` (A), every set with `ttl`: one query
/// sees all eight names at once.
fn chain(ttl: u32, ip: &str) -> Vec<RecordSet> {
    (0..8)
        .map(|i| {
            let label = format!("chain{i}");
            if i < 7 {
                set(
                    &label,
                    RecordType::Cname,
                    ttl,
                    &[&format!("chain{}.example.com", i + 1)],
                )
            } else {
                set(&label, RecordType::A, ttl, &[ip])
            }
        })
        .collect()
}

/// Queries racing a batch of 1,000 changes see all of it or none of it: the chain's eight sets,
/// replaced at spread-out places in the batch, always answer with one TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_racing_a_large_batch_sees_all_of_it_or_none() {
    let p = std::sync::Arc::new(start().await);
    let old = chain(100, "192.0.2.1");
    let new = chain(200, "192.0.2.2");
    p.apply(&old.iter().map(create).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut batch: Vec<Change> = (0..984)
        .map(|i| create(&set(&format!("filler{i}"), RecordType::A, 60, &["192.0.2.9"])))
        .collect();
    for (i, (o, n)) in old.iter().zip(&new).enumerate() {
        batch.insert(i * 125, Change::replace(o.clone(), n.clone()));
    }
    assert_eq!(batch.len(), 992);

    let mut c = client(p.local_addr(), Transport::Udp).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let writer = {
        let (p, barrier) = (p.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            p.apply(&batch).await
        })
    };
    barrier.wait().await;
    let mut seen = Vec::new();
    loop {
        let resp = query(&mut c, "chain0.example.com", rr::RecordType::A).await;
        let ttls: std::collections::BTreeSet<u32> = answers(&resp).iter().map(|a| a.1).collect();
        assert_eq!(resp.answers.len(), 8, "{resp:?}");
        assert_eq!(ttls.len(), 1, "a mix of the old and new chain: {resp:?}");
        let ttl = ttls.into_iter().next().unwrap();
        if seen.last() != Some(&ttl) {
            seen.push(ttl);
        }
        if ttl == 200 {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&200));
    assert!(seen == [200] || seen == [100, 200], "{seen:?}");
    writer.await.unwrap().unwrap();
    let filler = query(&mut c, "filler983.example.com", rr::RecordType::A).await;
    assert_eq!(answers(&filler).len(), 1);
}
