//! The record model shared by the controller and every provider.
//!
//! A [`RecordSet`] is what DNS providers store: all values of one type at one name, with a TTL and,
//! for routed sets (Route53 latency/weighted, Cloud DNS geo), a set identifier that makes several
//! sets of one name and type coexist. Names are stored lower-case, without the trailing dot.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::DnsName;

/// The DNS record types feddns writes, plus whatever else a zone may hold (listed, never written).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Canonical name: exactly one value, and no other type may share its name.
    Cname,
    /// Text; feddns uses it for ownership records.
    Txt,
    /// Any other type found in a zone (NS, SOA, MX, ...), by its upper-case mnemonic.
    Other(String),
}

impl RecordType {
    /// The record type's mnemonic, as written in zone files (`A`, `AAAA`, `CNAME`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Txt => "TXT",
            Self::Other(s) => s,
        }
    }

    /// True for the address and alias types that feddns manages at a name (A, AAAA, CNAME).
    pub fn is_managed_target(&self) -> bool {
        matches!(self, Self::A | Self::Aaaa | Self::Cname)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for RecordType {
    fn from(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "A" => Self::A,
            "AAAA" => Self::Aaaa,
            "CNAME" => Self::Cname,
            "TXT" => Self::Txt,
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<String> for RecordType {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<RecordType> for String {
    fn from(t: RecordType) -> Self {
        t.as_str().to_string()
    }
}

/// How a routed record set takes part in answers. Several sets with the same name and type but
/// different set identifiers coexist; the provider picks one per query.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Routing {
    /// Route53 latency-based routing: answered from the set whose AWS region is nearest.
    Latency {
        /// The set identifier (feddns uses the AWS region: Route53 allows one latency set per
        /// region for a name and type).
        set_id: String,
        /// The provider region (for Route53, an AWS region such as `us-east-1`).
        region: String,
    },
    /// Weighted routing: answers are spread in proportion to the weights.
    Weighted {
        /// The set identifier (feddns uses the member name).
        set_id: String,
        /// Relative weight, 0..=255 on Route53.
        weight: u32,
    },
    /// Geo routing (Cloud DNS): answered from the item whose location is nearest the client.
    Geo {
        /// The set identifier (feddns uses the location).
        set_id: String,
        /// The provider location (for Cloud DNS, a GCP region such as `us-east1`).
        location: String,
    },
}

impl Routing {
    /// The set identifier that distinguishes this set from its siblings.
    pub fn set_id(&self) -> &str {
        match self {
            Self::Latency { set_id, .. } | Self::Weighted { set_id, .. } | Self::Geo { set_id, .. } => set_id,
        }
    }

    /// The policy name, for messages and tables.
    pub fn policy(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Weighted { .. } => "weighted",
            Self::Geo { .. } => "geo",
        }
    }
}

/// A provider-side alias (Route53 alias A/AAAA to an ELB, CloudFront, or another name in the zone).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AliasTarget {
    /// The hosted zone id of the alias target (e.g. the ELB's canonical hosted zone).
    pub hosted_zone_id: String,
    /// The DNS name of the target, lower-case, without the trailing dot.
    pub dns_name: String,
    /// Whether the provider should consider the target's health.
    pub evaluate_target_health: bool,
}

/// What a provider holds in a record set beyond what feddns models: a health check, a routing
/// policy feddns does not write (Route53 failover, geolocation, multivalue answer, ...; Cloud DNS
/// weighted round robin, primary/backup, health-checked targets), kept so that the provider can
/// write the set back exactly (an exact-match deletion must carry them).
///
/// feddns never creates or changes such a set: a name that holds one is a conflict. The provider
/// that listed it is the only one that can interpret `fields`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Unmodelled {
    /// The set identifier of a set whose routing policy feddns does not model (Route53 failover,
    /// geolocation, ...), which makes it one of several sets of its name and type; `None` when
    /// [`RecordSet::routing`] carries the identifier, or there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    /// The provider's fields, by the provider's name for them (`HealthCheckId`,
    /// `GeoLocation`, `routingPolicy`, ...), each in a canonical text form the provider parses
    /// back.
    pub fields: BTreeMap<String, String>,
    /// A short description for messages (`HealthCheckId 7c1e…, Failover PRIMARY`).
    pub summary: String,
}

impl Unmodelled {
    /// The field names, comma-separated (`Failover, HealthCheckId`).
    pub fn field_names(&self) -> String {
        self.fields
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The identity of a record set within a zone: name, type and (for routed sets) set identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    /// Lower-case name without the trailing dot.
    pub name: DnsName,
    /// The record type.
    pub rtype: RecordType,
    /// The set identifier of a routed set; `None` for a plain set.
    pub set_id: Option<String>,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.rtype)?;
        if let Some(id) = &self.set_id {
            write!(f, " [{id}]")?;
        }
        Ok(())
    }
}

/// All values of one type at one name (one set identifier), with TTL, routing and alias.
///
/// Kept small (a zone of 100,000 names holds twice as many sets): the name is shared
/// ([`DnsName`]), and what few sets have (routing, an alias, unmodelled fields) is boxed, so it
/// costs one pointer where it is absent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordSet {
    /// Lower-case name without the trailing dot.
    pub name: DnsName,
    /// The record type.
    pub rtype: RecordType,
    /// Time to live in seconds (ignored by providers for alias sets).
    pub ttl: u32,
    /// The values, de-duplicated and sorted. Names (CNAME targets) are lower-case without the
    /// trailing dot; TXT values are the unquoted text.
    pub values: Vec<String>,
    /// Routing policy of a routed set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Box<Routing>>,
    /// Alias target; an alias set has no values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Box<AliasTarget>>,
    /// What the provider holds beyond this model (boxed: almost every set has none, and then
    /// this costs one pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmodelled: Option<Box<Unmodelled>>,
}

impl RecordSet {
    /// A plain record set; the name and values are normalized (see [`normalize_name`]).
    pub fn new(name: &str, rtype: RecordType, ttl: u32, values: impl IntoIterator<Item = String>) -> Self {
        let mut set = Self {
            name: normalize_name(name).into(),
            rtype,
            ttl,
            values: Vec::new(),
            routing: None,
            alias: None,
            unmodelled: None,
        };
        set.set_values(values);
        set
    }

    /// Builder: attach a routing policy.
    #[must_use]
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = Some(Box::new(routing));
        self
    }

    /// The routing policy, if any.
    pub fn routing(&self) -> Option<&Routing> {
        self.routing.as_deref()
    }

    /// The alias target, if any.
    pub fn alias(&self) -> Option<&AliasTarget> {
        self.alias.as_deref()
    }

    /// Builder: turn this into an alias set (values are cleared, and the TTL is 0: an alias has
    /// none of its own, and providers list it that way).
    #[must_use]
    pub fn with_alias(mut self, alias: AliasTarget) -> Self {
        self.values.clear();
        self.ttl = 0;
        self.alias = Some(Box::new(alias));
        self
    }

    /// Builder: attach what the provider holds beyond feddns's model.
    #[must_use]
    pub fn with_unmodelled(mut self, unmodelled: Unmodelled) -> Self {
        self.unmodelled = Some(Box::new(unmodelled));
        self
    }

    /// Replace the values, normalizing, sorting and de-duplicating them.
    pub fn set_values(&mut self, values: impl IntoIterator<Item = String>) {
        let is_name = self.rtype == RecordType::Cname;
        let mut v: Vec<String> = values
            .into_iter()
            .map(|v| if is_name { normalize_name(&v) } else { v })
            .collect();
        v.sort();
        v.dedup();
        self.values = v;
    }

    /// This set's identity.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            name: self.name.clone(),
            rtype: self.rtype.clone(),
            set_id: self.set_id().map(str::to_string),
        }
    }

    /// The set identifier that sets this set apart from its siblings of the same name and type
    /// (of its routing policy, or of a policy feddns does not model); `None` for a plain set.
    pub fn set_id(&self) -> Option<&str> {
        self.routing
            .as_ref()
            .map(|r| r.set_id())
            .or_else(|| self.unmodelled.as_ref().and_then(|u| u.set_id.as_deref()))
    }

    /// The number of characters of values, as Route53 counts them against its per-request limit
    /// (TXT values with the quotes they are sent in).
    pub fn value_chars(&self) -> usize {
        let quotes = if self.rtype == RecordType::Txt { 2 } else { 0 };
        self.values.iter().map(|v| v.len() + quotes).sum::<usize>()
            + self.alias().map_or(0, |a| a.dns_name.len())
    }

    /// A one-line rendering for logs and tables: `A 180 [1.2.3.4, 5.6.7.8]`.
    pub fn describe_values(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.unmodelled {
            s.push_str(&format!("[{}] ", u.summary));
            if let Some(id) = &u.set_id {
                s.push_str(&format!("set:{id} "));
            }
        }
        if let Some(r) = self.routing() {
            s.push_str(&format!("{}:{} ", r.policy(), r.set_id()));
            match r {
                Routing::Latency { region, .. } => s.push_str(&format!("region={region} ")),
                Routing::Weighted { weight, .. } => s.push_str(&format!("weight={weight} ")),
                Routing::Geo { location, .. } => s.push_str(&format!("location={location} ")),
            }
        }
        if let Some(a) = self.alias() {
            s.push_str(&format!("alias {} ({})", a.dns_name, a.hosted_zone_id));
        } else {
            s.push_str(&self.values.join(", "));
        }
        s
    }
}

/// Lower-cases a DNS name and strips one trailing dot. Does not validate; see the controller's
/// `names` module for validation.
pub fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// True when `name` is `zone` or a name below it (both normalized).
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_sorted_deduplicated_and_cname_targets_normalized() {
        let a = RecordSet::new(
            "WWW.Example.com.",
            RecordType::A,
            60,
            ["2.2.2.2".into(), "1.1.1.1".into(), "2.2.2.2".into()],
        );
        assert_eq!(a.name, "www.example.com");
        assert_eq!(a.values, vec!["1.1.1.1", "2.2.2.2"]);
        let c = RecordSet::new(
            "x.example.com",
            RecordType::Cname,
            60,
            ["LB.Elb.Amazonaws.com.".into()],
        );
        assert_eq!(c.values, vec!["lb.elb.amazonaws.com"]);
    }

    #[test]
    fn key_carries_the_set_identifier_of_routed_sets() {
        let s = RecordSet::new("a.example.com", RecordType::A, 60, ["1.1.1.1".into()]).with_routing(
            Routing::Latency {
                set_id: "us-east-1".into(),
                region: "us-east-1".into(),
            },
        );
        assert_eq!(s.key().set_id.as_deref(), Some("us-east-1"));
        assert_eq!(s.key().to_string(), "a.example.com A [us-east-1]");
    }

    #[test]
    fn unmodelled_fields_cost_one_pointer_and_give_failover_sets_their_own_key() {
        assert_eq!(
            std::mem::size_of::<Option<Box<Unmodelled>>>(),
            std::mem::size_of::<usize>()
        );
        let primary = |id: &str| {
            RecordSet::new("a.example.com", RecordType::A, 60, ["192.0.2.1".into()]).with_unmodelled(
                Unmodelled {
                    set_id: Some(id.into()),
                    fields: BTreeMap::from([("Failover".to_string(), "PRIMARY".to_string())]),
                    summary: "Failover PRIMARY".into(),
                },
            )
        };
        assert_eq!(primary("p").key().to_string(), "a.example.com A [p]");
        assert_ne!(primary("p").key(), primary("s").key());
        assert!(
            primary("p")
                .describe_values()
                .starts_with("[Failover PRIMARY] set:p ")
        );
    }

    #[test]
    fn in_zone_matches_whole_labels_only() {
        assert!(in_zone("example.com", "example.com"));
        assert!(in_zone("a.example.com", "example.com"));
        assert!(!in_zone("badexample.com", "example.com"));
        assert!(!in_zone("com", "example.com"));
    }

    #[test]
    fn record_type_round_trips_through_its_mnemonic() {
        for t in ["A", "AAAA", "CNAME", "TXT", "MX"] {
            assert_eq!(RecordType::from(t).as_str(), t);
        }
        assert_eq!(RecordType::from("aaaa"), RecordType::Aaaa);
    }
}
