//! An in-process **fake Kubernetes API server** for feddns tests and benchmarks.
//!
//! [`FakeApiServer::start`] serves plain HTTP/1.1 on `127.0.0.1` (a random port) so that the real
//! `kube` client — `kube::Client`, `kube::runtime::watcher`, metadata watchers — runs against it
//! through a kubeconfig from [`FakeApiServer::kubeconfig`]. Tests seed and change objects directly
//! with [`FakeApiServer::apply`] / [`FakeApiServer::delete`] and inject faults with
//! [`FakeApiServer::stop`] / [`FakeApiServer::restart`], [`FakeApiServer::expire_watches`] and
//! [`FakeApiServer::set_forbidden`].
//!
//! # What it implements
//!
//! * Core (`/api/v1`) and group (`/apis/{group}/{version}`) paths, namespaced and cluster-scoped,
//!   with a `/status` subresource; `/version`, `/healthz`, `/readyz`, `/livez`, and minimal
//!   discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`).
//! * list with `labelSelector` (full grammar: `=`, `==`, `!=`, exists, `!`, `in`, `notin`, `>`, `<`),
//!   `fieldSelector` (`metadata.name`, `metadata.namespace`) and `limit`/`continue` pagination in
//!   namespace/name order. Continued pages report the first page's resourceVersion (as a real
//!   server does) but serve current data; a continue token older than the compacted history gets
//!   410 Expired.
//! * watch (`watch=true`): newline-delimited JSON events; `resourceVersion` ""/"0"/absent (ADDED for
//!   current objects first) or a specific version (replay of the bounded history, 410 Expired as an
//!   ERROR event when it is too old); `allowWatchBookmarks`, `sendInitialEvents` (streaming lists,
//!   with the `k8s.io/initial-events-end` bookmark), `timeoutSeconds`, and selectors (objects that
//!   start or stop matching arrive as ADDED / DELETED).
//! * Metadata-only responses (`Accept: ...;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`) for
//!   get, list, watch and writes.
//! * get, create (incl. `generateName`), update (optimistic concurrency on
//!   `metadata.resourceVersion`), patch (JSON merge, strategic merge *treated as JSON merge*,
//!   server-side apply *treated as a JSON merge that creates missing objects*, RFC 6902 JSON patch),
//!   delete (with uid/resourceVersion preconditions) and deletecollection.
//! * `metadata.resourceVersion` from one global counter, `uid` and `creationTimestamp`; HTTP updates
//!   and patches that change nothing do not bump the resourceVersion (like a real server).
//! * Built-in kinds: Service, Node, ConfigMap, Secret, Namespace, EndpointSlice, Lease and
//!   Ingress; custom kinds are registered by the test ([`FakeApiServer::register`],
//!   [`FakeApiServer::install_gateway_api`]). An unregistered kind is a CRD that is not installed:
//!   its group/version discovery document and its requests answer 404.
//! * For Service, Node, Namespace and Ingress (which have a status subresource) main-resource updates keep
//!   the stored `.status` and `/status` writes change only `.status`. [`FakeApiServer::apply`]
//!   always stores the whole object.
//!
//! # What it does not implement
//!
//! * Authentication and authorization (any request is accepted; see
//!   [`FakeApiServer::set_forbidden`] for injected 403s), admission, validation of object schemas,
//!   defaulting beyond metadata (no `generation`, no `managedFields`, no spec defaults).
//! * `resourceVersion`/`resourceVersionMatch` on list and get (the current state is always served),
//!   `dryRun`, `fieldManager`/`force` (server-side apply has no field ownership: fields missing from
//!   an applied configuration are not removed), strategic merge list semantics, YAML bodies.
//! * Finalizers and graceful deletion (objects are removed at once), garbage collection, owner
//!   references, protobuf, HTTP/2, TLS, `Table` output, watch on a single object by name.
//! * If `HTTPS_PROXY` is set in the environment, kube's kubeconfig loader will try to use it.
//!
//! # Limits
//!
//! * The last 100 000 change events are kept ([`FakeApiServer::set_history_limit`]); a watch
//!   resuming from an older resourceVersion gets 410 Gone.
//! * All watches of one server share a fan-out channel of 16 384 events (of all kinds). A watch
//!   that falls further behind — a slow client, or a long synchronous burst of
//!   [`FakeApiServer::apply`] calls that never yields to the runtime while watches are open — is
//!   closed with a 410 ERROR event, as a real server would; kube's watcher then relists.

#![warn(missing_docs)]

pub mod fixtures;
mod http;
mod patch;
pub mod proxy;
mod selector;
mod store;
mod util;
mod watch;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::selector::Filter;
use crate::store::{Store, WriteMode, normalize};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the public handle and the connection tasks.
#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    store: Mutex<Store>,
    forbidden: Mutex<HashSet<String>>,
    counts: Mutex<HashMap<&'static str, HashMap<String, usize>>>,
    bookmark_ms: AtomicU64,
    open_watches: AtomicUsize,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn count(&self, verb: &'static str, plural: &str) {
        let mut counts = lock(&self.counts);
        let by_plural = counts.entry(verb).or_default();
        match by_plural.get_mut(plural) {
            Some(n) => *n += 1,
            None => {
                by_plural.insert(plural.to_owned(), 1);
            }
        }
    }

    fn is_forbidden(&self, plural: &str) -> bool {
        let forbidden = lock(&self.forbidden);
        !forbidden.is_empty() && forbidden.contains(plural)
    }
}

/// The accept loop and its connections, while serving.
#[derive(Debug)]
struct Running {
    accept: JoinHandle<()>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.running).take() {
            running.accept.abort();
            lock(&running.conns).abort_all();
        }
    }
}

/// An in-process fake Kubernetes API server on `127.0.0.1`. Cloning gives another handle to the
/// same server; it stops serving when the last handle is dropped (or on [`FakeApiServer::stop`]).
#[derive(Debug, Clone)]
pub struct FakeApiServer {
    inner: Arc<Inner>,
}

impl FakeApiServer {
    /// Binds `127.0.0.1:0` and serves until [`FakeApiServer::stop`] or drop. Must be called
    /// within a Tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let shared = Arc::new(Shared {
            addr: listener.local_addr()?,
            store: Mutex::new(Store::new()),
            forbidden: Mutex::new(HashSet::new()),
            counts: Mutex::new(HashMap::new()),
            bookmark_ms: AtomicU64::new(1000),
            open_watches: AtomicUsize::new(0),
        });
        let running = serve(shared.clone(), listener);
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                running: Mutex::new(Some(running)),
            }),
        })
    }

    /// The address served (the same across [`FakeApiServer::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A kubeconfig (JSON, which is valid YAML; kube's `Kubeconfig::from_yaml` accepts it) with one
    /// cluster (`server` = [`FakeApiServer::url`]), one user (a bearer token) and one context named
    /// `context` (cluster and user are named after it too), which is the current context.
    pub fn kubeconfig(&self, context: &str) -> String {
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url()}}],
            "users": [{"name": context, "user": {"token": "fake-apiserver-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
            "current-context": context,
        });
        serde_json::to_string_pretty(&config).unwrap_or_default()
    }

    /// Writes [`FakeApiServer::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path, context: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig(context))
    }

    /// Stops serving: closes the listener and every open connection (open watches end abruptly,
    /// new connections are refused). Object state is kept. Returns once the sockets are closed.
    pub async fn stop(&self) {
        let running = lock(&self.inner.running).take();
        let Some(running) = running else { return };
        running.accept.abort();
        let _ = running.accept.await;
        let mut conns = std::mem::take(&mut *lock(&running.conns));
        conns.shutdown().await;
    }

    /// Serves again on the same address, with the same state. A no-op while running. Retries
    /// binding for a few seconds if the port is momentarily busy.
    pub async fn restart(&self) -> std::io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr()).await {
                Ok(listener) => break listener,
                Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => return Err(err),
            }
        };
        let running = serve(self.inner.shared.clone(), listener);
        let mut slot = lock(&self.inner.running);
        if slot.is_some() {
            // A concurrent restart won; keep that one.
            running.accept.abort();
        } else {
            *slot = Some(running);
        }
        Ok(())
    }

    /// Whether the server is accepting connections.
    pub fn is_running(&self) -> bool {
        lock(&self.inner.running).is_some()
    }

    /// Creates or replaces the object identified by (apiVersion, kind, namespace, name). Assigns
    /// `metadata.resourceVersion` (a global counter, as a decimal string) on every call, and `uid`
    /// and `creationTimestamp` on create unless given (a replace keeps the stored ones); defaults
    /// the namespace to `default` for namespaced kinds and drops it for cluster-scoped kinds; sets
    /// `apiVersion` and `kind`; emits ADDED or MODIFIED to watchers. Returns the stored object.
    ///
    /// Errors for an unregistered apiVersion/kind or a missing `metadata.name`.
    pub fn apply(&self, obj: Value) -> Result<Value, String> {
        let mut obj = obj;
        if !obj.is_object() {
            return Err("object must be a JSON object".to_owned());
        }
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut store = self.inner.shared.store();
        let rt = store.type_by_kind(&api_version, &kind).ok_or_else(|| {
            format!("unknown apiVersion/kind {api_version:?}/{kind:?}; register() it first")
        })?;
        let (namespace, name) = store::key_of(&obj);
        if name.is_empty() {
            return Err("metadata.name is required".to_owned());
        }
        let namespace = if namespace.is_empty() {
            "default".to_owned()
        } else {
            namespace
        };
        normalize(&rt, &mut obj, &namespace);
        let (_, stored, _) = store.write_value(&rt, obj, WriteMode::Apply);
        drop(store);
        Ok(stored)
    }

    /// Deletes an object, emitting DELETED (with a new resourceVersion). `namespace` is ignored for
    /// cluster-scoped kinds and defaults to `default` for namespaced ones. Returns whether it existed.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        let mut store = self.inner.shared.store();
        let Some(rt) = store.type_by_kind(api_version, kind) else {
            return false;
        };
        let key = object_key(rt.namespaced, namespace, name);
        store.delete(&rt, &key).is_some()
    }

    /// The stored object, if any (`namespace` as for [`FakeApiServer::delete`]).
    pub fn get(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let store = self.inner.shared.store();
        let rt = store.type_by_kind(api_version, kind)?;
        let obj = store.get(&rt, &object_key(rt.namespaced, namespace, name));
        drop(store);
        obj.map(|o| o.value())
    }

    /// Every stored object of a kind (all namespaces), in namespace/name order. Empty for an
    /// unregistered kind.
    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let store = self.inner.shared.store();
        let Some(rt) = store.type_by_kind(api_version, kind) else {
            return Vec::new();
        };
        let (items, _) = store.list(&rt, &Filter::default(), 0, None);
        drop(store);
        items.iter().map(|o| o.value()).collect()
    }

    /// The current (latest issued) global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.shared.store().current_rv()
    }

    /// Every open watch receives an ERROR event with a 410 Gone `Status` ("too old resource
    /// version") and is closed; the history is compacted so that a watch resuming from any
    /// resourceVersion issued so far gets 410. (The resourceVersion advances by one so that a fresh
    /// list can be watched from.)
    pub fn expire_watches(&self) {
        self.inner.shared.store().expire();
    }

    /// Interval of BOOKMARK events on watches that asked for them (`allowWatchBookmarks=true`);
    /// default 1s. Applies from each watch's next bookmark.
    pub fn set_bookmark_interval(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        self.inner.shared.bookmark_ms.store(ms, Ordering::Relaxed);
    }

    /// How many change events are kept for watches resuming from a resourceVersion (default
    /// 100 000); older ones are compacted (watches from before them get 410 Gone).
    pub fn set_history_limit(&self, events: usize) {
        self.inner.shared.store().set_history_limit(events);
    }

    /// Makes every request for this resource plural (e.g. `"services"`) fail with 403 Forbidden
    /// (`true`), or work again (`false`). Forbidden requests are still counted by
    /// [`FakeApiServer::request_count`].
    pub fn set_forbidden(&self, plural: &str, forbidden: bool) {
        let mut set = lock(&self.inner.shared.forbidden);
        if forbidden {
            set.insert(plural.to_owned());
        } else {
            set.remove(plural);
        }
    }

    /// Registers a custom resource kind (e.g. `core.kubefed.io/v1beta1` `KubeFedCluster`
    /// `kubefedclusters`, or `cluster.karmada.io/v1alpha1` `Cluster` `clusters`), without a status
    /// subresource. Registering a kind again updates its plural/scope and keeps its objects.
    pub fn register(&self, api_version: &str, kind: &str, plural: &str, namespaced: bool) {
        self.inner
            .shared
            .store()
            .register(api_version, kind, plural, namespaced, false);
    }

    /// Like [`FakeApiServer::register`], for a kind with a status subresource: main-resource
    /// writes over HTTP keep the stored `.status`, `/status` writes change only `.status`.
    pub fn register_with_status(&self, api_version: &str, kind: &str, plural: &str, namespaced: bool) {
        self.inner
            .shared
            .store()
            .register(api_version, kind, plural, namespaced, true);
    }

    /// Installs the Gateway API kinds a cluster gets from its standard-channel CRDs
    /// (`gateway.networking.k8s.io/v1` `Gateway`, `HTTPRoute`, `GRPCRoute`, `TLSRoute`, each with
    /// a status subresource). Until then (a cluster without the CRDs) their discovery document
    /// and every request for them answer 404 Not Found, as a real API server does.
    pub fn install_gateway_api(&self) {
        for (kind, plural) in GATEWAY_API_KINDS {
            self.register_with_status("gateway.networking.k8s.io/v1", kind, plural, true);
        }
    }

    /// Requests served for (verb, plural), where verb is one of `list`, `watch`, `get`, `create`,
    /// `update`, `patch`, `delete`, `deletecollection` (subresource requests count for the parent),
    /// or `unserved`: requests for a group resource the server does not serve (answered 404, as
    /// for a CRD that is not installed).
    pub fn request_count(&self, verb: &str, plural: &str) -> usize {
        lock(&self.inner.shared.counts)
            .get(verb)
            .and_then(|m| m.get(plural))
            .copied()
            .unwrap_or(0)
    }

    /// Forgets all request counts.
    pub fn reset_request_counts(&self) {
        lock(&self.inner.shared.counts).clear();
    }

    /// Number of currently open watch streams (for tests to wait until watchers are connected).
    pub fn open_watches(&self) -> usize {
        self.inner.shared.open_watches.load(Ordering::SeqCst)
    }
}

/// The Gateway API kinds [`FakeApiServer::install_gateway_api`] registers: (kind, plural).
pub const GATEWAY_API_KINDS: [(&str, &str); 4] = [
    ("Gateway", "gateways"),
    ("HTTPRoute", "httproutes"),
    ("GRPCRoute", "grpcroutes"),
    ("TLSRoute", "tlsroutes"),
];

fn object_key(namespaced: bool, namespace: Option<&str>, name: &str) -> store::Key {
    let namespace = if namespaced {
        namespace.unwrap_or("default")
    } else {
        ""
    };
    (namespace.to_owned(), name.to_owned())
}

/// Spawns the accept loop; each connection is a task in a `JoinSet` so `stop` can abort them.
fn serve(shared: Arc<Shared>, listener: TcpListener) -> Running {
    let conns = Arc::new(Mutex::new(JoinSet::new()));
    let tasks = conns.clone();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // E.g. out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(http::handle(shared, req).await) }
            });
            let mut tasks = lock(&tasks);
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Running { accept, conns }
}
