//! The stub's Kubernetes side: watches of the local cluster's Services and EndpointSlices (into
//! a [`Cluster`]), of the Node the stub runs on (its zone and region), and of the kube-dns
//! ConfigMap's `federations` key. Every change that matters compiles a new [`Zone`] into the
//! server's [`Shared`] slot.
//!
//! A watch that fails keeps the last state known answered and starts again after a backoff
//! (`--watch-backoff` doubling up to its maximum), re-listing what it watches; a re-list
//! replaces the state of its kind as a whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::cluster::{Cluster, ObjectKey, ServiceAddrs, SliceAddrs, project_service, project_slice};
use super::metrics::StubMetrics;
use super::query::{format_federations, parse_federations};
use super::server::Shared;
use super::zone::{Location, StubSettings, StubState, Zone};
use crate::control::backoff::Backoff;
use crate::federation::model::NodeProj;
use crate::members::project::project_node_meta;
use crate::ops::admin::Heartbeat;

/// Most watch events handled before the zone is compiled again.
const MAX_BATCH: usize = 1024;
/// How often the follow loop beats its heartbeat while nothing happens.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

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
    /// First delay before a failed watch is started again.
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

/// This node's zone and region from its projection (`None`: no such node).
fn locate(node: Option<&NodeProj>) -> (Option<Location>, NodeStatus) {
    let Some(n) = node else {
        return (None, NodeStatus::Missing);
    };
    match (&n.zone, &n.region) {
        (Some(zone), Some(region)) => {
            let loc = Location {
                zone: zone.clone(),
                region: region.clone(),
            };
            match loc.check() {
                Ok(()) => (Some(loc), NodeStatus::Located),
                Err(e) => (Some(loc), NodeStatus::BadLabels(e.to_string())),
            }
        }
        _ => (None, NodeStatus::Unlabeled),
    }
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

/// [`Backoff`] as kube's watcher backoff.
struct WatchBackoff(Backoff);

impl Iterator for WatchBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        Some(self.0.next_delay())
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.0.reset();
    }
}

/// One event from one of the watches.
enum Input {
    Services(Box<Result<Event<Service>, watcher::Error>>),
    Slices(Box<Result<Event<EndpointSlice>, watcher::Error>>),
    Node(Box<Result<Event<PartialObjectMeta<Node>>, watcher::Error>>),
    ConfigMap(Box<Result<Event<ConfigMap>, watcher::Error>>),
}

/// A watch's objects while it (re-)lists, replacing the state of its kind when complete.
type Listing<T> = Option<HashMap<ObjectKey, Option<T>>>;

/// Where the follow loop reports: the zone slot, the counters, readiness and liveness.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The zone answered from.
    pub shared: Shared,
    /// What the Kubernetes side has done.
    pub stats: Arc<StubStats>,
    /// The `local_services` gauge.
    pub metrics: Arc<StubMetrics>,
    /// `Ok` once the cluster is listed (federated queries are answered), else why not.
    pub ready: watch::Sender<Result<(), String>>,
    /// Beaten every turn of the loop and every second.
    pub heartbeat: Arc<Heartbeat>,
}

/// The follow loop's state.
struct Follower {
    settings: StubSettings,
    sources: Sources,
    out: Outputs,
    cluster: Cluster,
    services: Listing<ServiceAddrs>,
    slices: Listing<SliceAddrs>,
    /// The node while its watch lists: `Some(None)` until it is seen.
    node_listing: Option<Option<NodeProj>>,
    node: Option<NodeProj>,
    node_status: (NodeStatus, Option<Location>),
    listed: [bool; 3],
    feds: FederationsSource,
    /// Whether the ConfigMap was seen in the list that is under way.
    configmap_listing: Option<bool>,
    /// Federation queries wait for the ConfigMap's first list (or first error), so that the
    /// flag's map is not answered for a moment when the ConfigMap says otherwise.
    configmap_settled: bool,
    configmap_label: String,
    /// The state changed since the zone was last compiled.
    dirty: bool,
}

/// Follows the local cluster and the ConfigMap through `client` and keeps `out.shared` current,
/// until the task is aborted.
pub async fn follow(client: Client, settings: StubSettings, sources: Sources, out: Outputs) {
    let backoff = || WatchBackoff(Backoff::new(sources.backoff, sources.backoff_max));
    let services = watcher::watcher(Api::<Service>::all(client.clone()), watcher::Config::default())
        .backoff(backoff())
        .map(|e| Input::Services(Box::new(e)));
    let slices = watcher::watcher(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default(),
    )
    .backoff(backoff())
    .map(|e| Input::Slices(Box::new(e)));
    // Metadata only, and only this node: its labels are all that is needed.
    let this_node = watcher::Config::default().fields(&format!("metadata.name={}", sources.node_name));
    let node = watcher::watcher(Api::<PartialObjectMeta<Node>>::all(client.clone()), this_node)
        .backoff(backoff())
        .map(|e| Input::Node(Box::new(e)));
    let mut inputs: Vec<std::pin::Pin<Box<dyn Stream<Item = Input> + Send>>> =
        vec![services.boxed(), slices.boxed(), node.boxed()];
    if let Some((ns, name)) = &sources.configmap {
        let api: Api<ConfigMap> = Api::namespaced(client, ns);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        inputs.push(
            watcher::watcher(api, config)
                .backoff(backoff())
                .map(|e| Input::ConfigMap(Box::new(e)))
                .boxed(),
        );
    }
    let mut inputs = futures_util::stream::select_all(inputs);
    let mut follower = Follower {
        cluster: Cluster::new(settings.clone()),
        services: None,
        slices: None,
        node_listing: None,
        node: None,
        node_status: (NodeStatus::Unlisted, None),
        listed: [false; 3],
        feds: FederationsSource::new(sources.federations.clone()),
        configmap_listing: None,
        configmap_settled: sources.configmap.is_none(),
        configmap_label: sources
            .configmap
            .as_ref()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .unwrap_or_default(),
        dirty: false,
        settings,
        sources,
        out,
    };
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            input = inputs.next() => {
                let Some(input) = input else { return };
                follower.handle(input);
                // Whatever else is ready joins this batch: one zone for a burst.
                for _ in 0..MAX_BATCH {
                    match inputs.next().now_or_never() {
                        Some(Some(more)) => follower.handle(more),
                        _ => break,
                    }
                }
                follower.publish();
            }
            _ = tick.tick() => {}
        }
        follower.out.heartbeat.beat();
    }
}

impl Follower {
    fn handle(&mut self, input: Input) {
        match input {
            Input::Services(event) => {
                let event = self.watch_event("services", *event);
                if let Some(done) = apply_event(event, &mut self.services, project_service, |key, svc| {
                    self.cluster.set_service(key, svc);
                }) {
                    self.cluster.replace_services(done);
                    self.listed[0] = true;
                }
            }
            Input::Slices(event) => {
                let event = self.watch_event("endpointslices", *event);
                if let Some(done) = apply_event(event, &mut self.slices, project_slice, |key, slice| {
                    self.cluster.set_slice(key, slice);
                }) {
                    self.cluster.replace_slices(done);
                    self.listed[1] = true;
                }
            }
            Input::Node(event) => {
                let event = self.watch_event("node", *event);
                self.node_event(event);
            }
            Input::ConfigMap(event) => self.configmap_event(*event),
        }
        if self.cluster.take_changed() {
            self.dirty = true;
        }
    }

    /// The event of a watch, or `None` after logging its error.
    fn watch_event<K>(&self, what: &str, event: Result<Event<K>, watcher::Error>) -> Option<Event<K>> {
        match event {
            Ok(e) => Some(e),
            Err(e) => {
                warn!(watch = what, error = %e, "watch of the local cluster failed; the last state known stays, retrying with backoff");
                None
            }
        }
    }

    fn node_event(&mut self, event: Option<Event<PartialObjectMeta<Node>>>) {
        let wanted = |meta: &PartialObjectMeta<Node>| {
            project_node_meta(&meta.metadata).filter(|n| n.name == self.sources.node_name)
        };
        match event {
            None => return,
            Some(Event::Init) => self.node_listing = Some(None),
            Some(Event::InitApply(meta)) => {
                if let Some(n) = wanted(&meta) {
                    self.node_listing = Some(Some(n));
                }
            }
            Some(Event::InitDone) => {
                self.node = self.node_listing.take().flatten();
                self.listed[2] = true;
            }
            Some(Event::Apply(meta)) => {
                if let Some(n) = wanted(&meta) {
                    self.node = Some(n);
                }
            }
            Some(Event::Delete(meta)) => {
                if wanted(&meta).is_some() {
                    self.node = None;
                }
            }
        }
        if !self.listed[2] {
            return;
        }
        let (location, status) = locate(self.node.as_ref());
        if (&status, &location) != (&self.node_status.0, &self.node_status.1) {
            log_node(&self.sources.node_name, &status, location.as_ref());
            self.node_status = (status, location);
            self.dirty = true;
        }
    }

    fn configmap_event(&mut self, event: Result<Event<ConfigMap>, watcher::Error>) {
        let before = self.feds.current().clone();
        let result = match event {
            Ok(Event::Init) => {
                self.configmap_listing = Some(false);
                Ok(())
            }
            Ok(Event::InitApply(cm)) => {
                self.configmap_listing = Some(true);
                self.feds.present(federations_value(&cm))
            }
            Ok(Event::Apply(cm)) => self.feds.present(federations_value(&cm)),
            Ok(Event::InitDone) => {
                if self.configmap_listing.take() == Some(false) {
                    self.feds.gone();
                }
                self.configmap_settled = true;
                self.dirty = true;
                Ok(())
            }
            Ok(Event::Delete(_)) => {
                self.feds.gone();
                Ok(())
            }
            Err(e) => {
                warn!(configmap = %self.configmap_label, error = %e, "ConfigMap watch failed; retrying with backoff");
                self.configmap_settled = true;
                self.dirty = true;
                Ok(())
            }
        };
        StubStats::bump(&self.out.stats.configmap_events);
        if let Err(e) = result {
            StubStats::bump(&self.out.stats.configmap_refused);
            error!(
                configmap = %self.configmap_label,
                error = %e,
                "invalid `federations` value in the ConfigMap, ignoring the update; the federations in use stay"
            );
        }
        if *self.feds.current() != before {
            info!(
                federations = %format_federations(self.feds.current()),
                source = if self.feds.from_configmap() { self.configmap_label.as_str() } else { "--federations" },
                "federations changed"
            );
            self.dirty = true;
        }
    }

    /// Compiles and swaps in a new zone if anything changed.
    fn publish(&mut self) {
        let listed = self.listed.iter().all(|l| *l) && self.configmap_settled;
        let was_listed = self.out.shared.current().state().local.is_some();
        if !std::mem::take(&mut self.dirty) && listed == was_listed {
            return;
        }
        let state = StubState {
            federations: self.feds.current().clone(),
            location: self.node_status.1.clone(),
            local: listed.then(|| Arc::new(self.cluster.local().clone())),
        };
        let services = self.cluster.local().len();
        if listed && !was_listed {
            info!(services, "local cluster listed; answering federation queries");
            let _ = self.out.ready.send_replace(Ok(()));
        }
        self.out.metrics.set_local_services(services);
        self.out.shared.replace(Zone::new(&self.settings, state));
        StubStats::bump(&self.out.stats.zones);
    }
}

/// Applies one watch event to `listing` (while a list is under way) or through `apply` (after
/// it); returns the complete list when one ends.
fn apply_event<K, T>(
    event: Option<Event<K>>,
    listing: &mut Listing<T>,
    project: impl Fn(&K) -> Option<(ObjectKey, Option<T>)>,
    mut apply: impl FnMut(ObjectKey, Option<T>),
) -> Option<HashMap<ObjectKey, Option<T>>> {
    match event? {
        Event::Init => *listing = Some(HashMap::new()),
        Event::InitApply(obj) => {
            if let (Some(list), Some((key, value))) = (listing.as_mut(), project(&obj)) {
                list.insert(key, value);
            }
        }
        Event::InitDone => return Some(listing.take().unwrap_or_default()),
        Event::Apply(obj) => {
            if let Some((key, value)) = project(&obj) {
                apply(key, value);
            }
        }
        Event::Delete(obj) => {
            if let Some((key, _)) = project(&obj) {
                apply(key, None);
            }
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn node(zone: Option<&str>, region: Option<&str>) -> NodeProj {
        NodeProj {
            name: "n1".into(),
            zone: zone.map(String::from),
            region: region.map(String::from),
        }
    }

    #[test]
    fn the_location_is_this_nodes_when_it_has_usable_labels() {
        let (loc, status) = locate(Some(&node(Some("z1"), Some("r1"))));
        assert_eq!(status, NodeStatus::Located);
        assert_eq!(loc.unwrap().zone, "z1");
        assert_eq!(locate(None), (None, NodeStatus::Missing));
        assert_eq!(
            locate(Some(&node(Some("z1"), None))),
            (None, NodeStatus::Unlabeled)
        );
        assert!(matches!(
            locate(Some(&node(Some("Z_1"), Some("r1")))).1,
            NodeStatus::BadLabels(_)
        ));
    }

    #[test]
    fn a_list_replaces_and_later_events_apply() {
        let project = |v: &(&str, i32)| Some(((String::from("ns"), v.0.to_string()), Some(v.1)));
        let mut listing: Listing<i32> = None;
        let mut applied = Vec::new();
        let mut step = |e, listing: &mut Listing<i32>| {
            apply_event(Some(e), listing, project, |k: ObjectKey, v| {
                applied.push((k.1, v))
            })
        };
        assert!(step(Event::Init, &mut listing).is_none());
        assert!(step(Event::InitApply(("a", 1)), &mut listing).is_none());
        assert!(step(Event::InitApply(("b", 2)), &mut listing).is_none());
        let done = step(Event::InitDone, &mut listing).unwrap();
        assert_eq!(done.len(), 2);
        assert!(listing.is_none());
        assert!(step(Event::Apply(("a", 3)), &mut listing).is_none());
        assert!(step(Event::Delete(("b", 2)), &mut listing).is_none());
        assert_eq!(applied, [("a".to_string(), Some(3)), ("b".to_string(), None)]);
    }
}
