//! Registry: Secrets holding a kubeconfig under key `kubeconfig`, selected by a label selector.

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::watcher;
use tokio::sync::mpsc;

use super::source::{Item, SecretRef, kubeconfig_from_data, member_of, only_key};
use super::state::{Msg, Task, secrets, spawn_watch};
use super::{Discovered, DiscoverySettings, Registry};
use crate::federation::selector::LabelSelector;

/// Kubeconfig Secrets in `namespace` (all when `None`) matching `selector`.
pub(super) struct KubeconfigSecrets<'c> {
    pub(super) namespace: Option<&'c str>,
    pub(super) selector: LabelSelector,
}

impl Registry for KubeconfigSecrets<'_> {
    fn watch(&self, client: Client, id: u64, tx: mpsc::Sender<Msg>, settings: DiscoverySettings) -> Task {
        let config = watcher::Config::default().labels(&self.selector.to_string());
        let stream = watcher::watcher(secrets(client, self.namespace), config);
        spawn_watch(id, stream, kubeconfig_secret_item, tx, settings)
    }

    fn member<'a>(&self, object: &Item, _: &dyn Fn(&str, &str) -> SecretRef<'a>) -> Option<Discovered> {
        self.selector
            .matches(Some(&object.labels))
            .then(|| from_kubeconfig_secret(object))
    }
}

/// A member from a kubeconfig Secret: named after the Secret (or its annotation), kubeconfig
/// from key `kubeconfig`.
pub(super) fn from_kubeconfig_secret(secret: &Item) -> Discovered {
    member_of("Secret", secret, &secret.name, |_| {
        kubeconfig_from_data(&secret.data, "kubeconfig")
    })
}

/// A kubeconfig Secret: only its `kubeconfig` key is kept.
pub(super) fn kubeconfig_secret_item(s: Secret) -> Option<Item> {
    let mut item = Item::from_meta(s.metadata)?;
    item.data = only_key(s.data, "kubeconfig");
    Some(item)
}
