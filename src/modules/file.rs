//! `file`: set a path's state (file, directory, absent, touch, link, hard) and its owner,
//! group, mode and timestamps, following Ansible's `ensure_*` functions. `plan` probes the
//! path (and the link source) in one command, decides, and writes the exact shell script;
//! `apply` runs it and reports the path as it now is.

use super::fileops::{
    self, dict_diff, dirname, fail, fail_with, fmt_mode, join, AttrWant, DiffMap, FileState, Probe,
    ProbeCond, ProbeItem, ProbeReq,
};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::{quote, quote_path};
use anyhow::Result;
use minijinja::Value;
use serde_json::json;

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

/// A timestamp argument: leave it, set it to now, or set it to a given local time.
#[derive(Clone, Debug, PartialEq)]
enum Ts {
    Preserve,
    Now,
    /// Epoch seconds (as the host reads the local time) and `touch -t` form.
    At(f64, String),
}

/// A timestamp argument before the host converted it.
#[derive(Clone, Debug, PartialEq)]
enum TsArg {
    Preserve,
    Now,
    /// `YYYY-MM-DD hh:mm:ss` for `date -d`, and `CCYYMMDDhhmm.ss` for `touch -t`.
    Local(String, String),
}

/// Parses a timestamp with a `strftime` format made of `%Y %y %m %d %H %M %S` and literals.
fn parse_time(value: &str, format: &str) -> Result<TsArg> {
    let bad = || {
        fail(format!(
            "Error while obtaining timestamp for time {value} using format {format}"
        ))
    };
    let (mut y, mut mo, mut d, mut h, mut mi, mut s) = (1900i64, 1i64, 1i64, 0i64, 0i64, 0i64);
    let v = value.as_bytes();
    let mut i = 0;
    let mut f = format.chars().peekable();
    while let Some(c) = f.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if v.get(i) != Some(&b) {
                    return Err(bad());
                }
                i += 1;
            }
            continue;
        }
        let spec = f.next().ok_or_else(bad)?;
        let width = if spec == 'Y' { 4 } else { 2 };
        let digits = v.get(i..i + width).ok_or_else(bad)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let n: i64 = std::str::from_utf8(digits)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)?;
        i += width;
        match spec {
            'Y' => y = n,
            'y' => y = if n < 69 { 2000 + n } else { 1900 + n },
            'm' => mo = n,
            'd' => d = n,
            'H' => h = n,
            'M' => mi = n,
            'S' => s = n,
            _ => return Err(bad()),
        }
    }
    if i != v.len()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 61
    {
        return Err(bad());
    }
    Ok(TsArg::Local(
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}.{s:02}"),
    ))
}

fn ts_arg(args: &Args, key: &str, fmt_key: &str, state: Option<&str>) -> Result<TsArg> {
    match args.str(key).as_deref() {
        None => Ok(if state == Some("touch") {
            TsArg::Now
        } else {
            TsArg::Preserve
        }),
        Some("preserve") => Ok(TsArg::Preserve),
        Some("now") => Ok(TsArg::Now),
        Some(v) => parse_time(
            v,
            &args
                .str(fmt_key)
                .unwrap_or_else(|| "%Y%m%d%H%M.%S".to_string()),
        ),
    }
}

/// The decided outcome: what to run and what to report.
#[derive(Default)]
struct Outcome {
    /// `path` for most states, `dest` for touch/link/hard (as Ansible).
    key: &'static str,
    path: String,
    changed: bool,
    before: DiffMap,
    after: DiffMap,
    script: String,
    /// The path whose lstat is reported after the change, and its predicted state.
    info: Option<FileState>,
    extra: Vec<(String, Value)>,
    /// What check mode assumed to make its prediction.
    msg: Option<String>,
}

impl Outcome {
    fn new(key: &'static str, path: &str, state: &str, prev: &str) -> Outcome {
        let mut o = Outcome {
            key,
            path: path.to_string(),
            ..Outcome::default()
        };
        o.before.insert("path".into(), json!(path));
        o.after.insert("path".into(), json!(path));
        if prev != state {
            o.before.insert("state".into(), json!(prev));
            o.after.insert("state".into(), json!(state));
        }
        o
    }
}

/// Shared inputs of the `ensure_*` functions.
struct Env {
    want: AttrWant,
    umask: u32,
    mtime: Ts,
    atime: Ts,
    now: f64,
    follow: bool,
    force: bool,
    recurse: bool,
    me: FileState,
    /// Check mode: a link to a source an earlier task would create is predicted, not refused.
    check: bool,
}

impl Env {
    /// `set_fs_attributes_if_different` then `update_timestamp_for_file` on `st` (which
    /// exists); returns the state afterwards. `diff` false keeps the change out of the diff
    /// (recursion).
    fn attrs_and_times(
        &self,
        st: &FileState,
        no_deref: bool,
        diff: bool,
        o: &mut Outcome,
    ) -> Result<FileState> {
        let mut after = st.clone();
        let c = self.want.changes(st, self.umask)?;
        if !c.is_empty() {
            o.changed = true;
            o.script
                .push_str(&c.script(&st.path, no_deref && st.is_link()));
            if diff {
                c.add_to(&mut o.before, &mut o.after);
            }
            if let Some((_, u)) = c.owner {
                after.uid = u;
                after.owner = self
                    .want
                    .owner
                    .as_ref()
                    .map_or(String::new(), |w| w.name.clone());
            }
            if let Some((_, g)) = c.group {
                after.gid = g;
                after.group = self
                    .want
                    .group
                    .as_ref()
                    .map_or(String::new(), |w| w.name.clone());
            }
            if let Some((_, m)) = c.mode {
                after.st_mode = (st.st_mode & fileops::S_IFMT) | m;
            }
        }
        self.times(st, diff, o);
        Ok(after)
    }

    fn times(&self, st: &FileState, diff: bool, o: &mut Outcome) {
        if self.mtime == Ts::Preserve && self.atime == Ts::Preserve {
            return;
        }
        let q = quote(&st.path);
        let target = |t: &Ts, prev: f64| match t {
            Ts::Preserve => prev,
            Ts::Now => self.now,
            Ts::At(e, _) => *e,
        };
        let m = target(&self.mtime, st.mtime);
        let a = target(&self.atime, st.atime);
        let both_now = self.mtime == Ts::Now && self.atime == Ts::Now;
        if !both_now && m == st.mtime && a == st.atime {
            return;
        }
        o.changed = true;
        if both_now {
            o.script.push_str(&format!("touch -c -- {q}\n"));
        } else {
            for (flag, t) in [("-m", &self.mtime), ("-a", &self.atime)] {
                match t {
                    Ts::Preserve => {}
                    Ts::Now => o.script.push_str(&format!("touch -c {flag} -- {q}\n")),
                    Ts::At(_, touch) => o
                        .script
                        .push_str(&format!("touch -c {flag} -t {} -- {q}\n", quote(touch))),
                }
            }
        }
        if diff {
            if m != st.mtime {
                o.before.insert("mtime".into(), json!(st.mtime));
                o.after.insert("mtime".into(), json!(m));
            }
            if a != st.atime {
                o.before.insert("atime".into(), json!(st.atime));
                o.after.insert("atime".into(), json!(a));
            }
        }
    }

    /// A path as it is right after being created by us (before attributes).
    fn fresh(&self, path: &str, kind: u32, size: u64) -> FileState {
        let base = match kind {
            fileops::S_IFDIR => fileops::new_mode(true, self.umask),
            fileops::S_IFLNK => 0o777,
            _ => fileops::new_mode(false, self.umask),
        };
        FileState {
            path: path.to_string(),
            exists: true,
            st_mode: kind | base,
            nlink: 1,
            size,
            mtime: self.now,
            atime: self.now,
            ..self.me.clone()
        }
    }
}

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

fn ensure_absent(ctx: &mut ModuleCtx, path: &str, lst: &FileState) -> Result<Outcome> {
    let prev = lst.state_name();
    let mut o = Outcome::new("path", path, "absent", prev);
    if prev == "absent" {
        return Ok(o);
    }
    o.changed = true;
    let q = quote(path);
    if prev == "directory" {
        o.script = format!("rm -rf -- {q}\n");
        if ctx.diff {
            // `find` takes no `--`: a path like `-delete` would be an action.
            let q = quote_path(path);
            let out = ctx.run(&format!(
                "find {q} -mindepth 1 -type d -exec printf 'D %s\\n' {{}} +; find {q} -mindepth 1 ! -type d -exec printf 'F %s\\n' {{}} +"
            ))?;
            let text = out.stdout_str();
            let pick = |tag: &str| -> Vec<String> {
                text.lines()
                    .filter_map(|l| l.strip_prefix(tag))
                    .map(str::to_string)
                    .collect()
            };
            o.before.insert(
                "path_content".into(),
                json!({"directories": pick("D "), "files": pick("F ")}),
            );
        }
    } else {
        o.script = format!("rm -f -- {q}\n");
    }
    Ok(o)
}

/// The path attributes apply to: a followed link's target.
fn follow_target(env: &Env, path: &str, lst: &FileState, fst: &FileState) -> (String, FileState) {
    match (&lst.link_source, env.follow && lst.is_link()) {
        (Some(real), true) => {
            let mut t = fst.clone();
            t.path = real.clone();
            (real.clone(), t)
        }
        _ => (path.to_string(), lst.clone()),
    }
}

fn ensure_file(env: &Env, path: &str, lst: &FileState, fst: &FileState) -> Result<Outcome> {
    let (path, st) = if !matches!(lst.state_name(), "file" | "hard") {
        follow_target(env, path, lst, fst)
    } else {
        (path.to_string(), lst.clone())
    };
    let prev = st.state_name();
    if prev != "file" && prev != "hard" {
        return Err(fail_with(
            format!("file ({path}) is {prev}, cannot continue"),
            vec![
                ("path".into(), Value::from(path.as_str())),
                ("state".into(), Value::from(prev)),
            ],
        ));
    }
    let mut o = Outcome::new("path", &path, "file", prev);
    let after = env.attrs_and_times(&st, false, true, &mut o)?;
    o.info = Some(after);
    Ok(o)
}

fn ensure_directory(
    ctx: &mut ModuleCtx,
    env: &Env,
    path: &str,
    lst: &FileState,
    fst: &FileState,
) -> Result<Outcome> {
    let (path, st) = follow_target(env, path, lst, fst);
    let prev = st.state_name();
    let mut o = Outcome::new("path", &path, "directory", prev);
    if prev == "absent" {
        o.changed = true;
        let fresh = env.fresh(&path, fileops::S_IFDIR, 0);
        let c = env.want.changes(&fresh, env.umask)?;
        c.add_to(&mut o.before, &mut o.after);
        o.script = fileops::mkdirs_script(
            &path,
            c.mode.map(|m| m.1),
            c.owner.map(|u| u.1),
            c.group.map(|g| g.1),
        );
        let mut after = env.want.final_for(&fresh, env.umask).map(|f| FileState {
            uid: f.uid,
            gid: f.gid,
            owner: f.owner,
            group: f.group,
            st_mode: fileops::S_IFDIR | f.mode,
            ..fresh.clone()
        })?;
        let mut scratch = Outcome::default();
        env.times(&fresh, false, &mut scratch);
        o.script.push_str(&scratch.script);
        after.path = path.clone();
        o.info = Some(after);
        return Ok(o);
    }
    if prev != "directory" {
        return Err(fail_with(
            format!("{path} already exists as a {prev}"),
            vec![("path".into(), Value::from(path.as_str()))],
        ));
    }
    let after = env.attrs_and_times(&st, false, true, &mut o)?;
    o.info = Some(after);
    if env.recurse {
        recurse_attrs(ctx, env, &path, &mut o)?;
    }
    Ok(o)
}

/// Ansible's `recursive_set_attributes`: every entry below `path` (links themselves get
/// owner/group; with `follow`, their existing targets get everything).
fn recurse_attrs(ctx: &mut ModuleCtx, env: &Env, path: &str, o: &mut Outcome) -> Result<()> {
    let q = quote_path(path);
    let fmt = quote("%f %u %g %X %Y %x %y %n");
    let mut script =
        format!("find {q} -mindepth 1 -exec stat -c {fmt} -- {{}} + | sed 's/^/E /'\n");
    if env.follow {
        script.push_str(&format!(
            // A link's target, and what a linked directory holds (followed, as Ansible's
            // recursive_set_attributes does).
            "find {q} -mindepth 1 -type l -exec sh -c 'f=\"%f %u %g %X %Y %x %y %n\"; for l; do t=$(readlink -f -- \"$l\") && [ -e \"$t\" ] || continue; stat -c \"$f\" -- \"$t\"; if [ -d \"$t\" ]; then find -L \"$t\" -mindepth 1 -print0 | xargs -0 -r stat -c \"$f\" --; fi; done' sh {{}} + | sed 's/^/T /'\n"
        ));
    }
    let out = ctx.run(&script)?;
    for line in out.stdout_str().lines() {
        let Some((tag, rest)) = line.split_once(' ') else {
            continue;
        };
        let f: Vec<&str> = rest.splitn(12, ' ').collect();
        if f.len() < 12 {
            continue;
        }
        let st = FileState {
            path: f[11].to_string(),
            exists: true,
            st_mode: u32::from_str_radix(f[0], 16).unwrap_or(0),
            uid: f[1].parse().unwrap_or(0),
            gid: f[2].parse().unwrap_or(0),
            atime: frac(f[3], f[6]),
            mtime: frac(f[4], f[9]),
            nlink: 1,
            ..FileState::default()
        };
        let no_deref = tag == "E";
        env.attrs_and_times(&st, no_deref, false, o)?;
    }
    Ok(())
}

fn frac(secs: &str, clock: &str) -> f64 {
    let whole: f64 = secs.parse().unwrap_or(0.0);
    whole
        + clock
            .split_once('.')
            .and_then(|(_, f)| format!("0.{f}").parse::<f64>().ok())
            .unwrap_or(0.0)
}

fn ensure_touch(env: &Env, path: &str, lst: &FileState, fst: &FileState) -> Result<Outcome> {
    let prev = lst.state_name();
    let mut o = Outcome::new("dest", path, "touch", prev);
    let st = if prev == "absent" {
        o.changed = true;
        // A file this task creates goes again if its owner, group or mode cannot be set
        // (as Ansible's touch removes it).
        o.script.push_str(&format!(
            "touch -- {q}\ntrap 'rm -f -- {q}' EXIT\n",
            q = quote(path)
        ));
        env.fresh(path, fileops::S_IFREG, 0)
    } else {
        follow_target(env, path, lst, fst).1
    };
    let after = env.attrs_and_times(&st, false, true, &mut o)?;
    if prev == "absent" {
        o.script.push_str("trap - EXIT\n");
    }
    let mut info = if lst.is_link() { lst.clone() } else { after };
    info.path = path.to_string();
    o.info = Some(info);
    Ok(o)
}

fn ensure_symlink(
    ctx: &mut ModuleCtx,
    env: &Env,
    path: &str,
    src: Option<&str>,
    lst: &FileState,
    fst: &FileState,
    target: Option<FileState>,
) -> Result<Outcome> {
    let prev = lst.state_name();
    // Without `src`, an existing link keeps its target.
    let (src, target): (Option<String>, Option<FileState>) = match src {
        Some(s) => (Some(s.to_string()), target),
        None if env.follow && fst.exists && lst.is_link() => {
            (lst.link_target.clone(), Some(fst.clone()))
        }
        None => (None, None),
    };
    let in_dir = !lst.is_link() && fst.is_dir();
    let relpath = if in_dir {
        path.to_string()
    } else {
        dirname(path)
    };
    let mut assumed = None;
    if let (Some(s), Some(t)) = (&src, &target) {
        if !env.force && !t.exists && env.check {
            assumed = Some(format!(
                "src {} does not exist yet; check mode assumes an earlier task creates it",
                join(&relpath, s)
            ));
        } else if !env.force && !t.exists {
            return Err(fail_with(
                format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                    join(&relpath, s)
                ),
                vec![
                    ("path".into(), Value::from(path)),
                    ("src".into(), Value::from(s.as_str())),
                ],
            ));
        }
    }
    if prev == "directory" {
        if !env.force {
            return Err(fail(format!(
                "refusing to convert from directory to symlink for {path}"
            )));
        }
        let out = ctx.run(&format!("ls -A -- {}", quote(path)))?;
        if !out.stdout.is_empty() {
            return Err(fail(format!(
                "the directory {path} is not empty, refusing to convert it"
            )));
        }
    } else if (prev == "file" || prev == "hard") && !env.force {
        return Err(fail(format!(
            "refusing to convert from {prev} to symlink for {path}"
        )));
    }
    let mut o = Outcome::new("dest", path, "link", prev);
    o.msg = assumed;
    let q = quote(path);
    if prev == "link" {
        if let Some(s) = &src {
            let old = lst.link_target.clone().unwrap_or_default();
            if &old != s {
                o.before.insert("src".into(), json!(old));
                o.after.insert("src".into(), json!(s));
                o.changed = true;
            }
        }
    } else {
        if src.is_none() {
            return Err(fail("src is required for creating new symlinks"));
        }
        o.changed = true;
    }
    let src_s = src.clone().unwrap_or_default();
    if o.changed {
        let qs = quote(&src_s);
        if prev == "absent" {
            o.script.push_str(&format!("ln -s -- {qs} {q}\n"));
        } else {
            let tmp = quote(&join(
                &dirname(path),
                &format!(".drover-ln.{}", std::process::id()),
            ));
            if prev == "directory" {
                o.script.push_str(&format!("rmdir -- {q}\n"));
            }
            o.script
                .push_str(&format!("ln -s -- {qs} {tmp}\nmv -fT -- {tmp} {q}\n"));
        }
    }
    let link_after = if !o.changed {
        lst.clone()
    } else if prev == "link" {
        FileState {
            size: src_s.len() as u64,
            ..lst.clone()
        }
    } else {
        env.fresh(path, fileops::S_IFLNK, src_s.len() as u64)
    };
    // Attributes go to the target when following, else to the link itself.
    match (env.follow, target) {
        (true, Some(t)) if t.exists => {
            // chmod/chown through the link reach its target.
            let t = FileState {
                path: path.to_string(),
                ..t
            };
            env.attrs_and_times(&t, false, true, &mut o)?;
        }
        (true, _) => {}
        (false, _) => {
            let mut l = link_after.clone();
            l.path = path.to_string();
            let w = env.want.with_mode(None);
            let c = w.changes(&l, env.umask)?;
            if !c.is_empty() {
                o.changed = true;
                o.script.push_str(&c.script(path, true));
                c.add_to(&mut o.before, &mut o.after);
            }
        }
    }
    let mut info = link_after;
    info.path = path.to_string();
    if !env.follow {
        if let Some(u) = &env.want.owner {
            info.uid = u.id;
            info.owner = u.name.clone();
        }
        if let Some(g) = &env.want.group {
            info.gid = g.id;
            info.group = g.name.clone();
        }
    }
    o.info = Some(info);
    o.extra.push(("src".into(), Value::from(src_s)));
    Ok(o)
}

fn ensure_hardlink(
    env: &Env,
    path: &str,
    src: Option<&str>,
    lst: &FileState,
    fst: &FileState,
    probe: &Probe,
) -> Result<Outcome> {
    let prev = lst.state_name();
    if prev != "hard" && src.is_none() {
        return Err(fail("src is required for creating new hardlinks"));
    }
    let src_st = src.map(|_| probe.states[4].clone());
    if let (Some(s), Some(st)) = (src, &src_st) {
        if !st.exists {
            return Err(fail_with(
                "src does not exist",
                vec![
                    ("dest".into(), Value::from(path)),
                    ("src".into(), Value::from(s)),
                ],
            ));
        }
    }
    let mut o = Outcome::new("dest", path, "hard", prev);
    let cannot = |m: String| {
        fail_with(
            m,
            vec![
                ("dest".into(), Value::from(path)),
                ("src".into(), Value::from(src.unwrap_or_default())),
            ],
        )
    };
    match prev {
        "absent" => o.changed = true,
        "link" => {
            let old = lst.link_target.clone().unwrap_or_default();
            if Some(old.as_str()) != src {
                o.before.insert("src".into(), json!(old));
                o.after.insert("src".into(), json!(src));
                o.changed = true;
            }
        }
        "hard" => {
            if let Some(st) = &src_st {
                if fst.inode != st.inode {
                    o.changed = true;
                    if !env.force {
                        return Err(cannot(
                            "Cannot link, different hard link exists at destination".into(),
                        ));
                    }
                }
            }
        }
        "file" => {
            o.changed = true;
            if !env.force {
                return Err(cannot(format!("Cannot link, {prev} exists at destination")));
            }
        }
        _ => {
            if src_st.as_ref().is_some_and(|s| s.inode == fst.inode) {
                let mut o = Outcome::new("path", path, "hard", "hard");
                o.changed = false;
                return Ok(o);
            }
            return Err(cannot(
                "Cannot link: different hard link exists at destination".into(),
            ));
        }
    }
    let q = quote(path);
    let linking = o.changed;
    if linking {
        let qs = quote(src.unwrap_or_default());
        if prev == "absent" {
            o.script.push_str(&format!("ln -- {qs} {q}\n"));
        } else {
            let tmp = quote(&join(
                &dirname(path),
                &format!(".drover-ln.{}", std::process::id()),
            ));
            o.script
                .push_str(&format!("ln -- {qs} {tmp}\nmv -fT -- {tmp} {q}\n"));
        }
    }
    // After linking, the path is the source's inode.
    let mut st = match (&src_st, linking) {
        (Some(s), true) => s.clone(),
        _ => fst.clone(),
    };
    st.path = path.to_string();
    let mut after = env.attrs_and_times(&st, false, true, &mut o)?;
    if linking {
        after.nlink += 1;
    }
    o.info = Some(after);
    if let Some(s) = src {
        o.extra.push(("src".into(), Value::from(s)));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::super::fileops::testing::{args, mode_of, snapshot, Harness};
    use super::*;
    use std::path::Path;

    fn run(h: &mut Harness, a: &Args) -> Plan {
        h.run(&File, a)
    }

    fn cycle(h: &mut Harness, dir: &Path, a: &Args) -> (Plan, Plan) {
        h.cycle(&File, dir, a)
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    #[test]
    fn directory_created_with_mode_and_predicted_values() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b/c");
        let mut h = Harness::new();
        let a = args(json!({"path": s(&d), "state": "directory", "mode": "u=rwx,g=rx,o="}));
        let (predicted, done) = cycle(&mut h, dir.path(), &a);
        assert!(d.is_dir());
        assert_eq!(mode_of(&d), 0o750);
        assert_eq!(mode_of(&dir.path().join("a")), 0o750);
        for k in ["path", "mode", "owner", "group", "uid", "gid", "state"] {
            assert_eq!(predicted.values.get(k), done.values.get(k), "{k}");
        }
        assert_eq!(done.values["state"].as_str(), Some("directory"));
        assert!(predicted.diffs[0]
            .after
            .contains("\"state\": \"directory\""));
        assert!(predicted.diffs[0].before.contains("\"state\": \"absent\""));
    }

    #[test]
    fn file_mode_symbolic_and_touch() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let mut h = Harness::new();
        // state=file on a missing path fails like Ansible.
        let plan = File
            .plan_task(&mut h.ctx(false), &args(json!({"path": s(&f)})))
            .unwrap();
        assert!(plan.failed);
        assert_eq!(
            plan.msg.unwrap(),
            format!("file ({}) is absent, cannot continue", s(&f))
        );

        // touch creates; touch is always changed.
        let t = args(json!({"path": s(&f), "state": "touch", "mode": "0640"}));
        let snap = snapshot(dir.path());
        assert!(File.plan_task(&mut h.ctx(true), &t).unwrap().changed);
        assert_eq!(snapshot(dir.path()), snap);
        let done = run(&mut h, &t);
        assert_eq!(done.values["dest"].as_str(), Some(s(&f)));
        assert_eq!(mode_of(&f), 0o640);
        assert!(File.plan_task(&mut h.ctx(false), &t).unwrap().changed);
        // …unless both times are preserved.
        let tp = args(
            json!({"path": s(&f), "state": "touch", "modification_time": "preserve", "access_time": "preserve"}),
        );
        assert!(!File.plan_task(&mut h.ctx(false), &tp).unwrap().changed);

        let a = args(json!({"path": s(&f), "mode": "u+x,g-r"}));
        let (predicted, _) = cycle(&mut h, dir.path(), &a);
        assert_eq!(mode_of(&f), 0o700);
        assert_eq!(predicted.values["mode"].as_str(), Some("0700"));
        assert!(predicted.diffs[0].before.contains("\"mode\": \"0640\""));
        assert!(predicted.diffs[0].after.contains("\"mode\": \"0700\""));
    }

    #[test]
    fn explicit_modification_time_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let mut h = Harness::new();
        let a =
            args(json!({"path": s(&f), "state": "file", "modification_time": "202001021304.05"}));
        cycle(&mut h, dir.path(), &a);
        let mt = std::fs::metadata(&f).unwrap().modified().unwrap();
        let secs = mt.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        // 2020-01-02 13:04:05 in some time zone: within a day of the UTC value.
        assert!((secs as i64 - 1_577_970_245).abs() < 86_400, "{secs}");
    }

    #[test]
    fn links_symbolic_and_hard() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.txt");
        std::fs::write(&target, "t").unwrap();
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "o").unwrap();
        let l = dir.path().join("link");
        let mut h = Harness::new();

        let a = args(json!({"path": s(&l), "src": "target.txt", "state": "link"}));
        let (predicted, done) = cycle(&mut h, dir.path(), &a);
        assert_eq!(std::fs::read_link(&l).unwrap(), Path::new("target.txt"));
        assert_eq!(done.values["state"].as_str(), Some("link"));
        assert_eq!(predicted.values["dest"].as_str(), Some(s(&l)));

        // Repointing shows the src change in the diff.
        let b = args(json!({"path": s(&l), "src": s(&other), "state": "link"}));
        let (predicted, _) = cycle(&mut h, dir.path(), &b);
        assert!(predicted.diffs[0].before.contains("target.txt"));
        assert_eq!(std::fs::read_link(&l).unwrap(), other);

        // A missing source needs force.
        let c =
            args(json!({"path": s(&dir.path().join("dangling")), "src": "nope", "state": "link"}));
        let plan = File.plan_task(&mut h.ctx(false), &c).unwrap();
        assert!(plan.failed && plan.msg.unwrap().contains("src file does not exist"));

        // Replacing a file needs force.
        let d = args(json!({"path": s(&other), "src": "target.txt", "state": "link"}));
        let plan = File.plan_task(&mut h.ctx(false), &d).unwrap();
        assert!(plan.failed && plan.msg.unwrap().contains("refusing to convert from file"));

        // Hard link.
        let hl = dir.path().join("hard");
        let e = args(json!({"path": s(&hl), "src": s(&target), "state": "hard"}));
        cycle(&mut h, dir.path(), &e);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(&hl).unwrap().ino(),
            std::fs::metadata(&target).unwrap().ino()
        );
    }

    #[test]
    fn absent_and_recurse() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tree");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), "x").unwrap();
        std::fs::write(d.join("g"), "y").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("g"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut h = Harness::new();

        let r = args(
            json!({"path": s(&d), "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o=rX"}),
        );
        cycle(&mut h, dir.path(), &r);
        assert_eq!(mode_of(&d.join("sub")), 0o755);
        assert_eq!(mode_of(&d.join("g")), 0o644);
        assert_eq!(mode_of(&d.join("sub/f")), 0o644);

        let a = args(json!({"path": s(&d), "state": "absent"}));
        let (predicted, done) = cycle(&mut h, dir.path(), &a);
        assert!(!d.exists());
        assert!(predicted.diffs[0].before.contains("path_content"));
        assert!(predicted.diffs[0].before.contains("sub/f"));
        assert_eq!(done.values["state"].as_str(), Some("absent"));
    }

    #[test]
    fn owner_and_group_by_name_and_number() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let mut h = Harness::new();
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout;
        if uid == b"0\n" {
            let a = args(json!({"path": s(&f), "owner": "daemon", "group": "1"}));
            let (predicted, done) = cycle(&mut h, dir.path(), &a);
            use std::os::unix::fs::MetadataExt;
            let md = std::fs::metadata(&f).unwrap();
            assert_eq!((md.uid(), md.gid()), (1, 1));
            assert_eq!(predicted.values["owner"], done.values["owner"]);
            assert!(predicted.diffs[0].after.contains("\"owner\": 1"));
        }
        let bad = args(json!({"path": s(&f), "owner": "no-such-user-drover"}));
        let plan = File.plan_task(&mut h.ctx(false), &bad).unwrap();
        assert!(plan.failed);
    }

    #[test]
    fn time_formats() {
        assert_eq!(
            parse_time("202001021304.05", "%Y%m%d%H%M.%S").unwrap(),
            TsArg::Local("2020-01-02 13:04:05".into(), "202001021304.05".into())
        );
        assert_eq!(
            parse_time("2020-01-02 13:04", "%Y-%m-%d %H:%M").unwrap(),
            TsArg::Local("2020-01-02 13:04:00".into(), "202001021304.00".into())
        );
        assert!(parse_time("2020-13-02", "%Y-%m-%d").is_err());
        assert!(parse_time("x", "%Y").is_err());
    }
}
