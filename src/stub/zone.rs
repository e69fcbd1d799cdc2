//! What the stub answers from, and the answer for one query name: no I/O.
//!
//! A [`Zone`] is an immutable, precompiled view of the stub's state (the federations map, this
//! node's zone and region, the local Services with ready endpoints). The Kubernetes side builds
//! a new one whenever something changes and swaps it into the server (see [`super::Shared`]);
//! a query only reads one.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::query::{Outcome, classify, classify_labels};
use crate::federation::names::{NameError, check_label, check_name};

/// SOA refresh of the served zone, in seconds (what CoreDNS' kubernetes plugin uses).
pub const SOA_REFRESH: i32 = 7200;
/// SOA retry, in seconds.
pub const SOA_RETRY: i32 = 1800;
/// SOA expire, in seconds.
pub const SOA_EXPIRE: i32 = 86_400;
/// SOA serial. The zone is never transferred, so it never changes.
pub const SOA_SERIAL: u32 = 1;

/// Settings fixed for the life of a stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubSettings {
    /// The cluster domain (`cluster.local`): lower-case, no trailing dot.
    pub cluster_domain: String,
    /// TTL of every answer (CNAMEs and the SOA), in seconds.
    pub ttl: u32,
}

impl StubSettings {
    /// Settings with the cluster domain normalized (lower-cased, one trailing dot removed) and
    /// checked; the error names `--cluster-domain`.
    pub fn new(cluster_domain: &str, ttl: u32) -> Result<Self, super::StubError> {
        let cd = cluster_domain
            .strip_suffix('.')
            .unwrap_or(cluster_domain)
            .to_ascii_lowercase();
        check_name("--cluster-domain", &cd).map_err(super::StubError::ClusterDomain)?;
        // `svc.<cd>` and the longest answer names must stay DNS names.
        Name::from_ascii(format!("ns.dns.{cd}.")).map_err(|source| super::StubError::ClusterDomainName {
            value: cd.clone(),
            source,
        })?;
        Ok(Self {
            cluster_domain: cd,
            ttl,
        })
    }
}

/// The zone and region of the node the stub runs on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// Its zone label.
    pub zone: String,
    /// Its region label.
    pub region: String,
}

impl Location {
    /// Both must be RFC 1123 labels to appear in a DNS name (the controller writes no names for
    /// other values either).
    pub fn check(&self) -> Result<(), NameError> {
        check_label("zone label", &self.zone)?;
        check_label("region label", &self.region)
    }
}

/// What the name of a local Service with a ready endpoint answers: `<svc>.<ns>.svc.<cd>.` and
/// its addresses (the ClusterIPs, or the ready endpoints' addresses of a headless Service), as
/// records compiled once with the stub's TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAnswer {
    /// `<svc>.<ns>.svc.<cluster-domain>.`
    pub target: Name,
    /// Its A records.
    pub a: Box<[Record]>,
    /// Its AAAA records.
    pub aaaa: Box<[Record]>,
}

impl LocalAnswer {
    /// The answer of Service `namespace/name` with `addrs` (sorted, duplicates removed here);
    /// `None` when the names cannot be built (labels the classifier never lets through).
    pub fn new(settings: &StubSettings, namespace: &str, name: &str, addrs: &[IpAddr]) -> Option<Self> {
        let target = Name::from_ascii(format!("{name}.{namespace}.svc.{}.", settings.cluster_domain)).ok()?;
        let mut addrs = addrs.to_vec();
        addrs.sort_unstable();
        addrs.dedup();
        let record = |data| Record::from_rdata(target.clone(), settings.ttl, data);
        let a = addrs
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) => Some(record(RData::A(A(*v4)))),
                IpAddr::V6(_) => None,
            })
            .collect();
        let aaaa = addrs
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V6(v6) => Some(record(RData::AAAA(AAAA(*v6)))),
                IpAddr::V4(_) => None,
            })
            .collect();
        Some(Self { target, a, aaaa })
    }

    /// The address records of `qtype` (none for other types).
    pub fn addresses(&self, qtype: RecordType) -> &[Record] {
        match qtype {
            RecordType::A => &self.a,
            RecordType::AAAA => &self.aaaa,
            _ => &[],
        }
    }
}

/// The local Services that have at least one ready endpoint and an address to answer, by
/// namespace and name, with their compiled answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalServices {
    by_namespace: HashMap<Box<str>, HashMap<Box<str>, Arc<LocalAnswer>>>,
    len: usize,
}

impl LocalServices {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a Service's answer.
    pub fn insert(&mut self, namespace: &str, name: &str, answer: Arc<LocalAnswer>) {
        let names = self.by_namespace.entry(namespace.into()).or_default();
        if names.insert(name.into(), answer).is_none() {
            self.len += 1;
        }
    }

    /// Removes a Service; whether it was there.
    pub fn remove(&mut self, namespace: &str, name: &str) -> bool {
        let Some(names) = self.by_namespace.get_mut(namespace) else {
            return false;
        };
        let removed = names.remove(name).is_some();
        if names.is_empty() {
            self.by_namespace.remove(namespace);
        }
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// The answer of a Service in the set (names as the classifier returns them: lower-case
    /// in the server's path).
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Arc<LocalAnswer>> {
        self.by_namespace.get(namespace)?.get(name)
    }

    /// Whether the Service is in the set.
    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        self.get(namespace, name).is_some()
    }

    /// How many Services are in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Everything about the stub that can change while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StubState {
    /// Federation label → domain.
    pub federations: BTreeMap<String, String>,
    /// This node's zone and region; `None` while unknown.
    pub location: Option<Location>,
    /// Local Services with ready endpoints; `None` until the cluster has been listed.
    pub local: Option<Arc<LocalServices>>,
}

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<'z> {
    /// The local Service has a ready endpoint: a CNAME to its name, followed by its addresses.
    Local(&'z LocalAnswer),
    /// A CNAME to this federated name, followed by what its resolution upstream gives.
    Federated(Name),
    /// The apex SOA (a query for the SOA of `svc.<cluster-domain>`).
    Soa,
    /// The apex exists but has no data of the asked type: NOERROR with the SOA in authority.
    NoData,
    /// The name does not exist: NXDOMAIN with the SOA in authority.
    NxDomain,
    /// Not a name the stub is authoritative for.
    Refused,
    /// A federation query the stub cannot answer yet: the cluster is not listed, or this node's
    /// zone or region is unknown.
    ServFail,
}

/// A precompiled, immutable view of the stub's state that answers queries.
#[derive(Debug, Clone)]
pub struct Zone {
    settings: StubSettings,
    state: StubState,
    /// Federation → `<fed>.svc.<zone>.<region>.<domain>.`; empty while the location is unknown.
    federated_suffix: HashMap<String, Name>,
    soa: Record,
}

impl Zone {
    /// Compiles `state`. Federations whose names cannot be built for this location are left
    /// out (their federated answers are SERVFAIL), as is everything federated when the location
    /// is unknown or not made of DNS labels.
    pub fn new(settings: &StubSettings, state: StubState) -> Self {
        let cd = &settings.cluster_domain;
        let name = |text: String| Name::from_ascii(text).unwrap_or_else(|_| Name::root());
        let local_suffix = name(format!("svc.{cd}."));
        let federated_suffix = match &state.location {
            Some(loc) if loc.check().is_ok() => state
                .federations
                .iter()
                .filter_map(|(fed, domain)| {
                    let text = format!("{fed}.svc.{}.{}.{domain}.", loc.zone, loc.region);
                    Name::from_ascii(text).ok().map(|n| (fed.clone(), n))
                })
                .collect(),
            _ => HashMap::new(),
        };
        let soa = Record::from_rdata(
            local_suffix,
            settings.ttl,
            RData::SOA(SOA::new(
                name(format!("ns.dns.{cd}.")),
                name(format!("hostmaster.{cd}.")),
                SOA_SERIAL,
                SOA_REFRESH,
                SOA_RETRY,
                SOA_EXPIRE,
                settings.ttl,
            )),
        );
        Self {
            settings: settings.clone(),
            state,
            federated_suffix,
            soa,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &StubSettings {
        &self.settings
    }

    /// The state compiled.
    pub fn state(&self) -> &StubState {
        &self.state
    }

    /// The SOA record of `svc.<cluster-domain>`.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The answer for `qname` (lower-case, as hickory delivers it) and whether the query asked
    /// for the SOA type.
    pub fn answer(&self, qname: &LowerName, soa_query: bool) -> Answer<'_> {
        let outcome = classify_labels(
            qname.iter().rev(),
            &self.settings.cluster_domain,
            &self.state.federations,
        );
        self.answer_outcome(outcome, soa_query)
    }

    /// [`Self::answer`] for a name given as its labels (lower-case) from the last one to the
    /// first, as the UDP fast path reads them off the wire.
    pub fn answer_labels<'a>(
        &'a self,
        labels: impl Iterator<Item = &'a [u8]>,
        soa_query: bool,
    ) -> Answer<'a> {
        let outcome = classify_labels(labels, &self.settings.cluster_domain, &self.state.federations);
        self.answer_outcome(outcome, soa_query)
    }

    /// [`Self::answer`] for a name in presentation form (lower-case).
    pub fn answer_text(&self, qname: &str, soa_query: bool) -> Answer<'_> {
        let outcome = classify(qname, &self.settings.cluster_domain, &self.state.federations);
        self.answer_outcome(outcome, soa_query)
    }

    fn answer_outcome(&self, outcome: Outcome<'_>, soa_query: bool) -> Answer<'_> {
        match outcome {
            Outcome::OutOfSuffix => Answer::Refused,
            Outcome::NotFederation => Answer::NxDomain,
            Outcome::Apex if soa_query => Answer::Soa,
            Outcome::Apex => Answer::NoData,
            Outcome::Federation(q) => {
                let Some(local) = &self.state.local else {
                    return Answer::ServFail;
                };
                if let Some(answer) = local.get(q.namespace, q.service) {
                    return Answer::Local(answer);
                }
                let Some(suffix) = self.federated_suffix.get(q.federation) else {
                    return Answer::ServFail;
                };
                let target = Name::new()
                    .append_label(q.service.as_bytes())
                    .and_then(|n| n.append_label(q.namespace.as_bytes()))
                    .and_then(|n| n.append_domain(suffix));
                match target {
                    Ok(t) => Answer::Federated(t),
                    Err(_) => Answer::ServFail,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::query::parse_federations;

    fn settings() -> StubSettings {
        StubSettings::new("Cluster.Local.", 30).unwrap()
    }

    fn services(list: &[(&str, &str, &[&str])]) -> LocalServices {
        let mut set = LocalServices::new();
        for (ns, name, addrs) in list {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
            let answer = LocalAnswer::new(&settings(), ns, name, &addrs).unwrap();
            set.insert(ns, name, Arc::new(answer));
        }
        set
    }

    fn zone(location: Option<(&str, &str)>, local: Option<&[(&str, &str, &[&str])]>) -> Zone {
        let state = StubState {
            federations: parse_federations("myfed=example.com").unwrap(),
            location: location.map(|(zone, region)| Location {
                zone: zone.into(),
                region: region.into(),
            }),
            local: local.map(|l| Arc::new(services(l))),
        };
        Zone::new(&settings(), state)
    }

    fn federated(target: &str) -> Answer<'static> {
        Answer::Federated(Name::from_ascii(target).unwrap())
    }

    /// The local target and the addresses of an answer, as text.
    fn local(answer: &Answer<'_>) -> Option<(String, Vec<String>)> {
        let Answer::Local(l) = answer else { return None };
        let addrs =
            l.a.iter()
                .chain(l.aaaa.iter())
                .map(|r| r.data.to_string())
                .collect();
        Some((l.target.to_ascii(), addrs))
    }

    const WEB: &[(&str, &str, &[&str])] = &[("shop", "web", &["10.96.0.1"])];

    #[test]
    fn local_ready_services_get_the_local_name_others_the_federated_one() {
        let z = zone(Some(("us-east-1a", "us-east-1")), Some(WEB));
        let web = z.answer_text("web.shop.myfed.svc.cluster.local.", false);
        assert_eq!(
            local(&web),
            Some(("web.shop.svc.cluster.local.".into(), vec!["10.96.0.1".into()]))
        );
        assert_eq!(
            z.answer_text("api.shop.myfed.svc.cluster.local.", false),
            federated("api.shop.myfed.svc.us-east-1a.us-east-1.example.com.")
        );
        assert_eq!(
            z.answer_text("x.shop.nofed.svc.cluster.local.", false),
            Answer::NxDomain
        );
        assert_eq!(z.answer_text("www.example.com.", false), Answer::Refused);
        assert_eq!(z.answer_text("svc.cluster.local.", true), Answer::Soa);
        assert_eq!(z.answer_text("svc.cluster.local.", false), Answer::NoData);
        let lower = LowerName::from(Name::from_ascii("WEB.shop.MyFed.svc.cluster.local.").unwrap());
        assert_eq!(z.answer(&lower, false), web);
    }

    #[test]
    fn local_answers_hold_each_family_sorted_once_with_the_ttl() {
        let s = settings();
        let addrs: Vec<IpAddr> = ["fd00::2", "10.0.0.9", "10.0.0.1", "fd00::1", "10.0.0.9"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let a = LocalAnswer::new(&s, "shop", "web", &addrs).unwrap();
        let text = |records: &[Record]| records.iter().map(|r| r.data.to_string()).collect::<Vec<_>>();
        assert_eq!(text(a.addresses(RecordType::A)), ["10.0.0.1", "10.0.0.9"]);
        assert_eq!(text(a.addresses(RecordType::AAAA)), ["fd00::1", "fd00::2"]);
        assert!(a.addresses(RecordType::TXT).is_empty());
        for r in a.a.iter().chain(a.aaaa.iter()) {
            assert_eq!(
                (r.name.to_ascii().as_str(), r.ttl),
                ("web.shop.svc.cluster.local.", 30)
            );
        }
        // No address at all: an answer with neither.
        let none = LocalAnswer::new(&s, "shop", "web", &[]).unwrap();
        assert!(none.a.is_empty() && none.aaaa.is_empty());
    }

    #[test]
    fn unknown_state_is_servfail_not_a_wrong_answer() {
        // Not listed yet: nothing federated is answered.
        let z = zone(Some(("z", "r")), None);
        assert_eq!(
            z.answer_text("web.shop.myfed.svc.cluster.local.", false),
            Answer::ServFail
        );
        // Location unknown, or not made of labels: only local answers work.
        for loc in [None, Some(("us_east", "r")), Some(("z", ""))] {
            let z = zone(loc, Some(WEB));
            assert!(local(&z.answer_text("web.shop.myfed.svc.cluster.local.", false)).is_some());
            assert_eq!(
                z.answer_text("api.shop.myfed.svc.cluster.local.", false),
                Answer::ServFail
            );
        }
    }

    #[test]
    fn overlong_targets_are_servfail() {
        let long = "a".repeat(63);
        let z = zone(Some((&long, &long)), Some(&[]));
        let q = format!("{long}.{long}.myfed.svc.cluster.local.");
        assert_eq!(z.answer_text(&q, false), Answer::ServFail);
    }

    #[test]
    fn the_soa_belongs_to_svc_of_the_cluster_domain() {
        let z = zone(None, None);
        assert_eq!(z.soa().name, Name::from_ascii("svc.cluster.local.").unwrap());
        assert_eq!(z.soa().ttl, 30);
        let RData::SOA(soa) = &z.soa().data else {
            panic!("not an SOA: {:?}", z.soa())
        };
        assert_eq!(soa.minimum, 30);
        assert_eq!(soa.mname.to_ascii(), "ns.dns.cluster.local.");
    }

    #[test]
    fn settings_check_the_cluster_domain() {
        assert_eq!(
            StubSettings::new("cluster.local.", 5).unwrap().cluster_domain,
            "cluster.local"
        );
        for bad in ["", "cluster..local", "clus ter.local", "-x.local"] {
            let e = StubSettings::new(bad, 5).unwrap_err().to_string();
            assert!(e.contains("--cluster-domain"), "{bad:?}: {e}");
        }
    }

    proptest::proptest! {
        /// The server's label path classifies every name as the text path does.
        #[test]
        fn labels_and_text_agree(name in "([a-zA-Z0-9*_-]{1,8}\\.){0,4}(myfed\\.|nofed\\.)?(svc\\.)?(cluster\\.local|example\\.com)\\.") {
            let z = zone(Some(("z", "r")), Some(&[("b", "a", &["10.0.0.1"])]));
            let Ok(parsed) = Name::from_ascii(&name) else { return Ok(()) };
            let lower = LowerName::from(parsed);
            proptest::prop_assert_eq!(z.answer(&lower, false), z.answer_text(&name.to_ascii_lowercase(), false));
        }
    }

    #[test]
    fn local_services_count_once_and_forget_emptied_namespaces() {
        let mut s = services(&[("a", "x", &[]), ("a", "x", &[]), ("b", "x", &[])]);
        assert_eq!(s.len(), 2);
        assert!(s.contains("b", "x") && !s.contains("b", "y") && !s.contains("c", "x"));
        assert!(s.remove("b", "x") && !s.remove("b", "x"));
        assert_eq!(s.len(), 1);
        assert!(!s.by_namespace.contains_key("b"));
        assert!(!s.is_empty());
    }
}
