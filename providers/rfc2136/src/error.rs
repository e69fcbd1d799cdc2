//! Errors of the provider, and how they map to [`ProviderError`].

use std::fmt;

use feddns_provider::ProviderError;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::tsig::TsigError;

use crate::tsig::tsig_error_name;

/// What the provider was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A dynamic update (RFC 2136).
    Update,
    /// A zone transfer (RFC 5936).
    Axfr,
    /// A query (the zone's SOA at start; the TTLs of the sets a batch replaces or deletes).
    Query,
}

impl Operation {
    /// The name used in messages and API counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Update => "UPDATE",
            Self::Axfr => "AXFR",
            Self::Query => "QUERY",
        }
    }

    /// Every operation.
    pub const ALL: [Self; 3] = [Self::Update, Self::Axfr, Self::Query];

    /// What the server must allow for it, for hints.
    fn allowance(self) -> &'static str {
        match self {
            Self::Update => {
                "BIND needs `update-policy { grant <key> zonesub ANY; }` (or `allow-update { key <key>; }`) in the zone, Knot an acl with `key: <key>` and `action: update` on the zone"
            }
            Self::Axfr => {
                "BIND needs `allow-transfer { key <key>; }` in the zone, Knot an acl with `key: <key>` and `action: transfer` on the zone"
            }
            Self::Query => "the server must answer queries for the zone from this host",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the server answered when it did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The response code.
    pub rcode: ResponseCode,
    /// The TSIG error the server reported, if any.
    pub tsig: Option<TsigError>,
    /// Whether the answer was signed by the key (unsigned error answers are what servers send
    /// when they cannot check the request's signature).
    pub signed: bool,
}

impl Answer {
    /// Why the server may have answered so, in words for the user.
    fn hint(&self, op: Operation) -> String {
        match (self.tsig, self.rcode) {
            (Some(TsigError::BadSig), _) => {
                "the server does not accept the request's signature: the secret differs from the server's copy of the key".into()
            }
            (Some(TsigError::BadKey), _) => format!(
                "the server has no key of this name and algorithm, or no rule that lets the key do this: {}",
                op.allowance()
            ),
            (Some(TsigError::BadTime), _) => {
                "this host's clock and the server's differ by more than 300 seconds".into()
            }
            (Some(_), _) => "the server could not check the request's signature".into(),
            (None, ResponseCode::Refused) => format!("the server refuses this for the key: {}", op.allowance()),
            (None, ResponseCode::NotAuth) => format!(
                "the server is not the primary of the zone, or does not allow the key: {}",
                op.allowance()
            ),
            (None, ResponseCode::NotImp) => format!("the server does not implement {op}"),
            (None, ResponseCode::NotZone) => "a name of the request is outside the zone".into(),
            (None, ResponseCode::ServFail) => "the server failed; it is retried".into(),
            _ => String::new(),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", rcode_name(self.rcode))?;
        if let Some(e) = self.tsig {
            write!(f, " with TSIG error {}", tsig_error_name(e))?;
        }
        if !self.signed {
            f.write_str(" (unsigned)")?;
        }
        Ok(())
    }
}

/// The mnemonic of a response code.
pub(crate) fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("rcode {}", u16::from(other)),
    }
}

/// Where a request went: zone, server and key, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The zone.
    pub zone: String,
    /// The server as configured.
    pub server: String,
    /// The key's name.
    pub key: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zone {} at {} with key {}", self.zone, self.server, self.key)
    }
}

/// Errors of the RFC 2136 provider. None holds key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rfc2136Error {
    /// A setting is unusable; `field` is below `provider.rfc2136` (`tsig.secret_file`, ...).
    #[error("invalid rfc2136 configuration: {field}: {problem}")]
    Config {
        /// The field.
        field: String,
        /// What is wrong (never the secret).
        problem: String,
    },
    /// The server answered with an error.
    #[error("rfc2136: {op} of {target}: the server answered {answer}{}", with_hint(answer.hint(*op)))]
    Refused {
        /// What was asked.
        op: Operation,
        /// Zone, server, key.
        target: Target,
        /// The answer.
        answer: Answer,
    },
    /// The server could not be reached, or did not answer in time.
    #[error("rfc2136: {op} of {target}: {source}")]
    Network {
        /// What was asked.
        op: Operation,
        /// Zone, server, key.
        target: Target,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The answer cannot be used: unsigned, badly signed, malformed, or not what was asked.
    #[error("rfc2136: {op} of {target}: {problem}")]
    Protocol {
        /// What was asked.
        op: Operation,
        /// Zone, server, key.
        target: Target,
        /// What is wrong with the answer.
        problem: String,
    },
}

fn with_hint(hint: String) -> String {
    if hint.is_empty() {
        hint
    } else {
        format!(" ({hint})")
    }
}

impl Rfc2136Error {
    /// True when the same request may succeed later: the network, or a server failure.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::Refused { answer, .. } => answer.rcode == ResponseCode::ServFail,
            _ => false,
        }
    }
}

impl From<Rfc2136Error> for ProviderError {
    fn from(e: Rfc2136Error) -> Self {
        if e.is_transient() {
            Self::transient_from(e.to_string(), e)
        } else {
            Self::other_from(e.to_string(), e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            zone: "example.com".into(),
            server: "127.0.0.1:53".into(),
            key: "feddns-key".into(),
        }
    }

    #[test]
    fn refusals_name_zone_server_key_and_answer_and_only_servfail_is_transient() {
        let e = Rfc2136Error::Refused {
            op: Operation::Update,
            target: target(),
            answer: Answer {
                rcode: ResponseCode::NotAuth,
                tsig: Some(TsigError::BadSig),
                signed: false,
            },
        };
        let text = e.to_string();
        for want in [
            "UPDATE",
            "example.com",
            "127.0.0.1:53",
            "feddns-key",
            "NOTAUTH with TSIG error BADSIG",
            "secret",
        ] {
            assert!(text.contains(want), "{text} lacks {want}");
        }
        assert!(matches!(ProviderError::from(e), ProviderError::Other { .. }));
        let refused = Rfc2136Error::Refused {
            op: Operation::Update,
            target: target(),
            answer: Answer {
                rcode: ResponseCode::Refused,
                tsig: None,
                signed: true,
            },
        };
        assert!(refused.to_string().contains("update-policy"), "{refused}");
        assert!(!refused.is_transient());
        let servfail = Rfc2136Error::Refused {
            op: Operation::Axfr,
            target: target(),
            answer: Answer {
                rcode: ResponseCode::ServFail,
                tsig: None,
                signed: true,
            },
        };
        assert!(ProviderError::from(servfail).is_transient());
        let net = Rfc2136Error::Network {
            op: Operation::Axfr,
            target: target(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "waiting timed out"),
        };
        assert!(ProviderError::from(net).is_transient());
    }
}
