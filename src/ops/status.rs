//! `feddns status`: what a person asks first. Members (synced or down, zones, region, the last
//! error) and, for each federated Service, which members hold a healthy shard and what its names
//! point to. Built by the running controller from its index and provider cache (pure), served
//! as JSON on the admin port's `/status`, and rendered as a table by the CLI. Hosts of Ingresses
//! and Gateways are shown with the members and objects behind them, and a member whose Ingress or
//! Gateway API kinds cannot be read (a CRD not installed, RBAC) says which.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::federation::diff::ZoneCache;
use crate::federation::hosts::{HostMember, host_report};
use crate::federation::index::{Index, MemberStatus};
use crate::federation::model::{ServiceKey, Subject};

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Federation name.
    pub federation: String,
    /// The zone.
    pub zone: String,
    /// Provider kind.
    pub provider: String,
    /// Whether this replica writes: `None` without leader election (it always does).
    pub leader: Option<bool>,
    /// Whether every member has reported (deletions are allowed).
    pub settled: bool,
    /// Whether this replica has listed the zone: a follower does not (it makes no provider
    /// call until it leads), so it shows no records.
    #[serde(default)]
    pub zone_listed: bool,
    /// Members, by name.
    pub members: Vec<MemberRow>,
    /// Federated Services (in some member, or still holding records), by namespace and name.
    pub services: Vec<ServiceRow>,
    /// Hosts of Ingresses and Gateways (in some member, or still holding records).
    #[serde(default)]
    pub hosts: Vec<HostRow>,
    /// Names skipped because a record feddns does not own holds them (last plan).
    pub conflicts: u64,
    /// Names the provider rejects, held back until their changes differ.
    pub quarantined: Vec<String>,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    /// Name.
    pub name: String,
    /// `pending`, `synced`, `unavailable` or `down`.
    pub status: String,
    /// Region, when its nodes have one.
    pub region: Option<String>,
    /// Zones of its nodes.
    pub zones: Vec<String>,
    /// Services it has (selected and `type: LoadBalancer`).
    pub services: usize,
    /// Hosts it serves (Ingresses, Gateways).
    #[serde(default)]
    pub hosts: usize,
    /// The last error reported while it was not current.
    pub error: Option<String>,
    /// Kinds it cannot read (`gateways: not installed`), retried; the rest of it is read.
    #[serde(default)]
    pub unread: Vec<String>,
}

/// One host of Ingresses and Gateways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRow {
    /// The host.
    pub host: String,
    /// The members that serve it, with the objects behind it there.
    pub members: Vec<HostMember>,
    /// The names feddns holds for it (the host itself), and what they point to.
    pub names: Vec<NameRow>,
}

/// One federated Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// `namespace/name`.
    pub service: String,
    /// Its shards.
    pub shards: Vec<ShardRow>,
    /// The names feddns holds for it, and what they point to.
    pub names: Vec<NameRow>,
}

/// The Service in one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRow {
    /// Member name.
    pub member: String,
    /// Whether it counts: member up, ingress, a ready endpoint.
    pub healthy: bool,
    /// Ready endpoints.
    pub ready: usize,
    /// Ingress addresses and hostnames.
    pub ingress: Vec<String>,
}

/// One name and its record sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRow {
    /// The DNS name.
    pub name: String,
    /// Its sets as `TYPE [policy:set-id] value value ...`.
    pub records: Vec<String>,
}

/// What the report needs besides the index and the cache.
#[derive(Debug, Clone, Default)]
pub struct StatusContext<'a> {
    /// Federation name.
    pub federation: &'a str,
    /// The zone.
    pub zone: &'a str,
    /// Provider kind.
    pub provider: &'a str,
    /// Leadership, when elected.
    pub leader: Option<bool>,
    /// Last error per member.
    pub errors: Option<&'a BTreeMap<String, String>>,
    /// Conflicts in the last plan.
    pub conflicts: u64,
    /// Quarantined names.
    pub quarantined: Vec<String>,
    /// Whether the zone has been listed.
    pub listed: bool,
}

fn status_word(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Pending => "pending",
        MemberStatus::Synced => "synced",
        MemberStatus::Unavailable => "unavailable",
        MemberStatus::Down => "down",
    }
}

/// Builds the report.
pub fn build(index: &Index, cache: &ZoneCache, ctx: StatusContext<'_>) -> StatusReport {
    let members = index
        .members()
        .iter()
        .map(|(name, m)| MemberRow {
            name: name.clone(),
            status: status_word(m.status).into(),
            region: m.topology.region.clone(),
            zones: m.topology.zones.iter().cloned().collect(),
            services: m.services().count(),
            hosts: m.hosts().count(),
            error: (m.status != MemberStatus::Synced)
                .then(|| ctx.errors.and_then(|e| e.get(name)).cloned())
                .flatten(),
            unread: m
                .unread()
                .iter()
                .map(|(kind, why)| format!("{kind}: {why}"))
                .collect(),
        })
        .collect();
    let names_of = |subject: &Subject| -> Vec<NameRow> {
        cache
            .owned_names(subject)
            .map(|name| NameRow {
                name: name.to_string(),
                records: cache
                    .sets_at(name)
                    .filter(|s| s.rtype.is_managed_target())
                    .map(|s| format!("{} {}", s.rtype, s.describe_values()))
                    .collect(),
            })
            .collect()
    };
    let hosts: BTreeSet<Subject> = index
        .host_names()
        .cloned()
        .map(Subject::Host)
        .chain(cache.owned_subjects().filter(|s| s.service().is_none()).cloned())
        .collect();
    let hosts = hosts
        .iter()
        .filter_map(|subject| {
            let Subject::Host(host) = subject else {
                return None;
            };
            Some(HostRow {
                host: host.to_string(),
                members: host_report(index, host).map(|r| r.members).unwrap_or_default(),
                names: names_of(subject),
            })
        })
        .collect();
    let keys: BTreeSet<&ServiceKey> = index
        .service_keys()
        .chain(cache.owned_subjects().filter_map(Subject::service))
        .collect();
    let services = keys
        .into_iter()
        .map(|key| ServiceRow {
            service: key.to_string(),
            shards: index
                .shards(key)
                .map(|(member, m)| ShardRow {
                    member: member.to_string(),
                    healthy: m.is_healthy(key),
                    ready: m.ready(key),
                    ingress: m
                        .service(key)
                        .map(|s| s.ingress.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                })
                .collect(),
            names: names_of(&Subject::Service(key.clone())),
        })
        .collect();
    StatusReport {
        federation: ctx.federation.into(),
        zone: ctx.zone.into(),
        provider: ctx.provider.into(),
        leader: ctx.leader,
        settled: index.all_settled(),
        zone_listed: ctx.listed,
        members,
        services,
        hosts,
        conflicts: ctx.conflicts,
        quarantined: ctx.quarantined,
    }
}

/// The report as readable tables.
pub fn render(r: &StatusReport) -> String {
    let mut out = String::new();
    let role = match r.leader {
        None => "writer (no leader election)",
        Some(true) => "leader (writing)",
        Some(false) => "follower (not writing)",
    };
    let _ = writeln!(
        out,
        "federation {} · zone {} · provider {} · {role}{}{}",
        r.federation,
        r.zone,
        r.provider,
        if r.settled {
            ""
        } else {
            " · waiting for members to report"
        },
        if r.zone_listed {
            ""
        } else {
            " · zone not listed yet (a follower lists it when it takes over)"
        }
    );
    let _ = writeln!(out, "\nMEMBERS");
    let mut rows = vec![vec![
        "NAME".to_string(),
        "STATUS".into(),
        "REGION".into(),
        "ZONES".into(),
        "SERVICES".into(),
        "HOSTS".into(),
        "ERROR".into(),
    ]];
    for m in &r.members {
        rows.push(vec![
            m.name.clone(),
            m.status.clone(),
            m.region.clone().unwrap_or_else(|| "-".into()),
            if m.zones.is_empty() {
                "-".into()
            } else {
                m.zones.join(",")
            },
            m.services.to_string(),
            m.hosts.to_string(),
            m.error.clone().unwrap_or_default(),
        ]);
    }
    table(&mut out, &rows);
    for m in r.members.iter().filter(|m| !m.unread.is_empty()) {
        let _ = writeln!(
            out,
            "member {} cannot read (retried): {}",
            m.name,
            m.unread.join("; ")
        );
    }
    let _ = writeln!(out, "\nSERVICES");
    if r.services.is_empty() {
        let _ = writeln!(out, "(none)");
    }
    for s in &r.services {
        let healthy: Vec<&str> = s
            .shards
            .iter()
            .filter(|x| x.healthy)
            .map(|x| x.member.as_str())
            .collect();
        let unhealthy: Vec<String> = s
            .shards
            .iter()
            .filter(|x| !x.healthy)
            .map(|x| format!("{} ({} ready)", x.member, x.ready))
            .collect();
        let _ = writeln!(
            out,
            "{}  healthy: {}{}",
            s.service,
            if healthy.is_empty() {
                "none".to_string()
            } else {
                healthy.join(", ")
            },
            if unhealthy.is_empty() {
                String::new()
            } else {
                format!("  not healthy: {}", unhealthy.join(", "))
            }
        );
        names_table(&mut out, &s.names);
    }
    if !r.hosts.is_empty() {
        let _ = writeln!(out, "\nHOSTS");
    }
    for h in &r.hosts {
        let members: Vec<String> = h
            .members
            .iter()
            .map(|m| {
                let health = if m.healthy { "" } else { " not healthy" };
                format!("{}{health} ({})", m.member, m.objects.join(", "))
            })
            .collect();
        let _ = writeln!(
            out,
            "{}  {}",
            h.host,
            if members.is_empty() {
                "served by no member".to_string()
            } else {
                members.join(", ")
            }
        );
        names_table(&mut out, &h.names);
    }
    if r.conflicts > 0 || !r.quarantined.is_empty() {
        let _ = writeln!(
            out,
            "\n{} conflicting names (see `feddns plan`); quarantined: {}",
            r.conflicts,
            if r.quarantined.is_empty() {
                "none".into()
            } else {
                r.quarantined.join(", ")
            }
        );
    }
    out
}

/// The names feddns holds, indented, one row per record set.
fn names_table(out: &mut String, names: &[NameRow]) {
    let mut rows = Vec::new();
    for n in names {
        for (i, rec) in n.records.iter().enumerate() {
            let name = if i == 0 { n.name.as_str() } else { "" };
            rows.push(vec![format!("  {name}"), rec.clone()]);
        }
    }
    table(out, &rows);
}

fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::index::tests::Snap;
    use crate::federation::ownership::{Ownership, companion_name};
    use feddns_provider::{Change, RecordSet, RecordType};

    #[test]
    fn report_lists_members_shards_and_names() {
        let mut index = Index::new();
        index.add_member("us");
        index.add_member("eu");
        index.set_snapshot(
            "us",
            Snap::default()
                .node("n1", "us-east-1a", "us-east-1")
                .service("web", "shop", &["192.0.2.1"], 2)
                .build(),
        );
        index.set_unavailable("eu");
        let mut cache = ZoneCache::new("_feddns", "me", "fed");
        let name = "shop.web.fed.svc.example.com";
        let owner = Ownership {
            owner: "me".into(),
            federation: "fed".into(),
            subject: Subject::Service(ServiceKey::new("web", "shop")),
            source: None,
        };
        cache.apply(&[
            Change::create(RecordSet::new(
                name,
                RecordType::A,
                180,
                ["192.0.2.1".to_string()],
            )),
            Change::create(RecordSet::new(
                &companion_name("_feddns", name),
                RecordType::Txt,
                180,
                [owner.encode()],
            )),
        ]);
        let errors = BTreeMap::from([("eu".to_string(), "connection refused".to_string())]);
        let r = build(
            &index,
            &cache,
            StatusContext {
                federation: "fed",
                zone: "example.com",
                provider: "embedded",
                leader: Some(true),
                errors: Some(&errors),
                ..StatusContext::default()
            },
        );
        assert!(!r.settled, "eu never synced");
        assert_eq!(r.members.len(), 2);
        let eu = &r.members[0];
        assert_eq!((eu.name.as_str(), eu.status.as_str()), ("eu", "pending"));
        assert_eq!(eu.error.as_deref(), Some("connection refused"));
        let us = &r.members[1];
        assert_eq!(us.status, "synced");
        assert_eq!(us.region.as_deref(), Some("us-east-1"));
        assert_eq!(us.zones, vec!["us-east-1a"]);
        assert_eq!(us.error, None);
        assert_eq!(r.services.len(), 1);
        let s = &r.services[0];
        assert_eq!(s.service, "web/shop");
        assert_eq!(
            s.shards,
            vec![ShardRow {
                member: "us".into(),
                healthy: true,
                ready: 2,
                ingress: vec!["192.0.2.1".into()]
            }]
        );
        assert_eq!(s.names.len(), 1);
        assert_eq!(s.names[0].name, name);
        assert!(s.names[0].records[0].starts_with("A "), "{:?}", s.names);
        let text = render(&r);
        for want in [
            "leader (writing)",
            "us-east-1a",
            "connection refused",
            "web/shop",
            "healthy: us",
            name,
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), r);
    }

    #[test]
    fn report_lists_hosts_with_their_members_and_objects_and_unreadable_kinds() {
        let mut index = Index::new();
        index.add_member("us");
        let mut snap = Snap::default()
            .node("n1", "us-east-1a", "us-east-1")
            .ingress("shop", "web", &["www.example.com"], &["192.0.2.1"], "web", 1)
            .build();
        snap.unread.insert("gateways".into(), "not served".into());
        index.set_snapshot("us", snap);
        let mut cache = ZoneCache::new("_feddns", "me", "fed");
        // A host of ours no member serves any more: still listed, for its records.
        let gone = "old.example.com";
        let owner = Ownership {
            owner: "me".into(),
            federation: "fed".into(),
            subject: Subject::Host(gone.into()),
            source: None,
        };
        cache.apply(&[
            Change::create(RecordSet::new(
                gone,
                RecordType::A,
                180,
                ["192.0.2.9".to_string()],
            )),
            Change::create(RecordSet::new(
                &companion_name("_feddns", gone),
                RecordType::Txt,
                180,
                [owner.encode()],
            )),
        ]);
        let r = build(&index, &cache, StatusContext::default());
        assert_eq!(r.members[0].hosts, 1);
        assert_eq!(r.members[0].unread, ["gateways: not served"]);
        let hosts: Vec<(&str, usize, usize)> = r
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.members.len(), h.names.len()))
            .collect();
        assert_eq!(hosts, [("old.example.com", 0, 1), ("www.example.com", 1, 0)]);
        let text = render(&r);
        for want in [
            "HOSTS",
            "www.example.com  us (ingress shop/web)",
            "old.example.com  served by no member",
            "A 192.0.2.9",
            "member us cannot read (retried): gateways: not served",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), r);
    }
}
