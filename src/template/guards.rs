//! Ansible's undefined values chain: `a.b.c | default('x')` and `a.b.c is defined` work when
//! `a` or `a.b` is undefined (a variable nothing set, a registered result of a skipped task),
//! while a bare `{{ a.b.c }}` still fails. minijinja's strict mode fails on the first step, so
//! a guarded chain is rewritten before compiling into `__drover_get(a, 'b', 'c')`, which gives
//! an undefined value instead of failing.

use minijinja::value::{Rest, Value};
use std::borrow::Cow;

/// The function the rewritten chains call.
pub fn get(root: &Value, keys: Rest<Value>) -> Value {
    let mut cur = root.clone();
    for k in keys.iter() {
        if cur.is_undefined() || cur.is_none() {
            return Value::UNDEFINED;
        }
        cur = match cur.get_item(k) {
            Ok(v) => v,
            Err(_) => return Value::UNDEFINED,
        };
    }
    cur
}

/// Where the guard after position `end` begins: `| default`, `| d`, `is [not] defined`,
/// `is [not] undefined`, `is [not] none`, possibly after other filters (an undefined value
/// passes through them, see `markers`).
fn guard_follows(s: &str) -> bool {
    let t = skip_filters(s).trim_start();
    if let Some(rest) = t.strip_prefix('|') {
        let rest = rest.trim_start();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let word = word.rsplit('.').next().unwrap_or("");
        return word == "default" || word == "d";
    }
    if let Some(rest) = t.strip_prefix("is") {
        if !rest.starts_with(char::is_whitespace) {
            return false;
        }
        let rest = rest.trim_start();
        let rest = rest
            .strip_prefix("not")
            .filter(|r| r.starts_with(char::is_whitespace))
            .map(str::trim_start)
            .unwrap_or(rest);
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        return matches!(word.as_str(), "defined" | "undefined" | "none");
    }
    false
}

/// `s` after the filters it starts with (`| upper | join(', ')`), stopping at `default`/`d`,
/// and after closing parentheses (`(x | int) is defined`).
fn skip_filters(s: &str) -> &str {
    let mut t = s;
    loop {
        if let Some(rest) = t.trim_start().strip_prefix(')') {
            t = rest;
            continue;
        }
        let Some(rest) = t.trim_start().strip_prefix('|') else {
            return t;
        };
        let rest = rest.trim_start();
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let word = rest[..len].rsplit('.').next().unwrap_or("");
        if len == 0 || word == "default" || word == "d" {
            return t;
        }
        let after = rest[len..].trim_start();
        t = match after.strip_prefix('(') {
            Some(args) => match balanced_end(args) {
                Some(e) => &args[e..],
                None => return t,
            },
            None => &rest[len..],
        };
    }
}

/// Just past the `)` closing an argument list whose `(` came before `s`.
fn balanced_end(s: &str) -> Option<usize> {
    let mut depth = 1;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Rewrites every guarded attribute/index chain inside the `{{ }}` and `{% %}` blocks of a
/// template (see the module comment); text outside them is left alone.
pub fn rewrite(source: &str) -> Cow<'_, str> {
    if !(source.contains("default")
        || source.contains("defined")
        || source.contains("| d")
        || source.contains("none"))
    {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + 16);
    let mut rest = source;
    let mut changed = false;
    loop {
        let open = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(o) = open else { break };
        let close_tok = if rest[o..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let Some(c) = rest[o + 2..].find(close_tok).map(|c| c + o + 2) else {
            break;
        };
        out.push_str(&rest[..o + 2]);
        let inner = rewrite_expr(&rest[o + 2..c]);
        changed |= matches!(inner, Cow::Owned(_));
        out.push_str(&inner);
        rest = &rest[c..];
        out.push_str(&rest[..2]);
        rest = &rest[2..];
    }
    if !changed {
        return Cow::Borrowed(source);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `rewrite` for the content of one expression or statement.
fn rewrite_expr(source: &str) -> Cow<'_, str> {
    let b = source.as_bytes();
    let mut out = String::with_capacity(source.len() + 16);
    let mut last = 0;
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'"' || c == b'\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        // A parenthesized expression with a guarded chain after it:
        // `(x | extract(d)).key | default('a')`.
        if c == b'(' {
            let prev = source[..i].trim_end().as_bytes().last().copied();
            let is_call = prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == b'_');
            if !is_call {
                if let Some(e) = balanced_end(&source[i + 1..]).map(|e| e + i + 1) {
                    if let Some((end, steps)) = chain_steps(source, e) {
                        if !steps.is_empty() && guard_follows(&source[end..]) {
                            out.push_str(&source[last..i]);
                            out.push_str("__drover_get(");
                            out.push_str(&rewrite_expr(&source[i..e]));
                            for s in &steps {
                                out.push_str(", ");
                                out.push_str(s);
                            }
                            out.push(')');
                            last = end;
                            i = end;
                            continue;
                        }
                    }
                }
            }
        }
        let starts_ident = (c.is_ascii_alphabetic() || c == b'_')
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric()
                    || matches!(b[i - 1], b'_' | b'.' | b')' | b']')));
        if !starts_ident {
            i += 1;
            continue;
        }
        if let Some((end, root, steps)) = chain_at(source, i) {
            if !steps.is_empty() && guard_follows(&source[end..]) && !is_keyword(root) {
                out.push_str(&source[last..i]);
                out.push_str("__drover_get(");
                out.push_str(root);
                for s in &steps {
                    out.push_str(", ");
                    out.push_str(s);
                }
                out.push(')');
                last = end;
                i = end;
                continue;
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    if last == 0 {
        return Cow::Borrowed(source);
    }
    out.push_str(&source[last..]);
    Cow::Owned(out)
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "not"
            | "and"
            | "or"
            | "in"
            | "is"
            | "if"
            | "else"
            | "true"
            | "false"
            | "none"
            | "True"
            | "False"
            | "None"
    )
}

/// The chain starting at `i`: its end, root name and steps (each as an expression: `'name'`
/// for `.name`, the bracket's content for `[...]`).
fn chain_at(s: &str, i: usize) -> Option<(usize, &str, Vec<String>)> {
    let b = s.as_bytes();
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    let root = &s[i..j];
    let (j, steps) = chain_steps(s, j)?;
    Some((j, root, steps))
}

/// The attribute and index steps starting at `j` (`.b[0].c`): their end and each step as an
/// expression.
fn chain_steps(s: &str, mut j: usize) -> Option<(usize, Vec<String>)> {
    let b = s.as_bytes();
    let mut steps = Vec::new();
    loop {
        if j < b.len() && b[j] == b'.' {
            let k0 = j + 1;
            let mut k = k0;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                k += 1;
            }
            if k == k0 || b[k0].is_ascii_digit() && !s[k0..k].chars().all(|c| c.is_ascii_digit()) {
                break;
            }
            // A method call (`x.y()`) ends the chain before it.
            if k < b.len() && b[k] == b'(' {
                break;
            }
            let name = &s[k0..k];
            if name.chars().all(|c| c.is_ascii_digit()) {
                steps.push(name.to_string());
            } else {
                steps.push(format!("'{name}'"));
            }
            j = k;
        } else if j < b.len() && b[j] == b'[' {
            // The bracket's content, balanced, skipping strings.
            let mut depth = 0;
            let mut k = j;
            let mut q: Option<u8> = None;
            while k < b.len() {
                let c = b[k];
                if let Some(qq) = q {
                    if c == b'\\' {
                        k += 2;
                        continue;
                    }
                    if c == qq {
                        q = None;
                    }
                } else if c == b'"' || c == b'\'' {
                    q = Some(c);
                } else if c == b'[' {
                    depth += 1;
                } else if c == b']' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                k += 1;
            }
            if k >= b.len() {
                return None;
            }
            let inner = s[j + 1..k].trim();
            if inner.is_empty() || inner.contains(':') {
                // A slice is no lookup.
                break;
            }
            steps.push(format!("({inner})"));
            j = k + 1;
        } else {
            break;
        }
    }
    Some((j, steps))
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn guarded_chains_are_rewritten() {
        assert_eq!(
            rewrite("{{ ('k' | extract(c)).s | default('a') }}"),
            "{{ __drover_get(('k' | extract(c)), 's') | default('a') }}"
        );
        assert_eq!(
            rewrite("{{ a.b | default('x') }}"),
            "{{ __drover_get(a, 'b') | default('x') }}"
        );
        assert_eq!(
            rewrite("{{ r5.changed | d('none') ~ x.y }}"),
            "{{ __drover_get(r5, 'changed') | d('none') ~ x.y }}"
        );
        assert_eq!(
            rewrite("{% if hostvars[h]['ip'].x is not defined %}"),
            "{% if __drover_get(hostvars, (h), ('ip'), 'x') is not defined %}"
        );
        assert_eq!(rewrite("{{ a is defined }}"), "{{ a is defined }}");
        // Other filters may come between the chain and its guard.
        assert_eq!(
            rewrite("{{ a.b | map(attribute=')') | join(',') | default('') }}"),
            "{{ __drover_get(a, 'b') | map(attribute=')') | join(',') | default('') }}"
        );
        assert_eq!(
            rewrite("{{ (a.b | int) is defined }}"),
            "{{ (__drover_get(a, 'b') | int) is defined }}"
        );
        assert_eq!(
            rewrite("{{ a.b.upper() | default('') }}"),
            "{{ a.b.upper() | default('') }}"
        );
        assert_eq!(
            rewrite("{{ 'a.b | default' ~ c }}"),
            "{{ 'a.b | default' ~ c }}"
        );
        assert_eq!(
            rewrite("{{ x[0:2] | default([]) }}"),
            "{{ x[0:2] | default([]) }}"
        );
        // Text outside the blocks, quotes included, is not an expression.
        assert_eq!(
            rewrite("echo \"{{ a.b | default('x') }}\" x.y | default"),
            "echo \"{{ __drover_get(a, 'b') | default('x') }}\" x.y | default"
        );
    }

    #[test]
    fn rewritten_chains_give_the_default() {
        let t =
            crate::template::compile("{{ nested.deep.er | default('y') }} {{ r.x is defined }}")
                .unwrap();
        let ctx = minijinja::context! { r => minijinja::Value::from(()) };
        assert_eq!(t.render(&ctx).unwrap().to_string(), "y False");
        // Unguarded, it still fails.
        let t = crate::template::compile("{{ nested.deep }}").unwrap();
        assert!(t.render(&ctx).is_err());
    }
}
