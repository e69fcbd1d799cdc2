//! The manifests under deploy/: they parse as the Kubernetes types they claim to be (strictly: a
//! misspelled or misplaced field fails), the kustomizations reference files that exist, the
//! feddns configs parse, and the host deployment grants exactly what feddns needs.
//!
//! The kustomize builds themselves (`kubectl kustomize`, with the overlays' patches applied) are
//! checked by the ignored test at the end; tests/run-all.sh installs kubectl for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of a YAML text, as JSON values (empty documents dropped).
fn parse_documents(text: &str, origin: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{origin}: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Every document of a manifest file, as JSON values.
pub(crate) fn documents(path: &str) -> Vec<Value> {
    let file = root().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    parse_documents(&text, &file.display().to_string())
}

pub(crate) fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// `path` relative to the repository, for messages.
fn rel(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// Every file under `dir` (recursively), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn is_yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn is_kustomization(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "kustomization.yaml")
}

/// `Kind namespace/name` of a manifest document.
fn describe(doc: &Value) -> String {
    let meta = &doc["metadata"];
    let name = meta["name"].as_str().unwrap_or("<no name>");
    match meta["namespace"].as_str() {
        Some(ns) => format!("{} {ns}/{name}", doc["kind"].as_str().unwrap_or("<no kind>")),
        None => format!("{} {name}", doc["kind"].as_str().unwrap_or("<no kind>")),
    }
}

/// What the member reader is granted for each source: the base (Services, Nodes,
/// EndpointSlices) and what each source's Component adds.
fn member_source_grants(source: &str) -> BTreeSet<String> {
    let resources: &[&str] = match source {
        "base" => &["/services", "/nodes", "discovery.k8s.io/endpointslices"],
        "ingress" => &["networking.k8s.io/ingresses"],
        "gateway" => &[
            "gateway.networking.k8s.io/gateways",
            "gateway.networking.k8s.io/httproutes",
            "gateway.networking.k8s.io/grpcroutes",
            "gateway.networking.k8s.io/tlsroutes",
        ],
        other => panic!("no source {other}"),
    };
    resources.iter().flat_map(|r| read("cluster", r)).collect()
}

/// The member RBAC of a build: exactly `want`, every ClusterRole bound to the one reader whose
/// token Secret the build makes, nothing namespaced.
fn assert_member_rbac(docs: &[Value], want: &BTreeSet<String>) {
    let granted = grants(docs);
    assert_eq!(&granted, want);
    assert_eq!(
        of_kind(docs, "Role").len() + of_kind(docs, "RoleBinding").len(),
        0
    );
    let sa = of_kind(docs, "ServiceAccount");
    assert_eq!(sa.len(), 1);
    let sa = sa[0];
    let roles: BTreeSet<String> = all::<ClusterRole>(docs, "ClusterRole")
        .into_iter()
        .map(|r| r.metadata.name.unwrap())
        .collect();
    let bindings: Vec<ClusterRoleBinding> = all(docs, "ClusterRoleBinding");
    let bound: BTreeSet<String> = bindings.iter().map(|b| b.role_ref.name.clone()).collect();
    assert_eq!(bound, roles, "every ClusterRole bound, once");
    for binding in &bindings {
        let subjects = binding.subjects.clone().unwrap();
        assert_eq!(subjects.len(), 1);
        let subject = &subjects[0];
        assert_eq!(
            (
                subject.kind.as_str(),
                Some(subject.name.as_str()),
                subject.namespace.as_deref()
            ),
            (
                "ServiceAccount",
                sa["metadata"]["name"].as_str(),
                sa["metadata"]["namespace"].as_str()
            )
        );
    }
    let token = of_kind(docs, "Secret")[0];
    assert_eq!(token["type"], "kubernetes.io/service-account-token");
    assert_eq!(
        token["metadata"]["annotations"]["kubernetes.io/service-account.name"],
        sa["metadata"]["name"]
    );
}

#[test]
fn member_rbac_grants_get_list_watch_on_the_kinds_of_the_enabled_sources_only() {
    let member = root().join("deploy/member");
    let base = local_build(&member);
    assert_member_rbac(&base, &member_source_grants("base"));
    for source in ["ingress", "gateway"] {
        let mut docs = base.clone();
        docs.extend(local_build(&member.join("sources").join(source)));
        let want = member_source_grants("base")
            .union(&member_source_grants(source))
            .cloned()
            .collect();
        assert_member_rbac(&docs, &want);
    }
    let all_sources = local_build(&member.join("all-sources"));
    let want: BTreeSet<String> = ["base", "ingress", "gateway"]
        .into_iter()
        .flat_map(member_source_grants)
        .collect();
    assert_member_rbac(&all_sources, &want);
}

// ---------------------------------------------------------------------------------------------
// Strict schema check

/// The document through its typed k8s-openapi value and back.
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Drops null-valued fields (`field: ~` means "unset", which the typed value omits).
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Where `written` and `typed` (its round trip) differ, one line per field.
fn differences(written: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (written, typed) {
        (Value::Object(w), Value::Object(t)) => {
            for (key, value) in w {
                match t.get(key) {
                    Some(tv) => differences(value, tv, &at(key), out),
                    None => out.push(format!(
                        "field `{}` is not in the schema (misspelled or misplaced?)",
                        at(key)
                    )),
                }
            }
            for key in t.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("field `{}` appears on the round trip", at(key)));
            }
        }
        (Value::Array(w), Value::Array(t)) if w.len() == t.len() => {
            for (i, (wv, tv)) in w.iter().zip(t).enumerate() {
                differences(wv, tv, &format!("{path}[{i}]"), out);
            }
        }
        // Numbers written as 2 and read back as 2.0 (or the other way) are the same value.
        (Value::Number(w), Value::Number(t)) if w.as_f64() == t.as_f64() => {}
        (w, t) if w == t => {}
        (w, t) => out.push(format!("field `{path}`: written {w}, reads back as {t}")),
    }
}

/// Checks one manifest document against its k8s-openapi type: it deserializes, and serializing
/// the typed value gives the same JSON (k8s-openapi skips unknown fields, so a misspelled or
/// misplaced one shows up as missing from the round trip).
fn check_schema(doc: &Value) -> Result<(), String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let typed = match (api_version, kind) {
        ("v1", "Namespace") => round_trip::<Namespace>(doc),
        ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(doc),
        ("v1", "ConfigMap") => round_trip::<ConfigMap>(doc),
        ("v1", "Secret") => round_trip::<Secret>(doc),
        ("v1", "Service") => round_trip::<Service>(doc),
        ("apps/v1", "Deployment") => round_trip::<Deployment>(doc),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(doc),
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<RoleBinding>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => round_trip::<ClusterRoleBinding>(doc),
        _ => {
            return Err(format!(
                "no schema known for apiVersion {api_version:?}, kind {kind:?}"
            ));
        }
    }?;
    let mut out = Vec::new();
    differences(&normalize(doc), &normalize(&typed), "", &mut out);
    if out.is_empty() {
        Ok(())
    } else {
        Err(out.join("; "))
    }
}

/// The schema problems of every document, as `origin: Kind ns/name: problem` lines.
fn schema_problems(docs: &[Value], origin: &str) -> Vec<String> {
    docs.iter()
        .filter_map(|d| {
            check_schema(d)
                .err()
                .map(|e| format!("{origin}: {}: {e}", describe(d)))
        })
        .collect()
}

#[test]
fn the_schema_check_names_misspelled_and_misplaced_fields() {
    let good = parse_documents(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x, namespace: ns }\n\
         spec:\n  replicas: 2\n  selector: { matchLabels: { a: b } }\n  template:\n\
         \x20   metadata: { labels: { a: b } }\n    spec:\n      containers:\n\
         \x20       - { name: c, image: i, ports: [{ name: p, containerPort: 1 }] }\n",
        "good",
    );
    assert_eq!(check_schema(&good[0]), Ok(()));

    let mut misspelled = good[0].clone();
    misspelled["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always".into();
    let err = check_schema(&misspelled).unwrap_err();
    assert!(
        err.contains("`spec.template.spec.containers[0].imagePullPolicyy` is not in the schema"),
        "{err}"
    );

    let mut misplaced = good[0].clone();
    misplaced["spec"]["template"]["replicas"] = 2.into();
    let err = check_schema(&misplaced).unwrap_err();
    assert!(err.contains("`spec.template.replicas`"), "{err}");

    let mut wrong_type = good[0].clone();
    wrong_type["spec"]["replicas"] = "two".into();
    assert!(check_schema(&wrong_type).unwrap_err().contains("invalid type"));

    let unknown = parse_documents("apiVersion: v1\nkind: Pod\nmetadata: { name: x }\n", "pod");
    assert!(check_schema(&unknown[0]).unwrap_err().contains("no schema known"));
    assert_eq!(
        schema_problems(std::slice::from_ref(&misspelled), "f.yaml")[0]
            .split(": field")
            .next(),
        Some("f.yaml: Deployment ns/x")
    );
}

// ---------------------------------------------------------------------------------------------
// Kustomizations

/// The keys of a kustomization these manifests may use: kustomize refuses unknown keys, so a
/// misspelled one is caught here without kubectl.
const KUSTOMIZATION_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "resources",
    "components",
    "patches",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "images",
    "labels",
];

/// A kustomization's list field as strings.
fn list<'a>(k: &'a Value, key: &str) -> Vec<&'a Value> {
    k[key].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

/// The files a generator entry reads (`key=path` or `path`).
fn generator_files(generator: &Value) -> Vec<String> {
    list(generator, "files")
        .into_iter()
        .map(|f| {
            let f = f.as_str().expect("a generator file is a string");
            f.split_once('=').map_or(f, |(_, p)| p).to_string()
        })
        .collect()
}

/// Every file a kustomization under deploy/ reads through a generator (the feddns configs).
fn generated_files() -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for k in files_under(&root().join("deploy"))
        .into_iter()
        .filter(|p| is_kustomization(p))
    {
        let dir = k.parent().unwrap();
        let doc = &documents(&rel(&k))[0];
        for generator in list(doc, "configMapGenerator")
            .into_iter()
            .chain(list(doc, "secretGenerator"))
        {
            out.extend(generator_files(generator).into_iter().map(|f| dir.join(f)));
        }
    }
    out
}

/// What a kustomization directory yields, without kubectl: its resources (recursively), its
/// components' and its generated ConfigMaps (without the hash suffix). Patches are not applied,
/// so this is used where there are none, and to see what patches can target.
fn local_build(dir: &Path) -> Vec<Value> {
    let k = &documents(&rel(&dir.join("kustomization.yaml")))[0];
    let mut docs = Vec::new();
    for entry in list(k, "resources").into_iter().chain(list(k, "components")) {
        let path = dir.join(entry.as_str().unwrap());
        if path.is_dir() {
            docs.extend(local_build(&path));
        } else {
            docs.extend(documents(&rel(&path)));
        }
    }
    for generator in list(k, "configMapGenerator") {
        let mut data = serde_json::Map::new();
        for entry in list(generator, "files") {
            let entry = entry.as_str().unwrap();
            let (key, file) = entry.split_once('=').unwrap_or_else(|| {
                let name = Path::new(entry).file_name().unwrap().to_str().unwrap();
                (name, entry)
            });
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            data.insert(key.to_string(), Value::String(text));
        }
        let cm = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": generator["name"], "namespace": generator["namespace"] },
            "data": data,
        });
        let same = |d: &Value| d["kind"] == "ConfigMap" && d["metadata"] == cm["metadata"];
        if generator["behavior"] == "replace" || generator["behavior"] == "merge" {
            assert!(
                docs.iter().any(same),
                "{}: nothing to {}",
                rel(dir),
                generator["behavior"]
            );
            docs.retain(|d| !same(d));
        }
        docs.push(normalize(&cm));
    }
    docs
}

/// Problems of one kustomization file: unknown keys, missing files, patches that target nothing.
fn kustomization_problems(file: &Path) -> Vec<String> {
    let dir = file.parent().unwrap();
    let name = rel(file);
    let k = &documents(&name)[0];
    let mut out = Vec::new();
    let mut problem = |p: String| out.push(format!("{name}: {p}"));
    match (k["apiVersion"].as_str(), k["kind"].as_str()) {
        (Some("kustomize.config.k8s.io/v1beta1"), Some("Kustomization"))
        | (Some("kustomize.config.k8s.io/v1alpha1"), Some("Component")) => {}
        other => problem(format!("not a Kustomization or Component: {other:?}")),
    }
    for key in k.as_object().unwrap().keys() {
        if !KUSTOMIZATION_KEYS.contains(&key.as_str()) {
            problem(format!("unknown key `{key}`"));
        }
    }
    for entry in list(k, "resources") {
        let path = dir.join(entry.as_str().unwrap_or_default());
        if !(path.is_file() || path.join("kustomization.yaml").is_file()) {
            problem(format!(
                "resource {entry} is neither a file nor a kustomization directory"
            ));
        }
    }
    for entry in list(k, "components") {
        let path = dir
            .join(entry.as_str().unwrap_or_default())
            .join("kustomization.yaml");
        if !path.is_file() {
            problem(format!("component {entry} has no kustomization.yaml"));
        } else if documents(&rel(&path))[0]["kind"] != "Component" {
            problem(format!("component {entry} is not a kind: Component"));
        }
    }
    for generator in list(k, "configMapGenerator")
        .into_iter()
        .chain(list(k, "secretGenerator"))
    {
        for f in generator_files(generator) {
            if !dir.join(&f).is_file() {
                problem(format!(
                    "generator {} reads {f}, which does not exist",
                    generator["name"]
                ));
            }
        }
        if !matches!(
            generator["behavior"].as_str(),
            None | Some("create" | "replace" | "merge")
        ) {
            problem(format!(
                "generator {}: bad behavior {}",
                generator["name"], generator["behavior"]
            ));
        }
    }
    let patches = list(k, "patches");
    let built = if patches.is_empty() {
        Vec::new()
    } else {
        local_build(dir)
    };
    for patch in patches {
        if let Some(path) = patch["path"].as_str() {
            if !dir.join(path).is_file() {
                problem(format!("patch {path} does not exist"));
            }
            continue;
        }
        let Some(text) = patch["patch"].as_str() else {
            problem(format!("patch {patch} has neither `path` nor `patch`"));
            continue;
        };
        let target = &patch["target"];
        let targeted = built
            .iter()
            .filter(|d| d["kind"] == target["kind"] && d["metadata"]["name"] == target["name"])
            .count();
        if targeted != 1 {
            problem(format!("patch target {target} matches {targeted} objects, not 1"));
        }
        let body = parse_documents(text, &format!("{name}: inline patch"));
        if body.len() != 1
            || body[0]["kind"] != target["kind"]
            || body[0]["metadata"]["name"] != target["name"]
        {
            problem(format!(
                "inline patch for {target} is not one {} document",
                target["kind"]
            ));
        }
    }
    out
}

#[test]
fn every_manifest_under_deploy_matches_its_kubernetes_schema() {
    let generated = generated_files();
    let mut problems = Vec::new();
    let mut checked = BTreeMap::new();
    for file in files_under(&root().join("deploy")) {
        if !is_yaml(&file) || is_kustomization(&file) || generated.contains(&file) {
            continue;
        }
        let name = rel(&file);
        let docs = documents(&name);
        if docs.is_empty() {
            problems.push(format!("{name}: no documents"));
        }
        problems.extend(schema_problems(&docs, &name));
        checked.insert(name, docs.len());
    }
    assert!(problems.is_empty(), "schema problems:\n{}", problems.join("\n"));
    for must in [
        "deploy/member/base/rbac.yaml",
        "deploy/member/sources/ingress/rbac.yaml",
        "deploy/member/sources/gateway/rbac.yaml",
        "deploy/stub/deployment.yaml",
        "deploy/host/deployment.yaml",
        "deploy/host/rbac.yaml",
        "deploy/host/registries/karmada/rbac.yaml",
    ] {
        assert!(checked.contains_key(must), "{must} was not checked: {checked:?}");
    }
}

#[test]
fn every_kustomization_references_files_that_exist() {
    let kustomizations: Vec<PathBuf> = files_under(&root().join("deploy"))
        .into_iter()
        .filter(|p| is_kustomization(p))
        .collect();
    let names: BTreeSet<String> = kustomizations.iter().map(|p| rel(p)).collect();
    for must in [
        "deploy/stub/kustomization.yaml",
        "deploy/host/kustomization.yaml",
        "deploy/host/registries/kubefed/kustomization.yaml",
        "deploy/host/registries/karmada/kustomization.yaml",
        "deploy/host/registries/cluster-api/kustomization.yaml",
        "deploy/overlays/route53/kustomization.yaml",
        "deploy/overlays/clouddns/kustomization.yaml",
        "deploy/member/kustomization.yaml",
        "deploy/member/base/kustomization.yaml",
        "deploy/member/all-sources/kustomization.yaml",
        "deploy/member/sources/ingress/kustomization.yaml",
        "deploy/member/sources/gateway/kustomization.yaml",
    ] {
        assert!(names.contains(must), "{must} missing: {names:?}");
    }
    let problems: Vec<String> = kustomizations
        .iter()
        .flat_map(|k| kustomization_problems(k))
        .collect();
    assert!(
        problems.is_empty(),
        "kustomization problems:\n{}",
        problems.join("\n")
    );

    // Every manifest of a kustomization directory is applied by it (none forgotten), except
    // the stub's kube-dns snippet, which is applied by hand on purpose.
    let generated = generated_files();
    for k in &kustomizations {
        let dir = k.parent().unwrap();
        let doc = &documents(&rel(k))[0];
        let listed: BTreeSet<PathBuf> = list(doc, "resources")
            .into_iter()
            .map(|r| dir.join(r.as_str().unwrap()))
            .collect();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if is_yaml(&path)
                && !is_kustomization(&path)
                && !generated.contains(&path)
                && !path.ends_with("deploy/stub/kube-dns-stubdomains.yaml")
            {
                assert!(listed.contains(&path), "{} is not in {}", rel(&path), rel(k));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// feddns configs

/// The provider kind of a config (`embedded`, `route53`, `clouddns`).
fn provider_kind(config: &Value) -> String {
    let provider = config["provider"].as_object().expect("config has a provider");
    assert_eq!(provider.len(), 1, "one provider: {provider:?}");
    provider.keys().next().unwrap().clone()
}

/// The port of a `host:port` listen address.
fn listen_port(addr: &Value) -> i32 {
    addr.as_str()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("not host:port: {addr}"))
}

#[test]
fn every_feddns_config_under_deploy_parses() {
    let configs = generated_files();
    let want = BTreeMap::from([
        ("deploy/host/config.yaml", "embedded"),
        ("deploy/overlays/route53/config.yaml", "route53"),
        ("deploy/overlays/clouddns/config.yaml", "clouddns"),
    ]);
    let names: BTreeSet<String> = configs.iter().map(|p| rel(p)).collect();
    assert_eq!(names, want.keys().map(|s| s.to_string()).collect());
    let mut problems = Vec::new();
    for path in &configs {
        let text = std::fs::read_to_string(path).unwrap();
        let raw = &parse_documents(&text, &rel(path))[0];
        assert_eq!(provider_kind(raw), want[rel(path).as_str()], "{}", rel(path));
        if let Err(e) = feddns::config::Config::parse(&text, path) {
            problems.push(e.to_string());
        }
    }
    assert!(
        problems.is_empty(),
        "configs that do not parse:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The host deployment: RBAC, workload, config, whether built locally or by kustomize

fn typed<T: DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", describe(doc)))
}

fn all<T: DeserializeOwned>(docs: &[Value], kind: &str) -> Vec<T> {
    of_kind(docs, kind).into_iter().map(typed).collect()
}

/// Every grant of the Roles and ClusterRoles: `scope group/resource[names]:verb`, scope being
/// the Role's namespace or `cluster`.
fn grants(docs: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let roles = all::<Role>(docs, "Role")
        .into_iter()
        .map(|r| (r.metadata.namespace.unwrap(), r.rules.unwrap_or_default()));
    let cluster_roles = all::<ClusterRole>(docs, "ClusterRole")
        .into_iter()
        .map(|r| ("cluster".to_string(), r.rules.unwrap_or_default()));
    for (scope, rules) in roles.chain(cluster_roles) {
        for rule in rules {
            assert!(
                rule.non_resource_urls.is_none(),
                "{scope}: non-resource URLs granted"
            );
            let names = rule.resource_names.unwrap_or_default().join(",");
            let names = if names.is_empty() {
                names
            } else {
                format!("[{names}]")
            };
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        out.insert(format!("{scope} {group}/{resource}{names}:{verb}"));
                    }
                }
            }
        }
    }
    out
}

fn read(scope: &str, resource: &str) -> Vec<String> {
    ["get", "list", "watch"]
        .map(|v| format!("{scope} {resource}:{v}"))
        .to_vec()
}

/// What the host base grants, and nothing else.
fn base_grants() -> BTreeSet<String> {
    let mut want: BTreeSet<String> = [
        "feddns coordination.k8s.io/leases[feddns]:get",
        "feddns coordination.k8s.io/leases[feddns]:update",
        "feddns coordination.k8s.io/leases:create",
    ]
    .map(String::from)
    .into();
    want.extend(read("kube-federation-system", "/secrets"));
    want
}

/// What each registry Component adds to the base.
fn component_grants(component: &str) -> BTreeSet<String> {
    match component {
        "kubefed" => read("kube-federation-system", "core.kubefed.io/kubefedclusters"),
        "karmada" => [
            read("cluster", "cluster.karmada.io/clusters"),
            read("karmada-cluster", "/secrets"),
        ]
        .concat(),
        "cluster-api" => read("cluster", "/secrets"),
        other => panic!("no component {other}"),
    }
    .into_iter()
    .collect()
}

/// The RBAC of a build: exactly `want`, no wildcards, every role bound to feddns/feddns only and
/// every binding to a role of the build.
fn assert_rbac(docs: &[Value], want: &BTreeSet<String>) {
    let granted = grants(docs);
    for g in &granted {
        assert!(!g.contains('*'), "wildcard grant: {g}");
    }
    assert_eq!(&granted, want);

    let sa: Vec<ServiceAccount> = all(docs, "ServiceAccount");
    assert_eq!(sa.len(), 1);
    let sa = (
        sa[0].metadata.namespace.clone().unwrap(),
        sa[0].metadata.name.clone().unwrap(),
    );
    assert_eq!(sa, ("feddns".to_string(), "feddns".to_string()));

    let role_names: BTreeSet<(String, String)> = all::<Role>(docs, "Role")
        .into_iter()
        .map(|r| (r.metadata.namespace.unwrap(), r.metadata.name.unwrap()))
        .collect();
    let cluster_role_names: BTreeSet<String> = all::<ClusterRole>(docs, "ClusterRole")
        .into_iter()
        .map(|r| r.metadata.name.unwrap())
        .collect();
    let mut bound_roles = BTreeSet::new();
    let mut bound_cluster_roles = BTreeSet::new();
    let check_subjects = |what: &str, subjects: Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        let subjects: Vec<_> = subjects
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.kind, s.namespace.unwrap_or_default(), s.name))
            .collect();
        assert_eq!(
            subjects,
            [("ServiceAccount".to_string(), sa.0.clone(), sa.1.clone())],
            "{what}"
        );
    };
    for b in all::<RoleBinding>(docs, "RoleBinding") {
        let ns = b.metadata.namespace.clone().unwrap();
        let what = format!("RoleBinding {ns}/{}", b.metadata.name.clone().unwrap());
        match b.role_ref.kind.as_str() {
            "Role" => {
                assert!(
                    role_names.contains(&(ns.clone(), b.role_ref.name.clone())),
                    "{what}"
                );
                bound_roles.insert((ns, b.role_ref.name.clone()));
            }
            "ClusterRole" => {
                assert!(cluster_role_names.contains(&b.role_ref.name), "{what}");
                bound_cluster_roles.insert(b.role_ref.name.clone());
            }
            other => panic!("{what}: roleRef kind {other}"),
        }
        check_subjects(&what, b.subjects);
    }
    for b in all::<ClusterRoleBinding>(docs, "ClusterRoleBinding") {
        let what = format!("ClusterRoleBinding {}", b.metadata.name.clone().unwrap());
        assert_eq!(b.role_ref.kind, "ClusterRole", "{what}");
        assert!(cluster_role_names.contains(&b.role_ref.name), "{what}");
        bound_cluster_roles.insert(b.role_ref.name.clone());
        check_subjects(&what, b.subjects);
    }
    assert_eq!(bound_roles, role_names, "every Role is bound");
    assert_eq!(
        bound_cluster_roles, cluster_role_names,
        "every ClusterRole is bound"
    );
}

fn selects(selector: &Option<BTreeMap<String, String>>, labels: &BTreeMap<String, String>) -> bool {
    let selector = selector.as_ref().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `(name, port, protocol)` of each port of a container.
pub(crate) fn container_ports(c: &Container) -> BTreeSet<(String, i32, String)> {
    c.ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap(),
                p.container_port,
                p.protocol.clone().unwrap(),
            )
        })
        .collect()
}

fn is_admin_port(port: &IntOrString) -> bool {
    matches!(port, IntOrString::String(s) if s == "admin") || *port == IntOrString::Int(9090)
}

/// The Deployment, PodDisruptionBudget and metrics Service of a build, and the config the
/// Deployment mounts (returned, as text).
fn assert_workload(docs: &[Value], embedded_dns: bool) -> String {
    let deployments: Vec<Deployment> = all(docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    let deployment = &deployments[0];
    assert_eq!(deployment.metadata.namespace.as_deref(), Some("feddns"));
    let spec = &deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let labels = spec.template.metadata.as_ref().unwrap().labels.clone().unwrap();
    assert!(selects(&spec.selector.match_labels, &labels));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("feddns"));
    assert_ne!(
        pod.automount_service_account_token,
        Some(false),
        "feddns needs its token"
    );
    assert!(pod.termination_grace_period_seconds.unwrap_or(30) >= 10);

    // Spread over nodes: a topology spread constraint or an anti-affinity on the hostname.
    let spread = pod
        .topology_spread_constraints
        .iter()
        .flatten()
        .any(|c| c.topology_key == "kubernetes.io/hostname");
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
        .is_some_and(|terms| {
            terms
                .iter()
                .any(|t| t.pod_affinity_term.topology_key == "kubernetes.io/hostname")
        });
    assert!(spread || anti, "replicas are not spread over nodes");

    // Restricted pod security.
    let psc = pod.security_context.as_ref().unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_ne!(psc.run_as_user, Some(0));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    let csc = c.security_context.as_ref().unwrap();
    assert_eq!(csc.allow_privilege_escalation, Some(false));
    assert_eq!(csc.read_only_root_filesystem, Some(true));
    assert_ne!(csc.run_as_user, Some(0));
    assert_ne!(csc.run_as_non_root, Some(false));
    let drop = csc
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.clone())
        .unwrap_or_default();
    assert_eq!(drop, ["ALL"]);
    assert!(csc.capabilities.as_ref().unwrap().add.is_none());
    let resources = c.resources.as_ref().unwrap();
    let requests = resources.requests.as_ref().unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
    // Sized from the convergence benchmark at 105,000 names: 183-233 MiB after the sync, a
    // 270 MiB peak while a verify lists a Route53 zone. The request covers the first, the limit
    // the second with room.
    let mib = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| {
        let q = q.0.as_str();
        q.strip_suffix("Mi")
            .map(|n| n.parse::<u64>().unwrap())
            .or_else(|| q.strip_suffix("Gi").map(|n| n.parse::<u64>().unwrap() * 1024))
            .unwrap_or_else(|| panic!("memory in Mi or Gi: {q}"))
    };
    let limit = mib(&resources.limits.as_ref().unwrap()["memory"]);
    assert!(
        mib(&requests["memory"]) >= 240,
        "memory request below the measured RSS"
    );
    assert!(
        limit >= 300,
        "memory limit below the measured verify peak: {limit}Mi"
    );

    // The command line, POD_NAME and POD_NAMESPACE.
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(args[0], "run");
    assert!(
        args.windows(2)
            .any(|w| w == ["--config", "/etc/feddns/config.yaml"]),
        "{args:?}"
    );
    assert!(args.windows(2).any(|w| w == ["--log-format", "json"]), "{args:?}");
    for (var, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let env = c.env.iter().flatten().find(|e| e.name == var).expect(var);
        let from = env.value_from.as_ref().and_then(|v| v.field_ref.as_ref());
        assert_eq!(from.map(|f| f.field_path.as_str()), Some(field), "{var}");
    }

    // The config: a ConfigMap of the build, mounted read-only at /etc/feddns.
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/etc/feddns")
        .expect("a mount at /etc/feddns");
    assert_eq!(mount.read_only, Some(true));
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the mounted volume");
    let cm_name = volume
        .config_map
        .as_ref()
        .expect("a ConfigMap volume")
        .name
        .clone();
    let config_maps: Vec<ConfigMap> = all(docs, "ConfigMap");
    assert_eq!(config_maps.len(), 1, "one ConfigMap");
    assert_eq!(config_maps[0].metadata.name.as_ref(), Some(&cm_name));
    assert_eq!(config_maps[0].metadata.namespace.as_deref(), Some("feddns"));
    let config = config_maps[0].data.as_ref().unwrap()["config.yaml"].clone();

    // Ports and probes.
    let ports = container_ports(c);
    let mut want_ports = BTreeSet::from([("admin".to_string(), 9090, "TCP".to_string())]);
    if embedded_dns {
        want_ports.insert(("dns".into(), 5353, "UDP".into()));
        want_ports.insert(("dns-tcp".into(), 5353, "TCP".into()));
    }
    assert_eq!(ports, want_ports);
    for (probe, path) in [
        (&c.startup_probe, "/healthz"),
        (&c.liveness_probe, "/healthz"),
        (&c.readiness_probe, "/readyz"),
    ] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).expect(path);
        assert_eq!(get.path.as_deref(), Some(path));
        assert!(is_admin_port(&get.port), "{path} on {:?}", get.port);
    }
    // The startup probe gives a slow start (host cluster, registries, member clients) minutes.
    let startup = c.startup_probe.as_ref().unwrap();
    let window = startup.period_seconds.unwrap_or(10) * startup.failure_threshold.unwrap_or(3);
    assert!(window >= 300, "startupProbe allows only {window} s");

    // The disruption budget and the metrics Service select these pods.
    let pdbs: Vec<PodDisruptionBudget> = all(docs, "PodDisruptionBudget");
    assert_eq!(pdbs.len(), 1);
    let pdb = pdbs[0].spec.as_ref().unwrap();
    assert!(selects(&pdb.selector.as_ref().unwrap().match_labels, &labels));
    assert!(
        pdb.max_unavailable == Some(IntOrString::Int(1)) || pdb.min_available == Some(IntOrString::Int(1)),
        "{pdb:?}"
    );
    let services: Vec<Service> = all(docs, "Service");
    assert_eq!(services.len(), 1);
    let svc = services[0].spec.as_ref().unwrap();
    assert!(selects(&svc.selector, &labels));
    let ports = svc.ports.as_ref().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!((ports[0].name.as_deref(), ports[0].port), (Some("admin"), 9090));
    assert!(is_admin_port(ports[0].target_port.as_ref().unwrap()));
    config
}

/// The config (raw YAML, so this holds whatever the config parser accepts) agrees with the
/// manifests: Lease name, admin port, embedded DNS port, the kubeconfig Secrets' namespace.
fn assert_config_matches(config: &Value, docs: &[Value]) {
    let lease = config["leader_election"]["lease"]
        .as_str()
        .expect("leader_election.lease");
    assert!(
        grants(docs).contains(&format!("feddns coordination.k8s.io/leases[{lease}]:update")),
        "the Role does not cover Lease {lease}"
    );
    assert_eq!(listen_port(&config["admin"]["listen"]), 9090);
    if provider_kind(config) == "embedded" {
        assert_eq!(listen_port(&config["provider"]["embedded"]["listen"]), 5353);
    }
    for source in config["discovery"].as_array().expect("discovery") {
        if let Some(ns) = source["kubeconfig_secrets"]["namespace"].as_str() {
            assert!(
                grants(docs).contains(&format!("{ns} /secrets:watch")),
                "secrets in {ns} are not readable"
            );
        }
    }
}

#[test]
fn the_host_base_grants_exactly_what_feddns_needs() {
    let docs = local_build(&root().join("deploy/host"));
    assert!(documents("deploy/host/kustomization.yaml")[0]["patches"].is_null());
    assert_rbac(&docs, &base_grants());
    assert!(of_kind(&docs, "ClusterRole").is_empty() && of_kind(&docs, "ClusterRoleBinding").is_empty());

    for component in ["kubefed", "karmada", "cluster-api"] {
        let dir = root().join("deploy/host/registries").join(component);
        let mut docs = docs.clone();
        docs.extend(local_build(&dir));
        let want = base_grants()
            .union(&component_grants(component))
            .cloned()
            .collect();
        assert_rbac(&docs, &want);
    }
}

#[test]
fn the_host_deployment_runs_feddns_with_its_config_and_probes() {
    let docs = local_build(&root().join("deploy/host"));
    let config = assert_workload(&docs, true);
    let raw = &parse_documents(&config, "deploy/host/config.yaml")[0];
    assert_config_matches(raw, &docs);
    for overlay in ["route53", "clouddns"] {
        let path = format!("deploy/overlays/{overlay}/config.yaml");
        assert_config_matches(&documents(&path)[0], &docs);
    }
    let ns = &of_kind(&docs, "Namespace")[0]["metadata"];
    assert_eq!(ns["name"], "feddns");
    assert_eq!(ns["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
}

// ---------------------------------------------------------------------------------------------
// Cloud credentials

#[test]
fn the_route53_policy_allows_exactly_the_calls_the_provider_makes() {
    // The SDK operations providers/route53 calls (`.client` then `.operation()`).
    let sdk = std::fs::read_to_string(root().join("providers/route53/src/sdk.rs")).unwrap();
    let lines: Vec<&str> = sdk.lines().map(str::trim).collect();
    let called: BTreeSet<String> = lines
        .windows(2)
        .filter(|w| w[0] == ".client")
        .filter_map(|w| w[1].strip_prefix('.')?.strip_suffix("()"))
        .map(|op| {
            let camel: String = op.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
            format!("route53:{camel}")
        })
        .collect();
    assert!(called.len() >= 4, "no SDK calls found in sdk.rs: {called:?}");

    let text = std::fs::read_to_string(root().join("deploy/overlays/route53/iam-policy.json")).unwrap();
    let policy: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    let mut allowed = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        let resources: Vec<&str> = match &statement["Resource"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|r| r.as_str().unwrap()).collect(),
            other => panic!("Resource {other}"),
        };
        for action in statement["Action"].as_array().unwrap() {
            let action = action.as_str().unwrap();
            assert!(!action.contains('*'), "wildcard action {action}");
            // Record reads and writes are scoped to the hosted zone; the others cannot be.
            if matches!(
                action,
                "route53:ChangeResourceRecordSets" | "route53:ListResourceRecordSets"
            ) {
                assert!(
                    resources
                        .iter()
                        .all(|r| r.starts_with("arn:aws:route53:::hostedzone/") && !r.contains('*')),
                    "{action} on {resources:?}"
                );
            }
            if action == "route53:GetChange" {
                assert_eq!(resources, ["arn:aws:route53:::change/*"]);
            }
            allowed.insert(action.to_string());
        }
    }
    assert_eq!(allowed, called);
}

#[test]
fn the_overlays_annotate_the_service_account_for_cloud_credentials() {
    for (overlay, annotation) in [
        ("route53", "eks.amazonaws.com/role-arn"),
        ("clouddns", "iam.gke.io/gcp-service-account"),
    ] {
        let k = &documents(&format!("deploy/overlays/{overlay}/kustomization.yaml"))[0];
        let generators = list(k, "configMapGenerator");
        assert_eq!(generators.len(), 1);
        assert_eq!(generators[0]["name"], "feddns-config");
        assert_eq!(generators[0]["behavior"], "replace");
        let patched_sa = list(k, "patches")
            .into_iter()
            .filter(|p| p["target"]["kind"] == "ServiceAccount")
            .map(|p| parse_documents(p["patch"].as_str().unwrap(), overlay).remove(0))
            .next()
            .unwrap_or_else(|| panic!("{overlay}: no ServiceAccount patch"));
        assert!(
            patched_sa["metadata"]["annotations"][annotation].is_string(),
            "{overlay}"
        );
    }
    let readme = std::fs::read_to_string(root().join("deploy/overlays/clouddns/README.md")).unwrap();
    assert!(
        readme.contains("roles/iam.workloadIdentityUser") && readme.contains("svc.id.goog[feddns/feddns]")
    );
    assert!(readme.contains("roles/dns.admin"));
}

// ---------------------------------------------------------------------------------------------
// The image

/// The instructions of the Dockerfile (continuation lines joined, comments dropped).
fn dockerfile() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_builds_locked_and_runs_distroless_as_nonroot() {
    let instructions = dockerfile();
    let stages: Vec<Vec<&String>> =
        instructions
            .iter()
            .fold(Vec::new(), |mut stages: Vec<Vec<&String>>, i| {
                if i.starts_with("FROM ") {
                    stages.push(Vec::new());
                }
                stages.last_mut().expect("FROM first").push(i);
                stages
            });
    assert!(stages.len() >= 2, "multi-stage: {instructions:?}");

    // The builder: the toolchain of rust-version in Cargo.toml, Cargo.lock honoured.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    let builder = &stages[0];
    let from: Vec<&str> = builder[0].split_whitespace().collect();
    assert_eq!(from[1], format!("rust:{rust_version}-slim-bookworm"));
    let stage_name = from.get(3).copied().expect("FROM ... AS <name>");
    let build = builder
        .iter()
        .find(|i| i.starts_with("RUN ") && i.contains("cargo build"))
        .expect("a cargo build");
    for flag in ["--release", "--locked", "--bin feddns", "--mount=type=cache"] {
        assert!(build.contains(flag), "{flag} missing: {build}");
    }

    // The runtime: distroless with CA certificates, numeric non-root user, the binary only.
    let runtime = stages.last().unwrap();
    assert_eq!(runtime[0].as_str(), "FROM gcr.io/distroless/cc-debian12:nonroot");
    let user = runtime
        .iter()
        .filter_map(|i| i.strip_prefix("USER "))
        .next_back()
        .expect("USER");
    let ids: Vec<u32> = user
        .split(':')
        .map(|id| id.trim().parse().expect("numeric USER"))
        .collect();
    assert!(ids.iter().all(|&id| id != 0), "USER {user}");
    assert!(
        runtime
            .iter()
            .any(|i| i.starts_with(&format!("COPY --from={stage_name} ")))
    );
    assert!(runtime.iter().any(|i| i.as_str() == "ENTRYPOINT [\"/feddns\"]"));
    assert!(runtime.iter().any(|i| i.as_str() == "EXPOSE 9090"));

    // The build context: no target directories or git history, but everything cargo reads.
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let patterns: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for must in [".git", "target/", "fuzz/target/"] {
        assert!(patterns.contains(must), "{must} not ignored");
    }
    for needed in [
        "src",
        "providers",
        "tests",
        "benches",
        "Cargo.toml",
        "Cargo.lock",
        "examples",
    ] {
        assert!(
            !patterns
                .iter()
                .any(|p| p.trim_end_matches('/') == needed || *p == "*"),
            "{needed} must stay in the build context"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Real kustomize builds

/// `kubectl kustomize <dir>`, parsed. kubectl is `FEDDNS_KUBECTL`, else `kubectl` on PATH.
fn kustomize(dir: &Path) -> Vec<Value> {
    let kubectl = std::env::var("FEDDNS_KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
    let out = Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{kubectl}: {e} (set FEDDNS_KUBECTL or put kubectl on PATH)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {stderr}",
        dir.display()
    );
    parse_documents(
        &String::from_utf8(out.stdout).unwrap(),
        &dir.display().to_string(),
    )
}

/// `kubectl kustomize` of a kustomization with `base` as its resource and the Component at
/// `component` (relative to `base`), written in a temporary directory (kustomize takes only
/// relative paths to other kustomizations).
fn kustomize_with(base: &Path, component: &str) -> Vec<Value> {
    let tmp = tempfile::tempdir().unwrap();
    let up: PathBuf = tmp.path().components().skip(1).map(|_| "..").collect();
    let base_rel = up.join(base.strip_prefix("/").unwrap());
    let k = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base_rel],
        "components": [base_rel.join(component)],
    });
    // JSON is YAML.
    std::fs::write(tmp.path().join("kustomization.yaml"), k.to_string()).unwrap();
    kustomize(tmp.path())
}

#[test]
#[ignore = "needs kubectl (installed by tests/run-all.sh)"]
fn kustomize_builds_the_base_and_the_overlays_as_checked() {
    let mut problems = Vec::new();

    // The base, alone and with each registry Component (through a kustomization in a temporary
    // directory; kustomize takes only relative paths to other kustomizations).
    let base_dir = root().join("deploy/host");
    let base = kustomize(&base_dir);
    problems.extend(schema_problems(&base, "kustomize deploy/host"));
    assert_rbac(&base, &base_grants());
    let config = assert_workload(&base, true);
    assert_eq!(
        config,
        std::fs::read_to_string(base_dir.join("config.yaml")).unwrap()
    );
    assert_config_matches(&parse_documents(&config, "base config")[0], &base);
    let mut configs = vec![("host", config)];
    for component in ["kubefed", "karmada", "cluster-api"] {
        let docs = kustomize_with(&base_dir, &format!("registries/{component}"));
        problems.extend(schema_problems(&docs, &format!("kustomize host + {component}")));
        let want = base_grants()
            .union(&component_grants(component))
            .cloned()
            .collect();
        assert_rbac(&docs, &want);
        assert_workload(&docs, true);
    }

    // The overlays: their config replaces the base's, the ServiceAccount carries the cloud
    // identity, the embedded DNS ports are gone, RBAC is the base's.
    for (overlay, annotation) in [
        ("route53", "eks.amazonaws.com/role-arn"),
        ("clouddns", "iam.gke.io/gcp-service-account"),
    ] {
        let dir = root().join("deploy/overlays").join(overlay);
        let docs = kustomize(&dir);
        problems.extend(schema_problems(
            &docs,
            &format!("kustomize deploy/overlays/{overlay}"),
        ));
        assert_rbac(&docs, &base_grants());
        let config = assert_workload(&docs, false);
        assert_eq!(
            config,
            std::fs::read_to_string(dir.join("config.yaml")).unwrap(),
            "{overlay}"
        );
        let raw = &parse_documents(&config, overlay)[0];
        assert_eq!(provider_kind(raw), overlay);
        assert_config_matches(raw, &docs);
        let sa: ServiceAccount = typed(of_kind(&docs, "ServiceAccount")[0]);
        let annotations = sa.metadata.annotations.unwrap_or_default();
        assert!(
            annotations.get(annotation).is_some_and(|a| !a.is_empty()),
            "{overlay}: {annotation}"
        );
        configs.push((overlay, config));
    }
    // The member RBAC: the base alone, with each source's Component, and all-sources.
    let member = root().join("deploy/member");
    let docs = kustomize(&member);
    problems.extend(schema_problems(&docs, "kustomize deploy/member"));
    assert_member_rbac(&docs, &member_source_grants("base"));
    for source in ["ingress", "gateway"] {
        let docs = kustomize_with(&member, &format!("sources/{source}"));
        problems.extend(schema_problems(&docs, &format!("kustomize member + {source}")));
        let want = member_source_grants("base")
            .union(&member_source_grants(source))
            .cloned()
            .collect();
        assert_member_rbac(&docs, &want);
    }
    let docs = kustomize(&member.join("all-sources"));
    problems.extend(schema_problems(&docs, "kustomize deploy/member/all-sources"));
    let want: BTreeSet<String> = ["base", "ingress", "gateway"]
        .into_iter()
        .flat_map(member_source_grants)
        .collect();
    assert_member_rbac(&docs, &want);
    assert!(problems.is_empty(), "schema problems:\n{}", problems.join("\n"));

    // What the pods read, through the real parser.
    for (origin, text) in configs {
        if let Err(e) = feddns::config::Config::parse(&text, Path::new("/etc/feddns/config.yaml")) {
            problems.push(format!("{origin}: {e}"));
        }
    }
    assert!(
        problems.is_empty(),
        "configs that do not parse:\n{}",
        problems.join("\n")
    );
}
