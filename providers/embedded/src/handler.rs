//! The zone handler hickory's `Catalog` asks: it answers from the provider's zone, building the
//! few hickory records an answer needs when the query comes, so the zone is kept once.
//!
//! It answers the way hickory's in-memory zone handler does for the same records: an NS set
//! below the apex is a delegation (a referral for the names at and below it); otherwise the set
//! of the queried type at the name, or its CNAME, which is followed inside the zone (at most
//! eight sets, stopping at a loop) for any other queried type; failing that, a wildcard
//! `*.<parent>` for the nearest parent that has one. ANY is answered with one type of the name
//! (CNAME, A, AAAA or MX first). NS, MX and SRV answers carry the addresses of their in-zone
//! targets as additionals. A name with no answer is NODATA when it holds sets or has names
//! below it, and NXDOMAIN otherwise; the `Catalog` adds the SOA to negative answers and the
//! NS set to SOA answers, and handles EDNS, truncation and AXFR (refused).

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use feddns_provider::{RecordSet, in_zone};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{self, LowerName, RData, TSigResponseContext};
use hickory_server::server::{Request, RequestInfo};
use hickory_server::zone_handler::{
    AuthLookup, AxfrPolicy, LookupControlFlow, LookupError, LookupOptions, LookupRecords, ZoneHandler,
    ZoneTransfer, ZoneType,
};

use crate::records::{self, Apex};
use crate::zone::{Served, ancestors, parents};

/// How many sets a CNAME chain followed inside the zone may have, the first CNAME included.
const MAX_CHAIN: usize = 8;

/// An RRset of an answer, as hickory's lookup results hold them.
type Rrset = Arc<rr::RecordSet>;

/// Answers queries for one zone from the provider's [`Served`] state.
pub(crate) struct ZoneServer {
    apex: Arc<Apex>,
    origin: LowerName,
    served: Arc<RwLock<Served>>,
}

impl ZoneServer {
    pub(crate) fn new(apex: Arc<Apex>, served: Arc<RwLock<Served>>) -> Self {
        Self {
            origin: LowerName::new(&apex.origin),
            apex,
            served,
        }
    }

    /// The answer to one query, computed under one read lock of the zone.
    fn answer(
        &self,
        name: &LowerName,
        qtype: rr::RecordType,
        options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        use LookupControlFlow::{Break, Continue};
        if qtype == rr::RecordType::AXFR {
            return Break(Err(LookupError::NetError(
                "AXFR is answered by zone_transfer".into(),
            )));
        }
        let key = records::key(name);
        let served = self.served.read().unwrap_or_else(PoisonError::into_inner);
        let view = View {
            apex: &self.apex,
            served: &served,
        };
        let qtype = if qtype == rr::RecordType::ANY {
            view.any_type(&key)
        } else {
            qtype
        };
        let (answer, chain) = match view.find(&key, qtype) {
            Some(first) if first.record_type() == rr::RecordType::CNAME && qtype != rr::RecordType::CNAME => {
                let chain = view.chase(&key, first, qtype);
                let last = chain
                    .last()
                    .filter(|s| s.record_type() != rr::RecordType::CNAME)
                    .cloned();
                (last, Some(chain))
            }
            found => (found, None),
        };
        let additionals = answer.as_ref().and_then(|a| view.additionals(a, qtype));
        let answers = match (chain, answer) {
            (Some(chain), _) => LookupRecords::many(options, chain),
            (None, Some(set)) => LookupRecords::new(options, set),
            (None, None) => {
                // The apex exists (SOA), and so do the names above it (the apex is below them),
                // though the catalog only asks about names at or below the apex.
                let error = if in_zone(&self.apex.zone, &key) || served.exists(&key) {
                    LookupError::NameExists
                } else if self.origin.zone_of(name) {
                    LookupError::from(ResponseCode::NXDomain)
                } else {
                    LookupError::from(ResponseCode::Refused)
                };
                return Continue(Err(error));
            }
        };
        Continue(Ok(AuthLookup::answers(
            answers,
            additionals.map(|a| LookupRecords::many(options, a)),
        )))
    }
}

#[async_trait]
impl ZoneHandler for ZoneServer {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.origin
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: rr::RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        self.answer(name, rtype, lookup_options)
    }

    async fn search(
        &self,
        request: &Request,
        lookup_options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let flow = match request.request_info() {
            Ok(info) => self.answer(info.query.name(), info.query.query_type(), lookup_options),
            Err(e) => LookupControlFlow::Break(Err(e)),
        };
        (flow, None)
    }

    async fn nsec_records(
        &self,
        _name: &LowerName,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Continue(Ok(AuthLookup::default()))
    }

    /// Zone transfers are refused ([`AxfrPolicy::Deny`]).
    async fn zone_transfer(
        &self,
        request: &Request,
        _lookup_options: LookupOptions,
        _now: u64,
    ) -> Option<(Result<ZoneTransfer, LookupError>, Option<TSigResponseContext>)> {
        let refused = match request.request_info() {
            Ok(_) => LookupError::from(ResponseCode::Refused),
            Err(e) => e,
        };
        Some((Err(refused), None))
    }
}

/// Where a set at a name comes from: the apex SOA and NS the server keeps, or the zone.
#[derive(Clone, Copy)]
enum Source<'a> {
    Soa,
    Ns,
    Zone(&'a RecordSet),
}

/// The zone under the read lock, as one query sees it. Names are keys: lower-case presentation
/// form without the trailing dot.
struct View<'a> {
    apex: &'a Apex,
    served: &'a Served,
}

impl<'a> View<'a> {
    /// The sets at `name` with their hickory types (the first set of a type, if the zone holds
    /// several with set identifiers).
    fn at(&self, name: &str) -> impl Iterator<Item = (rr::RecordType, Source<'a>)> {
        let apex = (name == self.apex.zone)
            .then_some([
                (rr::RecordType::SOA, Source::Soa),
                (rr::RecordType::NS, Source::Ns),
            ])
            .into_iter()
            .flatten();
        let sets = self
            .served
            .zone()
            .sets_at(name)
            .filter_map(|s| Some((records::hickory_type(&s.rtype).ok()?, Source::Zone(s))));
        apex.chain(sets)
    }

    /// The hickory RRset of one set, owned by `name`.
    fn build(&self, name: &str, rtype: rr::RecordType, source: Source<'_>) -> Option<Rrset> {
        let set = match source {
            Source::Soa => self.apex.soa(self.served.serial()),
            Source::Ns => self.apex.ns(),
            Source::Zone(set) => records::rrset(records::fqdn(name).ok()?, rtype, set),
        };
        Some(Arc::new(set))
    }

    /// What the zone has for `name` and `qtype`: a delegation's NS set at or above the name,
    /// the set of that type or a CNAME at the name, or a wildcard's set.
    fn find(&self, name: &str, qtype: rr::RecordType) -> Option<Rrset> {
        if !in_zone(name, &self.apex.zone) {
            return None;
        }
        let cuts = std::iter::once(name)
            .filter(|_| name != self.apex.zone && qtype != rr::RecordType::DS)
            .chain(ancestors(name, &self.apex.zone));
        for cut in cuts {
            if let Some((t, source)) = self.at(cut).find(|(t, _)| *t == rr::RecordType::NS) {
                return self.build(cut, t, source);
            }
        }
        if let Some((t, source)) = self
            .at(name)
            .find(|(t, _)| *t == qtype || *t == rr::RecordType::CNAME)
        {
            return self.build(name, t, source);
        }
        self.wildcard(name, qtype)
    }

    /// The set of the nearest wildcard `*.<parent>` of `name` that answers `qtype`, owned by
    /// `name`.
    fn wildcard(&self, name: &str, qtype: rr::RecordType) -> Option<Rrset> {
        if name == "*" || name.starts_with("*.") {
            return None;
        }
        for parent in parents(name).take_while(|p| in_zone(p, &self.apex.zone)) {
            if let Some(set) = self.find(&format!("*.{parent}"), qtype) {
                let mut renamed =
                    rr::RecordSet::with_ttl(records::fqdn(name).ok()?, set.record_type(), set.ttl());
                for record in set.records_without_rrsigs() {
                    renamed.add_rdata(record.data.clone());
                }
                return Some(Arc::new(renamed));
            }
        }
        None
    }

    /// The CNAME chain from `first` (the CNAME at `name`), followed inside the zone for
    /// `qtype`: CNAMEs, then the set of `qtype` if the chain ends at one.
    fn chase(&self, name: &str, first: Rrset, qtype: rr::RecordType) -> Vec<Rrset> {
        let mut seen = vec![name.to_string()];
        let mut chain = vec![first];
        while chain.len() < MAX_CHAIN {
            let Some(target) = chain.last().and_then(|s| cname_target(s)) else {
                break;
            };
            if seen.contains(&target) {
                break;
            }
            let found = self.find(&target, qtype);
            seen.push(target);
            match found {
                Some(set) if set.record_type() == rr::RecordType::CNAME => chain.push(set),
                Some(set) => {
                    chain.push(set);
                    break;
                }
                None => break,
            }
        }
        chain
    }

    /// For an NS, MX or SRV answer, the A and AAAA sets (and CNAMEs on the way) of its target
    /// inside the zone.
    fn additionals(&self, answer: &rr::RecordSet, qtype: rr::RecordType) -> Option<Vec<Rrset>> {
        let target = match (&answer.records_without_rrsigs().next()?.data, qtype) {
            (RData::NS(ns), rr::RecordType::NS) => &ns.0,
            (RData::MX(mx), rr::RecordType::MX) => &mx.exchange,
            (RData::SRV(srv), rr::RecordType::SRV) => &srv.target,
            _ => return None,
        };
        let target = records::key(&LowerName::new(target));
        let mut found: Vec<Rrset> = Vec::new();
        for rtype in [rr::RecordType::A, rr::RecordType::AAAA] {
            let mut visited: Vec<String> = Vec::new();
            let mut next = Some(target.clone());
            while let Some(name) = next.take() {
                if visited.contains(&name) {
                    break;
                }
                let set = self.find(&name, rtype);
                visited.push(name);
                if let Some(set) = set {
                    next = cname_target(&set);
                    if !found.contains(&set) {
                        found.push(set);
                    }
                }
            }
        }
        (!found.is_empty()).then_some(found)
    }

    /// The type an ANY query at `name` is answered with: the first of CNAME, A, MX and AAAA
    /// (in type-number order) the name has, else its first type, else A.
    fn any_type(&self, name: &str) -> rr::RecordType {
        use rr::RecordType::{A, AAAA, CNAME, MX};
        let types = || self.at(name).map(|(t, _)| t);
        types()
            .filter(|t| matches!(t, CNAME | A | AAAA | MX))
            .min()
            .or_else(|| types().min())
            .unwrap_or(A)
    }
}

/// The target of a CNAME set, as a key.
fn cname_target(set: &rr::RecordSet) -> Option<String> {
    match &set.records_without_rrsigs().next()?.data {
        RData::CNAME(cname) => Some(records::key(&LowerName::new(&cname.0))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: the same zones served by hickory's in-memory zone handler (the
    //! handler this one replaces, filled the way the provider used to fill it) and by this
    //! handler answer every query alike, record for record.

    use std::collections::BTreeMap;

    use feddns_provider::{Change, Limits, RecordType, ZoneState};
    use hickory_proto::rr::{Name, RrKey};
    use hickory_server::net::runtime::TokioRuntimeProvider;
    use hickory_server::store::in_memory::InMemoryZoneHandler;

    use super::*;

    const ZONE: &str = "example.com";

    /// A small deterministic generator (64-bit LCG), so a failing zone can be rebuilt from its
    /// seed.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &'a [String]) -> &'a String {
            &items[self.below(items.len())]
        }
    }

    /// Names of one or two labels from a few, under the apex, wildcards and companions included.
    fn pool() -> Vec<String> {
        let labels = ["a", "b", "*", "_feddns", "mail"];
        let mut names = vec![ZONE.to_string()];
        for l1 in labels {
            names.push(format!("{l1}.{ZONE}"));
            for l2 in labels {
                names.push(format!("{l2}.{l1}.{ZONE}"));
            }
        }
        names
    }

    fn random_set(rng: &mut Lcg, names: &[String]) -> feddns_provider::RecordSet {
        let name = rng.pick(names).clone();
        let target = |rng: &mut Lcg| {
            if rng.below(5) == 0 {
                "elsewhere.example.net".to_string()
            } else {
                rng.pick(names).clone()
            }
        };
        let ttl = 60 + rng.below(3) as u32 * 60;
        let values = |rng: &mut Lcg, f: &dyn Fn(usize) -> String| -> Vec<String> {
            (0..1 + rng.below(3)).map(|_| f(rng.below(4))).collect()
        };
        let (rtype, values) = match rng.below(8) {
            0 | 1 => (RecordType::A, values(rng, &|i| format!("192.0.2.{i}"))),
            2 => (RecordType::Aaaa, values(rng, &|i| format!("2001:db8::{i}"))),
            3 => (RecordType::Txt, values(rng, &|i| format!("t{i}"))),
            4 | 5 => (RecordType::Cname, vec![target(rng)]),
            6 => {
                let t = target(rng);
                (RecordType::Other("MX".into()), vec![format!("10 {t}.")])
            }
            _ if name != ZONE => {
                let t = target(rng);
                (RecordType::Other("NS".into()), vec![format!("{t}.")])
            }
            _ => {
                let t = target(rng);
                (RecordType::Other("SRV".into()), vec![format!("0 0 80 {t}.")])
            }
        };
        feddns_provider::RecordSet::new(&name, rtype, ttl, values)
    }

    /// A zone of `changes` random sets (those the zone rules refuse are left out).
    fn random_zone(seed: u64, changes: usize) -> Vec<feddns_provider::RecordSet> {
        let names = pool();
        let mut rng = Lcg(seed);
        (0..changes).map(|_| random_set(&mut rng, &names)).collect()
    }

    /// The zone of `sets` (those the zone rules refuse are left out), served by this handler
    /// and, copied set by set, by hickory's in-memory handler.
    fn zones(
        sets: Vec<feddns_provider::RecordSet>,
    ) -> (ZoneServer, InMemoryZoneHandler<TokioRuntimeProvider>) {
        let apex = Arc::new(Apex::new(ZONE).unwrap());
        let mut served = Served::new(ZoneState::new(ZONE, crate::CAPABILITIES, Limits::default()), 1);
        for new in sets {
            let change = Change::create(new);
            if records::check(&change, &apex).is_ok() {
                let _refused_by_the_zone_rules = served.apply(&[change]);
            }
        }
        let mut oracle = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            apex.origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let mut copied: BTreeMap<RrKey, Arc<rr::RecordSet>> = BTreeMap::new();
        copied.insert(
            RrKey::new(LowerName::new(&apex.origin), rr::RecordType::SOA),
            Arc::new(apex.soa(served.serial())),
        );
        copied.insert(
            RrKey::new(LowerName::new(&apex.origin), rr::RecordType::NS),
            Arc::new(apex.ns()),
        );
        for set in served.zone().sets() {
            let rtype = records::hickory_type(&set.rtype).unwrap();
            let name = records::fqdn(&set.name).unwrap();
            copied.insert(
                RrKey::new(LowerName::new(&name), rtype),
                Arc::new(records::rrset(name, rtype, set)),
            );
        }
        *oracle.records_get_mut() = copied;
        let ours = ZoneServer::new(apex, Arc::new(RwLock::new(served)));
        (ours, oracle)
    }

    /// Asks both handlers `name` / `rtype` and checks they answer alike; returns the outcome.
    async fn same(
        ours: &ZoneServer,
        oracle: &InMemoryZoneHandler<TokioRuntimeProvider>,
        name: &str,
        rtype: rr::RecordType,
        context: &str,
    ) -> Result<(Vec<rr::Record>, Vec<rr::Record>), String> {
        let q = LowerName::new(&Name::from_ascii(format!("{name}.")).unwrap());
        let want = outcome(oracle.lookup(&q, rtype, None, LookupOptions::default()).await);
        let got = outcome(ours.lookup(&q, rtype, None, LookupOptions::default()).await);
        assert_eq!(got, want, "{context}: {name} {rtype}");
        want
    }

    /// A lookup's outcome: the answer and additional records in order, or the kind of error.
    fn outcome(flow: LookupControlFlow<AuthLookup>) -> Result<(Vec<rr::Record>, Vec<rr::Record>), String> {
        match flow {
            LookupControlFlow::Continue(Ok(lookup)) => Ok((
                lookup.iter().cloned().collect(),
                lookup
                    .additionals()
                    .map(|a| a.cloned().collect())
                    .unwrap_or_default(),
            )),
            LookupControlFlow::Continue(Err(LookupError::NameExists)) => Err("NODATA".into()),
            LookupControlFlow::Continue(Err(e)) if e.is_nx_domain() => Err("NXDOMAIN".into()),
            LookupControlFlow::Continue(Err(e)) => Err(format!("error {e}")),
            other => Err(format!("flow {other}")),
        }
    }

    /// The names asked: every name of the pool, a name below each, and in upper case; names
    /// outside the zone.
    fn questions() -> Vec<String> {
        let mut q = Vec::new();
        for name in pool() {
            q.push(format!("x.{name}"));
            q.push(name.to_ascii_uppercase());
            q.push(name);
        }
        q.extend(["example.org".to_string(), "com".to_string()]);
        q
    }

    #[tokio::test]
    async fn every_query_is_answered_as_hickorys_in_memory_zone_answers_it() {
        use rr::RecordType as T;
        let types = [
            T::A,
            T::AAAA,
            T::CNAME,
            T::TXT,
            T::MX,
            T::NS,
            T::SOA,
            T::SRV,
            T::ANY,
            T::DS,
            T::PTR,
        ];
        let questions = questions();
        let mut answered = BTreeMap::<String, usize>::new();
        for seed in 0..30u64 {
            let (ours, oracle) = zones(random_zone(seed, 5 + (seed as usize % 40)));
            for name in &questions {
                for rtype in types {
                    let want = same(&ours, &oracle, name, rtype, &format!("seed {seed}")).await;
                    let kind = match &want {
                        Ok((answers, _)) if answers.is_empty() => "empty",
                        Ok((answers, _)) if answers[0].record_type() == T::NS && rtype != T::NS => "referral",
                        Ok(_) if name.starts_with("x.") => "wildcard",
                        Ok((answers, _)) if answers.iter().any(|r| r.record_type() == T::CNAME) => "cname",
                        Ok((_, adds)) if !adds.is_empty() => "additionals",
                        Ok(_) => "answer",
                        Err(e) => e.as_str(),
                    };
                    *answered.entry(kind.to_string()).or_default() += 1;
                }
            }
        }
        // The zones exercise every kind of answer.
        for kind in [
            "answer",
            "cname",
            "additionals",
            "referral",
            "wildcard",
            "NODATA",
            "NXDOMAIN",
        ] {
            assert!(answered.get(kind).copied().unwrap_or(0) > 100, "{answered:?}");
        }
    }

    #[tokio::test]
    async fn long_cname_chains_stop_where_hickory_stops() {
        let mut sets: Vec<feddns_provider::RecordSet> = (0..10)
            .map(|i| {
                feddns_provider::RecordSet::new(
                    &format!("c{i}.{ZONE}"),
                    RecordType::Cname,
                    60,
                    [format!("c{}.{ZONE}", i + 1)],
                )
            })
            .collect();
        sets.push(feddns_provider::RecordSet::new(
            &format!("c10.{ZONE}"),
            RecordType::A,
            60,
            ["192.0.2.1".to_string()],
        ));
        let (ours, oracle) = zones(sets);
        let mut lengths = Vec::new();
        for i in 0..=10 {
            let (answers, _) = same(
                &ours,
                &oracle,
                &format!("c{i}.{ZONE}"),
                rr::RecordType::A,
                "chain",
            )
            .await
            .unwrap();
            lengths.push(answers.len());
        }
        assert_eq!(lengths, [8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1]);
    }
}
