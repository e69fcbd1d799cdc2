//! The narrow Cloud DNS API the provider needs, and its error type.

use std::fmt;

use crate::wire::{WireChange, WireManagedZone, WireRrset};

/// The Cloud DNS operations the provider calls (the keys of its API counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `managedZones.get`.
    ManagedZonesGet,
    /// `managedZones.list`.
    ManagedZonesList,
    /// `resourceRecordSets.list`.
    RrsetsList,
    /// `changes.create`.
    ChangesCreate,
    /// `changes.get`.
    ChangesGet,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Self; 5] = [
        Self::ManagedZonesGet,
        Self::ManagedZonesList,
        Self::RrsetsList,
        Self::ChangesCreate,
        Self::ChangesGet,
    ];

    /// The operation's name as used in counters and logs (`rrsets.list`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManagedZonesGet => "managedZones.get",
            Self::ManagedZonesList => "managedZones.list",
            Self::RrsetsList => "rrsets.list",
            Self::ChangesCreate => "changes.create",
            Self::ChangesGet => "changes.get",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of failure an [`ApiError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The service answered with an HTTP error status.
    Http,
    /// The request did not get an answer (connection refused or reset, timeout).
    Network,
    /// No access token could be had.
    Auth,
    /// The service's answer could not be understood.
    Decode,
}

/// A failed Cloud DNS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ApiErrorKind,
    /// The HTTP status, for [`ApiErrorKind::Http`].
    pub status: Option<u16>,
    /// The first `errors[].reason` of Google's error body (`alreadyExists`, ...).
    pub reason: Option<String>,
    /// The error message.
    pub message: String,
    /// True when the request never reached the service (a connection failure), so a change it
    /// carried was certainly not applied.
    pub not_sent: bool,
}

impl ApiError {
    /// An HTTP error answer.
    pub fn http(status: u16, reason: Option<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ApiErrorKind::Http,
            status: Some(status),
            reason,
            message: message.into(),
            not_sent: false,
        }
    }

    /// An error of the given kind without an HTTP status.
    pub fn other(kind: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            reason: None,
            message: message.into(),
            not_sent: false,
        }
    }

    /// True for throttling: HTTP 429 or a rate-limit reason.
    pub fn is_throttle(&self) -> bool {
        self.status == Some(429)
            || matches!(
                self.reason.as_deref(),
                Some("rateLimitExceeded" | "userRateLimitExceeded")
            )
    }

    /// True when the same request may succeed later: throttling, 5xx, network failures.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ApiErrorKind::Network => true,
            ApiErrorKind::Http => self.is_throttle() || self.status.is_some_and(|s| s >= 500),
            ApiErrorKind::Auth | ApiErrorKind::Decode => false,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.status) {
            (ApiErrorKind::Http, Some(status)) => {
                write!(f, "HTTP {status}")?;
                if let Some(r) = &self.reason {
                    write!(f, " {r}")?;
                }
                write!(f, ": {}", self.message)
            }
            (ApiErrorKind::Auth, _) => write!(f, "cannot get an access token: {}", self.message),
            (ApiErrorKind::Decode, _) => write!(f, "unexpected answer: {}", self.message),
            _ => write!(f, "network error: {}", self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// One page of `managedZones.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedZonePage {
    /// The zones.
    pub zones: Vec<WireManagedZone>,
    /// The token of the next page, if any.
    pub next_page_token: Option<String>,
}

/// One page of `resourceRecordSets.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RrsetPage {
    /// The sets.
    pub rrsets: Vec<WireRrset>,
    /// The token of the next page, if any.
    pub next_page_token: Option<String>,
}

/// Parameters of `resourceRecordSets.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RrsetQuery {
    /// Only sets with this absolute name.
    pub name: Option<String>,
    /// Only sets of this type (needs `name`).
    pub rtype: Option<String>,
    /// Largest page wanted.
    pub max_results: Option<u32>,
    /// Continue after a previous page.
    pub page_token: Option<String>,
}

/// The Cloud DNS v1 calls the provider makes, for one project. [`RestApi`](crate::RestApi) is
/// the real implementation; tests may wrap it.
#[async_trait::async_trait]
pub trait CloudDnsApi: Send + Sync {
    /// `GET projects/{project}/managedZones/{zone}`.
    async fn get_managed_zone(&self, project: &str, zone: &str) -> Result<WireManagedZone, ApiError>;

    /// `GET projects/{project}/managedZones?dnsName=...&pageToken=...`.
    async fn list_managed_zones(
        &self,
        project: &str,
        dns_name: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<ManagedZonePage, ApiError>;

    /// `GET projects/{project}/managedZones/{zone}/rrsets?...`.
    async fn list_rrsets(&self, project: &str, zone: &str, query: &RrsetQuery)
    -> Result<RrsetPage, ApiError>;

    /// `POST projects/{project}/managedZones/{zone}/changes`.
    async fn create_change(
        &self,
        project: &str,
        zone: &str,
        change: &WireChange,
    ) -> Result<WireChange, ApiError>;

    /// `GET projects/{project}/managedZones/{zone}/changes/{id}`.
    async fn get_change(&self, project: &str, zone: &str, id: &str) -> Result<WireChange, ApiError>;
}
