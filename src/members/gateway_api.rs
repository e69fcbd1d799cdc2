//! The few fields feddns reads of Gateway API objects (`gateway.networking.k8s.io/v1`):
//! Gateways (listeners, status addresses) and HTTPRoutes, GRPCRoutes and TLSRoutes (hostnames,
//! parent references, and which parents accepted them).
//!
//! Why not the `gateway-api` crate of the kube-rs project: its newest release (0.22) is built on
//! kube 4 and k8s-openapi 0.28, and its types implement those crates' traits, not the kube 5 /
//! k8s-openapi 0.29 ones feddns uses, so `Api<HTTPRoute>` cannot be built from them. These
//! minimal types deserialize the same JSON (unknown fields are ignored) and carry what
//! `kube::Api` needs; everything else of the objects is skipped while parsing, which also keeps
//! the watch from holding whole objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// The Gateway API group.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// A `Gateway`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Gateway {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: GatewaySpec,
    /// `status`.
    #[serde(default)]
    pub status: Option<GatewayStatus>,
}

/// `Gateway.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewaySpec {
    /// `listeners`.
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

/// `Gateway.spec.listeners[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Listener {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `port`.
    #[serde(default)]
    pub port: i32,
    /// `hostname`.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// `Gateway.status`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayStatus {
    /// `addresses`.
    #[serde(default)]
    pub addresses: Option<Vec<GatewayAddress>>,
}

/// `Gateway.status.addresses[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayAddress {
    /// `type`: `IPAddress` (the default), `Hostname`, or an implementation's own.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// `value`.
    #[serde(default)]
    pub value: String,
}

/// A route's `spec`, as far as hostnames and parents go (the same for the three route kinds).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteSpec {
    /// `hostnames`.
    #[serde(default)]
    pub hostnames: Option<Vec<String>>,
    /// `parentRefs`.
    #[serde(default, rename = "parentRefs")]
    pub parent_refs: Option<Vec<ParentRef>>,
}

/// A `parentRefs[]` entry (also `status.parents[].parentRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ParentRef {
    /// `group` (default `gateway.networking.k8s.io`).
    #[serde(default)]
    pub group: Option<String>,
    /// `kind` (default `Gateway`).
    #[serde(default)]
    pub kind: Option<String>,
    /// `namespace` (default: the route's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `sectionName`: a listener name.
    #[serde(default, rename = "sectionName")]
    pub section_name: Option<String>,
    /// `port`.
    #[serde(default)]
    pub port: Option<i32>,
}

/// A route's `status`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteStatus {
    /// `parents`.
    #[serde(default)]
    pub parents: Vec<RouteParentStatus>,
}

/// `status.parents[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteParentStatus {
    /// `parentRef`.
    #[serde(default, rename = "parentRef")]
    pub parent_ref: ParentRef,
    /// `conditions`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A condition (`type`, `status`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Condition {
    /// `type`.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// `status`: `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
}

/// What the three route kinds have in common.
pub trait Route {
    /// Metadata.
    fn meta(&self) -> &ObjectMeta;
    /// `spec`.
    fn spec(&self) -> &RouteSpec;
    /// `status`.
    fn status(&self) -> Option<&RouteStatus>;
}

macro_rules! resource {
    ($ty:ident, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = "gateway.networking.k8s.io/v1";
            const GROUP: &'static str = GROUP;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = "v1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

macro_rules! route {
    ($ty:ident, $kind:literal, $plural:literal) => {
        #[doc = concat!("A `", $kind, "`.")]
        #[derive(Debug, Clone, Default, Deserialize)]
        pub struct $ty {
            /// Metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// `spec`.
            #[serde(default)]
            pub spec: RouteSpec,
            /// `status`.
            #[serde(default)]
            pub status: Option<RouteStatus>,
        }

        resource!($ty, $kind, $plural);

        impl Route for $ty {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn spec(&self) -> &RouteSpec {
                &self.spec
            }

            fn status(&self) -> Option<&RouteStatus> {
                self.status.as_ref()
            }
        }
    };
}

resource!(Gateway, "Gateway", "gateways");
route!(HttpRoute, "HTTPRoute", "httproutes");
route!(GrpcRoute, "GRPCRoute", "grpcroutes");
route!(TlsRoute, "TLSRoute", "tlsroutes");
