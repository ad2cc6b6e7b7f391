//! `script`: a script from the controller (the role's or playbook's `files/`), sent to the
//! host and run there with its arguments (shell words, as Ansible passes them), in one round
//! trip; the copy is removed afterwards. `creates`/`removes` and `chdir` as for `command`;
//! without a guard the task is skipped in check mode, as Ansible does.

use super::fileops::{fail, read_source};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
use anyhow::Result;

pub struct Script;

static SPEC: Spec = Spec {
    args: &[
        "_raw_params",
        "cmd",
        "creates",
        "removes",
        "chdir",
        "executable",
        "decrypt",
    ],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: false,
};

struct Run {
    script: Vec<u8>,
    line: String,
}

impl Module for Script {
    fn name(&self) -> &'static str {
        "script"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        plan(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        let run: Run = plan.take_work()?;
        let out = ctx.run_with_stdin(&run.line, Some(&run.script))?;
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

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let raw = args
        .str("_raw_params")
        .or_else(|| args.str("cmd"))
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| fail("one of the following is required: _raw_params, cmd"))?;
    let raw = raw.trim();
    // The first word names the script; the rest are its arguments, for the shell.
    let (name, rest) = match crate::shell::split(raw) {
        Ok(words) if !words.is_empty() => {
            let first = words[0].clone();
            let rest = raw
                .split_once(char::is_whitespace)
                .map(|(_, r)| r.trim_start().to_string())
                .unwrap_or_default();
            (first, rest)
        }
        _ => return Err(fail(format!("could not read the script name of `{raw}`"))),
    };
    let found = ctx
        .paths
        .find("files", &name)
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            fail(format!(
                "Could not find or access '{name}' on the Ansible Controller."
            ))
        })?;
    let (bytes, _) = read_source(&found, args.bool_or("decrypt", true)?)?;
    let guard = [("creates", true), ("removes", false)]
        .into_iter()
        .find_map(|(k, skip)| args.str(k).map(|p| (p, skip)));
    let chdir = args.str("chdir");
    if let Some((path, skip_if_exists)) = &guard {
        let mut probe = String::new();
        if let Some(d) = &chdir {
            probe.push_str(&format!("cd -P -- {} 2>/dev/null || exit 0; ", quote(d)));
        }
        probe.push_str(&format!("[ -e {} ]", quote(path)));
        let exists = ctx.run(&probe)?.rc == 0;
        if exists == *skip_if_exists {
            let why = if *skip_if_exists {
                "exists"
            } else {
                "does not exist"
            };
            return Ok(Plan::unchanged()
                .with_msg(format!(
                    "{path} {why}, matching {} option",
                    if *skip_if_exists {
                        "creates"
                    } else {
                        "removes"
                    }
                ))
                .with_value("rc", 0)
                .with_value("stdout", format!("skipped, since {path} {why}")));
        }
    }
    let exe = match args.str("executable") {
        Some(e) => format!("{} ", quote(&e)),
        None => String::new(),
    };
    let cd = match &chdir {
        Some(d) => format!("cd -P -- {} || exit 1; ", crate::shell::quote_path(d)),
        None => String::new(),
    };
    // The script arrives on stdin; it runs with /dev/null as its own.
    let line = format!(
        "t=$(mktemp) || exit 1; trap 'rm -f -- \"$t\"' EXIT; cat >\"$t\" && chmod 0700 \"$t\" || exit 1; {cd}{exe}\"$t\" {rest} </dev/null"
    );
    let mut plan = Plan::change(Run {
        script: bytes,
        line,
    });
    plan.skip_in_check = guard.is_none();
    Ok(plan)
}
