//! What the registries share: the item kept of a watched object, the Secrets a registry object
//! references, the checks of kubeconfig text, and the kubeconfig synthesised for a member from an
//! API endpoint and a token. Pure: no I/O.

use std::collections::BTreeMap;

use feddns_provider::parse_error::serde_reason;
use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::config::Kubeconfig;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Discovered, MEMBER_NAME_ANNOTATION};
use crate::federation::names::check_label;
use crate::federation::parse_errors::kubeconfig_problem;

/// What discovery keeps of a Secret or registry object.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Item {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
    /// Secret data, decoded.
    pub(super) data: BTreeMap<String, Vec<u8>>,
    /// Everything but `apiVersion`, `kind` and `metadata` of a custom object (`Null` for Secrets).
    pub(super) object: Value,
}

impl Item {
    pub(super) fn from_meta(meta: ObjectMeta) -> Option<Self> {
        Some(Self {
            name: meta.name?,
            namespace: meta.namespace.unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            annotations: meta.annotations.unwrap_or_default(),
            data: BTreeMap::new(),
            object: Value::Null,
        })
    }

    pub(super) fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    pub(super) fn qualified(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The member name: the annotation if set, else `default`.
    pub(super) fn member_name(&self, default: &str) -> String {
        match self.annotations.get(MEMBER_NAME_ANNOTATION) {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => default.to_string(),
        }
    }
}

/// A Secret referenced by a registry object, as currently known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SecretRef<'a> {
    /// It exists; its data.
    Found(&'a BTreeMap<String, Vec<u8>>),
    /// It does not exist.
    Missing,
    /// Its namespace cannot be read (yet): why.
    Unknown(String),
}

/// Where a member's API server is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint<'a> {
    pub(super) member: &'a str,
    pub(super) server: String,
    pub(super) ca_pem: Option<&'a [u8]>,
    pub(super) token: &'a str,
    pub(super) insecure: bool,
    pub(super) proxy_url: Option<&'a str>,
}

impl<'a> Endpoint<'a> {
    /// The endpoint of `member` at `server`, authenticated by a bearer token; an empty proxy
    /// URL is none.
    pub(super) fn new(
        member: &'a str,
        server: String,
        ca_pem: Option<&'a [u8]>,
        token: &'a str,
        insecure: bool,
        proxy_url: Option<&'a str>,
    ) -> Self {
        Self {
            member,
            server,
            ca_pem,
            token,
            insecure,
            proxy_url: proxy_url.filter(|p| !p.is_empty()),
        }
    }
}

/// A kubeconfig with one cluster, user and context, all named after the member; the context is
/// current.
pub(super) fn kubeconfig_yaml(e: &Endpoint<'_>) -> String {
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

/// Checks that kubeconfig text parses and that its current context leads to a cluster with a
/// server (what connecting with it needs, short of reading files or the network).
pub(super) fn check_kubeconfig(text: &str) -> Result<(), String> {
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

pub(super) fn check_member_name(name: &str) -> Result<(), String> {
    check_label("member name", name).map_err(|e| format!("{e} (set annotation {MEMBER_NAME_ANNOTATION})"))
}

/// The kubeconfig text under `key` of Secret data, checked.
pub(super) fn kubeconfig_from_data(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Result<String, String> {
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

/// `https://` unless the endpoint has a scheme (kubefed allows `host`, `host:port`).
pub(super) fn server_url(endpoint: &str) -> Result<String, String> {
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
pub(super) fn token_of<'a>(data: &'a BTreeMap<String, Vec<u8>>, secret: &str) -> Result<&'a str, String> {
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

pub(super) fn check_pem(ca: &[u8], what: &str) -> Result<(), String> {
    let pem = b"-----BEGIN CERTIFICATE-----";
    if ca.windows(pem.len()).any(|w| w == pem) {
        Ok(())
    } else {
        Err(format!("{what} is not a PEM certificate"))
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NameRef {
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
}

pub(super) fn spec_of<T: for<'de> Deserialize<'de> + Default>(object: &Value) -> Result<T, String> {
    match object.get("spec") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(spec) => {
            T::deserialize(spec).map_err(|e| format!("spec cannot be read: {}", serde_reason(&e.to_string())))
        }
    }
}

/// Secret data with only the value of `key` kept (the other keys, with empty values, only so
/// that errors can list them): no other secret material stays in memory.
pub(super) fn only_key(data: Option<BTreeMap<String, ByteString>>, key: &str) -> BTreeMap<String, Vec<u8>> {
    data.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == key { v.0 } else { Vec::new() };
            (k, v)
        })
        .collect()
}

/// A member from a registry object: named `default` (or the annotation), with the kubeconfig
/// `build` makes for that name; what is wrong names the object (`<kind> <namespace>/<name>: ...`).
pub(super) fn member_of(
    kind: &str,
    object: &Item,
    default: &str,
    build: impl FnOnce(&str) -> Result<String, String>,
) -> Discovered {
    let origin = format!("{kind} {}", object.qualified());
    let name = object.member_name(default);
    let kubeconfig = check_member_name(&name)
        .and_then(|()| build(&name))
        .map_err(|e| format!("{origin}: {e}"));
    Discovered {
        name,
        origin,
        kubeconfig,
    }
}

/// A member from a registry's cluster object: named after it (or the annotation), its `spec`
/// read as `S` and turned into a kubeconfig by `build`, given the member name and the Secrets.
pub(super) fn cluster_member<'a, S: for<'de> Deserialize<'de> + Default>(
    kind: &str,
    cluster: &Item,
    lookup: impl Fn(&str, &str) -> SecretRef<'a>,
    build: impl FnOnce(S, &str, &dyn Fn(&str, &str) -> SecretRef<'a>) -> Result<String, String>,
) -> Discovered {
    member_of(kind, cluster, &cluster.name, |name| {
        build(spec_of(&cluster.object)?, name, &lookup)
    })
}

/// The data of Secret `namespace/name`, referenced by a registry object, and its name to show.
pub(super) fn referenced_secret<'a>(
    lookup: impl Fn(&str, &str) -> SecretRef<'a>,
    namespace: &str,
    name: &str,
) -> Result<(&'a BTreeMap<String, Vec<u8>>, String), String> {
    let shown = format!("{namespace}/{name}");
    match lookup(namespace, name) {
        SecretRef::Found(data) => Ok((data, shown)),
        SecretRef::Missing => Err(format!("its Secret {shown} does not exist")),
        SecretRef::Unknown(why) => Err(format!("its Secret {shown} cannot be read: {why}")),
    }
}

/// A custom registry object: its metadata and its body.
pub(super) fn object_item(o: DynamicObject) -> Option<Item> {
    let mut item = Item::from_meta(o.metadata)?;
    item.object = o.data;
    Some(item)
}

/// The API resource of a registry's custom objects.
pub(super) fn custom_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The CA certificate under `key` of a referenced Secret (`shown`), checked; `None` when the key
/// is absent or empty.
pub(super) fn secret_ca<'a>(
    data: &'a BTreeMap<String, Vec<u8>>,
    key: &str,
    shown: &str,
) -> Result<Option<&'a [u8]>, String> {
    match data.get(key).filter(|c| !c.is_empty()) {
        Some(c) => {
            check_pem(c, &format!("key `{key}` of its Secret {shown}"))?;
            Ok(Some(c.as_slice()))
        }
        None => Ok(None),
    }
}
