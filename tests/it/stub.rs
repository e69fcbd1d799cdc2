//! `feddns stub` against an in-process fake API server as the local cluster, over real UDP and
//! TCP on 127.0.0.1: directly, and behind dnsdist (a pass-through forwarder, as CoreDNS
//! `forward` is) with `feddns run` on the embedded provider as the upstream resolver of the
//! federated names; its manifests under deploy/stub; the binary's flag errors.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use feddns::stub::query::parse_federations;
use feddns::stub::{ClientSource, Sources, Stub, StubError, StubOptions, StubSettings, UpstreamSettings};
use hickory_net::proto::op::{DnsResponse, ResponseCode};
use hickory_net::proto::rr::{RData, RecordType};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde_json::{Value, json};

use crate::common::*;
use crate::deploy::{container_ports, documents, of_kind};
use crate::kube::{node, slice};

const NODE: &str = "node-a";
const LOCAL_WEB: &str = "web.shop.svc.cluster.local";
const FED_WEB: &str = "web.shop.myfed.svc.cluster.local";
const FED_IDLE: &str = "idle.shop.myfed.svc.cluster.local";
const WEB_IP: &str = "10.96.1.1";
/// The federated names of shop/web from a node in us-east-1a.
const WEB_ZONE: &str = "web.shop.myfed.svc.us-east-1a.us-east-1.example.com";
const WEB_REGION: &str = "web.shop.myfed.svc.us-east-1.example.com";
const WEB_GLOBAL: &str = "web.shop.myfed.svc.example.com";
/// The load balancer of shop/web in the other member, eu.
const EU_IP: &str = "203.0.113.10";

fn service(ns: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    })
}

fn cluster_ip_service(ns: &str, name: &str) -> Value {
    service(
        ns,
        name,
        json!({"type": "ClusterIP", "clusterIP": WEB_IP, "ports": [{"port": 80, "protocol": "TCP"}]}),
    )
}

/// shop/web as a federated LoadBalancer: ClusterIP [`WEB_IP`], its load balancer 198.51.100.1.
fn lb_service() -> Value {
    let mut svc = service(
        "shop",
        "web",
        json!({"type": "LoadBalancer", "clusterIP": WEB_IP, "clusterIPs": [WEB_IP],
               "ports": [{"port": 80, "protocol": "TCP"}]}),
    );
    svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}});
    svc
}

/// An EndpointSlice with endpoints of `family` at `addrs`, ready or not.
fn slice_of(ns: &str, svc: &str, family: &str, endpoints: &[(&str, bool)]) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(a, ready)| json!({"addresses": [a], "conditions": {"ready": ready}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{svc}-{}", family.to_ascii_lowercase()), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": family,
        "endpoints": endpoints,
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

/// A port free for UDP and TCP on 127.0.0.1 (for servers that cannot be given port 0).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// An upstream address where nothing answers (the port was free a moment ago).
fn nowhere() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// How the stub under test resolves federated names.
struct Upstream {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Upstream {
    /// Nothing answers: federated A and AAAA queries are SERVFAIL.
    fn none() -> Self {
        Self::at(nowhere())
    }

    fn at(server: SocketAddr) -> Self {
        Self {
            servers: vec![server],
            timeout: Duration::from_millis(300),
        }
    }
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
        Self::with_upstream(api, flag, Upstream::none(), false).await
    }

    async fn with_upstream(api: FakeApiServer, flag: &str, upstream: Upstream, admin: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("local.kubeconfig");
        api.write_kubeconfig(&kubeconfig, "local").unwrap();
        let stub = start_stub(kubeconfig, flag, upstream, admin).await;
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

    /// Polls until `name`/`rtype` answers `want` over UDP, then checks TCP gives the same.
    async fn expect(&mut self, name: &str, rtype: RecordType, want: &[&str]) {
        expect_answer(&mut self.udp, name, rtype, want).await;
        assert_eq!(self.tcp.ask(name, rtype).await, want, "{name} {rtype} over TCP");
    }

    /// Polls until `name` answers the CNAME to `target` (a CNAME query: no upstream needed).
    async fn expect_cname(&mut self, name: &str, target: &str) {
        self.expect(name, RecordType::CNAME, &[&cname(target)]).await;
    }

    async fn stop(mut self) {
        if let Some(stub) = self.stub.take() {
            stub.shutdown().await.unwrap();
        }
        self.api.stop().await;
    }
}

async fn start_stub(kubeconfig: PathBuf, flag: &str, upstream: Upstream, admin: bool) -> Stub {
    let source = ClientSource::Flags {
        kubeconfig: Some(kubeconfig),
        context: Some("local".into()),
    };
    let client = source.connect().await.unwrap();
    let options = StubOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings: StubSettings::new("cluster.local", 30).unwrap(),
        sources: Sources {
            node_name: NODE.into(),
            configmap: Some(("kube-system".into(), "kube-dns".into())),
            federations: parse_federations(flag).unwrap(),
            backoff: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
        },
        upstream: UpstreamSettings {
            servers: upstream.servers,
            timeout: upstream.timeout,
            cache_size: 1000,
        },
        admin: admin.then(|| "127.0.0.1:0".parse().unwrap()),
    };
    Stub::start(client, options).await.unwrap()
}

/// A busy `--admin` port is a typed error naming the flag and the address, with the system's
/// error as its source; the DNS server started before it is stopped with it.
#[tokio::test]
async fn a_busy_admin_port_is_an_admin_error_naming_the_address() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    // Nothing is contacted before the admin port listens.
    let config = kube::Config::new(format!("http://{}", nowhere()).parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let options = StubOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings: StubSettings::new("cluster.local", 30).unwrap(),
        sources: Sources {
            node_name: NODE.into(),
            configmap: None,
            federations: parse_federations("myfed=example.com").unwrap(),
            backoff: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
        },
        upstream: UpstreamSettings {
            servers: vec![nowhere()],
            timeout: Duration::from_millis(200),
            cache_size: 10,
        },
        admin: Some(addr),
    };
    match Stub::start(client, options).await {
        Err(StubError::Admin { addr: failed, source }) => {
            assert_eq!(failed, addr);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        Err(e) => panic!("not an admin error: {e:?}"),
        Ok(_) => panic!("the stub started on a busy admin port"),
    }
}

fn cname(target: &str) -> String {
    format!("CNAME {target}")
}

/// The answer section in order, as `owner TYPE data TTL`.
fn in_order(resp: &DnsResponse) -> Vec<(String, u32)> {
    resp.answers
        .iter()
        .map(|r| {
            let data = match &r.data {
                RData::CNAME(c) => c.0.to_ascii(),
                d => d.to_string(),
            };
            (format!("{} {} {data}", r.name.to_ascii(), r.record_type()), r.ttl)
        })
        .collect()
}

/// dnsdist on 127.0.0.1 (UDP and TCP), forwarding `myfed.svc.cluster.local` to a stub with its
/// answers unchanged, as CoreDNS `forward` does; killed when dropped.
struct Dnsdist {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Dnsdist {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dnsdist {
    /// `$FEDDNS_DNSDIST`, else `dnsdist` on the PATH; the test fails if there is none.
    async fn start(stub: SocketAddr) -> Self {
        let program = std::env::var("FEDDNS_DNSDIST").unwrap_or_else(|_| "dnsdist".into());
        let dir = tempfile::tempdir().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let conf = dir.path().join("dnsdist.conf");
        // No console, no security polling (it would query the internet), health checks on the
        // stub's own SOA.
        std::fs::write(
            &conf,
            format!(
                "setSecurityPollSuffix(\"\")\n\
                 setLocal(\"{addr}\")\n\
                 setServFailWhenNoServer(true)\n\
                 newServer({{address=\"{stub}\", pool=\"stub\", checkName=\"svc.cluster.local.\", \
                 checkType=\"SOA\", checkInterval=1}})\n\
                 addAction({{\"myfed.svc.cluster.local.\"}}, PoolAction(\"stub\"))\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new(&program)
            .args(["--supervised", "--disable-syslog", "-C"])
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {program:?} ({e}): these tests need dnsdist (apt-get install dnsdist; \
                     `bash tests/run-all.sh` installs it), or FEDDNS_DNSDIST set to its path"
                )
            });
        let dnsdist = Self {
            child,
            addr,
            _dir: dir,
        };
        // Up once it forwards a query to the stub and back.
        let mut dns = Dns::udp(addr).await;
        dns.expect_a("x.web.shop.myfed.svc.cluster.local", &["NXDOMAIN"])
            .await;
        dnsdist
    }
}

/// Writes the federation's member files and config, and starts `feddns run` on the embedded
/// provider: member eu (eu-west-1a) has shop/web healthy behind [`EU_IP`]; the member in
/// us-east-1a is the local cluster (`local_kubeconfig`), or without one a file member whose
/// shop/web has no ready endpoint. Its DNS server answers example.com with TTL `ttl`.
async fn feddns_run(dir: &Path, ttl: u32, local_kubeconfig: Option<&Path>) -> (Running, SocketAddr) {
    let member = |node: &str, region: &str, zone: &str, ip: &str, ready: bool| {
        format!(
            "apiVersion: v1\nkind: List\nitems:\n\
             - {{apiVersion: v1, kind: Node, metadata: {{name: {node}, labels: {{topology.kubernetes.io/region: {region}, topology.kubernetes.io/zone: {zone}}}}}}}\n\
             - {{apiVersion: v1, kind: Service, metadata: {{name: web, namespace: shop}}, spec: {{type: LoadBalancer}}, \
                status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}}}\n\
             - {{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {{name: web-1, namespace: shop, \
                labels: {{kubernetes.io/service-name: web}}}}, addressType: IPv4, \
                endpoints: [{{addresses: [10.4.0.7], conditions: {{ready: {ready}}}}}]}}\n"
        )
    };
    std::fs::write(
        dir.join("eu.yaml"),
        member("eu-1", "eu-west-1", "eu-west-1a", EU_IP, true),
    )
    .unwrap();
    let us = match local_kubeconfig {
        Some(k) => format!("{{ name: local, kubeconfig: {}, context: local }}", k.display()),
        None => {
            std::fs::write(
                dir.join("us.yaml"),
                member("us-1", "us-east-1", "us-east-1a", "198.51.100.1", false),
            )
            .unwrap();
            "{ name: us, file: us.yaml }".into()
        }
    };
    let config = dir.join("run.yaml");
    std::fs::write(
        &config,
        format!(
            "federation: myfed\ndomain: example.com\nttl: {ttl}\n\
             provider: {{ embedded: {{ listen: 127.0.0.1:0 }} }}\n\
             controller: {{ debounce: 20ms, max_debounce: 200ms, file_poll: 20ms, watch_backoff: 50ms, watch_backoff_max: 200ms }}\n\
             members: [{us}, {{ name: eu, file: eu.yaml }}]\n"
        ),
    )
    .unwrap();
    let run = Running::start(&config);
    let addr = run.addr().await;
    (run, addr)
}

/// The answer of shop/web from a node in us-east-1a when only eu has it healthy: the CNAME to
/// the zone name, its chain, eu's load balancer.
fn web_chain() -> Vec<String> {
    vec![
        format!("{FED_WEB}. CNAME {WEB_ZONE}."),
        format!("{WEB_ZONE}. CNAME {WEB_REGION}."),
        format!("{WEB_REGION}. CNAME {WEB_GLOBAL}."),
        format!("{WEB_GLOBAL}. A {EU_IP}"),
    ]
}

/// Polls `dns` until `name` A answers exactly `want` in this order; returns the TTLs.
async fn expect_in_order(dns: &mut Dns, name: &str, want: &[String]) -> Vec<u32> {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let last = match dns.response(name, RecordType::A).await {
            Ok(resp) => {
                let answer = in_order(&resp);
                if resp.response_code == ResponseCode::NoError
                    && answer.iter().map(|(t, _)| t).eq(want.iter())
                {
                    return answer.iter().map(|(_, ttl)| *ttl).collect();
                }
                format!("{:?} {answer:#?}", resp.response_code)
            }
            Err(e) => e,
        };
        if tokio::time::Instant::now() > end {
            panic!("{name} A: got {last}, want {want:#?} (waited {DEADLINE:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A UDP relay in front of a DNS server that forwards only while open: closed, the server
/// looks like one that never answers.
struct Gate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    async fn start(server: SocketAddr) -> Self {
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(false));
        let is_open = open.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            while let Ok((n, client)) = socket.recv_from(&mut buf).await {
                if !is_open.load(Ordering::SeqCst) {
                    continue;
                }
                let query = buf[..n].to_vec();
                let socket = socket.clone();
                tokio::spawn(async move {
                    let upstream = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    upstream.send_to(&query, server).await.unwrap();
                    let mut answer = vec![0u8; 65_535];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(2), upstream.recv(&mut answer)).await
                    {
                        let _ = socket.send_to(&answer[..n], client).await;
                    }
                });
            }
        });
        Self { addr, open, task }
    }

    fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }
}

/// The value of one series in a Prometheus text exposition (0 when absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn admin_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    feddns::ops::admin::http_get(&addr.to_string(), path, Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_dnsdist_local_services_answer_their_cluster_ips_or_ready_endpoints() {
    let api = FakeApiServer::start().await.unwrap();
    api.apply(node(NODE, Some("us-east-1a"), Some("us-east-1")))
        .unwrap();
    api.apply(cluster_ip_service("shop", "web")).unwrap();
    api.apply(slice("shop", "web", &[true])).unwrap();
    // Dual-stack.
    api.apply(service(
        "shop",
        "dual",
        json!({"clusterIP": "10.96.2.2", "clusterIPs": ["10.96.2.2", "fd00::2"], "ipFamilyPolicy": "RequireDualStack"}),
    ))
    .unwrap();
    api.apply(slice_of("shop", "dual", "IPv4", &[("10.2.0.1", true)]))
        .unwrap();
    // Headless: its ready endpoints, of both families, in two slices.
    api.apply(service("shop", "db", json!({"clusterIP": "None"})))
        .unwrap();
    api.apply(slice_of(
        "shop",
        "db",
        "IPv4",
        &[("10.1.0.2", true), ("10.1.0.1", true), ("10.1.0.3", false)],
    ))
    .unwrap();
    api.apply(slice_of("shop", "db", "IPv6", &[("fd00:1::1", true)]))
        .unwrap();
    let local = Local::with_api(api, "myfed=example.com").await;
    let dnsdist = Dnsdist::start(local.stub().local_addr()).await;
    for mut dns in [Dns::udp(dnsdist.addr).await, Dns::tcp(dnsdist.addr).await] {
        let local_name = |svc: &str| cname(&format!("{svc}.shop.svc.cluster.local"));
        for (svc, rtype, addrs) in [
            ("web", RecordType::A, &["A 10.96.1.1"][..]),
            ("web", RecordType::AAAA, &[]),
            ("dual", RecordType::A, &["A 10.96.2.2"]),
            ("dual", RecordType::AAAA, &["AAAA fd00::2"]),
            ("db", RecordType::A, &["A 10.1.0.1", "A 10.1.0.2"]),
            ("db", RecordType::AAAA, &["AAAA fd00:1::1"]),
        ] {
            let target = local_name(svc);
            let mut want: Vec<&str> = addrs.to_vec();
            want.push(&target);
            expect_answer(
                &mut dns,
                &format!("{svc}.shop.myfed.svc.cluster.local"),
                rtype,
                &want,
            )
            .await;
        }
        // In order, the CNAME first, every record with the stub's TTL, authoritative.
        let resp = dns
            .response("db.shop.myfed.svc.cluster.local", RecordType::A)
            .await
            .unwrap();
        assert_eq!(
            in_order(&resp),
            [
                (
                    "db.shop.myfed.svc.cluster.local. CNAME db.shop.svc.cluster.local.".to_string(),
                    30
                ),
                ("db.shop.svc.cluster.local. A 10.1.0.1".to_string(), 30),
                ("db.shop.svc.cluster.local. A 10.1.0.2".to_string(), 30),
            ]
        );
        assert!(resp.authoritative);
    }
    // A headless endpoint that stops being ready is no longer answered.
    local
        .api
        .apply(slice_of(
            "shop",
            "db",
            "IPv4",
            &[("10.1.0.2", false), ("10.1.0.1", true)],
        ))
        .unwrap();
    let mut dns = Dns::udp(dnsdist.addr).await;
    dns.expect_a(
        "db.shop.myfed.svc.cluster.local",
        &["A 10.1.0.1", &cname("db.shop.svc.cluster.local")],
    )
    .await;
    drop(dnsdist);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_dnsdist_a_service_losing_its_last_ready_endpoint_gets_the_federated_chain() {
    let api = FakeApiServer::start().await.unwrap();
    api.apply(node(NODE, Some("us-east-1a"), Some("us-east-1")))
        .unwrap();
    api.apply(lb_service()).unwrap();
    api.apply(slice("shop", "web", &[true])).unwrap();
    // `feddns run` follows the same cluster as its member in us-east-1a, and eu.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("local.kubeconfig");
    api.write_kubeconfig(&kubeconfig, "local").unwrap();
    let (_run, run_dns) = feddns_run(dir.path(), 3, Some(&kubeconfig)).await;
    let local = Local::with_upstream(api, "myfed=example.com", Upstream::at(run_dns), false).await;
    let dnsdist = Dnsdist::start(local.stub().local_addr()).await;
    let mut dns = Dns::udp(dnsdist.addr).await;
    let local_answer = [format!("A {WEB_IP}"), cname(LOCAL_WEB)];
    let local_answer: Vec<&str> = local_answer.iter().map(String::as_str).collect();
    dns.expect_a(FED_WEB, &local_answer).await;

    // Its last ready endpoint goes: the federated name, completed through `feddns run`, which
    // sends the zone name to the region and the region to the global name (eu) once it sees it.
    local.api.apply(slice("shop", "web", &[false])).unwrap();
    let ttls = expect_in_order(&mut dns, FED_WEB, &web_chain()).await;
    // One TTL for the whole answer, the chain's smallest (3 s in the federation's zone).
    assert!(ttls.iter().all(|t| *t == ttls[0] && *t <= 3), "{ttls:?}");
    for mut tcp in [Dns::tcp(dnsdist.addr).await] {
        expect_in_order(&mut tcp, FED_WEB, &web_chain()).await;
    }
    // Other types get the CNAME alone; AAAA the chain without an address (eu has none).
    assert_eq!(dns.ask(FED_WEB, RecordType::TXT).await, [cname(WEB_ZONE)]);
    expect_answer(
        &mut dns,
        FED_WEB,
        RecordType::AAAA,
        &[&cname(WEB_GLOBAL), &cname(WEB_REGION), &cname(WEB_ZONE)],
    )
    .await;

    // Ready again: local again, at once.
    local.api.apply(slice("shop", "web", &[true])).unwrap();
    dns.expect_a(FED_WEB, &local_answer).await;
    drop(dnsdist);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_dnsdist_an_upstream_that_times_out_gives_servfail_then_the_answer() {
    let api = FakeApiServer::start().await.unwrap();
    api.apply(node(NODE, Some("us-east-1a"), Some("us-east-1")))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_run, run_dns) = feddns_run(dir.path(), 60, None).await;
    // `feddns run` answers the chain before the stub asks for it.
    let mut direct = Dns::udp(run_dns).await;
    expect_answer(&mut direct, WEB_ZONE, RecordType::CNAME, &[&cname(WEB_REGION)]).await;
    let gate = Gate::start(run_dns).await;
    let local = Local::with_upstream(api, "myfed=example.com", Upstream::at(gate.addr), true).await;
    let admin = local.stub().admin_addr().unwrap();
    let dnsdist = Dnsdist::start(local.stub().local_addr()).await;
    let mut dns = Dns::udp(dnsdist.addr).await;

    // The upstream never answers: SERVFAIL, with nothing in the answer (never a lone CNAME).
    let resp = dns.response(FED_WEB, RecordType::A).await.unwrap();
    assert_eq!(resp.response_code, ResponseCode::ServFail);
    assert!(resp.answers.is_empty(), "{:?}", resp.answers);
    let text = admin_get(admin, "/metrics").await.unwrap();
    assert!(
        metric(&text, "feddns_stub_chain_failures_total{reason=\"timeout\"}") >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "feddns_stub_queries_total{answer=\"servfail\"}") >= 1.0,
        "{text}"
    );

    // It answers again: the whole chain.
    gate.set_open(true);
    expect_in_order(&mut dns, FED_WEB, &web_chain()).await;
    let before = admin_get(admin, "/metrics").await.unwrap();
    let lookups = metric(&before, "feddns_stub_upstream_lookups_total");
    assert!(lookups >= 2.0, "{before}");
    // From the cache now, even with the upstream gone again: no lookup, a cache hit.
    gate.set_open(false);
    let resp = dns.response(FED_WEB, RecordType::A).await.unwrap();
    assert_eq!(in_order(&resp).len(), 4);
    let after = admin_get(admin, "/metrics").await.unwrap();
    assert_eq!(metric(&after, "feddns_stub_upstream_lookups_total"), lookups);
    assert_eq!(
        metric(&after, "feddns_stub_cache_hits_total"),
        metric(&before, "feddns_stub_cache_hits_total") + 1.0
    );
    assert!(
        metric(&after, "feddns_stub_queries_total{answer=\"federated\"}") >= 2.0,
        "{after}"
    );
    assert_eq!(metric(&after, "feddns_stub_cache_entries"), 1.0);
    // Ready, healthy, and what it answers from.
    assert_eq!(admin_get(admin, "/readyz").await.unwrap(), "ok\n");
    assert_eq!(admin_get(admin, "/healthz").await.unwrap(), "ok\n");
    let status: Value = serde_json::from_str(&admin_get(admin, "/status").await.unwrap()).unwrap();
    assert_eq!(
        status["location"],
        json!({"zone": "us-east-1a", "region": "us-east-1"})
    );
    assert_eq!(status["federations"], json!({"myfed": "example.com"}));
    assert_eq!(status["upstreams"], json!([gate.addr.to_string()]));
    assert_eq!(status["cached_chains"], 1);
    drop(dnsdist);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_with_a_ready_endpoint_gets_the_local_cname_and_its_address() {
    let mut local = Local::start("myfed=example.com", None).await;
    let web = [format!("A {WEB_IP}"), cname(LOCAL_WEB)];
    local.expect(FED_WEB, RecordType::A, &[&web[0], &web[1]]).await;
    // Types other than A: the CNAME alone (no AAAA: the Service is IPv4 only).
    for rtype in [RecordType::AAAA, RecordType::CNAME, RecordType::TXT] {
        assert_eq!(local.tcp.ask(FED_WEB, rtype).await, [cname(LOCAL_WEB)], "{rtype}");
    }
    let resp = local
        .udp
        .response("WEB.Shop.MyFed.svc.cluster.local", RecordType::A)
        .await
        .unwrap();
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert!(resp.authoritative && !resp.recursion_available);
    assert_eq!(resp.answers.len(), 2);
    let answer = &resp.answers[0];
    assert_eq!((answer.ttl, resp.answers[1].ttl), (30, 30));
    assert!(
        answer
            .name
            .to_ascii()
            .eq_ignore_ascii_case("web.shop.myfed.svc.cluster.local.")
    );
    assert!(matches!(&answer.data, RData::CNAME(c) if c.0.to_ascii() == "web.shop.svc.cluster.local."));
    // The endpoint stops being ready: now the federated name, which nothing resolves here:
    // SERVFAIL for addresses, never the CNAME alone.
    local.api.apply(slice("shop", "web", &[false])).unwrap();
    local.expect_cname(FED_WEB, WEB_ZONE).await;
    local.expect(FED_WEB, RecordType::A, &["ServFail"]).await;
    // And ready again.
    local.api.apply(slice("shop", "web", &[true])).unwrap();
    local.expect(FED_WEB, RecordType::A, &[&web[0], &web[1]]).await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ready_endpoint_or_no_service_gets_the_cname_with_this_nodes_zone_and_region() {
    let mut local = Local::start("myfed=example.com", None).await;
    local
        .expect_cname(FED_IDLE, "idle.shop.myfed.svc.us-east-1a.us-east-1.example.com")
        .await;
    local
        .expect_cname(
            "ghost.other.myfed.svc.cluster.local",
            "ghost.other.myfed.svc.us-east-1a.us-east-1.example.com",
        )
        .await;
    // The Service goes away while its endpoint is ready: federated too.
    local.expect_cname(FED_WEB, LOCAL_WEB).await;
    local.api.delete("v1", "Service", Some("shop"), "web");
    local.expect_cname(FED_WEB, WEB_ZONE).await;
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
        .expect_cname(FED_IDLE, "idle.shop.myfed.svc.old-zone.old-region.example.com")
        .await;
    // Topology labels win over beta labels.
    let mut relabeled = beta_node(NODE, "old-zone", "old-region");
    relabeled["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("eu-west-1b");
    relabeled["metadata"]["labels"]["topology.kubernetes.io/region"] = json!("eu-west-1");
    local.api.apply(relabeled).unwrap();
    local
        .expect_cname(FED_IDLE, "idle.shop.myfed.svc.eu-west-1b.eu-west-1.example.com")
        .await;
    // Without zone and region labels there is no federated answer; other nodes do not count.
    local.api.apply(node(NODE, None, None)).unwrap();
    local.expect(FED_IDLE, RecordType::CNAME, &["ServFail"]).await;
    // The node deleted: the same.
    local.api.apply(node(NODE, Some("z1"), Some("r1"))).unwrap();
    local
        .expect_cname(FED_IDLE, "idle.shop.myfed.svc.z1.r1.example.com")
        .await;
    local.api.delete("v1", "Node", None, NODE);
    local.expect(FED_IDLE, RecordType::CNAME, &["ServFail"]).await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_federations_wrong_shapes_and_wildcards_are_nxdomain() {
    let mut local = Local::start("myfed=example.com", None).await;
    local.expect_cname(FED_WEB, LOCAL_WEB).await;
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
        local.expect(name, RecordType::A, &["NXDOMAIN"]).await;
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
    local.expect_cname(FED_WEB, LOCAL_WEB).await;
    for name in [
        "www.example.com",
        "cluster.local",
        "web.shop.myfed.svc.other.local",
        "web.shop.myfed.svc.cluster.local.example.com",
        "kubernetes.default.pod.cluster.local",
    ] {
        local.expect(name, RecordType::A, &["REFUSED"]).await;
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
    let idle_in = |domain: &str| format!("idle.shop.myfed.svc.us-east-1a.us-east-1.{domain}");
    // The ConfigMap wins over the flag.
    local.expect_cname(FED_IDLE, &idle_in("example.org")).await;
    local
        .api
        .apply(kube_dns_configmap("myfed=example.net, other=other.com"))
        .unwrap();
    local.expect_cname(FED_IDLE, &idle_in("example.net")).await;
    local
        .expect_cname("web.shop.other.svc.cluster.local", LOCAL_WEB)
        .await;
    // A federation dropped from the map: its names are NXDOMAIN.
    local.api.apply(kube_dns_configmap("other=other.com")).unwrap();
    local.expect(FED_WEB, RecordType::A, &["NXDOMAIN"]).await;
    // The key removed: the flag's map again.
    local
        .api
        .apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                      "data": {"stubDomains": "{}"}}))
        .unwrap();
    local.expect_cname(FED_IDLE, &idle_in("example.com")).await;
    local
        .expect("web.shop.other.svc.cluster.local", RecordType::A, &["NXDOMAIN"])
        .await;
    // Created again, then deleted: the flag's map again.
    local.api.apply(kube_dns_configmap("myfed=example.org")).unwrap();
    local.expect_cname(FED_IDLE, &idle_in("example.org")).await;
    assert!(
        local
            .api
            .delete("v1", "ConfigMap", Some("kube-system"), "kube-dns")
    );
    local.expect_cname(FED_IDLE, &idle_in("example.com")).await;
    // Another ConfigMap of the same name elsewhere does not count.
    let mut elsewhere = kube_dns_configmap("myfed=wrong.example");
    elsewhere["metadata"]["namespace"] = json!("default");
    local.api.apply(elsewhere).unwrap();
    local.api.apply(kube_dns_configmap("myfed=example.org")).unwrap();
    local.expect_cname(FED_IDLE, &idle_in("example.org")).await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configmap_value_keeps_the_map_in_use() {
    let mut local = Local::start("myfed=example.com", Some("myfed=example.org")).await;
    let before = "idle.shop.myfed.svc.us-east-1a.us-east-1.example.org";
    local.expect_cname(FED_IDLE, before).await;
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
        assert_eq!(local.udp.ask(FED_IDLE, RecordType::CNAME).await, [cname(before)]);
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
        .expect_cname(FED_IDLE, "idle.shop.myfed.svc.us-east-1a.us-east-1.example.net")
        .await;
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_cluster_is_listed_federation_queries_are_servfail_and_not_ready() {
    let api = FakeApiServer::start().await.unwrap();
    api.stop().await;
    let mut local = Local::with_upstream(api, "myfed=example.com", Upstream::none(), true).await;
    let admin = local.stub().admin_addr().unwrap();
    assert_eq!(local.udp.ask(FED_WEB, RecordType::CNAME).await, ["ServFail"]);
    assert_eq!(local.tcp.ask("www.example.com", RecordType::A).await, ["REFUSED"]);
    assert_eq!(
        local.tcp.ask("a.b.nofed.svc.cluster.local", RecordType::A).await,
        ["NXDOMAIN"]
    );
    let e = admin_get(admin, "/readyz").await.unwrap_err();
    assert!(e.to_string().contains("not listed yet"), "{e}");
    // The API server comes back: the stub lists it and answers.
    local.api.restart().await.unwrap();
    local.api.apply(node(NODE, Some("z1"), Some("r1"))).unwrap();
    local
        .expect_cname(FED_WEB, "web.shop.myfed.svc.z1.r1.example.com")
        .await;
    assert_eq!(admin_get(admin, "/readyz").await.unwrap(), "ok\n");
    local.stop().await;
}

/// `feddns stub ARGS` with `env` set (`None`: removed) and no NODE_NAME unless given; whether it
/// succeeded and its stderr.
fn feddns_stub_env(args: &[&str], env: &[(&str, Option<&str>)]) -> (bool, String) {
    let mut command = Running::command();
    command.arg("stub").args(args).env_remove("NODE_NAME");
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let out = command.output().expect("run feddns");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn feddns_stub(args: &[&str]) -> (bool, String) {
    feddns_stub_env(args, &[])
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
        (
            &["--upstream", "dns.example.com"],
            "--upstream: \"dns.example.com\" is not an IP address",
        ),
        (
            &["--upstream", "10.0.0.1:0"],
            "--upstream: \"10.0.0.1:0\": port 0",
        ),
        (&["--upstream-timeout", "soon"], "--upstream-timeout"),
        (
            &["--upstream-timeout", "0s"],
            "--upstream-timeout must be more than 0",
        ),
        (&["--cache-size", "lots"], "--cache-size"),
        (&["--admin", "localhost"], "--admin"),
    ] {
        let mut all: Vec<&str> = node.to_vec();
        if args[0] != "--upstream" {
            all.extend(["--upstream", "127.0.0.1"]);
        }
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
    let (ok, err) = feddns_stub(&[&node[..], &["--upstream", "127.0.0.1"]].concat());
    assert!(
        !ok && err.contains("cannot reach the cluster through --kubeconfig /nonexistent/kubeconfig"),
        "{err}"
    );
}

#[test]
fn without_flags_the_cluster_is_found_as_kubectl_finds_it_and_errors_name_where() {
    let args = ["--node-name", "n1", "--upstream", "127.0.0.1"];
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    // $KUBECONFIG first.
    let (ok, err) = feddns_stub_env(
        &args,
        &[
            ("KUBECONFIG", Some("/nonexistent/env.kubeconfig")),
            ("HOME", Some(home_path)),
        ],
    );
    assert!(
        !ok && err.contains("cannot reach the cluster through $KUBECONFIG (/nonexistent/env.kubeconfig)"),
        "{err}"
    );
    // Neither $KUBECONFIG nor ~/.kube/config: the pod's service account, which is not there.
    let no_pod = [
        ("KUBECONFIG", None),
        ("HOME", Some(home_path)),
        ("KUBERNETES_SERVICE_HOST", None),
        ("KUBERNETES_SERVICE_PORT", None),
    ];
    let (ok, err) = feddns_stub_env(&args, &no_pod);
    assert!(!ok && err.contains("the pod's service account"), "{err}");
    // ~/.kube/config when it exists.
    std::fs::create_dir(home.path().join(".kube")).unwrap();
    std::fs::write(home.path().join(".kube/config"), "apiVersion: v1\nkind: Config\n").unwrap();
    let (ok, err) = feddns_stub_env(&args, &no_pod);
    assert!(!ok && err.contains("~/.kube/config ("), "{err}");
    assert!(err.contains("current-context"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_over_dns_and_serves_metrics() {
    let api = FakeApiServer::start().await.unwrap();
    api.apply(node(NODE, Some("z1"), Some("r1"))).unwrap();
    api.apply(cluster_ip_service("shop", "web")).unwrap();
    api.apply(slice("shop", "web", &[true])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "local").unwrap();
    let mut command = Running::command();
    command
        .args([
            "stub",
            "--federations",
            "myfed=example.com",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .env("NODE_NAME", NODE)
        .env_remove("FEDDNS_LOG");
    let stub = Running::spawn(command);
    let addr = stub.addr_of("stub DNS server listening").await;
    let admin = stub.addr_of("admin server listening").await;
    // Without --upstream, the nameservers of /etc/resolv.conf.
    let listening = stub
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("stub DNS server listening"))
        .cloned()
        .unwrap();
    let servers = feddns::stub::upstream::resolv_conf_nameservers(Path::new("/etc/resolv.conf")).unwrap();
    let shown: Vec<String> = servers.iter().map(ToString::to_string).collect();
    assert!(
        listening.contains(&format!("upstream={}", shown.join(","))),
        "{listening}"
    );

    let mut dns = Dns::udp(addr).await;
    dns.expect_a(FED_WEB, &[&format!("A {WEB_IP}"), &cname(LOCAL_WEB)])
        .await;
    api.delete("discovery.k8s.io/v1", "EndpointSlice", Some("shop"), "web-abcde");
    expect_answer(
        &mut dns,
        FED_WEB,
        RecordType::CNAME,
        &[&cname("web.shop.myfed.svc.z1.r1.example.com")],
    )
    .await;
    let text = admin_get(admin, "/metrics").await.unwrap();
    assert!(
        metric(&text, "feddns_stub_queries_total{answer=\"local\"}") >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "feddns_stub_queries_total{answer=\"cname\"}") >= 1.0,
        "{text}"
    );
    assert_eq!(metric(&text, "feddns_stub_local_services"), 0.0, "{text}");
    drop(stub);
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
    assert!(args.iter().any(|a| a == "--admin=0.0.0.0:9153"), "{args:?}");
    // Every argument is one the binary takes (with NODE_NAME, from the downward API).
    let argv = std::iter::once("feddns".to_string())
        .chain(args.clone())
        .chain(["--node-name=n1".to_string()]);
    let parsed = <feddns::cli::Cli as clap::Parser>::try_parse_from(argv);
    assert!(parsed.is_ok(), "{args:?}: {}", parsed.err().unwrap());
    // The node's resolvers are the upstream, not CoreDNS (which forwards to the stub).
    assert_eq!(pod.dns_policy.as_deref(), Some("Default"));
    // Ready when listed, alive while the follow loop turns: the admin port.
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = p.as_ref().unwrap().http_get.as_ref().unwrap();
        (get.path.clone().unwrap(), get.port.clone())
    };
    let admin = k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("admin".into());
    assert_eq!(
        probe(&container.readiness_probe),
        ("/readyz".into(), admin.clone())
    );
    assert_eq!(probe(&container.liveness_probe), ("/healthz".into(), admin));
    assert_eq!(
        container_ports(container),
        BTreeSet::from([
            ("dns".into(), 5353, "UDP".into()),
            ("dns-tcp".into(), 5353, "TCP".into()),
            ("admin".into(), 9153, "TCP".into())
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
