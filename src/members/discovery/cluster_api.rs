//! Registry: Cluster API kubeconfig Secrets (`<cluster>-kubeconfig`, key `value`, labelled
//! `cluster.x-k8s.io/cluster-name`).

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::watcher;
use tokio::sync::mpsc;

use super::source::{Item, SecretRef, kubeconfig_from_data, member_of, only_key};
use super::state::{Msg, Task, secrets, spawn_watch};
use super::{CAPI_CLUSTER_LABEL, Discovered, DiscoverySettings, Registry};

/// Cluster API kubeconfig Secrets in `namespace` (all when `None`).
pub(super) struct ClusterApi<'c> {
    pub(super) namespace: Option<&'c str>,
}

impl Registry for ClusterApi<'_> {
    fn watch(&self, client: Client, id: u64, tx: mpsc::Sender<Msg>, settings: DiscoverySettings) -> Task {
        let config = watcher::Config::default().labels(CAPI_CLUSTER_LABEL);
        let stream = watcher::watcher(secrets(client, self.namespace), config);
        spawn_watch(id, stream, cluster_api_secret_item, tx, settings)
    }

    fn member<'a>(&self, object: &Item, _: &dyn Fn(&str, &str) -> SecretRef<'a>) -> Option<Discovered> {
        from_cluster_api_secret(object)
    }
}

/// A member from a Cluster API Secret `<cluster>-kubeconfig` (key `value`), named after its
/// `cluster.x-k8s.io/cluster-name` label (or the annotation); `None` for other Secrets.
pub(super) fn from_cluster_api_secret(secret: &Item) -> Option<Discovered> {
    let cluster = secret.labels.get(CAPI_CLUSTER_LABEL)?;
    if !secret.name.ends_with("-kubeconfig") {
        return None;
    }
    Some(member_of("Secret", secret, cluster, |_| {
        kubeconfig_from_data(&secret.data, "value")
    }))
}

/// A Cluster API Secret: only `<cluster>-kubeconfig` Secrets, and only their `value` key (the CA,
/// etcd and service account key Secrets of a cluster carry the same label).
pub(super) fn cluster_api_secret_item(s: Secret) -> Option<Item> {
    if !s.metadata.name.as_deref()?.ends_with("-kubeconfig") {
        return None;
    }
    let mut item = Item::from_meta(s.metadata)?;
    item.data = only_key(s.data, "value");
    Some(item)
}
