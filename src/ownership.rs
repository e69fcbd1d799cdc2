//! Ownership records: a TXT at a companion name says who wrote a name.
//!
//! A CNAME cannot share its name with a TXT, so the TXT sits one label below the name it covers:
//! `<prefix>.<name>` (default prefix `_feddns`; the underscore keeps it apart from any name feddns
//! generates). Its value is
//! `heritage=feddns,owner=<owner id>,federation=<F>,service=<ns>/<svc>`: short, because Route53
//! counts every character of every value against its 32,000-character limit per request.

use feddns_provider::DnsName;

use crate::model::ServiceKey;

/// The heritage value that marks a record as written by feddns.
pub const HERITAGE: &str = "feddns";
/// Default label of the companion name.
pub const DEFAULT_PREFIX: &str = "_feddns";

/// What an ownership TXT says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ownership {
    /// The owner id of the feddns instance (one per federation and zone).
    pub owner: String,
    /// The federation label.
    pub federation: String,
    /// The Service the name belongs to.
    pub service: ServiceKey,
}

impl Ownership {
    /// The TXT value.
    pub fn encode(&self) -> String {
        format!(
            "heritage={HERITAGE},owner={},federation={},service={}/{}",
            self.owner, self.federation, self.service.namespace, self.service.name
        )
    }

    /// Parses a TXT value; `None` unless it is a complete feddns ownership value.
    pub fn decode(value: &str) -> Option<Self> {
        let mut heritage = None;
        let (mut owner, mut federation, mut service) = (None, None, None);
        for pair in value.trim_matches('"').split(',') {
            let (k, v) = pair.split_once('=')?;
            match k.trim() {
                "heritage" => heritage = Some(v.trim()),
                "owner" => owner = Some(v.trim().to_string()),
                "federation" => federation = Some(v.trim().to_string()),
                "service" => {
                    let (ns, name) = v.trim().split_once('/')?;
                    service = Some(ServiceKey::new(DnsName::intern(ns), DnsName::intern(name)));
                }
                _ => {}
            }
        }
        if heritage != Some(HERITAGE) {
            return None;
        }
        Some(Self {
            owner: owner?,
            federation: federation?,
            service: service?,
        })
    }
}

/// The companion name holding the ownership TXT of `name`.
pub fn companion_name(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

/// The name a companion name covers, if `name` is one.
pub fn covered_name<'a>(prefix: &str, name: &'a str) -> Option<&'a str> {
    name.strip_prefix(prefix)?.strip_prefix('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let o = Ownership {
            owner: "prod-1".into(),
            federation: "myfed".into(),
            service: ServiceKey::new("web", "nginx"),
        };
        let v = o.encode();
        assert_eq!(
            v,
            "heritage=feddns,owner=prod-1,federation=myfed,service=web/nginx"
        );
        assert_eq!(Ownership::decode(&v), Some(o.clone()));
        assert_eq!(Ownership::decode(&format!("\"{v}\"")), Some(o));
    }

    #[test]
    fn foreign_and_partial_values_are_not_ours() {
        assert_eq!(
            Ownership::decode("heritage=external-dns,external-dns/owner=default"),
            None
        );
        assert_eq!(Ownership::decode("heritage=feddns,owner=x"), None);
        assert_eq!(Ownership::decode("v=spf1 -all"), None);
        assert_eq!(Ownership::decode(""), None);
    }

    #[test]
    fn companion_names_round_trip() {
        let c = companion_name("_feddns", "a.b.example.com");
        assert_eq!(c, "_feddns.a.b.example.com");
        assert_eq!(covered_name("_feddns", &c), Some("a.b.example.com"));
        assert_eq!(covered_name("_feddns", "_feddnsx.a.example.com"), None);
    }
}
