//! Objects as a real API server returns them, for seeding a [`crate::FakeApiServer`] in tests and
//! benchmarks: Nodes with topology labels, LoadBalancer Services with ingress, EndpointSlices,
//! Ingresses, and Gateway API Gateways and HTTPRoutes with the status their controllers write.

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

/// An Ingress in `ns` routing `hosts` to Service `backend`, with one load balancer ingress entry
/// per IP in its status.
pub fn ingress(ns: &str, name: &str, hosts: &[&str], backend: &str, ips: &[&str]) -> Value {
    let rules: Vec<Value> = hosts
        .iter()
        .map(|h| {
            json!({"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": backend, "port": {"number": 80}}}}]}})
        })
        .collect();
    let ingress: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "ports": [{"port": 80, "protocol": "TCP"}]}))
        .collect();
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ingressClassName": "nginx", "rules": rules},
        "status": {"loadBalancer": {"ingress": ingress}},
    })
}

/// A Gateway in `ns` with listeners (name, port, hostname) and `status.addresses` of type
/// `IPAddress`.
pub fn gateway(ns: &str, name: &str, listeners: &[(&str, i32, Option<&str>)], ips: &[&str]) -> Value {
    let listeners: Vec<Value> = listeners
        .iter()
        .map(|(n, port, host)| {
            let mut l = json!({"name": n, "port": port, "protocol": "HTTP"});
            if let Some(h) = host {
                l["hostname"] = json!(h);
            }
            l
        })
        .collect();
    let addresses: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"type": "IPAddress", "value": ip}))
        .collect();
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"gatewayClassName": "example", "listeners": listeners},
        "status": {"addresses": addresses},
    })
}

/// An HTTPRoute in `ns` with `hostnames`, attached to the Gateway `gateway_ns/gateway` (listener
/// `section` if given); `accepted` is the `Accepted` condition its Gateway's controller wrote
/// (`None`: no status yet).
pub fn http_route(
    ns: &str,
    name: &str,
    hostnames: &[&str],
    (gateway_ns, gateway, section): (&str, &str, Option<&str>),
    accepted: Option<bool>,
) -> Value {
    let mut parent = json!({"name": gateway, "namespace": gateway_ns});
    if let Some(s) = section {
        parent["sectionName"] = json!(s);
    }
    let mut route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hostnames": hostnames, "parentRefs": [parent.clone()],
                 "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]},
    });
    if let Some(ok) = accepted {
        let status = if ok { "True" } else { "False" };
        route["status"] = json!({"parents": [{
            "parentRef": parent,
            "controllerName": "example.com/gateway-controller",
            "conditions": [{"type": "Accepted", "status": status, "reason": if ok { "Accepted" } else { "NotAllowedByListeners" },
                            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }]});
    }
    route
}
