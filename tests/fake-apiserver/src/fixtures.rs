//! Objects as a real API server returns them, for seeding a [`crate::FakeApiServer`] in tests and
//! benchmarks: Nodes with topology labels, LoadBalancer Services with ingress, EndpointSlices.

use serde_json::{Value, json};

/// A Node with `topology.kubernetes.io/zone` and `/region` labels (each only when given).
pub fn node(name: &str, zone: Option<&str>, region: Option<&str>) -> Value {
    let mut labels = serde_json::Map::new();
    if let Some(z) = zone {
        labels.insert("topology.kubernetes.io/zone".into(), z.into());
    }
    if let Some(r) = region {
        labels.insert("topology.kubernetes.io/region".into(), r.into());
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

/// A LoadBalancer Service in `ns` with one ingress entry per IP, as a real API server returns
/// them (with `ipMode`).
pub fn lb(ns: &str, name: &str, ips: &[&str]) -> Value {
    let ingress: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": ingress}},
    })
}

/// The EndpointSlice of Service `svc` in `ns`, one endpoint per entry of `ready` (its
/// `conditions.ready`).
pub fn slice(ns: &str, svc: &str, ready: &[bool]) -> Value {
    let endpoints: Vec<Value> = ready
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"addresses": [format!("10.0.0.{}", i + 1)], "conditions": {"ready": r}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{svc}-abcde"), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": endpoints,
    })
}
