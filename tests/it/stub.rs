//! `feddns stub` against an in-process fake API server as the local cluster, over real UDP and
//! TCP on 127.0.0.1; its manifests under deploy/stub; the binary's flag errors.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use feddns::config::MemberConfig;
use feddns::stub::query::parse_federations;
use feddns::stub::{Sources, Stub, StubSettings};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{RData, RecordType};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde_json::{Value, json};

use crate::common::*;
use crate::deploy::{documents, of_kind};
use crate::kube::{node, slice};

const NODE: &str = "node-a";
const LOCAL_WEB: &str = "web.shop.svc.cluster.local";
const FED_WEB: &str = "web.shop.myfed.svc.cluster.local";
const FED_IDLE: &str = "idle.shop.myfed.svc.cluster.local";

fn cluster_ip_service(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.1.1", "ports": [{"port": 80, "protocol": "TCP"}]},
    })
}

fn kube_dns_configmap(federations: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "data": {"federations": federations, "stubDomains": "{}"},
    })
}

/// A node with only the beta failure-domain labels.
fn beta_node(name: &str, zone: &str, region: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
        "failure-domain.beta.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
    }}})
}

/// The local cluster and a stub following it.
struct Local {
    _dir: tempfile::TempDir,
    api: FakeApiServer,
    stub: Option<Stub>,
    udp: Dns,
    tcp: Dns,
}

impl Local {
    /// A cluster with `shop/web` (one ready endpoint), `shop/idle` (none ready), this node in
    /// us-east-1a/us-east-1, and the kube-dns ConfigMap with `configmap` (if any).
    async fn start(flag: &str, configmap: Option<&str>) -> Self {
        let api = FakeApiServer::start().await.unwrap();
        api.apply(node(NODE, Some("us-east-1a"), Some("us-east-1")))
            .unwrap();
        api.apply(node("node-b", Some("us-east-1b"), Some("us-east-1")))
            .unwrap();
        api.apply(cluster_ip_service("shop", "web")).unwrap();
        api.apply(slice("shop", "web", &[true, false])).unwrap();
        api.apply(cluster_ip_service("shop", "idle")).unwrap();
        api.apply(slice("shop", "idle", &[false])).unwrap();
        if let Some(text) = configmap {
            api.apply(kube_dns_configmap(text)).unwrap();
        }
        Self::with_api(api, flag).await
    }

    async fn with_api(api: FakeApiServer, flag: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("local.kubeconfig");
        api.write_kubeconfig(&kubeconfig, "local").unwrap();
        let stub = start_stub(kubeconfig, flag).await;
        let udp = Dns::udp(stub.local_addr()).await;
        let tcp = Dns::tcp(stub.local_addr()).await;
        Self {
            _dir: dir,
            api,
            stub: Some(stub),
            udp,
            tcp,
        }
    }

    fn stub(&self) -> &Stub {
        self.stub.as_ref().unwrap()
    }

    /// Polls until `name` answers `want` over UDP, then checks TCP gives the same.
    async fn expect(&mut self, name: &str, want: &[&str]) {
        expect_answer(&mut self.udp, name, RecordType::A, want).await;
        assert_eq!(self.tcp.ask(name, RecordType::A).await, want, "{name} over TCP");
    }

    async fn stop(mut self) {
        if let Some(stub) = self.stub.take() {
            stub.shutdown().await.unwrap();
        }
        self.api.stop().await;
    }
}

async fn start_stub(kubeconfig: PathBuf, flag: &str) -> Stub {
    let member = MemberConfig {
        name: "local".into(),
        file: None,
        kubeconfig: Some(kubeconfig),
        context: Some("local".into()),
        in_cluster: false,
        discovered: None,
    };
    let client = feddns::members::kube::connect(&member).await.unwrap();
    let sources = Sources {
        node_name: NODE.into(),
        configmap: Some(("kube-system".into(), "kube-dns".into())),
        federations: parse_federations(flag).unwrap(),
        backoff: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    };
    let settings = StubSettings::new("cluster.local", 30).unwrap();
    Stub::start(client, "127.0.0.1:0".parse().unwrap(), settings, sources)
        .await
        .unwrap()
}

fn cname(target: &str) -> String {
    format!("CNAME {target}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_with_a_ready_endpoint_gets_the_local_cname() {
    let mut local = Local::start("myfed=example.com", None).await;
    local.expect(FED_WEB, &[&cname(LOCAL_WEB)]).await;
    // Any type, any case: the same authoritative CNAME with the configured TTL, no recursion.
    for rtype in [RecordType::AAAA, RecordType::CNAME, RecordType::TXT] {
        assert_eq!(local.tcp.ask(FED_WEB, rtype).await, [cname(LOCAL_WEB)]);
    }
    let resp = local
        .udp
        .response("WEB.Shop.MyFed.svc.cluster.local", RecordType::A)
        .await
        .unwrap();
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert!(resp.authoritative && !resp.recursion_available);
    assert_eq!(resp.answers.len(), 1);
    let answer = &resp.answers[0];
    assert_eq!(answer.ttl, 30);
    assert!(
        answer
            .name
            .to_ascii()
            .eq_ignore_ascii_case("web.shop.myfed.svc.cluster.local.")
    );
    assert!(matches!(&answer.data, RData::CNAME(c) if c.0.to_ascii() == "web.shop.svc.cluster.local."));
    // The endpoint stops being ready: now the federated name.
    local.api.apply(slice("shop", "web", &[false])).unwrap();
    local
        .expect(
            FED_WEB,
            &[&cname("web.shop.myfed.svc.us-east-1a.us-east-1.example.com")],
        )
        .await;
    // And ready again.
    local.api.apply(slice("shop", "web", &[true])).unwrap();
    local.expect(FED_WEB, &[&cname(LOCAL_WEB)]).await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ready_endpoint_or_no_service_gets_the_cname_with_this_nodes_zone_and_region() {
    let mut local = Local::start("myfed=example.com", None).await;
    let fed_target = cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.com");
    local.expect(FED_IDLE, &[&fed_target]).await;
    local
        .expect(
            "ghost.other.myfed.svc.cluster.local",
            &[&cname("ghost.other.myfed.svc.us-east-1a.us-east-1.example.com")],
        )
        .await;
    // The Service goes away while its endpoint is ready: federated too.
    local.expect(FED_WEB, &[&cname(LOCAL_WEB)]).await;
    local.api.delete("v1", "Service", Some("shop"), "web");
    local
        .expect(
            FED_WEB,
            &[&cname("web.shop.myfed.svc.us-east-1a.us-east-1.example.com")],
        )
        .await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_this_nodes_labels_moves_the_federated_target() {
    let api = FakeApiServer::start().await.unwrap();
    // Beta labels only: the fall-back.
    api.apply(beta_node(NODE, "old-zone", "old-region")).unwrap();
    api.apply(node("node-b", Some("other-zone"), Some("other-region")))
        .unwrap();
    let mut local = Local::with_api(api, "myfed=example.com").await;
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.old-zone.old-region.example.com")],
        )
        .await;
    // Topology labels win over beta labels.
    let mut relabeled = beta_node(NODE, "old-zone", "old-region");
    relabeled["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("eu-west-1b");
    relabeled["metadata"]["labels"]["topology.kubernetes.io/region"] = json!("eu-west-1");
    local.api.apply(relabeled).unwrap();
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.eu-west-1b.eu-west-1.example.com")],
        )
        .await;
    // Without zone and region labels there is no federated answer; other nodes do not count.
    local.api.apply(node(NODE, None, None)).unwrap();
    local.expect(FED_IDLE, &["ServFail"]).await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_federations_wrong_shapes_and_wildcards_are_nxdomain() {
    let mut local = Local::start("myfed=example.com", None).await;
    local.expect(FED_WEB, &[&cname(LOCAL_WEB)]).await;
    for name in [
        "web.shop.nofed.svc.cluster.local",
        "web.shop.svc.cluster.local",
        "x.web.shop.myfed.svc.cluster.local",
        "shop.myfed.svc.cluster.local",
        "myfed.svc.cluster.local",
        "*.shop.myfed.svc.cluster.local",
        "web.*.myfed.svc.cluster.local",
        "1web.shop.myfed.svc.cluster.local",
        "we_b.shop.myfed.svc.cluster.local",
    ] {
        local.expect(name, &["NXDOMAIN"]).await;
    }
    // NXDOMAIN is authoritative, with the SOA of svc.cluster.local for negative caching.
    let resp = local
        .udp
        .response("web.shop.nofed.svc.cluster.local", RecordType::A)
        .await
        .unwrap();
    assert!(resp.authoritative && !resp.recursion_available);
    assert_eq!(resp.authorities.len(), 1);
    let soa = &resp.authorities[0];
    assert_eq!(soa.name.to_ascii(), "svc.cluster.local.");
    assert!(matches!(&soa.data, RData::SOA(s) if s.minimum == 30));
    // The apex exists: its SOA, and NODATA for other types.
    assert_eq!(local.tcp.ask("svc.cluster.local", RecordType::SOA).await.len(), 1);
    let resp = local
        .tcp
        .response("svc.cluster.local", RecordType::A)
        .await
        .unwrap();
    assert_eq!(
        (resp.response_code, resp.answers.len(), resp.authorities.len()),
        (ResponseCode::NoError, 0, 1)
    );
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_suffix_and_zone_transfers_are_refused() {
    let mut local = Local::start("myfed=example.com", None).await;
    local.expect(FED_WEB, &[&cname(LOCAL_WEB)]).await;
    for name in [
        "www.example.com",
        "cluster.local",
        "web.shop.myfed.svc.other.local",
        "web.shop.myfed.svc.cluster.local.example.com",
        "kubernetes.default.pod.cluster.local",
    ] {
        local.expect(name, &["REFUSED"]).await;
    }
    let resp = local
        .udp
        .response("www.example.com", RecordType::A)
        .await
        .unwrap();
    assert!(!resp.authoritative && !resp.recursion_available);
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        assert_eq!(
            local.tcp.ask("svc.cluster.local", rtype).await,
            ["REFUSED"],
            "{rtype}"
        );
    }
    // A stopped stub has released its port (every UDP socket and the TCP listener).
    let addr = local.stub().local_addr();
    local.stop().await;
    std::net::UdpSocket::bind(addr).unwrap();
    std::net::TcpListener::bind(addr).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_change_takes_effect_and_its_deletion_restores_the_flag() {
    let mut local = Local::start("myfed=example.com", Some("myfed=example.org")).await;
    // The ConfigMap wins over the flag.
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.org")],
        )
        .await;
    local
        .api
        .apply(kube_dns_configmap("myfed=example.net, other=other.com"))
        .unwrap();
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.net")],
        )
        .await;
    local
        .expect("web.shop.other.svc.cluster.local", &[&cname(LOCAL_WEB)])
        .await;
    // A federation dropped from the map: its names are NXDOMAIN.
    local.api.apply(kube_dns_configmap("other=other.com")).unwrap();
    local.expect(FED_WEB, &["NXDOMAIN"]).await;
    // The key removed: the flag's map again.
    local
        .api
        .apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                      "data": {"stubDomains": "{}"}}))
        .unwrap();
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.com")],
        )
        .await;
    local
        .expect("web.shop.other.svc.cluster.local", &["NXDOMAIN"])
        .await;
    // Created again, then deleted: the flag's map again.
    local.api.apply(kube_dns_configmap("myfed=example.org")).unwrap();
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.org")],
        )
        .await;
    assert!(
        local
            .api
            .delete("v1", "ConfigMap", Some("kube-system"), "kube-dns")
    );
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.com")],
        )
        .await;
    // Another ConfigMap of the same name elsewhere does not count.
    let mut elsewhere = kube_dns_configmap("myfed=wrong.example");
    elsewhere["metadata"]["namespace"] = json!("default");
    local.api.apply(elsewhere).unwrap();
    local.api.apply(kube_dns_configmap("myfed=example.org")).unwrap();
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.org")],
        )
        .await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configmap_value_keeps_the_map_in_use() {
    let mut local = Local::start("myfed=example.com", Some("myfed=example.org")).await;
    let before = cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.org");
    local.expect(FED_IDLE, &[&before]).await;
    let stats = || local.stub().stats().configmap_refused.load(Ordering::Relaxed);
    assert_eq!(stats(), 0);
    // kube-dns' e2e invalid value, then a map with one bad entry among good ones.
    for (i, bad) in ["invalid.map=xyz", "other=other.com,bad_fed=x.com"]
        .iter()
        .enumerate()
    {
        local.api.apply(kube_dns_configmap(bad)).unwrap();
        eventually("the stub refuses the invalid value", || {
            let refused = local.stub().stats().configmap_refused.load(Ordering::Relaxed);
            let r = if refused > i as u64 {
                Ok(())
            } else {
                Err(format!("{refused} refused"))
            };
            async move { r }
        })
        .await;
        assert_eq!(
            local.udp.ask(FED_IDLE, RecordType::A).await,
            std::slice::from_ref(&before)
        );
        assert_eq!(
            local
                .tcp
                .ask("web.shop.other.svc.cluster.local", RecordType::A)
                .await,
            ["NXDOMAIN"]
        );
    }
    // A valid value is taken again.
    local.api.apply(kube_dns_configmap("myfed=example.net")).unwrap();
    local
        .expect(
            FED_IDLE,
            &[&cname("idle.shop.myfed.svc.us-east-1a.us-east-1.example.net")],
        )
        .await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_cluster_is_listed_federation_queries_are_servfail() {
    let api = FakeApiServer::start().await.unwrap();
    api.stop().await;
    let mut local = Local::with_api(api, "myfed=example.com").await;
    assert_eq!(local.udp.ask(FED_WEB, RecordType::A).await, ["ServFail"]);
    assert_eq!(local.tcp.ask("www.example.com", RecordType::A).await, ["REFUSED"]);
    assert_eq!(
        local.tcp.ask("a.b.nofed.svc.cluster.local", RecordType::A).await,
        ["NXDOMAIN"]
    );
    // The API server comes back: the stub lists it and answers.
    local.api.restart().await.unwrap();
    local.api.apply(node(NODE, Some("z1"), Some("r1"))).unwrap();
    local
        .expect(FED_WEB, &[&cname("web.shop.myfed.svc.z1.r1.example.com")])
        .await;
    local.stop().await;
}

fn feddns_stub(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feddns"))
        .arg("stub")
        .args(args)
        .env_remove("NODE_NAME")
        .output()
        .expect("run feddns");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_are_errors_naming_the_flag() {
    let node = ["--node-name", "n1", "--kubeconfig", "/nonexistent/kubeconfig"];
    for (args, want) in [
        (
            &["--federations", "invalid.map=xyz"][..],
            "--federations: federation entry \"invalid.map=xyz\"",
        ),
        (
            &["--federations", "a=b.com,"],
            "--federations: federation entry \"\" is not name=domain",
        ),
        (&["--cluster-domain", "cluster..local"], "--cluster-domain"),
        (&["--ttl", "-1"], "--ttl"),
        (&["--ttl", "3000000000"], "--ttl"),
        (&["--listen", "localhost"], "--listen"),
        (
            &["--configmap", "kube-dns"],
            "--configmap \"kube-dns\": expected namespace/name",
        ),
        (&["--configmap", "Kube_System/kube-dns"], "--configmap namespace"),
    ] {
        let mut all: Vec<&str> = node.to_vec();
        all.extend_from_slice(args);
        let (ok, err) = feddns_stub(&all);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // No node name at all, or a blank one.
    let (ok, err) = feddns_stub(&["--federations", "a=b.com"]);
    assert!(!ok && err.contains("--node-name"), "{err}");
    let (ok, err) = feddns_stub(&["--node-name", " ", "--federations", "a=b.com"]);
    assert!(
        !ok && err.contains("--node-name (or NODE_NAME) must name the node"),
        "{err}"
    );
    // A kubeconfig that cannot be read is named.
    let (ok, err) = feddns_stub(&node);
    assert!(!ok && err.contains("/nonexistent/kubeconfig"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_over_dns() {
    let api = FakeApiServer::start().await.unwrap();
    api.apply(node(NODE, Some("z1"), Some("r1"))).unwrap();
    api.apply(cluster_ip_service("shop", "web")).unwrap();
    api.apply(slice("shop", "web", &[true])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "local").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_feddns"))
        .args([
            "stub",
            "--federations",
            "myfed=example.com",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .env("NODE_NAME", NODE)
        .env_remove("FEDDNS_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("{e}; log: {log:#?}"));
        let found = line.split("addr=").nth(1).and_then(|rest| {
            rest.split_whitespace()
                .next()?
                .parse::<std::net::SocketAddr>()
                .ok()
        });
        log.push(line);
        if let Some(addr) = found {
            break addr;
        }
    };
    let mut dns = Dns::udp(addr).await;
    expect_answer(&mut dns, FED_WEB, RecordType::A, &[&cname(LOCAL_WEB)]).await;
    api.delete("discovery.k8s.io/v1", "EndpointSlice", Some("shop"), "web-abcde");
    expect_answer(
        &mut dns,
        FED_WEB,
        RecordType::A,
        &[&cname("web.shop.myfed.svc.z1.r1.example.com")],
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    api.stop().await;
}

fn rules_granted(rules: &[PolicyRule]) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    for rule in rules {
        for group in rule.api_groups.clone().unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    let names = rule.resource_names.clone().unwrap_or_default().join(",");
                    granted.insert(format!("{group}/{resource}[{names}]:{verb}"));
                }
            }
        }
    }
    granted
}

#[test]
fn the_manifests_grant_what_the_stub_reads_and_pass_node_name() {
    let docs = documents("deploy/stub/rbac.yaml");
    let sa = of_kind(&docs, "ServiceAccount")[0];
    let (sa_name, sa_ns) = (
        sa["metadata"]["name"].as_str().unwrap(),
        sa["metadata"]["namespace"].as_str().unwrap(),
    );

    let role: ClusterRole = serde_json::from_value(of_kind(&docs, "ClusterRole")[0].clone()).unwrap();
    let want: BTreeSet<String> = ["/services[]", "/nodes[]", "discovery.k8s.io/endpointslices[]"]
        .iter()
        .flat_map(|r| ["get", "list", "watch"].map(|v| format!("{r}:{v}")))
        .collect();
    assert_eq!(rules_granted(&role.rules.unwrap()), want);
    let binding: ClusterRoleBinding =
        serde_json::from_value(of_kind(&docs, "ClusterRoleBinding")[0].clone()).unwrap();
    assert_eq!(Some(binding.role_ref.name), role.metadata.name);
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        (sa_name, Some(sa_ns))
    );

    // The ConfigMap: only kube-system/kube-dns, by name.
    let cm_role: Role = serde_json::from_value(of_kind(&docs, "Role")[0].clone()).unwrap();
    assert_eq!(cm_role.metadata.namespace.as_deref(), Some("kube-system"));
    let want: BTreeSet<String> = ["get", "list", "watch"]
        .iter()
        .map(|v| format!("/configmaps[kube-dns]:{v}"))
        .collect();
    assert_eq!(rules_granted(&cm_role.rules.unwrap()), want);
    let cm_binding: RoleBinding = serde_json::from_value(of_kind(&docs, "RoleBinding")[0].clone()).unwrap();
    assert_eq!(cm_binding.metadata.namespace.as_deref(), Some("kube-system"));
    assert_eq!(Some(cm_binding.role_ref.name), cm_role.metadata.name);
    let subject = &cm_binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        (sa_name, Some(sa_ns))
    );

    // The Deployment: two replicas, the service account, NODE_NAME from spec.nodeName, the
    // stub subcommand on the port the Service targets.
    let docs = documents("deploy/stub/deployment.yaml");
    let deployment: Deployment = serde_json::from_value(of_kind(&docs, "Deployment")[0].clone()).unwrap();
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(sa_name));
    assert_eq!(deployment.metadata.namespace.as_deref(), Some(sa_ns));
    let container = &pod.containers[0];
    let node_name = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME");
    let field = node_name.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "spec.nodeName");
    let args = container.args.clone().unwrap();
    assert_eq!(args[0], "stub");
    assert!(args.iter().any(|a| a == "--listen=0.0.0.0:5353"), "{args:?}");
    let ports: BTreeSet<(String, i32, String)> = container
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap(),
                p.container_port,
                p.protocol.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        BTreeSet::from([
            ("dns".into(), 5353, "UDP".into()),
            ("dns-tcp".into(), 5353, "TCP".into())
        ])
    );

    // The Service: port 53 over UDP and TCP to those ports, selecting the pods.
    let docs = documents("deploy/stub/service.yaml");
    let service: Service = serde_json::from_value(of_kind(&docs, "Service")[0].clone()).unwrap();
    let sspec = service.spec.unwrap();
    assert_eq!(sspec.selector, spec.selector.match_labels);
    let sports: BTreeSet<(i32, String)> = sspec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.protocol.clone().unwrap()))
        .collect();
    assert_eq!(sports, BTreeSet::from([(53, "UDP".into()), (53, "TCP".into())]));

    // Everything applied by the kustomization parses, and the DNS snippets name the suffix.
    let kustomization = documents("deploy/stub/kustomization.yaml");
    for file in kustomization[0]["resources"].as_array().unwrap() {
        let docs = documents(&format!("deploy/stub/{}", file.as_str().unwrap()));
        assert!(!docs.is_empty(), "{file}");
    }
    let corefile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/stub/Corefile.snippet"),
    )
    .unwrap();
    assert!(corefile.contains("myfed.svc.cluster.local:53 {") && corefile.contains("forward . "));
    let stub_domains = documents("deploy/stub/kube-dns-stubdomains.yaml");
    let text = stub_domains[0]["data"]["stubDomains"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(text).unwrap();
    assert!(parsed["myfed.svc.cluster.local"].is_array());
}
