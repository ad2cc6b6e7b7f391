//! Argument trees: a task's YAML arguments with every template string compiled at load time,
//! rendered per host into plain values. Keys whose value renders to `omit` are dropped.

use super::{compile_lenient, is_templated, Tmpl};
use crate::yaml::{node_to_value, Node, NodeKind, Span};
use anyhow::{anyhow, Result};
use indexmap::IndexMap;
use minijinja::value::{Value, ValueKind};
use std::sync::Arc;

/// The key of a map entry whose rendered mapping is spliced into the map (a templated
/// `args:`); no YAML key can be this.
pub const SPLICE: &str = "\u{0}splice";

/// A value tree whose strings may be compiled templates.
#[derive(Clone, Debug)]
pub enum TTree {
    Value(Value),
    Tmpl(Arc<Tmpl>, Span),
    Seq(Vec<TTree>),
    Map(Vec<(String, TTree)>),
}

impl TTree {
    /// Compiles a YAML node. A template that does not compile is kept as one that fails when
    /// rendered (`Tmpl::broken`): the load warns, the task that reaches it fails.
    pub fn from_node(node: &Node) -> Result<TTree> {
        Ok(match &node.kind {
            NodeKind::Str(s) if is_templated(s) && node.tag.as_deref() != Some("unsafe") => {
                TTree::Tmpl(compile_lenient(s), node.span.clone())
            }
            NodeKind::Seq(items) => {
                TTree::Seq(items.iter().map(TTree::from_node).collect::<Result<_>>()?)
            }
            NodeKind::Map(entries) => TTree::Map(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.key_str().unwrap_or_default(), TTree::from_node(v)?)))
                    .collect::<Result<_>>()?,
            ),
            _ => TTree::Value(node_to_value(node)),
        })
    }

    /// A tree for a string that came from a `k=v` argument.
    pub fn from_str_at(s: &str, span: &Span) -> Result<TTree> {
        if is_templated(s) {
            Ok(TTree::Tmpl(compile_lenient(s), span.clone()))
        } else {
            Ok(TTree::Value(Value::from_safe_string(s.to_string())))
        }
    }

    /// Renders against a context. `omit` is the run's omit placeholder.
    pub fn render(&self, ctx: &Value, omit: &str) -> Result<Value> {
        Ok(match self {
            TTree::Value(v) => v.clone(),
            TTree::Tmpl(t, span) => t.render(ctx).map_err(|e| render_error(span, t, ctx, &e))?,
            TTree::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    let v = i.render(ctx, omit)?;
                    if v.as_str() != Some(omit) {
                        out.push(v);
                    }
                }
                Value::from(out)
            }
            TTree::Map(entries) => {
                let mut out = IndexMap::with_capacity(entries.len());
                for (k, v) in entries {
                    // As Ansible words it: which argument could not be resolved (the
                    // outermost one).
                    let v = v.render(ctx, omit).map_err(|e| {
                        if k == SPLICE || format!("{e}").starts_with("Error while resolving") {
                            e
                        } else {
                            anyhow!("Error while resolving value for '{k}': {e:#}")
                        }
                    })?;
                    if k == SPLICE {
                        // `args: "{{ more_args }}"`: its mapping's entries, under the others;
                        // `{{ omit }}` gives none.
                        if v.as_str() == Some(omit) {
                            continue;
                        }
                        if v.kind() != minijinja::value::ValueKind::Map {
                            let kind = match v.kind() {
                                minijinja::value::ValueKind::String => "str",
                                minijinja::value::ValueKind::Seq => "list",
                                minijinja::value::ValueKind::Number if v.is_integer() => "int",
                                minijinja::value::ValueKind::Number => "float",
                                minijinja::value::ValueKind::Bool => "bool",
                                _ => "NoneType",
                            };
                            return Err(anyhow!(
                                "Task args must resolve to a 'dict' not '{kind}'."
                            ));
                        }
                        for key in v.try_iter()? {
                            let item = v.get_item(&key)?;
                            if item.as_str() != Some(omit) {
                                out.insert(key, item);
                            }
                        }
                    } else if v.as_str() != Some(omit) {
                        // Keys are templated too, as Ansible templates whole mappings.
                        let key = if is_templated(k) {
                            compile_lenient(k)
                                .render(ctx)
                                .map_err(|e| anyhow!("templating the key `{k}`: {e}"))?
                        } else {
                            Value::from(k.as_str())
                        };
                        out.insert(key, v);
                    }
                }
                Value::from_object(out)
            }
        })
    }

    /// Renders the terms of a lookup that drops undefined ones (`first_found`): a template
    /// naming an undefined variable gives an undefined value instead of failing.
    pub fn render_lazy(&self, ctx: &Value, omit: &str) -> Result<Value> {
        Ok(match self {
            TTree::Tmpl(t, span) => match t.render_keep_invalid(ctx) {
                Ok(v) => v,
                Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => Value::UNDEFINED,
                Err(e) => return Err(render_error(span, t, ctx, &e)),
            },
            TTree::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(i.render_lazy(ctx, omit)?);
                }
                Value::from(out)
            }
            TTree::Map(entries) if entries.iter().all(|(k, _)| k != SPLICE) => {
                let mut out = IndexMap::with_capacity(entries.len());
                for (k, v) in entries {
                    out.insert(Value::from(k.as_str()), v.render_lazy(ctx, omit)?);
                }
                Value::from_object(out)
            }
            _ => self.render(ctx, omit)?,
        })
    }

    /// Every compiled template in the tree with where it was written.
    pub fn templates(&self) -> Vec<(&Arc<Tmpl>, &Span)> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<(&'a Arc<Tmpl>, &'a Span)>) {
        match self {
            TTree::Value(_) => {}
            TTree::Tmpl(t, s) => out.push((t, s)),
            TTree::Seq(items) => items.iter().for_each(|i| i.collect(out)),
            TTree::Map(entries) => entries.iter().for_each(|(_, v)| v.collect(out)),
        }
    }

    /// Top-level keys of a map tree.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            TTree::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A template syntax error at a place in a file.
pub fn template_error(span: &Span, source: &str, e: &minijinja::Error) -> anyhow::Error {
    let detail = e.detail().unwrap_or_default();
    let kind = e.kind();
    let detail = if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    };
    anyhow!(
        "{span}: template error in `{}`: {detail}\nhint: check the `{{{{ }}}}` / `{{% %}}` pairs and filter names",
        source.trim()
    )
}

/// A rendering failure, naming the undefined variable when that is the cause.
pub fn render_error(span: &Span, t: &Tmpl, ctx: &Value, e: &minijinja::Error) -> anyhow::Error {
    let detail = e.detail().unwrap_or_default();
    // `x | mandatory` names its variable, as Ansible's message does.
    if detail == "Mandatory variable not defined." {
        let what = match undefined_path(t, ctx) {
            Some(name) => format!("Mandatory variable '{name}' not defined."),
            None => detail.to_string(),
        };
        return anyhow!("{what} ({span})");
    }
    // A variable whose own template names an undefined one (`'x' is undefined`).
    if e.kind() == minijinja::ErrorKind::UndefinedError
        && detail.starts_with('\'')
        && detail.ends_with(" is undefined")
    {
        return anyhow!("{detail} (in `{}`, {span})", t.source().trim());
    }
    let found = undefined(t, ctx);
    if found.is_none() && e.kind() == minijinja::ErrorKind::UndefinedError {
        if let Some(hint) = crate::template::filters_more::take_undef_hint() {
            return anyhow!("{hint} (in `{}`, {span})", t.source().trim());
        }
    }
    if let Some((name, what)) = found {
        return anyhow!(
            "{what} (in `{}`, {span})\nhint: define it in vars, inventory, role defaults or with `-e`, or use `{{{{ {name} | default(...) }}}}`",
            t.source().trim()
        );
    }
    if let Some(py) = python_arith_error(e) {
        return anyhow!(
            "Error rendering template: {py} (in `{}`, {span})",
            t.source().trim()
        );
    }
    let mut msg = e.to_string();
    if let Some(d) = e.detail() {
        if !msg.contains(d) {
            msg = format!("{msg}: {d}");
        }
    }
    anyhow!("{span}: error rendering `{}`: {msg}", t.source().trim())
}

/// Python's words for an arithmetic error minijinja reports as "unable to calculate".
pub fn python_arith_error(e: &minijinja::Error) -> Option<&'static str> {
    let text = format!("{e:#}");
    if !text.contains("unable to calculate") {
        return None;
    }
    if text.contains("// 0") {
        Some("integer division or modulo by zero")
    } else if text.contains("/ 0") {
        Some("division by zero")
    } else if text.contains("% 0") {
        Some("integer modulo by zero")
    } else {
        None
    }
}

/// The first dotted variable path of the template that does not resolve in `ctx`.
pub fn undefined_path(t: &Tmpl, ctx: &Value) -> Option<String> {
    undefined(t, ctx).map(|(path, _)| path)
}

/// What is undefined in Ansible's words: `'x' is undefined` for a variable, `object of type
/// 'dict' has no attribute 'y'` for a missing attribute of a defined value.
pub fn undefined_message(t: &Tmpl, ctx: &Value) -> Option<String> {
    undefined(t, ctx).map(|(_, what)| what)
}

/// The first unresolved path and the message for it.
fn undefined(t: &Tmpl, ctx: &Value) -> Option<(String, String)> {
    // In the order the template reads them (ansible-core names the first it evaluates).
    let src = t.source();
    let mut paths = t.variable_paths();
    paths.sort_by_key(|p| {
        let root = p.split('.').next().unwrap_or(p);
        src.match_indices(root)
            .find(|(i, _)| {
                let before = src[..*i].chars().next_back();
                let after = src[i + root.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
            .map_or(usize::MAX, |(i, _)| i)
    });
    for path in paths {
        let mut cur = ctx.clone();
        let mut missing = None;
        for (i, part) in path.split('.').enumerate() {
            match cur.get_attr(part) {
                Ok(v) if !v.is_undefined() => cur = v,
                _ => {
                    missing = Some((i, part));
                    break;
                }
            }
        }
        let Some((i, part)) = missing else { continue };
        if crate::template::is_known_global(path.split('.').next().unwrap_or("")) {
            continue;
        }
        let what = match cur.kind() {
            ValueKind::Map
            | ValueKind::Seq
            | ValueKind::String
            | ValueKind::Number
            | ValueKind::Bool
                if i > 0 =>
            {
                format!(
                    "object of type '{}' has no attribute '{part}'",
                    crate::template::filters_more::type_debug(&cur)
                )
            }
            _ if i == 0 => match crate::vars::undefined_because(part).filter(|_| {
                ctx.try_iter()
                    .is_ok_and(|mut k| k.any(|k| k.as_str() == Some(part)))
            }) {
                Some(why) => why,
                None => format!("'{path}' is undefined"),
            },
            _ => format!("'{path}' is undefined"),
        };
        return Some((path, what));
    }
    None
}
