//! [`CloudDnsProvider`]: the feddns [`Provider`] for one Cloud DNS managed zone.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use feddns_provider::{
    ApiGate, ApiStats, Capabilities, Change, DnsName, ErrorClass, Limits, PageGuard, Provider, ProviderError,
    RecordKey, RecordSet, RecordType, Retrier, RetryPolicy, Routing, SelfRetried, SetRules, SyncPoll,
    SyncWait, check_name, check_values, in_zone, normalize_name, wait_until_synced,
};
use gcp_auth::TokenProvider;
use tracing::{debug, warn};

use crate::api::{ApiError, ApiErrorKind, CloudDnsApi, Operation, RrsetQuery};
use crate::config::CloudDnsConfig;
use crate::error::{CloudDnsError, Origins, auth_error, map_change_error, map_read_error};
use crate::rest::RestApi;
use crate::wire::{self, WireChange, WireRrset, canonical, decode_name, fqdn, from_wire, group_to_wire};

/// Rrset additions per change (Cloud DNS limit "additions per change").
pub const MAX_ADDITIONS_PER_CHANGE: usize = 1000;
/// Rrset deletions per change (Cloud DNS limit "deletions per change").
pub const MAX_DELETIONS_PER_CHANGE: usize = 1000;
/// Bytes of rrdata per change (Cloud DNS limit "resource record data size per change"); the
/// provider counts additions and deletions.
pub const MAX_RRDATA_BYTES_PER_CHANGE: usize = 100_000;
/// Records per rrset (and per geo item) (Cloud DNS limit "records per RR set").
pub const MAX_RRDATAS_PER_RRSET: usize = 100;
/// The `maxResults` the provider asks for when listing rrsets.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// Records per batch declared to the controller. Every change becomes at most one addition and
/// one deletion and costs at least 1, so a batch within this is within both rrset quotas.
const BATCH_RECORDS: usize = 1000;
/// Characters of values per batch declared to the controller: a third of the rrdata quota,
/// leaving room for the untouched geo items a geo change rewrites and for the quotes of TXT
/// strings.
const BATCH_VALUE_CHARS: usize = 32_000;

/// Attempts of one call on throttling, server and network errors.
const ATTEMPTS: u32 = 5;
/// First backoff of a retried call; doubles up to [`BACKOFF_MAX`], with full jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long `apply` waits for `done` when asked to, and the polling backoff.
const DONE_WAIT: SyncWait = SyncWait {
    timeout: Duration::from_secs(120),
    first_interval: Duration::from_millis(200),
    max_interval: Duration::from_secs(5),
};
/// The rules Cloud DNS adds to the reference zone's for one rrset.
const RULES: SetRules = SetRules {
    max_values: Some((MAX_RRDATAS_PER_RRSET, "Cloud DNS")),
    strict_cname_target: true,
    ..SetRules::SERVICE
};
/// Above this many geo groups in one batch, `apply` lists the zone once instead of reading each
/// name and type.
const GROUP_READS_MAX: usize = 8;
/// Above this many names, `list_names` lists the zone instead of reading each name.
const NAME_READS_MAX: usize = 16;

/// A feddns [`Provider`] writing one Cloud DNS managed zone.
///
/// * `list` pages through `resourceRecordSets.list` (following `nextPageToken`); an rrset with a
///   geo routing policy is listed as one [`RecordSet`] per item, with
///   [`Routing::Geo`]`{set_id: location, location}`. An rrset with routing feddns does not model
///   (weighted round robin, primary/backup, health checks, fencing) is one set whose
///   [`RecordSet::unmodelled`] keeps the policy, written back exactly on deletion.
/// * `apply` sends the whole batch as ONE `changes.create` (atomic): a create is an addition, a
///   delete a deletion of the exact current set, a replace both. The geo sets of one name and
///   type are one Cloud DNS rrset, so a change to some of them re-reads that rrset, checks the
///   changes' `old` sets against it (else [`ProviderError::Conflict`]) and replaces the whole
///   rrset; the server's exact-match check (412) still catches races.
/// * Malformed batches and batches over the Cloud DNS per-change limits are refused before any
///   request.
/// * Every call waits for a token of a client-side rate limiter, is retried on throttling, 5xx
///   and connection errors with exponential backoff and jitter, and is counted (see
///   [`CloudDnsProvider::api_stats`]).
pub struct CloudDnsProvider {
    api: Arc<dyn CloudDnsApi>,
    project: String,
    managed_zone: String,
    zone: String,
    gate: ApiGate,
    wait_for_done: bool,
    page_size: u32,
    retrier: Retrier,
}

impl std::fmt::Debug for CloudDnsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudDnsProvider")
            .field("project", &self.project)
            .field("managed_zone", &self.managed_zone)
            .field("zone", &self.zone)
            .field("wait_for_done", &self.wait_for_done)
            .finish_non_exhaustive()
    }
}

/// The current slot of a change is `expected` exactly, else a conflict.
fn expect_current(
    current: Option<&RecordSet>,
    expected: &RecordSet,
    key: &RecordKey,
) -> Result<(), ProviderError> {
    match current {
        None => Err(ProviderError::conflict(key.clone(), "does not exist")),
        Some(cur) if cur != expected => Err(ProviderError::conflict(
            key.clone(),
            format!(
                "current {} {} differs from expected {} {}",
                cur.ttl,
                cur.describe_values(),
                expected.ttl,
                expected.describe_values()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The changes of one batch at one name and type.
struct Group<'a> {
    name: DnsName,
    rtype: RecordType,
    changes: Vec<&'a Change>,
    routed: bool,
}

impl CloudDnsProvider {
    /// Connects with the configured credentials file, or gcp_auth's default chain, and picks the
    /// zone.
    pub async fn connect(cfg: &CloudDnsConfig) -> Result<Self, CloudDnsError> {
        cfg.validate()?;
        let tokens: Arc<dyn TokenProvider> = match &cfg.credentials_file {
            Some(path) => Arc::new(gcp_auth::CustomServiceAccount::from_file(path).map_err(|e| {
                CloudDnsError::Credentials(format!("cannot load {}: {}", path.display(), auth_error(&e)))
            })?),
            None => gcp_auth::provider().await.map_err(|e| {
                let problem = auth_error(&e);
                // Anything but "none found" is about the file this variable names.
                CloudDnsError::Credentials(match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
                    Some(file) if !matches!(e, gcp_auth::Error::NoAuthMethod(..)) => {
                        format!(
                            "cannot load {} (GOOGLE_APPLICATION_CREDENTIALS): {problem}",
                            file.to_string_lossy()
                        )
                    }
                    _ => problem,
                })
            })?,
        };
        Self::with_token_provider(cfg, tokens).await
    }

    /// Connects with tokens from `tokens` (`credentials_file` is ignored) and picks the zone.
    /// The project is the configured one, else the token provider's.
    pub async fn with_token_provider(
        cfg: &CloudDnsConfig,
        tokens: Arc<dyn TokenProvider>,
    ) -> Result<Self, CloudDnsError> {
        cfg.validate()?;
        let project = match cfg.project.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None => tokens
                .project_id()
                .await
                .map_err(|e| {
                    CloudDnsError::Credentials(format!(
                        "no project configured and none found in the credentials: {e}"
                    ))
                })?
                .to_string(),
        };
        let api = Arc::new(RestApi::new(&cfg.normalized_base_url(), tokens)?);
        Self::with_api(api, &project, cfg).await
    }

    /// A provider over any [`CloudDnsApi`] for `project` (the configured `project`,
    /// `credentials_file` and `base_url` are ignored: they configure the API client).
    pub async fn with_api(
        api: Arc<dyn CloudDnsApi>,
        project: &str,
        cfg: &CloudDnsConfig,
    ) -> Result<Self, CloudDnsError> {
        cfg.validate()?;
        let mut p = Self {
            api,
            project: project.to_string(),
            managed_zone: String::new(),
            zone: String::new(),
            gate: ApiGate::new(cfg.requests_per_second, Operation::ALL.map(Operation::as_str)),
            wait_for_done: cfg.wait_for_done,
            page_size: DEFAULT_PAGE_SIZE,
            retrier: Retrier::new(RetryPolicy::new(ATTEMPTS, BACKOFF_FIRST, BACKOFF_MAX)),
        };
        let (managed_zone, zone) = p
            .resolve_zone(cfg.managed_zone.as_deref(), cfg.dns_name.as_deref())
            .await?;
        debug!(project, managed_zone = %managed_zone, zone = %zone, "clouddns zone chosen");
        p.managed_zone = managed_zone;
        p.zone = zone;
        Ok(p)
    }

    /// Builder: ask for at most `n` rrsets per page (1..=1000; tests use small pages).
    #[must_use]
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, DEFAULT_PAGE_SIZE);
        self
    }

    /// Builder: the first backoff of a retried call (default 100 ms; doubles per attempt, with
    /// full jitter, up to 5 s).
    #[must_use]
    pub fn with_retry_backoff(mut self, first: Duration) -> Self {
        self.retrier = Retrier::new(RetryPolicy::new(ATTEMPTS, first, BACKOFF_MAX));
        self
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The managed zone's resource name.
    pub fn managed_zone(&self) -> &str {
        &self.managed_zone
    }

    /// A call retried with the shared policy while `retry` says the error is worth it.
    async fn retried<T, F, Fut>(
        &self,
        op: Operation,
        retry: impl Fn(&ApiError) -> bool,
        mut f: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let classify = |e: &ApiError| ErrorClass::retryable_if(retry(e), e.is_throttle());
        self.retrier
            .run(classify, || {
                self.gate.call(op.as_str(), ApiError::is_throttle, f())
            })
            .await
    }

    /// An idempotent call, retried on every transient error.
    async fn read<T, F, Fut>(&self, op: Operation, f: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        self.retried(op, ApiError::is_transient, f).await
    }

    async fn resolve_zone(
        &self,
        managed_zone: Option<&str>,
        dns_name: Option<&str>,
    ) -> Result<(String, String), CloudDnsError> {
        let configured = dns_name.map(normalize_name).filter(|n| !n.is_empty());
        if let Some(mz) = managed_zone.filter(|z| !z.is_empty()) {
            let zone = self
                .read(Operation::ManagedZonesGet, || {
                    self.api.get_managed_zone(&self.project, mz)
                })
                .await
                .map_err(|e| match e.status {
                    Some(404) => CloudDnsError::ZoneNotFound {
                        project: self.project.clone(),
                        zone: mz.to_string(),
                    },
                    _ => CloudDnsError::Api(e),
                })?;
            let actual = decode_name(&zone.dns_name);
            return match configured {
                Some(configured) if configured != actual => Err(CloudDnsError::ZoneMismatch {
                    managed_zone: mz.to_string(),
                    configured,
                    actual,
                }),
                _ => Ok((zone.name, actual)),
            };
        }
        let Some(name) = configured else {
            return Err(CloudDnsError::Config(
                "clouddns: set managed_zone or dns_name".to_string(),
            ));
        };
        let wanted = fqdn(&name);
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = PageGuard::new();
        loop {
            let page = self
                .read(Operation::ManagedZonesList, || {
                    self.api
                        .list_managed_zones(&self.project, Some(&wanted), token.as_deref())
                })
                .await?;
            found.extend(
                page.zones
                    .into_iter()
                    .filter(|z| decode_name(&z.dns_name) == name)
                    .map(|z| z.name),
            );
            match page.next_page_token {
                None => {
                    return match found.as_slice() {
                        [] => Err(CloudDnsError::ZoneNotFound {
                            project: self.project.clone(),
                            zone: name,
                        }),
                        [one] => Ok((one.clone(), name)),
                        _ => Err(CloudDnsError::AmbiguousZone {
                            dns_name: name,
                            zones: found,
                        }),
                    };
                }
                Some(t) => {
                    pages.check(t.clone(), "managedZones.list", || {
                        format!("repeated the page token {t:?}")
                    })?;
                    token = Some(t);
                }
            }
        }
    }

    /// Every rrset matching `name` and `rtype` (absolute name, mnemonic), following page tokens.
    async fn list_rrsets(
        &self,
        name: Option<&str>,
        rtype: Option<&str>,
    ) -> Result<Vec<WireRrset>, ProviderError> {
        let op = Operation::RrsetsList;
        let mut query = RrsetQuery {
            name: name.map(str::to_string),
            rtype: rtype.map(str::to_string),
            max_results: Some(self.page_size),
            page_token: None,
        };
        let mut pages = PageGuard::new();
        let mut out = Vec::new();
        loop {
            let page = self
                .read(op, || {
                    self.api.list_rrsets(&self.project, &self.managed_zone, &query)
                })
                .await
                .map_err(|e| map_read_error(op.as_str(), &e))?;
            out.extend(page.rrsets);
            match page.next_page_token {
                None => return Ok(out),
                Some(t) => {
                    let listing = format!("clouddns: rrsets.list of zone {}", self.managed_zone);
                    pages.check(t.clone(), &listing, || {
                        format!("repeated the page token {t:?}; stopping instead of looping")
                    })?;
                    query.page_token = Some(t);
                }
            }
        }
    }

    /// Wire rrsets as feddns sets, leaving out (with a warning) those feddns cannot read.
    fn to_sets(&self, rrsets: &[WireRrset]) -> Vec<RecordSet> {
        let mut out = Vec::with_capacity(rrsets.len());
        let mut skipped = 0usize;
        for w in rrsets {
            match from_wire(w) {
                Ok(sets) => out.extend(sets),
                Err(reason) => {
                    skipped += 1;
                    debug!(name = %w.name, rtype = %w.rtype, %reason, "clouddns rrset not listed");
                }
            }
        }
        if skipped > 0 {
            warn!(zone = %self.zone, skipped, "clouddns rrsets feddns cannot read were left out");
        }
        out
    }

    /// Checks one set against the rules Cloud DNS enforces without looking at the zone: the
    /// shared validator with Cloud DNS's limits, plus its routing, alias and unmodelled rules.
    fn check_set(&self, set: &RecordSet) -> Result<(), ProviderError> {
        let key = set.key();
        check_name(set, &self.zone, self.capabilities(), &RULES)?;
        match set.routing() {
            None => {}
            Some(Routing::Geo { set_id, location }) if location.is_empty() || set_id != location => {
                return Err(ProviderError::invalid(
                    key,
                    "a geo set needs a location, and its set identifier must be that location",
                ));
            }
            Some(Routing::Geo { .. }) => {}
            Some(r) => {
                return Err(ProviderError::invalid(
                    key,
                    format!("{} routing is not supported by Cloud DNS (geo only)", r.policy()),
                ));
            }
        }
        if set.alias.is_some() {
            return Err(ProviderError::invalid(
                key,
                "alias record sets are not supported by Cloud DNS",
            ));
        }
        if let Some(u) = &set.unmodelled {
            if set.routing.is_some() || u.set_id.is_some() {
                return Err(ProviderError::invalid(
                    key,
                    "a routing policy feddns does not model cannot be combined with a set identifier",
                ));
            }
            let policy = wire::unmodelled_policy(u)
                .map_err(|e| ProviderError::invalid(key.clone(), format!("unmodelled fields: {e}")))?;
            if policy.is_some() && set.values.is_empty() {
                return Ok(());
            }
        }
        check_values(set, &RULES)
    }

    /// Checks the batch on its own (no request): each set, one change per set, replaces keep
    /// their key, CNAMEs created beside other types, and the declared limits.
    fn check_batch(&self, changes: &[Change]) -> Result<(), ProviderError> {
        feddns_provider::check_batch(changes, self.limits(), |s| self.check_set(s))
    }

    /// The current rrsets of the geo groups, by (absolute lower-case name, type).
    async fn read_groups(
        &self,
        groups: &[&Group<'_>],
    ) -> Result<BTreeMap<(String, String), WireRrset>, ProviderError> {
        let mut out = BTreeMap::new();
        let keep = |rrsets: Vec<WireRrset>, out: &mut BTreeMap<(String, String), WireRrset>| {
            for w in rrsets {
                out.insert((w.name.to_ascii_lowercase(), w.rtype.to_ascii_uppercase()), w);
            }
        };
        if groups.len() > GROUP_READS_MAX {
            keep(self.list_rrsets(None, None).await?, &mut out);
        } else {
            for g in groups {
                let rrsets = self
                    .list_rrsets(Some(&fqdn(&g.name)), Some(g.rtype.as_str()))
                    .await?;
                keep(rrsets, &mut out);
            }
        }
        Ok(out)
    }

    /// The whole-rrset deletion and addition for the changes of one geo group, checked against
    /// the current rrset.
    fn plan_group(
        group: &Group<'_>,
        current: Option<&WireRrset>,
    ) -> Result<(Option<WireRrset>, Option<WireRrset>), ProviderError> {
        let first_key = group
            .changes
            .first()
            .map(|c| c.key())
            .unwrap_or_else(|| RecordKey {
                name: group.name.clone(),
                rtype: group.rtype.clone(),
                set_id: None,
            });
        let mut slots: BTreeMap<Option<String>, RecordSet> = BTreeMap::new();
        if let Some(cur) = current {
            let sets = from_wire(cur).map_err(|r| {
                ProviderError::invalid(
                    first_key.clone(),
                    format!("the current rrset cannot be changed by feddns: {r}"),
                )
            })?;
            for s in sets {
                if let Some(u) = &s.unmodelled {
                    return Err(ProviderError::invalid(
                        first_key,
                        format!(
                            "the current rrset cannot be changed by feddns: it holds {}",
                            u.summary
                        ),
                    ));
                }
                slots.insert(s.key().set_id, s);
            }
        }
        for change in &group.changes {
            let key = change.key();
            match change {
                Change::Create { new } => {
                    if let Some(cur) = slots.get(&key.set_id) {
                        return Err(ProviderError::conflict(
                            key,
                            format!("already exists ({})", cur.describe_values()),
                        ));
                    }
                    slots.insert(key.set_id, (**new).clone());
                }
                Change::Replace { old, new } => {
                    expect_current(slots.get(&key.set_id), old, &key)?;
                    slots.insert(key.set_id, (**new).clone());
                }
                Change::Delete { old } => {
                    expect_current(slots.get(&key.set_id), old, &key)?;
                    slots.remove(&key.set_id);
                }
            }
        }
        let remaining: Vec<&RecordSet> = slots.values().collect();
        let addition = if remaining.is_empty() {
            None
        } else {
            Some(group_to_wire(&remaining).map_err(|r| ProviderError::invalid(first_key.clone(), r))?)
        };
        let deletion = current.cloned();
        if let (Some(d), Some(a)) = (&deletion, &addition)
            && canonical(d) == canonical(a)
        {
            return Ok((None, None));
        }
        Ok((deletion, addition))
    }

    /// Builds the wire change for a checked batch.
    async fn build_change(&self, changes: &[Change]) -> Result<(WireChange, Origins), ProviderError> {
        let mut groups: BTreeMap<(DnsName, RecordType), Group<'_>> = BTreeMap::new();
        for change in changes {
            let s = change.subject();
            let routed =
                s.routing.is_some() || matches!(change, Change::Replace { old, .. } if old.routing.is_some());
            let g = groups
                .entry((s.name.clone(), s.rtype.clone()))
                .or_insert_with(|| Group {
                    name: s.name.clone(),
                    rtype: s.rtype.clone(),
                    changes: Vec::new(),
                    routed: false,
                });
            g.changes.push(change);
            g.routed |= routed;
        }
        let routed: Vec<&Group<'_>> = groups.values().filter(|g| g.routed).collect();
        let current = if routed.is_empty() {
            BTreeMap::new()
        } else {
            self.read_groups(&routed).await?
        };
        let mut wc = WireChange::default();
        let mut origins = Origins {
            first: changes.first().map(Change::key),
            ..Origins::default()
        };
        for g in groups.values() {
            let key = g.changes[0].key();
            let (deletion, addition) = if g.routed {
                let cur = current.get(&(fqdn(&g.name), g.rtype.as_str().to_string()));
                Self::plan_group(g, cur)?
            } else {
                match g.changes[0] {
                    Change::Create { new } => (None, Some(wire::to_wire(new))),
                    Change::Delete { old } => (Some(wire::to_wire(old)), None),
                    Change::Replace { old, new } => (Some(wire::to_wire(old)), Some(wire::to_wire(new))),
                }
            };
            if let Some(d) = deletion {
                wc.deletions.push(d);
                origins.deletions.push(key.clone());
            }
            if let Some(a) = addition {
                wc.additions.push(a);
                origins.additions.push(key);
            }
        }
        if wc.additions.len() > MAX_ADDITIONS_PER_CHANGE || wc.deletions.len() > MAX_DELETIONS_PER_CHANGE {
            return Err(ProviderError::TooLarge(format!(
                "{} additions and {} deletions in one change, Cloud DNS allows {MAX_ADDITIONS_PER_CHANGE} and {MAX_DELETIONS_PER_CHANGE}",
                wc.additions.len(),
                wc.deletions.len()
            )));
        }
        let bytes: usize = wc
            .additions
            .iter()
            .chain(&wc.deletions)
            .map(wire::rrdata_bytes)
            .sum();
        if bytes > MAX_RRDATA_BYTES_PER_CHANGE {
            return Err(ProviderError::TooLarge(format!(
                "{bytes} bytes of rrdata in one change (geo rrsets counted whole), Cloud DNS allows {MAX_RRDATA_BYTES_PER_CHANGE}"
            )));
        }
        Ok((wc, origins))
    }

    async fn wait_done(&self, id: &str) {
        let outcome = wait_until_synced(DONE_WAIT, || async {
            let change = self
                .gate
                .call(
                    Operation::ChangesGet.as_str(),
                    ApiError::is_throttle,
                    self.api.get_change(&self.project, &self.managed_zone, id),
                )
                .await;
            SyncPoll::of(
                change.map(|c| c.status.as_deref() == Some("done")),
                ApiError::is_transient,
            )
        })
        .await;
        if let Some(problem) = outcome.problem() {
            warn!(change = id, "clouddns change not followed until done: {problem}");
        }
    }
}

/// True when a failed `changes.create` can be sent again: it was throttled, failed on the server
/// side, or never reached the service.
fn change_retryable(e: &ApiError) -> bool {
    match e.kind {
        ApiErrorKind::Http => e.is_transient(),
        ApiErrorKind::Network => e.not_sent,
        ApiErrorKind::Auth | ApiErrorKind::Decode => false,
    }
}

#[async_trait::async_trait]
impl Provider for CloudDnsProvider {
    fn kind(&self) -> &'static str {
        "clouddns"
    }

    fn zone(&self) -> &str {
        &self.zone
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            weighted: false,
            latency: false,
            geo: true,
            alias: false,
            wildcard: true,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_records_per_batch: BATCH_RECORDS,
            max_value_chars_per_batch: BATCH_VALUE_CHARS,
            replace_cost: 2,
        }
    }

    fn api_stats(&self) -> ApiStats {
        self.gate.stats()
    }

    fn self_retried(&self) -> SelfRetried {
        SelfRetried {
            reads: true,
            writes: true,
        }
    }

    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        let rrsets = self.list_rrsets(None, None).await?;
        Ok(self.to_sets(&rrsets))
    }

    async fn list_names(&self, names: &[String]) -> Result<Vec<RecordSet>, ProviderError> {
        let wanted: BTreeSet<String> = names.iter().map(|n| normalize_name(n)).collect();
        if wanted.len() > NAME_READS_MAX {
            return Ok(self
                .list()
                .await?
                .into_iter()
                .filter(|s| wanted.contains(s.name.as_str()))
                .collect());
        }
        let mut out = Vec::new();
        for name in &wanted {
            if !in_zone(name, &self.zone) {
                continue;
            }
            let rrsets = self.list_rrsets(Some(&fqdn(name)), None).await?;
            out.extend(self.to_sets(&rrsets).into_iter().filter(|s| s.name == *name));
        }
        Ok(out)
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.check_batch(changes)?;
        let (wc, origins) = self.build_change(changes).await?;
        if wc.additions.is_empty() && wc.deletions.is_empty() {
            debug!(zone = %self.zone, "clouddns batch changes nothing");
            return Ok(());
        }
        let accepted = self
            .retried(Operation::ChangesCreate, change_retryable, || {
                self.api.create_change(&self.project, &self.managed_zone, &wc)
            })
            .await
            .map_err(|e| map_change_error(&e, &origins))?;
        let id = accepted.id.unwrap_or_default();
        debug!(
            zone = %self.zone,
            change = %id,
            additions = wc.additions.len(),
            deletions = wc.deletions.len(),
            "clouddns change accepted"
        );
        if self.wait_for_done && accepted.status.as_deref() == Some("pending") && !id.is_empty() {
            self.wait_done(&id).await;
        }
        Ok(())
    }
}
