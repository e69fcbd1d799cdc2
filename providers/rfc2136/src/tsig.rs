//! TSIG (RFC 8945) for requests and the answers to them, including multi-message answers (AXFR).
//!
//! Every request is signed. Every answer must be signed by the same key: the first message's MAC
//! covers the request's MAC, each later signed message's MAC covers the previous MAC, the
//! unsigned messages since it (a server may leave up to 99 in a row unsigned) and the message
//! itself, and the last message of an answer must be signed. The signing time must be within the
//! fudge of this host's clock and never go backwards. Truncated MACs are refused.

use std::time::{Duration, SystemTime};

use hickory_proto::op::Message;
use hickory_proto::rr::TSigner;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError, signed_bitmessage_to_buf};

use crate::config::TsigKey;

/// Allowed difference between the clocks of this host and the server, in seconds (the usual 300).
pub(crate) const FUDGE: u16 = 300;

/// RFC 8945 5.3.1: at most 99 unsigned messages between two signed ones.
const MAX_UNSIGNED_RUN: usize = 99;

/// Why an answer is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The message is not a DNS message.
    Malformed(String),
    /// The first (or only) message carries no TSIG; its response code (the server did not
    /// recognize the key, or answered before looking at it).
    Unsigned(hickory_proto::op::ResponseCode),
    /// The server's TSIG says the request failed TSIG checks (BADSIG, BADKEY, BADTIME, ...).
    Tsig(hickory_proto::op::ResponseCode, TsigError),
    /// The answer's signature is wrong, truncated, by another key, or out of time.
    BadSignature(String),
    /// The answer ended with unsigned messages, or ran more than 99 unsigned in a row.
    UnsignedTail(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed answer: {e}"),
            Self::Unsigned(rcode) => write!(f, "unsigned answer {rcode}"),
            Self::Tsig(rcode, e) => write!(f, "{rcode} with TSIG error {}", tsig_error_name(*e)),
            Self::BadSignature(e) => write!(f, "the answer's TSIG signature does not verify: {e}"),
            Self::UnsignedTail(e) => write!(f, "{e}"),
        }
    }
}

/// The mnemonic of a TSIG error code.
pub(crate) fn tsig_error_name(e: TsigError) -> String {
    match e {
        TsigError::BadSig => "BADSIG".into(),
        TsigError::BadKey => "BADKEY".into(),
        TsigError::BadTime => "BADTIME".into(),
        TsigError::BadTrunc => "BADTRUNC".into(),
        TsigError::Unknown(n) => format!("TSIG error {n}"),
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// The MAC length of an algorithm (no truncation accepted).
fn mac_len(alg: &TsigAlgorithm) -> Option<usize> {
    match alg {
        TsigAlgorithm::HmacSha256 => Some(32),
        TsigAlgorithm::HmacSha384 => Some(48),
        TsigAlgorithm::HmacSha512 => Some(64),
        _ => None,
    }
}

/// Signs requests with one key.
#[derive(Clone)]
pub(crate) struct Signer {
    inner: TSigner,
}

impl Signer {
    pub(crate) fn new(key: &TsigKey) -> Result<Self, String> {
        TSigner::new(
            key.secret().to_vec(),
            key.algorithm.clone(),
            key.name.clone(),
            FUDGE,
        )
        .map(|inner| Self { inner })
        .map_err(|e| format!("cannot sign with {}: {e}", key.algorithm))
    }

    /// Signs `msg` (which must not change afterwards) at `time`; returns its wire form and a
    /// verifier for the answer.
    pub(crate) fn sign(&self, msg: &mut Message, time: u64) -> Result<(Vec<u8>, Chain), String> {
        msg.finalize(&self.inner, time)
            .map_err(|e| format!("cannot sign the request: {e}"))?;
        let mac = msg
            .signature()
            .map(|s| s.data.mac.clone())
            .ok_or("the request was not signed")?;
        let bytes = msg
            .to_vec()
            .map_err(|e| format!("cannot encode the request: {e}"))?;
        Ok((
            bytes,
            Chain {
                signer: self.inner.clone(),
                prev_mac: mac,
                first: true,
                unsigned: Vec::new(),
                unsigned_run: 0,
                last_time: 0,
            },
        ))
    }

    #[cfg(test)]
    pub(crate) fn tsigner(&self) -> &TSigner {
        &self.inner
    }
}

/// Verifies the messages of one answer, in order.
#[derive(Clone)]
pub(crate) struct Chain {
    signer: TSigner,
    prev_mac: Vec<u8>,
    first: bool,
    unsigned: Vec<u8>,
    unsigned_run: usize,
    last_time: u64,
}

impl Chain {
    /// Checks the next message of the answer (received now) and returns it parsed.
    pub(crate) fn verify(&mut self, bytes: &[u8]) -> Result<Message, Rejection> {
        self.verify_at(bytes, now())
    }

    /// As [`Self::verify`], with this host's clock at `now`.
    pub(crate) fn verify_at(&mut self, bytes: &[u8], now: u64) -> Result<Message, Rejection> {
        let msg = Message::from_vec(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
        let Some(sig) = msg.signature() else {
            if self.first {
                return Err(Rejection::Unsigned(msg.metadata.response_code));
            }
            self.unsigned_run += 1;
            if self.unsigned_run > MAX_UNSIGNED_RUN {
                return Err(Rejection::UnsignedTail(format!(
                    "more than {MAX_UNSIGNED_RUN} unsigned messages in a row"
                )));
            }
            self.unsigned.extend_from_slice(bytes);
            return Ok(msg);
        };
        let tsig = &sig.data;
        if let Some(e) = tsig.error {
            return Err(Rejection::Tsig(msg.metadata.response_code, e));
        }
        let bad = |why: String| Err(Rejection::BadSignature(why));
        if !sig.name.eq_ignore_root(self.signer.signer_name()) || &tsig.algorithm != self.signer.algorithm() {
            return bad(format!(
                "signed by key {} ({}), not by the request's key",
                sig.name, tsig.algorithm
            ));
        }
        if Some(tsig.mac.len()) != mac_len(&tsig.algorithm) {
            return bad(format!(
                "a MAC of {} bytes (truncated MACs are refused)",
                tsig.mac.len()
            ));
        }
        let (mut tbv, _) = signed_bitmessage_to_buf(bytes, Some(&self.prev_mac), self.first)
            .map_err(|e| Rejection::Malformed(e.to_string()))?;
        if !self.unsigned.is_empty() {
            // The MAC covers the previous MAC, then the unsigned messages since, then this one.
            let head = 2 + self.prev_mac.len();
            let tail = tbv.split_off(head);
            tbv.extend_from_slice(&self.unsigned);
            tbv.extend_from_slice(&tail);
        }
        if self.signer.verify(&tbv, &tsig.mac).is_err() {
            return bad("the MAC is wrong".to_string());
        }
        let fudge = u64::from(tsig.fudge);
        if now + fudge < tsig.time || tsig.time + fudge < now {
            return bad(format!(
                "signed at {} but this host's clock says {now} (fudge {fudge} s)",
                tsig.time
            ));
        }
        if tsig.time < self.last_time {
            return bad("signed earlier than the message before it".to_string());
        }
        self.last_time = tsig.time;
        self.prev_mac = tsig.mac.clone();
        self.first = false;
        self.unsigned.clear();
        self.unsigned_run = 0;
        Ok(msg)
    }

    /// Checks that the answer ended with a signed message.
    pub(crate) fn finish(&self) -> Result<(), Rejection> {
        if self.unsigned_run > 0 || self.first {
            return Err(Rejection::UnsignedTail(format!(
                "the answer ended with {} unsigned message(s)",
                self.unsigned_run.max(1)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::rdata::tsig::{TSIG, make_tsig_record};
    use hickory_proto::rr::{Name, RData, Record};
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

    use super::*;

    pub(crate) fn key(secret: &[u8]) -> TsigKey {
        TsigKey::new("feddns-key", TsigAlgorithm::HmacSha256, secret.to_vec()).unwrap()
    }

    fn response(id: u16, n: u8) -> Message {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        let name = Name::from_ascii(format!("h{n}.example.com.")).unwrap();
        m.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, n))));
        m
    }

    /// Signs a response as a server does: the first with the request MAC and every TSIG
    /// variable, later ones with the previous MAC, the unsigned messages since, and the timers.
    fn server_sign(
        signer: &TSigner,
        m: &mut Message,
        prev: &[u8],
        unsigned: &[u8],
        first: bool,
        time: u64,
    ) -> Vec<u8> {
        let unsigned_bytes = m.to_vec().unwrap();
        let stub = TSIG::new(
            signer.algorithm().clone(),
            time,
            FUDGE,
            vec![],
            m.metadata.id,
            None,
            vec![],
        );
        let mut tbs = Vec::new();
        {
            let mut enc = BinEncoder::new(&mut tbs);
            enc.emit_u16(prev.len() as u16).unwrap();
            enc.emit_vec(prev).unwrap();
            enc.emit_vec(unsigned).unwrap();
            enc.emit_vec(&unsigned_bytes).unwrap();
            if first {
                stub.emit_tsig_for_mac(&mut enc, signer.signer_name()).unwrap();
            } else {
                enc.emit_u16((time >> 32) as u16).unwrap();
                enc.emit_u32(time as u32).unwrap();
                enc.emit_u16(FUDGE).unwrap();
            }
        }
        let mac = signer.sign(&tbs).unwrap();
        m.set_signature(Box::new(make_tsig_record(
            signer.signer_name().clone(),
            stub.set_mac(mac.clone()),
        )));
        let _ = m.emit(&mut BinEncoder::new(&mut Vec::new()));
        mac
    }

    fn request(signer: &Signer, time: u64) -> (u16, Chain) {
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("example.com.").unwrap(),
            hickory_proto::rr::RecordType::AXFR,
        ));
        let (_, chain) = signer.sign(&mut q, time).unwrap();
        (q.metadata.id, chain)
    }

    fn request_mac(chain: &Chain) -> Vec<u8> {
        chain.prev_mac.clone()
    }

    #[test]
    fn a_chain_with_unsigned_messages_between_signed_ones_verifies() {
        let signer = Signer::new(&key(b"0123456789abcdef0123456789abcdef")).unwrap();
        let t = 1_800_000_000;
        let (id, mut chain) = request(&signer, t);
        let tampered = chain.clone();
        let mut m1 = response(id, 1);
        let prev = server_sign(signer.tsigner(), &mut m1, &request_mac(&chain), &[], true, t);
        let m1 = m1.to_vec().unwrap();
        chain.verify_at(&m1, t).unwrap();
        // Two unsigned, then a signed one covering them.
        let (m2, m3) = (
            response(id, 2).to_vec().unwrap(),
            response(id, 3).to_vec().unwrap(),
        );
        chain.verify_at(&m2, t).unwrap();
        assert!(chain.finish().is_err(), "an answer cannot end unsigned");
        chain.verify_at(&m3, t).unwrap();
        let mut m4 = response(id, 4);
        server_sign(
            signer.tsigner(),
            &mut m4,
            &prev,
            &[m2.clone(), m3.clone()].concat(),
            false,
            t + 1,
        );
        let m4 = m4.to_vec().unwrap();
        chain.verify_at(&m4, t + 1).unwrap();
        chain.finish().unwrap();

        // The same answer with one unsigned message changed fails at the next signed message.
        let mut chain = tampered;
        chain.verify_at(&m1, t).unwrap();
        chain.verify_at(&response(id, 9).to_vec().unwrap(), t).unwrap();
        chain.verify_at(&m3, t).unwrap();
        assert!(matches!(
            chain.verify_at(&m4, t + 1),
            Err(Rejection::BadSignature(_))
        ));
    }

    #[test]
    fn wrong_keys_stale_times_and_server_tsig_errors_are_rejected() {
        let t = 1_800_000_000;
        let ours = Signer::new(&key(b"the right secret, 32 bytes long!")).unwrap();
        let theirs = Signer::new(&key(b"another secret, also 32 bytes!!!")).unwrap();
        let (id, mut chain) = request(&ours, t);
        let prev = request_mac(&chain);
        let mut m = response(id, 1);
        server_sign(theirs.tsigner(), &mut m, &prev, &[], true, t);
        assert!(matches!(
            chain.verify_at(&m.to_vec().unwrap(), t),
            Err(Rejection::BadSignature(_))
        ));

        let (id, mut chain) = request(&ours, t);
        let prev = request_mac(&chain);
        let mut m = response(id, 1);
        server_sign(ours.tsigner(), &mut m, &prev, &[], true, t);
        let e = chain.verify_at(&m.to_vec().unwrap(), t + 301).unwrap_err();
        assert!(e.to_string().contains("clock"), "{e}");

        // BIND and Knot answer a bad signature with NOTAUTH and an unsigned TSIG carrying BADSIG.
        let (id, mut chain) = request(&ours, t);
        let mut m = Message::error_msg(id, OpCode::Update, ResponseCode::NotAuth);
        let stub = TSIG::new(
            TsigAlgorithm::HmacSha256,
            t,
            FUDGE,
            vec![],
            id,
            Some(TsigError::BadSig),
            vec![],
        );
        m.set_signature(Box::new(make_tsig_record(
            Name::from_ascii("feddns-key.").unwrap(),
            stub,
        )));
        assert_eq!(
            chain.verify_at(&m.to_vec().unwrap(), t),
            Err(Rejection::Tsig(ResponseCode::NotAuth, TsigError::BadSig))
        );
        // An unsigned REFUSED.
        let (id, mut chain) = request(&ours, t);
        let m = Message::error_msg(id, OpCode::Update, ResponseCode::Refused);
        assert_eq!(
            chain.verify_at(&m.to_vec().unwrap(), t),
            Err(Rejection::Unsigned(ResponseCode::Refused))
        );
    }
}
