//! `k=v` argument strings (`copy: src=a dest="/b c" mode=0644`), split the way Ansible's
//! `split_args`/`parse_kv` do: whitespace separates, quotes and `{{ }}` / `{% %}` group.

/// Splits a free-form argument string into words as ansible-core's `split_args` does: on
/// newlines, then on single spaces, putting back together what quotes or `{{ }}` / `{% %}` /
/// `{# #}` blocks span; runs of spaces and the newlines (except after a `\` continuation) are
/// kept on the words, so `join_args` rebuilds the original text.
pub fn split_args(args: &str) -> Result<Vec<String>, String> {
    let mut params: Vec<String> = Vec::new();
    if args.is_empty() {
        return Ok(params);
    }
    let items: Vec<&str> = args.split('\n').collect();
    let mut quote_char: Option<char> = None;
    let mut inside_quotes = false;
    let (mut print_depth, mut block_depth, mut comment_depth) = (0usize, 0usize, 0usize);
    for (itemidx, item) in items.iter().enumerate() {
        let mut line_continuation = false;
        for (idx, token) in item.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                if params.is_empty() {
                    params.push(String::new());
                }
                if let Some(last) = params.last_mut() {
                    last.push(' ');
                }
                continue;
            }
            if token == "\\" && !inside_quotes {
                line_continuation = true;
                continue;
            }
            let was_inside_quotes = inside_quotes;
            quote_char = quote_state(token, quote_char);
            inside_quotes = quote_char.is_some();
            let in_block = print_depth > 0 || block_depth > 0 || comment_depth > 0;
            let mut appended = false;
            if inside_quotes && !was_inside_quotes && !in_block {
                params.push(token.to_string());
                appended = true;
            } else if in_block || inside_quotes || was_inside_quotes {
                if params.is_empty() {
                    params.push(String::new());
                }
                if let Some(last) = params.last_mut() {
                    if idx > 0 {
                        last.push(' ');
                    }
                    last.push_str(token);
                }
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print_depth, "{{", "}}"),
                (&mut block_depth, "{%", "%}"),
                (&mut comment_depth, "{#", "#}"),
            ] {
                let before = *depth;
                *depth = block_count(token, *depth, open, close);
                if *depth != before && !appended {
                    params.push(token.to_string());
                    appended = true;
                }
            }
            let in_block = print_depth > 0 || block_depth > 0 || comment_depth > 0;
            if !in_block && !inside_quotes && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if items.len() > 1 && itemidx != items.len() - 1 && !line_continuation {
            if params.is_empty() {
                params.push(String::new());
            }
            if let Some(last) = params.last_mut() {
                last.push('\n');
            }
        }
    }
    if print_depth > 0 || block_depth > 0 || comment_depth > 0 || inside_quotes {
        return Err(format!(
            "failed at splitting arguments, either an unbalanced jinja2 block or quotes: {args}"
        ));
    }
    Ok(params)
}

/// Joins words from `split_args` back: a space between them, none after a newline.
pub fn join_args(words: &[String]) -> String {
    let mut out = String::new();
    for w in words {
        if !(out.is_empty() || out.ends_with('\n')) {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The quote still open after `token`, starting with `quote` open (a quote character after
/// a backslash does not count).
fn quote_state(token: &str, mut quote: Option<char>) -> Option<char> {
    let mut prev: Option<char> = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match quote {
                Some(q) if q == c => quote = None,
                Some(_) => {}
                None => quote = Some(c),
            }
        }
        prev = Some(c);
    }
    quote
}

/// The nesting depth of a Jinja block kind after `token` (Python's non-overlapping counts).
fn block_count(token: &str, depth: usize, open: &str, close: &str) -> usize {
    let opened = token.matches(open).count();
    let closed = token.matches(close).count();
    if opened == closed {
        return depth;
    }
    (depth + opened).saturating_sub(closed)
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
            // Only escaped `=` signs: the word is free-form text with them unescaped.
            None if free_form && w.contains('=') => raw.push(w.replace("\\=", "=")),
            _ if free_form => raw.push(orig),
            _ => return Err(format!("`{orig}` is not a `key=value` argument")),
        }
    }
    let raw = (!raw.is_empty()).then(|| join_args(&raw));
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
/// matches (`\n`, `\t`, `\\`, `\'`, `\"`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`); any other
/// backslash stays as written (octal too: `replace='\1'` keeps its group reference).
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

    #[test]
    fn free_form_keeps_lines_spaces_and_continuations() {
        let known = |k: &str| k == "creates" || k == "executable";
        let raw = |s: &str| parse_kv(s, true, &known).unwrap().1.unwrap();
        assert_eq!(
            raw("cat <<EOF\nOne\n  Two\nEOF\n"),
            "cat <<EOF\nOne\n  Two\nEOF\n"
        );
        assert_eq!(
            raw("executable=/bin/sh\ncreates=/x\necho \"test\"\n"),
            "echo \"test\"\n"
        );
        assert_eq!(
            raw("echo a \\\n  b\necho \"c  d\"\n"),
            "echo a  b\necho \"c  d\"\n"
        );
        assert_eq!(
            raw("echo \"with a new line\nin quotes\" | cat"),
            "echo \"with a new line\nin quotes\" | cat"
        );
    }
}
