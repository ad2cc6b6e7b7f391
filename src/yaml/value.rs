//! Converts YAML nodes into template values (`minijinja::Value`), the one runtime data type
//! for variables, arguments and results.

use super::{load_str, Node, NodeKind};
use anyhow::Result;
use indexmap::IndexMap;
use minijinja::Value;
use std::path::Path;

/// Converts a node tree into a value; mappings keep their key order.
pub fn node_to_value(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::from(()),
        NodeKind::Bool(b) => Value::from(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => Value::from(*f),
        NodeKind::Str(s) if node.tag.as_deref() == Some("!binary") => binary(s),
        // `!unsafe` strings are not trusted (never evaluated as an expression).
        NodeKind::Str(s) if node.tag.as_deref() == Some("unsafe") => Value::from(s.as_str()),
        // Written by the user: trusted (see `template::conditional`); minijinja's "safe"
        // string flavour carries the mark, which nothing else in drover reads.
        NodeKind::Str(s) => Value::from_safe_string(s.clone()),
        NodeKind::Seq(items) => Value::from(items.iter().map(node_to_value).collect::<Vec<_>>()),
        NodeKind::Map(entries) => {
            let map: IndexMap<Value, Value> = entries
                .iter()
                .map(|(k, v)| {
                    (
                        Value::from(k.key_str().unwrap_or_default()),
                        node_to_value(v),
                    )
                })
                .collect();
            Value::from_object(map)
        }
    }
}

/// A `!!binary` scalar: its base64 text (line breaks and spaces ignored) as bytes, as PyYAML
/// loads it; text that is not base64 stays a string.
fn binary(text: &str) -> Value {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact) {
        Ok(bytes) => Value::from_bytes(bytes),
        Err(_) => Value::from(text),
    }
}

/// Parses YAML text (the first document) into a value; an empty text is `none`.
pub fn value_from_yaml_str(text: &str) -> Result<Value> {
    let docs = load_str(text, Path::new("<string>"))?;
    Ok(docs.first().map(node_to_value).unwrap_or(Value::from(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_types() {
        let v = value_from_yaml_str("b: 1\na: [yes, '0644', 0644]\n").unwrap();
        let keys: Vec<String> = v.try_iter().unwrap().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["b", "a"]);
        let a = v.get_attr("a").unwrap();
        assert_eq!(a.get_item(&Value::from(0)).unwrap(), Value::from(true));
        assert_eq!(a.get_item(&Value::from(1)).unwrap(), Value::from("0644"));
        assert_eq!(a.get_item(&Value::from(2)).unwrap(), Value::from(420));
    }

    #[test]
    fn binary_scalars_are_bytes() {
        let v =
            value_from_yaml_str("a: !!binary |\n  /wD+\n  YQ==\nb: !!binary not base64\n").unwrap();
        let a = v.get_attr("a").unwrap();
        assert_eq!(a.as_bytes(), Some(&b"\xff\x00\xfea"[..]));
        assert_eq!(v.get_attr("b").unwrap().as_str(), Some("not base64"));
    }
}
