//! Kubernetes members: the real kube-rs client and watchers against in-process fake API servers
//! over HTTP, the controller in-process, answers from the embedded DNS server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use fake_apiserver::FakeApiServer;
pub(crate) use fake_apiserver::fixtures::{lb, node, slice};
use feddns::config::Config;
use feddns::control::controller::{Controller, Stats};
use feddns::members::kube::ConnectProblem;
use feddns::members::{SourceSettings, Supervisor};
use hickory_net::proto::rr::RecordType;
use serde_json::json;
use tokio::sync::mpsc;

use crate::common::*;

/// One fake member cluster.
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) api: FakeApiServer,
    kubeconfig: PathBuf,
}

impl Member {
    async fn start(dir: &Path, name: &str, region: &str, zones: &[&str], ip: &str) -> Self {
        let api = FakeApiServer::start().await.unwrap();
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        api.write_kubeconfig(&kubeconfig, name).unwrap();
        for (i, z) in zones.iter().enumerate() {
            api.apply(node(&format!("{name}-node-{i}"), Some(z), Some(region)))
                .unwrap();
        }
        api.apply(lb("default", "nginx", &[ip])).unwrap();
        api.apply(slice("default", "nginx", &[true])).unwrap();
        Self {
            name: name.into(),
            api,
            kubeconfig,
        }
    }

    fn config_line(&self) -> String {
        format!(
            "  - {{ name: {}, kubeconfig: {}, context: {} }}\n",
            self.name,
            self.kubeconfig.display(),
            self.name
        )
    }
}

/// A federation of fake members and the controller, reloading its config file.
pub(crate) struct Fed {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    extra: String,
    pub(crate) dns: Dns,
    stats: Arc<Stats>,
    pub(crate) status: feddns::control::controller::StatusHandle,
    controller: ControllerTask,
    reload: tokio::task::JoinHandle<()>,
}

const SETTINGS: &str = "controller: { debounce: 20ms, max_debounce: 200ms, file_poll: 20ms, \
                        watch_backoff: 50ms, watch_backoff_max: 200ms }\n";

impl Fed {
    /// Members `(name, region, zones, ingress ip)`, each serving `default/nginx`.
    pub(crate) async fn start(members: &[(&str, &str, &[&str], &str)], extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut started = Vec::new();
        for (name, region, zones, ip) in members {
            started.push(Member::start(dir.path(), name, region, zones, ip).await);
        }
        let fed_members: Vec<&Member> = started.iter().collect();
        let path = write_config(dir.path(), &fed_members, extra);
        let cfg = Config::load(&path).unwrap();
        let (provider, dns) = embedded_with_client().await;
        let mut controller = Controller::new(&cfg, Arc::new(provider), Arc::new(NoResolve), false);
        let stats = controller.stats();
        let status = controller.status_handle();
        let (tx, rx) = mpsc::channel(1024);
        let mut supervisor = Supervisor::new(tx, SourceSettings::from_config(&cfg));
        supervisor
            .reconcile(&cfg.members, &cfg.selection())
            .await
            .unwrap();
        let reload = tokio::spawn(feddns::cli::follow_config(path, cfg, supervisor));
        Self {
            dir,
            members: started,
            extra: extra.into(),
            dns,
            stats,
            status,
            controller: ControllerTask::spawn(controller, rx),
            reload,
        }
    }

    pub(crate) fn api(&self, name: &str) -> &FakeApiServer {
        &self.members.iter().find(|m| m.name == name).unwrap().api
    }

    /// Rewrites the config file with only these members.
    fn configure(&self, names: &[&str]) {
        let members: Vec<&Member> = self
            .members
            .iter()
            .filter(|m| names.contains(&m.name.as_str()))
            .collect();
        let text = config_text(&members, &self.extra);
        replace_file(&self.dir.path().join("config.yaml"), &text);
    }

    pub(crate) async fn stop(self) {
        self.controller.stop().await;
        self.reload.abort();
        for m in &self.members {
            m.api.stop().await;
        }
    }
}

fn config_text(members: &[&Member], extra: &str) -> String {
    let mut text = format!(
        "federation: myfed\ndomain: example.com\nprovider: {{ embedded: {{ listen: 127.0.0.1:0 }} }}\n{SETTINGS}{extra}members:\n"
    );
    for m in members {
        text.push_str(&m.config_line());
    }
    text
}

fn write_config(dir: &Path, members: &[&Member], extra: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config_text(members, extra)).unwrap();
    path
}

fn zone_name(zone: &str, region: &str) -> String {
    format!("nginx.default.myfed.svc.{zone}.{region}.example.com")
}

fn region_name(region: &str) -> String {
    format!("nginx.default.myfed.svc.{region}.example.com")
}

pub(crate) const THREE: [(&str, &str, &[&str], &str); 3] = [
    ("m1", "r1", &["z1"], "192.0.2.1"),
    ("m2", "r2", &["z2"], "192.0.2.2"),
    ("m3", "r3", &["z3"], "192.0.2.3"),
];

#[tokio::test]
async fn ingress_changes_on_one_member_change_the_records() {
    let mut fed = Fed::start(&THREE, "").await;
    let all = ["A 192.0.2.1", "A 192.0.2.2", "A 192.0.2.3"];
    fed.dns.expect_a(GLOBAL, &all).await;
    // Ingress entries carry `ipMode: VIP`, as real API servers write them.
    fed.dns.expect_a(&zone_name("z1", "r1"), &["A 192.0.2.1"]).await;

    fed.api("m1")
        .apply(lb("default", "nginx", &["192.0.2.11"]))
        .unwrap();
    fed.dns
        .expect_a(GLOBAL, &["A 192.0.2.11", "A 192.0.2.2", "A 192.0.2.3"])
        .await;
    fed.dns.expect_a(&zone_name("z1", "r1"), &["A 192.0.2.11"]).await;

    fed.api("m1").apply(lb("default", "nginx", &[])).unwrap();
    fed.dns.expect_a(GLOBAL, &["A 192.0.2.2", "A 192.0.2.3"]).await;
    // A LoadBalancer without ingress does not participate: m1's zone and region names go.
    fed.dns.expect_a(&zone_name("z1", "r1"), &["NXDOMAIN"]).await;
    fed.dns.expect_a(&region_name("r1"), &["NXDOMAIN"]).await;

    fed.api("m1")
        .apply(lb("default", "nginx", &["192.0.2.1"]))
        .unwrap();
    fed.dns.expect_a(GLOBAL, &all).await;
    fed.stop().await;
}

#[tokio::test]
async fn node_zone_labels_add_and_move_zone_names() {
    let mut fed = Fed::start(&THREE, "").await;
    fed.dns.expect_a(&zone_name("z3", "r3"), &["A 192.0.2.3"]).await;

    // A new node in a new zone: the member's Services get that zone's names too.
    fed.api("m2")
        .apply(node("m2-node-9", Some("z2b"), Some("r2")))
        .unwrap();
    fed.dns.expect_a(&zone_name("z2b", "r2"), &["A 192.0.2.2"]).await;
    fed.dns.expect_a(&zone_name("z2", "r2"), &["A 192.0.2.2"]).await;

    // A node's zone label changes: the names move.
    fed.api("m3")
        .apply(node("m3-node-0", Some("z3x"), Some("r3")))
        .unwrap();
    fed.dns.expect_a(&zone_name("z3x", "r3"), &["A 192.0.2.3"]).await;
    fed.dns.expect_a(&zone_name("z3", "r3"), &["NXDOMAIN"]).await;

    // A node without labels is skipped: the zone it had goes.
    fed.api("m2").apply(node("m2-node-9", None, None)).unwrap();
    fed.dns.expect_a(&zone_name("z2b", "r2"), &["NXDOMAIN"]).await;
    fed.stop().await;
}

#[tokio::test]
async fn unready_endpoints_send_the_zone_name_to_the_region() {
    let members: [(&str, &str, &[&str], &str); 2] = [
        ("m1", "r1", &["z1"], "192.0.2.1"),
        ("m2", "r1", &["z2"], "192.0.2.2"),
    ];
    let mut fed = Fed::start(&members, "").await;
    fed.dns
        .expect_a(&region_name("r1"), &["A 192.0.2.1", "A 192.0.2.2"])
        .await;
    fed.api("m1")
        .apply(slice("default", "nginx", &[false, false]))
        .unwrap();
    expect_answer(
        &mut fed.dns,
        &zone_name("z1", "r1"),
        RecordType::CNAME,
        &[&format!("CNAME {}", region_name("r1"))],
    )
    .await;
    fed.dns.expect_a(&region_name("r1"), &["A 192.0.2.2"]).await;
    // One endpoint ready again (a condition left out counts as ready).
    let mut ready = slice("default", "nginx", &[false]);
    ready["endpoints"][0]["conditions"] = json!({});
    fed.api("m1").apply(ready).unwrap();
    fed.dns.expect_a(&zone_name("z1", "r1"), &["A 192.0.2.1"]).await;
    fed.stop().await;
}

#[tokio::test]
async fn a_stopped_api_server_keeps_its_records_for_the_grace_period_then_they_return() {
    let mut fed = Fed::start(&THREE, "safety: { member_grace: 3s }\n").await;
    let all = ["A 192.0.2.1", "A 192.0.2.2", "A 192.0.2.3"];
    fed.dns.expect_a(GLOBAL, &all).await;

    fed.api("m3").stop().await;
    let stats = fed.stats.clone();
    eventually("m3 reported unavailable", || {
        let n = stats.member_failures.load(Ordering::SeqCst);
        async move {
            if n >= 1 {
                Ok(())
            } else {
                Err(format!("{n} failures"))
            }
        }
    })
    .await;
    assert_eq!(
        stats.members_down.load(Ordering::SeqCst),
        0,
        "the grace period has not ended yet"
    );
    let within_grace = fed.dns.ask(GLOBAL, RecordType::A).await;
    assert_eq!(
        within_grace, all,
        "records stay while the member is within its grace period"
    );

    // After the grace period its targets leave.
    fed.dns.expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.2"]).await;
    assert!(stats.members_down.load(Ordering::SeqCst) >= 1);

    // It comes back: a re-list restores it.
    fed.api("m3").restart().await.unwrap();
    fed.dns.expect_a(GLOBAL, &all).await;
    fed.dns.expect_a(&zone_name("z3", "r3"), &["A 192.0.2.3"]).await;
    fed.stop().await;
}

#[tokio::test]
async fn expired_watches_relist_without_provider_writes() {
    let mut fed = Fed::start(&THREE, "").await;
    fed.api("m1")
        .apply(lb("default", "other", &["192.0.2.50"]))
        .unwrap();
    fed.api("m1").apply(slice("default", "other", &[true])).unwrap();
    let other = "other.default.myfed.svc.example.com";
    fed.dns.expect_a(other, &["A 192.0.2.50"]).await;
    fed.dns
        .expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.2", "A 192.0.2.3"])
        .await;

    // What one marker change costs, measured.
    let marker = async |fed: &mut Fed, ip: &str| {
        let before = fed.stats.changes_applied.load(Ordering::SeqCst);
        fed.api("m1").apply(lb("default", "other", &[ip])).unwrap();
        fed.dns.expect_a(other, &[&format!("A {ip}")]).await;
        fed.stats.changes_applied.load(Ordering::SeqCst) - before
    };
    let cost = marker(&mut fed, "192.0.2.51").await;
    assert!(cost > 0);

    let api = fed.api("m1").clone();
    let lists =
        |api: &FakeApiServer| ["services", "nodes", "endpointslices"].map(|p| api.request_count("list", p));
    let before = lists(&api);
    let events_before = fed.stats.member_events.load(Ordering::SeqCst);
    let applied_before = fed.stats.changes_applied.load(Ordering::SeqCst);
    api.expire_watches();
    eventually("every watcher of m1 listed again and watches again", || {
        let now = lists(&api);
        let watching = api.open_watches();
        async move {
            let relisted = now.iter().zip(before).all(|(n, b)| *n > b);
            if relisted && watching >= 3 {
                Ok(())
            } else {
                Err(format!(
                    "lists {now:?} (before {before:?}), {watching} open watches"
                ))
            }
        }
    })
    .await;
    let applied = fed.stats.changes_applied.load(Ordering::SeqCst) - applied_before;
    let total = applied + marker(&mut fed, "192.0.2.52").await;
    assert_eq!(total, cost, "the re-list itself wrote nothing");
    assert_eq!(
        fed.stats.member_events.load(Ordering::SeqCst) - events_before,
        1,
        "the re-list sent no member event; only the marker did"
    );
    assert_eq!(fed.stats.member_failures.load(Ordering::SeqCst), 0);
    fed.stop().await;
}

#[tokio::test]
async fn members_removed_from_the_config_are_cleaned_up_and_added_back() {
    let mut fed = Fed::start(&THREE, "").await;
    let all = ["A 192.0.2.1", "A 192.0.2.2", "A 192.0.2.3"];
    fed.dns.expect_a(GLOBAL, &all).await;

    fed.configure(&["m1", "m2"]);
    fed.dns.expect_a(GLOBAL, &["A 192.0.2.1", "A 192.0.2.2"]).await;
    fed.dns.expect_a(&zone_name("z3", "r3"), &["NXDOMAIN"]).await;
    fed.dns.expect_a(&region_name("r3"), &["NXDOMAIN"]).await;

    // An edit the supervisor cannot use (a member whose kubeconfig does not exist) changes nothing.
    let broken = fed.dir.path().join("config.yaml");
    let text =
        std::fs::read_to_string(&broken).unwrap() + "  - { name: m9, kubeconfig: /nonexistent/kubeconfig }\n";
    replace_file(&broken, &text);
    let events = fed.stats.member_events.load(Ordering::SeqCst);

    fed.configure(&["m1", "m2", "m3"]);
    fed.dns.expect_a(GLOBAL, &all).await;
    fed.dns.expect_a(&zone_name("z3", "r3"), &["A 192.0.2.3"]).await;
    assert!(fed.stats.member_events.load(Ordering::SeqCst) > events);
    fed.stop().await;
}

#[tokio::test]
async fn services_are_selected_by_label_and_namespace() {
    let members: [(&str, &str, &[&str], &str); 1] = [("m1", "r1", &["z1"], "192.0.2.1")];
    let extra = "services: { selector: 'feddns.io/federate=yes', exclude_namespaces: [internal] }\n";
    let mut fed = Fed::start(&members, extra).await;
    let api = fed.api("m1").clone();
    let labelled = |ns: &str, name: &str, ip: &str| {
        let mut svc = lb(ns, name, &[ip]);
        svc["metadata"]["labels"] = json!({"feddns.io/federate": "yes"});
        svc
    };
    api.apply(labelled("shop", "web", "192.0.2.20")).unwrap();
    api.apply(slice("shop", "web", &[true])).unwrap();
    api.apply(labelled("internal", "web", "192.0.2.21")).unwrap();
    api.apply(slice("internal", "web", &[true])).unwrap();
    let web = "web.shop.myfed.svc.example.com";
    fed.dns.expect_a(web, &["A 192.0.2.20"]).await;
    // default/nginx has no label: not federated; internal/web is in an excluded namespace.
    fed.dns.expect_a(GLOBAL, &["NXDOMAIN"]).await;
    fed.dns
        .expect_a("web.internal.myfed.svc.example.com", &["NXDOMAIN"])
        .await;

    // Labelling default/nginx brings it in; removing the label from shop/web takes that out.
    api.apply(labelled("default", "nginx", "192.0.2.1")).unwrap();
    fed.dns.expect_a(GLOBAL, &["A 192.0.2.1"]).await;
    api.apply(lb("shop", "web", &["192.0.2.20"])).unwrap();
    fed.dns.expect_a(web, &["NXDOMAIN"]).await;
    fed.stop().await;
}

#[tokio::test]
async fn bad_kubeconfigs_and_contexts_name_the_member() {
    let api = FakeApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("m.kubeconfig");
    api.write_kubeconfig(&kc, "real").unwrap();
    let member = |extra: &str| {
        let text = format!(
            "federation: f\ndomain: example.com\nprovider: {{ embedded: {{ listen: 127.0.0.1:0 }} }}\nmembers:\n  - {{ name: eu, {extra} }}\n"
        );
        Config::parse(&text, Path::new("/x/config.yaml")).unwrap().members[0].clone()
    };
    let connect_err = async |m| match feddns::members::kube::connect(&m).await {
        Ok(_) => panic!("member {} connected", m.name),
        Err(e) => {
            assert!(matches!(e.problem, ConnectProblem::Kubeconfig(_)), "{e:?}");
            e.to_string()
        }
    };
    let missing = connect_err(member("kubeconfig: /nonexistent/kc")).await;
    assert!(
        missing.starts_with("member eu: cannot load kubeconfig /nonexistent/kc"),
        "{missing}"
    );
    let wrong = connect_err(member(&format!("kubeconfig: {}, context: other", kc.display()))).await;
    assert!(
        wrong.starts_with("member eu: kubeconfig")
            && wrong.contains("has no context \"other\" (it has: real)"),
        "{wrong}"
    );
    std::fs::write(&kc, "clusters: [oops").unwrap();
    let garbled = connect_err(member(&format!("kubeconfig: {}", kc.display()))).await;
    assert!(
        garbled.starts_with("member eu: cannot load kubeconfig"),
        "{garbled}"
    );

    // Unreachable: the error names the member and what could not be listed.
    api.write_kubeconfig(&kc, "real").unwrap();
    api.stop().await;
    let selection = feddns::federation::selector::Selection::default();
    let err = feddns::members::kube::list_once(
        &member(&format!("kubeconfig: {}", kc.display())),
        &selection,
        std::time::Duration::from_secs(20),
    )
    .await
    .unwrap_err();
    assert!(err.starts_with("member eu: ") && err.contains("watch"), "{err}");
}

#[tokio::test]
async fn a_namespace_list_watches_only_those_namespaces() {
    let members: [(&str, &str, &[&str], &str); 1] = [("m1", "r1", &["z1"], "192.0.2.1")];
    let mut fed = Fed::start(&members, "services: { namespaces: [shop, default] }\n").await;
    let api = fed.api("m1").clone();
    for (ns, ip) in [("shop", "192.0.2.20"), ("other", "192.0.2.21")] {
        api.apply(lb(ns, "web", &[ip])).unwrap();
        api.apply(slice(ns, "web", &[true])).unwrap();
    }
    fed.dns
        .expect_a("web.shop.myfed.svc.example.com", &["A 192.0.2.20"])
        .await;
    fed.dns.expect_a(GLOBAL, &["A 192.0.2.1"]).await;
    fed.dns
        .expect_a("web.other.myfed.svc.example.com", &["NXDOMAIN"])
        .await;
    // One Service watch and one EndpointSlice watch per namespace, one Node watch.
    let (services, slices) = (
        api.request_count("list", "services"),
        api.request_count("list", "endpointslices"),
    );
    assert_eq!((services, slices), (2, 2));
    fed.stop().await;
}

#[tokio::test]
async fn in_cluster_outside_a_pod_names_the_member() {
    let text = "federation: f\ndomain: example.com\nprovider: { embedded: { listen: 127.0.0.1:0 } }\n\
                members: [{ name: home, in_cluster: true }]\n";
    let cfg = Config::parse(text, Path::new("/x/config.yaml")).unwrap();
    match feddns::members::kube::connect(&cfg.members[0]).await {
        Ok(_) => panic!("connected outside a pod"),
        Err(e) => {
            // A kind callers can match, with kube's error kept as its source.
            assert_eq!(e.member, "home");
            assert!(matches!(e.problem, ConnectProblem::InCluster { .. }), "{e:?}");
            assert!(std::error::Error::source(&e.problem).is_some());
            let e = e.to_string();
            assert!(
                e.starts_with("member home: in_cluster: not running in a Kubernetes pod"),
                "{e}"
            )
        }
    }
}

fn feddns_cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feddns"))
        .args(args)
        .output()
        .expect("run feddns");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_and_plan_list_the_member_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = Member::start(dir.path(), "m1", "r1", &["z1", "z2"], "192.0.2.1").await;
    let m2 = Member::start(dir.path(), "m2", "r2", &["z9"], "192.0.2.2").await;
    let config = write_config(dir.path(), &[&m1, &m2], "");
    let config = config.to_str().unwrap().to_string();

    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || feddns_cli(&["validate", "-c", &config])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "member m1: 2 nodes, region r1, zones [z1, z2], 1 services (1 federated), 1 endpoint slices"
        ),
        "{out}"
    );

    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || feddns_cli(&["plan", "-c", &config])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains(&format!("create  {GLOBAL} ")), "{out}");
    assert!(out.contains("nginx.default.myfed.svc.z9.r2.example.com"), "{out}");

    // An unreachable member: a non-zero exit and an error naming it.
    m2.api.stop().await;
    let (ok, _, err) = tokio::task::spawn_blocking(move || feddns_cli(&["validate", "-c", &config]))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("member m2: "), "{err}");
}

/// `feddns validate` on a member whose kubeconfig is broken right next to a credential: the
/// error names the file, line and column, and shows nothing of the file. The same for a config
/// file broken next to a value.
#[test]
fn validate_never_echoes_a_broken_kubeconfig_or_config() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("eu.kubeconfig");
    let config = dir.path().join("config.yaml");
    let base = "federation: f\ndomain: example.com\nprovider: { embedded: { listen: 127.0.0.1:0 } }\n";
    std::fs::write(
        &config,
        format!("{base}members: [{{ name: eu, kubeconfig: {} }}]\n", kc.display()),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    for (case, text, line, column) in broken_kubeconfigs() {
        std::fs::write(&kc, &text).unwrap();
        let (ok, out, err) = feddns_cli(&["validate", "-c", config]);
        assert!(!ok, "{case}: validate succeeded");
        assert_no_secret(case, &format!("{out}{err}"));
        let want = format!(
            "member eu: cannot load kubeconfig {}: line {line}, column {column}: ",
            kc.display()
        );
        assert!(err.contains(&want), "{case}: {want:?} missing from\n{err}");
    }

    // The config file itself: a value just above the break, and one that is not allowed.
    for (case, text, line, column) in [
        (
            "value above an unclosed flow mapping",
            format!(
                "federation: f\ndomain: example.com\nowner_id: {SECRET}\nprovider: {{ embedded: {{ listen: 127.0.0.1:0 }}\nmembers: []\n"
            ),
            5,
            1,
        ),
        (
            "value as an unknown variant",
            format!("{base}routing: {{ policy: {SECRET} }}\nmembers: []\n"),
            4,
            20,
        ),
    ] {
        let path = dir.path().join("broken.yaml");
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = feddns_cli(&["validate", "-c", path.to_str().unwrap()]);
        assert!(!ok, "{case}: validate succeeded");
        assert_no_secret(case, &format!("{out}{err}"));
        let want = format!("config file {}: line {line}, column {column}: ", path.display());
        assert!(err.contains(&want), "{case}: {want:?} missing from\n{err}");
    }
}

/// A watch that fails part-way through the first list (nodes forbidden) must not lose what the
/// other watches had already listed: the snapshot sent once everything lists is complete.
#[tokio::test]
async fn a_failure_during_the_first_list_loses_nothing() {
    use feddns::members::MemberEvent;
    use feddns::members::kube::{WatchSettings, connect, watch_member};
    let dir = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let m = Member::start(dir.path(), &format!("m{round}"), "r1", &["z1"], "192.0.2.1").await;
        m.api.set_forbidden("nodes", true);
        let text = format!(
            "federation: f\ndomain: example.com\nprovider: {{ embedded: {{ listen: 127.0.0.1:0 }} }}\nmembers:\n{}",
            m.config_line()
        );
        let cfg = Config::parse(&text, Path::new("/x/config.yaml")).unwrap();
        let client = connect(&cfg.members[0]).await.unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let settings = WatchSettings {
            selection: Default::default(),
            backoff: std::time::Duration::from_millis(20),
            backoff_max: std::time::Duration::from_millis(50),
        };
        let task = tokio::spawn(watch_member(m.name.clone(), client, settings, tx));
        let first = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap().unwrap();
        assert!(matches!(first, MemberEvent::Failed { .. }), "{first:?}");
        // Let the services and slices lists land before nodes work again.
        eventually("services and slices listed", || {
            let n = m.api.request_count("list", "services") + m.api.request_count("list", "endpointslices");
            async move { if n >= 4 { Ok(()) } else { Err(format!("{n} lists")) } }
        })
        .await;
        m.api.set_forbidden("nodes", false);
        let event = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap().unwrap();
        match event {
            MemberEvent::Snapshot { snapshot, .. } => {
                assert_eq!(snapshot.services.len(), 1, "round {round}: {snapshot:?}");
                assert_eq!(snapshot.slices.len(), 1, "round {round}: {snapshot:?}");
                assert_eq!(snapshot.nodes.len(), 1, "round {round}: {snapshot:?}");
            }
            other => panic!("round {round}: {other:?}"),
        }
        task.abort();
    }
}
