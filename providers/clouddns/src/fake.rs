//! [`FakeCloudDns`]: a strict Cloud DNS v1 REST server on loopback (feature `fake`).
//!
//! No Cloud DNS emulator exists (see `shared/reference/standins.md` §2.1), so this one enforces
//! the service's documented behaviour:
//!
//! * `managedZones.get`, `managedZones.list` (with the `dnsName` filter), `rrsets.list` (with
//!   `name` and `type` filters, `maxResults`, `pageToken`; pages of at most
//!   [`DEFAULT_FAKE_PAGE_SIZE`] rrsets unless changed, so tests cross page boundaries),
//!   `changes.create` and `changes.get`;
//! * a change is validated as a whole and applied atomically: every deletion must match the
//!   current rrset exactly (name, type, TTL, rrdatas in any order, routing policy, including
//!   health checks and policies feddns does not write, such as primary/backup, weighted round
//!   robin or fields this code does not know, which the fake stores and lists as given) or the
//!   change fails with 412 `conditionNotMet`; additions may carry geo policies only; an addition of an existing name and type fails with 409
//!   `alreadyExists`; a CNAME beside other types, a name outside the zone, a malformed rrdata
//!   (`additions[i].rrdata[j]`), a plain deletion of the apex SOA or NS, or two entries for one
//!   rrset fail with 400 `invalid`; more than 1,000 additions or deletions, 100,000 bytes of
//!   rrdata or 100 rrdatas per rrset fail with 400 `quotaExceeded`;
//! * change ids count up per zone from 1 (0 is the zone's creation); a change is `pending` when
//!   created and `done` from a later `changes.get` on (after [`FakeCloudDns::set_pending_gets`]
//!   more gets);
//! * errors in Google's JSON format, `{"error": {"code", "message", "errors": [{"reason"}]}}`;
//! * every API request needs `Authorization: Bearer <token>` with a token the fake issued or was
//!   given ([`FakeCloudDns::add_token`]), else 401;
//! * `POST /token` implements the service-account JWT-bearer grant: it checks the form fields,
//!   the JWT's issuer (a registered service account), audience (this endpoint), times and scope,
//!   and verifies its RS256 signature with the account's public key;
//! * each zone starts with an apex SOA and NS, as on the real service.
//!
//! For tests it adds fault injection (the next N API requests answer 429 or 5xx), request
//! counters per operation, and direct reads and writes of a zone's rrsets (to change records
//! behind a provider's back).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::provider::{
    MAX_ADDITIONS_PER_CHANGE, MAX_DELETIONS_PER_CHANGE, MAX_RRDATA_BYTES_PER_CHANGE, MAX_RRDATAS_PER_RRSET,
};
use crate::wire::{
    TXT_STRING_MAX, WireChange, WireError, WireErrorBody, WireErrorItem, WireManagedZone,
    WireManagedZonesList, WireRrset, WireRrsetsList, all_rrdatas, canonical, fqdn, rrdata_bytes, txt_strings,
};

/// Largest `rrsets.list` page the fake returns unless changed with
/// [`FakeCloudDns::set_page_size`].
pub const DEFAULT_FAKE_PAGE_SIZE: usize = 100;

/// The grant type of the service-account flow.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

type RrsetKey = (String, String);

#[derive(Debug, Clone)]
struct Zone {
    name: String,
    dns_name: String,
    id: u64,
    rrsets: BTreeMap<RrsetKey, WireRrset>,
    changes: Vec<(WireChange, u32)>,
}

#[derive(Debug)]
struct State {
    zones: BTreeMap<(String, String), Zone>,
    tokens: BTreeSet<String>,
    accounts: BTreeMap<String, Vec<u8>>,
    faults: VecDeque<u16>,
    page_size: usize,
    pending_gets: u32,
    requests: BTreeMap<String, u64>,
    issued: u64,
    next_zone_id: u64,
    token_uri: String,
}

/// A reply: status and JSON body.
type Reply = (u16, String);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// `secs` since the epoch as an RFC 3339 UTC timestamp (as the service writes `startTime`).
fn rfc3339(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

fn json<T: serde::Serialize>(value: &T) -> Reply {
    (
        200,
        serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string()),
    )
}

/// A reply in Google's JSON error format.
fn gerr(code: u16, reason: &str, message: impl Into<String>) -> Reply {
    let message = message.into();
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ if code >= 500 => "INTERNAL",
        _ => "UNKNOWN",
    };
    json_status(
        code,
        &WireErrorBody {
            error: WireError {
                code,
                message: message.clone(),
                errors: vec![WireErrorItem {
                    domain: "global".to_string(),
                    reason: reason.to_string(),
                    message,
                }],
                status: Some(status.to_string()),
            },
        },
    )
}

fn json_status<T: serde::Serialize>(code: u16, value: &T) -> Reply {
    (code, json(value).1)
}

/// An OAuth2 error reply of the token endpoint.
fn oauth_err(error: &str, description: impl Into<String>) -> Reply {
    json_status(
        400,
        &serde_json::json!({"error": error, "error_description": description.into()}),
    )
}

fn invalid_value(field: &str, value: &str) -> Reply {
    gerr(
        400,
        "invalid",
        format!("Invalid value for 'entity.change.{field}': '{value}'"),
    )
}

/// A form body or query string, `+`- and percent-decoded; later keys win.
fn parse_form(s: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

fn is_domain(name: &str) -> bool {
    let Some(n) = name.strip_suffix('.') else {
        return false;
    };
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'*')
        })
}

/// Checks one rrdata of type `rtype` as Cloud DNS would.
fn rrdata_ok(rtype: &str, rrdata: &str) -> bool {
    match rtype {
        "A" => rrdata.parse::<Ipv4Addr>().is_ok(),
        "AAAA" => rrdata.parse::<Ipv6Addr>().is_ok(),
        "CNAME" | "NS" | "PTR" => is_domain(rrdata),
        "TXT" | "SPF" => txt_strings(rrdata).is_ok_and(|s| s.iter().all(|c| c.len() <= TXT_STRING_MAX)),
        "MX" => {
            let mut it = rrdata.split_whitespace();
            matches!((it.next().map(str::parse::<u16>), it.next(), it.next()), (Some(Ok(_)), Some(n), None) if is_domain(n))
        }
        "SOA" => rrdata.split_whitespace().count() == 7,
        _ => !rrdata.trim().is_empty(),
    }
}

const KNOWN_TYPES: [&str; 16] = [
    "A", "AAAA", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV",
    "SVCB", "TXT",
];

impl Zone {
    fn new(name: &str, dns_name: &str, id: u64) -> Self {
        let dns_name = fqdn(&dns_name.to_ascii_lowercase());
        let mut rrsets = BTreeMap::new();
        let soa = WireRrset {
            kind: Some("dns#resourceRecordSet".into()),
            name: dns_name.clone(),
            rtype: "SOA".into(),
            ttl: Some(21600),
            rrdatas: vec![
                "ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"
                    .into(),
            ],
            ..WireRrset::default()
        };
        let ns = WireRrset {
            kind: Some("dns#resourceRecordSet".into()),
            name: dns_name.clone(),
            rtype: "NS".into(),
            ttl: Some(21600),
            rrdatas: (1..=4)
                .map(|i| format!("ns-cloud-a{i}.googledomains.com."))
                .collect(),
            ..WireRrset::default()
        };
        rrsets.insert((dns_name.clone(), "SOA".into()), soa);
        rrsets.insert((dns_name.clone(), "NS".into()), ns);
        Self {
            name: name.to_string(),
            dns_name,
            id,
            rrsets,
            changes: Vec::new(),
        }
    }

    fn wire(&self) -> WireManagedZone {
        WireManagedZone {
            kind: Some("dns#managedZone".into()),
            name: self.name.clone(),
            dns_name: self.dns_name.clone(),
            id: Some(self.id.to_string()),
            visibility: Some("public".into()),
            description: Some(String::new()),
        }
    }

    fn in_zone(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        n == self.dns_name || n.ends_with(&format!(".{}", self.dns_name))
    }

    /// Structural checks of one addition or deletion.
    fn check_entry(&self, w: &WireRrset, list: &str, i: usize, addition: bool) -> Result<(), Reply> {
        let field = |f: &str| format!("{list}[{i}].{f}");
        if !w.name.ends_with('.') || !is_domain(&w.name) {
            return Err(invalid_value(&field("name"), &w.name));
        }
        if !self.in_zone(&w.name) {
            return Err(gerr(
                400,
                "invalid",
                format!(
                    "The resource 'entity.change.{list}[{i}]' named '{}' ({}) is not within the zone '{}'",
                    w.name, w.rtype, self.dns_name
                ),
            ));
        }
        if !KNOWN_TYPES.contains(&w.rtype.as_str()) {
            return Err(invalid_value(&field("type"), &w.rtype));
        }
        if !addition {
            return Ok(());
        }
        match w.ttl {
            None => {
                return Err(gerr(
                    400,
                    "required",
                    format!("Required field 'entity.change.{}' not specified", field("ttl")),
                ));
            }
            Some(t) if !(0..=i64::from(i32::MAX)).contains(&t) => {
                return Err(invalid_value(&field("ttl"), &t.to_string()));
            }
            Some(_) => {}
        }
        if w.rtype == "SOA" && w.name.to_ascii_lowercase() != self.dns_name {
            return Err(invalid_value(&field("type"), "SOA"));
        }
        if w.rtype == "CNAME" && w.name.to_ascii_lowercase() == self.dns_name {
            return Err(gerr(
                400,
                "invalid",
                format!(
                    "The resource 'entity.change.{list}[{i}]' named '{}' (CNAME) cannot be at the zone apex",
                    w.name
                ),
            ));
        }
        let check_rrdatas = |rrdatas: &[String], prefix: &str| -> Result<(), Reply> {
            if rrdatas.is_empty() {
                return Err(gerr(
                    400,
                    "required",
                    format!("Required field 'entity.change.{prefix}rrdata' not specified"),
                ));
            }
            if rrdatas.len() > MAX_RRDATAS_PER_RRSET {
                return Err(gerr(
                    400,
                    "quotaExceeded",
                    format!(
                        "Quota exceeded for 'resourceRecordsPerRrset' ({MAX_RRDATAS_PER_RRSET}) in 'entity.change.{prefix}rrdata'"
                    ),
                ));
            }
            for (j, r) in rrdatas.iter().enumerate() {
                if !rrdata_ok(&w.rtype, r) {
                    return Err(invalid_value(&format!("{prefix}rrdata[{j}]"), r));
                }
            }
            if w.rtype == "CNAME" && rrdatas.len() != 1 {
                return Err(invalid_value(&format!("{prefix}rrdata"), &rrdatas.join(" ")));
            }
            Ok(())
        };
        match &w.routing_policy {
            None => check_rrdatas(&w.rrdatas, &format!("{list}[{i}]."))?,
            Some(p) => {
                if !w.rrdatas.is_empty() {
                    return Err(gerr(
                        400,
                        "invalid",
                        format!("'entity.change.{list}[{i}]' has both rrdatas and a routing policy"),
                    ));
                }
                let Some(geo) = p
                    .geo
                    .as_ref()
                    .filter(|_| p.wrr.is_none() && p.primary_backup.is_none())
                else {
                    return Err(invalid_value(
                        &field("routingPolicy"),
                        "only geo policies are supported by the fake",
                    ));
                };
                if geo.items.is_empty() {
                    return Err(gerr(
                        400,
                        "required",
                        format!(
                            "Required field 'entity.change.{list}[{i}].routingPolicy.geo.items' not specified"
                        ),
                    ));
                }
                let mut seen = BTreeSet::new();
                for (k, item) in geo.items.iter().enumerate() {
                    if item.location.is_empty() || !seen.insert(item.location.as_str()) {
                        return Err(invalid_value(
                            &format!("{list}[{i}].routingPolicy.geo.items[{k}].location"),
                            &item.location,
                        ));
                    }
                    check_rrdatas(
                        &item.rrdatas,
                        &format!("{list}[{i}].routingPolicy.geo.items[{k}]."),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Validates `change` as a whole, then applies it. On error nothing changed.
    fn apply(&mut self, change: &WireChange) -> Result<(), Reply> {
        if change.additions.is_empty() && change.deletions.is_empty() {
            return Err(gerr(
                400,
                "invalid",
                "The change has no additions and no deletions",
            ));
        }
        if change.additions.len() > MAX_ADDITIONS_PER_CHANGE {
            return Err(gerr(
                400,
                "quotaExceeded",
                format!(
                    "Quota exceeded for 'rrsetAdditionsPerChange': {} > {MAX_ADDITIONS_PER_CHANGE}",
                    change.additions.len()
                ),
            ));
        }
        if change.deletions.len() > MAX_DELETIONS_PER_CHANGE {
            return Err(gerr(
                400,
                "quotaExceeded",
                format!(
                    "Quota exceeded for 'rrsetDeletionsPerChange': {} > {MAX_DELETIONS_PER_CHANGE}",
                    change.deletions.len()
                ),
            ));
        }
        let bytes: usize = change
            .additions
            .iter()
            .chain(&change.deletions)
            .map(rrdata_bytes)
            .sum();
        if bytes > MAX_RRDATA_BYTES_PER_CHANGE {
            return Err(gerr(
                400,
                "quotaExceeded",
                format!(
                    "Quota exceeded for 'totalRrdataSizePerChange': {bytes} > {MAX_RRDATA_BYTES_PER_CHANGE}"
                ),
            ));
        }
        let key = |w: &WireRrset| (w.name.to_ascii_lowercase(), w.rtype.clone());
        let mut added = BTreeSet::new();
        for (i, w) in change.additions.iter().enumerate() {
            self.check_entry(w, "additions", i, true)?;
            if !added.insert(key(w)) {
                return Err(gerr(
                    400,
                    "invalid",
                    format!(
                        "The resource 'entity.change.additions[{i}]' named '{} ({})' appears twice",
                        w.name, w.rtype
                    ),
                ));
            }
        }
        let mut deleted = BTreeSet::new();
        for (i, w) in change.deletions.iter().enumerate() {
            self.check_entry(w, "deletions", i, false)?;
            let k = key(w);
            if !deleted.insert(k.clone()) {
                return Err(gerr(
                    400,
                    "invalid",
                    format!(
                        "The resource 'entity.change.deletions[{i}]' named '{} ({})' appears twice",
                        w.name, w.rtype
                    ),
                ));
            }
            if k.0 == self.dns_name && (w.rtype == "SOA" || w.rtype == "NS") && !added.contains(&k) {
                return Err(gerr(
                    400,
                    "invalid",
                    format!(
                        "The resource 'entity.change.deletions[{i}]' named '{} ({})' cannot be deleted: the zone apex needs it",
                        w.name, w.rtype
                    ),
                ));
            }
        }
        let mut rrsets = self.rrsets.clone();
        for (i, w) in change.deletions.iter().enumerate() {
            match rrsets.get(&key(w)) {
                Some(cur) if canonical(cur) == canonical(w) => {
                    rrsets.remove(&key(w));
                }
                _ => {
                    return Err(gerr(
                        412,
                        "conditionNotMet",
                        format!("Precondition not met for 'entity.change.deletions[{i}]'"),
                    ));
                }
            }
        }
        for (i, w) in change.additions.iter().enumerate() {
            let k = key(w);
            if rrsets.contains_key(&k) {
                return Err(gerr(
                    409,
                    "alreadyExists",
                    format!(
                        "The resource 'entity.change.additions[{i}]' named '{} ({})' already exists",
                        w.name, w.rtype
                    ),
                ));
            }
            let mut stored = w.clone();
            stored.kind = Some("dns#resourceRecordSet".into());
            stored.name = k.0.clone();
            rrsets.insert(k, stored);
        }
        for (i, w) in change.additions.iter().enumerate() {
            let name = w.name.to_ascii_lowercase();
            let types: Vec<&str> = rrsets
                .range((name.clone(), String::new())..)
                .take_while(|((n, _), _)| *n == name)
                .map(|((_, t), _)| t.as_str())
                .collect();
            if types.contains(&"CNAME") && types.len() > 1 {
                return Err(gerr(
                    400,
                    "invalid",
                    format!(
                        "The resource 'entity.change.additions[{i}]' named '{} ({})' conflicts: a CNAME cannot share its name with other types",
                        w.name, w.rtype
                    ),
                ));
            }
        }
        self.rrsets = rrsets;
        Ok(())
    }
}

impl State {
    fn zone_mut(&mut self, project: &str, zone: &str) -> Result<&mut Zone, Reply> {
        self.zones
            .get_mut(&(project.to_string(), zone.to_string()))
            .ok_or_else(|| {
                gerr(
                    404,
                    "notFound",
                    format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
                )
            })
    }

    fn count(&mut self, op: &str) {
        *self.requests.entry(op.to_string()).or_default() += 1;
    }

    fn token(&mut self, body: &str) -> Reply {
        let form = parse_form(body);
        if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER) {
            return oauth_err("unsupported_grant_type", "Invalid grant_type");
        }
        let Some(assertion) = form.get("assertion") else {
            return oauth_err("invalid_request", "Missing required parameter: assertion");
        };
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return oauth_err("invalid_grant", "Invalid JWT: not three segments");
        };
        let b64 = GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let decode =
            |s: &str| -> Option<serde_json::Value> { serde_json::from_slice(&b64.decode(s).ok()?).ok() };
        let (Some(header_json), Some(claims_json), Ok(sig)) =
            (decode(header), decode(claims), b64.decode(signature))
        else {
            return oauth_err("invalid_grant", "Invalid JWT: undecodable segment");
        };
        if header_json["alg"] != "RS256" {
            return oauth_err("invalid_grant", "Invalid JWT: alg must be RS256");
        }
        let iss = claims_json["iss"].as_str().unwrap_or_default();
        let Some(public_key) = self.accounts.get(iss) else {
            return oauth_err(
                "invalid_grant",
                format!("Invalid JWT: unknown service account {iss:?}"),
            );
        };
        let signed = format!("{header}.{claims}");
        let key =
            ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key);
        if key.verify(signed.as_bytes(), &sig).is_err() {
            return oauth_err("invalid_grant", "Invalid JWT Signature.");
        }
        if claims_json["aud"].as_str() != Some(self.token_uri.as_str()) {
            return oauth_err("invalid_grant", "Invalid JWT: wrong audience");
        }
        let now = now_secs();
        let exp = claims_json["exp"].as_u64().unwrap_or(0);
        let iat = claims_json["iat"].as_u64().unwrap_or(u64::MAX);
        if exp <= now || iat > now + 300 || exp.saturating_sub(iat) > 3600 {
            return oauth_err(
                "invalid_grant",
                "Invalid JWT: token must be a short-lived token and in a reasonable timeframe",
            );
        }
        let scope = claims_json["scope"].as_str().unwrap_or_default();
        if !scope
            .split_whitespace()
            .any(|s| s.ends_with("/auth/ndev.clouddns.readwrite") || s.ends_with("/auth/cloud-platform"))
        {
            return oauth_err("invalid_scope", format!("Invalid scope {scope:?}"));
        }
        self.issued += 1;
        let token = format!("ya29.fake-{}", self.issued);
        self.tokens.insert(token.clone());
        json(&serde_json::json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}))
    }

    fn route(&mut self, method: &Method, path: &str, query: &str, auth: Option<&str>, body: &[u8]) -> Reply {
        if path == "/token" {
            self.count("token");
            if method != Method::POST {
                return oauth_err("invalid_request", "POST only");
            }
            return self.token(&String::from_utf8_lossy(body));
        }
        let Some(rest) = path.strip_prefix("/dns/v1/projects/") else {
            self.count("unknown");
            return gerr(404, "notFound", format!("No such path {path}"));
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let op = match (method, segs.as_slice()) {
            (&Method::GET, [_, "managedZones"]) => "managedZones.list",
            (&Method::GET, [_, "managedZones", _]) => "managedZones.get",
            (&Method::GET, [_, "managedZones", _, "rrsets"]) => "rrsets.list",
            (&Method::POST, [_, "managedZones", _, "changes"]) => "changes.create",
            (&Method::GET, [_, "managedZones", _, "changes", _]) => "changes.get",
            _ => {
                self.count("unknown");
                return gerr(404, "notFound", format!("No such method {method} {path}"));
            }
        };
        self.count(op);
        if let Some(status) = self.faults.pop_front() {
            let reason = if status == 429 {
                "rateLimitExceeded"
            } else {
                "backendError"
            };
            return gerr(status, reason, format!("Injected fault {status}"));
        }
        let token = auth.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
        if !token.is_some_and(|t| self.tokens.contains(t)) {
            return gerr(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            );
        }
        let q = parse_form(query);
        let project = segs[0];
        match (op, segs.as_slice()) {
            ("managedZones.list", _) => {
                let wanted = q.get("dnsName").map(|n| fqdn(&n.to_ascii_lowercase()));
                let zones = self
                    .zones
                    .iter()
                    .filter(|((p, _), z)| p == project && wanted.as_ref().is_none_or(|w| *w == z.dns_name))
                    .map(|(_, z)| z.wire())
                    .collect();
                json(&WireManagedZonesList {
                    managed_zones: zones,
                    next_page_token: None,
                })
            }
            ("managedZones.get", [_, _, zone]) => match self.zone_mut(project, zone) {
                Ok(z) => json(&z.wire()),
                Err(e) => e,
            },
            ("rrsets.list", [_, _, zone, _]) => {
                let page_size = self.page_size;
                match self.zone_mut(project, zone) {
                    Ok(z) => list_rrsets(z, &q, page_size),
                    Err(e) => e,
                }
            }
            ("changes.create", [_, _, zone, _]) => {
                let change: WireChange = match serde_json::from_slice(body) {
                    Ok(c) => c,
                    Err(e) => return gerr(400, "parseError", format!("Parse Error: {e}")),
                };
                let pending_gets = self.pending_gets;
                let z = match self.zone_mut(project, zone) {
                    Ok(z) => z,
                    Err(e) => return e,
                };
                if let Err(e) = z.apply(&change) {
                    return e;
                }
                let mut stored = change;
                stored.kind = Some("dns#change".into());
                stored.id = Some((z.changes.len() + 1).to_string());
                stored.status = Some("pending".into());
                stored.start_time = Some(rfc3339(now_secs()));
                z.changes.push((stored.clone(), pending_gets));
                json(&stored)
            }
            ("changes.get", [_, _, zone, _, id]) => {
                let z = match self.zone_mut(project, zone) {
                    Ok(z) => z,
                    Err(e) => return e,
                };
                let found = id
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| z.changes.get_mut(i));
                match found {
                    Some((c, left)) => {
                        if *left > 0 {
                            *left -= 1;
                        } else {
                            c.status = Some("done".into());
                        }
                        json(c)
                    }
                    None => gerr(
                        404,
                        "notFound",
                        format!("The 'parameters.changeId' resource named '{id}' does not exist."),
                    ),
                }
            }
            _ => gerr(404, "notFound", format!("No such method {method} {path}")),
        }
    }
}

fn list_rrsets(z: &Zone, q: &BTreeMap<String, String>, page_size: usize) -> Reply {
    let name = q.get("name").map(|n| n.to_ascii_lowercase());
    let rtype = q.get("type").map(|t| t.to_ascii_uppercase());
    if rtype.is_some() && name.is_none() {
        return gerr(
            400,
            "invalid",
            "Invalid value for 'parameters.type': the type filter needs a name filter",
        );
    }
    let max = match q.get("maxResults").map(|m| m.parse::<usize>()) {
        None => page_size,
        Some(Ok(m)) if m > 0 => m.min(page_size),
        Some(_) => {
            return gerr(400, "invalid", "Invalid value for 'parameters.maxResults'");
        }
    };
    let after = match q.get("pageToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => {
            match unhex(t).and_then(|s| s.split_once('\t').map(|(n, t)| (n.to_string(), t.to_string()))) {
                Some(k) => Some(k),
                None => return gerr(400, "invalid", "Invalid value for 'parameters.pageToken'"),
            }
        }
    };
    let matching = z.rrsets.iter().filter(|((n, t), _)| {
        name.as_ref().is_none_or(|w| fqdn(w) == *n)
            && rtype.as_ref().is_none_or(|w| w == t)
            && after.as_ref().is_none_or(|a| (n, t) > (&a.0, &a.1))
    });
    let mut rrsets = Vec::new();
    let mut last = None;
    let mut more = false;
    for (k, w) in matching {
        if rrsets.len() == max {
            more = true;
            break;
        }
        rrsets.push(w.clone());
        last = Some(k);
    }
    let next_page_token = if more {
        last.map(|(n, t)| hex(&format!("{n}\t{t}")))
    } else {
        None
    };
    json(&WireRrsetsList {
        rrsets,
        next_page_token,
    })
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let (status, text) = state.lock().unwrap_or_else(PoisonError::into_inner).route(
        &method,
        &path,
        &query,
        auth.as_deref(),
        &body,
    );
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    Ok(resp)
}

/// A strict Cloud DNS v1 server on `127.0.0.1` (see the [module docs](self)).
#[derive(Debug)]
pub struct FakeCloudDns {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakeCloudDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCloudDns {
    /// Starts the server on an ephemeral loopback port (needs a Tokio runtime).
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            zones: BTreeMap::new(),
            tokens: BTreeSet::new(),
            accounts: BTreeMap::new(),
            faults: VecDeque::new(),
            page_size: DEFAULT_FAKE_PAGE_SIZE,
            pending_gets: 0,
            requests: BTreeMap::new(),
            issued: 0,
            next_zone_id: 1000,
            token_uri: format!("http://{addr}/token"),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let st = shared.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, state, task })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API base URL for [`CloudDnsConfig::base_url`](crate::CloudDnsConfig::base_url):
    /// `http://127.0.0.1:PORT/dns/v1/`.
    pub fn base_url(&self) -> String {
        format!("{}/dns/v1/", self.url())
    }

    /// The token endpoint, for a service-account file's `token_uri`.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.url())
    }

    /// Stops the server (dropping it does too).
    pub async fn stop(self) {
        self.task.abort();
    }

    /// Creates a managed zone `managed_zone` serving `dns_name` in `project`, holding an apex SOA
    /// and NS.
    pub fn add_zone(&self, project: &str, managed_zone: &str, dns_name: &str) {
        let mut s = self.lock();
        s.next_zone_id += 1;
        let zone = Zone::new(managed_zone, dns_name, s.next_zone_id);
        s.zones
            .insert((project.to_string(), managed_zone.to_string()), zone);
    }

    /// Accepts `token` as a bearer token from now on.
    pub fn add_token(&self, token: &str) {
        self.lock().tokens.insert(token.to_string());
    }

    /// Forgets every accepted token (issued or added): later requests get 401.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Registers a service account: the token endpoint accepts JWTs issued by `client_email` and
    /// signed with `private_key_pem` (PKCS#8, `-----BEGIN PRIVATE KEY-----`), whose public key
    /// it verifies them with.
    pub fn add_service_account(&self, client_email: &str, private_key_pem: &str) -> Result<(), String> {
        let b64: String = private_key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("private key is not PEM: {e}"))?;
        let pair = ring::rsa::KeyPair::from_pkcs8(&der)
            .map_err(|e| format!("private key is not RSA PKCS#8: {e}"))?;
        let public = pair.public().as_ref().to_vec();
        self.lock().accounts.insert(client_email.to_string(), public);
        Ok(())
    }

    /// The next `n` API requests (not token requests) answer `status` (429 as
    /// `rateLimitExceeded`, others as `backendError`) without any effect.
    pub fn fail_next(&self, status: u16, n: usize) {
        self.lock().faults.extend(std::iter::repeat_n(status, n));
    }

    /// Largest `rrsets.list` page (default [`DEFAULT_FAKE_PAGE_SIZE`]).
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// How many `changes.get` calls of each later change still answer `pending` (default 0: the
    /// first get answers `done`).
    pub fn set_pending_gets(&self, n: u32) {
        self.lock().pending_gets = n;
    }

    /// Requests received, by operation (`managedZones.get`, `managedZones.list`, `rrsets.list`,
    /// `changes.create`, `changes.get`, `token`, `unknown`), faults and failures included.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.lock().requests.clone()
    }

    /// Requests received for one operation.
    pub fn request_count(&self, op: &str) -> u64 {
        self.lock().requests.get(op).copied().unwrap_or(0)
    }

    /// Every rrset of a zone, in listing order (empty for an unknown zone).
    pub fn rrsets(&self, project: &str, managed_zone: &str) -> Vec<WireRrset> {
        self.lock()
            .zones
            .get(&(project.to_string(), managed_zone.to_string()))
            .map(|z| z.rrsets.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One rrset of a zone (`name` with or without the trailing dot).
    pub fn rrset(&self, project: &str, managed_zone: &str, name: &str, rtype: &str) -> Option<WireRrset> {
        self.lock()
            .zones
            .get(&(project.to_string(), managed_zone.to_string()))
            .and_then(|z| {
                z.rrsets
                    .get(&(fqdn(&name.to_ascii_lowercase()), rtype.to_ascii_uppercase()))
            })
            .cloned()
    }

    /// Stores an rrset directly, replacing any of its name and type, without any check (a change
    /// made behind a provider's back). Returns false for an unknown zone.
    pub fn put_rrset(&self, project: &str, managed_zone: &str, rrset: WireRrset) -> bool {
        let mut s = self.lock();
        let Some(z) = s.zones.get_mut(&(project.to_string(), managed_zone.to_string())) else {
            return false;
        };
        let mut rrset = rrset;
        rrset.name = fqdn(&rrset.name.to_ascii_lowercase());
        rrset.rtype = rrset.rtype.to_ascii_uppercase();
        rrset.kind = Some("dns#resourceRecordSet".into());
        z.rrsets.insert((rrset.name.clone(), rrset.rtype.clone()), rrset);
        true
    }

    /// Removes an rrset directly, without any check. Returns what was removed.
    pub fn remove_rrset(
        &self,
        project: &str,
        managed_zone: &str,
        name: &str,
        rtype: &str,
    ) -> Option<WireRrset> {
        self.lock()
            .zones
            .get_mut(&(project.to_string(), managed_zone.to_string()))
            .and_then(|z| {
                z.rrsets
                    .remove(&(fqdn(&name.to_ascii_lowercase()), rtype.to_ascii_uppercase()))
            })
    }

    /// The changes accepted in a zone, oldest first.
    pub fn changes(&self, project: &str, managed_zone: &str) -> Vec<WireChange> {
        self.lock()
            .zones
            .get(&(project.to_string(), managed_zone.to_string()))
            .map(|z| z.changes.iter().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default()
    }

    /// Every rrdata stored in a zone (for size assertions).
    pub fn rrdata_count(&self, project: &str, managed_zone: &str) -> usize {
        self.rrsets(project, managed_zone)
            .iter()
            .map(|w| all_rrdatas(w).count())
            .sum()
    }
}

/// A [`gcp_auth::TokenProvider`] that hands out one fixed token (for tests that do not exercise
/// the token flow; register the token with [`FakeCloudDns::add_token`]).
#[derive(Debug, Clone)]
pub struct StaticTokenProvider {
    token: String,
    project: Option<String>,
}

impl StaticTokenProvider {
    /// Hands out `token`; `project_id()` answers `project` (or fails without one).
    pub fn new(token: &str, project: Option<&str>) -> Self {
        Self {
            token: token.to_string(),
            project: project.map(str::to_string),
        }
    }
}

#[async_trait::async_trait]
impl gcp_auth::TokenProvider for StaticTokenProvider {
    async fn token(&self, _scopes: &[&str]) -> Result<Arc<gcp_auth::Token>, gcp_auth::Error> {
        let body = serde_json::json!({"access_token": self.token, "expires_in": 3600});
        serde_json::from_value(body)
            .map(Arc::new)
            .map_err(|e| gcp_auth::Error::Json("static token", e))
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        self.project
            .as_deref()
            .map(Arc::from)
            .ok_or(gcp_auth::Error::Str("no project configured for the static token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_form_decoding() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59.000Z");
        let f = parse_form("grant_type=urn%3Aietf%3Aparams&assertion=a.b%3D.c&x=1+2&bad=%zz%4");
        assert_eq!(f["grant_type"], "urn:ietf:params");
        assert_eq!(f["assertion"], "a.b=.c");
        assert_eq!(f["x"], "1 2");
        assert_eq!(f["bad"], "%zz%4");
        assert_eq!(
            unhex(&hex("a.example.com.\tA")).as_deref(),
            Some("a.example.com.\tA")
        );
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn rrdata_rules() {
        assert!(rrdata_ok("A", "192.0.2.1") && !rrdata_ok("A", "2001:db8::1"));
        assert!(rrdata_ok("AAAA", "2001:db8::1") && !rrdata_ok("AAAA", "192.0.2.1"));
        assert!(rrdata_ok("CNAME", "a.example.net.") && !rrdata_ok("CNAME", "a.example.net"));
        assert!(rrdata_ok("TXT", "\"a\" \"b\"") && !rrdata_ok("TXT", "\"a"));
        assert!(!rrdata_ok("TXT", &format!("\"{}\"", "x".repeat(256))));
        assert!(rrdata_ok("MX", "10 mail.example.com.") && !rrdata_ok("MX", "mail"));
    }
}
