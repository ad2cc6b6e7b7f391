//! `ping`: prove the host answers and its shell works (there is no Python to test).

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::Result;

pub struct Ping;

static SPEC: Spec = Spec {
    args: &["data"],
    aliases: &[],
    free_form: None,
    any_args: false,
};

impl Module for Ping {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "ping"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let data = args.str("data").unwrap_or_else(|| "pong".into());
        if data == "crash" {
            // The test module raises there; ansible-core 2.19 reports an exception so.
            return Ok(Plan::fail("Task failed: Module failed: boom"));
        }
        let out = ctx.run("echo pong")?;
        if out.rc != 0 || out.stdout != b"pong\n" {
            return Ok(Plan::fail(format!(
                "the shell did not answer: {}",
                out.stderr_str().trim()
            )));
        }
        Ok(Plan::unchanged().with_value("ping", data))
    }
}
