//! Member discovery from a federation control plane's cluster registry on the host cluster:
//! kubeconfig Secrets, kubefed `KubeFedCluster`s, Karmada `Cluster`s and Cluster API kubeconfig
//! Secrets, followed live.
//!
//! ```text
//! watcher(registry objects) ──┐
//! watcher(referenced Secrets, per namespace) ─┼─► stores ─► assemble (pure) ─► watch::Sender<map>
//! ```
//!
//! * The conversion of a registry object (and the Secret it references) into a kubeconfig, or
//!   into an error naming the object and what is missing, is pure: see [`from_kubeconfig_secret`]
//!   and friends, tested below without any API server.
//! * Every watcher runs in its own task and applies its own backoff after an error (kube's
//!   watcher recovers on the next poll). A registry that fails — typically a CRD that is not
//!   installed (404) — is logged once with a clear message and retried; the others keep working.
//!   The objects of a failing watcher are kept as last seen: members are never dropped because
//!   the host API server is unreachable.
//! * Secrets referenced by KubeFedClusters and Karmada Clusters are followed with one Secret
//!   watcher per namespace involved (the kubefed namespace, each Karmada `secretRef.namespace`),
//!   started and stopped as references appear and go, so that a Secret created, rotated or deleted
//!   later changes the member at once, without polling.
//! * The full member map is published after every change that alters it, once every watcher
//!   has listed (or failed) at least once; a registry that cannot be read does not hold back the
//!   others. Two registry entries that claim the same member name both become one `Err` entry
//!   naming the collision.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use feddns_provider::parse_error::serde_reason;
use futures_util::{Stream, StreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::config::Kubeconfig;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::kube::status_code;
use crate::backoff::Backoff;
use crate::names::check_label;
use crate::parse_errors::kubeconfig_problem;
use crate::selector::LabelSelector;

/// Annotation on a registry object (Secret, KubeFedCluster, Karmada Cluster) that overrides the
/// member name derived from it.
pub const MEMBER_NAME_ANNOTATION: &str = "feddns.io/member-name";
/// Label of Cluster API kubeconfig Secrets naming their cluster.
pub const CAPI_CLUSTER_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Namespace of kubefed's control plane, by default.
pub const DEFAULT_KUBEFED_NAMESPACE: &str = "kube-federation-system";
/// Most watch events folded in before the member map is assembled again.
const MAX_BURST: usize = 4096;

fn default_kubefed_namespace() -> String {
    DEFAULT_KUBEFED_NAMESPACE.to_string()
}

/// One registry to discover members from (config: `discovery: [ ... ]`, one key per entry).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RegistryConfig {
    /// Secrets holding a kubeconfig under key `kubeconfig`, selected by a label selector (what
    /// `kubectl create secret generic cluster1 --from-file=kubeconfig` plus a label gives).
    KubeconfigSecrets {
        /// Namespace of the Secrets; `None`: all namespaces.
        #[serde(default)]
        namespace: Option<String>,
        /// Label selector (kubectl syntax); must not be empty.
        selector: String,
    },
    /// kubefed `KubeFedCluster`s (`core.kubefed.io/v1beta1`) in `namespace`, with their token
    /// Secrets in the same namespace.
    Kubefed {
        /// Namespace of the KubeFedClusters (default `kube-federation-system`).
        #[serde(default = "default_kubefed_namespace")]
        namespace: String,
    },
    /// Karmada `Cluster`s (`cluster.karmada.io/v1alpha1`, cluster-scoped): the host is then the
    /// Karmada API server, where these objects and their Secrets live.
    Karmada {},
    /// Cluster API kubeconfig Secrets: `<cluster>-kubeconfig` with key `value`, labelled
    /// `cluster.x-k8s.io/cluster-name`.
    ClusterApi {
        /// Namespace of the Secrets; `None`: all namespaces.
        #[serde(default)]
        namespace: Option<String>,
    },
}

impl RegistryConfig {
    /// Checks the entry: namespaces are DNS labels, the selector parses and is not empty.
    pub fn validate(&self) -> Result<(), String> {
        let ns = |ns: &str| check_label("namespace", ns).map_err(|e| format!("{}: {e}", self.describe()));
        match self {
            Self::KubeconfigSecrets { namespace, selector } => {
                if let Some(n) = namespace {
                    ns(n)?;
                }
                let parsed = LabelSelector::parse(selector)
                    .map_err(|e| format!("{}: selector {e}", self.describe()))?;
                if parsed.is_empty() {
                    return Err(format!(
                        "{}: the selector must not be empty (it would take every Secret for a kubeconfig)",
                        self.describe()
                    ));
                }
                Ok(())
            }
            Self::Kubefed { namespace } => ns(namespace),
            Self::Karmada {} => Ok(()),
            Self::ClusterApi { namespace } => namespace.as_deref().map_or(Ok(()), ns),
        }
    }

    /// What the registry is, for logs and messages.
    pub fn describe(&self) -> String {
        let scope = |ns: &Option<String>| match ns {
            Some(n) => format!("in namespace {n}"),
            None => "in all namespaces".to_string(),
        };
        match self {
            Self::KubeconfigSecrets { namespace, selector } => {
                format!("kubeconfig Secrets matching {selector:?} {}", scope(namespace))
            }
            Self::Kubefed { namespace } => format!("kubefed KubeFedClusters in namespace {namespace}"),
            Self::Karmada {} => "Karmada Clusters".to_string(),
            Self::ClusterApi { namespace } => format!("Cluster API kubeconfig Secrets {}", scope(namespace)),
        }
    }
}

impl fmt::Display for RegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A member found in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Member name (a DNS label; an invalid one makes `kubeconfig` an `Err`).
    pub name: String,
    /// Where it was found, e.g. `Secret kube-federation-system/cluster1`,
    /// `KubeFedCluster kube-federation-system/c1`, `Karmada Cluster c1`; for a name collision,
    /// every claimant, joined by `, `.
    pub origin: String,
    /// The kubeconfig YAML to connect with (its current context is the one to use), or what is
    /// wrong, naming the object and key.
    pub kubeconfig: Result<String, String>,
}

/// Timing of the registry watchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// First delay before a failed watcher polls again.
    pub backoff: Duration,
    /// Longest delay.
    pub backoff_max: Duration,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl From<&super::SourceSettings> for DiscoverySettings {
    fn from(s: &super::SourceSettings) -> Self {
        Self {
            backoff: s.backoff,
            backoff_max: s.backoff_max,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pure part: registry objects (and referenced Secrets) to kubeconfigs.

/// What discovery keeps of a Secret or registry object.
#[derive(Debug, Clone, Default, PartialEq)]
struct Item {
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// Secret data, decoded.
    data: BTreeMap<String, Vec<u8>>,
    /// Everything but `apiVersion`, `kind` and `metadata` of a custom object (`Null` for Secrets).
    object: Value,
}

impl Item {
    fn from_meta(meta: ObjectMeta) -> Option<Self> {
        Some(Self {
            name: meta.name?,
            namespace: meta.namespace.unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            annotations: meta.annotations.unwrap_or_default(),
            data: BTreeMap::new(),
            object: Value::Null,
        })
    }

    fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    fn qualified(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The member name: the annotation if set, else `default`.
    fn member_name(&self, default: &str) -> String {
        match self.annotations.get(MEMBER_NAME_ANNOTATION) {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => default.to_string(),
        }
    }
}

/// A Secret referenced by a registry object, as currently known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SecretRef<'a> {
    /// It exists; its data.
    Found(&'a BTreeMap<String, Vec<u8>>),
    /// It does not exist.
    Missing,
    /// Its namespace cannot be read (yet): why.
    Unknown(String),
}

/// Where a member's API server is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint<'a> {
    member: &'a str,
    server: String,
    ca_pem: Option<&'a [u8]>,
    token: &'a str,
    insecure: bool,
    proxy_url: Option<&'a str>,
}

/// A kubeconfig with one cluster, user and context, all named after the member; the context is
/// current.
fn kubeconfig_yaml(e: &Endpoint<'_>) -> String {
    let mut cluster = serde_json::Map::new();
    cluster.insert("server".into(), e.server.clone().into());
    if e.insecure {
        cluster.insert("insecure-skip-tls-verify".into(), true.into());
    } else if let Some(ca) = e.ca_pem {
        let b64 = serde_json::to_value(ByteString(ca.to_vec())).unwrap_or(Value::Null);
        cluster.insert("certificate-authority-data".into(), b64);
    }
    if let Some(p) = e.proxy_url {
        cluster.insert("proxy-url".into(), p.into());
    }
    let m = e.member;
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": m, "cluster": cluster}],
        "users": [{"name": m, "user": {"token": e.token}}],
        "contexts": [{"name": m, "context": {"cluster": m, "user": m}}],
        "current-context": m,
    });
    // JSON is YAML too, should the YAML serializer ever refuse.
    serde_saphyr::to_string(&config).unwrap_or_else(|_| config.to_string())
}

/// An error and its sources, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Checks that kubeconfig text parses and that its current context leads to a cluster with a
/// server (what connecting with it needs, short of reading files or the network).
fn check_kubeconfig(text: &str) -> Result<(), String> {
    let kc = Kubeconfig::from_yaml(text)
        .map_err(|e| format!("is not a valid kubeconfig: {}", kubeconfig_problem(&e)))?;
    let current = kc
        .current_context
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or("is a kubeconfig without a current-context")?;
    let context = kc
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| {
            format!("is a kubeconfig whose current-context {current:?} is not among its contexts")
        })?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            format!(
                "is a kubeconfig whose context {current:?} names cluster {:?}, which it does not have",
                context.cluster
            )
        })?;
    if cluster.server.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err(format!(
            "is a kubeconfig whose cluster {:?} has no server",
            context.cluster
        ));
    }
    if let Some(user) = context.user.as_deref().filter(|u| !u.is_empty())
        && !kc.auth_infos.iter().any(|a| a.name == user)
    {
        return Err(format!(
            "is a kubeconfig whose context {current:?} names user {user:?}, which it does not have"
        ));
    }
    Ok(())
}

fn check_member_name(name: &str) -> Result<(), String> {
    check_label("member name", name).map_err(|e| format!("{e} (set annotation {MEMBER_NAME_ANNOTATION})"))
}

/// The kubeconfig text under `key` of Secret data, checked.
fn kubeconfig_from_data(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Result<String, String> {
    let Some(bytes) = data.get(key) else {
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        return Err(format!(
            "has no key `{key}` (it has: {})",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        ));
    };
    let text = std::str::from_utf8(bytes).map_err(|_| format!("key `{key}` is not UTF-8 text"))?;
    check_kubeconfig(text).map_err(|e| format!("key `{key}` {e}"))?;
    Ok(text.to_string())
}

/// A member from a kubeconfig Secret: named after the Secret (or its annotation), kubeconfig
/// from key `kubeconfig`.
fn from_kubeconfig_secret(secret: &Item) -> Discovered {
    let origin = format!("Secret {}", secret.qualified());
    let name = secret.member_name(&secret.name);
    let kubeconfig = check_member_name(&name)
        .and_then(|()| kubeconfig_from_data(&secret.data, "kubeconfig"))
        .map_err(|e| format!("{origin}: {e}"));
    Discovered {
        name,
        origin,
        kubeconfig,
    }
}

/// A member from a Cluster API Secret `<cluster>-kubeconfig` (key `value`), named after its
/// `cluster.x-k8s.io/cluster-name` label (or the annotation); `None` for other Secrets.
fn from_cluster_api_secret(secret: &Item) -> Option<Discovered> {
    let cluster = secret.labels.get(CAPI_CLUSTER_LABEL)?;
    if !secret.name.ends_with("-kubeconfig") {
        return None;
    }
    let origin = format!("Secret {}", secret.qualified());
    let name = secret.member_name(cluster);
    let kubeconfig = check_member_name(&name)
        .and_then(|()| kubeconfig_from_data(&secret.data, "value"))
        .map_err(|e| format!("{origin}: {e}"));
    Some(Discovered {
        name,
        origin,
        kubeconfig,
    })
}

/// `https://` unless the endpoint has a scheme (kubefed allows `host`, `host:port`).
fn server_url(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim();
    if e.is_empty() {
        return Err("has no spec.apiEndpoint".into());
    }
    if let Some((scheme, _)) = e.split_once("://") {
        if scheme != "https" && scheme != "http" {
            return Err(format!("spec.apiEndpoint {e:?} is not an http(s) URL"));
        }
        return Ok(e.to_string());
    }
    Ok(format!("https://{e}"))
}

/// The bearer token under `token` of a Secret.
fn token_of<'a>(data: &'a BTreeMap<String, Vec<u8>>, secret: &str) -> Result<&'a str, String> {
    let bytes = data
        .get("token")
        .ok_or_else(|| format!("its Secret {secret} has no key `token`"))?;
    let token = std::str::from_utf8(bytes)
        .map_err(|_| format!("key `token` of its Secret {secret} is not UTF-8 text"))?
        .trim();
    if token.is_empty() {
        return Err(format!("key `token` of its Secret {secret} is empty"));
    }
    Ok(token)
}

fn check_pem(ca: &[u8], what: &str) -> Result<(), String> {
    let pem = b"-----BEGIN CERTIFICATE-----";
    if ca.windows(pem.len()).any(|w| w == pem) {
        Ok(())
    } else {
        Err(format!("{what} is not a PEM certificate"))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KubeFedClusterSpec {
    #[serde(default)]
    api_endpoint: Option<String>,
    #[serde(default)]
    ca_bundle: Option<ByteString>,
    #[serde(default)]
    secret_ref: Option<NameRef>,
    #[serde(default, rename = "disabledTLSValidations")]
    disabled_tls_validations: Option<Vec<String>>,
    #[serde(default, rename = "proxyURL")]
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NameRef {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn spec_of<T: for<'de> Deserialize<'de> + Default>(object: &Value) -> Result<T, String> {
    match object.get("spec") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(spec) => {
            T::deserialize(spec).map_err(|e| format!("spec cannot be read: {}", serde_reason(&e.to_string())))
        }
    }
}

/// A member from a KubeFedCluster: `spec.apiEndpoint`, `spec.caBundle` (else the Secret's
/// `ca.crt`), the token of Secret `spec.secretRef.name` in the same namespace;
/// `spec.disabledTLSValidations: ["*"]` turns off certificate verification.
fn from_kubefed<'a>(cluster: &Item, lookup: impl Fn(&str, &str) -> SecretRef<'a>) -> Discovered {
    let origin = format!("KubeFedCluster {}", cluster.qualified());
    let name = cluster.member_name(&cluster.name);
    let kubeconfig = kubefed_kubeconfig(cluster, &name, lookup).map_err(|e| format!("{origin}: {e}"));
    Discovered {
        name,
        origin,
        kubeconfig,
    }
}

fn kubefed_kubeconfig<'a>(
    cluster: &Item,
    name: &str,
    lookup: impl Fn(&str, &str) -> SecretRef<'a>,
) -> Result<String, String> {
    check_member_name(name)?;
    let spec: KubeFedClusterSpec = spec_of(&cluster.object)?;
    let server = server_url(spec.api_endpoint.as_deref().unwrap_or(""))?;
    let secret_name = spec
        .secret_ref
        .and_then(|r| r.name)
        .filter(|n| !n.is_empty())
        .ok_or("has no spec.secretRef.name")?;
    let shown = format!("{}/{secret_name}", cluster.namespace);
    let data = match lookup(&cluster.namespace, &secret_name) {
        SecretRef::Found(data) => data,
        SecretRef::Missing => return Err(format!("its Secret {shown} does not exist")),
        SecretRef::Unknown(why) => return Err(format!("its Secret {shown} cannot be read: {why}")),
    };
    let token = token_of(data, &shown)?;
    let insecure = spec
        .disabled_tls_validations
        .unwrap_or_default()
        .iter()
        .any(|v| v == "*");
    let ca = match spec.ca_bundle.as_ref().filter(|b| !b.0.is_empty()) {
        Some(b) => {
            check_pem(&b.0, "spec.caBundle")?;
            Some(b.0.as_slice())
        }
        None => match data.get("ca.crt").filter(|c| !c.is_empty()) {
            Some(c) => {
                check_pem(c, &format!("key `ca.crt` of its Secret {shown}"))?;
                Some(c.as_slice())
            }
            None => None,
        },
    };
    Ok(kubeconfig_yaml(&Endpoint {
        member: name,
        server,
        ca_pem: ca,
        token,
        insecure,
        proxy_url: spec.proxy_url.as_deref().filter(|p| !p.is_empty()),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KarmadaClusterSpec {
    #[serde(default)]
    sync_mode: Option<String>,
    #[serde(default)]
    api_endpoint: Option<String>,
    #[serde(default)]
    secret_ref: Option<NameRef>,
    #[serde(default, rename = "insecureSkipTLSVerification")]
    insecure_skip_tls_verification: Option<bool>,
    #[serde(default, rename = "proxyURL")]
    proxy_url: Option<String>,
}

/// The namespace of a Karmada Cluster's `spec.secretRef`, if it has one.
fn karmada_secret_namespace(cluster: &Item) -> Option<String> {
    let spec: KarmadaClusterSpec = spec_of(&cluster.object).ok()?;
    spec.secret_ref?.namespace.filter(|n| !n.is_empty())
}

/// A member from a Karmada Cluster in Push mode: `spec.apiEndpoint`, Secret
/// `spec.secretRef` (keys `token`, `caBundle`), `spec.insecureSkipTLSVerification`,
/// `spec.proxyURL`. Pull-mode clusters are an error: the host cannot reach them.
fn from_karmada<'a>(cluster: &Item, lookup: impl Fn(&str, &str) -> SecretRef<'a>) -> Discovered {
    let origin = format!("Karmada Cluster {}", cluster.qualified());
    let name = cluster.member_name(&cluster.name);
    let kubeconfig = karmada_kubeconfig(cluster, &name, lookup).map_err(|e| format!("{origin}: {e}"));
    Discovered {
        name,
        origin,
        kubeconfig,
    }
}

fn karmada_kubeconfig<'a>(
    cluster: &Item,
    name: &str,
    lookup: impl Fn(&str, &str) -> SecretRef<'a>,
) -> Result<String, String> {
    check_member_name(name)?;
    let spec: KarmadaClusterSpec = spec_of(&cluster.object)?;
    if spec.sync_mode.as_deref() == Some("Pull") {
        return Err(
            "is in Pull sync mode: its karmada-agent connects out to Karmada, and its API \
                    server is not reachable from the host (no apiEndpoint or credentials are kept); \
                    list it as a member with its own kubeconfig instead"
                .into(),
        );
    }
    let server = server_url(spec.api_endpoint.as_deref().unwrap_or(""))?;
    let secret_ref = spec.secret_ref.ok_or("has no spec.secretRef")?;
    let (Some(ns), Some(secret_name)) = (
        secret_ref.namespace.filter(|n| !n.is_empty()),
        secret_ref.name.filter(|n| !n.is_empty()),
    ) else {
        return Err("spec.secretRef needs both namespace and name".into());
    };
    let shown = format!("{ns}/{secret_name}");
    let data = match lookup(&ns, &secret_name) {
        SecretRef::Found(data) => data,
        SecretRef::Missing => return Err(format!("its Secret {shown} does not exist")),
        SecretRef::Unknown(why) => return Err(format!("its Secret {shown} cannot be read: {why}")),
    };
    let token = token_of(data, &shown)?;
    let insecure = spec.insecure_skip_tls_verification.unwrap_or(false);
    let ca = match data.get("caBundle").filter(|c| !c.is_empty()) {
        Some(c) if !insecure => {
            check_pem(c, &format!("key `caBundle` of its Secret {shown}"))?;
            Some(c.as_slice())
        }
        _ => None,
    };
    Ok(kubeconfig_yaml(&Endpoint {
        member: name,
        server,
        ca_pem: ca,
        token,
        insecure,
        proxy_url: spec.proxy_url.as_deref().filter(|p| !p.is_empty()),
    }))
}

/// The member map: entries claiming the same name become one `Err` entry naming every claimant
/// (the same object seen through two overlapping registries counts once).
fn merge(found: Vec<Discovered>) -> BTreeMap<String, Discovered> {
    let mut by_name: BTreeMap<String, Vec<Discovered>> = BTreeMap::new();
    for d in found {
        by_name.entry(d.name.clone()).or_default().push(d);
    }
    by_name
        .into_iter()
        .map(|(name, mut claims)| {
            claims.sort_by(|a, b| a.origin.cmp(&b.origin));
            claims.dedup_by(|a, b| a.origin == b.origin);
            let entry = if claims.len() == 1 {
                claims.swap_remove(0)
            } else {
                let origins: Vec<&str> = claims.iter().map(|c| c.origin.as_str()).collect();
                let origin = origins.join(", ");
                Discovered {
                    kubeconfig: Err(format!(
                        "member name {name:?} is claimed by {}: none of them is used until only one \
                         remains (rename one with annotation {MEMBER_NAME_ANNOTATION})",
                        origins.join(" and ")
                    )),
                    name: name.clone(),
                    origin,
                }
            };
            (name, entry)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The edge: watchers on the host cluster.

fn kubefed_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("core.kubefed.io", "v1beta1", "KubeFedCluster"),
        "kubefedclusters",
    )
}

fn karmada_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.karmada.io", "v1alpha1", "Cluster"),
        "clusters",
    )
}

/// Aborts its task when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a watcher task reports.
#[derive(Debug)]
enum WatchEvent {
    Init,
    Put { item: Item, initial: bool },
    Remove(String, String),
    InitDone,
    Failed { error: String, code: Option<u16> },
}

#[derive(Debug)]
struct Msg {
    watch: u64,
    event: WatchEvent,
}

/// Runs a watcher, forwarding its events as [`Msg`]s; after an error, does not poll it again for
/// a backoff delay (kube's watcher then recovers by itself).
fn spawn_watch<K, S>(
    id: u64,
    stream: S,
    to_item: fn(K) -> Option<Item>,
    tx: mpsc::Sender<Msg>,
    settings: DiscoverySettings,
) -> Task
where
    K: Send + 'static,
    S: Stream<Item = watcher::Result<Event<K>>> + Send + 'static,
{
    Task(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut backoff = Backoff::new(settings.backoff, settings.backoff_max);
        while let Some(ev) = stream.next().await {
            let mut delay = None;
            let event = match ev {
                Ok(Event::Init) => WatchEvent::Init,
                Ok(Event::InitApply(o)) => match to_item(o) {
                    Some(item) => WatchEvent::Put { item, initial: true },
                    None => continue,
                },
                Ok(Event::Apply(o)) => {
                    backoff.reset();
                    match to_item(o) {
                        Some(item) => WatchEvent::Put { item, initial: false },
                        None => continue,
                    }
                }
                Ok(Event::Delete(o)) => {
                    backoff.reset();
                    match to_item(o) {
                        Some(item) => WatchEvent::Remove(item.namespace, item.name),
                        None => continue,
                    }
                }
                Ok(Event::InitDone) => {
                    backoff.reset();
                    WatchEvent::InitDone
                }
                Err(e) => {
                    let code = status_code(&e);
                    if code == Some(410) {
                        // Expired: the watcher lists again by itself.
                        debug!(error = %e, "registry watch expired (410 Gone)");
                        continue;
                    }
                    delay = Some(backoff.next_delay());
                    WatchEvent::Failed {
                        error: chain(&e),
                        code,
                    }
                }
            };
            if tx.send(Msg { watch: id, event }).await.is_err() {
                return;
            }
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
        }
    }))
}

/// Secret data with only the value of `key` kept (the other keys, with empty values, only so
/// that errors can list them): no other secret material stays in memory.
fn only_key(data: Option<BTreeMap<String, ByteString>>, key: &str) -> BTreeMap<String, Vec<u8>> {
    data.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == key { v.0 } else { Vec::new() };
            (k, v)
        })
        .collect()
}

/// A kubeconfig Secret: only its `kubeconfig` key is kept.
fn kubeconfig_secret_item(s: Secret) -> Option<Item> {
    let mut item = Item::from_meta(s.metadata)?;
    item.data = only_key(s.data, "kubeconfig");
    Some(item)
}

/// A Cluster API Secret: only `<cluster>-kubeconfig` Secrets, and only their `value` key (the CA,
/// etcd and service account key Secrets of a cluster carry the same label).
fn cluster_api_secret_item(s: Secret) -> Option<Item> {
    if !s.metadata.name.as_deref()?.ends_with("-kubeconfig") {
        return None;
    }
    let mut item = Item::from_meta(s.metadata)?;
    item.data = only_key(s.data, "value");
    Some(item)
}

/// A referenced Secret: only the keys a KubeFedCluster or Karmada Cluster uses are kept.
fn ref_secret_item(s: Secret) -> Option<Item> {
    let name = s.metadata.name?;
    Some(Item {
        name,
        namespace: s.metadata.namespace.unwrap_or_default(),
        data: s
            .data
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| matches!(k.as_str(), "token" | "ca.crt" | "caBundle"))
            .map(|(k, v)| (k, v.0))
            .collect(),
        ..Item::default()
    })
}

fn object_item(o: DynamicObject) -> Option<Item> {
    let mut item = Item::from_meta(o.metadata)?;
    item.object = o.data;
    Some(item)
}

/// What a watcher follows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Watched {
    /// The objects of registry `i`.
    Registry(usize),
    /// Secrets in a namespace, referenced by KubeFedClusters or Karmada Clusters.
    RefSecrets(String),
}

/// A running watcher and what it has delivered.
struct Watch {
    watched: Watched,
    describe: String,
    store: BTreeMap<(String, String), Item>,
    relist: Option<BTreeMap<(String, String), Item>>,
    /// It completed a list at least once.
    listed: bool,
    /// It listed or failed at least once.
    settled: bool,
    /// The current failure, while failing.
    failing: Option<String>,
    _task: Task,
}

struct State {
    client: Client,
    registries: Vec<RegistryConfig>,
    settings: DiscoverySettings,
    tx: mpsc::Sender<Msg>,
    next_id: u64,
    watches: BTreeMap<u64, Watch>,
    /// Watch of each registry's objects (`None`: the registry is invalid and skipped).
    registry_watch: Vec<Option<u64>>,
    /// Watch of referenced Secrets, per namespace.
    ref_watch: BTreeMap<String, u64>,
}

impl State {
    fn new(
        client: Client,
        registries: Vec<RegistryConfig>,
        settings: DiscoverySettings,
        tx: mpsc::Sender<Msg>,
    ) -> Self {
        let mut state = Self {
            client,
            registry_watch: vec![None; registries.len()],
            registries,
            settings,
            tx,
            next_id: 0,
            watches: BTreeMap::new(),
            ref_watch: BTreeMap::new(),
        };
        for i in 0..state.registries.len() {
            let registry = &state.registries[i];
            if let Err(e) = registry.validate() {
                error!(error = %e, "discovery registry is invalid; it is skipped");
                continue;
            }
            info!(registry = %registry, "following member registry");
            let id = state.start(Watched::Registry(i));
            state.registry_watch[i] = Some(id);
        }
        state.sync_ref_watches();
        state
    }

    fn start(&mut self, watched: Watched) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let (c, tx, s) = (self.client.clone(), self.tx.clone(), self.settings);
        let secrets = |ns: Option<&str>| -> Api<Secret> {
            match ns {
                Some(n) => Api::namespaced(c.clone(), n),
                None => Api::all(c.clone()),
            }
        };
        let (describe, task) = match &watched {
            Watched::Registry(i) => {
                let registry = &self.registries[*i];
                let describe = registry.describe();
                let task = match registry {
                    RegistryConfig::KubeconfigSecrets { namespace, selector } => {
                        let selector = LabelSelector::parse(selector).unwrap_or_default().to_string();
                        let config = watcher::Config::default().labels(&selector);
                        let stream = watcher::watcher(secrets(namespace.as_deref()), config);
                        spawn_watch(id, stream, kubeconfig_secret_item, tx, s)
                    }
                    RegistryConfig::ClusterApi { namespace } => {
                        let config = watcher::Config::default().labels(CAPI_CLUSTER_LABEL);
                        let stream = watcher::watcher(secrets(namespace.as_deref()), config);
                        spawn_watch(id, stream, cluster_api_secret_item, tx, s)
                    }
                    RegistryConfig::Kubefed { namespace } => {
                        let api: Api<DynamicObject> =
                            Api::namespaced_with(c.clone(), namespace, &kubefed_resource());
                        let stream = watcher::watcher(api, watcher::Config::default());
                        spawn_watch(id, stream, object_item, tx, s)
                    }
                    RegistryConfig::Karmada {} => {
                        let api: Api<DynamicObject> = Api::all_with(c.clone(), &karmada_resource());
                        let stream = watcher::watcher(api, watcher::Config::default());
                        spawn_watch(id, stream, object_item, tx, s)
                    }
                };
                (describe, task)
            }
            Watched::RefSecrets(ns) => {
                let stream = watcher::watcher(secrets(Some(ns)), watcher::Config::default());
                (
                    format!("Secrets in namespace {ns} (referenced by registry clusters)"),
                    spawn_watch(id, stream, ref_secret_item, tx, s),
                )
            }
        };
        self.watches.insert(
            id,
            Watch {
                watched,
                describe,
                store: BTreeMap::new(),
                relist: None,
                listed: false,
                settled: false,
                failing: None,
                _task: task,
            },
        );
        id
    }

    /// Starts Secret watchers for namespaces newly referenced, stops those no longer referenced.
    fn sync_ref_watches(&mut self) {
        let mut wanted = BTreeSet::new();
        for (i, registry) in self.registries.iter().enumerate() {
            let Some(id) = self.registry_watch[i] else {
                continue;
            };
            match registry {
                RegistryConfig::Kubefed { namespace } => {
                    wanted.insert(namespace.clone());
                }
                RegistryConfig::Karmada {} => {
                    if let Some(w) = self.watches.get(&id) {
                        wanted.extend(w.store.values().filter_map(karmada_secret_namespace));
                    }
                }
                _ => {}
            }
        }
        let gone: Vec<String> = self
            .ref_watch
            .keys()
            .filter(|ns| !wanted.contains(*ns))
            .cloned()
            .collect();
        for ns in gone {
            if let Some(id) = self.ref_watch.remove(&ns) {
                debug!(namespace = %ns, "no longer following Secrets of this namespace");
                self.watches.remove(&id);
            }
        }
        for ns in wanted {
            if !self.ref_watch.contains_key(&ns) {
                debug!(namespace = %ns, "following referenced Secrets of this namespace");
                let id = self.start(Watched::RefSecrets(ns.clone()));
                self.ref_watch.insert(ns, id);
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        let Some(w) = self.watches.get_mut(&msg.watch) else {
            return; // from a watcher stopped since
        };
        let recovered = |w: &mut Watch| {
            if w.failing.take().is_some() {
                info!(watch = %w.describe, "member registry can be read again");
            }
        };
        match msg.event {
            WatchEvent::Init => w.relist = Some(BTreeMap::new()),
            WatchEvent::Put { item, initial: true } => {
                let target = w.relist.get_or_insert_with(BTreeMap::new);
                target.insert(item.key(), item);
            }
            WatchEvent::Put { item, initial: false } => {
                recovered(w);
                w.store.insert(item.key(), item);
            }
            WatchEvent::Remove(ns, name) => {
                recovered(w);
                w.store.remove(&(ns, name));
            }
            WatchEvent::InitDone => {
                recovered(w);
                if let Some(listed) = w.relist.take() {
                    w.store = listed;
                }
                w.listed = true;
                w.settled = true;
            }
            WatchEvent::Failed { error, code } => {
                w.relist = None;
                w.settled = true;
                let error = match (code, &w.watched) {
                    (Some(404), Watched::Registry(i)) => match &self.registries[*i] {
                        RegistryConfig::Kubefed { .. } => format!(
                            "the host API server does not serve kubefedclusters.core.kubefed.io/v1beta1 \
                             (404): is kubefed installed? ({error})"
                        ),
                        RegistryConfig::Karmada {} => format!(
                            "the host API server does not serve clusters.cluster.karmada.io/v1alpha1 \
                             (404): the host must be the Karmada API server ({error})"
                        ),
                        _ => error,
                    },
                    _ => error,
                };
                if w.failing.is_none() {
                    warn!(watch = %w.describe, %error, "cannot read member registry; retrying with backoff");
                } else {
                    debug!(watch = %w.describe, %error, "member registry still failing");
                }
                w.failing = Some(error);
            }
        }
    }

    /// Whether every watcher has listed or failed at least once.
    fn settled(&self) -> bool {
        self.watches.values().all(|w| w.settled)
    }

    fn lookup(&self, ns: &str, name: &str) -> SecretRef<'_> {
        let Some(w) = self.ref_watch.get(ns).and_then(|id| self.watches.get(id)) else {
            return SecretRef::Unknown(format!("Secrets of namespace {ns} are not followed yet"));
        };
        match w.store.get(&(ns.to_string(), name.to_string())) {
            Some(item) => SecretRef::Found(&item.data),
            None if w.listed => SecretRef::Missing,
            None => SecretRef::Unknown(
                w.failing
                    .clone()
                    .unwrap_or_else(|| format!("Secrets of namespace {ns} are not listed yet")),
            ),
        }
    }

    /// The current member map.
    fn assemble(&self) -> BTreeMap<String, Discovered> {
        let mut found = Vec::new();
        let lookup = |ns: &str, name: &str| self.lookup(ns, name);
        for (i, registry) in self.registries.iter().enumerate() {
            let Some(w) = self.registry_watch[i].and_then(|id| self.watches.get(&id)) else {
                continue;
            };
            match registry {
                RegistryConfig::KubeconfigSecrets { selector, .. } => {
                    let selector = LabelSelector::parse(selector).unwrap_or_default();
                    found.extend(
                        w.store
                            .values()
                            .filter(|s| selector.matches(Some(&s.labels)))
                            .map(from_kubeconfig_secret),
                    );
                }
                RegistryConfig::ClusterApi { .. } => {
                    found.extend(w.store.values().filter_map(from_cluster_api_secret));
                }
                RegistryConfig::Kubefed { .. } => {
                    found.extend(w.store.values().map(|c| from_kubefed(c, lookup)));
                }
                RegistryConfig::Karmada {} => {
                    found.extend(w.store.values().map(|c| from_karmada(c, lookup)));
                }
            }
        }
        merge(found)
    }
}

/// Logs what changed between two member maps.
fn log_changes(old: Option<&BTreeMap<String, Discovered>>, new: &BTreeMap<String, Discovered>) {
    let empty = BTreeMap::new();
    let old = old.unwrap_or(&empty);
    for (name, d) in new {
        let before = old.get(name);
        if before == Some(d) {
            continue;
        }
        match &d.kubeconfig {
            Ok(_) if before.is_none() => info!(member = %name, origin = %d.origin, "member discovered"),
            Ok(_) => info!(member = %name, origin = %d.origin, "discovered member changed"),
            Err(e) => warn!(member = %name, origin = %d.origin, error = %e, "discovered member is unusable"),
        }
    }
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        info!(member = %name, "member no longer in any registry");
    }
}

/// Follows every registry on the host cluster and publishes the full current member map on
/// `tx` after every change to it, and once every watcher has listed (or failed: a registry that
/// cannot be read does not hold back the others) for the first time; `None` stays until then.
/// Never returns unless every receiver of `tx` is gone; registry API errors are logged and
/// retried with backoff, never fatal. Identical registry entries are followed once; invalid
/// ones (see [`RegistryConfig::validate`]) are logged and skipped.
pub async fn follow(
    host: Client,
    registries: Vec<RegistryConfig>,
    settings: DiscoverySettings,
    tx: watch::Sender<Option<BTreeMap<String, Discovered>>>,
) {
    let mut unique: Vec<RegistryConfig> = Vec::new();
    for r in registries {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    let (msg_tx, mut msg_rx) = mpsc::channel(1024);
    let mut state = State::new(host, unique, settings, msg_tx);
    loop {
        if state.settled() {
            let members = state.assemble();
            tx.send_if_modified(|current| {
                if current.as_ref() == Some(&members) {
                    return false;
                }
                log_changes(current.as_ref(), &members);
                *current = Some(members);
                true
            });
        }
        let first = tokio::select! {
            () = tx.closed() => return,
            msg = msg_rx.recv() => msg,
        };
        // The state holds a sender: the channel never closes while we run.
        let Some(first) = first else { return };
        state.handle(first);
        let mut handled = 1;
        while handled < MAX_BURST {
            let Ok(msg) = msg_rx.try_recv() else { break };
            state.handle(msg);
            handled += 1;
        }
        state.sync_ref_watches();
    }
}

#[cfg(test)]
mod tests {
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
}
