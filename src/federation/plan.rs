//! A plan: the changes for a set of Services, with the safety rules applied. Pure.
//!
//! * Until every member has produced a complete state (or been declared down), only creates go
//!   through; names whose changes would replace or delete anything are deferred.
//! * A plan deleting more than `max_delete_share` of the owned record sets (and more than
//!   `min_guarded_deletes` sets) is refused unless forced. A deletion that comes with a creation
//!   of the same type at the same name (a set re-keyed, such as a latency set whose identifier
//!   changes) does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use feddns_provider::{Change, RecordType};
use serde::Serialize;

use crate::federation::diff::{Conflict, NameChanges, ZoneCache, diff_service};
use crate::federation::hosts::{HostReport, host_report};
use crate::federation::index::Index;
use crate::federation::model::Subject;
use crate::federation::ownership::Ownership;
use crate::federation::planner::{HostLookup, PlannerConfig, desired_subject};

/// Ownership and safety settings of planning.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// This instance's owner id.
    pub owner_id: String,
    /// Take over names with records but no ownership record.
    pub adopt: bool,
    /// Largest share of owned record sets one plan may delete without `force`.
    pub max_delete_share: f64,
    /// Deletions up to this many sets are never refused.
    pub min_guarded_deletes: usize,
    /// Apply even a plan the delete guard refuses.
    pub force: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            owner_id: "feddns".into(),
            adopt: false,
            max_delete_share: 0.5,
            min_guarded_deletes: 10,
            force: false,
        }
    }
}

/// The ingress hostnames one Service's (or host's) records depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDeps {
    /// The Service or host.
    pub service: Subject,
    /// The TTL of its records: its hostnames must be re-resolved at least this often.
    pub ttl: u32,
    /// The hostnames.
    pub hosts: BTreeSet<String>,
}

/// The plan for some Services.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Changes to apply, per name.
    pub names: Vec<NameChanges>,
    /// Changes held back until every member is synced.
    pub deferred: Vec<NameChanges>,
    /// Wanted names that are not ours.
    pub conflicts: Vec<Conflict>,
    /// Problems found while planning (invalid names, ...).
    pub problems: Vec<String>,
    /// Names left as they are because their hostnames are not resolved yet.
    pub held: Vec<String>,
    /// Set when the delete guard refused the plan: nothing in it may be applied.
    pub refused: Option<String>,
    /// The Services and hosts this plan covers.
    pub services: BTreeSet<Subject>,
    /// The hosts among them: the members and objects behind each (filled by
    /// [`host_reports`] where a person reads the plan; empty in the plans `run` applies).
    pub hosts: Vec<HostReport>,
    /// Hostnames the planned records depend on, per Service.
    #[serde(skip)]
    pub hostnames: Vec<HostDeps>,
}

impl Plan {
    /// Number of changes to apply.
    pub fn change_count(&self) -> usize {
        self.names.iter().map(|n| n.changes.len()).sum()
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The deletions the delete guard counts: of A/AAAA/CNAME sets, except a set deleted while
    /// the same name gets a set of the same type (a new set identifier): that is re-keyed, not
    /// lost; only deletions that leave a name without that type count.
    pub fn guarded_deletes(&self) -> usize {
        self.names
            .iter()
            .map(|n| {
                let created: BTreeSet<&RecordType> = n
                    .changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Create { new } => Some(&new.rtype),
                        _ => None,
                    })
                    .collect();
                n.changes
                    .iter()
                    .filter(|c| {
                        matches!(c, Change::Delete { old }
                            if old.rtype.is_managed_target() && !created.contains(&old.rtype))
                    })
                    .count()
            })
            .sum()
    }

    /// Counts of creates, replaces and deletes.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for ch in self.names.iter().flat_map(|n| &n.changes) {
            match ch {
                Change::Create { .. } => c.0 += 1,
                Change::Replace { .. } => c.1 += 1,
                Change::Delete { .. } => c.2 += 1,
            }
        }
        c
    }
}

/// Plans the given Services and hosts.
pub fn plan<'a>(
    index: &Index,
    cache: &ZoneCache,
    services: impl IntoIterator<Item = &'a Subject>,
    cfg: &PlannerConfig,
    hosts: &dyn HostLookup,
    opts: &PlanOptions,
) -> Plan {
    let mut out = Plan::default();
    let settled = index.all_settled();
    let mut claimed: BTreeMap<String, Subject> = BTreeMap::new();
    for key in services {
        if !out.services.insert(key.clone()) {
            continue;
        }
        let want = desired_subject(index, key, cfg, hosts);
        let owner = Ownership {
            owner: opts.owner_id.clone(),
            federation: cfg.naming.federation().to_string(),
            subject: key.clone(),
            source: want.source.clone(),
        };
        let diff = diff_service(cache, &want, &owner, opts.adopt);
        out.problems.extend(want.problems);
        out.held.extend(want.held);
        if !want.hostnames.is_empty() {
            out.hostnames.push(HostDeps {
                service: key.clone(),
                ttl: want.ttl,
                hosts: want.hostnames,
            });
        }
        out.conflicts.extend(diff.conflicts);
        for n in diff.names {
            // Two subjects that want one free name (a host that is also a Service's name): the
            // first planned takes it.
            match claimed.get(n.name.as_str()) {
                Some(first) if *first != n.service => {
                    out.conflicts.push(Conflict {
                        reason: format!("wanted by {first} too, which takes it"),
                        name: n.name,
                        service: n.service,
                    });
                    continue;
                }
                Some(_) => {}
                None => {
                    claimed.insert(n.name.clone(), n.service.clone());
                }
            }
            let only_creates = n.changes.iter().all(|c| matches!(c, Change::Create { .. }));
            if settled || only_creates {
                out.names.push(n);
            } else {
                out.deferred.push(n);
            }
        }
    }
    if !opts.force {
        out.refused = refusal(out.guarded_deletes(), cache, opts);
    }
    out
}

/// Why the delete guard refuses a plan deleting `deletes` of the record sets the cache owns, if it
/// does (more than `max_delete_share` of them, and more than `min_guarded_deletes`); `force` is the
/// caller's to check. The owned sets are counted only when there are enough deletions to judge.
pub fn refusal(deletes: usize, cache: &ZoneCache, opts: &PlanOptions) -> Option<String> {
    if deletes <= opts.min_guarded_deletes {
        return None;
    }
    let owned = cache.owned_set_count();
    (deletes as f64 > opts.max_delete_share * owned as f64).then(|| {
        format!(
            "refusing to delete {deletes} of {owned} owned record sets (more than {:.0}%): \
             check the member watches and selectors, or run with --force",
            opts.max_delete_share * 100.0
        )
    })
}

/// The reports of the hosts among `subjects` that some member serves.
pub fn host_reports(index: &Index, subjects: &BTreeSet<Subject>) -> Vec<HostReport> {
    subjects
        .iter()
        .filter_map(|s| match s {
            Subject::Host(host) => host_report(index, host),
            Subject::Service(_) => None,
        })
        .collect()
}

/// Every Service and host worth planning: all the index knows plus all we own names for (so
/// that what vanished while feddns was down is cleaned up).
pub fn all_services(index: &Index, cache: &ZoneCache) -> BTreeSet<Subject> {
    index.subjects().chain(cache.owned_subjects().cloned()).collect()
}

/// A readable table of a plan.
pub fn render_table(plan: &Plan) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut push = |op: &str, c: &Change| {
        let s = c.subject();
        let values = match c {
            Change::Replace { old, new } => format!("{} -> {}", old.describe_values(), new.describe_values()),
            _ => s.describe_values(),
        };
        let ttl = match c {
            Change::Replace { old, new } if old.ttl != new.ttl => format!("{}->{}", old.ttl, new.ttl),
            _ => s.ttl.to_string(),
        };
        rows.push([
            op.to_string(),
            s.name.to_string(),
            s.rtype.to_string(),
            ttl,
            values,
        ]);
    };
    for n in &plan.names {
        for c in &n.changes {
            push(c.op(), c);
        }
    }
    for n in &plan.deferred {
        for c in &n.changes {
            push(&format!("{} (deferred)", c.op()), c);
        }
    }
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("No changes.\n");
    } else {
        let header = ["OP", "NAME", "TYPE", "TTL", "VALUES"];
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.len());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut l = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i == 4 {
                    l.push_str(cell);
                } else {
                    let _ = write!(l, "{cell:<w$}  ", w = widths[i]);
                }
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line(header));
        for r in &rows {
            out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        }
    }
    for c in &plan.conflicts {
        let _ = writeln!(out, "CONFLICT  {}  ({}): {}", c.name, c.service, c.reason);
    }
    for h in &plan.hosts {
        let _ = writeln!(out, "HOST      {h}");
    }
    for h in &plan.held {
        let _ = writeln!(out, "HELD      {h}: waiting for ingress hostnames to resolve");
    }
    for p in &plan.problems {
        let _ = writeln!(out, "PROBLEM   {p}");
    }
    if let Some(r) = &plan.refused {
        let _ = writeln!(out, "REFUSED   {r}");
    }
    let (c, r, d) = plan.counts();
    let _ = writeln!(
        out,
        "{c} to create, {r} to replace, {d} to delete, {} deferred, {} conflicts.",
        plan.deferred.iter().map(|n| n.changes.len()).sum::<usize>(),
        plan.conflicts.len()
    );
    out
}

#[cfg(test)]
mod tests;
