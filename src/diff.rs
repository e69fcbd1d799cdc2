//! The provider cache and the diff of desired against current record sets. Pure.
//!
//! The cache holds what the provider holds (listed once, then updated by our own writes) and
//! knows, from the ownership TXTs, which names are ours and for which Service. The diff only ever
//! produces changes at names that are ours (or free, or adoptable when `adopt` is on); a wanted
//! name held by someone else is a [`Conflict`], and so is any name holding a set with fields
//! feddns does not model (see [`ZoneCache::unmanaged`]), ours or not.

use std::collections::{BTreeMap, BTreeSet};

use feddns_provider::{Change, RecordSet, RecordType, SetsAtName};
use serde::Serialize;

use crate::model::ServiceKey;
use crate::ownership::{Ownership, companion_name, covered_name};
use crate::planner::DesiredService;

/// Who holds a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOwner<'a> {
    /// Nothing at the name or its companion.
    Free,
    /// Our ownership record.
    Ours(&'a Ownership),
    /// Records at the name and no ownership record at all (e.g. left by Federation v1).
    Unowned,
    /// Someone else's ownership record, or a companion TXT that is not an ownership record.
    Foreign(String),
}

/// The provider's records as feddns knows them.
#[derive(Debug, Clone)]
pub struct ZoneCache {
    prefix: String,
    owner_id: String,
    federation: String,
    sets: BTreeMap<String, SetsAtName>,
    owners: BTreeMap<String, Ownership>,
    by_service: BTreeMap<ServiceKey, BTreeSet<String>>,
}

impl ZoneCache {
    /// An empty cache for the owner id and federation, with ownership TXTs under `prefix`.
    pub fn new(prefix: &str, owner_id: &str, federation: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            owner_id: owner_id.to_string(),
            federation: federation.to_string(),
            sets: BTreeMap::new(),
            owners: BTreeMap::new(),
            by_service: BTreeMap::new(),
        }
    }

    /// Replaces the whole content (after listing the zone).
    pub fn load(&mut self, sets: impl IntoIterator<Item = RecordSet>) {
        self.sets.clear();
        self.owners.clear();
        self.by_service.clear();
        let mut companions = BTreeSet::new();
        for set in sets {
            if covered_name(&self.prefix, &set.name).is_some() {
                companions.insert(set.name.clone());
            }
            self.sets
                .entry(set.name.clone())
                .or_default()
                .insert((set.rtype.clone(), set.key().set_id), set);
        }
        for c in companions {
            self.refresh_owner(&c);
        }
    }

    /// Replaces what is known at `names` with `sets` (a re-read of those names; sets at other
    /// names are ignored).
    pub fn reload_names(&mut self, names: &BTreeSet<String>, sets: impl IntoIterator<Item = RecordSet>) {
        for name in names {
            self.sets.remove(name);
        }
        for set in sets {
            if names.contains(&set.name) {
                self.sets
                    .entry(set.name.clone())
                    .or_default()
                    .insert((set.rtype.clone(), set.key().set_id), set);
            }
        }
        for name in names {
            if covered_name(&self.prefix, name).is_some() {
                self.refresh_owner(name);
            }
        }
    }

    /// Records changes the provider accepted.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            let key = change.key();
            let slot = (key.rtype.clone(), key.set_id.clone());
            match change {
                Change::Create { new } | Change::Replace { new, .. } => {
                    self.sets
                        .entry(key.name.clone())
                        .or_default()
                        .insert(slot, new.clone());
                }
                Change::Delete { .. } => {
                    if let Some(sets) = self.sets.get_mut(&key.name) {
                        sets.remove(&slot);
                        if sets.is_empty() {
                            self.sets.remove(&key.name);
                        }
                    }
                }
            }
            if covered_name(&self.prefix, &key.name).is_some() {
                self.refresh_owner(&key.name);
            }
        }
    }

    fn refresh_owner(&mut self, companion: &str) {
        let Some(covered) = covered_name(&self.prefix, companion).map(str::to_string) else {
            return;
        };
        if let Some(old) = self.owners.remove(&covered)
            && let Some(names) = self.by_service.get_mut(&old.service)
        {
            names.remove(&covered);
            if names.is_empty() {
                self.by_service.remove(&old.service);
            }
        }
        let txt = self
            .sets
            .get(companion)
            .and_then(|s| s.get(&(RecordType::Txt, None)));
        if let Some(own) = txt.and_then(|t| t.values.iter().find_map(|v| Ownership::decode(v))) {
            if self.is_ours(&own) {
                self.by_service
                    .entry(own.service.clone())
                    .or_default()
                    .insert(covered.clone());
            }
            self.owners.insert(covered, own);
        }
    }

    fn is_ours(&self, o: &Ownership) -> bool {
        o.owner == self.owner_id && o.federation == self.federation
    }

    /// The ownership TXT prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The sets at a name.
    pub fn sets_at(&self, name: &str) -> impl Iterator<Item = &RecordSet> {
        self.sets.get(name).into_iter().flat_map(SetsAtName::values)
    }

    /// Every set.
    pub fn sets(&self) -> impl Iterator<Item = &RecordSet> {
        self.sets.values().flat_map(SetsAtName::values)
    }

    /// Who holds `name`.
    pub fn owner(&self, name: &str) -> NameOwner<'_> {
        if let Some(o) = self.owners.get(name) {
            return if self.is_ours(o) {
                NameOwner::Ours(o)
            } else {
                NameOwner::Foreign(format!(
                    "owned by feddns instance {:?} of federation {:?}",
                    o.owner, o.federation
                ))
            };
        }
        let companion = companion_name(&self.prefix, name);
        if self.sets.contains_key(&companion) {
            return NameOwner::Foreign(format!(
                "{companion} holds records that are not a feddns ownership record"
            ));
        }
        if self.sets.contains_key(name) {
            NameOwner::Unowned
        } else {
            NameOwner::Free
        }
    }

    /// Why feddns may not touch `name`, if a set there or at its companion holds fields feddns
    /// does not model (a health check, a failover or geolocation policy, ...): feddns could not
    /// write such a set back without losing them, nor delete it exactly enough to be sure.
    pub fn unmanaged(&self, name: &str) -> Option<String> {
        let companion = companion_name(&self.prefix, name);
        self.sets_at(name).chain(self.sets_at(&companion)).find_map(|s| {
            s.unmodelled.as_ref().map(|u| {
                format!(
                    "holds a set with {} ({}) that feddns does not manage",
                    u.summary,
                    s.key()
                )
            })
        })
    }

    /// The names we own for a Service.
    pub fn owned_names(&self, key: &ServiceKey) -> impl Iterator<Item = &String> {
        self.by_service.get(key).into_iter().flatten()
    }

    /// Every Service we own names for.
    pub fn owned_services(&self) -> impl Iterator<Item = &ServiceKey> {
        self.by_service.keys()
    }

    /// How many A/AAAA/CNAME sets sit at names we own.
    pub fn owned_set_count(&self) -> usize {
        self.by_service
            .values()
            .flatten()
            .map(|n| self.sets_at(n).filter(|s| s.rtype.is_managed_target()).count())
            .sum()
    }
}

/// The changes at one name, applied together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameChanges {
    /// The name (the companion TXT travels with it).
    pub name: String,
    /// The Service it belongs to.
    pub service: ServiceKey,
    /// Ordered: deletes, replaces, creates.
    pub changes: Vec<Change>,
}

/// A wanted name that feddns may not write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The name.
    pub name: String,
    /// The Service that wants it.
    pub service: ServiceKey,
    /// Why it is skipped.
    pub reason: String,
}

/// The outcome of diffing one Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDiff {
    /// Changes, per name.
    pub names: Vec<NameChanges>,
    /// Wanted names that are not ours.
    pub conflicts: Vec<Conflict>,
}

/// Diffs one Service's desired state against the cache. `adopt` takes over names that hold records
/// but no ownership record at all (Federation v1 leftovers).
pub fn diff_service(
    cache: &ZoneCache,
    desired: &DesiredService,
    owner: &Ownership,
    adopt: bool,
) -> ServiceDiff {
    let mut out = ServiceDiff::default();
    let names: BTreeSet<&String> = desired
        .names
        .keys()
        .chain(cache.owned_names(&desired.key))
        .collect();
    for name in names {
        if desired.held.contains(name) {
            continue;
        }
        let conflict = |reason: String| Conflict {
            name: name.clone(),
            service: desired.key.clone(),
            reason,
        };
        let want = desired.names.get(name);
        match cache.owner(name) {
            NameOwner::Ours(o) if o.service != desired.key => {
                out.conflicts
                    .push(conflict(format!("owned by service {}", o.service)));
                continue;
            }
            NameOwner::Ours(_) | NameOwner::Free => {}
            NameOwner::Unowned if adopt => {}
            NameOwner::Unowned => {
                out.conflicts.push(conflict(
                    "records exist without an ownership record (set ownership.adopt to take over Federation v1 records)".into(),
                ));
                continue;
            }
            NameOwner::Foreign(why) => {
                out.conflicts.push(conflict(why));
                continue;
            }
        }
        // Even at a name of ours: someone attached a health check to our set, say.
        if let Some(why) = cache.unmanaged(name) {
            out.conflicts.push(conflict(why));
            continue;
        }
        let current: BTreeMap<_, &RecordSet> = cache
            .sets_at(name)
            .filter(|s| s.rtype.is_managed_target())
            .map(|s| (s.key(), s))
            .collect();
        let others: Vec<&RecordSet> = cache
            .sets_at(name)
            .filter(|s| !s.rtype.is_managed_target())
            .collect();
        let companion = companion_name(cache.prefix(), name);
        let current_txt = cache
            .sets_at(&companion)
            .find(|s| s.rtype == RecordType::Txt && s.routing.is_none());
        let mut changes = Vec::new();
        match want {
            Some(sets) => {
                if sets.iter().any(|s| s.rtype == RecordType::Cname)
                    && let Some(o) = others.first()
                {
                    let why = format!("a CNAME cannot be placed beside the {} set there", o.rtype);
                    out.conflicts.push(conflict(why));
                    continue;
                }
                let wanted: BTreeMap<_, &RecordSet> = sets.iter().map(|s| (s.key(), s)).collect();
                for (k, cur) in &current {
                    if !wanted.contains_key(k) {
                        changes.push(Change::Delete { old: (*cur).clone() });
                    }
                }
                for (k, new) in &wanted {
                    match current.get(k) {
                        Some(cur) if cur != new => changes.push(Change::Replace {
                            old: (*cur).clone(),
                            new: (*new).clone(),
                        }),
                        Some(_) => {}
                        None => changes.push(Change::Create { new: (*new).clone() }),
                    }
                }
                let ttl = sets
                    .iter()
                    .map(|s| s.ttl)
                    .min()
                    .unwrap_or(crate::planner::DEFAULT_TTL);
                let txt = RecordSet::new(&companion, RecordType::Txt, ttl, [owner.encode()]);
                match current_txt {
                    None => changes.push(Change::Create { new: txt }),
                    Some(cur) if *cur != txt => changes.push(Change::Replace {
                        old: cur.clone(),
                        new: txt,
                    }),
                    Some(_) => {}
                }
            }
            None => {
                changes.extend(current.values().map(|cur| Change::Delete { old: (*cur).clone() }));
                if let Some(cur) = current_txt {
                    changes.push(Change::Delete { old: cur.clone() });
                }
            }
        }
        changes.sort_by_key(|c| match c {
            Change::Delete { .. } => 0,
            Change::Replace { .. } => 1,
            Change::Create { .. } => 2,
        });
        if !changes.is_empty() {
            out.names.push(NameChanges {
                name: name.clone(),
                service: desired.key.clone(),
                changes,
            });
        }
    }
    out
}
