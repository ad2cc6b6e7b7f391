//! `command` and `shell`: run a program (argv, no shell) or a shell script. Idempotence comes
//! from `creates`/`removes` (glob patterns, relative to `chdir`), probed read-only; without
//! them the task always changes and is skipped in check mode (Ansible's behaviour). `chdir`
//! goes to the physical directory, as Python's `os.chdir`.

use super::clock::format_delta;
use super::contract::{
    Done, Driven, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed,
};
use super::{Args, Plan, Spec, Verdict};
use crate::shell::split;
use anyhow::{bail, Result};
use minijinja::Value;

/// The two modules differ only in how the command line is built.
pub struct CommandModule {
    shell: bool,
}

pub static COMMAND: Driven<CommandModule> = Driven(CommandModule { shell: false });
pub static SHELL: Driven<CommandModule> = Driven(CommandModule { shell: true });

static COMMAND_SPEC: Spec = Spec {
    args: &[
        "_raw_params",
        "cmd",
        "argv",
        "chdir",
        "creates",
        "removes",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
        "executable",
        "warn",
        "expand_argument_vars",
    ],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: false,
    file_args: false,
};

/// `shell` takes no `expand_argument_vars` (the shell expands).
static SHELL_SPEC: Spec = Spec {
    args: &[
        "_raw_params",
        "cmd",
        "argv",
        "chdir",
        "creates",
        "removes",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
        "executable",
        "warn",
    ],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: false,
    file_args: false,
};

/// Marks on stderr for what the module itself reports (not the command's output).
const NO_CHDIR: &str = "@@DROVER_NO_CHDIR";
const NO_PROGRAM: &str = "@@DROVER_NO_PROGRAM";

/// `command`'s and `shell`'s arguments, typed.
pub struct CmdArgs {
    /// The command line to run (with the `chdir` and program checks).
    line: Script,
    /// The command as the result's `cmd` shows it.
    shown: Value,
    warnings: Vec<String>,
    /// `creates` (true: skip if it exists) or `removes` (false: skip if missing).
    guard: Option<(String, bool)>,
    chdir: Option<String>,
    stdin: Option<Vec<u8>>,
    strip: bool,
}

impl CommandModule {
    /// The command line and what the result shows as `cmd`.
    fn build(&self, args: &Args) -> Result<(Script, Value)> {
        let given: Vec<&str> = ["_raw_params", "cmd", "argv"]
            .into_iter()
            .filter(|k| args.has(k))
            .collect();
        if given.is_empty() {
            return Err(
                Failure::new("one of the following is required: _raw_params, cmd, argv").into(),
            );
        }
        if given.len() > 1 {
            return Err(
                Failure::new("parameters are mutually exclusive: _raw_params|cmd|argv").into(),
            );
        }
        let raw = args.str("_raw_params").or_else(|| args.str("cmd"));
        let (line, shown) = if self.shell {
            let Some(script) = raw else {
                bail!("`shell` takes its script as text (free-form or `cmd`), not `argv`");
            };
            let line = match args.str("executable") {
                Some(exe) => Script::new().argv([exe.as_str(), "-c", script.as_str()]),
                None => Script::new().user_shell(&script),
            };
            (line, Value::from(script))
        } else {
            let argv: Vec<String> = if args.has("argv") {
                args.list("argv")
            } else {
                match raw {
                    Some(r) => split(&r)
                        .map_err(|e| anyhow::anyhow!("cannot split the command line: {e}"))?,
                    None => Vec::new(),
                }
            };
            if argv.is_empty() {
                return Err(Failure::new("no command given").into());
            }
            let shown = Value::from(
                argv.iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect::<Vec<_>>(),
            );
            // As Ansible's `expand_argument_vars` (default true): `$VAR` and `~` in the words
            // are expanded on the host, with the task's environment.
            let expand = args.bool_or("expand_argument_vars", true)?;
            let word = |s: Script, w: &str| {
                if expand {
                    s.arg_expanding(w)
                } else {
                    s.arg(w)
                }
            };
            // A program that is not there: Ansible's "Error executing command." (rc 2).
            let mut line = word(Script::new().raw("command -v"), &argv[0])
                .raw(" >/dev/null 2>&1 || { printf %s @@DROVER_NO_PROGRAM >&2; exit 2; };");
            for w in &argv {
                line = word(line, w);
            }
            (line.raw("\n"), shown)
        };
        let line = match args.str("chdir") {
            Some(dir) => Script::new()
                .raw("cd -P --")
                .arg_dir(&dir)
                .raw(" 2>/dev/null || { printf %s @@DROVER_NO_CHDIR >&2; exit 1; }; {\n")
                .then(line)
                .raw("}\n"),
            None => line,
        };
        Ok((line, shown))
    }
}

impl Typed for CommandModule {
    type Args = CmdArgs;
    type Change = ();

    fn name(&self) -> &'static str {
        if self.shell {
            "shell"
        } else {
            "command"
        }
    }

    fn spec(&self) -> &'static Spec {
        if self.shell {
            &SHELL_SPEC
        } else {
            &COMMAND_SPEC
        }
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<CmdArgs> {
        let (line, shown) = self.build(args)?;
        let mut warnings = Vec::new();
        if let (false, Some(exe)) = (self.shell, args.str("executable")) {
            warnings.push(format!("As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '{exe}'."));
        }
        let guard = [("creates", true), ("removes", false)]
            .into_iter()
            .find_map(|(k, skip_if_exists)| args.str(k).map(|p| (p, skip_if_exists)));
        let stdin = args.str("stdin").map(|mut s| {
            if args.bool_or("stdin_add_newline", true).unwrap_or(true) && !s.ends_with('\n') {
                s.push('\n');
            }
            s.into_bytes()
        });
        Ok(CmdArgs {
            line,
            shown,
            warnings,
            guard,
            chdir: args.str("chdir"),
            stdin,
            strip: args.bool_or("strip_empty_ends", true)?,
        })
    }

    /// `chdir` first (a bad one fails in check mode too), then the guard's pattern, relative
    /// to it. Without a guard only a prediction needs to look: a real run finds a bad
    /// `chdir` by running.
    fn observe(&self, a: &CmdArgs) -> Observe {
        let mut sections = Vec::new();
        if let Some(d) = &a.chdir {
            let cd = Script::new()
                .raw("cd -P --")
                .arg_dir(d)
                .raw(" 2>/dev/null && echo ok\n");
            sections.push(("chdir", cd));
        }
        if let Some((path, _)) = &a.guard {
            let test = Script::new().raw("set --").arg_glob(path).raw(
                "; if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo exists; else echo missing; fi\n",
            );
            sections.push(("guard", test));
        }
        Observe {
            prediction_only: a.guard.is_none(),
            sections,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &CmdArgs, seen: &Observed) -> Outcome<()> {
        if seen.code("chdir").is_some() && seen.section("chdir") != "ok\n" {
            return Outcome::Fail(unable_to_chdir(a.shown.clone()));
        }
        if let Some((path, skip_if_exists)) = &a.guard {
            let exists = seen.section("guard").trim() == "exists";
            if exists == *skip_if_exists {
                let why = if *skip_if_exists {
                    "exists"
                } else {
                    "does not exist"
                };
                let mut report = Plan::unchanged()
                    .with_msg(format!("Did not run command since '{path}' {why}"))
                    .with_value("cmd", a.shown.clone())
                    .with_value("rc", 0)
                    .with_value("stdout", format!("skipped, since {path} {why}"))
                    .with_value("stderr", "")
                    .with_value("stdout_lines", vec![format!("skipped, since {path} {why}")])
                    .with_value("stderr_lines", Vec::<String>::new());
                report.check_msg = Some(format!("Would not run command since '{path}' {why}"));
                return Outcome::Unchanged(with_warnings(report, a.warnings.clone()));
            }
        }
        // In check mode: skipped without a guard, a change with one (Ansible's result).
        let mut report = Plan::unchanged()
            .with_value("cmd", a.shown.clone())
            .with_value("rc", 0)
            .with_value("stdout", "")
            .with_value("stderr", "");
        if a.guard.is_none() {
            report.verdict = Verdict::Unpredictable;
        }
        report.msg = Some("Command would have run if not in check mode".into());
        Outcome::change((), with_warnings(report, a.warnings.clone()))
    }

    fn apply(&self, a: &CmdArgs, _c: &()) -> Vec<Step> {
        vec![Step::Exec {
            script: a.line.clone(),
            stdin: a.stdin.clone(),
        }]
    }

    fn finish(&self, a: &CmdArgs, _c: &(), done: &Done, mut plan: Plan) -> Plan {
        let out = &done.outputs[0];
        let mut stdout = out.stdout_str();
        let mut stderr = out.stderr_str();
        if a.strip {
            stdout = stdout.trim_end_matches(['\n', '\r']).to_string();
            stderr = stderr.trim_end_matches(['\n', '\r']).to_string();
        }
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        plan = plan
            .with_value("rc", out.rc)
            .with_value("stdout_lines", lines(&stdout))
            .with_value("stderr_lines", lines(&stderr))
            .with_value("stdout", stdout)
            .with_value("stderr", stderr)
            .with_value("start", done.started.clone())
            .with_value("end", done.ended.clone())
            .with_value("delta", format_delta(done.took));
        plan.msg = None;
        if out.rc != 0 {
            plan.mark_failed(true);
            plan.msg = Some("non-zero return code".into());
        }
        let raw_err = out.stderr_str();
        if out.rc == 1 && raw_err == NO_CHDIR {
            return unable_to_chdir(a.shown.clone()).into_plan();
        }
        if out.rc == 2 && raw_err == NO_PROGRAM && !self.shell {
            plan = plan
                .with_value("stderr", "")
                .with_value("stderr_lines", Vec::<String>::new())
                .with_value("stdout", "")
                .with_value("stdout_lines", Vec::<String>::new());
            plan.msg = Some("Error executing command.".into());
        }
        plan
    }
}

/// Ansible's result for a `chdir` that cannot be entered.
fn unable_to_chdir(shown: Value) -> Failure {
    Failure::new("Unable to change directory before execution.")
        .with("cmd", shown)
        .with("rc", ())
        .with("stdout", "")
        .with("stderr", "")
}

fn with_warnings(mut plan: Plan, warnings: Vec<String>) -> Plan {
    if !warnings.is_empty() {
        plan = plan.with_value("warnings", warnings);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Args {
        Args {
            map: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect(),
        }
    }

    #[test]
    fn command_lines_are_quoted_argv() {
        // `$HOME` is expanded on the host (`expand_argument_vars`), as Python's expandvars.
        let text = |r: Result<(Script, Value)>| r.unwrap().0.text().trim_end().to_string();
        let line = text(
            COMMAND
                .0
                .build(&args(&[("_raw_params", "echo 'a b' $HOME")])),
        );
        assert!(line.ends_with("; echo 'a b' \"${HOME-\\$HOME}\""), "{line}");
        let line = text(COMMAND.0.build(&args(&[
            ("_raw_params", "echo $HOME"),
            ("expand_argument_vars", "false"),
        ])));
        assert!(line.ends_with("; echo '$HOME'"), "{line}");
        let line = text(
            SHELL
                .0
                .build(&args(&[("_raw_params", "echo $HOME | wc -c")])),
        );
        assert_eq!(line, "echo $HOME | wc -c");
        let line = text(SHELL.0.build(&args(&[
            ("_raw_params", "echo hi"),
            ("executable", "/bin/bash"),
            ("chdir", "/tmp x"),
        ])));
        assert_eq!(
            line,
            "cd -P -- '/tmp x' 2>/dev/null || { printf %s @@DROVER_NO_CHDIR >&2; exit 1; }; {\n/bin/bash '-c' 'echo hi'\n}"
        );
    }

    #[test]
    fn a_run_reports_its_output_rc_and_times() {
        use crate::modules::Module;
        let mut h = crate::modules::fileops::testing::Harness::new();
        let a = args(&[("_raw_params", "printf 'a\\nb\\n'")]);
        let p = COMMAND.run(&mut h.ctx(), &a, false).unwrap();
        assert!(p.changed() && !p.failed(), "{:?}", p.msg);
        assert_eq!(p.values["stdout"].as_str(), Some("a\nb"));
        assert_eq!(p.values["rc"].as_i64(), Some(0));
        let start = p.values["start"].to_string();
        assert_eq!(start.len(), 26, "{start}");
        assert!(p.values["delta"].to_string().starts_with("0:00:0"));
        let fail = COMMAND
            .run(&mut h.ctx(), &args(&[("_raw_params", "false")]), false)
            .unwrap();
        assert!(fail.failed() && fail.changed());
        assert_eq!(fail.values["rc"].as_i64(), Some(1));
    }
}
