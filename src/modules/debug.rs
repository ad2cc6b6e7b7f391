//! `debug`: print a message or a variable; runs on the controller, never changes anything.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

pub struct Debug;

static SPEC: Spec = Spec {
    args: &["msg", "var", "verbosity"],
    aliases: &[],
    free_form: None,
    any_args: false,
};

impl Module for Debug {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "debug"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        if let Some(var) = args.str("var") {
            // `var` names a variable or an expression, evaluated without braces.
            let value = crate::template::compile_condition(&var)
                .ok()
                .and_then(|t| t.render(ctx.vars).ok())
                .unwrap_or_else(|| Value::from("VARIABLE IS NOT DEFINED!"));
            return Ok(Plan::unchanged().with_value(&var, value));
        }
        let msg = args
            .get("msg")
            .cloned()
            .unwrap_or_else(|| Value::from("Hello world!"));
        Ok(Plan::unchanged().with_value("msg", msg))
    }
}
