//! The federation index: pure state of every member and the Services they run.
//!
//! ```text
//! [ member ] --nodes--> topology (zones, majority region)
//!     |
//!     +--services + endpoint slices--> shard per Service (ingress targets, ready endpoints)
//!     |
//!     +--ingresses, gateways, routes (+ ready endpoints)--> hosts (see `crate::federation::hosts`)
//! ```
//!
//! Every change marks the Services and hosts it affects dirty ([`Subject`]); the planner
//! re-plans only those. A member's hosts are derived again from its Ingresses, Gateways and
//! routes whenever one of them (or, with Ingresses, an EndpointSlice) changes, and compared with
//! what they were. No I/O, no
//! async, no clocks: the controller tells the index when a member becomes unavailable or down.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use feddns_provider::DnsName;

use crate::federation::hosts::{HostShard, member_hosts};
use crate::federation::model::{
    GatewayProj, IngressProj, MemberSnapshot, NodeProj, ObjectChange, RouteKey, RouteProj, ServiceKey,
    ServiceProj, SliceProj, Subject, put,
};

/// Where a member is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Configured, but no complete state yet.
    Pending,
    /// Its state is complete and current.
    Synced,
    /// It stopped answering; its last known shards still count until the grace period ends.
    Unavailable,
    /// Unavailable for longer than the grace period (or never synced within it): its shards do
    /// not count as healthy.
    Down,
}

/// The failure domains of a member, from its nodes' labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// The region most nodes report.
    pub region: Option<String>,
    /// Every zone of nodes in that region.
    pub zones: BTreeSet<String>,
    /// Nodes with neither zone nor region labels.
    pub unlabeled_nodes: usize,
    /// When nodes disagree on region: what they said (`eu-west-1: 3 nodes, us-east-1: 1 node`).
    pub region_disagreement: Option<String>,
}

impl Topology {
    /// Derives zones and the majority region from node labels. Ties go to the region that sorts
    /// first, so the result does not depend on node order.
    pub fn from_nodes<'a>(nodes: impl IntoIterator<Item = &'a NodeProj>) -> Self {
        let mut regions: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unlabeled = 0;
        let nodes: Vec<&NodeProj> = nodes.into_iter().collect();
        for n in &nodes {
            match &n.region {
                Some(r) => *regions.entry(r).or_default() += 1,
                None if n.zone.is_none() => unlabeled += 1,
                None => {}
            }
        }
        let region = regions
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(r, _)| (*r).to_string());
        let disagreement = (regions.len() > 1).then(|| {
            regions
                .iter()
                .map(|(r, n)| format!("{r}: {n} node{}", if *n == 1 { "" } else { "s" }))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let zones = nodes
            .iter()
            .filter(|n| n.region.is_none() || n.region == region)
            .filter_map(|n| n.zone.clone())
            .collect();
        Self {
            region,
            zones,
            unlabeled_nodes: unlabeled,
            region_disagreement: disagreement,
        }
    }
}

/// One member's state: what the planner needs of it, and no more.
///
/// Only federated Services are kept (selected, `type: LoadBalancer`, not excluded; the stub's
/// index, [`Index::of_every_service`], keeps all): a Service that stops being federated leaves, as
/// if deleted. Of EndpointSlices only the Service they belong to and their ready count are kept,
/// for every Service: a Service that becomes a LoadBalancer later is healthy at once, though its
/// slices will not change to tell.
#[derive(Debug, Clone)]
pub struct Member {
    /// Life-cycle status.
    pub status: MemberStatus,
    /// Zones and region.
    pub topology: Topology,
    /// The member's name (shared by every Service it serves).
    name: DnsName,
    nodes: BTreeMap<String, NodeProj>,
    services: BTreeMap<ServiceKey, ServiceProj>,
    /// Slice (namespace, name) → the name of its Service and its ready endpoints.
    slices: BTreeMap<(DnsName, DnsName), (DnsName, usize)>,
    /// Ready endpoints per Service (of every Service, federated or not).
    ready: BTreeMap<ServiceKey, usize>,
    /// Ingresses (read when the `ingress` source is on).
    ingresses: BTreeMap<ServiceKey, IngressProj>,
    /// Gateways (read when the `gateway` source is on).
    gateways: BTreeMap<ServiceKey, GatewayProj>,
    /// HTTPRoutes, GRPCRoutes and TLSRoutes.
    routes: BTreeMap<RouteKey, RouteProj>,
    /// The hosts they serve, derived from the three above and the ready counts.
    hosts: BTreeMap<DnsName, HostShard>,
    /// Kinds that cannot be read in this member, and why.
    unread: BTreeMap<String, String>,
}

impl Member {
    fn new(name: DnsName) -> Self {
        Self {
            status: MemberStatus::Pending,
            topology: Topology::default(),
            name,
            nodes: BTreeMap::new(),
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            ready: BTreeMap::new(),
            ingresses: BTreeMap::new(),
            gateways: BTreeMap::new(),
            routes: BTreeMap::new(),
            hosts: BTreeMap::new(),
            unread: BTreeMap::new(),
        }
    }

    /// Kinds that cannot be read in this member (a CRD not installed, access denied), and why.
    pub fn unread(&self) -> &BTreeMap<String, String> {
        &self.unread
    }

    /// A host in this member, if it serves it.
    pub fn host(&self, host: &str) -> Option<&HostShard> {
        self.hosts.get(host)
    }

    /// Every host this member serves.
    pub fn hosts(&self) -> impl Iterator<Item = (&DnsName, &HostShard)> {
        self.hosts.iter()
    }

    /// Whether the host answers with addresses here: member up, and a healthy object serves it.
    pub fn is_host_healthy(&self, host: &str) -> bool {
        self.is_up() && self.host(host).is_some_and(HostShard::is_healthy)
    }

    /// The hosts from the member's Ingresses, Gateways and routes as they are now.
    fn derive_hosts(&self) -> BTreeMap<DnsName, HostShard> {
        if self.ingresses.is_empty() && self.gateways.is_empty() {
            return BTreeMap::new();
        }
        member_hosts(&self.ingresses, &self.gateways, &self.routes, |k| {
            self.ready.get(k).is_some_and(|n| *n > 0)
        })
    }

    /// Whether its shards can count as healthy.
    pub fn is_up(&self) -> bool {
        matches!(self.status, MemberStatus::Synced | MemberStatus::Unavailable)
    }

    /// The Service in this member, if it has it (federated).
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceProj> {
        self.services.get(key)
    }

    /// Ready endpoints of a Service in this member.
    pub fn ready(&self, key: &ServiceKey) -> usize {
        self.ready.get(key).copied().unwrap_or(0)
    }

    /// Every federated Service of this member.
    pub fn services(&self) -> impl Iterator<Item = (&ServiceKey, &ServiceProj)> {
        self.services.iter()
    }

    /// A node of this member, by name.
    pub fn node(&self, name: &str) -> Option<&NodeProj> {
        self.nodes.get(name)
    }

    /// Whether the Service is a healthy shard here: member up, federated, with ingress and at least
    /// one ready endpoint.
    pub fn is_healthy(&self, key: &ServiceKey) -> bool {
        self.is_up()
            && self
                .service(key)
                .is_some_and(|s| s.federated && !s.ingress.is_empty())
            && self.ready(key) > 0
    }

    fn shard_fingerprint(&self, key: &ServiceKey) -> Option<(bool, &ServiceProj)> {
        self.service(key).map(|s| (self.is_healthy(key), s))
    }

    /// Records a slice (or its removal) in the ready counts.
    fn set_slice(&mut self, id: (DnsName, DnsName), new: Option<(DnsName, usize)>) {
        if let Some((service, ready)) = self.slices.remove(&id) {
            let key = ServiceKey {
                namespace: id.0.clone(),
                name: service,
            };
            if let Some(r) = self.ready.get_mut(&key) {
                *r = r.saturating_sub(ready);
                if *r == 0 {
                    self.ready.remove(&key);
                }
            }
        }
        if let Some((service, ready)) = new {
            if ready > 0 {
                let key = ServiceKey {
                    namespace: id.0.clone(),
                    name: service.clone(),
                };
                *self.ready.entry(key).or_default() += ready;
            }
            self.slices.insert(id, (service, ready));
        }
    }
}

/// The federation index.
#[derive(Debug, Clone, Default)]
pub struct Index {
    members: BTreeMap<String, Member>,
    services: BTreeMap<ServiceKey, BTreeSet<DnsName>>,
    /// Host → the members that serve it.
    hosts: BTreeMap<DnsName, BTreeSet<DnsName>>,
    dirty: BTreeSet<Subject>,
    /// Keep Services that are not federated too (the stub answers for every local Service).
    every_service: bool,
}

impl Index {
    /// An empty index of federated Services.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index that keeps every Service, federated or not (`feddns stub`, which answers
    /// for local Services of any type).
    pub fn of_every_service() -> Self {
        Self {
            every_service: true,
            ..Self::default()
        }
    }

    /// Adds a member in `Pending` status (no-op if it exists).
    pub fn add_member(&mut self, name: &str) {
        self.members
            .entry(name.to_string())
            .or_insert_with(|| Member::new(name.into()));
    }

    /// Removes a member; every Service it had is re-planned without it.
    pub fn remove_member(&mut self, name: &str) {
        if let Some(m) = self.members.remove(name) {
            for key in m.services.keys() {
                self.forget_shard(key, name);
                self.dirty.insert(Subject::Service(key.clone()));
            }
            for host in m.hosts.keys() {
                self.forget_host(host, name);
                self.dirty.insert(Subject::Host(host.clone()));
            }
            drop(m);
            self.forget_unused_names();
        }
    }

    /// The shared copy of `name` (see [`DnsName::intern`]).
    fn intern(&self, name: &DnsName) -> DnsName {
        DnsName::intern(name)
    }

    fn intern_key(&self, key: &ServiceKey) -> ServiceKey {
        ServiceKey {
            namespace: self.intern(&key.namespace),
            name: self.intern(&key.name),
        }
    }

    /// Drops interned names nothing uses any more.
    fn forget_unused_names(&self) {
        DnsName::forget_unused();
    }

    /// A member's state from a complete snapshot, keeping only what the planner needs.
    /// A member's state from a complete snapshot, keeping only what the planner needs. The maps
    /// are built whole (sorted, then packed), not one insertion at a time, which would leave
    /// their nodes half empty: a snapshot arrives in name order.
    fn compact(&mut self, name: &str, snapshot: MemberSnapshot) -> Member {
        let member_name = self
            .members
            .get(name)
            .map_or_else(|| DnsName::from(name), |m| m.name.clone());
        let mut m = Member::new(member_name);
        m.nodes = snapshot.nodes;
        let every = self.every_service;
        m.services = snapshot
            .services
            .into_iter()
            .filter(|(_, svc)| svc.federated || every)
            .map(|(key, svc)| (self.intern_key(&key), svc))
            .collect();
        m.slices = snapshot
            .slices
            .into_iter()
            .map(|((ns, slice), proj)| {
                (
                    (self.intern(&ns), slice),
                    (self.intern(&proj.service), proj.ready),
                )
            })
            .collect();
        let mut ready: BTreeMap<ServiceKey, usize> = BTreeMap::new();
        for ((ns, _), (service, n)) in m.slices.iter().filter(|(_, (_, n))| *n > 0) {
            *ready
                .entry(ServiceKey {
                    namespace: ns.clone(),
                    name: service.clone(),
                })
                .or_default() += n;
        }
        // Packed too (collected from the sorted map).
        m.ready = ready.into_iter().collect();
        m.ingresses = snapshot
            .ingresses
            .into_iter()
            .map(|(key, p)| (self.intern_key(&key), p))
            .collect();
        m.gateways = snapshot
            .gateways
            .into_iter()
            .map(|(key, p)| (self.intern_key(&key), p))
            .collect();
        m.routes = snapshot
            .routes
            .into_iter()
            .map(|((kind, key), p)| ((kind, self.intern_key(&key)), p))
            .collect();
        m.hosts = m.derive_hosts();
        m.unread = snapshot.unread;
        m
    }

    /// Replaces a member's state with a complete snapshot and marks it `Synced`. Marks dirty the
    /// Services whose shard changed (all of the member's Services when its topology changed).
    pub fn set_snapshot(&mut self, name: &str, snapshot: MemberSnapshot) {
        let mut next = self.compact(name, snapshot);
        next.status = MemberStatus::Synced;
        next.topology = Topology::from_nodes(next.nodes.values());
        let member = self
            .members
            .entry(name.to_string())
            .or_insert_with(|| Member::new(name.into()));
        let relocated =
            next.topology.region != member.topology.region || next.topology.zones != member.topology.zones;
        let status_changed = member.is_up() != next.is_up();
        let keys: BTreeSet<ServiceKey> = member
            .services
            .keys()
            .chain(next.services.keys())
            .cloned()
            .collect();
        let mut changed = Vec::new();
        for key in keys {
            if relocated || status_changed || member.shard_fingerprint(&key) != next.shard_fingerprint(&key) {
                changed.push(key);
            }
        }
        let hosts = changed_hosts(&member.hosts, &next.hosts, relocated || status_changed);
        *member = next;
        self.shards_changed(name, changed);
        self.hosts_changed(name, hosts);
        self.forget_unused_names();
    }

    /// Applies changes of single objects of a member (a watch event, or the difference a re-list
    /// found). With `resynced`, the member's state is complete and current again (a re-list after
    /// it was unavailable or down): it becomes `Synced`. Marks dirty the Services whose shard
    /// changed, all of the member's when its topology or its availability changed. Changes for a
    /// member the index does not know are ignored.
    pub fn apply_changes(&mut self, name: &str, changes: Vec<ObjectChange>, resynced: bool) {
        if !self.members.contains_key(name) {
            return;
        }
        // Share the names of what arrives with what is known.
        let changes: Vec<ObjectChange> = changes
            .into_iter()
            .map(|c| match c {
                ObjectChange::Service(key, svc) => {
                    let key = self.intern_key(&key);
                    let every = self.every_service;
                    ObjectChange::Service(key, svc.filter(|s| s.federated || every))
                }
                ObjectChange::Slice((ns, slice), proj) => {
                    let ns = self.intern(&ns);
                    let proj = proj.map(|mut p| {
                        p.namespace = ns.clone();
                        p.service = self.intern(&p.service);
                        p
                    });
                    ObjectChange::Slice((ns, slice), proj)
                }
                ObjectChange::Ingress(key, p) => ObjectChange::Ingress(self.intern_key(&key), p),
                ObjectChange::Gateway(key, p) => ObjectChange::Gateway(self.intern_key(&key), p),
                ObjectChange::Route((kind, key), p) => ObjectChange::Route((kind, self.intern_key(&key)), p),
                other @ (ObjectChange::Node(..) | ObjectChange::Unread(..)) => other,
            })
            .collect();
        let forgets = changes.iter().any(|c| {
            matches!(
                c,
                ObjectChange::Service(_, None)
                    | ObjectChange::Slice(_, None)
                    | ObjectChange::Ingress(_, None)
                    | ObjectChange::Gateway(_, None)
                    | ObjectChange::Route(_, None)
            )
        });
        let Some(member) = self.members.get_mut(name) else {
            return;
        };
        let mut touched: BTreeSet<ServiceKey> = BTreeSet::new();
        let mut nodes_changed = false;
        let mut hosts_touched = false;
        for c in &changes {
            match c {
                ObjectChange::Service(key, _) => {
                    touched.insert(key.clone());
                }
                ObjectChange::Slice(id, new) => {
                    touched.extend(member.slices.get(id).map(|(service, _)| ServiceKey {
                        namespace: id.0.clone(),
                        name: service.clone(),
                    }));
                    touched.extend(new.as_ref().map(SliceProj::service_key));
                    // An Ingress is healthy while a backend has a ready endpoint.
                    hosts_touched |= !member.ingresses.is_empty();
                }
                ObjectChange::Node(..) | ObjectChange::Unread(..) => {
                    nodes_changed |= matches!(c, ObjectChange::Node(..));
                }
                ObjectChange::Ingress(..) | ObjectChange::Gateway(..) | ObjectChange::Route(..) => {
                    hosts_touched = true;
                }
            }
        }
        let before: Vec<Option<(bool, ServiceProj)>> = touched
            .iter()
            .map(|k| member.shard_fingerprint(k).map(|(h, s)| (h, s.clone())))
            .collect();
        let was_up = member.is_up();
        for c in changes {
            match c {
                ObjectChange::Service(key, Some(s)) => {
                    member.services.insert(key, s);
                }
                ObjectChange::Service(key, None) => {
                    member.services.remove(&key);
                }
                ObjectChange::Node(n, Some(p)) => {
                    member.nodes.insert(n, p);
                }
                ObjectChange::Node(n, None) => {
                    member.nodes.remove(&n);
                }
                ObjectChange::Slice(id, new) => {
                    member.set_slice(id, new.map(|p| (p.service, p.ready)));
                }
                ObjectChange::Ingress(k, p) => put(&mut member.ingresses, k, p),
                ObjectChange::Gateway(k, p) => put(&mut member.gateways, k, p),
                ObjectChange::Route(k, p) => put(&mut member.routes, k, p),
                ObjectChange::Unread(k, why) => put(&mut member.unread, k, why),
            }
        }
        let mut relocated = false;
        if nodes_changed {
            let t = Topology::from_nodes(member.nodes.values());
            relocated = t.region != member.topology.region || t.zones != member.topology.zones;
            member.topology = t;
        }
        if resynced {
            member.status = MemberStatus::Synced;
        }
        let everything = relocated || was_up != member.is_up();
        let mut changed: Vec<ServiceKey> = touched
            .into_iter()
            .zip(before)
            .filter(|(k, before)| {
                let after = member.shard_fingerprint(k).map(|(h, s)| (h, s.clone()));
                *before != after || (everything && (before.is_some() || after.is_some()))
            })
            .map(|(k, _)| k)
            .collect();
        if everything {
            changed.extend(member.services.keys().cloned());
        }
        let mut hosts = Vec::new();
        if hosts_touched || everything {
            let next = member.derive_hosts();
            hosts = changed_hosts(&member.hosts, &next, everything);
            member.hosts = next;
        }
        self.shards_changed(name, changed);
        self.hosts_changed(name, hosts);
        if forgets {
            self.forget_unused_names();
        }
    }

    /// Marks dirty the Services whose shard in member `name` changed, and keeps the Service →
    /// members map in step with whether the member still has them.
    fn shards_changed(&mut self, name: &str, changed: Vec<ServiceKey>) {
        for key in changed {
            let member = self
                .members
                .get(name)
                .filter(|m| m.services.contains_key(&key))
                .map(|m| m.name.clone());
            if let Some(member) = member {
                self.services.entry(key.clone()).or_default().insert(member);
            } else {
                self.forget_shard(&key, name);
            }
            self.dirty.insert(Subject::Service(key));
        }
    }

    /// Marks dirty the hosts of member `name` that changed, and keeps the host → members map in
    /// step.
    fn hosts_changed(&mut self, name: &str, changed: Vec<DnsName>) {
        for host in changed {
            let member = self
                .members
                .get(name)
                .filter(|m| m.hosts.contains_key(&host))
                .map(|m| m.name.clone());
            if let Some(member) = member {
                self.hosts.entry(host.clone()).or_default().insert(member);
            } else {
                self.forget_host(&host, name);
            }
            self.dirty.insert(Subject::Host(host));
        }
    }

    /// Marks a synced member unavailable: its shards keep counting (grace period).
    pub fn set_unavailable(&mut self, name: &str) {
        if let Some(m) = self.members.get_mut(name)
            && m.status == MemberStatus::Synced
        {
            m.status = MemberStatus::Unavailable;
        }
    }

    /// Marks a member down: its shards stop counting as healthy.
    pub fn set_down(&mut self, name: &str) {
        let Some(m) = self.members.get_mut(name) else {
            return;
        };
        if m.status == MemberStatus::Down {
            return;
        }
        let was_up = m.is_up();
        m.status = MemberStatus::Down;
        if was_up {
            let keys: Vec<Subject> = m
                .services
                .keys()
                .cloned()
                .map(Subject::Service)
                .chain(m.hosts.keys().cloned().map(Subject::Host))
                .collect();
            self.dirty.extend(keys);
        }
    }

    /// True when every member has produced a complete state or has been declared down: only
    /// then may anything be deleted.
    pub fn all_settled(&self) -> bool {
        self.members.values().all(|m| m.status != MemberStatus::Pending)
    }

    /// The members, by name.
    pub fn members(&self) -> &BTreeMap<String, Member> {
        &self.members
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    /// How many Services some member has.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Every Service any member has.
    pub fn service_keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.services.keys()
    }

    /// The members that have the Service, with their state.
    pub fn shards<'a>(&'a self, key: &'a ServiceKey) -> impl Iterator<Item = (&'a str, &'a Member)> + 'a {
        self.services
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|name| self.members.get(name.as_str()).map(|m| (name.as_str(), m)))
    }

    /// How many hosts some member serves.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Every host some member serves.
    pub fn host_names(&self) -> impl Iterator<Item = &DnsName> {
        self.hosts.keys()
    }

    /// Every Service and host some member has.
    pub fn subjects(&self) -> impl Iterator<Item = Subject> + '_ {
        self.services
            .keys()
            .cloned()
            .map(Subject::Service)
            .chain(self.hosts.keys().cloned().map(Subject::Host))
    }

    /// The members that serve the host, with their state.
    pub fn host_shards<'a>(&'a self, host: &str) -> impl Iterator<Item = (&'a str, &'a Member)> + 'a {
        self.hosts
            .get(host)
            .into_iter()
            .flatten()
            .filter_map(|name| self.members.get(name.as_str()).map(|m| (name.as_str(), m)))
    }

    /// Marks a Service or host dirty (e.g. when a hostname it uses resolves differently).
    pub fn mark_dirty(&mut self, subject: impl Into<Subject>) {
        self.dirty.insert(subject.into());
    }

    /// Marks every known Service and host dirty.
    pub fn mark_all_dirty(&mut self) {
        let all: Vec<Subject> = self.subjects().collect();
        self.dirty.extend(all);
    }

    /// Whether any Service waits to be re-planned.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Takes the dirty set.
    pub fn take_dirty(&mut self) -> BTreeSet<Subject> {
        std::mem::take(&mut self.dirty)
    }

    fn forget_host(&mut self, host: &str, member: &str) {
        if let Some(set) = self.hosts.get_mut(host) {
            set.remove(member);
            if set.is_empty() {
                self.hosts.remove(host);
            }
        }
    }

    fn forget_shard(&mut self, key: &ServiceKey, member: &str) {
        if let Some(set) = self.services.get_mut(key) {
            set.remove(member);
            if set.is_empty() {
                self.services.remove(key);
            }
        }
    }
}

/// The hosts whose shard differs between `before` and `after` (all of both with `everything`).
fn changed_hosts(
    before: &BTreeMap<DnsName, HostShard>,
    after: &BTreeMap<DnsName, HostShard>,
    everything: bool,
) -> Vec<DnsName> {
    let names: BTreeSet<&DnsName> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|h| everything || before.get(*h) != after.get(*h))
        .cloned()
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::federation::model::{ServiceOptions, SliceProj, Target};

    pub(crate) fn node(name: &str, zone: Option<&str>, region: Option<&str>) -> NodeProj {
        NodeProj {
            name: name.into(),
            zone: zone.map(Into::into),
            region: region.map(Into::into),
        }
    }

    /// A member snapshot builder for tests.
    #[derive(Default)]
    pub(crate) struct Snap(pub(crate) MemberSnapshot);

    impl Snap {
        pub(crate) fn node(mut self, name: &str, zone: &str, region: &str) -> Self {
            self.0
                .nodes
                .insert(name.into(), node(name, Some(zone), Some(region)));
            self
        }

        pub(crate) fn service(mut self, ns: &str, name: &str, ingress: &[&str], ready: usize) -> Self {
            let key = ServiceKey::new(ns, name);
            let ingress = ingress
                .iter()
                .map(|s| {
                    s.parse()
                        .map(Target::Ip)
                        .unwrap_or_else(|_| Target::Hostname((*s).to_string()))
                })
                .collect();
            self.0.services.insert(
                key.clone(),
                ServiceProj {
                    federated: true,
                    ingress,
                    options: ServiceOptions::default(),
                    problems: vec![].into(),
                },
            );
            let slice = format!("{name}-abc");
            self.0.slices.insert(
                (ns.into(), slice.clone().into()),
                SliceProj {
                    namespace: ns.into(),
                    name: slice.into(),
                    service: name.into(),
                    ready,
                },
            );
            self
        }

        /// An Ingress serving `hosts` at `addresses` (IPs or hostnames), sending to `backend`
        /// (a Service with `ready` endpoints).
        pub(crate) fn ingress(
            mut self,
            ns: &str,
            name: &str,
            hosts: &[&str],
            addresses: &[&str],
            backend: &str,
            ready: usize,
        ) -> Self {
            self.0.ingresses.insert(
                ServiceKey::new(ns, name),
                crate::federation::model::IngressProj {
                    federated: true,
                    hosts: hosts.iter().map(|h| (*h).into()).collect(),
                    addresses: targets(addresses),
                    backends: Box::new([backend.into()]),
                    options: ServiceOptions::default(),
                    problems: Box::new([]),
                },
            );
            let slice = format!("{backend}-ing");
            self.0.slices.insert(
                (ns.into(), slice.clone().into()),
                SliceProj {
                    namespace: ns.into(),
                    name: slice.into(),
                    service: backend.into(),
                    ready,
                },
            );
            self
        }

        /// A Gateway in `infra` at `addresses`, with listeners (name, port, hostname).
        pub(crate) fn gateway(
            mut self,
            name: &str,
            addresses: &[&str],
            listeners: &[(&str, i32, Option<&str>)],
        ) -> Self {
            self.0.gateways.insert(
                ServiceKey::new("infra", name),
                crate::federation::model::GatewayProj {
                    federated: true,
                    addresses: targets(addresses),
                    listeners: listeners
                        .iter()
                        .map(|(n, port, h)| crate::federation::model::ListenerProj {
                            name: (*n).into(),
                            port: *port,
                            hostname: h.map(Into::into),
                        })
                        .collect(),
                    options: ServiceOptions::default(),
                    problems: Box::new([]),
                },
            );
            self
        }

        /// An HTTPRoute `web/<name>` with `hostnames`, accepted by the Gateways `infra/<gateway>`
        /// with an optional section name.
        pub(crate) fn route(
            mut self,
            name: &str,
            hostnames: &[&str],
            parents: &[(&str, Option<&str>)],
        ) -> Self {
            self.0.routes.insert(
                (
                    crate::federation::model::RouteKind::Http,
                    ServiceKey::new("web", name),
                ),
                crate::federation::model::RouteProj {
                    federated: true,
                    hostnames: hostnames.iter().map(|h| (*h).into()).collect(),
                    parents: parents
                        .iter()
                        .map(|(g, section)| crate::federation::model::ParentProj {
                            gateway: ServiceKey::new("infra", *g),
                            section: section.map(Into::into),
                            port: None,
                        })
                        .collect(),
                    problems: Box::new([]),
                },
            );
            self
        }

        pub(crate) fn build(self) -> MemberSnapshot {
            self.0
        }
    }

    fn targets(addresses: &[&str]) -> Box<[Target]> {
        addresses
            .iter()
            .map(|s| {
                s.parse()
                    .map(Target::Ip)
                    .unwrap_or_else(|_| Target::Hostname((*s).to_string()))
            })
            .collect()
    }

    #[test]
    fn topology_takes_every_zone_and_the_majority_region() {
        let nodes = [
            node("a", Some("eu-west-1a"), Some("eu-west-1")),
            node("b", Some("eu-west-1b"), Some("eu-west-1")),
            node("c", Some("us-east-1a"), Some("us-east-1")),
            node("d", None, None),
        ];
        let t = Topology::from_nodes(&nodes);
        assert_eq!(t.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            t.zones.iter().map(String::as_str).collect::<Vec<_>>(),
            ["eu-west-1a", "eu-west-1b"]
        );
        assert_eq!(t.unlabeled_nodes, 1);
        assert_eq!(
            t.region_disagreement.as_deref(),
            Some("eu-west-1: 2 nodes, us-east-1: 1 node")
        );
    }

    #[test]
    fn region_ties_do_not_depend_on_node_order() {
        let a = [node("a", None, Some("r2")), node("b", None, Some("r1"))];
        let b = [node("b", None, Some("r1")), node("a", None, Some("r2"))];
        assert_eq!(Topology::from_nodes(&a).region, Topology::from_nodes(&b).region);
        assert_eq!(Topology::from_nodes(&a).region.as_deref(), Some("r1"));
    }

    #[test]
    fn snapshot_marks_only_changed_services_dirty() {
        let mut ix = Index::new();
        ix.add_member("m1");
        let s1 = Snap::default()
            .node("n", "z1", "r1")
            .service("ns", "a", &["192.0.2.1"], 1)
            .service("ns", "b", &["192.0.2.2"], 1);
        ix.set_snapshot("m1", s1.build());
        assert_eq!(ix.take_dirty().len(), 2);
        let s2 = Snap::default()
            .node("n", "z1", "r1")
            .service("ns", "a", &["192.0.2.1"], 1)
            .service("ns", "b", &["192.0.2.3"], 1);
        ix.set_snapshot("m1", s2.build());
        assert_eq!(
            ix.take_dirty().into_iter().collect::<Vec<_>>(),
            vec![Subject::Service(ServiceKey::new("ns", "b"))]
        );
        // Ready count 1 -> 2 keeps the shard healthy: nothing to re-plan.
        let s3 = Snap::default()
            .node("n", "z1", "r1")
            .service("ns", "a", &["192.0.2.1"], 2)
            .service("ns", "b", &["192.0.2.3"], 1);
        ix.set_snapshot("m1", s3.build());
        assert!(!ix.has_dirty());
        // A zone change re-plans every Service of the member.
        let s4 = Snap::default()
            .node("n", "z2", "r1")
            .service("ns", "a", &["192.0.2.1"], 2)
            .service("ns", "b", &["192.0.2.3"], 1);
        ix.set_snapshot("m1", s4.build());
        assert_eq!(ix.take_dirty().len(), 2);
    }

    #[test]
    fn health_needs_ingress_ready_endpoints_and_an_up_member() {
        let mut ix = Index::new();
        ix.set_snapshot(
            "m",
            Snap::default()
                .service("ns", "ok", &["192.0.2.1"], 1)
                .service("ns", "unready", &["192.0.2.2"], 0)
                .service("ns", "pending", &[], 3)
                .build(),
        );
        let m = ix.member("m").unwrap();
        assert!(m.is_healthy(&ServiceKey::new("ns", "ok")));
        assert!(!m.is_healthy(&ServiceKey::new("ns", "unready")));
        assert!(!m.is_healthy(&ServiceKey::new("ns", "pending")));
        ix.take_dirty();
        ix.set_unavailable("m");
        assert!(
            ix.member("m").unwrap().is_healthy(&ServiceKey::new("ns", "ok")),
            "still healthy within grace"
        );
        assert!(!ix.has_dirty());
        ix.set_down("m");
        assert!(!ix.member("m").unwrap().is_healthy(&ServiceKey::new("ns", "ok")));
        assert_eq!(ix.take_dirty().len(), 3);
    }

    #[test]
    fn removing_a_member_dirties_its_services_and_forgets_them() {
        let mut ix = Index::new();
        ix.set_snapshot(
            "m1",
            Snap::default().service("ns", "a", &["192.0.2.1"], 1).build(),
        );
        ix.set_snapshot(
            "m2",
            Snap::default().service("ns", "a", &["192.0.2.2"], 1).build(),
        );
        ix.take_dirty();
        ix.remove_member("m1");
        assert_eq!(ix.take_dirty().len(), 1);
        assert_eq!(ix.shards(&ServiceKey::new("ns", "a")).count(), 1);
        ix.remove_member("m2");
        assert_eq!(ix.service_keys().count(), 0);
    }

    /// A ClusterIP Service is not kept; becoming a LoadBalancer it is healthy at once (its slices
    /// were counted), and going back it leaves.
    #[test]
    fn only_federated_services_are_kept_and_their_slices_counted_all_along() {
        let mut ix = Index::new();
        let mut snap = Snap::default()
            .node("n", "z1", "r1")
            .service("ns", "web", &["192.0.2.1"], 2)
            .build();
        let key = ServiceKey::new("ns", "web");
        if let Some(s) = snap.services.get_mut(&key) {
            s.federated = false;
        }
        ix.set_snapshot("m", snap.clone());
        assert_eq!(ix.service_count(), 0);
        assert_eq!(ix.member("m").unwrap().services().count(), 0);
        ix.take_dirty();
        let mut lb = snap.services[&key].clone();
        lb.federated = true;
        ix.apply_changes(
            "m",
            vec![ObjectChange::Service(key.clone(), Some(lb.clone()))],
            false,
        );
        assert!(
            ix.member("m").unwrap().is_healthy(&key),
            "its ready endpoints were known"
        );
        assert_eq!(ix.take_dirty().len(), 1);
        lb.federated = false;
        ix.apply_changes("m", vec![ObjectChange::Service(key.clone(), Some(lb))], false);
        assert_eq!(ix.service_count(), 0);
        assert_eq!(ix.take_dirty().len(), 1, "leaving is a change to plan");
    }

    /// Every member's copy of a Service's key shares one allocation per name.
    #[test]
    fn names_are_shared_across_members() {
        let mut ix = Index::new();
        for m in ["m1", "m2"] {
            let snap = Snap::default().service("names-shared-ns", "names-shared-web", &["192.0.2.1"], 1);
            ix.set_snapshot(m, snap.build());
        }
        let key = ServiceKey::new("names-shared-ns", "names-shared-web");
        let key_in = |m: &str| {
            let member = ix.member(m).unwrap();
            member.services().find(|(k, _)| **k == key).unwrap().0.clone()
        };
        let (a, b) = (key_in("m1"), key_in("m2"));
        assert!(std::ptr::eq(a.name.as_str(), b.name.as_str()));
        assert!(std::ptr::eq(a.namespace.as_str(), b.namespace.as_str()));
        ix.remove_member("m1");
        ix.remove_member("m2");
        // Once planned (the dirty set no longer holds them), nothing uses the names: the next
        // change of a member drops them.
        ix.take_dirty();
        drop((a, b, key));
        ix.set_snapshot("m3", MemberSnapshot::default());
        assert!(
            !DnsName::is_interned("names-shared-web"),
            "names nothing uses are dropped"
        );
    }

    #[test]
    fn settled_only_when_no_member_is_pending() {
        let mut ix = Index::new();
        ix.add_member("a");
        ix.add_member("b");
        assert!(!ix.all_settled());
        ix.set_snapshot("a", MemberSnapshot::default());
        assert!(!ix.all_settled());
        ix.set_down("b");
        assert!(ix.all_settled());
    }

    mod changes {
        use super::*;
        use proptest::prelude::*;

        fn service(ip: u8, federated: bool) -> ServiceProj {
            ServiceProj {
                federated,
                ingress: vec![Target::Ip(format!("192.0.2.{ip}").parse().unwrap())].into(),
                options: ServiceOptions::default(),
                problems: vec![].into(),
            }
        }

        fn change() -> impl Strategy<Value = ObjectChange> {
            let svc = (0..3u8, 0..3u8, any::<bool>(), any::<bool>()).prop_map(|(n, ip, fed, del)| {
                let key = ServiceKey::new("ns", format!("s{n}"));
                ObjectChange::Service(key, (!del).then(|| service(ip, fed)))
            });
            let node = (0..3u8, 0..3u8, 0..2u8, any::<bool>()).prop_map(|(n, z, r, del)| {
                let name = format!("n{n}");
                let proj = node(&name, Some(&format!("z{z}")), Some(&format!("r{r}")));
                ObjectChange::Node(name, (!del).then_some(proj))
            });
            let slice = (0..4u8, 0..3u8, 0..3usize, any::<bool>()).prop_map(|(n, s, ready, del)| {
                let id: (DnsName, DnsName) = ("ns".into(), format!("sl{n}").into());
                let proj = SliceProj {
                    namespace: "ns".into(),
                    name: id.1.clone(),
                    service: format!("s{s}").into(),
                    ready,
                };
                ObjectChange::Slice(id, (!del).then_some(proj))
            });
            prop_oneof![svc, node, slice]
        }

        fn ready_nonzero(m: &Member) -> BTreeMap<ServiceKey, usize> {
            m.ready
                .iter()
                .filter(|(_, r)| **r > 0)
                .map(|(k, r)| (k.clone(), *r))
                .collect()
        }

        proptest! {
            /// Changes applied one batch at a time leave the index exactly as a complete snapshot of
            /// the same state would, and dirty exactly the same Services.
            #[test]
            fn changes_match_snapshots(batches in proptest::collection::vec(proptest::collection::vec(change(), 1..4), 1..12),
                                       down_at in proptest::option::of(0..12usize)) {
                let (mut inc, mut full) = (Index::new(), Index::new());
                let mut snap = MemberSnapshot::default();
                inc.set_snapshot("m", snap.clone());
                full.set_snapshot("m", snap.clone());
                inc.take_dirty();
                full.take_dirty();
                for (i, batch) in batches.iter().enumerate() {
                    let resync = down_at == Some(i);
                    if resync {
                        inc.set_down("m");
                        full.set_down("m");
                        prop_assert_eq!(inc.take_dirty(), full.take_dirty());
                    }
                    for c in batch {
                        snap.apply(c.clone());
                    }
                    inc.apply_changes("m", batch.clone(), resync);
                    full.set_snapshot("m", snap.clone());
                    let (a, b) = (&inc.members["m"], &full.members["m"]);
                    prop_assert_eq!(&a.services, &b.services);
                    prop_assert_eq!(&a.slices, &b.slices);
                    prop_assert_eq!(&a.nodes, &b.nodes);
                    prop_assert_eq!(&a.topology, &b.topology);
                    prop_assert_eq!(a.status, b.status);
                    prop_assert_eq!(ready_nonzero(a), ready_nonzero(b));
                    prop_assert_eq!(&inc.services, &full.services);
                    prop_assert_eq!(inc.take_dirty(), full.take_dirty());
                }
            }
        }

        #[test]
        fn unknown_members_are_ignored() {
            let mut ix = Index::new();
            ix.apply_changes("ghost", vec![ObjectChange::Node("n".into(), None)], true);
            assert!(ix.members().is_empty() && !ix.has_dirty());
        }
    }
}
