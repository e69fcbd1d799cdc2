//! The object store: registered kinds, objects, resourceVersions, event history and fan-out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::selector::Filter;
use crate::util::{IdGen, now_rfc3339};

/// Events kept for watches resuming from a resourceVersion.
pub(crate) const DEFAULT_HISTORY_LIMIT: usize = 100_000;
/// Capacity of the fan-out channel; a watch lagging further behind is closed with 410 Gone.
const CHANNEL_CAPACITY: usize = 16_384;

/// A registered kind.
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub(crate) id: usize,
    /// `v1` or `group/version`.
    pub(crate) api_version: String,
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) plural: String,
    pub(crate) namespaced: bool,
    /// Main-resource writes keep the stored `.status`; `/status` writes only change `.status`.
    pub(crate) status_subresource: bool,
}

impl ResourceType {
    /// `plural` or `plural.group`, as used in error messages.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// (namespace, name); namespace is "" for cluster-scoped kinds.
pub(crate) type Key = (String, String);

/// One stored version of an object, kept serialized.
#[derive(Debug)]
pub(crate) struct Obj {
    pub(crate) json: Bytes,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) rv: u64,
    uid: String,
    created: String,
    meta: OnceLock<Bytes>,
}

impl Obj {
    fn new(value: &Value, rv: u64) -> Self {
        let md = value.get("metadata");
        let text = |field: &str| {
            md.and_then(|m| m.get(field))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let labels = md
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            json: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
            namespace: text("namespace"),
            name: text("name"),
            labels,
            rv,
            uid: text("uid"),
            created: text("creationTimestamp"),
            meta: OnceLock::new(),
        }
    }

    pub(crate) fn key(&self) -> Key {
        (self.namespace.clone(), self.name.clone())
    }

    /// The object as JSON.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The serialized full object, or its `PartialObjectMetadata` form.
    pub(crate) fn body(&self, meta_only: bool) -> &Bytes {
        if !meta_only {
            return &self.json;
        }
        self.meta.get_or_init(|| {
            let metadata = self.value().get_mut("metadata").map(Value::take).unwrap_or_else(|| json!({}));
            let partial =
                json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": metadata});
            Bytes::from(serde_json::to_vec(&partial).unwrap_or_default())
        })
    }
}

/// Watch event types stored in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as kept in the history and fanned out to watches.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) rv: u64,
    pub(crate) type_id: usize,
    pub(crate) etype: EventType,
    /// The new state (for deletions: the last state, with the deletion's resourceVersion).
    pub(crate) obj: Arc<Obj>,
    /// The previous state, to detect objects entering or leaving a selector.
    pub(crate) prev: Option<Arc<Obj>>,
}

/// What watches receive.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    Event(Arc<Event>),
    /// `expire_watches`: every open watch ends with 410 Gone.
    Expire {
        oldest: u64,
    },
}

/// How a watch starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WatchStart {
    /// ADDED for every current object first.
    Snapshot,
    /// Replay of history after this resourceVersion.
    After(u64),
}

/// What a watch sends before live events.
#[derive(Debug)]
pub(crate) enum Initial {
    Objects(VecDeque<Arc<Obj>>),
    Events(VecDeque<Arc<Event>>),
}

impl Initial {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Objects(o) => o.is_empty(),
            Self::Events(e) => e.is_empty(),
        }
    }
}

/// An opened watch: initial items, the live receiver and the resourceVersion it is current at.
#[derive(Debug)]
pub(crate) struct OpenedWatch {
    pub(crate) initial: Initial,
    pub(crate) rx: broadcast::Receiver<Msg>,
    pub(crate) rv: u64,
}

/// How a write treats identity and no-op changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Test helper `apply`: always writes; keeps a given uid/creationTimestamp on create.
    Apply,
    /// HTTP create: fresh uid and creationTimestamp.
    Create,
    /// HTTP update/patch: an unchanged object is not rewritten (no new resourceVersion, no event).
    Update,
}

/// Everything behind the server's mutex.
#[derive(Debug)]
pub(crate) struct Store {
    rv: u64,
    types: Vec<Arc<ResourceType>>,
    by_kind: HashMap<(String, String), usize>,
    by_path: HashMap<(String, String, String), usize>,
    objects: Vec<BTreeMap<Key, Arc<Obj>>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Watches from a resourceVersion below this get 410 Gone.
    compacted: u64,
    tx: broadcast::Sender<Msg>,
    ids: IdGen,
}

impl Store {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        let mut store = Self {
            rv: 1,
            types: Vec::new(),
            by_kind: HashMap::new(),
            by_path: HashMap::new(),
            objects: Vec::new(),
            history: VecDeque::new(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            compacted: 0,
            tx,
            ids: IdGen::new(),
        };
        for (api_version, kind, plural, namespaced, status) in [
            ("v1", "Service", "services", true, true),
            ("v1", "Node", "nodes", false, true),
            ("v1", "ConfigMap", "configmaps", true, false),
            ("v1", "Secret", "secrets", true, false),
            ("v1", "Namespace", "namespaces", false, true),
            (
                "discovery.k8s.io/v1",
                "EndpointSlice",
                "endpointslices",
                true,
                false,
            ),
            ("coordination.k8s.io/v1", "Lease", "leases", true, false),
            ("networking.k8s.io/v1", "Ingress", "ingresses", true, true),
        ] {
            store.register(api_version, kind, plural, namespaced, status);
        }
        store
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.rv
    }

    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Registers (or re-registers, keeping objects) a kind.
    pub(crate) fn register(
        &mut self,
        api_version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        status: bool,
    ) {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.to_owned()),
        };
        let key = (api_version.to_owned(), kind.to_owned());
        let existing = self.by_kind.get(&key).copied();
        let id = existing.unwrap_or(self.types.len());
        let rt = Arc::new(ResourceType {
            id,
            api_version: api_version.to_owned(),
            group: group.clone(),
            version: version.clone(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            status_subresource: status,
        });
        if existing.is_some() {
            let old = std::mem::replace(&mut self.types[id], rt);
            self.by_path
                .remove(&(old.group.clone(), old.version.clone(), old.plural.clone()));
        } else {
            self.types.push(rt);
            self.objects.push(BTreeMap::new());
        }
        self.by_kind.insert(key, id);
        self.by_path.insert((group, version, plural.to_owned()), id);
    }

    pub(crate) fn type_by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.by_kind
            .get(&(api_version.to_owned(), kind.to_owned()))
            .map(|&id| self.types[id].clone())
    }

    pub(crate) fn type_by_path(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.by_path
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .map(|&id| self.types[id].clone())
    }

    pub(crate) fn types(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    pub(crate) fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
        self.trim_history();
    }

    pub(crate) fn get(&self, rt: &ResourceType, key: &Key) -> Option<Arc<Obj>> {
        self.objects[rt.id].get(key).cloned()
    }

    pub(crate) fn generate_name(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.ids.name_suffix())
    }

    /// Lists matching objects in (namespace, name) order, starting after `after`, at most `limit`
    /// (0 = all). Returns the items and the key to continue after, if more matching items exist.
    pub(crate) fn list(
        &self,
        rt: &ResourceType,
        filter: &Filter,
        limit: usize,
        after: Option<&Key>,
    ) -> (Vec<Arc<Obj>>, Option<Key>) {
        let map = &self.objects[rt.id];
        let lower = match (after, &filter.namespace) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(ns)) => Bound::Included((ns.clone(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut iter = map.range((lower, Bound::Unbounded)).filter_map(|((ns, _), obj)| {
            match &filter.namespace {
                Some(want) if ns.as_str() > want.as_str() => Some(None), // past the namespace: stop
                _ if filter.matches(obj) => Some(Some(obj)),
                _ => None,
            }
        });
        for next in iter.by_ref() {
            let Some(obj) = next else { return (items, None) };
            if limit > 0 && items.len() == limit {
                let more = items.last().map(|o: &Arc<Obj>| o.key());
                return (items, more);
            }
            items.push(obj.clone());
        }
        (items, None)
    }

    /// Stores `value` (its apiVersion/kind/namespace/name must already be right for `rt`).
    /// Assigns resourceVersion, uid and creationTimestamp and emits ADDED or MODIFIED.
    pub(crate) fn write(&mut self, rt: &ResourceType, value: Value, mode: WriteMode) -> (Arc<Obj>, bool) {
        let (obj, _, written) = self.write_value(rt, value, mode);
        (obj, written)
    }

    /// [`Store::write`], also returning the stored object as JSON.
    pub(crate) fn write_value(
        &mut self,
        rt: &ResourceType,
        mut value: Value,
        mode: WriteMode,
    ) -> (Arc<Obj>, Value, bool) {
        let key = key_of(&value);
        let existing = self.objects[rt.id].get(&key).cloned();
        {
            let md = metadata_mut(&mut value);
            match &existing {
                Some(old) => {
                    md.insert("uid".into(), old.uid.clone().into());
                    md.insert("creationTimestamp".into(), old.created.clone().into());
                }
                None => {
                    let keep = mode == WriteMode::Apply;
                    if !keep || md.get("uid").is_none_or(|u| u.as_str().is_none_or(str::is_empty)) {
                        md.insert("uid".into(), self.ids.uid().into());
                    }
                    if !keep || !md.get("creationTimestamp").is_some_and(Value::is_string) {
                        md.insert("creationTimestamp".into(), now_rfc3339().into());
                    }
                }
            }
        }
        if mode == WriteMode::Update
            && let Some(old) = &existing
        {
            metadata_mut(&mut value).insert("resourceVersion".into(), old.rv.to_string().into());
            if old.value() == value {
                return (old.clone(), value, false);
            }
        }
        self.rv += 1;
        metadata_mut(&mut value).insert("resourceVersion".into(), self.rv.to_string().into());
        let obj = Arc::new(Obj::new(&value, self.rv));
        self.objects[rt.id].insert(key, obj.clone());
        let etype = if existing.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(rt.id, etype, obj.clone(), existing);
        (obj, value, true)
    }

    /// Removes an object, emitting DELETED with a new resourceVersion. Returns the deleted state.
    pub(crate) fn delete(&mut self, rt: &ResourceType, key: &Key) -> Option<Arc<Obj>> {
        let old = self.objects[rt.id].remove(key)?;
        self.rv += 1;
        let mut value = old.value();
        metadata_mut(&mut value).insert("resourceVersion".into(), self.rv.to_string().into());
        let obj = Arc::new(Obj::new(&value, self.rv));
        self.emit(rt.id, EventType::Deleted, obj.clone(), Some(old));
        Some(obj)
    }

    fn emit(&mut self, type_id: usize, etype: EventType, obj: Arc<Obj>, prev: Option<Arc<Obj>>) {
        let event = Arc::new(Event {
            rv: self.rv,
            type_id,
            etype,
            obj,
            prev,
        });
        self.history.push_back(event.clone());
        self.trim_history();
        // No receivers is fine.
        let _ = self.tx.send(Msg::Event(event));
    }

    fn trim_history(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = self.compacted.max(old.rv);
            }
        }
    }

    /// Ends every watch with 410 and forgets history: resuming from any resourceVersion issued
    /// so far fails. The resourceVersion advances so that a fresh list can be watched from.
    pub(crate) fn expire(&mut self) {
        self.rv += 1;
        self.compacted = self.rv;
        self.history.clear();
        let _ = self.tx.send(Msg::Expire { oldest: self.rv });
    }

    /// Opens a watch on `rt`. `Err(oldest)` when `start` is older than the history.
    pub(crate) fn open_watch(
        &self,
        rt: &ResourceType,
        filter: &Filter,
        start: WatchStart,
    ) -> Result<OpenedWatch, u64> {
        let initial = match start {
            WatchStart::Snapshot => Initial::Objects(self.list(rt, filter, 0, None).0.into()),
            WatchStart::After(rv) => {
                if rv < self.compacted {
                    return Err(self.compacted);
                }
                let first = self.history.partition_point(|e| e.rv <= rv);
                Initial::Events(
                    self.history
                        .range(first..)
                        .filter(|e| e.type_id == rt.id && filter.namespace_matches(&e.obj.namespace))
                        .cloned()
                        .collect(),
                )
            }
        };
        let rv = match start {
            WatchStart::After(rv) => rv.max(self.rv),
            WatchStart::Snapshot => self.rv,
        };
        Ok(OpenedWatch {
            initial,
            rx: self.tx.subscribe(),
            rv,
        })
    }
}

/// The (namespace, name) of a JSON object.
pub(crate) fn key_of(value: &Value) -> Key {
    let md = value.get("metadata");
    let text = |f: &str| {
        md.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    (text("namespace"), text("name"))
}

/// `value.metadata` as a mutable map, created (and `value` made an object) if needed.
pub(crate) fn metadata_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let Value::Object(map) = value else {
        unreachable!("made an object above")
    };
    let md = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    let Value::Object(md) = md else {
        unreachable!("made an object above")
    };
    md
}

/// Sets apiVersion, kind, and the namespace (or removes it for cluster-scoped kinds).
pub(crate) fn normalize(rt: &ResourceType, value: &mut Value, namespace: &str) {
    let md = metadata_mut(value);
    if rt.namespaced {
        md.insert("namespace".into(), namespace.into());
    } else {
        md.remove("namespace");
    }
    if let Value::Object(map) = value {
        map.insert("apiVersion".into(), rt.api_version.clone().into());
        map.insert("kind".into(), rt.kind.clone().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, app: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default", "labels": {"app": app}}})
    }

    #[test]
    fn list_pages_and_filters() {
        let mut store = Store::new();
        let rt = store.type_by_kind("v1", "Service").unwrap();
        for (i, app) in ["a", "b", "a", "b", "a"].iter().enumerate() {
            store.write(&rt, svc(&format!("s{i}"), app), WriteMode::Apply);
        }
        let all = Filter::new(Some("default".into()), None, None).unwrap();
        let (page, next) = store.list(&rt, &all, 2, None);
        assert_eq!(
            page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["s0", "s1"]
        );
        let (page, next) = store.list(&rt, &all, 2, next.as_ref());
        assert_eq!(
            page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["s2", "s3"]
        );
        let (page, next) = store.list(&rt, &all, 2, next.as_ref());
        assert_eq!(page.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["s4"]);
        assert!(next.is_none());

        let a = Filter::new(None, Some("app=a"), None).unwrap();
        let (page, next) = store.list(&rt, &a, 3, None);
        assert_eq!(page.len(), 3);
        assert!(next.is_none(), "no more matching items after a full page");
        let other_ns = Filter::new(Some("other".into()), None, None).unwrap();
        assert!(store.list(&rt, &other_ns, 0, None).0.is_empty());
    }

    #[test]
    fn update_mode_skips_no_ops() {
        let mut store = Store::new();
        let rt = store.type_by_kind("v1", "Service").unwrap();
        let (first, _) = store.write(&rt, svc("x", "a"), WriteMode::Create);
        let (same, written) = store.write(&rt, svc("x", "a"), WriteMode::Update);
        assert!(!written);
        assert_eq!(same.rv, first.rv);
        let (changed, written) = store.write(&rt, svc("x", "b"), WriteMode::Update);
        assert!(written);
        assert!(changed.rv > first.rv);
        assert_eq!(changed.uid, first.uid);
    }

    #[test]
    fn history_compaction_and_expiry() {
        let mut store = Store::new();
        store.set_history_limit(2);
        let rt = store.type_by_kind("v1", "Service").unwrap();
        let filter = Filter::default();
        let start = store.current_rv();
        for i in 0..3 {
            store.write(&rt, svc(&format!("s{i}"), "a"), WriteMode::Apply);
        }
        assert!(store.open_watch(&rt, &filter, WatchStart::After(start)).is_err());
        let opened = store
            .open_watch(&rt, &filter, WatchStart::After(start + 1))
            .unwrap();
        assert!(matches!(opened.initial, Initial::Events(ref e) if e.len() == 2));
        let now = store.current_rv();
        store.expire();
        assert!(store.open_watch(&rt, &filter, WatchStart::After(now)).is_err());
        assert!(
            store
                .open_watch(&rt, &filter, WatchStart::After(store.current_rv()))
                .is_ok()
        );
    }
}
