//! The reference zone: the documented semantics every provider must have, executable.
//!
//! [`ZoneState`] checks a whole batch before changing anything (exact-match deletes and replaces,
//! no create over an existing set, no CNAME beside other types, one change per set, names inside
//! the zone, routing only where supported, limits). [`MemoryProvider`] wraps it as a [`Provider`];
//! the embedded DNS provider serves one over DNS.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::name::DnsName;
use crate::provider::{Capabilities, Change, Limits, Provider, ProviderError};
use crate::record::{RecordKey, RecordSet, RecordType, normalize_name};
use crate::slots::SetsAtName;
use crate::validate::check_set;

/// The record sets of one zone, indexed by name.
#[derive(Debug, Clone, Default)]
pub struct ZoneState {
    zone: String,
    capabilities: Capabilities,
    limits: Limits,
    names: BTreeMap<DnsName, SetsAtName>,
}

impl ZoneState {
    /// An empty zone.
    pub fn new(zone: &str, capabilities: Capabilities, limits: Limits) -> Self {
        Self {
            zone: normalize_name(zone),
            capabilities,
            limits,
            names: BTreeMap::new(),
        }
    }

    /// The zone apex.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Every record set, ordered by name, type and set identifier.
    pub fn sets(&self) -> impl Iterator<Item = &RecordSet> {
        self.names.values().flat_map(SetsAtName::values)
    }

    /// The sets at one name.
    pub fn sets_at(&self, name: &str) -> impl Iterator<Item = &RecordSet> {
        self.names.get(name).into_iter().flat_map(SetsAtName::values)
    }

    /// Every record set, shared (no copy is made).
    pub fn shared(&self) -> impl Iterator<Item = &Arc<RecordSet>> {
        self.names.values().flat_map(SetsAtName::shared)
    }

    /// How many names hold at least one set.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// Checks the whole batch, then applies it in order. On error nothing changed. Returns the
    /// names the batch touched.
    pub fn apply(&mut self, changes: &[Change]) -> Result<BTreeSet<DnsName>, ProviderError> {
        crate::batch::check_limits(changes, self.limits)?;
        let mut seen = BTreeSet::new();
        let mut staged: BTreeMap<DnsName, SetsAtName> = BTreeMap::new();
        for change in changes {
            let key = change.key();
            if !seen.insert(key.clone()) {
                return Err(invalid(
                    &key,
                    "more than one change for this record set in one batch",
                ));
            }
            self.check_shape(change)?;
            let sets = staged
                .entry(key.name.clone())
                .or_insert_with(|| self.names.get(&*key.name).cloned().unwrap_or_default());
            let (rtype, set_id) = (&key.rtype, key.set_id.as_deref());
            match change {
                Change::Create { new } => {
                    if let Some(cur) = sets.get(rtype, set_id) {
                        return Err(conflict(
                            &key,
                            format!("already exists ({})", cur.describe_values()),
                        ));
                    }
                    sets.insert(new.clone());
                }
                Change::Replace { old, new } => {
                    if old.key() != new.key() {
                        return Err(invalid(&key, "a replace must keep name, type and set identifier"));
                    }
                    expect_current(sets.get(rtype, set_id).map(|s| &**s), old, &key)?;
                    sets.insert(new.clone());
                }
                Change::Delete { old } => {
                    expect_current(sets.get(rtype, set_id).map(|s| &**s), old, &key)?;
                    sets.remove(rtype, set_id);
                }
            }
        }
        for (name, sets) in &staged {
            check_name_rules(name, sets)?;
        }
        let touched = staged.keys().cloned().collect();
        for (name, sets) in staged {
            if sets.is_empty() {
                self.names.remove(&name);
            } else {
                self.names.insert(name, sets);
            }
        }
        Ok(touched)
    }

    fn check_shape(&self, change: &Change) -> Result<(), ProviderError> {
        let sets: &[&RecordSet] = match change {
            Change::Create { new } => &[new],
            Change::Replace { old, new } => &[old, new],
            Change::Delete { old } => &[old],
        };
        for set in sets {
            check_set(set, &self.zone, self.capabilities)?;
        }
        Ok(())
    }
}

fn check_name_rules(name: &DnsName, sets: &SetsAtName) -> Result<(), ProviderError> {
    let has_cname = sets.values().any(|s| s.rtype == RecordType::Cname);
    if has_cname && let Some(other) = sets.values().find(|s| s.rtype != RecordType::Cname) {
        return Err(invalid(
            &other.key(),
            "a CNAME cannot share its name with other record types",
        ));
    }
    // Per type: either one plain set, or routed sets that all use the same policy.
    let mut by_type: BTreeMap<&RecordType, Vec<&RecordSet>> = BTreeMap::new();
    for set in sets.values() {
        by_type.entry(&set.rtype).or_default().push(set);
    }
    for (t, group) in by_type {
        // A set with a set identifier but no modelled routing uses a policy feddns does not
        // model (listed from a provider): routed, by a policy of its own.
        let policy = |s: &RecordSet| {
            s.routing()
                .map(crate::Routing::policy)
                .or_else(|| s.set_id().map(|_| "unmodelled"))
        };
        let plain = group.iter().filter(|s| policy(s).is_none()).count();
        let policies: BTreeSet<_> = group.iter().filter_map(|s| policy(s)).collect();
        if (plain > 0 && group.len() > 1) || policies.len() > 1 {
            let key = RecordKey {
                name: name.clone(),
                rtype: t.clone(),
                set_id: None,
            };
            return Err(invalid(
                &key,
                "routed and plain sets, or different routing policies, cannot share a name and type",
            ));
        }
        // Route53 answers a latency query from the set of the nearest region: one set per region.
        let mut regions: BTreeMap<&str, &RecordSet> = BTreeMap::new();
        for set in &group {
            if let Some(crate::Routing::Latency { region, .. }) = set.routing()
                && let Some(first) = regions.insert(region, set)
            {
                return Err(invalid(
                    &set.key(),
                    format!(
                        "latency region {region} is already used by the set {} at this name and type (one latency set per region)",
                        first.key()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn expect_current(
    current: Option<&RecordSet>,
    expected: &RecordSet,
    key: &RecordKey,
) -> Result<(), ProviderError> {
    match current {
        None => Err(conflict(key, "does not exist")),
        Some(cur) if cur != expected => Err(conflict(
            key,
            format!(
                "current {} {} differs from expected {} {}",
                cur.ttl,
                cur.describe_values(),
                expected.ttl,
                expected.describe_values()
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn invalid(key: &RecordKey, reason: impl Into<String>) -> ProviderError {
    ProviderError::Invalid {
        key: key.clone(),
        reason: reason.into(),
    }
}

fn conflict(key: &RecordKey, reason: impl Into<String>) -> ProviderError {
    ProviderError::Conflict {
        key: key.clone(),
        reason: reason.into(),
    }
}

/// The in-memory reference provider.
#[derive(Debug)]
pub struct MemoryProvider {
    zone: String,
    caps: Capabilities,
    limits: Limits,
    state: Mutex<ZoneState>,
    calls: std::sync::atomic::AtomicUsize,
}

impl MemoryProvider {
    /// An empty zone with the given capabilities and limits.
    pub fn new(zone: &str, caps: Capabilities, limits: Limits) -> Self {
        let state = ZoneState::new(zone, caps, limits);
        Self {
            zone: state.zone().to_string(),
            caps,
            limits,
            state: Mutex::new(state),
            calls: Default::default(),
        }
    }

    /// An empty zone without routing support and with Route53-like limits.
    pub fn plain(zone: &str) -> Self {
        Self::new(zone, Capabilities::default(), Limits::default())
    }

    /// How many `list` and `apply` calls were made (for tests asserting a quiet steady state).
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A copy of the zone's sets, without counting a call.
    pub async fn snapshot(&self) -> Vec<RecordSet> {
        self.state.lock().await.sets().cloned().collect()
    }
}

#[async_trait::async_trait]
impl Provider for MemoryProvider {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn zone(&self) -> &str {
        &self.zone
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.snapshot().await)
    }

    async fn list_shared(&self) -> Result<Vec<Arc<RecordSet>>, ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.state.lock().await.shared().cloned().collect())
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.state.lock().await.apply(changes).map(|_| ())
    }
}
