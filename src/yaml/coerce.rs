//! YAML 1.1 scalar resolution as PyYAML (and so Ansible) does it: `yes/no/on/off` booleans,
//! `0644` octal, `0x`/`0b` integers, `~`/`null`. Also the same readings for `k=v` strings.

use super::NodeKind;

/// Resolves a plain (unquoted) scalar the way PyYAML's YAML 1.1 resolver does.
///
/// Sexagesimal integers (`1:30` → 90) are deliberately left as strings: they surprise far
/// more people than they help.
pub fn resolve_plain(s: &str) -> NodeKind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        _ => {}
    }
    if let Some(b) = parse_bool_str(s) {
        return NodeKind::Bool(b);
    }
    if let Some(i) = parse_int(s) {
        return NodeKind::Int(i);
    }
    if let Some(f) = parse_float(s) {
        return NodeKind::Float(f);
    }
    NodeKind::Str(s.to_string())
}

/// The YAML 1.1 booleans PyYAML accepts (`y`/`n` are strings there, and here).
pub fn parse_bool_str(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let value = if let Some(hex) = clean.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = clean.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if clean.len() > 1 && clean.starts_with('0') {
        i64::from_str_radix(&clean[1..], 8).ok()?
    } else if clean.bytes().all(|b| b.is_ascii_digit()) {
        clean.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // PyYAML requires a dot: `1e3` is a string, `1.0e+3` a float.
    let body = s.trim_start_matches(['-', '+']);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac) = mantissa.split_once('.')?;
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !digits(int_part) || !digits(frac) || (int_part.is_empty() && frac.is_empty()) {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['-', '+'])?;
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    s.replace('_', "").parse().ok()
}

/// Reads a file mode given as a string the way Ansible does: octal digits (`"0644"`, `"644"`).
/// Symbolic modes (`u+rwx`) are not handled here; `None` means "not an octal string".
pub fn parse_mode_str(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s.strip_prefix("0o").unwrap_or(s);
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_table() {
        let table: &[(&str, NodeKind)] = &[
            ("yes", NodeKind::Bool(true)),
            ("No", NodeKind::Bool(false)),
            ("on", NodeKind::Bool(true)),
            ("OFF", NodeKind::Bool(false)),
            ("y", NodeKind::Str("y".into())),
            ("~", NodeKind::Null),
            ("", NodeKind::Null),
            ("0644", NodeKind::Int(0o644)),
            ("0755", NodeKind::Int(493)),
            ("0", NodeKind::Int(0)),
            ("644", NodeKind::Int(644)),
            ("-12", NodeKind::Int(-12)),
            ("0x1F", NodeKind::Int(31)),
            ("0b101", NodeKind::Int(5)),
            ("1_000", NodeKind::Int(1000)),
            ("089", NodeKind::Str("089".into())),
            ("1.5", NodeKind::Float(1.5)),
            ("1e3", NodeKind::Str("1e3".into())),
            ("1.0e+3", NodeKind::Float(1000.0)),
            ("1:30", NodeKind::Str("1:30".into())),
            ("1.2.3", NodeKind::Str("1.2.3".into())),
            ("hello", NodeKind::Str("hello".into())),
        ];
        for (input, want) in table {
            assert_eq!(&resolve_plain(input), want, "input {input:?}");
        }
    }

    #[test]
    fn mode_strings() {
        assert_eq!(parse_mode_str("0644"), Some(0o644));
        assert_eq!(parse_mode_str("644"), Some(0o644));
        assert_eq!(parse_mode_str("01777"), Some(0o1777));
        assert_eq!(parse_mode_str("u+x"), None);
        assert_eq!(parse_mode_str("0888"), None);
    }
}
