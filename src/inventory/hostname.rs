//! Host names as inventories write them: `host:port` / `[v6]:port` splitting and validation
//! (Ansible's `parse_address`) and `[a:b(:step)]` range expansion (`expand_hostname_range`).

use std::net::Ipv6Addr;

/// The most hosts one range expression may produce; more is surely a typo.
const MAX_RANGE_HOSTS: usize = 100_000;

/// `host:port` where the host has no `:` outside `[...]`: Ansible's `hostport` pattern.
fn split_hostport(s: &str) -> Option<(&str, &str)> {
    let idx = s.rfind(':')?;
    let (host, port) = (&s[..idx], &s[idx + 1..]);
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut rest = host;
    while let Some(c) = rest.chars().next() {
        match c {
            '[' => {
                let close = rest.find(']')?;
                rest = &rest[close + 1..];
            }
            ':' | ']' => return None,
            _ => rest = &rest[c.len_utf8()..],
        }
    }
    Some((host, port))
}

/// `[host]:port`: Ansible's `bracketed_hostport` pattern.
fn split_bracketed_hostport(s: &str) -> Option<(&str, &str)> {
    let idx = s.rfind(':')?;
    let (before, port) = (&s[..idx], &s[idx + 1..]);
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let inner = before.strip_prefix('[')?.strip_suffix(']')?;
    (!inner.is_empty()).then_some((inner, port))
}

/// Replaces each numeric `[x:y(:z)]` range with `0`, so the rest can be checked as an address.
fn blank_numeric_ranges(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let inner = after
            .find(']')
            .map(|close| (&after[..close], &after[close + 1..]));
        match inner {
            Some((range, tail))
                if is_range(range)
                    && range.bytes().all(|b| b != b'.' && !b.is_ascii_alphabetic()) =>
            {
                out.push('0');
                rest = tail;
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits an address into host and optional port and checks the host is an IPv4/IPv6 address
/// or a host name (ranges allowed when `allow_ranges`). `None` where Ansible raises
/// "Not a valid network hostname".
pub fn parse_address(address: &str, allow_ranges: bool) -> Option<(String, Option<i64>)> {
    let mut rest = address.to_string();
    let mut port = None;
    // Both forms are tried in turn, like the `for ... continue` loop in Ansible.
    for split in [split_bracketed_hostport, split_hostport] {
        if let Some((host, digits)) = split(&rest) {
            port = Some(digits.parse::<i64>().ok()?);
            rest = host.to_string();
        }
    }
    if !(is_ipv6(&rest) || is_hostname(&rest)) {
        return None;
    }
    if !allow_ranges && rest.contains('[') {
        return None;
    }
    Some((rest, port))
}

fn is_ipv6(s: &str) -> bool {
    s.contains(':') && blank_numeric_ranges(s).parse::<Ipv6Addr>().is_ok()
}

/// One `[x:y]` or `[x:y:z]` range inside a label: one-letter or numeric bounds, numeric step.
fn is_range(inner: &str) -> bool {
    let parts: Vec<&str> = inner.split(':').collect();
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    (parts.len() == 2 || parts.len() == 3)
        && ((num(parts[0]) && num(parts[1])) || (letter(parts[0]) && letter(parts[1])))
        && parts.get(2).is_none_or(|s| num(s))
}

/// Dot-separated labels of word characters, `-` and ranges; a label starts with a word
/// character or range and does not end with `-` or `_`.
fn is_hostname(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_label) && !has_unbalanced_dots_in_ranges(s)
}

fn has_unbalanced_dots_in_ranges(s: &str) -> bool {
    // A `.` inside brackets would split a range across labels; such names are invalid.
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth != 0 => return true,
            _ => {}
        }
    }
    false
}

fn is_label(label: &str) -> bool {
    let chars: Vec<char> = label.chars().collect();
    let mut i = 0;
    let mut last = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '[' {
            let Some(end) = chars[i..].iter().position(|&c| c == ']') else {
                return false;
            };
            let inner: String = chars[i + 1..i + end].iter().collect();
            if !is_range(&inner) {
                return false;
            }
            i += end + 1;
            last = Some(']');
            continue;
        }
        let word = c.is_alphanumeric() || c == '_';
        if !(word || (c == '-' && i > 0)) {
            return false;
        }
        last = Some(c);
        i += 1;
    }
    !matches!(last, None | Some('-' | '_'))
}

/// Splits a host entry into names and an optional port, expanding ranges:
/// `web[01:03]:2222` → `web01`, `web02`, `web03` and port 2222.
pub fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<i64>), String> {
    let (name, port) = match parse_address(pattern, true) {
        Some((host, port)) => (host, port),
        None => (pattern.to_string(), None),
    };
    let names = if name.contains('[') {
        expand_ranges(&name)?
    } else {
        vec![name]
    };
    Ok((names, port))
}

/// Expands every `[begin:end(:step)]` range in a name, left to right.
pub fn expand_ranges(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    expand_into(line, &mut out)?;
    Ok(out)
}

fn expand_into(line: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = line.find('[') else {
        out.push(line.to_string());
        return Ok(());
    };
    let Some(close) = line[open..].find(']').map(|c| c + open) else {
        return Err(format!("unterminated host range in `{line}`"));
    };
    let (head, nrange, tail) = (&line[..open], &line[open + 1..close], &line[close + 1..]);
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range `[{nrange}]` must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range `[{nrange}]` must specify an end value"));
    }
    let step = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(format!(
                "host range `[{nrange}]` has an invalid step `{s}`; it must be a positive number"
            ))
            }
            Ok(n) => n,
        },
    };
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err(format!(
                "host range `[{nrange}]` must specify equal-length begin and end formats"
            ));
        }
        beg.len()
    } else {
        0
    };
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let items: Vec<String> = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(b), Some(e)) if beg.len() == 1 && end.len() == 1 => {
            if b > e {
                return Err(format!("host range `[{nrange}]` must have begin <= end"));
            }
            LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let parse = |s: &str| {
                if s.bytes().all(|c| c.is_ascii_digit()) {
                    s.parse::<u64>().ok()
                } else {
                    None
                }
            };
            let (Some(b), Some(e)) = (parse(beg), parse(end)) else {
                return Err(format!(
                    "host range `[{nrange}]` must use numbers or single letters"
                ));
            };
            if b > e {
                return Err(format!("host range `[{nrange}]` must have begin <= end"));
            }
            if (e - b) / step as u64 >= MAX_RANGE_HOSTS as u64 {
                return Err(format!("host range `[{nrange}]` expands to too many hosts"));
            }
            (b..=e)
                .step_by(step)
                .map(|n| format!("{n:0width$}"))
                .collect()
        }
    };
    for item in items {
        expand_into(&format!("{head}{item}{tail}"), out)?;
        if out.len() > MAX_RANGE_HOSTS {
            return Err(format!("host range in `{line}` expands to too many hosts"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_address_table() {
        type Case<'a> = (&'a str, Option<(&'a str, Option<i64>)>);
        let table: &[Case] = &[
            ("web1", Some(("web1", None))),
            ("web1:2222", Some(("web1", Some(2222)))),
            ("web1.example.com:22", Some(("web1.example.com", Some(22)))),
            ("192.168.1.5:22", Some(("192.168.1.5", Some(22)))),
            ("[::1]:2222", Some(("::1", Some(2222)))),
            ("fe80::1", Some(("fe80::1", None))),
            ("web[01:03]:22", Some(("web[01:03]", Some(22)))),
            ("db-[a:f]", Some(("db-[a:f]", None))),
            ("web_", None),
            ("-web", None),
            ("web*", None),
            ("web:db", None),
            ("web[1:]", None),
        ];
        for (input, want) in table {
            let got = parse_address(input, true);
            let want = want.map(|(h, p)| (h.to_string(), p));
            assert_eq!(got, want, "{input:?}");
        }
        assert_eq!(parse_address("web[1:3]", false), None);
    }

    #[test]
    fn range_table() {
        let table: &[(&str, &[&str])] = &[
            ("web[1:3]", &["web1", "web2", "web3"]),
            ("web[01:03].lan", &["web01.lan", "web02.lan", "web03.lan"]),
            ("db-[a:c]", &["db-a", "db-b", "db-c"]),
            ("n[0:10:5]", &["n0", "n5", "n10"]),
            ("n[:2]", &["n0", "n1", "n2"]),
            ("x[y:B]", &["xy", "xz", "xA", "xB"]),
            ("r[1:2]c[a:b]", &["r1ca", "r1cb", "r2ca", "r2cb"]),
            ("plain", &["plain"]),
        ];
        for (input, want) in table {
            assert_eq!(expand_ranges(input).unwrap(), *want, "{input:?}");
        }
        let errors: &[(&str, &str)] = &[
            ("web[1:]", "host range `[1:]` must specify an end value"),
            (
                "web[01:3]",
                "host range `[01:3]` must specify equal-length begin and end formats",
            ),
            (
                "web[1]",
                "host range `[1]` must be begin:end or begin:end:step",
            ),
            ("web[5:1]", "host range `[5:1]` must have begin <= end"),
            (
                "web[a:5]",
                "host range `[a:5]` must use numbers or single letters",
            ),
            (
                "web[1:4:0]",
                "host range `[1:4:0]` has an invalid step `0`; it must be a positive number",
            ),
            ("web[1:2", "unterminated host range in `web[1:2`"),
        ];
        for (input, want) in errors {
            assert_eq!(expand_ranges(input).unwrap_err(), *want, "{input:?}");
        }
    }

    #[test]
    fn host_pattern_with_port_and_range() {
        let (names, port) = expand_host_pattern("web[08:10]:2222").unwrap();
        assert_eq!(names, ["web08", "web09", "web10"]);
        assert_eq!(port, Some(2222));
        let (names, port) = expand_host_pattern("odd_:22").unwrap();
        assert_eq!(names, ["odd_:22"]);
        assert_eq!(port, None);
    }
}
