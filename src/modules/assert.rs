//! `assert`: evaluate conditions (raw expressions, like `when`) on the controller.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::{anyhow, Result};
use minijinja::Value;

pub struct Assert;

static SPEC: Spec = Spec {
    args: &["that", "fail_msg", "success_msg", "quiet"],
    aliases: &[("msg", "fail_msg")],
    free_form: None,
    any_args: false,
};

impl Module for Assert {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "assert"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let that = match args.get("that") {
            Some(v) if v.as_str().is_none() => args.list("that"),
            Some(v) => vec![v.to_string()],
            None => return Ok(Plan::fail("missing required arguments: that")),
        };
        for cond in &that {
            let t = crate::template::compile_condition(cond)
                .map_err(|e| anyhow!("the condition `{cond}` is not a valid expression: {e}"))?;
            let ok = t
                .render(ctx.vars)
                .map(|v| crate::template::truthy(&v))
                .map_err(|e| anyhow!("evaluating `{cond}`: {}", describe(&t, ctx.vars, &e)))?;
            if !ok {
                let msg = args
                    .get("fail_msg")
                    .cloned()
                    .unwrap_or_else(|| Value::from("Assertion failed"));
                let mut plan =
                    Plan::fail(msg.as_str().map(str::to_string).unwrap_or(msg.to_string()));
                plan.values
                    .insert("assertion".into(), Value::from(cond.as_str()));
                plan.values
                    .insert("evaluated_to".into(), Value::from(false));
                return Ok(plan);
            }
        }
        let msg = args
            .str("success_msg")
            .unwrap_or_else(|| "All assertions passed".into());
        Ok(Plan::unchanged().with_msg(msg))
    }
}

fn describe(t: &crate::template::Tmpl, ctx: &Value, e: &minijinja::Error) -> String {
    match crate::template::tree::undefined_message(t, ctx) {
        Some(what) => what,
        None => e.to_string(),
    }
}
