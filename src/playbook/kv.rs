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
    for w in words {
        let kv = w.split_once('=').filter(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match kv {
            Some((k, v)) if !free_form || known(k) => pairs.push((k.to_string(), unquote(v))),
            _ if free_form => raw.push(w),
            _ => return Err(format!("`{w}` is not a `key=value` argument")),
        }
    }
    let raw = (!raw.is_empty()).then(|| raw.join(" "));
    Ok((pairs, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

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
