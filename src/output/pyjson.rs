//! Results as Ansible prints them: Python's `json.dumps(sort_keys=True)`, so `", "` and `": "`
//! between items (one line), or four-space indentation; non-ASCII text kept as is.

use serde_json::Value;

/// A result as Ansible's output callbacks show it: without the `failed` and `skipped` keys
/// (the line already says so; Ansible's `TaskResult.clean_copy`) and without `diff` (printed
/// as a diff of its own).
pub fn clean_result(mut value: Value) -> Value {
    if let Some(m) = value.as_object_mut() {
        for key in ["failed", "skipped", "diff", "exception"] {
            m.shift_remove(key);
        }
    }
    value
}

/// `value` as Ansible's callbacks dump a result; `indent` gives the four-space layout.
pub fn dumps(value: &Value, indent: bool) -> String {
    let mut out = String::new();
    write(&mut out, value, if indent { Some(0) } else { None });
    out
}

fn write(out: &mut String, v: &Value, depth: Option<usize>) {
    let newline = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(d));
    };
    // Before element `i`: `, ` on one line, or `,` and a new indented line.
    let before = |out: &mut String, i: usize| {
        if i > 0 {
            out.push(',');
            if depth.is_none() {
                out.push(' ');
            }
        }
        if let Some(d) = depth {
            newline(out, d + 1);
        }
    };
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                before(out, i);
                write(out, item, depth.map(|d| d + 1));
            }
            if let Some(d) = depth {
                newline(out, d);
            }
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                before(out, i);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write(out, &map[k], depth.map(|d| d + 1));
            }
            if let Some(d) = depth {
                newline(out, d);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_layouts() {
        let v = json!({"rc": 0, "cmd": ["echo", "é"], "changed": true, "e": {}, "l": []});
        assert_eq!(
            dumps(&v, false),
            r#"{"changed": true, "cmd": ["echo", "é"], "e": {}, "l": [], "rc": 0}"#
        );
        assert_eq!(
            dumps(&json!({"msg": "hi", "n": [1]}), true),
            "{\n    \"msg\": \"hi\",\n    \"n\": [\n        1\n    ]\n}"
        );
    }
}
