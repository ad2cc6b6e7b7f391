//! `cron`'s decision, as Ansible's `main`: the arguments checked, the job or variable found
//! and edited in the crontab's lines, the diff and results as its module returns them.

use super::tab::Tab;
use super::{CronArgs, CronChange};
use crate::modules::contract::{Failure, Observed, Outcome};
use crate::modules::{Diff, Plan, Verdict};
use minijinja::Value;

/// The diff as Ansible's module returns it: one dict.
fn with_diff(
    p: Plan,
    before_header: String,
    after_header: String,
    before: String,
    after: String,
) -> Plan {
    let mut p = p.with_diff(Diff {
        before_header: before_header.clone(),
        after_header: after_header.clone(),
        before: before.clone(),
        after: after.clone(),
        prepared: None,
    });
    p.diff_value = Some(crate::vars::map_value([
        ("before_header".to_string(), Value::from(before_header)),
        ("after_header".to_string(), Value::from(after_header)),
        ("before".to_string(), Value::from(before)),
        ("after".to_string(), Value::from(after)),
    ]));
    p
}

/// Ansible's `get_cron_job`: the job's line.
fn job_line(a: &CronArgs, job: &str) -> String {
    let job = job.trim_matches(['\r', '\n']);
    let off = if a.disabled { "#" } else { "" };
    let user = a
        .cron_file
        .as_ref()
        .map(|_| format!(" {}", a.user.as_deref().unwrap_or_default()))
        .unwrap_or_default();
    match &a.special {
        Some(s) => format!("{off}@{s}{user} {job}"),
        None => format!("{off}{}{user} {job}", a.times.join(" ")),
    }
}

pub(super) fn decide(a: &CronArgs, seen: &Observed) -> Result<Outcome<CronChange>, Failure> {
    let bin = seen.section("bin");
    if let Some(f) = Failure::missing_program(bin, "crontab") {
        return Err(f);
    }
    let mut warnings: Vec<String> = Vec::new();
    if let Some((f, _)) = &a.cron_file {
        if f == "/etc/crontab" {
            return Err(Failure::new(
                "Will not manage /etc/crontab via cron_file, see documentation.",
            ));
        }
        let base = f.rsplit('/').next().unwrap_or(f);
        if base.is_empty()
            || !base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            warnings.push(format!("Filename portion of cron_file (\"{base}\") should consist solely of upper- and lower-case letters, digits, underscores, and hyphens"));
        }
    }
    // The crontab as it is.
    let (mut tab, cur) = match &a.cron_file {
        Some((_, edit)) => {
            let cur = edit.current(seen)?;
            (
                Tab::from_file(&String::from_utf8_lossy(&cur.content)),
                Some(cur),
            )
        }
        None => {
            let code = seen.codes.get("tab").copied().unwrap_or(0);
            if code != 0 && code != 1 {
                return Err(Failure::new("Unable to read crontab"));
            }
            (Tab::from_listing(seen.section("tab")), None)
        }
    };
    let header = match (&a.cron_file, &a.user) {
        (Some((_, e)), _) => e.path.clone(),
        (None, Some(u)) => format!("crontab for user \"{u}\""),
        (None, None) => "crontab".into(),
    };
    let before = tab.existing.clone();
    if a.special.is_some() && a.times.iter().any(|t| t != "*") {
        return Err(Failure::new(
            "You cannot combine special_time with any of the time or day/date parameters.",
        ));
    }
    if a.present {
        if a.cron_file.is_some() && a.user.is_none() {
            return Err(Failure::new(
                "To use cron_file=... parameter you must specify user=... as well",
            ));
        }
        if a.job.is_none() {
            return Err(Failure::new(
                "You must specify 'job' to install a new cron job or variable",
            ));
        }
        if (a.after.is_some() || a.before.is_some()) && !a.env {
            return Err(Failure::new(
                "Insertafter and insertbefore parameters are valid only with env=yes",
            ));
        }
    }
    let backup_of = tab.render();
    let mut changed = false;
    if a.env {
        if a.name.contains(' ') {
            return Err(Failure::new("Invalid name for environment variable"));
        }
        let decl = format!("{}=\"{}\"", a.name, a.job.as_deref().unwrap_or_default());
        let old = tab.find_env(&a.name);
        if a.present {
            match old {
                None => {
                    tab.add_env(&decl, a.after.as_deref(), a.before.as_deref())
                        .map_err(Failure::new)?;
                    changed = true;
                }
                Some((_, line)) if line != decl => {
                    tab.update_env(&a.name, Some(&decl));
                    changed = true;
                }
                Some(_) => {}
            }
        } else if old.is_some() {
            tab.update_env(&a.name, None);
            changed = true;
        }
    } else if a.present {
        let job_text = a.job.as_deref().unwrap_or_default();
        if job_text.trim_matches(['\r', '\n']).contains(['\r', '\n']) {
            warnings.push("Job should not contain line breaks".into());
        }
        let job = job_line(a, job_text);
        let old = tab.find_job(&a.name, Some(&job));
        if old.is_empty() {
            tab.add_job(&a.name, &job);
            changed = true;
        }
        if (old.len() > 1 && old[1] != job) || old.len() > 2 {
            tab.update_job(&a.name, Some(&job));
            changed = true;
        }
    } else if !tab.find_job(&a.name, None).is_empty() {
        tab.update_job(&a.name, None);
        changed = true;
        if let (Some((f, edit)), true) = (&a.cron_file, tab.is_empty()) {
            // The file's last job: the file goes.
            let exists = cur.as_ref().is_some_and(|c| c.exists);
            let p = Plan::unchanged()
                .with_value("cron_file", f.as_str())
                .with_value("state", "absent");
            let mut p = with_diff(p, header, "/dev/null".into(), before, String::new());
            // Outside diff mode Ansible's module returns an empty `diff` here.
            p.plain_diff = Some(crate::vars::map_value(Vec::<(String, Value)>::new()));
            if !exists {
                return Ok(Outcome::Unchanged(p));
            }
            p.verdict = Verdict::Changed;
            return Ok(Outcome::change(
                CronChange::RemoveFile(edit.path.clone()),
                p,
            ));
        }
    }
    // An existing crontab without its last newline gets one.
    if !changed && !before.is_empty() && !before.ends_with(['\r', '\n']) {
        changed = true;
    }
    let after = tab.render();
    let mut report = Plan::unchanged()
        .with_value("jobs", tab.job_names())
        .with_value("envs", tab.env_names());
    if let Some((f, _)) = &a.cron_file {
        report = report.with_value("cron_file", f.as_str());
    }
    if !warnings.is_empty() {
        report = report.with_value("warnings", warnings);
    }
    if !changed {
        return Ok(Outcome::Unchanged(report));
    }
    let backup = a
        .backup
        .then(|| format!("/tmp/crontab{}", &crate::connection::random_token()[..8]));
    if let Some(b) = &backup {
        report
            .real_values
            .push(("backup_file".into(), Value::from(b.as_str())));
    }
    match (&a.cron_file, cur) {
        (Some((_, edit)), Some(cur)) => {
            // The in-place edit's diff is Ansible's for a cron file (headed by its path).
            let out = edit.outcome(seen, &cur, Some(after.into_bytes()), String::new(), report)?;
            Ok(out
                .map_report(|mut r| {
                    r.msg = None;
                    r
                })
                .map(|e| CronChange::File(e, backup)))
        }
        _ => Ok(Outcome::change(
            CronChange::Crontab(
                after.clone().into_bytes(),
                backup.map(|b| (b, backup_of.into_bytes())),
            ),
            with_diff(report, header.clone(), header, before, after),
        )),
    }
}
