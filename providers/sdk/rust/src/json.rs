//! A small JSON scanner for flat request objects (`{"key":"a","value":…,"by":2}`), so a
//! provider needs no dependency to read its payloads. It behaves exactly like the C examples'
//! scanner (`providers/provider_util.h`), so a Rust provider answers malformed input the way
//! its C counterpart does: it finds top-level members of one object and returns their raw
//! text, skipping nested values correctly. It is not a validating parser; use serde_json when
//! you need one.

/// The payload is not a JSON object this scanner can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

fn ws(s: &[u8], mut p: usize) -> usize {
    while p < s.len() && matches!(s[p], b' ' | b'\t' | b'\n' | b'\r') {
        p += 1;
    }
    p
}

fn skip_string(s: &[u8], mut p: usize) -> Option<usize> {
    if p >= s.len() || s[p] != b'"' {
        return None;
    }
    p += 1;
    while p < s.len() {
        if s[p] == b'\\' {
            p += 2;
            continue;
        }
        if s[p] == b'"' {
            return Some(p + 1);
        }
        p += 1;
    }
    None
}

fn skip_value(s: &[u8], p: usize) -> Option<usize> {
    let mut p = ws(s, p);
    if p >= s.len() {
        return None;
    }
    match s[p] {
        b'"' => skip_string(s, p),
        b'{' | b'[' => {
            let mut depth = 0i32;
            while p < s.len() {
                match s[p] {
                    b'"' => {
                        p = skip_string(s, p)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(p + 1);
                        }
                    }
                    _ => {}
                }
                p += 1;
            }
            None
        }
        _ => {
            let start = p;
            while p < s.len() && !matches!(s[p], b',' | b'}' | b']' | b' ' | b'\n' | b'\t' | b'\r') {
                p += 1;
            }
            (p > start).then_some(p)
        }
    }
}

/// Walk the top-level members of an object: `visit(raw key with quotes, raw value)` returns
/// true to stop. Ok(true) if stopped, Ok(false) at the end of the object.
fn walk<'a>(s: &'a [u8], mut visit: impl FnMut(&'a [u8], &'a [u8]) -> bool) -> Result<bool, Malformed> {
    let mut p = ws(s, 0);
    if p >= s.len() || s[p] != b'{' {
        return Err(Malformed);
    }
    p = ws(s, p + 1);
    if p < s.len() && s[p] == b'}' {
        return Ok(false);
    }
    while p < s.len() {
        let ks = p;
        let ke = skip_string(s, p).ok_or(Malformed)?;
        p = ws(s, ke);
        if p >= s.len() || s[p] != b':' {
            return Err(Malformed);
        }
        p = ws(s, p + 1);
        let vs = p;
        let ve = skip_value(s, p).ok_or(Malformed)?;
        if visit(&s[ks..ke], &s[vs..ve]) {
            return Ok(true);
        }
        p = ws(s, ve);
        if p < s.len() && s[p] == b',' {
            p = ws(s, p + 1);
            continue;
        }
        if p < s.len() && s[p] == b'}' {
            return Ok(false);
        }
        return Err(Malformed);
    }
    Err(Malformed)
}

/// The raw text of top-level member `key` (compared byte for byte, escapes not decoded):
/// Ok(Some(value)), Ok(None) when absent, Err when the object is malformed before it is found.
pub fn member<'a>(json: &'a [u8], key: &str) -> Result<Option<&'a [u8]>, Malformed> {
    let mut found = None;
    walk(json, |k, v| {
        if k.len() == key.len() + 2 && &k[1..k.len() - 1] == key.as_bytes() {
            found = Some(v);
            true
        } else {
            false
        }
    })?;
    Ok(found)
}

/// One top-level member: its raw key (with quotes) and raw value.
pub type Member<'a> = (&'a [u8], &'a [u8]);

/// Every top-level member; Err if the object is malformed.
pub fn members(json: &[u8]) -> Result<Vec<Member<'_>>, Malformed> {
    let mut all = Vec::new();
    walk(json, |k, v| {
        all.push((k, v));
        false
    })?;
    Ok(all)
}

/// Decode a raw JSON string literal (with its quotes) to bytes: the standard escapes and
/// `\uXXXX` (BMP, encoded as up to three UTF-8 bytes). None if it is not a valid string.
pub fn string(raw: &[u8]) -> Option<Vec<u8>> {
    let n = raw.len();
    if n < 2 || raw[0] != b'"' || raw[n - 1] != b'"' {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut i = 1;
    while i < n - 1 {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= n - 1 {
            return None;
        }
        match raw[i] {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                if i + 4 > n - 2 {
                    return None;
                }
                let mut cp: u32 = 0;
                for k in 1..=4 {
                    let d = (raw[i + k] as char).to_digit(16)?;
                    cp = (cp << 4) | d;
                }
                i += 4;
                if cp < 0x80 {
                    out.push(cp as u8);
                } else if cp < 0x800 {
                    out.extend_from_slice(&[(0xc0 | (cp >> 6)) as u8, (0x80 | (cp & 0x3f)) as u8]);
                } else {
                    out.extend_from_slice(&[(0xe0 | (cp >> 12)) as u8, (0x80 | ((cp >> 6) & 0x3f)) as u8, (0x80 | (cp & 0x3f)) as u8]);
                }
            }
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

/// A raw JSON integer (decimal, optional sign; saturates at the i64 range like strtoll).
pub fn int(raw: &[u8]) -> Option<i64> {
    if raw.is_empty() || raw.len() >= 32 {
        return None;
    }
    let (neg, digits) = match raw[0] {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for d in digits {
        let d = (d - b'0') as i64;
        v = if neg { v.saturating_mul(10).saturating_sub(d) } else { v.saturating_mul(10).saturating_add(d) };
    }
    Some(v)
}

/// Append `s` as a JSON string literal: quotes, `\"`, `\\`, and `\u00XX` for control bytes;
/// other bytes are copied as they are.
pub fn quote_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_strings() {
        let j = br#" { "key" : "a\"b\u00e9", "value": {"x":[1,"}"]}, "by": -3 } "#;
        assert_eq!(member(j, "value").unwrap(), Some(&br#"{"x":[1,"}"]}"#[..]));
        assert_eq!(string(member(j, "key").unwrap().unwrap()).unwrap(), "a\"bé".as_bytes());
        assert_eq!(int(member(j, "by").unwrap().unwrap()), Some(-3));
        assert_eq!(member(j, "nope").unwrap(), None);
        assert_eq!(member(b"[1]", "a"), Err(Malformed));
        assert_eq!(member(br#"{"a":1,"b""#, "b"), Err(Malformed));
        assert!(members(br#"{"gantry-abi-check": [1, 2"#).is_err());
        assert_eq!(int(b"99999999999999999999"), Some(i64::MAX));
        assert_eq!(int(b"1.5"), None);
    }
}
