//! The Cloud DNS v1 JSON resources this provider uses, and their mapping to and from feddns
//! [`RecordSet`]s.
//!
//! Names on the wire are absolute (`www.example.com.`); feddns names are lower-case without the
//! trailing dot. CNAME targets follow the same rule. TXT rrdatas are zone-file character-strings
//! (`"a" "b"`, with `\"`, `\\` and `\DDD` decimal escapes); feddns holds the unquoted text.

use std::collections::BTreeMap;

use feddns_provider::txt::{self, Escape};
use feddns_provider::{RecordSet, RecordType, Routing, Unmodelled, normalize_name};
use serde::{Deserialize, Serialize};

pub use feddns_provider::txt::{TXT_STRING_MAX, fqdn};

/// A `ResourceRecordSet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRrset {
    /// `dns#resourceRecordSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The absolute name (`www.example.com.`).
    pub name: String,
    /// The record type mnemonic (`A`, `AAAA`, ...).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Time to live in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The records, in presentation format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrdatas: Vec<String>,
    /// DNSSEC signatures (read only; never written by feddns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_rrdatas: Vec<String>,
    /// A routing policy instead of `rrdatas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_policy: Option<WireRoutingPolicy>,
}

/// `RRSetRoutingPolicy`: exactly one of its policies is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRoutingPolicy {
    /// `dns#rRSetRoutingPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Geolocation routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<WireGeoPolicy>,
    /// Weighted round robin (listed, never written by feddns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrr: Option<serde_json::Value>,
    /// Primary/backup failover (listed, never written by feddns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_backup: Option<serde_json::Value>,
    /// The health check of a routing policy with health-checked targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// Any other field (a policy this code does not know), kept so the rrset is written back
    /// exactly.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `GeoPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireGeoPolicy {
    /// `dns#rRSetRoutingPolicyGeoPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// One item per location.
    #[serde(default)]
    pub items: Vec<WireGeoItem>,
    /// Health-check fencing (never written by feddns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_fencing: Option<bool>,
    /// Any other field, kept so the rrset is written back exactly.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `GeoPolicyItem`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireGeoItem {
    /// `dns#rRSetRoutingPolicyGeoPolicyGeoPolicyItem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The GCP region (`us-east1`).
    pub location: String,
    /// The records answered to clients nearest this location.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrdatas: Vec<String>,
    /// DNSSEC signatures (read only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_rrdatas: Vec<String>,
    /// Health-checked targets instead of rrdatas (never written by feddns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checked_targets: Option<serde_json::Value>,
    /// Any other field, kept so the rrset is written back exactly.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A `Change`: deletions and additions applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireChange {
    /// `dns#change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Sets to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additions: Vec<WireRrset>,
    /// Sets to delete; each must match the current set exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletions: Vec<WireRrset>,
    /// The change id (set by the server; counts up per zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `pending` or `done` (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When the change was accepted (RFC 3339, set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

/// A `ManagedZone` (the fields this provider reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireManagedZone {
    /// `dns#managedZone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The zone's resource name.
    pub name: String,
    /// The zone's absolute DNS name (`example.com.`).
    pub dns_name: String,
    /// The numeric id (a string on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `public` or `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of `managedZones.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireManagedZonesList {
    /// The zones of this page.
    #[serde(default)]
    pub managed_zones: Vec<WireManagedZone>,
    /// Present when there are more pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The body of `resourceRecordSets.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRrsetsList {
    /// The sets of this page.
    #[serde(default)]
    pub rrsets: Vec<WireRrset>,
    /// Present when there are more pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Google's JSON error body: `{"error": {"code": .., "message": .., "errors": [..]}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireErrorBody {
    /// The error.
    pub error: WireError,
}

/// The `error` object of Google's JSON error body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// The HTTP status.
    #[serde(default)]
    pub code: u16,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// Details; `reason` is the machine-readable cause (`alreadyExists`, `conditionNotMet`, ...).
    #[serde(default)]
    pub errors: Vec<WireErrorItem>,
    /// The canonical status (`INVALID_ARGUMENT`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One entry of [`WireError::errors`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireErrorItem {
    /// `global`, `usageLimits`, ...
    #[serde(default)]
    pub domain: String,
    /// `invalid`, `alreadyExists`, `conditionNotMet`, `notFound`, `rateLimitExceeded`, ...
    #[serde(default)]
    pub reason: String,
    /// The message for this entry.
    #[serde(default)]
    pub message: String,
}

/// A wire name in feddns form: lower-case, without the trailing dot.
pub fn decode_name(wire: &str) -> String {
    normalize_name(wire.trim())
}

/// Quotes a TXT value: character-strings of at most 255 bytes in double quotes, separated by a
/// space, with `"` and `\` backslash-escaped and control and non-ASCII bytes as `\DDD` decimal
/// escapes (RFC 1035 §5.1). An empty value is `""`.
pub fn encode_txt(value: &str) -> String {
    txt::encode_txt(value, Escape::Decimal)
}

/// The character-strings of a TXT rrdata, unescaped. Quoted strings are separated by blanks;
/// text outside quotes is taken word by word. `Err` for an unterminated quote.
pub fn txt_strings(wire: &str) -> Result<Vec<Vec<u8>>, String> {
    txt::txt_strings(wire, Escape::Decimal)
}

/// The feddns form of a TXT rrdata: every character-string unescaped and joined (an unterminated
/// quote is taken to the end).
pub fn decode_txt(wire: &str) -> String {
    txt::decode_txt(wire, Escape::Decimal)
}

/// A feddns value as a Cloud DNS rrdata of type `rtype`.
pub fn encode_value(rtype: &RecordType, value: &str) -> String {
    match rtype {
        RecordType::Txt => encode_txt(value),
        RecordType::Cname => fqdn(value),
        _ => value.to_string(),
    }
}

/// A Cloud DNS rrdata of type `rtype` as a feddns value.
pub fn decode_value(rtype: &RecordType, rrdata: &str) -> String {
    match rtype {
        RecordType::Txt => decode_txt(rrdata),
        RecordType::Cname => decode_name(rrdata),
        RecordType::Aaaa => rrdata.trim().to_ascii_lowercase(),
        _ => rrdata.trim().to_string(),
    }
}

fn encode_values(set: &RecordSet) -> Vec<String> {
    set.values.iter().map(|v| encode_value(&set.rtype, v)).collect()
}

/// The key under which [`Unmodelled::fields`] holds a routing policy feddns does not model, as
/// canonical JSON.
pub const ROUTING_POLICY: &str = "routingPolicy";

/// The routing policy kept in `u`. Fails, naming the field, for fields that are not a Cloud DNS
/// routing policy.
pub fn unmodelled_policy(u: &Unmodelled) -> Result<Option<WireRoutingPolicy>, String> {
    if let Some(k) = u.fields.keys().find(|k| *k != ROUTING_POLICY) {
        return Err(format!(
            "{k} is not a Cloud DNS rrset field feddns can write back"
        ));
    }
    u.fields
        .get(ROUTING_POLICY)
        .map(|json| {
            serde_json::from_str(json).map_err(|e| format!("{ROUTING_POLICY} is not a routing policy: {e}"))
        })
        .transpose()
}

/// A plain feddns set as a wire rrset, with the routing policy it keeps in
/// [`RecordSet::unmodelled`] (which the provider checks with [`unmodelled_policy`] first; one
/// that does not parse is left out).
pub fn to_wire(set: &RecordSet) -> WireRrset {
    WireRrset {
        kind: None,
        name: fqdn(&set.name),
        rtype: set.rtype.to_string(),
        ttl: Some(i64::from(set.ttl)),
        rrdatas: encode_values(set),
        signature_rrdatas: Vec::new(),
        routing_policy: set
            .unmodelled
            .as_deref()
            .and_then(|u| unmodelled_policy(u).ok().flatten()),
    }
}

/// The sets of one name and type as one wire rrset: a single plain set as is, or geo-routed sets
/// as one rrset with a geo policy whose items (sorted by location) carry their values. `Err`
/// when the sets cannot be one rrset (none, mixed plain and routed, non-geo routing, different
/// names, types or TTLs, a location twice, a set identifier other than the location).
pub fn group_to_wire(sets: &[&RecordSet]) -> Result<WireRrset, String> {
    let Some(first) = sets.first() else {
        return Err("no sets".to_string());
    };
    if sets
        .iter()
        .any(|s| s.name != first.name || s.rtype != first.rtype)
    {
        return Err("sets of different names or types cannot be one rrset".to_string());
    }
    if first.routing.is_none() {
        if sets.len() > 1 {
            return Err("a plain set cannot share its name and type with other sets".to_string());
        }
        return Ok(to_wire(first));
    }
    let mut items = BTreeMap::new();
    for s in sets {
        match s.routing() {
            Some(Routing::Geo { set_id, location }) => {
                if set_id != location {
                    return Err(format!(
                        "a geo set's identifier must be its location ({set_id:?} != {location:?})"
                    ));
                }
                if s.ttl != first.ttl {
                    return Err(format!(
                        "the geo items of one rrset share one TTL ({} != {})",
                        s.ttl, first.ttl
                    ));
                }
                if items.insert(location.clone(), encode_values(s)).is_some() {
                    return Err(format!("location {location} appears twice"));
                }
            }
            None => return Err("a plain set cannot share its name and type with geo sets".to_string()),
            Some(r) => return Err(format!("{} routing is not supported by Cloud DNS", r.policy())),
        }
    }
    Ok(WireRrset {
        kind: None,
        name: fqdn(&first.name),
        rtype: first.rtype.to_string(),
        ttl: Some(i64::from(first.ttl)),
        rrdatas: Vec::new(),
        signature_rrdatas: Vec::new(),
        routing_policy: Some(WireRoutingPolicy {
            geo: Some(WireGeoPolicy {
                items: items
                    .into_iter()
                    .map(|(location, rrdatas)| WireGeoItem {
                        location,
                        rrdatas,
                        ..WireGeoItem::default()
                    })
                    .collect(),
                ..WireGeoPolicy::default()
            }),
            ..WireRoutingPolicy::default()
        }),
    })
}

fn ttl_of(w: &WireRrset) -> Result<u32, String> {
    let ttl = w.ttl.unwrap_or(0);
    u32::try_from(ttl).map_err(|_| format!("TTL {ttl} is out of range"))
}

/// What in a routing policy feddns does not model, for messages; empty when feddns models all of
/// it (a geo policy of plain items).
fn unmodelled_parts(policy: &WireRoutingPolicy) -> Vec<String> {
    let mut parts = Vec::new();
    if policy.wrr.is_some() {
        parts.push("wrr (weighted round robin)".to_string());
    }
    if policy.primary_backup.is_some() {
        parts.push("primaryBackup".to_string());
    }
    if let Some(hc) = &policy.health_check {
        parts.push(format!("healthCheck {hc}"));
    }
    parts.extend(policy.other.keys().cloned());
    match &policy.geo {
        None if parts.is_empty() => parts.push("a routing policy without a known kind".to_string()),
        None => {}
        Some(geo) => {
            if geo.enable_fencing == Some(true) {
                parts.push("geo enableFencing".to_string());
            }
            parts.extend(geo.other.keys().map(|k| format!("geo {k}")));
            for item in &geo.items {
                if item.health_checked_targets.is_some() {
                    parts.push(format!("geo item {} healthCheckedTargets", item.location));
                } else if item.rrdatas.is_empty() {
                    parts.push(format!("geo item {} without rrdatas", item.location));
                }
                parts.extend(
                    item.other
                        .keys()
                        .map(|k| format!("geo item {} {k}", item.location)),
                );
            }
        }
    }
    parts
}

/// A wire rrset as feddns sets: one plain set, or one set per geo item (`Routing::Geo` with the
/// location as set identifier, sharing the rrset's TTL). An rrset whose routing feddns does not
/// model (weighted round robin, primary/backup, health checks, fencing, fields this code does not
/// know) is one set without routing whose [`RecordSet::unmodelled`] keeps the policy as JSON, so
/// it is written back exactly. `Err` (with the reason) for a TTL out of range.
pub fn from_wire(w: &WireRrset) -> Result<Vec<RecordSet>, String> {
    let rtype = RecordType::from(w.rtype.as_str());
    let ttl = ttl_of(w)?;
    let decode = |rrdatas: &[String]| {
        rrdatas
            .iter()
            .map(|r| decode_value(&rtype, r))
            .collect::<Vec<_>>()
    };
    let Some(policy) = &w.routing_policy else {
        return Ok(vec![RecordSet::new(
            &w.name,
            rtype.clone(),
            ttl,
            decode(&w.rrdatas),
        )]);
    };
    let parts = unmodelled_parts(policy);
    if !parts.is_empty() {
        let json = canonical(w)
            .routing_policy
            .map(|p| serde_json::to_string(&p))
            .transpose()
            .map_err(|e| format!("the routing policy cannot be kept: {e}"))?
            .unwrap_or_default();
        let set =
            RecordSet::new(&w.name, rtype.clone(), ttl, decode(&w.rrdatas)).with_unmodelled(Unmodelled {
                set_id: None,
                fields: BTreeMap::from([(ROUTING_POLICY.to_string(), json)]),
                summary: format!("{ROUTING_POLICY} {}", parts.join(", ")),
            });
        return Ok(vec![set]);
    }
    let geo = policy
        .geo
        .as_ref()
        .map(|g| g.items.as_slice())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(geo.len());
    for item in geo {
        out.push(
            RecordSet::new(&w.name, rtype.clone(), ttl, decode(&item.rrdatas)).with_routing(Routing::Geo {
                set_id: item.location.clone(),
                location: item.location.clone(),
            }),
        );
    }
    Ok(out)
}

/// A comparable form of a wire rrset, as the service compares a deletion with the current set:
/// name (case-insensitive), type, TTL, rrdatas in any order, and the routing policy (geo items
/// in any order, each with its rrdatas in any order). `kind` and signatures are ignored.
pub fn canonical(w: &WireRrset) -> WireRrset {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let routing_policy = w.routing_policy.as_ref().map(|p| {
        let mut p = p.clone();
        p.kind = None;
        if let Some(geo) = &mut p.geo {
            geo.kind = None;
            for item in &mut geo.items {
                item.kind = None;
                item.rrdatas = sorted(&item.rrdatas);
                item.signature_rrdatas.clear();
            }
            geo.items.sort_by(|a, b| a.location.cmp(&b.location));
        }
        p
    });
    WireRrset {
        kind: None,
        name: w.name.to_ascii_lowercase(),
        rtype: w.rtype.to_ascii_uppercase(),
        ttl: w.ttl,
        rrdatas: sorted(&w.rrdatas),
        signature_rrdatas: Vec::new(),
        routing_policy,
    }
}

/// Every rrdata of a wire rrset: its own and those of its geo items.
pub fn all_rrdatas(w: &WireRrset) -> impl Iterator<Item = &String> {
    let geo = w
        .routing_policy
        .iter()
        .filter_map(|p| p.geo.as_ref())
        .flat_map(|g| g.items.iter())
        .flat_map(|i| i.rrdatas.iter());
    w.rrdatas.iter().chain(geo)
}

/// Bytes of rrdata in a wire rrset, as counted against the per-change size limit.
pub fn rrdata_bytes(w: &WireRrset) -> usize {
    all_rrdatas(w).map(String::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_without_the_trailing_dot() {
        assert_eq!(decode_name("WWW.Example.COM."), "www.example.com");
        assert_eq!(decode_name("a.example.com"), "a.example.com");
        assert_eq!(fqdn("a.example.com"), "a.example.com.");
        assert_eq!(fqdn("a.example.com."), "a.example.com.");
        assert_eq!(
            decode_value(&RecordType::Cname, "LB.Example.NET."),
            "lb.example.net"
        );
        assert_eq!(
            encode_value(&RecordType::Cname, "lb.example.net"),
            "lb.example.net."
        );
    }

    #[test]
    fn txt_round_trips_quotes_backslashes_and_long_values() {
        for v in [
            "",
            "plain",
            "with space",
            "heritage=feddns,feddns/owner=a b,feddns/service=ns/\"q\"",
            "back\\slash",
            "tab\there",
            "ünïcode",
            &"y".repeat(600),
        ] {
            let enc = encode_txt(v);
            assert_eq!(decode_txt(&enc), v, "{enc}");
        }
        let long = encode_txt(&"y".repeat(300));
        assert_eq!(
            txt_strings(&long)
                .unwrap()
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![255, 45]
        );
        assert_eq!(encode_txt("a\"b"), r#""a\"b""#);
        assert_eq!(encode_txt("a\nb"), r#""a\010b""#);
        assert_eq!(decode_txt(r#""ab" "cd""#), "abcd");
        assert_eq!(decode_txt("unquoted"), "unquoted");
        assert_eq!(decode_txt(r#""\065\\""#), "A\\");
        assert_eq!(decode_txt("\"unterminated"), "unterminated");
        assert!(txt_strings("\"unterminated").is_err());
    }

    fn geo(loc: &str, ip: &str) -> RecordSet {
        RecordSet::new("g.example.com", RecordType::A, 60, [ip.to_string()]).with_routing(Routing::Geo {
            set_id: loc.into(),
            location: loc.into(),
        })
    }

    #[test]
    fn geo_sets_are_one_rrset_with_items_sorted_by_location() {
        let a = geo("us-east1", "192.0.2.1");
        let b = geo("europe-west1", "192.0.2.2");
        let w = group_to_wire(&[&a, &b]).unwrap();
        let items = &w.routing_policy.as_ref().unwrap().geo.as_ref().unwrap().items;
        assert_eq!(
            items.iter().map(|i| i.location.as_str()).collect::<Vec<_>>(),
            ["europe-west1", "us-east1"]
        );
        assert!(w.rrdatas.is_empty());
        let mut back = from_wire(&w).unwrap();
        back.sort();
        let mut want = vec![a.clone(), b];
        want.sort();
        assert_eq!(back, want);
        let plain = RecordSet::new("g.example.com", RecordType::A, 60, ["192.0.2.3".to_string()]);
        assert!(group_to_wire(&[&a, &plain]).is_err());
        let mut other_ttl = geo("asia-east1", "192.0.2.4");
        other_ttl.ttl = 61;
        assert!(group_to_wire(&[&a, &other_ttl]).is_err());
    }

    #[test]
    fn routing_feddns_does_not_model_is_kept_and_written_back() {
        let w: WireRrset = serde_json::from_value(serde_json::json!({
            "kind": "dns#resourceRecordSet", "name": "w.example.com.", "type": "A", "ttl": 60,
            "routingPolicy": {
                "kind": "dns#rRSetRoutingPolicy",
                "wrr": {"items": [{"weight": 1.0, "rrdatas": ["192.0.2.1"]}]},
                "healthCheck": "projects/p/global/healthChecks/hc",
            }
        }))
        .unwrap();
        let [set] = from_wire(&w).unwrap().try_into().unwrap();
        assert!(set.routing.is_none());
        let u = set.unmodelled.as_deref().unwrap();
        assert_eq!(
            u.summary,
            "routingPolicy wrr (weighted round robin), healthCheck projects/p/global/healthChecks/hc"
        );
        assert_eq!(canonical(&to_wire(&set)), canonical(&w));
        let mut wrong = u.clone();
        wrong.fields.insert("HealthCheckId".into(), "x".into());
        assert!(unmodelled_policy(&wrong).unwrap_err().contains("HealthCheckId"));
        wrong.fields.remove("HealthCheckId");
        wrong.fields.insert(ROUTING_POLICY.into(), "{".into());
        assert!(unmodelled_policy(&wrong).is_err());
        // Fencing, health-checked items and unknown fields at any level are kept too.
        for policy in [
            serde_json::json!({"geo": {"enableFencing": true, "items": [{"location": "us-east1", "rrdatas": ["192.0.2.1"]}]}}),
            serde_json::json!({"geo": {"items": [{"location": "us-east1", "healthCheckedTargets": {}}]}}),
            serde_json::json!({"geo": {"items": [{"location": "us-east1", "rrdatas": ["192.0.2.1"], "new": 1}]}}),
            serde_json::json!({"newPolicy": {}}),
        ] {
            let w: WireRrset = serde_json::from_value(serde_json::json!({
                "name": "w.example.com.", "type": "A", "ttl": 60, "routingPolicy": policy,
            }))
            .unwrap();
            let sets = from_wire(&w).unwrap();
            assert!(sets.len() == 1 && sets[0].unmodelled.is_some(), "{sets:?}");
            assert_eq!(canonical(&to_wire(&sets[0])), canonical(&w));
        }
    }

    #[test]
    fn canonical_ignores_order_case_and_kind() {
        let a = WireRrset {
            kind: Some("dns#resourceRecordSet".into()),
            name: "A.example.com.".into(),
            rtype: "a".into(),
            ttl: Some(60),
            rrdatas: vec!["192.0.2.2".into(), "192.0.2.1".into()],
            ..WireRrset::default()
        };
        let b = WireRrset {
            name: "a.example.com.".into(),
            rtype: "A".into(),
            ttl: Some(60),
            rrdatas: vec!["192.0.2.1".into(), "192.0.2.2".into()],
            ..WireRrset::default()
        };
        assert_eq!(canonical(&a), canonical(&b));
    }
}
