//! [`Rfc2136Provider`]: the feddns [`Provider`] for one zone on an RFC 2136 primary.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use feddns_provider::{
    ApiGate, ApiStats, Capabilities, Change, Limits, Provider, ProviderError, RecordKey, RecordSet, SetRules,
    check_batch, check_set_with,
};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tracing::{debug, warn};

use crate::config::{Rfc2136Config, TsigKey, split_server};
use crate::conn::Conn;
use crate::error::{Answer, Operation, Rfc2136Error, Target, rcode_name};
use crate::tsig::{Chain, Rejection, Signer, now};
use crate::wire::{self, Sets, absolute, dns_type};

/// How long one step (resolving, connecting, sending, each message of an answer) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of values per UPDATE: with `max_changes_per_update` records this keeps an UPDATE
/// well inside the 64 KiB of a DNS message over TCP.
pub const MAX_VALUE_CHARS_PER_UPDATE: usize = 32_000;
/// The largest DNS message over TCP.
const MAX_MESSAGE: usize = 65_535;
/// Room left in an UPDATE for its TSIG record (key and algorithm names, times, a MAC of up to
/// 64 bytes).
const TSIG_ROOM: usize = 512;

/// A feddns [`Provider`] writing one zone on an RFC 2136 primary (BIND 9, Knot, PowerDNS, ...)
/// with TSIG-signed dynamic updates, and listing it by TSIG-signed zone transfer.
///
/// * `list` transfers the zone (AXFR over TCP); every message of the answer must carry a valid
///   TSIG (RFC 8945: a server may leave up to 99 in a row unsigned, covered by the next signed
///   one; the last must be signed). The SOA serial is remembered ([`Self::serial`]).
/// * `list_names` transfers the zone too and keeps those names. A zone transfer is the only read
///   that is exact: a query of type ANY may be answered with one set only (Knot does so even
///   over TCP, as RFC 8482 allows), and a query for a name that does not exist may be answered
///   from a wildcard. It is only needed after a conflict.
/// * `apply` sends the whole batch as ONE UPDATE over TCP, which the server applies atomically,
///   guarded by prerequisites (RFC 2136 2.4) so that a stale view fails instead of overwriting:
///   a replace or delete requires the old set with exactly its old values ("RRset exists, value
///   dependent"); a create requires that the set does not exist, a CNAME that the name is not in
///   use, any other type that the name has no CNAME (servers silently ignore an addition beside
///   a CNAME). NXRRSET, YXRRSET, NXDOMAIN and YXDOMAIN become [`ProviderError::Conflict`]: the
///   controller re-reads those names and plans again.
/// * Prerequisites carry no TTL (RFC 2136 2.4.2: TTL 0), so a set whose TTL someone else
///   changed would pass them. Before the UPDATE, the provider therefore queries (over the same
///   connection, pipelined, signed) every set the batch replaces or deletes and refuses the batch
///   with a conflict when its TTL differs. A TTL changed between that query and the UPDATE goes
///   unnoticed (values never do); the set is then replaced or deleted all the same.
/// * A batch that turns a name into a CNAME while deleting its other sets (an A to CNAME swap)
///   reads that name first (by transfer) and refuses the batch when the name holds anything else
///   the batch does not delete, as no prerequisite can say "only these sets".
/// * REFUSED, NOTAUTH, NOTIMP and TSIG errors (BADKEY, BADSIG, BADTIME) are permanent errors
///   naming the zone, server and key and what the server answered; SERVFAIL, timeouts and
///   connection errors are transient (the controller retries them with backoff).
pub struct Rfc2136Provider {
    target: Target,
    origin: Name,
    host: String,
    port: u16,
    signer: Signer,
    limits: Limits,
    timeout: Duration,
    gate: ApiGate,
    last_transfer: Mutex<Option<TransferInfo>>,
}

/// What the last zone transfer brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferInfo {
    /// The zone's SOA serial.
    pub serial: u32,
    /// Messages of the answer.
    pub messages: usize,
    /// Of those, messages the server left unsigned (covered by the next signed one).
    pub unsigned_messages: usize,
    /// Records transferred (the closing SOA not counted).
    pub records: usize,
}

impl std::fmt::Debug for Rfc2136Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136Provider")
            .field("target", &self.target)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// One request of a pipelined batch: its id and the verifier of its answer.
struct Pending {
    id: u16,
    chain: Chain,
}

impl Rfc2136Provider {
    /// Loads the key, checks that the server answers for the zone with it (a signed SOA query),
    /// and returns the provider. `default_zone` is used when the configuration names no zone.
    pub async fn connect(cfg: &Rfc2136Config, default_zone: &str) -> Result<Self, Rfc2136Error> {
        let key = cfg.load_key()?;
        let p = Self::with_key(cfg, default_zone, &key)?;
        p.probe().await?;
        Ok(p)
    }

    /// A provider for the configured server with `key` (the configured secret is not read), with
    /// no request sent.
    pub fn with_key(cfg: &Rfc2136Config, default_zone: &str, key: &TsigKey) -> Result<Self, Rfc2136Error> {
        cfg.validate()?;
        let config = |field: &str, problem: String| Rfc2136Error::Config {
            field: field.to_string(),
            problem,
        };
        let (host, port) = split_server(&cfg.server).map_err(|p| config("server", p))?;
        let zone = cfg.zone_or(default_zone);
        let origin = absolute(&zone).map_err(|p| config("zone", p))?;
        let signer = Signer::new(key).map_err(|p| config("tsig.algorithm", p))?;
        Ok(Self {
            target: Target {
                zone,
                server: cfg.server.trim().to_string(),
                key: key.display_name(),
            },
            origin,
            host,
            port,
            signer,
            limits: Limits {
                max_records_per_batch: cfg.max_changes_per_update,
                max_value_chars_per_batch: MAX_VALUE_CHARS_PER_UPDATE,
                replace_cost: 2,
            },
            timeout: DEFAULT_TIMEOUT,
            gate: ApiGate::new(
                // A primary of one's own has no API quota: no client-side limit to speak of.
                1_000_000.0,
                Operation::ALL.map(Operation::as_str),
            ),
            last_transfer: Mutex::new(None),
        })
    }

    /// Builder: how long one step may take (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server, as configured.
    pub fn server(&self) -> &str {
        &self.target.server
    }

    /// The TSIG key's name.
    pub fn key_name(&self) -> &str {
        &self.target.key
    }

    /// The SOA serial of the last listing (none before the first).
    pub fn serial(&self) -> Option<u32> {
        self.last_transfer().map(|t| t.serial)
    }

    /// What the last zone transfer brought (none before the first).
    pub fn last_transfer(&self) -> Option<TransferInfo> {
        *self.last_transfer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn network(&self, op: Operation, source: std::io::Error) -> Rfc2136Error {
        Rfc2136Error::Network {
            op,
            target: self.target.clone(),
            source,
        }
    }

    fn protocol(&self, op: Operation, problem: impl Into<String>) -> Rfc2136Error {
        Rfc2136Error::Protocol {
            op,
            target: self.target.clone(),
            problem: problem.into(),
        }
    }

    fn refused(&self, op: Operation, answer: Answer) -> Rfc2136Error {
        Rfc2136Error::Refused {
            op,
            target: self.target.clone(),
            answer,
        }
    }

    fn rejected(&self, op: Operation, r: Rejection) -> Rfc2136Error {
        match r {
            Rejection::Unsigned(rcode) if rcode != ResponseCode::NoError => self.refused(
                op,
                Answer {
                    rcode,
                    tsig: None,
                    signed: false,
                },
            ),
            Rejection::Unsigned(_) => self.protocol(
                op,
                "the server answered without signing with the key (is this the server that holds it?)",
            ),
            Rejection::Tsig(rcode, e) => self.refused(
                op,
                Answer {
                    rcode,
                    tsig: Some(e),
                    signed: false,
                },
            ),
            other => self.protocol(op, other.to_string()),
        }
    }

    async fn open(&self, op: Operation) -> Result<Conn, Rfc2136Error> {
        Conn::connect(&self.host, self.port, self.timeout)
            .await
            .map_err(|e| self.network(op, e))
    }

    /// Signs `msg` with id `id`, returning its wire form and the verifier of its answer.
    fn sign(&self, op: Operation, msg: &mut Message, id: u16) -> Result<(Vec<u8>, Pending), Rfc2136Error> {
        msg.metadata.id = id;
        let (bytes, chain) = self.signer.sign(msg, now()).map_err(|e| self.protocol(op, e))?;
        Ok((bytes, Pending { id, chain }))
    }

    /// Verifies one answer message of `pending`'s request.
    fn verify(&self, op: Operation, pending: &mut Pending, bytes: &[u8]) -> Result<Message, Rfc2136Error> {
        let id = bytes.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        if id != Some(pending.id) {
            return Err(self.protocol(op, "an answer to another request"));
        }
        pending.chain.verify(bytes).map_err(|r| self.rejected(op, r))
    }

    /// Sends one signed request and returns its verified single-message answer.
    async fn exchange(
        &self,
        op: Operation,
        conn: &mut Conn,
        mut msg: Message,
    ) -> Result<Message, Rfc2136Error> {
        let id = msg.metadata.id;
        let (bytes, mut pending) = self.sign(op, &mut msg, id)?;
        if bytes.len() > MAX_MESSAGE {
            return Err(self.protocol(op, format!("a request of {} bytes", bytes.len())));
        }
        conn.send(&bytes).await.map_err(|e| self.network(op, e))?;
        let answer = conn.recv().await.map_err(|e| self.network(op, e))?;
        let msg = self.verify(op, &mut pending, &answer)?;
        pending.chain.finish().map_err(|r| self.rejected(op, r))?;
        Ok(msg)
    }

    /// The answer's response code as an error, unless NOERROR (or one of `also_ok`).
    fn expect_ok(&self, op: Operation, msg: &Message, also_ok: &[ResponseCode]) -> Result<(), Rfc2136Error> {
        let rcode = msg.metadata.response_code;
        if rcode == ResponseCode::NoError || also_ok.contains(&rcode) {
            return Ok(());
        }
        Err(self.refused(
            op,
            Answer {
                rcode,
                tsig: None,
                signed: true,
            },
        ))
    }

    /// Asks for the zone's SOA with the key: the server must answer authoritatively.
    async fn probe(&self) -> Result<(), Rfc2136Error> {
        let op = Operation::Query;
        let answer = self
            .gate
            .call(op.as_str(), |_| false, async {
                let mut conn = self.open(op).await?;
                self.exchange(op, &mut conn, wire::query(self.origin.clone(), RecordType::SOA))
                    .await
            })
            .await?;
        self.expect_ok(op, &answer, &[])?;
        let soa = answer
            .answers
            .iter()
            .find(|r| r.record_type() == RecordType::SOA && r.name.eq_ignore_root(&self.origin));
        if !answer.metadata.authoritative || soa.is_none() {
            return Err(self.protocol(
                op,
                "the server is not authoritative for the zone (no authoritative SOA in its answer)",
            ));
        }
        debug!(zone = %self.target.zone, server = %self.target.server, key = %self.target.key, "rfc2136 server answers for the zone");
        Ok(())
    }

    /// Transfers the zone, keeping the sets at names `keep` accepts, and remembers the serial.
    async fn transfer(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<RecordSet>, Rfc2136Error> {
        let op = Operation::Axfr;
        let (sets, info) = self
            .gate
            .call(op.as_str(), Rfc2136Error::is_transient, async {
                let mut conn = self.open(op).await?;
                let mut q = wire::query(self.origin.clone(), RecordType::AXFR);
                let id = q.metadata.id;
                let (bytes, mut pending) = self.sign(op, &mut q, id)?;
                conn.send(&bytes).await.map_err(|e| self.network(op, e))?;
                let mut sets = Sets::default();
                let mut serial = None;
                let (mut messages, mut unsigned_messages, mut records) = (0, 0, 0);
                loop {
                    let bytes = conn.recv().await.map_err(|e| self.network(op, e))?;
                    let msg = self.verify(op, &mut pending, &bytes)?;
                    self.expect_ok(op, &msg, &[])?;
                    messages += 1;
                    if msg.signature().is_none() {
                        unsigned_messages += 1;
                    }
                    let mut done = false;
                    for r in &msg.answers {
                        if done {
                            return Err(self.protocol(op, "records after the closing SOA"));
                        }
                        match (&r.data, serial) {
                            (RData::SOA(soa), None) => serial = Some(soa.serial),
                            (RData::SOA(_), Some(_)) => {
                                done = true;
                                continue;
                            }
                            (_, None) => {
                                return Err(self.protocol(op, "the transfer does not start with the SOA"));
                            }
                            _ => {}
                        }
                        records += 1;
                        if keep(&wire::model_name(&r.name)) {
                            sets.add(r);
                        }
                    }
                    if done {
                        break;
                    }
                    if serial.is_none() {
                        return Err(self.protocol(op, "the transfer does not start with the SOA"));
                    }
                }
                pending.chain.finish().map_err(|r| self.rejected(op, r))?;
                let info = TransferInfo {
                    serial: serial.unwrap_or_default(),
                    messages,
                    unsigned_messages,
                    records,
                };
                Ok((sets.into_sets(), info))
            })
            .await?;
        let previous = self
            .last_transfer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(info);
        let serial = info.serial;
        if let Some(p) = previous.map(|p| p.serial)
            && serial != p
            && serial.wrapping_sub(p) > u32::MAX / 2
        {
            warn!(zone = %self.target.zone, previous = p, serial, "the zone's serial went backwards (reloaded from an older file?)");
        }
        debug!(zone = %self.target.zone, serial, sets = sets.len(), messages = info.messages, unsigned = info.unsigned_messages, "zone transferred");
        Ok(sets)
    }

    /// The checks of one set before it is sent.
    fn check_set(&self, set: &RecordSet) -> Result<(), ProviderError> {
        let invalid = |reason: String| ProviderError::invalid(set.key(), reason);
        let rules = SetRules {
            ttl_i32: true,
            ..SetRules::REFERENCE
        };
        check_set_with(set, &self.target.zone, self.capabilities(), &rules)?;
        dns_type(&set.rtype).map_err(invalid)?;
        absolute(&set.name).map_err(invalid)?;
        wire::records(set, set.ttl).map(|_| ()).map_err(invalid)
    }

    /// Queries every set the batch replaces or deletes (pipelined on `conn`) and refuses the
    /// batch when one is gone or has another TTL than expected.
    async fn check_ttls(&self, conn: &mut Conn, changes: &[Change]) -> Result<(), ProviderError> {
        let olds: Vec<&RecordSet> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Replace { old, .. } | Change::Delete { old } => Some(&**old),
                Change::Create { .. } => None,
            })
            .collect();
        if olds.is_empty() {
            return Ok(());
        }
        let op = Operation::Query;
        let base = Message::query().metadata.id;
        let mut requests = Vec::with_capacity(olds.len());
        let mut asked = Vec::with_capacity(olds.len());
        let mut pending = HashMap::with_capacity(olds.len());
        for (i, old) in olds.iter().enumerate() {
            let name = absolute(&old.name).map_err(|r| ProviderError::invalid(old.key(), r))?;
            let t = dns_type(&old.rtype).map_err(|r| ProviderError::invalid(old.key(), r))?;
            let id = base.wrapping_add(i as u16);
            let (bytes, p) = self.sign(op, &mut wire::query(name.clone(), t), id)?;
            requests.push(bytes);
            asked.push((name, t));
            pending.insert(id, (i, p));
        }
        let answers = self
            .gate
            .call(op.as_str(), |_: &std::io::Error| false, conn.pipeline(&requests))
            .await
            .map_err(|e| self.network(op, e))?;
        let mut current: Vec<Option<u32>> = vec![None; olds.len()];
        for bytes in answers {
            let id = bytes.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let Some((i, mut p)) = pending.remove(&id) else {
                return Err(self.protocol(op, "an answer to no pending query").into());
            };
            let msg = self.verify(op, &mut p, &bytes)?;
            p.chain.finish().map_err(|r| self.rejected(op, r))?;
            self.expect_ok(op, &msg, &[ResponseCode::NXDomain])?;
            if !msg.metadata.authoritative {
                return Err(self
                    .protocol(op, "a non-authoritative answer for a name of the zone")
                    .into());
            }
            let (name, t) = &asked[i];
            current[i] = msg
                .answers
                .iter()
                .find(|r| r.name.eq_ignore_root(name) && r.record_type() == *t)
                .map(|r| r.ttl);
        }
        for (old, ttl) in olds.iter().zip(current) {
            match ttl {
                None => return Err(ProviderError::conflict(old.key(), "does not exist")),
                Some(ttl) if ttl != old.ttl => {
                    return Err(ProviderError::conflict(
                        old.key(),
                        format!("its TTL is {ttl}, not the expected {}", old.ttl),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// For names the batch turns into a CNAME while deleting other sets: reads them and refuses
    /// the batch when something the batch does not delete would stay beside the CNAME.
    async fn check_swaps(&self, names: &BTreeSet<String>, changes: &[Change]) -> Result<(), ProviderError> {
        let removed: BTreeSet<RecordKey> = changes
            .iter()
            .filter(|c| !matches!(c, Change::Create { .. }))
            .map(Change::key)
            .collect();
        let current = self.transfer(|n| names.contains(n)).await?;
        for name in names {
            let staying: Vec<String> = current
                .iter()
                .filter(|s| s.name == name.as_str() && !removed.contains(&s.key()))
                .map(|s| s.rtype.to_string())
                .collect();
            if !staying.is_empty() {
                let key = changes
                    .iter()
                    .map(Change::key)
                    .find(|k| k.name == name.as_str() && k.rtype == feddns_provider::RecordType::Cname)
                    .unwrap_or_else(|| changes[0].key());
                return Err(ProviderError::conflict(
                    key,
                    format!(
                        "the name also holds {} which the batch does not delete (a CNAME stands alone)",
                        staying.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Sends the UPDATE and maps the answer.
    async fn send_update(
        &self,
        conn: &mut Conn,
        msg: Message,
        changes: &[Change],
    ) -> Result<(), ProviderError> {
        let op = Operation::Update;
        let first = changes[0].key();
        let answer = self
            .gate
            .call(
                op.as_str(),
                |_: &Rfc2136Error| false,
                self.exchange(op, conn, msg),
            )
            .await?;
        let rcode = answer.metadata.response_code;
        match rcode {
            ResponseCode::NoError => Ok(()),
            ResponseCode::YXRRSet
            | ResponseCode::NXRRSet
            | ResponseCode::YXDomain
            | ResponseCode::NXDomain => {
                let what = match rcode {
                    ResponseCode::YXRRSet => "a set the batch creates exists already",
                    ResponseCode::NXRRSet => {
                        "a set the batch replaces or deletes differs from the expected one or is gone"
                    }
                    ResponseCode::YXDomain => "a name the batch makes a CNAME holds other sets",
                    _ => "a name the batch expects is gone",
                };
                Err(ProviderError::conflict(
                    first,
                    format!(
                        "the server answered {} to the UPDATE's prerequisites: {what}; nothing was changed",
                        rcode_name(rcode)
                    ),
                ))
            }
            ResponseCode::FormErr | ResponseCode::NotZone => Err(ProviderError::invalid(
                first,
                format!(
                    "the server refused the UPDATE as {} ({})",
                    rcode_name(rcode),
                    self.target
                ),
            )),
            _ => Err(self
                .refused(
                    op,
                    Answer {
                        rcode,
                        tsig: None,
                        signed: true,
                    },
                )
                .into()),
        }
    }
}

#[async_trait::async_trait]
impl Provider for Rfc2136Provider {
    fn kind(&self) -> &'static str {
        "rfc2136"
    }

    fn zone(&self) -> &str {
        &self.target.zone
    }

    fn capabilities(&self) -> Capabilities {
        // Plain record sets only; BIND and Knot answer wildcard names (RFC 4592) like any other.
        Capabilities {
            wildcard: true,
            ..Capabilities::default()
        }
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn api_stats(&self) -> ApiStats {
        self.gate.stats()
    }

    async fn list(&self) -> Result<Vec<RecordSet>, ProviderError> {
        Ok(self.transfer(|_| true).await?)
    }

    async fn list_names(&self, names: &[String]) -> Result<Vec<RecordSet>, ProviderError> {
        let wanted: BTreeSet<String> = names.iter().map(|n| feddns_provider::normalize_name(n)).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.transfer(|n| wanted.contains(n)).await?)
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), ProviderError> {
        if changes.is_empty() {
            return Ok(());
        }
        check_batch(changes, self.limits, |s| self.check_set(s))?;
        let msg = wire::update(&self.origin, changes)
            .map_err(|(i, r)| ProviderError::invalid(changes[i].key(), r))?;
        // hickory compresses the names of a message's first 120 records only, so long names
        // fill an UPDATE sooner than its record count says: refused before anything is sent,
        // the caller splits the batch.
        let size = msg.to_vec().map_or(usize::MAX, |b| b.len()) + TSIG_ROOM;
        if size > MAX_MESSAGE {
            return Err(ProviderError::TooLarge(format!(
                "an UPDATE of about {size} bytes for {} changes; a DNS message over TCP holds 65,535",
                changes.len()
            )));
        }
        let swaps = wire::cname_swaps(changes);
        if !swaps.is_empty() {
            self.check_swaps(&swaps, changes).await?;
        }
        let mut conn = self.open(Operation::Update).await?;
        self.check_ttls(&mut conn, changes).await?;
        self.send_update(&mut conn, msg, changes).await?;
        debug!(zone = %self.target.zone, changes = changes.len(), "UPDATE accepted");
        Ok(())
    }
}
