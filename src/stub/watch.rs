//! The stub's Kubernetes side: the local cluster's Services, EndpointSlices and Nodes (the
//! member watch of [`crate::members::kube`], folded into a one-member [`Index`]) and the
//! kube-dns ConfigMap's `federations` key. Every change that matters compiles a new [`Zone`]
//! into the server's [`Shared`] slot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::query::{format_federations, parse_federations};
use super::server::Shared;
use super::zone::{LocalServices, Location, StubSettings, Zone};
use crate::index::Index;
use crate::members::MemberEvent;
use crate::members::kube::{WatchSettings, watch_member};
use crate::selector::Selection;

/// The member name of the local cluster in the index and in logs.
pub const LOCAL: &str = "local";
/// The ConfigMap key kube-dns read the federations map from.
pub const FEDERATIONS_KEY: &str = "federations";

/// Where the stub's changing state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The node the stub runs on (`NODE_NAME`): its zone and region go into federated answers.
    pub node_name: String,
    /// The ConfigMap (namespace, name) whose `federations` key overrides `federations`; `None`:
    /// only the flag counts.
    pub configmap: Option<(String, String)>,
    /// The `--federations` map: used while the ConfigMap or its key is absent.
    pub federations: BTreeMap<String, String>,
    /// First delay before failed cluster watches are started again.
    pub backoff: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
}

/// What the stub's Kubernetes side has done, counted (for tests and diagnostics).
#[derive(Debug, Default)]
pub struct StubStats {
    /// ConfigMap events handled (values applied, deletions, completed lists).
    pub configmap_events: AtomicU64,
    /// ConfigMap `federations` values refused as invalid (the map in use stayed).
    pub configmap_refused: AtomicU64,
    /// Zones compiled and swapped in after a change.
    pub zones: AtomicU64,
}

impl StubStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The federations map from the ConfigMap, falling back to the flag (kube-dns' rules): a
/// present key with a valid value replaces the map; an invalid value is refused and the map in
/// use stays; a ConfigMap without the key, or none at all, means the flag's map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationsSource {
    flag: BTreeMap<String, String>,
    current: BTreeMap<String, String>,
    from_configmap: bool,
}

impl FederationsSource {
    /// Starts with the flag's map.
    pub fn new(flag: BTreeMap<String, String>) -> Self {
        Self {
            current: flag.clone(),
            flag,
            from_configmap: false,
        }
    }

    /// The map in use.
    pub fn current(&self) -> &BTreeMap<String, String> {
        &self.current
    }

    /// Whether the map in use came from the ConfigMap.
    pub fn from_configmap(&self) -> bool {
        self.from_configmap
    }

    /// The ConfigMap exists with this value of the key (`None`: no such key). An invalid value
    /// is the error and changes nothing.
    pub fn present(&mut self, value: Option<&str>) -> Result<(), String> {
        match value {
            Some(text) => {
                self.current = parse_federations(text)?;
                self.from_configmap = true;
            }
            None => self.gone(),
        }
        Ok(())
    }

    /// The ConfigMap does not exist.
    pub fn gone(&mut self) {
        self.current = self.flag.clone();
        self.from_configmap = false;
    }
}

/// The local Services with at least one ready endpoint, and this node's location, from the
/// index; `None` for a member that has not been listed.
fn derive(index: &Index, node_name: &str) -> (Option<LocalServices>, Option<Location>, NodeStatus) {
    let Some(member) = index.member(LOCAL).filter(|m| m.is_up()) else {
        return (None, None, NodeStatus::Unlisted);
    };
    let local = member
        .services()
        .filter(|(key, _)| member.ready(key) > 0)
        .map(|(key, _)| (key.namespace.as_str(), key.name.as_str()))
        .collect();
    let (location, status) = match member.node(node_name) {
        None => (None, NodeStatus::Missing),
        Some(n) => match (&n.zone, &n.region) {
            (Some(zone), Some(region)) => {
                let loc = Location {
                    zone: zone.clone(),
                    region: region.clone(),
                };
                match loc.check() {
                    Ok(()) => (Some(loc), NodeStatus::Located),
                    Err(e) => (Some(loc), NodeStatus::BadLabels(e)),
                }
            }
            _ => (None, NodeStatus::Unlabeled),
        },
    };
    (Some(local), location, status)
}

/// What is known of this node, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NodeStatus {
    Unlisted,
    Missing,
    Unlabeled,
    BadLabels(String),
    Located,
}

/// Follows the local cluster and the ConfigMap through `client` and keeps `shared` current,
/// until the task is aborted.
pub async fn follow(
    client: Client,
    settings: StubSettings,
    sources: Sources,
    shared: Shared,
    stats: Arc<StubStats>,
) {
    let (tx, mut members) = mpsc::channel::<MemberEvent>(64);
    let member_task = tokio::spawn(watch_member(
        LOCAL.to_string(),
        client.clone(),
        WatchSettings {
            selection: Selection::default(),
            backoff: sources.backoff,
            backoff_max: sources.backoff_max,
        },
        tx,
    ));
    let _abort = AbortOnDrop(member_task);
    let mut configmap = match &sources.configmap {
        Some((ns, name)) => {
            let api: Api<ConfigMap> = Api::namespaced(client, ns);
            let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
            Some(watcher::watcher(api, config).default_backoff().boxed())
        }
        None => None,
    };
    let configmap_label = sources
        .configmap
        .as_ref()
        .map(|(ns, name)| format!("{ns}/{name}"))
        .unwrap_or_default();

    let mut index = Index::of_every_service();
    index.add_member(LOCAL);
    let mut feds = FederationsSource::new(sources.federations.clone());
    let mut state = shared.current().state().clone();
    let mut node = (NodeStatus::Unlisted, None);
    // Whether the ConfigMap was seen in the list that is under way.
    let mut listing: Option<bool> = None;
    // Federation queries wait for the ConfigMap's first list (or first error), so that the
    // flag's map is not answered for a moment when the ConfigMap says otherwise.
    let mut configmap_settled = configmap.is_none();
    loop {
        let next_configmap = async {
            match configmap.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = members.recv() => {
                let Some(event) = event else { return };
                match event {
                    MemberEvent::Snapshot { snapshot, .. } => index.set_snapshot(LOCAL, snapshot),
                    MemberEvent::Changes { changes, resynced, .. } => index.apply_changes(LOCAL, changes, resynced),
                    // The last state known keeps being answered; watch_member logs the error.
                    MemberEvent::Failed { .. } => index.set_unavailable(LOCAL),
                    MemberEvent::Added { .. } | MemberEvent::Removed { .. } => {}
                }
                index.take_dirty();
                let (local, location, status) = derive(&index, &sources.node_name);
                if (&status, &location) != (&node.0, &node.1) {
                    log_node(&sources.node_name, &status, location.as_ref());
                    node = (status, location.clone());
                }
                if let Some(local) = local
                    && state.local.as_deref() != Some(&local)
                {
                    state.local = Some(Arc::new(local));
                }
                state.location = location;
            }
            event = next_configmap => match event {
                None => {
                    warn!(configmap = %configmap_label, "the ConfigMap watch ended; the federations in use stay");
                    configmap = None;
                    configmap_settled = true;
                }
                Some(event) => {
                    let before = feds.current().clone();
                    let result = match event {
                        Ok(Event::Init) => {
                            listing = Some(false);
                            Ok(())
                        }
                        Ok(Event::InitApply(cm)) => {
                            listing = Some(true);
                            feds.present(federations_value(&cm))
                        }
                        Ok(Event::Apply(cm)) => feds.present(federations_value(&cm)),
                        Ok(Event::InitDone) => {
                            if listing.take() == Some(false) {
                                feds.gone();
                            }
                            configmap_settled = true;
                            Ok(())
                        }
                        Ok(Event::Delete(_)) => {
                            feds.gone();
                            Ok(())
                        }
                        Err(e) => {
                            warn!(configmap = %configmap_label, error = %e, "ConfigMap watch failed; retrying with backoff");
                            configmap_settled = true;
                            Ok(())
                        }
                    };
                    StubStats::bump(&stats.configmap_events);
                    if let Err(e) = result {
                        StubStats::bump(&stats.configmap_refused);
                        error!(
                            configmap = %configmap_label,
                            error = %e,
                            "invalid `federations` value in the ConfigMap, ignoring the update; the federations in use stay"
                        );
                    }
                    if *feds.current() != before {
                        info!(
                            federations = %format_federations(feds.current()),
                            source = if feds.from_configmap() { configmap_label.as_str() } else { "--federations" },
                            "federations changed"
                        );
                    }
                    state.federations = feds.current().clone();
                }
            },
        }
        let mut published = state.clone();
        if !configmap_settled {
            published.local = None;
        }
        let current = shared.current();
        if *current.state() != published {
            if current.state().local.is_none()
                && let Some(local) = &published.local
            {
                info!(
                    services = local.len(),
                    "local cluster listed; answering federation queries"
                );
            }
            shared.replace(Zone::new(&settings, published));
            StubStats::bump(&stats.zones);
        }
    }
}

/// The value of the `federations` key of a ConfigMap.
fn federations_value(cm: &ConfigMap) -> Option<&str> {
    cm.data.as_ref()?.get(FEDERATIONS_KEY).map(String::as_str)
}

fn log_node(node: &str, status: &NodeStatus, location: Option<&Location>) {
    match (status, location) {
        (NodeStatus::Unlisted, _) => {}
        (NodeStatus::Located, Some(loc)) => {
            info!(node, zone = %loc.zone, region = %loc.region, "this node's zone and region");
        }
        (NodeStatus::Missing, _) => warn!(
            node,
            "this node (--node-name) is not in the cluster; federated answers are SERVFAIL until it is"
        ),
        (NodeStatus::Unlabeled, _) => warn!(
            node,
            "this node has no zone and region labels (topology.kubernetes.io/zone|region or \
             failure-domain.beta.kubernetes.io/zone|region); federated answers are SERVFAIL until it has"
        ),
        (NodeStatus::BadLabels(e), _) => {
            warn!(node, error = %e, "this node's zone or region cannot be used in DNS names; federated answers are SERVFAIL");
        }
        (NodeStatus::Located, None) => {}
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MemberSnapshot, NodeProj, ObjectChange, ServiceKey, SliceProj};

    fn map(text: &str) -> BTreeMap<String, String> {
        parse_federations(text).unwrap()
    }

    #[test]
    fn the_configmap_overrides_the_flag_and_invalid_values_change_nothing() {
        let mut f = FederationsSource::new(map("a=a.com"));
        assert_eq!(f.current(), &map("a=a.com"));
        f.present(Some("b=b.com")).unwrap();
        assert_eq!(f.current(), &map("b=b.com"));
        assert!(f.from_configmap());
        let e = f.present(Some("invalid.map=xyz")).unwrap_err();
        assert!(e.contains("invalid.map"), "{e}");
        assert_eq!(f.current(), &map("b=b.com"));
        // An empty value is an empty map, as in kube-dns.
        f.present(Some("")).unwrap();
        assert!(f.current().is_empty());
        // No key, or no ConfigMap: the flag again.
        f.present(None).unwrap();
        assert_eq!(f.current(), &map("a=a.com"));
        assert!(!f.from_configmap());
        f.present(Some("c=c.com")).unwrap();
        f.gone();
        assert_eq!(f.current(), &map("a=a.com"));
    }

    fn node(name: &str, zone: Option<&str>, region: Option<&str>) -> NodeProj {
        NodeProj {
            name: name.into(),
            zone: zone.map(String::from),
            region: region.map(String::from),
        }
    }

    #[test]
    fn local_services_need_a_ready_endpoint_and_the_location_is_this_nodes() {
        let mut index = Index::of_every_service();
        index.add_member(LOCAL);
        assert_eq!(derive(&index, "n1"), (None, None, NodeStatus::Unlisted));
        let mut snap = MemberSnapshot::default();
        for (ns, name, ready) in [("shop", "web", 1), ("shop", "idle", 0), ("shop", "headless", 2)] {
            let key = ServiceKey::new(ns, name);
            snap.apply(ObjectChange::Service(
                key.clone(),
                Some(crate::model::ServiceProj {
                    federated: false,
                    ingress: vec![].into(),
                    options: Default::default(),
                    problems: vec![].into(),
                }),
            ));
            snap.apply(ObjectChange::Slice(
                (ns.into(), format!("{name}-1").into()),
                Some(SliceProj {
                    namespace: ns.into(),
                    name: format!("{name}-1").into(),
                    service: name.into(),
                    ready,
                }),
            ));
        }
        snap.apply(ObjectChange::Node(
            "n1".into(),
            Some(node("n1", Some("z1"), Some("r1"))),
        ));
        snap.apply(ObjectChange::Node(
            "n2".into(),
            Some(node("n2", Some("z2"), None)),
        ));
        index.set_snapshot(LOCAL, snap);
        let (local, location, status) = derive(&index, "n1");
        let local = local.unwrap();
        assert!(local.contains("shop", "web") && local.contains("shop", "headless"));
        assert!(!local.contains("shop", "idle"));
        assert_eq!(location.unwrap().zone, "z1");
        assert_eq!(status, NodeStatus::Located);
        assert_eq!(derive(&index, "n2").2, NodeStatus::Unlabeled);
        assert_eq!(derive(&index, "n3").2, NodeStatus::Missing);
        index.apply_changes(
            LOCAL,
            vec![ObjectChange::Node(
                "n1".into(),
                Some(node("n1", Some("Z_1"), Some("r1"))),
            )],
            false,
        );
        assert!(matches!(derive(&index, "n1").2, NodeStatus::BadLabels(_)));
    }
}
