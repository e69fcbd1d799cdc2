//! Members from YAML snapshot files: what `kubectl get nodes,services,endpointslices -A -o yaml`
//! prints, or hand-written manifests, watched for edits.
//!
//! A file is a YAML stream of documents (`---` separated; empty ones are ignored), each a
//! Kubernetes object or a list (`kind: List`, `NodeList`, `ServiceList`, `EndpointSliceList`, ...).
//! Nodes and Services (`v1`) and EndpointSlices (`discovery.k8s.io/v1`), and with the `ingress`
//! and `gateway` sources Ingresses (`networking.k8s.io/v1`) and Gateways, HTTPRoutes, GRPCRoutes
//! and TLSRoutes (`gateway.networking.k8s.io/v1`), are projected into a [`MemberSnapshot`];
//! other kinds are skipped with a warning. Hand-written files may omit
//! `apiVersion` and `metadata.namespace` (`default`), and may leave label and annotation values
//! that are integers or booleans unquoted (`feddns.io/ttl: 60`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;
use tokio::sync::mpsc::Sender;
use tracing::warn;

use super::MemberEvent;
use super::gateway_api::{Gateway, GrpcRoute, HttpRoute, TlsRoute};
use super::project::{
    DEFAULT_NAMESPACE, project_gateway, project_ingress, project_node, project_route, project_service,
    project_slice, service_key,
};
use crate::federation::model::{MemberSnapshot, RouteKind, SourceKind};
use crate::federation::selector::Selection;

/// A parsed snapshot file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The member's state.
    pub snapshot: MemberSnapshot,
    /// Things skipped or overridden while reading (unknown kinds, duplicates), each naming the file.
    pub warnings: Vec<String>,
}

/// Why a snapshot file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file does not exist.
    #[error("snapshot file {}: not found", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions, not UTF-8, a directory, ...).
    #[error("snapshot file {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The text is not YAML.
    #[error("snapshot {file}: invalid YAML: {message}")]
    Yaml {
        /// The file (or other source name).
        file: String,
        /// The parser's message, with line and column when known.
        message: String,
        /// Line (1-based) where the problem was found, if known.
        line: Option<u64>,
        /// Column (1-based) where the problem was found, if known.
        column: Option<u64>,
    },
    /// A document or a list item is not a mapping.
    #[error("snapshot {file}: {place}: not a Kubernetes object (a YAML mapping) but {found}")]
    NotAnObject {
        /// The file (or other source name).
        file: String,
        /// Where in the file: document number and line, and list item index.
        place: String,
        /// What was found instead.
        found: &'static str,
    },
    /// An object of a kind feddns reads does not deserialize as that kind.
    #[error("snapshot {file}: {place}: {kind} {name}: {message}")]
    Object {
        /// The file (or other source name).
        file: String,
        /// Where in the file: document number and line, and list item index.
        place: String,
        /// The object's kind.
        kind: String,
        /// `namespace/name`, `name`, or `(no name)`.
        name: String,
        /// The deserializer's message.
        message: String,
    },
}

/// Parses snapshot text; `source` names it in warnings and errors (usually the file path).
/// Services that `selection` does not select are left out.
pub fn parse_snapshot(text: &str, source: &str, selection: &Selection) -> Result<Parsed, SnapshotError> {
    let docs: Vec<Spanned<Doc>> =
        serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(|e| {
            let location = e.location().filter(|l| l.line() > 0);
            SnapshotError::Yaml {
                file: source.to_owned(),
                message: e.without_snippet().to_string(),
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()),
            }
        })?;
    let mut builder = Builder {
        source,
        selection,
        parsed: Parsed::default(),
        skipped: BTreeMap::new(),
    };
    for Spanned {
        value: doc,
        referenced,
        ..
    } in docs
    {
        let line = referenced.line();
        let place = format!("document {}{}", document_number(text, line), at_line(line));
        if let Some(found) = doc.not_an_object {
            return Err(SnapshotError::NotAnObject {
                file: source.to_owned(),
                place,
                found,
            });
        }
        let kind = doc
            .fields
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match doc.items {
            items if is_list(&kind, items.is_some()) => {
                // Typed lists (`ServiceList`) from the API omit kind and apiVersion in their items.
                let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
                let api_version = doc.fields.get("apiVersion").cloned();
                for (i, item) in items.into_iter().flatten().enumerate() {
                    let place = format!("{place}, items[{i}]{}", at_line(item.referenced.line()));
                    let Value::Object(mut obj) = item.value else {
                        let found = match item.value {
                            Value::Array(_) => "a sequence",
                            Value::Null => "null",
                            _ => "a scalar",
                        };
                        return Err(SnapshotError::NotAnObject {
                            file: source.to_owned(),
                            place,
                            found,
                        });
                    };
                    if let Some(k) = item_kind {
                        obj.entry("kind").or_insert_with(|| k.into());
                        if let Some(v) = &api_version {
                            obj.entry("apiVersion").or_insert_with(|| v.clone());
                        }
                    }
                    builder.object(obj, &place)?;
                }
            }
            items => {
                let mut obj = doc.fields;
                if let Some(items) = items {
                    obj.insert("items".into(), items.into_iter().map(|i| i.value).collect());
                }
                builder.object(obj, &place)?;
            }
        }
    }
    Ok(builder.finish())
}

/// Reads and parses a snapshot file; errors name the path.
pub fn load_snapshot(path: &Path, selection: &Selection) -> Result<Parsed, SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SnapshotError::NotFound {
            path: path.to_owned(),
        },
        _ => SnapshotError::Read {
            path: path.to_owned(),
            source,
        },
    })?;
    parse_snapshot(&text, &path.display().to_string(), selection)
}

/// Watches a snapshot file for member `member`, sending its state on `tx`.
///
/// Loads the file at once, then checks its metadata (modification and change times, length,
/// device and inode, so that editors' atomic replacements are seen) every `poll` and reloads it
/// when any of them changed and then stayed the same for one more poll (so a file being written
/// is not read half-way). A [`MemberEvent::Snapshot`] is sent when the parsed snapshot differs
/// from the last event sent; a missing or invalid file sends [`MemberEvent::Failed`] once per
/// distinct error and polling goes on. Warnings are logged once per load. Returns when the
/// receiver is dropped.
///
/// A rewrite in place that keeps the length within the file system's timestamp granularity of
/// the previous write can go unnoticed; editors and `kubectl ... > file` are not affected.
pub async fn watch_file(
    member: String,
    path: PathBuf,
    poll: Duration,
    selection: Selection,
    tx: Sender<MemberEvent>,
) {
    watch(member, path, poll, selection, tx, |_| {}).await;
}

/// [`watch_file`], calling `on_load` with the file length (0 if unreadable) after each load.
async fn watch(
    member: String,
    path: PathBuf,
    poll: Duration,
    selection: Selection,
    tx: Sender<MemberEvent>,
    mut on_load: impl FnMut(u64),
) {
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The stamp of the last load (None before the first), and a newer one waiting to settle.
    let mut loaded_stamp: Option<Option<Stamp>> = None;
    let mut settling: Option<Option<Stamp>> = None;
    let mut last_sent: Option<Result<MemberSnapshot, String>> = None;
    loop {
        tokio::select! {
            () = tx.closed() => return,
            _ = ticker.tick() => {}
        }
        let stamp = Stamp::of(&path);
        if loaded_stamp.as_ref() == Some(&stamp) {
            settling = None;
            continue;
        }
        // After the first load, a change is read once it has stayed the same for one poll, so
        // that a file caught between truncation and write is not taken for an empty cluster.
        if loaded_stamp.is_some() && settling.as_ref() != Some(&stamp) {
            settling = Some(stamp);
            continue;
        }
        let len = stamp.as_ref().map_or(0, |s| s.len);
        (loaded_stamp, settling) = (Some(stamp), None);
        let (load_path, sel) = (path.clone(), selection.clone());
        let loaded = match tokio::task::spawn_blocking(move || load_snapshot(&load_path, &sel)).await {
            Ok(Ok(parsed)) => {
                for warning in &parsed.warnings {
                    warn!(member = %member, "{warning}");
                }
                Ok(parsed.snapshot)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("snapshot file {}: loading failed: {e}", path.display())),
        };
        if last_sent.as_ref() != Some(&loaded) {
            let event = match &loaded {
                Ok(snapshot) => MemberEvent::Snapshot {
                    member: member.clone(),
                    snapshot: snapshot.clone(),
                },
                Err(error) => MemberEvent::Failed {
                    member: member.clone(),
                    error: error.clone(),
                },
            };
            if tx.send(event).await.is_err() {
                return;
            }
            last_sent = Some(loaded);
        }
        on_load(len);
    }
}

/// A file's identity and version as `stat` shows them (times, length, device and inode): what is
/// compared between polls to see whether it was edited or replaced.
#[derive(Debug, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of a file, `None` when it cannot be stat'ed.
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: m.modified().ok(),
            len: m.len(),
            dev: m.dev(),
            ino: m.ino(),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Snapshot files are local and may describe large clusters: budgets well above the defaults
/// (which allow 1,024 documents and 250,000 nodes), alias-bomb protection kept.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_nodes: 100_000_000,
            max_events: 400_000_000,
            max_total_scalar_bytes: 1 << 30,
            max_reader_input_bytes: None,
        },
        emit_comments: false,
        with_snippet: false,
    }
}

/// Accumulates the snapshot and warnings while walking the documents.
struct Builder<'a> {
    source: &'a str,
    selection: &'a Selection,
    parsed: Parsed,
    /// Skipped objects by kind.
    skipped: BTreeMap<String, usize>,
}

impl Builder<'_> {
    fn object(&mut self, mut obj: Map<String, Value>, place: &str) -> Result<(), SnapshotError> {
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let api_version = obj.get("apiVersion").and_then(Value::as_str).map(str::to_owned);
        let expected = match kind.as_str() {
            "Node" | "Service" => "v1",
            "EndpointSlice" => "discovery.k8s.io/v1",
            "Ingress" => "networking.k8s.io/v1",
            "Gateway" | "HTTPRoute" | "GRPCRoute" | "TLSRoute" => "gateway.networking.k8s.io/v1",
            other => {
                self.skip(if other.is_empty() { "(no kind)" } else { other });
                return Ok(());
            }
        };
        if api_version.as_deref().is_some_and(|v| v != expected) {
            let v = api_version.unwrap_or_default();
            self.warn(format!(
                "{place}: skipping {kind} with apiVersion {v} (only {expected} is read)"
            ));
            return Ok(());
        }
        let source = match kind.as_str() {
            "Service" => Some(SourceKind::Service),
            "Ingress" => Some(SourceKind::Ingress),
            "Gateway" | "HTTPRoute" | "GRPCRoute" | "TLSRoute" => Some(SourceKind::Gateway),
            _ => None,
        };
        if let Some(source) = source.filter(|s| !self.selection.reads(*s)) {
            self.skip(&format!("{kind} (source {source} is off)"));
            return Ok(());
        }
        stringify_scalars(&mut obj);
        let name = object_name(&obj, kind == "Node");
        let object = Value::Object(obj);
        let snapshot = &mut self.parsed.snapshot;
        let file = self.source;
        let decode = |message| SnapshotError::Object {
            file: file.to_owned(),
            place: place.to_owned(),
            kind: kind.clone(),
            name: name.clone(),
            message,
        };
        let replaced = match kind.as_str() {
            "Node" => project_node(&decode_as::<Node>(object, &decode)?)
                .map(|n| snapshot.nodes.insert(n.name.clone(), n).is_some()),
            "Service" => {
                let Some(svc) = decode_selected::<Service>(self.selection, object, &decode)? else {
                    return Ok(());
                };
                service_key(&svc.metadata)
                    .zip(project_service(&svc))
                    .map(|(k, s)| snapshot.services.insert(k, s).is_some())
            }
            "Ingress" => {
                let Some(ing) = decode_selected::<Ingress>(self.selection, object, &decode)? else {
                    return Ok(());
                };
                service_key(&ing.metadata)
                    .zip(project_ingress(&ing))
                    .map(|(k, p)| snapshot.ingresses.insert(k, p).is_some())
            }
            "Gateway" => {
                let Some(gw) = decode_selected::<Gateway>(self.selection, object, &decode)? else {
                    return Ok(());
                };
                service_key(&gw.metadata)
                    .zip(project_gateway(&gw))
                    .map(|(k, p)| snapshot.gateways.insert(k, p).is_some())
            }
            "HTTPRoute" | "GRPCRoute" | "TLSRoute" => {
                let (route_kind, proj, meta) = match kind.as_str() {
                    "HTTPRoute" => {
                        let r = decode_as::<HttpRoute>(object, &decode)?;
                        (RouteKind::Http, project_route(RouteKind::Http, &r), r.metadata)
                    }
                    "GRPCRoute" => {
                        let r = decode_as::<GrpcRoute>(object, &decode)?;
                        (RouteKind::Grpc, project_route(RouteKind::Grpc, &r), r.metadata)
                    }
                    _ => {
                        let r = decode_as::<TlsRoute>(object, &decode)?;
                        (RouteKind::Tls, project_route(RouteKind::Tls, &r), r.metadata)
                    }
                };
                let ns = meta.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
                if !self.selection.namespace_selected(ns) {
                    return Ok(());
                }
                service_key(&meta)
                    .zip(proj)
                    .map(|(k, p)| snapshot.routes.insert((route_kind, k), p).is_some())
            }
            _ => project_slice(&decode_as::<EndpointSlice>(object, &decode)?).map(|s| {
                snapshot
                    .slices
                    .insert((s.namespace.clone(), s.name.clone()), s)
                    .is_some()
            }),
        };
        match replaced {
            Some(false) => {}
            Some(true) => self.warn(format!(
                "{place}: {kind} {name} appears more than once; the later one wins"
            )),
            None if kind == "EndpointSlice" => self.warn(format!(
                "{place}: skipping EndpointSlice {name} without a name or a kubernetes.io/service-name label"
            )),
            None => self.warn(format!("{place}: skipping {kind} without a name")),
        }
        Ok(())
    }

    fn skip(&mut self, kind: &str) {
        *self.skipped.entry(kind.to_owned()).or_default() += 1;
    }

    fn warn(&mut self, message: String) {
        self.parsed
            .warnings
            .push(format!("snapshot {}: {message}", self.source));
    }

    fn finish(mut self) -> Parsed {
        if !self.skipped.is_empty() {
            let counts: Vec<String> = self.skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let counts = counts.join(", ");
            self.warn(format!(
                "skipped {counts} (only Node, Service, EndpointSlice, Ingress, Gateway, HTTPRoute, GRPCRoute and TLSRoute are read)"
            ));
        }
        self.parsed
    }
}

/// Deserializes a known kind; the error names the file, the place and the object.
fn decode_as<T: DeserializeOwned>(
    object: Value,
    context: impl FnOnce(String) -> SnapshotError,
) -> Result<T, SnapshotError> {
    serde_json::from_value(object).map_err(|e| context(e.to_string()))
}

/// Deserializes a kind that the selection chooses by namespace and labels (Services, Ingresses,
/// Gateways); `None` when it does not choose this object.
fn decode_selected<T>(
    selection: &Selection,
    object: Value,
    context: impl FnOnce(String) -> SnapshotError,
) -> Result<Option<T>, SnapshotError>
where
    T: DeserializeOwned
        + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
{
    let obj: T = decode_as(object, context)?;
    let meta = obj.metadata();
    let ns = meta.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    Ok(selection.selects(ns, meta.labels.as_ref()).then_some(obj))
}

/// `namespace/name` (namespace defaulted), `name` for Nodes, or `(no name)`.
fn object_name(obj: &Map<String, Value>, cluster_scoped: bool) -> String {
    let meta = obj.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (field("name"), cluster_scoped) {
        (None, _) => "(no name)".to_owned(),
        (Some(name), true) => name.to_owned(),
        (Some(name), false) => format!("{}/{name}", field("namespace").unwrap_or(DEFAULT_NAMESPACE)),
    }
}

/// Label and annotation values written as unquoted integers or booleans become strings, as
/// deserializing straight from YAML would do; floats are left alone (`1.10` would lose its text).
fn stringify_scalars(obj: &mut Map<String, Value>) {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        return;
    };
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = meta.get_mut(field) {
            for value in map.values_mut() {
                match value {
                    Value::Bool(b) => *value = Value::String(b.to_string()),
                    Value::Number(n) if !n.is_f64() => *value = Value::String(n.to_string()),
                    _ => {}
                }
            }
        }
    }
}

/// The 1-based number of the YAML document whose root node is on `line` (1-based), counting
/// empty documents too: `---` markers up to that line, plus one if content precedes the first.
fn document_number(text: &str, line: u64) -> usize {
    let (mut markers, mut implicit_first) = (0, false);
    for l in text.lines().take(usize::try_from(line).unwrap_or(usize::MAX)) {
        if l.strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        {
            markers += 1;
        } else if markers == 0 && !matches!(l.trim_start().chars().next(), None | Some('#' | '%')) {
            implicit_first = true;
        }
    }
    (markers + usize::from(implicit_first)).max(1)
}

/// `List`, or a typed list (`ServiceList`, ...) when it has `items`.
fn is_list(kind: &str, has_items: bool) -> bool {
    kind == "List" || (kind.len() > 4 && kind.ends_with("List") && has_items)
}

fn at_line(line: u64) -> String {
    if line > 0 {
        format!(" (line {line})")
    } else {
        String::new()
    }
}

/// One YAML document: its fields, with `items` kept apart and located, for lists.
#[derive(Default)]
struct Doc {
    fields: Map<String, Value>,
    items: Option<Vec<Spanned<Value>>>,
    /// Set when the document is not a mapping: what it is.
    not_an_object: Option<&'static str>,
}

impl Doc {
    fn not_an_object(found: &'static str) -> Self {
        Self {
            not_an_object: Some(found),
            ..Self::default()
        }
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocVisitor;
        impl<'de> Visitor<'de> for DocVisitor {
            type Value = Doc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object (a YAML mapping)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
                let mut doc = Doc::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "items" {
                        doc.items = map.next_value()?;
                    } else {
                        let value = map.next_value()?;
                        doc.fields.insert(key, value);
                    }
                }
                Ok(doc)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Doc::not_an_object("a sequence"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Doc, E> {
                Ok(Doc::not_an_object("a scalar"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Doc, E> {
                Ok(Doc::not_an_object("a scalar"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Doc, E> {
                Ok(Doc::not_an_object("a scalar"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Doc, E> {
                Ok(Doc::not_an_object("a scalar"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Doc, E> {
                Ok(Doc::not_an_object("a scalar"))
            }
        }
        deserializer.deserialize_any(DocVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::model::{ServiceKey, Target};
    use tokio::sync::mpsc;
    use tokio::time::timeout;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/snapshots")
            .join(name)
    }

    fn ip(s: &str) -> Target {
        Target::Ip(s.parse().unwrap())
    }

    fn zones(s: &MemberSnapshot) -> Vec<(&str, Option<&str>, Option<&str>)> {
        s.nodes
            .values()
            .map(|n| (n.name.as_str(), n.zone.as_deref(), n.region.as_deref()))
            .collect()
    }

    #[test]
    fn kubectl_list() {
        let Parsed {
            snapshot: s,
            warnings,
        } = load_snapshot(&fixture("cluster-a.yaml"), &Selection::default()).unwrap();
        assert_eq!(
            zones(&s),
            [
                ("a-node-1", Some("europe-west1-b"), Some("europe-west1")),
                ("a-node-2", Some("europe-west1-c"), Some("europe-west1")),
                ("a-node-3", None, None),
            ]
        );
        let web = &s.services[&ServiceKey::new("shop", "web")];
        assert!(web.federated);
        assert_eq!(*web.ingress, [ip("192.0.2.10"), ip("2001:db8::10")]);
        assert_eq!(web.options.ttl, Some(60));
        let api = &s.services[&ServiceKey::new("shop", "api")];
        assert_eq!(
            *api.ingress,
            [Target::Hostname(
                "a1b2c3-123456789.eu-west-1.elb.amazonaws.com".into()
            )]
        );
        assert!(!s.services[&ServiceKey::new("shop", "db")].federated);
        assert!(s.services.values().all(|p| p.problems.is_empty()));
        let ready: Vec<_> = s
            .slices
            .values()
            .map(|p| (p.name.as_str(), p.service.as_str(), p.ready))
            .collect();
        assert_eq!(ready, [("api-q9d4z", "api", 1), ("web-7xk2p", "web", 2)]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("cluster-a.yaml") && warnings[0].contains("1 Pod"),
            "{warnings:?}"
        );
    }

    #[test]
    fn multi_document_with_typed_list_and_hand_written_objects() {
        let Parsed {
            snapshot: s,
            warnings,
        } = load_snapshot(&fixture("cluster-b.yaml"), &Selection::default()).unwrap();
        assert_eq!(zones(&s), [("b-node-1", Some("us-east1-b"), Some("us-east1"))]);
        let web = &s.services[&ServiceKey::new("shop", "web")];
        assert_eq!(*web.ingress, [ip("198.51.100.20"), ip("203.0.113.20")]);
        assert_eq!(web.options.ttl, Some(30), "unquoted annotation value");
        let legacy = &s.services[&ServiceKey::new("default", "legacy")];
        assert!(legacy.federated, "no apiVersion, no namespace");
        assert_eq!(s.slices[&("shop".into(), "web-1".into())].ready, 2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("1 Deployment"), "{warnings:?}");
    }

    #[test]
    fn typed_list_in_json_as_the_api_returns_it() {
        let text = r#"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[
            {"metadata":{"name":"web","namespace":"shop"},"spec":{"type":"LoadBalancer"},
             "status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1","ipMode":"VIP"}]}}}]}"#;
        let parsed = parse_snapshot(text, "api.json", &Selection::default()).unwrap();
        assert_eq!(
            *parsed.snapshot.services[&ServiceKey::new("shop", "web")].ingress,
            [ip("192.0.2.1")]
        );
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    }

    #[test]
    fn empty_inputs() {
        for text in [
            "",
            "\n",
            "# nothing\n",
            "---\n",
            "---\n---\n...\n",
            "---\n# c\n---\n",
        ] {
            assert_eq!(
                parse_snapshot(text, "e.yaml", &Selection::default()).unwrap(),
                Parsed::default(),
                "{text:?}"
            );
        }
        let parsed = parse_snapshot(
            "kind: List\napiVersion: v1\nitems: []\n",
            "e.yaml",
            &Selection::default(),
        )
        .unwrap();
        assert_eq!(parsed, Parsed::default());
    }

    #[test]
    fn broken_object_names_file_document_and_object() {
        let path = fixture("broken.yaml");
        let err = load_snapshot(&path, &Selection::default()).unwrap_err();
        assert!(matches!(err, SnapshotError::Object { .. }), "{err:?}");
        let msg = err.to_string();
        for part in [
            &path.display().to_string(),
            "document 2 (line 6)",
            "Service shop/web",
            "\"eighty\"",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
    }

    #[test]
    fn broken_list_item_names_the_item() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Node\n  metadata: {name: n1}\n\
                    - kind: Node\n  metadata: {name: n2, labels: [a]}\n";
        let msg = parse_snapshot(text, "nodes.yaml", &Selection::default())
            .unwrap_err()
            .to_string();
        for part in [
            "snapshot nodes.yaml",
            "document 1 (line 1)",
            "items[1] (line 6)",
            "Node n2",
            "invalid type",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
    }

    #[test]
    fn invalid_yaml_and_non_objects() {
        let err = parse_snapshot(
            "kind: Service\nmetadata: {name: [x\n",
            "bad.yaml",
            &Selection::default(),
        )
        .unwrap_err();
        let SnapshotError::Yaml { line, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(line.is_some(), "{err:?}");
        assert!(
            err.to_string().starts_with("snapshot bad.yaml: invalid YAML:"),
            "{err}"
        );
        let err = parse_snapshot(
            "kind: Service\n---\njust a string\n",
            "bad.yaml",
            &Selection::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot bad.yaml: document 2 (line 3): not a Kubernetes object (a YAML mapping) but a scalar"
        );
        let err = parse_snapshot(
            "kind: List\nitems:\n- kind: Node\n- [a]\n",
            "bad.yaml",
            &Selection::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("document 1 (line 1), items[1] (line 4): not a Kubernetes object"),
            "{err}"
        );
        let err = parse_snapshot("- kind: Node\n", "bad.yaml", &Selection::default()).unwrap_err();
        assert!(err.to_string().contains("but a sequence"), "{err}");
        let err = parse_snapshot("a: 1\na: 2\n", "dup.yaml", &Selection::default()).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn unknown_kinds_versions_duplicates_and_nameless_objects() {
        let text = "\
kind: Pod
metadata: {name: p}
---
kind: Pod
metadata: {name: q}
---
metadata: {name: kindless}
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: old, labels: {kubernetes.io/service-name: web}}
---
kind: Service
metadata: {name: web}
spec: {type: ClusterIP}
---
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer}
---
kind: Service
metadata: {namespace: x}
---
kind: EndpointSlice
metadata: {name: orphan}
";
        let Parsed { snapshot, warnings } =
            parse_snapshot(text, "mixed.yaml", &Selection::default()).unwrap();
        assert_eq!(snapshot.services.len(), 1);
        assert!(
            snapshot.services[&ServiceKey::new("default", "web")].federated,
            "the later one wins"
        );
        assert!(snapshot.slices.is_empty());
        let expected = [
            "document 4 (line 9): skipping EndpointSlice with apiVersion discovery.k8s.io/v1beta1",
            "document 6 (line 17): Service default/web appears more than once; the later one wins",
            "document 7 (line 21): skipping Service without a name",
            "document 8 (line 24): skipping EndpointSlice default/orphan without a name or a kubernetes.io/service-name label",
            "skipped 1 (no kind), 2 Pod",
        ];
        assert_eq!(warnings.len(), expected.len(), "{warnings:#?}");
        for (w, e) in warnings.iter().zip(expected) {
            assert!(
                w.starts_with("snapshot mixed.yaml: ") && w.contains(e),
                "{w:?} lacks {e:?}"
            );
        }
    }

    #[test]
    fn document_numbers() {
        let text = "# c\n---\na: 1\n---\n\n---\nb: 2\n--- {c: 3}\n";
        assert_eq!([3, 7, 8].map(|l| document_number(text, l)), [1, 3, 4]);
        assert_eq!([1, 3].map(|l| document_number("a: 1\n---\nb: 2\n", l)), [1, 2]);
    }

    #[test]
    fn load_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        let err = load_snapshot(&missing, &Selection::default()).unwrap_err();
        assert!(matches!(err, SnapshotError::NotFound { .. }));
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
        let err = load_snapshot(dir.path(), &Selection::default()).unwrap_err();
        assert!(matches!(err, SnapshotError::Read { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    const V1: &str = "kind: Service\nmetadata: {name: web}\nspec: {type: LoadBalancer}\n\
                      status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}\n";

    fn ttl_of(event: &MemberEvent) -> Option<u32> {
        match event {
            MemberEvent::Snapshot { member, snapshot } => {
                assert_eq!(member, "m1");
                snapshot.services[&ServiceKey::new("default", "web")].options.ttl
            }
            other => panic!("unexpected event: {other:?}"),
        }
    }

    #[test]
    fn services_outside_the_selection_are_left_out() {
        let text = "
kind: Service
metadata: {name: a, namespace: shop, labels: {app: web}}
spec: {type: LoadBalancer}
---
kind: Service
metadata: {name: b, namespace: shop}
spec: {type: LoadBalancer}
---
kind: Service
metadata: {name: c, namespace: kube-system, labels: {app: web}}
spec: {type: LoadBalancer}
";
        let selection = crate::config::ServicesConfig {
            exclude_namespaces: vec!["kube-system".into()],
            selector: "app=web".into(),
            ..Default::default()
        }
        .selection()
        .unwrap();
        let parsed = parse_snapshot(text, "sel.yaml", &selection).unwrap();
        assert_eq!(
            parsed.snapshot.services.keys().collect::<Vec<_>>(),
            [&ServiceKey::new("shop", "a")]
        );
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let all = parse_snapshot(text, "sel.yaml", &Selection::default()).unwrap();
        assert_eq!(all.snapshot.services.len(), 3);
    }

    fn with_ttl(ttl: &str) -> String {
        V1.replace(
            "name: web}",
            &format!("name: web, annotations: {{feddns.io/ttl: \"{ttl}\"}}}}"),
        )
    }

    #[tokio::test]
    async fn watcher_follows_edits_deletions_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m1.yaml");
        std::fs::write(&path, V1).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let (loads_tx, mut loads) = mpsc::unbounded_channel();
        let task = tokio::spawn(watch(
            "m1".into(),
            path.clone(),
            Duration::from_millis(20),
            Selection::default(),
            tx,
            move |len| {
                let _ = loads_tx.send(len);
            },
        ));
        let deadline = Duration::from_secs(5);
        let next = async |rx: &mut mpsc::Receiver<MemberEvent>| {
            timeout(deadline, rx.recv())
                .await
                .expect("no event in time")
                .expect("channel open")
        };

        // Initial load.
        assert_eq!(ttl_of(&next(&mut rx).await), None);

        // Atomic replacement: write elsewhere, rename over.
        let tmp = dir.path().join(".m1.yaml.tmp");
        std::fs::write(&tmp, with_ttl("60")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(ttl_of(&next(&mut rx).await), Some(60));

        // Plain rewrite in place.
        std::fs::write(&path, with_ttl("3600")).unwrap();
        assert_eq!(ttl_of(&next(&mut rx).await), Some(3600));

        // A rewrite that parses the same: loaded, nothing sent.
        let same = format!("# a comment\n{}", with_ttl("3600"));
        std::fs::write(&path, &same).unwrap();
        let want = same.len() as u64;
        while timeout(deadline, loads.recv()).await.unwrap().unwrap() != want {}
        assert!(rx.try_recv().is_err(), "an unchanged snapshot was sent again");

        // Deleted: Failed once; restored with the same content: Snapshot again.
        std::fs::remove_file(&path).unwrap();
        match next(&mut rx).await {
            MemberEvent::Failed { member, error } => {
                assert_eq!(member, "m1");
                assert!(
                    error.contains("not found") && error.contains(&path.display().to_string()),
                    "{error}"
                );
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        std::fs::write(&path, &same).unwrap();
        assert_eq!(ttl_of(&next(&mut rx).await), Some(3600));

        // Invalid: Failed; the same error again after another edit: nothing more; fixed: Snapshot.
        std::fs::write(&path, "kind: Service\nmetadata: {name: [\n").unwrap();
        assert!(
            matches!(next(&mut rx).await, MemberEvent::Failed { error, .. } if error.contains("invalid YAML"))
        );
        let still_bad = "kind: Service\nmetadata: {name: [\n\n\n";
        std::fs::write(&path, still_bad).unwrap();
        while timeout(deadline, loads.recv()).await.unwrap().unwrap() != still_bad.len() as u64 {}
        assert!(rx.try_recv().is_err(), "the same error was sent twice");
        std::fs::write(&path, V1).unwrap();
        assert_eq!(ttl_of(&next(&mut rx).await), None);

        // The task ends when the receiver goes away.
        drop(rx);
        timeout(deadline, task)
            .await
            .expect("watcher did not stop")
            .unwrap();
    }

    #[tokio::test]
    async fn watch_file_reports_a_missing_file_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.yaml");
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(watch_file(
            "m2".into(),
            path.clone(),
            Duration::from_millis(20),
            Selection::default(),
            tx,
        ));
        let event = timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert!(
            matches!(event, MemberEvent::Failed { ref member, .. } if member == "m2"),
            "{event:?}"
        );
        std::fs::write(&path, V1).unwrap();
        let event = timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert!(matches!(event, MemberEvent::Snapshot { ref snapshot, .. } if snapshot.services.len() == 1));
        drop(rx);
        timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}
