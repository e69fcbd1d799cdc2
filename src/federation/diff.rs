//! The provider cache and the diff of desired against current record sets. Pure.
//!
//! The cache holds what the provider holds (listed once, then updated by our own writes) and
//! knows, from the ownership TXTs, which names are ours and for which Service. The diff only ever
//! produces changes at names that are ours (or free, or adoptable when `adopt` is on); a wanted
//! name held by someone else is a [`Conflict`], and so is any name holding a set with fields
//! feddns does not model (see [`ZoneCache::unmanaged`]), ours or not.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use feddns_provider::{Change, DnsName, RecordSet, RecordType, SetsAtName};
use serde::Serialize;

use crate::federation::model::{HostSource, Subject};
use crate::federation::ownership::{Ownership, companion_name, covered_name};
use crate::federation::planner::DesiredService;

/// Who holds a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOwner<'a> {
    /// Nothing at the name or its companion.
    Free,
    /// Our ownership record, for this Service or host.
    Ours(&'a Subject),
    /// Records at the name and no ownership record at all (e.g. left by Federation v1).
    Unowned,
    /// Someone else's ownership record, or a companion TXT that is not an ownership record.
    Foreign(String),
}

/// What an ownership record at a companion says, as far as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// Ours, for this Service. When the ownership record is exactly the one feddns writes (its
    /// value, no routing), only its TTL is kept: the record is made again when it is needed.
    Ours {
        subject: Subject,
        /// The object a host's record names; boxed, so that the many Service owners pay a
        /// pointer for it, not the object's key (one entry per owned name).
        source: Option<Box<HostSource>>,
        record_ttl: Option<u32>,
    },
    /// Another feddns instance's (why the name is not ours).
    Other(Box<str>),
}

/// The record types held at a name whose sets are not kept (a bit each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Types(u8);

impl Types {
    fn bit(t: &RecordType) -> u8 {
        match t {
            RecordType::A => 1,
            RecordType::Aaaa => 2,
            RecordType::Cname => 4,
            RecordType::Txt => 8,
            RecordType::Other(_) => 16,
        }
    }
}

/// The provider's records as feddns knows them.
///
/// Sets are kept in full only where feddns may write: at names it owns and their companions
/// (and, with `adopt`, at names that hold records but no ownership record at all). Of every other
/// name only the types it holds are kept, which is all the conflict check needs: a zone shared
/// with many foreign records costs a few bytes per foreign name. Sets are shared with the plan
/// that wrote them and with a provider that keeps its sets in memory (`Arc`).
#[derive(Debug, Clone)]
pub struct ZoneCache {
    prefix: String,
    owner_id: String,
    federation: String,
    adopt: bool,
    full: BTreeMap<DnsName, SetsAtName>,
    bare: BTreeMap<DnsName, Types>,
    owners: BTreeMap<DnsName, Owner>,
    by_service: BTreeMap<Subject, BTreeSet<DnsName>>,
}

impl ZoneCache {
    /// An empty cache for the owner id and federation, with ownership TXTs under `prefix`.
    pub fn new(prefix: &str, owner_id: &str, federation: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            owner_id: owner_id.to_string(),
            federation: federation.to_string(),
            adopt: false,
            full: BTreeMap::new(),
            bare: BTreeMap::new(),
            owners: BTreeMap::new(),
            by_service: BTreeMap::new(),
        }
    }

    /// Builder: keep in full the sets at names without any ownership record too, so that
    /// `ownership.adopt` can take them over.
    #[must_use]
    pub fn with_adopt(mut self, adopt: bool) -> Self {
        self.adopt = adopt;
        self
    }

    /// Replaces the whole content (after listing the zone).
    pub fn load(&mut self, sets: impl IntoIterator<Item = Arc<RecordSet>>) {
        self.full.clear();
        self.bare.clear();
        self.owners.clear();
        self.by_service.clear();
        let sets: Vec<Arc<RecordSet>> = sets.into_iter().collect();
        let companions: BTreeSet<&str> = sets
            .iter()
            .filter(|s| covered_name(&self.prefix, &s.name).is_some())
            .map(|s| s.name.as_str())
            .collect();
        for set in sets
            .iter()
            .filter(|s| s.rtype == RecordType::Txt && s.set_id().is_none())
        {
            if covered_name(&self.prefix, &set.name).is_some() {
                self.read_owner(set);
            }
        }
        let adopt: BTreeSet<&str> = if self.adopt {
            sets.iter()
                .map(|s| s.name.as_str())
                .filter(|n| covered_name(&self.prefix, n).is_none())
                .filter(|n| !companions.contains(companion_name(&self.prefix, n).as_str()))
                .collect()
        } else {
            BTreeSet::new()
        };
        for set in &sets {
            if self.rebuilt(set) {
                continue;
            }
            if self.keeps(&set.name) || adopt.contains(set.name.as_str()) {
                self.full.entry(set.name.clone()).or_default().insert(set.clone());
            } else {
                self.bare.entry(set.name.clone()).or_default().0 |= Types::bit(&set.rtype);
            }
        }
        // The ownership index names what `full` names: share its names.
        let owners = std::mem::take(&mut self.owners);
        self.owners = owners
            .into_iter()
            .map(|(name, owner)| (self.shared_name(name), owner))
            .collect();
        let by_service = std::mem::take(&mut self.by_service);
        self.by_service = by_service
            .into_iter()
            .map(|(service, names)| (service, names.into_iter().map(|n| self.shared_name(n)).collect()))
            .collect();
    }

    /// The copy of `name` the sets hold, if they hold it.
    fn shared_name(&self, name: DnsName) -> DnsName {
        self.full
            .get_key_value(name.as_str())
            .map_or(name, |(k, _)| k.clone())
    }

    /// Replaces what is known at `names` with `sets` (a re-read of those names; sets at other
    /// names are ignored).
    pub fn reload_names(&mut self, names: &BTreeSet<String>, sets: impl IntoIterator<Item = Arc<RecordSet>>) {
        for name in names {
            self.full.remove(name.as_str());
            self.bare.remove(name.as_str());
        }
        for set in sets {
            if names.contains(set.name.as_str()) {
                self.full.entry(set.name.clone()).or_default().insert(set);
            }
        }
        self.settle(names.iter().map(String::as_str));
    }

    /// Records changes the provider accepted.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Create { new } | Change::Replace { new, .. } => {
                    self.bare.remove(new.name.as_str());
                    self.full.entry(new.name.clone()).or_default().insert(new.clone());
                }
                Change::Delete { old } => {
                    if let Some(sets) = self.full.get_mut(old.name.as_str()) {
                        sets.remove(&old.rtype, old.set_id());
                        if sets.is_empty() {
                            self.full.remove(old.name.as_str());
                        }
                    }
                }
            }
        }
        self.settle(changes.iter().map(Change::name));
    }

    /// After the sets at `touched` changed: re-reads the ownership records among them, then puts
    /// every affected name's sets where they belong (kept in full, or types only).
    fn settle<'n>(&mut self, touched: impl Iterator<Item = &'n str>) {
        let touched: BTreeSet<String> = touched.map(str::to_string).collect();
        let mut affected: BTreeSet<String> = BTreeSet::new();
        for name in &touched {
            affected.insert(name.clone());
            if let Some(covered) = covered_name(&self.prefix, name) {
                let covered = covered.to_string();
                self.forget_owner(&covered);
                let txt = self
                    .full
                    .get(name.as_str())
                    .and_then(|s| s.get(&RecordType::Txt, None))
                    .cloned();
                if let Some(txt) = txt {
                    self.read_owner(&txt);
                    if self.rebuilt(&txt)
                        && let Some(sets) = self.full.get_mut(name.as_str())
                    {
                        sets.remove(&RecordType::Txt, None);
                        if sets.is_empty() {
                            self.full.remove(name.as_str());
                        }
                    }
                }
                affected.insert(covered);
            } else {
                affected.insert(companion_name(&self.prefix, name));
            }
        }
        for name in &affected {
            let adoptable = self.adopt
                && covered_name(&self.prefix, name).is_none()
                && !self.holds(&companion_name(&self.prefix, name));
            if self.keeps(name) || adoptable {
                continue;
            }
            if let Some((name, sets)) = self.full.remove_entry(name.as_str()) {
                let types = sets.values().fold(0, |acc, s| acc | Types::bit(&s.rtype));
                self.bare.entry(name).or_default().0 |= types;
            }
        }
    }

    /// Reads an ownership TXT at a companion name.
    fn read_owner(&mut self, txt: &RecordSet) {
        let Some(covered) = covered_name(&self.prefix, &txt.name) else {
            return;
        };
        let Some(own) = txt
            .values
            .iter()
            .find_map(|v| Ownership::decode_at(v, Some(covered)))
        else {
            return;
        };
        let covered = self
            .full
            .get_key_value(covered)
            .map_or_else(|| DnsName::from(covered), |(k, _)| k.clone());
        let owner = if own.owner == self.owner_id && own.federation == self.federation {
            self.by_service
                .entry(own.subject.clone())
                .or_default()
                .insert(covered.clone());
            let exact = txt.values.len() == 1
                && txt.values[0] == own.encode()
                && txt.routing.is_none()
                && txt.alias.is_none()
                && txt.unmodelled.is_none();
            Owner::Ours {
                subject: own.subject,
                source: own.source.map(Box::new),
                record_ttl: exact.then_some(txt.ttl),
            }
        } else {
            Owner::Other(
                format!(
                    "owned by feddns instance {:?} of federation {:?}",
                    own.owner, own.federation
                )
                .into(),
            )
        };
        self.owners.insert(covered, owner);
    }

    /// Whether `set` is an ownership record of ours that [`Self::ownership_record`] makes again
    /// (so it need not be kept).
    fn rebuilt(&self, set: &RecordSet) -> bool {
        set.rtype == RecordType::Txt
            && set.set_id().is_none()
            && covered_name(&self.prefix, &set.name).is_some_and(|covered| {
                matches!(self.owners.get(covered), Some(Owner::Ours { record_ttl: Some(ttl), .. }) if *ttl == set.ttl)
            })
    }

    /// The ownership record of `name`, kept or made again.
    pub fn ownership_record(&self, name: &str) -> Option<Arc<RecordSet>> {
        let companion = companion_name(&self.prefix, name);
        if let Some(txt) = self
            .full
            .get(companion.as_str())
            .and_then(|s| s.get(&RecordType::Txt, None))
        {
            return Some(txt.clone());
        }
        match self.owners.get(name) {
            Some(Owner::Ours {
                subject,
                source,
                record_ttl: Some(ttl),
            }) => {
                let own = Ownership {
                    owner: self.owner_id.clone(),
                    federation: self.federation.clone(),
                    subject: subject.clone(),
                    source: source.as_deref().cloned(),
                };
                Some(Arc::new(RecordSet::new(
                    &companion,
                    RecordType::Txt,
                    *ttl,
                    [own.encode()],
                )))
            }
            _ => None,
        }
    }

    fn forget_owner(&mut self, covered: &str) {
        if let Some(Owner::Ours { subject, .. }) = self.owners.remove(covered)
            && let Some(names) = self.by_service.get_mut(&subject)
        {
            names.remove(covered);
            if names.is_empty() {
                self.by_service.remove(&subject);
            }
        }
    }

    /// Whether the sets at `name` are kept in full: it is ours, or the companion of a name of ours.
    fn keeps(&self, name: &str) -> bool {
        let ours = |n: &str| matches!(self.owners.get(n), Some(Owner::Ours { .. }));
        ours(name) || covered_name(&self.prefix, name).is_some_and(ours)
    }

    /// Whether anything is known at `name`.
    fn holds(&self, name: &str) -> bool {
        self.full.contains_key(name) || self.bare.contains_key(name)
    }

    /// The ownership TXT prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The sets at a name, where they are kept (names of ours and their companions).
    pub fn sets_at(&self, name: &str) -> impl Iterator<Item = &RecordSet> {
        self.full.get(name).into_iter().flat_map(SetsAtName::values)
    }

    /// The sets at a name, shared.
    pub fn shared_at(&self, name: &str) -> impl Iterator<Item = &Arc<RecordSet>> {
        self.full.get(name).into_iter().flat_map(SetsAtName::shared)
    }

    /// Every set kept in full, shared.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<RecordSet>> {
        self.full.values().flat_map(SetsAtName::shared)
    }

    /// Every set kept in full.
    pub fn sets(&self) -> impl Iterator<Item = &RecordSet> {
        self.full.values().flat_map(SetsAtName::values)
    }

    /// How many names the zone holds (whether their sets are kept or not).
    pub fn name_count(&self) -> usize {
        let rebuilt = self
            .owners
            .iter()
            .filter(|(name, o)| {
                matches!(
                    o,
                    Owner::Ours {
                        record_ttl: Some(_),
                        ..
                    }
                ) && !self
                    .full
                    .contains_key(companion_name(&self.prefix, name).as_str())
            })
            .count();
        self.full.len() + self.bare.len() + rebuilt
    }

    /// Who holds `name`.
    pub fn owner(&self, name: &str) -> NameOwner<'_> {
        match self.owners.get(name) {
            Some(Owner::Ours { subject, .. }) => return NameOwner::Ours(subject),
            Some(Owner::Other(why)) => return NameOwner::Foreign(why.to_string()),
            None => {}
        }
        let companion = companion_name(&self.prefix, name);
        if self.holds(&companion) {
            return NameOwner::Foreign(format!(
                "{companion} holds records that are not a feddns ownership record"
            ));
        }
        if self.holds(name) {
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

    /// The names we own for a Service or host.
    pub fn owned_names(&self, key: &Subject) -> impl Iterator<Item = &DnsName> {
        self.by_service.get(key).into_iter().flatten()
    }

    /// Every Service and host we own names for.
    pub fn owned_subjects(&self) -> impl Iterator<Item = &Subject> {
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
    /// The Service or host it belongs to.
    pub service: Subject,
    /// Ordered: deletes, replaces, creates.
    pub changes: Vec<Change>,
}

/// A wanted name that feddns may not write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The name.
    pub name: String,
    /// The Service or host that wants it.
    pub service: Subject,
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
    let names: BTreeSet<&str> = desired
        .names
        .keys()
        .map(String::as_str)
        .chain(cache.owned_names(&desired.key).map(DnsName::as_str))
        .collect();
    for name in names {
        if desired.held.contains(name) {
            continue;
        }
        let conflict = |reason: String| Conflict {
            name: name.to_string(),
            service: desired.key.clone(),
            reason,
        };
        let want = desired.names.get(name);
        match cache.owner(name) {
            NameOwner::Ours(service) if *service != desired.key => {
                out.conflicts.push(conflict(format!("owned by {service}")));
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
        let current: BTreeMap<_, &Arc<RecordSet>> = cache
            .shared_at(name)
            .filter(|s| s.rtype.is_managed_target())
            .map(|s| (s.key(), s))
            .collect();
        let others: Vec<&RecordSet> = cache
            .sets_at(name)
            .filter(|s| !s.rtype.is_managed_target())
            .collect();
        let companion = companion_name(cache.prefix(), name);
        let current_txt = cache.ownership_record(name);
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
                        changes.push(Change::delete(Arc::clone(cur)));
                    }
                }
                for (k, new) in &wanted {
                    match current.get(k) {
                        Some(cur) if ***cur != **new => {
                            changes.push(Change::replace(Arc::clone(cur), (*new).clone()));
                        }
                        Some(_) => {}
                        None => changes.push(Change::create((*new).clone())),
                    }
                }
                let ttl = sets
                    .iter()
                    .map(|s| s.ttl)
                    .min()
                    .unwrap_or(crate::federation::planner::DEFAULT_TTL);
                let txt = RecordSet::new(&companion, RecordType::Txt, ttl, [owner.encode()]);
                match current_txt {
                    None => changes.push(Change::create(txt)),
                    Some(cur) if *cur != txt => changes.push(Change::replace(cur, txt)),
                    Some(_) => {}
                }
            }
            None => {
                changes.extend(current.values().map(|cur| Change::delete(Arc::clone(cur))));
                if let Some(cur) = current_txt {
                    changes.push(Change::delete(cur));
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
                name: name.to_string(),
                service: desired.key.clone(),
                changes,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::model::ServiceKey;

    fn set(name: &str, rtype: RecordType, value: &str) -> Arc<RecordSet> {
        Arc::new(RecordSet::new(name, rtype, 60, [value.to_string()]))
    }

    fn ours(name: &str, svc: &str) -> Arc<RecordSet> {
        let own = Ownership {
            owner: "o".into(),
            federation: "f".into(),
            subject: Subject::Service(ServiceKey::new("ns", svc)),
            source: None,
        };
        set(&format!("_feddns.{name}"), RecordType::Txt, &own.encode())
    }

    /// Sets are kept where feddns may write; of foreign names only their types.
    #[test]
    fn owned_names_are_kept_in_full_foreign_ones_as_types_only() {
        let mut c = ZoneCache::new("_feddns", "o", "f");
        c.load([
            set("mine.example.com", RecordType::A, "192.0.2.1"),
            ours("mine.example.com", "web"),
            set("legacy.example.com", RecordType::A, "198.51.100.1"),
            set("www.example.com", RecordType::Cname, "lb.example.net"),
            set("_feddns.www.example.com", RecordType::Txt, "not ownership"),
        ]);
        assert_eq!(
            c.sets().count(),
            1,
            "the owned name; its ownership record is made again"
        );
        assert_eq!(
            c.ownership_record("mine.example.com").as_deref(),
            Some(&*ours("mine.example.com", "web"))
        );
        assert_eq!(c.name_count(), 5);
        assert_eq!(c.sets_at("legacy.example.com").count(), 0);
        let web = Subject::Service(ServiceKey::new("ns", "web"));
        assert_eq!(c.owner("mine.example.com"), NameOwner::Ours(&web));
        assert_eq!(c.owner("legacy.example.com"), NameOwner::Unowned);
        assert!(matches!(c.owner("www.example.com"), NameOwner::Foreign(_)));
        assert_eq!(c.owner("free.example.com"), NameOwner::Free);
        assert_eq!(c.owned_set_count(), 1);

        // With adopt, names without any ownership record are kept in full (to be taken over).
        let mut a = ZoneCache::new("_feddns", "o", "f").with_adopt(true);
        a.load([
            set("legacy.example.com", RecordType::A, "198.51.100.1"),
            set("www.example.com", RecordType::Cname, "lb.example.net"),
            set("_feddns.www.example.com", RecordType::Txt, "not ownership"),
        ]);
        assert_eq!(a.sets_at("legacy.example.com").count(), 1);
        assert_eq!(a.sets_at("www.example.com").count(), 0);
    }

    /// An ownership record of ours that is not exactly the one feddns writes is kept as it is,
    /// so that changing or deleting it matches what the provider holds.
    #[test]
    fn unusual_ownership_records_are_kept_as_listed() {
        let mut c = ZoneCache::new("_feddns", "o", "f");
        let own = Ownership {
            owner: "o".into(),
            federation: "f".into(),
            subject: Subject::Service(ServiceKey::new("ns", "web")),
            source: None,
        };
        let txt = Arc::new(RecordSet::new(
            "_feddns.mine.example.com",
            RecordType::Txt,
            60,
            [own.encode(), "also this".to_string()],
        ));
        c.load([set("mine.example.com", RecordType::A, "192.0.2.1"), txt.clone()]);
        assert_eq!(c.sets().count(), 2);
        assert!(Arc::ptr_eq(
            &c.ownership_record("mine.example.com").unwrap(),
            &txt
        ));
        assert_eq!(
            c.owner("mine.example.com"),
            NameOwner::Ours(&Subject::Service(ServiceKey::new("ns", "web")))
        );
    }

    /// A name becomes ours with its ownership record, and stops being kept without it.
    #[test]
    fn writes_move_names_in_and_out_of_the_kept_sets() {
        let mut c = ZoneCache::new("_feddns", "o", "f");
        let a = set("new.example.com", RecordType::A, "192.0.2.1");
        let txt = ours("new.example.com", "web");
        c.apply(&[Change::create(a.clone()), Change::create(txt.clone())]);
        assert_eq!(c.sets().count(), 1);
        assert_eq!(c.ownership_record("new.example.com"), Some(txt));
        assert!(
            Arc::ptr_eq(c.shared_at("new.example.com").next().unwrap(), &a),
            "shared, not copied"
        );
        // Someone else's set appears at our name (a re-read): kept, since the name is ours.
        let extra = set("new.example.com", RecordType::Txt, "spf");
        let names = BTreeSet::from(["new.example.com".to_string()]);
        c.reload_names(&names, [a.clone(), extra]);
        assert_eq!(c.sets_at("new.example.com").count(), 2);
        // The ownership record goes (a re-read of the companion): the name is no longer ours.
        let companion = BTreeSet::from(["_feddns.new.example.com".to_string()]);
        c.reload_names(&companion, []);
        assert_eq!(c.sets().count(), 0);
        assert_eq!(c.owner("new.example.com"), NameOwner::Unowned);
        assert_eq!(c.owned_subjects().count(), 0);
    }
}
