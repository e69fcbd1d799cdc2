//! The `feddns` binary on the demo: real process, real DNS, file edits.

use std::path::Path;
use std::process::Command;

use hickory_net::proto::rr::RecordType;

use crate::common::*;

#[tokio::test]
async fn demo_serves_every_level_and_follows_member_file_edits() {
    let dir = demo_copy("127.0.0.1:0");
    let feddns = Running::start(&dir.path().join("config.yaml"));
    let addr = feddns.addr().await;
    for mut dns in [Dns::udp(addr).await, Dns::tcp(addr).await] {
        // Global: the EU IP and the US ELB's (re-resolved) address.
        dns.expect_a(GLOBAL, &["A 198.51.100.17", "A 203.0.113.10"]).await;
        // EU: region and both zones.
        for name in [
            "nginx.default.myfed.svc.eu-west-1.example.com",
            "nginx.default.myfed.svc.eu-west-1a.eu-west-1.example.com",
            "nginx.default.myfed.svc.eu-west-1b.eu-west-1.example.com",
        ] {
            dns.expect_a(name, &["A 203.0.113.10"]).await;
        }
        // US: the ELB hostname stays a CNAME, never frozen into A records.
        for name in [
            "nginx.default.myfed.svc.us-east-1.example.com",
            "nginx.default.myfed.svc.us-east-1a.us-east-1.example.com",
        ] {
            expect_answer(&mut dns, name, RecordType::CNAME, &[&format!("CNAME {ELB}")]).await;
        }
        // JP has no ready endpoints: zone -> region -> global.
        let jp_zone = "nginx.default.myfed.svc.ap-northeast-1a.ap-northeast-1.example.com";
        let jp_region = "nginx.default.myfed.svc.ap-northeast-1.example.com";
        expect_answer(
            &mut dns,
            jp_zone,
            RecordType::CNAME,
            &[&format!("CNAME {jp_region}")],
        )
        .await;
        expect_answer(
            &mut dns,
            jp_region,
            RecordType::CNAME,
            &[&format!("CNAME {GLOBAL}")],
        )
        .await;
        dns.expect_a("www.example.org", &["REFUSED"]).await;
        dns.expect_a("nosuch.default.myfed.svc.example.com", &["NXDOMAIN"])
            .await;
    }

    // JP's endpoints become ready: an edit of its file changes the answers.
    make_ready(dir.path(), "jp");
    let mut dns = Dns::udp(addr).await;
    dns.expect_a(GLOBAL, &["A 198.51.100.17", "A 198.51.100.40", "A 203.0.113.10"])
        .await;
    dns.expect_a(
        "nginx.default.myfed.svc.ap-northeast-1a.ap-northeast-1.example.com",
        &["A 198.51.100.40"],
    )
    .await;

    // The Service goes away in the EU member: its names go with it, CNAME fall-backs included.
    let eu = dir.path().join("members/eu.yaml");
    let text = std::fs::read_to_string(&eu).unwrap();
    let without_service = text
        .split("- apiVersion: v1\n  kind: Service")
        .next()
        .unwrap()
        .to_string();
    replace_file(&eu, &without_service);
    dns.expect_a("nginx.default.myfed.svc.eu-west-1.example.com", &["NXDOMAIN"])
        .await;
    dns.expect_a(
        "nginx.default.myfed.svc.eu-west-1a.eu-west-1.example.com",
        &["NXDOMAIN"],
    )
    .await;
    dns.expect_a(GLOBAL, &["A 198.51.100.17", "A 198.51.100.40"])
        .await;
}

/// `--log-format json`: every log line is one JSON object with the level, the message and the
/// fields.
#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = demo_copy("127.0.0.1:0");
    let run = Running::start_with(&dir.path().join("config.yaml"), &["--log-format", "json"]);
    eventually("feddns logs that the zone is listed", || {
        let lines = run.log.lock().unwrap().clone();
        let r = lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).map_err(|e| format!("{l:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|objs| {
                objs.iter()
                    .find(|o| o["fields"]["message"] == "zone listed")
                    .map(|o| {
                        assert_eq!(o["level"], "INFO");
                        assert_eq!(o["fields"]["zone"], "example.com");
                    })
                    .ok_or_else(|| format!("no `zone listed` line yet: {lines:#?}"))
            });
        async move { r }
    })
    .await;
}

fn feddns(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_feddns"))
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .expect("run feddns")
}

#[test]
fn plan_prints_a_table_and_json_without_changing_anything() {
    let config = demo_dir().join("config.yaml");
    let out = feddns(&["plan"], &config);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("OP "), "{table}");
    assert!(table.contains(&format!("create  {GLOBAL} ")), "{table}");
    assert!(
        table.contains("16 to create, 0 to replace, 0 to delete, 0 deferred, 0 conflicts."),
        "{table}"
    );

    let out = feddns(&["plan", "--output", "json"], &config);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = json["names"].as_array().unwrap();
    assert_eq!(names.len(), 8);
    let global = names.iter().find(|n| n["name"] == GLOBAL).unwrap();
    let a = global["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["new"]["rtype"] == "A")
        .unwrap();
    assert_eq!(a["op"], "create");
    assert_eq!(
        a["new"]["values"],
        serde_json::json!(["198.51.100.17", "203.0.113.10"])
    );
    assert_eq!(a["new"]["ttl"], 180);
}

#[test]
fn validate_names_the_broken_member_file_and_exits_non_zero() {
    let dir = demo_copy("127.0.0.1:0");
    let ok = feddns(&["validate"], &dir.path().join("config.yaml"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        String::from_utf8_lossy(&ok.stdout)
            .contains("member eu: 2 nodes, region eu-west-1, zones [eu-west-1a, eu-west-1b]")
    );

    let eu = dir.path().join("members/eu.yaml");
    std::fs::write(
        &eu,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: [not, a, string]}\n",
    )
    .unwrap();
    let bad = feddns(&["validate"], &dir.path().join("config.yaml"));
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("member eu") && err.contains("eu.yaml"), "{err}");
    let plan = feddns(&["plan"], &dir.path().join("config.yaml"));
    assert!(!plan.status.success(), "plan must refuse a broken member too");
}

#[test]
fn config_errors_name_the_file_and_field() {
    let dir = demo_copy("127.0.0.1:0");
    let cfg = dir.path().join("config.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("federation: myfed", "federation: My_Fed");
    std::fs::write(&cfg, text).unwrap();
    for cmd in ["validate", "plan", "run"] {
        let out = feddns(&[cmd], &cfg);
        assert!(!out.status.success(), "{cmd} accepted a bad config");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("config.yaml") && err.contains("field `federation`"),
            "{cmd}: {err}"
        );
    }
    let missing = feddns(&["validate"], &dir.path().join("nope.yaml"));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read config file"));
}
