//! Errors of setting up the provider, and the mapping of failed `changes.create` calls to
//! [`ProviderError`].

use feddns_provider::parse_error::serde_reason;
use feddns_provider::{ParseError, ProviderError, RecordKey, RecordType};

use crate::api::ApiError;
use crate::rest::error_chain;

/// Errors of connecting to Cloud DNS and choosing the zone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudDnsError {
    /// The configuration is unusable.
    #[error("invalid clouddns configuration: {0}")]
    Config(String),
    /// No credentials could be loaded, or they name no project.
    #[error("clouddns: credentials: {0}")]
    Credentials(String),
    /// No managed zone has the configured name or DNS name.
    #[error("clouddns: no managed zone {zone} found in project {project}")]
    ZoneNotFound {
        /// The project searched.
        project: String,
        /// The configured managed zone or DNS name.
        zone: String,
    },
    /// Several managed zones (public and private) have the configured DNS name.
    #[error("clouddns: {} managed zones serve {dns_name} ({}); set managed_zone to choose one", zones.len(), zones.join(", "))]
    AmbiguousZone {
        /// The configured DNS name.
        dns_name: String,
        /// The candidates' names.
        zones: Vec<String>,
    },
    /// The configured managed zone and DNS name do not belong together.
    #[error("clouddns: managed zone {managed_zone} serves {actual}, not {configured}")]
    ZoneMismatch {
        /// The configured managed zone.
        managed_zone: String,
        /// The configured DNS name.
        configured: String,
        /// The zone's real DNS name.
        actual: String,
    },
    /// A Cloud DNS call failed.
    #[error("clouddns: {0}")]
    Api(#[from] ApiError),
    /// A Cloud DNS answer made no sense.
    #[error("clouddns: {0}")]
    Protocol(String),
    /// A listing was given up: it repeated a page or never ended.
    #[error("clouddns: {0}")]
    Listing(#[from] feddns_provider::ListingStopped),
}

impl From<CloudDnsError> for ProviderError {
    fn from(e: CloudDnsError) -> Self {
        match e {
            CloudDnsError::Api(api) if api.is_transient() => Self::transient_from(api.to_string(), api),
            other => Self::other_from(other.to_string(), other),
        }
    }
}

/// A gcp_auth error in words that hold nothing read from a credentials file or a token answer:
/// a JSON error as its line, column and kind (serde_json quotes the values it did not expect), a
/// PEM error as gcp_auth's own words only (the PEM parser prints the offending line, as bytes),
/// anything else as gcp_auth words it. The caller names what was read.
pub(crate) fn auth_error(e: &gcp_auth::Error) -> String {
    use gcp_auth::Error as E;
    match e {
        E::Json(_, json) => json_error("", json).located(),
        E::Other(what, inner) if inner.downcast_ref::<rustls::pki_types::pem::Error>().is_some() => {
            (*what).to_string()
        }
        E::Other(what, inner) => format!("{what}: {}", error_chain(inner.as_ref())),
        E::Io(what, io) => format!("{what}: {io}"),
        E::Http(what, http) => format!("{what}: {}", error_chain(http)),
        E::Str(what) => (*what).to_string(),
        E::NoAuthMethod(..) => e.to_string(),
    }
}

/// A serde_json error of the text from `origin`, without any of the text.
pub(crate) fn json_error(origin: &str, e: &serde_json::Error) -> ParseError {
    let (line, column) = (e.line() as u64, e.column() as u64);
    let text = e.to_string();
    let message = text
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&text);
    ParseError::new(origin, Some(line), Some(column), serde_reason(message))
}

/// Where each wire addition and deletion of a change came from, to name the set an error is
/// about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    /// The key of the feddns change behind each addition.
    pub(crate) additions: Vec<RecordKey>,
    /// The key of the feddns change behind each deletion.
    pub(crate) deletions: Vec<RecordKey>,
    /// The key of the batch's first change (fallback).
    pub(crate) first: Option<RecordKey>,
}

impl Origins {
    fn fallback(&self) -> RecordKey {
        self.first.clone().unwrap_or_else(|| RecordKey {
            name: String::new().into(),
            rtype: RecordType::Other(String::new()),
            set_id: None,
        })
    }

    /// The key named by `additions[i]` or `deletions[i]` in a message, if any.
    pub(crate) fn key_in(&self, message: &str) -> Option<RecordKey> {
        for (word, keys) in [("additions[", &self.additions), ("deletions[", &self.deletions)] {
            if let Some(pos) = message.find(word) {
                let rest = &message[pos + word.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Some(k) = digits.parse::<usize>().ok().and_then(|i| keys.get(i)) {
                    return Some(k.clone());
                }
            }
        }
        None
    }
}

/// Maps a failed `changes.create` to the provider's error.
pub(crate) fn map_change_error(e: &ApiError, origins: &Origins) -> ProviderError {
    if e.is_transient() {
        return ProviderError::transient_from(format!("changes.create: {e}"), e.clone());
    }
    let key = || origins.key_in(&e.message).unwrap_or_else(|| origins.fallback());
    let reason = e.reason.as_deref().unwrap_or_default();
    let quota = reason.contains("quota") || reason.contains("Quota") || e.status == Some(413);
    match e.status {
        _ if quota => ProviderError::TooLarge(format!("changes.create: {e}")),
        Some(409) => ProviderError::Conflict {
            key: key(),
            reason: format!("the set already exists ({e})"),
        },
        Some(412) => ProviderError::Conflict {
            key: key(),
            reason: format!("the set differs from the expected one or is gone ({e})"),
        },
        Some(400) => ProviderError::Invalid {
            key: key(),
            reason: e.to_string(),
        },
        Some(401) => ProviderError::other_from(
            format!("clouddns: changes.create: not authenticated; check the credentials ({e})"),
            e.clone(),
        ),
        Some(403) => ProviderError::other_from(
            format!(
                "clouddns: changes.create: permission denied; the credentials need roles/dns.admin on the zone ({e})"
            ),
            e.clone(),
        ),
        Some(404) => ProviderError::other_from(
            format!("clouddns: changes.create: the managed zone or project no longer exists ({e})"),
            e.clone(),
        ),
        _ => ProviderError::other_from(format!("clouddns: changes.create: {e}"), e.clone()),
    }
}

/// Maps a failed read (list pages, zone lookups) to the provider's error.
pub(crate) fn map_read_error(op: &str, e: &ApiError) -> ProviderError {
    if e.is_transient() {
        return ProviderError::transient_from(format!("{op}: {e}"), e.clone());
    }
    let hint = match e.status {
        Some(401) => "not authenticated; check the credentials: ",
        Some(403) => "permission denied; the credentials need roles/dns.reader or roles/dns.admin: ",
        Some(404) => "not found: ",
        _ => "",
    };
    ProviderError::other_from(format!("clouddns: {op}: {hint}{e}"), e.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> RecordKey {
        RecordKey {
            name: n.into(),
            rtype: RecordType::A,
            set_id: None,
        }
    }

    fn origins() -> Origins {
        Origins {
            additions: vec![key("a0"), key("a1")],
            deletions: vec![key("d0")],
            first: Some(key("first")),
        }
    }

    #[test]
    fn statuses_map_to_provider_errors_naming_the_set() {
        let o = origins();
        let e = ApiError::http(
            409,
            Some("alreadyExists".into()),
            "The resource 'entity.change.additions[1]' named 'a1.example.com. (A)' already exists",
        );
        assert!(matches!(map_change_error(&e, &o), ProviderError::Conflict { key, .. } if key.name == "a1"));
        let e = ApiError::http(
            412,
            Some("conditionNotMet".into()),
            "Precondition not met for 'entity.change.deletions[0]'",
        );
        assert!(matches!(map_change_error(&e, &o), ProviderError::Conflict { key, .. } if key.name == "d0"));
        let e = ApiError::http(
            400,
            Some("invalid".into()),
            "Invalid value for 'entity.change.additions[0].rrdata[2]': 'x'",
        );
        assert!(matches!(map_change_error(&e, &o), ProviderError::Invalid { key, .. } if key.name == "a0"));
        let e = ApiError::http(400, Some("invalid".into()), "something else");
        assert!(
            matches!(map_change_error(&e, &o), ProviderError::Invalid { key, .. } if key.name == "first")
        );
        let e = ApiError::http(400, Some("quotaExceeded".into()), "too many");
        assert!(matches!(map_change_error(&e, &o), ProviderError::TooLarge(_)));
        let api_source = |e: &ProviderError| -> Option<ApiError> {
            std::error::Error::source(e)?.downcast_ref::<ApiError>().cloned()
        };
        for s in [429, 500, 503] {
            let api = ApiError::http(s, None, "x");
            let mapped = map_change_error(&api, &o);
            assert!(mapped.is_transient());
            assert_eq!(
                api_source(&mapped),
                Some(api),
                "the API error is kept as the source"
            );
        }
        for s in [401, 403, 404] {
            let api = ApiError::http(s, None, "x");
            let mapped = map_change_error(&api, &o);
            assert!(matches!(mapped, ProviderError::Other { .. }));
            assert_eq!(
                api_source(&mapped),
                Some(api),
                "the API error is kept as the source"
            );
        }
    }
}
