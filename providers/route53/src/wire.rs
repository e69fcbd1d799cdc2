//! Conversions between feddns record sets and Route53's wire format: fully qualified names with
//! octal escapes (`\052` for `*`), quoted and escaped TXT strings of at most 255 bytes, alias
//! targets and routing fields. Fields feddns does not model (health checks, failover,
//! geolocation, geoproximity, multivalue answer, CIDR routing, traffic policies) are kept in
//! [`Unmodelled`], by their Route53 element names (nested ones as `GeoLocation.CountryCode`),
//! and written back from there.

use std::collections::BTreeMap;

use feddns_provider::txt::{self, Escape};
use feddns_provider::{AliasTarget, RecordSet, RecordType, Routing, Unmodelled};

use crate::api::{
    ChangeAction, WireAlias, WireChange, WireCidrRouting, WireGeoLocation, WireGeoProximity, WireRecordSet,
};

pub use feddns_provider::txt::{TXT_STRING_MAX, fqdn};

/// A name as Route53 lists it (`\052.Example.com.`) in feddns form (`*.example.com`): octal
/// escapes decoded, lower-case, no trailing dot.
pub fn decode_name(wire: &str) -> String {
    let bytes = unescape(wire.as_bytes());
    let s = String::from_utf8_lossy(&bytes);
    let s = s.strip_suffix('.').unwrap_or(&s);
    s.to_ascii_lowercase()
}

/// The canonical listed form of a name: lower-case, fully qualified, and every byte other than
/// letters, digits, `-`, `_` and `.` written as a three-digit octal escape (as Route53 does).
pub fn canonical_wire_name(name: &str) -> String {
    let bytes = unescape(name.as_bytes());
    let mut out = String::with_capacity(bytes.len() + 1);
    for b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(b)),
            b'A'..=b'Z' => out.push(char::from(b.to_ascii_lowercase())),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    fqdn(&out)
}

/// Decodes `\ddd` (three octal digits) and `\c` escapes into raw bytes.
fn unescape(input: &[u8]) -> Vec<u8> {
    txt::unescape(input, Escape::Octal)
}

/// Quotes a TXT value for Route53: split into character-strings of at most 255 bytes, each in
/// double quotes, with `"` and `\` backslash-escaped and control and non-ASCII bytes written as
/// `\ddd` octal escapes. The strings are separated by a space. An empty value is `""`.
pub fn encode_txt(value: &str) -> String {
    txt::encode_txt(value, Escape::Octal)
}

/// The character-strings of a TXT value as Route53 holds it, each unescaped. Quoted strings are
/// separated by blanks; text outside quotes is taken word by word (Route53 never lists such
/// values, but other tools and stand-ins store them); an unterminated quote is taken to the end.
pub fn txt_strings(wire: &str) -> Vec<Vec<u8>> {
    txt::txt_strings(wire, Escape::Octal)
        .or_else(|_| txt::txt_strings(&format!("{wire}\""), Escape::Octal))
        .unwrap_or_default()
}

/// The feddns form of a TXT value: every character-string unescaped and joined.
pub fn decode_txt(wire: &str) -> String {
    txt::decode_txt(wire, Escape::Octal)
}

fn is_text_type(rtype: &RecordType) -> bool {
    match rtype {
        RecordType::Txt => true,
        RecordType::Other(t) => t == "SPF",
        _ => false,
    }
}

/// One value of a set in wire form.
pub fn encode_value(rtype: &RecordType, value: &str) -> String {
    if is_text_type(rtype) {
        encode_txt(value)
    } else if *rtype == RecordType::Cname {
        fqdn(value)
    } else {
        value.to_string()
    }
}

/// One listed value in feddns form.
pub fn decode_value(rtype: &RecordType, value: &str) -> String {
    if is_text_type(rtype) {
        decode_txt(value)
    } else if *rtype == RecordType::Cname {
        decode_name(value)
    } else {
        value.to_string()
    }
}

/// `HealthCheckId`.
pub const HEALTH_CHECK_ID: &str = "HealthCheckId";
/// `TrafficPolicyInstanceId`.
pub const TRAFFIC_POLICY_INSTANCE_ID: &str = "TrafficPolicyInstanceId";
const FAILOVER: &str = "Failover";
const MULTI_VALUE_ANSWER: &str = "MultiValueAnswer";
const GEO_CONTINENT: &str = "GeoLocation.ContinentCode";
const GEO_COUNTRY: &str = "GeoLocation.CountryCode";
const GEO_SUBDIVISION: &str = "GeoLocation.SubdivisionCode";
const GP_REGION: &str = "GeoProximityLocation.AWSRegion";
const GP_LOCAL_ZONE_GROUP: &str = "GeoProximityLocation.LocalZoneGroup";
const GP_LATITUDE: &str = "GeoProximityLocation.Coordinates.Latitude";
const GP_LONGITUDE: &str = "GeoProximityLocation.Coordinates.Longitude";
const GP_BIAS: &str = "GeoProximityLocation.Bias";
const CIDR_COLLECTION: &str = "CidrRoutingConfig.CollectionId";
const CIDR_LOCATION: &str = "CidrRoutingConfig.LocationName";

/// The fields of a listed set that feddns does not model, by Route53 element name.
fn unmodelled_fields(w: &WireRecordSet) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            f.insert(k.to_string(), v);
        }
    };
    put(HEALTH_CHECK_ID, w.health_check_id.clone());
    put(FAILOVER, w.failover.clone());
    put(MULTI_VALUE_ANSWER, w.multi_value_answer.map(|b| b.to_string()));
    put(TRAFFIC_POLICY_INSTANCE_ID, w.traffic_policy_instance_id.clone());
    if let Some(g) = &w.geo_location {
        put(GEO_CONTINENT, g.continent_code.clone());
        put(GEO_COUNTRY, g.country_code.clone());
        put(GEO_SUBDIVISION, g.subdivision_code.clone());
    }
    if let Some(g) = &w.geo_proximity_location {
        put(GP_REGION, g.aws_region.clone());
        put(GP_LOCAL_ZONE_GROUP, g.local_zone_group.clone());
        put(GP_LATITUDE, g.coordinates.as_ref().map(|c| c.0.clone()));
        put(GP_LONGITUDE, g.coordinates.as_ref().map(|c| c.1.clone()));
        put(GP_BIAS, g.bias.map(|b| b.to_string()));
    }
    if let Some(c) = &w.cidr_routing_config {
        put(CIDR_COLLECTION, Some(c.collection_id.clone()));
        put(CIDR_LOCATION, Some(c.location_name.clone()));
    }
    f
}

/// Sets the wire fields that `fields` (as [`from_wire`] keeps them) describe. Fails, naming the
/// field, for a field that is not one of them or does not parse, or a nested group that is
/// incomplete.
pub fn write_unmodelled(fields: &BTreeMap<String, String>, w: &mut WireRecordSet) -> Result<(), String> {
    let get = |k: &str| fields.get(k).cloned();
    if let Some(unknown) = fields.keys().find(|k| {
        ![
            HEALTH_CHECK_ID,
            TRAFFIC_POLICY_INSTANCE_ID,
            FAILOVER,
            MULTI_VALUE_ANSWER,
            GEO_CONTINENT,
            GEO_COUNTRY,
            GEO_SUBDIVISION,
            GP_REGION,
            GP_LOCAL_ZONE_GROUP,
            GP_LATITUDE,
            GP_LONGITUDE,
            GP_BIAS,
            CIDR_COLLECTION,
            CIDR_LOCATION,
        ]
        .contains(&k.as_str())
    }) {
        return Err(format!("{unknown} is not a Route53 record set field"));
    }
    w.health_check_id = get(HEALTH_CHECK_ID);
    w.traffic_policy_instance_id = get(TRAFFIC_POLICY_INSTANCE_ID);
    w.failover = get(FAILOVER);
    w.multi_value_answer = match get(MULTI_VALUE_ANSWER).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(format!("{MULTI_VALUE_ANSWER} {other:?} is not true or false")),
    };
    let geo = WireGeoLocation {
        continent_code: get(GEO_CONTINENT),
        country_code: get(GEO_COUNTRY),
        subdivision_code: get(GEO_SUBDIVISION),
    };
    w.geo_location = (geo != WireGeoLocation::default()).then_some(geo);
    let coordinates = match (get(GP_LATITUDE), get(GP_LONGITUDE)) {
        (Some(lat), Some(lon)) => Some((lat, lon)),
        (None, None) => None,
        _ => return Err(format!("{GP_LATITUDE} and {GP_LONGITUDE} go together")),
    };
    let bias = match get(GP_BIAS) {
        None => None,
        Some(b) => Some(
            b.parse::<i32>()
                .map_err(|_| format!("{GP_BIAS} {b:?} is not an integer"))?,
        ),
    };
    let proximity = WireGeoProximity {
        aws_region: get(GP_REGION),
        local_zone_group: get(GP_LOCAL_ZONE_GROUP),
        coordinates,
        bias,
    };
    w.geo_proximity_location = (proximity != WireGeoProximity::default()).then_some(proximity);
    w.cidr_routing_config = match (get(CIDR_COLLECTION), get(CIDR_LOCATION)) {
        (Some(collection_id), Some(location_name)) => Some(WireCidrRouting {
            collection_id,
            location_name,
        }),
        (None, None) => None,
        _ => return Err(format!("{CIDR_COLLECTION} and {CIDR_LOCATION} go together")),
    };
    Ok(())
}

/// A feddns record set in wire form, with the fields it keeps in [`RecordSet::unmodelled`].
/// Geo routing has no Route53 form: such a set carries only its set identifier (the provider
/// refuses geo sets before anything is sent), and so do unmodelled fields that do not parse
/// (which the provider refuses too).
pub fn to_wire(set: &RecordSet) -> WireRecordSet {
    let mut w = WireRecordSet {
        name: fqdn(&set.name),
        rtype: set.rtype.as_str().to_string(),
        ..WireRecordSet::default()
    };
    match set.routing() {
        Some(Routing::Latency { set_id, region }) => {
            w.set_identifier = Some(set_id.clone());
            w.region = Some(region.clone());
        }
        Some(Routing::Weighted { set_id, weight }) => {
            w.set_identifier = Some(set_id.clone());
            w.weight = Some(i64::from(*weight));
        }
        Some(Routing::Geo { set_id, .. }) => w.set_identifier = Some(set_id.clone()),
        None => {}
    }
    let mut traffic_policy = false;
    if let Some(u) = &set.unmodelled {
        if w.set_identifier.is_none() {
            w.set_identifier.clone_from(&u.set_id);
        }
        traffic_policy = u.fields.contains_key(TRAFFIC_POLICY_INSTANCE_ID);
        let mut with = w.clone();
        if write_unmodelled(&u.fields, &mut with).is_ok() {
            w = with;
        }
    }
    if let Some(alias) = set.alias() {
        w.alias = Some(WireAlias {
            hosted_zone_id: alias.hosted_zone_id.clone(),
            dns_name: fqdn(&alias.dns_name),
            evaluate_target_health: alias.evaluate_target_health,
        });
    } else if !(traffic_policy && set.values.is_empty()) {
        w.ttl = Some(i64::from(set.ttl));
        w.values = set.values.iter().map(|v| encode_value(&set.rtype, v)).collect();
    }
    w
}

/// A listed set in feddns form. Alias sets have no TTL on Route53 and come back with TTL 0.
/// Fields feddns does not model are kept in [`RecordSet::unmodelled`]: a set with a routing
/// policy feddns does not write (failover, geolocation, ...) keeps its set identifier there.
/// Fails (with the reason) for sets feddns cannot represent: fields out of range, or routing
/// fields that make no sense together.
pub fn from_wire(w: &WireRecordSet) -> Result<RecordSet, String> {
    let rtype = RecordType::from(w.rtype.as_str());
    let ttl = match w.ttl {
        Some(t) => u32::try_from(t).map_err(|_| format!("TTL {t} is out of range"))?,
        None => 0,
    };
    let values: Vec<String> = w.values.iter().map(|v| decode_value(&rtype, v)).collect();
    let mut set = RecordSet::new(&decode_name(&w.name), rtype, ttl, values);
    let routing = match (&w.set_identifier, &w.region, w.weight) {
        (_, None, None) => None,
        (Some(id), Some(region), None) => Some(Routing::Latency {
            set_id: id.clone(),
            region: region.clone(),
        }),
        (Some(id), None, Some(weight)) => Some(Routing::Weighted {
            set_id: id.clone(),
            weight: u32::try_from(weight).map_err(|_| format!("weight {weight} is out of range"))?,
        }),
        (id, region, weight) => {
            return Err(format!(
                "inconsistent routing fields (set identifier {id:?}, region {region:?}, weight {weight:?})"
            ));
        }
    };
    let own_id = match (&routing, &w.set_identifier) {
        (None, Some(id)) if w.other_policy().is_none() => {
            return Err(format!("set identifier {id:?} without a known routing policy"));
        }
        (None, id) => id.clone(),
        (Some(_), _) => None,
    };
    set.routing = routing.map(Box::new);
    if let Some(a) = &w.alias {
        set = set.with_alias(AliasTarget {
            hosted_zone_id: a.hosted_zone_id.clone(),
            dns_name: decode_name(&a.dns_name),
            evaluate_target_health: a.evaluate_target_health,
        });
    }
    let fields = unmodelled_fields(w);
    if !fields.is_empty() {
        let summary = fields
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        set = set.with_unmodelled(Unmodelled {
            set_id: own_id,
            fields,
            summary,
        });
    }
    Ok(set)
}

/// How many `ResourceRecord` elements a change counts for against the 1,000 limit (an UPSERT
/// counts twice).
pub fn change_records(c: &WireChange) -> usize {
    let factor = if c.action == ChangeAction::Upsert { 2 } else { 1 };
    c.set.values.len() * factor
}

/// How many characters of `Value` a change counts for against the 32,000 limit (an UPSERT
/// counts twice).
pub fn change_value_chars(c: &WireChange) -> usize {
    let factor = if c.action == ChangeAction::Upsert { 2 } else { 1 };
    c.set.values.iter().map(String::len).sum::<usize>() * factor
}

/// Route53's list order key: the name with its labels reversed (`com.example.www.`), then type,
/// then set identifier.
pub fn order_key(name: &str, rtype: &str, set_identifier: Option<&str>) -> (String, String, String) {
    let n = canonical_wire_name(name);
    let trimmed = n.strip_suffix('.').unwrap_or(&n);
    let mut reversed: Vec<&str> = trimmed.split('.').collect();
    reversed.reverse();
    let mut key = reversed.join(".");
    key.push('.');
    (
        key,
        rtype.to_ascii_uppercase(),
        set_identifier.unwrap_or_default().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_octal_escapes_case_and_dot() {
        assert_eq!(decode_name("\\052.Wild.Example.COM."), "*.wild.example.com");
        assert_eq!(decode_name("a\\.b.example.com."), "a.b.example.com");
        assert_eq!(
            canonical_wire_name("*.Wild.example.com"),
            "\\052.wild.example.com."
        );
        assert_eq!(
            decode_name(&canonical_wire_name("*.x.example.com")),
            "*.x.example.com"
        );
    }

    #[test]
    fn txt_round_trips_quotes_backslashes_and_long_values() {
        for v in [
            "plain",
            "a,b c",
            "say \"hi\"",
            "back\\slash",
            "",
            "tab\there",
            "ünïcode",
            &"x".repeat(600),
        ] {
            let enc = encode_txt(v);
            assert!(enc.starts_with('"') && enc.ends_with('"'), "{enc}");
            assert_eq!(decode_txt(&enc), v, "{enc}");
        }
        let long = encode_txt(&"y".repeat(300));
        assert_eq!(
            txt_strings(&long).iter().map(Vec::len).collect::<Vec<_>>(),
            vec![255, 45]
        );
        assert_eq!(decode_txt("\"ab\" \"cd\""), "abcd");
        assert_eq!(decode_txt("unquoted"), "unquoted");
        assert_eq!(decode_txt("\"\\101\\\\\""), "A\\");
        assert_eq!(decode_txt("\"unterminated"), "unterminated");
    }

    #[test]
    fn unmodelled_fields_write_back_and_bad_ones_are_named() {
        let w = WireRecordSet {
            name: "gp.example.com.".into(),
            rtype: "A".into(),
            set_identifier: Some("x".into()),
            ttl: Some(60),
            values: vec!["192.0.2.1".into()],
            health_check_id: Some("hc".into()),
            geo_proximity_location: Some(WireGeoProximity {
                coordinates: Some(("49.22".into(), "-74.01".into())),
                bias: Some(-5),
                ..WireGeoProximity::default()
            }),
            ..WireRecordSet::default()
        };
        let set = from_wire(&w).unwrap();
        assert_eq!(set.key().set_id.as_deref(), Some("x"));
        assert_eq!(to_wire(&set), w);
        let mut fields = set.unmodelled.unwrap().fields;
        let mut scratch = WireRecordSet::default();
        fields.remove(GP_LONGITUDE);
        assert!(
            write_unmodelled(&fields, &mut scratch)
                .unwrap_err()
                .contains("go together")
        );
        fields.insert("Weight".into(), "1".into());
        assert_eq!(
            write_unmodelled(&fields, &mut scratch).unwrap_err(),
            "Weight is not a Route53 record set field"
        );
        // A set identifier with no routing policy at all is not a set Route53 lists.
        let mut orphan = w.clone();
        orphan.geo_proximity_location = None;
        assert!(
            from_wire(&orphan)
                .unwrap_err()
                .contains("without a known routing policy")
        );
    }

    #[test]
    fn order_reverses_labels() {
        let mut names = ["b.example.com", "example.com", "a.b.example.com", "z.example.com"];
        names.sort_by_key(|n| order_key(n, "A", None));
        assert_eq!(
            names,
            ["example.com", "b.example.com", "a.b.example.com", "z.example.com"]
        );
    }
}
