//! The provider's configuration, embeddable in the controller's YAML as
//! `provider: { rfc2136: { ... } }`, and the TSIG key it names.

use std::fmt;
use std::path::PathBuf;

use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use serde::Deserialize;

use crate::Rfc2136Error;

/// The default and the largest `max_changes_per_update`.
pub const DEFAULT_MAX_CHANGES_PER_UPDATE: usize = 500;
/// The largest `max_changes_per_update`: well inside 64 KiB for A records with short names.
pub const MAX_CHANGES_PER_UPDATE: usize = 5_000;

/// RFC 2136 provider settings.
///
/// ```yaml
/// provider:
///   rfc2136:
///     server: 127.0.0.1:53          # the primary that accepts updates (host or IP, port 53 by default)
///     zone: example.com             # default: the config's domain
///     tsig: { name: feddns-key, algorithm: hmac-sha256, secret_file: /etc/feddns/tsig.key }
///                                   # or secret: <base64>, or secret_env: FEDDNS_TSIG_SECRET
///     transfer: axfr                # how the zone is listed (AXFR over TCP, TSIG-signed)
///     max_changes_per_update: 500   # bounded so an UPDATE stays well inside 64 KiB over TCP
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfc2136Config {
    /// The primary server: `host:port`, `ip:port`, `[ipv6]:port`, or a host or IP alone (port 53).
    pub server: String,
    /// The zone apex; default: the configuration's `domain`.
    #[serde(default)]
    pub zone: Option<String>,
    /// The TSIG key that signs every request (and whose signature every answer must carry).
    pub tsig: TsigConfig,
    /// How the zone is listed.
    #[serde(default)]
    pub transfer: Transfer,
    /// Changes per UPDATE message, counted as the controller's batch limits count them (a change
    /// costs as many records as its set has values; a replace twice).
    #[serde(default = "default_max_changes")]
    pub max_changes_per_update: usize,
}

fn default_max_changes() -> usize {
    DEFAULT_MAX_CHANGES_PER_UPDATE
}

/// How the zone is listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transfer {
    /// A full zone transfer (RFC 5936) over TCP, TSIG-signed, every message's signature checked.
    #[default]
    Axfr,
}

/// A TSIG key: its name, algorithm, and where its secret (base64, as `tsig-keygen` and
/// `keymgr -t` print it) comes from. Exactly one of `secret`, `secret_file` and `secret_env`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigConfig {
    /// The key's name, as the server knows it.
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// The secret itself (base64). Prefer `secret_file` or `secret_env`.
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the secret: the base64 text alone, or a BIND `key` clause as `tsig-keygen`
    /// writes it. Relative paths are relative to the configuration file.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret (base64).
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn default_algorithm() -> String {
    "hmac-sha256".to_string()
}

impl fmt::Debug for TsigConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigConfig")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .finish()
    }
}

/// A loaded TSIG key. Its `Debug` shows the name and algorithm only.
#[derive(Clone)]
pub struct TsigKey {
    /// The key's name (absolute).
    pub name: Name,
    /// The HMAC algorithm.
    pub algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name.to_ascii())
            .field("algorithm", &self.algorithm.to_string())
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// A key from its parts; `secret` is the raw key (not base64).
    pub fn new(name: &str, algorithm: TsigAlgorithm, secret: Vec<u8>) -> Result<Self, Rfc2136Error> {
        Ok(Self {
            name: key_name(name).map_err(|p| config_error("tsig.name", p))?,
            algorithm,
            secret,
        })
    }

    /// The raw secret, for the signer only.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The key's name without the trailing dot, for messages.
    pub fn display_name(&self) -> String {
        self.name.to_ascii().trim_end_matches('.').to_string()
    }
}

fn config_error(field: &str, problem: impl Into<String>) -> Rfc2136Error {
    Rfc2136Error::Config {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// The algorithm named in a configuration.
pub fn parse_algorithm(text: &str) -> Result<TsigAlgorithm, String> {
    match text.trim().trim_end_matches('.').to_ascii_lowercase().as_str() {
        "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
        other => Err(format!(
            "{other:?} is not supported; use hmac-sha256, hmac-sha384 or hmac-sha512"
        )),
    }
}

fn key_name(text: &str) -> Result<Name, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("must not be empty".to_string());
    }
    let mut n = Name::from_ascii(t).map_err(|e| format!("{t:?} is not a DNS name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// Checks a DNS name (a zone); the problem, if any.
fn check_dns_name(text: &str) -> Result<(), String> {
    let n = text.strip_suffix('.').unwrap_or(text);
    if n.is_empty() || n.len() > 253 || n.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(format!("{text:?} is not a DNS name"));
    }
    if n.chars().any(|c| c.is_whitespace() || c == '\\' || c == '"') {
        return Err(format!("{text:?} is not a DNS name"));
    }
    Ok(())
}

/// Splits `server` into host and port (53 when absent).
pub(crate) fn split_server(server: &str) -> Result<(String, u16), String> {
    let s = server.trim();
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok((ip.to_string(), 53));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{s:?}: {p:?} is not a port"))?;
            (h, port)
        }
        Some(_) => return Err(format!("{s:?}: write an IPv6 address with a port as [addr]:port")),
        None => (s, 53),
    };
    check_dns_name(host).map_err(|_| format!("{s:?} is not host:port"))?;
    Ok((host.to_string(), port))
}

impl Rfc2136Config {
    /// Checks the settings that need no file, variable or network. Errors name the field below
    /// `provider.rfc2136` (`tsig.secret_file`, ...).
    pub fn validate(&self) -> Result<(), Rfc2136Error> {
        split_server(&self.server).map_err(|p| config_error("server", p))?;
        if let Some(z) = &self.zone {
            check_dns_name(z).map_err(|p| config_error("zone", p))?;
        }
        key_name(&self.tsig.name).map_err(|p| config_error("tsig.name", p))?;
        parse_algorithm(&self.tsig.algorithm).map_err(|p| config_error("tsig.algorithm", p))?;
        let sources = [
            self.tsig.secret.is_some(),
            self.tsig.secret_file.is_some(),
            self.tsig.secret_env.is_some(),
        ];
        match sources.iter().filter(|s| **s).count() {
            1 => {}
            0 => {
                return Err(config_error(
                    "tsig",
                    "set one of secret, secret_file or secret_env",
                ));
            }
            _ => {
                return Err(config_error(
                    "tsig",
                    "set only one of secret, secret_file or secret_env",
                ));
            }
        }
        if let Some(f) = &self.tsig.secret_file
            && f.as_os_str().is_empty()
        {
            return Err(config_error("tsig.secret_file", "must not be empty"));
        }
        if let Some(v) = &self.tsig.secret_env
            && (v.is_empty() || v.contains('='))
        {
            return Err(config_error(
                "tsig.secret_env",
                format!("{v:?} is not an environment variable name"),
            ));
        }
        if !(1..=MAX_CHANGES_PER_UPDATE).contains(&self.max_changes_per_update) {
            return Err(config_error(
                "max_changes_per_update",
                format!(
                    "{} is out of range (1 to {MAX_CHANGES_PER_UPDATE})",
                    self.max_changes_per_update
                ),
            ));
        }
        Ok(())
    }

    /// The zone: the configured one, else `default` (the configuration's domain); lower-case,
    /// without the trailing dot.
    pub fn zone_or(&self, default: &str) -> String {
        feddns_provider::normalize_name(self.zone.as_deref().unwrap_or(default))
    }

    /// Validates, then reads the key's secret from where the configuration says. Errors name
    /// the field and the file or variable, never the secret.
    pub fn load_key(&self) -> Result<TsigKey, Rfc2136Error> {
        self.validate()?;
        let t = &self.tsig;
        let algorithm = parse_algorithm(&t.algorithm).map_err(|p| config_error("tsig.algorithm", p))?;
        let (field, text) = if let Some(s) = &t.secret {
            ("tsig.secret", s.clone())
        } else if let Some(path) = &t.secret_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                config_error("tsig.secret_file", format!("cannot read {}: {e}", path.display()))
            })?;
            let secret = secret_in_file(&text, t, &algorithm)
                .map_err(|p| config_error("tsig.secret_file", format!("{}: {p}", path.display())))?;
            ("tsig.secret_file", secret)
        } else if let Some(var) = &t.secret_env {
            let text = std::env::var(var)
                .map_err(|e| config_error("tsig.secret_env", format!("environment variable {var}: {e}")))?;
            ("tsig.secret_env", text)
        } else {
            return Err(config_error(
                "tsig",
                "set one of secret, secret_file or secret_env",
            ));
        };
        let where_ = match (field, &t.secret_file, &t.secret_env) {
            ("tsig.secret_file", Some(p), _) => format!("{}: ", p.display()),
            ("tsig.secret_env", _, Some(v)) => format!("environment variable {v}: "),
            _ => String::new(),
        };
        let secret = decode_secret(&text).map_err(|p| config_error(field, format!("{where_}{p}")))?;
        TsigKey::new(&t.name, algorithm, secret)
    }
}

/// The secret in a key file: the base64 text alone, a BIND `key` clause as `tsig-keygen` writes
/// it, or Knot's `key:` section as `keymgr -t` writes it. A key name or algorithm in the file
/// must be the configured one. Problems say what is wrong without quoting the file.
fn secret_in_file(text: &str, t: &TsigConfig, algorithm: &TsigAlgorithm) -> Result<String, String> {
    let (name, alg, secret) = if text.contains('{') {
        // key "name" { algorithm hmac-sha256; secret "base64"; };
        let after = |word: &str| -> Option<&str> {
            let at = text.find(word)? + word.len();
            Some(text[at..].trim_start())
        };
        let quoted = |rest: &str| -> Option<String> {
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        };
        let name = after("key").and_then(quoted);
        let alg =
            after("algorithm").and_then(|r| Some(r[..r.find(';')?].trim().trim_matches('"').to_string()));
        let secret = after("secret")
            .and_then(quoted)
            .ok_or("a key clause without a quoted secret")?;
        (name, alg, secret)
    } else if text.lines().any(|l| l.trim_start().starts_with("secret:")) {
        // key:\n  - id: name\n    algorithm: hmac-sha256\n    secret: base64
        let field = |key: &str| {
            text.lines().find_map(|l| {
                let l = l.trim_start().trim_start_matches("- ").trim_start();
                l.strip_prefix(key)
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        };
        let secret = field("secret:").ok_or("a key section without a secret")?;
        (field("id:"), field("algorithm:"), secret)
    } else {
        return Ok(text.trim().to_string());
    };
    if let Some(name) = name {
        let want = key_name(&t.name)?.to_ascii().to_ascii_lowercase();
        let found = key_name(&name).map_err(|_| "the key's name in the file is not a DNS name")?;
        if found.to_ascii().to_ascii_lowercase() != want {
            return Err(format!(
                "the file is for key {name:?}, not tsig.name {:?}",
                t.name
            ));
        }
    }
    if let Some(alg) = alg {
        let found = parse_algorithm(&alg).map_err(|p| format!("the file's algorithm {p}"))?;
        if &found != algorithm {
            return Err(format!(
                "the file's key uses {alg}, not tsig.algorithm {}",
                t.algorithm
            ));
        }
    }
    Ok(secret)
}

fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err("the secret is empty".to_string());
    }
    let secret = data_encoding::BASE64
        .decode(compact.as_bytes())
        .map_err(|_| "the secret is not base64".to_string())?;
    if secret.is_empty() {
        return Err("the secret is empty".to_string());
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Rfc2136Config {
        Rfc2136Config {
            server: "127.0.0.1:5353".into(),
            zone: None,
            tsig: TsigConfig {
                name: "feddns-key".into(),
                algorithm: default_algorithm(),
                secret: Some("c2VjcmV0LXRzaWcta2V5LTk0MzE=".into()),
                secret_file: None,
                secret_env: None,
            },
            transfer: Transfer::Axfr,
            max_changes_per_update: 500,
        }
    }

    fn field_of(e: Rfc2136Error) -> String {
        match e {
            Rfc2136Error::Config { field, .. } => field,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown_fields() {
        let c: Rfc2136Config =
            serde_json::from_str(r#"{"server":"ns1.example.com","tsig":{"name":"k","secret_env":"X"}}"#)
                .unwrap();
        assert_eq!(c.max_changes_per_update, 500);
        assert_eq!(c.transfer, Transfer::Axfr);
        assert_eq!(c.tsig.algorithm, "hmac-sha256");
        assert_eq!(c.zone_or("Example.COM."), "example.com");
        assert!(
            serde_json::from_str::<Rfc2136Config>(r#"{"server":"x","tsig":{"name":"k"},"port":1}"#).is_err()
        );
        assert!(
            serde_json::from_str::<Rfc2136Config>(r#"{"server":"x","tsig":{"name":"k"},"transfer":"ixfr"}"#)
                .is_err()
        );
    }

    #[test]
    fn servers_are_host_and_port() {
        assert_eq!(split_server("127.0.0.1:53").unwrap(), ("127.0.0.1".into(), 53));
        assert_eq!(split_server("[::1]:5353").unwrap(), ("::1".into(), 5353));
        assert_eq!(split_server("::1").unwrap(), ("::1".into(), 53));
        assert_eq!(
            split_server("ns1.example.com").unwrap(),
            ("ns1.example.com".into(), 53)
        );
        assert_eq!(split_server("ns1:5300").unwrap(), ("ns1".into(), 5300));
        for bad in ["", "ns1:0", "ns1:x", "a b:53", "::1:53:x"] {
            assert!(split_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        cfg().validate().unwrap();
        let bad = |f: fn(&mut Rfc2136Config), field: &str| {
            let mut c = cfg();
            f(&mut c);
            assert_eq!(field_of(c.validate().unwrap_err()), field);
        };
        bad(|c| c.server = "a b".into(), "server");
        bad(|c| c.zone = Some("a..b".into()), "zone");
        bad(|c| c.tsig.name = " ".into(), "tsig.name");
        bad(|c| c.tsig.algorithm = "hmac-md5".into(), "tsig.algorithm");
        bad(|c| c.tsig.secret = None, "tsig");
        bad(|c| c.tsig.secret_env = Some("V".into()), "tsig");
        bad(
            |c| {
                c.tsig.secret = None;
                c.tsig.secret_env = Some("A=B".into());
            },
            "tsig.secret_env",
        );
        bad(|c| c.max_changes_per_update = 0, "max_changes_per_update");
        bad(|c| c.max_changes_per_update = 5001, "max_changes_per_update");
    }

    #[test]
    fn secrets_load_from_each_source_and_never_appear_in_errors() {
        let key = cfg().load_key().unwrap();
        assert_eq!(key.secret(), b"secret-tsig-key-9431");
        assert_eq!(key.display_name(), "feddns-key");
        let shown = format!("{key:?} {:?}", cfg());
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("secret-tsig"),
            "{shown}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tsig.key");
        let from_file = |text: &str| {
            std::fs::write(&file, text).unwrap();
            let mut c = cfg();
            c.tsig.secret = None;
            c.tsig.secret_file = Some(file.clone());
            c.load_key()
        };
        assert_eq!(
            from_file("c2VjcmV0LXRzaWcta2V5LTk0MzE=\n").unwrap().secret(),
            b"secret-tsig-key-9431"
        );
        // tsig-keygen's output.
        let clause = "key \"feddns-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXRzaWcta2V5LTk0MzE=\";\n};\n";
        assert_eq!(from_file(clause).unwrap().secret(), b"secret-tsig-key-9431");
        // keymgr -t's output.
        let knot = "# hmac-sha256:feddns-key:c2VjcmV0LXRzaWcta2V5LTk0MzE=\nkey:\n  - id: feddns-key\n    algorithm: hmac-sha256\n    secret: c2VjcmV0LXRzaWcta2V5LTk0MzE=\n";
        assert_eq!(from_file(knot).unwrap().secret(), b"secret-tsig-key-9431");
        let e = from_file(&knot.replace("id: feddns-key", "id: other"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not tsig.name") && !e.contains("c2VjcmV0"), "{e}");
        for (text, want) in [
            (clause.replace("feddns-key", "other"), "not tsig.name"),
            (clause.replace("hmac-sha256", "hmac-sha512"), "not tsig.algorithm"),
            (
                "not base64 at all: c2VjcmV0LXRzaWcta2V5LTk0MzE".to_string(),
                "not base64",
            ),
            ("\n".to_string(), "empty"),
        ] {
            let e = from_file(&text).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("tsig.secret_file") && e.contains("tsig.key"),
                "{e}"
            );
            assert!(!e.contains("c2VjcmV0"), "{e}");
        }
        std::fs::remove_file(&file).unwrap();
        let e = from_file_missing(&file);
        assert!(e.contains("cannot read") && e.contains("tsig.secret_file"), "{e}");

        let mut c = cfg();
        c.tsig.secret = None;
        c.tsig.secret_env = Some("FEDDNS_RFC2136_TEST_UNSET_VARIABLE".into());
        let e = c.load_key().unwrap_err().to_string();
        assert!(
            e.contains("tsig.secret_env") && e.contains("FEDDNS_RFC2136_TEST_UNSET_VARIABLE"),
            "{e}"
        );
    }

    fn from_file_missing(file: &std::path::Path) -> String {
        let mut c = cfg();
        c.tsig.secret = None;
        c.tsig.secret_file = Some(file.to_path_buf());
        c.load_key().unwrap_err().to_string()
    }
}
