//! Members from Kubernetes API servers: kube-rs watchers on Services, Nodes (metadata only) and
//! EndpointSlices, and (with the `ingress` and `gateway` sources) Ingresses, Gateways,
//! HTTPRoutes, GRPCRoutes and TLSRoutes, projected as they arrive.
//!
//! ```text
//! watcher(Services) ─┐
//! metadata_watcher(Nodes) ─┼─► project ─► changed? (hash per object) ─► MemberEvent
//! watcher(EndpointSlices) ─┘
//! ```
//!
//! * The first complete list of every kind is sent as one [`MemberEvent::Snapshot`]; after that,
//!   watch events go out as [`MemberEvent::Changes`], bursts gathered into one event.
//! * Only a hash of each object's projection is kept here (the index holds the projections), so
//!   that a re-list can tell what actually changed: a watch that expires (410 Gone) re-lists
//!   without producing a single change.
//! * Any other watch error makes the member unavailable ([`MemberEvent::Failed`], once): the
//!   watchers are dropped and started again after an exponential backoff with jitter. Their
//!   complete re-list is sent as changes with `resynced`, which makes the member current again.
//! * The Ingress and Gateway API kinds are optional: a kind the API server does not serve (404:
//!   its CRD is not installed, or not at `v1`) or refuses (403: RBAC) is reported once for the
//!   member ([`ObjectChange::Unread`], a warning in the log) and retried on its own with backoff;
//!   it never makes the member unavailable nor holds up its first snapshot. A kind that is not
//!   installed has no objects; one that is refused keeps what was last read of it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::mpsc::Sender;
use tracing::{debug, info, warn};

use super::MemberEvent;
use super::gateway_api::{Gateway, GrpcRoute, HttpRoute, Route, TlsRoute};
use super::project::{
    DEFAULT_NAMESPACE, project_gateway, project_ingress, project_node_meta, project_route, project_service,
    project_slice, service_key,
};
use crate::config::{MemberConfig, MemberSource};
use crate::control::backoff::Backoff;
use feddns_provider::DnsName;

use crate::federation::model::{MemberSnapshot, ObjectChange, RouteKey, RouteKind, ServiceKey, SourceKind};
use crate::federation::parse_errors::{self, chain, kubeconfig_problem};
use crate::federation::selector::Selection;

/// Most events gathered into one [`MemberEvent::Changes`].
const MAX_BURST: usize = 4096;

/// How the watchers of a member behave.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Which Services are considered.
    pub selection: Selection,
    /// First delay before failed watchers are started again.
    pub backoff: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
}

/// Why a member's client cannot be built: the member, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("member {member}: {problem}")]
pub struct ConnectError {
    /// The member's name.
    pub member: String,
    /// What is wrong.
    pub problem: ConnectProblem,
}

/// What is wrong with a member's connection settings. Messages name the file, field or registry
/// object and the problem, never the content of a kubeconfig (it holds credentials).
#[derive(Debug, thiserror::Error)]
pub enum ConnectProblem {
    /// The member is a snapshot file.
    #[error("is a snapshot file, not a cluster")]
    SnapshotFile,
    /// The registry entry the member was discovered from is unusable.
    #[error("{0}")]
    Discovered(String),
    /// Its kubeconfig cannot be read, or its context is missing or broken.
    #[error("{0}")]
    Kubeconfig(String),
    /// `in_cluster` outside a pod.
    #[error("in_cluster: not running in a Kubernetes pod with a service account: {source}")]
    InCluster {
        /// Why kube cannot read the pod's service account.
        #[source]
        source: kube::config::InClusterError,
    },
    /// kube refused the configuration (TLS, proxy).
    #[error("cannot build a client: {detail}")]
    Client {
        /// The error and its sources, on one line.
        detail: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
}

/// A client for a Kubernetes member. Errors name the member and say what is wrong with its
/// kubeconfig or environment; nothing is contacted yet.
pub async fn connect(member: &MemberConfig) -> Result<Client, ConnectError> {
    let fail = |problem| ConnectError {
        member: member.name.clone(),
        problem,
    };
    let kubeconfig = |text: String| fail(ConnectProblem::Kubeconfig(text));
    let config = match member.source() {
        MemberSource::File(_) => return Err(fail(ConnectProblem::SnapshotFile)),
        MemberSource::Discovered(d) => {
            let origin = &d.origin;
            let text = d.kubeconfig.map_err(|e| fail(ConnectProblem::Discovered(e)))?;
            let parsed = Kubeconfig::from_yaml(&text)
                .map_err(|e| kubeconfig(format!("{origin}: kubeconfig: {}", kubeconfig_problem(&e))))?;
            check_context(&parsed, None).map_err(|e| kubeconfig(format!("{origin}: kubeconfig {e}")))?;
            kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
                .await
                .map_err(|e| kubeconfig(format!("{origin}: kubeconfig: {}", kubeconfig_problem(&e))))?
        }
        MemberSource::InCluster => {
            kube::Config::incluster().map_err(|source| fail(ConnectProblem::InCluster { source }))?
        }
        MemberSource::Kubeconfig { path, context } => {
            let (loaded, shown) = match &path {
                Some(p) => (Kubeconfig::read_from(p), p.display().to_string()),
                None => (Kubeconfig::read(), "$KUBECONFIG or ~/.kube/config".to_string()),
            };
            let loaded = loaded.map_err(|e| {
                kubeconfig(format!(
                    "cannot load kubeconfig {}",
                    parse_errors::kubeconfig(&shown, &e)
                ))
            })?;
            check_context(&loaded, context.as_deref())
                .map_err(|e| kubeconfig(format!("kubeconfig {shown}: {e}")))?;
            let options = KubeConfigOptions {
                context,
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(loaded, &options)
                .await
                .map_err(|e| kubeconfig(format!("kubeconfig {}", parse_errors::kubeconfig(&shown, &e))))?
        }
    };
    Client::try_from(config).map_err(|source| {
        fail(ConnectProblem::Client {
            detail: chain(&source),
            source,
        })
    })
}

/// The context to use must exist (kube's own message for a missing one is unclear).
fn check_context(kubeconfig: &Kubeconfig, context: Option<&str>) -> Result<(), String> {
    let names: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
    let wanted = match context {
        Some(c) => c,
        None => match &kubeconfig.current_context {
            Some(c) if !c.is_empty() => c,
            _ => return Err("has no current-context; set `context` on the member".into()),
        },
    };
    if names.contains(&wanted) {
        Ok(())
    } else {
        Err(format!(
            "has no context {wanted:?} (it has: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    }
}

/// The kinds watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Services,
    Nodes,
    EndpointSlices,
    Ingresses,
    Gateways,
    Routes(RouteKind),
}

impl Kind {
    /// Whether the member is read without it when it cannot be (see the module docs).
    fn optional(self) -> bool {
        matches!(self, Self::Ingresses | Self::Gateways | Self::Routes(_))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Services => "services",
            Self::Nodes => "nodes",
            Self::EndpointSlices => "endpointslices",
            Self::Ingresses => "ingresses",
            Self::Gateways => "gateways",
            Self::Routes(RouteKind::Http) => "httproutes",
            Self::Routes(RouteKind::Grpc) => "grpcroutes",
            Self::Routes(RouteKind::Tls) => "tlsroutes",
        })
    }
}

/// What a watcher delivered, already projected.
enum Delivered {
    /// A new list begins.
    Init,
    /// An object exists (listed or changed): its key and projection (`None`: not considered).
    Present(Key, Option<ObjectChange>),
    /// An object is gone.
    Gone(Key),
    /// The list is complete.
    InitDone,
    /// The watch failed.
    Error(watcher::Error),
}

/// The identity of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Service(ServiceKey),
    Node(String),
    Slice(DnsName, DnsName),
    Ingress(ServiceKey),
    Gateway(ServiceKey),
    Route(RouteKey),
}

type Watch = Pin<Box<dyn Stream<Item = (usize, Delivered)> + Send>>;

/// State of one watcher stream: the hashes of the projections it delivered.
struct StreamState {
    kind: Kind,
    known: HashMap<Key, u64>,
    relisting: Option<HashSet<Key>>,
    listed: bool,
    /// Why an optional kind cannot be read, while it cannot.
    unread: Option<String>,
}

impl StreamState {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            known: HashMap::new(),
            relisting: None,
            listed: false,
            unread: None,
        }
    }
}

fn hash_of(change: &ObjectChange) -> u64 {
    let mut h = DefaultHasher::new();
    match change {
        ObjectChange::Service(_, s) => s.hash(&mut h),
        ObjectChange::Node(_, n) => n.hash(&mut h),
        ObjectChange::Slice(_, s) => s.hash(&mut h),
        ObjectChange::Ingress(_, p) => p.hash(&mut h),
        ObjectChange::Gateway(_, p) => p.hash(&mut h),
        ObjectChange::Route(_, p) => p.hash(&mut h),
        ObjectChange::Unread(_, why) => why.hash(&mut h),
    }
    h.finish()
}

fn gone(key: Key) -> ObjectChange {
    match key {
        Key::Service(k) => ObjectChange::Service(k, None),
        Key::Node(n) => ObjectChange::Node(n, None),
        Key::Slice(ns, n) => ObjectChange::Slice((ns, n), None),
        Key::Ingress(k) => ObjectChange::Ingress(k, None),
        Key::Gateway(k) => ObjectChange::Gateway(k, None),
        Key::Route(k) => ObjectChange::Route(k, None),
    }
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
}

/// An object the selection chooses by namespace and labels (a Service, an Ingress, a Gateway):
/// its key, and its projection when it is chosen.
fn selected_delivered<T, P>(
    obj: &T,
    selection: &Selection,
    project: impl FnOnce(&T) -> Option<P>,
    change: impl FnOnce(ServiceKey, Option<P>) -> ObjectChange,
    key: impl FnOnce(ServiceKey) -> Key,
) -> Option<(Key, Option<ObjectChange>)>
where
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
{
    let meta = obj.metadata();
    let k = service_key(meta)?;
    let proj = selection
        .selects(&k.namespace, meta.labels.as_ref())
        .then(|| project(obj))
        .flatten();
    let change = proj.map(|p| change(k.clone(), Some(p)));
    Some((key(k), change))
}

fn service_delivered(svc: Service, selection: &Selection) -> Option<(Key, Option<ObjectChange>)> {
    selected_delivered(
        &svc,
        selection,
        project_service,
        ObjectChange::Service,
        Key::Service,
    )
}

fn slice_delivered(slice: EndpointSlice, selection: &Selection) -> Option<(Key, Option<ObjectChange>)> {
    let ns = DnsName::intern(namespace_of(&slice.metadata));
    let proj = selection
        .namespace_selected(&ns)
        .then(|| project_slice(&slice))
        .flatten();
    // The key and the projection share the slice's name.
    let name = match &proj {
        Some(p) => p.name.clone(),
        None => slice.metadata.name.as_deref()?.into(),
    };
    let change = proj.map(|p| ObjectChange::Slice((p.namespace.clone(), p.name.clone()), Some(p)));
    Some((Key::Slice(ns, name), change))
}

fn ingress_delivered(ingress: Ingress, selection: &Selection) -> Option<(Key, Option<ObjectChange>)> {
    selected_delivered(
        &ingress,
        selection,
        project_ingress,
        ObjectChange::Ingress,
        Key::Ingress,
    )
}

fn gateway_delivered(gw: Gateway, selection: &Selection) -> Option<(Key, Option<ObjectChange>)> {
    selected_delivered(
        &gw,
        selection,
        project_gateway,
        ObjectChange::Gateway,
        Key::Gateway,
    )
}

/// Routes are taken from the selected namespaces; the label selector chooses their Gateways.
fn route_delivered(
    kind: RouteKind,
    route: &impl Route,
    selection: &Selection,
) -> Option<(Key, Option<ObjectChange>)> {
    let key = (kind, service_key(route.meta())?);
    let change = selection
        .namespace_selected(&key.1.namespace)
        .then(|| project_route(kind, route))
        .flatten()
        .map(|p| ObjectChange::Route(key.clone(), Some(p)));
    Some((Key::Route(key), change))
}

fn node_delivered(node: PartialObjectMeta<Node>) -> Option<(Key, Option<ObjectChange>)> {
    let proj = project_node_meta(&node.metadata)?;
    Some((
        Key::Node(proj.name.clone()),
        Some(ObjectChange::Node(proj.name.clone(), Some(proj))),
    ))
}

/// Maps a watcher's events to [`Delivered`], tagged with the stream's index.
fn tagged<K, S>(
    index: usize,
    stream: S,
    project: impl Fn(K) -> Option<(Key, Option<ObjectChange>)> + Send + 'static,
) -> Watch
where
    S: Stream<Item = watcher::Result<Event<K>>> + Send + 'static,
{
    Box::pin(stream.filter_map(move |ev| {
        let delivered = match ev {
            Ok(Event::Init) => Some(Delivered::Init),
            Ok(Event::InitDone) => Some(Delivered::InitDone),
            Ok(Event::Apply(o) | Event::InitApply(o)) => project(o).map(|(k, c)| Delivered::Present(k, c)),
            Ok(Event::Delete(o)) => project(o).map(|(k, _)| Delivered::Gone(k)),
            Err(e) => Some(Delivered::Error(e)),
        };
        std::future::ready(delivered.map(|d| (index, d)))
    }))
}

/// The watchers of a member: Services, EndpointSlices, Ingresses, Gateways and routes (those the
/// sources need) in every selected namespace (one watch for all namespaces unless a list is
/// configured), Nodes as metadata only. The optional kinds retry on their own with `backoff`.
fn start_watchers(client: &Client, settings: &WatchSettings) -> (Vec<Kind>, Vec<Watch>) {
    let selection = &settings.selection;
    let scopes: Vec<Option<&String>> = if selection.namespaces.is_empty() {
        vec![None]
    } else {
        selection
            .namespaces
            .iter()
            .filter(|ns| !selection.exclude_namespaces.contains(*ns))
            .map(Some)
            .collect()
    };
    let labelled = if selection.labels.is_empty() {
        watcher::Config::default()
    } else {
        watcher::Config::default().labels(&selection.labels.to_string())
    };
    let mut w = Watches {
        client,
        scopes: &scopes,
        kinds: Vec::new(),
        watches: Vec::new(),
        settings,
    };
    if selection.reads(SourceKind::Service) {
        let sel = selection.clone();
        w.add(Kind::Services, labelled.clone(), move |s| {
            service_delivered(s, &sel)
        });
    }
    // Ingresses need the ready endpoints of their backends.
    if selection.reads(SourceKind::Service) || selection.reads(SourceKind::Ingress) {
        let sel = selection.clone();
        w.add(Kind::EndpointSlices, watcher::Config::default(), move |s| {
            slice_delivered(s, &sel)
        });
    }
    if selection.reads(SourceKind::Ingress) {
        let sel = selection.clone();
        w.add(Kind::Ingresses, labelled.clone(), move |i| {
            ingress_delivered(i, &sel)
        });
    }
    if selection.reads(SourceKind::Gateway) {
        let sel = selection.clone();
        w.add(Kind::Gateways, labelled, move |g| gateway_delivered(g, &sel));
        let sel = selection.clone();
        w.add(
            Kind::Routes(RouteKind::Http),
            watcher::Config::default(),
            move |r: HttpRoute| route_delivered(RouteKind::Http, &r, &sel),
        );
        let sel = selection.clone();
        w.add(
            Kind::Routes(RouteKind::Grpc),
            watcher::Config::default(),
            move |r: GrpcRoute| route_delivered(RouteKind::Grpc, &r, &sel),
        );
        let sel = selection.clone();
        w.add(
            Kind::Routes(RouteKind::Tls),
            watcher::Config::default(),
            move |r: TlsRoute| route_delivered(RouteKind::Tls, &r, &sel),
        );
    }
    // Metadata only: labels are all that is needed of a Node.
    let nodes: Api<PartialObjectMeta<Node>> = Api::all(client.clone());
    let index = w.kinds.len();
    w.watches.push(tagged(
        index,
        watcher::watcher(nodes, watcher::Config::default()),
        node_delivered,
    ));
    w.kinds.push(Kind::Nodes);
    (w.kinds, w.watches)
}

/// The watches of a member being started.
struct Watches<'a> {
    client: &'a Client,
    scopes: &'a [Option<&'a String>],
    kinds: Vec<Kind>,
    watches: Vec<Watch>,
    settings: &'a WatchSettings,
}

impl Watches<'_> {
    /// One watch of `kind` per namespace scope.
    fn add<K>(
        &mut self,
        kind: Kind,
        config: watcher::Config,
        project: impl Fn(K) -> Option<(Key, Option<ObjectChange>)> + Clone + Send + 'static,
    ) where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + fmt::Debug
            + Send
            + 'static,
    {
        for scope in self.scopes {
            let api: Api<K> = match scope {
                Some(ns) => Api::namespaced(self.client.clone(), ns),
                None => Api::all(self.client.clone()),
            };
            let stream = watcher::watcher(api, config.clone());
            let index = self.kinds.len();
            let watch = if kind.optional() {
                let backoff = Backoff::new(self.settings.backoff, self.settings.backoff_max);
                tagged(index, stream.backoff(backoff), project.clone())
            } else {
                tagged(index, stream, project.clone())
            };
            self.watches.push(watch);
            self.kinds.push(kind);
        }
    }
}

/// Whether a watch error is the API server's 410 Gone, after which the watcher re-lists by itself.
fn is_expired(e: &watcher::Error) -> bool {
    matches!(e, watcher::Error::WatchError(status) if status.code == 410)
}

/// Watches member `member` through `client` and reports on `tx` until `tx` closes.
pub async fn watch_member(member: String, client: Client, settings: WatchSettings, tx: Sender<MemberEvent>) {
    let mut backoff = Backoff::new(settings.backoff, settings.backoff_max);
    let mut states: Vec<StreamState> = Vec::new();
    let mut failing = false;
    // Changes not sent yet. They outlive a failed attempt: the hashes already record them, so a
    // re-list would not find them again. Until the first snapshot is sent they are folded into
    // it as they arrive (a member's first list can hold many thousands of objects).
    let mut pending = Pending::Snapshot(MemberSnapshot::default());
    loop {
        let (kinds, watches) = start_watchers(&client, &settings);
        if states.len() != kinds.len() {
            states = kinds.iter().map(|k| StreamState::new(*k)).collect();
        }
        for s in &mut states {
            s.listed = false;
        }
        let mut merged = futures_util::stream::select_all(watches);
        let mut synced = false;
        let error = 'watch: loop {
            let first = tokio::select! {
                () = tx.closed() => return,
                next = merged.next() => next,
            };
            let Some(first) = first else {
                break 'watch "the watch streams ended".to_string();
            };
            let mut next = Some(first);
            let mut handled = 0;
            while let Some((i, delivered)) = next {
                if let Err(e) = handle(&member, &mut states[i], delivered, &mut |c| pending.push(c)) {
                    break 'watch format!("{} watch: {}", kinds[i], chain(&e));
                }
                handled += 1;
                next = if handled < MAX_BURST {
                    merged.next().now_or_never().flatten()
                } else {
                    None
                };
            }
            if !synced && states.iter().all(|s| s.listed) {
                synced = true;
                backoff.reset();
                let event = match std::mem::replace(&mut pending, Pending::Changes(Vec::new())) {
                    Pending::Changes(changes) => {
                        info!(%member, changes = changes.len(), "member listed again; it is current");
                        MemberEvent::Changes {
                            member: member.clone(),
                            changes,
                            resynced: true,
                        }
                    }
                    Pending::Snapshot(snapshot) => MemberEvent::Snapshot {
                        member: member.clone(),
                        snapshot,
                    },
                };
                failing = false;
                if tx.send(event).await.is_err() {
                    return;
                }
            } else if synced
                && let Pending::Changes(changes) = &mut pending
                && !changes.is_empty()
            {
                let event = MemberEvent::Changes {
                    member: member.clone(),
                    changes: std::mem::take(changes),
                    resynced: false,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        };
        drop(merged);
        if !failing {
            failing = true;
            warn!(%member, %error, "member watch failed; retrying with backoff");
            let event = MemberEvent::Failed {
                member: member.clone(),
                error,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        } else {
            debug!(%member, %error, "member still failing");
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// What a member has not sent yet: its first snapshot, being listed, or changes.
enum Pending {
    Snapshot(MemberSnapshot),
    Changes(Vec<ObjectChange>),
}

impl Pending {
    fn push(&mut self, change: ObjectChange) {
        match self {
            Self::Snapshot(s) => s.apply(change),
            Self::Changes(c) => c.push(change),
        }
    }
}

/// The HTTP status of a failed list or watch, if the API server answered one.
pub(crate) fn status_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

/// An optional kind the API server does not serve (404) or refuses (403): reported once, left
/// out (404: nothing of it exists; 403: what was read stays), retried by the stream's backoff.
/// Any other error is the member's.
fn unreadable(
    member: &str,
    state: &mut StreamState,
    e: &watcher::Error,
    pending: &mut impl FnMut(ObjectChange),
) -> bool {
    let why = match status_code(e) {
        Some(404) => format!(
            "not served by the API server (is its CRD installed at {}?); retried",
            api_version(state.kind)
        ),
        Some(403) => "access denied (add get/list/watch on it to the member's RBAC); retried".to_string(),
        _ => return false,
    };
    state.listed = true;
    state.relisting = None;
    if state.unread.as_deref() != Some(why.as_str()) {
        warn!(%member, kind = %state.kind, error = %chain(e), "{} cannot be read: {why}", state.kind);
        if status_code(e) == Some(404) {
            for key in std::mem::take(&mut state.known).into_keys() {
                pending(gone(key));
            }
        }
        pending(ObjectChange::Unread(state.kind.to_string(), Some(why.clone())));
        state.unread = Some(why);
    } else {
        debug!(%member, kind = %state.kind, "still cannot be read");
    }
    true
}

fn api_version(kind: Kind) -> &'static str {
    match kind {
        Kind::Ingresses => "networking.k8s.io/v1",
        Kind::Gateways | Kind::Routes(_) => "gateway.networking.k8s.io/v1",
        Kind::Services | Kind::Nodes => "v1",
        Kind::EndpointSlices => "discovery.k8s.io/v1",
    }
}

/// Folds one delivered event into the stream's state; changes that matter go to `pending`.
fn handle(
    member: &str,
    state: &mut StreamState,
    delivered: Delivered,
    pending: &mut impl FnMut(ObjectChange),
) -> Result<(), watcher::Error> {
    match delivered {
        Delivered::Init => state.relisting = Some(HashSet::new()),
        Delivered::Present(key, change) => {
            if let Some(seen) = &mut state.relisting
                && change.is_some()
            {
                seen.insert(key.clone());
            }
            match change {
                Some(change) => {
                    let h = hash_of(&change);
                    if state.known.insert(key, h) != Some(h) {
                        pending(change);
                    }
                }
                // Present but no longer considered (a label or namespace no longer selected).
                None => {
                    if state.known.remove(&key).is_some() {
                        pending(gone(key));
                    }
                }
            }
        }
        Delivered::Gone(key) => {
            if state.known.remove(&key).is_some() {
                pending(gone(key));
            }
        }
        Delivered::InitDone => {
            if let Some(seen) = state.relisting.take() {
                let stale: Vec<Key> = state
                    .known
                    .keys()
                    .filter(|k| !seen.contains(*k))
                    .cloned()
                    .collect();
                for key in stale {
                    state.known.remove(&key);
                    pending(gone(key));
                }
            }
            state.listed = true;
            if state.unread.take().is_some() {
                info!(%member, kind = %state.kind, "can be read again");
                pending(ObjectChange::Unread(state.kind.to_string(), None));
            }
        }
        Delivered::Error(e) if is_expired(&e) => {
            debug!(error = %e, "watch expired (410 Gone); the watcher lists again");
        }
        Delivered::Error(e) if state.kind.optional() && unreadable(member, state, &e, pending) => {}
        Delivered::Error(e) => return Err(e),
    }
    Ok(())
}

/// Lists a member once (for `feddns plan` and `feddns validate`): its complete state, or the
/// first error, within `timeout`.
pub async fn list_once(
    member: &MemberConfig,
    selection: &Selection,
    timeout: Duration,
) -> Result<MemberSnapshot, String> {
    let client = connect(member).await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let settings = WatchSettings {
        selection: selection.clone(),
        backoff: timeout,
        backoff_max: timeout,
    };
    let task = tokio::spawn(watch_member(member.name.clone(), client, settings, tx));
    let first = tokio::time::timeout(timeout, rx.recv()).await;
    task.abort();
    match first {
        Ok(Some(MemberEvent::Snapshot { snapshot, .. })) => Ok(snapshot),
        Ok(Some(MemberEvent::Failed { error, .. })) => Err(format!("member {}: {error}", member.name)),
        Ok(_) => Err(format!("member {}: watch ended without a result", member.name)),
        Err(_) => Err(format!(
            "member {}: no complete list within {timeout:?}",
            member.name
        )),
    }
}

/// A kubeconfig path for messages.
pub fn describe(member: &MemberConfig) -> String {
    match member.source() {
        MemberSource::File(p) => format!("file {}", p.display()),
        MemberSource::Kubeconfig { path, context } => format!(
            "kubeconfig {}{}",
            path.as_deref()
                .map_or("(default)".into(), |p: &Path| p.display().to_string()),
            context.map(|c| format!(", context {c}")).unwrap_or_default()
        ),
        MemberSource::InCluster => "in-cluster service account".into(),
        MemberSource::Discovered(d) => format!("discovered: {}", d.origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(Box::new(
            kube::core::Status::failure("the server could not find the requested resource", "NotFound")
                .with_code(code),
        )))
    }

    fn run(state: &mut StreamState, delivered: Delivered) -> Result<Vec<ObjectChange>, watcher::Error> {
        let mut out = Vec::new();
        handle("m1", state, delivered, &mut |c| out.push(c))?;
        Ok(out)
    }

    fn gw_key() -> Key {
        Key::Gateway(ServiceKey::new("infra", "gw"))
    }

    #[test]
    fn an_optional_kind_not_served_is_reported_once_and_counts_as_listed() {
        let mut state = StreamState::new(Kind::Gateways);
        state.known.insert(gw_key(), 1);
        let first = run(&mut state, Delivered::Error(api_error(404))).unwrap();
        assert!(state.listed, "the member is not held up");
        let [gone, ObjectChange::Unread(kind, Some(why))] = first.as_slice() else {
            panic!("{first:?}")
        };
        assert_eq!(*gone, ObjectChange::Gateway(ServiceKey::new("infra", "gw"), None));
        assert_eq!(kind, "gateways");
        assert!(why.contains("gateway.networking.k8s.io/v1"), "{why}");
        // Retried and still missing: nothing more.
        for _ in 0..3 {
            assert!(
                run(&mut state, Delivered::Error(api_error(404)))
                    .unwrap()
                    .is_empty()
            );
        }
        // Installed: listed, and readable again.
        run(&mut state, Delivered::Init).unwrap();
        let done = run(&mut state, Delivered::InitDone).unwrap();
        assert_eq!(done, [ObjectChange::Unread("gateways".into(), None)]);
        assert!(run(&mut state, Delivered::InitDone).unwrap().is_empty());
    }

    #[test]
    fn a_refused_optional_kind_keeps_what_was_read_and_other_errors_fail_the_member() {
        let mut state = StreamState::new(Kind::Routes(RouteKind::Http));
        state.known.insert(gw_key(), 1);
        let changes = run(&mut state, Delivered::Error(api_error(403))).unwrap();
        assert!(
            matches!(changes.as_slice(), [ObjectChange::Unread(k, Some(why))] if k == "httproutes" && why.contains("RBAC")),
            "{changes:?}"
        );
        assert_eq!(state.known.len(), 1, "kept");
        assert!(run(&mut state, Delivered::Error(api_error(500))).is_err());
        // A required kind fails the member on 404 as before.
        let mut services = StreamState::new(Kind::Services);
        assert!(run(&mut services, Delivered::Error(api_error(404))).is_err());
    }
}
