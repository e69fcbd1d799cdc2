//! Checks of a batch that need no look at the zone, shared by the providers that send a batch in
//! one request: one change per set, replaces that keep their key, every set valid for the
//! provider, no CNAME created beside another type at one name, and the per-request limits.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::provider::{Change, Limits, ProviderError};
use crate::record::{RecordKey, RecordSet, RecordType};

/// Checks a batch before it is sent; `check_set` checks one set the way the provider needs it
/// (for example [`crate::validate::check_set`]). The first problem found is returned: invalid
/// changes first, then the limits.
pub fn check_batch(
    changes: &[Change],
    limits: Limits,
    check_set: impl Fn(&RecordSet) -> Result<(), ProviderError>,
) -> Result<(), ProviderError> {
    let invalid = |key: RecordKey, reason: &str| ProviderError::Invalid {
        key,
        reason: reason.to_string(),
    };
    let mut keys = HashSet::new();
    let mut created: BTreeMap<&str, BTreeSet<&RecordType>> = BTreeMap::new();
    for change in changes {
        let key = change.key();
        if !keys.insert(key.clone()) {
            return Err(invalid(
                key,
                "more than one change for this record set in one batch",
            ));
        }
        match change {
            Change::Create { new } => check_set(new)?,
            Change::Delete { old } => check_set(old)?,
            Change::Replace { old, new } => {
                if old.key() != new.key() {
                    return Err(invalid(key, "a replace must keep name, type and set identifier"));
                }
                check_set(old)?;
                check_set(new)?;
            }
        }
        if let Change::Create { new } | Change::Replace { new, .. } = change {
            created.entry(&new.name).or_default().insert(&new.rtype);
        }
    }
    for (name, types) in created {
        if types.contains(&RecordType::Cname) && types.len() > 1 {
            let key = RecordKey {
                name: name.into(),
                rtype: RecordType::Cname,
                set_id: None,
            };
            let key = changes
                .iter()
                .map(Change::key)
                .find(|k| k.name == name && k.rtype == RecordType::Cname)
                .unwrap_or(key);
            return Err(invalid(
                key,
                "a CNAME cannot share its name with other record types",
            ));
        }
    }
    check_limits(changes, limits)
}

/// Checks a batch against per-request limits (records, characters of values).
pub fn check_limits(changes: &[Change], limits: Limits) -> Result<(), ProviderError> {
    let cost: usize = changes.iter().map(|c| c.cost(limits.replace_cost)).sum();
    if cost > limits.max_records_per_batch {
        return Err(ProviderError::TooLarge(format!(
            "{cost} records in one batch, the limit is {}",
            limits.max_records_per_batch
        )));
    }
    let chars: usize = changes.iter().map(|c| c.value_chars(limits.replace_cost)).sum();
    if chars > limits.max_value_chars_per_batch {
        return Err(ProviderError::TooLarge(format!(
            "{chars} characters of values in one batch, the limit is {}",
            limits.max_value_chars_per_batch
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, rtype: RecordType, values: &[&str]) -> RecordSet {
        RecordSet::new(name, rtype, 60, values.iter().map(|v| v.to_string()))
    }

    fn ok(_: &RecordSet) -> Result<(), ProviderError> {
        Ok(())
    }

    #[test]
    fn shape_rules_then_limits() {
        let a = set("a.example.com", RecordType::A, &["192.0.2.1"]);
        let c = set("a.example.com", RecordType::Cname, &["t.example.net"]);
        let limits = Limits::default();
        check_batch(&[Change::create(a.clone())], limits, ok).unwrap();
        let e = check_batch(
            &[Change::delete(a.clone()), Change::create(a.clone())],
            limits,
            ok,
        );
        assert!(matches!(e, Err(ProviderError::Invalid { reason, .. }) if reason.contains("more than one")));
        let e = check_batch(&[Change::replace(a.clone(), c.clone())], limits, ok);
        assert!(matches!(e, Err(ProviderError::Invalid { reason, .. }) if reason.contains("keep name")));
        let e = check_batch(
            &[Change::create(a.clone()), Change::create(c.clone())],
            limits,
            ok,
        );
        assert!(matches!(e, Err(ProviderError::Invalid { key, .. }) if key.rtype == RecordType::Cname));
        // A swap (delete one type, create the other) is fine.
        check_batch(&[Change::delete(a.clone()), Change::create(c)], limits, ok).unwrap();
        let refuse = |_: &RecordSet| {
            Err(ProviderError::Invalid {
                key: set("a.example.com", RecordType::A, &[]).key(),
                reason: "no".into(),
            })
        };
        assert!(check_batch(&[Change::create(a.clone())], limits, refuse).is_err());
        let tiny = Limits {
            max_records_per_batch: 1,
            ..limits
        };
        let e = check_batch(&[Change::replace(a.clone(), a)], tiny, ok);
        assert!(
            matches!(e, Err(ProviderError::TooLarge(_))),
            "a replace counts twice"
        );
    }
}
