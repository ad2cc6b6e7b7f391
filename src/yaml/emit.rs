//! Emits template values as YAML (for `to_yaml`, `to_nice_yaml` and `--list`): block style,
//! or PyYAML's `default_flow_style=None` (what `to_yaml` uses), where a collection whose
//! elements are all scalars is written in flow style (`[a, b]`, `{k: v}`) and wrapped past
//! column 80 as PyYAML wraps it.

use minijinja::value::{Value, ValueKind};
use std::fmt::Write;

/// Renders a value as block-style YAML with the given indent width; ends with a newline.
pub fn to_yaml_string(value: &Value, indent: usize) -> String {
    render(value, indent, false)
}

/// Renders a value as PyYAML's `default_flow_style=None` does: collections of scalars in
/// flow style.
pub fn to_yaml_string_flow(value: &Value, indent: usize) -> String {
    render(value, indent, true)
}

fn render(value: &Value, indent: usize, flow: bool) -> String {
    let mut out = String::new();
    let step = indent.max(2);
    if flow && is_flat(value) {
        // PyYAML indents a top-level flow collection's continuation lines by one step.
        emit_flow(&mut out, value, 0, step);
    } else {
        emit(&mut out, value, 0, step, flow);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A string scalar in the style PyYAML's `default_style` forces: `|`, `>`, `"` or `'`.
pub fn to_yaml_styled_scalar(text: &str, style: &str, indent: usize) -> String {
    let pad = " ".repeat(indent.max(2));
    match style {
        "|" | ">" => {
            let chomp = if text.ends_with('\n') { "" } else { "-" };
            let mut out = format!("{style}{chomp}\n");
            for line in text.trim_end_matches('\n').split('\n') {
                let _ = writeln!(out, "{pad}{line}");
            }
            out
        }
        "\"" => format!("{}\n", serde_json::to_string(text).unwrap_or_default()),
        _ => format!("'{}'\n", text.replace('\'', "''")),
    }
}

/// PyYAML's `canonical=True`: explicit tags, double-quoted scalars, flow collections.
pub fn to_yaml_canonical(v: &Value) -> String {
    fn node(out: &mut String, v: &Value, level: usize) {
        let pad = "  ".repeat(level + 1);
        let close = "  ".repeat(level);
        match v.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                out.push_str("!!seq [\n");
                for item in v.try_iter().into_iter().flatten() {
                    out.push_str(&pad);
                    node(out, &item, level + 1);
                    out.push_str(",\n");
                }
                let _ = write!(out, "{close}]");
            }
            ValueKind::Map => {
                out.push_str("!!map {\n");
                for key in v.try_iter().into_iter().flatten() {
                    let item = v.get_item(&key).unwrap_or_default();
                    let _ = write!(out, "{pad}? ");
                    node(out, &key, level + 1);
                    let _ = write!(out, "\n{pad}: ");
                    node(out, &item, level + 1);
                    out.push_str(",\n");
                }
                let _ = write!(out, "{close}}}");
            }
            ValueKind::None | ValueKind::Undefined => out.push_str("!!null \"\""),
            ValueKind::Bool => {
                let _ = write!(out, "!!bool \"{}\"", v.is_true());
            }
            ValueKind::Number if v.is_integer() => {
                let _ = write!(out, "!!int \"{v}\"");
            }
            ValueKind::Number => {
                let _ = write!(out, "!!float \"{v}\"");
            }
            _ => {
                let s = serde_json::to_string(&v.to_string()).unwrap_or_default();
                let _ = write!(out, "!!str {s}");
            }
        }
    }
    let mut out = String::from("---\n");
    node(&mut out, v, 0);
    out.push('\n');
    out
}

fn is_container(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Map | ValueKind::Seq) && v.len().unwrap_or(0) > 0
}

/// A collection PyYAML writes in flow style: every element (and key) a scalar.
fn is_flat(v: &Value) -> bool {
    let scalar = |x: &Value| !matches!(x.kind(), ValueKind::Map | ValueKind::Seq);
    match v.kind() {
        ValueKind::Seq => v.try_iter().into_iter().flatten().all(|x| scalar(&x)),
        ValueKind::Map => v
            .try_iter()
            .into_iter()
            .flatten()
            .all(|k| scalar(&k) && scalar(&v.get_item(&k).unwrap_or_default())),
        _ => false,
    }
}

/// Writes a flat collection in flow style starting at the end of `out`, breaking the line
/// before an element once the column passes 80 (PyYAML's best width).
fn emit_flow(out: &mut String, v: &Value, level: usize, step: usize) {
    let (open, close) = if v.kind() == ValueKind::Map {
        ('{', '}')
    } else {
        ('[', ']')
    };
    let items: Vec<String> = if v.kind() == ValueKind::Map {
        v.try_iter()
            .into_iter()
            .flatten()
            .map(|k| {
                let item = v.get_item(&k).unwrap_or_default();
                format!("{}: {}", flow_scalar(&k), flow_scalar(&item))
            })
            .collect()
    } else {
        v.try_iter()
            .into_iter()
            .flatten()
            .map(|x| flow_scalar(&x))
            .collect()
    };
    out.push(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
            let column = out.len() - out.rfind('\n').map_or(0, |n| n + 1);
            if column > 80 {
                out.push('\n');
                out.push_str(&" ".repeat(level + step));
            } else {
                out.push(' ');
            }
        }
        out.push_str(item);
    }
    out.push(close);
    out.push('\n');
}

fn emit(out: &mut String, v: &Value, level: usize, step: usize, flow: bool) {
    let pad = " ".repeat(level);
    match v.kind() {
        ValueKind::Map if v.len().unwrap_or(0) > 0 => {
            for key in v.try_iter().into_iter().flatten() {
                let item = v.get_item(&key).unwrap_or_default();
                let _ = write!(out, "{pad}{}:", scalar(&key));
                if flow && is_container(&item) && is_flat(&item) {
                    out.push(' ');
                    emit_flow(out, &item, level, step);
                } else if is_container(&item) {
                    out.push('\n');
                    let next = if item.kind() == ValueKind::Seq {
                        level
                    } else {
                        level + step
                    };
                    emit(out, &item, next, step, flow);
                } else {
                    let _ = writeln!(out, " {}", scalar(&item));
                }
            }
        }
        ValueKind::Seq if v.len().unwrap_or(0) > 0 => {
            for item in v.try_iter().into_iter().flatten() {
                if flow && is_container(&item) && is_flat(&item) {
                    let _ = write!(out, "{pad}- ");
                    emit_flow(out, &item, level + 2, step);
                } else if is_container(&item) {
                    let mut inner = String::new();
                    emit(&mut inner, &item, level + 2, step, flow);
                    let trimmed = inner.trim_start_matches(' ');
                    let _ = write!(out, "{pad}- {trimmed}");
                } else {
                    let _ = writeln!(out, "{pad}- {}", scalar(&item));
                }
            }
        }
        _ => {
            let _ = writeln!(out, "{pad}{}", scalar(v));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => "null".into(),
        ValueKind::Bool => if v.is_true() { "true" } else { "false" }.into(),
        ValueKind::Number => v.to_string(),
        ValueKind::Map => "{}".into(),
        ValueKind::Seq => "[]".into(),
        _ => quote_if_needed(&v.to_string()),
    }
}

/// A scalar inside a flow collection: flow indicators (`,?[]{}`) need quotes there too.
fn flow_scalar(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.contains([',', '?', '[', ']', '{', '}']) && !s.contains('\n') => {
            format!("'{}'", s.replace('\'', "''"))
        }
        _ => scalar(v),
    }
}

fn quote_if_needed(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && matches!(super::coerce::resolve_plain(s), super::NodeKind::Str(_))
        && !s.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
            '%', '@', '`',
        ])
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains('\n');
    if plain_ok {
        s.to_string()
    } else {
        let mut q = String::from("'");
        if s.contains('\n') {
            return serde_json::to_string(s).unwrap_or_default();
        }
        q.push_str(&s.replace('\'', "''"));
        q.push('\'');
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::value_from_yaml_str;

    #[test]
    fn round_trips_nested_data() {
        let src = "a: 1\nb:\n- x\n- k: v\n  j: 'yes'\nc:\n  d: 'true'\n  e: []\n";
        let v = value_from_yaml_str(src).unwrap();
        let out = to_yaml_string(&v, 2);
        let back = value_from_yaml_str(&out).unwrap();
        assert_eq!(v.to_string(), back.to_string(), "{out}");
        let flow = to_yaml_string_flow(&v, 2);
        assert_eq!(
            v.to_string(),
            value_from_yaml_str(&flow).unwrap().to_string(),
            "{flow}"
        );
    }

    #[test]
    fn flow_style_for_collections_of_scalars_as_pyyaml() {
        let v =
            value_from_yaml_str("a: [1, x]\nb: {c: 'd,e'}\nl:\n- {k: v}\n- [1]\n- s\n").unwrap();
        assert_eq!(
            to_yaml_string_flow(&v, 2),
            "a: [1, x]\nb: {c: 'd,e'}\nl:\n- {k: v}\n- [1]\n- s\n"
        );
        let top = value_from_yaml_str("[a, b]").unwrap();
        assert_eq!(to_yaml_string_flow(&top, 2), "[a, b]\n");
    }
}
