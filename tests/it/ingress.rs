//! Hosts of Ingresses and Gateway API objects in member clusters (fake API servers over HTTP, the
//! real kube watchers), merged into one name each, answered by the embedded DNS server.

use fake_apiserver::fixtures::{gateway, http_route, ingress, slice};
use hickory_net::proto::rr::RecordType;

use crate::common::*;
use crate::kube::{Fed, THREE};

const SOURCES: &str = "sources: [service, ingress, gateway]\n";
const WWW: &str = "www.example.com";

/// Waits until `/status` satisfies `check`.
async fn status_until(
    fed: &Fed,
    what: &str,
    check: impl Fn(&feddns::ops::status::StatusReport) -> Result<(), String>,
) {
    eventually(what, || async {
        let report = fed.status.get().await.ok_or("controller stopped")?;
        check(&report)
    })
    .await;
}

#[tokio::test]
async fn one_host_in_three_members_is_merged_and_follows_addresses_routes_and_listeners() {
    let mut fed = Fed::start(&THREE, SOURCES).await;
    for (m, ip) in [("m1", "192.0.2.11"), ("m2", "192.0.2.12")] {
        let api = fed.api(m);
        api.apply(ingress("shop", "web", &[WWW], "web", &[ip])).unwrap();
        api.apply(slice("shop", "web", &[true])).unwrap();
    }
    let m3 = fed.api("m3").clone();
    m3.install_gateway_api();
    m3.apply(gateway("infra", "gw", &[("http", 80, None)], &["192.0.2.13"]))
        .unwrap();
    m3.apply(http_route(
        "shop",
        "web",
        &[WWW],
        ("infra", "gw", None),
        Some(true),
    ))
    .unwrap();
    fed.dns
        .expect_a(WWW, &["A 192.0.2.11", "A 192.0.2.12", "A 192.0.2.13"])
        .await;
    expect_answer(
        &mut fed.dns,
        &format!("_feddns.{WWW}"),
        RecordType::TXT,
        &["TXT heritage=feddns,owner=feddns-myfed,federation=myfed,ingress=shop/web,host=www.example.com"],
    )
    .await;
    status_until(&fed, "status shows the host and its objects", |r| {
        let host = r.hosts.iter().find(|h| h.host == WWW).ok_or("no host row")?;
        let rows: Vec<String> = host
            .members
            .iter()
            .map(|m| format!("{} {} {}", m.member, m.healthy, m.objects.join(", ")))
            .collect();
        let want = [
            "m1 true ingress shop/web",
            "m2 true ingress shop/web",
            "m3 true gateway infra/gw, httproute shop/web",
        ];
        if rows == want {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;

    // m2's load balancer goes away: its address leaves the name.
    fed.api("m2")
        .apply(ingress("shop", "web", &[WWW], "web", &[]))
        .unwrap();
    fed.dns.expect_a(WWW, &["A 192.0.2.11", "A 192.0.2.13"]).await;

    // The Gateway no longer accepts the route: m3 serves the host no more.
    m3.apply(http_route(
        "shop",
        "web",
        &[WWW],
        ("infra", "gw", None),
        Some(false),
    ))
    .unwrap();
    fed.dns.expect_a(WWW, &["A 192.0.2.11"]).await;

    // A listener hostname narrows a route's hostnames; the listener's wildcard is a wildcard name.
    m3.apply(gateway(
        "infra",
        "gw",
        &[("shop", 443, Some("*.shop.example.com"))],
        &["192.0.2.13"],
    ))
    .unwrap();
    m3.apply(http_route(
        "shop",
        "cart",
        &["cart.shop.example.com", "cart.example.com"],
        ("infra", "gw", Some("shop")),
        Some(true),
    ))
    .unwrap();
    fed.dns.expect_a("cart.shop.example.com", &["A 192.0.2.13"]).await;
    fed.dns
        .expect_a("anything.shop.example.com", &["A 192.0.2.13"])
        .await;
    fed.dns.expect_a("cart.example.com", &["NXDOMAIN"]).await;

    // The Ingresses go: so does the name and its ownership record.
    fed.api("m1")
        .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web");
    fed.api("m2")
        .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web");
    fed.dns.expect_a(WWW, &["NXDOMAIN"]).await;
    expect_answer(
        &mut fed.dns,
        &format!("_feddns.{WWW}"),
        RecordType::TXT,
        &["NXDOMAIN"],
    )
    .await;
    fed.stop().await;
}

/// m1 has no Gateway API CRDs: the Gateway kinds are reported for m1 (in `/status`) and
/// retried, while its Services and Ingresses are published; once the CRDs are
/// installed its Gateways count.
#[tokio::test]
async fn a_crd_not_installed_is_reported_and_retried_and_never_blocks_the_member() {
    let mut fed = Fed::start(&THREE, SOURCES).await;
    for m in ["m2", "m3"] {
        fed.api(m).install_gateway_api();
    }
    let m1 = fed.api("m1").clone();
    m1.apply(ingress(
        "shop",
        "web",
        &["shop.example.com"],
        "web",
        &["192.0.2.21"],
    ))
    .unwrap();
    m1.apply(slice("shop", "web", &[true])).unwrap();
    // Every member synced: the Services' global name has all three.
    fed.dns
        .expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.2", "A 192.0.2.3"])
        .await;
    fed.dns.expect_a("shop.example.com", &["A 192.0.2.21"]).await;
    status_until(&fed, "m1 reports its unreadable kinds", |r| {
        let m = r.members.iter().find(|m| m.name == "m1").ok_or("no m1")?;
        let kinds: Vec<&str> = m.unread.iter().filter_map(|u| u.split(':').next()).collect();
        if m.status == "synced" && kinds == ["gateways", "grpcroutes", "httproutes", "tlsroutes"] {
            Ok(())
        } else {
            Err(format!("{} {:?}", m.status, m.unread))
        }
    })
    .await;
    let report = fed.status.get().await.unwrap();
    let m1_row = report.members.iter().find(|m| m.name == "m1").unwrap();
    assert!(
        m1_row.unread[0].contains("is its CRD installed at gateway.networking.k8s.io/v1?"),
        "{:?}",
        m1_row.unread
    );
    assert!(
        report
            .members
            .iter()
            .filter(|m| m.name != "m1")
            .all(|m| m.unread.is_empty())
    );
    let rendered = feddns::ops::status::render(&report);
    assert!(
        rendered.contains("member m1 cannot read (retried): gateways: not served"),
        "{rendered}"
    );

    // Retried with backoff (50 ms doubling to 200 ms here), never making m1 unavailable.
    eventually("several retries", || {
        let n = m1.request_count("unserved", "httproutes");
        async move {
            if n >= 4 {
                Ok(())
            } else {
                Err(format!("{n} requests"))
            }
        }
    })
    .await;
    let report = fed.status.get().await.unwrap();
    assert!(
        report.members.iter().all(|m| m.status == "synced"),
        "{:?}",
        report.members
    );

    // The CRDs arrive: m1's Gateway is read and merged with m2's Ingress for the same host.
    m1.install_gateway_api();
    m1.apply(gateway(
        "infra",
        "gw",
        &[("api", 443, Some("api.example.com"))],
        &["192.0.2.22"],
    ))
    .unwrap();
    fed.api("m2")
        .apply(ingress(
            "shop",
            "api",
            &["api.example.com"],
            "api",
            &["192.0.2.23"],
        ))
        .unwrap();
    fed.api("m2").apply(slice("shop", "api", &[true])).unwrap();
    fed.dns
        .expect_a("api.example.com", &["A 192.0.2.22", "A 192.0.2.23"])
        .await;
    status_until(&fed, "m1 readable again", |r| {
        let m = r.members.iter().find(|m| m.name == "m1").ok_or("no m1")?;
        if m.unread.is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", m.unread))
        }
    })
    .await;
    fed.stop().await;
}
