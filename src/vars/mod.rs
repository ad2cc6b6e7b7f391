//! Layered variable scopes. A `Scope` is a stack of `Arc`-shared maps searched from the top,
//! built per host and task without copying any map; strings that come from the user's files
//! are templated lazily, when read, against the same scope (as Ansible does).
//! Which layers exist and in what order (precedence) is decided by `crate::executor::context`.

mod hostvars;

pub use hostvars::HostVars;

use crate::template;
use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Error, ErrorKind, Value};
use std::cell::Cell;
use std::sync::Arc;

/// A map of variables, keyed by name, in definition order.
pub type VarMap = IndexMap<String, Value>;

/// One level of variables.
#[derive(Clone, Debug)]
pub struct Layer {
    pub vars: Arc<VarMap>,
    /// Values from the user's files may contain templates, rendered when read; values that
    /// drover produced (facts, results) are data and never templated.
    pub templated: bool,
}

impl Layer {
    pub fn templated(vars: Arc<VarMap>) -> Layer {
        Layer {
            vars,
            templated: true,
        }
    }

    pub fn data(vars: Arc<VarMap>) -> Layer {
        Layer {
            vars,
            templated: false,
        }
    }
}

/// A stack of layers; later layers win.
#[derive(Debug, Default)]
pub struct Scope {
    layers: Vec<Layer>,
}

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Variables being templated on this thread right now: reading one of them again is a loop.
    static RESOLVING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Why a variable rendered undefined on this thread: its template named an undefined
    /// one (`'x' is undefined`), the hint Ansible's undefined markers carry.
    static UNDEFINED_BECAUSE: std::cell::RefCell<std::collections::HashMap<String, String>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Why variable `name` last rendered undefined on this thread, if its template named an
/// undefined variable.
pub fn undefined_because(name: &str) -> Option<String> {
    UNDEFINED_BECAUSE.with(|m| m.borrow().get(name).cloned())
}

const MAX_DEPTH: usize = 64;

impl Scope {
    pub fn new(layers: Vec<Layer>) -> Scope {
        Scope { layers }
    }

    /// The scope as a template context value.
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }

    /// Looks a name up without templating (for `is defined` style checks by the executor).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.layers.iter().rev().find_map(|l| l.vars.get(name))
    }

    /// All names visible in this scope, lowest layer first, without duplicates.
    pub fn names(&self) -> Vec<String> {
        let mut seen = indexmap::IndexSet::new();
        for l in &self.layers {
            for k in l.vars.keys() {
                seen.insert(k.clone());
            }
        }
        seen.into_iter().collect()
    }
}

/// Ansible's rule for a variable name (`register`, `set_fact` keys): a string that is an
/// ASCII identifier and not a Python/Jinja constant. The error is Ansible's message.
pub fn check_var_name(name: &Value) -> Result<(), String> {
    let ok = name.as_str().is_some_and(|s| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
            && !matches!(
                s,
                "true" | "false" | "none" | "True" | "False" | "None" | "not"
            )
    });
    if ok {
        return Ok(());
    }
    let kind = match name.kind() {
        minijinja::value::ValueKind::String => None,
        minijinja::value::ValueKind::Number if name.is_integer() => Some("int"),
        minijinja::value::ValueKind::Number => Some("float"),
        minijinja::value::ValueKind::Bool => Some("bool"),
        minijinja::value::ValueKind::None => Some("NoneType"),
        minijinja::value::ValueKind::Seq => Some("list"),
        minijinja::value::ValueKind::Map => Some("dict"),
        _ => Some("object"),
    };
    let shown = crate::template::filters::py_str(name);
    Err(match kind {
        None => format!("Invalid variable name '{shown}'."),
        Some(k) => format!("Invalid variable name '{shown}' of type '{k}'."),
    })
}

/// Renders every template string inside a value against `ctx`; untouched values are shared.
pub fn render_deep(v: &Value, ctx: &Value) -> Result<Value, Error> {
    if let Some(s) = v.as_str() {
        if !template::is_templated(s) {
            return Ok(v.clone());
        }
        let depth = DEPTH.with(|d| d.get());
        if depth >= MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("recursive loop detected in template string `{s}`"),
            ));
        }
        DEPTH.with(|d| d.set(depth + 1));
        let out = template::compile(s).and_then(|t| {
            // A hint left by an `undef()` whose value was defaulted is not this one's.
            template::filters_more::take_undef_hint();
            t.render(ctx).map_err(|e| {
                // Name the variable that is really undefined, as Ansible does.
                match e.kind() {
                    ErrorKind::UndefinedError => {
                        match template::tree::undefined_message(&t, ctx)
                            .or_else(template::filters_more::take_undef_hint)
                        {
                            Some(m) => Error::new(ErrorKind::UndefinedError, m),
                            None => e,
                        }
                    }
                    _ => e,
                }
            })
        });
        DEPTH.with(|d| d.set(depth));
        return out;
    }
    match v.kind() {
        minijinja::value::ValueKind::Seq if needs_render(v) => {
            let mut items = Vec::new();
            for item in v.try_iter()? {
                // An undefined element fails where it is used, not the whole list (Ansible's
                // lazy containers): `first_found` drops it, `length` counts it.
                items.push(match render_deep(&item, ctx) {
                    Err(e) if e.kind() == ErrorKind::UndefinedError => Value::from(e),
                    r => r?,
                });
            }
            Ok(Value::from(items))
        }
        minijinja::value::ValueKind::Map if needs_render(v) => {
            let mut map = IndexMap::new();
            for key in v.try_iter()? {
                let item = v.get_item(&key)?;
                map.insert(key, render_deep(&item, ctx)?);
            }
            Ok(Value::from_object(map))
        }
        _ => Ok(v.clone()),
    }
}

fn needs_render(v: &Value) -> bool {
    if let Some(s) = v.as_str() {
        return template::is_templated(s);
    }
    match v.kind() {
        minijinja::value::ValueKind::Seq => v
            .try_iter()
            .map(|mut it| it.any(|i| needs_render(&i)))
            .unwrap_or(false),
        minijinja::value::ValueKind::Map => v
            .try_iter()
            .map(|mut it| it.any(|k| v.get_item(&k).map(|i| needs_render(&i)).unwrap_or(false)))
            .unwrap_or(false),
        _ => false,
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let Some(layer) = self.layers.iter().rev().find(|l| l.vars.contains_key(name)) else {
            // `vars`: every variable in scope, as a mapping (`vars[name]`, `name in vars`).
            return (name == "vars").then(|| Value::from_dyn_object(self.clone()));
        };
        let v = layer.vars.get(name)?;
        if !layer.templated {
            return Some(v.clone());
        }
        if RESOLVING.with(|r| r.borrow().iter().any(|n| n == name)) {
            return Some(Value::from(Error::new(
                ErrorKind::InvalidOperation,
                format!("recursive loop detected in template for variable `{name}`"),
            )));
        }
        RESOLVING.with(|r| r.borrow_mut().push(name.to_string()));
        let ctx = Value::from_dyn_object(self.clone());
        let rendered = render_deep(v, &ctx);
        RESOLVING.with(|r| r.borrow_mut().pop());
        Some(match rendered {
            Ok(v) => v,
            // Undefined, as Ansible's marker is: `| default(...)` and `is defined` see it,
            // and a use of it names the variable that is really missing.
            Err(e) if e.kind() == ErrorKind::UndefinedError => {
                if let Some(d) = e.detail() {
                    UNDEFINED_BECAUSE.with(|m| m.borrow_mut().insert(name.into(), d.into()));
                }
                Value::UNDEFINED
            }
            Err(e) => Value::from(Error::new(
                ErrorKind::InvalidOperation,
                format!("while templating variable `{name}`: {e}"),
            )),
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.names().into_iter().map(Value::from).collect())
    }
}

/// Builds a `VarMap` from a mapping value (keys become strings); non-maps give an empty map.
pub fn varmap_from_value(v: &Value) -> VarMap {
    let mut out = VarMap::new();
    if v.kind() == minijinja::value::ValueKind::Map {
        if let Ok(keys) = v.try_iter() {
            for k in keys {
                if let Ok(item) = v.get_item(&k) {
                    out.insert(k.to_string(), item);
                }
            }
        }
    }
    out
}

/// Builds a map value from string keys.
pub fn map_value<I: IntoIterator<Item = (String, Value)>>(entries: I) -> Value {
    let map: IndexMap<Value, Value> = entries
        .into_iter()
        .map(|(k, v)| (Value::from(k), v))
        .collect();
    Value::from_object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&str, Value)], templated: bool) -> Layer {
        let map: VarMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Layer {
            vars: Arc::new(map),
            templated,
        }
    }

    #[test]
    fn later_layers_win() {
        let s = Scope::new(vec![
            layer(&[("a", Value::from(1)), ("b", Value::from(1))], false),
            layer(&[("a", Value::from(2))], false),
        ])
        .into_value();
        assert_eq!(s.get_attr("a").unwrap(), Value::from(2));
        assert_eq!(s.get_attr("b").unwrap(), Value::from(1));
    }

    #[test]
    fn templated_values_render_lazily_against_the_whole_scope() {
        let s = Scope::new(vec![
            layer(&[("greeting", Value::from("hi {{ who }}"))], true),
            layer(&[("who", Value::from("there"))], false),
        ])
        .into_value();
        assert_eq!(s.get_attr("greeting").unwrap().as_str(), Some("hi there"));
    }

    #[test]
    fn data_layers_are_not_templated() {
        let s = Scope::new(vec![layer(&[("out", Value::from("{{ x }}"))], false)]).into_value();
        assert_eq!(s.get_attr("out").unwrap().as_str(), Some("{{ x }}"));
    }

    #[test]
    fn self_reference_is_an_error_not_a_hang() {
        let s = Scope::new(vec![layer(&[("a", Value::from("{{ a }}"))], true)]).into_value();
        let t = crate::template::compile("{{ a }}").unwrap();
        let err = t.render(&s).unwrap_err().to_string();
        assert!(err.contains("recursive loop"), "{err}");
    }
}
