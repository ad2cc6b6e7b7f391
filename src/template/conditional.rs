//! Conditionals as ansible-core 2.19 evaluates them (`when`, `changed_when`, `failed_when`,
//! `until`, `assert`'s `that`): the result must be a boolean. A condition written as a whole
//! template (`when: "{{ x }}"`) that gives a string evaluates that string in turn, but only
//! if the string is trusted: written in the playbook, its vars files or the inventory (drover
//! marks such strings, see `yaml::node_to_value`), not computed by a template, returned by a
//! module or tagged `!unsafe`. `ALLOW_BROKEN_CONDITIONALS` (`[defaults]
//! allow_broken_conditionals`, `ANSIBLE_ALLOW_BROKEN_CONDITIONALS`) takes the truth of a
//! non-boolean result instead of failing, as Ansible does with it set.

use super::Tmpl;
use minijinja::value::ValueKind;
use minijinja::Value;
use std::sync::atomic::{AtomicBool, Ordering};

static ALLOW_BROKEN: AtomicBool = AtomicBool::new(false);

/// Sets `ALLOW_BROKEN_CONDITIONALS` for the run.
pub fn set_allow_broken(allow: bool) {
    ALLOW_BROKEN.store(allow, Ordering::Relaxed);
}

/// `ALLOW_BROKEN_CONDITIONALS` as set for the run.
pub fn allow_broken() -> bool {
    ALLOW_BROKEN.load(Ordering::Relaxed)
}

/// Why a conditional gave no boolean.
#[derive(Debug)]
pub enum CondError {
    /// The expression failed to evaluate.
    Render(minijinja::Error),
    /// A string to evaluate that is not trusted.
    Untrusted,
    /// The result is not a boolean.
    NotBool { truthy: bool, kind: &'static str },
}

impl std::fmt::Display for CondError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CondError::Render(e) => write!(f, "{e}"),
            CondError::Untrusted => write!(f, "Encountered untrusted template or expression."),
            CondError::NotBool { truthy, kind } => write!(
                f,
                "Conditional result ({}) was derived from value of type '{kind}'. Conditionals must have a boolean result.",
                if *truthy { "True" } else { "False" }
            ),
        }
    }
}

/// Python's name for a value's type.
pub fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::String => "str",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        ValueKind::None => "NoneType",
        ValueKind::Bytes => "bytes",
        _ => "object",
    }
}

/// Evaluates a compiled condition to its boolean.
pub fn evaluate(t: &Tmpl, scope: &Value) -> Result<bool, CondError> {
    let v = t.render(scope).map_err(CondError::Render)?;
    decide(v, t.is_whole_template(), scope, 0)
}

/// The boolean of a value given as a condition (an item of `assert`'s `that`): a boolean is
/// itself, a trusted string is an expression, anything else is no condition.
pub fn evaluate_value(v: &Value, scope: &Value) -> Result<bool, CondError> {
    decide(v.clone(), true, scope, 0)
}

fn decide(v: Value, whole: bool, scope: &Value, depth: usize) -> Result<bool, CondError> {
    if v.kind() == ValueKind::Bool {
        return Ok(v.is_true());
    }
    if whole && v.kind() == ValueKind::String && depth < 8 {
        if !v.is_safe() {
            return Err(CondError::Untrusted);
        }
        let src = v.as_str().unwrap_or_default();
        let t = super::compile_condition(src).map_err(CondError::Render)?;
        let inner = t.render(scope).map_err(CondError::Render)?;
        return decide(inner, t.is_whole_template(), scope, depth + 1);
    }
    let truthy = super::truthy(&v);
    if allow_broken() {
        return Ok(truthy);
    }
    Err(CondError::NotBool {
        truthy,
        kind: type_name(&v),
    })
}

/// A trusted expression's string constants that are templates (`"{{ 'hi' }}" == "hi"`)
/// rendered where they stand, as ansible-core renders them in conditionals: each becomes the
/// concatenation of its text and its `{{ }}` expressions.
pub fn inline_const_templates(expr: &str) -> std::borrow::Cow<'_, str> {
    if !expr.contains("{{") {
        return expr.into();
    }
    let mut out = String::with_capacity(expr.len() + 16);
    let mut chars = expr.char_indices().peekable();
    let mut changed = false;
    while let Some((i, c)) = chars.next() {
        if c != '"' && c != '\'' {
            out.push(c);
            continue;
        }
        // A string literal: find its end (backslash escapes skipped).
        let mut end = None;
        let mut escaped = false;
        for (j, d) in chars.by_ref() {
            if escaped {
                escaped = false;
            } else if d == '\\' {
                escaped = true;
            } else if d == c {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else {
            out.push_str(&expr[i..]);
            break;
        };
        let body = &expr[i + 1..end];
        match const_template_parts(body) {
            Some(parts) => {
                changed = true;
                out.push('(');
                out.push_str(&parts.join(" ~ "));
                out.push(')');
            }
            None => out.push_str(&expr[i..=end]),
        }
    }
    if changed {
        out.into()
    } else {
        expr.into()
    }
}

/// String constants that are templates in the arguments of `lookup(...)`/`query(...)` (not the
/// lookup's name) rendered where they stand, as ansible-core renders them in templates and
/// conditionals alike: `lookup('pipe', 'echo {{ x }}')`.
pub fn inline_lookup_templates(src: &str) -> std::borrow::Cow<'_, str> {
    if !(src.contains("lookup(") || src.contains("query(") || src.contains("q("))
        || src.matches("{{").count() < 2
    {
        return src.into();
    }
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 16);
    let mut last = 0;
    let mut i = 0;
    let mut changed = false;
    while i < b.len() {
        // Bytes inside a multi-byte character start nothing.
        let Some(rest) = src.get(i..) else {
            i += 1;
            continue;
        };
        let name_len = ["lookup(", "query(", "q("]
            .iter()
            .find(|n| rest.starts_with(**n))
            .map(|n| n.len());
        let starts_word = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let (Some(n), true) = (name_len, starts_word) else {
            i += 1;
            continue;
        };
        // The argument list: string literals after the first argument are rendered.
        let open = i + n;
        let mut j = open;
        let mut depth = 1;
        let mut arg = 0;
        while j < b.len() && depth > 0 {
            let c = b[j];
            if c == b'"' || c == b'\'' {
                let q = c;
                let mut k = j + 1;
                while k < b.len() && b[k] != q {
                    if b[k] == b'\\' {
                        k += 1;
                    }
                    k += 1;
                }
                if k >= b.len() {
                    break;
                }
                if arg > 0 && depth == 1 {
                    if let Some(parts) = const_template_parts(&src[j + 1..k]) {
                        out.push_str(&src[last..j]);
                        out.push('(');
                        out.push_str(&parts.join(" ~ "));
                        out.push(')');
                        last = k + 1;
                        changed = true;
                    }
                }
                j = k + 1;
                continue;
            }
            match c {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b',' if depth == 1 => arg += 1,
                _ => {}
            }
            j += 1;
        }
        i = j.max(i + 1);
    }
    if !changed {
        return src.into();
    }
    out.push_str(&src[last..]);
    out.into()
}

/// The parts of a string constant holding `{{ }}` blocks (and no other Jinja syntax): its text
/// as quoted literals, its expressions as `(expr | string)`.
fn const_template_parts(body: &str) -> Option<Vec<String>> {
    if !body.contains("{{") || body.contains("{%") || body.contains("{#") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        let close = rest[open..].find("}}")? + open;
        if open > 0 {
            parts.push(format!("{:?}", &rest[..open]));
        }
        parts.push(format!("(({}) | string)", rest[open + 2..close].trim()));
        rest = &rest[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(format!("{rest:?}"));
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::inline_const_templates;

    #[test]
    fn templates_in_lookup_arguments_are_rendered_in_place() {
        assert_eq!(
            super::inline_lookup_templates(
                r#"{{ lookup('pipe', 'echo {{ "dude" }}') == "dude" }}"#
            ),
            r#"{{ lookup('pipe', ("echo " ~ (("dude") | string))) == "dude" }}"#
        );
        assert_eq!(
            super::inline_lookup_templates(r#"{{ lookup('{{ "pipe" }}') }}"#),
            r#"{{ lookup('{{ "pipe" }}') }}"#
        );
    }

    #[test]
    fn constant_templates_in_an_expression_are_rendered_in_place() {
        assert_eq!(
            inline_const_templates(r#""{{'hi'}}" == "hi""#),
            r#"((('hi') | string)) == "hi""#
        );
        assert_eq!(inline_const_templates("a == 'b'"), "a == 'b'");
        assert_eq!(
            inline_const_templates("x in 'a{{ y }}b'"),
            r#"x in ("a" ~ ((y) | string) ~ "b")"#
        );
    }
}
