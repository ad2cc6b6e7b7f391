//! The one wildcard matcher: `*` matches any run of characters (none included), `?` any one
//! character, everything else itself. Used for ssh_config `Host` patterns, known_hosts
//! patterns, `fileglob`/`with_fileglob` names and apt's version patterns. (Inventory host
//! patterns and `find`'s, which also take character classes, go through [`translate`], Python's
//! `fnmatch.translate`.)

/// Whether `text` matches `pattern` as a whole. Linear in practice: one backtrack point.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Python's `fnmatch.translate`, as an anchored Rust regex; `None` for an unclosed `[`
/// (which Python reads as a literal `[`, and inventory patterns refuse).
pub fn translate(glob: &str) -> Option<String> {
    translate_with(glob, true)
}

fn translate_with(glob: &str, strict: bool) -> Option<String> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    if strict {
                        return None;
                    }
                    out.push_str("\\[");
                    continue;
                }
                let mut class = String::from("[");
                let body = &chars[i..j];
                let (negate, body) = match body.split_first() {
                    Some(('!', rest)) => (true, rest),
                    _ => (false, body),
                };
                if negate {
                    class.push('^');
                }
                for (k, ch) in body.iter().enumerate() {
                    let is_range_dash = *ch == '-' && k > 0 && k + 1 < body.len();
                    if is_range_dash {
                        class.push('-');
                    } else if ch.is_alphanumeric() || *ch == '_' {
                        class.push(*ch);
                    } else {
                        class.push('\\');
                        class.push(*ch);
                    }
                }
                class.push(']');
                out.push_str(&class);
                i = j + 1;
            }
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    Some(out)
}

/// Python's `fnmatch.fnmatchcase`: `*`, `?` and `[...]`/`[!...]` classes; an unclosed `[`
/// matches itself, as in Python.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    translate_with(pattern, false)
        .and_then(|re| regex::Regex::new(&re).ok())
        .is_some_and(|r| r.is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_as_python() {
        // Python: fnmatch.fnmatchcase(name, pattern)
        for (p, n, want) in [
            ("*.log", "a.log", true),
            ("*.log", "a.log.1", false),
            ("[ab]?.txt", "bx.txt", true),
            ("[!ab]*", "abc", false),
            ("[!ab]*", "cab", true),
            ("x[", "x[", true),
            ("[a-c]*[", "b[", true),
            ("a.b", "axb", false),
            ("*", ".hidden", true),
        ] {
            assert_eq!(fnmatch(p, n), want, "{p} {n}");
        }
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(wildcard("a*b*c", "aXXbYYc") && !wildcard("a*b*c", "aXXbYY"));
        assert!(wildcard("10.0.?.*", "10.0.1.77"));
        assert!(wildcard("*", "") && wildcard("", "") && !wildcard("", "x"));
        assert!(wildcard("1.*-deb*", "1.2-debian3") && !wildcard("1.*", "2.0"));
        assert!(wildcard("ü?*", "üxyz") && !wildcard("a?c", "ac"));
        // No exponential backtracking.
        assert!(!wildcard(&"*a".repeat(30), &"a".repeat(29)));
    }
}
