//! The planner: the record sets a Service should have, from the index alone. Pure.
//!
//! * Every member that has the Service as a federated LoadBalancer with ingress *participates*:
//!   it gets zone names for each of its zones and a region name for its region, whether its
//!   endpoints are ready or not (Federation v1 after kubernetes-retired/federation#175). A
//!   LoadBalancer still waiting for its ingress does not participate.
//! * A name's targets are the ingress entries of the *healthy* shards of its level.
//! * IPs become A/AAAA sets; a single hostname a CNAME. Several hostnames become weighted CNAME
//!   sets where the provider has weighted routing; otherwise (and when mixed with IPs) they are
//!   resolved at the edge and written as addresses. A name whose hostnames are not resolved yet is
//!   *held*: left as it is.
//! * No targets: zone → CNAME to the region name, region → CNAME to the global name, global → no
//!   record. A Service no member has any more gets no names at all.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use feddns_provider::{Capabilities, RecordSet, RecordType, Routing};

use crate::index::{Index, Member};
use crate::model::{ServiceKey, ServiceProj, Target};
use crate::names::{Level, Naming};

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

/// The desired state of one Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredService {
    /// The Service.
    pub key: ServiceKey,
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
}

/// Plans one Service.
pub fn desired(
    index: &Index,
    key: &ServiceKey,
    cfg: &PlannerConfig,
    hosts: &dyn HostLookup,
) -> DesiredService {
    let mut out = DesiredService {
        key: key.clone(),
        ..DesiredService::default()
    };
    let participants: Vec<(&str, &Member, &ServiceProj)> = index
        .shards(key)
        .filter_map(|(name, m)| {
            m.service(key)
                .filter(|s| s.federated && !s.ingress.is_empty())
                .map(|s| (name, m, s))
        })
        .collect();
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

    // Which levels exist, and the healthy shards of each.
    let mut levels: BTreeMap<Level, Vec<(&str, &ServiceProj)>> = BTreeMap::new();
    for (name, m, svc) in &participants {
        let healthy = m.is_healthy(key);
        let mut add = |level: Level| {
            let shards = levels.entry(level).or_default();
            if healthy {
                shards.push((*name, *svc));
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
        match render(&name, ttl, shards, cfg.capabilities, hosts, &mut out.hostnames) {
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
    out
}

enum Rendered {
    Sets(Vec<RecordSet>),
    Pending,
    Empty,
}

fn render(
    name: &str,
    ttl: u32,
    shards: &[(&str, &ServiceProj)],
    caps: Capabilities,
    hosts: &dyn HostLookup,
    used_hosts: &mut BTreeSet<String>,
) -> Rendered {
    let mut ips: BTreeSet<IpAddr> = BTreeSet::new();
    let mut hostnames: BTreeSet<&str> = BTreeSet::new();
    for (_, svc) in shards {
        for t in &svc.ingress {
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
        return Rendered::Sets(vec![RecordSet::new(name, RecordType::Cname, ttl, [host])]);
    }
    if !hostnames.is_empty() && ips.is_empty() && caps.weighted {
        let mut sets = Vec::new();
        for (member, svc) in shards {
            let hs: Vec<&str> = svc
                .ingress
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
