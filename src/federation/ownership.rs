//! Ownership records: a TXT at a companion name says who wrote a name.
//!
//! A CNAME cannot share its name with a TXT, so the TXT sits one label below the name it covers:
//! `<prefix>.<name>` (default prefix `_feddns`; the underscore keeps it apart from any name feddns
//! generates). Its value is
//! `heritage=feddns,owner=<owner id>,federation=<F>,service=<ns>/<svc>`: short, because Route53
//! counts every character of every value against its 32,000-character limit per request.
//!
//! A host of Ingresses and Gateways is recorded as
//! `heritage=feddns,owner=<owner id>,federation=<F>,ingress=<ns>/<name>,host=<host>` (or
//! `gateway=<ns>/<name>`): the object named is the first of those that serve the host (several
//! objects, in several members, may); the host is what the name belongs to. The value stays one
//! TXT string of at most 255 characters: when the object does not fit it is left out, and when
//! the host does not fit either it is written `host=@` (the name the record covers). Older
//! feddns versions, which know only `service=`, see such a record as another instance's and
//! leave it alone.

use feddns_provider::DnsName;

use crate::federation::model::{HostKind, HostSource, ServiceKey, Subject};

/// The longest ownership value: one TXT character-string.
pub const MAX_VALUE: usize = 255;

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
    /// The Service or host the name belongs to.
    pub subject: Subject,
    /// For a host: the object recorded as serving it (informative; not part of the identity).
    pub source: Option<HostSource>,
}

impl Ownership {
    /// The TXT value (at most [`MAX_VALUE`] characters for a host; see the module docs).
    pub fn encode(&self) -> String {
        let head = format!(
            "heritage={HERITAGE},owner={},federation={}",
            self.owner, self.federation
        );
        match &self.subject {
            Subject::Service(key) => format!("{head},service={}/{}", key.namespace, key.name),
            Subject::Host(host) => {
                let host_part = format!(",host={host}");
                if let Some(src) = &self.source {
                    let full = format!("{head},{}={}{host_part}", src.kind.as_str(), src.key);
                    if full.len() <= MAX_VALUE {
                        return full;
                    }
                }
                if head.len() + host_part.len() <= MAX_VALUE {
                    format!("{head}{host_part}")
                } else {
                    format!("{head},host=@")
                }
            }
        }
    }

    /// Parses a TXT value; `None` unless it is a complete feddns ownership value. A host written
    /// `@` needs the covered name: see [`Self::decode_at`].
    pub fn decode(value: &str) -> Option<Self> {
        Self::decode_at(value, None)
    }

    /// Parses the TXT value of the ownership record of `covered`.
    pub fn decode_at(value: &str, covered: Option<&str>) -> Option<Self> {
        let mut heritage = None;
        let (mut owner, mut federation, mut service, mut host, mut source) = (None, None, None, None, None);
        let key = |v: &str| {
            let (ns, name) = v.trim().split_once('/')?;
            Some(ServiceKey::new(DnsName::intern(ns), DnsName::intern(name)))
        };
        for pair in value.trim_matches('"').split(',') {
            let (k, v) = pair.split_once('=')?;
            match k.trim() {
                "heritage" => heritage = Some(v.trim()),
                "owner" => owner = Some(v.trim().to_string()),
                "federation" => federation = Some(v.trim().to_string()),
                "service" => service = Some(key(v)?),
                "host" => host = Some(v.trim()),
                "ingress" => source = Some((HostKind::Ingress, key(v)?)),
                "gateway" => source = Some((HostKind::Gateway, key(v)?)),
                _ => {}
            }
        }
        if heritage != Some(HERITAGE) {
            return None;
        }
        let (subject, source) = match (service, host) {
            (Some(service), None) => (Subject::Service(service), None),
            (None, Some(host)) => {
                let host = if host == "@" { covered? } else { host };
                (
                    Subject::Host(DnsName::intern(host)),
                    source.map(|(kind, key)| HostSource { kind, key }),
                )
            }
            _ => return None,
        };
        Some(Self {
            owner: owner?,
            federation: federation?,
            subject,
            source,
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
            subject: Subject::Service(ServiceKey::new("web", "nginx")),
            source: None,
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
    fn hosts_record_their_object_and_stay_one_txt_string() {
        let host = |h: &str, source: Option<(HostKind, &str, &str)>| Ownership {
            owner: "prod-1".into(),
            federation: "myfed".into(),
            subject: Subject::Host(h.into()),
            source: source.map(|(kind, ns, n)| HostSource {
                kind,
                key: ServiceKey::new(ns, n),
            }),
        };
        let o = host("www.example.com", Some((HostKind::Ingress, "shop", "web")));
        let v = o.encode();
        assert_eq!(
            v,
            "heritage=feddns,owner=prod-1,federation=myfed,ingress=shop/web,host=www.example.com"
        );
        assert_eq!(Ownership::decode(&v), Some(o));
        let o = host("*.example.com", Some((HostKind::Gateway, "infra", "gw")));
        assert_eq!(Ownership::decode(&o.encode()), Some(o));
        // A long object name is left out, a long host written as the covered name.
        let long = "n".repeat(200);
        let o = host("www.example.com", Some((HostKind::Ingress, "shop", &long)));
        let v = o.encode();
        assert_eq!(
            v,
            "heritage=feddns,owner=prod-1,federation=myfed,host=www.example.com"
        );
        assert_eq!(Ownership::decode(&v).unwrap().subject, o.subject);
        let long_host = format!(
            "{}.{}.{}.{}.example.com",
            "a".repeat(55),
            "b".repeat(55),
            "c".repeat(55),
            "d".repeat(55)
        );
        let o = host(&long_host, Some((HostKind::Ingress, "shop", "web")));
        let v = o.encode();
        assert!(v.len() <= MAX_VALUE && v.ends_with(",host=@"), "{v}");
        assert_eq!(Ownership::decode(&v), None, "needs the covered name");
        assert_eq!(
            Ownership::decode_at(&v, Some(&long_host)).unwrap().subject,
            Subject::Host(long_host.as_str().into())
        );
        // Both a Service and a host: not a value feddns writes.
        assert_eq!(
            Ownership::decode("heritage=feddns,owner=o,federation=f,service=a/b,host=x.example.com"),
            None
        );
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
