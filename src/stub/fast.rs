//! The UDP fast path: the query pods send all the time, answered straight from the wire.
//!
//! A standard query with one question of class IN and type A or AAAA for a federation name
//! (and nothing else but, optionally, an EDNS version 0 OPT record) whose answer is local, or
//! federated with its chain in the cache, is answered here: the question is read in place, the
//! response written into a reused buffer from the precomputed answer (the local Service's target
//! name and addresses, the cached chain's records), names compressed against what is already
//! written. No allocation but the federated target's name for the cache lookup, no task. The
//! answer is the one the hickory handler gives ([`super::server`]); every other query (another
//! type, a name the stub does not answer locally or from the cache, NODATA, a response that would
//! not fit) returns `None` and goes there.

use hickory_proto::rr::{Name, RData, RecordType};

use super::metrics::AnswerKind;
use super::server::Answering;
use super::zone::Answer;

/// DNS header length.
const HEADER: usize = 12;
/// Most labels in a name (255 bytes, one-character labels).
const MAX_LABELS: usize = 128;
/// Longest name in wire form.
const MAX_NAME: usize = 255;
const TYPE_CNAME: u16 = 5;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Largest UDP response written: what EDNS clients commonly accept without fragmentation.
const MAX_UDP: usize = 1232;

/// The query's parts the answer needs.
struct Question<'q> {
    /// The question section as received (the name in the client's case, type, class).
    section: &'q [u8],
    qtype: RecordType,
    /// The client's EDNS UDP payload size, if it sent an OPT record.
    edns: Option<u16>,
}

/// Answers `query` into `out` if it is one the fast path takes; the kind of answer given.
pub fn answer(answering: &Answering, query: &[u8], out: &mut Vec<u8>) -> Option<AnswerKind> {
    let mut lower = [0u8; MAX_NAME];
    let mut labels = [(0u8, 0u8); MAX_LABELS];
    let (question, count) = parse(query, &mut lower, &mut labels)?;
    let zone = answering.zone.current();
    let name = &lower[..];
    let labels = labels[..count]
        .iter()
        .rev()
        .map(|&(start, len)| &name[usize::from(start)..usize::from(start) + usize::from(len)]);
    let ttl = zone.settings().ttl;
    match zone.answer_labels(labels, false) {
        Answer::Local(local) => {
            begin(out, query, &question, 1 + local.addresses(question.qtype).len());
            let target = put_cname(out, ttl, |out| put_name(out, &local.target));
            for addr in local.addresses(question.qtype) {
                let data = match &addr.data {
                    RData::A(a) => &a.0.octets()[..],
                    RData::AAAA(a) => &a.0.octets()[..],
                    _ => return None,
                };
                put_rr(out, target, question.qtype.into(), ttl, data);
            }
            finish(out, &question).then_some(AnswerKind::Local)
        }
        Answer::Federated(target) => {
            let (chain, left) = answering.resolver.cached(&target, question.qtype)?;
            if chain.is_nodata() {
                return None;
            }
            let ttl = ttl.min(u32::try_from(left.as_secs()).unwrap_or(u32::MAX));
            begin(out, query, &question, 1 + chain.records.len());
            let mut last = put_cname(out, ttl, |out| put_name(out, &target));
            for record in &chain.records {
                match &record.data {
                    RData::CNAME(next) => last = put_cname_at(out, last, ttl, |out| put_name(out, &next.0)),
                    RData::A(a) => put_rr(out, last, question.qtype.into(), ttl, &a.0.octets()),
                    RData::AAAA(a) => put_rr(out, last, question.qtype.into(), ttl, &a.0.octets()),
                    _ => return None,
                }
            }
            if !finish(out, &question) {
                return None;
            }
            answering.metrics.cache_hit();
            Some(AnswerKind::Federated)
        }
        _ => None,
    }
}

/// Reads a query the fast path takes: the lower-cased name into `lower`, its labels' (start,
/// length) into `labels`; returns the question and the label count.
fn parse<'q>(
    query: &'q [u8],
    lower: &mut [u8; MAX_NAME],
    labels: &mut [(u8, u8); MAX_LABELS],
) -> Option<(Question<'q>, usize)> {
    let header = query.get(..HEADER)?;
    // QR=0, opcode QUERY, TC=0; one question, no answers or authorities, at most the OPT record.
    if header[2] & 0xFA != 0 || be16(header, 4) != 1 || be16(header, 6) != 0 || be16(header, 8) != 0 {
        return None;
    }
    let additionals = be16(header, 10);
    if additionals > 1 {
        return None;
    }
    let mut at = HEADER;
    let mut count = 0;
    let mut written = 0;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        // A compression pointer or an extended label type: not in a question we take.
        if len > 63 || count == MAX_LABELS || written + len > MAX_NAME {
            return None;
        }
        let label = query.get(at..at + len)?;
        labels[count] = (u8::try_from(written).ok()?, u8::try_from(len).ok()?);
        for (to, from) in lower[written..written + len].iter_mut().zip(label) {
            *to = from.to_ascii_lowercase();
        }
        written += len;
        count += 1;
        at += len;
    }
    let qtype = match be16(query.get(at..at + 4)?, 0) {
        1 => RecordType::A,
        28 => RecordType::AAAA,
        _ => return None,
    };
    if be16(query, at + 2) != CLASS_IN {
        return None;
    }
    let section = &query[HEADER..at + 4];
    at += 4;
    let edns = if additionals == 1 {
        // The OPT record: root name, version 0, its options (ignored) filling the rest.
        let opt = query.get(at..at + 11)?;
        if opt[0] != 0
            || be16(opt, 1) != TYPE_OPT
            || opt[6] != 0
            || at + 11 + usize::from(be16(opt, 9)) != query.len()
        {
            return None;
        }
        Some(be16(opt, 3))
    } else {
        if at != query.len() {
            return None;
        }
        None
    };
    Some((Question { section, qtype, edns }, count))
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Writes the header and the question.
fn begin(out: &mut Vec<u8>, query: &[u8], question: &Question<'_>, answers: usize) {
    out.clear();
    out.extend_from_slice(&query[..2]);
    // QR, opcode QUERY, AA, RD echoed; RA 0, CD echoed, NOERROR.
    out.push(0x84 | (query[2] & 0x01));
    out.push(query[3] & 0x10);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(answers).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&u16::from(question.edns.is_some()).to_be_bytes());
    out.extend_from_slice(question.section);
}

/// Writes the OPT record if the query had one; whether the response fits what the client takes.
fn finish(out: &mut Vec<u8>, question: &Question<'_>) -> bool {
    let limit = match question.edns {
        Some(payload) => {
            // As the hickory path answers: the client's size, at least 512.
            let payload = payload.max(512);
            out.push(0);
            out.extend_from_slice(&TYPE_OPT.to_be_bytes());
            out.extend_from_slice(&payload.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            usize::from(payload).min(MAX_UDP)
        }
        None => 512,
    };
    out.len() <= limit
}

/// A compression pointer to `offset`.
fn pointer(offset: usize) -> [u8; 2] {
    (0xC000 | u16::try_from(offset).unwrap_or(0x3FFF)).to_be_bytes()
}

/// Writes a record owned by the name at `owner` (an offset in `out`) with `data`.
fn put_rr(out: &mut Vec<u8>, owner: usize, rtype: u16, ttl: u32, data: &[u8]) {
    out.extend_from_slice(&pointer(owner));
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(data);
}

/// Writes the CNAME of the question's name; returns where its target starts.
fn put_cname(out: &mut Vec<u8>, ttl: u32, target: impl FnOnce(&mut Vec<u8>)) -> usize {
    put_cname_at(out, HEADER, ttl, target)
}

/// Writes a CNAME owned by the name at `owner`, its target written by `target`; returns where
/// the target starts.
fn put_cname_at(out: &mut Vec<u8>, owner: usize, ttl: u32, target: impl FnOnce(&mut Vec<u8>)) -> usize {
    out.extend_from_slice(&pointer(owner));
    out.extend_from_slice(&TYPE_CNAME.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let start = out.len();
    target(out);
    let length = u16::try_from(out.len() - start).unwrap_or(0).to_be_bytes();
    out[length_at..length_at + 2].copy_from_slice(&length);
    start
}

/// Writes `name` in wire form, uncompressed.
pub fn put_name(out: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        out.push(u8::try_from(label.len()).unwrap_or(0));
        out.extend_from_slice(label);
    }
    out.push(0);
}
