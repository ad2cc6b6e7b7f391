//! `file`: set a path's state (file, directory, absent, touch, link, hard) and its owner,
//! group, mode and timestamps, following Ansible's `ensure_*` functions. `plan` probes the
//! path (and the link source) in one command, decides, and writes the exact shell script;
//! `apply` runs it and reports the path as it now is.
//!
//! Files: `env.rs` (a task's inputs and outcome), `times.rs`, `ensure.rs` (absent, file,
//! directory, touch), `links.rs` (link, hard), this file (arguments, plan, apply).

use super::fileops::{
    self, dict_diff, dirname, fail, fail_with, fmt_mode, join, AttrWant, DiffMap, FileState, Probe,
    ProbeCond, ProbeItem, ProbeReq,
};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::{quote, quote_path};
use anyhow::Result;
use minijinja::Value;
use serde_json::json;

mod ensure;
mod env;
mod links;
mod times;

use ensure::*;
use env::*;
use links::*;
use times::*;

pub struct File;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "state",
        "_diff_peek",
        "src",
        "recurse",
        "force",
        "follow",
        "modification_time",
        "modification_time_format",
        "access_time",
        "access_time_format",
        "mode",
        "owner",
        "group",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
        "attributes",
    ],
    aliases: &[("dest", "path"), ("name", "path"), ("attr", "attributes")],
    free_form: None,
    any_args: false,
};

struct Work {
    script: String,
    info_path: Option<String>,
}

impl Module for File {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "file"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        plan(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        let work: Work = plan.take_work()?;
        // Report the path as it now is (Ansible's add_path_info after the change), read in
        // the same round trip as the change.
        let Some(p) = &work.info_path else {
            fileops::run_script(ctx, "changing the path", &work.script)?;
            return Ok(plan);
        };
        let req = ProbeReq {
            items: vec![ProbeItem::new(p, false)],
            ..ProbeReq::default()
        };
        let probe = fileops::probe_after(ctx, Some(("changing the path", &work.script)), &req)?;
        if let Some(st) = probe.states.first().filter(|s| s.exists) {
            for (k, v) in info_values(st) {
                plan.values.insert(k, v);
            }
        }
        Ok(plan)
    }
}

/// Ansible's `add_path_info` keys for an existing path (from its lstat).
fn info_values(st: &FileState) -> Vec<(String, Value)> {
    vec![
        ("uid".into(), Value::from(st.uid)),
        ("gid".into(), Value::from(st.gid)),
        ("owner".into(), Value::from(st.owner.as_str())),
        ("group".into(), Value::from(st.group.as_str())),
        ("mode".into(), Value::from(fmt_mode(st.perm()))),
        ("state".into(), Value::from(st.state_name())),
        ("size".into(), Value::from(st.size)),
    ]
}

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let mut path = fileops::expand_home(ctx, &args.req_str("path")?)?;
    // Ansible's internal `_diff_peek` (its action plugins ask before diffing): whether the
    // file looks binary (a NUL in its first 8 KiB), nothing changed.
    if args.has("_diff_peek") {
        let out = ctx.run(&format!(
            "head -c 8192 -- {} 2>/dev/null | tr -d '\\000' | wc -c; head -c 8192 -- {} 2>/dev/null | wc -c",
            crate::shell::quote_path(&path),
            crate::shell::quote_path(&path)
        ))?;
        let text = out.stdout_str();
        let mut n = text
            .split_whitespace()
            .filter_map(|w| w.parse::<u64>().ok());
        let (kept, all) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
        return Ok(Plan::unchanged()
            .with_value("path", path.as_str())
            .with_value("appears_binary", kept != all));
    }
    let state_arg = match args.str("state") {
        None => None,
        Some(_) => Some(args.choice(
            "state",
            &["file", "directory", "absent", "touch", "link", "hard"],
            "file",
        )?),
    };
    let src = args.str("src");
    let recurse = args.bool_or("recurse", false)?;
    let force = args.bool_or("force", false)?;
    let follow = args.bool_or("follow", true)?;
    let mtime_arg = ts_arg(
        args,
        "modification_time",
        "modification_time_format",
        state_arg.as_deref(),
    )?;
    let atime_arg = ts_arg(
        args,
        "access_time",
        "access_time_format",
        state_arg.as_deref(),
    )?;

    let mut items = vec![ProbeItem::new(&path, false), ProbeItem::new(&path, true)];
    if let Some(s) = &src {
        // Paths inside `path` matter only when it is a directory.
        let in_dir = ProbeCond::IsDir(path.clone());
        items.push(ProbeItem::new(join(&path, s), true).when(in_dir.clone()));
        items.push(ProbeItem::new(join(&dirname(&path), s), true));
        items.push(ProbeItem::new(s, true));
        let inner = join(&path, fileops::basename(s));
        items.push(ProbeItem::new(&inner, false).when(in_dir.clone()));
        items.push(ProbeItem::new(&inner, true).when(in_dir));
    }
    let mut times = Vec::new();
    for t in [&mtime_arg, &atime_arg] {
        if let TsArg::Local(d, _) = t {
            times.push(d.clone());
        }
    }
    let req = ProbeReq {
        items,
        owner: args.str("owner"),
        group: args.str("group"),
        times,
    };
    let probe = fileops::probe(ctx, &req)?;
    let s = &probe.states;
    let (mut lst, mut fst) = (s[0].clone(), s[1].clone());
    // A directory path with `src` (hard links) means the file of that name inside it.
    if let Some(sv) = &src {
        if !matches!(state_arg.as_deref(), Some("link") | Some("absent")) && fst.is_dir() {
            path = join(&path, fileops::basename(sv));
            lst = s[5].clone();
            fst = s[6].clone();
        }
    }
    let prev = lst.state_name();
    let state = match &state_arg {
        Some(s) => s.clone(),
        None if prev != "absent" => prev.to_string(),
        None if recurse => "directory".into(),
        None => "file".into(),
    };
    if recurse && state != "directory" {
        return Err(fail_with(
            "recurse option requires state to be 'directory'",
            vec![("path".into(), Value::from(path.as_str()))],
        ));
    }
    if src.is_some() && state != "link" && state != "hard" {
        return Err(fail_with(
            "src option requires state to be 'link' or 'hard'",
            vec![("path".into(), Value::from(path.as_str()))],
        ));
    }
    let mut tix = probe.times.iter();
    let mut resolve_ts = |a: &TsArg| -> Result<Ts> {
        Ok(match a {
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
        (resolve_ts(&mtime_arg)?, resolve_ts(&atime_arg)?)
    };
    let me_attrs = AttrWant::default().final_new(&probe, false)?;
    let env = Env {
        want: AttrWant::from_args(args, &probe)?,
        umask: probe.umask,
        mtime,
        atime,
        now: now(),
        follow,
        force,
        recurse,
        check: ctx.check,
        me: FileState {
            uid: me_attrs.uid,
            gid: me_attrs.gid,
            owner: me_attrs.owner,
            group: me_attrs.group,
            ..FileState::default()
        },
    };
    lst.path = path.clone();
    fst.path = path.clone();
    // Check mode warns about an owner or group that does not exist (yet), as Ansible does.
    let mut warnings: Vec<String> = Vec::new();
    if ctx.check && state != "absent" {
        // A number without a name in the database is no user either (Ansible's getpwuid).
        let known =
            |i: &Option<fileops::Ident>| i.as_ref().is_some_and(|i| i.name != i.id.to_string());
        for (what, asked, found) in [
            ("user", args.str("owner"), known(&probe.owner)),
            ("group", args.str("group"), known(&probe.group)),
        ] {
            let Some(name) = asked.filter(|_| !found) else {
                continue;
            };
            let id = if what == "user" { "uid" } else { "gid" };
            warnings.push(if name.parse::<u64>().is_ok() {
                format!("failed to look up {what} with {id} {name}. Create {what} up to this point in real play")
            } else {
                format!("failed to look up {what} {name}. Create {what} up to this point in real play")
            });
        }
    }
    let outcome = (|| -> Result<Outcome> {
        Ok(match state.as_str() {
            "absent" => ensure_absent(ctx, &path, &lst)?,
            "file" => ensure_file(&env, &path, &lst, &fst)?,
            "directory" => ensure_directory(ctx, &env, &path, &lst, &fst)?,
            "touch" => ensure_touch(&env, &path, &lst, &fst)?,
            "link" => {
                // The source's state, relative to the link's directory (or the directory itself).
                let target = match &src {
                    Some(_) if !lst.is_link() && fst.is_dir() => Some(probe.states[2].clone()),
                    Some(_) => Some(probe.states[3].clone()),
                    None => None,
                };
                ensure_symlink(ctx, &env, &path, src.as_deref(), &lst, &fst, target)?
            }
            _ => ensure_hardlink(&env, &path, src.as_deref(), &lst, &fst, &probe)?,
        })
    })();
    let warn = Value::from(warnings.clone());
    match outcome {
        Ok(o) if warnings.is_empty() => Ok(into_plan(o)),
        Ok(o) => Ok(into_plan(o).with_value("warnings", warn)),
        Err(e) if warnings.is_empty() => Err(e),
        Err(e) => Err(fileops::with_fail_values(
            e,
            vec![("warnings".into(), warn)],
        )),
    }
}

fn into_plan(o: Outcome) -> Plan {
    let info_path = o.info.as_ref().map(|i| i.path.clone());
    let diff_value = crate::template::filters::json_to_value(serde_json::json!({
        "before": &o.before,
        "after": &o.after,
    }));
    let mut plan = if o.changed {
        Plan::change(Work {
            script: o.script,
            info_path,
        })
        .with_diff(dict_diff(&o.before, &o.after))
    } else {
        Plan::unchanged()
    };
    plan = plan.with_value(o.key, o.path.as_str());
    if let Some(st) = &o.info {
        for (k, v) in info_values(st) {
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
    plan
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
