//! Member discovery: `members::discovery::follow` with the real kube client and watchers against a
//! fake host API server holding kubeconfig Secrets, KubeFedClusters, Karmada Clusters and Cluster
//! API Secrets.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use feddns::members::discovery::{Discovered, DiscoverySettings, RegistryConfig, follow};
use k8s_openapi::ByteString;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::common::DEADLINE;

/// A self-signed test CA (EC P-256, valid until 2126), generated for these tests with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500`.
const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUOgAwIBAgIUW8UtBTFo4iNrP/kmbPBIJ8OVv6kwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYZmVkZG5zLWRpc2NvdmVyeS10ZXN0LWNhMCAXDTI2MTEyMTE4
MjAwN1oYDzIxMjYxMDI4MTgyMDA3WjAjMSEwHwYDVQQDDBhmZWRkbnMtZGlzY292
ZXJ5LXRlc3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARvVmV4PW9aVi+E
MrG/3urWNWcdy8qoEvBdXZw3d6sP/0hZbAMss5JK9vfqrkE80qLeqjoDJUap8Fgm
bGLfxpCEo1MwUTAdBgNVHQ4EFgQUDsp6EvIufif4711Y0IXq2vrrBuIwHwYDVR0j
BBgwFoAUDsp6EvIufif4711Y0IXq2vrrBuIwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEAppBRzqHdBXELydeHXEKHAarDw/9cZ1Q0nf/GkFl9x4MC
IQCkDtZhD/13jmYaJwsmIOBuyP4fc8Azpy00dZnsp+wdVg==
-----END CERTIFICATE-----
";

const KUBEFED: (&str, &str, &str) = ("core.kubefed.io/v1beta1", "KubeFedCluster", "kubefedclusters");
const KARMADA: (&str, &str, &str) = ("cluster.karmada.io/v1alpha1", "Cluster", "clusters");
const KFS: &str = "kube-federation-system";

type Members = Option<BTreeMap<String, Discovered>>;

fn b64(bytes: &[u8]) -> Value {
    serde_json::to_value(ByteString(bytes.to_vec())).unwrap()
}

fn secret(ns: &str, name: &str, labels: Value, data: &[(&str, &[u8])]) -> Value {
    let data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| (k.to_string(), b64(v))).collect();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "type": "Opaque",
        "data": data,
    })
}

/// A kubeconfig for `server` with a bearer token.
fn kubeconfig_text(server: &str) -> String {
    json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "member-token"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    })
    .to_string()
}

/// Discovery running against a fake host.
struct Host {
    api: FakeApiServer,
    rx: watch::Receiver<Members>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn host_client(api: &FakeApiServer) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&api.kubeconfig("host")).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

impl Host {
    /// Starts discovery of `registries` on `api` (already seeded as the test wishes).
    async fn follow(api: FakeApiServer, registries: Vec<RegistryConfig>) -> Self {
        let client = host_client(&api).await;
        let (tx, rx) = watch::channel(None);
        let settings = DiscoverySettings {
            backoff: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
        };
        let task = tokio::spawn(follow(client, registries, settings, tx));
        Self { api, rx, task }
    }

    /// Waits (up to the deadline) until the published map passes `check`; returns it.
    async fn until(
        &mut self,
        what: &str,
        check: impl Fn(&BTreeMap<String, Discovered>) -> Result<(), String>,
    ) -> BTreeMap<String, Discovered> {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let last = match &*self.rx.borrow_and_update() {
                None => "nothing published yet".to_string(),
                Some(map) => match check(map) {
                    Ok(()) => return map.clone(),
                    Err(e) => format!("{e}; map: {map:#?}"),
                },
            };
            match tokio::time::timeout_at(end, self.rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => panic!("{what}: discovery stopped; last: {last}"),
                Err(_) => panic!("{what}: not reached within {DEADLINE:?}; last: {last}"),
            }
        }
    }
}

/// The member's kubeconfig, checked the way a member client is built; returns (server, token,
/// whether a CA is set, insecure).
async fn connect_info(d: &Discovered) -> Result<(String, String, bool, bool), String> {
    let text = d.kubeconfig.clone()?;
    let kc = Kubeconfig::from_yaml(&text).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("{}: kube refuses the kubeconfig: {e}", d.origin))?;
    let raw: Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    let token = raw["users"][0]["user"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((
        config.cluster_url.to_string().trim_end_matches('/').to_string(),
        token,
        config.root_cert.is_some(),
        config.accept_invalid_certs,
    ))
}

fn ok_member(map: &BTreeMap<String, Discovered>, name: &str) -> Result<(), String> {
    match map.get(name) {
        Some(Discovered {
            kubeconfig: Ok(_), ..
        }) => Ok(()),
        Some(d) => Err(format!("{name} is {:?}", d.kubeconfig)),
        None => Err(format!("{name} is missing")),
    }
}

fn err_member(map: &BTreeMap<String, Discovered>, name: &str, parts: &[&str]) -> Result<(), String> {
    match map.get(name).map(|d| &d.kubeconfig) {
        Some(Err(e)) if parts.iter().all(|p| e.contains(p)) => Ok(()),
        other => Err(format!(
            "{name} should be an Err containing {parts:?}, is {other:?}"
        )),
    }
}

fn absent(map: &BTreeMap<String, Discovered>, name: &str) -> Result<(), String> {
    match map.get(name) {
        None => Ok(()),
        Some(d) => Err(format!("{name} should be gone, is {d:?}")),
    }
}

#[tokio::test]
async fn kubeconfig_secrets_appear_and_disappear_with_their_label() {
    let api = FakeApiServer::start().await.unwrap();
    let label = json!({"feddns.io/member": "true"});
    let kc1 = kubeconfig_text("https://cluster1.example:6443");
    api.apply(secret(
        "fed",
        "cluster1",
        label.clone(),
        &[("kubeconfig", kc1.as_bytes())],
    ))
    .unwrap();
    api.apply(secret(
        "fed",
        "unlabelled",
        json!({}),
        &[("kubeconfig", kc1.as_bytes())],
    ))
    .unwrap();
    api.apply(secret("fed", "broken", label.clone(), &[("config", b"x")]))
        .unwrap();
    let registry = RegistryConfig::KubeconfigSecrets {
        namespace: Some("fed".into()),
        selector: "feddns.io/member=true".into(),
    };
    registry.validate().unwrap();
    let mut host = Host::follow(api, vec![registry]).await;

    let map = host
        .until("cluster1 listed", |m| {
            ok_member(m, "cluster1")?;
            err_member(m, "broken", &["Secret fed/broken", "no key `kubeconfig`"])
        })
        .await;
    assert_eq!(map.len(), 2, "the unlabelled Secret is ignored: {map:#?}");
    assert_eq!(map["cluster1"].origin, "Secret fed/cluster1");
    let (server, token, _, _) = connect_info(&map["cluster1"]).await.unwrap();
    assert_eq!(
        (server.as_str(), token.as_str()),
        ("https://cluster1.example:6443", "member-token")
    );

    // A new labelled Secret, renamed by annotation.
    let kc2 = kubeconfig_text("https://c2.example");
    let mut s2 = secret(
        "fed",
        "Cluster_2",
        label.clone(),
        &[("kubeconfig", kc2.as_bytes())],
    );
    s2["metadata"]["annotations"] = json!({"feddns.io/member-name": "cluster2"});
    host.api.apply(s2).unwrap();
    let map = host.until("cluster2 added", |m| ok_member(m, "cluster2")).await;
    assert_eq!(map["cluster2"].origin, "Secret fed/Cluster_2");

    // The label goes: the member goes.
    host.api
        .apply(secret(
            "fed",
            "cluster1",
            json!({}),
            &[("kubeconfig", kc1.as_bytes())],
        ))
        .unwrap();
    host.until("cluster1 unlabelled", |m| absent(m, "cluster1")).await;
    // Deleted: gone too.
    host.api.delete("v1", "Secret", Some("fed"), "Cluster_2");
    host.api.delete("v1", "Secret", Some("fed"), "broken");
    host.until("all gone", |m| {
        if m.is_empty() {
            Ok(())
        } else {
            Err("not empty".into())
        }
    })
    .await;
}

fn kubefed_cluster(name: &str, endpoint: &str, secret: &str) -> Value {
    json!({
        "apiVersion": KUBEFED.0, "kind": KUBEFED.1,
        "metadata": {"name": name, "namespace": KFS},
        "spec": {"apiEndpoint": endpoint, "caBundle": b64(CA.as_bytes()), "secretRef": {"name": secret}},
    })
}

#[tokio::test]
async fn kubefed_clusters_follow_their_token_secrets() {
    let api = FakeApiServer::start().await.unwrap();
    api.register(KUBEFED.0, KUBEFED.1, KUBEFED.2, true);
    api.apply(kubefed_cluster("c1", "c1.example:6443", "c1-token"))
        .unwrap();
    api.apply(kubefed_cluster("c2", "https://c2.example", "c2-token"))
        .unwrap();
    api.apply(secret(KFS, "c2-token", json!({}), &[("token", b"t2")]))
        .unwrap();
    let mut host = Host::follow(
        api,
        vec![RegistryConfig::Kubefed {
            namespace: KFS.into(),
        }],
    )
    .await;

    // c1's Secret does not exist yet: listed, with an error naming it; c2 works.
    host.until("c1 without secret", |m| {
        err_member(
            m,
            "c1",
            &[
                "KubeFedCluster kube-federation-system/c1",
                "Secret kube-federation-system/c1-token does not exist",
            ],
        )?;
        ok_member(m, "c2")
    })
    .await;

    // Created later: c1 becomes usable.
    host.api
        .apply(secret(KFS, "c1-token", json!({}), &[("token", b"t1-a\n")]))
        .unwrap();
    let map = host.until("c1 with secret", |m| ok_member(m, "c1")).await;
    assert_eq!(map["c1"].origin, "KubeFedCluster kube-federation-system/c1");
    let (server, token, ca, insecure) = connect_info(&map["c1"]).await.unwrap();
    assert_eq!(
        (server.as_str(), token.as_str(), ca, insecure),
        ("https://c1.example:6443", "t1-a", true, false)
    );

    // Token rotation is followed.
    host.api
        .apply(secret(KFS, "c1-token", json!({}), &[("token", b"t1-b")]))
        .unwrap();
    let map = host
        .until("c1 token rotated", |m| {
            let text = m["c1"].kubeconfig.clone()?;
            if text.contains("t1-b") {
                Ok(())
            } else {
                Err("old token".into())
            }
        })
        .await;
    assert_eq!(connect_info(&map["c1"]).await.unwrap().1, "t1-b");

    // The key goes, then the Secret: c1 stays listed with an error; c2 is unaffected.
    host.api
        .apply(secret(KFS, "c1-token", json!({}), &[("other", b"x")]))
        .unwrap();
    host.until("c1 token key missing", |m| {
        err_member(
            m,
            "c1",
            &["KubeFedCluster kube-federation-system/c1", "has no key `token`"],
        )?;
        ok_member(m, "c2")
    })
    .await;
    host.api.delete("v1", "Secret", Some(KFS), "c1-token");
    host.until("c1 secret deleted", |m| {
        err_member(m, "c1", &["c1-token does not exist"])?;
        ok_member(m, "c2")
    })
    .await;

    // The KubeFedCluster goes (unjoin): so does the member.
    host.api.delete(KUBEFED.0, KUBEFED.1, Some(KFS), "c1");
    host.until("c1 unjoined", |m| {
        absent(m, "c1")?;
        ok_member(m, "c2")
    })
    .await;
}

fn karmada_cluster(name: &str, spec: Value) -> Value {
    json!({"apiVersion": KARMADA.0, "kind": KARMADA.1, "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn karmada_clusters_push_pull_and_secrets_in_any_namespace() {
    let api = FakeApiServer::start().await.unwrap();
    api.register(KARMADA.0, KARMADA.1, KARMADA.2, false);
    api.apply(secret(
        "karmada-cluster",
        "m1",
        json!({}),
        &[("token", b"karmada-t1"), ("caBundle", CA.as_bytes())],
    ))
    .unwrap();
    api.apply(karmada_cluster(
        "m1",
        json!({"syncMode": "Push", "apiEndpoint": "https://m1.example:6443",
               "secretRef": {"namespace": "karmada-cluster", "name": "m1"}}),
    ))
    .unwrap();
    api.apply(karmada_cluster("m2", json!({"syncMode": "Pull"})))
        .unwrap();
    let mut host = Host::follow(api, vec![RegistryConfig::Karmada {}]).await;

    let map = host
        .until("m1 and m2", |m| {
            ok_member(m, "m1")?;
            err_member(m, "m2", &["Karmada Cluster m2", "Pull"])
        })
        .await;
    let (server, token, ca, _) = connect_info(&map["m1"]).await.unwrap();
    assert_eq!(
        (server.as_str(), token.as_str(), ca),
        ("https://m1.example:6443", "karmada-t1", true)
    );

    // A cluster whose Secret lives in a namespace not followed so far, created after it.
    host.api
        .apply(karmada_cluster(
            "m3",
            json!({"apiEndpoint": "https://m3.example", "insecureSkipTLSVerification": true,
                   "secretRef": {"namespace": "elsewhere", "name": "m3-secret"}}),
        ))
        .unwrap();
    host.until("m3 without secret", |m| {
        err_member(
            m,
            "m3",
            &["Karmada Cluster m3", "Secret elsewhere/m3-secret does not exist"],
        )
    })
    .await;
    host.api
        .apply(secret("elsewhere", "m3-secret", json!({}), &[("token", b"t3")]))
        .unwrap();
    let map = host.until("m3 with secret", |m| ok_member(m, "m3")).await;
    let (_, token, ca, insecure) = connect_info(&map["m3"]).await.unwrap();
    assert_eq!((token.as_str(), ca, insecure), ("t3", false, true));

    // m1's Secret deleted: m1 stays listed with an error, the others unaffected.
    host.api.delete("v1", "Secret", Some("karmada-cluster"), "m1");
    host.until("m1 secret deleted", |m| {
        err_member(
            m,
            "m1",
            &["Karmada Cluster m1", "karmada-cluster/m1 does not exist"],
        )?;
        ok_member(m, "m3")
    })
    .await;
    host.api
        .apply(secret(
            "karmada-cluster",
            "m1",
            json!({}),
            &[("token", b"karmada-t2")],
        ))
        .unwrap();
    host.until("m1 secret back", |m| ok_member(m, "m1")).await;
}

#[tokio::test]
async fn cluster_api_kubeconfig_secrets() {
    let api = FakeApiServer::start().await.unwrap();
    let label = json!({"cluster.x-k8s.io/cluster-name": "work-1"});
    let kc = kubeconfig_text("https://work-1.example:6443");
    api.apply(secret(
        "capi",
        "work-1-kubeconfig",
        label.clone(),
        &[("value", kc.as_bytes())],
    ))
    .unwrap();
    api.apply(secret(
        "capi",
        "work-1-ca",
        label.clone(),
        &[("tls.crt", CA.as_bytes())],
    ))
    .unwrap();
    api.apply(secret(
        "capi",
        "unrelated-kubeconfig",
        json!({}),
        &[("value", kc.as_bytes())],
    ))
    .unwrap();
    let mut host = Host::follow(
        api,
        vec![RegistryConfig::ClusterApi {
            namespace: Some("capi".into()),
        }],
    )
    .await;
    let map = host.until("work-1", |m| ok_member(m, "work-1")).await;
    assert_eq!(map.len(), 1, "{map:#?}");
    assert_eq!(map["work-1"].origin, "Secret capi/work-1-kubeconfig");
    let (server, _, _, _) = connect_info(&map["work-1"]).await.unwrap();
    assert_eq!(server, "https://work-1.example:6443");

    host.api
        .apply(secret(
            "capi",
            "work-1-kubeconfig",
            label.clone(),
            &[("other", b"x")],
        ))
        .unwrap();
    host.until("work-1 without value", |m| {
        err_member(m, "work-1", &["Secret capi/work-1-kubeconfig", "no key `value`"])
    })
    .await;
    host.api
        .apply(secret(
            "capi",
            "work-1-kubeconfig",
            label,
            &[("value", kc.as_bytes())],
        ))
        .unwrap();
    host.until("work-1 back", |m| ok_member(m, "work-1")).await;
    host.api.delete("v1", "Secret", Some("capi"), "work-1-kubeconfig");
    host.until("work-1 gone", |m| absent(m, "work-1")).await;
}

#[tokio::test]
async fn collisions_and_a_missing_crd_leave_the_rest_working() {
    let api = FakeApiServer::start().await.unwrap();
    let kc = kubeconfig_text("https://x.example");
    api.apply(secret(
        "fed",
        "dup",
        json!({"feddns.io/member": "true"}),
        &[("kubeconfig", kc.as_bytes())],
    ))
    .unwrap();
    api.apply(secret(
        "fed",
        "solo",
        json!({"feddns.io/member": "true"}),
        &[("kubeconfig", kc.as_bytes())],
    ))
    .unwrap();
    api.apply(secret(
        "capi",
        "dup-kubeconfig",
        json!({"cluster.x-k8s.io/cluster-name": "dup"}),
        &[("value", kc.as_bytes())],
    ))
    .unwrap();
    // kubefed is configured but its CRD is not installed.
    let registries = vec![
        RegistryConfig::KubeconfigSecrets {
            namespace: None,
            selector: "feddns.io/member".into(),
        },
        RegistryConfig::Kubefed {
            namespace: KFS.into(),
        },
        RegistryConfig::ClusterApi { namespace: None },
    ];
    let mut host = Host::follow(api, registries).await;
    let map = host
        .until("collision and solo", |m| {
            ok_member(m, "solo")?;
            err_member(
                m,
                "dup",
                &["Secret capi/dup-kubeconfig", "Secret fed/dup", "claimed by"],
            )
        })
        .await;
    assert_eq!(map.len(), 2, "{map:#?}");

    // kubefed gets installed later: its clusters are picked up (the 404 was retried).
    host.api.register(KUBEFED.0, KUBEFED.1, KUBEFED.2, true);
    host.api
        .apply(secret(KFS, "k1-token", json!({}), &[("token", b"tk")]))
        .unwrap();
    host.api
        .apply(kubefed_cluster("k1", "https://k1.example", "k1-token"))
        .unwrap();
    host.until("kubefed installed later", |m| {
        ok_member(m, "k1")?;
        ok_member(m, "solo")
    })
    .await;

    // The collision resolves when one claimant goes.
    host.api.delete("v1", "Secret", Some("fed"), "dup");
    let map = host.until("collision resolved", |m| ok_member(m, "dup")).await;
    assert_eq!(map["dup"].origin, "Secret capi/dup-kubeconfig");
}

#[tokio::test]
async fn nothing_configured_publishes_an_empty_map_and_follow_ends_with_its_receivers() {
    let api = FakeApiServer::start().await.unwrap();
    let client = host_client(&api).await;
    let (tx, mut rx) = watch::channel(None);
    let task = tokio::spawn(follow(client, Vec::new(), DiscoverySettings::default(), tx));
    tokio::time::timeout(DEADLINE, rx.wait_for(Option::is_some))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rx.borrow().as_ref().map(BTreeMap::len), Some(0));
    drop(rx);
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
}
