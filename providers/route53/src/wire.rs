//! Conversions between feddns record sets and Route53's wire format: fully qualified names with
//! octal escapes (`\052` for `*`), quoted and escaped TXT strings of at most 255 bytes, alias
//! targets and routing fields.

use feddns_provider::{AliasTarget, RecordSet, RecordType, Routing};

use crate::api::{ChangeAction, WireAlias, WireChange, WireRecordSet};

/// The longest character-string in a TXT record, in bytes.
pub const TXT_STRING_MAX: usize = 255;

/// `name` with one trailing dot (the root stays `.`).
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A name as Route53 lists it (`\052.Example.com.`) in feddns form (`*.example.com`): octal
/// escapes decoded, lower-case, no trailing dot.
pub fn decode_name(wire: &str) -> String {
    let bytes = unescape(wire.as_bytes());
    let s = String::from_utf8_lossy(&bytes);
    let s = s.strip_suffix('.').unwrap_or(&s);
    s.to_ascii_lowercase()
}

/// The canonical listed form of a name: lower-case, fully qualified, and every byte other than
/// letters, digits, `-`, `_` and `.` written as a three-digit octal escape (as Route53 does).
pub fn canonical_wire_name(name: &str) -> String {
    let bytes = unescape(name.as_bytes());
    let mut out = String::with_capacity(bytes.len() + 1);
    for b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(b)),
            b'A'..=b'Z' => out.push(char::from(b.to_ascii_lowercase())),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    fqdn(&out)
}

/// Decodes `\ddd` (three octal digits) and `\c` escapes into raw bytes; a lone trailing
/// backslash stays as is.
fn unescape(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != b'\\' || i + 1 >= input.len() {
            out.push(b);
            i += 1;
            continue;
        }
        if let Some(v) = octal3(&input[i + 1..]) {
            out.push(v);
            i += 4;
        } else {
            out.push(input[i + 1]);
            i += 2;
        }
    }
    out
}

fn octal3(s: &[u8]) -> Option<u8> {
    let d = s.get(..3)?;
    if !d.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    let v = u32::from(d[0] - b'0') * 64 + u32::from(d[1] - b'0') * 8 + u32::from(d[2] - b'0');
    u8::try_from(v).ok()
}

/// Quotes a TXT value for Route53: split into character-strings of at most 255 bytes, each in
/// double quotes, with `"` and `\` backslash-escaped and control and non-ASCII bytes written as
/// `\ddd` octal escapes. The strings are separated by a space. An empty value is `""`.
pub fn encode_txt(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return "\"\"".to_string();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for (i, chunk) in bytes.chunks(TXT_STRING_MAX).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in chunk {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\{b:03o}")),
            }
        }
        out.push('"');
    }
    out
}

/// The character-strings of a TXT value as Route53 holds it, each unescaped. Quoted strings are
/// separated by blanks; text outside quotes is taken word by word (Route53 never lists such
/// values, but other tools and stand-ins store them).
pub fn txt_strings(wire: &str) -> Vec<Vec<u8>> {
    let b = wire.as_bytes();
    let mut strings = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = b[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut raw = Vec::new();
        while i < b.len() {
            let c = b[i];
            if quoted && c == b'"' {
                i += 1;
                break;
            }
            if !quoted && c.is_ascii_whitespace() {
                break;
            }
            if c == b'\\' && i + 1 < b.len() {
                let skip = if octal3(&b[i + 1..]).is_some() { 4 } else { 2 };
                raw.extend_from_slice(&b[i..i + skip]);
                i += skip;
            } else {
                raw.push(c);
                i += 1;
            }
        }
        strings.push(unescape(&raw));
    }
    strings
}

/// The feddns form of a TXT value: every character-string unescaped and joined.
pub fn decode_txt(wire: &str) -> String {
    let joined: Vec<u8> = txt_strings(wire).concat();
    String::from_utf8_lossy(&joined).into_owned()
}

fn is_text_type(rtype: &RecordType) -> bool {
    match rtype {
        RecordType::Txt => true,
        RecordType::Other(t) => t == "SPF",
        _ => false,
    }
}

/// One value of a set in wire form.
pub fn encode_value(rtype: &RecordType, value: &str) -> String {
    if is_text_type(rtype) {
        encode_txt(value)
    } else if *rtype == RecordType::Cname {
        fqdn(value)
    } else {
        value.to_string()
    }
}

/// One listed value in feddns form.
pub fn decode_value(rtype: &RecordType, value: &str) -> String {
    if is_text_type(rtype) {
        decode_txt(value)
    } else if *rtype == RecordType::Cname {
        decode_name(value)
    } else {
        value.to_string()
    }
}

/// A feddns record set in wire form. Geo routing has no Route53 form: such a set carries only
/// its set identifier (the provider refuses geo sets before anything is sent).
pub fn to_wire(set: &RecordSet) -> WireRecordSet {
    let mut w = WireRecordSet {
        name: fqdn(&set.name),
        rtype: set.rtype.as_str().to_string(),
        ..WireRecordSet::default()
    };
    match &set.routing {
        Some(Routing::Latency { set_id, region }) => {
            w.set_identifier = Some(set_id.clone());
            w.region = Some(region.clone());
        }
        Some(Routing::Weighted { set_id, weight }) => {
            w.set_identifier = Some(set_id.clone());
            w.weight = Some(i64::from(*weight));
        }
        Some(Routing::Geo { set_id, .. }) => w.set_identifier = Some(set_id.clone()),
        None => {}
    }
    if let Some(alias) = &set.alias {
        w.alias = Some(WireAlias {
            hosted_zone_id: alias.hosted_zone_id.clone(),
            dns_name: fqdn(&alias.dns_name),
            evaluate_target_health: alias.evaluate_target_health,
        });
    } else {
        w.ttl = Some(i64::from(set.ttl));
        w.values = set.values.iter().map(|v| encode_value(&set.rtype, v)).collect();
    }
    w
}

/// A listed set in feddns form. Alias sets have no TTL on Route53 and come back with TTL 0.
/// Fails (with the reason) for sets feddns cannot represent: other routing policies, or fields
/// out of range.
pub fn from_wire(w: &WireRecordSet) -> Result<RecordSet, String> {
    if let Some(policy) = &w.other_policy {
        return Err(format!("{policy} routing is not modelled by feddns"));
    }
    let rtype = RecordType::from(w.rtype.as_str());
    let ttl = match w.ttl {
        Some(t) => u32::try_from(t).map_err(|_| format!("TTL {t} is out of range"))?,
        None => 0,
    };
    let values: Vec<String> = w.values.iter().map(|v| decode_value(&rtype, v)).collect();
    let mut set = RecordSet::new(&decode_name(&w.name), rtype, ttl, values);
    let routing = match (&w.set_identifier, &w.region, w.weight) {
        (None, None, None) => None,
        (Some(id), Some(region), None) => Some(Routing::Latency {
            set_id: id.clone(),
            region: region.clone(),
        }),
        (Some(id), None, Some(weight)) => Some(Routing::Weighted {
            set_id: id.clone(),
            weight: u32::try_from(weight).map_err(|_| format!("weight {weight} is out of range"))?,
        }),
        (Some(id), None, None) => {
            return Err(format!("set identifier {id:?} without a known routing policy"));
        }
        (id, region, weight) => {
            return Err(format!(
                "inconsistent routing fields (set identifier {id:?}, region {region:?}, weight {weight:?})"
            ));
        }
    };
    set.routing = routing;
    if let Some(a) = &w.alias {
        set = set.with_alias(AliasTarget {
            hosted_zone_id: a.hosted_zone_id.clone(),
            dns_name: decode_name(&a.dns_name),
            evaluate_target_health: a.evaluate_target_health,
        });
    }
    Ok(set)
}

/// How many `ResourceRecord` elements a change counts for against the 1,000 limit (an UPSERT
/// counts twice).
pub fn change_records(c: &WireChange) -> usize {
    let factor = if c.action == ChangeAction::Upsert { 2 } else { 1 };
    c.set.values.len() * factor
}

/// How many characters of `Value` a change counts for against the 32,000 limit (an UPSERT
/// counts twice).
pub fn change_value_chars(c: &WireChange) -> usize {
    let factor = if c.action == ChangeAction::Upsert { 2 } else { 1 };
    c.set.values.iter().map(String::len).sum::<usize>() * factor
}

/// Route53's list order key: the name with its labels reversed (`com.example.www.`), then type,
/// then set identifier.
pub fn order_key(name: &str, rtype: &str, set_identifier: Option<&str>) -> (String, String, String) {
    let n = canonical_wire_name(name);
    let trimmed = n.strip_suffix('.').unwrap_or(&n);
    let mut reversed: Vec<&str> = trimmed.split('.').collect();
    reversed.reverse();
    let mut key = reversed.join(".");
    key.push('.');
    (
        key,
        rtype.to_ascii_uppercase(),
        set_identifier.unwrap_or_default().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_octal_escapes_case_and_dot() {
        assert_eq!(decode_name("\\052.Wild.Example.COM."), "*.wild.example.com");
        assert_eq!(decode_name("a\\.b.example.com."), "a.b.example.com");
        assert_eq!(
            canonical_wire_name("*.Wild.example.com"),
            "\\052.wild.example.com."
        );
        assert_eq!(
            decode_name(&canonical_wire_name("*.x.example.com")),
            "*.x.example.com"
        );
    }

    #[test]
    fn txt_round_trips_quotes_backslashes_and_long_values() {
        for v in [
            "plain",
            "a,b c",
            "say \"hi\"",
            "back\\slash",
            "",
            "tab\there",
            "ünïcode",
            &"x".repeat(600),
        ] {
            let enc = encode_txt(v);
            assert!(enc.starts_with('"') && enc.ends_with('"'), "{enc}");
            assert_eq!(decode_txt(&enc), v, "{enc}");
        }
        let long = encode_txt(&"y".repeat(300));
        assert_eq!(
            txt_strings(&long).iter().map(Vec::len).collect::<Vec<_>>(),
            vec![255, 45]
        );
        assert_eq!(decode_txt("\"ab\" \"cd\""), "abcd");
        assert_eq!(decode_txt("unquoted"), "unquoted");
        assert_eq!(decode_txt("\"\\101\\\\\""), "A\\");
        assert_eq!(decode_txt("\"unterminated"), "unterminated");
    }

    #[test]
    fn order_reverses_labels() {
        let mut names = ["b.example.com", "example.com", "a.b.example.com", "z.example.com"];
        names.sort_by_key(|n| order_key(n, "A", None));
        assert_eq!(
            names,
            ["example.com", "b.example.com", "a.b.example.com", "z.example.com"]
        );
    }
}
