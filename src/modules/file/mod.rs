//! `file`: set a path's state (file, directory, absent, touch, link, hard) and its owner,
//! group, mode and timestamps, following Ansible's `ensure_*` functions. It observes the path
//! (and the link source) in one round trip (a second look lists a tree when the decision
//! needs it: a directory to remove with `--diff`, `recurse`, a directory a link replaces),
//! decides the exact shell script, and runs it with the look that reports the path as it now
//! is, in one round trip.
//!
//! Files: `args.rs` (arguments, what to observe), `env.rs` (a task's inputs and outcome),
//! `times.rs`, `ensure.rs` (absent, file, directory, touch), `links.rs` (link, hard), this
//! file (the module on the contract).

use super::contract::{
    Done, Driven, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed,
};
use super::fileops::{
    self, dict_diff, dirname, fail, fail_with, join, AttrWant, DiffMap, FileState, Probe,
    ProbeCond, ProbeItem, ProbeReq,
};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;
use serde_json::json;

mod args;
mod ensure;
mod env;
mod links;
mod times;

use args::*;
use ensure::*;
use env::*;
use links::*;
use times::*;

pub struct File;

pub static FILE: Driven<File> = Driven(File);

/// A decided change: the script and the path whose state the result reports.
pub struct Change {
    script: Script,
    info_path: Option<String>,
}

impl Typed for File {
    type Args = FileArgs;
    type Change = Change;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        super::fileops::path_ahead(args)
    }

    fn name(&self) -> &'static str {
        "file"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<FileArgs> {
        parse(args, host)
    }

    fn observe(&self, a: &FileArgs) -> Observe {
        observe(a)
    }

    fn observe_again(&self, a: &FileArgs, seen: &Observed) -> Option<Observe> {
        if !seen.more.is_empty() || a.diff_peek {
            return None;
        }
        let at = locate(a, &seen.files).ok()?;
        second_look(a, &at)
    }

    fn decide(&self, a: &FileArgs, seen: &Observed) -> Outcome<Change> {
        if a.diff_peek {
            return Outcome::Unchanged(peeked(a, seen.section("peek")));
        }
        // Ansible warns in check mode about an owner or group that does not exist (yet),
        // whatever the outcome.
        let warnings = check_warnings(a, &seen.files);
        let as_values = || match warnings.is_empty() {
            true => Vec::new(),
            false => vec![("warnings".to_string(), Value::from(warnings.clone()))],
        };
        let decided = match decide(a, seen) {
            Ok(d) => d,
            Err(e) => {
                let mut f = Failure::from_error(e);
                f.check_values = as_values();
                return Outcome::Fail(f);
            }
        };
        let pending = decided.pending.clone();
        let (change, mut report) = into_report(decided);
        report.check_values = as_values();
        match change {
            Some(change) => Outcome::Change {
                change,
                report,
                pending,
            },
            None => Outcome::Unchanged(report),
        }
    }

    /// The script, then (in the same round trip) the path as it now is: Ansible's
    /// `add_path_info` after the change.
    fn apply(&self, _a: &FileArgs, c: &Change) -> Vec<Step> {
        let script = c.script.clone();
        match &c.info_path {
            None => vec![Step::Run {
                what: "changing the path",
                script,
            }],
            Some(p) => vec![Step::Change {
                what: "changing the path",
                script,
                then: ProbeReq {
                    items: vec![ProbeItem::new(p, false)],
                    ..ProbeReq::default()
                },
            }],
        }
    }

    fn finish(&self, _a: &FileArgs, _c: &Change, done: &Done, mut report: Plan) -> Plan {
        let after = done.observed.last().and_then(|o| o.files.states.first());
        if let Some(st) = after.filter(|s| s.exists) {
            for (k, v) in fileops::path_info(st) {
                report.values.insert(k, v);
            }
        }
        report
    }
}

/// The decision (an owner or group that does not exist yet is a pending failure).
fn decide(a: &FileArgs, seen: &Observed) -> Result<Decided> {
    let probe = &seen.files;
    let at = locate(a, probe)?;
    let state = at.state.as_str();
    let mut tix = probe.times.iter();
    let mut resolve_ts = |t: &TsArg| -> Result<Ts> {
        Ok(match t {
            TsArg::Preserve => Ts::Preserve,
            TsArg::Now => Ts::Now,
            TsArg::Local(d, t) => match tix.next().copied().flatten() {
                Some(e) => Ts::At(e, t.clone()),
                None => return Err(fail(format!("the host cannot read the time `{d}`"))),
            },
        })
    };
    let (mtime, atime) = if state == "absent" {
        (Ts::Preserve, Ts::Preserve)
    } else {
        (resolve_ts(&a.mtime)?, resolve_ts(&a.atime)?)
    };
    let me_attrs = AttrWant::default().final_new(probe, false)?;
    let (want, pending) = AttrWant::resolve(
        a.mode.clone(),
        a.owner.as_deref(),
        a.group.as_deref(),
        probe,
    );
    let env = Env {
        want,
        umask: probe.umask,
        mtime,
        atime,
        now: now(),
        follow: a.follow,
        force: a.force,
        recurse: a.recurse,
        me: FileState {
            uid: me_attrs.uid,
            gid: me_attrs.gid,
            owner: me_attrs.owner,
            group: me_attrs.group,
            ..FileState::default()
        },
    };
    let (path, lst, fst) = (&at.path, &at.lst, &at.fst);
    let mut d = match state {
        "absent" => ensure_absent(path, lst, seen.sections.get("tree").map(String::as_str))?,
        "file" => ensure_file(&env, path, lst, fst)?,
        "directory" => ensure_directory(
            &env,
            path,
            lst,
            fst,
            seen.sections.get("tree").map(String::as_str),
        )?,
        "touch" => ensure_touch(&env, path, lst, fst)?,
        "link" => {
            // The source's state, relative to the link's directory (or the directory itself).
            let target = match &a.src {
                Some(_) if !lst.is_link() && fst.is_dir() => Some(probe.states[2].clone()),
                Some(_) => Some(probe.states[3].clone()),
                None => None,
            };
            let listing = seen.sections.get("ls").map(String::as_str);
            ensure_symlink(&env, path, a.src.as_deref(), lst, fst, target, listing)?
        }
        _ => ensure_hardlink(&env, path, a.src.as_deref(), lst, fst, probe)?,
    };
    if d.changed && state != "absent" {
        d.pending = d.pending.or(pending);
    } else if d.changed || state == "absent" {
        // Nothing of the owner or group is needed to remove a path.
    } else if let Some(f) = pending {
        return Err(f.into());
    }
    Ok(d)
}

/// Check mode's warnings about an owner or group the host does not know (Ansible's
/// `check_owner_exists`): a number without a name in the database is no user either.
fn check_warnings(a: &FileArgs, probe: &Probe) -> Vec<String> {
    if a.diff_peek || a.state.as_deref() == Some("absent") {
        return Vec::new();
    }
    let known = |i: &Option<fileops::Ident>| i.as_ref().is_some_and(|i| i.name != i.id.to_string());
    let mut warnings = Vec::new();
    for (what, asked, found) in [
        ("user", &a.owner, known(&probe.owner)),
        ("group", &a.group, known(&probe.group)),
    ] {
        let Some(name) = asked.as_ref().filter(|_| !found) else {
            continue;
        };
        let id = if what == "user" { "uid" } else { "gid" };
        warnings.push(if name.parse::<u64>().is_ok() {
            format!("failed to look up {what} with {id} {name}. Create {what} up to this point in real play")
        } else {
            format!("failed to look up {what} {name}. Create {what} up to this point in real play")
        });
    }
    warnings
}

/// The change (if any) and the result as predicted.
fn into_report(o: Decided) -> (Option<Change>, Plan) {
    let info_path = o.info.as_ref().map(|i| i.path.clone());
    let diff_value = crate::template::filters::json_to_value(serde_json::json!({
        "before": &o.before,
        "after": &o.after,
    }));
    let mut plan = Plan::unchanged();
    let change = o.changed.then(|| Change {
        script: o.script.clone(),
        info_path,
    });
    if o.changed {
        plan = plan.with_diff(dict_diff(&o.before, &o.after));
    }
    plan = plan.with_value(o.key, o.path.as_str());
    if let Some(st) = &o.info {
        for (k, v) in fileops::path_info(st) {
            plan.values.insert(k, v);
        }
    } else if o.key == "path" {
        plan = plan.with_value("state", "absent");
    }
    for (k, v) in o.extra {
        plan.values.insert(k, v);
    }
    if let Some(m) = o.msg {
        plan = plan.with_msg(m);
    }
    plan.diff_value = Some(diff_value);
    (change, plan)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
