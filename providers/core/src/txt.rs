//! Zone-file text on the wire of DNS services: absolute names, and TXT values as quoted
//! character-strings with backslash escapes (Route53 writes `\ddd` in octal, Cloud DNS and RFC
//! 1035 in decimal).

/// The longest character-string in a TXT record, in bytes.
pub const TXT_STRING_MAX: usize = 255;

/// The base of `\ddd` escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Three octal digits (Route53).
    Octal,
    /// Three decimal digits (RFC 1035 §5.1, Cloud DNS).
    Decimal,
}

impl Escape {
    /// The byte of a `\ddd` escape whose digits start `s`.
    fn byte(self, s: &[u8]) -> Option<u8> {
        let d = s.get(..3)?;
        let (base, max) = match self {
            Self::Octal => (8, b'7'),
            Self::Decimal => (10, b'9'),
        };
        if !d.iter().all(|c| (b'0'..=max).contains(c)) {
            return None;
        }
        let v = d.iter().fold(0u32, |v, c| v * base + u32::from(c - b'0'));
        u8::try_from(v).ok()
    }
}

/// `name` with one trailing dot.
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Decodes `\ddd` and `\c` escapes into raw bytes; a lone trailing backslash stays as is.
pub fn unescape(input: &[u8], esc: Escape) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != b'\\' || i + 1 >= input.len() {
            out.push(b);
            i += 1;
        } else if let Some(v) = esc.byte(&input[i + 1..]) {
            out.push(v);
            i += 4;
        } else {
            out.push(input[i + 1]);
            i += 2;
        }
    }
    out
}

/// Quotes a TXT value: character-strings of at most 255 bytes in double quotes, separated by a
/// space, with `"` and `\` backslash-escaped and control and non-ASCII bytes as `\ddd` escapes.
/// An empty value is `""`.
pub fn encode_txt(value: &str, esc: Escape) -> String {
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
                _ if esc == Escape::Octal => out.push_str(&format!("\\{b:03o}")),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('"');
    }
    out
}

/// The character-strings of a TXT value, each unescaped. Quoted strings are separated by blanks;
/// text outside quotes is taken word by word. `Err` for an unterminated quote.
pub fn txt_strings(wire: &str, esc: Escape) -> Result<Vec<Vec<u8>>, String> {
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
        let start = i;
        let mut closed = !quoted;
        let mut end = b.len();
        while i < b.len() {
            let c = b[i];
            if quoted && c == b'"' {
                end = i;
                i += 1;
                closed = true;
                break;
            }
            if !quoted && c.is_ascii_whitespace() {
                end = i;
                break;
            }
            i += if c == b'\\' && i + 1 < b.len() {
                if esc.byte(&b[i + 1..]).is_some() {
                    4.min(b.len() - i)
                } else {
                    2
                }
            } else {
                1
            };
        }
        if !closed {
            return Err(format!("unterminated quoted string in {wire:?}"));
        }
        strings.push(unescape(&b[start..end.min(b.len())], esc));
    }
    Ok(strings)
}

/// The feddns form of a TXT value: every character-string unescaped and joined (an unterminated
/// quote is taken to the end).
pub fn decode_txt(wire: &str, esc: Escape) -> String {
    let joined: Vec<u8> = match txt_strings(wire, esc) {
        Ok(s) => s.concat(),
        Err(_) => txt_strings(&format!("{wire}\""), esc)
            .unwrap_or_default()
            .concat(),
    };
    String::from_utf8_lossy(&joined).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_round_trips_in_both_escapes() {
        let value = format!("a \"q\" \\ é\u{1}{}", "x".repeat(300));
        for esc in [Escape::Octal, Escape::Decimal] {
            let wire = encode_txt(&value, esc);
            assert_eq!(decode_txt(&wire, esc), value, "{esc:?}");
            let strings = txt_strings(&wire, esc).unwrap();
            assert!(strings.iter().all(|s| s.len() <= TXT_STRING_MAX));
        }
        assert!(encode_txt("é", Escape::Octal).contains("\\303"));
        assert!(encode_txt("é", Escape::Decimal).contains("\\195"));
        assert_eq!(
            txt_strings("\"a\" b", Escape::Decimal).unwrap(),
            [b"a".to_vec(), b"b".to_vec()]
        );
        assert!(txt_strings("\"open", Escape::Octal).is_err());
        assert_eq!(decode_txt("\"open", Escape::Octal), "open");
        assert_eq!(encode_txt("", Escape::Octal), "\"\"");
    }
}
