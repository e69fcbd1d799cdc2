//! `feddns run` on the demo's members writing into a real BIND 9 over RFC 2136 with TSIG; `dig`
//! against BIND shows every level's records.

use std::process::Command;

use std::net::SocketAddr;

use feddns_rfc2136::testing::{DnsServer, Fault, Front, KEY_NAME, Kind, Options};

use crate::common::{GLOBAL, Running, demo_copy, eventually, make_ready};

const IGNORE: &str = "needs named (Debian bind9) and dig; tests/run-all.sh installs them";

/// `dig +short` of `name`/`rtype` at the server, over TCP, sorted; the status line on failure.
fn dig(server: &DnsServer, name: &str, rtype: &str) -> Result<Vec<String>, String> {
    let out = Command::new("dig")
        .args(["+tcp", "+norec", "+short", "+time=2", "+tries=1"])
        .arg(format!("@{}", server.addr().ip()))
        .args(["-p", &server.addr().port().to_string(), name, rtype])
        .output()
        .map_err(|e| format!("cannot run dig ({e}); {IGNORE}"))?;
    if !out.status.success() {
        return Err(format!("dig failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    Ok(lines)
}

/// Polls `dig` until `name`/`rtype` answers exactly `want`.
async fn expect_dig(server: &DnsServer, feddns: &Running, name: &str, rtype: &str, want: &[&str]) {
    eventually(&format!("dig {name} {rtype} at BIND"), || {
        let r = dig(server, name, rtype).and_then(|got| {
            if got.iter().map(String::as_str).eq(want.iter().copied()) {
                Ok(())
            } else {
                let log = feddns.log.lock().unwrap();
                Err(format!(
                    "got {got:?}, want {want:?}; feddns log tail: {:#?}",
                    &log[log.len().saturating_sub(5)..]
                ))
            }
        });
        async move { r }
    })
    .await;
}

async fn bind() -> DnsServer {
    DnsServer::start(Kind::Bind, Options::default())
        .await
        .unwrap_or_else(|e| panic!("{e}; {IGNORE}"))
}

/// The demo with BIND's key in a file next to the configuration (named by a relative path),
/// writing to `server`; `feddns run` on it.
fn run_demo(bind: &DnsServer, server: SocketAddr) -> (tempfile::TempDir, Running) {
    let dir = demo_copy("127.0.0.1:0");
    std::fs::write(dir.path().join("tsig.key"), bind.secret_base64()).unwrap();
    let config = dir.path().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let provider = format!(
        "  rfc2136:\n    server: {server}\n    tsig: {{ name: {KEY_NAME}, secret_file: tsig.key }}\n"
    );
    let text = text.replace("  embedded:\n    listen: 127.0.0.1:0\n", &provider);
    assert!(text.contains("rfc2136:"), "{text}");
    std::fs::write(&config, text).unwrap();
    let feddns = Running::start(&config);
    (dir, feddns)
}

#[tokio::test]
#[ignore = "needs named (Debian bind9) and dig; tests/run-all.sh installs them"]
async fn feddns_run_writes_every_level_of_the_demo_into_bind() {
    let bind = bind().await;
    let (dir, feddns) = run_demo(&bind, bind.addr());

    // Global: the EU IP and the US ELB's (re-resolved) address.
    expect_dig(&bind, &feddns, GLOBAL, "A", &["198.51.100.17", "203.0.113.10"]).await;
    // EU: region and both zones.
    for name in [
        "nginx.default.myfed.svc.eu-west-1.example.com",
        "nginx.default.myfed.svc.eu-west-1a.eu-west-1.example.com",
        "nginx.default.myfed.svc.eu-west-1b.eu-west-1.example.com",
    ] {
        expect_dig(&bind, &feddns, name, "A", &["203.0.113.10"]).await;
    }
    // US: the ELB hostname stays a CNAME.
    let elb = format!("{}.", crate::common::ELB);
    for name in [
        "nginx.default.myfed.svc.us-east-1.example.com",
        "nginx.default.myfed.svc.us-east-1a.us-east-1.example.com",
    ] {
        expect_dig(&bind, &feddns, name, "CNAME", &[&elb]).await;
    }
    // JP has no ready endpoints: zone -> region -> global.
    let jp_zone = "nginx.default.myfed.svc.ap-northeast-1a.ap-northeast-1.example.com";
    let jp_region = "nginx.default.myfed.svc.ap-northeast-1.example.com";
    expect_dig(&bind, &feddns, jp_zone, "CNAME", &[&format!("{jp_region}.")]).await;
    expect_dig(&bind, &feddns, jp_region, "CNAME", &[&format!("{GLOBAL}.")]).await;
    // Every name carries its ownership record.
    expect_dig(
        &bind,
        &feddns,
        &format!("_feddns.{GLOBAL}"),
        "TXT",
        &["\"heritage=feddns,owner=feddns-demo,federation=myfed,service=default/nginx\""],
    )
    .await;

    // JP's endpoints become ready: the edit reaches BIND, the CNAMEs turn into A records.
    make_ready(dir.path(), "jp");
    expect_dig(
        &bind,
        &feddns,
        GLOBAL,
        "A",
        &["198.51.100.17", "198.51.100.40", "203.0.113.10"],
    )
    .await;
    expect_dig(&bind, &feddns, jp_zone, "A", &["198.51.100.40"]).await;
    expect_dig(&bind, &feddns, jp_zone, "CNAME", &[]).await;
    let log = feddns.log.lock().unwrap().join("\n");
    assert!(!log.contains(&bind.secret_base64()), "the key is never logged");
    assert!(log.contains("using the zone on an RFC 2136 server"), "{log}");
}

/// SERVFAIL is transient: the controller retries the UPDATE with its backoff until BIND takes it.
#[tokio::test]
#[ignore = "needs named (Debian bind9) and dig; tests/run-all.sh installs them"]
async fn servfail_is_retried_until_bind_takes_the_update() {
    let bind = bind().await;
    let front = Front::start(Some(bind.addr()), Fault::ServFailUpdates(2))
        .await
        .unwrap();
    let (_dir, feddns) = run_demo(&bind, front.addr());
    expect_dig(&bind, &feddns, GLOBAL, "A", &["198.51.100.17", "203.0.113.10"]).await;
    assert_eq!(
        front.faults(),
        2,
        "both SERVFAILs were met, and the UPDATE sent again"
    );
    assert!(front.updates() >= 3, "{} UPDATEs", front.updates());
}
