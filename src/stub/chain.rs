//! Completing a federated answer: the CNAME chain from the federated name to its addresses, as
//! the upstream resolvers give it, cached for its TTL, one lookup in flight per name and type.
//!
//! ```text
//! web.shop.myfed.svc.us-east-1a.us-east-1.example.com.  CNAME web.shop.myfed.svc.us-east-1.example.com.
//! web.shop.myfed.svc.us-east-1.example.com.             CNAME web.shop.myfed.svc.example.com.
//! web.shop.myfed.svc.example.com.                       A     203.0.113.10
//! ```
//!
//! * [`complete`] asks the upstream for the name; a CNAME whose target the answer does not
//!   resolve (an authoritative server does not follow CNAMEs out of its zone) is asked again for
//!   the target, up to [`MAX_CNAMES`] CNAMEs. The chain is complete when it ends in records of
//!   the asked type, or in a name that exists without them (NODATA). Anything else fails it:
//!   no answer in time, SERVFAIL or REFUSED from every server, NXDOMAIN, a loop, a chain too
//!   long. A failed chain is never answered in part.
//! * [`ChainCache`] keeps complete chains for the smallest TTL in them (a NODATA end for the
//!   negative TTL of the SOA that came with it, RFC 2308; without one, not at all), up to a
//!   number of entries; when full, the entry closest to expiry goes first. It takes the time as
//!   an argument: no clock, no I/O.
//! * [`Resolver`] answers from the cache, or starts one lookup for a (name, type) and lets every
//!   query that arrives meanwhile wait for it. Failures are not cached: the next query asks again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::metrics::StubMetrics;
use super::upstream::{Exchange, UpstreamError};

/// Most CNAMEs followed from the federated name (the federation writes two: zone to region,
/// region to global; a load balancer hostname may add a few).
pub const MAX_CNAMES: usize = 8;

/// A complete chain.
#[derive(Debug)]
pub struct Chain {
    /// The CNAMEs from the asked name on, then the records of the asked type at the last name
    /// (none for NODATA), with the TTLs received.
    pub records: Box<[Record]>,
    /// For NODATA, the SOA the upstream gave for negative caching (with its TTL lowered to the
    /// negative TTL).
    pub soa: Option<Record>,
    /// How long the whole chain holds, in seconds: the smallest TTL of its records (and of the
    /// negative answer at its end).
    pub ttl: u32,
    /// The records as last served, all with one TTL: a query that asks for the same TTL (every
    /// query within the same second) copies nothing.
    served: RwLock<Arc<Served>>,
}

/// A chain's records with the TTL they are answered with.
#[derive(Debug)]
pub struct Served {
    /// The TTL of every record.
    pub ttl: u32,
    /// [`Chain::records`] with that TTL.
    pub records: Box<[Record]>,
    /// [`Chain::soa`] with at most that TTL.
    pub soa: Option<Record>,
}

impl Chain {
    /// A chain of `records` (and, for NODATA, the `soa`) holding `ttl` seconds.
    pub fn new(records: Box<[Record]>, soa: Option<Record>, ttl: u32) -> Self {
        let served = Served::stamp(&records, soa.as_ref(), ttl);
        Self {
            records,
            soa,
            ttl,
            served: RwLock::new(Arc::new(served)),
        }
    }

    /// Whether the chain ends without records of the asked type.
    pub fn is_nodata(&self) -> bool {
        self.records
            .last()
            .is_none_or(|r| r.record_type() == RecordType::CNAME)
    }

    /// The records with every TTL set to `ttl` (the SOA's at most `ttl`).
    pub fn served(&self, ttl: u32) -> Arc<Served> {
        {
            let served = self.served.read().unwrap_or_else(PoisonError::into_inner);
            if served.ttl == ttl {
                return served.clone();
            }
        }
        let fresh = Arc::new(Served::stamp(&self.records, self.soa.as_ref(), ttl));
        *self.served.write().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        fresh
    }
}

impl Served {
    fn stamp(records: &[Record], soa: Option<&Record>, ttl: u32) -> Self {
        let with_ttl = |r: &Record, ttl| {
            let mut r = r.clone();
            r.ttl = ttl;
            r
        };
        Self {
            ttl,
            records: records.iter().map(|r| with_ttl(r, ttl)).collect(),
            soa: soa.map(|r| with_ttl(r, r.ttl.min(ttl))),
        }
    }
}

/// Why a chain could not be completed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The upstream gave no usable answer.
    #[error("{name} {qtype}: {source}")]
    Upstream {
        /// The name asked.
        name: Name,
        /// The type asked.
        qtype: RecordType,
        /// What the upstream did.
        #[source]
        source: Box<UpstreamError>,
    },
    /// A name of the chain does not exist.
    #[error("{name} does not exist (NXDOMAIN)")]
    NxDomain {
        /// The name.
        name: Name,
    },
    /// The chain comes back to a name it passed.
    #[error("CNAME loop at {name}")]
    Loop {
        /// The name met twice.
        name: Name,
    },
    /// More CNAMEs than [`MAX_CNAMES`].
    #[error("more than {MAX_CNAMES} CNAMEs from {name}")]
    TooLong {
        /// The name the chain starts at.
        name: Name,
    },
    /// The lookup ended without a result (its task was stopped).
    #[error("the lookup of {name} was stopped")]
    Stopped {
        /// The name.
        name: Name,
    },
}

impl ChainError {
    /// The `reason` label of `feddns_stub_chain_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Upstream { source, .. } => match **source {
                UpstreamError::Timeout { .. } => "timeout",
                UpstreamError::Rcode {
                    rcode: ResponseCode::ServFail,
                    ..
                } => "servfail",
                UpstreamError::Rcode { .. } => "rcode",
                UpstreamError::Network { .. } | UpstreamError::NoServers => "network",
            },
            Self::NxDomain { .. } => "nxdomain",
            Self::Loop { .. } | Self::TooLong { .. } => "chain",
            Self::Stopped { .. } => "stopped",
        }
    }

    /// Every reason, for metrics that start at zero.
    pub const REASONS: [&'static str; 7] = [
        "timeout", "servfail", "rcode", "network", "nxdomain", "chain", "stopped",
    ];
}

/// What one response says about the chain from `name`.
#[derive(Debug, PartialEq, Eq)]
enum Walked {
    /// Records of the asked type were found at the end.
    Answered,
    /// `name` has neither records of the type nor a CNAME here: NODATA (when nothing was
    /// followed in this response).
    Ends,
    /// The response follows CNAMEs to this name and says nothing more: ask for it.
    AskFor(Name),
}

/// Follows `response` from `name`: appends the CNAMEs met and the records of `qtype` at the end
/// to `chain`. `seen` holds every name the chain passed.
fn walk(
    response: &Message,
    mut name: Name,
    qtype: RecordType,
    chain: &mut Vec<Record>,
    seen: &mut HashSet<Name>,
) -> Result<Walked, ChainError> {
    let mut followed = false;
    loop {
        let before = chain.len();
        chain.extend(records_at(response, &name, qtype).cloned());
        if chain.len() > before {
            return Ok(Walked::Answered);
        }
        let Some(cname) = records_at(response, &name, RecordType::CNAME).next() else {
            return Ok(if followed {
                Walked::AskFor(name)
            } else {
                Walked::Ends
            });
        };
        let RData::CNAME(target) = &cname.data else {
            return Ok(Walked::Ends);
        };
        chain.push(cname.clone());
        if chain.len() > MAX_CNAMES {
            return Err(ChainError::TooLong { name: name.clone() });
        }
        name = target.0.clone();
        if !seen.insert(name.clone()) {
            return Err(ChainError::Loop { name });
        }
        followed = true;
    }
}

/// The answers of `response` at `name` of type `rtype`.
fn records_at<'a>(
    response: &'a Message,
    name: &'a Name,
    rtype: RecordType,
) -> impl Iterator<Item = &'a Record> + 'a {
    response
        .answers
        .iter()
        .filter(move |r| r.dns_class == DNSClass::IN && r.record_type() == rtype && r.name == *name)
}

/// The negative TTL of a NODATA response (RFC 2308 §5: the smaller of the SOA's TTL and its
/// minimum) and the SOA carrying it.
fn negative_soa(response: &Message) -> Option<(u32, Record)> {
    response.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => {
            let ttl = r.ttl.min(soa.minimum);
            let mut record = r.clone();
            record.ttl = ttl;
            Some((ttl, record))
        }
        _ => None,
    })
}

/// Resolves `name`/`qtype` through `upstream` into a complete chain, before `deadline`.
/// `queries` counts every query sent.
pub async fn complete(
    upstream: &dyn Exchange,
    name: &Name,
    qtype: RecordType,
    deadline: tokio::time::Instant,
    queries: &(dyn Fn() + Sync),
) -> Result<Chain, ChainError> {
    let mut chain = Vec::new();
    let mut seen = HashSet::from([name.clone()]);
    let mut current = name.clone();
    // Each round follows at least one more CNAME, so this bounds the rounds.
    for _ in 0..=MAX_CNAMES {
        queries();
        let response = upstream
            .exchange(&current, qtype, deadline)
            .await
            .map_err(|source| ChainError::Upstream {
                name: current.clone(),
                qtype,
                source: Box::new(source),
            })?;
        // A CNAME chain may come with NXDOMAIN for its end: either way, the chain is broken.
        if response.metadata.response_code == ResponseCode::NXDomain {
            return Err(ChainError::NxDomain { name: current });
        }
        match walk(&response, current.clone(), qtype, &mut chain, &mut seen)? {
            Walked::Answered => {
                let ttl = chain.iter().map(|r| r.ttl).min().unwrap_or(0);
                return Ok(Chain::new(chain.into(), None, ttl));
            }
            Walked::Ends => {
                let (negative, soa) = negative_soa(&response).map_or((0, None), |(t, r)| (t, Some(r)));
                let ttl = chain.iter().map(|r| r.ttl).fold(negative, u32::min);
                return Ok(Chain::new(chain.into(), soa, ttl));
            }
            Walked::AskFor(next) => current = next,
        }
    }
    Err(ChainError::TooLong { name: name.clone() })
}

/// The key of a chain: the name it starts at and the type asked.
type Key = (Name, RecordType);

#[derive(Debug)]
struct Entry {
    chain: Arc<Chain>,
    expires: Instant,
    seq: u64,
}

/// Complete chains, kept for their TTL, at most `capacity` of them.
#[derive(Debug)]
pub struct ChainCache {
    capacity: usize,
    /// By name, then type (a name is asked for one or two types): a lookup clones nothing.
    entries: HashMap<Name, Vec<(RecordType, Entry)>>,
    len: usize,
    /// Every entry by (expiry, insertion number): the first is the next to expire.
    by_expiry: BTreeMap<(Instant, u64), Key>,
    next_seq: u64,
    evicted: u64,
}

impl ChainCache {
    /// An empty cache for at most `capacity` chains (0: nothing is cached).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            len: 0,
            by_expiry: BTreeMap::new(),
            next_seq: 0,
            evicted: 0,
        }
    }

    /// The chain for `name`/`qtype` at `now`, and how long it still holds.
    pub fn get(&self, name: &Name, qtype: RecordType, now: Instant) -> Option<(Arc<Chain>, Duration)> {
        let (_, entry) = self.entries.get(name)?.iter().find(|(t, _)| *t == qtype)?;
        let left = entry
            .expires
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())?;
        Some((entry.chain.clone(), left))
    }

    /// Keeps `chain` for `name`/`qtype` from `now` for its TTL (not at all when that is 0),
    /// replacing what was there. Expired entries go first; if the cache is still full, the entry
    /// closest to expiry makes room.
    pub fn insert(&mut self, name: Name, qtype: RecordType, chain: Arc<Chain>, now: Instant) {
        let key = (name, qtype);
        self.remove(&key);
        self.purge(now);
        if chain.ttl == 0 || self.capacity == 0 {
            return;
        }
        while self.len >= self.capacity {
            let Some((_, key)) = self.by_expiry.pop_first() else {
                break;
            };
            self.take(&key);
            self.evicted += 1;
        }
        let expires = now + Duration::from_secs(u64::from(chain.ttl));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_expiry.insert((expires, seq), key.clone());
        let (name, qtype) = key;
        self.entries
            .entry(name)
            .or_default()
            .push((qtype, Entry { chain, expires, seq }));
        self.len += 1;
    }

    /// Drops the entries expired at `now`.
    pub fn purge(&mut self, now: Instant) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.take(&key);
        }
    }

    /// Removes an entry and its place in the expiry order.
    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.take(key) {
            self.by_expiry.remove(&(old.expires, old.seq));
        }
    }

    /// Removes an entry from the map only.
    fn take(&mut self, (name, qtype): &Key) -> Option<Entry> {
        let types = self.entries.get_mut(name)?;
        let i = types.iter().position(|(t, _)| t == qtype)?;
        let (_, entry) = types.swap_remove(i);
        if types.is_empty() {
            self.entries.remove(name);
        }
        self.len -= 1;
        Some(entry)
    }

    /// How many chains are kept (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no chain is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many entries were dropped to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// What a waiting query gets.
type Outcome = Option<Result<Arc<Chain>, ChainError>>;

/// Federated chains from the cache or the upstream, one lookup in flight per name and type.
/// Cloning gives another handle to the same cache.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    upstream: Arc<dyn Exchange>,
    timeout: Duration,
    cache: RwLock<ChainCache>,
    inflight: Mutex<HashMap<Key, watch::Receiver<Outcome>>>,
    /// Where lookups run, so that one outlives the query that started it.
    runtime: tokio::runtime::Handle,
    metrics: Arc<StubMetrics>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver asking `upstream`, a chain given at most `timeout`, at most `capacity` chains
    /// cached. Lookups run on the current runtime.
    pub fn new(
        upstream: Arc<dyn Exchange>,
        timeout: Duration,
        capacity: usize,
        metrics: Arc<StubMetrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                upstream,
                timeout,
                cache: RwLock::new(ChainCache::new(capacity)),
                inflight: Mutex::new(HashMap::new()),
                runtime: tokio::runtime::Handle::current(),
                metrics,
            }),
        }
    }

    /// The complete chain for `name`/`qtype` and how long it still holds.
    pub async fn resolve(
        &self,
        name: &Name,
        qtype: RecordType,
    ) -> Result<(Arc<Chain>, Duration), ChainError> {
        let inner = &self.inner;
        if let Some(hit) = inner.cached(name, qtype) {
            inner.metrics.cache_hit();
            return Ok(hit);
        }
        let mut waiting = {
            let mut inflight = inner.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            // A lookup may have finished between the first look and the lock.
            if let Some(hit) = inner.cached(name, qtype) {
                inner.metrics.cache_hit();
                return Ok(hit);
            }
            let key = (name.clone(), qtype);
            match inflight.get(&key) {
                Some(rx) => {
                    inner.metrics.coalesced();
                    rx.clone()
                }
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(key, rx.clone());
                    inner
                        .runtime
                        .spawn(lookup(self.inner.clone(), name.clone(), qtype, tx));
                    rx
                }
            }
        };
        let outcome = match waiting.wait_for(Option::is_some).await {
            Ok(done) => done.clone(),
            Err(_) => None,
        };
        match outcome {
            Some(Ok(chain)) => {
                let left = Duration::from_secs(u64::from(chain.ttl));
                Ok((chain, left))
            }
            Some(Err(e)) => Err(e),
            None => Err(ChainError::Stopped { name: name.clone() }),
        }
    }

    /// The cached chain for `name`/`qtype` and how long it still holds, without a lookup (and
    /// without counting a hit).
    pub fn cached(&self, name: &Name, qtype: RecordType) -> Option<(Arc<Chain>, Duration)> {
        self.inner.cached(name, qtype)
    }

    /// How many chains are cached now (expired ones included until purged).
    pub fn cached_chains(&self) -> usize {
        self.inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Inner {
    fn cached(&self, name: &Name, qtype: RecordType) -> Option<(Arc<Chain>, Duration)> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name, qtype, Instant::now())
    }
}

/// One lookup: resolves, caches a complete chain, then lets the waiting queries have it.
async fn lookup(inner: Arc<Inner>, name: Name, qtype: RecordType, done: watch::Sender<Outcome>) {
    inner.metrics.upstream_lookup();
    let deadline = tokio::time::Instant::now() + inner.timeout;
    let queries = || inner.metrics.upstream_query();
    let result = complete(&*inner.upstream, &name, qtype, deadline, &queries).await;
    let result = match result {
        Ok(chain) => {
            let chain = Arc::new(chain);
            let mut cache = inner.cache.write().unwrap_or_else(PoisonError::into_inner);
            cache.insert(name.clone(), qtype, chain.clone(), Instant::now());
            inner.metrics.set_cache(cache.len(), cache.evicted());
            debug!(%name, %qtype, ttl = chain.ttl, records = chain.records.len(), "federated chain resolved");
            Ok(chain)
        }
        Err(e) => {
            inner.metrics.chain_failure(e.reason());
            warn!(error = %e, "cannot complete a federated answer; answering SERVFAIL");
            Err(e)
        }
    };
    // Cached first, then no longer in flight: a query arriving in between finds one or the other.
    inner
        .inflight
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&(name, qtype));
    let _ = done.send(Some(result));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hickory_proto::op::{Message, MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use tokio::sync::Semaphore;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn cname(from: &str, to: &str, ttl: u32) -> Record {
        Record::from_rdata(name(from), ttl, RData::CNAME(CNAME(name(to))))
    }

    fn a(owner: &str, ip: [u8; 4], ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A::from(std::net::Ipv4Addr::from(ip))))
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let data = SOA::new(
            name("ns.example.com."),
            name("h.example.com."),
            1,
            1,
            1,
            1,
            minimum,
        );
        Record::from_rdata(name(zone), ttl, RData::SOA(data))
    }

    fn response(rcode: ResponseCode, answers: Vec<Record>, authorities: Vec<Record>) -> Message {
        let mut m = Message::new(0, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.answers = answers;
        m.authorities = authorities;
        m
    }

    const ZONE: &str = "web.shop.myfed.svc.z1.r1.example.com.";
    const REGION: &str = "web.shop.myfed.svc.r1.example.com.";
    const GLOBAL: &str = "web.shop.myfed.svc.example.com.";

    /// Answers from a table of (name, type) → response, counting queries; a name missing from
    /// the table times out. A semaphore, when set, holds every answer until released.
    struct Table {
        answers: HashMap<(Name, RecordType), Result<Message, UpstreamError>>,
        asked: AtomicUsize,
        gate: Option<Arc<Semaphore>>,
    }

    impl Table {
        fn new(entries: Vec<(&str, RecordType, Result<Message, UpstreamError>)>) -> Self {
            Self {
                answers: entries.into_iter().map(|(n, t, r)| ((name(n), t), r)).collect(),
                asked: AtomicUsize::new(0),
                gate: None,
            }
        }
    }

    fn server() -> std::net::SocketAddr {
        "127.0.0.1:53".parse().unwrap()
    }

    #[async_trait::async_trait]
    impl Exchange for Table {
        async fn exchange(
            &self,
            name: &Name,
            qtype: RecordType,
            _deadline: tokio::time::Instant,
        ) -> Result<Message, UpstreamError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                let _permit = gate.acquire().await.unwrap();
            }
            self.answers
                .get(&(name.clone(), qtype))
                .cloned()
                .unwrap_or(Err(UpstreamError::Timeout {
                    server: server(),
                    waited: Duration::from_secs(1),
                }))
        }
    }

    async fn run(table: &Table, qtype: RecordType) -> Result<Chain, ChainError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        complete(table, &name(ZONE), qtype, deadline, &|| {}).await
    }

    fn texts(chain: &Chain) -> Vec<String> {
        chain
            .records
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
            .collect()
    }

    #[tokio::test]
    async fn a_whole_chain_in_one_answer_is_taken_with_its_smallest_ttl() {
        let table = Table::new(vec![(
            ZONE,
            RecordType::A,
            Ok(response(
                ResponseCode::NoError,
                vec![
                    cname(ZONE, REGION, 300),
                    cname(REGION, GLOBAL, 60),
                    a(GLOBAL, [203, 0, 113, 10], 120),
                    a(GLOBAL, [198, 51, 100, 1], 120),
                    // Not on the chain: left out.
                    a("other.example.com.", [192, 0, 2, 1], 5),
                ],
                vec![],
            )),
        )]);
        let chain = run(&table, RecordType::A).await.unwrap();
        assert_eq!(
            texts(&chain),
            [
                format!("{ZONE} CNAME {REGION}"),
                format!("{REGION} CNAME {GLOBAL}"),
                format!("{GLOBAL} A 203.0.113.10"),
                format!("{GLOBAL} A 198.51.100.1"),
            ]
        );
        assert_eq!((chain.ttl, chain.is_nodata()), (60, false));
        assert_eq!(table.asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cnames_an_answer_does_not_resolve_are_asked_for() {
        // What an authoritative server answers: its own zone's CNAMEs, then nothing.
        let table = Table::new(vec![
            (
                ZONE,
                RecordType::A,
                Ok(response(
                    ResponseCode::NoError,
                    vec![cname(ZONE, REGION, 30)],
                    vec![],
                )),
            ),
            (
                REGION,
                RecordType::A,
                Ok(response(
                    ResponseCode::NoError,
                    vec![cname(REGION, "lb.elb.example.net.", 40)],
                    vec![],
                )),
            ),
            (
                "lb.elb.example.net.",
                RecordType::A,
                Ok(response(
                    ResponseCode::NoError,
                    vec![a("lb.elb.example.net.", [192, 0, 2, 7], 20)],
                    vec![],
                )),
            ),
        ]);
        let chain = run(&table, RecordType::A).await.unwrap();
        assert_eq!(chain.records.len(), 3);
        assert_eq!(chain.ttl, 20);
        assert_eq!(table.asked.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn nodata_at_the_end_is_complete_for_the_soas_negative_ttl() {
        let table = Table::new(vec![(
            ZONE,
            RecordType::AAAA,
            Ok(response(
                ResponseCode::NoError,
                vec![cname(ZONE, GLOBAL, 300)],
                vec![soa("example.com.", 3600, 45)],
            )),
        )]);
        // The CNAME's target is asked again; this time nothing is followed: NODATA.
        let mut table = table;
        table.answers.insert(
            (name(GLOBAL), RecordType::AAAA),
            Ok(response(
                ResponseCode::NoError,
                vec![],
                vec![soa("example.com.", 3600, 45)],
            )),
        );
        let chain = run(&table, RecordType::AAAA).await.unwrap();
        assert!(chain.is_nodata());
        assert_eq!(chain.records.len(), 1);
        assert_eq!(chain.ttl, 45);
        assert_eq!(chain.soa.as_ref().unwrap().ttl, 45);
        // Without an SOA, a NODATA end is not cacheable.
        table.answers.insert(
            (name(GLOBAL), RecordType::AAAA),
            Ok(response(ResponseCode::NoError, vec![], vec![])),
        );
        let chain = run(&table, RecordType::AAAA).await.unwrap();
        assert_eq!((chain.ttl, chain.soa.is_none()), (0, true));
    }

    /// The zone name's answer: a CNAME to the global name, and nothing about it.
    fn zone_to_global() -> (&'static str, RecordType, Result<Message, UpstreamError>) {
        (
            ZONE,
            RecordType::A,
            Ok(response(
                ResponseCode::NoError,
                vec![cname(ZONE, GLOBAL, 30)],
                vec![],
            )),
        )
    }

    #[tokio::test]
    async fn broken_chains_fail_with_their_reason() {
        let upstream_err = |rcode| {
            Err(UpstreamError::Rcode {
                server: server(),
                rcode,
            })
        };
        type Entries = Vec<(&'static str, RecordType, Result<Message, UpstreamError>)>;
        let cases: Vec<(Entries, &str)> = vec![
            // Nothing answers.
            (vec![], "timeout"),
            (
                vec![(ZONE, RecordType::A, upstream_err(ResponseCode::ServFail))],
                "servfail",
            ),
            (
                vec![(ZONE, RecordType::A, upstream_err(ResponseCode::Refused))],
                "rcode",
            ),
            // The end of the chain does not exist, in the same answer or asked later.
            (
                vec![(
                    ZONE,
                    RecordType::A,
                    Ok(response(
                        ResponseCode::NXDomain,
                        vec![cname(ZONE, GLOBAL, 30)],
                        vec![],
                    )),
                )],
                "nxdomain",
            ),
            (
                vec![
                    zone_to_global(),
                    (
                        GLOBAL,
                        RecordType::A,
                        Ok(response(ResponseCode::NXDomain, vec![], vec![])),
                    ),
                ],
                "nxdomain",
            ),
            // The target times out.
            (vec![zone_to_global()], "timeout"),
            // A loop.
            (
                vec![(
                    ZONE,
                    RecordType::A,
                    Ok(response(
                        ResponseCode::NoError,
                        vec![cname(ZONE, REGION, 30), cname(REGION, ZONE, 30)],
                        vec![],
                    )),
                )],
                "chain",
            ),
        ];
        for (entries, reason) in cases {
            let table = Table::new(entries);
            let e = run(&table, RecordType::A).await.unwrap_err();
            assert_eq!(e.reason(), reason, "{e}");
        }
        // Too many CNAMEs, each in its own answer.
        let names: Vec<String> = (0..=MAX_CNAMES + 1)
            .map(|i| format!("n{i}.example.com."))
            .collect();
        let mut entries = vec![(
            ZONE,
            RecordType::A,
            Ok(response(
                ResponseCode::NoError,
                vec![cname(ZONE, &names[0], 30)],
                vec![],
            )),
        )];
        for pair in names.windows(2) {
            entries.push((
                pair[0].as_str(),
                RecordType::A,
                Ok(response(
                    ResponseCode::NoError,
                    vec![cname(&pair[0], &pair[1], 30)],
                    vec![],
                )),
            ));
        }
        let table = Table::new(entries);
        assert_eq!(run(&table, RecordType::A).await.unwrap_err().reason(), "chain");
    }

    fn chain(ttl: u32) -> Arc<Chain> {
        Arc::new(Chain::new(vec![a(GLOBAL, [192, 0, 2, 1], ttl)].into(), None, ttl))
    }

    #[test]
    fn a_chain_is_served_with_one_ttl_copied_once_per_ttl() {
        let chain = Chain::new(
            vec![cname(ZONE, GLOBAL, 300), a(GLOBAL, [192, 0, 2, 1], 60)].into(),
            Some(soa("example.com.", 30, 30)),
            60,
        );
        let first = chain.served(20);
        assert!(first.records.iter().all(|r| r.ttl == 20));
        assert_eq!(first.soa.as_ref().unwrap().ttl, 20);
        assert!(Arc::ptr_eq(&first, &chain.served(20)));
        let later = chain.served(45);
        assert!(later.records.iter().all(|r| r.ttl == 45));
        // The SOA never holds longer than its negative TTL.
        assert_eq!(later.soa.as_ref().unwrap().ttl, 30);
        assert_eq!(chain.records[0].ttl, 300);
    }

    #[test]
    fn the_cache_keeps_a_chain_for_its_ttl() {
        let t0 = Instant::now();
        let mut cache = ChainCache::new(10);
        cache.insert(name(ZONE), RecordType::A, chain(30), t0);
        let (_, left) = cache.get(&name(ZONE), RecordType::A, t0).unwrap();
        assert_eq!(left, Duration::from_secs(30));
        // Any case of the name; not another type.
        let upper = name(&ZONE.to_ascii_uppercase());
        let (_, left) = cache
            .get(&upper, RecordType::A, t0 + Duration::from_secs(10))
            .unwrap();
        assert_eq!(left, Duration::from_secs(20));
        assert!(cache.get(&name(ZONE), RecordType::AAAA, t0).is_none());
        assert!(
            cache
                .get(&name(ZONE), RecordType::A, t0 + Duration::from_secs(30))
                .is_none()
        );
        // Expired entries are dropped when something is inserted.
        cache.insert(
            name(GLOBAL),
            RecordType::A,
            chain(5),
            t0 + Duration::from_secs(31),
        );
        assert_eq!(cache.len(), 1);
        // A TTL of 0 is not kept, and replaces what was there.
        cache.insert(
            name(GLOBAL),
            RecordType::A,
            chain(0),
            t0 + Duration::from_secs(32),
        );
        assert!(cache.is_empty());
        let mut none = ChainCache::new(0);
        none.insert(name(ZONE), RecordType::A, chain(30), t0);
        assert!(none.is_empty());
    }

    #[test]
    fn a_full_cache_drops_the_entry_closest_to_expiry() {
        let t0 = Instant::now();
        let mut cache = ChainCache::new(3);
        for (i, ttl) in [(0, 50), (1, 10), (2, 30)] {
            cache.insert(name(&format!("n{i}.example.com.")), RecordType::A, chain(ttl), t0);
        }
        cache.insert(name("n3.example.com."), RecordType::A, chain(20), t0);
        assert_eq!((cache.len(), cache.evicted()), (3, 1));
        assert!(cache.get(&name("n1.example.com."), RecordType::A, t0).is_none());
        for i in [0, 2, 3] {
            assert!(
                cache
                    .get(&name(&format!("n{i}.example.com.")), RecordType::A, t0)
                    .is_some()
            );
        }
        // Replacing an entry takes no room.
        cache.insert(name("n0.example.com."), RecordType::A, chain(60), t0);
        assert_eq!((cache.len(), cache.evicted()), (3, 1));
        // Expired entries make room before live ones are dropped.
        cache.insert(
            name("n4.example.com."),
            RecordType::A,
            chain(60),
            t0 + Duration::from_secs(25),
        );
        assert_eq!((cache.len(), cache.evicted()), (3, 1));
        assert!(
            cache
                .get(
                    &name("n2.example.com."),
                    RecordType::A,
                    t0 + Duration::from_secs(25)
                )
                .is_some()
        );
    }

    fn full_chain_table() -> Table {
        Table::new(vec![(
            ZONE,
            RecordType::A,
            Ok(response(
                ResponseCode::NoError,
                vec![cname(ZONE, GLOBAL, 30), a(GLOBAL, [192, 0, 2, 1], 30)],
                vec![],
            )),
        )])
    }

    /// `n` queries for the zone name through a resolver whose upstream holds every answer until
    /// the returned semaphore lets it go; returns once all of them wait on the one lookup.
    async fn waiting_queries(
        table: Table,
        n: usize,
    ) -> (
        Arc<Table>,
        Arc<StubMetrics>,
        Resolver,
        Arc<Semaphore>,
        Vec<tokio::task::JoinHandle<Result<(Arc<Chain>, Duration), ChainError>>>,
    ) {
        let gate = Arc::new(Semaphore::new(0));
        let mut table = table;
        table.gate = Some(gate.clone());
        let table = Arc::new(table);
        let metrics = Arc::new(StubMetrics::new());
        let resolver = Resolver::new(table.clone(), Duration::from_secs(5), 100, metrics.clone());
        let queries = (0..n)
            .map(|_| {
                let r = resolver.clone();
                tokio::spawn(async move { r.resolve(&name(ZONE), RecordType::A).await })
            })
            .collect();
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        while metrics.coalesced_count() < n as u64 - 1 {
            assert!(tokio::time::Instant::now() < end, "queries did not coalesce");
            tokio::task::yield_now().await;
        }
        (table, metrics, resolver, gate, queries)
    }

    #[tokio::test]
    async fn concurrent_queries_share_one_lookup_and_later_ones_hit_the_cache() {
        let (table, metrics, resolver, gate, queries) = waiting_queries(full_chain_table(), 20).await;
        gate.add_permits(100);
        for q in queries {
            let (chain, _) = q.await.unwrap().unwrap();
            assert_eq!(chain.records.len(), 2);
        }
        assert_eq!(table.asked.load(Ordering::SeqCst), 1);
        assert_eq!(metrics.upstream_lookup_count(), 1);
        resolver.resolve(&name(ZONE), RecordType::A).await.unwrap();
        assert_eq!(
            (table.asked.load(Ordering::SeqCst), metrics.cache_hit_count()),
            (1, 1)
        );
        assert_eq!(resolver.cached_chains(), 1);
        // Another type is another lookup.
        assert!(resolver.resolve(&name(ZONE), RecordType::AAAA).await.is_err());
        assert_eq!(table.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_shared_by_the_waiting_queries_and_not_cached() {
        let (table, metrics, resolver, gate, queries) = waiting_queries(Table::new(vec![]), 5).await;
        gate.add_permits(100);
        for q in queries {
            assert_eq!(q.await.unwrap().unwrap_err().reason(), "timeout");
        }
        assert_eq!(metrics.chain_failure_count("timeout"), 1);
        assert!(resolver.resolve(&name(ZONE), RecordType::A).await.is_err());
        assert_eq!(table.asked.load(Ordering::SeqCst), 2);
        assert_eq!(resolver.cached_chains(), 0);
    }
}
