//! The manifests under deploy/: they parse as the Kubernetes types they claim to be, and grant
//! exactly what feddns needs.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde_json::Value;

/// Every document of a manifest file, as JSON values.
pub(crate) fn documents(path: &str) -> Vec<Value> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&file).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

pub(crate) fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn member_rbac_grants_get_list_watch_on_three_resources_only() {
    let docs = documents("deploy/member-rbac.yaml");
    let roles = of_kind(&docs, "ClusterRole");
    assert_eq!(roles.len(), 1);
    let role: ClusterRole = serde_json::from_value(roles[0].clone()).unwrap();
    let mut granted = BTreeSet::new();
    for rule in role.rules.unwrap() {
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    granted.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
    }
    let want: BTreeSet<String> = ["/services", "/nodes", "discovery.k8s.io/endpointslices"]
        .iter()
        .flat_map(|r| ["get", "list", "watch"].map(|v| format!("{r}:{v}")))
        .collect();
    assert_eq!(granted, want);
    assert_eq!(
        of_kind(&docs, "Role").len() + of_kind(&docs, "RoleBinding").len(),
        0
    );

    let binding: ClusterRoleBinding =
        serde_json::from_value(of_kind(&docs, "ClusterRoleBinding")[0].clone()).unwrap();
    assert_eq!(binding.role_ref.name, role.metadata.name.unwrap());
    let subject = &binding.subjects.unwrap()[0];
    let sa = of_kind(&docs, "ServiceAccount")[0];
    assert_eq!(
        (subject.kind.as_str(), Some(&subject.name)),
        (
            "ServiceAccount",
            sa["metadata"]["name"].as_str().map(String::from).as_ref()
        )
    );
    assert_eq!(subject.namespace.as_deref(), sa["metadata"]["namespace"].as_str());
    let token = of_kind(&docs, "Secret")[0];
    assert_eq!(token["type"], "kubernetes.io/service-account-token");
    assert_eq!(
        token["metadata"]["annotations"]["kubernetes.io/service-account.name"],
        sa["metadata"]["name"]
    );
}
