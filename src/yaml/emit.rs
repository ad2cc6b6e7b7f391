//! Emits template values as block-style YAML (for `to_yaml`, `to_nice_yaml` and `--list`).

use minijinja::value::{Value, ValueKind};
use std::fmt::Write;

/// Renders a value as YAML with the given indent width; ends with a newline.
pub fn to_yaml_string(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    emit(&mut out, value, 0, indent.max(2));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn is_container(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Map | ValueKind::Seq) && v.len().unwrap_or(0) > 0
}

fn emit(out: &mut String, v: &Value, level: usize, step: usize) {
    let pad = " ".repeat(level);
    match v.kind() {
        ValueKind::Map if v.len().unwrap_or(0) > 0 => {
            for key in v.try_iter().into_iter().flatten() {
                let item = v.get_item(&key).unwrap_or_default();
                let _ = write!(out, "{pad}{}:", scalar(&key));
                if is_container(&item) {
                    out.push('\n');
                    let next = if item.kind() == ValueKind::Seq {
                        level
                    } else {
                        level + step
                    };
                    emit(out, &item, next, step);
                } else {
                    let _ = writeln!(out, " {}", scalar(&item));
                }
            }
        }
        ValueKind::Seq if v.len().unwrap_or(0) > 0 => {
            for item in v.try_iter().into_iter().flatten() {
                if is_container(&item) {
                    let mut inner = String::new();
                    emit(&mut inner, &item, level + 2, step);
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
    }
}
