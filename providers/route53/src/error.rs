//! Errors of setting up the provider, and the mapping of Route53 API errors to
//! [`ProviderError`].

use feddns_provider::{Change, ProviderError, RecordKey, RecordType};

use crate::api::{ApiError, ApiErrorKind, WireChange};
use crate::wire::decode_name;

/// Errors of connecting to Route53 and choosing the zone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Route53Error {
    /// The configuration is unusable.
    #[error("invalid route53 configuration: {0}")]
    Config(String),
    /// No hosted zone has the configured name (or id).
    #[error("route53: no hosted zone {zone} found")]
    ZoneNotFound {
        /// The configured zone name or id.
        zone: String,
    },
    /// Several hosted zones have the configured name.
    #[error("route53: {} hosted zones are named {zone} ({}); set zone_id to choose one", ids.len(), ids.join(", "))]
    AmbiguousZone {
        /// The configured zone name.
        zone: String,
        /// The candidates' ids.
        ids: Vec<String>,
    },
    /// The configured zone id and name do not belong together.
    #[error("route53: hosted zone {zone_id} is named {actual}, not {configured}")]
    ZoneMismatch {
        /// The configured id.
        zone_id: String,
        /// The configured name.
        configured: String,
        /// The zone's real name.
        actual: String,
    },
    /// A Route53 call failed.
    #[error("route53: {0}")]
    Api(#[from] ApiError),
    /// A Route53 answer made no sense (for example a truncated page that names no next one).
    #[error("route53: {0}")]
    Protocol(String),
    /// A listing was given up: it repeated a page or never ended.
    #[error("route53: {0}")]
    Listing(#[from] feddns_provider::ListingStopped),
}

impl From<Route53Error> for ProviderError {
    fn from(e: Route53Error) -> Self {
        match e {
            Route53Error::Api(api) if is_transient(&api) => Self::transient_from(api.to_string(), api),
            other => Self::other_from(other.to_string(), other),
        }
    }
}

/// True when retrying the same call later may succeed: throttling, 5xx, timeouts, network
/// failures.
pub(crate) fn is_transient(e: &ApiError) -> bool {
    match e.kind {
        ApiErrorKind::Timeout | ApiErrorKind::Dispatch => true,
        ApiErrorKind::Service | ApiErrorKind::Response => {
            e.is_throttle()
                || e.status.is_some_and(|s| s >= 500 || s == 429)
                || matches!(
                    e.code.as_deref(),
                    Some("ServiceUnavailable" | "InternalFailure" | "InternalError" | "RequestTimeout")
                )
        }
        ApiErrorKind::Client | ApiErrorKind::Construction => false,
    }
}

const CONFLICT_PHRASES: [&str; 3] = [
    "but it already exists",
    "but it was not found",
    "do not match the current values",
];

const TOO_LARGE_PHRASES: [&str; 2] = ["limit of", "exceeded"];

/// Maps a failed `ChangeResourceRecordSets` (or a read that failed during `list`) to the
/// provider's error. `sent` are the wire changes of the batch and `changes` the feddns changes
/// they came from (to name the set a message is about).
pub(crate) fn map_change_error(
    e: &ApiError,
    sent: &[(usize, WireChange)],
    changes: &[Change],
) -> ProviderError {
    if is_transient(e) {
        return ProviderError::transient_from(e.to_string(), e.clone());
    }
    let code = e.code.as_deref().unwrap_or_default();
    match code {
        "InvalidChangeBatch" | "InvalidInput" => {
            let msg = &e.message;
            let key = key_from_message(msg, sent, changes)
                .or_else(|| changes.first().map(Change::key))
                .unwrap_or_else(|| RecordKey {
                    name: String::new().into(),
                    rtype: RecordType::Other(String::new()),
                    set_id: None,
                });
            let reason = format!("{code}: {msg}");
            if code == "InvalidChangeBatch" && CONFLICT_PHRASES.iter().any(|p| msg.contains(p)) {
                ProviderError::Conflict { key, reason }
            } else if TOO_LARGE_PHRASES.iter().all(|p| msg.contains(p)) {
                ProviderError::TooLarge(reason)
            } else {
                ProviderError::Invalid { key, reason }
            }
        }
        _ => ProviderError::other_from(e.to_string(), e.clone()),
    }
}

/// Finds the set a Route53 message is about. Understood forms (the first that matches wins):
/// `[name='N', type='T', set-identifier='S']`, `RRSet with DNS name N, type T, SetIdentifier
/// "S"` (also unquoted, and followed by `and Region Name=R`), `RRSet with DNS name N`,
/// `Name=N, Type=T, SetIdentifier=S`, `RRSet of type T with DNS name N`, and
/// `encountered with 'VALUE'`.
fn key_from_message(msg: &str, sent: &[(usize, WireChange)], changes: &[Change]) -> Option<RecordKey> {
    let key = |name: &str, rtype: Option<&str>, id: Option<&str>| -> Option<RecordKey> {
        let name = decode_name(name.trim());
        match rtype {
            Some(t) => Some(RecordKey {
                name: name.into(),
                rtype: RecordType::from(t.trim()),
                set_id: id
                    .map(|s| s.trim_matches('"').to_string())
                    .filter(|s| s != "null"),
            }),
            None => changes.iter().find(|c| c.name() == name).map(Change::key),
        }
    };
    if let Some(rest) = after(msg, "[name='") {
        let name = until(rest, "'")?;
        let rtype = after(rest, "type='").and_then(|r| until(r, "'"));
        let id = after(rest, "set-identifier='").and_then(|r| until(r, "'"));
        return key(name, rtype, id);
    }
    // Before `Name=`: "RRSet with DNS name N, type T, SetIdentifier S, and Region Name=R ...".
    if let Some(rest) = after(msg, "RRSet with DNS name ") {
        let name = until_any(rest, &[" ", ",", "]"])?;
        let rtype = after(rest, ", type ").and_then(|r| until_any(r, &[",", " ", "]"]));
        let id = after(rest, "SetIdentifier ").and_then(|r| until_any(r, &[" ", ",", "]"]));
        return key(name, rtype, id);
    }
    if let Some(rest) = after(msg, "Name=") {
        let name = until(rest, ",")?;
        let rtype = after(rest, "Type=").and_then(|r| until_any(r, &[",", "]"]));
        let id = after(rest, "SetIdentifier=").and_then(|r| until_any(r, &[",", "]"]));
        return key(name, rtype, id);
    }
    if let Some(rest) = after(msg, "RRSet of type ") {
        let rtype = until(rest, " ")?;
        let name = after(rest, "with DNS name ").and_then(|r| until_any(r, &[" ", ",", "]"]))?;
        return key(name, Some(rtype), None);
    }
    if let Some(rest) = after(msg, "encountered with '") {
        let value = until(rest, "'")?;
        return sent
            .iter()
            .find(|(_, c)| c.set.values.iter().any(|v| v == value))
            .and_then(|(i, _)| changes.get(*i))
            .map(Change::key);
    }
    None
}

fn after<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[i + pat.len()..])
}

fn until<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[..i])
}

fn until_any<'a>(s: &'a str, pats: &[&str]) -> Option<&'a str> {
    let end = pats.iter().filter_map(|p| s.find(p)).min().unwrap_or(s.len());
    Some(&s[..end])
}

#[cfg(test)]
mod tests {
    use feddns_provider::RecordSet;

    use super::*;
    use crate::api::Operation;

    /// The Route53 API error a provider error was made from, found by walking its source chain.
    fn api_source(e: &ProviderError) -> Option<&ApiError> {
        std::error::Error::source(e)?.downcast_ref::<ApiError>()
    }

    fn batch() -> Vec<Change> {
        vec![
            Change::create(RecordSet::new(
                "a.example.com",
                RecordType::A,
                60,
                ["192.0.2.1".to_string()],
            )),
            Change::create(RecordSet::new(
                "b.example.com",
                RecordType::Txt,
                60,
                ["v".to_string()],
            )),
        ]
    }

    fn icb(msg: &str) -> ApiError {
        ApiError::service(
            Operation::ChangeResourceRecordSets,
            400,
            "InvalidChangeBatch",
            msg,
        )
    }

    fn sent(changes: &[Change]) -> Vec<(usize, WireChange)> {
        changes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    i,
                    WireChange {
                        action: crate::api::ChangeAction::Create,
                        set: crate::wire::to_wire(c.subject()),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn messages_name_the_set() {
        let ch = batch();
        let s = sent(&ch);
        let e = map_change_error(
            &icb(
                "[Tried to create resource record set [name='b.example.com.', type='TXT'] but it already exists]",
            ),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Conflict { key, .. } if key.name == "b.example.com" && key.rtype == RecordType::Txt),
            "{e}"
        );
        let e = map_change_error(
            &icb(
                "[Tried to delete resource record set [name='\\052.example.com.', type='A', set-identifier='us-east-1'] but it was not found]",
            ),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Conflict { key, .. } if key.name == "*.example.com" && key.set_id.as_deref() == Some("us-east-1")),
            "{e}"
        );
        let e = map_change_error(
            &icb(
                "[RRSet of type CNAME with DNS name b.example.com. is not permitted because a conflicting RRSet of type A with the same DNS name already exists in zone example.com.]",
            ),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Invalid { key, .. } if key.name == "b.example.com" && key.rtype == RecordType::Cname),
            "{e}"
        );
        let e = map_change_error(
            &icb(
                "[Invalid Resource Record: FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '192.0.2.1']",
            ),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Invalid { key, .. } if key.name == "a.example.com"),
            "{e}"
        );
        let e = map_change_error(
            &icb("[RRSet with DNS name b.example.com. is not permitted in zone example.com.]"),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Invalid { key, .. } if key.name == "b.example.com"),
            "{e}"
        );
        let e = map_change_error(
            &ApiError::service(
                Operation::ChangeResourceRecordSets,
                400,
                "InvalidInput",
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=DELETE, Name=b.example.com., Type=TXT, SetIdentifier=null]",
            ),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Invalid { key, .. } if key.name == "b.example.com" && key.set_id.is_none()),
            "{e}"
        );
        let e = map_change_error(
            &icb(
                "[RRSet with DNS name a.example.com., type A, SetIdentifier us-east4, and Region Name=us-east-1 cannot be created because a latency RRSet with the same name, type and region already exists.]",
            ),
            &s,
            &ch,
        );
        assert!(
            matches!(&e, ProviderError::Invalid { key, .. } if key.name == "a.example.com" && key.rtype == RecordType::A && key.set_id.as_deref() == Some("us-east4")),
            "{e}"
        );
        let e = map_change_error(&icb("something new"), &s, &ch);
        assert!(
            matches!(&e, ProviderError::Invalid { key, .. } if key.name == "a.example.com"),
            "{e}"
        );
        let e = map_change_error(&icb("[Number of records limit of 1000 exceeded.]"), &s, &ch);
        assert!(matches!(e, ProviderError::TooLarge(_)), "{e}");
    }

    #[test]
    fn transient_and_other_errors() {
        let ch = batch();
        for e in [
            ApiError::service(
                Operation::ChangeResourceRecordSets,
                400,
                "Throttling",
                "Rate exceeded",
            ),
            ApiError::service(
                Operation::ChangeResourceRecordSets,
                400,
                "PriorRequestNotComplete",
                "busy",
            ),
            ApiError::service(
                Operation::ChangeResourceRecordSets,
                503,
                "ServiceUnavailable",
                "down",
            ),
            ApiError::client(
                Operation::ChangeResourceRecordSets,
                ApiErrorKind::Timeout,
                "timed out",
            ),
            ApiError::client(
                Operation::ChangeResourceRecordSets,
                ApiErrorKind::Dispatch,
                "connection reset",
            ),
        ] {
            let mapped = map_change_error(&e, &[], &ch);
            assert!(mapped.is_transient(), "{e}");
            assert_eq!(
                api_source(&mapped),
                Some(&e),
                "the API error is kept as the source"
            );
        }
        for e in [
            ApiError::service(
                Operation::ChangeResourceRecordSets,
                404,
                "NoSuchHostedZone",
                "gone",
            ),
            ApiError::service(Operation::ChangeResourceRecordSets, 403, "AccessDenied", "no"),
            ApiError::client(
                Operation::ChangeResourceRecordSets,
                ApiErrorKind::Construction,
                "bad",
            ),
        ] {
            let mapped = map_change_error(&e, &[], &ch);
            assert!(matches!(mapped, ProviderError::Other { .. }), "{e}");
            assert_eq!(
                api_source(&mapped),
                Some(&e),
                "the API error is kept as the source"
            );
        }
    }
}
