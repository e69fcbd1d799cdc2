//! Projection of Kubernetes objects into the model types: keep only what the planner needs.
//!
//! Pure functions over k8s-openapi types, shared by the snapshot-file loader and the kube watchers.
//! Bad values in an object never fail the projection: they are recorded in
//! [`ServiceProj::problems`] and ignored.

use std::collections::BTreeMap;
use std::net::IpAddr;

use feddns_provider::DnsName;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::gateway_api::{self, Gateway, ParentRef, Route};
use crate::federation::model::{
    ANNOTATION_EXCLUDE, ANNOTATION_HOSTNAMES, ANNOTATION_ROUTING, ANNOTATION_TTL, GatewayProj, IngressProj,
    LABEL_SERVICE_NAME, ListenerProj, NodeProj, ParentProj, REGION_LABELS, RouteKind, RouteProj, RoutingMode,
    ServiceKey, ServiceOptions, ServiceProj, SliceProj, Target, ZONE_LABELS,
};

/// Namespace assumed for namespaced objects that carry none (hand-written snapshot files).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Projects a Service; `None` if it has no name. A missing namespace means [`DEFAULT_NAMESPACE`].
///
/// `federated` is `spec.type == "LoadBalancer"` unless annotated `feddns.io/exclude: "true"`.
/// `ingress` lists `status.loadBalancer.ingress` in order without duplicates: an entry's `ip` if it
/// has one, else its `hostname` (lower-cased, trailing dot removed). Unparsable IPs and bad
/// annotation values are reported in `problems` and ignored.
pub fn project_service(svc: &Service) -> Option<ServiceProj> {
    let key = service_key(&svc.metadata)?;
    let what = format!("Service {key}");
    let mut problems = Vec::new();
    let (excluded, options) = read_annotations(&what, &svc.metadata, true, &mut problems);
    let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let entries = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let ingress = lb_targets(
        &what,
        entries
            .into_iter()
            .flatten()
            .map(|e| (e.ip.as_deref(), e.hostname.as_deref())),
        &mut problems,
    );
    Some(ServiceProj {
        federated: is_lb && !excluded,
        ingress,
        options,
        problems: problems.into(),
    })
}

/// Reads `feddns.io/exclude` (returned), `feddns.io/routing`, `feddns.io/ttl` and (with
/// `vanity`) `feddns.io/hostnames`; bad values go to `problems`, naming `what`.
fn read_annotations(
    what: &str,
    meta: &ObjectMeta,
    vanity: bool,
    problems: &mut Vec<String>,
) -> (bool, ServiceOptions) {
    let annotation = |name: &str| meta.annotations.as_ref()?.get(name).map(String::as_str);
    let excluded = match annotation(ANNOTATION_EXCLUDE) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            problems.push(format!(
                "{what}: annotation {ANNOTATION_EXCLUDE}={other:?} is neither \"true\" nor \"false\"; not excluded"
            ));
            false
        }
    };
    let mut options = ServiceOptions::default();
    match annotation(ANNOTATION_ROUTING) {
        None => {}
        Some("plain") => options.routing = Some(RoutingMode::Plain),
        Some("latency") => options.routing = Some(RoutingMode::Latency),
        Some(other) => problems.push(format!(
            "{what}: annotation {ANNOTATION_ROUTING}={other:?} is neither \"plain\" nor \"latency\"; ignored"
        )),
    }
    if let Some(value) = annotation(ANNOTATION_HOSTNAMES).filter(|_| vanity) {
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
            if options.hostnames.contains(&name) {
                continue;
            }
            options.hostnames.push(name);
        }
    }
    if let Some(value) = annotation(ANNOTATION_TTL) {
        match parse_ttl(value) {
            Some(ttl) => options.ttl = Some(ttl),
            None => problems.push(format!(
                "{what}: annotation {ANNOTATION_TTL}={value:?} is not an integer from 1 to 2147483647; ignored"
            )),
        }
    }
    (excluded, options)
}

/// Load balancer ingress entries (`ip`, `hostname`) as targets, in order without duplicates: an
/// entry's `ip` if it has one, else its `hostname` (lower-cased, trailing dot removed).
fn lb_targets<'a>(
    what: &str,
    entries: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    problems: &mut Vec<String>,
) -> Box<[Target]> {
    let mut targets: Vec<Target> = Vec::new();
    for (i, (ip, hostname)) in entries.enumerate() {
        let ip = ip.filter(|s| !s.is_empty());
        let hostname = hostname
            .map(|h| h.trim_end_matches('.'))
            .filter(|h| !h.is_empty());
        let target = match (ip, hostname) {
            (Some(ip), _) => match ip.parse::<IpAddr>() {
                Ok(addr) => Target::Ip(addr),
                Err(_) => {
                    problems.push(format!(
                        "{what}: status.loadBalancer.ingress[{i}].ip {ip:?} is not an IP address; entry ignored"
                    ));
                    continue;
                }
            },
            (None, Some(host)) => Target::Hostname(host.to_ascii_lowercase()),
            (None, None) => {
                problems.push(format!(
                    "{what}: status.loadBalancer.ingress[{i}] has neither ip nor hostname; entry ignored"
                ));
                continue;
            }
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    targets.into()
}

/// A host as written in an object: lower-case, without the trailing dot; `None` if empty.
fn host_name(host: &str) -> Option<DnsName> {
    let host = host.trim().trim_end_matches('.');
    (!host.is_empty()).then(|| DnsName::intern(&host.to_ascii_lowercase()))
}

/// Adds `name` to `names` unless it is there.
fn push_unique<T: PartialEq>(names: &mut Vec<T>, name: T) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// Projects an Ingress; `None` if it has no name. Hosts come from `spec.rules[].host` and
/// `spec.tls[].hosts` (a rule without a host serves no name of its own), addresses from
/// `status.loadBalancer.ingress` as for Services, backends from the default backend and every
/// path's backend that is a Service.
pub fn project_ingress(ingress: &Ingress) -> Option<IngressProj> {
    let key = service_key(&ingress.metadata)?;
    let what = format!("Ingress {key}");
    let mut problems = Vec::new();
    let (excluded, options) = read_annotations(&what, &ingress.metadata, false, &mut problems);
    let spec = ingress.spec.as_ref();
    let mut hosts = Vec::new();
    let rules = spec.and_then(|s| s.rules.as_ref()).into_iter().flatten();
    for host in rules.clone().filter_map(|r| r.host.as_deref()) {
        hosts.extend(host_name(host));
    }
    let tls = spec.and_then(|s| s.tls.as_ref()).into_iter().flatten();
    for host in tls.flat_map(|t| t.hosts.iter().flatten()) {
        hosts.extend(host_name(host));
    }
    let mut unique = Vec::new();
    for h in hosts {
        push_unique(&mut unique, h);
    }
    let mut backends = Vec::new();
    let default = spec.and_then(|s| s.default_backend.as_ref());
    let paths = rules
        .filter_map(|r| r.http.as_ref())
        .flat_map(|h| &h.paths)
        .map(|p| &p.backend);
    for backend in default.into_iter().chain(paths) {
        if let Some(svc) = &backend.service {
            push_unique(&mut backends, DnsName::intern(&svc.name));
        }
    }
    let entries = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let addresses = lb_targets(
        &what,
        entries
            .into_iter()
            .flatten()
            .map(|e| (e.ip.as_deref(), e.hostname.as_deref())),
        &mut problems,
    );
    Some(IngressProj {
        federated: !excluded,
        hosts: unique.into(),
        addresses,
        backends: backends.into(),
        options,
        problems: problems.into(),
    })
}

/// Projects a Gateway; `None` if it has no name. Addresses come from `status.addresses`
/// (`IPAddress`, the default type, and `Hostname`; other types are reported and ignored).
pub fn project_gateway(gw: &Gateway) -> Option<GatewayProj> {
    let key = service_key(&gw.metadata)?;
    let what = format!("Gateway {key}");
    let mut problems = Vec::new();
    let (excluded, options) = read_annotations(&what, &gw.metadata, false, &mut problems);
    let mut addresses = Vec::new();
    let listed = gw.status.as_ref().and_then(|s| s.addresses.as_ref());
    for (i, a) in listed.into_iter().flatten().enumerate() {
        let value = a.value.trim().trim_end_matches('.');
        let target = match a.type_.as_deref().unwrap_or("IPAddress") {
            "IPAddress" => match value.parse::<IpAddr>() {
                Ok(ip) => Target::Ip(ip),
                Err(_) => {
                    problems.push(format!(
                        "{what}: status.addresses[{i}].value {value:?} is not an IP address; ignored"
                    ));
                    continue;
                }
            },
            "Hostname" if !value.is_empty() => Target::Hostname(value.to_ascii_lowercase()),
            other => {
                problems.push(format!(
                    "{what}: status.addresses[{i}] of type {other:?} with value {value:?} cannot be published; ignored"
                ));
                continue;
            }
        };
        push_unique(&mut addresses, target);
    }
    let listeners: Vec<ListenerProj> = gw
        .spec
        .listeners
        .iter()
        .map(|l| ListenerProj {
            name: DnsName::intern(&l.name),
            port: l.port,
            hostname: l.hostname.as_deref().and_then(host_name),
        })
        .collect();
    Some(GatewayProj {
        federated: !excluded,
        addresses: addresses.into(),
        listeners: listeners.into(),
        options,
        problems: problems.into(),
    })
}

/// Projects an HTTPRoute, GRPCRoute or TLSRoute; `None` if it has no name. Its parents are the
/// Gateways of `spec.parentRefs` that accepted it: a `status.parents[]` entry for the same
/// reference with the condition `Accepted` `True`. A route no Gateway accepted (detached,
/// rejected, not yet seen) serves no host.
pub fn project_route(kind: RouteKind, route: &impl Route) -> Option<RouteProj> {
    let meta = route.meta();
    let key = service_key(meta)?;
    let what = format!("{} {key}", kind.kind());
    let mut problems = Vec::new();
    let (excluded, _) = read_annotations(&what, meta, false, &mut problems);
    let spec = route.spec();
    let mut hostnames = Vec::new();
    for h in spec.hostnames.iter().flatten().filter_map(|h| host_name(h)) {
        push_unique(&mut hostnames, h);
    }
    let is_gateway = |r: &ParentRef| {
        r.group.as_deref().unwrap_or(gateway_api::GROUP) == gateway_api::GROUP
            && r.kind.as_deref().unwrap_or("Gateway") == "Gateway"
    };
    let same = |a: &ParentRef, b: &ParentRef| {
        let ns = |r: &ParentRef| r.namespace.clone().unwrap_or_else(|| key.namespace.to_string());
        a.name == b.name && ns(a) == ns(b) && a.section_name == b.section_name && a.port == b.port
    };
    let accepted = |r: &ParentRef| {
        route.status().is_some_and(|st| {
            st.parents.iter().any(|p| {
                is_gateway(&p.parent_ref)
                    && same(&p.parent_ref, r)
                    && p.conditions
                        .iter()
                        .any(|c| c.type_ == "Accepted" && c.status == "True")
            })
        })
    };
    let mut parents = Vec::new();
    for r in spec
        .parent_refs
        .iter()
        .flatten()
        .filter(|r| is_gateway(r) && accepted(r))
    {
        let namespace = match r.namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(ns) => DnsName::intern(ns),
            None => key.namespace.clone(),
        };
        push_unique(
            &mut parents,
            ParentProj {
                gateway: ServiceKey::new(namespace, DnsName::intern(&r.name)),
                section: r.section_name.as_deref().map(DnsName::intern),
                port: r.port,
            },
        );
    }
    Some(RouteProj {
        federated: !excluded,
        hostnames: hostnames.into(),
        parents: parents.into(),
        problems: problems.into(),
    })
}

/// Projects a Node; `None` if it has no name. Zone and region come from the first of
/// [`ZONE_LABELS`] / [`REGION_LABELS`] with a non-empty value.
pub fn project_node(node: &Node) -> Option<NodeProj> {
    project_node_meta(&node.metadata)
}

/// [`project_node`] from the Node's metadata alone (what a metadata-only watch delivers).
pub fn project_node_meta(meta: &ObjectMeta) -> Option<NodeProj> {
    let labels = meta.labels.as_ref();
    Some(NodeProj {
        name: meta.name.clone()?,
        zone: first_label(labels, &ZONE_LABELS),
        region: first_label(labels, &REGION_LABELS),
    })
}

/// Projects an EndpointSlice; `None` if it has no name or no `kubernetes.io/service-name` label.
/// A missing namespace means [`DEFAULT_NAMESPACE`]. `ready` counts endpoints whose
/// `conditions.ready` is true or absent (also when `conditions` itself is absent).
pub fn project_slice(slice: &EndpointSlice) -> Option<SliceProj> {
    let service = slice.metadata.labels.as_ref()?.get(LABEL_SERVICE_NAME)?;
    let ready = slice
        .endpoints
        .iter()
        .flatten()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .count();
    Some(SliceProj {
        namespace: DnsName::intern(&namespace(&slice.metadata)),
        name: slice.metadata.name.as_deref()?.into(),
        service: DnsName::intern(service),
        ready,
    })
}

/// The key of the object `meta` describes (names interned: see [`DnsName::intern`]).
pub fn service_key(meta: &ObjectMeta) -> Option<ServiceKey> {
    Some(ServiceKey::new(
        DnsName::intern(&namespace(meta)),
        DnsName::intern(meta.name.as_deref()?),
    ))
}

fn namespace(meta: &ObjectMeta) -> String {
    meta.namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned()
}

fn first_label(labels: Option<&BTreeMap<String, String>>, keys: &[&str]) -> Option<String> {
    let labels = labels?;
    keys.iter()
        .find_map(|k| labels.get(*k).filter(|v| !v.is_empty()).cloned())
}

/// A TTL annotation value: decimal digits only, 1..=2147483647 (RFC 2181's maximum).
fn parse_ttl(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|ttl| (1..=i32::MAX as u32).contains(ttl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn lb(annotations: serde_json::Value, ingress: serde_json::Value) -> Service {
        service(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
            "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": {"ingress": ingress}},
        }))
    }

    #[test]
    fn ingress_ips_hostnames_ipmode_dedup() {
        let svc = lb(
            json!({}),
            json!([
                {"ip": "192.0.2.10", "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]},
                {"ip": "2001:db8::1", "ipMode": "Proxy"},
                {"hostname": "LB-1.Example.COM."},
                {"ip": "192.0.2.10"},
                {"ip": "2001:DB8:0::1"},
                {"hostname": "lb-1.example.com"},
                {"ip": "198.51.100.7", "hostname": "ignored.example.com"},
            ]),
        );
        let p = project_service(&svc).unwrap();
        assert_eq!(service_key(&svc.metadata), Some(ServiceKey::new("shop", "web")));
        assert!(p.federated);
        assert_eq!(
            p.ingress,
            vec![
                Target::Ip("192.0.2.10".parse().unwrap()),
                Target::Ip("2001:db8::1".parse().unwrap()),
                Target::Hostname("lb-1.example.com".into()),
                Target::Ip("198.51.100.7".parse().unwrap()),
            ]
            .into()
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.options, ServiceOptions::default());
    }

    #[test]
    fn bad_ingress_entries_are_problems() {
        let svc = lb(
            json!({}),
            json!([{"ip": "192.0.2.300"}, {"ipMode": "VIP"}, {"ip": "203.0.113.5"}]),
        );
        let p = project_service(&svc).unwrap();
        assert_eq!(p.ingress, vec![Target::Ip("203.0.113.5".parse().unwrap())].into());
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
        assert!(p.problems[0].contains("shop/web") && p.problems[0].contains("192.0.2.300"));
        assert!(p.problems[1].contains("ingress[1]"));
    }

    #[test]
    fn ttl_annotation() {
        for (value, ttl) in [
            ("60", Some(60)),
            ("1", Some(1)),
            ("2147483647", Some(2_147_483_647)),
        ] {
            let p = project_service(&lb(json!({ANNOTATION_TTL: value}), json!([]))).unwrap();
            assert_eq!(p.options.ttl, ttl, "{value}");
            assert!(p.problems.is_empty());
        }
        for bad in [
            "0",
            "-5",
            "+60",
            " 60",
            "2147483648",
            "99999999999",
            "1.5",
            "sixty",
            "",
        ] {
            let p = project_service(&lb(json!({ANNOTATION_TTL: bad}), json!([]))).unwrap();
            assert_eq!(p.options.ttl, None, "{bad:?}");
            assert_eq!(p.problems.len(), 1, "{bad:?}");
            let msg = &p.problems[0];
            assert!(
                msg.contains("shop/web") && msg.contains(ANNOTATION_TTL) && msg.contains(&format!("{bad:?}")),
                "{msg}"
            );
        }
    }

    #[test]
    fn exclude_annotation_and_type() {
        let fed = |a| project_service(&lb(a, json!([]))).unwrap();
        let p = fed(
            json!({ANNOTATION_ROUTING: "latency", ANNOTATION_HOSTNAMES: " Hugo-Fed.example.com., api.example.com,,hugo-fed.example.com"}),
        );
        assert_eq!(p.options.routing, Some(RoutingMode::Latency));
        assert_eq!(p.options.hostnames, ["hugo-fed.example.com", "api.example.com"]);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let p = fed(json!({ANNOTATION_ROUTING: "fastest"}));
        assert_eq!(p.options.routing, None);
        assert!(p.problems[0].contains(ANNOTATION_ROUTING) && p.problems[0].contains("\"fastest\""));
        assert!(!fed(json!({ANNOTATION_EXCLUDE: "true"})).federated);
        let p = fed(json!({ANNOTATION_EXCLUDE: "false"}));
        assert!(p.federated && p.problems.is_empty());
        let p = fed(json!({ANNOTATION_EXCLUDE: "yes"}));
        assert!(p.federated);
        assert!(p.problems[0].contains(ANNOTATION_EXCLUDE) && p.problems[0].contains("\"yes\""));

        let cluster_ip = service(json!({"metadata": {"name": "db"}, "spec": {"type": "ClusterIP"}}));
        let p = project_service(&cluster_ip).unwrap();
        assert!(!p.federated);
        assert_eq!(
            service_key(&cluster_ip.metadata),
            Some(ServiceKey::new("default", "db"))
        );
        let no_type = service(json!({"metadata": {"name": "x"}, "spec": {}}));
        assert!(!project_service(&no_type).unwrap().federated);
    }

    #[test]
    fn ingress_hosts_addresses_backends_and_annotations() {
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop",
                         "annotations": {ANNOTATION_TTL: "60", ANNOTATION_ROUTING: "latency"}},
            "spec": {
                "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
                "rules": [
                    {"host": "WWW.Example.com.", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                        {"path": "/static", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket", "name": "b"}}},
                    ]}},
                    {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}},
                    {"host": "*.example.com"},
                ],
                "tls": [{"hosts": ["www.example.com", "secure.example.com"]}],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "LB.example.net"}, {"ip": "bad"}]}},
        }))
        .unwrap();
        let p = project_ingress(&ing).unwrap();
        assert!(p.federated);
        let hosts: Vec<&str> = p.hosts.iter().map(DnsName::as_str).collect();
        assert_eq!(hosts, ["www.example.com", "*.example.com", "secure.example.com"]);
        let backends: Vec<&str> = p.backends.iter().map(DnsName::as_str).collect();
        assert_eq!(backends, ["fallback", "web"]);
        assert_eq!(
            *p.addresses,
            [
                Target::Ip("192.0.2.1".parse().unwrap()),
                Target::Hostname("lb.example.net".into())
            ]
        );
        assert_eq!(
            (p.options.ttl, p.options.routing),
            (Some(60), Some(RoutingMode::Latency))
        );
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert!(p.problems[0].starts_with("Ingress shop/web: status.loadBalancer.ingress[2].ip \"bad\""));
    }

    #[test]
    fn gateway_addresses_and_listeners() {
        let gw: Gateway = serde_json::from_value(json!({
            "metadata": {"name": "gw", "namespace": "infra", "annotations": {ANNOTATION_EXCLUDE: "true"}},
            "spec": {"gatewayClassName": "x", "listeners": [
                {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "*.Example.com"},
                {"name": "http", "port": 80, "protocol": "HTTP"},
            ]},
            "status": {"addresses": [
                {"type": "IPAddress", "value": "192.0.2.1"},
                {"value": "2001:db8::1"},
                {"type": "Hostname", "value": "lb.example.net."},
                {"type": "example.com/NamedAddress", "value": "pool-1"},
            ]},
        }))
        .unwrap();
        let p = project_gateway(&gw).unwrap();
        assert!(!p.federated, "excluded");
        assert_eq!(
            *p.addresses,
            [
                Target::Ip("192.0.2.1".parse().unwrap()),
                Target::Ip("2001:db8::1".parse().unwrap()),
                Target::Hostname("lb.example.net".into())
            ]
        );
        assert_eq!(
            *p.listeners,
            [
                ListenerProj {
                    name: "https".into(),
                    port: 443,
                    hostname: Some("*.example.com".into())
                },
                ListenerProj {
                    name: "http".into(),
                    port: 80,
                    hostname: None
                },
            ]
        );
        assert!(p.problems[0].contains("NamedAddress") && p.problems[0].contains("Gateway infra/gw"));
    }

    #[test]
    fn routes_keep_only_the_gateways_that_accepted_them() {
        let accepted = |status: &str| json!([{"type": "Accepted", "status": status}, {"type": "ResolvedRefs", "status": "True"}]);
        let route: gateway_api::HttpRoute = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "hostnames": ["Shop.example.com", "shop.example.com"],
                "parentRefs": [
                    {"name": "gw", "namespace": "infra", "sectionName": "https"},
                    {"name": "local"},
                    {"name": "rejected", "namespace": "infra"},
                    {"name": "pending", "namespace": "infra"},
                    {"name": "svc", "kind": "Service", "group": ""},
                ],
            },
            "status": {"parents": [
                {"parentRef": {"name": "gw", "namespace": "infra", "sectionName": "https"}, "controllerName": "c", "conditions": accepted("True")},
                {"parentRef": {"name": "local", "namespace": "shop"}, "controllerName": "c", "conditions": accepted("True")},
                {"parentRef": {"name": "rejected", "namespace": "infra"}, "controllerName": "c", "conditions": accepted("False")},
                {"parentRef": {"name": "svc", "kind": "Service", "group": ""}, "controllerName": "c", "conditions": accepted("True")},
                {"parentRef": {"name": "detached", "namespace": "infra"}, "controllerName": "c", "conditions": accepted("True")},
            ]},
        }))
        .unwrap();
        let p = project_route(RouteKind::Http, &route).unwrap();
        let hostnames: Vec<&str> = p.hostnames.iter().map(DnsName::as_str).collect();
        assert_eq!(hostnames, ["shop.example.com"]);
        assert_eq!(
            *p.parents,
            [
                ParentProj {
                    gateway: ServiceKey::new("infra", "gw"),
                    section: Some("https".into()),
                    port: None
                },
                ParentProj {
                    gateway: ServiceKey::new("shop", "local"),
                    section: None,
                    port: None
                },
            ]
        );
        assert!(p.federated && p.problems.is_empty());
        // No status yet: no parent.
        let mut fresh = route.clone();
        fresh.status = None;
        assert!(project_route(RouteKind::Http, &fresh).unwrap().parents.is_empty());
    }

    #[test]
    fn service_without_name_is_none() {
        assert_eq!(
            project_service(&service(json!({"metadata": {"namespace": "x"}}))),
            None
        );
    }

    #[test]
    fn node_labels_with_beta_fallback() {
        let node = |labels: serde_json::Value| -> Node {
            serde_json::from_value(json!({"metadata": {"name": "n1", "labels": labels}})).unwrap()
        };
        let p = project_node(&node(json!({
            "topology.kubernetes.io/zone": "eu-west-1a", "failure-domain.beta.kubernetes.io/zone": "old-a",
            "topology.kubernetes.io/region": "eu-west-1", "failure-domain.beta.kubernetes.io/region": "old",
        })))
        .unwrap();
        assert_eq!(
            (p.zone.as_deref(), p.region.as_deref()),
            (Some("eu-west-1a"), Some("eu-west-1"))
        );
        let p = project_node(&node(json!({
            "failure-domain.beta.kubernetes.io/zone": "us-east-1b", "failure-domain.beta.kubernetes.io/region": "us-east-1",
        })))
        .unwrap();
        assert_eq!(
            (p.zone.as_deref(), p.region.as_deref()),
            (Some("us-east-1b"), Some("us-east-1"))
        );
        let p = project_node(&node(json!({
            "topology.kubernetes.io/zone": "", "failure-domain.beta.kubernetes.io/zone": "z-beta",
            "topology.kubernetes.io/region": "",
        })))
        .unwrap();
        assert_eq!((p.zone.as_deref(), p.region), (Some("z-beta"), None));
        let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n2"}})).unwrap();
        assert_eq!(
            project_node(&bare),
            Some(NodeProj {
                name: "n2".into(),
                zone: None,
                region: None
            })
        );
        assert_eq!(project_node(&Node::default()), None);
    }

    #[test]
    fn slice_ready_counting() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "shop", "labels": {LABEL_SERVICE_NAME: "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "serving": true}},
                {"addresses": ["10.0.0.3"], "conditions": {}},
                {"addresses": ["10.0.0.4"]},
            ],
        }))
        .unwrap();
        assert_eq!(
            project_slice(&slice),
            Some(SliceProj {
                namespace: "shop".into(),
                name: "web-abc".into(),
                service: "web".into(),
                ready: 3
            })
        );
        let unlabelled: EndpointSlice = serde_json::from_value(
            json!({"metadata": {"name": "x"}, "addressType": "IPv4", "endpoints": []}),
        )
        .unwrap();
        assert_eq!(project_slice(&unlabelled), None);
    }
}
