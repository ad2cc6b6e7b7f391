//! Python's `%` string formatting (`"%s-%d" % (a, b)`, `"%(x)s" % d`), which Jinja2 has and
//! minijinja lacks: a string literal followed by `%` and its operand (a parenthesized
//! expression, a literal or a variable chain, with any filters after it) is rewritten before
//! compiling into `("..." | __drover_pyformat(OPERAND))`. A string in a variable on the left
//! of `%` is not recognized (minijinja then reports the operation as unsupported).

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use std::borrow::Cow;

/// The source with `LITERAL % OPERAND` rewritten inside its `{{ }}` and `{% %}` blocks.
pub fn rewrite(source: &str) -> Cow<'_, str> {
    if !source.contains('%') || !(source.contains("\" %") || source.contains("' %")) {
        return Cow::Borrowed(source);
    }
    let b = source.as_bytes();
    let mut out = String::with_capacity(source.len() + 32);
    let (mut last, mut i) = (0, 0);
    let mut in_block = false;
    while i < b.len() {
        if !in_block {
            if b[i..].starts_with(b"{{") || b[i..].starts_with(b"{%") {
                in_block = true;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        let c = b[i];
        if (c == b'}' || c == b'%') && b.get(i + 1) == Some(&b'}') {
            in_block = false;
            i += 2;
            continue;
        }
        if c != b'"' && c != b'\'' {
            i += 1;
            continue;
        }
        let Some(lit_end) = string_end(source, i) else {
            break;
        };
        let after = &source[lit_end..];
        let trimmed = after.trim_start();
        let pct = lit_end + (after.len() - trimmed.len());
        let is_format = trimmed.starts_with('%') && !trimmed.starts_with("%}");
        let operand = is_format.then(|| operand_end(source, pct + 1)).flatten();
        match operand {
            Some(end) => {
                out.push_str(&source[last..i]);
                out.push('(');
                out.push_str(&source[i..lit_end]);
                out.push_str(" | __drover_pyformat(");
                out.push_str(source[pct + 1..end].trim());
                out.push_str("))");
                last = end;
                i = end;
            }
            None => i = lit_end,
        }
    }
    if last == 0 {
        return Cow::Borrowed(source);
    }
    out.push_str(&source[last..]);
    Cow::Owned(out)
}

/// Just past the quote closing the string literal that opens at `start`.
fn string_end(s: &str, start: usize) -> Option<usize> {
    let b = s.as_bytes();
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Where the operand of `%` that starts at `from` ends: one primary (parenthesized group,
/// literal, name with `.attr`/`[...]`/`(...)` steps), then any `| filter(...)`s.
fn operand_end(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let group_end = |open: usize| -> Option<usize> {
        let (o, c) = match b[open] {
            b'(' => (b'(', b')'),
            b'[' => (b'[', b']'),
            _ => (b'{', b'}'),
        };
        let mut depth = 0;
        let mut i = open;
        while i < b.len() {
            match b[i] {
                b'"' | b'\'' => i = string_end(s, i)? - 1,
                x if x == o => depth += 1,
                x if x == c => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    };
    let name_end = |mut i: usize| {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(from);
    let first = *b.get(i)?;
    i = match first {
        b'(' | b'[' | b'{' => group_end(i)?,
        b'"' | b'\'' => string_end(s, i)?,
        c if c.is_ascii_digit() || c == b'-' => {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            j
        }
        c if c.is_ascii_alphabetic() || c == b'_' => name_end(i),
        _ => return None,
    };
    // Steps, then filters.
    loop {
        match b.get(i) {
            Some(b'.') => i = name_end(i + 1),
            Some(b'[' | b'(') => i = group_end(i)?,
            _ => {
                let j = skip_ws(i);
                if b.get(j) == Some(&b'|') {
                    let k = skip_ws(j + 1);
                    let e = name_end(k);
                    if e == k {
                        return Some(i);
                    }
                    i = e;
                    continue;
                }
                return Some(i);
            }
        }
    }
}

/// The filter the rewritten expressions call: `format % args` as Python computes it.
pub fn pyformat(format: &Value, args: &Value) -> Result<Value, Error> {
    let fmt = format
        .as_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "% needs a string"))?;
    let positional: Vec<Value> = match args.kind() {
        ValueKind::Seq => args.try_iter()?.collect(),
        ValueKind::Map => Vec::new(),
        _ => vec![args.clone()],
    };
    let mut next = positional.into_iter();
    let bad = |m: &str| Error::new(ErrorKind::InvalidOperation, m.to_string());
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // %[(name)][flags][width][.precision]type
        let mut value = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let name: String = chars.by_ref().take_while(|c| *c != ')').collect();
            value = Some(
                args.get_attr(&name)
                    .ok()
                    .filter(|v| !v.is_undefined())
                    .ok_or_else(|| {
                        Error::new(ErrorKind::UndefinedError, format!("KeyError: '{name}'"))
                    })?,
            );
        }
        let mut flags = String::new();
        while let Some(f) = chars.peek().copied().filter(|c| "-+ 0#".contains(*c)) {
            flags.push(f);
            chars.next();
        }
        let mut width = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let kind = chars.next().ok_or_else(|| bad("incomplete format"))?;
        if kind == '%' {
            out.push('%');
            continue;
        }
        let v = match value {
            Some(v) => v,
            None => next
                .next()
                .ok_or_else(|| bad("not enough arguments for format string"))?,
        };
        let text = match kind {
            's' => py_str(&v),
            'r' | 'a' => py_repr(&v),
            'd' | 'i' | 'u' => {
                let n = f64::try_from(v.clone()).map_err(|_| {
                    bad(&format!(
                        "%{kind} format: a real number is required, not {}",
                        v.kind()
                    ))
                })?;
                let n = n.trunc() as i64;
                if flags.contains('+') && n >= 0 {
                    format!("+{n}")
                } else {
                    n.to_string()
                }
            }
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                let n = f64::try_from(v.clone())
                    .map_err(|_| bad(&format!("must be real number, not {}", v.kind())))?;
                let p = precision.unwrap_or(6);
                match kind {
                    'e' | 'E' => {
                        let s = format!("{n:.p$e}");
                        // Rust: 1.5e2; Python: 1.500000e+02
                        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                        let e: i32 = e.parse().unwrap_or(0);
                        let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                        if kind == 'E' {
                            s.to_uppercase()
                        } else {
                            s
                        }
                    }
                    'g' | 'G' => py_str(&Value::from(n)),
                    _ => format!("{n:.p$}"),
                }
            }
            'x' | 'X' | 'o' => {
                let n = i64::try_from(v.clone())
                    .map_err(|_| bad(&format!("%{kind} format: an integer is required")))?;
                let s = match kind {
                    'x' => format!("{n:x}"),
                    'X' => format!("{n:X}"),
                    _ => format!("{n:o}"),
                };
                if flags.contains('#') {
                    format!("0{}{s}", if kind == 'o' { 'o' } else { kind })
                } else {
                    s
                }
            }
            'c' => match v.as_str() {
                Some(s) => s.to_string(),
                None => i64::try_from(v.clone())
                    .ok()
                    .and_then(|n| char::from_u32(n as u32))
                    .map(String::from)
                    .unwrap_or_default(),
            },
            other => return Err(bad(&format!("unsupported format character '{other}'"))),
        };
        let text = match (kind, precision) {
            ('s' | 'r' | 'a', Some(p)) => text.chars().take(p).collect(),
            _ => text,
        };
        let w: usize = width.parse().unwrap_or(0);
        let pad = w.saturating_sub(text.chars().count());
        if flags.contains('-') {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else if flags.contains('0') && !matches!(kind, 's' | 'r' | 'a' | 'c') {
            let (sign, digits) = match text.strip_prefix(['-', '+']) {
                Some(d) => (&text[..1], d),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    if next.next().is_some() {
        return Err(bad("not all arguments converted during string formatting"));
    }
    Ok(Value::from(out))
}

/// Python's `str()` of a value.
fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::None | ValueKind::Undefined => "None".into(),
        ValueKind::Seq | ValueKind::Map => py_repr(v),
        _ => v.to_string(),
    }
}

/// Python's `repr()` of a value.
fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        ValueKind::Seq => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|i| py_repr(&i)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| {
                    it.map(|k| {
                        let val = v.get_item(&k).unwrap_or_default();
                        format!("{}: {}", py_repr(&k), py_repr(&val))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => py_str(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_literal_percent_operand() {
        assert_eq!(
            rewrite("{{ 'a%sb' % x }}"),
            "{{ ('a%sb' | __drover_pyformat(x)) }}"
        );
        assert_eq!(
            rewrite("{{ y == (\"%s/f\" % (d.path[0], 1) | list) }}"),
            "{{ y == ((\"%s/f\" | __drover_pyformat((d.path[0], 1) | list))) }}"
        );
        // Not an operator: a statement's end, or no literal before it.
        assert_eq!(rewrite("{% set a = 'x' %}"), "{% set a = 'x' %}");
        assert_eq!(rewrite("{{ 7 % 2 }} 'a' % b"), "{{ 7 % 2 }} 'a' % b");
    }

    #[test]
    fn formats_as_python() {
        let f = |fmt: &str, v: Value| pyformat(&Value::from(fmt), &v).unwrap().to_string();
        assert_eq!(
            f(
                "%s-%d",
                Value::from(vec![Value::from("a"), Value::from(7.9)])
            ),
            "a-7"
        );
        assert_eq!(
            f(
                "%05.1f|%-4s|%3d",
                Value::from(vec![Value::from(3.25), Value::from("x"), Value::from(5)])
            ),
            "003.2|x   |  5"
        );
        assert_eq!(
            f(
                "%(n)s is %(v)r %%",
                crate::vars::map_value([
                    ("n".into(), Value::from("a")),
                    ("v".into(), Value::from("b"))
                ])
            ),
            "a is 'b' %"
        );
        assert_eq!(f("%s", Value::from(true)), "True");
        assert!(pyformat(&Value::from("%s %s"), &Value::from("a")).is_err());
    }
}
