//! Between the feddns record model and hickory's records: what the embedded server accepts into
//! its zone, and the hickory records a query's answer is built from. The apex SOA and NS sets,
//! which the server owns, are built here too.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use feddns_provider::{Change, ProviderError, RecordSet, RecordType, normalize_name};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{self, LowerName, Name, RData};
use tracing::error;

/// TTL of the apex SOA and NS sets, in seconds.
pub const APEX_TTL: u32 = 3600;
/// SOA refresh interval, in seconds.
pub const SOA_REFRESH: i32 = 3600;
/// SOA retry interval, in seconds.
pub const SOA_RETRY: i32 = 600;
/// SOA expire interval, in seconds.
pub const SOA_EXPIRE: i32 = 86_400;
/// SOA minimum, the TTL of negative answers (NXDOMAIN, NODATA), in seconds.
pub const SOA_MINIMUM: u32 = 60;

/// The longest character-string a TXT record can hold, in bytes.
const TXT_CHUNK: usize = 255;

/// The zone apex and the SOA and NS sets the server keeps there.
#[derive(Debug)]
pub(crate) struct Apex {
    /// The zone, normalized (lower-case, no trailing dot).
    pub(crate) zone: String,
    /// The zone as a fully qualified hickory name.
    pub(crate) origin: Name,
    ns: Name,
    hostmaster: Name,
}

impl Apex {
    /// The apex of `zone` (normalized), with NS and SOA mname `ns1.<zone>` and rname
    /// `hostmaster.<zone>`.
    pub(crate) fn new(zone: &str) -> Result<Self, String> {
        if zone.is_empty() {
            return Err("the zone must not be the DNS root".into());
        }
        Ok(Self {
            zone: zone.to_string(),
            origin: fqdn(zone)?,
            ns: fqdn(&format!("ns1.{zone}"))?,
            hostmaster: fqdn(&format!("hostmaster.{zone}"))?,
        })
    }

    fn soa_rdata(&self, serial: u32) -> SOA {
        SOA::new(
            self.ns.clone(),
            self.hostmaster.clone(),
            serial,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            SOA_MINIMUM,
        )
    }

    /// The apex SOA set with `serial`.
    pub(crate) fn soa(&self, serial: u32) -> rr::RecordSet {
        let mut set = rr::RecordSet::with_ttl(self.origin.clone(), rr::RecordType::SOA, APEX_TTL);
        set.add_rdata(RData::SOA(self.soa_rdata(serial)));
        set
    }

    /// The apex NS set.
    pub(crate) fn ns(&self) -> rr::RecordSet {
        let mut set = rr::RecordSet::with_ttl(self.origin.clone(), rr::RecordType::NS, APEX_TTL);
        set.add_rdata(RData::NS(NS(self.ns.clone())));
        set
    }

    /// The apex SOA and NS sets in the feddns model, values in zone-file presentation form.
    pub(crate) fn listed(&self, serial: u32) -> [RecordSet; 2] {
        [
            RecordSet::new(
                &self.zone,
                RecordType::Other("SOA".into()),
                APEX_TTL,
                [self.soa_rdata(serial).to_string()],
            ),
            RecordSet::new(
                &self.zone,
                RecordType::Other("NS".into()),
                APEX_TTL,
                [self.ns.to_string()],
            ),
        ]
    }
}

/// Checks that the embedded server can serve what one change writes, rejecting changes to the
/// apex SOA or NS, a CNAME at the apex, names that are not in canonical presentation form
/// (queries could not find them), types it does not serve and values hickory cannot parse.
/// The zone rules themselves are left to `ZoneState`.
pub(crate) fn check(change: &Change, apex: &Apex) -> Result<(), ProviderError> {
    let sets: &[&RecordSet] = match change {
        Change::Create { new } => &[new],
        Change::Replace { old, new } => &[old, new],
        Change::Delete { old } => &[old],
    };
    for set in sets {
        check_apex(set, apex)?;
    }
    let subject = change.subject();
    let rtype = hickory_type(&subject.rtype).map_err(|reason| invalid(subject, reason))?;
    let name = fqdn(&subject.name).map_err(|reason| invalid(subject, reason))?;
    let canonical = key(&LowerName::new(&name));
    if canonical != normalize_name(&subject.name) {
        return Err(invalid(
            subject,
            format!("the name is not in canonical presentation form (that is {canonical:?})"),
        ));
    }
    if let Change::Create { new } | Change::Replace { new, .. } = change {
        for value in &new.values {
            rdata(rtype, value).map_err(|reason| invalid(new, reason))?;
        }
    }
    Ok(())
}

/// A set as hickory records owned by `owner`, built when a query needs it. Values were checked
/// by [`check`] before the set entered the zone; one that does not parse is left out (and
/// logged).
pub(crate) fn rrset(owner: Name, rtype: rr::RecordType, set: &RecordSet) -> rr::RecordSet {
    let mut rrset = rr::RecordSet::with_ttl(owner, rtype, set.ttl);
    for value in &set.values {
        match rdata(rtype, value) {
            Ok(data) => {
                rrset.add_rdata(data);
            }
            Err(reason) => error!(name = %set.name, %reason, "a value of the zone cannot be served"),
        }
    }
    rrset
}

/// A name as the zone's sets are keyed: lower-case presentation form without the trailing dot.
pub(crate) fn key(name: &LowerName) -> String {
    let mut s = name.to_ascii();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

fn check_apex(set: &RecordSet, apex: &Apex) -> Result<(), ProviderError> {
    let at_apex = set.name == apex.zone;
    let reason = match &set.rtype {
        RecordType::Other(t) if t == "SOA" => "the zone's only SOA record is managed by the embedded server",
        RecordType::Other(t) if t == "NS" && at_apex => "the apex NS set is managed by the embedded server",
        RecordType::Cname if at_apex => "a CNAME cannot be at the zone apex, which holds the SOA and NS sets",
        _ => return Ok(()),
    };
    Err(invalid(set, reason))
}

/// The hickory type of a feddns type. `Other` types must be hickory's upper-case mnemonic of a
/// type it can serve from a zone, and not one of the managed types, the SOA or ANAME (whose
/// address synthesis the server does not do).
pub(crate) fn hickory_type(rtype: &RecordType) -> Result<rr::RecordType, String> {
    use rr::RecordType as H;
    Ok(match rtype {
        RecordType::A => H::A,
        RecordType::Aaaa => H::AAAA,
        RecordType::Cname => H::CNAME,
        RecordType::Txt => H::TXT,
        RecordType::Other(s) => match H::from_str(s) {
            Ok(H::A | H::AAAA | H::CNAME | H::TXT) => {
                return Err(format!("{s} must use the record type's own variant, not Other"));
            }
            Ok(H::SOA | H::ZERO | H::ANAME) | Err(_) => {
                return Err(format!("record type {s} cannot be served"));
            }
            Ok(t) => t,
        },
    })
}

/// One value in hickory form. Names (CNAME targets, names inside other types' values) are taken
/// as absolute whether or not they end with a dot.
fn rdata(rtype: rr::RecordType, value: &str) -> Result<RData, String> {
    let bad = |e: &dyn std::fmt::Display| format!("invalid {rtype} value {value:?}: {e}");
    let data = match rtype {
        rr::RecordType::A => RData::A(A(value.parse::<Ipv4Addr>().map_err(|e| bad(&e))?)),
        rr::RecordType::AAAA => RData::AAAA(AAAA(value.parse::<Ipv6Addr>().map_err(|e| bad(&e))?)),
        rr::RecordType::CNAME => RData::CNAME(CNAME(fqdn(value)?)),
        rr::RecordType::TXT => RData::TXT(txt(value)),
        other => RData::try_from_str(other, value).map_err(|e| bad(&e))?,
    };
    // `RecordSet::add_rdata` asserts that the data has the set's type.
    if data.record_type() != rtype {
        return Err(bad(&format!("parsed as {}", data.record_type())));
    }
    Ok(data)
}

/// The unquoted text as TXT data: one character-string, split into 255-byte chunks only when
/// longer.
pub(crate) fn txt(value: &str) -> TXT {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return TXT::from_bytes(vec![bytes]);
    }
    TXT::from_bytes(bytes.chunks(TXT_CHUNK).collect())
}

/// A model name (lower-case, no trailing dot) as a fully qualified hickory name.
pub(crate) fn fqdn(name: &str) -> Result<Name, String> {
    let mut n = Name::from_ascii(name).map_err(|e| format!("{name:?} is not a valid DNS name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

fn invalid(set: &RecordSet, reason: impl Into<String>) -> ProviderError {
    ProviderError::Invalid {
        key: set.key(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apex() -> Apex {
        Apex::new("example.com").unwrap()
    }

    fn set(name: &str, rtype: RecordType, values: &[&str]) -> RecordSet {
        RecordSet::new(name, rtype, 60, values.iter().map(|v| (*v).to_string()))
    }

    #[test]
    fn long_txt_values_are_split_into_255_byte_strings() {
        let long = "x".repeat(300);
        let chunks: Vec<usize> = txt(&long).txt_data.iter().map(|s| s.len()).collect();
        assert_eq!(chunks, vec![255, 45]);
        assert_eq!(txt("a b \"c\"").txt_data.len(), 1);
        assert_eq!(txt("").txt_data.len(), 1);
    }

    #[test]
    fn apex_soa_and_ns_are_listed_in_presentation_form() {
        let [soa, ns] = apex().listed(7);
        assert_eq!(
            soa.values,
            vec!["ns1.example.com. hostmaster.example.com. 7 3600 600 86400 60"]
        );
        assert_eq!(ns.values, vec!["ns1.example.com."]);
        assert_eq!((soa.name.as_str(), ns.ttl), ("example.com", APEX_TTL));
    }

    #[test]
    fn apex_soa_ns_and_cname_are_rejected() {
        let cases = [
            set(
                "example.com",
                RecordType::Other("SOA".into()),
                &["a. b. 9 1 1 1 1"],
            ),
            set(
                "x.example.com",
                RecordType::Other("SOA".into()),
                &["a. b. 9 1 1 1 1"],
            ),
            set(
                "example.com",
                RecordType::Other("NS".into()),
                &["ns2.example.net."],
            ),
            set("example.com", RecordType::Cname, &["elsewhere.example.net"]),
        ];
        for s in cases {
            for change in [Change::create(s.clone()), Change::delete(s.clone())] {
                let e = check(&change, &apex()).unwrap_err();
                assert!(matches!(e, ProviderError::Invalid { .. }), "{change}: {e}");
            }
        }
    }

    #[test]
    fn other_types_are_parsed_and_delegations_below_the_apex_allowed() {
        let mx = set(
            "example.com",
            RecordType::Other("MX".into()),
            &["10 mail.example.com."],
        );
        check(&Change::create(mx.clone()), &apex()).unwrap();
        let rtype = hickory_type(&mx.rtype).unwrap();
        assert_eq!(rtype, rr::RecordType::MX);
        let rrset = rrset(fqdn(&mx.name).unwrap(), rtype, &mx);
        assert_eq!(rrset.records_count(), 1);
        let ns = set(
            "sub.example.com",
            RecordType::Other("NS".into()),
            &["ns.sub.example.com."],
        );
        assert!(check(&Change::create(ns), &apex()).is_ok());
    }

    #[test]
    fn values_hickory_cannot_serve_are_invalid() {
        let cases = [
            set("a.example.com", RecordType::Other("MX".into()), &["not an mx"]),
            set("a.example.com", RecordType::Other("BOGUS".into()), &["x"]),
            set("a.example.com", RecordType::Other("A".into()), &["192.0.2.1"]),
            set("a.example.com", RecordType::A, &["not-an-ip"]),
            set(
                &format!("{}.example.com", "l".repeat(64)),
                RecordType::A,
                &["192.0.2.1"],
            ),
        ];
        for s in cases {
            let e = check(&Change::create(s.clone()), &apex()).unwrap_err();
            assert!(matches!(e, ProviderError::Invalid { .. }), "{s:?}: {e}");
        }
    }

    #[test]
    fn names_a_query_cannot_find_and_aname_sets_are_invalid() {
        let cases = [
            set("a b.example.com", RecordType::A, &["192.0.2.1"]),
            set("caf\u{e9}.example.com", RecordType::A, &["192.0.2.1"]),
            set("a\\065.example.com", RecordType::A, &["192.0.2.1"]),
            set(
                "a.example.com",
                RecordType::Other("ANAME".into()),
                &["b.example.com."],
            ),
        ];
        for s in cases {
            let e = check(&Change::create(s.clone()), &apex()).unwrap_err();
            assert!(matches!(e, ProviderError::Invalid { .. }), "{s:?}: {e}");
        }
        for name in [
            "_feddns.x.example.com",
            "*.wild.example.com",
            "xn--caf-dma.example.com",
        ] {
            let s = set(name, RecordType::A, &["192.0.2.1"]);
            check(&Change::create(s), &apex()).unwrap();
            assert_eq!(key(&LowerName::new(&fqdn(name).unwrap())), name);
        }
    }
}
