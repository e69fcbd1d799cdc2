//! Alongside a federation control plane: a fake API server as the host cluster (member
//! registries, the Lease), fake member clusters, whole `feddns run` instances in-process
//! ([`feddns::control::runner::Instance`]) writing to a shared in-memory zone, and the admin port.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_apiserver::FakeApiServer;
use feddns::config::Config;
use feddns::control::runner::Instance;
use feddns_provider::{MemoryProvider, Provider};
use serde_json::{Value, json};

use crate::common::*;
use crate::kube::{lb, node, slice};

/// A member cluster serving `default/nginx` at `ip` from one node in `zone`/`region`.
async fn member(region: &str, zone: &str, ip: &str) -> FakeApiServer {
    let api = FakeApiServer::start().await.unwrap();
    api.apply(node("n1", Some(zone), Some(region))).unwrap();
    api.apply(lb("default", "nginx", &[ip])).unwrap();
    api.apply(slice("default", "nginx", &[true])).unwrap();
    api
}

fn b64(text: &str) -> Value {
    serde_json::to_value(k8s_openapi::ByteString(text.as_bytes().to_vec())).unwrap()
}

fn secret(ns: &str, name: &str, labels: Value, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| ((*k).to_string(), b64(v))).collect();
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": ns, "labels": labels},
           "data": data})
}

const FED_NS: &str = "kube-federation-system";
const TIMING: &str = "controller: { debounce: 20ms, max_debounce: 200ms, file_poll: 50ms, \
                      watch_backoff: 50ms, watch_backoff_max: 200ms }\n\
                      safety: { member_grace: 3s }\n";

/// The values at `name` (type and values of every set), sorted.
async fn records(zone: &MemoryProvider, name: &str) -> Vec<String> {
    let mut out: Vec<String> = zone
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name == name)
        .map(|s| format!("{} {}", s.rtype, s.values.join(" ")))
        .collect();
    out.sort();
    out
}

async fn expect_records(zone: &MemoryProvider, name: &str, want: &[&str]) {
    eventually(&format!("{name} holds {want:?}"), || async {
        let got = records(zone, name).await;
        if got.iter().map(String::as_str).eq(want.iter().copied()) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
}

fn region_name(region: &str) -> String {
    format!("nginx.default.myfed.svc.{region}.example.com")
}

struct Host {
    dir: tempfile::TempDir,
    api: FakeApiServer,
}

impl Host {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let api = FakeApiServer::start().await.unwrap();
        api.write_kubeconfig(&dir.path().join("host.kubeconfig"), "host")
            .unwrap();
        Self { dir, api }
    }

    /// A config file using this host, with `extra` sections.
    fn config(&self, name: &str, extra: &str) -> Config {
        let path = self.dir.path().join(name);
        let text = format!(
            "federation: myfed\ndomain: example.com\nprovider: {{ embedded: {{ listen: 127.0.0.1:0 }} }}\n\
             {TIMING}host: {{ kubeconfig: host.kubeconfig, context: host }}\n{extra}"
        );
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }

    /// A kubeconfig Secret for `member` (labelled as a feddns member).
    fn join(&self, name: &str, member: &FakeApiServer) {
        self.api
            .apply(secret(
                FED_NS,
                name,
                json!({"feddns.io/member": "true"}),
                &[("kubeconfig", &member.kubeconfig(name))],
            ))
            .unwrap();
    }
}

/// An instance on the shared zone, through a [`Probe`] that counts its provider calls.
async fn start(cfg: Config, zone: &Arc<MemoryProvider>) -> (Instance, Arc<Probe>) {
    let probe = Probe::new(zone.clone());
    let instance = Instance::start(cfg, probe.clone(), Arc::new(NoResolve), false)
        .await
        .unwrap();
    (instance, probe)
}

const SECRETS: &str = "discovery:\n  - kubeconfig_secrets: { namespace: kube-federation-system, selector: feddns.io/member=true }\n";

/// `kubectl create secret generic cluster1 --from-file=kubeconfig` (plus a label) joins a
/// member; deleting the Secret unjoins it and its records go.
#[tokio::test]
async fn kubeconfig_secrets_join_and_leave() {
    let host = Host::start().await;
    let us = member("us-east-1", "us-east-1a", "192.0.2.1").await;
    let eu = member("eu-west-1", "eu-west-1a", "192.0.2.2").await;
    host.join("us", &us);
    // An unlabelled Secret is not a member.
    host.api
        .apply(secret(
            FED_NS,
            "other",
            json!({}),
            &[("kubeconfig", &eu.kubeconfig("eu"))],
        ))
        .unwrap();
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let (instance, _) = start(host.config("c.yaml", SECRETS), &zone).await;
    expect_records(&zone, GLOBAL, &["A 192.0.2.1"]).await;

    host.join("eu", &eu);
    expect_records(&zone, GLOBAL, &["A 192.0.2.1 192.0.2.2"]).await;
    expect_records(&zone, &region_name("eu-west-1"), &["A 192.0.2.2"]).await;

    assert!(host.api.delete("v1", "Secret", Some(FED_NS), "us"));
    expect_records(&zone, GLOBAL, &["A 192.0.2.2"]).await;
    expect_records(&zone, &region_name("us-east-1"), &[]).await;
    instance.stop().await.unwrap();
}

/// Every registry kind at once, one member each, plus a broken entry that is reported on its
/// member and holds back nothing else.
#[tokio::test]
async fn all_four_registries_and_a_broken_secret() {
    let host = Host::start().await;
    host.api.register(
        "core.kubefed.io/v1beta1",
        "KubeFedCluster",
        "kubefedclusters",
        true,
    );
    host.api
        .register("cluster.karmada.io/v1alpha1", "Cluster", "clusters", false);
    let a = member("r-secret", "z-a", "192.0.2.11").await;
    let b = member("r-kubefed", "z-b", "192.0.2.12").await;
    let c = member("r-karmada", "z-c", "192.0.2.13").await;
    let d = member("r-capi", "z-d", "192.0.2.14").await;
    host.join("secret-member", &a);
    // kubefed: KubeFedCluster + token Secret in its namespace.
    host.api
        .apply(
            json!({"apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
                      "metadata": {"name": "kubefed-member", "namespace": FED_NS},
                      "spec": {"apiEndpoint": b.url(), "secretRef": {"name": "kubefed-member-token"}}}),
        )
        .unwrap();
    host.api
        .apply(secret(
            FED_NS,
            "kubefed-member-token",
            json!({}),
            &[("token", "t0k3n")],
        ))
        .unwrap();
    // Karmada: Cluster (cluster-scoped) + Secret in karmada-cluster.
    host.api
        .apply(
            json!({"apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster",
                      "metadata": {"name": "karmada-member"},
                      "spec": {"apiEndpoint": c.url(), "syncMode": "Push",
                               "secretRef": {"namespace": "karmada-cluster", "name": "karmada-member"}}}),
        )
        .unwrap();
    host.api
        .apply(secret(
            "karmada-cluster",
            "karmada-member",
            json!({}),
            &[("token", "t0k3n")],
        ))
        .unwrap();
    // Cluster API: <cluster>-kubeconfig with key `value`.
    host.api
        .apply(secret(
            "fleet",
            "capi-member-kubeconfig",
            json!({"cluster.x-k8s.io/cluster-name": "capi-member"}),
            &[("value", &d.kubeconfig("capi-member"))],
        ))
        .unwrap();
    // A broken kubeconfig Secret.
    host.api
        .apply(secret(
            FED_NS,
            "broken",
            json!({"feddns.io/member": "true"}),
            &[("kubeconfig", "this: [is not a kubeconfig")],
        ))
        .unwrap();
    let extra = format!(
        "{SECRETS}  - kubefed: {{ namespace: {FED_NS} }}\n  - karmada: {{}}\n  - cluster_api: {{ namespace: fleet }}\n\
         admin: {{ listen: 127.0.0.1:0 }}\n"
    );
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let (instance, _) = start(host.config("c.yaml", &extra), &zone).await;
    for (region, ip) in [
        ("r-secret", "A 192.0.2.11"),
        ("r-kubefed", "A 192.0.2.12"),
        ("r-karmada", "A 192.0.2.13"),
        ("r-capi", "A 192.0.2.14"),
    ] {
        expect_records(&zone, &region_name(region), &[ip]).await;
    }
    let status = instance.status().get().await.unwrap();
    let names: Vec<&str> = status.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "broken",
            "capi-member",
            "karmada-member",
            "kubefed-member",
            "secret-member"
        ]
    );
    let broken = &status.members[0];
    assert_ne!(broken.status, "synced");
    let error = broken.error.as_deref().unwrap_or_default();
    assert!(error.contains("broken"), "{error}");
    // The broken member is down after the grace; the others' records stay and the gate opens.
    eventually("the broken member is declared down", || async {
        let s = instance.status().get().await.unwrap();
        match s.members[0].status.as_str() {
            "down" if s.settled => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    expect_records(&zone, GLOBAL, &["A 192.0.2.11 192.0.2.12 192.0.2.13 192.0.2.14"]).await;
    // Fixing the Secret brings the member in.
    let e = member("r-fixed", "z-e", "192.0.2.15").await;
    host.api
        .apply(secret(
            FED_NS,
            "broken",
            json!({"feddns.io/member": "true"}),
            &[("kubeconfig", &e.kubeconfig("broken"))],
        ))
        .unwrap();
    expect_records(&zone, &region_name("r-fixed"), &["A 192.0.2.15"]).await;
    instance.stop().await.unwrap();
}

/// Kubeconfig Secrets (and a Cluster API Secret) broken right next to a credential: each is a
/// failed member whose error names the Secret, the key, the line and the column, and neither that
/// error (in the status report, on `/status`, in `feddns status`) nor any log line shows anything
/// of the Secret's content.
#[tokio::test]
async fn broken_kubeconfig_secrets_never_show_their_credentials() {
    let (logs, _guard) = Logs::capture();
    let host = Host::start().await;
    let us = member("us-east-1", "us-east-1a", "192.0.2.1").await;
    host.join("us", &us);
    let cases = broken_kubeconfigs();
    let mut want = BTreeMap::new();
    for (i, (_, text, line, column)) in cases.iter().enumerate() {
        let name = format!("broken-{i}");
        host.api
            .apply(secret(
                FED_NS,
                &name,
                json!({"feddns.io/member": "true"}),
                &[("kubeconfig", text)],
            ))
            .unwrap();
        want.insert(
            name.clone(),
            format!("Secret {FED_NS}/{name}: key `kubeconfig` is not a valid kubeconfig: line {line}, column {column}: "),
        );
    }
    let (_, text, line, column) = &cases[0];
    host.api
        .apply(secret(
            "fleet",
            "capi-broken-kubeconfig",
            json!({"cluster.x-k8s.io/cluster-name": "capi-broken"}),
            &[("value", text)],
        ))
        .unwrap();
    want.insert(
        "capi-broken".to_string(),
        format!("Secret fleet/capi-broken-kubeconfig: key `value` is not a valid kubeconfig: line {line}, column {column}: "),
    );
    let extra =
        format!("{SECRETS}  - cluster_api: {{ namespace: fleet }}\nadmin: {{ listen: 127.0.0.1:0 }}\n");
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let (instance, _) = start(host.config("c.yaml", &extra), &zone).await;
    expect_records(&zone, GLOBAL, &["A 192.0.2.1"]).await;
    eventually("every broken member reports its error", || async {
        let status = instance.status().get().await.unwrap();
        for (name, error) in &want {
            let got = status
                .members
                .iter()
                .find(|m| &m.name == name)
                .and_then(|m| m.error.clone())
                .unwrap_or_default();
            assert_no_secret(&format!("member {name}'s error"), &got);
            if !got.contains(error) {
                return Err(format!("member {name}: {got:?} does not contain {error:?}"));
            }
        }
        Ok(())
    })
    .await;
    let addr = instance.admin_addr().unwrap();
    assert_no_secret("/status", &get(addr, "/status").await);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_feddns"))
        .args(["status", "--admin", &addr.to_string()])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains("capi-broken"), "{table}");
    assert_no_secret(
        "feddns status",
        &format!("{table}{}", String::from_utf8_lossy(&out.stderr)),
    );
    eventually("the logs name every broken Secret", || async {
        let text = logs.text();
        match want.values().find(|w| !text.contains(w.as_str())) {
            None => Ok(()),
            Some(w) => Err(format!("{w:?} not logged")),
        }
    })
    .await;
    instance.stop().await.unwrap();
    assert_no_secret("the logs", &logs.text());
}

async fn wait_leader(instances: &[&Instance]) -> usize {
    let mut found = None;
    eventually("one instance leads", || {
        let leading: Vec<usize> = instances
            .iter()
            .enumerate()
            .filter(|(_, i)| *i.leader().unwrap().borrow())
            .map(|(n, _)| n)
            .collect();
        found = leading.first().copied();
        async move {
            match leading.len() {
                1 => Ok(()),
                n => Err(format!("{n} leaders")),
            }
        }
    })
    .await;
    found.unwrap()
}

const ELECTION: &str =
    "leader_election: { lease: feddns, namespace: feddns, lease_duration: 2s, renew_interval: 200ms }\n";

/// Two instances on one Lease: exactly one writes. The leader stops (gracefully, releasing the
/// Lease; then by crashing): the other takes over and converges a change made meanwhile.
#[tokio::test]
async fn two_instances_one_lease_failover() {
    let host = Host::start().await;
    let us = member("us-east-1", "us-east-1a", "192.0.2.1").await;
    host.join("us", &us);
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let with_id = |id: &str| {
        format!(
            "{SECRETS}{}",
            ELECTION.replace("renew_interval", &format!("identity: {id}, renew_interval"))
        )
    };
    let (a, a_writes) = start(host.config("a.yaml", &with_id("a")), &zone).await;
    let (b, b_writes) = start(host.config("b.yaml", &with_id("b")), &zone).await;
    expect_records(&zone, GLOBAL, &["A 192.0.2.1"]).await;
    let first = wait_leader(&[&a, &b]).await;
    let (leader, leader_writes, follower, follower_writes) = if first == 0 {
        (a, a_writes, b, b_writes)
    } else {
        (b, b_writes, a, a_writes)
    };
    // Only the leader wrote; the follower is warm (it follows the members) but made no
    // provider call at all: not a write, not a listing (Route53's quota is account-wide).
    assert!(leader_writes.applies() > 0);
    assert_eq!(follower_writes.calls(), 0, "the follower called the provider");
    let lease = host
        .api
        .get("coordination.k8s.io/v1", "Lease", Some("feddns"), "feddns")
        .unwrap();
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap().to_string();
    assert_eq!(holder, if first == 0 { "a" } else { "b" });

    // Graceful stop: the Lease is released, the follower takes over at its next try.
    let stopped = Instant::now();
    leader.stop().await.unwrap();
    us.apply(lb("default", "nginx", &["192.0.2.9"])).unwrap();
    eventually("the follower leads", || {
        let l = *follower.leader().unwrap().borrow();
        async move { if l { Ok(()) } else { Err("not yet".into()) } }
    })
    .await;
    let took_over = stopped.elapsed();
    expect_records(&zone, GLOBAL, &["A 192.0.2.9"]).await;
    let converged = stopped.elapsed();
    assert!(follower_writes.applies() > 0);
    eprintln!("failover after a graceful stop: leader in {took_over:?}, change converged in {converged:?}");

    // A crash: no release; a new instance takes over once the Lease expires (2 s).
    let (c, c_writes) = start(host.config("c.yaml", &with_id("c")), &zone).await;
    let crashed = Instant::now();
    follower.abort().await;
    us.apply(lb("default", "nginx", &["192.0.2.10"])).unwrap();
    expect_records(&zone, GLOBAL, &["A 192.0.2.10"]).await;
    let converged = crashed.elapsed();
    assert!(*c.leader().unwrap().borrow());
    assert!(c_writes.applies() > 0);
    assert!(
        converged >= Duration::from_secs(2),
        "took over before the 2 s lease expired: {converged:?}"
    );
    eprintln!("failover after a crash (lease_duration 2s): change converged in {converged:?}");
    c.stop().await.unwrap();
}

/// When `rx` (a leader flag) first turns `to`, by the test's clock.
fn when_leading_is(
    mut rx: tokio::sync::watch::Receiver<bool>,
    to: bool,
) -> tokio::task::JoinHandle<tokio::time::Instant> {
    tokio::spawn(async move {
        let _ = rx.wait_for(|l| *l == to).await;
        tokio::time::Instant::now()
    })
}

/// A leader whose Lease calls hang (its API server stops answering; the member clusters still
/// answer): it stops writing within its renew deadline, before the Lease expires, though the
/// hung call never returns; the other replica takes over, and from then on its writes are the
/// only ones.
#[tokio::test]
async fn a_leader_whose_lease_calls_hang_stops_writing_before_the_lease_expires() {
    let host = Host::start().await;
    let us = member("us-east-1", "us-east-1a", "192.0.2.1").await;
    us.write_kubeconfig(&host.dir.path().join("us.kubeconfig"), "us")
        .unwrap();
    // Replica a reaches the host cluster through a proxy that can hang.
    let proxy = HangingProxy::start(host.api.addr()).await;
    std::fs::write(
        host.dir.path().join("host-a.kubeconfig"),
        host.api.kubeconfig("host").replace(&host.api.url(), &proxy.url()),
    )
    .unwrap();
    let members = "members: [{ name: us, kubeconfig: us.kubeconfig, context: us }]
";
    let with_id = |id: &str| {
        format!(
            "{members}{}",
            ELECTION.replace("renew_interval", &format!("identity: {id}, renew_interval"))
        )
    };
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let a_cfg = host.config("a.yaml", &with_id("a")).source.clone();
    let text = std::fs::read_to_string(&a_cfg)
        .unwrap()
        .replace("kubeconfig: host.kubeconfig", "kubeconfig: host-a.kubeconfig");
    std::fs::write(&a_cfg, text).unwrap();
    let (a, a_writes) = start(Config::load(&a_cfg).unwrap(), &zone).await;
    eventually("a leads", || {
        let l = *a.leader().unwrap().borrow();
        async move { if l { Ok(()) } else { Err("not yet".into()) } }
    })
    .await;
    expect_records(&zone, GLOBAL, &["A 192.0.2.1"]).await;
    let (b, b_writes) = start(host.config("b.yaml", &with_id("b")), &zone).await;
    let a_stopped = when_leading_is(a.leader().unwrap(), false);
    let b_leads = when_leading_is(b.leader().unwrap(), true);

    proxy.hang(true);
    // Within a's renew deadline a may still write this; b may not yet.
    us.apply(lb("default", "nginx", &["192.0.2.20"])).unwrap();
    let a_stopped = tokio::time::timeout(DEADLINE, a_stopped)
        .await
        .expect("a stops leading although its Lease call hangs")
        .unwrap();
    let a_calls_when_fenced = a_writes.applies();
    assert!(!b_leads.is_finished(), "b took over before a stopped writing");
    // Nobody may write this until b has taken over.
    us.apply(lb("default", "nginx", &["192.0.2.21"])).unwrap();
    let b_leads = tokio::time::timeout(DEADLINE, b_leads).await.unwrap().unwrap();
    expect_records(&zone, GLOBAL, &["A 192.0.2.21"]).await;
    us.apply(lb("default", "nginx", &["192.0.2.22"])).unwrap();
    expect_records(&zone, GLOBAL, &["A 192.0.2.22"]).await;

    assert!(a_stopped < b_leads);
    assert_eq!(
        a_writes.applies(),
        a_calls_when_fenced,
        "a called the provider after it stopped leading"
    );
    let a_at = a_writes.accepted_at();
    assert!(!a_at.is_empty());
    assert!(
        a_at.iter().all(|t| *t < a_stopped),
        "a wrote after its renew deadline"
    );
    let b_at = b_writes.accepted_at();
    assert!(b_at.len() >= 2, "b wrote both later changes");
    assert!(b_at.iter().all(|t| *t >= b_leads), "b wrote before it led");
    eprintln!(
        "lease calls hung: a stopped writing after {:?}, b took over {:?} later",
        a_stopped.duration_since(a_at[a_at.len() - 1]),
        b_leads.duration_since(a_stopped)
    );
    proxy.hang(false);
    b.stop().await.unwrap();
    a.abort().await;
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    feddns::ops::admin::http_get(&addr.to_string(), path, Duration::from_secs(5))
        .await
        .unwrap()
}

/// The admin port: every documented series on /metrics, /readyz once settled, /status as JSON,
/// and `feddns status` rendering it.
#[tokio::test]
async fn admin_port_metrics_readiness_and_status() {
    let host = Host::start().await;
    let us = member("us-east-1", "us-east-1a", "192.0.2.1").await;
    host.join("us", &us);
    let extra = format!("{SECRETS}{ELECTION}admin: {{ listen: 127.0.0.1:0 }}\n");
    let zone = Arc::new(MemoryProvider::plain("example.com"));
    let (instance, _) = start(host.config("c.yaml", &extra), &zone).await;
    let addr = instance.admin_addr().unwrap();
    expect_records(&zone, GLOBAL, &["A 192.0.2.1"]).await;
    eventually("ready", || async {
        let r = feddns::ops::admin::http_get(&addr.to_string(), "/readyz", Duration::from_secs(5)).await;
        match r {
            Ok(body) if body.trim() == "ok" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(get(addr, "/healthz").await.trim(), "ok");
    let metrics = get(addr, "/metrics").await;
    for series in [
        "feddns_members{state=\"synced\"} 1",
        "feddns_member_synced{member=\"us\"} 1",
        "feddns_member_down{member=\"us\"} 0",
        "feddns_federated_services 1",
        "feddns_owned_records ",
        "feddns_changes_applied_total{op=\"create\"} ",
        "feddns_provider_calls_total{provider=\"memory\",operation=\"apply\"} ",
        "feddns_provider_errors_total",
        "feddns_provider_throttles_total",
        "feddns_conflicts 0",
        "feddns_quarantined_names 0",
        "feddns_plan_duration_seconds_count ",
        "feddns_convergence_seconds_count ",
        "feddns_leader 1",
        "feddns_member_events_total{member=\"us\"} ",
        "feddns_apply_failures_total 0",
        "feddns_build_info{version=",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from /metrics:\n{metrics}"
        );
    }
    let status: feddns::ops::status::StatusReport =
        serde_json::from_str(&get(addr, "/status").await).unwrap();
    assert_eq!(status.leader, Some(true));
    assert_eq!(status.members[0].name, "us");
    assert_eq!(status.services[0].service, "default/nginx");

    // `feddns status` against the running instance, as a table and as JSON.
    let bin = env!("CARGO_BIN_EXE_feddns");
    let out = tokio::process::Command::new(bin)
        .args(["status", "--admin", &addr.to_string()])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "leader (writing)",
        "us-east-1a",
        "synced",
        "default/nginx",
        "healthy: us",
        GLOBAL,
    ] {
        assert!(table.contains(want), "{want:?} missing from\n{table}");
    }
    let out = tokio::process::Command::new(bin)
        .args(["status", "--admin", &addr.to_string(), "--output", "json"])
        .output()
        .await
        .unwrap();
    let json: feddns::ops::status::StatusReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.services, status.services);
    // Nothing listening: a clear error and a non-zero exit.
    let out = tokio::process::Command::new(bin)
        .args(["status", "--admin", "127.0.0.1:1"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot get the status from 127.0.0.1:1"));
    instance.stop().await.unwrap();
    drop(host);
}

#[test]
fn host_settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        Config::parse(text, &dir.path().join("c.yaml"))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let base = "federation: f\ndomain: example.com\nprovider: { embedded: { listen: 127.0.0.1:0 } }\n";
    let e = check(base);
    assert!(e.contains("field `members`") && e.contains("discovery"), "{e}");
    let e = check(&format!(
        "{base}discovery:\n  - kubeconfig_secrets: {{ selector: \"\" }}\n"
    ));
    assert!(
        e.contains("field `discovery[0]`") && e.contains("must not be empty"),
        "{e}"
    );
    let e = check(&format!(
        "{base}members: [{{ name: a, file: a.yaml }}]\nleader_election: {{ lease_duration: 2s, renew_interval: 1500ms }}\n"
    ));
    assert!(e.contains("leader_election.renew_interval"), "{e}");
    let e = check(&format!(
        "{base}members: [{{ name: a, file: a.yaml }}]\nhost: {{ in_cluster: true, context: x }}\n"
    ));
    assert!(e.contains("field `host`"), "{e}");
}
