//! [`FakeRoute53`]: a strict in-memory Route53 (feature `fake`).
//!
//! It enforces the documented rules of the real service, which moto does not (see
//! `shared/reference/standins.md` §1.4, column "Real Route53"):
//!
//! * a batch is validated as a whole and applied atomically; changes are taken in order, so a
//!   `DELETE` followed by a `CREATE` of the same set (the classic update) works;
//! * `DELETE` must match the current set exactly (TTL, values in any order, set identifier,
//!   weight or region, alias target, and the fields feddns does not model: health check,
//!   failover, geolocation, geoproximity, multivalue answer, CIDR routing, traffic policy
//!   instance), else "not found" / "values provided do not match"; all of them are stored and
//!   listed;
//! * `CREATE` of an existing set (name, type, set identifier) fails;
//! * a CNAME cannot share its name with another type; plain and routed sets, or sets of two
//!   routing policies, cannot share a name and type; two latency sets of one name and type
//!   cannot name the same `Region`;
//! * any other second change to one set in a batch fails ("invalid set of changes for a single
//!   resource record set");
//! * 1,000 `ResourceRecord`s and 32,000 characters of `Value` per request, an UPSERT counting
//!   twice;
//! * TXT values must be quoted strings of at most 255 bytes each; A and AAAA values must be
//!   addresses; names must be in the zone; the apex SOA and NS cannot be removed;
//! * listing in Route53's order (labels reversed, then type, then set identifier), pages of at
//!   most 300 (or a smaller cap), `NextRecordIdentifier` when a page splits a group of routed
//!   sets, and `StartRecordIdentifier` honoured;
//! * a change is `PENDING` until it has been asked about with `GetChange` a configurable number
//!   of times, then `INSYNC`; unknown change ids give `NoSuchChange`.
//!
//! For tests it adds: throttling injection (a fraction of calls answer `Throttling`, or
//! `PriorRequestNotComplete` for changes; deterministic for a seed), an injected
//! `InvalidChangeBatch` for a name, one-shot errors per operation, list quirks that mimic broken
//! servers (moto ignoring `StartRecordIdentifier`, a server repeating a page), counters per
//! operation, and direct seeding and inspection of records.
//!
//! Errors are [`ApiError`]s shaped exactly as [`SdkApi`](crate::SdkApi) produces them: kind
//! `Service`, the service's code and HTTP status, and for `InvalidChangeBatch` every message in
//! brackets, comma-separated. Messages follow the service's wording where it is known.
//!
//! [`http`] serves a shared fake over HTTP in Route53's REST-XML protocol, for the real AWS SDK
//! (in this process or, with [`http::serve_standalone`], in another one).

pub mod http;
mod xml;

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use feddns_provider::{RecordSet, in_zone};

use crate::api::{
    ApiError, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, HostedZonePage, Operation, RecordPage,
    RecordPageStart, Route53Api, WireAlias, WireChange, WireRecordSet,
};
use crate::wire::{
    TXT_STRING_MAX, canonical_wire_name, change_records, change_value_chars, decode_name, from_wire,
    order_key, to_wire, txt_strings,
};

/// Ways the fake can misbehave when listing, to test clients against broken servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListQuirk {
    /// Behave as Route53.
    #[default]
    Faithful,
    /// Ignore `StartRecordIdentifier` and never return `NextRecordIdentifier` (moto 5.2.5).
    IgnoreStartIdentifier,
    /// Ignore the start position entirely: every call returns the first page.
    RepeatFirstPage,
}

type SetKey = (String, String, String);

#[derive(Debug, Clone)]
struct Zone {
    id: String,
    name: String,
    private: bool,
    sets: BTreeMap<SetKey, WireRecordSet>,
}

#[derive(Debug)]
struct Throttle {
    fraction: f64,
    rng: u64,
}

impl Throttle {
    fn next_unit(&mut self) -> f64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Default)]
struct State {
    zones: BTreeMap<String, Zone>,
    next_zone: u64,
    changes: BTreeMap<String, u32>,
    next_change: u64,
    insync_after: u32,
    throttle: Option<Throttle>,
    injected: BTreeMap<String, String>,
    queued: BTreeMap<Operation, VecDeque<ApiError>>,
    page_cap: Option<usize>,
    quirk: ListQuirk,
    calls: BTreeMap<Operation, u64>,
    throttled: BTreeMap<Operation, u64>,
}

/// A strict in-memory Route53 implementing [`Route53Api`]. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct FakeRoute53 {
    state: Mutex<State>,
}

fn key_of(s: &WireRecordSet) -> SetKey {
    order_key(&s.name, &s.rtype, s.set_identifier.as_deref())
}

fn describe(s: &WireRecordSet) -> String {
    let mut d = format!("[name='{}', type='{}'", s.name, s.rtype);
    if let Some(id) = &s.set_identifier {
        d.push_str(&format!(", set-identifier='{id}'"));
    }
    d.push(']');
    d
}

fn change_ref(action: ChangeAction, s: &WireRecordSet) -> String {
    format!(
        "[Action={}, Name={}, Type={}, SetIdentifier={}]",
        action.as_str(),
        s.name,
        s.rtype,
        s.set_identifier.as_deref().unwrap_or("null")
    )
}

fn policy(s: &WireRecordSet) -> &'static str {
    if s.weight.is_some() {
        "weighted"
    } else if s.region.is_some() {
        "latency"
    } else if let Some(other) = s.other_policy() {
        other
    } else {
        "simple"
    }
}

fn is_text(rtype: &str) -> bool {
    rtype == "TXT" || rtype == "SPF"
}

fn is_name_type(rtype: &str) -> bool {
    matches!(rtype, "CNAME" | "NS" | "PTR")
}

/// A value in a comparable form: addresses parsed, names normalized, text split into strings.
fn comparable(rtype: &str, v: &str) -> String {
    match rtype {
        "A" => v
            .parse::<Ipv4Addr>()
            .map_or_else(|_| v.to_string(), |a| a.to_string()),
        "AAAA" => v
            .parse::<Ipv6Addr>()
            .map_or_else(|_| v.to_string(), |a| a.to_string()),
        t if is_name_type(t) => decode_name(v),
        t if is_text(t) => format!("{:?}", txt_strings(v)),
        _ => v.trim().to_ascii_lowercase(),
    }
}

fn same_set(cur: &WireRecordSet, req: &WireRecordSet) -> bool {
    let values = |s: &WireRecordSet| {
        let mut v: Vec<String> = s.values.iter().map(|x| comparable(&s.rtype, x)).collect();
        v.sort();
        v
    };
    let alias = |a: &Option<WireAlias>| {
        a.as_ref().map(|a| {
            (
                a.hosted_zone_id.to_ascii_uppercase(),
                decode_name(&a.dns_name),
                a.evaluate_target_health,
            )
        })
    };
    cur.ttl == req.ttl
        && cur.set_identifier == req.set_identifier
        && cur.weight == req.weight
        && cur.region == req.region
        && alias(&cur.alias) == alias(&req.alias)
        && values(cur) == values(req)
        && cur.health_check_id == req.health_check_id
        && cur.failover == req.failover
        && cur.geo_location == req.geo_location
        && cur.geo_proximity_location == req.geo_proximity_location
        && cur.multi_value_answer == req.multi_value_answer
        && cur.cidr_routing_config == req.cidr_routing_config
        && cur.traffic_policy_instance_id == req.traffic_policy_instance_id
}

/// Checks a TXT value the way Route53 does: one or more quoted strings of at most 255 bytes.
fn check_txt(v: &str) -> Result<(), &'static str> {
    let b = v.as_bytes();
    let mut i = 0;
    let mut strings = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i] != b'"' {
            return Err("InvalidCharacterString (Value should be enclosed in quotation marks)");
        }
        i += 1;
        let mut len = 0usize;
        let mut closed = false;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    closed = true;
                    i += 1;
                    break;
                }
                b'\\' if i + 1 < b.len() => {
                    let octal = b.len() >= i + 4 && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
                    i += if octal { 4 } else { 2 };
                }
                _ => i += 1,
            }
            len += 1;
        }
        if !closed {
            return Err("InvalidCharacterString (Value should be enclosed in quotation marks)");
        }
        if len > TXT_STRING_MAX {
            return Err("CharacterStringTooLong (Value is too long)");
        }
        strings += 1;
    }
    if strings == 0 {
        return Err("InvalidCharacterString (Value should be enclosed in quotation marks)");
    }
    Ok(())
}

impl FakeRoute53 {
    /// An empty account (no hosted zones).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates a public hosted zone with its apex SOA and NS sets; returns its id.
    pub fn add_zone(&self, name: &str) -> String {
        let id = {
            let mut st = self.lock();
            st.next_zone += 1;
            format!("ZFAKE{:09}", st.next_zone)
        };
        self.add_zone_with(&id, name, false);
        id
    }

    /// Creates a hosted zone with a given id (public or private) and its apex SOA and NS sets.
    /// Several zones may share a name, as on Route53.
    pub fn add_zone_with(&self, id: &str, name: &str, private: bool) {
        let name = canonical_wire_name(name);
        let mut zone = Zone {
            id: id.to_string(),
            name: name.clone(),
            private,
            sets: BTreeMap::new(),
        };
        let soa = WireRecordSet {
            name: name.clone(),
            rtype: "SOA".into(),
            ttl: Some(900),
            values: vec![format!(
                "ns-2048.awsdns-64.com. hostmaster.{name} 1 7200 900 1209600 86400"
            )],
            ..WireRecordSet::default()
        };
        let ns = WireRecordSet {
            name: name.clone(),
            rtype: "NS".into(),
            ttl: Some(172_800),
            values: vec![
                "ns-2048.awsdns-64.com.".into(),
                "ns-2049.awsdns-00.net.".into(),
                "ns-2050.awsdns-01.org.".into(),
                "ns-2051.awsdns-02.co.uk.".into(),
            ],
            ..WireRecordSet::default()
        };
        for s in [soa, ns] {
            zone.sets.insert(key_of(&s), s);
        }
        self.lock().zones.insert(id.to_string(), zone);
    }

    /// Puts a set into a zone without any check (the name is made canonical); replaces a set
    /// with the same key. Does nothing for an unknown zone.
    pub fn seed(&self, zone_id: &str, set: WireRecordSet) {
        let mut set = set;
        set.name = canonical_wire_name(&set.name);
        set.rtype = set.rtype.to_ascii_uppercase();
        if let Some(z) = self.lock().zones.get_mut(zone_id) {
            z.sets.insert(key_of(&set), set);
        }
    }

    /// Puts a feddns record set into a zone without any check.
    pub fn seed_set(&self, zone_id: &str, set: &RecordSet) {
        self.seed(zone_id, to_wire(set));
    }

    /// Every set of a zone in wire form, in list order (empty for an unknown zone).
    pub fn records(&self, zone_id: &str) -> Vec<WireRecordSet> {
        self.lock()
            .zones
            .get(zone_id)
            .map(|z| z.sets.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every set of a zone that feddns can represent, in feddns form and list order.
    pub fn record_sets(&self, zone_id: &str) -> Vec<RecordSet> {
        self.records(zone_id)
            .iter()
            .filter_map(|w| from_wire(w).ok())
            .collect()
    }

    /// Changes stay `PENDING` until the `n`-th `GetChange` about them (0: `INSYNC` at once,
    /// the default). Applies to changes made afterwards.
    pub fn set_insync_after(&self, n: u32) {
        self.lock().insync_after = n;
    }

    /// A `fraction` (0..=1) of all calls answer `Throttling` (changes: `Throttling` or
    /// `PriorRequestNotComplete`), chosen by a generator seeded with `seed`.
    pub fn set_throttling(&self, fraction: f64, seed: u64) {
        self.lock().throttle = Some(Throttle {
            fraction: fraction.clamp(0.0, 1.0),
            rng: seed,
        });
    }

    /// Stops throttling.
    pub fn clear_throttling(&self) {
        self.lock().throttle = None;
    }

    /// Every batch touching `name` fails with `InvalidChangeBatch` and `message` (default: an
    /// "injected" message naming the set) until [`clear_injected`](Self::clear_injected).
    pub fn inject_invalid_change_batch(&self, name: &str, message: Option<&str>) {
        let name = decode_name(name);
        let msg = message.map_or_else(
            || {
                format!(
                    "Invalid Resource Record: FATAL problem: injected failure for RRSet with DNS name {name}."
                )
            },
            str::to_string,
        );
        self.lock().injected.insert(name, msg);
    }

    /// Removes every injected `InvalidChangeBatch`.
    pub fn clear_injected(&self) {
        self.lock().injected.clear();
    }

    /// The next call of `error.operation` fails with `error` (queued, one per call).
    pub fn push_error(&self, error: ApiError) {
        self.lock()
            .queued
            .entry(error.operation)
            .or_default()
            .push_back(error);
    }

    /// Pages hold at most `n` sets (whatever `MaxItems` asks; the service's own cap is 300).
    pub fn set_page_cap(&self, n: usize) {
        self.lock().page_cap = Some(n.max(1));
    }

    /// Makes listing misbehave (see [`ListQuirk`]).
    pub fn set_list_quirk(&self, quirk: ListQuirk) {
        self.lock().quirk = quirk;
    }

    /// Calls received, by operation name (throttled and failed calls included).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        let st = self.lock();
        Operation::ALL
            .iter()
            .map(|op| (op.as_str().to_string(), st.calls.get(op).copied().unwrap_or(0)))
            .collect()
    }

    /// Calls answered with an injected throttle, by operation name.
    pub fn throttled(&self) -> BTreeMap<String, u64> {
        let st = self.lock();
        Operation::ALL
            .iter()
            .map(|op| {
                (
                    op.as_str().to_string(),
                    st.throttled.get(op).copied().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The status a change has now, without counting as a `GetChange`.
    pub fn change_status(&self, change_id: &str) -> Option<ChangeStatus> {
        let id = change_id.trim_start_matches("/change/");
        self.lock().changes.get(id).map(|left| {
            if *left == 0 {
                ChangeStatus::InSync
            } else {
                ChangeStatus::Pending
            }
        })
    }

    /// Counts the call and answers an injected error or throttle, if any.
    fn enter(st: &mut State, op: Operation) -> Result<(), ApiError> {
        *st.calls.entry(op).or_default() += 1;
        if let Some(e) = st.queued.get_mut(&op).and_then(VecDeque::pop_front) {
            return Err(e);
        }
        if let Some(t) = st.throttle.as_mut()
            && t.fraction > 0.0
            && t.next_unit() < t.fraction
        {
            let prior = op == Operation::ChangeResourceRecordSets && t.next_unit() < 0.5;
            *st.throttled.entry(op).or_default() += 1;
            return Err(if prior {
                ApiError::service(
                    op,
                    400,
                    "PriorRequestNotComplete",
                    "The request was rejected because Route 53 was still processing a prior request.",
                )
            } else {
                ApiError::service(op, 400, "Throttling", "Rate exceeded")
            });
        }
        Ok(())
    }

    fn no_zone(op: Operation, id: &str) -> ApiError {
        ApiError::service(
            op,
            404,
            "NoSuchHostedZone",
            format!("No hosted zone found with ID: {id}"),
        )
    }
}

/// Structural checks Route53 answers with `InvalidInput`.
fn check_structure(c: &WireChange) -> Result<(), String> {
    let s = &c.set;
    let at = change_ref(c.action, s);
    let has_records = s.ttl.is_some() || !s.values.is_empty();
    match (s.alias.is_some(), has_records) {
        // A set a traffic policy instance created may be named by that instance alone.
        (false, false) if s.traffic_policy_instance_id.is_some() => {}
        (true, true) => {
            return Err(format!(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in Change with {at}"
            ));
        }
        (false, false) => {
            return Err(format!(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with {at}"
            ));
        }
        (false, true) if s.ttl.is_none() || s.values.is_empty() => {
            return Err(format!(
                "Invalid request: Expected all of [TTL, and ResourceRecords] in Change with {at}"
            ));
        }
        _ => {}
    }
    if let Some(ttl) = s.ttl
        && !(0..=i64::from(i32::MAX)).contains(&ttl)
    {
        return Err(format!(
            "Invalid request: TTL {ttl} is out of range in Change with {at}"
        ));
    }
    let routed = s.weight.is_some() || s.region.is_some() || s.other_policy().is_some();
    match (&s.set_identifier, routed) {
        (None, true) => {
            return Err(format!(
                "Invalid request: Missing field 'SetIdentifier' in Change with {at}"
            ));
        }
        (Some(_), false) => {
            return Err(format!(
                "Invalid request: A SetIdentifier needs a routing policy (Weight, Region, Failover, GeoLocation, GeoProximityLocation, MultiValueAnswer, CidrRoutingConfig) in Change with {at}"
            ));
        }
        (Some(id), true) if id.is_empty() || id.len() > 128 => {
            return Err(format!(
                "Invalid request: SetIdentifier must have 1 to 128 characters in Change with {at}"
            ));
        }
        _ => {}
    }
    let policies = [
        s.weight.is_some(),
        s.region.is_some(),
        s.failover.is_some(),
        s.geo_location.is_some(),
        s.geo_proximity_location.is_some(),
        s.multi_value_answer.is_some(),
        s.cidr_routing_config.is_some(),
    ];
    if policies.iter().filter(|p| **p).count() > 1 {
        return Err(format!(
            "Invalid request: Expected at most one routing policy in Change with {at}"
        ));
    }
    if let Some(w) = s.weight
        && !(0..=255).contains(&w)
    {
        return Err(format!(
            "Invalid request: Weight {w} is not between 0 and 255 in Change with {at}"
        ));
    }
    Ok(())
}

/// Value checks Route53 answers with `InvalidChangeBatch`.
fn check_values(s: &WireRecordSet) -> Result<(), String> {
    for v in &s.values {
        let problem = match s.rtype.as_str() {
            "A" if v.parse::<Ipv4Addr>().is_err() => {
                Some("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)")
            }
            "AAAA" if v.parse::<Ipv6Addr>().is_err() => {
                Some("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)")
            }
            t if is_text(t) => check_txt(v).err(),
            "CNAME" if v.trim().is_empty() || v.contains(char::is_whitespace) => {
                Some("DomainLabelEmpty (Domain label is empty)")
            }
            _ => None,
        };
        if let Some(p) = problem {
            return Err(format!(
                "Invalid Resource Record: FATAL problem: {p} encountered with '{v}'"
            ));
        }
    }
    if s.rtype == "CNAME" && s.values.len() > 1 {
        return Err(format!(
            "RRSet of type CNAME with DNS name {} is not permitted as it has more than one resource record",
            s.name
        ));
    }
    Ok(())
}

/// A zone's sets with a batch's changes staged on top, without copying the zone: what the
/// batch would leave, read through [`Self::get`] and [`Self::at_name`], applied by
/// [`Self::commit`].
struct Staged<'a> {
    base: &'a BTreeMap<SetKey, WireRecordSet>,
    /// A staged set, or `None` for a staged removal.
    changed: BTreeMap<SetKey, Option<WireRecordSet>>,
}

impl<'a> Staged<'a> {
    fn new(base: &'a BTreeMap<SetKey, WireRecordSet>) -> Self {
        Self {
            base,
            changed: BTreeMap::new(),
        }
    }

    fn get(&self, key: &SetKey) -> Option<&WireRecordSet> {
        match self.changed.get(key) {
            Some(staged) => staged.as_ref(),
            None => self.base.get(key),
        }
    }

    fn insert(&mut self, key: SetKey, set: WireRecordSet) {
        self.changed.insert(key, Some(set));
    }

    fn remove(&mut self, key: &SetKey) {
        self.changed.insert(key.clone(), None);
    }

    /// Every set at a name (its list-order key, `order_key(..).0`), in list order.
    fn at_name(&self, name_key: &str) -> Vec<(SetKey, &WireRecordSet)> {
        let from = (name_key.to_string(), String::new(), String::new());
        let same = |k: &&SetKey| k.0 == name_key;
        let mut keys: Vec<&SetKey> = self
            .base
            .range(from.clone()..)
            .map(|(k, _)| k)
            .take_while(same)
            .chain(self.changed.range(from..).map(|(k, _)| k).take_while(same))
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| self.get(k).map(|v| (k.clone(), v)))
            .collect()
    }

    /// Applies the staged changes to `sets` (the base they were staged on).
    fn commit(changed: BTreeMap<SetKey, Option<WireRecordSet>>, sets: &mut BTreeMap<SetKey, WireRecordSet>) {
        for (key, set) in changed {
            match set {
                Some(set) => sets.insert(key, set),
                None => sets.remove(&key),
            };
        }
    }
}

/// Checks a set that is about to exist at its name against the sets already there.
fn check_neighbours(
    zone: &Zone,
    staged: &Staged<'_>,
    s: &WireRecordSet,
    replacing: Option<&WireRecordSet>,
) -> Result<(), String> {
    let name = &s.name;
    let key = key_of(s);
    let at_name: Vec<&WireRecordSet> = staged
        .at_name(&key.0)
        .into_iter()
        .filter(|(k, _)| *k != key)
        .map(|(_, v)| v)
        .collect();
    if s.rtype == "CNAME" && at_name.iter().any(|o| o.rtype != "CNAME") {
        return Err(format!(
            "RRSet of type CNAME with DNS name {name} is not permitted as it conflicts with other records with the same DNS name in zone {}",
            zone.name
        ));
    }
    if s.rtype != "CNAME" && at_name.iter().any(|o| o.rtype == "CNAME") {
        return Err(format!(
            "RRSet of type {} with DNS name {name} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone {}",
            s.rtype, zone.name
        ));
    }
    let mine = policy(s);
    if let Some(other) = at_name
        .iter()
        .filter(|o| o.rtype == s.rtype)
        .map(|o| policy(o))
        .find(|p| *p != mine || mine == "simple")
    {
        let id = s
            .set_identifier
            .as_ref()
            .map(|i| format!(", SetIdentifier \"{i}\""))
            .unwrap_or_default();
        return Err(format!(
            "RRSet with DNS name {name}, type {}{id} cannot be created because a {other} rrset exists with the same name and type.",
            s.rtype
        ));
    }
    if let Some(region) = &s.region
        && at_name
            .iter()
            .any(|o| o.rtype == s.rtype && o.region.as_deref() == Some(region.as_str()))
    {
        // Route53's wording (as logged in hashicorp/terraform-provider-aws#1668).
        return Err(format!(
            "RRSet with DNS name {name}, type {}, SetIdentifier {}, and Region Name={region} cannot be created because a latency RRSet with the same name, type and region already exists.",
            s.rtype,
            s.set_identifier.as_deref().unwrap_or_default()
        ));
    }
    if let Some(old) = replacing
        && (policy(old) != mine || old.alias.is_some() != s.alias.is_some())
    {
        return Err(format!(
            "RRSet with DNS name {name}, type {} cannot be changed from {} to {} routing or between alias and non-alias with UPSERT; delete it and create it instead.",
            s.rtype,
            policy(old),
            mine
        ));
    }
    if let Some(alias) = &s.alias
        && alias.hosted_zone_id.eq_ignore_ascii_case(&zone.id)
    {
        let target = canonical_wire_name(&alias.dns_name);
        let tkey = order_key(&target, "", None).0;
        let exists = staged.at_name(&tkey).iter().any(|(_, v)| v.rtype == s.rtype);
        if !exists {
            return Err(format!(
                "Tried to create an alias that targets {target}, type {} in zone {}, but the alias target name does not lie within the target zone",
                s.rtype, zone.id
            ));
        }
    }
    Ok(())
}

/// Validates a batch against the zone and stages it: the changes to commit, or every problem.
fn apply_batch(
    zone: &Zone,
    changes: &[WireChange],
) -> Result<BTreeMap<SetKey, Option<WireRecordSet>>, Vec<String>> {
    let zone_name = decode_name(&zone.name);
    let mut staged = Staged::new(&zone.sets);
    let mut msgs = Vec::new();
    let mut touched: BTreeMap<SetKey, Vec<ChangeAction>> = BTreeMap::new();
    for c in changes {
        let mut s = c.set.clone();
        s.name = canonical_wire_name(&s.name);
        s.rtype = s.rtype.to_ascii_uppercase();
        let key = key_of(&s);
        let before = touched.entry(key.clone()).or_default();
        let allowed = before.is_empty()
            || (before.as_slice() == [ChangeAction::Delete] && c.action == ChangeAction::Create);
        before.push(c.action);
        if !allowed {
            msgs.push(format!(
                "The request contains an invalid set of changes for a single resource record set {}",
                describe(&s)
            ));
            continue;
        }
        if !in_zone(&decode_name(&s.name), &zone_name) {
            msgs.push(format!(
                "RRSet with DNS name {} is not permitted in zone {}",
                s.name, zone.name
            ));
            continue;
        }
        if let Err(m) = check_values(&s) {
            msgs.push(m);
            continue;
        }
        let current = staged.get(&key);
        let result = match c.action {
            ChangeAction::Delete => match current {
                None => Err(format!(
                    "Tried to delete resource record set {} but it was not found",
                    describe(&s)
                )),
                Some(cur) if !same_set(cur, &s) => Err(format!(
                    "Tried to delete resource record set {} but the values provided do not match the current values",
                    describe(&s)
                )),
                Some(_) => {
                    staged.remove(&key);
                    Ok(())
                }
            },
            ChangeAction::Create if current.is_some() => Err(format!(
                "Tried to create resource record set {} but it already exists",
                describe(&s)
            )),
            ChangeAction::Create | ChangeAction::Upsert => {
                let replacing = current.cloned();
                check_neighbours(zone, &staged, &s, replacing.as_ref()).map(|()| {
                    staged.insert(key, s.clone());
                })
            }
        };
        if let Err(m) = result {
            msgs.push(m);
        }
    }
    if msgs.is_empty() {
        let apex = staged.at_name(&order_key(&zone.name, "", None).0);
        let at_apex = |t: &str| apex.iter().filter(|(k, _)| k.1 == t && k.2.is_empty()).count();
        if at_apex("SOA") != 1 {
            msgs.push("A HostedZone must contain exactly one SOA record.".to_string());
        }
        if at_apex("NS") != 1 {
            msgs.push("A HostedZone must contain at least one NS record for the zone itself.".to_string());
        }
    }
    if msgs.is_empty() {
        Ok(staged.changed)
    } else {
        Err(msgs)
    }
}

fn zone_order(z: &Zone) -> (String, String) {
    (order_key(&z.name, "", None).0, z.id.clone())
}

/// Why the fake refused a `ChangeResourceRecordSets` batch: an error as the API returns it, or
/// `InvalidChangeBatch` with each of its messages (which the HTTP server can write one by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Any other error.
    Api(ApiError),
    /// `InvalidChangeBatch` (HTTP 400), one message per problem.
    InvalidChangeBatch(Vec<String>),
}

impl Refusal {
    /// The error [`Route53Api::change_resource_record_sets`] returns: for `InvalidChangeBatch`,
    /// every message in brackets, comma-separated (as the service's `Message` holds them).
    pub(crate) fn into_api(self) -> ApiError {
        match self {
            Self::Api(e) => e,
            Self::InvalidChangeBatch(msgs) => ApiError::service(
                Operation::ChangeResourceRecordSets,
                400,
                "InvalidChangeBatch",
                format!("[{}]", msgs.join(", ")),
            ),
        }
    }
}

impl FakeRoute53 {
    /// `ChangeResourceRecordSets`, with an `InvalidChangeBatch` refusal kept message by message.
    pub(crate) fn change_batch(&self, zone_id: &str, changes: &[WireChange]) -> Result<ChangeInfo, Refusal> {
        let op = Operation::ChangeResourceRecordSets;
        let mut st = self.lock();
        Self::enter(&mut st, op).map_err(Refusal::Api)?;
        let zone = st
            .zones
            .get(zone_id)
            .ok_or_else(|| Refusal::Api(Self::no_zone(op, zone_id)))?;
        if changes.is_empty() {
            return Err(Refusal::Api(ApiError::service(
                op,
                400,
                "InvalidInput",
                "1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1",
            )));
        }
        for c in changes {
            check_structure(c).map_err(|m| Refusal::Api(ApiError::service(op, 400, "InvalidInput", m)))?;
        }
        let records: usize = changes.iter().map(change_records).sum();
        if records > 1000 {
            return Err(Refusal::InvalidChangeBatch(vec![
                "Number of records limit of 1000 exceeded.".to_string(),
            ]));
        }
        let chars: usize = changes.iter().map(change_value_chars).sum();
        if chars > 32_000 {
            return Err(Refusal::InvalidChangeBatch(vec![
                "Number of characters in Value elements limit of 32000 exceeded.".to_string(),
            ]));
        }
        let injected: Vec<String> = changes
            .iter()
            .filter_map(|c| st.injected.get(&decode_name(&c.set.name)).cloned())
            .collect();
        if !injected.is_empty() {
            return Err(Refusal::InvalidChangeBatch(injected));
        }
        let staged = apply_batch(zone, changes).map_err(Refusal::InvalidChangeBatch)?;
        let insync_after = st.insync_after;
        if let Some(z) = st.zones.get_mut(zone_id) {
            Staged::commit(staged, &mut z.sets);
        }
        st.next_change += 1;
        let id = format!("C{:012}FAKE", st.next_change);
        st.changes.insert(id.clone(), insync_after);
        Ok(ChangeInfo {
            id: format!("/change/{id}"),
            status: if insync_after == 0 {
                ChangeStatus::InSync
            } else {
                ChangeStatus::Pending
            },
        })
    }
}

#[async_trait::async_trait]
impl Route53Api for FakeRoute53 {
    async fn list_hosted_zones_by_name(
        &self,
        dns_name: Option<&str>,
        hosted_zone_id: Option<&str>,
        max_items: i32,
    ) -> Result<HostedZonePage, ApiError> {
        let op = Operation::ListHostedZonesByName;
        let mut st = self.lock();
        Self::enter(&mut st, op)?;
        if dns_name.is_none() && hosted_zone_id.is_some() {
            return Err(ApiError::service(
                op,
                400,
                "InvalidInput",
                "Invalid request: HostedZoneId requires DNSName",
            ));
        }
        let mut zones: Vec<&Zone> = st.zones.values().collect();
        zones.sort_by_key(|z| zone_order(z));
        let from = (
            dns_name.map(|n| order_key(n, "", None).0).unwrap_or_default(),
            hosted_zone_id.unwrap_or_default().to_string(),
        );
        let rest: Vec<&Zone> = zones.into_iter().filter(|z| zone_order(z) >= from).collect();
        let n = usize::try_from(max_items.clamp(1, 100)).unwrap_or(100);
        let page: Vec<HostedZone> = rest
            .iter()
            .take(n)
            .map(|z| HostedZone {
                id: z.id.clone(),
                name: z.name.clone(),
                private: z.private,
            })
            .collect();
        let next = rest.get(n);
        Ok(HostedZonePage {
            zones: page,
            is_truncated: next.is_some(),
            next_dns_name: next.map(|z| z.name.clone()),
            next_hosted_zone_id: next.map(|z| z.id.clone()),
        })
    }

    async fn list_resource_record_sets(
        &self,
        zone_id: &str,
        start: &RecordPageStart,
        max_items: i32,
    ) -> Result<RecordPage, ApiError> {
        let op = Operation::ListResourceRecordSets;
        let mut st = self.lock();
        Self::enter(&mut st, op)?;
        let quirk = st.quirk;
        let cap = st.page_cap.unwrap_or(300).min(300);
        let zone = st.zones.get(zone_id).ok_or_else(|| Self::no_zone(op, zone_id))?;
        if (start.rtype.is_some() && start.name.is_none())
            || (start.identifier.is_some() && start.rtype.is_none())
        {
            return Err(ApiError::service(
                op,
                400,
                "InvalidInput",
                "Invalid request: StartRecordType needs StartRecordName, and StartRecordIdentifier needs StartRecordType",
            ));
        }
        let identifier = match quirk {
            ListQuirk::Faithful => start.identifier.as_deref(),
            _ => None,
        };
        let from: SetKey = match (quirk, &start.name) {
            (ListQuirk::RepeatFirstPage, _) | (_, None) => Default::default(),
            (_, Some(name)) => order_key(name, start.rtype.as_deref().unwrap_or_default(), identifier),
        };
        let n = usize::try_from(max_items.clamp(1, 300)).unwrap_or(300).min(cap);
        let mut it = zone.sets.range(from..).map(|(_, v)| v);
        let sets: Vec<WireRecordSet> = it.by_ref().take(n).cloned().collect();
        let next = it.next();
        Ok(RecordPage {
            sets,
            is_truncated: next.is_some(),
            next_name: next.map(|s| s.name.clone()),
            next_type: next.map(|s| s.rtype.clone()),
            next_identifier: match quirk {
                ListQuirk::Faithful => next.and_then(|s| s.set_identifier.clone()),
                _ => None,
            },
        })
    }

    async fn change_resource_record_sets(
        &self,
        zone_id: &str,
        changes: &[WireChange],
    ) -> Result<ChangeInfo, ApiError> {
        self.change_batch(zone_id, changes).map_err(Refusal::into_api)
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ApiError> {
        let op = Operation::GetChange;
        let mut st = self.lock();
        Self::enter(&mut st, op)?;
        let id = change_id.trim_start_matches("/change/").to_string();
        let left = st.changes.get_mut(&id).ok_or_else(|| {
            ApiError::service(
                op,
                404,
                "NoSuchChange",
                format!("A change with the specified change ID {id} does not exist."),
            )
        })?;
        *left = left.saturating_sub(1);
        Ok(ChangeInfo {
            id: format!("/change/{id}"),
            status: if *left == 0 {
                ChangeStatus::InSync
            } else {
                ChangeStatus::Pending
            },
        })
    }
}
