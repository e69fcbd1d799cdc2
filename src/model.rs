//! The projection of member-cluster objects that feddns keeps: only the fields the planner needs.
//!
//! Snapshot files and (later) the Kubernetes watchers both produce these types; the federation
//! index consumes them. Nothing here does I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use feddns_provider::DnsName;
use serde::Serialize;

/// A Service's identity within the federation: namespace and name. Both are shared
/// ([`DnsName`]): cloning a key copies two pointers, and the index hands every member the same
/// ones for the same Service.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: DnsName,
    /// Service name.
    pub name: DnsName,
}

impl ServiceKey {
    /// A key from namespace and name.
    pub fn new(namespace: impl Into<DnsName>, name: impl Into<DnsName>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One LoadBalancer ingress entry: an address or a hostname (AWS ELB and the like).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name, lower-case, without the trailing dot.
    Hostname(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Hostname(h) => f.write_str(h),
        }
    }
}

/// How the global (and vanity) names of a Service are answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// One set with every healthy target.
    #[default]
    Plain,
    /// One latency set per AWS region with healthy shards (Route53 latency routing).
    Latency,
}

/// Per-Service options read from annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ServiceOptions {
    /// `feddns.io/ttl`: TTL override in seconds.
    pub ttl: Option<u32>,
    /// `feddns.io/routing`: `plain` or `latency`, overriding the federation's policy.
    pub routing: Option<RoutingMode>,
    /// `feddns.io/hostnames`: extra (vanity) names answered like the global name, comma-separated,
    /// lower-case, without trailing dots.
    pub hostnames: Vec<String>,
}

/// The projection of a Service (its key is where it is kept: the snapshot's map, the change).
/// Kept small, as every member holds one per federated Service: slices sized exactly, nothing
/// repeated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ServiceProj {
    /// `spec.type == LoadBalancer` and not opted out: the Service is federated.
    pub federated: bool,
    /// `status.loadBalancer.ingress`, in order, duplicates removed.
    pub ingress: Box<[Target]>,
    /// Options from annotations.
    pub options: ServiceOptions,
    /// Problems found while reading the Service (a malformed annotation, a bad ingress entry).
    /// They are reported and the offending value ignored.
    pub problems: Box<[String]>,
}

/// The projection of an EndpointSlice: which Service it belongs to and how many endpoints are ready.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SliceProj {
    /// Namespace.
    pub namespace: DnsName,
    /// The slice's own name.
    pub name: DnsName,
    /// The Service it belongs to (label `kubernetes.io/service-name`).
    pub service: DnsName,
    /// Endpoints whose `conditions.ready` is true or absent.
    pub ready: usize,
}

impl SliceProj {
    /// The key of the Service the slice belongs to.
    pub fn service_key(&self) -> ServiceKey {
        ServiceKey::new(self.namespace.clone(), self.service.clone())
    }
}

/// The projection of a Node: its failure-domain labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct NodeProj {
    /// Node name.
    pub name: String,
    /// `topology.kubernetes.io/zone`, falling back to `failure-domain.beta.kubernetes.io/zone`.
    pub zone: Option<String>,
    /// `topology.kubernetes.io/region`, falling back to `failure-domain.beta.kubernetes.io/region`.
    pub region: Option<String>,
}

/// Everything feddns keeps of one member cluster at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemberSnapshot {
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeProj>,
    /// Services by key.
    pub services: BTreeMap<ServiceKey, ServiceProj>,
    /// EndpointSlices by (namespace, name).
    pub slices: BTreeMap<(DnsName, DnsName), SliceProj>,
}

impl MemberSnapshot {
    /// Applies one object change.
    pub fn apply(&mut self, change: ObjectChange) {
        match change {
            ObjectChange::Service(k, Some(v)) => {
                self.services.insert(k, v);
            }
            ObjectChange::Service(k, None) => {
                self.services.remove(&k);
            }
            ObjectChange::Node(k, Some(v)) => {
                self.nodes.insert(k, v);
            }
            ObjectChange::Node(k, None) => {
                self.nodes.remove(&k);
            }
            ObjectChange::Slice(k, Some(v)) => {
                self.slices.insert(k, v);
            }
            ObjectChange::Slice(k, None) => {
                self.slices.remove(&k);
            }
        }
    }
}

/// Label keys for zones and regions, in order of preference.
pub const ZONE_LABELS: [&str; 2] = [
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
];
/// Label keys for regions, in order of preference.
pub const REGION_LABELS: [&str; 2] = [
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/region",
];
/// Annotation: TTL override for a Service's records, in seconds.
pub const ANNOTATION_TTL: &str = "feddns.io/ttl";
/// Annotation: `plain` or `latency` routing for the global and vanity names.
pub const ANNOTATION_ROUTING: &str = "feddns.io/routing";
/// Annotation: extra (vanity) names, comma-separated, answered like the global name.
pub const ANNOTATION_HOSTNAMES: &str = "feddns.io/hostnames";
/// Annotation: `"true"` keeps a LoadBalancer Service out of DNS.
pub const ANNOTATION_EXCLUDE: &str = "feddns.io/exclude";
/// Label linking an EndpointSlice to its Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// One object of a member that changed: its new projection, or `None` when it is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectChange {
    /// A Service, by key.
    Service(ServiceKey, Option<ServiceProj>),
    /// A Node, by name.
    Node(String, Option<NodeProj>),
    /// An EndpointSlice, by (namespace, name).
    Slice((DnsName, DnsName), Option<SliceProj>),
}
