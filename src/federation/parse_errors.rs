//! The controller's adapters to [`feddns_provider::parse_error`]: YAML errors (serde_saphyr,
//! which kube also uses for kubeconfigs) as [`ParseError`]s that show where the text is broken
//! and why, never the text.
//!
//! serde_saphyr's `Display` prints the lines around the error, and several of its errors carry a
//! piece of the text (a duplicate key, an unknown variant, a tag, a scalar): each of those is
//! rebuilt here from its kind, and everything else is the formatter's message for it (its kind,
//! as fixed text) through [`free_text`].

use feddns_provider::ParseError;
use feddns_provider::parse_error::{free_text, serde_reason, unexpected_kind};
use kube::config::KubeconfigError;
use serde_saphyr::{DefaultMessageFormatter, Error, MessageFormatter};

/// A YAML error of the text from `origin`, without any of the text.
pub fn yaml(origin: impl Into<String>, e: &Error) -> ParseError {
    let location = e.location();
    ParseError::new(
        origin,
        location.map(|l| l.line()),
        location.map(|l| l.column()),
        yaml_reason(e),
    )
}

/// What is wrong, from the kind of `e` and what the code (not the text) put into it.
fn yaml_reason(e: &Error) -> String {
    let one_of = |expected: &[&str]| {
        let names: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!(", expected {one}"),
            _ => format!(", expected one of {}", names.join(", ")),
        }
    };
    match e.without_snippet() {
        Error::AliasError { error, .. } => yaml_reason(error),
        Error::Message { msg, .. } | Error::SerdeVariantId { msg, .. } => serde_reason(msg),
        Error::ExternalMessage { msg, .. }
        | Error::HookError { msg, .. }
        | Error::InvalidOptions { msg, .. } => free_text(msg),
        Error::SerdeInvalidType {
            unexpected, expected, ..
        } => {
            format!(
                "invalid type: {}, expected {expected}",
                unexpected_kind(unexpected)
            )
        }
        Error::SerdeInvalidValue {
            unexpected, expected, ..
        } => {
            format!(
                "invalid value: {}, expected {expected}",
                unexpected_kind(unexpected)
            )
        }
        Error::SerdeInvalidLength { len, expected, .. } => {
            format!("invalid length {len}, expected {expected}")
        }
        Error::SerdeUnknownVariant { expected, .. } => format!("unknown variant{}", one_of(expected)),
        Error::SerdeUnknownField { expected, .. } => format!("unknown field{}", one_of(expected)),
        Error::SerdeMissingField { field, .. } => format!("missing field `{field}`"),
        Error::DuplicateMappingKey { .. } => "duplicate mapping key".to_string(),
        Error::TaggedEnumMismatch { target, .. } => format!("the tag does not name a variant of {target}"),
        Error::UnsupportedTag { .. } | Error::TaggedStructFieldName { .. } => {
            "unsupported YAML tag".to_string()
        }
        Error::NonFiniteFloat { .. } => "not a finite number".to_string(),
        Error::QuotingRequired { .. } => "this value must be quoted to be a string".to_string(),
        Error::UnresolvedProperty { .. }
        | Error::InvalidPropertyName { .. }
        | Error::PropertyRequiredButUnset { .. }
        | Error::PropertyRequiredButEmpty { .. } => "unresolved `${...}` reference".to_string(),
        Error::CyclicInclude { .. } | Error::ResolverError { .. } | Error::UnsupportedIncludeForm { .. } => {
            "includes are not supported".to_string()
        }
        Error::IOError { cause } => format!("cannot read the text ({})", cause.kind()),
        Error::Budget { .. } => "too large or too deeply nested".to_string(),
        // The rest carry nothing of the text: their message names the kind of error.
        other => free_text(&DefaultMessageFormatter.format_message(other)),
    }
}

/// A kubeconfig error of the kubeconfig from `origin`, without any of its text.
pub fn kubeconfig(origin: &str, e: &KubeconfigError) -> String {
    format!("{origin}: {}", kubeconfig_problem(e))
}

/// What is wrong with a kubeconfig, without naming it: a YAML error as [`yaml`] (line and
/// column, the kind of error), anything else as kube words it (paths, names, base64 offsets; no
/// content).
pub fn kubeconfig_problem(e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::Parse(p) => yaml("", p).located(),
        other => chain(other),
    }
}

/// An error and its sources, on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sekret-token-7f3a9c";

    fn err(text: &str) -> ParseError {
        let e = kube::config::Kubeconfig::from_yaml(text).unwrap_err();
        let KubeconfigError::Parse(p) = &e else {
            panic!("not a parse error: {e}")
        };
        yaml("k.yaml", p)
    }

    /// Every way a kubeconfig can break next to a token: the error says where and what, and
    /// nothing of the text (serde_saphyr's own message shows it in most of these).
    #[test]
    fn kubeconfig_errors_name_position_and_kind_only() {
        let head = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n";
        let cases = [
            (
                format!("{head}    token: {SECRET}\n   bad: indent\n"),
                "k.yaml: line 7, column 4: while parsing a block mapping, did not find expected key",
            ),
            (
                format!("apiVersion: v1\nkind: Config\nusers: {SECRET}\n"),
                "k.yaml: line 3, column 8: expected sequence start",
            ),
            (
                format!(
                    "{head}    exec:\n      apiVersion: v1\n      command: x\n      interactiveMode: {SECRET}\n"
                ),
                "k.yaml: line 9, column 24: unknown variant, expected one of `Never`, `IfAvailable`, `Always`",
            ),
            (
                format!("{head}    {{token: {SECRET}\n"),
                "k.yaml: line 6, column 5: unclosed bracket '{'",
            ),
            (
                format!("{head}    {{token: {SECRET}\ncontexts: []\n"),
                "k.yaml: line 6, column 5: unclosed bracket '{'",
            ),
            (
                format!("{head}    {SECRET}: 1\n    {SECRET}: 2\n"),
                "k.yaml: line 7, column 5: duplicate mapping key",
            ),
            (
                format!("{head}    client-key-data: {SECRET}\n      {SECRET}: x\n"),
                "k.yaml: line 7, column 26: mapping values are not allowed in this context",
            ),
            (
                format!("{head}    token: *{SECRET}\n"),
                "k.yaml: line 6, column 12: alias references unknown anchor",
            ),
            (
                format!("{head}    token: @{SECRET}\n"),
                "k.yaml: line 6, column 12: unexpected character: `@'",
            ),
            (
                format!("{head}    token: \"{SECRET}\n"),
                "k.yaml: line 7, column 1: invalid indentation in multiline quoted scalar",
            ),
            (
                format!("{head}    as-groups: {SECRET}\n"),
                "k.yaml: line 6, column 16: expected sequence start",
            ),
        ];
        for (text, want) in cases {
            let got = err(&text).to_string();
            assert_eq!(got, want, "{text}");
        }
    }

    /// Errors that serde builds with the value in them, whatever produced them.
    #[test]
    fn serde_errors_lose_their_values() {
        use serde::de::{Error as _, Unexpected};
        let cases = [
            (
                Error::invalid_type(Unexpected::Str(SECRET), &"a map"),
                "invalid type: string, expected a map",
            ),
            (
                Error::invalid_value(Unexpected::Other(SECRET), &"a port"),
                "invalid value: value, expected a port",
            ),
            (
                Error::unknown_field(SECRET, &["name", "file"]),
                "unknown field, expected one of `name`, `file`",
            ),
            (
                Error::unknown_variant(SECRET, &["plain"]),
                "unknown variant, expected `plain`",
            ),
            (Error::missing_field("server"), "missing field `server`"),
            (
                Error::custom(format!(
                    "invalid duration {SECRET:?}: the unit must be ms, s, m or h"
                )),
                "invalid duration …: the unit must be ms, s, m or h",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(yaml("x", &e).reason, want);
        }
    }

    #[test]
    fn other_kubeconfig_errors_keep_their_words() {
        let e = KubeconfigError::LoadContext("eu".into());
        assert_eq!(
            kubeconfig("k.yaml", &e),
            "k.yaml: failed to load current context: eu"
        );
    }
}
