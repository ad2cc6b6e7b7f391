//! `command` and `shell`: run a program (argv, no shell) or a shell script. Idempotence comes
//! from `creates`/`removes` (glob patterns, relative to `chdir`), probed read-only; without
//! them the task always changes and is skipped in check mode (Ansible's behaviour). `chdir`
//! goes to the physical directory, as Python's `os.chdir`.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::{quote, split};
use anyhow::{bail, Result};
use minijinja::Value;
use std::time::Instant;

/// The two modules differ only in how the command line is built.
pub struct CommandModule {
    shell: bool,
}

pub static COMMAND: CommandModule = CommandModule { shell: false };
pub static SHELL: CommandModule = CommandModule { shell: true };

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
};

/// Marks on stderr for what the module itself reports (not the command's output).
const NO_CHDIR: &str = "@@DROVER_NO_CHDIR";
const NO_PROGRAM: &str = "@@DROVER_NO_PROGRAM";

struct Run {
    cmdline: String,
    shown: Value,
}

impl CommandModule {
    fn build(&self, args: &Args) -> Result<(String, Value)> {
        let given: Vec<&str> = ["_raw_params", "cmd", "argv"]
            .into_iter()
            .filter(|k| args.has(k))
            .collect();
        if given.is_empty() {
            return Err(super::fileops::fail(
                "one of the following is required: _raw_params, cmd, argv",
            ));
        }
        if given.len() > 1 {
            return Err(super::fileops::fail(
                "parameters are mutually exclusive: _raw_params|cmd|argv",
            ));
        }
        let raw = args.str("_raw_params").or_else(|| args.str("cmd"));
        let (line, shown) = if self.shell {
            let Some(script) = raw else {
                bail!("`shell` takes its script as text (free-form or `cmd`), not `argv`");
            };
            let line = match args.str("executable") {
                Some(exe) => format!("{} -c {}", quote(&exe), quote(&script)),
                None => script.clone(),
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
                return Err(super::fileops::fail("no command given"));
            }
            let shown = Value::from(
                argv.iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect::<Vec<_>>(),
            );
            // As Ansible's `expand_argument_vars` (default true): `$VAR` and `~` in the words
            // are expanded on the host, with the task's environment.
            let words: Vec<String> = if args.bool_or("expand_argument_vars", true)? {
                argv.iter()
                    .map(|w| crate::shell::quote_expanding(w))
                    .collect()
            } else {
                argv.iter().map(|w| quote(w)).collect()
            };
            // A program that is not there: Ansible's "Error executing command." (rc 2).
            let line = format!(
                "command -v {} >/dev/null 2>&1 || {{ printf %s {NO_PROGRAM} >&2; exit 2; }}; {}",
                words[0],
                words.join(" ")
            );
            (line, shown)
        };
        let line = match args.str("chdir") {
            Some(dir) => format!(
                "cd -P -- {} 2>/dev/null || {{ printf %s {NO_CHDIR} >&2; exit 1; }}; {{ {line}\n}}",
                crate::shell::quote_path(&dir)
            ),
            None => line,
        };
        Ok((line, shown))
    }
}

/// A path pattern for the shell: its glob characters live, everything else quoted.
fn glob_word(pattern: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            if !run.is_empty() {
                out.push_str(&quote(&std::mem::take(&mut run)));
            }
            out.push(c);
        } else {
            run.push(c);
        }
    }
    if !run.is_empty() || out.is_empty() {
        out.push_str(&quote(&run));
    }
    out
}

impl Module for CommandModule {
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

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let (cmdline, shown) = self.build(args)?;
        let mut warnings = Vec::new();
        if let (false, Some(exe)) = (self.shell, args.str("executable")) {
            warnings.push(format!("As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '{exe}'."));
        }
        let guard = [("creates", true), ("removes", false)]
            .into_iter()
            .find_map(|(k, skip_if_exists)| args.str(k).map(|p| (k, p, skip_if_exists)));
        let chdir = args.str("chdir");
        // `chdir` is checked first (a bad one fails in check mode too), then the guard's
        // pattern, relative to it.
        if guard.is_some() || (ctx.check && chdir.is_some()) {
            let mut probe = String::new();
            if let Some(d) = &chdir {
                probe.push_str(&format!(
                    "cd -P -- {} 2>/dev/null || {{ echo nochdir; exit 0; }}; ",
                    crate::shell::quote_path(d)
                ));
            }
            if let Some((_, path, _)) = &guard {
                probe.push_str(&format!(
                    "set -- {}; if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo exists; else echo missing; fi",
                    glob_word(path)
                ));
            }
            let said = ctx.run(&probe)?.stdout_str();
            if said.trim() == "nochdir" {
                return Ok(unable_to_chdir(shown));
            }
            if let Some((_, path, skip_if_exists)) = &guard {
                let exists = said.trim() == "exists";
                if exists == *skip_if_exists {
                    let why = if *skip_if_exists {
                        "exists"
                    } else {
                        "does not exist"
                    };
                    let shoulda = if ctx.check { "Would" } else { "Did" };
                    return Ok(with_warnings(
                        Plan::unchanged()
                            .with_msg(format!("{shoulda} not run command since '{path}' {why}"))
                            .with_value("cmd", shown)
                            .with_value("rc", 0)
                            .with_value("stdout", format!("skipped, since {path} {why}"))
                            .with_value("stderr", "")
                            .with_value(
                                "stdout_lines",
                                vec![format!("skipped, since {path} {why}")],
                            )
                            .with_value("stderr_lines", Vec::<String>::new()),
                        warnings,
                    ));
                }
            }
        }
        let mut plan = Plan::change(Run {
            cmdline,
            shown: shown.clone(),
        })
        .with_value("cmd", shown);
        // In check mode: skipped without a guard, a change with one (Ansible's result).
        plan.skip_in_check = guard.is_none();
        plan.msg = Some("Command would have run if not in check mode".into());
        if ctx.check {
            plan = plan
                .with_value("rc", 0)
                .with_value("stdout", "")
                .with_value("stderr", "");
        }
        Ok(with_warnings(plan, warnings))
    }

    fn apply(&self, ctx: &mut ModuleCtx, args: &Args, mut plan: Plan) -> Result<Plan> {
        let run: Run = plan.take_work()?;
        let stdin = args.str("stdin").map(|mut s| {
            if args.bool_or("stdin_add_newline", true).unwrap_or(true) && !s.ends_with('\n') {
                s.push('\n');
            }
            s.into_bytes()
        });
        let start = Instant::now();
        let started = chrono_like_now();
        let out = ctx.run_with_stdin(&run.cmdline, stdin.as_deref())?;
        let delta = start.elapsed();
        let strip = args.bool_or("strip_empty_ends", true)?;
        let mut stdout = out.stdout_str();
        let mut stderr = out.stderr_str();
        if strip {
            stdout = stdout.trim_end_matches(['\n', '\r']).to_string();
            stderr = stderr.trim_end_matches(['\n', '\r']).to_string();
        }
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        plan = plan
            .with_value("cmd", run.shown)
            .with_value("rc", out.rc)
            .with_value("stdout_lines", lines(&stdout))
            .with_value("stderr_lines", lines(&stderr))
            .with_value("stdout", stdout)
            .with_value("stderr", stderr)
            .with_value("start", started)
            .with_value("end", chrono_like_now())
            .with_value("delta", format_delta(delta));
        plan.msg = None;
        if out.rc != 0 {
            plan.failed = true;
            plan.msg = Some("non-zero return code".into());
        }
        let raw_err = out.stderr_str();
        if out.rc == 1 && raw_err == NO_CHDIR {
            return Ok(unable_to_chdir(
                plan.values.get("cmd").cloned().unwrap_or_default(),
            ));
        }
        if out.rc == 2 && raw_err == NO_PROGRAM && !self.shell {
            plan = plan
                .with_value("stderr", "")
                .with_value("stderr_lines", Vec::<String>::new())
                .with_value("stdout", "")
                .with_value("stdout_lines", Vec::<String>::new());
            plan.msg = Some("Error executing command.".into());
        }
        Ok(plan)
    }
}

/// Ansible's result for a `chdir` that cannot be entered.
fn unable_to_chdir(shown: Value) -> Plan {
    let mut p = Plan::fail("Unable to change directory before execution.")
        .with_value("cmd", shown)
        .with_value("rc", ())
        .with_value("stdout", "")
        .with_value("stderr", "");
    p.failed = true;
    p
}

fn with_warnings(mut plan: Plan, warnings: Vec<String>) -> Plan {
    if !warnings.is_empty() {
        plan = plan.with_value("warnings", warnings);
    }
    plan
}

fn format_delta(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_micros()
    )
}

/// The wall clock as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), Ansible's `start`/`end` format.
pub fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        now.subsec_micros()
    )
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
        let (line, _) = COMMAND
            .build(&args(&[("_raw_params", "echo 'a b' $HOME")]))
            .unwrap();
        assert!(line.ends_with("; echo 'a b' \"${HOME-\\$HOME}\""), "{line}");
        let (line, _) = COMMAND
            .build(&args(&[
                ("_raw_params", "echo $HOME"),
                ("expand_argument_vars", "false"),
            ]))
            .unwrap();
        assert!(line.ends_with("; echo '$HOME'"), "{line}");
        let (line, _) = SHELL
            .build(&args(&[("_raw_params", "echo $HOME | wc -c")]))
            .unwrap();
        assert_eq!(line, "echo $HOME | wc -c");
        let (line, _) = SHELL
            .build(&args(&[
                ("_raw_params", "echo hi"),
                ("executable", "/bin/bash"),
                ("chdir", "/tmp x"),
            ]))
            .unwrap();
        assert_eq!(
            line,
            "cd -P -- '/tmp x' 2>/dev/null || { printf %s @@DROVER_NO_CHDIR >&2; exit 1; }; { /bin/bash -c 'echo hi'\n}"
        );
    }

    #[test]
    fn timestamps_look_like_ansible() {
        let t = chrono_like_now();
        assert_eq!(t.len(), 26, "{t}");
        assert_eq!(&t[4..5], "-");
        assert_eq!(
            format_delta(std::time::Duration::from_millis(1500)),
            "0:00:01.500000"
        );
    }
}
