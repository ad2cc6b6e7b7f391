//! `command` and `shell`: run a program (argv, no shell) or a shell script. Idempotence comes
//! from `creates`/`removes`, probed read-only; without them the task always changes and is
//! skipped in check mode (Ansible's behaviour).

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::{join, quote, split};
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

struct Run {
    cmdline: String,
    shown: Value,
}

impl CommandModule {
    fn build(&self, args: &Args) -> Result<(String, Value)> {
        let raw = args.str("_raw_params").or_else(|| args.str("cmd"));
        let (line, shown) = if self.shell {
            let Some(script) = raw else {
                bail!("`shell` needs a command: give it as free-form text or `cmd`");
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
                bail!("`command` needs a command: give it as free-form text, `cmd` or `argv`");
            }
            let shown = Value::from(
                argv.iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect::<Vec<_>>(),
            );
            // As Ansible's `expand_argument_vars` (default true): `$VAR` and `~` in the words
            // are expanded on the host, with the task's environment.
            let line = if args.bool_or("expand_argument_vars", true)? {
                argv.iter()
                    .map(|w| crate::shell::quote_expanding(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                join(&argv)
            };
            (line, shown)
        };
        let line = match args.str("chdir") {
            Some(dir) => format!("cd -- {} && {{ {line}\n}}", crate::shell::quote_path(&dir)),
            None => line,
        };
        Ok((line, shown))
    }
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
        &COMMAND_SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let (cmdline, shown) = self.build(args)?;
        let guard = [("creates", true), ("removes", false)]
            .into_iter()
            .find_map(|(k, skip_if_exists)| args.str(k).map(|p| (k, p, skip_if_exists)));
        if let Some((key, path, skip_if_exists)) = &guard {
            let probe = format!("[ -e {} ]", quote(path));
            let exists = ctx.run(&probe)?.rc == 0;
            if exists == *skip_if_exists {
                let why = if *skip_if_exists {
                    "exists"
                } else {
                    "does not exist"
                };
                return Ok(Plan::unchanged()
                    .with_msg(format!("Did not run command since '{path}' {why}"))
                    .with_value("cmd", shown)
                    .with_value("rc", 0)
                    .with_value("stdout", "")
                    .with_value("stderr", "")
                    .with_value("stdout_lines", Vec::<String>::new())
                    .with_value("stderr_lines", Vec::<String>::new())
                    .with_value("skipped_reason", *key));
            }
        }
        let mut plan = Plan::change(Run {
            cmdline,
            shown: shown.clone(),
        })
        .with_value("cmd", shown);
        plan.skip_in_check = guard.is_none();
        if guard.is_some() {
            plan.msg = Some("Command would have run if not in check mode".into());
        }
        Ok(plan)
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
        Ok(plan)
    }
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
        assert_eq!(line, "echo 'a b' \"${HOME-\\$HOME}\"");
        let (line, _) = COMMAND
            .build(&args(&[
                ("_raw_params", "echo $HOME"),
                ("expand_argument_vars", "false"),
            ]))
            .unwrap();
        assert_eq!(line, "echo '$HOME'");
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
        assert_eq!(line, "cd -- '/tmp x' && { /bin/bash -c 'echo hi'\n}");
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
