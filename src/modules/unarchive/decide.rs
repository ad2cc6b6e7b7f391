//! `unarchive`'s decision from its look: the archive's members, `tar --diff` read as
//! Ansible's `is_unarchived` (zip: `zip::check`), and the attributes the members still need.

use super::{zip, Extract, From, UnArgs, UnChange};
use crate::modules::contract::{Failure, Observed, Outcome, Script};
use crate::modules::fileops::{path_info, resolve_mode};
use crate::modules::{Plan, Verdict};
use minijinja::Value;

/// What the look said.
#[derive(Default)]
struct Seen {
    created: bool,
    /// Why the URL's download failed.
    dlfail: Option<String>,
    /// Each handler's reason not to read the archive.
    why: Vec<String>,
    nodest: bool,
    nosrc: bool,
    unreadable: bool,
    empty: bool,
    handler: String,
    /// The handler's program, as `command -v` finds it.
    bin: String,
    /// The shell's directory, for a relative `dest`.
    cwd: Option<String>,
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
            "dlfail" => s.dlfail = Some(v.to_string()),
            "why" if !s.why.iter().any(|w| w == v) => s.why.push(v.to_string()),
            "nodest" => s.nodest = true,
            "nosrc" => s.nosrc = true,
            "unreadable" => s.unreadable = true,
            "empty" => s.empty = true,
            "handler" => s.handler = v.to_string(),
            "bin" => s.bin = v.to_string(),
            "cwd" => s.cwd = Some(v.to_string()),
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

/// The members and, as Ansible's, the top folders of the members in folders.
fn with_top_folders(files: &[String]) -> Vec<String> {
    let mut all = files.to_vec();
    for f in files {
        if let Some((top, _)) = f.split_once('/') {
            let dir = format!("{top}/");
            if !all.iter().any(|x| x.trim_end_matches('/') == top) {
                all.push(dir);
            }
        }
    }
    all
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
    for f in &with_top_folders(&s.files) {
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

pub(super) fn decide(a: &UnArgs, seen: &Observed) -> Result<Outcome<UnChange>, Failure> {
    let text = seen.section("look");
    let mut s = read(text);
    if s.created {
        let creates = a.creates.as_deref().unwrap_or_default();
        let mut p = Plan::unchanged().with_msg(format!("skipped, since {creates} exists"));
        p.verdict = Verdict::Skipped(String::new());
        return Ok(Outcome::Unchanged(p));
    }
    if let Some(why) = &s.dlfail {
        return Err(Failure::new(format!(
            "Failure downloading {}, {why}",
            a.src
        )));
    }
    if s.nodest {
        return Err(Failure::new(format!(
            "dest '{}' must be an existing dir",
            a.dest
        )));
    }
    if !matches!(a.from, From::Controller(..)) {
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
        "zip" => "ZipArchive",
        "zipz" => "ZipZArchive",
        "z" => "TgzArchive",
        "tar" => "TarArchive",
        _ => {
            return Err(Failure::new(format!(
                "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\n{}",
                a.src,
                s.why.join("\n")
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
    if let Some(cwd) = &s.cwd {
        let abs = crate::template::filters_extra::normpath_str(&format!("{cwd}/{}", a.dest));
        report = report.with_value(
            "warnings",
            vec![format!(
                "Relative destination path '{}' was resolved to absolute path '{abs}'.",
                a.dest
            )],
        );
    }
    let zipped = handler.starts_with("Zip");
    let (fresh, excludes, diff) = if zipped {
        let z = zip::read(text);
        s.files = zip::files_in_archive(a, &z);
        let c = zip::check(a, &z)?;
        (!c.unarchived, c.excludes, c.diff)
    } else {
        (!unarchived(a, &s), Vec::new(), String::new())
    };
    if a.list_files {
        report = report.with_value("files", s.files.clone());
    }
    if !diff.is_empty() {
        report.diff_value = Some(crate::vars::map_value([(
            "prepared".to_string(),
            Value::from(diff.as_str()),
        )]));
        report.diff_always = true;
        report = report.with_diff(crate::modules::Diff {
            prepared: Some(diff.clone()),
            ..Default::default()
        });
    }
    // Ansible sets the attributes after a zip's unpacking only when a member differed.
    let attrs = if zipped && diff.is_empty() {
        None
    } else {
        attrs_script(a, &s, fresh)
    };
    if !fresh && attrs.is_none() {
        return Ok(Outcome::Unchanged(report));
    }
    let extract = fresh.then(|| {
        if zipped {
            let (before, after) = zip::extract(a, &excludes);
            Extract {
                prog: "unzip",
                bin: s.bin.clone(),
                before,
                flag: None,
                after,
            }
        } else {
            let mut before = vec!["--extract".to_string(), "-C".to_string(), a.dest.clone()];
            if handler == "TgzArchive" {
                before.push("-z".into());
            }
            before.extend(a.tar_opts());
            Extract {
                prog: "tar",
                bin: s.bin.clone(),
                before,
                flag: Some("-f"),
                after: a.include.clone(),
            }
        }
    });
    Ok(Outcome::Change {
        change: UnChange { extract, attrs },
        report,
        pending: None,
    })
}
