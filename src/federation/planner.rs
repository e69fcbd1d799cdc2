//! The planner: the record sets a Service should have, from the index alone. Pure.
//!
//! * Every member that has the Service as a federated LoadBalancer with ingress *participates*:
//!   it gets zone names for each of its zones and a region name for its region, whether its
//!   endpoints are ready or not (Federation v1 after kubernetes-retired/federation#175). A
//!   LoadBalancer still waiting for its ingress does not participate.
//! * A name's targets are the ingress entries of the *healthy* shards of its level.
//! * IPs become A/AAAA sets; a single hostname a CNAME. Several hostnames become weighted CNAME
//!   sets where the provider has weighted routing; otherwise (and when mixed with IPs) they are
//!   resolved at the edge and written as addresses. Where the provider has weighted routing and
//!   aliases (Route53), load balancer hostnames mixed with IPs become weighted alias A sets, one
//!   per shard, instead of being resolved. A name whose hostnames are not resolved yet is
//!   *held*: left as it is.
//! * No targets: zone → CNAME to the region name, region → CNAME to the global name, global → no
//!   record. A Service no member has any more gets no names at all.
//! * A host of Ingresses and Gateways is one name, planned like a Service's global name: the
//!   addresses of every member where it is healthy, merged (latency or geo sets with
//!   `routing: latency`); nothing when it is healthy nowhere. A host outside the zone, or a
//!   wildcard host on a provider without wildcard names, is reported and skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use feddns_provider::{Capabilities, RecordSet, RecordType, Routing};

use crate::federation::hosts::{HostShard, is_wildcard};
use crate::federation::index::{Index, Member};
use crate::federation::model::{HostSource, RoutingMode, ServiceKey, ServiceProj, Subject, Target};
use crate::federation::names::{Level, Naming};
use crate::federation::regions::{RegionMap, elb_alias};

/// Federation v1's TTL: the default for every record.
pub const DEFAULT_TTL: u32 = 180;

/// What the planner needs besides the index.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    /// Federation naming.
    pub naming: Naming,
    /// TTL when a Service sets none.
    pub default_ttl: u32,
    /// What the provider can represent.
    pub capabilities: Capabilities,
    /// Routing of global and vanity names when a Service does not choose.
    pub routing: RoutingMode,
    /// Member region → provider region, for latency routing.
    pub regions: Arc<RegionMap>,
}

impl PlannerConfig {
    /// Plain routing, the shipped region table.
    pub fn new(naming: Naming, default_ttl: u32, capabilities: Capabilities) -> Self {
        Self {
            naming,
            default_ttl,
            capabilities,
            routing: RoutingMode::Plain,
            regions: Arc::new(RegionMap::default()),
        }
    }
}

/// The answer of a hostname lookup made at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Not resolved yet.
    Pending,
    /// Resolved (possibly to nothing).
    Resolved(&'a [IpAddr]),
}

/// Resolved addresses of ingress hostnames, as known now.
pub trait HostLookup {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> Lookup<'_>;
}

/// No resolver: every hostname is pending.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookup;

impl HostLookup for NoLookup {
    fn lookup(&self, _host: &str) -> Lookup<'_> {
        Lookup::Pending
    }
}

impl HostLookup for BTreeMap<String, Vec<IpAddr>> {
    fn lookup(&self, host: &str) -> Lookup<'_> {
        self.get(host).map_or(Lookup::Pending, |v| Lookup::Resolved(v))
    }
}

/// The desired state of one Service or host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// The Service or host.
    pub key: Subject,
    /// Each wanted name with its record sets (A/AAAA, or CNAME).
    pub names: BTreeMap<String, Vec<RecordSet>>,
    /// Names to leave as they are (targets not known yet).
    pub held: BTreeSet<String>,
    /// Hostnames whose resolution these records depend on.
    pub hostnames: BTreeSet<String>,
    /// The TTL of this Service's records.
    pub ttl: u32,
    /// Problems found (invalid names, ...); the affected names are skipped.
    pub problems: Vec<String>,
    /// For a host: the object its ownership record names (the first that serves it).
    pub source: Option<HostSource>,
}

impl DesiredService {
    /// Nothing wanted yet for `key`.
    pub fn new(key: Subject) -> Self {
        Self {
            key,
            names: BTreeMap::new(),
            held: BTreeSet::new(),
            hostnames: BTreeSet::new(),
            ttl: 0,
            problems: Vec::new(),
            source: None,
        }
    }
}

/// Plans one Service or host.
pub fn desired_subject(
    index: &Index,
    subject: &Subject,
    cfg: &PlannerConfig,
    hosts: &dyn HostLookup,
) -> DesiredService {
    match subject {
        Subject::Service(key) => desired(index, key, cfg, hosts),
        Subject::Host(host) => desired_host(index, host, cfg, hosts),
    }
}

/// How the global name (or a host) is routed: from the first participant that says, else the
/// federation's policy; latency routing needs a provider that has latency or geo sets.
fn routed_by(
    mode: RoutingMode,
    cfg: &PlannerConfig,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<RoutedBy> {
    if mode != RoutingMode::Latency {
        None
    } else if cfg.capabilities.latency {
        Some(RoutedBy::Latency)
    } else if cfg.capabilities.geo {
        Some(RoutedBy::Geo)
    } else {
        problems.push(format!(
            "{what}: latency routing is not supported by this provider; plain records written"
        ));
        None
    }
}

/// Plans one host of Ingresses and Gateways: one name, with the addresses of every member where
/// it is healthy.
pub fn desired_host(
    index: &Index,
    host: &str,
    cfg: &PlannerConfig,
    lookup: &dyn HostLookup,
) -> DesiredService {
    let mut out = DesiredService::new(Subject::Host(feddns_provider::DnsName::intern(host)));
    let participants: Vec<(&str, &Member, &HostShard)> = index
        .host_shards(host)
        .filter_map(|(name, m)| m.host(host).map(|h| (name, m, h)))
        .collect();
    for (member, _, shard) in &participants {
        out.problems
            .extend(shard.problems.iter().map(|p| format!("member {member}: {p}")));
    }
    if participants.is_empty() {
        return out;
    }
    out.source = participants
        .iter()
        .flat_map(|(_, _, h)| h.sources.iter().map(|s| &s.source))
        .min()
        .cloned();
    let what = format!("host {host}");
    let behind = || {
        participants
            .iter()
            .map(|(member, _, shard)| {
                let objects: Vec<String> = shard.sources.iter().map(|s| s.source.to_string()).collect();
                format!("{} in {member}", objects.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let zone = cfg.naming.suffix();
    if !feddns_provider::in_zone(host, zone) {
        out.problems.push(format!(
            "{what} ({}) is not in the zone {zone}; skipped",
            behind()
        ));
        return out;
    }
    let wildcard = is_wildcard(host);
    if wildcard && !cfg.capabilities.wildcard {
        out.problems.push(format!(
            "{what} ({}) is a wildcard, and this provider cannot hold wildcard names; skipped",
            behind()
        ));
        return out;
    }
    let checked = if wildcard { &host[2..] } else { host };
    if let Err(e) = crate::federation::names::check_name("host", checked) {
        out.problems.push(format!("{what} ({}): {e}; skipped", behind()));
        return out;
    }
    let ttl = participants
        .iter()
        .filter_map(|(_, _, h)| h.ttl)
        .min()
        .unwrap_or(cfg.default_ttl);
    out.ttl = ttl;
    let mode = participants
        .iter()
        .find_map(|(_, _, h)| h.routing)
        .unwrap_or(cfg.routing);
    let routed = routed_by(mode, cfg, &what, &mut out.problems);
    let shards: Vec<Shard<'_>> = participants
        .iter()
        .map(|(member, m, h)| Shard {
            member,
            healthy: m.is_host_healthy(host),
            region: m.topology.region.as_deref(),
            targets: &h.targets,
        })
        .collect();
    // The apex cannot hold a CNAME: hostnames are resolved (or aliased) there.
    let apex = host == zone;
    let rendered = match routed {
        Some(by) => render_routed(by, host, ttl, &what, &shards, cfg, lookup, &mut out),
        None => {
            let healthy: Vec<(&str, &[Target])> = shards
                .iter()
                .filter(|s| s.healthy)
                .map(|s| (s.member, s.targets))
                .collect();
            let opts = RenderOpts {
                cname: !apex,
                weighted: cfg.capabilities.weighted && !apex,
                alias: cfg.capabilities.alias,
            };
            render(host, ttl, &healthy, opts, lookup, &mut out.hostnames)
        }
    };
    match rendered {
        Rendered::Sets(sets) => {
            out.names.insert(host.to_string(), sets);
        }
        Rendered::Pending => {
            out.held.insert(host.to_string());
        }
        Rendered::Empty => {}
    }
    out
}

/// A member's part in a routed name: its targets, whether they count, and its region.
struct Shard<'a> {
    member: &'a str,
    healthy: bool,
    region: Option<&'a str>,
    targets: &'a [Target],
}

/// Plans one Service.
pub fn desired(
    index: &Index,
    key: &ServiceKey,
    cfg: &PlannerConfig,
    hosts: &dyn HostLookup,
) -> DesiredService {
    let mut out = DesiredService::new(Subject::Service(key.clone()));
    let participants: Vec<(&str, &Member, &ServiceProj)> = index
        .shards(key)
        .filter_map(|(name, m)| {
            m.service(key)
                .filter(|s| s.federated && !s.ingress.is_empty())
                .map(|s| (name, m, s))
        })
        .collect();
    for (member, _, svc) in &participants {
        out.problems
            .extend(svc.problems.iter().map(|p| format!("member {member}: {p}")));
    }
    if participants.is_empty() {
        return out;
    }
    let prefix = match cfg.naming.prefix(key) {
        Ok(p) => p,
        Err(e) => {
            out.problems.push(format!("service {key} skipped: {e}"));
            return out;
        }
    };
    let ttl = participants
        .iter()
        .filter_map(|(_, _, s)| s.options.ttl)
        .min()
        .unwrap_or(cfg.default_ttl);
    out.ttl = ttl;
    let mode = participants
        .iter()
        .find_map(|(_, _, s)| s.options.routing)
        .unwrap_or(cfg.routing);
    let routed = routed_by(mode, cfg, &format!("service {key}"), &mut out.problems);
    let plain = RenderOpts {
        cname: true,
        weighted: cfg.capabilities.weighted,
        alias: cfg.capabilities.alias,
    };
    let mut global: Option<Rendered> = None;

    // Which levels exist, and the healthy shards of each.
    let mut levels: BTreeMap<Level, Vec<(&str, &[Target])>> = BTreeMap::new();
    for (name, m, svc) in &participants {
        let healthy = m.is_healthy(key);
        let mut add = |level: Level| {
            let shards = levels.entry(level).or_default();
            if healthy {
                shards.push((*name, &*svc.ingress));
            }
        };
        add(Level::Global);
        if let Some(region) = &m.topology.region {
            add(Level::Region {
                region: region.clone(),
            });
            for zone in &m.topology.zones {
                add(Level::Zone {
                    zone: zone.clone(),
                    region: region.clone(),
                });
            }
        }
    }

    for (level, shards) in &levels {
        let name = match cfg.naming.name(&prefix, level) {
            Ok(n) => n,
            Err(e) => {
                out.problems
                    .push(format!("service {key}: {level} name skipped: {e}"));
                continue;
            }
        };
        let rendered = if let (Level::Global, Some(by)) = (level, routed) {
            let shards: Vec<Shard<'_>> = participants
                .iter()
                .map(|(member, m, svc)| Shard {
                    member,
                    healthy: m.is_healthy(key),
                    region: m.topology.region.as_deref(),
                    targets: &svc.ingress,
                })
                .collect();
            render_routed(
                by,
                &name,
                ttl,
                &format!("service {key}"),
                &shards,
                cfg,
                hosts,
                &mut out,
            )
        } else {
            render(&name, ttl, shards, plain, hosts, &mut out.hostnames)
        };
        if *level == Level::Global {
            global = Some(rendered.clone());
        }
        match rendered {
            Rendered::Sets(sets) => {
                out.names.insert(name, sets);
            }
            Rendered::Pending => {
                out.held.insert(name);
            }
            Rendered::Empty => {
                let up = match level {
                    Level::Zone { region, .. } => Some(Level::Region {
                        region: region.clone(),
                    }),
                    Level::Region { .. } => Some(Level::Global),
                    Level::Global => None,
                };
                if let Some(up) = up {
                    match cfg.naming.name(&prefix, &up) {
                        Ok(target) => {
                            out.names.insert(
                                name.clone(),
                                vec![RecordSet::new(&name, RecordType::Cname, ttl, [target])],
                            );
                        }
                        Err(e) => out
                            .problems
                            .push(format!("service {key}: {level} fall-back skipped: {e}")),
                    }
                }
            }
        }
    }
    let vanity: BTreeSet<&String> = participants
        .iter()
        .flat_map(|(_, _, s)| &s.options.hostnames)
        .collect();
    for v in vanity {
        if let Err(e) = crate::federation::names::check_name("vanity hostname", v) {
            out.problems.push(format!("service {key}: {e}; skipped"));
            continue;
        }
        if !feddns_provider::in_zone(v, cfg.naming.suffix()) || v == cfg.naming.suffix() {
            out.problems.push(format!(
                "service {key}: vanity hostname {v} is not below the zone {}; skipped",
                cfg.naming.suffix()
            ));
            continue;
        }
        match &global {
            Some(Rendered::Sets(sets)) => {
                let renamed = sets
                    .iter()
                    .map(|s| RecordSet {
                        name: v.as_str().into(),
                        ..s.clone()
                    })
                    .collect();
                out.names.insert(v.clone(), renamed);
            }
            Some(Rendered::Pending) => {
                out.held.insert(v.clone());
            }
            Some(Rendered::Empty) | None => {}
        }
    }
    out
}

/// How the global and vanity names are routed in latency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoutedBy {
    /// Route53 latency sets: one per AWS region from the latency table (member regions that map
    /// to one AWS region share its set: Route53 allows one latency set per Region for a name and
    /// type), set identifier = that AWS region.
    Latency,
    /// Cloud DNS geo items: one per GCP location (member regions that map to one location share
    /// it), set identifier = the location.
    Geo,
}

/// The routed sets of a name, per AWS region (latency) or per GCP location (geo), from the
/// healthy shards only. Member regions that map to one AWS region or location share its sets,
/// their targets merged. `what` names the Service or host in problems.
#[allow(clippy::too_many_arguments)]
fn render_routed(
    by: RoutedBy,
    name: &str,
    ttl: u32,
    what: &str,
    participants: &[Shard<'_>],
    cfg: &PlannerConfig,
    hosts: &dyn HostLookup,
    out: &mut DesiredService,
) -> Rendered {
    // Set identifier → (routing, shards).
    type Group<'a> = (Routing, Vec<(&'a str, &'a [Target])>);
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for shard in participants.iter().filter(|s| s.healthy) {
        let member = shard.member;
        let Some(region) = shard.region else {
            out.problems.push(format!(
                "{what}: member {member} has no region label; left out of the routed sets of {name}"
            ));
            continue;
        };
        let routing = match by {
            RoutedBy::Latency => cfg.regions.aws_region(region).map(|aws| Routing::Latency {
                set_id: aws.to_string(),
                region: aws.to_string(),
            }),
            RoutedBy::Geo => cfg.regions.geo_location(region).map(|loc| Routing::Geo {
                set_id: loc.to_string(),
                location: loc.to_string(),
            }),
        };
        let Some(routing) = routing else {
            let (kind, field) = match by {
                RoutedBy::Latency => ("latency region", "routing.regions"),
                RoutedBy::Geo => ("geo location", "routing.locations"),
            };
            out.problems.push(format!(
                "{what}: region {region} has no {kind} (add it to {field}); left out of {name}"
            ));
            continue;
        };
        groups
            .entry(routing.set_id().to_string())
            .or_insert_with(|| (routing, Vec::new()))
            .1
            .push((member, shard.targets));
    }
    // A CNAME cannot share its name with A sets of other regions: CNAMEs only when every region
    // answers with one hostname, otherwise hostnames are resolved. Likewise a latency set has one
    // alias target at most: a region whose members answer with one ELB hostname gets an alias
    // set, one with several hostnames (members behind different load balancers) or hostnames
    // and IPs gets their addresses, resolved.
    let single_host = |shards: &[(&str, &[Target])]| {
        let targets: BTreeSet<&Target> = shards.iter().flat_map(|(_, t)| *t).collect();
        targets.len() == 1 && targets.iter().all(|t| matches!(t, Target::Hostname(_)))
    };
    let opts = RenderOpts {
        cname: name != cfg.naming.suffix() && groups.values().all(|(_, s)| single_host(s)),
        weighted: false,
        alias: by == RoutedBy::Latency && cfg.capabilities.alias,
    };
    let mut sets = Vec::new();
    for (routing, shards) in groups.values() {
        match render(name, ttl, shards, opts, hosts, &mut out.hostnames) {
            Rendered::Pending => return Rendered::Pending,
            Rendered::Empty => {}
            Rendered::Sets(s) => sets.extend(s.into_iter().map(|s| s.with_routing(routing.clone()))),
        }
    }
    if sets.is_empty() {
        Rendered::Empty
    } else {
        Rendered::Sets(sets)
    }
}

/// What `render` may produce.
#[derive(Debug, Clone, Copy)]
struct RenderOpts {
    /// A lone hostname becomes a CNAME.
    cname: bool,
    /// Several hostnames become weighted sets.
    weighted: bool,
    /// ELB hostnames may become alias A sets.
    alias: bool,
}

/// One weighted set per shard and type: its IPv4 and IPv6 addresses, and each of its load
/// balancer hostnames as an alias A set. Set identifiers are the member name, suffixed where a
/// member needs several sets of one type.
fn weighted_with_aliases(name: &str, ttl: u32, shards: &[(&str, &[Target])]) -> Vec<RecordSet> {
    let mut sets = Vec::new();
    for (member, targets) in shards {
        let mut ids: BTreeMap<RecordType, usize> = BTreeMap::new();
        let mut next_id = |t: RecordType| {
            let n = ids.entry(t).or_default();
            *n += 1;
            if *n == 1 {
                (*member).to_string()
            } else {
                format!("{member}-{n}")
            }
        };
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = targets
            .iter()
            .filter_map(|t| if let Target::Ip(ip) = t { Some(*ip) } else { None })
            .partition(IpAddr::is_ipv4);
        for (rtype, ips) in [(RecordType::A, v4), (RecordType::Aaaa, v6)] {
            if !ips.is_empty() {
                let set_id = next_id(rtype.clone());
                sets.push(
                    RecordSet::new(name, rtype, ttl, ips.iter().map(ToString::to_string))
                        .with_routing(Routing::Weighted { set_id, weight: 1 }),
                );
            }
        }
        for t in *targets {
            if let Target::Hostname(h) = t
                && let Some(alias) = elb_alias(h)
            {
                let set_id = next_id(RecordType::A);
                sets.push(
                    RecordSet::new(name, RecordType::A, ttl, [])
                        .with_alias(alias)
                        .with_routing(Routing::Weighted { set_id, weight: 1 }),
                );
            }
        }
    }
    sets
}

#[derive(Debug, Clone)]
enum Rendered {
    Sets(Vec<RecordSet>),
    Pending,
    Empty,
}

fn render(
    name: &str,
    ttl: u32,
    shards: &[(&str, &[Target])],
    opts: RenderOpts,
    hosts: &dyn HostLookup,
    used_hosts: &mut BTreeSet<String>,
) -> Rendered {
    let mut ips: BTreeSet<IpAddr> = BTreeSet::new();
    let mut hostnames: BTreeSet<&str> = BTreeSet::new();
    for (_, targets) in shards {
        for t in *targets {
            match t {
                Target::Ip(ip) => {
                    ips.insert(*ip);
                }
                Target::Hostname(h) => {
                    hostnames.insert(h);
                }
            }
        }
    }
    if hostnames.len() == 1 && ips.is_empty() {
        let host = hostnames.first().map(|h| (*h).to_string()).unwrap_or_default();
        if opts.cname {
            return Rendered::Sets(vec![RecordSet::new(name, RecordType::Cname, ttl, [host])]);
        }
        if let Some(alias) = elb_alias(&host).filter(|_| opts.alias) {
            return Rendered::Sets(vec![
                RecordSet::new(name, RecordType::A, ttl, []).with_alias(alias),
            ]);
        }
    }
    // Several targets with ELB hostnames among them: one weighted set per shard and type, the
    // load balancers as alias A sets, so nothing is resolved and frozen.
    let all_elb = hostnames.iter().all(|h| elb_alias(h).is_some());
    if !hostnames.is_empty()
        && opts.weighted
        && opts.alias
        && all_elb
        && (hostnames.len() > 1 || !ips.is_empty())
    {
        return Rendered::Sets(weighted_with_aliases(name, ttl, shards));
    }
    if !hostnames.is_empty() && ips.is_empty() && opts.weighted {
        let mut sets = Vec::new();
        for (member, targets) in shards {
            let hs: Vec<&str> = targets
                .iter()
                .filter_map(|t| {
                    if let Target::Hostname(h) = t {
                        Some(h.as_str())
                    } else {
                        None
                    }
                })
                .collect();
            for (i, h) in hs.iter().enumerate() {
                let set_id = if hs.len() == 1 {
                    (*member).to_string()
                } else {
                    format!("{member}-{i}")
                };
                sets.push(
                    RecordSet::new(name, RecordType::Cname, ttl, [(*h).to_string()])
                        .with_routing(Routing::Weighted { set_id, weight: 1 }),
                );
            }
        }
        return Rendered::Sets(sets);
    }
    let mut pending = false;
    for h in hostnames {
        used_hosts.insert(h.to_string());
        match hosts.lookup(h) {
            Lookup::Pending => pending = true,
            Lookup::Resolved(addrs) => ips.extend(addrs.iter().copied()),
        }
    }
    if pending {
        return Rendered::Pending;
    }
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = ips.into_iter().partition(IpAddr::is_ipv4);
    let mut sets = Vec::new();
    if !v4.is_empty() {
        sets.push(RecordSet::new(
            name,
            RecordType::A,
            ttl,
            v4.iter().map(ToString::to_string),
        ));
    }
    if !v6.is_empty() {
        sets.push(RecordSet::new(
            name,
            RecordType::Aaaa,
            ttl,
            v6.iter().map(ToString::to_string),
        ));
    }
    if sets.is_empty() {
        Rendered::Empty
    } else {
        Rendered::Sets(sets)
    }
}
