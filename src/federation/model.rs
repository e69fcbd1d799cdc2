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

/// What feddns publishes names for, chosen in the config (`sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// LoadBalancer Services: zone, region and global names.
    Service,
    /// `networking.k8s.io/v1` Ingress: one name per host.
    Ingress,
    /// Gateway API Gateways and the HTTPRoutes, GRPCRoutes and TLSRoutes attached to them: one
    /// name per host.
    Gateway,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "service",
            Self::Ingress => "ingress",
            Self::Gateway => "gateway",
        })
    }
}

/// What a set of names is planned for: a Service (its zone, region, global and vanity names), or
/// a host of Ingress and Gateway objects (that one name), merged across members.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A Service, by key.
    Service(ServiceKey),
    /// A host (lower-case, no trailing dot; `*.example.com` for a wildcard).
    Host(DnsName),
}

impl Subject {
    /// The Service, if this is one.
    pub fn service(&self) -> Option<&ServiceKey> {
        match self {
            Self::Service(k) => Some(k),
            Self::Host(_) => None,
        }
    }
}

impl From<ServiceKey> for Subject {
    fn from(key: ServiceKey) -> Self {
        Self::Service(key)
    }
}

impl fmt::Display for Subject {
    /// `service <ns>/<name>` or `host <name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service(k) => write!(f, "service {k}"),
            Self::Host(h) => write!(f, "host {h}"),
        }
    }
}

/// The kind of an object that serves hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    /// An Ingress.
    Ingress,
    /// A Gateway.
    Gateway,
}

impl HostKind {
    /// The word used in ownership records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Gateway => "gateway",
        }
    }
}

/// An object that serves a host: an Ingress or a Gateway, by key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostSource {
    /// Ingress or Gateway.
    pub kind: HostKind,
    /// Its namespace and name.
    pub key: ServiceKey,
}

impl fmt::Display for HostSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.key)
    }
}

/// The Gateway API route kinds whose hostnames are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RouteKind {
    /// `HTTPRoute`.
    #[serde(rename = "httproute")]
    Http,
    /// `GRPCRoute`.
    #[serde(rename = "grpcroute")]
    Grpc,
    /// `TLSRoute`.
    #[serde(rename = "tlsroute")]
    Tls,
}

impl RouteKind {
    /// Every route kind.
    pub const ALL: [Self; 3] = [Self::Http, Self::Grpc, Self::Tls];

    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Http => "HTTPRoute",
            Self::Grpc => "GRPCRoute",
            Self::Tls => "TLSRoute",
        }
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind().to_ascii_lowercase())
    }
}

/// A route's identity: its kind, namespace and name.
pub type RouteKey = (RouteKind, ServiceKey);

/// The projection of an Ingress. Kept small: every member holds one per selected Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IngressProj {
    /// Not opted out with `feddns.io/exclude`.
    pub federated: bool,
    /// `spec.rules[].host` and `spec.tls[].hosts`, lower-case, without duplicates.
    pub hosts: Box<[DnsName]>,
    /// `status.loadBalancer.ingress`, as for Services.
    pub addresses: Box<[Target]>,
    /// The Services its rules and default backend send to (same namespace), without duplicates.
    pub backends: Box<[DnsName]>,
    /// TTL and routing from annotations.
    pub options: ServiceOptions,
    /// Problems found while reading it; the offending values are ignored.
    pub problems: Box<[String]>,
}

/// One listener of a Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ListenerProj {
    /// `name` (what a route's `sectionName` refers to).
    pub name: DnsName,
    /// `port`.
    pub port: i32,
    /// `hostname`, lower-case; `None` matches every route hostname.
    pub hostname: Option<DnsName>,
}

/// The projection of a Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GatewayProj {
    /// Not opted out with `feddns.io/exclude`.
    pub federated: bool,
    /// `status.addresses` of type `IPAddress` and `Hostname`.
    pub addresses: Box<[Target]>,
    /// The listeners.
    pub listeners: Box<[ListenerProj]>,
    /// TTL and routing from annotations.
    pub options: ServiceOptions,
    /// Problems found while reading it; the offending values are ignored.
    pub problems: Box<[String]>,
}

/// A Gateway that accepted a route, as the route's `parentRefs` name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ParentProj {
    /// The Gateway's namespace and name.
    pub gateway: ServiceKey,
    /// `sectionName`: only the listener of that name.
    pub section: Option<DnsName>,
    /// `port`: only listeners on that port.
    pub port: Option<i32>,
}

/// The projection of an HTTPRoute, GRPCRoute or TLSRoute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RouteProj {
    /// Not opted out with `feddns.io/exclude`.
    pub federated: bool,
    /// `spec.hostnames`, lower-case, without duplicates.
    pub hostnames: Box<[DnsName]>,
    /// The parents in `spec.parentRefs` that are Gateways and that accepted the route
    /// (`status.parents[]` for that reference with condition `Accepted=True`).
    pub parents: Box<[ParentProj]>,
    /// Problems found while reading it.
    pub problems: Box<[String]>,
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
    /// Ingresses by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ingresses: BTreeMap<ServiceKey, IngressProj>,
    /// Gateways by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gateways: BTreeMap<ServiceKey, GatewayProj>,
    /// Routes by kind and key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<RouteKey, RouteProj>,
    /// Kinds the member cannot be read for (`gateways` → `not installed ...`): left out, retried.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unread: BTreeMap<String, String>,
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
            ObjectChange::Ingress(k, v) => put(&mut self.ingresses, k, v),
            ObjectChange::Gateway(k, v) => put(&mut self.gateways, k, v),
            ObjectChange::Route(k, v) => put(&mut self.routes, k, v),
            ObjectChange::Unread(k, v) => put(&mut self.unread, k, v),
        }
    }
}

/// Inserts `v` at `k`, or removes `k` when `v` is `None`.
pub(crate) fn put<K: Ord, V>(map: &mut BTreeMap<K, V>, k: K, v: Option<V>) {
    match v {
        Some(v) => {
            map.insert(k, v);
        }
        None => {
            map.remove(&k);
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
    /// An Ingress, by key.
    Ingress(ServiceKey, Option<IngressProj>),
    /// A Gateway, by key.
    Gateway(ServiceKey, Option<GatewayProj>),
    /// A route, by kind and key.
    Route(RouteKey, Option<RouteProj>),
    /// A kind (plural, `gateways`) the member cannot be read for, and why (a CRD not installed,
    /// access denied); `None` when it can be read again.
    Unread(String, Option<String>),
}
