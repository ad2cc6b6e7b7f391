//! `raw`: a command line run by the login shell as it is (no `creates`, no checks), what
//! Ansible uses to bootstrap a host. Skipped in check mode, as Ansible skips it.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::Result;

pub struct Raw;

static SPEC: Spec = Spec {
    args: &["_raw_params", "executable"],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: false,
};

impl Module for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, _ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let Some(cmd) = args.str("_raw_params").filter(|c| !c.trim().is_empty()) else {
            return Ok(Plan::fail(
                "raw: the command to run is required (free-form text)",
            ));
        };
        let mut plan = Plan::change(cmd);
        plan.skip_in_check = true;
        Ok(plan)
    }

    fn apply(&self, ctx: &mut ModuleCtx, args: &Args, mut plan: Plan) -> Result<Plan> {
        let cmd: String = plan.take_work()?;
        let line = match args.str("executable") {
            Some(exe) => format!(
                "{} -c {}",
                crate::shell::quote(&exe),
                crate::shell::quote(&cmd)
            ),
            None => cmd,
        };
        let out = ctx.run(&line)?;
        let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        plan = plan
            .with_value("rc", out.rc)
            .with_value("stdout_lines", lines(&stdout))
            .with_value("stderr_lines", lines(&stderr))
            .with_value("stdout", stdout)
            .with_value("stderr", stderr);
        if out.rc != 0 {
            plan.failed = true;
            plan.msg = Some("non-zero return code".into());
        }
        Ok(plan)
    }
}
