//! `debug`: print a message or a variable; runs on the controller, never changes anything.
//! As ansible-core 2.19's action: `msg` and `var` exclude each other; `var` is a string naming
//! a variable or an expression, an undefined one shows a placeholder and a warning, any other
//! error fails the task; `verbosity` above the run's `-v` count skips it.

use super::contract::{Action, Resolve};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;
use minijinja::value::ValueKind;
use minijinja::Value;

pub struct Debug;

static SPEC: Spec = Spec {
    args: &["msg", "var", "verbosity", "_untrusted_var"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// The argument as given, a null included (`Args::get` drops nulls).
fn raw<'a>(args: &'a Args, key: &str) -> Option<&'a Value> {
    args.map.get(key)
}

/// Python's words for a failed evaluation, where they differ from minijinja's.
fn python_text(e: &minijinja::Error) -> String {
    if let Some(py) = crate::template::tree::python_arith_error(e) {
        return py.into();
    }
    e.detail()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{e:#}"))
}

impl Action for Debug {
    fn name(&self) -> &'static str {
        "debug"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn act(&self, args: &Args, env: &dyn Resolve) -> Result<Plan> {
        let verbosity = args.int("verbosity")?.unwrap_or(0);
        if verbosity > i64::from(env.verbosity()) {
            let mut plan = Plan::unchanged();
            plan.verdict = Verdict::Skipped("Verbosity threshold not met.".into());
            return Ok(plan);
        }
        let (msg, var) = (raw(args, "msg"), raw(args, "var"));
        if msg.is_some() && var.is_some() {
            return Ok(Plan::fail("parameters are mutually exclusive: msg|var"));
        }
        let Some(var) = var else {
            let msg = msg.cloned().unwrap_or_else(|| Value::from("Hello world!"));
            return Ok(Plan::unchanged().with_value("msg", msg));
        };
        if var.kind() != ValueKind::String {
            let kind = match var.kind() {
                ValueKind::Map => "dict",
                ValueKind::Seq => "list",
                ValueKind::Bool => "bool",
                ValueKind::Number if var.is_integer() => "int",
                ValueKind::Number => "float",
                _ => "NoneType",
            };
            return Ok(Plan::fail(format!(
                "argument 'var' is of type {kind} and we were unable to convert to _check_type_str_no_conversion: '{var}' is not a string and conversion is not allowed"
            )));
        }
        let name = var.as_str().unwrap_or_default().to_string();
        if name.starts_with(UNTRUSTED) || args.has("_untrusted_var") {
            return Ok(Plan::fail(
                "Task failed: Error while resolving `var` expression: Encountered untrusted template or expression.",
            ));
        }
        // `var` names a variable or an expression, evaluated without braces.
        let tmpl = crate::template::compile_condition_lenient(&name);
        let mut plan = Plan::unchanged();
        let value = match tmpl.render(env.vars()) {
            Ok(v) => v,
            Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => {
                let what = crate::template::tree::undefined_message(&tmpl, env.vars())
                    .unwrap_or_else(|| python_text(&e));
                plan.values.insert(
                    "warnings".into(),
                    Value::from(vec![format!(
                        "Encountered 1 template error.\nerror 1 - {what}"
                    )]),
                );
                Value::from(format!("<< error 1 - {what} >>"))
            }
            Err(e) => {
                return Ok(Plan::fail(format!(
                    "Task failed: Error while resolving `var` expression: Error rendering expression: {}",
                    python_text(&e)
                )))
            }
        };
        let omit = env
            .vars()
            .get_attr("omit")
            .ok()
            .filter(|o| !o.is_undefined());
        let value = match omit {
            Some(o) if o == value => {
                plan.values.insert(
                    "warnings".into(),
                    Value::from(vec![
                        "The result of the `var` expression could not be omitted; a placeholder was used instead.",
                    ]),
                );
                Value::from("<<Omit>>")
            }
            _ => value,
        };
        Ok(plan.with_value(&name, value))
    }
}

/// The prefix a `var:` gets at load time when Ansible would not trust it as an expression
/// (`!unsafe`, or the result of a template that is not a bare variable).
pub const UNTRUSTED: &str = "\u{0}untrusted:";
