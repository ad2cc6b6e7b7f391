//! `assert`: evaluate conditions (raw expressions, like `when`) on the controller.

use super::contract::{Action, Resolve};
use super::{Args, Plan, Spec};
use anyhow::{anyhow, Result};
use minijinja::Value;

pub struct Assert;

static SPEC: Spec = Spec {
    args: &[
        "that",
        "fail_msg",
        "success_msg",
        "quiet",
        "_that_templated",
    ],
    aliases: &[("msg", "fail_msg")],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Action for Assert {
    fn name(&self) -> &'static str {
        "assert"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn act(&self, args: &Args, env: &dyn Resolve) -> Result<Plan> {
        use crate::template::conditional::{evaluate, evaluate_value, CondError};
        // Each item a condition: a trusted string is an expression (a template in it is
        // evaluated with it), a boolean is itself (what `'{{ x == 1 }}'` gave).
        let that: Vec<Value> = match args.map.get("that") {
            Some(v) if v.kind() == minijinja::value::ValueKind::Seq => v.try_iter()?.collect(),
            Some(v) if v.is_none() => return Ok(Plan::fail("Empty conditional expression.")),
            Some(v) => vec![v.clone()],
            None => return Ok(Plan::fail("missing required arguments: that")),
        };
        for item in &that {
            let cond = item
                .as_str()
                .map_or_else(|| item.to_string(), str::to_string);
            let evaluated = match item.as_str() {
                Some(s) if item.is_safe() => {
                    let t = crate::template::compile_condition(s).map_err(|e| {
                        anyhow!("the condition `{cond}` is not a valid expression: {e}")
                    })?;
                    match evaluate(&t, env.vars()) {
                        Err(CondError::Render(e)) => {
                            return Err(anyhow!(
                                "evaluating `{cond}`: {}",
                                describe(&t, env.vars(), &e)
                            ))
                        }
                        r => r,
                    }
                }
                _ => evaluate_value(item, env.vars()),
            };
            let ok = match evaluated {
                Ok(b) => b,
                Err(CondError::Render(e)) => return Err(anyhow!("evaluating `{cond}`: {e}")),
                Err(e) => return Ok(Plan::fail(e.to_string())),
            };
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
        let mut plan = Plan::unchanged().with_msg(msg);
        // A condition written as a template that gave no expression: Ansible deprecates it.
        if args.has("_that_templated") && that.iter().any(|v| v.as_str().is_none()) {
            plan.values.insert(
                "deprecations".into(),
                Value::from(vec![crate::vars::map_value([
                    (
                        "msg".to_string(),
                        Value::from("Conditionals should not be surrounded by templating delimiters such as {{ }} or {% %}."),
                    ),
                    ("version".to_string(), Value::from("2.23")),
                ])]),
            );
        }
        Ok(plan)
    }
}

fn describe(t: &crate::template::Tmpl, ctx: &Value, e: &minijinja::Error) -> String {
    match crate::template::tree::undefined_message(t, ctx) {
        Some(what) => what,
        None => e.to_string(),
    }
}
