//! Resolution of ingress hostnames, at the edge.
//!
//! Only needed where a hostname cannot be published as a CNAME (several hostnames, or hostnames
//! mixed with IPs, on a provider without weighted routing). Addresses are re-resolved no later
//! than the record TTL, so they never go stale the way Federation v1's did (#35637).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig as HickoryConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::time::Instant;

use crate::config::ResolverConfig;
use crate::federation::planner::{HostLookup, Lookup};

/// Shortest time between two resolutions of one hostname.
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Retry delay after a failed resolution (timeout, SERVFAIL).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The answer for one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Its addresses; empty when the name does not exist or has no address records.
    pub addrs: Vec<IpAddr>,
    /// How long the answer may be kept.
    pub ttl: Duration,
}

/// Why a hostname could not be resolved, or the resolver not built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The resolver could not be built from the configuration.
    #[error("cannot build the resolver: {0}")]
    Build(#[source] NetError),
    /// A lookup failed in a way that may pass (a timeout, SERVFAIL, no server answering).
    #[error("{source}")]
    Lookup {
        /// The hostname asked for.
        host: String,
        /// What the resolver reported.
        #[source]
        source: feddns_provider::BoxError,
    },
}

impl ResolveError {
    /// [`Self::Lookup`] of `host`.
    pub fn lookup(host: impl Into<String>, source: impl Into<feddns_provider::BoxError>) -> Self {
        Self::Lookup {
            host: host.into(),
            source: source.into(),
        }
    }
}

/// Something that resolves hostnames.
#[async_trait::async_trait]
pub trait Resolve: Send + Sync {
    /// Resolves `host`; an error means "try again later" (timeouts, server failures), whereas a
    /// name that does not exist is an empty [`Resolution`].
    async fn resolve(&self, host: &str) -> Result<Resolution, ResolveError>;
}

/// A resolver over DNS (hickory-resolver), with static answers checked first.
pub struct DnsResolver {
    resolver: TokioResolver,
    hosts: BTreeMap<String, Vec<IpAddr>>,
    static_ttl: Duration,
}

impl DnsResolver {
    /// Builds the resolver: the configured name servers, or the system's.
    pub fn new(cfg: &ResolverConfig, static_ttl: Duration) -> Result<Self, ResolveError> {
        let builder = if cfg.nameservers.is_empty() {
            TokioResolver::builder_tokio().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the system resolver configuration; only resolver.hosts will answer");
                TokioResolver::builder_with_config(HickoryConfig::default(), TokioRuntimeProvider::default())
            })
        } else {
            let servers = cfg.nameservers.iter().map(|a| name_server(*a)).collect();
            TokioResolver::builder_with_config(
                HickoryConfig::from_parts(None, vec![], servers),
                TokioRuntimeProvider::default(),
            )
        };
        let resolver = builder.build().map_err(ResolveError::Build)?;
        let hosts = cfg
            .hosts
            .iter()
            .map(|(k, v)| (feddns_provider::normalize_name(k), v.clone()))
            .collect();
        Ok(Self {
            resolver,
            hosts,
            static_ttl,
        })
    }
}

fn name_server(addr: SocketAddr) -> NameServerConfig {
    let conn = |mut c: ConnectionConfig| {
        c.port = addr.port();
        c
    };
    NameServerConfig::new(
        addr.ip(),
        true,
        vec![conn(ConnectionConfig::udp()), conn(ConnectionConfig::tcp())],
    )
}

#[async_trait::async_trait]
impl Resolve for DnsResolver {
    async fn resolve(&self, host: &str) -> Result<Resolution, ResolveError> {
        if let Some(addrs) = self.hosts.get(host) {
            return Ok(Resolution {
                addrs: addrs.clone(),
                ttl: self.static_ttl,
            });
        }
        // A trailing dot: the name is absolute, never completed from a search list.
        match self.resolver.lookup_ip(format!("{host}.")).await {
            Ok(answer) => {
                let ttl = answer
                    .valid_until()
                    .saturating_duration_since(std::time::Instant::now());
                let mut addrs: Vec<IpAddr> = answer.iter().collect();
                addrs.sort();
                addrs.dedup();
                Ok(Resolution { addrs, ttl })
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Resolution {
                addrs: vec![],
                ttl: Duration::from_secs(30),
            }),
            Err(e) => Err(ResolveError::lookup(host, e)),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    addrs: Option<Vec<IpAddr>>,
    next: Instant,
}

/// What is known of every hostname the records depend on, and when to ask again.
#[derive(Debug, Clone, Default)]
pub struct HostCache {
    entries: BTreeMap<String, Entry>,
}

impl HostCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hostnames in `wanted` never resolved nor asked for yet; they are now marked as asked for.
    pub fn start<'a>(&mut self, wanted: impl IntoIterator<Item = &'a String>, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for h in wanted {
            if !self.entries.contains_key(h) {
                self.entries.insert(
                    h.clone(),
                    Entry {
                        addrs: None,
                        next: now + RETRY_AFTER_FAILURE,
                    },
                );
                out.push(h.clone());
            }
        }
        out
    }

    /// Records an answer. `max_refresh` bounds how long addresses are trusted (the record TTL).
    /// Returns true when the addresses changed.
    pub fn record(
        &mut self,
        host: &str,
        answer: Result<Resolution, ResolveError>,
        now: Instant,
        max_refresh: Duration,
    ) -> bool {
        let Some(entry) = self.entries.get_mut(host) else {
            return false;
        };
        match answer {
            Ok(r) => {
                entry.next = now + r.ttl.min(max_refresh).max(MIN_REFRESH);
                let changed = entry.addrs.as_ref() != Some(&r.addrs);
                entry.addrs = Some(r.addrs);
                changed
            }
            Err(_) => {
                // Keep what we had: stale addresses are better than none, and we retry soon.
                entry.next = now + RETRY_AFTER_FAILURE;
                false
            }
        }
    }

    /// Hostnames due for another resolution.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.next <= now)
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// Marks hostnames as asked for again (so `due` does not repeat them while in flight).
    pub fn asked(&mut self, hosts: &[String], now: Instant) {
        for h in hosts {
            if let Some(e) = self.entries.get_mut(h) {
                e.next = now + RETRY_AFTER_FAILURE;
            }
        }
    }

    /// Forgets hostnames no record depends on any more.
    pub fn retain(&mut self, used: &BTreeSet<String>) {
        self.entries.retain(|h, _| used.contains(h));
    }
}

impl HostLookup for HostCache {
    fn lookup(&self, host: &str) -> Lookup<'_> {
        match self.entries.get(host).and_then(|e| e.addrs.as_deref()) {
            Some(a) => Lookup::Resolved(a),
            None => Lookup::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(addrs: &[&str], ttl: u64) -> Result<Resolution, ResolveError> {
        Ok(Resolution {
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ttl: Duration::from_secs(ttl),
        })
    }

    #[test]
    fn refresh_is_bounded_by_the_record_ttl() {
        let t0 = Instant::now();
        let mut c = HostCache::new();
        let h = "lb.example.net".to_string();
        assert_eq!(c.start([&h], t0), vec![h.clone()]);
        assert!(c.start([&h], t0).is_empty(), "asked once only");
        assert_eq!(c.lookup(&h), Lookup::Pending);
        assert!(c.record(&h, ok(&["192.0.2.1"], 3600), t0, Duration::from_secs(180)));
        assert!(matches!(c.lookup(&h), Lookup::Resolved(a) if a.len() == 1));
        assert!(c.due(t0 + Duration::from_secs(179)).is_empty());
        assert_eq!(c.due(t0 + Duration::from_secs(180)), vec![h.clone()]);
        assert!(
            !c.record(&h, ok(&["192.0.2.1"], 60), t0, Duration::from_secs(180)),
            "same answer: no change"
        );
        assert_eq!(
            c.due(t0 + Duration::from_secs(60)),
            vec![h.clone()],
            "a shorter DNS TTL wins"
        );
    }

    #[test]
    fn failures_keep_the_last_answer_and_retry_soon() {
        let t0 = Instant::now();
        let mut c = HostCache::new();
        let h = "lb.example.net".to_string();
        c.start([&h], t0);
        assert!(!c.record(
            &h,
            Err(ResolveError::lookup(&h, "timeout")),
            t0,
            Duration::from_secs(180)
        ));
        assert_eq!(c.lookup(&h), Lookup::Pending);
        c.record(&h, ok(&["192.0.2.1"], 60), t0, Duration::from_secs(180));
        assert!(!c.record(
            &h,
            Err(ResolveError::lookup(&h, "timeout")),
            t0,
            Duration::from_secs(180)
        ));
        assert!(matches!(c.lookup(&h), Lookup::Resolved(a) if a.len() == 1));
        assert_eq!(c.due(t0 + RETRY_AFTER_FAILURE), vec![h.clone()]);
        assert!(
            c.record(&h, ok(&[], 30), t0, Duration::from_secs(180)),
            "the name is gone"
        );
        assert_eq!(c.lookup(&h), Lookup::Resolved(&[]));
        c.retain(&BTreeSet::new());
        assert_eq!(c.lookup(&h), Lookup::Pending);
    }
}
