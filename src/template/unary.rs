//! Jinja2's unary `+` (`{{ +2.5 }}`, `[-1, +1]`), which minijinja's parser lacks: dropped from
//! the source before compiling (it changes no number's value).

use std::borrow::Cow;

/// The source without unary `+` signs inside its `{{ }}` and `{% %}` blocks.
pub fn drop_unary_plus(source: &str) -> Cow<'_, str> {
    if !source.contains('+') {
        return Cow::Borrowed(source);
    }
    let b = source.as_bytes();
    let mut drop = Vec::new();
    let mut i = 0;
    let mut in_block = false;
    let mut quote: Option<u8> = None;
    // The last significant byte inside the block (b'(' at its start).
    let mut prev = b'(';
    while i < b.len() {
        let c = b[i];
        if !in_block {
            if b[i..].starts_with(b"{{") || b[i..].starts_with(b"{%") {
                in_block = true;
                prev = b'(';
                i += 2;
                continue;
            }
            i += 1;
            continue;
        }
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
                prev = b'"';
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' => quote = Some(c),
            b'}' | b'%' if b.get(i + 1) == Some(&b'}') => {
                in_block = false;
                i += 2;
                continue;
            }
            b'+' if b"([{,:=+-*/%<>!~|".contains(&prev) => {
                drop.push(i);
            }
            c if c.is_ascii_whitespace() => {}
            _ => prev = c,
        }
        i += 1;
    }
    if drop.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for d in drop {
        out.push_str(&source[last..d]);
        last = d + 1;
    }
    out.push_str(&source[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::drop_unary_plus as d;

    #[test]
    fn only_unary_plus_goes() {
        assert_eq!(
            d("{{ [-2.5, +2.5, 1 + 2.5] }}"),
            "{{ [-2.5, 2.5, 1 + 2.5] }}"
        );
        assert_eq!(d("{{ +1 }} + {{ a + +b }}"), "{{ 1 }} + {{ a + b }}");
        assert_eq!(d("{{ 'a+' ~ x }}"), "{{ 'a+' ~ x }}");
        assert_eq!(d("{% set x = +3 %}"), "{% set x = 3 %}");
    }
}
