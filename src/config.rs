//! The configuration file (YAML).
//!
//! ```yaml
//! federation: myfed              # DNS label
//! domain: example.com            # the zone feddns writes into
//! owner_id: demo                 # default: feddns-<federation>
//! ttl: 180
//! ownership: { txt_prefix: _feddns, adopt: false }
//! safety: { max_delete_share: 0.5, min_guarded_deletes: 10, member_grace: 5m }
//! controller: { debounce: 100ms, max_debounce: 1s, verify_interval: 10m, file_poll: 250ms }
//! provider:                      # one of:
//!   embedded: { listen: 127.0.0.1:5353 }
//!   # route53: { zone_name: example.com }
//!   # clouddns: { project: my-project, managed_zone: example-com }
//!   # rfc2136: { server: 10.0.0.53:53, tsig: { name: feddns-key, secret_file: tsig.key } }
//! resolver:                      # for ingress hostnames that must be resolved
//!   nameservers: [10.0.0.2:53]   # default: the system's resolv.conf
//!   hosts: { lb.example.net: [192.0.2.10] }
//! services: { namespaces: [], exclude_namespaces: [], selector: "" }
//! sources: [service, ingress, gateway]  # default [service]
//! members:
//!   - { name: us, file: members/us.yaml }
//!   - { name: eu, kubeconfig: kube/eu.yaml, context: eu-west }
//!   - { name: home, in_cluster: true }
//! host: { in_cluster: true }     # the cluster feddns runs in (discovery, leader election)
//! discovery:                     # members from the host cluster's registries, followed live
//!   - kubeconfig_secrets: { namespace: kube-federation-system, selector: "feddns.io/member=true" }
//!   - kubefed: { namespace: kube-federation-system }
//!   - karmada: {}
//!   - cluster_api: { namespace: fleet }
//! leader_election: { lease: feddns, namespace: feddns, lease_duration: 15s, renew_interval: 2s }
//! admin: { listen: 0.0.0.0:9090 }  # /metrics /healthz /readyz /status
//! ```
//!
//! Relative member paths (files, kubeconfigs) are relative to the configuration file; `~/` is the
//! home directory. Every error names the file,
//! the field and what is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use feddns_provider::ParseError;
use serde::{Deserialize, Deserializer};

use crate::federation::model::{RoutingMode, SourceKind};
use crate::federation::names::{Naming, check_label};
use crate::federation::ownership::DEFAULT_PREFIX;
use crate::federation::parse_errors;
use crate::federation::planner::DEFAULT_TTL;
use crate::federation::selector::{LabelSelector, Selection};

/// A configuration error: which file, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not match the configuration schema: the file, line and column and what is
    /// wrong, never the file's text (it may hold credentials).
    #[error(transparent)]
    Parse(ParseError),
    /// A field has a value that is not allowed.
    #[error("config file {path}: field `{field}`: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, as a path (`members[1].name`).
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// A duration written as `250ms`, `30s`, `5m`, `1h`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Self(Duration::from_secs(s))),
            Raw::Text(t) => parse_duration(&t).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 250ms, 30s, 5m, 1h"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => {
            return Err(format!(
                "invalid duration {text:?}: the unit must be ms, s, m or h"
            ));
        }
    };
    Ok(d)
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Ownership settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnershipConfig {
    /// Label of the companion name holding ownership TXTs.
    pub txt_prefix: String,
    /// Take over names that hold records but no ownership record (Federation v1 leftovers).
    pub adopt: bool,
}

impl Default for OwnershipConfig {
    fn default() -> Self {
        Self {
            txt_prefix: DEFAULT_PREFIX.into(),
            adopt: false,
        }
    }
}

/// Safety settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// Largest share of owned record sets a plan may delete without `--force`.
    pub max_delete_share: f64,
    /// Deleting up to this many sets is never refused.
    pub min_guarded_deletes: usize,
    /// How long an unreachable member keeps its last known shards.
    pub member_grace: Dur,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            max_delete_share: 0.5,
            min_guarded_deletes: 10,
            member_grace: Dur(Duration::from_secs(300)),
        }
    }
}

/// Controller loop timing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    /// Quiet time after the last change before planning.
    pub debounce: Dur,
    /// Longest a burst may delay planning.
    pub max_debounce: Dur,
    /// How often the provider is re-listed to repair drift.
    pub verify_interval: Dur,
    /// How often snapshot files and the configuration file are checked for edits.
    pub file_poll: Dur,
    /// First delay before a failed member watch is retried (doubling, with jitter).
    pub watch_backoff: Dur,
    /// Longest delay between retries of a failed member watch.
    pub watch_backoff_max: Dur,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            debounce: Dur(Duration::from_millis(100)),
            max_debounce: Dur(Duration::from_secs(1)),
            verify_interval: Dur(Duration::from_secs(600)),
            file_poll: Dur(Duration::from_millis(250)),
            watch_backoff: Dur(Duration::from_secs(1)),
            watch_backoff_max: Dur(Duration::from_secs(60)),
        }
    }
}

/// The embedded DNS provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedProviderConfig {
    /// UDP and TCP address to serve the zone on.
    pub listen: SocketAddr,
}

/// Which DNS provider holds the zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ProviderConfig {
    /// The embedded authoritative server (local testing and demos).
    Embedded(EmbeddedProviderConfig),
    /// AWS Route53 (credentials from the AWS default chain: environment, profile, IRSA, IMDS).
    Route53(feddns_route53::Route53Config),
    /// Google Cloud DNS (credentials: a service-account file, or application default
    /// credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud, the metadata server / Workload
    /// Identity).
    Clouddns(feddns_clouddns::CloudDnsConfig),
    /// A primary server (BIND 9, Knot, ...) written with TSIG-signed RFC 2136 dynamic updates and
    /// listed by zone transfer.
    Rfc2136(feddns_rfc2136::Rfc2136Config),
}

/// How ingress hostnames are resolved where they must be.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// Name servers to ask (default: the system's).
    pub nameservers: Vec<SocketAddr>,
    /// Static answers, checked first (like /etc/hosts).
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
    /// Longest time a resolved address is kept before it is resolved again (default: the TTL).
    pub max_refresh: Option<Dur>,
}

/// Routing of the global and vanity names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// `plain` (one set of every healthy target) or `latency` (one latency set per region with
    /// healthy shards, on providers that have latency routing). Services override it with the
    /// `feddns.io/routing` annotation.
    pub policy: RoutingMode,
    /// Member region → AWS region, on top of the table that ships with feddns.
    pub regions: BTreeMap<String, String>,
    /// Member region → GCP location (Cloud DNS geo routing), on top of the shipped table.
    pub locations: BTreeMap<String, String>,
}

/// One member cluster: a name and exactly one source (`file`, `kubeconfig`/`context`, or
/// `in_cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// The member's name (a DNS label; used in logs, metrics and set identifiers).
    pub name: String,
    /// A YAML snapshot file of its Nodes, Services and EndpointSlices.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A kubeconfig file (default with `context` alone: `$KUBECONFIG`, else `~/.kube/config`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[serde(default)]
    pub context: Option<String>,
    /// The cluster feddns runs in, through its service account.
    #[serde(default)]
    pub in_cluster: bool,
    /// Set for members found by `discovery` (never read from the file).
    #[serde(skip)]
    pub discovered: Option<DiscoveredSource>,
}

/// A discovered member's source: where it was found and the kubeconfig it yields (or what is
/// wrong with the registry entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredSource {
    /// The registry object, e.g. `Secret kube-federation-system/cluster1`.
    pub origin: String,
    /// Kubeconfig YAML (its current context is used), or the problem.
    pub kubeconfig: Result<String, String>,
}

impl MemberConfig {
    /// A member found in a registry.
    pub fn discovered(d: &crate::members::discovery::Discovered) -> Self {
        Self {
            name: d.name.clone(),
            file: None,
            kubeconfig: None,
            context: None,
            in_cluster: false,
            discovered: Some(DiscoveredSource {
                origin: d.origin.clone(),
                kubeconfig: d.kubeconfig.clone(),
            }),
        }
    }
}

/// Where a member's state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberSource {
    /// A snapshot file, watched for edits.
    File(PathBuf),
    /// A Kubernetes API server from a kubeconfig.
    Kubeconfig {
        /// The file; `None` means `$KUBECONFIG` or `~/.kube/config`.
        path: Option<PathBuf>,
        /// The context; `None` means the file's current context.
        context: Option<String>,
    },
    /// The API server of the cluster feddns runs in.
    InCluster,
    /// A member found in the host cluster's registry.
    Discovered(DiscoveredSource),
}

impl MemberConfig {
    /// The member's source (the config is validated: exactly one is set).
    pub fn source(&self) -> MemberSource {
        if let Some(d) = &self.discovered {
            MemberSource::Discovered(d.clone())
        } else if let Some(f) = &self.file {
            MemberSource::File(f.clone())
        } else if self.in_cluster {
            MemberSource::InCluster
        } else {
            MemberSource::Kubeconfig {
                path: self.kubeconfig.clone(),
                context: self.context.clone(),
            }
        }
    }

    fn check_source(&self) -> Result<(), String> {
        let kube = self.kubeconfig.is_some() || self.context.is_some();
        match (self.file.is_some(), kube, self.in_cluster) {
            (true, false, false) | (false, true, false) | (false, false, true) => Ok(()),
            (false, false, false) => {
                Err("needs a source: `file`, `kubeconfig` (and/or `context`), or `in_cluster: true`".into())
            }
            _ => Err(
                "has more than one source: use only one of `file`, `kubeconfig`/`context` and `in_cluster`"
                    .into(),
            ),
        }
    }
}

/// How feddns reaches the cluster it runs in (the host cluster): by default its own service
/// account; a kubeconfig (and context) for running outside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// A kubeconfig file (default with `context` alone: `$KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    pub context: Option<String>,
    /// The service account of the pod feddns runs in (the default without a kubeconfig).
    pub in_cluster: bool,
}

impl HostConfig {
    /// The host cluster as a member source (for the shared client construction).
    pub fn as_member(&self) -> MemberConfig {
        let kube = self.kubeconfig.is_some() || self.context.is_some();
        MemberConfig {
            name: "host".into(),
            file: None,
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            in_cluster: !kube,
            discovered: None,
        }
    }
}

/// Leader election on a `coordination.k8s.io/v1` Lease in the host cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderElectionConfig {
    /// The Lease's name.
    pub lease: String,
    /// The Lease's namespace (default: `$POD_NAMESPACE`, else `default`).
    pub namespace: Option<String>,
    /// This replica's identity (default: `$POD_NAME`, else `<hostname>-<pid>`).
    pub identity: Option<String>,
    /// How long a lease holds without renewal; a crashed leader is replaced after this.
    pub lease_duration: Dur,
    /// How often the leader renews and the others try to acquire.
    pub renew_interval: Dur,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            lease: "feddns".into(),
            namespace: None,
            identity: None,
            lease_duration: Dur(Duration::from_secs(15)),
            renew_interval: Dur(Duration::from_secs(2)),
        }
    }
}

impl LeaderElectionConfig {
    /// The namespace of the Lease.
    pub fn namespace(&self) -> String {
        self.namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "default".into())
    }

    /// This replica's identity.
    pub fn identity(&self) -> String {
        self.identity
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "feddns".into());
                format!("{host}-{}", std::process::id())
            })
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        crate::federation::names::check_name("lease name", &self.lease)
            .map_err(|e| ("leader_election.lease", e.to_string()))?;
        if let Some(ns) = &self.namespace {
            check_label("namespace", ns).map_err(|e| ("leader_election.namespace", e.to_string()))?;
        }
        if self.identity.as_deref().is_some_and(str::is_empty) {
            return Err(("leader_election.identity", "must not be empty".into()));
        }
        if self.lease_duration.0 < Duration::from_secs(1) {
            return Err(("leader_election.lease_duration", "must be at least 1s".into()));
        }
        if self.renew_interval.0.is_zero() || self.renew_interval.0 * 2 > self.lease_duration.0 {
            return Err((
                "leader_election.renew_interval",
                format!(
                    "must be longer than zero and at most half of lease_duration ({})",
                    self.lease_duration
                ),
            ));
        }
        Ok(())
    }
}

/// The admin HTTP port.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address to serve `/metrics`, `/healthz`, `/readyz` and `/status` on.
    pub listen: SocketAddr,
}

/// Which Services are federated (on top of `type: LoadBalancer` and the `feddns.io/exclude`
/// annotation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// Only Services in these namespaces (default: all).
    pub namespaces: Vec<String>,
    /// Never Services in these namespaces.
    pub exclude_namespaces: Vec<String>,
    /// Only Services whose labels match this selector (`kubectl -l` syntax).
    pub selector: String,
}

impl ServicesConfig {
    /// The validated selection.
    pub fn selection(&self) -> Result<Selection, String> {
        for ns in self.namespaces.iter().chain(&self.exclude_namespaces) {
            check_label("namespace", ns).map_err(|e| e.to_string())?;
        }
        Ok(Selection {
            namespaces: self.namespaces.iter().cloned().collect(),
            exclude_namespaces: self.exclude_namespaces.iter().cloned().collect(),
            labels: LabelSelector::parse(&self.selector).map_err(|e| format!("selector {e}"))?,
            ..Selection::default()
        })
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Federation name (a DNS label).
    pub federation: String,
    /// DNS suffix: the zone.
    pub domain: String,
    /// Owner id written into ownership records (default `feddns-<federation>`).
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Default TTL.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// Ownership settings.
    #[serde(default)]
    pub ownership: OwnershipConfig,
    /// Safety settings.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// Loop timing.
    #[serde(default)]
    pub controller: ControllerConfig,
    /// The DNS provider.
    pub provider: ProviderConfig,
    /// Hostname resolution.
    #[serde(default)]
    pub resolver: ResolverConfig,
    /// Routing of global and vanity names.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Which Services are federated.
    #[serde(default)]
    pub services: ServicesConfig,
    /// What names are published for: `service` (LoadBalancer Services), `ingress` (hosts of
    /// Ingresses), `gateway` (hosts of Gateways and their routes). Default `[service]`.
    #[serde(default = "default_sources")]
    pub sources: Vec<SourceKind>,
    /// Member clusters listed by hand.
    #[serde(default)]
    pub members: Vec<MemberConfig>,
    /// The cluster feddns runs in, for discovery and leader election.
    #[serde(default)]
    pub host: HostConfig,
    /// Registries in the host cluster that members are discovered from, live.
    #[serde(default)]
    pub discovery: Vec<crate::members::discovery::RegistryConfig>,
    /// Leader election among replicas (absent: this instance always writes).
    #[serde(default)]
    pub leader_election: Option<LeaderElectionConfig>,
    /// The admin HTTP port (absent: none).
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// The file this was read from (members' relative paths are resolved against it).
    #[serde(skip)]
    pub source: PathBuf,
}

/// A member path from the config: `~/` is the home directory, relative paths are relative to the
/// configuration file's directory.
fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_path_buf()
    }
}

fn default_sources() -> Vec<SourceKind> {
    vec![SourceKind::Service]
}

fn default_ttl() -> u32 {
    DEFAULT_TTL
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Self = serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::Parse(parse_errors::yaml(format!("config file {}", path.display()), &e))
        })?;
        cfg.source = path.to_path_buf();
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        for m in &mut cfg.members {
            for path in [&mut m.file, &mut m.kubeconfig].into_iter().flatten() {
                *path = resolve_path(base, path);
            }
        }
        if let Some(path) = &mut cfg.host.kubeconfig {
            *path = resolve_path(base, path);
        }
        if let ProviderConfig::Clouddns(c) = &mut cfg.provider
            && let Some(path) = &mut c.credentials_file
        {
            *path = resolve_path(base, path);
        }
        if let ProviderConfig::Rfc2136(r) = &mut cfg.provider
            && let Some(path) = &mut r.tsig.secret_file
        {
            *path = resolve_path(base, path);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn invalid(&self, field: impl Into<String>, problem: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            path: self.source.clone(),
            field: field.into(),
            problem: problem.to_string(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        Naming::new(&self.federation, &self.domain).map_err(|e| {
            let field = if check_label("", &self.federation).is_err() {
                "federation"
            } else {
                "domain"
            };
            self.invalid(field, e)
        })?;
        let owner = self.owner_id();
        if owner.is_empty()
            || owner.len() > 63
            || !owner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self.invalid(
                "owner_id",
                format!("{owner:?} must be 1 to 63 characters of letters, digits, '-', '_' or '.'"),
            ));
        }
        if self.ttl == 0 || self.ttl > 2_147_483_647 {
            return Err(self.invalid(
                "ttl",
                format!("{} is out of range (1 to 2147483647 seconds)", self.ttl),
            ));
        }
        let p = &self.ownership.txt_prefix;
        if p.is_empty()
            || p.len() > 63
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(self.invalid(
                "ownership.txt_prefix",
                format!("{p:?} must be one DNS label of a-z, 0-9, '-' and '_'"),
            ));
        }
        if !p.starts_with('_') {
            return Err(self.invalid(
                "ownership.txt_prefix",
                format!("{p:?} must start with '_' so that it can never collide with a federated name"),
            ));
        }
        let share = self.safety.max_delete_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(self.invalid(
                "safety.max_delete_share",
                format!("{share} must be between 0 and 1"),
            ));
        }
        if self.controller.debounce.0 > self.controller.max_debounce.0 {
            return Err(self.invalid(
                "controller.debounce",
                "must not be longer than controller.max_debounce",
            ));
        }
        for (field, d) in [
            ("controller.verify_interval", self.controller.verify_interval),
            ("controller.file_poll", self.controller.file_poll),
            ("controller.watch_backoff", self.controller.watch_backoff),
        ] {
            if d.0.is_zero() {
                return Err(self.invalid(field, "must be longer than zero"));
            }
        }
        if self.members.is_empty() && !self.discovers() {
            return Err(self.invalid(
                "members",
                "at least one member is needed (or a `discovery` registry)",
            ));
        }
        if self.host.in_cluster && (self.host.kubeconfig.is_some() || self.host.context.is_some()) {
            return Err(self.invalid(
                "host",
                "has more than one source: use `kubeconfig`/`context` or `in_cluster: true`",
            ));
        }
        if let Some(le) = &self.leader_election {
            le.check().map_err(|(field, e)| self.invalid(field, e))?;
        }
        for (i, r) in self.discovery.iter().enumerate() {
            r.validate()
                .map_err(|e| self.invalid(format!("discovery[{i}]"), e))?;
        }
        let mut seen = BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            check_label("member name", &m.name).map_err(|e| self.invalid(format!("members[{i}].name"), e))?;
            m.check_source()
                .map_err(|e| self.invalid(format!("members[{i}]"), format!("member {:?} {e}", m.name)))?;
            if !seen.insert(&m.name) {
                return Err(self.invalid(
                    format!("members[{i}].name"),
                    format!("{:?} is used by two members", m.name),
                ));
            }
        }
        self.services
            .selection()
            .map_err(|e| self.invalid("services", e))?;
        if self.sources.is_empty() {
            return Err(self.invalid("sources", "must name at least one of service, ingress, gateway"));
        }
        let mut seen_sources = BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if !seen_sources.insert(s) {
                return Err(self.invalid(format!("sources[{i}]"), format!("{s} is listed twice")));
            }
        }
        if self.controller.watch_backoff.0 > self.controller.watch_backoff_max.0 {
            return Err(self.invalid(
                "controller.watch_backoff",
                "must not be longer than controller.watch_backoff_max",
            ));
        }
        match &self.provider {
            ProviderConfig::Route53(r) => r.validate().map_err(|e| self.invalid("provider.route53", e))?,
            ProviderConfig::Clouddns(c) => c.validate().map_err(|e| self.invalid("provider.clouddns", e))?,
            ProviderConfig::Rfc2136(r) => self.check_rfc2136(r)?,
            ProviderConfig::Embedded(_) => {}
        }
        for (field, map) in [
            ("regions", &self.routing.regions),
            ("locations", &self.routing.locations),
        ] {
            for (from, to) in map {
                if from.is_empty() || to.is_empty() {
                    return Err(self.invalid(
                        format!("routing.{field}.{from}"),
                        "region names must not be empty",
                    ));
                }
            }
        }
        for host in self.resolver.hosts.keys() {
            crate::federation::names::check_name("resolver host", &feddns_provider::normalize_name(host))
                .map_err(|e| self.invalid(format!("resolver.hosts.{host}"), e))?;
        }
        Ok(())
    }

    /// The RFC 2136 settings, the key they name (read now, so that a missing or malformed key
    /// file is a configuration error), and a zone that holds the domain.
    fn check_rfc2136(&self, r: &feddns_rfc2136::Rfc2136Config) -> Result<(), ConfigError> {
        r.load_key().map_err(|e| match e {
            feddns_rfc2136::Rfc2136Error::Config { field, problem } => {
                self.invalid(format!("provider.rfc2136.{field}"), problem)
            }
            other => self.invalid("provider.rfc2136", other),
        })?;
        let domain = feddns_provider::normalize_name(&self.domain);
        let zone = r.zone_or(&domain);
        if !feddns_provider::in_zone(&domain, &zone) {
            return Err(self.invalid(
                "provider.rfc2136.zone",
                format!("zone {zone} does not hold the domain {domain}"),
            ));
        }
        Ok(())
    }

    /// Whether members are discovered from the host cluster.
    pub fn discovers(&self) -> bool {
        !self.discovery.is_empty()
    }

    /// Whether anything needs the host cluster (discovery or leader election).
    pub fn needs_host(&self) -> bool {
        self.discovers() || self.leader_election.is_some()
    }

    /// The owner id written into ownership records.
    pub fn owner_id(&self) -> String {
        self.owner_id
            .clone()
            .unwrap_or_else(|| format!("feddns-{}", self.federation))
    }

    /// The validated selection: Services (and Ingresses, Gateways) and the kinds read.
    pub fn selection(&self) -> Selection {
        self.services
            .selection()
            .unwrap_or_else(|e| unreachable!("validated config: {e}"))
            .with_sources(self.sources.iter().copied())
    }

    /// Settings that differ from `other` and only take effect after a restart (everything but
    /// `members` and `services`, which are applied live).
    pub fn restart_needed(&self, other: &Self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut check = |name, a: String, b: String| {
            if a != b {
                fields.push(name);
            }
        };
        check("federation", self.federation.clone(), other.federation.clone());
        check("domain", self.domain.clone(), other.domain.clone());
        check("owner_id", self.owner_id(), other.owner_id());
        check("ttl", self.ttl.to_string(), other.ttl.to_string());
        check(
            "ownership",
            format!("{:?}", self.ownership),
            format!("{:?}", other.ownership),
        );
        check(
            "safety",
            format!("{:?}", self.safety),
            format!("{:?}", other.safety),
        );
        check(
            "controller",
            format!("{:?}", self.controller),
            format!("{:?}", other.controller),
        );
        check(
            "provider",
            format!("{:?}", self.provider),
            format!("{:?}", other.provider),
        );
        check(
            "resolver",
            format!("{:?}", self.resolver),
            format!("{:?}", other.resolver),
        );
        check(
            "routing",
            format!("{:?}", self.routing),
            format!("{:?}", other.routing),
        );
        check("host", format!("{:?}", self.host), format!("{:?}", other.host));
        check(
            "discovery",
            format!("{:?}", self.discovery),
            format!("{:?}", other.discovery),
        );
        check(
            "leader_election",
            format!("{:?}", self.leader_election),
            format!("{:?}", other.leader_election),
        );
        check("admin", format!("{:?}", self.admin), format!("{:?}", other.admin));
        fields
    }

    /// The validated federation naming.
    pub fn naming(&self) -> Naming {
        // Validated in `parse`; a Config is only built through it.
        Naming::new(&self.federation, &self.domain).unwrap_or_else(|e| unreachable!("validated config: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
federation: myfed
domain: Example.com.
provider:
  embedded: { listen: 127.0.0.1:5353 }
members:
  - { name: us, file: members/us.yaml }
  - { name: eu, file: /abs/eu.yaml }
";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/feddns/config.yaml"))
    }

    #[test]
    fn defaults_and_relative_member_paths() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.ttl, 180);
        assert_eq!(c.owner_id(), "feddns-myfed");
        assert_eq!(c.naming().suffix(), "example.com");
        assert_eq!(
            c.members[0].file.as_deref(),
            Some(Path::new("/etc/feddns/members/us.yaml"))
        );
        assert_eq!(c.members[1].file.as_deref(), Some(Path::new("/abs/eu.yaml")));
        assert_eq!(c.safety.member_grace.0, Duration::from_secs(300));
        assert_eq!(c.controller.debounce.0, Duration::from_millis(100));
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let cases = [
            (
                GOOD.replace("myfed", "my_fed"),
                "field `federation`",
                "underscores",
            ),
            (
                GOOD.replace("Example.com.", "exa mple.com"),
                "field `domain`",
                "RFC 1123",
            ),
            (
                GOOD.replace("name: eu", "name: us"),
                "field `members[1].name`",
                "used by two members",
            ),
            (
                GOOD.replace("name: eu", "name: EU"),
                "field `members[1].name`",
                "upper-case",
            ),
            (GOOD.to_string() + "ttl: 0\n", "field `ttl`", "out of range"),
            (
                GOOD.to_string() + "safety: { max_delete_share: 1.5 }\n",
                "safety.max_delete_share",
                "between 0 and 1",
            ),
            (
                GOOD.to_string() + "ownership: { txt_prefix: own }\n",
                "ownership.txt_prefix",
                "start with '_'",
            ),
            (
                GOOD.to_string() + "controller: { debounce: 5x }\n",
                "config.yaml",
                "unit must be",
            ),
            // The key is not shown (nothing of the text is); its line and column are.
            (
                GOOD.to_string() + "colour: blue\n",
                "config.yaml",
                &format!(
                    "line {}, column 1: unknown field, expected one of `federation`",
                    GOOD.lines().count() + 1
                ),
            ),
            (
                GOOD.replace("file: /abs/eu.yaml", "file: /abs/eu.yaml, in_cluster: true"),
                "field `members[1]`",
                "member \"eu\" has more than one source",
            ),
            (
                GOOD.replace(", file: /abs/eu.yaml", ""),
                "field `members[1]`",
                "member \"eu\" needs a source",
            ),
            (
                GOOD.to_string() + "services: { selector: 'app in (a' }\n",
                "field `services`",
                "'(' without ')'",
            ),
            (
                GOOD.to_string() + "services: { exclude_namespaces: [Kube_System] }\n",
                "field `services`",
                "namespace",
            ),
            (GOOD.replace("127.0.0.1:5353", "nowhere"), "config.yaml", ""),
        ];
        for (text, field, problem) in cases {
            let e = parse(&text).expect_err(&text).to_string();
            assert!(
                e.contains(field) && e.contains(problem),
                "{e:?} should name {field:?} and {problem:?}"
            );
        }
        let missing = parse("federation: f\ndomain: example.com\n")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("provider") || missing.contains("members"),
            "{missing}"
        );
    }

    #[test]
    fn kubernetes_members_and_service_selection() {
        let text = GOOD.replace(
            "  - { name: eu, file: /abs/eu.yaml }",
            "  - { name: eu, kubeconfig: kube/eu.yaml, context: eu-west }\n  - { name: ap, context: ap }\n  - { name: home, in_cluster: true }",
        ) + "services: { namespaces: [shop], exclude_namespaces: [kube-system], selector: 'app=web,env in (prod)' }\n";
        let c = parse(&text).unwrap();
        assert_eq!(
            c.members[1].source(),
            MemberSource::Kubeconfig {
                path: Some(PathBuf::from("/etc/feddns/kube/eu.yaml")),
                context: Some("eu-west".into())
            }
        );
        assert_eq!(
            c.members[2].source(),
            MemberSource::Kubeconfig {
                path: None,
                context: Some("ap".into())
            }
        );
        assert_eq!(c.members[3].source(), MemberSource::InCluster);
        let sel = c.selection();
        assert_eq!(sel.labels.to_string(), "app=web,env in (prod)");
        assert!(sel.namespace_selected("shop") && !sel.namespace_selected("kube-system"));
        assert!(c.restart_needed(&c).is_empty());
        let other = parse(&text.replace("ttl: 180", "").replace("myfed", "otherfed")).unwrap();
        assert_eq!(c.restart_needed(&other), ["federation", "owner_id"]);
    }

    #[test]
    fn sources_default_to_services_and_are_checked() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.sources, [SourceKind::Service]);
        assert_eq!(c.selection(), Selection::default());
        let c = parse(&format!("{GOOD}sources: [service, ingress, gateway]\n")).unwrap();
        let sel = c.selection();
        assert!(
            sel.reads(SourceKind::Service)
                && sel.reads(SourceKind::Ingress)
                && sel.reads(SourceKind::Gateway)
        );
        // Applied live, like `services`: no restart.
        assert!(parse(GOOD).unwrap().restart_needed(&c).is_empty());
        let c = parse(&format!("{GOOD}sources: [ingress]\n")).unwrap();
        assert!(!c.selection().reads(SourceKind::Service));
        for (bad, want) in [
            (
                "sources: []\n",
                "field `sources`: must name at least one of service, ingress, gateway",
            ),
            (
                "sources: [ingress, ingress]\n",
                "field `sources[1]`: ingress is listed twice",
            ),
        ] {
            let e = parse(&format!("{GOOD}{bad}")).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("/etc/feddns/config.yaml"), "{e}");
        }
        let e = parse(&format!("{GOOD}sources: [service, routes]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 9, column 20") && e.contains("expected one of `service`, `ingress`, `gateway`"),
            "{e}"
        );
    }

    #[test]
    fn route53_provider_and_latency_routing() {
        let text = GOOD.replace(
            "embedded: { listen: 127.0.0.1:5353 }",
            "route53: { zone_name: example.com, requests_per_second: 2 }",
        ) + "routing: { policy: latency, regions: { dc-1: eu-central-1 } }\n";
        let c = parse(&text).unwrap();
        match &c.provider {
            ProviderConfig::Route53(r) => {
                assert_eq!(r.zone_name.as_deref(), Some("example.com"));
                assert_eq!(r.requests_per_second, 2.0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.routing.policy, RoutingMode::Latency);
        let no_zone = GOOD.replace(
            "embedded: { listen: 127.0.0.1:5353 }",
            "route53: { requests_per_second: 2 }",
        );
        let e = parse(&no_zone).unwrap_err().to_string();
        assert!(
            e.contains("field `provider.route53`") && e.contains("zone_id or zone_name"),
            "{e}"
        );
        // The value is not shown (values may be credentials); the line and column point at it.
        let bad_policy = GOOD.to_string() + "routing: { policy: fastest }\n";
        let e = parse(&bad_policy).unwrap_err().to_string();
        let line = GOOD.lines().count() + 1;
        assert_eq!(
            e,
            format!(
                "config file /etc/feddns/config.yaml: line {line}, column 20: unknown variant, expected one of `plain`, `latency`"
            )
        );
    }

    #[test]
    fn rfc2136_provider_fields_and_key_file_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let with = |rfc2136: &str| {
            GOOD.replace(
                "embedded: { listen: 127.0.0.1:5353 }",
                &format!("rfc2136: {rfc2136}"),
            )
        };
        let load = |text: String| Config::parse(&text, &path);
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/tsig.key"), "c2VjcmV0LXRzaWcta2V5LTk0MzE=\n").unwrap();
        let c = load(with(
            "{ server: 127.0.0.1:5353, tsig: { name: feddns-key, secret_file: keys/tsig.key } }",
        ))
        .unwrap();
        match &c.provider {
            ProviderConfig::Rfc2136(r) => {
                assert_eq!(
                    r.tsig.secret_file.as_deref(),
                    Some(dir.path().join("keys/tsig.key").as_path())
                );
                assert_eq!(r.zone_or(&c.domain), "example.com");
                assert_eq!(r.max_changes_per_update, 500);
            }
            other => panic!("{other:?}"),
        }
        let field = |text: String| match load(text).unwrap_err() {
            ConfigError::Invalid { field, problem, .. } => (field, problem),
            other => panic!("{other}"),
        };
        let (f, p) = field(with(
            "{ server: 127.0.0.1:5353, tsig: { name: k, secret_file: keys/missing.key } }",
        ));
        assert_eq!(f, "provider.rfc2136.tsig.secret_file");
        assert!(p.contains("keys/missing.key"), "{p}");
        std::fs::write(dir.path().join("keys/bad.key"), "not base64!\n").unwrap();
        let (f, p) = field(with(
            "{ server: 127.0.0.1:5353, tsig: { name: k, secret_file: keys/bad.key } }",
        ));
        assert_eq!(f, "provider.rfc2136.tsig.secret_file");
        assert!(p.contains("bad.key") && p.contains("not base64"), "{p}");
        let (f, _) = field(with(
            "{ server: 127.0.0.1:5353, tsig: { name: k, secret: c2VjcmV0LXRzaWcta2V5LTk0MzE=, secret_env: X } }",
        ));
        assert_eq!(f, "provider.rfc2136.tsig");
        let (f, _) = field(with(
            "{ server: 127.0.0.1:5353, tsig: { name: k, secret_env: FEDDNS_TEST_UNSET_TSIG } }",
        ));
        assert_eq!(f, "provider.rfc2136.tsig.secret_env");
        let (f, _) = field(with(
            "{ server: 'a b', tsig: { name: k, secret_file: keys/tsig.key } }",
        ));
        assert_eq!(f, "provider.rfc2136.server");
        let (f, p) = field(with(
            "{ server: ns1, zone: example.org, tsig: { name: k, secret_file: keys/tsig.key } }",
        ));
        assert_eq!(f, "provider.rfc2136.zone");
        assert!(p.contains("example.org") && p.contains("example.com"), "{p}");
        // A parent zone holds the domain.
        load(with(
            "{ server: ns1, zone: com, tsig: { name: k, secret_file: keys/tsig.key } }",
        ))
        .unwrap();
        let (f, _) = field(with(
            "{ server: ns1, max_changes_per_update: 0, tsig: { name: k, secret_file: keys/tsig.key } }",
        ));
        assert_eq!(f, "provider.rfc2136.max_changes_per_update");
        // The secret never shows, not even in the restart check's rendering.
        let inline = load(with(
            "{ server: ns1, tsig: { name: k, secret: c2VjcmV0LXRzaWcta2V5LTk0MzE= } }",
        ))
        .unwrap();
        assert!(!format!("{:?}", inline.provider).contains("c2VjcmV0"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5 days").is_err());
    }
}
