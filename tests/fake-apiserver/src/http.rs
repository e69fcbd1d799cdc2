//! HTTP routing and the REST verbs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::Shared;
use crate::patch::{JsonPatchError, json_patch, merge_patch};
use crate::selector::Filter;
use crate::store::{Key, Obj, ResourceType, WatchStart, WriteMode, key_of, metadata_mut, normalize};
use crate::util::{ApiError, decode_continue, encode_continue, parse_query};
use crate::watch::{WatchOptions, expired_body, watch_body};

/// Response body type of every route.
pub(crate) type RespBody = UnsyncBoxBody<Bytes, Infallible>;

/// Largest accepted request body.
const MAX_BODY: usize = 64 * 1024 * 1024;

fn full(body: impl Into<Bytes>) -> RespBody {
    Full::new(body.into()).boxed_unsync()
}

fn respond(code: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<RespBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json_response(code: StatusCode, body: impl Into<Bytes>) -> Response<RespBody> {
    respond(code, "application/json", body)
}

fn error_response(err: &ApiError) -> Response<RespBody> {
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, err.to_bytes())
}

fn value_response(code: StatusCode, value: &Value) -> Response<RespBody> {
    json_response(code, serde_json::to_vec(value).unwrap_or_default())
}

fn obj_response(code: StatusCode, obj: &Obj, meta_only: bool) -> Response<RespBody> {
    json_response(code, obj.body(meta_only).clone())
}

/// Which resource (and optionally which object) a path names.
#[derive(Debug)]
struct Target {
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

enum Route {
    Text(&'static str),
    Json(Value),
    Resource(Target),
}

/// Handles one request; never fails (errors become `Status` responses).
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
    let route = match route(&shared, parts.uri.path()) {
        Ok(route) => route,
        Err(err) => {
            if let Some(plural) = unserved_plural(parts.uri.path()) {
                shared.count("unserved", plural);
            }
            return error_response(&err);
        }
    };
    let target = match route {
        Route::Text(text) => return respond(StatusCode::OK, "text/plain; charset=utf-8", text),
        Route::Json(value) => return value_response(StatusCode::OK, &value),
        Route::Resource(target) => target,
    };
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
    };
    let meta_only = header(ACCEPT).contains("as=PartialObjectMetadata");
    let content_type = header(CONTENT_TYPE)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();

    let is_watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (&parts.method, target.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if is_watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        (method, _) => return error_response(&ApiError::method_not_allowed(method.as_str())),
    };
    if target.status && !matches!(verb, "get" | "update" | "patch") {
        return error_response(&ApiError::method_not_allowed(parts.method.as_str()));
    }
    if target.namespace.is_none() && target.rt.namespaced && verb != "list" && verb != "watch" {
        // `/api/v1/services` only supports list and watch.
        return error_response(&ApiError::method_not_allowed(parts.method.as_str()));
    }
    shared.count(verb, &target.rt.plural);
    if shared.is_forbidden(&target.rt.plural) {
        return error_response(&ApiError::forbidden(
            &target.rt,
            verb,
            target.namespace.as_deref(),
        ));
    }

    let body = if matches!(verb, "create" | "update" | "patch" | "delete") {
        match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                return error_response(&ApiError::bad_request(format!("reading request body: {err}")));
            }
        }
    } else {
        Bytes::new()
    };

    let result = match verb {
        "list" => list(&shared, &target, &query, meta_only),
        "watch" => watch(&shared, target, &query, meta_only),
        "get" => get(&shared, &target, meta_only),
        "create" => create(&shared, &target, &body, meta_only),
        "update" => update(&shared, &target, &body, meta_only),
        "patch" => patch(&shared, &target, &content_type, &body, meta_only),
        "delete" => delete(&shared, &target, &body, meta_only),
        _ => delete_collection(&shared, &target, &query, meta_only),
    };
    result.unwrap_or_else(|err| error_response(&err))
}

/// The resource plural a group path names (`/apis/{group}/{version}[/namespaces/{ns}]/{plural}...`).
fn unserved_plural(path: &str) -> Option<&str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["apis", _, _, "namespaces", _, plural, ..] | ["apis", _, _, plural, ..] => Some(plural),
        _ => None,
    }
}

fn route(shared: &Shared, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Ok(Route::Json(json!({
            "major": "1",
            "minor": "34",
            "gitVersion": "v1.34.0-fake",
            "platform": "linux/amd64",
        }))),
        ["healthz" | "readyz" | "livez", ..] => Ok(Route::Text("ok")),
        ["api"] => Ok(Route::Json(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}],
        }))),
        ["apis"] => Ok(Route::Json(api_groups(shared))),
        ["api", "v1"] => resource_list(shared, "", "v1"),
        ["apis", group, version] => resource_list(shared, group, version),
        ["api", "v1", rest @ ..] => resource_route(shared, "", "v1", rest),
        ["apis", group, version, rest @ ..] => resource_route(shared, group, version, rest),
        _ => Err(ApiError::no_route()),
    }
}

fn api_groups(shared: &Shared) -> Value {
    let store = shared.store();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for rt in store.types().iter().filter(|rt| !rt.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == rt.group) {
            Some((_, versions)) if !versions.contains(&rt.version) => versions.push(rt.version.clone()),
            Some(_) => {}
            None => groups.push((rt.group.clone(), vec![rt.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(shared: &Shared, group: &str, version: &str) -> Result<Route, ApiError> {
    let store = shared.store();
    let mut resources = Vec::new();
    for rt in store
        .types()
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
    {
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.kind.to_ascii_lowercase(),
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        }));
        if rt.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return Err(ApiError::no_route());
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Ok(Route::Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })))
}

fn resource_route(shared: &Shared, group: &str, version: &str, rest: &[&str]) -> Result<Route, ApiError> {
    let lookup = |plural: &str| {
        shared
            .store()
            .type_by_path(group, version, plural)
            .ok_or_else(ApiError::no_route)
    };
    let status = |sub: &str| {
        if sub == "status" {
            Ok(true)
        } else {
            Err(ApiError::no_route())
        }
    };
    let (rt, namespace, name, status) = match rest {
        ["namespaces", ns, plural] if *plural != "status" => (lookup(plural)?, Some(*ns), None, false),
        ["namespaces", ns, plural, name] => (lookup(plural)?, Some(*ns), Some(*name), false),
        ["namespaces", ns, plural, name, sub] => (lookup(plural)?, Some(*ns), Some(*name), status(sub)?),
        [plural] => (lookup(plural)?, None, None, false),
        [plural, name] => (lookup(plural)?, None, Some(*name), false),
        [plural, name, sub] => (lookup(plural)?, None, Some(*name), status(sub)?),
        _ => return Err(ApiError::no_route()),
    };
    // Namespaced paths need a namespaced kind; object paths of namespaced kinds need a namespace.
    if (namespace.is_some() && !rt.namespaced) || (rt.namespaced && namespace.is_none() && name.is_some()) {
        return Err(ApiError::no_route());
    }
    if namespace.is_some_and(str::is_empty) || name.is_some_and(str::is_empty) {
        return Err(ApiError::no_route());
    }
    Ok(Route::Resource(Target {
        rt,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        status,
    }))
}

fn filter_from(target: &Target, query: &HashMap<String, String>) -> Result<Filter, ApiError> {
    Filter::new(
        target.namespace.clone(),
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )
    .map_err(ApiError::bad_request)
}

fn object_key(target: &Target) -> Key {
    (
        target.namespace.clone().unwrap_or_default(),
        target.name.clone().unwrap_or_default(),
    )
}

fn list(
    shared: &Shared,
    target: &Target,
    query: &HashMap<String, String>,
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let filter = filter_from(target, query)?;
    let limit = match query.get("limit").map(String::as_str) {
        None | Some("") => 0,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
    };
    let cont = match query.get("continue").map(String::as_str) {
        None | Some("") => None,
        Some(token) => {
            Some(decode_continue(token).ok_or_else(|| ApiError::bad_request("continue key is not valid"))?)
        }
    };
    let (items, next, rv) = {
        let store = shared.store();
        let (rv, after) = match cont {
            Some((rv, ns, name)) => {
                if rv < store.compacted() {
                    return Err(ApiError::new(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. \
                         You can start a new list without the continue parameter.",
                    ));
                }
                (rv, Some((ns, name)))
            }
            None => (store.current_rv(), None),
        };
        let (items, next) = store.list(&target.rt, &filter, limit, after.as_ref());
        (items, next, rv)
    };
    let (api_version, kind) = if meta_only {
        (
            "meta.k8s.io/v1".to_owned(),
            "PartialObjectMetadataList".to_owned(),
        )
    } else {
        (target.rt.api_version.clone(), format!("{}List", target.rt.kind))
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some((ns, name)) = next {
        metadata["continue"] = encode_continue(rv, &ns, &name).into();
    }
    let head = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    let mut body = serde_json::to_vec(&head).unwrap_or_default();
    body.pop(); // the closing brace; `items` follows
    let size: usize = items.iter().map(|o| o.body(meta_only).len() + 1).sum();
    body.reserve(size + 16);
    body.extend_from_slice(b",\"items\":[");
    for (i, obj) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(obj.body(meta_only));
    }
    body.extend_from_slice(b"]}");
    Ok(json_response(StatusCode::OK, body))
}

fn watch(
    shared: &Arc<Shared>,
    target: Target,
    query: &HashMap<String, String>,
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let filter = filter_from(&target, query)?;
    let flag = |name: &str| matches!(query.get(name).map(String::as_str), Some("true" | "1"));
    let send_initial = flag("sendInitialEvents");
    let start = match query.get("resourceVersion").map(String::as_str) {
        _ if send_initial => WatchStart::Snapshot,
        None | Some("" | "0") => WatchStart::Snapshot,
        Some(rv) => WatchStart::After(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion: {rv}")))?,
        ),
    };
    let timeout = match query.get("timeoutSeconds").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(t) => {
            Some(Duration::from_secs(t.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds: {t}"))
            })?))
        }
    };
    let opened = shared.store().open_watch(&target.rt, &filter, start);
    let opts = WatchOptions {
        rt: target.rt,
        filter,
        meta_only,
        bookmarks: flag("allowWatchBookmarks"),
        initial_events_end: send_initial,
        timeout,
    };
    let body = match (opened, start) {
        (Ok(opened), _) => watch_body(shared.clone(), opts, opened),
        (Err(oldest), WatchStart::After(requested)) => expired_body(shared.clone(), opts, requested, oldest),
        (Err(oldest), WatchStart::Snapshot) => expired_body(shared.clone(), opts, 0, oldest),
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

fn get(shared: &Shared, target: &Target, meta_only: bool) -> Result<Response<RespBody>, ApiError> {
    let name = target.name.as_deref().unwrap_or_default();
    let obj = shared.store().get(&target.rt, &object_key(target));
    let obj = obj.ok_or_else(|| ApiError::not_found(&target.rt, name))?;
    Ok(obj_response(StatusCode::OK, &obj, meta_only))
}

/// Parses a JSON object body and checks its apiVersion/kind against the target.
fn parse_object(target: &Target, body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode the request body as JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    check_types(&target.rt, &value)?;
    Ok(value)
}

fn check_types(rt: &ResourceType, value: &Value) -> Result<(), ApiError> {
    for (field, want) in [("apiVersion", &rt.api_version), ("kind", &rt.kind)] {
        match value.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() || s == want => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "the API version/kind in the data ({field}: {other}) does not match the expected {want}"
                )));
            }
        }
    }
    Ok(())
}

/// Checks that the body's name/namespace agree with the URL, then sets them.
fn check_identity(target: &Target, value: &mut Value) -> Result<(), ApiError> {
    let (ns, name) = key_of(value);
    let url_name = target.name.as_deref().unwrap_or_default();
    if !name.is_empty() && name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        )));
    }
    check_namespace(target, &ns)?;
    metadata_mut(value).insert("name".into(), url_name.into());
    normalize(&target.rt, value, target.namespace.as_deref().unwrap_or_default());
    Ok(())
}

fn check_namespace(target: &Target, ns: &str) -> Result<(), ApiError> {
    match &target.namespace {
        Some(want) if !ns.is_empty() && ns != want => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

fn create(
    shared: &Shared,
    target: &Target,
    body: &[u8],
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let mut value = parse_object(target, body)?;
    let (ns, name) = key_of(&value);
    check_namespace(target, &ns)?;
    let mut store = shared.store();
    let name = if name.is_empty() {
        let prefix = value
            .get("metadata")
            .and_then(|m| m.get("generateName"))
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("metadata.name: Required value: name or generateName is required")
            })?
            .to_owned();
        store.generate_name(&prefix)
    } else {
        name
    };
    {
        let md = metadata_mut(&mut value);
        md.insert("name".into(), name.clone().into());
        md.remove("resourceVersion");
    }
    normalize(
        &target.rt,
        &mut value,
        target.namespace.as_deref().unwrap_or_default(),
    );
    if store.get(&target.rt, &key_of(&value)).is_some() {
        return Err(ApiError::already_exists(&target.rt, &name));
    }
    let (obj, _) = store.write(&target.rt, value, WriteMode::Create);
    drop(store);
    Ok(obj_response(StatusCode::CREATED, &obj, meta_only))
}

/// The resourceVersion a request body asks for, if any.
fn requested_rv(value: &Value) -> Option<&str> {
    value
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
}

/// Applies the status-subresource rules: `/status` writes only change `.status`; main-resource
/// writes of kinds with a status subresource keep the stored `.status`.
fn split_status(target: &Target, existing: &Value, mut new: Value) -> Value {
    let take_status = |from: &Value, into: &mut Value| {
        if let Value::Object(map) = into {
            match from.get("status") {
                Some(status) => map.insert("status".into(), status.clone()),
                None => map.remove("status"),
            };
        }
    };
    if target.status {
        let mut merged = existing.clone();
        take_status(&new, &mut merged);
        merged
    } else {
        if target.rt.status_subresource {
            take_status(existing, &mut new);
        }
        new
    }
}

fn update(
    shared: &Shared,
    target: &Target,
    body: &[u8],
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let mut value = parse_object(target, body)?;
    check_identity(target, &mut value)?;
    let name = target.name.as_deref().unwrap_or_default();
    let store = shared.store();
    let existing = store
        .get(&target.rt, &object_key(target))
        .ok_or_else(|| ApiError::not_found(&target.rt, name))?;
    replace(store, target, &existing, &existing.value(), value, meta_only)
}

/// Writes `new` (an update's body, or a patch's result) over `existing`, whose value is `old`:
/// a conflict if `new` asks for another resourceVersion; a write to the status subresource
/// changes only the status, a write to the object everything but the status.
fn replace(
    mut store: std::sync::MutexGuard<'_, crate::store::Store>,
    target: &Target,
    existing: &Obj,
    old: &Value,
    new: Value,
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    if requested_rv(&new).is_some_and(|rv| rv != existing.rv.to_string()) {
        let name = target.name.as_deref().unwrap_or_default();
        return Err(ApiError::conflict(&target.rt, name));
    }
    let new = split_status(target, old, new);
    let (obj, _) = store.write(&target.rt, new, WriteMode::Update);
    drop(store);
    Ok(obj_response(StatusCode::OK, &obj, meta_only))
}

fn patch(
    shared: &Shared,
    target: &Target,
    content_type: &str,
    body: &[u8],
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    enum Kind {
        Merge,
        Apply,
        Json,
    }
    let kind = match content_type {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => Kind::Merge,
        "application/apply-patch+yaml" | "application/apply-patch+json" => Kind::Apply,
        "application/json-patch+json" => Kind::Json,
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: \
                         application/json-patch+json, application/merge-patch+json, \
                         application/apply-patch+yaml; got '{other}'"
                ),
            ));
        }
    };
    let patch: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "couldn't decode the patch as JSON (YAML apply bodies are not supported): {e}"
        ))
    })?;
    if matches!(kind, Kind::Merge | Kind::Apply) && !patch.is_object() {
        return Err(ApiError::bad_request(
            "a merge or apply patch must be a JSON object",
        ));
    }
    if matches!(kind, Kind::Apply) {
        check_types(&target.rt, &patch)?;
    }
    let name = target.name.as_deref().unwrap_or_default();
    let mut store = shared.store();
    let existing = store.get(&target.rt, &object_key(target));
    let Some(existing) = existing else {
        if !matches!(kind, Kind::Apply) || target.status {
            return Err(ApiError::not_found(&target.rt, name));
        }
        // Server-side apply creates missing objects.
        let mut value = patch;
        check_identity(target, &mut value)?;
        metadata_mut(&mut value).remove("resourceVersion");
        let (obj, _) = store.write(&target.rt, value, WriteMode::Create);
        drop(store);
        return Ok(obj_response(StatusCode::CREATED, &obj, meta_only));
    };
    let old = existing.value();
    let mut new = old.clone();
    match kind {
        Kind::Merge | Kind::Apply => merge_patch(&mut new, &patch),
        Kind::Json => json_patch(&mut new, &patch).map_err(|e| match e {
            JsonPatchError::TestFailed(m) | JsonPatchError::Invalid(m) => ApiError::invalid(m),
        })?,
    }
    if !new.is_object() {
        return Err(ApiError::bad_request("the patch must produce a JSON object"));
    }
    check_types(&target.rt, &new)?;
    check_identity(target, &mut new)?;
    replace(store, target, &existing, &old, new, meta_only)
}

fn delete(
    shared: &Shared,
    target: &Target,
    body: &[u8],
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}")))?
    };
    let precondition = |field: &str| {
        options
            .get("preconditions")
            .and_then(|p| p.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let name = target.name.as_deref().unwrap_or_default();
    let key = object_key(target);
    let mut store = shared.store();
    let existing = store
        .get(&target.rt, &key)
        .ok_or_else(|| ApiError::not_found(&target.rt, name))?;
    let value = existing.value();
    let uid = value
        .get("metadata")
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str);
    let uid_mismatch = precondition("uid").is_some_and(|want| Some(want.as_str()) != uid);
    let rv_mismatch = precondition("resourceVersion").is_some_and(|want| want != existing.rv.to_string());
    if uid_mismatch || rv_mismatch {
        return Err(ApiError::conflict(&target.rt, name));
    }
    let deleted = store
        .delete(&target.rt, &key)
        .ok_or_else(|| ApiError::not_found(&target.rt, name))?;
    drop(store);
    Ok(obj_response(StatusCode::OK, &deleted, meta_only))
}

fn delete_collection(
    shared: &Shared,
    target: &Target,
    query: &HashMap<String, String>,
    meta_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let filter = filter_from(target, query)?;
    let (deleted, rv) = {
        let mut store = shared.store();
        let (items, _) = store.list(&target.rt, &filter, 0, None);
        let deleted: Vec<Arc<Obj>> = items
            .iter()
            .filter_map(|o| store.delete(&target.rt, &o.key()))
            .collect();
        (deleted, store.current_rv())
    };
    let items: Vec<Value> = deleted
        .iter()
        .map(|o| serde_json::from_slice(o.body(meta_only)).unwrap_or(Value::Null))
        .collect();
    let (api_version, kind) = if meta_only {
        (
            "meta.k8s.io/v1".to_owned(),
            "PartialObjectMetadataList".to_owned(),
        )
    } else {
        (target.rt.api_version.clone(), format!("{}List", target.rt.kind))
    };
    Ok(value_response(
        StatusCode::OK,
        &json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}
