//! `cron`: a named job (or environment variable) in a user's crontab (`crontab -l`/
//! `crontab -`, as that user's with `-u` when it is another) or in a cron file
//! (`/etc/cron.d/NAME`, written with the in-place edit of `fileops::TextEdit`, removed when its
//! last job goes), as Ansible's module edits it (`tab`). Results: `jobs`, `envs`, `cron_file`,
//! `backup_file`, and the diff headed as Ansible's.

use super::contract::{Done, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::fileops::{DiffStyle, EditChange, Payload, PutOpts, TextEdit};
use super::{Args, Plan, Spec};
use anyhow::Result;

mod decide;
mod tab;

pub struct Cron;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "user",
        "job",
        "cron_file",
        "state",
        "backup",
        "minute",
        "hour",
        "day",
        "month",
        "weekday",
        "special_time",
        "disabled",
        "env",
        "insertafter",
        "insertbefore",
    ],
    aliases: &[("value", "job"), ("dom", "day"), ("dow", "weekday")],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct CronArgs {
    name: String,
    user: Option<String>,
    job: Option<String>,
    /// The cron file as given, and where it is (`/etc/cron.d/NAME` for a bare name).
    cron_file: Option<(String, TextEdit)>,
    present: bool,
    backup: bool,
    times: [String; 5],
    special: Option<String>,
    disabled: bool,
    env: bool,
    after: Option<String>,
    before: Option<String>,
}

pub enum CronChange {
    /// The cron file rewritten.
    File(EditChange, Option<String>),
    /// The cron file's last job gone: the file removed.
    RemoveFile(String),
    /// The user's crontab installed anew (and its old text kept in a backup file).
    Crontab(Vec<u8>, Option<(String, Vec<u8>)>),
}

impl Typed for Cron {
    type Args = CronArgs;
    type Change = CronChange;

    fn name(&self) -> &'static str {
        "cron"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<CronArgs> {
        if args.has("insertafter") && args.has("insertbefore") {
            return Err(fail(
                "parameters are mutually exclusive: insertafter|insertbefore",
            ));
        }
        let special = args.str("special_time");
        if let Some(s) = &special {
            let ok = [
                "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
            ];
            if !ok.contains(&s.as_str()) {
                return Err(fail(format!(
                    "value of special_time must be one of: {}, got: {s}",
                    ok.join(", ")
                )));
            }
        }
        let cron_file = match args.str("cron_file") {
            None => None,
            Some(f) => {
                let f = host.expand_path(&f)?;
                let path = if f.starts_with('/') {
                    f.clone()
                } else {
                    format!("/etc/cron.d/{f}")
                };
                let edit = TextEdit {
                    path,
                    diff: DiffStyle::Single,
                    follow: true,
                    ..TextEdit::default()
                };
                Some((f, edit))
            }
        };
        let time = |k: &str| args.str(k).unwrap_or_else(|| "*".into());
        Ok(CronArgs {
            name: args.req_str("name")?,
            user: args.str("user"),
            job: args.str("job"),
            cron_file,
            present: args.choice("state", &["present", "absent"], "present")? == "present",
            backup: args.bool_or("backup", false)?,
            times: [
                time("minute"),
                time("hour"),
                time("day"),
                time("month"),
                time("weekday"),
            ],
            special,
            disabled: args.bool_or("disabled", false)?,
            env: args.bool_or("env", false)?,
            after: args.str("insertafter"),
            before: args.str("insertbefore"),
        })
    }

    fn observe(&self, a: &CronArgs) -> Observe {
        let bin = Script::new()
            .raw("command -v crontab >/dev/null 2>&1 || echo \"missing $PATH\"; id -un");
        match &a.cron_file {
            Some((_, edit)) => {
                let mut o = edit.observe();
                o.sections.push(("bin", bin));
                o
            }
            None => {
                let list = Script::new()
                    .set("u", a.user.as_deref().unwrap_or(""))
                    .raw("if [ -n \"$u\" ] && [ \"$u\" != \"$(id -un)\" ]; then crontab -u \"$u\" -l; else crontab -l; fi 2>/dev/null");
                Observe {
                    sections: vec![("bin", bin), ("tab", list)],
                    ..Observe::default()
                }
            }
        }
    }

    fn decide(&self, a: &CronArgs, seen: &Observed) -> Outcome<CronChange> {
        decide::decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &CronArgs, c: &CronChange) -> Vec<Step> {
        match c {
            CronChange::File(edit, backup) => {
                let mut steps = backup_step(backup, a);
                steps.extend(edit.steps());
                steps
            }
            CronChange::RemoveFile(path) => vec![Step::Run {
                what: "removing the cron file",
                script: Script::new().cmd("rm -f --", [path.as_str()]),
            }],
            CronChange::Crontab(text, backup) => {
                let mut steps = match backup {
                    Some((path, old)) => vec![Step::Put {
                        path: path.clone(),
                        payload: Payload::Bytes(old.clone()),
                        opts: PutOpts {
                            mode: Some(0o600),
                            ..PutOpts::default()
                        },
                    }],
                    None => Vec::new(),
                };
                steps.push(Step::Exec {
                    script: Script::new()
                        .set("u", a.user.as_deref().unwrap_or(""))
                        .raw("if [ -n \"$u\" ] && [ \"$u\" != \"$(id -un)\" ]; then crontab -u \"$u\" -; else crontab -; fi"),
                    stdin: Some(text.clone()),
                });
                steps
            }
        }
    }

    fn finish(&self, _a: &CronArgs, c: &CronChange, done: &Done, mut r: Plan) -> Plan {
        if let (CronChange::Crontab(..), Some(out)) = (c, done.outputs.last()) {
            if out.rc != 0 {
                r.mark_failed(false);
                r.msg = Some("Failed to install new cronfile".into());
                r = r
                    .with_value("rc", out.rc)
                    .with_value("stderr", out.stderr_str())
                    .with_value("stdout", out.stdout_str());
            }
        }
        r
    }
}

/// The cron file's backup (a temp file as Ansible's `mkstemp(prefix='crontab')`).
fn backup_step(backup: &Option<String>, a: &CronArgs) -> Vec<Step> {
    let (Some(path), Some((_, edit))) = (backup, &a.cron_file) else {
        return Vec::new();
    };
    vec![Step::Run {
        what: "backing up the cron file",
        script: Script::new()
            .cmd("cp --", [edit.path.as_str(), path.as_str()])
            .raw(" 2>/dev/null || : >")
            .arg(path),
    }]
}
