//! [`Route53Provider`]: the feddns [`Provider`] for one Route53 hosted zone.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use feddns_provider::{
    ApiGate, ApiStats, Capabilities, Change, ErrorClass, Limits, PageGuard, Provider, ProviderError,
    RecordKey, RecordSet, Retrier, RetryPolicy, Routing, SelfRetried, SetRules, SyncPoll, SyncWait,
    check_name, check_values, normalize_name, wait_until_synced,
};
use tracing::{debug, warn};

use crate::api::{
    ApiError, ChangeAction, ChangeStatus, HostedZone, Operation, RecordPageStart, Route53Api, WireChange,
};
use crate::config::Route53Config;
use crate::error::{Route53Error, is_transient, map_change_error};

use crate::sdk::SdkApi;
use crate::wire::{self, change_records, change_value_chars, decode_name, fqdn};

/// `ResourceRecord` elements per `ChangeResourceRecordSets` request (an UPSERT counts twice).
pub const MAX_RECORDS_PER_REQUEST: usize = 1000;
/// Characters of `Value` per request (an UPSERT counts twice).
pub const MAX_VALUE_CHARS_PER_REQUEST: usize = 32_000;
/// Largest `ListResourceRecordSets` page the service returns.
pub const MAX_PAGE_SIZE: i32 = 300;

/// The retries of an idempotent read (list pages, zone lookups) on transient errors: 5 attempts
/// from 200 ms, doubling up to 5 s, with full jitter.
fn read_policy() -> RetryPolicy {
    RetryPolicy::new(5, Duration::from_millis(200), Duration::from_secs(5))
}
/// How long `apply` waits for INSYNC when asked to, and the polling backoff.
const INSYNC_WAIT: SyncWait = SyncWait {
    timeout: Duration::from_secs(300),
    first_interval: Duration::from_secs(1),
    max_interval: Duration::from_secs(15),
};

/// A feddns [`Provider`] writing one Route53 hosted zone.
///
/// * `list` pages through `ListResourceRecordSets` (following `NextRecordName`, `NextRecordType`
///   and `NextRecordIdentifier`, and failing rather than looping if the server repeats a page).
///   Fields feddns does not model (health checks, failover, geolocation, ...) are kept in
///   [`RecordSet::unmodelled`] and written back exactly.
/// * `apply` sends the whole batch as one `ChangeResourceRecordSets` request, in order: a create
///   is a `CREATE`, a delete a `DELETE` of the exact current set, and a replace a `DELETE` of the
///   exact old set followed by a `CREATE` of the new one, so a stale view is refused rather than
///   overwritten (opt in to `UPSERT`s with [`Route53Config::upsert_replaces`]).
/// * Every call waits for a token of a client-side rate limiter and is counted (see
///   [`Route53Provider::api_stats`]).
pub struct Route53Provider {
    api: Arc<dyn Route53Api>,
    zone_id: String,
    zone: String,
    gate: ApiGate,
    wait_for_insync: bool,
    upsert_replaces: bool,
    page_size: i32,
    reads: Retrier,
}

impl std::fmt::Debug for Route53Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53Provider")
            .field("zone_id", &self.zone_id)
            .field("zone", &self.zone)
            .field("wait_for_insync", &self.wait_for_insync)
            .field("upsert_replaces", &self.upsert_replaces)
            .finish_non_exhaustive()
    }
}

impl Route53Provider {
    /// Connects to Route53 through the AWS SDK (default credential chain) and picks the zone.
    pub async fn connect(cfg: &Route53Config) -> Result<Self, Route53Error> {
        cfg.validate()?;
        let api = Arc::new(SdkApi::from_config(cfg).await);
        Self::with_api_config(api, cfg).await
    }

    /// A provider over any [`Route53Api`] (the fake, or an [`SdkApi`] built with explicit
    /// credentials), with default settings. The zone is chosen by id, by name, or by both.
    pub async fn with_api(
        api: Arc<dyn Route53Api>,
        zone_id: Option<&str>,
        zone_name: Option<&str>,
    ) -> Result<Self, Route53Error> {
        let cfg = Route53Config {
            zone_id: zone_id.map(str::to_string),
            zone_name: zone_name.map(str::to_string),
            ..Route53Config::default()
        };
        Self::with_api_config(api, &cfg).await
    }

    /// A provider over any [`Route53Api`] with the given settings (`endpoint_url` and `region`
    /// are ignored: they configure the API client).
    pub async fn with_api_config(
        api: Arc<dyn Route53Api>,
        cfg: &Route53Config,
    ) -> Result<Self, Route53Error> {
        cfg.validate()?;
        let mut p = Self {
            api,
            zone_id: String::new(),
            zone: String::new(),
            gate: ApiGate::new(cfg.requests_per_second, Operation::ALL.map(Operation::as_str)),
            wait_for_insync: cfg.wait_for_insync,
            upsert_replaces: cfg.upsert_replaces,
            page_size: MAX_PAGE_SIZE,
            reads: Retrier::new(read_policy()),
        };
        let (id, name) = p
            .resolve_zone(cfg.zone_id.as_deref(), cfg.zone_name.as_deref())
            .await?;
        debug!(zone_id = %id, zone = %name, "route53 zone chosen");
        p.zone_id = id;
        p.zone = name;
        Ok(p)
    }

    /// Builder: ask for at most `n` sets per `ListResourceRecordSets` page (1..=300; tests use
    /// small pages to exercise pagination).
    #[must_use]
    pub fn with_page_size(mut self, n: i32) -> Self {
        self.page_size = n.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The hosted zone id (without `/hostedzone/`).
    pub fn zone_id(&self) -> &str {
        &self.zone_id
    }

    /// An idempotent call, retried with the shared policy on transient errors.
    async fn read<T, F, Fut>(&self, op: Operation, mut f: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        self.reads
            .run(classify, || {
                self.gate.call(op.as_str(), ApiError::is_throttle, f())
            })
            .await
    }

    async fn resolve_zone(
        &self,
        id: Option<&str>,
        name: Option<&str>,
    ) -> Result<(String, String), Route53Error> {
        let id = id
            .map(|i| i.trim().trim_start_matches("/hostedzone/").to_string())
            .filter(|i| !i.is_empty());
        let name = name.map(normalize_name).filter(|n| !n.is_empty());
        match (id, name) {
            (Some(id), name) => {
                let zone = self
                    .find_zone(|z| z.id == id)
                    .await?
                    .ok_or_else(|| Route53Error::ZoneNotFound { zone: id.clone() })?;
                let actual = decode_name(&zone.name);
                match name {
                    Some(configured) if configured != actual => Err(Route53Error::ZoneMismatch {
                        zone_id: id,
                        configured,
                        actual,
                    }),
                    _ => Ok((id, actual)),
                }
            }
            (None, Some(name)) => {
                let zones = self.zones_named(&name).await?;
                match zones.as_slice() {
                    [] => Err(Route53Error::ZoneNotFound { zone: name }),
                    [one] => Ok((one.id.clone(), name)),
                    many => Err(Route53Error::AmbiguousZone {
                        zone: name,
                        ids: many
                            .iter()
                            .map(|z| format!("{}{}", z.id, if z.private { " (private)" } else { "" }))
                            .collect(),
                    }),
                }
            }
            (None, None) => Err(Route53Error::Config("route53: set zone_id or zone_name".into())),
        }
    }

    /// Every hosted zone named `name`.
    async fn zones_named(&self, name: &str) -> Result<Vec<HostedZone>, Route53Error> {
        let mut found = Vec::new();
        self.scan_zones(Some(&fqdn(name)), |z| {
            if decode_name(&z.name) == name {
                found.push(z.clone());
                true
            } else {
                // Zones come in name order from the start name: the first other name ends it.
                false
            }
        })
        .await?;
        Ok(found)
    }

    /// The first zone matching `pred`, scanning every zone.
    async fn find_zone(
        &self,
        pred: impl Fn(&HostedZone) -> bool,
    ) -> Result<Option<HostedZone>, Route53Error> {
        let mut found = None;
        self.scan_zones(None, |z| {
            if found.is_none() && pred(z) {
                found = Some(z.clone());
            }
            found.is_none()
        })
        .await?;
        Ok(found)
    }

    /// Pages through `ListHostedZonesByName` from `start`, feeding each zone to `visit` until it
    /// returns false or the list ends.
    async fn scan_zones(
        &self,
        start: Option<&str>,
        mut visit: impl FnMut(&HostedZone) -> bool,
    ) -> Result<(), Route53Error> {
        let op = Operation::ListHostedZonesByName;
        let mut next: (Option<String>, Option<String>) = (start.map(str::to_string), None);
        let mut pages = PageGuard::new();
        loop {
            let (dns, id) = next.clone();
            let page = self
                .read(op, || {
                    self.api
                        .list_hosted_zones_by_name(dns.as_deref(), id.as_deref(), 100)
                })
                .await?;
            for z in &page.zones {
                if !visit(z) {
                    return Ok(());
                }
            }
            if !page.is_truncated {
                return Ok(());
            }
            next = (page.next_dns_name.clone(), page.next_hosted_zone_id.clone());
            let position = || {
                format!(
                    "repeated or lost its position (next name {:?}, next id {:?})",
                    next.0, next.1
                )
            };
            if next.0.is_none() {
                return Err(Route53Error::Protocol(format!(
                    "ListHostedZonesByName {}",
                    position()
                )));
            }
            pages.check(next.clone(), "ListHostedZonesByName", position)?;
        }
    }

    fn invalid(key: RecordKey, reason: impl Into<String>) -> ProviderError {
        ProviderError::invalid(key, reason)
    }

    /// Checks one set against the rules Route53 would enforce without looking at the zone (the
    /// shared validator, plus Route53's set identifiers, aliases and unmodelled fields), so that
    /// malformed batches fail fast (and the same way as on the real service, whatever the API
    /// implementation checks).
    fn check_set(&self, set: &RecordSet) -> Result<(), ProviderError> {
        let key = set.key();
        check_name(set, &self.zone, self.capabilities(), &SetRules::SERVICE)?;
        match set.routing() {
            Some(Routing::Geo { .. }) => {
                return Err(Self::invalid(
                    key,
                    "geo routing is not supported by this provider (Route53 sets are latency or weighted)",
                ));
            }
            Some(r) if r.set_id().is_empty() || r.set_id().len() > 128 => {
                return Err(Self::invalid(key, "a set identifier has 1 to 128 characters"));
            }
            Some(Routing::Weighted { weight, .. }) if *weight > 255 => {
                return Err(Self::invalid(key, format!("weight {weight} is over 255")));
            }
            Some(Routing::Latency { region, .. }) if region.is_empty() => {
                return Err(Self::invalid(key, "a latency set needs a region"));
            }
            _ => {}
        }
        let mut traffic_policy = false;
        if let Some(u) = &set.unmodelled {
            match (&u.set_id, &set.routing) {
                (Some(_), Some(_)) => {
                    return Err(Self::invalid(
                        key,
                        "a set has one set identifier: its routing's or its unmodelled policy's",
                    ));
                }
                (Some(id), None) if id.is_empty() || id.len() > 128 => {
                    return Err(Self::invalid(key, "a set identifier has 1 to 128 characters"));
                }
                _ => {}
            }
            wire::write_unmodelled(&u.fields, &mut wire::to_wire(set))
                .map_err(|e| Self::invalid(key.clone(), format!("unmodelled fields: {e}")))?;
            traffic_policy = u.fields.contains_key(wire::TRAFFIC_POLICY_INSTANCE_ID);
        }
        if let Some(alias) = set.alias() {
            if !set.values.is_empty() || alias.dns_name.is_empty() || alias.hosted_zone_id.is_empty() {
                return Err(Self::invalid(
                    key,
                    "an alias set has a target zone and name and no values",
                ));
            }
            return Ok(());
        }
        if set.values.is_empty() && traffic_policy {
            return Ok(());
        }
        check_values(set, &SetRules::SERVICE)
    }

    /// Checks the batch, then turns it into wire changes tagged with the index of the feddns
    /// change each comes from.
    fn wire_changes(&self, changes: &[Change]) -> Result<Vec<(usize, WireChange)>, ProviderError> {
        let mut keys = HashSet::new();
        let mut out = Vec::with_capacity(changes.len() + 4);
        for (i, change) in changes.iter().enumerate() {
            let key = change.key();
            if !keys.insert(key.clone()) {
                return Err(Self::invalid(
                    key,
                    "more than one change for this record set in one batch",
                ));
            }
            let wc = |action, set: &RecordSet| {
                (
                    i,
                    WireChange {
                        action,
                        set: wire::to_wire(set),
                    },
                )
            };
            match change {
                Change::Create { new } => {
                    self.check_set(new)?;
                    out.push(wc(ChangeAction::Create, new));
                }
                Change::Delete { old } => {
                    self.check_set(old)?;
                    out.push(wc(ChangeAction::Delete, old));
                }
                Change::Replace { old, new } => {
                    if old.key() != new.key() {
                        return Err(Self::invalid(
                            key,
                            "a replace must keep name, type and set identifier",
                        ));
                    }
                    self.check_set(old)?;
                    self.check_set(new)?;
                    if self.upsert_replaces && upsert_compatible(old, new) {
                        out.push(wc(ChangeAction::Upsert, new));
                    } else {
                        out.push(wc(ChangeAction::Delete, old));
                        out.push(wc(ChangeAction::Create, new));
                    }
                }
            }
        }
        let records: usize = out.iter().map(|(_, c)| change_records(c)).sum();
        if records > MAX_RECORDS_PER_REQUEST {
            return Err(ProviderError::TooLarge(format!(
                "{records} resource records in one request, Route53 allows {MAX_RECORDS_PER_REQUEST}"
            )));
        }
        let chars: usize = out.iter().map(|(_, c)| change_value_chars(c)).sum();
        if chars > MAX_VALUE_CHARS_PER_REQUEST {
            return Err(ProviderError::TooLarge(format!(
                "{chars} characters of values in one request (quoted), Route53 allows {MAX_VALUE_CHARS_PER_REQUEST}"
            )));
        }
        Ok(out)
    }

    async fn wait_insync(&self, change_id: &str) {
        let outcome = wait_until_synced(INSYNC_WAIT, || async {
            let info = self
                .gate
                .call(
                    Operation::GetChange.as_str(),
                    ApiError::is_throttle,
                    self.api.get_change(change_id),
                )
                .await;
            SyncPoll::of(info.map(|i| i.status == ChangeStatus::InSync), is_transient)
        })
        .await;
        if let Some(problem) = outcome.problem() {
            warn!(
                change = change_id,
                "route53 change not followed to INSYNC: {problem}"
            );
        }
    }
}

/// The class of a failed call, for the shared retry policy (a throttle is transient: it has a
/// service error code).
fn classify(e: &ApiError) -> ErrorClass {
    ErrorClass::retryable_if(is_transient(e), e.is_throttle())
}

/// A replace can be one UPSERT when the type, set identifier, routing policy and alias-ness stay
/// (Route53 refuses an UPSERT that turns a weighted set into a latency set or a plain set into an
/// alias), and neither set has fields feddns does not model (an UPSERT would overwrite them
/// unseen).
fn upsert_compatible(old: &RecordSet, new: &RecordSet) -> bool {
    old.unmodelled.is_none()
        && new.unmodelled.is_none()
        && old.rtype == new.rtype
        && old.key().set_id == new.key().set_id
        && old.routing().map(Routing::policy) == new.routing().map(Routing::policy)
        && old.alias.is_some() == new.alias.is_some()
}

fn list_error(e: &ApiError) -> ProviderError {
    if is_transient(e) {
        ProviderError::transient_from(e.to_string(), e.clone())
    } else {
        ProviderError::other_from(e.to_string(), e.clone())
    }
}

#[async_trait::async_trait]
impl Provider for Route53Provider {
    fn kind(&self) -> &'static str {
        "route53"
    }

    fn api_stats(&self) -> ApiStats {
        self.gate.stats()
    }

    fn self_retried(&self) -> SelfRetried {
        SelfRetried {
            reads: true,
            writes: false,
        }
    }

    fn zone(&self) -> &str {
        &self.zone
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            weighted: true,
            latency: true,
            geo: false,
            alias: true,
            wildcard: true,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_records_per_batch: MAX_RECORDS_PER_REQUEST,
            max_value_chars_per_batch: MAX_VALUE_CHARS_PER_REQUEST,
            replace_cost: 2,
        }
    }

    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        let op = Operation::ListResourceRecordSets;
        let mut start = RecordPageStart::default();
        let mut pages = PageGuard::starting_at(start.clone());
        let mut keys = HashSet::new();
        let mut out = Vec::new();
        let mut skipped = 0usize;
        loop {
            let page = self
                .read(op, || {
                    self.api
                        .list_resource_record_sets(&self.zone_id, &start, self.page_size)
                })
                .await
                .map_err(|e| list_error(&e))?;
            for w in &page.sets {
                match wire::from_wire(w) {
                    Ok(set) => {
                        if keys.insert(set.key()) {
                            out.push(set);
                        }
                    }
                    Err(reason) => {
                        skipped += 1;
                        debug!(name = %w.name, rtype = %w.rtype, %reason, "route53 set not listed");
                    }
                }
            }
            let Some(next) = page.next_start() else {
                if skipped > 0 {
                    warn!(zone = %self.zone, skipped, "route53 sets feddns cannot read were left out of the listing");
                }
                return Ok(out);
            };
            if next.name.is_none() {
                return Err(ProviderError::other(format!(
                    "ListResourceRecordSets of zone {} is truncated but names no next record",
                    self.zone_id
                )));
            }
            let listing = format!("ListResourceRecordSets of zone {}", self.zone_id);
            pages.check(next.clone(), &listing, || {
                format!(
                    "repeated the page starting at {:?} {:?} {:?}; \
                         the server ignores the start position, stopping instead of looping",
                    next.name, next.rtype, next.identifier
                )
            })?;
            start = next;
        }
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        if changes.is_empty() {
            return Ok(());
        }
        let sent = self.wire_changes(changes)?;
        let wire: Vec<WireChange> = sent.iter().map(|(_, c)| c.clone()).collect();
        let info = self
            .gate
            .call(
                Operation::ChangeResourceRecordSets.as_str(),
                ApiError::is_throttle,
                self.api.change_resource_record_sets(&self.zone_id, &wire),
            )
            .await
            .map_err(|e| map_change_error(&e, &sent, changes))?;
        debug!(zone = %self.zone, change = %info.id, changes = wire.len(), "route53 batch accepted");
        if self.wait_for_insync && info.status == ChangeStatus::Pending {
            self.wait_insync(&info.id).await;
        }
        Ok(())
    }
}
