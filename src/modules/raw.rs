//! `raw`: a command line run by the login shell as it is (no `creates`, no checks), what
//! Ansible uses to bootstrap a host. Skipped in check mode, as Ansible skips it.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;

pub struct Raw;

static SPEC: Spec = Spec {
    args: &["_raw_params", "executable"],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: false,
    file_args: false,
};

/// `raw`'s arguments: the command line and the shell to run it with.
pub struct RawArgs {
    cmd: String,
    executable: Option<String>,
}

impl Typed for Raw {
    type Args = RawArgs;
    type Change = ();

    fn name(&self) -> &'static str {
        "raw"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<RawArgs> {
        let Some(cmd) = args.str("_raw_params").filter(|c| !c.trim().is_empty()) else {
            return Err(
                Failure::new("raw: the command to run is required (free-form text)").into(),
            );
        };
        Ok(RawArgs {
            cmd,
            executable: args.str("executable"),
        })
    }

    fn observe(&self, _a: &RawArgs) -> Observe {
        Observe::default()
    }

    fn decide(&self, _a: &RawArgs, _seen: &Observed) -> Outcome<()> {
        let mut report = Plan::unchanged();
        report.verdict = Verdict::Unpredictable;
        Outcome::change((), report)
    }

    fn apply(&self, a: &RawArgs, _c: &()) -> Vec<Step> {
        let script = match &a.executable {
            Some(exe) => Script::new().argv([exe.as_str(), "-c", a.cmd.as_str()]),
            None => Script::new().user_shell(&a.cmd),
        };
        vec![Step::Exec {
            script,
            stdin: None,
        }]
    }

    fn finish(&self, _a: &RawArgs, _c: &(), done: &Done, report: Plan) -> Plan {
        command_result(report, &done.outputs[0])
    }
}

/// A command's output as Ansible's result keys (`rc`, `stdout`, `stderr` and their lines);
/// a non-zero status fails the task.
pub fn command_result(report: Plan, out: &crate::connection::Output) -> Plan {
    let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    let mut plan = report
        .with_value("rc", out.rc)
        .with_value("stdout_lines", lines(&stdout))
        .with_value("stderr_lines", lines(&stderr))
        .with_value("stdout", stdout)
        .with_value("stderr", stderr);
    if out.rc != 0 {
        plan.mark_failed(true);
        plan.msg = Some("non-zero return code".into());
    }
    plan
}
