//! `k=v` argument strings (`copy: src=a dest="/b c" mode=0644`), split the way Ansible's
//! `split_args`/`parse_kv` do: whitespace separates, quotes and `{{ }}` / `{% %}` group.

/// Splits a free-form argument string into words, keeping quoted parts and Jinja blocks whole.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if quote.is_none() && depth == 0 && c.is_whitespace() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            i += 1;
            continue;
        }
        if c == '{' && matches!(next, Some('{') | Some('%') | Some('#')) {
            depth += 1;
            cur.push(c);
            cur.push(next.unwrap_or('{'));
            i += 2;
            continue;
        }
        if depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}') {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        }
        if depth == 0 {
            match quote {
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q && (i == 0 || chars[i - 1] != '\\') => quote = None,
                _ => {}
            }
        }
        cur.push(c);
        i += 1;
    }
    if quote.is_some() {
        return Err("an opening quote has no closing quote".into());
    }
    if depth > 0 {
        return Err("a `{{` or `{%` block is not closed".into());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        let inner = &v[1..v.len() - 1];
        if b[0] == b'"' {
            return inner.replace("\\\"", "\"");
        }
        return inner.replace("\\'", "'");
    }
    v.to_string()
}

/// `k=v` pairs in order, and the free-form text that was not a pair.
pub type KvArgs = (Vec<(String, String)>, Option<String>);

/// Parses `k=v` words. With `free_form`, words that are not `known=` pairs stay in order as
/// the raw text (`_raw_params`), as Ansible does for `command`/`shell`.
pub fn parse_kv(s: &str, free_form: bool, known: &dyn Fn(&str) -> bool) -> Result<KvArgs, String> {
    let words = split_args(s)?;
    let mut pairs = Vec::new();
    let mut raw: Vec<String> = Vec::new();
    for orig in words {
        // As ansible-core's parse_kv: escape sequences are decoded in each word, and the key
        // ends at the first `=` not escaped with a backslash (a key may be a template).
        let w = decode_escapes(&orig);
        let kv = key_split(&w).filter(|(k, _)| !k.is_empty());
        match kv {
            Some((k, v)) if !free_form || known(k) => {
                pairs.push((k.trim().to_string(), unquote(v.trim())))
            }
            _ if free_form => raw.push(orig),
            _ => return Err(format!("`{orig}` is not a `key=value` argument")),
        }
    }
    let raw = (!raw.is_empty()).then(|| raw.join(" "));
    Ok((pairs, raw))
}

/// `key=value` split at the first `=` (past the first character) not preceded by `\`.
fn key_split(w: &str) -> Option<(&str, &str)> {
    let b = w.as_bytes();
    let mut from = w.chars().next().map_or(1, char::len_utf8);
    while from < b.len() {
        let pos = from + w[from..].find('=')?;
        if b[pos - 1] != b'\\' {
            return Some((&w[..pos], &w[pos + 1..]));
        }
        from = pos + 1;
    }
    None
}

/// Python's `unicode-escape` decoding of the sequences ansible-core's `_decode_escapes`
/// matches (`\n`, `\t`, `\\`, `\'`, `\"`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`, octal); any
/// other backslash stays as written.
pub fn decode_escapes(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let hex = |from: usize, n: usize| -> Option<char> {
        let t: String = chars.get(from..from + n)?.iter().collect();
        if t.len() != n || !t.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        char::from_u32(u32::from_str_radix(&t, 16).ok()?)
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let d = chars[i + 1];
        let simple = match d {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            i += 2;
            continue;
        }
        let (len, ch) = match d {
            'x' => (4, hex(i + 2, 2)),
            'u' => (6, hex(i + 2, 4)),
            'U' => (10, hex(i + 2, 8)),
            '0'..='7' => {
                let n = chars[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|c| ('0'..='7').contains(c))
                    .count();
                let t: String = chars[i + 1..i + 1 + n].iter().collect();
                (
                    1 + n,
                    u32::from_str_radix(&t, 8).ok().and_then(char::from_u32),
                )
            }
            _ => (0, None),
        };
        match ch {
            Some(ch) => {
                out.push(ch);
                i += len;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_keys_as_ansible() {
        let (pairs, _) = parse_kv(r"msg=a\nb\tc line='x\'y' p=\d", false, &|_| true).unwrap();
        assert_eq!(pairs[0], ("msg".into(), "a\nb\tc".into()));
        assert_eq!(pairs[1], ("line".into(), "x'y".into()));
        assert_eq!(pairs[2], ("p".into(), "\\d".into()));
        let (pairs, _) = parse_kv("{{ item }}=set a\\=b=c", false, &|_| true).unwrap();
        assert_eq!(pairs[0], ("{{ item }}".into(), "set".into()));
        assert_eq!(pairs[1], ("a\\=b".into(), "c".into()));
    }

    #[test]
    fn splits_like_ansible() {
        let w =
            split_args(r#"src=a dest="/b c" msg='{{ x | default("a b") }}' k={{ y }}"#).unwrap();
        assert_eq!(
            w,
            [
                "src=a",
                "dest=\"/b c\"",
                "msg='{{ x | default(\"a b\") }}'",
                "k={{ y }}"
            ]
        );
        let w = split_args("msg={{ a ~ ' ' ~ b }} x=1").unwrap();
        assert_eq!(w, ["msg={{ a ~ ' ' ~ b }}", "x=1"]);
        assert!(split_args("a='b").is_err());
    }

    #[test]
    fn key_values_and_free_form() {
        let (p, raw) = parse_kv("dest=/x mode=0644", false, &|_| true).unwrap();
        assert_eq!(
            p,
            [
                ("dest".to_string(), "/x".to_string()),
                ("mode".into(), "0644".into())
            ]
        );
        assert_eq!(raw, None);
        let known = |k: &str| k == "chdir" || k == "creates";
        let (p, raw) = parse_kv("ls -l FOO=bar chdir=/tmp", true, &known).unwrap();
        assert_eq!(p, [("chdir".to_string(), "/tmp".to_string())]);
        assert_eq!(raw.as_deref(), Some("ls -l FOO=bar"));
        assert!(parse_kv("dest=/x oops", false, &|_| true).is_err());
    }
}
