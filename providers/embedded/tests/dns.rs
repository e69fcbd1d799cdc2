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
