//! The local cluster as the stub sees it: Services (ClusterIPs, headless or not) and the ready
//! addresses of their EndpointSlices, folded into the [`LocalServices`] answered from. Pure: the
//! watchers in [`super::watch`] feed it objects, it says what changed.
//!
//! A Service is answered locally when it has at least one ready endpoint (`conditions.ready`
//! true or absent, as everywhere in feddns) and something to answer: its ClusterIPs (every
//! family of a dual-stack Service), or for a headless Service (`clusterIP: None`) the addresses
//! of its ready endpoints. ExternalName Services, and Services still without a ClusterIP, are
//! never local: their federated name is answered instead.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::zone::{LocalAnswer, LocalServices, StubSettings};
use crate::federation::model::LABEL_SERVICE_NAME;
use crate::members::project::DEFAULT_NAMESPACE;

/// An object's namespace and name.
pub type ObjectKey = (String, String);

/// What the stub keeps of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddrs {
    /// `spec.clusterIP` is `None`: the endpoints' addresses are answered.
    pub headless: bool,
    /// `spec.clusterIPs` (or `spec.clusterIP`), those that parse.
    pub cluster_ips: Vec<IpAddr>,
}

/// What the stub keeps of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceAddrs {
    /// The Service it belongs to (label `kubernetes.io/service-name`), in the slice's namespace.
    pub service: String,
    /// How many of its endpoints are ready.
    pub ready: usize,
    /// The addresses of its ready endpoints (IPv4 and IPv6 slices; FQDN slices have none).
    pub addrs: Vec<IpAddr>,
}

/// The key and projection of a Service; the projection is `None` for one that is never answered
/// locally (ExternalName). `None` altogether for an object without a name.
pub fn project_service(svc: &Service) -> Option<(ObjectKey, Option<ServiceAddrs>)> {
    let key = key_of(&svc.metadata)?;
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Some((key, None));
    }
    let primary = spec.and_then(|s| s.cluster_ip.as_deref());
    let headless = primary == Some("None");
    let listed = spec.and_then(|s| s.cluster_ips.as_deref()).unwrap_or_default();
    let cluster_ips = if headless {
        Vec::new()
    } else if listed.is_empty() {
        primary.and_then(|ip| ip.parse().ok()).into_iter().collect()
    } else {
        listed.iter().filter_map(|ip| ip.parse().ok()).collect()
    };
    Some((
        key,
        Some(ServiceAddrs {
            headless,
            cluster_ips,
        }),
    ))
}

/// The key and projection of an EndpointSlice; the projection is `None` for a slice of no
/// Service. `None` altogether for an object without a name.
pub fn project_slice(slice: &EndpointSlice) -> Option<(ObjectKey, Option<SliceAddrs>)> {
    let key = key_of(&slice.metadata)?;
    let Some(service) = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SERVICE_NAME))
    else {
        return Some((key, None));
    };
    let ready: Vec<&Endpoint> = slice
        .endpoints
        .iter()
        .flatten()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .collect();
    let addrs = ready
        .iter()
        .flat_map(|e| e.addresses.iter())
        .filter_map(|a| a.parse().ok())
        .collect();
    Some((
        key,
        Some(SliceAddrs {
            service: service.clone(),
            ready: ready.len(),
            addrs,
        }),
    ))
}

fn key_of(meta: &ObjectMeta) -> Option<ObjectKey> {
    let namespace = meta
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE);
    Some((namespace.to_owned(), meta.name.clone()?))
}

/// The Services and EndpointSlices of the local cluster, and the answers they give.
#[derive(Debug, Clone)]
pub struct Cluster {
    settings: StubSettings,
    services: HashMap<ObjectKey, ServiceAddrs>,
    slices: HashMap<ObjectKey, SliceAddrs>,
    /// Service → the slices that name it.
    slices_of: HashMap<ObjectKey, BTreeSet<String>>,
    local: LocalServices,
    changed: bool,
}

impl Cluster {
    /// An empty cluster whose answers carry `settings`' names and TTL.
    pub fn new(settings: StubSettings) -> Self {
        Self {
            settings,
            services: HashMap::new(),
            slices: HashMap::new(),
            slices_of: HashMap::new(),
            local: LocalServices::new(),
            changed: false,
        }
    }

    /// A Service exists with this projection (`None`: it does not, or is never local).
    pub fn set_service(&mut self, key: ObjectKey, svc: Option<ServiceAddrs>) {
        match svc {
            Some(s) => {
                if self.services.get(&key) == Some(&s) {
                    return;
                }
                self.services.insert(key.clone(), s);
            }
            None => {
                if self.services.remove(&key).is_none() {
                    return;
                }
            }
        }
        self.refresh(&key);
    }

    /// An EndpointSlice exists with this projection (`None`: it does not, or has no Service).
    pub fn set_slice(&mut self, key: ObjectKey, slice: Option<SliceAddrs>) {
        if self.slices.get(&key) == slice.as_ref() {
            return;
        }
        let old = match slice {
            Some(s) => self.slices.insert(key.clone(), s),
            None => self.slices.remove(&key),
        };
        let (namespace, name) = &key;
        let new_service = self.slices.get(&key).map(|s| s.service.clone());
        if let Some(old) = old
            && Some(&old.service) != new_service.as_ref()
        {
            let service = (namespace.clone(), old.service);
            if let Some(names) = self.slices_of.get_mut(&service) {
                names.remove(name);
                if names.is_empty() {
                    self.slices_of.remove(&service);
                }
            }
            self.refresh(&service);
        }
        if let Some(service) = new_service {
            let service = (namespace.clone(), service);
            self.slices_of
                .entry(service.clone())
                .or_default()
                .insert(name.clone());
            self.refresh(&service);
        }
    }

    /// A complete list of the Services: those not in it are gone.
    pub fn replace_services(&mut self, listed: HashMap<ObjectKey, Option<ServiceAddrs>>) {
        for key in missing(&self.services, &listed) {
            self.set_service(key, None);
        }
        for (key, svc) in listed {
            self.set_service(key, svc);
        }
    }

    /// A complete list of the EndpointSlices: those not in it are gone.
    pub fn replace_slices(&mut self, listed: HashMap<ObjectKey, Option<SliceAddrs>>) {
        for key in missing(&self.slices, &listed) {
            self.set_slice(key, None);
        }
        for (key, slice) in listed {
            self.set_slice(key, slice);
        }
    }

    /// The answers now.
    pub fn local(&self) -> &LocalServices {
        &self.local
    }

    /// Whether the answers changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Recomputes the answer of one Service.
    fn refresh(&mut self, key: &ObjectKey) {
        let (namespace, name) = key;
        let answer = self.services.get(key).and_then(|svc| {
            let slices = self
                .slices_of
                .get(key)
                .into_iter()
                .flatten()
                .filter_map(|slice| self.slices.get(&(namespace.clone(), slice.clone())));
            let mut ready = 0;
            let mut endpoints = Vec::new();
            for s in slices {
                ready += s.ready;
                endpoints.extend_from_slice(&s.addrs);
            }
            let addrs = if svc.headless {
                endpoints
            } else {
                svc.cluster_ips.clone()
            };
            if ready == 0 || addrs.is_empty() {
                return None;
            }
            LocalAnswer::new(&self.settings, namespace, name, &addrs)
        });
        let before = self.local.get(namespace, name);
        if before.map(|b| &**b) == answer.as_ref() {
            return;
        }
        match answer {
            Some(a) => self.local.insert(namespace, name, Arc::new(a)),
            None => {
                self.local.remove(namespace, name);
            }
        }
        self.changed = true;
    }
}

/// The keys of `known` that a complete list no longer has (or has as not kept).
fn missing<T, U>(known: &HashMap<ObjectKey, T>, listed: &HashMap<ObjectKey, Option<U>>) -> Vec<ObjectKey> {
    known
        .keys()
        .filter(|k| !matches!(listed.get(*k), Some(Some(_))))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(v: serde_json::Value) -> (ObjectKey, Option<ServiceAddrs>) {
        project_service(&serde_json::from_value(v).unwrap()).unwrap()
    }

    fn slice(v: serde_json::Value) -> (ObjectKey, Option<SliceAddrs>) {
        project_slice(&serde_json::from_value(v).unwrap()).unwrap()
    }

    fn svc_json(name: &str, spec: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": name, "namespace": "shop"}, "spec": spec})
    }

    fn slice_json(
        name: &str,
        svc: &str,
        family: &str,
        endpoints: &[(&str, Option<bool>)],
    ) -> serde_json::Value {
        let endpoints: Vec<_> = endpoints
            .iter()
            .map(|(addr, ready)| match ready {
                Some(r) => json!({"addresses": [addr], "conditions": {"ready": r}}),
                None => json!({"addresses": [addr]}),
            })
            .collect();
        json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": family,
            "endpoints": endpoints,
        })
    }

    fn addrs(c: &Cluster, name: &str) -> Option<Vec<String>> {
        let a = c.local().get("shop", name)?;
        Some(
            a.a.iter()
                .chain(a.aaaa.iter())
                .map(|r| r.data.to_string())
                .collect(),
        )
    }

    /// Slice `<svc>-1` of `svc` with one ready IPv4 endpoint.
    fn one_ready_endpoint(c: &mut Cluster, svc: &str) {
        let (k, s) = slice(slice_json(
            &format!("{svc}-1"),
            svc,
            "IPv4",
            &[("10.0.0.1", Some(true))],
        ));
        c.set_slice(k, s);
    }

    fn cluster() -> Cluster {
        Cluster::new(StubSettings::new("cluster.local", 30).unwrap())
    }

    #[test]
    fn services_project_their_cluster_ips_or_headlessness() {
        let (key, s) = service(svc_json(
            "web",
            json!({"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1", "fd00::1"]}),
        ));
        assert_eq!(key, ("shop".into(), "web".into()));
        let s = s.unwrap();
        assert!(!s.headless);
        assert_eq!(
            s.cluster_ips,
            ["10.96.0.1".parse::<IpAddr>().unwrap(), "fd00::1".parse().unwrap()]
        );
        let s = service(svc_json("web", json!({"clusterIP": "10.96.0.2"})))
            .1
            .unwrap();
        assert_eq!(s.cluster_ips, ["10.96.0.2".parse::<IpAddr>().unwrap()]);
        let s = service(svc_json(
            "web",
            json!({"clusterIP": "None", "clusterIPs": ["None"]}),
        ))
        .1
        .unwrap();
        assert!(s.headless && s.cluster_ips.is_empty());
        let s = service(svc_json("web", json!({"type": "LoadBalancer"})))
            .1
            .unwrap();
        assert!(!s.headless && s.cluster_ips.is_empty());
        assert_eq!(
            service(svc_json(
                "web",
                json!({"type": "ExternalName", "externalName": "x.example.com"})
            ))
            .1,
            None
        );
        // No namespace: the default one.
        let (key, _) = service(json!({"metadata": {"name": "web"}}));
        assert_eq!(key.0, "default");
        assert!(project_service(&serde_json::from_value(json!({"metadata": {}})).unwrap()).is_none());
    }

    #[test]
    fn slices_project_their_ready_addresses() {
        let (key, s) = slice(slice_json(
            "web-1",
            "web",
            "IPv4",
            &[
                ("10.0.0.1", Some(true)),
                ("10.0.0.2", Some(false)),
                ("10.0.0.3", None),
            ],
        ));
        assert_eq!(key, ("shop".into(), "web-1".into()));
        let s = s.unwrap();
        assert_eq!((s.service.as_str(), s.ready), ("web", 2));
        assert_eq!(
            s.addrs,
            ["10.0.0.1".parse::<IpAddr>().unwrap(), "10.0.0.3".parse().unwrap()]
        );
        let s = slice(slice_json(
            "web-2",
            "web",
            "FQDN",
            &[("a.example.com", Some(true))],
        ))
        .1
        .unwrap();
        assert_eq!((s.ready, s.addrs.len()), (1, 0));
        let (_, none) = slice(
            json!({"metadata": {"name": "x", "namespace": "shop"}, "addressType": "IPv4", "endpoints": []}),
        );
        assert_eq!(none, None);
    }

    #[test]
    fn a_cluster_ip_service_is_local_while_an_endpoint_is_ready() {
        let mut c = cluster();
        let (k, s) = service(svc_json("web", json!({"clusterIPs": ["10.96.0.1", "fd00::1"]})));
        c.set_service(k, s);
        assert_eq!(addrs(&c, "web"), None);
        assert!(!c.take_changed());
        let (k, s) = slice(slice_json("web-1", "web", "IPv4", &[("10.0.0.1", Some(true))]));
        c.set_slice(k, s);
        assert_eq!(addrs(&c, "web").unwrap(), ["10.96.0.1", "fd00::1"]);
        assert!(c.take_changed() && !c.take_changed());
        // The same slice again changes nothing.
        let (k, s) = slice(slice_json("web-1", "web", "IPv4", &[("10.0.0.1", Some(true))]));
        c.set_slice(k, s);
        assert!(!c.take_changed());
        // Its last ready endpoint goes.
        let (k, s) = slice(slice_json("web-1", "web", "IPv4", &[("10.0.0.1", Some(false))]));
        c.set_slice(k, s);
        assert_eq!(addrs(&c, "web"), None);
        assert!(c.take_changed());
        // Ready in another slice; then the Service goes.
        let (k, s) = slice(slice_json("web-2", "web", "IPv6", &[("fd00:1::1", None)]));
        c.set_slice(k, s);
        assert!(addrs(&c, "web").is_some());
        c.set_service(("shop".into(), "web".into()), None);
        assert_eq!(addrs(&c, "web"), None);
        assert!(c.local().is_empty());
    }

    #[test]
    fn a_headless_service_answers_its_ready_endpoints() {
        let mut c = cluster();
        let (k, s) = service(svc_json("db", json!({"clusterIP": "None"})));
        c.set_service(k, s);
        for (name, family, eps) in [
            (
                "db-1",
                "IPv4",
                &[("10.1.0.2", Some(true)), ("10.1.0.3", Some(false))][..],
            ),
            ("db-2", "IPv4", &[("10.1.0.1", None)]),
            ("db-3", "IPv6", &[("fd00:1::1", Some(true))]),
        ] {
            let (k, s) = slice(slice_json(name, "db", family, eps));
            c.set_slice(k, s);
        }
        assert_eq!(addrs(&c, "db").unwrap(), ["10.1.0.1", "10.1.0.2", "fd00:1::1"]);
        // A slice moved to another Service leaves this one.
        let (k, s) = slice(slice_json("db-3", "other", "IPv6", &[("fd00:1::1", Some(true))]));
        c.set_slice(k, s);
        assert_eq!(addrs(&c, "db").unwrap(), ["10.1.0.1", "10.1.0.2"]);
        // A relist without db-2 and db-1: nothing ready is left.
        let (k, s) = slice(slice_json("db-3", "other", "IPv6", &[("fd00:1::1", Some(true))]));
        c.replace_slices(HashMap::from([(k, s)]));
        assert_eq!(addrs(&c, "db"), None);
        assert_eq!(c.slices_of.len(), 1);
    }

    #[test]
    fn services_without_an_address_are_not_local() {
        let mut c = cluster();
        for (name, spec) in [
            ("pending", json!({"type": "LoadBalancer"})),
            (
                "ext",
                json!({"type": "ExternalName", "externalName": "x.example.com"}),
            ),
        ] {
            let (k, s) = service(svc_json(name, spec));
            c.set_service(k, s);
            one_ready_endpoint(&mut c, name);
            assert_eq!(addrs(&c, name), None, "{name}");
        }
        // A headless Service whose ready endpoints have no address (FQDN slices).
        let (k, s) = service(svc_json("fqdn", json!({"clusterIP": "None"})));
        c.set_service(k, s);
        let (k, s) = slice(slice_json(
            "fqdn-1",
            "fqdn",
            "FQDN",
            &[("a.example.com", Some(true))],
        ));
        c.set_slice(k, s);
        assert_eq!(addrs(&c, "fqdn"), None);
    }

    #[test]
    fn a_service_relist_drops_the_missing_ones() {
        let mut c = cluster();
        for name in ["a", "b"] {
            let (k, s) = service(svc_json(name, json!({"clusterIP": "10.96.0.1"})));
            c.set_service(k, s);
            one_ready_endpoint(&mut c, name);
        }
        assert_eq!(c.local().len(), 2);
        let (k, s) = service(svc_json("b", json!({"clusterIP": "10.96.0.2"})));
        c.replace_services(HashMap::from([(k, s)]));
        assert_eq!(c.local().len(), 1);
        assert_eq!(addrs(&c, "b").unwrap(), ["10.96.0.2"]);
    }
}
