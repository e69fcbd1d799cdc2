//! Registry: Karmada `Cluster`s (`cluster.karmada.io/v1alpha1`, cluster-scoped): the host is then
//! the Karmada API server, where these objects and their Secrets live.

use std::collections::BTreeSet;

use kube::Client;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::source::{
    Endpoint, Item, NameRef, SecretRef, cluster_member, custom_resource, kubeconfig_yaml, referenced_secret,
    secret_ca, server_url, spec_of, token_of,
};
use super::state::{Msg, Task, watch_custom};
use super::{Discovered, DiscoverySettings, Registry};

/// Every Karmada Cluster.
pub(super) struct Karmada;

impl Registry for Karmada {
    fn watch(&self, client: Client, id: u64, tx: mpsc::Sender<Msg>, settings: DiscoverySettings) -> Task {
        let resource = custom_resource("cluster.karmada.io", "v1alpha1", "Cluster", "clusters");
        watch_custom(client, None, &resource, id, tx, settings)
    }

    fn member<'a>(&self, object: &Item, secrets: &dyn Fn(&str, &str) -> SecretRef<'a>) -> Option<Discovered> {
        Some(from_karmada(object, secrets))
    }

    fn secret_namespaces(&self, objects: &mut dyn Iterator<Item = &Item>) -> BTreeSet<String> {
        objects.filter_map(karmada_secret_namespace).collect()
    }

    fn failure(&self, error: String, code: Option<u16>) -> String {
        match code {
            Some(404) => format!(
                "the host API server does not serve clusters.cluster.karmada.io/v1alpha1 \
                 (404): the host must be the Karmada API server ({error})"
            ),
            _ => error,
        }
    }
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
pub(super) fn karmada_secret_namespace(cluster: &Item) -> Option<String> {
    let spec: KarmadaClusterSpec = spec_of(&cluster.object).ok()?;
    spec.secret_ref?.namespace.filter(|n| !n.is_empty())
}

/// A member from a Karmada Cluster in Push mode: `spec.apiEndpoint`, Secret
/// `spec.secretRef` (keys `token`, `caBundle`), `spec.insecureSkipTLSVerification`,
/// `spec.proxyURL`. Pull-mode clusters are an error: the host cannot reach them.
pub(super) fn from_karmada<'a>(cluster: &Item, lookup: impl Fn(&str, &str) -> SecretRef<'a>) -> Discovered {
    cluster_member(
        "Karmada Cluster",
        cluster,
        lookup,
        |spec: KarmadaClusterSpec, name, lookup| {
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
            let (data, shown) = referenced_secret(lookup, &ns, &secret_name)?;
            let token = token_of(data, &shown)?;
            let insecure = spec.insecure_skip_tls_verification.unwrap_or(false);
            let ca = if insecure {
                None
            } else {
                secret_ca(data, "caBundle", &shown)?
            };
            let proxy_url = spec.proxy_url.as_deref();
            Ok(kubeconfig_yaml(&Endpoint::new(
                name, server, ca, token, insecure, proxy_url,
            )))
        },
    )
}
