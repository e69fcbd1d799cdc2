//! Record sets to and from DNS records, and the messages the provider sends: the UPDATE with its
//! prerequisites, the AXFR request and single queries. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use feddns_provider::{Change, RecordSet, RecordType as Rt, normalize_name};
use hickory_proto::op::{Message, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// A name of the zone as an absolute DNS name.
pub(crate) fn absolute(name: &str) -> Result<Name, String> {
    let mut n = Name::from_ascii(name).map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// A DNS name as the record model writes it: lower-case, without the trailing dot.
pub(crate) fn model_name(name: &Name) -> String {
    normalize_name(&name.to_ascii())
}

/// The DNS type of a set feddns writes.
pub(crate) fn dns_type(t: &Rt) -> Result<RecordType, String> {
    match t {
        Rt::A => Ok(RecordType::A),
        Rt::Aaaa => Ok(RecordType::AAAA),
        Rt::Cname => Ok(RecordType::CNAME),
        Rt::Txt => Ok(RecordType::TXT),
        Rt::Other(o) => Err(format!(
            "the rfc2136 provider writes A, AAAA, CNAME and TXT sets, not {o}"
        )),
    }
}

/// The record data of one value of a set of type `t`.
fn rdata(t: &Rt, value: &str) -> Result<RData, String> {
    let bad = |what: &str| format!("invalid {t} value {value:?}: {what}");
    Ok(match t {
        Rt::A => RData::A(A(value
            .parse::<Ipv4Addr>()
            .map_err(|_| bad("not an IPv4 address"))?)),
        Rt::Aaaa => RData::AAAA(AAAA(
            value
                .parse::<Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address"))?,
        )),
        Rt::Cname => RData::CNAME(CNAME(absolute(value).map_err(|e| bad(&e))?)),
        Rt::Txt => {
            // One character-string holds 255 bytes; longer text is split, as zone files do.
            let chunks: Vec<&[u8]> = value.as_bytes().chunks(255).collect();
            RData::TXT(TXT::from_bytes(if chunks.is_empty() {
                vec![&[][..]]
            } else {
                chunks
            }))
        }
        Rt::Other(_) => return Err(dns_type(t).err().unwrap_or_default()),
    })
}

/// The records of a set, with class IN and the set's TTL (or `ttl`).
pub(crate) fn records(set: &RecordSet, ttl: u32) -> Result<Vec<Record>, String> {
    let name = absolute(&set.name)?;
    set.values
        .iter()
        .map(|v| Ok(Record::from_rdata(name.clone(), ttl, rdata(&set.rtype, v)?)))
        .collect()
}

/// A value of a listed record, in the model's text form.
fn value(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => model_name(&c.0),
        RData::TXT(t) => {
            let bytes: Vec<u8> = t.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        other => other.to_string(),
    }
}

/// The model type of a DNS type.
fn model_type(t: RecordType) -> Rt {
    match t {
        RecordType::A => Rt::A,
        RecordType::AAAA => Rt::Aaaa,
        RecordType::CNAME => Rt::Cname,
        RecordType::TXT => Rt::Txt,
        other => Rt::Other(other.to_string()),
    }
}

/// Record sets gathered from records (an AXFR's, a query's), keeping only the names `keep`
/// accepts.
#[derive(Debug, Default)]
pub(crate) struct Sets {
    sets: BTreeMap<(String, Rt), (u32, Vec<String>)>,
}

impl Sets {
    /// Adds a record's value to its set (the set's TTL is its first record's).
    pub(crate) fn add(&mut self, r: &Record) {
        let key = (model_name(&r.name), model_type(r.record_type()));
        let entry = self.sets.entry(key).or_insert_with(|| (r.ttl, Vec::new()));
        entry.1.push(value(&r.data));
    }

    /// The sets, in name and type order.
    pub(crate) fn into_sets(self) -> Vec<RecordSet> {
        self.sets
            .into_iter()
            .map(|((name, rtype), (ttl, values))| RecordSet::new(&name, rtype, ttl, values))
            .collect()
    }
}

/// A query of `name`/`qtype` (class IN), without recursion.
pub(crate) fn query(name: Name, qtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(name, qtype));
    m
}

/// An empty UPDATE message for `zone`.
fn update_for(zone: &Name) -> Message {
    let mut m = Message::query();
    m.metadata.op_code = OpCode::Update;
    m.metadata.recursion_desired = false;
    let mut z = Query::new();
    z.set_name(zone.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    m.add_query(z);
    m
}

/// An RR with no data: a prerequisite or a deletion (RFC 2136 2.4.1-2.4.5, 2.5.2).
fn empty(name: Name, t: RecordType, class: DNSClass) -> Record {
    let mut r = Record::update0(name, 0, t);
    r.dns_class = class;
    r
}

/// Names at which the batch creates a CNAME and also deletes or replaces another set: the
/// server cannot be asked in a prerequisite whether only those sets are there, so the provider
/// reads those names first.
pub(crate) fn cname_swaps(changes: &[Change]) -> BTreeSet<String> {
    let removed: BTreeSet<&str> = changes
        .iter()
        .filter(|c| !matches!(c, Change::Create { .. }))
        .map(Change::name)
        .collect();
    changes
        .iter()
        .filter(|c| matches!(c, Change::Create { new } if new.rtype == Rt::Cname))
        .map(Change::name)
        .filter(|n| removed.contains(n))
        .map(str::to_string)
        .collect()
}

/// The UPDATE for a checked batch (see [`crate::Rfc2136Provider`] for the prerequisites).
pub(crate) fn update(zone: &Name, changes: &[Change]) -> Result<Message, (usize, String)> {
    let mut m = update_for(zone);
    let mut deleted_cname: BTreeSet<&str> = BTreeSet::new();
    let mut touched: BTreeSet<&str> = BTreeSet::new();
    for c in changes {
        if !matches!(c, Change::Create { .. }) {
            touched.insert(c.name());
            if c.subject().rtype == Rt::Cname {
                deleted_cname.insert(c.name());
            }
        }
    }
    let mut prerequisites = Vec::new();
    let mut deletions = Vec::new();
    let mut additions = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let at = |e: String| (i, e);
        let s = c.subject();
        let name = absolute(&s.name).map_err(at)?;
        let t = dns_type(&s.rtype).map_err(at)?;
        match c {
            Change::Create { new } => {
                // RRset does not exist.
                prerequisites.push(empty(name.clone(), t, DNSClass::NONE));
                if t == RecordType::CNAME {
                    if !touched.contains(c.name()) {
                        // Name is not in use: a CNAME stands alone.
                        prerequisites.push(empty(name.clone(), RecordType::ANY, DNSClass::NONE));
                    }
                } else if !deleted_cname.contains(c.name()) {
                    // Nothing is added beside a CNAME (servers ignore such additions silently).
                    prerequisites.push(empty(name.clone(), RecordType::CNAME, DNSClass::NONE));
                }
                additions.extend(records(new, new.ttl).map_err(at)?);
            }
            Change::Replace { old, new } => {
                // RRset exists (value dependent): exactly the old values (TTL 0, RFC 2136 2.4.2).
                prerequisites.extend(records(old, 0).map_err(at)?);
                deletions.push(empty(name, t, DNSClass::ANY));
                additions.extend(records(new, new.ttl).map_err(at)?);
            }
            Change::Delete { old } => {
                prerequisites.extend(records(old, 0).map_err(at)?);
                deletions.push(empty(name, t, DNSClass::ANY));
            }
        }
    }
    m.answers = prerequisites;
    // Deletions first, so that a type swap at a name (A to CNAME) leaves the name free for the
    // addition.
    deletions.extend(additions);
    m.authorities = deletions;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, t: Rt, ttl: u32, values: &[&str]) -> RecordSet {
        RecordSet::new(name, t, ttl, values.iter().map(|v| v.to_string()))
    }

    fn show(r: &Record) -> String {
        format!(
            "{} {} {} {} {}",
            r.name,
            r.dns_class,
            r.ttl,
            r.record_type(),
            r.data
        )
    }

    #[test]
    fn values_round_trip_through_records() {
        for s in [
            set("a.example.com", Rt::A, 60, &["192.0.2.1", "192.0.2.2"]),
            set("a.example.com", Rt::Aaaa, 60, &["2001:db8::1"]),
            set("c.example.com", Rt::Cname, 300, &["lb.example.net"]),
            set(
                "_o.example.com",
                Rt::Txt,
                180,
                &["heritage=feddns,feddns/owner=a b,x=\"q\""],
            ),
            set("t.example.com", Rt::Txt, 180, &[&"x".repeat(600)]),
        ] {
            let mut sets = Sets::default();
            for r in records(&s, s.ttl).unwrap() {
                let bytes = r.to_bytes_for_test();
                sets.add(&bytes);
            }
            assert_eq!(sets.into_sets(), vec![s]);
        }
        assert!(records(&set("a.example.com", Rt::A, 60, &["::1"]), 60).is_err());
        assert!(records(&set("a.example.com", Rt::Other("MX".into()), 60, &["1 x."]), 60).is_err());
    }

    trait RoundTrip {
        fn to_bytes_for_test(&self) -> Record;
    }

    impl RoundTrip for Record {
        /// Through the wire format and back.
        fn to_bytes_for_test(&self) -> Record {
            let mut m = Message::query();
            m.add_answer(self.clone());
            Message::from_vec(&m.to_vec().unwrap()).unwrap().answers.remove(0)
        }
    }

    #[test]
    fn prerequisites_guard_every_change_and_deletions_come_first() {
        let zone = absolute("example.com").unwrap();
        let a = set("x.example.com", Rt::A, 60, &["192.0.2.1", "192.0.2.2"]);
        let a2 = set("x.example.com", Rt::A, 120, &["192.0.2.3"]);
        let txt = set("_o.x.example.com", Rt::Txt, 60, &["o"]);
        let c = set("y.example.com", Rt::Cname, 60, &["t.example.net"]);
        let m = update(
            &zone,
            &[
                Change::replace(a.clone(), a2),
                Change::create(txt),
                Change::create(c),
                Change::delete(set("z.example.com", Rt::A, 5, &["192.0.2.9"])),
            ],
        )
        .unwrap();
        assert_eq!(m.metadata.op_code, OpCode::Update);
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        let pre: Vec<String> = m.answers.iter().map(show).collect();
        assert_eq!(
            pre,
            [
                "x.example.com. IN 0 A 192.0.2.1",
                "x.example.com. IN 0 A 192.0.2.2",
                "_o.x.example.com. NONE 0 TXT UPDATE",
                "_o.x.example.com. NONE 0 CNAME UPDATE",
                "y.example.com. NONE 0 CNAME UPDATE",
                "y.example.com. NONE 0 ANY UPDATE",
                "z.example.com. IN 0 A 192.0.2.9",
            ]
        );
        let upd: Vec<String> = m.authorities.iter().map(show).collect();
        assert_eq!(
            upd,
            [
                "x.example.com. ANY 0 A UPDATE",
                "z.example.com. ANY 0 A UPDATE",
                "x.example.com. IN 120 A 192.0.2.3",
                "_o.x.example.com. IN 60 TXT o",
                "y.example.com. IN 60 CNAME t.example.net.",
            ]
        );
        // The message survives the wire.
        let back = Message::from_vec(&m.to_vec().unwrap()).unwrap();
        assert_eq!(back.answers.len(), 7);
        assert_eq!(back.authorities.len(), 5);
    }

    #[test]
    fn a_type_swap_deletes_first_and_is_read_beforehand() {
        let zone = absolute("example.com").unwrap();
        let a = set("x.example.com", Rt::A, 60, &["192.0.2.1"]);
        let c = set("x.example.com", Rt::Cname, 60, &["t.example.net"]);
        let changes = [Change::create(c.clone()), Change::delete(a.clone())];
        assert_eq!(
            cname_swaps(&changes),
            BTreeSet::from(["x.example.com".to_string()])
        );
        let m = update(&zone, &changes).unwrap();
        let pre: Vec<String> = m.answers.iter().map(show).collect();
        assert_eq!(
            pre,
            [
                "x.example.com. NONE 0 CNAME UPDATE",
                "x.example.com. IN 0 A 192.0.2.1"
            ]
        );
        let upd: Vec<String> = m.authorities.iter().map(show).collect();
        assert_eq!(
            upd,
            [
                "x.example.com. ANY 0 A UPDATE",
                "x.example.com. IN 60 CNAME t.example.net."
            ]
        );
        // CNAME to A: the A needs no "no CNAME" prerequisite, the CNAME's own guards the name.
        let back = [Change::delete(c), Change::create(a)];
        assert!(cname_swaps(&back).is_empty());
        let pre: Vec<String> = update(&zone, &back).unwrap().answers.iter().map(show).collect();
        assert_eq!(
            pre,
            [
                "x.example.com. IN 0 CNAME t.example.net.",
                "x.example.com. NONE 0 A UPDATE"
            ]
        );
    }
}
