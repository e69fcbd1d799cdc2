//! Parse errors of text that may hold secrets (kubeconfigs, service-account keys, the
//! configuration file), reduced to what may be logged: where the text came from, the line and
//! column, and what is wrong, never a piece of the text.
//!
//! Parsers are not that careful. serde_saphyr's `Display` prints a snippet of the lines around
//! the error; serde's own messages quote the offending value (``invalid type: string "…"``,
//! ``unknown variant `…` ``, ``duplicate mapping key: …``); a PEM parser prints the bad line as
//! bytes. So the reason is rebuilt here from a fixed vocabulary: serde's message shapes keep
//! their wording and what the *code* supplied (the expected type, the allowed fields and
//! variants, a missing field's name) and lose what the *text* supplied. Any other message is
//! taken as free text: its first line only, with every quoted part removed.
//!
//! Each parser has a small adapter next to its only caller (serde_saphyr in the controller,
//! serde_json in the Cloud DNS provider) that finds the position and the message and calls
//! [`ParseError::new`] with [`serde_reason`] or [`free_text`].

/// Stands for a removed part of a message.
pub const REDACTED: &str = "…";

/// A parse error with nothing of the parsed text in it, and no source error (a parser's error
/// is not kept, so that walking the chain cannot bring its message back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {}", self.located())]
pub struct ParseError {
    /// Where the text came from: a file path, `Secret <ns>/<name> key <key>`, `member <name>`.
    pub origin: String,
    /// The line of the error (1-based), when the parser knows it.
    pub line: Option<u64>,
    /// The column of the error (1-based), when the parser knows it.
    pub column: Option<u64>,
    /// What is wrong, without content.
    pub reason: String,
}

impl ParseError {
    /// An error at `line`/`column` (0 or `None`: unknown) of the text from `origin`. `reason`
    /// must already be free of content ([`serde_reason`], [`free_text`], or a fixed phrase).
    pub fn new(
        origin: impl Into<String>,
        line: Option<u64>,
        column: Option<u64>,
        reason: impl Into<String>,
    ) -> Self {
        let line = line.filter(|l| *l > 0);
        Self {
            origin: origin.into(),
            line,
            column: column.filter(|c| *c > 0 && line.is_some()),
            reason: reason.into(),
        }
    }

    /// The position and the reason, without the origin (`line 3, column 8: …`), for messages
    /// that name the origin in their own words.
    pub fn located(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", self.reason),
            (Some(l), None) => format!("line {l}: {}", self.reason),
            _ => self.reason.clone(),
        }
    }
}

/// The kinds of value serde's `Unexpected` describes, as its `Display` starts them.
const UNEXPECTED_KINDS: &[&str] = &[
    "string",
    "integer",
    "floating point",
    "boolean",
    "character",
    "byte array",
    "unit value",
    "unit variant",
    "newtype variant",
    "tuple variant",
    "struct variant",
    "newtype struct",
    "Option value",
    "sequence",
    "map",
    "enum",
    "null",
];

/// The kind of value a serde `Unexpected` description names (`string "abc"` → `string`,
/// ``integer `5` `` → `integer`), or `value`; never the value.
pub fn unexpected_kind(unexpected: &str) -> &'static str {
    let u = unexpected.trim_start();
    UNEXPECTED_KINDS
        .iter()
        .find(|k| {
            u.strip_prefix(**k)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ',', '"', '`']))
        })
        .copied()
        .unwrap_or("value")
}

/// The part of `message` after its last `, expected ` (the code-supplied expectation; a value
/// quoted before it cannot reach past it), or `None`.
fn expectation(message: &str) -> Option<&str> {
    message
        .rfind(", expected ")
        .map(|i| &message[i + ", expected ".len()..])
}

/// A field name as serde's derive gives it (from the code), or `None` for anything else.
fn code_identifier(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b'$'));
    ok.then_some(name)
}

/// A serde deserialization message (`de::Error`'s wording, as serde_json and others print it,
/// without any position suffix) rebuilt without the values it quotes:
///
/// * ``invalid type: string "…", expected a map`` → `invalid type: string, expected a map`
/// * `invalid value: …, expected …`, `invalid length 3, expected …` likewise
/// * ``unknown field `…`, expected one of `a`, `b` `` → ``unknown field, expected one of `a`, `b` ``
/// * ``unknown variant `…`, expected …`` → `unknown variant, expected …`
/// * ``missing field `name` ``, ``duplicate field `name` `` keep the name (it comes from the code)
/// * anything else is [`free_text`].
pub fn serde_reason(message: &str) -> String {
    let m = message.trim();
    for (prefix, what) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            return match expectation(rest) {
                Some(expected) => format!("{what}: {}, expected {expected}", unexpected_kind(rest)),
                None => format!("{what}: {}", unexpected_kind(rest)),
            };
        }
    }
    if let Some(rest) = m.strip_prefix("invalid length ") {
        let len: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let expected = expectation(rest)
            .map(|e| format!(", expected {e}"))
            .unwrap_or_default();
        return format!("invalid length {len}{expected}");
    }
    for (prefix, what, none) in [
        ("unknown field ", "unknown field", ", there are no fields"),
        ("unknown variant ", "unknown variant", ", there are no variants"),
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            return match expectation(rest) {
                Some(expected) => format!("{what}, expected {expected}"),
                None if rest.ends_with(none) => format!("{what}{none}"),
                None => what.to_string(),
            };
        }
    }
    for (prefix, what) in [
        ("missing field ", "missing field"),
        ("duplicate field ", "duplicate field"),
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            let name = rest.strip_prefix('`').and_then(|r| r.strip_suffix('`'));
            return match name.and_then(code_identifier) {
                Some(name) => format!("{what} `{name}`"),
                None => what.to_string(),
            };
        }
    }
    free_text(m)
}

/// A quoted part kept as is: one punctuation character (``expected `,` or `}` ``).
fn harmless(quoted: &str) -> bool {
    let mut chars = quoted.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_ascii_punctuation())
}

/// A free-text message cut to its first line (snippets follow on later lines), with every part
/// in `"…"`, `'…'` or `` `…` `` (also `` `…' ``) replaced by [`REDACTED`], unless it is a single
/// punctuation character. Quotes inside words (`wasn't`) open nothing. Text outside quotes is
/// kept: use this only for messages written by code, which quotes the values it shows.
pub fn free_text(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let opens = matches!(c, '"' | '\'' | '`') && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !opens {
            out.push(c);
            i += 1;
            continue;
        }
        let close = closing(&chars, i);
        let inner: String = chars[i + 1..close].iter().collect();
        if close < chars.len() && harmless(&inner) {
            out.push(c);
            out.push_str(&inner);
            out.push(chars[close]);
        } else {
            out.push_str(REDACTED);
        }
        i = close + 1;
    }
    out
}

/// The index of the quote closing the one at `open` (`chars.len()` when there is none): `"`
/// skips escaped quotes; `` ` `` closes at the next `` ` ``, else at the next `'` (the
/// `` `x' `` style).
fn closing(chars: &[char], open: usize) -> usize {
    let rest = || open + 1..chars.len();
    match chars[open] {
        '"' => {
            let mut escaped = false;
            rest()
                .find(|&j| {
                    let end = chars[j] == '"' && !escaped;
                    escaped = chars[j] == '\\' && !escaped;
                    end
                })
                .unwrap_or(chars.len())
        }
        '`' => rest()
            .find(|&j| chars[j] == '`')
            .or_else(|| rest().find(|&j| chars[j] == '\''))
            .unwrap_or(chars.len()),
        q => rest().find(|&j| chars[j] == q).unwrap_or(chars.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sekret-token-7f3a9c";

    #[test]
    fn serde_messages_keep_their_shape_and_lose_their_values() {
        let cases = [
            (
                format!("invalid type: string \"{SECRET}\", expected a map"),
                "invalid type: string, expected a map",
            ),
            (
                format!("invalid type: string \"a\\\", expected x, {SECRET}\", expected struct Config"),
                "invalid type: string, expected struct Config",
            ),
            (
                "invalid type: integer `7131999028713`, expected a string".to_string(),
                "invalid type: integer, expected a string",
            ),
            (
                "invalid type: floating point `1.5`, expected u32".to_string(),
                "invalid type: floating point, expected u32",
            ),
            (
                "invalid type: map, expected a string".to_string(),
                "invalid type: map, expected a string",
            ),
            (
                format!("invalid value: string \"{SECRET}\", expected a port"),
                "invalid value: string, expected a port",
            ),
            (
                format!("invalid value: {SECRET}, expected a port"),
                "invalid value: value, expected a port",
            ),
            (
                "invalid length 3, expected a tuple of size 2".to_string(),
                "invalid length 3, expected a tuple of size 2",
            ),
            (
                format!("unknown field `{SECRET}`, expected one of `name`, `file`"),
                "unknown field, expected one of `name`, `file`",
            ),
            (
                format!("unknown field `{SECRET}`, there are no fields"),
                "unknown field, there are no fields",
            ),
            (
                format!("unknown variant `{SECRET}`, expected `plain` or `latency`"),
                "unknown variant, expected `plain` or `latency`",
            ),
            (
                "missing field `client_email`".to_string(),
                "missing field `client_email`",
            ),
            (
                "duplicate field `private_key`".to_string(),
                "duplicate field `private_key`",
            ),
            (format!("missing field `{SECRET} x`"), "missing field"),
            (
                format!("invalid duration \"{SECRET}\": expected e.g. 250ms, 30s, 5m, 1h"),
                "invalid duration …: expected e.g. 250ms, 30s, 5m, 1h",
            ),
            ("expected `,` or `}`".to_string(), "expected `,` or `}`"),
        ];
        for (message, want) in cases {
            assert_eq!(serde_reason(&message), want, "{message}");
        }
    }

    #[test]
    fn free_text_drops_later_lines_and_quoted_parts() {
        let cases = [
            (
                format!("did not find expected key\n --> <input>:7:4\n7 |   token: {SECRET}"),
                "did not find expected key".to_string(),
            ),
            (
                "while parsing a flow mapping, did not find expected ',' or '}'".to_string(),
                "while parsing a flow mapping, did not find expected ',' or '}'".to_string(),
            ),
            (
                "unexpected character: `@'".to_string(),
                "unexpected character: `@'".to_string(),
            ),
            (
                "unexpected character: `x'".to_string(),
                format!("unexpected character: {REDACTED}"),
            ),
            (
                format!("the handle wasn't declared: '{SECRET}'"),
                format!("the handle wasn't declared: {REDACTED}"),
            ),
            (format!("bad \"{SECRET}"), format!("bad {REDACTED}")),
            (format!("bad `{SECRET}"), format!("bad {REDACTED}")),
            (
                format!("a 'b' \"{SECRET}\\\"x\" c"),
                format!("a {REDACTED} {REDACTED} c"),
            ),
            (format!("`sek'{SECRET}` d"), format!("{REDACTED} d")),
        ];
        for (message, want) in cases {
            assert_eq!(free_text(&message), want, "{message}");
        }
    }

    #[test]
    fn unexpected_kinds_come_from_a_fixed_list() {
        assert_eq!(unexpected_kind(&format!("string \"{SECRET}\"")), "string");
        assert_eq!(unexpected_kind("integer `5`"), "integer");
        assert_eq!(unexpected_kind("unit value"), "unit value");
        assert_eq!(unexpected_kind("sequence"), "sequence");
        assert_eq!(unexpected_kind("strings"), "value");
        assert_eq!(unexpected_kind(SECRET), "value");
    }

    #[test]
    fn errors_show_origin_and_position() {
        let e = ParseError::new(
            "/etc/feddns/eu.yaml",
            Some(7),
            Some(4),
            "did not find expected key",
        );
        assert_eq!(
            e.to_string(),
            "/etc/feddns/eu.yaml: line 7, column 4: did not find expected key"
        );
        assert_eq!(e.located(), "line 7, column 4: did not find expected key");
        assert!(std::error::Error::source(&e).is_none());
        let e = ParseError::new("member eu", Some(0), Some(3), "invalid UTF-8");
        assert_eq!(e.to_string(), "member eu: invalid UTF-8");
        let e = ParseError::new("x", Some(2), None, "r");
        assert_eq!(e.to_string(), "x: line 2: r");
    }
}
