//! Which Services are federated: a Kubernetes label selector and namespace lists.
//!
//! The selector string has the syntax `kubectl -l` and the API server accept (`app=web`,
//! `tier!=cache`, `env in (prod,staging)`, `env notin (dev)`, `canary`, `!canary`, joined by commas
//! meaning AND). It is parsed once, when the configuration is read, so that a typo is a config
//! error rather than a 400 from every member's API server; Kubernetes members receive it
//! normalized and filter server-side, snapshot files are filtered here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::federation::model::SourceKind;
use crate::federation::names::check_label;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, BTreeSet<String>),
    /// `key notin (a,b)` (also true when the label is absent).
    NotIn(String, BTreeSet<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A selector that does not parse: the requirement (or the whole text, for a comma or parenthesis
/// out of place) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{requirement:?}: {problem}")]
pub struct SelectorError {
    /// The requirement at fault, as written (or the whole selector).
    pub requirement: String,
    /// What is wrong with it.
    pub problem: String,
}

/// A parsed label selector; the empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses selector text; the error says which requirement is wrong and why.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fault = |requirement: &str, problem: String| SelectorError {
            requirement: requirement.to_string(),
            problem,
        };
        let mut requirements = Vec::new();
        for part in split_top_level(text).map_err(|problem| fault(text, problem))? {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(fault(text, "empty requirement (two commas in a row?)".into()));
            }
            requirements.push(parse_requirement(part).map_err(|problem| fault(part, problem))?);
        }
        Ok(Self(requirements))
    }

    /// Whether labels satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v),
            Requirement::NotEquals(k, v) => get(k) != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }

    /// True for the empty selector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for LabelSelector {
    /// The normalized form sent to API servers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let set = |vs: &BTreeSet<String>| vs.iter().cloned().collect::<Vec<_>>().join(",");
            match r {
                Requirement::Equals(k, v) => write!(f, "{k}={v}")?,
                Requirement::NotEquals(k, v) => write!(f, "{k}!={v}")?,
                Requirement::In(k, vs) => write!(f, "{k} in ({})", set(vs))?,
                Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", set(vs))?,
                Requirement::Exists(k) => f.write_str(k)?,
                Requirement::DoesNotExist(k) => write!(f, "!{k}")?,
            }
        }
        Ok(())
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err("nested parentheses".into()),
            ')' if depth == 1 => depth = 0,
            ')' => return Err("')' without '('".into()),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("'(' without ')'".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(check_key(key.trim())?));
    }
    for (op, not) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = part.split_once(op) {
            let (k, v) = (check_key(k.trim())?, check_value(v.trim())?);
            return Ok(if not {
                Requirement::NotEquals(k, v)
            } else {
                Requirement::Equals(k, v)
            });
        }
    }
    if let Some(open) = part.find('(') {
        let head = part[..open].trim_end();
        let Some(body) = part[open + 1..].strip_suffix(')') else {
            return Err("text after ')'".into());
        };
        let (key, not) = if let Some(k) = head.strip_suffix(" notin") {
            (k, true)
        } else if let Some(k) = head.strip_suffix(" in") {
            (k, false)
        } else {
            return Err("expected `key in (...)` or `key notin (...)`".into());
        };
        let key = check_key(key.trim())?;
        let values = body
            .split(',')
            .map(|v| check_value(v.trim()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if values.iter().any(String::is_empty) || values.is_empty() {
            return Err("a set needs at least one non-empty value".into());
        }
        return Ok(if not {
            Requirement::NotIn(key, values)
        } else {
            Requirement::In(key, values)
        });
    }
    Ok(Requirement::Exists(check_key(part)?))
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters of
/// alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn check_key(key: &str) -> Result<String, String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 {
            return Err(format!("label key prefix {p:?} must be 1 to 253 characters"));
        }
        for label in p.split('.') {
            check_label("label key prefix", label).map_err(|e| e.to_string())?;
        }
    }
    if name.is_empty() || !is_label_value(name) {
        return Err(format!(
            "label key {key:?} must be a name of up to 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit, optionally after a DNS prefix and '/'"
        ));
    }
    Ok(key.to_string())
}

fn check_value(value: &str) -> Result<String, String> {
    if value.is_empty() || is_label_value(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "label value {value:?} must be up to 63 letters, digits, '-', '_' or '.', starting and \
             ending with a letter or digit"
        ))
    }
}

fn is_label_value(v: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    v.len() <= 63
        && ends_ok(v.chars().next())
        && ends_ok(v.chars().last())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Which objects of a member are considered: the kinds (`sources`), namespaces and a label
/// selector. The namespaces and the selector apply to Services, Ingresses and Gateways alike;
/// routes are taken from the selected namespaces (their Gateway is what the selector chooses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Only these namespaces (empty: all).
    pub namespaces: BTreeSet<String>,
    /// Never these namespaces.
    pub exclude_namespaces: BTreeSet<String>,
    /// Services, Ingresses and Gateways must match this.
    pub labels: LabelSelector,
    /// The kinds read (default: Services only).
    pub sources: BTreeSet<SourceKind>,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            namespaces: BTreeSet::new(),
            exclude_namespaces: BTreeSet::new(),
            labels: LabelSelector::default(),
            sources: BTreeSet::from([SourceKind::Service]),
        }
    }
}

impl Selection {
    /// Whether objects of this source are read.
    pub fn reads(&self, source: SourceKind) -> bool {
        self.sources.contains(&source)
    }

    /// The same selection, reading `sources`.
    #[must_use]
    pub fn with_sources(mut self, sources: impl IntoIterator<Item = SourceKind>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// Whether a namespace is watched.
    pub fn namespace_selected(&self, namespace: &str) -> bool {
        (self.namespaces.is_empty() || self.namespaces.contains(namespace))
            && !self.exclude_namespaces.contains(namespace)
    }

    /// Whether a Service with these labels in this namespace is considered.
    pub fn selects(&self, namespace: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.namespace_selected(namespace) && self.labels.matches(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator_and_matches_like_the_api_server() {
        let s =
            LabelSelector::parse("app=web, tier!=cache,env in (prod, staging),zone notin (x),canary,!old")
                .unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,tier!=cache,env in (prod,staging),zone notin (x),canary,!old"
        );
        let ok = labels(&[("app", "web"), ("env", "prod"), ("canary", "")]);
        assert!(s.matches(Some(&ok)));
        for (k, v) in [("tier", "cache"), ("env", "dev"), ("zone", "x"), ("old", "1")] {
            let mut l = ok.clone();
            l.insert(k.into(), v.into());
            assert!(!s.matches(Some(&l)), "{k}={v} must not match");
        }
        let mut no_canary = ok.clone();
        no_canary.remove("canary");
        assert!(!s.matches(Some(&no_canary)));
        assert!(!s.matches(None));
        assert!(
            LabelSelector::parse("a==b")
                .unwrap()
                .matches(Some(&labels(&[("a", "b")])))
        );
    }

    #[test]
    fn empty_selector_selects_everything() {
        let s = LabelSelector::parse("  ").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(None));
        assert_eq!(s.to_string(), "");
    }

    #[test]
    fn errors_name_the_requirement() {
        for (text, expect) in [
            ("app=web,,tier=x", "empty requirement"),
            ("env in (a,b", "'(' without ')'"),
            ("env in a,b)", "')' without '('"),
            ("env within (a)", "expected `key in (...)`"),
            ("-bad=x", "label key \"-bad\""),
            ("app=we b", "label value \"we b\""),
            ("Example.COM/app=x", "label key prefix"),
            ("env in ()", "at least one"),
        ] {
            let err = LabelSelector::parse(text).unwrap_err();
            assert!(text.contains(&err.requirement), "{text}: {err:?}");
            let err = err.to_string();
            assert!(err.contains(expect), "{text}: {err}");
        }
        assert!(LabelSelector::parse("feddns.io/federate=true").is_ok());
    }

    #[test]
    fn selection_combines_namespaces_and_labels() {
        let sel = Selection {
            namespaces: ["shop".to_string(), "kube-system".to_string()].into(),
            exclude_namespaces: ["kube-system".to_string()].into(),
            labels: LabelSelector::parse("app").unwrap(),
            ..Selection::default()
        };
        let app = labels(&[("app", "x")]);
        assert!(sel.selects("shop", Some(&app)));
        assert!(!sel.selects("shop", None));
        assert!(!sel.selects("kube-system", Some(&app)));
        assert!(!sel.selects("other", Some(&app)));
        assert!(Selection::default().selects("any", None));
    }
}
