//! The `environment:` keyword as ansible-core post-validates it: each level (play, blocks,
//! task; later wins) is a mapping or a list of mappings merged in order; a value that renders
//! to `omit`, or whose template needs `ansible_env` before facts exist, is left out.

use crate::template::tree::TTree;
use anyhow::{anyhow, Result};
use minijinja::value::{Value, ValueKind};

/// The variables to export for a task from its `environment:` levels.
pub fn pairs(levels: &[TTree], scope: &Value, omit: &str) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| {
        env.retain(|(e, _)| *e != k);
        env.push((k, v));
    };
    for level in levels {
        match level {
            TTree::Map(entries) => {
                for (k, v) in entries {
                    if let Some(v) = value(v, scope, omit)? {
                        set(checked_name(k)?, text(&v));
                    }
                }
            }
            TTree::Seq(items) => {
                for item in items {
                    match item {
                        TTree::Map(entries) => {
                            for (k, v) in entries {
                                if let Some(v) = value(v, scope, omit)? {
                                    set(checked_name(k)?, text(&v));
                                }
                            }
                        }
                        other => {
                            if let Some(v) = value(other, scope, omit)? {
                                for (k, v) in rendered_pairs(&v, omit)? {
                                    set(k, v);
                                }
                            }
                        }
                    }
                }
            }
            other => {
                if let Some(v) = value(other, scope, omit)? {
                    let items = match v.kind() {
                        ValueKind::Seq => v.try_iter()?.collect(),
                        _ => vec![v],
                    };
                    for item in items {
                        for (k, v) in rendered_pairs(&item, omit)? {
                            set(k, v);
                        }
                    }
                }
            }
        }
    }
    Ok(env)
}

/// One rendered value: none when it is omitted, or undefined only for want of `ansible_env`.
fn value(t: &TTree, scope: &Value, omit: &str) -> Result<Option<Value>> {
    match t.render(scope, omit) {
        Ok(v) if v.as_str() == Some(omit) || v.is_undefined() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.contains("ansible_env") || msg.contains("ansible_facts") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// A rendered mapping's pairs (none gives nothing).
fn rendered_pairs(v: &Value, omit: &str) -> Result<Vec<(String, String)>> {
    if v.is_none() || v.is_undefined() {
        return Ok(Vec::new());
    }
    if v.kind() != ValueKind::Map {
        return Err(anyhow!(
            "`environment` must be a mapping of variable names to values (or a list of them)"
        ));
    }
    let mut out = Vec::new();
    for k in v.try_iter()? {
        let item = v.get_item(&k)?;
        if item.as_str() == Some(omit) {
            continue;
        }
        out.push((checked_name(&k.to_string())?, text(&item)));
    }
    Ok(out)
}

fn checked_name(name: &str) -> Result<String> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(anyhow!("`{name}` is not a valid environment variable name"));
    }
    Ok(name.to_string())
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(yaml: &str) -> Vec<(String, String)> {
        let docs = crate::yaml::load_str(yaml, std::path::Path::new("t.yml")).unwrap();
        let t = TTree::from_node(&docs[0]).unwrap();
        let scope = minijinja::context! { omit => "__omit__", x => "1" };
        pairs(&[t], &scope, "__omit__").unwrap()
    }

    #[test]
    fn levels_lists_and_omitted_values() {
        let e =
            env("- {NOTHERE: '{{ omit }}', IAMHERE: hello}\n- '{{ omit }}'\n- {ANOTHER: still}\n");
        assert_eq!(
            e,
            [
                ("IAMHERE".into(), "hello".into()),
                ("ANOTHER".into(), "still".into())
            ]
        );
        let e = env("{PATH: '{{ ansible_env.PATH }}:/x', lola: '{{ x }}'}");
        assert_eq!(e, [("lola".into(), "1".into())]);
    }
}
