//! The real kube client (and kube-runtime watchers) against the fake API server.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long any single expected thing may take.
const DEADLINE: Duration = Duration::from_secs(10);

async fn client_for(server: &FakeApiServer, context: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig(context)).expect("kubeconfig parses");
    let options = KubeConfigOptions {
        context: Some(context.into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

async fn start() -> (FakeApiServer, Client) {
    let server = FakeApiServer::start().await.expect("server starts");
    let client = client_for(&server, "m1").await;
    (server, client)
}

fn service(name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    })
}

/// The next stream item, failing the test after [`DEADLINE`].
async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("timed out waiting for the next stream item")
        .expect("stream ended")
}

/// Polls `cond` until it holds, failing the test after [`DEADLINE`].
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A stream polled by its own task, so that e.g. a watcher keeps its watch open while the test
/// waits for something else. The channel is bounded: the task only runs ahead by one item.
struct Polled<T> {
    rx: mpsc::Receiver<T>,
    task: JoinHandle<()>,
}

impl<T: Send + 'static> Polled<T> {
    fn new(mut stream: BoxStream<'static, T>) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        });
        Self { rx, task }
    }

    /// The next item, failing the test after [`DEADLINE`].
    async fn next(&mut self) -> T {
        tokio::time::timeout(DEADLINE, self.rx.recv())
            .await
            .expect("timed out waiting for the next stream item")
            .expect("stream ended")
    }
}

impl<T> Drop for Polled<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Watch<K> = Polled<Result<Event<K>, watcher::Error>>;

fn watch_services(api: Api<Service>, config: watcher::Config) -> Watch<Service> {
    Polled::new(watcher::watcher(api, config).boxed())
}

/// A watcher of `api` (with the default config) that has listed `names`, its watch open.
async fn watching(server: &FakeApiServer, api: Api<Service>, names: &[&str]) -> Watch<Service> {
    let mut stream = watch_services(api, watcher::Config::default());
    assert_eq!(expect_initial_list(&mut stream).await, names);
    wait_until("the watch is open", || server.open_watches() == 1).await;
    stream
}

/// Consumes `Init`, `InitApply`… `InitDone`; returns the names seen.
async fn expect_initial_list<K: ResourceExt + Debug + Send + 'static>(events: &mut Watch<K>) -> Vec<String> {
    let first = events.next().await.expect("init");
    assert!(matches!(first, Event::Init), "expected Init, got {first:?}");
    let mut names = Vec::new();
    loop {
        match events.next().await.expect("initial list event") {
            Event::InitApply(obj) => names.push(obj.name_any()),
            Event::InitDone => return names,
            other => panic!("unexpected event during the initial list: {other:?}"),
        }
    }
}

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn list_paginates_with_limit_and_continue() {
    let (server, client) = start().await;
    for name in ["e", "c", "a", "d", "b"] {
        server.apply(service(name, &[])).unwrap();
    }
    let api: Api<Service> = Api::namespaced(client, "default");
    let mut lp = ListParams::default().limit(2);
    let mut pages = Vec::new();
    let mut rvs = Vec::new();
    loop {
        let page = api.list(&lp).await.unwrap();
        pages.push(page.items.iter().map(|s| s.name_any()).collect::<Vec<_>>());
        rvs.push(page.metadata.resource_version.clone().unwrap());
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(pages, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    assert!(
        rvs.iter().all(|rv| *rv == rvs[0]),
        "pages share the first page's resourceVersion"
    );
    assert_eq!(server.request_count("list", "services"), 3);

    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 5);
    assert!(all.metadata.continue_.is_none_or(|c| c.is_empty()));
    let first = &all.items[0];
    assert!(first.metadata.uid.is_some() && first.metadata.creation_timestamp.is_some());
    assert_eq!(first.metadata.namespace.as_deref(), Some("default"));

    let bad = api
        .list(&ListParams::default().continue_token("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(api_error(bad).code, 400);
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let (server, client) = start().await;
    server
        .apply(service("web", &[("app", "web"), ("tier", "front")]))
        .unwrap();
    server.apply(service("db", &[("app", "db")])).unwrap();
    server.apply(service("bare", &[])).unwrap();
    let mut other = service("web", &[("app", "web")]);
    other["metadata"]["namespace"] = json!("other");
    server.apply(other).unwrap();

    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let names =
        |list: kube::core::ObjectList<Service>| list.items.iter().map(|s| s.name_any()).collect::<Vec<_>>();
    let by_labels = |sel: &str| ListParams::default().labels(sel);
    assert_eq!(names(api.list(&by_labels("app=web")).await.unwrap()), ["web"]);
    assert_eq!(
        names(api.list(&by_labels("app in (web,db)")).await.unwrap()),
        ["db", "web"]
    );
    assert_eq!(
        names(api.list(&by_labels("app notin (web)")).await.unwrap()),
        ["bare", "db"]
    );
    assert_eq!(names(api.list(&by_labels("!app")).await.unwrap()), ["bare"]);
    assert_eq!(
        names(api.list(&by_labels("app,tier==front")).await.unwrap()),
        ["web"]
    );
    assert_eq!(
        names(api.list(&by_labels("app!=web")).await.unwrap()),
        ["bare", "db"]
    );
    let by_name = ListParams::default().fields("metadata.name=db");
    assert_eq!(names(api.list(&by_name).await.unwrap()), ["db"]);

    let everywhere: Api<Service> = Api::all(client);
    assert_eq!(
        names(everywhere.list(&by_labels("app=web")).await.unwrap()),
        ["web", "web"]
    );
    let in_other = ListParams::default().fields("metadata.namespace=other");
    assert_eq!(names(everywhere.list(&in_other).await.unwrap()), ["web"]);

    let err = api_error(api.list(&by_labels("app in (web")).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    let err = api_error(
        api.list(&ListParams::default().fields("spec.type=LoadBalancer"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
}

#[tokio::test]
async fn watcher_sees_initial_list_then_changes() {
    let (server, client) = start().await;
    server.apply(service("a", &[])).unwrap();
    server.apply(service("b", &[])).unwrap();
    let api: Api<Service> = Api::namespaced(client, "default");
    let mut stream = watching(&server, api, &["a", "b"]).await;

    let stored = server.apply(service("c", &[("app", "x")])).unwrap();
    match stream.next().await.unwrap() {
        Event::Apply(svc) => {
            assert_eq!(svc.name_any(), "c");
            assert_eq!(
                svc.resource_version(),
                stored["metadata"]["resourceVersion"].as_str().map(String::from)
            );
        }
        other => panic!("expected Apply, got {other:?}"),
    }
    server.apply(service("a", &[("changed", "yes")])).unwrap();
    match stream.next().await.unwrap() {
        Event::Apply(svc) => assert_eq!(svc.labels().get("changed").map(String::as_str), Some("yes")),
        other => panic!("expected Apply, got {other:?}"),
    }
    assert!(server.delete("v1", "Service", Some("default"), "b"));
    assert!(!server.delete("v1", "Service", Some("default"), "b"));
    match stream.next().await.unwrap() {
        Event::Delete(svc) => assert_eq!(svc.name_any(), "b"),
        other => panic!("expected Delete, got {other:?}"),
    }
    assert_eq!(server.request_count("watch", "services"), 1);
}

#[tokio::test]
async fn streaming_list_watcher_uses_initial_events() {
    let (server, client) = start().await;
    server.apply(service("a", &[])).unwrap();
    let api: Api<Service> = Api::namespaced(client, "default");
    let mut stream = watch_services(api, watcher::Config::default().streaming_lists());
    assert_eq!(expect_initial_list(&mut stream).await, ["a"]);
    assert_eq!(server.request_count("list", "services"), 0);
    server.apply(service("b", &[])).unwrap();
    assert!(matches!(stream.next().await.unwrap(), Event::Apply(s) if s.name_any() == "b"));
}

#[tokio::test]
async fn metadata_watcher_gets_partial_object_meta() {
    let (server, client) = start().await;
    let node = |name: &str, zone: &str| {
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        })
    };
    server.apply(node("n1", "a")).unwrap();
    let stored = server.get("v1", "Node", None, "n1").unwrap();
    assert!(
        stored["metadata"].get("namespace").is_none(),
        "nodes are cluster-scoped"
    );

    let api: Api<Node> = Api::all(client.clone());
    #[allow(deprecated)]
    let mut stream = Polled::new(watcher::metadata_watcher(api, watcher::Config::default()).boxed());
    let first = stream.next().await.unwrap();
    assert!(matches!(first, Event::Init));
    match stream.next().await.unwrap() {
        Event::InitApply(meta) => {
            assert_eq!(meta.name_any(), "n1");
            assert_eq!(
                meta.labels()
                    .get("topology.kubernetes.io/zone")
                    .map(String::as_str),
                Some("a")
            );
            let types = meta.types.expect("types");
            assert_eq!(
                (types.api_version.as_str(), types.kind.as_str()),
                ("meta.k8s.io/v1", "PartialObjectMetadata")
            );
        }
        other => panic!("expected InitApply, got {other:?}"),
    }
    assert!(matches!(stream.next().await.unwrap(), Event::InitDone));
    wait_until("the watch is open", || server.open_watches() == 1).await;
    server.apply(node("n2", "b")).unwrap();
    match stream.next().await.unwrap() {
        Event::Apply(meta) => {
            assert_eq!(meta.name_any(), "n2");
            assert_eq!(
                meta.labels()
                    .get("topology.kubernetes.io/zone")
                    .map(String::as_str),
                Some("b")
            );
        }
        other => panic!("expected Apply, got {other:?}"),
    }

    // The non-deprecated spelling: an Api over PartialObjectMeta.
    let meta_api: Api<PartialObjectMeta<Node>> = Api::all(client);
    let list = meta_api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.iter().map(|m| m.name_any()).collect::<Vec<_>>(),
        ["n1", "n2"]
    );
}

#[tokio::test]
async fn expire_watches_forces_410_and_relist() {
    let (server, client) = start().await;
    server.apply(service("a", &[])).unwrap();
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut stream = watching(&server, api.clone(), &["a"]).await;
    let old_rv = server.resource_version();

    server.expire_watches();
    match stream.next().await {
        Err(watcher::Error::WatchError(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
            assert!(
                status.message.contains("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 WatchError, got {other:?}"),
    }
    server.apply(service("b", &[])).unwrap();
    assert_eq!(expect_initial_list(&mut stream).await, ["a", "b"]);
    assert_eq!(server.request_count("list", "services"), 2);

    // Resuming from a version issued before the expiry is refused with an ERROR event.
    let mut raw = api
        .watch(&WatchParams::default(), &old_rv.to_string())
        .await
        .unwrap()
        .boxed();
    match next(&mut raw).await.unwrap() {
        WatchEvent::Error(status) => assert_eq!(status.code, 410),
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(DEADLINE, raw.next())
            .await
            .unwrap()
            .is_none(),
        "stream closes after 410"
    );
}

#[tokio::test]
async fn stop_breaks_watchers_and_restart_serves_again() {
    let (server, client) = start().await;
    server.apply(service("a", &[])).unwrap();
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut stream = watching(&server, api.clone(), &["a"]).await;
    let addr = server.addr();

    server.stop().await;
    assert!(!server.is_running());
    assert_eq!(server.open_watches(), 0);
    match stream.next().await {
        Err(watcher::Error::WatchFailed(_) | watcher::Error::WatchStartFailed(_)) => {}
        other => panic!("expected the watch to fail, got {other:?}"),
    }
    assert!(
        api.list(&ListParams::default()).await.is_err(),
        "connections are refused while stopped"
    );
    server.apply(service("b", &[])).unwrap();

    server.restart().await.unwrap();
    assert!(server.is_running());
    assert_eq!(server.addr(), addr);
    // A fresh watcher lists again, with the state kept across the restart.
    let mut fresh = watch_services(api, watcher::Config::default());
    assert_eq!(expect_initial_list(&mut fresh).await, ["a", "b"]);
    // The old watcher resumes from its resourceVersion and catches up on the missed change.
    loop {
        match stream.next().await {
            Ok(Event::Apply(svc)) => {
                assert_eq!(svc.name_any(), "b");
                break;
            }
            Err(watcher::Error::WatchStartFailed(_) | watcher::Error::WatchFailed(_)) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("unexpected event after restart: {other:?}"),
        }
    }
    server.restart().await.unwrap(); // no-op while running
}

#[tokio::test]
async fn request_counts_by_verb_and_resource() {
    let (server, client) = start().await;
    server.apply(service("a", &[])).unwrap();
    let api: Api<Service> = Api::namespaced(client, "default");
    assert_eq!(server.request_count("list", "services"), 0);
    api.list(&ListParams::default()).await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    api.get("a").await.unwrap();
    assert!(api.get_opt("missing").await.unwrap().is_none());
    assert_eq!(server.request_count("list", "services"), 2);
    assert_eq!(server.request_count("get", "services"), 2);
    assert_eq!(server.request_count("list", "nodes"), 0);
    assert_eq!(server.request_count("watch", "services"), 0);
    server.reset_request_counts();
    assert_eq!(server.request_count("list", "services"), 0);
}

#[tokio::test]
async fn lease_create_replace_patch_delete() {
    let (server, client) = start().await;
    let leases: Api<Lease> = Api::namespaced(client, "kube-system");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            ..LeaseSpec::default()
        }),
    };
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("kube-system"));
    assert!(created.metadata.uid.is_some());
    let err = api_error(leases.create(&PostParams::default(), &lease).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    let mut next_version = created.clone();
    next_version.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let replaced = leases
        .replace("leader", &PostParams::default(), &next_version)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), created.resource_version());
    assert_eq!(replaced.metadata.uid, created.metadata.uid);
    // `next_version` still carries the old resourceVersion.
    let err = api_error(
        leases
            .replace("leader", &PostParams::default(), &next_version)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    let merged = leases
        .patch(
            "leader",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "c"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("c")
    );
    let stale =
        json!({"metadata": {"resourceVersion": created.resource_version()}, "spec": {"holderIdentity": "x"}});
    let err = api_error(
        leases
            .patch("leader", &PatchParams::default(), &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);

    let applied = leases
        .patch(
            "leader",
            &PatchParams::apply("fake-test").force(),
            &Patch::Apply(json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "leader"},
                "spec": {"leaseDurationSeconds": 15},
            })),
        )
        .await
        .unwrap();
    let spec = applied.spec.as_ref().unwrap();
    assert_eq!(
        (spec.holder_identity.as_deref(), spec.lease_duration_seconds),
        (Some("c"), Some(15))
    );
    // Server-side apply creates missing objects.
    let other = leases
        .patch(
            "other",
            &PatchParams::apply("fake-test"),
            &Patch::Apply(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "other"}})),
        )
        .await
        .unwrap();
    assert_eq!(other.metadata.namespace.as_deref(), Some("kube-system"));

    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/holderIdentity", "value": "c"},
        {"op": "add", "path": "/metadata/labels", "value": {"owner": "me"}},
        {"op": "replace", "path": "/spec/holderIdentity", "value": "d"},
    ]))
    .unwrap();
    let patched = leases
        .patch("leader", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(patched.labels().get("owner").map(String::as_str), Some("me"));
    assert_eq!(
        patched.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("d")
    );
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/holderIdentity", "value": "zzz"}]))
            .unwrap();
    let err = api_error(
        leases
            .patch("leader", &PatchParams::default(), &Patch::Json::<()>(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let err = api_error(
        leases
            .patch("missing", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));

    // An unchanged merge patch does not create a new version.
    let unchanged = leases
        .patch(
            "leader",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {}})),
        )
        .await
        .unwrap();
    assert_eq!(unchanged.resource_version(), patched.resource_version());

    leases.delete("leader", &DeleteParams::default()).await.unwrap();
    assert!(leases.get_opt("leader").await.unwrap().is_none());
    let err = api_error(
        leases
            .delete("leader", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 404);
    assert!(
        server
            .get("coordination.k8s.io/v1", "Lease", Some("kube-system"), "other")
            .is_some()
    );
    for verb in ["create", "update", "patch", "delete"] {
        assert!(server.request_count(verb, "leases") > 0, "{verb} counted");
    }
}

#[tokio::test]
async fn forbidden_resources_return_403() {
    let (server, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    server.set_forbidden("services", true);
    let err = api_error(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    let err = api_error(api.get("x").await.unwrap_err());
    assert_eq!(err.code, 403);
    server.set_forbidden("services", false);
    assert!(api.list(&ListParams::default()).await.unwrap().items.is_empty());
    assert_eq!(server.request_count("list", "services"), 2);
}

#[tokio::test]
async fn raw_watch_selectors_bookmarks_and_timeout() {
    let (server, client) = start().await;
    server.set_bookmark_interval(Duration::from_millis(50));
    server.apply(service("a", &[("app", "web")])).unwrap();
    server.apply(service("b", &[("app", "db")])).unwrap();
    let api: Api<Service> = Api::namespaced(client, "default");
    let wp = WatchParams::default()
        .labels("app=web")
        .timeout(2)
        .disable_bookmarks();
    let mut events = api.watch(&wp, "0").await.unwrap().boxed();
    assert!(matches!(next(&mut events).await.unwrap(), WatchEvent::Added(s) if s.name_any() == "a"));
    wait_until("the watch is open", || server.open_watches() == 1).await;

    // b starts matching: ADDED; a stops matching: DELETED; c never matches: nothing.
    server.apply(service("c", &[("app", "db")])).unwrap();
    server.apply(service("b", &[("app", "web")])).unwrap();
    server.apply(service("a", &[("app", "gone")])).unwrap();
    server.apply(service("b", &[("app", "web"), ("v", "2")])).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next(&mut events).await.unwrap() {
            WatchEvent::Added(s) => seen.push(format!("ADDED {}", s.name_any())),
            WatchEvent::Modified(s) => seen.push(format!("MODIFIED {}", s.name_any())),
            WatchEvent::Deleted(s) => seen.push(format!("DELETED {}", s.name_any())),
            WatchEvent::Bookmark(_) => panic!("bookmarks were not requested"),
            WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "DELETED a", "MODIFIED b"]);
    // timeoutSeconds ends the stream cleanly.
    assert!(
        tokio::time::timeout(DEADLINE, events.next())
            .await
            .unwrap()
            .is_none()
    );

    let with_bookmarks = WatchParams::default();
    let rv = server.resource_version().to_string();
    let mut events = api.watch(&with_bookmarks, &rv).await.unwrap().boxed();
    match next(&mut events).await.unwrap() {
        WatchEvent::Bookmark(bm) => {
            assert_eq!(bm.metadata.resource_version, rv);
            assert_eq!(bm.types.kind, "Service");
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_replays_history_and_compaction_gives_410() {
    let (server, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let start_rv = server.resource_version();
    server.apply(service("a", &[])).unwrap();
    server.apply(service("b", &[])).unwrap();
    server.delete("v1", "Service", None, "a");
    let mut events = api
        .watch(&WatchParams::default(), &start_rv.to_string())
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(match next(&mut events).await.unwrap() {
            WatchEvent::Added(s) => format!("ADDED {}", s.name_any()),
            WatchEvent::Deleted(s) => format!("DELETED {}", s.name_any()),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(seen, ["ADDED a", "ADDED b", "DELETED a"]);

    server.set_history_limit(2);
    for i in 0..5 {
        server.apply(service(&format!("s{i}"), &[])).unwrap();
    }
    let mut events = api
        .watch(&WatchParams::default(), &start_rv.to_string())
        .await
        .unwrap()
        .boxed();
    match next(&mut events).await.unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(
                status
                    .message
                    .starts_with(&format!("too old resource version: {start_rv} ("))
            );
        }
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn custom_resources_and_status_subresource() {
    let (server, client) = start().await;
    server.register(
        "core.kubefed.io/v1beta1",
        "KubeFedCluster",
        "kubefedclusters",
        true,
    );
    server
        .apply(json!({
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "KubeFedCluster",
            "metadata": {"name": "east", "namespace": "kube-federation-system"},
            "spec": {"apiEndpoint": "https://east.example"},
        }))
        .unwrap();
    assert!(
        server
            .apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
            .is_err()
    );
    let gvk = GroupVersionKind::gvk("core.kubefed.io", "v1beta1", "KubeFedCluster");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "kubefedclusters");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "kube-federation-system", &resource);
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].data["spec"]["apiEndpoint"], "https://east.example");

    // Service has a status subresource: main-resource patches keep status, /status patches set it.
    server.apply(service("lb", &[])).unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let ingress = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}});
    let patched = services
        .patch_status("lb", &PatchParams::default(), &Patch::Merge(&ingress))
        .await
        .unwrap();
    assert_eq!(
        patched.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .ip
            .as_deref(),
        Some("192.0.2.1")
    );
    let cleared = json!({"metadata": {"labels": {"x": "y"}}, "status": null});
    let patched = services
        .patch("lb", &PatchParams::default(), &Patch::Merge(&cleared))
        .await
        .unwrap();
    assert_eq!(patched.labels().get("x").map(String::as_str), Some("y"));
    assert!(
        patched.status.and_then(|s| s.load_balancer).is_some(),
        "main-resource writes keep status"
    );

    // Discovery, version and unknown paths.
    let version = client.apiserver_version().await.unwrap();
    assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "34"));
    assert_eq!(version.git_version, "v1.34.0-fake");
    let groups = client.list_api_groups().await.unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "core.kubefed.io"));
    let resources = client.list_core_api_resources("v1").await.unwrap();
    assert!(
        resources
            .resources
            .iter()
            .any(|r| r.name == "services" && r.namespaced)
    );
    let req = hyper::Request::get("/apis/example.com/v1/widgets")
        .body(Vec::new())
        .unwrap();
    let err = api_error(client.request_text(req).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    let req = hyper::Request::get("/healthz").body(Vec::new()).unwrap();
    assert_eq!(client.request_text(req).await.unwrap(), "ok");
}

#[tokio::test]
async fn kubeconfig_file_round_trips() {
    let server = FakeApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path, "member-1").unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    assert_eq!(kubeconfig.current_context.as_deref(), Some("member-1"));
    let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some(server.url().as_str()));
    let client = client_for(&server, "member-1").await;
    let nodes: Api<Node> = Api::all(client);
    assert!(nodes.list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_keeps_up_with_many_changes() {
    let (server, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let mut stream = watching(&server, api, &[]).await;
    const CHANGES: usize = 3000;
    let writer = {
        let server = server.clone();
        tokio::spawn(async move {
            for i in 0..CHANGES {
                server
                    .apply(service(&format!("s{}", i % 100), &[("i", &i.to_string())]))
                    .unwrap();
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut applied = 0;
    while applied < CHANGES {
        match stream.next().await.unwrap() {
            Event::Apply(_) => applied += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    writer.await.unwrap();
    assert_eq!(server.list("v1", "Service").len(), 100);
}

#[tokio::test]
async fn watches_closed_by_the_client_are_released() {
    let (server, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let events = api
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap();
    wait_until("the watch is open", || server.open_watches() == 1).await;
    drop(events);
    wait_until("the watch is released", || server.open_watches() == 0).await;
}

#[tokio::test]
async fn a_lagging_watch_is_closed_with_410() {
    let (server, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let mut events = api.watch(&WatchParams::default(), "0").await.unwrap().boxed();
    wait_until("the watch is open", || server.open_watches() == 1).await;
    // A synchronous burst: the (current-thread) runtime cannot run the watch meanwhile.
    for i in 0..17_000 {
        server.apply(service(&format!("s{}", i % 10), &[])).unwrap();
    }
    match next(&mut events).await.unwrap() {
        WatchEvent::Error(status) => assert_eq!((status.code, status.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }
}

/// A CRD that is not installed: its group/version is not discovered and listing it is 404;
/// installed, it is served like any kind.
#[tokio::test]
async fn gateway_api_kinds_answer_404_until_installed() {
    let (server, client) = start().await;
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway");
    let gateways: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk));
    let err = gateways.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_error(err).code, 404);
    let err = client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 404);
    // Ingress is built in.
    let ingresses: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress")),
    );
    assert!(
        ingresses
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    server.install_gateway_api();
    server
        .apply(fake_apiserver::fixtures::gateway(
            "infra",
            "gw",
            &[("http", 80, None)],
            &["192.0.2.1"],
        ))
        .unwrap();
    let listed = gateways.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let resources = client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .unwrap();
    let names: Vec<&str> = resources.resources.iter().map(|r| r.name.as_str()).collect();
    for plural in ["gateways", "httproutes", "grpcroutes", "tlsroutes"] {
        assert!(names.contains(&plural), "{names:?}");
    }
}
