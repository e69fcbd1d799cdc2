//! DNS names: label and name validation, and the federation naming scheme.
//!
//! For Service `svc` in namespace `ns` of federation `F` under suffix `D`, with `P = svc.ns.F.svc`:
//!
//! ```text
//! zone    P.<zone>.<region>.D   healthy shards in members that have that zone, or CNAME -> region
//! region  P.<region>.D          healthy shards in members of that region,     or CNAME -> global
//! global  P.D                   all healthy shards,                           or no record
//! ```

use std::fmt;

use crate::federation::model::ServiceKey;

/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;
/// Longest name in presentation form without the trailing dot.
pub const MAX_NAME: usize = 253;

/// Why a label or name is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// An empty label (two dots in a row, or an empty string).
    #[error("{what} {value:?} has an empty label")]
    EmptyLabel {
        /// What the value is (a zone label, the DNS suffix, ...).
        what: String,
        /// The offending value.
        value: String,
    },
    /// A label longer than 63 characters.
    #[error("{what} {value:?} has a label of {len} characters (at most {MAX_LABEL})")]
    LabelTooLong {
        /// What the value is.
        what: String,
        /// The offending value.
        value: String,
        /// Its length.
        len: usize,
    },
    /// A label with characters other than a-z, 0-9 and '-', or starting/ending with '-'.
    #[error("{what} {value:?} is not an RFC 1123 label: {reason}")]
    BadLabel {
        /// What the value is.
        what: String,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A name longer than 253 characters.
    #[error("{what} {value:?} is {len} characters long (at most {MAX_NAME})")]
    NameTooLong {
        /// What the value is.
        what: String,
        /// The offending value.
        value: String,
        /// Its length.
        len: usize,
    },
}

/// Checks one RFC 1123 label (lower-case letters, digits, '-', not at either end, 1..=63 long).
pub fn check_label(what: &str, label: &str) -> Result<(), NameError> {
    let err = |reason| NameError::BadLabel {
        what: what.to_string(),
        value: label.to_string(),
        reason,
    };
    if label.is_empty() {
        return Err(NameError::EmptyLabel {
            what: what.to_string(),
            value: label.to_string(),
        });
    }
    if label.len() > MAX_LABEL {
        return Err(NameError::LabelTooLong {
            what: what.to_string(),
            value: label.to_string(),
            len: label.len(),
        });
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(err(if c.is_ascii_uppercase() {
            "upper-case letters are not allowed"
        } else if c == '_' {
            "underscores are not allowed"
        } else {
            "only a-z, 0-9 and '-' are allowed"
        }));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(err("it must start and end with a letter or digit"));
    }
    Ok(())
}

/// Checks a dotted name made of RFC 1123 labels (no trailing dot), at most 253 characters.
pub fn check_name(what: &str, name: &str) -> Result<(), NameError> {
    if name.len() > MAX_NAME {
        return Err(NameError::NameTooLong {
            what: what.to_string(),
            value: name.to_string(),
            len: name.len(),
        });
    }
    if name.is_empty() {
        return Err(NameError::EmptyLabel {
            what: what.to_string(),
            value: name.to_string(),
        });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel {
                what: what.to_string(),
                value: name.to_string(),
            });
        }
        check_label(what, label).map_err(|e| match e {
            NameError::BadLabel { reason, .. } => NameError::BadLabel {
                what: what.to_string(),
                value: name.to_string(),
                reason,
            },
            NameError::LabelTooLong { len, .. } => NameError::LabelTooLong {
                what: what.to_string(),
                value: name.to_string(),
                len,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// The names of one federation: federation label `F` under DNS suffix `D`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    federation: String,
    suffix: String,
}

/// The level of a federated name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `P.<zone>.<region>.D`
    Zone {
        /// Zone label.
        zone: String,
        /// Region label.
        region: String,
    },
    /// `P.<region>.D`
    Region {
        /// Region label.
        region: String,
    },
    /// `P.D`
    Global,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zone { zone, region } => write!(f, "zone {zone} ({region})"),
            Self::Region { region } => write!(f, "region {region}"),
            Self::Global => f.write_str("global"),
        }
    }
}

impl Naming {
    /// Validates the federation label and the suffix (lower-cased, trailing dot removed).
    pub fn new(federation: &str, suffix: &str) -> Result<Self, NameError> {
        check_label("federation name", federation)?;
        let suffix = feddns_provider::normalize_name(suffix);
        check_name("DNS suffix", &suffix)?;
        Ok(Self {
            federation: federation.to_string(),
            suffix,
        })
    }

    /// The federation label.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The DNS suffix (zone).
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// `svc.ns.F.svc`, after checking the Service's labels.
    pub fn prefix(&self, svc: &ServiceKey) -> Result<String, NameError> {
        check_label("service name", &svc.name)?;
        check_label("namespace", &svc.namespace)?;
        let prefix = format!("{}.{}.{}.svc", svc.name, svc.namespace, self.federation);
        // The longest global name must fit.
        let global = format!("{prefix}.{}", self.suffix);
        if global.len() > MAX_NAME {
            return Err(NameError::NameTooLong {
                what: format!("name of service {svc}"),
                value: global.clone(),
                len: global.len(),
            });
        }
        Ok(prefix)
    }

    /// The name of `level` for a Service whose prefix is `prefix` (from [`Naming::prefix`]).
    pub fn name(&self, prefix: &str, level: &Level) -> Result<String, NameError> {
        let name = match level {
            Level::Zone { zone, region } => {
                check_label("zone label", zone)?;
                check_label("region label", region)?;
                format!("{prefix}.{zone}.{region}.{}", self.suffix)
            }
            Level::Region { region } => {
                check_label("region label", region)?;
                format!("{prefix}.{region}.{}", self.suffix)
            }
            Level::Global => format!("{prefix}.{}", self.suffix),
        };
        if name.len() > MAX_NAME {
            return Err(NameError::NameTooLong {
                what: format!("{level} name"),
                value: name.clone(),
                len: name.len(),
            });
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming() -> Naming {
        Naming::new("ufp", "Example.COM.").unwrap()
    }

    #[test]
    fn names_follow_the_federation_v1_scheme() {
        let n = naming();
        let p = n.prefix(&ServiceKey::new("test", "nginx")).unwrap();
        assert_eq!(p, "nginx.test.ufp.svc");
        let zone = Level::Zone {
            zone: "foozone".into(),
            region: "fooregion".into(),
        };
        assert_eq!(
            n.name(&p, &zone).unwrap(),
            "nginx.test.ufp.svc.foozone.fooregion.example.com"
        );
        assert_eq!(
            n.name(
                &p,
                &Level::Region {
                    region: "fooregion".into()
                }
            )
            .unwrap(),
            "nginx.test.ufp.svc.fooregion.example.com"
        );
        assert_eq!(
            n.name(&p, &Level::Global).unwrap(),
            "nginx.test.ufp.svc.example.com"
        );
    }

    #[test]
    fn bad_labels_are_reported_with_what_and_why() {
        let n = naming();
        let p = n.prefix(&ServiceKey::new("test", "nginx")).unwrap();
        let err = n
            .name(
                &p,
                &Level::Zone {
                    zone: "us_east_1a".into(),
                    region: "us-east-1".into(),
                },
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "zone label \"us_east_1a\" is not an RFC 1123 label: underscores are not allowed"
        );
        assert!(matches!(check_label("x", "-a"), Err(NameError::BadLabel { .. })));
        assert!(matches!(check_label("x", "Ab"), Err(NameError::BadLabel { .. })));
        assert!(matches!(check_label("x", ""), Err(NameError::EmptyLabel { .. })));
        assert!(check_label("x", "a-1").is_ok());
    }

    #[test]
    fn overlong_labels_and_names_are_refused() {
        let n = naming();
        let long = "a".repeat(64);
        assert!(matches!(
            n.prefix(&ServiceKey::new("ns", &long)),
            Err(NameError::LabelTooLong { len: 64, .. })
        ));
        let ok63 = "a".repeat(63);
        let p = n.prefix(&ServiceKey::new(&ok63, &ok63)).unwrap();
        let zone = Level::Zone {
            zone: ok63.clone(),
            region: ok63.clone(),
        };
        assert!(matches!(n.name(&p, &zone), Err(NameError::NameTooLong { .. })));
        assert!(Naming::new("fed", &format!("{}.com", "a.".repeat(130))).is_err());
    }

    #[test]
    fn federation_and_suffix_are_validated() {
        assert!(Naming::new("my.fed", "example.com").is_err());
        assert!(Naming::new("fed", "exa mple.com").is_err());
        assert!(Naming::new("fed", "example..com").is_err());
        assert_eq!(naming().suffix(), "example.com");
    }
}
