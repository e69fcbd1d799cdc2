//! Registry: kubefed `KubeFedCluster`s (`core.kubefed.io/v1beta1`) in one namespace, with their
//! token Secrets in the same namespace.

use std::collections::BTreeSet;

use k8s_openapi::ByteString;
use kube::Client;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::source::{
    Endpoint, Item, NameRef, SecretRef, check_pem, cluster_member, custom_resource, kubeconfig_yaml,
    referenced_secret, secret_ca, server_url, token_of,
};
use super::state::{Msg, Task, watch_custom};
use super::{Discovered, DiscoverySettings, Registry};

/// The KubeFedClusters of `namespace`.
pub(super) struct Kubefed<'c> {
    pub(super) namespace: &'c str,
}

impl Registry for Kubefed<'_> {
    fn watch(&self, client: Client, id: u64, tx: mpsc::Sender<Msg>, settings: DiscoverySettings) -> Task {
        let resource = custom_resource("core.kubefed.io", "v1beta1", "KubeFedCluster", "kubefedclusters");
        watch_custom(client, Some(self.namespace), &resource, id, tx, settings)
    }

    fn member<'a>(&self, object: &Item, secrets: &dyn Fn(&str, &str) -> SecretRef<'a>) -> Option<Discovered> {
        Some(from_kubefed(object, secrets))
    }

    fn secret_namespaces(&self, _: &mut dyn Iterator<Item = &Item>) -> BTreeSet<String> {
        BTreeSet::from([self.namespace.to_string()])
    }

    fn failure(&self, error: String, code: Option<u16>) -> String {
        match code {
            Some(404) => format!(
                "the host API server does not serve kubefedclusters.core.kubefed.io/v1beta1 \
                 (404): is kubefed installed? ({error})"
            ),
            _ => error,
        }
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

/// A member from a KubeFedCluster: `spec.apiEndpoint`, `spec.caBundle` (else the Secret's
/// `ca.crt`), the token of Secret `spec.secretRef.name` in the same namespace;
/// `spec.disabledTLSValidations: ["*"]` turns off certificate verification.
pub(super) fn from_kubefed<'a>(cluster: &Item, lookup: impl Fn(&str, &str) -> SecretRef<'a>) -> Discovered {
    cluster_member(
        "KubeFedCluster",
        cluster,
        lookup,
        |spec: KubeFedClusterSpec, name, lookup| {
            let server = server_url(spec.api_endpoint.as_deref().unwrap_or(""))?;
            let secret_name = spec
                .secret_ref
                .and_then(|r| r.name)
                .filter(|n| !n.is_empty())
                .ok_or("has no spec.secretRef.name")?;
            let (data, shown) = referenced_secret(lookup, &cluster.namespace, &secret_name)?;
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
                None => secret_ca(data, "ca.crt", &shown)?,
            };
            let proxy_url = spec.proxy_url.as_deref();
            Ok(kubeconfig_yaml(&Endpoint::new(
                name, server, ca, token, insecure, proxy_url,
            )))
        },
    )
}
