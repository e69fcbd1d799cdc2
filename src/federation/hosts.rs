//! Hosts of Ingresses and Gateways: which hosts a member serves, through which objects, and at
//! which addresses. Pure.
//!
//! * An Ingress serves the hosts of its rules and TLS sections at its load balancer addresses; it
//!   is healthy when it has addresses and (if it sends to Services at all) at least one of its
//!   backend Services has a ready endpoint.
//! * A Gateway serves the hostnames of its listeners, and the hostnames of every route it
//!   accepted, each intersected with the hostname of the listeners the route attaches to (all of
//!   them, or those its `parentRefs` name by `sectionName` and `port`), as the Gateway API
//!   defines: a route hostname that no listener hostname matches is not served; a route without
//!   hostnames takes the listener's; a wildcard on either side yields the more specific name. It
//!   is healthy when it has addresses.
//! * Several objects of one member serving one host are merged: the host's addresses are those
//!   of every healthy object among them.

use std::collections::BTreeMap;
use std::fmt;

use feddns_provider::DnsName;
use serde::Serialize;

use crate::federation::index::Index;
use crate::federation::model::{
    GatewayProj, HostKind, HostSource, IngressProj, RouteKey, RouteProj, RoutingMode, ServiceKey, Target,
};

/// Whether `name` is a wildcard (`*.example.com`).
pub fn is_wildcard(name: &str) -> bool {
    name.starts_with("*.")
}

/// Whether the wildcard `pattern` (`*.example.com`) covers `name`: a name (or a narrower
/// wildcard) with one or more labels in front of the pattern's suffix. `example.com` itself is
/// not covered.
fn covers(pattern: &str, name: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

/// The hostname a listener with hostname `listener` serves for a route hostname `route`, per the
/// Gateway API: no listener hostname takes the route's; equal names, or a wildcard on one side
/// covering the other, yield the more specific of the two; anything else does not match.
pub fn intersect<'a>(listener: Option<&'a str>, route: &'a str) -> Option<&'a str> {
    match listener {
        None => Some(route),
        Some(l) if l == route || covers(l, route) => Some(route),
        Some(l) if covers(route, l) => Some(l),
        Some(_) => None,
    }
}

/// One object serving a host in a member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ServedBy {
    /// The Ingress or Gateway.
    pub source: HostSource,
    /// It has addresses (and, for an Ingress, a backend with a ready endpoint).
    pub healthy: bool,
}

/// A host in one member: the objects behind it and the addresses it answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct HostShard {
    /// The Ingresses and Gateways that serve it, sorted.
    pub sources: Box<[ServedBy]>,
    /// The routes that bring it to a Gateway, sorted.
    pub routes: Box<[RouteKey]>,
    /// The addresses of the healthy objects, merged, in order, without duplicates. Empty: the
    /// host is not healthy in this member.
    pub targets: Box<[Target]>,
    /// The shortest TTL its objects ask for.
    pub ttl: Option<u32>,
    /// The routing its objects ask for (the first that says).
    pub routing: Option<RoutingMode>,
    /// Problems of its objects.
    pub problems: Box<[String]>,
}

impl HostShard {
    /// Whether it answers with addresses.
    pub fn is_healthy(&self) -> bool {
        !self.targets.is_empty()
    }
}

/// A host as `feddns plan` and `/status` show it: the members and objects behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HostReport {
    /// The host.
    pub host: String,
    /// Every member that serves it.
    pub members: Vec<HostMember>,
}

/// One member's part in a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HostMember {
    /// The member.
    pub member: String,
    /// Whether its addresses count (member up, a healthy object serves the host).
    pub healthy: bool,
    /// The Ingresses and Gateways that serve it there (`ingress shop/web`), unhealthy ones
    /// marked, then the routes that bring it (`httproute shop/web`).
    pub objects: Vec<String>,
    /// The addresses it answers with there.
    pub addresses: Vec<String>,
}

impl fmt::Display for HostReport {
    /// `www.example.com: m1 (ingress shop/web; 192.0.2.1), m2 not healthy (...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.host)?;
        for (i, m) in self.members.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let health = if m.healthy { "" } else { " not healthy" };
            write!(f, "{sep}{}{health} ({}", m.member, m.objects.join(", "))?;
            if !m.addresses.is_empty() {
                write!(f, "; {}", m.addresses.join(" "))?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The report of a host, if some member serves it.
pub fn host_report(index: &Index, host: &str) -> Option<HostReport> {
    let members: Vec<HostMember> = index
        .host_shards(host)
        .filter_map(|(name, m)| {
            let shard = m.host(host)?;
            let objects = shard
                .sources
                .iter()
                .map(|s| {
                    if s.healthy {
                        s.source.to_string()
                    } else {
                        format!("{} (not healthy)", s.source)
                    }
                })
                .chain(shard.routes.iter().map(|(kind, key)| format!("{kind} {key}")))
                .collect();
            Some(HostMember {
                member: name.to_string(),
                healthy: m.is_host_healthy(host),
                objects,
                addresses: shard.targets.iter().map(ToString::to_string).collect(),
            })
        })
        .collect();
    (!members.is_empty()).then(|| HostReport {
        host: host.to_string(),
        members,
    })
}

/// A host while it is being gathered.
#[derive(Default)]
struct Gathering {
    sources: Vec<ServedBy>,
    routes: Vec<RouteKey>,
    targets: Vec<Target>,
    ttl: Option<u32>,
    routing: Option<RoutingMode>,
    problems: Vec<String>,
}

impl Gathering {
    fn add(
        &mut self,
        served: &ServedBy,
        addresses: &[Target],
        options: &crate::federation::model::ServiceOptions,
    ) {
        if !self.sources.contains(served) {
            self.sources.push(served.clone());
        }
        if served.healthy {
            for t in addresses {
                if !self.targets.contains(t) {
                    self.targets.push(t.clone());
                }
            }
        }
        self.ttl = match (self.ttl, options.ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.routing = self.routing.or(options.routing);
    }

    fn problems(&mut self, problems: &[String]) {
        for p in problems {
            if !self.problems.contains(p) {
                self.problems.push(p.clone());
            }
        }
    }

    fn finish(mut self) -> HostShard {
        self.sources.sort_by(|a, b| a.source.cmp(&b.source));
        self.routes.sort();
        self.routes.dedup();
        HostShard {
            sources: self.sources.into(),
            routes: self.routes.into(),
            targets: self.targets.into(),
            ttl: self.ttl,
            routing: self.routing,
            problems: self.problems.into(),
        }
    }
}

/// The hosts a member serves, from its Ingresses, Gateways and routes; `ready` tells whether a
/// Service of the member has a ready endpoint.
pub fn member_hosts(
    ingresses: &BTreeMap<ServiceKey, IngressProj>,
    gateways: &BTreeMap<ServiceKey, GatewayProj>,
    routes: &BTreeMap<RouteKey, RouteProj>,
    ready: impl Fn(&ServiceKey) -> bool,
) -> BTreeMap<DnsName, HostShard> {
    let mut hosts: BTreeMap<DnsName, Gathering> = BTreeMap::new();
    for (key, ing) in ingresses.iter().filter(|(_, i)| i.federated) {
        let backend_ready = ing.backends.is_empty()
            || ing
                .backends
                .iter()
                .any(|b| ready(&ServiceKey::new(key.namespace.clone(), b.clone())));
        let served = ServedBy {
            source: HostSource {
                kind: HostKind::Ingress,
                key: key.clone(),
            },
            healthy: !ing.addresses.is_empty() && backend_ready,
        };
        for host in &ing.hosts {
            let g = hosts.entry(host.clone()).or_default();
            g.add(&served, &ing.addresses, &ing.options);
            g.problems(&ing.problems);
        }
    }
    let served_by = |key: &ServiceKey, gw: &GatewayProj| ServedBy {
        source: HostSource {
            kind: HostKind::Gateway,
            key: key.clone(),
        },
        healthy: !gw.addresses.is_empty(),
    };
    for (key, gw) in gateways.iter().filter(|(_, g)| g.federated) {
        let served = served_by(key, gw);
        for host in gw.listeners.iter().filter_map(|l| l.hostname.as_ref()) {
            let g = hosts.entry(host.clone()).or_default();
            g.add(&served, &gw.addresses, &gw.options);
            g.problems(&gw.problems);
        }
    }
    for (route_key, route) in routes.iter().filter(|(_, r)| r.federated) {
        for parent in &route.parents {
            let Some(gw) = gateways.get(&parent.gateway).filter(|g| g.federated) else {
                continue;
            };
            let served = served_by(&parent.gateway, gw);
            let listeners = gw.listeners.iter().filter(|l| {
                parent.section.as_ref().is_none_or(|s| *s == l.name)
                    && parent.port.is_none_or(|p| p == l.port)
            });
            for listener in listeners {
                let lh = listener.hostname.as_deref();
                let names: Vec<&str> = if route.hostnames.is_empty() {
                    lh.into_iter().collect()
                } else {
                    route
                        .hostnames
                        .iter()
                        .filter_map(|rh| intersect(lh, rh))
                        .collect()
                };
                for name in names {
                    let g = hosts.entry(DnsName::intern(name)).or_default();
                    g.add(&served, &gw.addresses, &gw.options);
                    g.routes.push(route_key.clone());
                    g.problems(&gw.problems);
                    g.problems(&route.problems);
                }
            }
        }
    }
    hosts.into_iter().map(|(h, g)| (h, g.finish())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::model::{ListenerProj, ParentProj, RouteKind, ServiceOptions};

    #[test]
    fn intersection_follows_the_gateway_api() {
        let cases = [
            (None, "foo.example.com", Some("foo.example.com")),
            (None, "*.example.com", Some("*.example.com")),
            (
                Some("foo.example.com"),
                "foo.example.com",
                Some("foo.example.com"),
            ),
            (Some("foo.example.com"), "bar.example.com", None),
            (Some("foo.example.com"), "*.example.com", Some("foo.example.com")),
            (Some("*.example.com"), "foo.example.com", Some("foo.example.com")),
            (Some("*.example.com"), "a.b.example.com", Some("a.b.example.com")),
            (Some("*.example.com"), "example.com", None),
            (Some("*.example.com"), "foo.example.net", None),
            (Some("*.example.com"), "*.example.com", Some("*.example.com")),
            (
                Some("*.example.com"),
                "*.foo.example.com",
                Some("*.foo.example.com"),
            ),
            (
                Some("*.foo.example.com"),
                "*.example.com",
                Some("*.foo.example.com"),
            ),
            (Some("foo.example.com"), "*.foo.example.com", None),
            (Some("*.example.com"), "fooexample.com", None),
            (Some("*.example.com"), "*.xample.com", None),
        ];
        for (listener, route, want) in cases {
            assert_eq!(intersect(listener, route), want, "{listener:?} ∩ {route}");
        }
    }

    fn ip(s: &str) -> Target {
        Target::Ip(s.parse().unwrap())
    }

    fn gateway(addresses: &[&str], listeners: &[(&str, i32, Option<&str>)]) -> GatewayProj {
        GatewayProj {
            federated: true,
            addresses: addresses.iter().map(|a| ip(a)).collect(),
            listeners: listeners
                .iter()
                .map(|(n, p, h)| ListenerProj {
                    name: (*n).into(),
                    port: *p,
                    hostname: h.map(Into::into),
                })
                .collect(),
            options: ServiceOptions::default(),
            problems: Box::new([]),
        }
    }

    fn route(hostnames: &[&str], parents: &[(&str, Option<&str>, Option<i32>)]) -> RouteProj {
        RouteProj {
            federated: true,
            hostnames: hostnames.iter().map(|h| (*h).into()).collect(),
            parents: parents
                .iter()
                .map(|(g, s, p)| ParentProj {
                    gateway: ServiceKey::new("infra", *g),
                    section: s.map(Into::into),
                    port: *p,
                })
                .collect(),
            problems: Box::new([]),
        }
    }

    fn names(hosts: &BTreeMap<DnsName, HostShard>) -> Vec<&str> {
        hosts.keys().map(DnsName::as_str).collect()
    }

    #[test]
    fn listener_hostnames_narrow_route_hostnames() {
        let gateways = BTreeMap::from([(
            ServiceKey::new("infra", "gw"),
            gateway(
                &["192.0.2.1"],
                &[
                    ("shop", 443, Some("*.shop.example.com")),
                    ("api", 443, Some("api.example.com")),
                    ("any", 80, None),
                ],
            ),
        )]);
        let key = |n: &str| (RouteKind::Http, ServiceKey::new("web", n));
        // Attached to the `shop` listener only: its other hostnames are not served there.
        let routes = BTreeMap::from([
            (
                key("a"),
                route(
                    &["cart.shop.example.com", "api.example.com", "www.example.net"],
                    &[("gw", Some("shop"), None)],
                ),
            ),
            // No hostnames, attached by port to `api` and `shop`: their listener hostnames.
            (key("b"), route(&[], &[("gw", None, Some(443))])),
            // Attached everywhere: narrowed by each listener, whole on the one without hostname.
            (key("c"), route(&["*.example.com"], &[("gw", None, None)])),
        ]);
        let hosts = member_hosts(&BTreeMap::new(), &gateways, &routes, |_| true);
        assert_eq!(
            names(&hosts),
            [
                "*.example.com",
                "*.shop.example.com",
                "api.example.com",
                "cart.shop.example.com"
            ]
        );
        assert_eq!(*hosts["cart.shop.example.com"].routes, [key("a")]);
        assert_eq!(*hosts["api.example.com"].routes, [key("b"), key("c")]);
        assert_eq!(*hosts["*.shop.example.com"].routes, [key("b"), key("c")]);
        assert_eq!(*hosts["*.example.com"].routes, [key("c")]);
        assert_eq!(*hosts["api.example.com"].targets, [ip("192.0.2.1")]);
    }

    #[test]
    fn routes_of_unknown_or_excluded_gateways_and_excluded_routes_serve_nothing() {
        let mut gw = gateway(&["192.0.2.1"], &[("http", 80, None)]);
        let routes = BTreeMap::from([
            (
                (RouteKind::Http, ServiceKey::new("web", "a")),
                route(&["a.example.com"], &[("other", None, None)]),
            ),
            (
                (RouteKind::Grpc, ServiceKey::new("web", "b")),
                route(&["b.example.com"], &[("gw", Some("missing"), None)]),
            ),
            (
                (RouteKind::Tls, ServiceKey::new("web", "c")),
                RouteProj {
                    federated: false,
                    ..route(&["c.example.com"], &[("gw", None, None)])
                },
            ),
            (
                (RouteKind::Tls, ServiceKey::new("web", "d")),
                route(&["d.example.com"], &[("gw", None, None)]),
            ),
        ]);
        let gateways = BTreeMap::from([(ServiceKey::new("infra", "gw"), gw.clone())]);
        let hosts = member_hosts(&BTreeMap::new(), &gateways, &routes, |_| true);
        assert_eq!(names(&hosts), ["d.example.com"]);
        gw.federated = false;
        let gateways = BTreeMap::from([(ServiceKey::new("infra", "gw"), gw)]);
        assert!(member_hosts(&BTreeMap::new(), &gateways, &routes, |_| true).is_empty());
    }

    fn ingress(hosts: &[&str], addresses: &[&str], backends: &[&str]) -> IngressProj {
        IngressProj {
            federated: true,
            hosts: hosts.iter().map(|h| (*h).into()).collect(),
            addresses: addresses.iter().map(|a| ip(a)).collect(),
            backends: backends.iter().map(|b| (*b).into()).collect(),
            options: ServiceOptions::default(),
            problems: Box::new([]),
        }
    }

    #[test]
    fn two_ingresses_claiming_one_host_are_merged_and_health_needs_a_ready_backend() {
        let ingresses = BTreeMap::from([
            (
                ServiceKey::new("shop", "a"),
                ingress(&["www.example.com"], &["192.0.2.1"], &["web"]),
            ),
            (
                ServiceKey::new("shop", "b"),
                ingress(
                    &["www.example.com", "b.example.com"],
                    &["192.0.2.2", "192.0.2.1"],
                    &["api"],
                ),
            ),
            (
                ServiceKey::new("shop", "c"),
                ingress(&["www.example.com"], &["192.0.2.3"], &["down"]),
            ),
        ]);
        let ready = |k: &ServiceKey| k.name.as_str() != "down";
        let hosts = member_hosts(&ingresses, &BTreeMap::new(), &BTreeMap::new(), ready);
        let www = &hosts["www.example.com"];
        assert_eq!(*www.targets, [ip("192.0.2.1"), ip("192.0.2.2")]);
        let healthy: Vec<(String, bool)> = www
            .sources
            .iter()
            .map(|s| (s.source.to_string(), s.healthy))
            .collect();
        assert_eq!(
            healthy,
            [
                ("ingress shop/a".to_string(), true),
                ("ingress shop/b".to_string(), true),
                ("ingress shop/c".to_string(), false)
            ]
        );
        // Nothing ready behind it: the host is known but not healthy.
        let hosts = member_hosts(&ingresses, &BTreeMap::new(), &BTreeMap::new(), |_| false);
        assert!(!hosts["www.example.com"].is_healthy());
        assert_eq!(hosts["www.example.com"].sources.len(), 3);
    }
}
