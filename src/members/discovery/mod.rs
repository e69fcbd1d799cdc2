//! Member discovery from a federation control plane's cluster registry on the host cluster:
//! kubeconfig Secrets, kubefed `KubeFedCluster`s, Karmada `Cluster`s and Cluster API kubeconfig
//! Secrets, followed live.
//!
//! ```text
//! watcher(registry objects) ──┐
//! watcher(referenced Secrets, per namespace) ─┼─► stores ─► assemble (pure) ─► watch::Sender<map>
//! ```
//!
//! One file per registry, each implementing the small `Registry` trait (which objects it
//! watches, how one becomes a member source): `kubeconfig_secrets`, `kubefed`, `karmada`,
//! `cluster_api`. What they share (the item kept of an object, referenced Secrets, kubeconfig
//! checks and synthesis) is in `source`; the state machine that runs the watchers and assembles
//! the member map is in `state`.
//!
//! * The conversion of a registry object (and the Secret it references) into a kubeconfig, or
//!   into an error naming the object and what is missing, is pure and tested in `tests` without
//!   any API server.
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

mod cluster_api;
mod karmada;
mod kubeconfig_secrets;
mod kubefed;
mod source;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use kube::Client;
use serde::Deserialize;
use tokio::sync::mpsc;

use self::source::{Item, SecretRef};
pub use self::state::follow;
use self::state::{Msg, Task};
use crate::federation::names::check_label;
use crate::federation::selector::LabelSelector;

/// Annotation on a registry object (Secret, KubeFedCluster, Karmada Cluster) that overrides the
/// member name derived from it.
pub const MEMBER_NAME_ANNOTATION: &str = "feddns.io/member-name";
/// Label of Cluster API kubeconfig Secrets naming their cluster.
pub const CAPI_CLUSTER_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Namespace of kubefed's control plane, by default.
pub const DEFAULT_KUBEFED_NAMESPACE: &str = "kube-federation-system";

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

    /// The registry this entry configures.
    fn registry(&self) -> Box<dyn Registry + '_> {
        match self {
            Self::KubeconfigSecrets { namespace, selector } => {
                Box::new(kubeconfig_secrets::KubeconfigSecrets {
                    namespace: namespace.as_deref(),
                    selector: LabelSelector::parse(selector).unwrap_or_default(),
                })
            }
            Self::Kubefed { namespace } => Box::new(kubefed::Kubefed { namespace }),
            Self::Karmada {} => Box::new(karmada::Karmada),
            Self::ClusterApi { namespace } => Box::new(cluster_api::ClusterApi {
                namespace: namespace.as_deref(),
            }),
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

/// One kind of registry: which objects of the host cluster it follows, and how one of them
/// becomes a member source. One file per registry implements it; the state machine
/// ([`state`]) runs them all.
trait Registry {
    /// Starts the watcher of the registry's objects, reporting to `tx` as watch `id`.
    fn watch(&self, client: Client, id: u64, tx: mpsc::Sender<Msg>, settings: DiscoverySettings) -> Task;

    /// The member `object` stands for, its kubeconfig read from the object and the Secrets it
    /// references (`secrets`); `None` when the object is not a member's.
    fn member<'a>(&self, object: &Item, secrets: &dyn Fn(&str, &str) -> SecretRef<'a>) -> Option<Discovered>;

    /// The namespaces of the Secrets the registry's objects reference, followed by watchers of
    /// their own. None by default.
    fn secret_namespaces(&self, _objects: &mut dyn Iterator<Item = &Item>) -> BTreeSet<String> {
        BTreeSet::new()
    }

    /// The message of a failure to read the registry (`code`: the HTTP status, if any).
    fn failure(&self, error: String, _code: Option<u16>) -> String {
        error
    }
}
