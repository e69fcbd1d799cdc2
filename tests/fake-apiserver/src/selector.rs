//! Label and field selectors, as accepted by `labelSelector` / `fieldSelector` query parameters.

use std::collections::BTreeMap;

use crate::store::Obj;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector: all requirements must hold (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    reqs: Vec<(String, LabelOp)>,
}

impl LabelSelector {
    /// Parses the Kubernetes label selector grammar: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
    /// `k in (a,b)`, `k notin (a,b)`, `k>N`, `k<N`, comma separated.
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self { reqs });
        }
        for part in split_top_level(input)? {
            reqs.push(
                parse_requirement(part.trim()).map_err(|e| format!("unable to parse requirement: {e}"))?,
            );
        }
        Ok(Self { reqs })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|(key, op)| {
            let value = labels.get(key);
            match op {
                LabelOp::Exists => value.is_some(),
                LabelOp::NotExists => value.is_none(),
                LabelOp::Eq(v) => value == Some(v),
                LabelOp::NotEq(v) => value != Some(v),
                LabelOp::In(vs) => value.is_some_and(|x| vs.contains(x)),
                LabelOp::NotIn(vs) => value.is_none_or(|x| !vs.contains(x)),
                LabelOp::Gt(n) => value.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
                LabelOp::Lt(n) => value.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
            }
        })
    }
}

/// Splits at commas that are not inside parentheses.
fn split_top_level(input: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => {
                if depth > 0 {
                    return Err("nested parentheses".to_owned());
                }
                depth += 1;
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| "unbalanced ')'".to_owned())?;
            }
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".to_owned());
    }
    parts.push(&input[start..]);
    Ok(parts)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    });
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(format!("invalid label key \"{key}\""))
    }
}

fn validate_value(value: &str) -> Result<(), String> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid label value: \"{value}\""))
    }
}

fn parse_requirement(req: &str) -> Result<(String, LabelOp), String> {
    if req.is_empty() {
        return Err("found '', expected: identifier".to_owned());
    }
    if let Some(rest) = req.strip_prefix('!') {
        let key = rest.trim();
        validate_key(key)?;
        return Ok((key.to_owned(), LabelOp::NotExists));
    }
    let key_end = req.find(|c: char| !is_key_char(c)).unwrap_or(req.len());
    let key = &req[..key_end];
    validate_key(key)?;
    let rest = req[key_end..].trim_start();
    let single = |v: &str| -> Result<String, String> {
        let v = v.trim();
        validate_value(v)?;
        Ok(v.to_owned())
    };
    let number = |v: &str| -> Result<i64, String> {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("invalid integer value \"{}\"", v.trim()))
    };
    let op = if rest.is_empty() {
        LabelOp::Exists
    } else if let Some(v) = rest.strip_prefix("==") {
        LabelOp::Eq(single(v)?)
    } else if let Some(v) = rest.strip_prefix("!=") {
        LabelOp::NotEq(single(v)?)
    } else if let Some(v) = rest.strip_prefix('=') {
        LabelOp::Eq(single(v)?)
    } else if let Some(v) = rest.strip_prefix('>') {
        LabelOp::Gt(number(v)?)
    } else if let Some(v) = rest.strip_prefix('<') {
        LabelOp::Lt(number(v)?)
    } else if let Some(v) = keyword(rest, "notin") {
        LabelOp::NotIn(parse_set(v)?)
    } else if let Some(v) = keyword(rest, "in") {
        LabelOp::In(parse_set(v)?)
    } else {
        return Err(format!("found '{rest}', expected: =, !=, ==, in, notin"));
    };
    Ok((key.to_owned(), op))
}

/// Strips `word` when it is followed by whitespace or `(`.
fn keyword<'a>(rest: &'a str, word: &str) -> Option<&'a str> {
    let after = rest.strip_prefix(word)?;
    after
        .starts_with(|c: char| c.is_whitespace() || c == '(')
        .then_some(after)
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| "expected a parenthesised set of values".to_owned())?;
    let values = inner
        .split(',')
        .map(|v| {
            let v = v.trim();
            validate_value(v).map(|()| v.to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if values.len() == 1 && values[0].is_empty() {
        return Err("for 'in', 'notin' operators, values set can't be empty".to_owned());
    }
    Ok(values)
}

/// A parsed field selector over `metadata.name` / `metadata.namespace`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    /// (field is name (true) or namespace (false), wanted value, equal (true) or not-equal (false))
    reqs: Vec<(bool, String, bool)>,
}

impl FieldSelector {
    pub(crate) fn parse(input: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self { reqs });
        }
        for part in input.split(',') {
            let part = part.trim();
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            let is_name = match field.trim() {
                "metadata.name" => true,
                "metadata.namespace" => false,
                other => return Err(format!("field label not supported: {other}")),
            };
            reqs.push((is_name, value.trim().to_owned(), equal));
        }
        Ok(Self { reqs })
    }

    pub(crate) fn matches(&self, name: &str, namespace: &str) -> bool {
        self.reqs.iter().all(|(is_name, want, equal)| {
            let have = if *is_name { name } else { namespace };
            (have == want) == *equal
        })
    }
}

/// Everything that restricts which objects a list or watch sees.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// `Some(ns)` for namespaced request paths.
    pub(crate) namespace: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
}

impl Filter {
    pub(crate) fn new(
        namespace: Option<String>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Self {
            namespace,
            labels: LabelSelector::parse(labels.unwrap_or(""))?,
            fields: FieldSelector::parse(fields.unwrap_or(""))?,
        })
    }

    pub(crate) fn namespace_matches(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
    }

    /// Whether the object passes namespace, label and field restrictions.
    pub(crate) fn matches(&self, obj: &Obj) -> bool {
        self.namespace_matches(&obj.namespace)
            && (self.labels.is_empty() || self.labels.matches(&obj.labels))
            && self.fields.matches(&obj.name, &obj.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_grammar() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let db = labels(&[("app", "db")]);
        let cases: &[(&str, bool, bool)] = &[
            ("", true, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("tier", true, false),
            ("!tier", false, true),
            ("app in (web, db)", true, true),
            ("app in(web)", true, false),
            ("app notin (web)", false, true),
            ("tier notin (x)", true, true),
            ("app=web,tier=front", true, false),
            (" app = web , !missing ", true, false),
            ("n>3", true, false),
            ("n<3", false, false),
            ("example.com/role", false, false),
        ];
        for (sel, m_web, m_db) in cases {
            let parsed = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(parsed.matches(&web), *m_web, "{sel} on web");
            assert_eq!(parsed.matches(&db), *m_db, "{sel} on db");
        }
    }

    #[test]
    fn bad_label_selectors() {
        for sel in [
            "app=web,",
            "=x",
            "app in web",
            "app in (a",
            "app)",
            "app ~ x",
            "app=a b",
            "a b",
            "app in ()",
            "n>x",
            "-a=b",
        ] {
            assert!(LabelSelector::parse(sel).is_err(), "{sel} should fail");
        }
    }

    #[test]
    fn field_selectors() {
        let sel = FieldSelector::parse("metadata.name=a,metadata.namespace!=kube-system").unwrap();
        assert!(sel.matches("a", "default"));
        assert!(!sel.matches("a", "kube-system"));
        assert!(!sel.matches("b", "default"));
        assert!(FieldSelector::parse("metadata.name==a").unwrap().matches("a", ""));
        assert!(FieldSelector::parse("spec.nodeName=x").is_err());
        assert!(FieldSelector::parse("metadata.name").is_err());
        assert!(FieldSelector::parse("").unwrap().matches("x", "y"));
    }
}
