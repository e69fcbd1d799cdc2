//! The discovery state machine: one watcher per registry and per namespace of referenced
//! Secrets, their stores, and the member map assembled from them after every change. What a
//! registry's objects are and how one becomes a member is the registry's ([`super::Registry`]).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::source::{Item, SecretRef, object_item};
use super::{Discovered, DiscoverySettings, MEMBER_NAME_ANNOTATION, RegistryConfig};
use crate::control::backoff::Backoff;
use crate::federation::parse_errors::chain;
use crate::members::kube::status_code;

/// Most watch events folded in before the member map is assembled again.
const MAX_BURST: usize = 4096;

/// The Secrets API of a namespace, or of all namespaces.
pub(super) fn secrets(client: Client, namespace: Option<&str>) -> Api<Secret> {
    match namespace {
        Some(n) => Api::namespaced(client, n),
        None => Api::all(client),
    }
}

/// The member map: entries claiming the same name become one `Err` entry naming every claimant
/// (the same object seen through two overlapping registries counts once).
pub(super) fn merge(found: Vec<Discovered>) -> BTreeMap<String, Discovered> {
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

/// Aborts its task when dropped.
pub(super) struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a watcher task reports.
#[derive(Debug)]
pub(super) enum WatchEvent {
    Init,
    Put { item: Item, initial: bool },
    Remove(String, String),
    InitDone,
    Failed { error: String, code: Option<u16> },
}

#[derive(Debug)]
pub(super) struct Msg {
    watch: u64,
    event: WatchEvent,
}

/// Watches the objects of a custom resource (in `namespace`, or cluster-wide), forwarding them
/// as [`Msg`]s (see [`spawn_watch`]).
pub(super) fn watch_custom(
    client: Client,
    namespace: Option<&str>,
    resource: &ApiResource,
    id: u64,
    tx: mpsc::Sender<Msg>,
    settings: DiscoverySettings,
) -> Task {
    let api: Api<DynamicObject> = match namespace {
        Some(n) => Api::namespaced_with(client, n, resource),
        None => Api::all_with(client, resource),
    };
    let stream = watcher::watcher(api, watcher::Config::default());
    spawn_watch(id, stream, object_item, tx, settings)
}

/// Runs a watcher, forwarding its events as [`Msg`]s; after an error, does not poll it again for
/// a backoff delay (kube's watcher then recovers by itself).
pub(super) fn spawn_watch<K, S>(
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

/// A referenced Secret: only the keys a KubeFedCluster or Karmada Cluster uses are kept.
pub(super) fn ref_secret_item(s: Secret) -> Option<Item> {
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
        let (describe, task) = match &watched {
            Watched::Registry(i) => {
                let registry = &self.registries[*i];
                (registry.describe(), registry.registry().watch(c, id, tx, s))
            }
            Watched::RefSecrets(ns) => {
                let stream = watcher::watcher(secrets(c, Some(ns)), watcher::Config::default());
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
            if let Some(w) = self.watches.get(&id) {
                wanted.extend(registry.registry().secret_namespaces(&mut w.store.values()));
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
                let error = match &w.watched {
                    Watched::Registry(i) => self.registries[*i].registry().failure(error, code),
                    Watched::RefSecrets(_) => error,
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
            let registry = registry.registry();
            found.extend(w.store.values().filter_map(|o| registry.member(o, &lookup)));
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
