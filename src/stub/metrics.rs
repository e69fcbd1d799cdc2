//! The stub's Prometheus metrics (`feddns_stub_*`), served on `--admin` by the same admin server
//! and text encoding as `feddns run`'s.
//!
//! Counters touched per query are created once and kept, so counting a query is one atomic
//! add (no label lookup).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::chain::ChainError;
use crate::ops::metrics::{MetricsText, encode_registry};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AnswerLabels {
    answer: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// What a query was answered, the `answer` label of `feddns_stub_queries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// CNAME to the local Service and its addresses.
    Local,
    /// CNAME to the federated name and its resolved chain.
    Federated,
    /// The CNAME alone (a query type other than A and AAAA).
    Cname,
    /// The apex: its SOA, or NODATA.
    Apex,
    /// NXDOMAIN.
    NxDomain,
    /// REFUSED (outside `svc.<cluster-domain>`, another class, a zone transfer).
    Refused,
    /// SERVFAIL: the cluster not listed yet, this node's location unknown, or a chain that could
    /// not be completed (counted by reason in `feddns_stub_chain_failures_total`).
    ServFail,
    /// FORMERR, NOTIMP or BADVERS.
    Error,
}

impl AnswerKind {
    /// Every kind, in label order.
    pub const ALL: [Self; 8] = [
        Self::Local,
        Self::Federated,
        Self::Cname,
        Self::Apex,
        Self::NxDomain,
        Self::Refused,
        Self::ServFail,
        Self::Error,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Federated => "federated",
            Self::Cname => "cname",
            Self::Apex => "apex",
            Self::NxDomain => "nxdomain",
            Self::Refused => "refused",
            Self::ServFail => "servfail",
            Self::Error => "error",
        }
    }
}

/// The stub's metrics. `Send + Sync`; share it in an `Arc`.
pub struct StubMetrics {
    registry: Registry,
    queries: [Counter; AnswerKind::ALL.len()],
    upstream_lookups: Counter,
    upstream_queries: Counter,
    coalesced: Counter,
    cache_hits: Counter,
    failure_counters: [Counter; ChainError::REASONS.len()],
    cache_entries: Gauge,
    cache_evictions: Gauge,
    local_services: Gauge,
}

impl std::fmt::Debug for StubMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubMetrics").finish_non_exhaustive()
    }
}

impl Default for StubMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl StubMetrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("feddns_stub");
        let queries_family = Family::<AnswerLabels, Counter>::default();
        let queries = AnswerKind::ALL.map(|k| {
            queries_family
                .get_or_create(&AnswerLabels { answer: k.as_str() })
                .clone()
        });
        registry.register(
            "queries",
            "DNS queries answered, by kind of answer",
            queries_family,
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let upstream_lookups = counter(
            &mut registry,
            "upstream_lookups",
            "Federated chains looked up through the upstream resolvers (cache misses)",
        );
        let upstream_queries = counter(
            &mut registry,
            "upstream_queries",
            "Queries sent to the upstream resolvers (a chain may take several)",
        );
        let coalesced = counter(
            &mut registry,
            "coalesced_queries",
            "Queries that waited for a lookup of the same name and type already in flight",
        );
        let cache_hits = counter(
            &mut registry,
            "cache_hits",
            "Federated answers completed from the chain cache",
        );
        let chain_failures = Family::<ReasonLabels, Counter>::default();
        let failure_counters =
            ChainError::REASONS.map(|reason| chain_failures.get_or_create(&ReasonLabels { reason }).clone());
        registry.register(
            "chain_failures",
            "Federated chains that could not be completed (answered SERVFAIL), by reason",
            chain_failures,
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let cache_entries = gauge(&mut registry, "cache_entries", "Chains in the cache");
        let cache_evictions = gauge(
            &mut registry,
            "cache_evictions",
            "Chains dropped from the full cache before they expired, since the start",
        );
        let local_services = gauge(
            &mut registry,
            "local_services",
            "Local Services answered locally (a ready endpoint and an address)",
        );
        Self {
            registry,
            queries,
            upstream_lookups,
            upstream_queries,
            coalesced,
            cache_hits,
            failure_counters,
            cache_entries,
            cache_evictions,
            local_services,
        }
    }

    /// Counts a query answered `kind`.
    pub fn answered(&self, kind: AnswerKind) {
        self.queries[kind as usize].inc();
    }

    /// Counts a chain lookup sent upstream.
    pub fn upstream_lookup(&self) {
        self.upstream_lookups.inc();
    }

    /// Counts a query sent upstream.
    pub fn upstream_query(&self) {
        self.upstream_queries.inc();
    }

    /// Counts a query that waited for a lookup in flight.
    pub fn coalesced(&self) {
        self.coalesced.inc();
    }

    /// Counts a cache hit.
    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    /// Counts a chain that could not be completed, by [`ChainError::reason`].
    pub fn chain_failure(&self, reason: &str) {
        if let Some(i) = ChainError::REASONS.iter().position(|r| *r == reason) {
            self.failure_counters[i].inc();
        }
    }

    /// Sets the cache's size and evictions.
    pub fn set_cache(&self, entries: usize, evicted: u64) {
        self.cache_entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.cache_evictions
            .set(i64::try_from(evicted).unwrap_or(i64::MAX));
    }

    /// Sets how many Services are answered locally.
    pub fn set_local_services(&self, n: usize) {
        self.local_services.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Queries answered `kind` so far.
    pub fn answered_count(&self, kind: AnswerKind) -> u64 {
        self.queries[kind as usize].get()
    }

    /// Chain lookups sent upstream so far.
    pub fn upstream_lookup_count(&self) -> u64 {
        self.upstream_lookups.get()
    }

    /// Queries that waited for a lookup in flight so far.
    pub fn coalesced_count(&self) -> u64 {
        self.coalesced.get()
    }

    /// Cache hits so far.
    pub fn cache_hit_count(&self) -> u64 {
        self.cache_hits.get()
    }

    /// Chain failures of `reason` so far.
    pub fn chain_failure_count(&self, reason: &str) -> u64 {
        ChainError::REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.failure_counters[i].get())
    }
}

impl MetricsText for StubMetrics {
    fn encode(&self) -> String {
        encode_registry(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_there_from_the_start_and_counts() {
        let m = StubMetrics::new();
        let text = m.encode();
        for kind in AnswerKind::ALL {
            assert!(
                text.contains(&format!(
                    "feddns_stub_queries_total{{answer=\"{}\"}} 0",
                    kind.as_str()
                )),
                "{text}"
            );
        }
        for reason in ChainError::REASONS {
            assert!(
                text.contains(&format!(
                    "feddns_stub_chain_failures_total{{reason=\"{reason}\"}} 0"
                )),
                "{text}"
            );
        }
        m.answered(AnswerKind::Federated);
        m.chain_failure("timeout");
        m.cache_hit();
        m.set_cache(3, 1);
        let text = m.encode();
        for line in [
            "feddns_stub_queries_total{answer=\"federated\"} 1",
            "feddns_stub_chain_failures_total{reason=\"timeout\"} 1",
            "feddns_stub_cache_hits_total 1",
            "feddns_stub_cache_entries 3",
            "feddns_stub_upstream_lookups_total 0",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
