//! The controller's Prometheus metrics, served by the admin port (see [`crate::ops::admin`]).
//!
//! [`Metrics`] owns a `prometheus-client` registry and exposes typed setters, so the rest of the
//! controller never touches prometheus types. Every name is prefixed `feddns_`. Provider API
//! counters are read from [`Provider::api_stats`] at scrape time by a custom collector.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use feddns_provider::{Change, Provider};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Buckets of `feddns_plan_duration_seconds`: 100µs to 10s.
const PLAN_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of `feddns_convergence_seconds`: 5ms to 5min.
const CONVERGENCE_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0,
];

/// The kind of a change written to the provider, the `op` label of
/// `feddns_changes_applied_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    /// [`Change::Create`].
    Create,
    /// [`Change::Replace`].
    Replace,
    /// [`Change::Delete`].
    Delete,
}

impl ChangeOp {
    /// Every op, in label order.
    pub const ALL: [Self; 3] = [Self::Create, Self::Replace, Self::Delete];

    /// The label value: `create`, `replace` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Replace => "replace",
            Self::Delete => "delete",
        }
    }
}

impl From<&Change> for ChangeOp {
    fn from(change: &Change) -> Self {
        match change {
            Change::Create { .. } => Self::Create,
            Change::Replace { .. } => Self::Replace,
            Change::Delete { .. } => Self::Delete,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MemberLabels {
    member: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MemberKindLabels {
    member: String,
    kind: &'static str,
}

/// The kinds a member may be unable to read without failing (see `members::kube`).
pub const OPTIONAL_KINDS: [&str; 5] = ["ingresses", "gateways", "httproutes", "grpcroutes", "tlsroutes"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// The controller's metrics. `Send + Sync`; share it in an `Arc`. Every setter takes `&self`.
pub struct Metrics {
    registry: Registry,
    members: Family<StateLabels, Gauge>,
    member_synced: Family<MemberLabels, Gauge>,
    member_down: Family<MemberLabels, Gauge>,
    member_events: Family<MemberLabels, Counter>,
    member_unread: Family<MemberKindLabels, Gauge>,
    federated_services: Gauge,
    hosts: Gauge,
    owned_records: Gauge,
    changes_applied: Family<OpLabels, Counter>,
    conflicts: Gauge,
    quarantined_names: Gauge,
    plan_duration: Histogram,
    convergence: Histogram,
    leader: Gauge,
    apply_failures: Counter,
    providers: Arc<RwLock<Vec<Arc<dyn Provider>>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (gauges at 0, `feddns_build_info` at 1).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("feddns");

        let members = Family::<StateLabels, Gauge>::default();
        for state in ["synced", "pending", "unavailable", "down"] {
            members.get_or_create(&StateLabels { state }).set(0);
        }
        registry.register("members", "Member clusters by state", members.clone());

        let member_synced = Family::<MemberLabels, Gauge>::default();
        registry.register(
            "member_synced",
            "Whether the member cluster's watches are synced (0/1)",
            member_synced.clone(),
        );
        let member_down = Family::<MemberLabels, Gauge>::default();
        registry.register(
            "member_down",
            "Whether the member cluster is down (0/1)",
            member_down.clone(),
        );
        let member_events = Family::<MemberLabels, Counter>::default();
        registry.register(
            "member_events",
            "Watch events received from the member cluster",
            member_events.clone(),
        );

        let member_unread = Family::<MemberKindLabels, Gauge>::default();
        registry.register(
            "member_kind_unread",
            "Whether a kind (Ingress or Gateway API) cannot be read in the member, e.g. its CRD is not installed (0/1; retried)",
            member_unread.clone(),
        );
        let hosts = Gauge::default();
        registry.register(
            "hosts",
            "Hosts of Ingresses and Gateways served by some member cluster",
            hosts.clone(),
        );

        let federated_services = Gauge::default();
        registry.register(
            "federated_services",
            "Services federated across member clusters",
            federated_services.clone(),
        );
        let owned_records = Gauge::default();
        registry.register(
            "owned_records",
            "Record sets owned by this controller in the zone",
            owned_records.clone(),
        );

        let changes_applied = Family::<OpLabels, Counter>::default();
        for op in ChangeOp::ALL {
            changes_applied
                .get_or_create(&OpLabels { op: op.as_str() })
                .inc_by(0);
        }
        registry.register(
            "changes_applied",
            "Record set changes applied to the provider, by operation",
            changes_applied.clone(),
        );

        let conflicts = Gauge::default();
        registry.register(
            "conflicts",
            "Names skipped in the last plan because a foreign record holds them",
            conflicts.clone(),
        );
        let quarantined_names = Gauge::default();
        registry.register(
            "quarantined_names",
            "Names currently quarantined",
            quarantined_names.clone(),
        );

        let plan_duration = Histogram::new(PLAN_BUCKETS);
        registry.register_with_unit(
            "plan_duration",
            "Time to compute one plan",
            Unit::Seconds,
            plan_duration.clone(),
        );
        let convergence = Histogram::new(CONVERGENCE_BUCKETS);
        registry.register_with_unit(
            "convergence",
            "Time from a member event's arrival to its records being applied",
            Unit::Seconds,
            convergence.clone(),
        );

        let leader = Gauge::default();
        registry.register(
            "leader",
            "Whether this replica holds the leader lease (0/1)",
            leader.clone(),
        );
        let apply_failures = Counter::default();
        registry.register(
            "apply_failures",
            "Batches the provider failed to apply",
            apply_failures.clone(),
        );

        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "Build information (always 1)", build_info);

        let providers: Arc<RwLock<Vec<Arc<dyn Provider>>>> = Arc::default();
        registry.register_collector(Box::new(ProviderApiCollector {
            providers: Arc::clone(&providers),
        }));

        Self {
            registry,
            members,
            member_synced,
            member_down,
            member_events,
            member_unread,
            federated_services,
            hosts,
            owned_records,
            changes_applied,
            conflicts,
            quarantined_names,
            plan_duration,
            convergence,
            leader,
            apply_failures,
            providers,
        }
    }

    /// Sets `feddns_members{state}` for the four states.
    pub fn set_members(&self, synced: u64, pending: u64, unavailable: u64, down: u64) {
        for (state, n) in [
            ("synced", synced),
            ("pending", pending),
            ("unavailable", unavailable),
            ("down", down),
        ] {
            self.members
                .get_or_create(&StateLabels { state })
                .set(gauge_value(n));
        }
    }

    /// Sets `feddns_member_synced{member}` and `feddns_member_down{member}` (0/1).
    pub fn set_member(&self, member: &str, synced: bool, down: bool) {
        let labels = MemberLabels {
            member: member.to_owned(),
        };
        self.member_synced.get_or_create(&labels).set(i64::from(synced));
        self.member_down.get_or_create(&labels).set(i64::from(down));
    }

    /// Drops every series labelled with `member` (`feddns_member_synced`, `feddns_member_down`,
    /// `feddns_member_events_total`), for a member that left the federation.
    pub fn remove_member(&self, member: &str) {
        let labels = MemberLabels {
            member: member.to_owned(),
        };
        self.member_synced.remove(&labels);
        self.member_down.remove(&labels);
        self.member_events.remove(&labels);
        for kind in OPTIONAL_KINDS {
            self.member_unread.remove(&MemberKindLabels {
                member: member.to_owned(),
                kind,
            });
        }
    }

    /// Sets `feddns_member_kind_unread{member,kind}` for the optional kinds: 1 for those in
    /// `unread`, 0 for the others.
    pub fn set_member_unread(&self, member: &str, unread: impl Fn(&str) -> bool) {
        for kind in OPTIONAL_KINDS {
            self.member_unread
                .get_or_create(&MemberKindLabels {
                    member: member.to_owned(),
                    kind,
                })
                .set(i64::from(unread(kind)));
        }
    }

    /// Sets `feddns_hosts`.
    pub fn set_hosts(&self, n: u64) {
        self.hosts.set(gauge_value(n));
    }

    /// Counts one event from `member` in `feddns_member_events_total{member}`.
    pub fn member_event(&self, member: &str) {
        self.member_events
            .get_or_create(&MemberLabels {
                member: member.to_owned(),
            })
            .inc();
    }

    /// Sets `feddns_federated_services`.
    pub fn set_federated_services(&self, n: u64) {
        self.federated_services.set(gauge_value(n));
    }

    /// Sets `feddns_owned_records`.
    pub fn set_owned_records(&self, n: u64) {
        self.owned_records.set(gauge_value(n));
    }

    /// Adds `n` to `feddns_changes_applied_total{op}`.
    pub fn add_changes_applied(&self, op: ChangeOp, n: u64) {
        self.changes_applied
            .get_or_create(&OpLabels { op: op.as_str() })
            .inc_by(n);
    }

    /// Counts every change of an applied batch in `feddns_changes_applied_total{op}`.
    pub fn record_changes_applied(&self, changes: &[Change]) {
        let mut counts = [0u64; 3];
        for change in changes {
            counts[ChangeOp::from(change) as usize] += 1;
        }
        for (op, n) in ChangeOp::ALL.into_iter().zip(counts) {
            if n > 0 {
                self.add_changes_applied(op, n);
            }
        }
    }

    /// Sets `feddns_conflicts` (names skipped in the last plan because a foreign record holds
    /// them).
    pub fn set_conflicts(&self, n: u64) {
        self.conflicts.set(gauge_value(n));
    }

    /// Sets `feddns_quarantined_names`.
    pub fn set_quarantined_names(&self, n: u64) {
        self.quarantined_names.set(gauge_value(n));
    }

    /// Observes one plan's duration in `feddns_plan_duration_seconds`.
    pub fn observe_plan_duration(&self, d: Duration) {
        self.plan_duration.observe(d.as_secs_f64());
    }

    /// Observes one event-to-applied delay in `feddns_convergence_seconds`.
    pub fn observe_convergence(&self, d: Duration) {
        self.convergence.observe(d.as_secs_f64());
    }

    /// Sets `feddns_leader` (0/1).
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Counts one failed apply in `feddns_apply_failures_total`.
    pub fn apply_failure(&self) {
        self.apply_failures.inc();
    }

    /// Exports `provider`'s cumulative API counters (`feddns_provider_calls_total`,
    /// `feddns_provider_errors_total`, `feddns_provider_throttles_total`, labelled
    /// `{provider=kind(), operation}`), read from [`Provider::api_stats`] at each scrape.
    /// Registering the same provider twice has no effect; distinct providers of the same kind
    /// are summed.
    pub fn register_provider(&self, provider: Arc<dyn Provider>) {
        let mut providers = self.providers.write().unwrap_or_else(PoisonError::into_inner);
        if !providers.iter().any(|p| Arc::ptr_eq(p, &provider)) {
            providers.push(provider);
        }
    }

    /// Every metric in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode(&self) -> String {
        encode_registry(&self.registry)
    }
}

/// Metrics served as `/metrics` by the admin server: `feddns run`'s [`Metrics`], or the stub's.
pub trait MetricsText: Send + Sync {
    /// Every metric in the OpenMetrics text format (ends with `# EOF`).
    fn encode(&self) -> String;
}

impl MetricsText for Metrics {
    fn encode(&self) -> String {
        Self::encode(self)
    }
}

/// Every metric of `registry` in the OpenMetrics text format (ends with `# EOF`).
pub fn encode_registry(registry: &Registry) -> String {
    let mut out = String::with_capacity(8 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    out
}

/// A gauge value from a count, saturating at `i64::MAX`.
fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads the registered providers' [`feddns_provider::ApiStats`] at scrape time.
struct ProviderApiCollector {
    providers: Arc<RwLock<Vec<Arc<dyn Provider>>>>,
}

impl std::fmt::Debug for ProviderApiCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderApiCollector").finish_non_exhaustive()
    }
}

/// The provider API families: name and help. A `(provider, operation)` entry holds one value
/// per family, in this order.
const PROVIDER_SERIES: [(&str, &str); 3] = [
    (
        "provider_calls",
        "Requests sent to the DNS provider's API (pages and retries included).",
    ),
    (
        "provider_errors",
        "Requests to the DNS provider's API that failed (throttles included).",
    ),
    (
        "provider_throttles",
        "Requests the DNS provider's API answered with a throttling error.",
    ),
];

impl Collector for ProviderApiCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let providers = self
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Every operation seen in any of the three maps gets all three series (0 when absent),
        // so that rates over errors and throttles start from a known zero.
        let mut stats: BTreeMap<(&'static str, String), [u64; 3]> = BTreeMap::new();
        for provider in &providers {
            let kind = provider.kind();
            let api = provider.api_stats();
            for (i, counts) in [api.calls, api.errors, api.throttles].into_iter().enumerate() {
                for (op, n) in counts {
                    let v = &mut stats.entry((kind, op)).or_default()[i];
                    *v = v.saturating_add(n);
                }
            }
        }
        if stats.is_empty() {
            return Ok(());
        }
        for (i, (name, help)) in PROVIDER_SERIES.into_iter().enumerate() {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for ((provider, operation), values) in &stats {
                let labels = [("provider", *provider), ("operation", operation.as_str())];
                ConstCounter::new(values[i]).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feddns_provider::{ApiStats, Capabilities, Limits, ProviderError, RecordSet, RecordType};
    use std::sync::Mutex;

    /// A provider whose API counters the test sets.
    #[derive(Default)]
    struct StatsProvider {
        kind: &'static str,
        stats: Mutex<ApiStats>,
    }

    #[async_trait::async_trait]
    impl Provider for StatsProvider {
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn zone(&self) -> &str {
            "example.com"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        fn limits(&self) -> Limits {
            Limits::default()
        }
        async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
            Ok(Vec::new())
        }
        async fn apply(&self, _changes: &[Change]) -> Result<(), ProviderError> {
            Ok(())
        }
        fn api_stats(&self) -> ApiStats {
            self.stats.lock().unwrap().clone()
        }
    }

    fn map(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    /// The sample lines of `text` (no comments).
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn has(text: &str, line: &str) -> bool {
        samples(text).contains(&line)
    }

    fn set(name: &str) -> RecordSet {
        RecordSet::new(name, RecordType::A, 60, ["192.0.2.1".to_owned()])
    }

    #[test]
    fn metrics_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Metrics>();
    }

    #[test]
    fn fresh_registry_has_defaults_and_build_info() {
        let m = Metrics::new();
        let out = m.encode();
        assert!(out.ends_with("# EOF\n"), "{out}");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            has(&out, &format!("feddns_build_info{{version=\"{version}\"}} 1")),
            "{out}"
        );
        for state in ["synced", "pending", "unavailable", "down"] {
            assert!(
                has(&out, &format!("feddns_members{{state=\"{state}\"}} 0")),
                "{out}"
            );
        }
        for op in ["create", "replace", "delete"] {
            assert!(
                has(&out, &format!("feddns_changes_applied_total{{op=\"{op}\"}} 0")),
                "{out}"
            );
        }
        for line in [
            "feddns_federated_services 0",
            "feddns_owned_records 0",
            "feddns_conflicts 0",
            "feddns_quarantined_names 0",
            "feddns_leader 0",
            "feddns_apply_failures_total 0",
            "feddns_plan_duration_seconds_count 0",
            "feddns_convergence_seconds_count 0",
        ] {
            assert!(has(&out, line), "missing {line}: {out}");
        }
        // No member, no provider: those families are absent altogether.
        assert!(!out.contains("feddns_member_synced"), "{out}");
        assert!(!out.contains("feddns_member_down"), "{out}");
        assert!(!out.contains("feddns_member_events"), "{out}");
        assert!(!out.contains("feddns_provider_"), "{out}");
    }

    #[test]
    fn every_setter_shows_in_the_output() {
        let m = Metrics::new();
        m.set_members(3, 1, 2, 4);
        m.set_member("east", true, false);
        m.set_member("west", false, true);
        m.member_event("east");
        m.member_event("east");
        m.member_event("west");
        m.set_federated_services(7);
        m.set_owned_records(42);
        m.add_changes_applied(ChangeOp::Create, 5);
        m.add_changes_applied(ChangeOp::Delete, 1);
        m.record_changes_applied(&[
            Change::create(set("a.example.com")),
            Change::replace(set("b.example.com"), set("b.example.com")),
            Change::delete(set("c.example.com")),
        ]);
        m.set_conflicts(2);
        m.set_quarantined_names(3);
        m.observe_plan_duration(Duration::from_micros(300));
        m.observe_plan_duration(Duration::from_secs(20));
        m.observe_convergence(Duration::from_millis(750));
        m.set_leader(true);
        m.apply_failure();

        let out = m.encode();
        for line in [
            "feddns_members{state=\"synced\"} 3",
            "feddns_members{state=\"pending\"} 1",
            "feddns_members{state=\"unavailable\"} 2",
            "feddns_members{state=\"down\"} 4",
            "feddns_member_synced{member=\"east\"} 1",
            "feddns_member_synced{member=\"west\"} 0",
            "feddns_member_down{member=\"east\"} 0",
            "feddns_member_down{member=\"west\"} 1",
            "feddns_member_events_total{member=\"east\"} 2",
            "feddns_member_events_total{member=\"west\"} 1",
            "feddns_federated_services 7",
            "feddns_owned_records 42",
            "feddns_changes_applied_total{op=\"create\"} 6",
            "feddns_changes_applied_total{op=\"replace\"} 1",
            "feddns_changes_applied_total{op=\"delete\"} 2",
            "feddns_conflicts 2",
            "feddns_quarantined_names 3",
            "feddns_plan_duration_seconds_count 2",
            "feddns_plan_duration_seconds_bucket{le=\"0.0001\"} 0",
            "feddns_plan_duration_seconds_bucket{le=\"0.0005\"} 1",
            "feddns_plan_duration_seconds_bucket{le=\"10.0\"} 1",
            "feddns_plan_duration_seconds_bucket{le=\"+Inf\"} 2",
            "feddns_convergence_seconds_count 1",
            "feddns_convergence_seconds_sum 0.75",
            "feddns_convergence_seconds_bucket{le=\"0.005\"} 0",
            "feddns_convergence_seconds_bucket{le=\"1.0\"} 1",
            "feddns_convergence_seconds_bucket{le=\"300.0\"} 1",
            "feddns_leader 1",
            "feddns_apply_failures_total 1",
        ] {
            assert!(has(&out, line), "missing {line}: {out}");
        }
        assert!(
            out.contains("# TYPE feddns_plan_duration_seconds histogram"),
            "{out}"
        );
        assert!(
            out.contains("# UNIT feddns_plan_duration_seconds seconds"),
            "{out}"
        );
        assert!(out.contains("# TYPE feddns_changes_applied counter"), "{out}");

        m.set_leader(false);
        m.set_owned_records(u64::MAX);
        let out = m.encode();
        assert!(has(&out, "feddns_leader 0"), "{out}");
        assert!(has(&out, &format!("feddns_owned_records {}", i64::MAX)), "{out}");
    }

    #[test]
    fn removed_members_vanish() {
        let m = Metrics::new();
        m.set_member("east", true, false);
        m.set_member("west", true, false);
        m.member_event("east");
        m.member_event("west");
        m.remove_member("east");
        let out = m.encode();
        assert!(!out.contains("member=\"east\""), "{out}");
        assert!(has(&out, "feddns_member_synced{member=\"west\"} 1"), "{out}");
        assert!(
            has(&out, "feddns_member_events_total{member=\"west\"} 1"),
            "{out}"
        );

        m.remove_member("west");
        m.remove_member("never-seen");
        let out = m.encode();
        assert!(!out.contains("feddns_member_synced"), "{out}");
        assert!(!out.contains("feddns_member_down"), "{out}");
        assert!(!out.contains("feddns_member_events"), "{out}");

        // A member that comes back starts over.
        m.member_event("east");
        assert!(has(&m.encode(), "feddns_member_events_total{member=\"east\"} 1"));
    }

    #[test]
    fn member_label_values_are_escaped() {
        let m = Metrics::new();
        m.set_member("we\"ird\\name\n", true, true);
        let out = m.encode();
        assert!(out.ends_with("# EOF\n"));
        // One sample line per family, no raw newline inside the label value.
        assert_eq!(
            samples(&out)
                .iter()
                .filter(|l| l.starts_with("feddns_member_synced"))
                .count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn provider_collector_reflects_api_stats() {
        let m = Metrics::new();
        let provider = Arc::new(StatsProvider {
            kind: "route53",
            ..Default::default()
        });
        m.register_provider(provider.clone());
        m.register_provider(provider.clone()); // ignored: same provider
        // Empty stats: nothing exported.
        assert!(!m.encode().contains("feddns_provider_"));

        *provider.stats.lock().unwrap() = ApiStats {
            calls: map(&[("ListResourceRecordSets", 12), ("ChangeResourceRecordSets", 3)]),
            throttles: map(&[("ListResourceRecordSets", 2)]),
            errors: map(&[("ListResourceRecordSets", 2), ("GetChange", 1)]),
        };
        let out = m.encode();
        for line in [
            "feddns_provider_calls_total{provider=\"route53\",operation=\"ListResourceRecordSets\"} 12",
            "feddns_provider_calls_total{provider=\"route53\",operation=\"ChangeResourceRecordSets\"} 3",
            "feddns_provider_calls_total{provider=\"route53\",operation=\"GetChange\"} 0",
            "feddns_provider_errors_total{provider=\"route53\",operation=\"ListResourceRecordSets\"} 2",
            "feddns_provider_errors_total{provider=\"route53\",operation=\"GetChange\"} 1",
            "feddns_provider_errors_total{provider=\"route53\",operation=\"ChangeResourceRecordSets\"} 0",
            "feddns_provider_throttles_total{provider=\"route53\",operation=\"ListResourceRecordSets\"} 2",
            "feddns_provider_throttles_total{provider=\"route53\",operation=\"ChangeResourceRecordSets\"} 0",
        ] {
            assert!(has(&out, line), "missing {line}: {out}");
        }
        for name in ["provider_calls", "provider_errors", "provider_throttles"] {
            assert_eq!(
                out.matches(&format!("# TYPE feddns_{name} counter\n")).count(),
                1,
                "{out}"
            );
        }
        // One sample per (family, provider, operation), no duplicates.
        assert_eq!(
            samples(&out)
                .iter()
                .filter(|l| l.starts_with("feddns_provider_"))
                .count(),
            9,
            "{out}"
        );

        // Cumulative values are read at each scrape.
        provider
            .stats
            .lock()
            .unwrap()
            .calls
            .insert("GetChange".to_owned(), 4);
        assert!(has(
            &m.encode(),
            "feddns_provider_calls_total{provider=\"route53\",operation=\"GetChange\"} 4"
        ));
    }

    #[test]
    fn providers_without_api_export_nothing_and_kinds_stay_apart() {
        let m = Metrics::new();
        let embedded = Arc::new(StatsProvider {
            kind: "embedded",
            ..Default::default()
        });
        let clouddns = Arc::new(StatsProvider {
            kind: "clouddns",
            ..Default::default()
        });
        clouddns.stats.lock().unwrap().calls = map(&[("changes.create", 1)]);
        m.register_provider(embedded);
        m.register_provider(clouddns);
        let out = m.encode();
        assert!(!out.contains("provider=\"embedded\""), "{out}");
        assert!(
            has(
                &out,
                "feddns_provider_calls_total{provider=\"clouddns\",operation=\"changes.create\"} 1"
            ),
            "{out}"
        );
    }
}
