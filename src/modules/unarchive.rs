//! `unarchive`: a tar archive (gzip, bzip2, xz, zstd or none; GNU tar on the host) unpacked
//! into an existing directory, from the controller (sent into the session's temp dir in the
//! look) or from the host (`remote_src`). Idempotent as Ansible's: `tar --diff` against the
//! destination, differences in what the task sets anyway (`mode`, `owner`, `group`) not
//! counting; the files' attributes are then set as asked. One look, one step.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{path_info, resolve_mode, ProbeItem, ProbeReq};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;
use minijinja::Value;

pub struct Unarchive;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "dest",
        "remote_src",
        "creates",
        "list_files",
        "exclude",
        "include",
        "keep_newer",
        "extra_opts",
        "io_buffer_size",
        "validate_certs",
        "decrypt",
        "copy",
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
    aliases: &[("attr", "attributes")],
    free_form: None,
    any_args: false,
};

pub struct UnArgs {
    /// The archive on the host, or on the controller (sent as `$D/upload`).
    src: String,
    local: Option<(std::path::PathBuf, String)>,
    dest: String,
    creates: Option<String>,
    list_files: bool,
    /// Options of both `tar --diff` and `tar --extract`, then the members to take.
    opts: Vec<String>,
    include: Vec<String>,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

/// What to do: unpack (or only set attributes), and to which files.
#[derive(Debug)]
pub struct UnChange {
    extract: Option<Vec<String>>,
    attrs: Option<Script>,
}

fn fail(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(msg).into()
}

impl Typed for Unarchive {
    type Args = UnArgs;
    type Change = UnChange;

    fn name(&self) -> &'static str {
        "unarchive"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<UnArgs> {
        let src = args.req_str("src")?;
        let dest = host.expand_path(&args.req_str("dest")?)?;
        let remote = args.bool_or("remote_src", !args.bool_or("copy", true)?)?;
        if src.contains("://") {
            return Err(fail(
                "unarchive from a URL is not implemented by drover yet: download it with get_url first",
            ));
        }
        let local = if remote {
            None
        } else {
            let path = host.paths().find("files", &src).ok_or_else(|| {
                fail(format!(
                    "Could not find or access '{src}' on the Ansible Controller."
                ))
            })?;
            let (sum, _, _) = super::transfer::hash_file(&path)?;
            Some((path, sum))
        };
        let mut opts = Vec::new();
        for o in args.list("extra_opts") {
            opts.push(o);
        }
        if args.bool_or("keep_newer", false)? {
            opts.push("--keep-newer-files".into());
        }
        for e in args.list_untrimmed("exclude") {
            opts.push(format!("--exclude={e}"));
        }
        Ok(UnArgs {
            src: if remote { host.expand_path(&src)? } else { src },
            local,
            dest,
            creates: args.str("creates"),
            list_files: args.bool_or("list_files", false)?,
            opts,
            include: args.list_untrimmed("include"),
            mode: args.mode("mode")?,
            owner: args.str("owner"),
            group: args.str("group"),
        })
    }

    fn observe(&self, a: &UnArgs) -> Observe {
        let mut s = Script::new()
            .set("src", &a.src)
            .set("dest", &a.dest)
            .set("creates", a.creates.as_deref().unwrap_or(""))
            .raw("[ -n \"$creates\" ] && [ -e \"$creates\" ] && echo created\n");
        if a.local.is_some() {
            s = s.raw("src=\"$D/upload\"\n");
        }
        s = s
            .raw("[ -d \"$dest\" ] || echo nodest\n[ -e \"$src\" ] || echo nosrc\n[ -r \"$src\" ] || echo unreadable\n[ -s \"$src\" ] || echo empty\n")
            .raw("h=; if tar -tzf \"$src\" >/dev/null 2>&1; then h=z; z=-z; elif tar -tf \"$src\" >/dev/null 2>&1; then h=tar; z=; fi\necho \"handler $h\"\n")
            .raw("if [ -n \"$h\" ] && [ -d \"$dest\" ]; then\nset --");
        for o in &a.opts {
            s = s.arg(o);
        }
        s = s.raw("\nset -- \"$@\" -f \"$src\"");
        for i in &a.include {
            s = s.arg(i);
        }
        let s = s
            .raw("\ntar -t $z \"$@\" 2>/dev/null | sed 's/^/f /'\n")
            .raw("e=$(mktemp); { LC_ALL=C tar --diff -C \"$dest\" $z \"$@\" 2>\"$e\"; echo \"rc $?\" >\"$e.rc\"; } | sed 's/^/o /'; cat \"$e.rc\"; sed 's/^/e /' \"$e\"; rm -f \"$e\" \"$e.rc\"\n")
            .raw("cd \"$dest\" && tar -t $z \"$@\" 2>/dev/null | while IFS= read -r f; do [ -e \"$f\" ] && stat -c 's %a %U %G|%n' -- \"$f\"; done\nfi\n");
        Observe {
            files: Some(ProbeReq {
                items: vec![ProbeItem::new(&a.dest, true)],
                ..ProbeReq::default()
            }),
            sections: vec![("look", s)],
            upload: a.local.clone(),
            ..Observe::default()
        }
    }

    fn decide(&self, a: &UnArgs, seen: &Observed) -> Outcome<UnChange> {
        match decide(a, seen) {
            Ok(o) => o,
            Err(f) => Outcome::Fail(f),
        }
    }

    fn apply(&self, a: &UnArgs, c: &UnChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(words) = &c.extract {
            let mut s = match a.local {
                Some(_) => Script::new().raw("src=\"$D/upload\"\n"),
                None => Script::new().set("src", &a.src),
            };
            s = s.raw("tar");
            for w in words {
                s = s.arg(w);
            }
            s = s.raw(" -f \"$src\"");
            for i in &a.include {
                s = s.arg(i);
            }
            s = s.raw("\n");
            if a.local.is_some() {
                s = s.raw("r=$?; rm -f \"$D/upload\"; exit $r\n");
            }
            steps.push(Step::Exec {
                script: s,
                stdin: None,
            });
        }
        if let Some(attrs) = &c.attrs {
            steps.push(Step::Run {
                what: "setting the unpacked files' attributes",
                script: attrs.clone(),
            });
        }
        steps
    }

    fn finish(&self, a: &UnArgs, c: &UnChange, done: &Done, mut r: Plan) -> Plan {
        let Some(cmd) = &c.extract else {
            return r;
        };
        let out = &done.outputs[0];
        let mut shown = vec![Value::from("tar")];
        shown.extend(cmd.iter().map(|w| Value::from(w.as_str())));
        shown.push(Value::from("-f"));
        shown.push(Value::from(a.src.as_str()));
        shown.extend(a.include.iter().map(|w| Value::from(w.as_str())));
        r = r.with_value(
            "extract_results",
            crate::vars::map_value([
                ("cmd".to_string(), Value::from(shown)),
                ("err".to_string(), Value::from(out.stderr_str())),
                ("out".to_string(), Value::from(out.stdout_str())),
                ("rc".to_string(), Value::from(out.rc)),
            ]),
        );
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(format!("Failed to unpack {} to {}", a.src, a.dest));
        }
        r
    }
}

/// What the look said.
#[derive(Default)]
struct Seen {
    created: bool,
    nodest: bool,
    nosrc: bool,
    unreadable: bool,
    empty: bool,
    handler: String,
    files: Vec<String>,
    diff_out: Vec<String>,
    diff_err: Vec<String>,
    diff_rc: i32,
    /// mode (octal), owner, group, path: of the archive's members that exist in `dest`.
    stats: Vec<(String, String, String, String)>,
}

fn read(text: &str) -> Seen {
    let mut s = Seen {
        diff_rc: -1,
        ..Seen::default()
    };
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "created" => s.created = true,
            "nodest" => s.nodest = true,
            "nosrc" => s.nosrc = true,
            "unreadable" => s.unreadable = true,
            "empty" => s.empty = true,
            "handler" => s.handler = v.to_string(),
            "f" => s.files.push(v.to_string()),
            "o" => s.diff_out.push(v.to_string()),
            "e" => s.diff_err.push(v.to_string()),
            "rc" => s.diff_rc = v.trim().parse().unwrap_or(-1),
            "s" => {
                if let Some((attrs, path)) = v.split_once('|') {
                    let mut w = attrs.split(' ');
                    let (m, o, g) = (w.next(), w.next(), w.next());
                    if let (Some(m), Some(o), Some(g)) = (m, o, g) {
                        s.stats.push((m.into(), o.into(), g.into(), path.into()));
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// Ansible's `is_unarchived` for tar: no difference, or only differences in what the task
/// sets anyway.
fn unarchived(a: &UnArgs, s: &Seen) -> bool {
    if !s.diff_err.is_empty() {
        return false;
    }
    let mut set = Vec::new();
    if a.mode.is_some() {
        set.push("Mode");
    }
    if a.group.is_some() {
        set.push("Gid");
    }
    if a.owner.is_some() {
        set.push("Uid");
    }
    let mut changes = Vec::new();
    for line in &s.diff_out {
        match line
            .strip_suffix(" differs")
            .and_then(|l| l.rsplit_once(": "))
        {
            Some((_, what)) => changes.push(what.to_string()),
            None => return false,
        }
    }
    if !changes.is_empty() && changes.iter().all(|c| set.contains(&c.as_str())) {
        true
    } else {
        s.diff_rc == 0
    }
}

/// `chmod`/`chown` of the members whose attributes are not the asked ones (all of them
/// once the archive is unpacked anew); none when nothing is asked or all are right.
fn attrs_script(a: &UnArgs, s: &Seen, fresh: bool) -> Option<Script> {
    if a.mode.is_none() && a.owner.is_none() && a.group.is_none() {
        return None;
    }
    let stat_of = |f: &str| {
        let f = f.trim_end_matches('/');
        s.stats.iter().find(|st| st.3.trim_end_matches('/') == f)
    };
    let mut script = Script::new()
        .set("dest", &a.dest)
        .raw("cd \"$dest\" || exit 1\n");
    let mut any = false;
    for f in &s.files {
        let st = stat_of(f);
        let is_dir = f.ends_with('/');
        if let Some(m) = &a.mode {
            let cur = st
                .and_then(|st| u32::from_str_radix(&st.0, 8).ok())
                .unwrap_or(0);
            let want = resolve_mode(m, cur, is_dir, 0o022).unwrap_or(cur);
            if fresh || st.is_none() || want != cur {
                script = script
                    .raw("chmod")
                    .arg(&format!("{want:o}"))
                    .raw(" --")
                    .arg(f)
                    .raw("\n");
                any = true;
            }
        }
        let owner_off = a
            .owner
            .as_ref()
            .is_some_and(|o| st.is_none_or(|st| &st.1 != o));
        let group_off = a
            .group
            .as_ref()
            .is_some_and(|g| st.is_none_or(|st| &st.2 != g));
        if (a.owner.is_some() || a.group.is_some()) && (fresh || owner_off || group_off) {
            // `user:` would also set the user's login group.
            let who = match (&a.owner, &a.group) {
                (Some(o), Some(g)) => format!("{o}:{g}"),
                (Some(o), None) => o.clone(),
                (None, g) => format!(":{}", g.as_deref().unwrap_or_default()),
            };
            script = script.raw("chown -h").arg(&who).raw(" --").arg(f).raw("\n");
            any = true;
        }
    }
    any.then_some(script)
}

fn decide(a: &UnArgs, seen: &Observed) -> Result<Outcome<UnChange>, Failure> {
    let s = read(seen.section("look"));
    if s.created {
        let creates = a.creates.as_deref().unwrap_or_default();
        let mut p = Plan::unchanged().with_msg(format!("skipped, since {creates} exists"));
        p.verdict = Verdict::Skipped(String::new());
        return Ok(Outcome::Unchanged(p));
    }
    if s.nodest {
        return Err(Failure::new(format!(
            "dest '{}' must be an existing dir",
            a.dest
        )));
    }
    if a.local.is_none() {
        if s.nosrc {
            return Err(Failure::new(format!("Source '{}' does not exist", a.src)));
        }
        if s.unreadable {
            return Err(Failure::new(format!("Source '{}' not readable", a.src)));
        }
        if s.empty {
            return Err(Failure::new(format!(
                "Invalid archive '{}', the file is 0 bytes",
                a.src
            )));
        }
    }
    let handler = match s.handler.as_str() {
        "z" => "TgzArchive",
        "tar" => "TarArchive",
        _ => {
            return Err(Failure::new(format!(
                "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.",
                a.src
            )))
        }
    };
    let mut report = Plan::unchanged()
        .with_value("dest", a.dest.as_str())
        .with_value("src", a.src.as_str())
        .with_value("handler", handler);
    if let Some(st) = seen.files.states.first().filter(|st| st.exists) {
        for (k, v) in path_info(st) {
            report = report.with_value(&k, v);
        }
    }
    if a.list_files {
        report = report.with_value("files", s.files.clone());
    }
    let fresh = !unarchived(a, &s);
    let attrs = attrs_script(a, &s, fresh);
    if !fresh && attrs.is_none() {
        return Ok(Outcome::Unchanged(report));
    }
    let extract = fresh.then(|| {
        let mut w = vec!["--extract".to_string(), "-C".to_string(), a.dest.clone()];
        if handler == "TgzArchive" {
            w.push("-z".into());
        }
        w.extend(a.opts.iter().cloned());
        w
    });
    Ok(Outcome::Change {
        change: UnChange { extract, attrs },
        report,
        pending: None,
    })
}
