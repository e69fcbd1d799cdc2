//! The one record-set validator: the reference zone's rules for a set on its own, used by every
//! provider before it sends anything.
//!
//! [`check_set`] is the whole check of the reference zone. Providers whose service adds rules
//! (set identifiers, aliases, unmodelled policies) run [`check_name`], their own routing checks,
//! then [`check_values`], with [`SetRules`] saying which of the service's extra limits apply.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::provider::{Capabilities, ProviderError};
use crate::record::{RecordSet, RecordType, in_zone, normalize_name};

/// The limits a provider's service adds to the reference zone's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetRules {
    /// Names must be valid DNS names (at most 253 characters, labels of 1 to 63).
    pub name_syntax: bool,
    /// TTLs must fit a signed 32-bit number (RFC 2181).
    pub ttl_i32: bool,
    /// Values per set, when the service limits them, and the service's name for messages.
    pub max_values: Option<(usize, &'static str)>,
    /// CNAME targets must be normalized DNS names (lower-case, no trailing dot, valid labels).
    pub strict_cname_target: bool,
    /// Characters of one TXT value, when limited.
    pub max_txt_len: Option<usize>,
}

impl SetRules {
    /// The reference zone's own limits: TXT values of at most 255 characters.
    pub const REFERENCE: Self = Self {
        name_syntax: false,
        ttl_i32: false,
        max_values: None,
        strict_cname_target: false,
        max_txt_len: Some(255),
    };

    /// The rules of a remote DNS service: valid DNS names and 32-bit TTLs.
    pub const SERVICE: Self = Self {
        name_syntax: true,
        ttl_i32: true,
        max_values: None,
        strict_cname_target: false,
        max_txt_len: None,
    };
}

/// Checks one record set on its own as the reference zone does: name in zone, values valid for
/// the type, routing and aliases only where supported.
pub fn check_set(set: &RecordSet, zone: &str, caps: Capabilities) -> Result<(), ProviderError> {
    check_set_with(set, zone, caps, &SetRules::REFERENCE)
}

/// [`check_set`] with a service's extra limits (which should include the reference's).
pub fn check_set_with(
    set: &RecordSet,
    zone: &str,
    caps: Capabilities,
    rules: &SetRules,
) -> Result<(), ProviderError> {
    check_name(set, zone, caps, rules)?;
    let invalid = |reason: String| Err(ProviderError::invalid(set.key(), reason));
    if let Some(routing) = set.routing() {
        let supported = match routing {
            crate::Routing::Latency { .. } => caps.latency,
            crate::Routing::Weighted { .. } => caps.weighted,
            crate::Routing::Geo { .. } => caps.geo,
        };
        if !supported {
            return invalid(format!(
                "{} routing is not supported by this provider",
                routing.policy()
            ));
        }
    }
    if let Some(alias) = set.alias() {
        if !caps.alias {
            return invalid("alias record sets are not supported by this provider".into());
        }
        if !set.values.is_empty() || alias.dns_name.is_empty() {
            return invalid("an alias set has a target name and no values".into());
        }
        return Ok(());
    }
    check_values(set, rules)
}

/// The checks of a set's name and TTL: normalized, inside `zone`, a wildcard only where
/// supported, and the service's syntax and TTL limits.
pub fn check_name(
    set: &RecordSet,
    zone: &str,
    caps: Capabilities,
    rules: &SetRules,
) -> Result<(), ProviderError> {
    let invalid = |reason: String| Err(ProviderError::invalid(set.key(), reason));
    if (rules.name_syntax && set.name.is_empty()) || set.name != normalize_name(&set.name) {
        return invalid("name is not normalized (lower-case, no trailing dot)".into());
    }
    if !in_zone(&set.name, zone) {
        return invalid(format!("name is not in zone {zone}"));
    }
    if set.name.starts_with("*.") && !caps.wildcard {
        return invalid("wildcard names are not supported by this provider".into());
    }
    if rules.name_syntax && !valid_dns_name(&set.name) {
        return invalid("name is not a valid DNS name".into());
    }
    if rules.ttl_i32 && set.ttl > i32::MAX as u32 {
        return invalid(format!("TTL {} is over 2147483647", set.ttl));
    }
    Ok(())
}

/// The checks of a set's values: at least one, within the service's count, each valid for the
/// type, and one value for a CNAME.
pub fn check_values(set: &RecordSet, rules: &SetRules) -> Result<(), ProviderError> {
    let invalid = |reason: String| Err(ProviderError::invalid(set.key(), reason));
    if set.values.is_empty() {
        return invalid("a record set needs at least one value".into());
    }
    if let Some((max, service)) = rules.max_values
        && set.values.len() > max
    {
        return invalid(format!(
            "{} values, {service} allows {max} per rrset",
            set.values.len()
        ));
    }
    for v in &set.values {
        let ok = match &set.rtype {
            RecordType::A => v.parse::<Ipv4Addr>().is_ok(),
            RecordType::Aaaa => v.parse::<Ipv6Addr>().is_ok(),
            RecordType::Cname => {
                !v.is_empty()
                    && v.len() <= 253
                    && !v.contains(char::is_whitespace)
                    && (!rules.strict_cname_target || (*v == normalize_name(v) && valid_dns_name(v)))
            }
            RecordType::Txt => rules.max_txt_len.is_none_or(|max| v.len() <= max),
            RecordType::Other(_) => true,
        };
        if !ok {
            return invalid(format!("invalid {} value {v:?}", set.rtype));
        }
    }
    if set.rtype == RecordType::Cname && set.values.len() != 1 {
        return invalid("a CNAME has exactly one value".into());
    }
    Ok(())
}

/// At most 253 characters in labels of 1 to 63.
fn valid_dns_name(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, rtype: RecordType, values: &[&str]) -> RecordSet {
        RecordSet::new(name, rtype, 60, values.iter().map(|v| v.to_string()))
    }

    fn reason(r: Result<(), ProviderError>) -> String {
        match r {
            Err(ProviderError::Invalid { reason, .. }) => reason,
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn service_rules_add_name_syntax_ttl_and_value_limits() {
        let caps = Capabilities::default();
        let long = format!("{}.example.com", "a".repeat(64));
        let s = set(&long, RecordType::A, &["192.0.2.1"]);
        assert!(
            check_set(&s, "example.com", caps).is_ok(),
            "the reference zone takes it"
        );
        assert_eq!(
            reason(check_name(&s, "example.com", caps, &SetRules::SERVICE)),
            "name is not a valid DNS name"
        );
        let mut s = set("a.example.com", RecordType::A, &["192.0.2.1"]);
        s.ttl = u32::MAX;
        assert!(reason(check_name(&s, "example.com", caps, &SetRules::SERVICE)).starts_with("TTL"));
        let many: Vec<String> = (1..=3).map(|i| format!("192.0.2.{i}")).collect();
        let s = set(
            "a.example.com",
            RecordType::A,
            &many.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let rules = SetRules {
            max_values: Some((2, "Cloud DNS")),
            ..SetRules::SERVICE
        };
        assert_eq!(
            reason(check_values(&s, &rules)),
            "3 values, Cloud DNS allows 2 per rrset"
        );
        let c = set("c.example.com", RecordType::Cname, &[&long]);
        assert!(check_values(&c, &SetRules::SERVICE).is_ok());
        let strict = SetRules {
            strict_cname_target: true,
            ..SetRules::SERVICE
        };
        assert!(reason(check_values(&c, &strict)).starts_with("invalid CNAME value"));
        let t = set("t.example.com", RecordType::Txt, &[&"x".repeat(300)]);
        assert!(check_values(&t, &SetRules::SERVICE).is_ok());
        assert!(
            check_set(&t, "example.com", caps).is_err(),
            "255 characters a TXT string"
        );
    }
}
