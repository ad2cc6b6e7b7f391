//! Python regular expressions (`re`), as playbooks write them for `lineinfile`, `replace` and
//! the `regex_*` filters and tests: translated where Python's syntax differs, compiled with
//! the `regex` crate (linear time) and, for what it cannot do (backreferences such as `\1`,
//! look-ahead and look-behind), with `fancy-regex`.

/// The spans of one match: group 0 (the whole match) and each group, `None` when a group
/// took no part.
pub type Caps = Vec<Option<(usize, usize)>>;

#[derive(Clone, Debug)]
enum Engine {
    Fast(regex::bytes::Regex),
    Fancy(fancy_regex::Regex),
}

/// A compiled Python-style regular expression.
#[derive(Clone, Debug)]
pub struct Re {
    engine: Engine,
    names: Vec<Option<String>>,
}

impl Re {
    /// Compiles `pattern` (Python syntax); the error is the engine's message.
    pub fn new(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Re, String> {
        let translated = crate::template::filters::translate_python_regex(pattern);
        let fast = regex::bytes::RegexBuilder::new(&translated)
            .case_insensitive(ignorecase)
            .multi_line(multiline)
            .build();
        match fast {
            Ok(r) => {
                let names = r.capture_names().map(|n| n.map(str::to_string)).collect();
                Ok(Re {
                    engine: Engine::Fast(r),
                    names,
                })
            }
            Err(fast_err) => {
                let flags = match (ignorecase, multiline) {
                    (true, true) => "(?im)",
                    (true, false) => "(?i)",
                    (false, true) => "(?m)",
                    (false, false) => "",
                };
                let r = fancy_regex::Regex::new(&format!("{flags}{translated}"))
                    .map_err(|_| fast_err.to_string())?;
                let names = r.capture_names().map(|n| n.map(str::to_string)).collect();
                Ok(Re {
                    engine: Engine::Fancy(r),
                    names,
                })
            }
        }
    }

    /// The number of groups, the whole match included.
    pub fn group_count(&self) -> usize {
        self.names.len()
    }

    /// The name of group `i`, if it has one.
    pub fn group_name(&self, i: usize) -> Option<&str> {
        self.names.get(i)?.as_deref()
    }

    /// The index of a named group.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    pub fn is_match(&self, hay: &[u8]) -> bool {
        match &self.engine {
            Engine::Fast(r) => r.is_match(hay),
            Engine::Fancy(r) => r
                .is_match(String::from_utf8_lossy(hay).as_ref())
                .unwrap_or(false),
        }
    }

    /// The first match's groups.
    pub fn captures(&self, hay: &[u8]) -> Option<Caps> {
        self.captures_all(hay, 1).into_iter().next()
    }

    /// Up to `limit` (0: all) successive non-overlapping matches. For `fancy-regex` the
    /// haystack is read as UTF-8 (any invalid byte makes the offsets those of its lossy text).
    pub fn captures_all(&self, hay: &[u8], limit: usize) -> Vec<Caps> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        match &self.engine {
            Engine::Fast(r) => r
                .captures_iter(hay)
                .take(limit)
                .map(|c| {
                    (0..c.len())
                        .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                        .collect()
                })
                .collect(),
            Engine::Fancy(r) => {
                let text = String::from_utf8_lossy(hay);
                r.captures_iter(text.as_ref())
                    .take(limit)
                    .map_while(Result::ok)
                    .map(|c| {
                        (0..c.len())
                            .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                            .collect()
                    })
                    .collect()
            }
        }
    }
}

/// One piece of a Python replacement template.
#[derive(Clone, Debug)]
enum TplPart {
    Lit(String),
    Group(usize),
}

/// Parses a Python `re.sub` replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, ...).
fn parse_parts(tpl: &str, re: &Re) -> Result<Vec<TplPart>, String> {
    let chars: Vec<char> = tpl.chars().collect();
    let mut parts = Vec::new();
    let mut lit = String::new();
    let group_count = re.group_count();
    let add_group = |parts: &mut Vec<TplPart>, lit: &mut String, part: TplPart| {
        if !lit.is_empty() {
            parts.push(TplPart::Lit(std::mem::take(lit)));
        }
        parts.push(part);
    };
    let is_oct = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            lit.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err("bad escape (end of pattern) in replacement".to_string());
        };
        // Python's error positions: the backslash, or the group reference after it.
        let at = i;
        i += 2;
        match n {
            'g' => {
                let rest: String = chars[i..].iter().collect();
                let name = rest
                    .strip_prefix('<')
                    .and_then(|r| r.find('>').map(|j| r[..j].to_string()))
                    .ok_or_else(|| "missing group name in replacement".to_string())?;
                i += name.chars().count() + 2;
                let part = if let Ok(idx) = name.parse::<usize>() {
                    if idx >= group_count {
                        return Err(format!(
                            "invalid group reference {idx} at position {}",
                            at + 3
                        ));
                    }
                    TplPart::Group(idx)
                } else {
                    match re.group_index(&name) {
                        Some(i) => TplPart::Group(i),
                        None => return Err(format!("unknown group name '{name}'")),
                    }
                };
                add_group(&mut parts, &mut lit, part);
            }
            '0' => {
                let mut val = 0u32;
                let mut taken = 0;
                while taken < 2 && is_oct(chars.get(i)) {
                    val = val * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    taken += 1;
                }
                lit.push(char::from_u32(val).unwrap_or('\0'));
            }
            '1'..='9' => {
                let mut num = String::from(n);
                if chars.get(i).is_some_and(char::is_ascii_digit) {
                    num.push(chars[i]);
                    i += 1;
                    if is_oct(Some(&n))
                        && is_oct(num.chars().nth(1).as_ref())
                        && is_oct(chars.get(i))
                    {
                        num.push(chars[i]);
                        i += 1;
                        let val = u32::from_str_radix(&num, 8).unwrap_or(0);
                        if val > 0o377 {
                            return Err(format!(
                                "octal escape value \\{num} outside of range 0-0o377"
                            ));
                        }
                        lit.push(char::from_u32(val).unwrap_or('\0'));
                        continue;
                    }
                }
                let idx: usize = num.parse().unwrap_or(0);
                if idx >= group_count {
                    return Err(format!(
                        "invalid group reference {idx} at position {}",
                        at + 1
                    ));
                }
                add_group(&mut parts, &mut lit, TplPart::Group(idx));
            }
            'a' => lit.push('\x07'),
            'b' => lit.push('\x08'),
            'f' => lit.push('\x0c'),
            'n' => lit.push('\n'),
            'r' => lit.push('\r'),
            't' => lit.push('\t'),
            'v' => lit.push('\x0b'),
            '\\' => lit.push('\\'),
            other if other.is_ascii_alphabetic() => {
                return Err(format!("bad escape \\{other} at position {at}"));
            }
            other => {
                lit.push('\\');
                lit.push(other);
            }
        }
    }
    if !lit.is_empty() {
        parts.push(TplPart::Lit(lit));
    }
    Ok(parts)
}

/// A parsed Python replacement template (`\\1`, `\\g<name>`, `\\n`, ...).
#[derive(Clone, Debug)]
pub struct Template(Vec<TplPart>);

impl Template {
    /// Parses `tpl` for the groups of `re` (an unknown group is an error, as in Python).
    pub fn parse(tpl: &str, re: &Re) -> Result<Template, String> {
        parse_parts(tpl, re).map(Template)
    }

    /// The template filled in with one match's groups of `hay`.
    pub fn expand(&self, hay: &[u8], caps: &Caps) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.0 {
            match part {
                TplPart::Lit(s) => out.extend_from_slice(s.as_bytes()),
                TplPart::Group(i) => {
                    if let Some(Some((a, b))) = caps.get(*i) {
                        out.extend_from_slice(&hay[*a..*b]);
                    }
                }
            }
        }
        out
    }

    /// `hay` with each of `matches` replaced by the template (Python's `re.sub`).
    pub fn substitute(&self, hay: &[u8], matches: &[Caps]) -> Vec<u8> {
        let mut out = Vec::with_capacity(hay.len());
        let mut last = 0;
        for caps in matches {
            let Some(Some((a, b))) = caps.first() else {
                continue;
            };
            out.extend_from_slice(&hay[last..*a]);
            out.extend(self.expand(hay, caps));
            last = *b;
        }
        out.extend_from_slice(&hay[last..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backreferences_and_lookaround_work() {
        let r = Re::new(r"^(REF) .* \1$", false, false).unwrap();
        assert!(r.is_match(b"REF a b REF"));
        assert!(!r.is_match(b"REF a b FER"));
        let r = Re::new(r"foo(?=bar)", false, false).unwrap();
        assert_eq!(r.captures(b"foobaz foobar"), Some(vec![Some((7, 10))]));
        let r = Re::new(r"(?P<w>\w+)", true, false).unwrap();
        assert_eq!(r.group_index("w"), Some(1));
        assert_eq!(r.captures_all(b"a b", 0).len(), 2);
        assert!(Re::new("(", false, false).is_err());
    }

    #[test]
    fn templates_substitute_as_python() {
        let r = Re::new(r"(?P<k>\w+)=(\d)", false, false).unwrap();
        let t = Template::parse(r"\g<k>:\2\n", &r).unwrap();
        let hay = b"a=1 b=2";
        let m = r.captures_all(hay, 0);
        assert_eq!(t.substitute(hay, &m), b"a:1\n b:2\n");
        assert!(Template::parse(r"\3", &r).is_err());
        assert!(Template::parse(r"\g<nope>", &r).is_err());
    }
}
