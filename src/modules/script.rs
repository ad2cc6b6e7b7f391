//! `script`: a script from the controller (the role's or playbook's `files/`), sent to the
//! host and run there with its arguments (shell words, as Ansible passes them), in one round
//! trip; the copy is removed afterwards. `creates`/`removes` and `chdir` as for `command`;
//! without a guard the task is skipped in check mode, as Ansible does.

use super::contract::{Done, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::{fail, read_source};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;

type Script = super::contract::Script;

/// The module (named `ScriptModule` in code: `Script` is the shell-text builder).
pub struct ScriptModule;

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
    file_args: false,
};

/// `script`'s arguments: the script's bytes and how to run it.
pub struct ScriptArgs {
    bytes: Vec<u8>,
    /// The arguments after the script's name, as written (for the shell).
    rest: String,
    executable: Option<String>,
    chdir: Option<String>,
    /// `creates` (true: skip if it exists) or `removes` (false).
    guard: Option<(String, bool)>,
}

impl Typed for ScriptModule {
    type Args = ScriptArgs;
    type Change = ();

    fn name(&self) -> &'static str {
        "script"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<ScriptArgs> {
        let raw = args
            .str("_raw_params")
            .or_else(|| args.str("cmd"))
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| fail("one of the following is required: _raw_params, cmd"))?;
        let raw = raw.trim();
        // The first word names the script; the rest are its arguments, for the shell.
        // The arguments are the text from the second word on, as written (a quoted script
        // name may hold spaces).
        let (name, rest) = match crate::shell::split_words(raw, false) {
            Ok(words) if !words.is_empty() => {
                let rest = words
                    .get(1)
                    .map(|w| raw.chars().skip(w.col).collect())
                    .unwrap_or_default();
                (words[0].text.clone(), rest)
            }
            _ => return Err(fail(format!("could not read the script name of `{raw}`"))),
        };
        let found = host
            .paths()
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
        Ok(ScriptArgs {
            bytes,
            rest,
            executable: args.str("executable"),
            chdir: args.str("chdir"),
            guard,
        })
    }

    /// The guard's path, relative to `chdir` (a `chdir` that cannot be entered reads as
    /// the path existing, as before the script would fail to start).
    fn observe(&self, a: &ScriptArgs) -> Observe {
        let Some((path, _)) = &a.guard else {
            return Observe::default();
        };
        let test = Script::new()
            .raw("[ -e")
            .arg(path)
            .raw(" ] && echo exists\n");
        let test = match &a.chdir {
            Some(d) => Script::new()
                .raw("if cd -P --")
                .arg(d)
                .raw(" 2>/dev/null; then\n")
                .then(test)
                .raw("else echo exists; fi\n"),
            None => test,
        };
        Observe {
            sections: vec![("guard", test)],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &ScriptArgs, seen: &Observed) -> Outcome<()> {
        if let Some((path, skip_if_exists)) = &a.guard {
            let exists = seen.section("guard").trim() == "exists";
            if exists == *skip_if_exists {
                let (why, option) = if *skip_if_exists {
                    ("exists", "creates")
                } else {
                    ("does not exist", "removes")
                };
                // Ansible's action skips the task, saying why in `msg`.
                let mut skipped =
                    Plan::unchanged().with_msg(format!("{path} {why}, matching {option} option"));
                skipped.verdict = Verdict::Skipped(String::new());
                return Outcome::Unchanged(skipped);
            }
        }
        let mut report = Plan::unchanged();
        if a.guard.is_none() {
            report.verdict = Verdict::Unpredictable;
            report.check_msg = Some("Check mode is not supported for this task.".into());
        }
        Outcome::change((), report)
    }

    /// The script arrives on stdin into a temp file, and runs with /dev/null as its own.
    fn apply(&self, a: &ScriptArgs, _c: &()) -> Vec<Step> {
        let mut s = Script::new().raw(
            "t=$(mktemp) || exit 1; trap 'rm -f -- \"$t\"' EXIT; cat >\"$t\" && chmod 0700 \"$t\" || exit 1\n",
        );
        if let Some(d) = &a.chdir {
            s = s.raw("cd -P --").arg_dir(d).raw(" || exit 1\n");
        }
        s = s.raw("{");
        if let Some(e) = &a.executable {
            s = s.arg(e);
        }
        let script = s.raw(" \"$t\" ").user_shell(&a.rest).raw("} </dev/null\n");
        vec![Step::Exec {
            script,
            stdin: Some(a.bytes.clone()),
        }]
    }

    fn finish(&self, _a: &ScriptArgs, _c: &(), done: &Done, report: Plan) -> Plan {
        super::raw::command_result(report, &done.outputs[0])
    }
}
