//! The narrow Route53 API the provider needs, as a trait with two implementations: [`SdkApi`]
//! (the real service through `aws-sdk-route53`) and, behind the `fake` feature,
//! [`FakeRoute53`](crate::fake::FakeRoute53) (a strict in-memory Route53 for tests).
//!
//! The types here mirror Route53's wire shapes (names with their trailing dot, TXT values
//! quoted, octal escapes as the service sends them) so that both implementations answer, and
//! fail, the same way and the provider maps both identically.
//!
//! [`SdkApi`]: crate::SdkApi

use std::fmt;

/// One Route53 API operation, for counters and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `ListHostedZonesByName`.
    ListHostedZonesByName,
    /// `ListResourceRecordSets`.
    ListResourceRecordSets,
    /// `ChangeResourceRecordSets`.
    ChangeResourceRecordSets,
    /// `GetChange`.
    GetChange,
}

impl Operation {
    /// Every operation, in a stable order.
    pub const ALL: [Self; 4] = [
        Self::ListHostedZonesByName,
        Self::ListResourceRecordSets,
        Self::ChangeResourceRecordSets,
        Self::GetChange,
    ];

    /// The operation's API name (`ListResourceRecordSets`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListHostedZonesByName => "ListHostedZonesByName",
            Self::ListResourceRecordSets => "ListResourceRecordSets",
            Self::ChangeResourceRecordSets => "ChangeResourceRecordSets",
            Self::GetChange => "GetChange",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The service answered with an error (`code` and `status` are set).
    Service,
    /// The call timed out.
    Timeout,
    /// The request could not be sent or the connection broke (network, DNS, TLS): retryable.
    Dispatch,
    /// A local failure before sending that retrying will not fix (no credentials, bad
    /// configuration).
    Client,
    /// The service answered something that could not be understood.
    Response,
    /// The request could not be built (a client-side bug or bad input).
    Construction,
}

/// A failed Route53 call, in the same shape from the SDK and from the fake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({}): {message}", self.describe_code())]
pub struct ApiError {
    /// The operation that failed.
    pub operation: Operation,
    /// How it failed.
    pub kind: ApiErrorKind,
    /// The service's error code (`Throttling`, `InvalidChangeBatch`, ...), when it answered.
    pub code: Option<String>,
    /// The service's message (for `InvalidChangeBatch`, every message, joined), or a description
    /// of the client-side failure.
    pub message: String,
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
}

impl ApiError {
    /// An error answered by the service.
    pub fn service(operation: Operation, status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind: ApiErrorKind::Service,
            code: Some(code.to_string()),
            message: message.into(),
            status: Some(status),
        }
    }

    /// A client-side failure (timeout, network, unreadable answer, unbuildable request).
    pub fn client(operation: Operation, kind: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            code: None,
            message: message.into(),
            status: None,
        }
    }

    /// True for `Throttling` and `PriorRequestNotComplete` answers.
    pub fn is_throttle(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "Throttling"
                    | "ThrottlingException"
                    | "TooManyRequestsException"
                    | "PriorRequestNotComplete"
                    | "RequestLimitExceeded"
            )
        )
    }

    fn describe_code(&self) -> String {
        match (&self.code, self.status) {
            (Some(code), Some(status)) => format!("{code}, HTTP {status}"),
            (Some(code), None) => code.clone(),
            (None, Some(status)) => format!("HTTP {status}"),
            (None, None) => format!("{:?}", self.kind).to_ascii_lowercase(),
        }
    }
}

/// A hosted zone as `ListHostedZonesByName` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedZone {
    /// The zone id without the `/hostedzone/` prefix.
    pub id: String,
    /// The zone name as the service returns it (trailing dot, octal escapes).
    pub name: String,
    /// True for a private hosted zone.
    pub private: bool,
}

/// One page of `ListHostedZonesByName`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostedZonePage {
    /// The zones, ordered by name (labels reversed), then id.
    pub zones: Vec<HostedZone>,
    /// True when more zones follow.
    pub is_truncated: bool,
    /// Where the next page starts (name).
    pub next_dns_name: Option<String>,
    /// Where the next page starts (zone id).
    pub next_hosted_zone_id: Option<String>,
}

/// An alias target on the wire.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireAlias {
    /// The hosted zone id of the target.
    pub hosted_zone_id: String,
    /// The target name (the service returns it with a trailing dot).
    pub dns_name: String,
    /// Whether Route53 evaluates the target's health.
    pub evaluate_target_health: bool,
}

/// A resource record set on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireRecordSet {
    /// The name, fully qualified (trailing dot); listed names carry octal escapes (`\052`).
    pub name: String,
    /// The record type mnemonic (`A`, `TXT`, `SOA`, ...).
    pub rtype: String,
    /// The set identifier of a routed set.
    pub set_identifier: Option<String>,
    /// The TTL; absent for alias sets.
    pub ttl: Option<i64>,
    /// The `Value` of each resource record, as sent (TXT values quoted).
    pub values: Vec<String>,
    /// Weighted routing: the weight.
    pub weight: Option<i64>,
    /// Latency routing: the AWS region.
    pub region: Option<String>,
    /// The alias target of an alias set.
    pub alias: Option<WireAlias>,
    /// The health check whose status decides whether the set is answered (not modelled by
    /// feddns).
    pub health_check_id: Option<String>,
    /// Failover routing: `PRIMARY` or `SECONDARY` (not modelled by feddns).
    pub failover: Option<String>,
    /// Geolocation routing (not modelled by feddns).
    pub geo_location: Option<WireGeoLocation>,
    /// Geoproximity routing (not modelled by feddns).
    pub geo_proximity_location: Option<WireGeoProximity>,
    /// Multivalue answer routing (not modelled by feddns).
    pub multi_value_answer: Option<bool>,
    /// IP-based (CIDR) routing (not modelled by feddns).
    pub cidr_routing_config: Option<WireCidrRouting>,
    /// The traffic policy instance that created the set (not modelled by feddns).
    pub traffic_policy_instance_id: Option<String>,
}

impl WireRecordSet {
    /// The name of the routing policy feddns does not model that the set uses (`failover`,
    /// `geolocation`, `geoproximity`, `multivalue answer`, `cidr`), if any.
    pub fn other_policy(&self) -> Option<&'static str> {
        if self.failover.is_some() {
            Some("failover")
        } else if self.geo_location.is_some() {
            Some("geolocation")
        } else if self.geo_proximity_location.is_some() {
            Some("geoproximity")
        } else if self.multi_value_answer.is_some() {
            Some("multivalue answer")
        } else if self.cidr_routing_config.is_some() {
            Some("cidr")
        } else {
            None
        }
    }
}

/// `GeoLocation`: at least one of its fields is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireGeoLocation {
    /// `ContinentCode` (`EU`, ...).
    pub continent_code: Option<String>,
    /// `CountryCode` (`US`, or `*` for the default).
    pub country_code: Option<String>,
    /// `SubdivisionCode` (`CA`, ...).
    pub subdivision_code: Option<String>,
}

/// `GeoProximityLocation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireGeoProximity {
    /// `AWSRegion`.
    pub aws_region: Option<String>,
    /// `LocalZoneGroup`.
    pub local_zone_group: Option<String>,
    /// `Coordinates`: latitude and longitude, as the decimal strings the service uses.
    pub coordinates: Option<(String, String)>,
    /// `Bias`.
    pub bias: Option<i32>,
}

/// `CidrRoutingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireCidrRouting {
    /// `CollectionId`.
    pub collection_id: String,
    /// `LocationName`.
    pub location_name: String,
}

/// A change action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeAction {
    /// `CREATE`: the set must not exist.
    Create,
    /// `DELETE`: the set must exist exactly as given.
    Delete,
    /// `UPSERT`: create or overwrite, whatever the set holds now.
    Upsert,
}

impl ChangeAction {
    /// `CREATE`, `DELETE` or `UPSERT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Delete => "DELETE",
            Self::Upsert => "UPSERT",
        }
    }
}

/// One change of a `ChangeResourceRecordSets` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireChange {
    /// What to do.
    pub action: ChangeAction,
    /// The set it applies to.
    pub set: WireRecordSet,
}

/// Where a `ListResourceRecordSets` page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RecordPageStart {
    /// `StartRecordName`.
    pub name: Option<String>,
    /// `StartRecordType` (only with a name).
    pub rtype: Option<String>,
    /// `StartRecordIdentifier` (only with a name and a type).
    pub identifier: Option<String>,
}

/// One page of `ListResourceRecordSets`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPage {
    /// The sets, in Route53's order (name with labels reversed, then type, then identifier).
    pub sets: Vec<WireRecordSet>,
    /// True when more sets follow.
    pub is_truncated: bool,
    /// `NextRecordName`.
    pub next_name: Option<String>,
    /// `NextRecordType`.
    pub next_type: Option<String>,
    /// `NextRecordIdentifier`: set when the page boundary splits a group of routed sets.
    pub next_identifier: Option<String>,
}

impl RecordPage {
    /// Where the next page starts, when the page is truncated.
    pub fn next_start(&self) -> Option<RecordPageStart> {
        self.is_truncated.then(|| RecordPageStart {
            name: self.next_name.clone(),
            rtype: self.next_type.clone(),
            identifier: self.next_identifier.clone(),
        })
    }
}

/// The propagation status of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    /// Accepted, not yet on every Route53 name server.
    Pending,
    /// On every Route53 name server.
    InSync,
}

/// What `ChangeResourceRecordSets` and `GetChange` return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// The change id (`/change/C...` or `C...`).
    pub id: String,
    /// Its status.
    pub status: ChangeStatus,
}

/// The Route53 calls the provider makes. Object safe; implementations must be cheap to share.
#[async_trait::async_trait]
pub trait Route53Api: Send + Sync {
    /// `ListHostedZonesByName`: zones in name order, starting at `dns_name` (and `hosted_zone_id`,
    /// which needs a name), at most `max_items` (the service caps it at 100).
    async fn list_hosted_zones_by_name(
        &self,
        dns_name: Option<&str>,
        hosted_zone_id: Option<&str>,
        max_items: i32,
    ) -> Result<HostedZonePage, ApiError>;

    /// `ListResourceRecordSets`: one page of at most `max_items` sets (the service caps it at
    /// 300) from `start`.
    async fn list_resource_record_sets(
        &self,
        zone_id: &str,
        start: &RecordPageStart,
        max_items: i32,
    ) -> Result<RecordPage, ApiError>;

    /// `ChangeResourceRecordSets`: apply the batch atomically, in order.
    async fn change_resource_record_sets(
        &self,
        zone_id: &str,
        changes: &[WireChange],
    ) -> Result<ChangeInfo, ApiError>;

    /// `GetChange`: the status of a change.
    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ApiError>;
}
