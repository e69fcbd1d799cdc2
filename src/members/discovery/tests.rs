//! The registries' conversions and the member map, tested without any API server.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::config::Kubeconfig;
use serde_json::{Value, json};

use super::cluster_api::{cluster_api_secret_item, from_cluster_api_secret};
use super::karmada::{from_karmada, karmada_secret_namespace};
use super::kubeconfig_secrets::{from_kubeconfig_secret, kubeconfig_secret_item};
use super::kubefed::from_kubefed;
use super::source::*;
use super::state::{merge, ref_secret_item};
use super::*;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n\
         users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
         current-context: x\n"
    )
}

fn secret(ns: &str, name: &str, data: &[(&str, &[u8])]) -> Item {
    Item {
        namespace: ns.into(),
        name: name.into(),
        data: data.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
        ..Item::default()
    }
}

fn object(ns: &str, name: &str, spec: Value) -> Item {
    Item {
        namespace: ns.into(),
        name: name.into(),
        object: json!({ "spec": spec }),
        ..Item::default()
    }
}

fn parsed(text: &str) -> Kubeconfig {
    Kubeconfig::from_yaml(text).unwrap()
}

#[test]
fn registry_config_parses_from_yaml_and_validates() {
    let yaml = "- kubeconfig_secrets: { selector: 'feddns.io/member=true' }\n\
                - kubeconfig_secrets: { namespace: fed, selector: 'a in (b,c)' }\n\
                - kubefed: {}\n\
                - kubefed: { namespace: kfs }\n\
                - karmada: {}\n\
                - cluster_api: {}\n\
                - cluster_api: { namespace: capi }\n";
    let regs: Vec<RegistryConfig> = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(
        regs[2],
        RegistryConfig::Kubefed {
            namespace: DEFAULT_KUBEFED_NAMESPACE.into()
        }
    );
    assert_eq!(regs[4], RegistryConfig::Karmada {});
    assert_eq!(regs[5], RegistryConfig::ClusterApi { namespace: None });
    for r in &regs {
        r.validate().unwrap();
        assert!(!r.describe().is_empty());
    }
    assert!(serde_saphyr::from_str::<Vec<RegistryConfig>>("- kubefed: { nmespace: x }\n").is_err());
    assert!(serde_saphyr::from_str::<Vec<RegistryConfig>>("- consul: {}\n").is_err());
}

#[test]
fn validate_refuses_bad_selectors_and_namespaces() {
    let ks = |ns: Option<&str>, sel: &str| RegistryConfig::KubeconfigSecrets {
        namespace: ns.map(Into::into),
        selector: sel.into(),
    };
    let e = ks(None, "a in (b").validate().unwrap_err();
    assert!(e.contains("kubeconfig Secrets") && e.contains("selector"), "{e}");
    let e = ks(None, "").validate().unwrap_err();
    assert!(e.contains("must not be empty"), "{e}");
    let e = ks(Some("Bad_NS"), "a=b").validate().unwrap_err();
    assert!(e.contains("namespace"), "{e}");
    let e = RegistryConfig::Kubefed {
        namespace: "-x".into(),
    }
    .validate()
    .unwrap_err();
    assert!(e.contains("kubefed") && e.contains("\"-x\""), "{e}");
    assert!(
        RegistryConfig::ClusterApi {
            namespace: Some(String::new())
        }
        .validate()
        .is_err()
    );
}

#[test]
fn kubeconfig_secret_becomes_a_member() {
    let text = kubeconfig("https://c1.example:6443");
    let d = from_kubeconfig_secret(&secret("fed", "cluster1", &[("kubeconfig", text.as_bytes())]));
    assert_eq!(d.name, "cluster1");
    assert_eq!(d.origin, "Secret fed/cluster1");
    assert_eq!(d.kubeconfig, Ok(text.clone()));

    let mut s = secret("fed", "Cluster_1", &[("kubeconfig", text.as_bytes())]);
    let d = from_kubeconfig_secret(&s);
    let e = d.kubeconfig.unwrap_err();
    assert!(
        e.starts_with("Secret fed/Cluster_1: ") && e.contains("member name"),
        "{e}"
    );
    s.annotations
        .insert(MEMBER_NAME_ANNOTATION.into(), "renamed".into());
    let d = from_kubeconfig_secret(&s);
    assert_eq!(d.name, "renamed");
    assert!(d.kubeconfig.is_ok());
}

#[test]
fn broken_kubeconfig_secrets_name_the_secret_and_the_problem() {
    let cases: Vec<(Item, &str)> = vec![
        (
            secret("fed", "c1", &[("config", b"x")]),
            "has no key `kubeconfig` (it has: config)",
        ),
        (secret("fed", "c1", &[]), "(it has: none)"),
        (secret("fed", "c1", &[("kubeconfig", &[0xff, 0xfe])]), "not UTF-8"),
        (
            secret("fed", "c1", &[("kubeconfig", b"clusters: [not: a: kubeconfig")]),
            "is not a valid kubeconfig",
        ),
        (
            secret("fed", "c1", &[("kubeconfig", b"apiVersion: v1\n")]),
            "without a current-context",
        ),
        (
            secret(
                "fed",
                "c1",
                &[("kubeconfig", b"current-context: x\ncontexts: []\n")],
            ),
            "is not among its contexts",
        ),
        (
            secret(
                "fed",
                "c1",
                &[(
                    "kubeconfig",
                    kubeconfig("https://x")
                        .replace("cluster: c\n", "cluster: nope\n")
                        .as_bytes(),
                )],
            ),
            "names cluster \"nope\"",
        ),
        (
            secret(
                "fed",
                "c1",
                &[(
                    "kubeconfig",
                    kubeconfig("https://x")
                        .replace("    server: https://x\n", "    insecure-skip-tls-verify: true\n")
                        .as_bytes(),
                )],
            ),
            "has no server",
        ),
    ];
    for (item, want) in cases {
        let e = from_kubeconfig_secret(&item).kubeconfig.unwrap_err();
        assert!(e.starts_with("Secret fed/c1: "), "{e}");
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
}

#[test]
fn cluster_api_secrets_are_named_by_their_label() {
    let text = kubeconfig("https://capi:6443");
    let mut s = secret("capi", "work-1-kubeconfig", &[("value", text.as_bytes())]);
    assert_eq!(
        from_cluster_api_secret(&s),
        None,
        "no label: not a CAPI kubeconfig Secret"
    );
    s.labels.insert(CAPI_CLUSTER_LABEL.into(), "work-1".into());
    let d = from_cluster_api_secret(&s).unwrap();
    assert_eq!(
        (d.name.as_str(), d.origin.as_str()),
        ("work-1", "Secret capi/work-1-kubeconfig")
    );
    assert_eq!(d.kubeconfig, Ok(text));

    let mut other = s.clone();
    other.name = "work-1-ca".into();
    assert_eq!(from_cluster_api_secret(&other), None);

    s.data.clear();
    let e = from_cluster_api_secret(&s).unwrap().kubeconfig.unwrap_err();
    assert!(
        e.contains("Secret capi/work-1-kubeconfig") && e.contains("`value`"),
        "{e}"
    );
}

#[test]
fn kubefed_cluster_with_token_and_ca() {
    let data: BTreeMap<String, Vec<u8>> = [("token".to_string(), b"tok-1\n".to_vec())].into();
    let c = object(
        "kube-federation-system",
        "c1",
        json!({"apiEndpoint": "c1.example:6443", "caBundle": serde_json::to_value(ByteString(CA.as_bytes().to_vec())).unwrap(),
               "secretRef": {"name": "c1-x7k"}}),
    );
    let d = from_kubefed(&c, |ns, name| {
        assert_eq!((ns, name), ("kube-federation-system", "c1-x7k"));
        SecretRef::Found(&data)
    });
    assert_eq!(d.name, "c1");
    assert_eq!(d.origin, "KubeFedCluster kube-federation-system/c1");
    let kc = parsed(&d.kubeconfig.unwrap());
    assert_eq!(kc.current_context.as_deref(), Some("c1"));
    let cluster = kc.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some("https://c1.example:6443"));
    let ca: ByteString =
        serde_json::from_value(cluster.certificate_authority_data.clone().unwrap().into()).unwrap();
    assert_eq!(ca.0, CA.as_bytes());
    assert_eq!(cluster.insecure_skip_tls_verify, None);
    assert_eq!(kc.auth_infos[0].name, "c1");
    assert!(kc.auth_infos[0].auth_info.as_ref().unwrap().token.is_some());
}

#[test]
fn kubefed_insecure_ca_from_secret_and_errors() {
    let data: BTreeMap<String, Vec<u8>> = [
        ("token".to_string(), b"t".to_vec()),
        ("ca.crt".to_string(), CA.as_bytes().to_vec()),
    ]
    .into();
    let c = object(
        "kfs",
        "c1",
        json!({"apiEndpoint": "https://1.2.3.4", "secretRef": {"name": "s"}, "disabledTLSValidations": ["*"],
               "proxyURL": "http://proxy:3128"}),
    );
    let kc = parsed(
        &from_kubefed(&c, |_, _| SecretRef::Found(&data))
            .kubeconfig
            .unwrap(),
    );
    let cluster = kc.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
    assert_eq!(cluster.certificate_authority_data, None);
    assert_eq!(cluster.proxy_url.as_deref(), Some("http://proxy:3128"));

    let c = object(
        "kfs",
        "c1",
        json!({"apiEndpoint": "https://1.2.3.4", "secretRef": {"name": "s"}}),
    );
    let kc = parsed(
        &from_kubefed(&c, |_, _| SecretRef::Found(&data))
            .kubeconfig
            .unwrap(),
    );
    assert!(
        kc.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .certificate_authority_data
            .is_some(),
        "ca.crt"
    );

    let err = |spec: Value, secret: SecretRef<'_>| {
        from_kubefed(&object("kfs", "c1", spec), |_, _| secret.clone())
            .kubeconfig
            .unwrap_err()
    };
    let ok_spec = json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}});
    let e = err(ok_spec.clone(), SecretRef::Missing);
    assert_eq!(e, "KubeFedCluster kfs/c1: its Secret kfs/s does not exist");
    let e = err(ok_spec.clone(), SecretRef::Unknown("403 Forbidden".into()));
    assert!(e.contains("cannot be read: 403 Forbidden"), "{e}");
    let empty = BTreeMap::new();
    let e = err(ok_spec.clone(), SecretRef::Found(&empty));
    assert_eq!(e, "KubeFedCluster kfs/c1: its Secret kfs/s has no key `token`");
    let e = err(json!({"secretRef": {"name": "s"}}), SecretRef::Found(&data));
    assert_eq!(e, "KubeFedCluster kfs/c1: has no spec.apiEndpoint");
    let e = err(json!({"apiEndpoint": "https://x"}), SecretRef::Found(&data));
    assert!(e.contains("spec.secretRef.name"), "{e}");
    let e = err(
        json!({"apiEndpoint": "ftp://x", "secretRef": {"name": "s"}}),
        SecretRef::Found(&data),
    );
    assert!(e.contains("not an http(s) URL"), "{e}");
    let e = err(json!({"apiEndpoint": 5}), SecretRef::Found(&data));
    assert!(e.contains("spec cannot be read"), "{e}");
    let bad_ca =
        json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}, "caBundle": "bm90IGEgY2VydA=="});
    let e = err(bad_ca, SecretRef::Found(&data));
    assert!(e.contains("spec.caBundle is not a PEM certificate"), "{e}");
}

#[test]
fn karmada_push_pull_and_secret_problems() {
    let data: BTreeMap<String, Vec<u8>> = [
        ("token".to_string(), b"kt".to_vec()),
        ("caBundle".to_string(), CA.as_bytes().to_vec()),
    ]
    .into();
    let spec = json!({"syncMode": "Push", "apiEndpoint": "https://m1:6443",
                      "secretRef": {"namespace": "karmada-cluster", "name": "m1"}});
    let c = object("", "m1", spec.clone());
    assert_eq!(karmada_secret_namespace(&c).as_deref(), Some("karmada-cluster"));
    let d = from_karmada(&c, |ns, name| {
        assert_eq!((ns, name), ("karmada-cluster", "m1"));
        SecretRef::Found(&data)
    });
    assert_eq!(d.origin, "Karmada Cluster m1");
    let kc = parsed(&d.kubeconfig.unwrap());
    let cluster = kc.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some("https://m1:6443"));
    assert!(cluster.certificate_authority_data.is_some());

    let mut insecure = spec.clone();
    insecure["insecureSkipTLSVerification"] = true.into();
    let kc = parsed(
        &from_karmada(&object("", "m1", insecure), |_, _| SecretRef::Found(&data))
            .kubeconfig
            .unwrap(),
    );
    let cluster = kc.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
    assert_eq!(cluster.certificate_authority_data, None);

    let pull = object("", "m2", json!({"syncMode": "Pull", "apiEndpoint": "https://m2"}));
    let e = from_karmada(&pull, |_, _| SecretRef::Missing)
        .kubeconfig
        .unwrap_err();
    assert!(e.starts_with("Karmada Cluster m2: is in Pull sync mode"), "{e}");

    let e = from_karmada(&c, |_, _| SecretRef::Missing)
        .kubeconfig
        .unwrap_err();
    assert_eq!(
        e,
        "Karmada Cluster m1: its Secret karmada-cluster/m1 does not exist"
    );
    let no_ns = object(
        "",
        "m1",
        json!({"apiEndpoint": "https://m1", "secretRef": {"name": "m1"}}),
    );
    let e = from_karmada(&no_ns, |_, _| SecretRef::Missing)
        .kubeconfig
        .unwrap_err();
    assert!(e.contains("namespace and name"), "{e}");
    let only_token: BTreeMap<String, Vec<u8>> = [("caBundle".to_string(), CA.as_bytes().to_vec())].into();
    let e = from_karmada(&c, |_, _| SecretRef::Found(&only_token))
        .kubeconfig
        .unwrap_err();
    assert!(e.contains("has no key `token`"), "{e}");
}

#[test]
fn only_the_secret_data_needed_is_kept() {
    let s = Secret {
        metadata: ObjectMeta {
            name: Some("w-kubeconfig".into()),
            namespace: Some("capi".into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [
                ("value".to_string(), ByteString(b"v".to_vec())),
                ("tls.key".to_string(), ByteString(b"k".to_vec())),
                ("token".to_string(), ByteString(b"t".to_vec())),
            ]
            .into(),
        ),
        ..Secret::default()
    };
    let item = cluster_api_secret_item(s.clone()).unwrap();
    assert_eq!(item.data["value"], b"v");
    assert!(item.data["tls.key"].is_empty() && item.data["token"].is_empty());
    let item = kubeconfig_secret_item(s.clone()).unwrap();
    assert!(item.data.values().all(Vec::is_empty));
    let item = ref_secret_item(s.clone()).unwrap();
    assert_eq!(item.data.keys().collect::<Vec<_>>(), ["token"]);
    let mut ca = s;
    ca.metadata.name = Some("w-ca".into());
    assert_eq!(cluster_api_secret_item(ca), None);
}

#[test]
fn server_urls_get_https_when_bare() {
    assert_eq!(server_url("10.0.0.1:6443").unwrap(), "https://10.0.0.1:6443");
    assert_eq!(server_url(" http://x ").unwrap(), "http://x");
    assert!(server_url("").is_err());
}

#[test]
fn generated_kubeconfig_is_accepted_by_kube() {
    let text = kubeconfig_yaml(&Endpoint {
        member: "m",
        server: "https://m:6443".into(),
        ca_pem: Some(CA.as_bytes()),
        token: "secret-token",
        insecure: false,
        proxy_url: None,
    });
    check_kubeconfig(&text).unwrap();
    assert!(text.contains("secret-token"));
    // A realistic CA bundle (long base64) and odd tokens survive the YAML round trip.
    let long_ca = format!("{CA}{}", "A".repeat(3000));
    let text = kubeconfig_yaml(&Endpoint {
        member: "m",
        server: "https://m:6443".into(),
        ca_pem: Some(long_ca.as_bytes()),
        token: "a: b # c",
        insecure: false,
        proxy_url: Some("http://p:1"),
    });
    let kc = Kubeconfig::from_yaml(&text).unwrap();
    let cluster = kc.clusters[0].cluster.as_ref().unwrap();
    let ca: ByteString =
        serde_json::from_value(cluster.certificate_authority_data.clone().unwrap().into()).unwrap();
    assert_eq!(ca.0, long_ca.as_bytes(), "{text}");
}

#[test]
fn collisions_become_one_error_naming_every_claimant() {
    let d = |name: &str, origin: &str| Discovered {
        name: name.into(),
        origin: origin.into(),
        kubeconfig: Ok("x".into()),
    };
    let map = merge(vec![
        d("a", "Secret fed/a"),
        d("b", "KubeFedCluster kfs/b"),
        d("a", "KubeFedCluster kfs/a"),
        d("b", "KubeFedCluster kfs/b"), // the same object through two registries
    ]);
    assert_eq!(map.len(), 2);
    assert_eq!(map["b"], d("b", "KubeFedCluster kfs/b"));
    let a = &map["a"];
    assert_eq!(a.origin, "KubeFedCluster kfs/a, Secret fed/a");
    let e = a.kubeconfig.as_ref().unwrap_err();
    assert!(
        e.contains("\"a\" is claimed by KubeFedCluster kfs/a and Secret fed/a"),
        "{e}"
    );
}
