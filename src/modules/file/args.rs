//! `file`'s arguments (`FileArgs`), what it observes, where the task's path really is
//! (`locate`), and the second look some decisions need.

use super::*;

pub(super) static SPEC: Spec = Spec {
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
    ],
    aliases: &[("dest", "path"), ("name", "path")],
    free_form: None,
    any_args: false,
    file_args: true,
};

/// `file`'s arguments, typed.
pub struct FileArgs {
    pub(super) path: String,
    /// Ansible's internal `_diff_peek`: only whether the file looks binary.
    pub(super) diff_peek: bool,
    pub(super) state: Option<String>,
    pub(super) src: Option<String>,
    pub(super) recurse: bool,
    pub(super) force: bool,
    pub(super) follow: bool,
    pub(super) mtime: TsArg,
    pub(super) atime: TsArg,
    pub(super) mode: Option<String>,
    pub(super) owner: Option<String>,
    pub(super) group: Option<String>,
    /// The run shows diffs: removing a directory lists what it held.
    pub(super) diff: bool,
}

pub(super) fn parse(args: &Args, host: &mut dyn Resolve) -> Result<FileArgs> {
    let path = host.expand_path(&args.req_str("path")?)?;
    let state = match args.str("state") {
        None => None,
        Some(_) => Some(args.choice(
            "state",
            &["file", "directory", "absent", "touch", "link", "hard"],
            "file",
        )?),
    };
    Ok(FileArgs {
        diff_peek: args.has("_diff_peek"),
        src: args.str("src"),
        recurse: args.bool_or("recurse", false)?,
        force: args.bool_or("force", false)?,
        follow: args.bool_or("follow", true)?,
        mtime: ts_arg(
            args,
            "modification_time",
            "modification_time_format",
            state.as_deref(),
        )?,
        atime: ts_arg(args, "access_time", "access_time_format", state.as_deref())?,
        mode: args.mode("mode")?,
        owner: args.str("owner"),
        group: args.str("group"),
        diff: host.diff_mode(),
        state,
        path,
    })
}

/// A path for `find`, which takes no `--`: a path like `-delete` would be an action.
fn for_find(path: &str) -> String {
    if path.starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

/// The path, the link source's candidates, the owner and group, the local times.
pub(super) fn observe(a: &FileArgs) -> Observe {
    if a.diff_peek {
        let peek = Script::new().set("p", &for_find(&a.path)).raw(
            "head -c 8192 -- \"$p\" 2>/dev/null | tr -d '\\000' | wc -c; head -c 8192 -- \"$p\" 2>/dev/null | wc -c\n",
        );
        return Observe {
            sections: vec![("peek", peek)],
            ..Observe::default()
        };
    }
    let path = &a.path;
    // A link or hard link is made at `path` itself: its final target never matters.
    let at = |follow| match a.state.as_deref() {
        Some("link" | "hard") => ProbeItem::new(path, follow).no_realpath(),
        _ => ProbeItem::new(path, follow),
    };
    let mut items = vec![at(false), at(true)];
    if let Some(s) = &a.src {
        // Paths inside `path` matter only when it is a directory; to a symlink's, only when
        // it is one itself (a link to a directory is replaced).
        let in_dir = match a.state.as_deref() {
            Some("link") => ProbeCond::RealDir(path.clone()),
            _ => ProbeCond::IsDir(path.clone()),
        };
        items.push(ProbeItem::new(join(path, s), true).when(in_dir.clone()));
        items.push(ProbeItem::new(join(&dirname(path), s), true));
        items.push(ProbeItem::new(s, true));
        let inner = join(path, fileops::basename(s));
        items.push(ProbeItem::new(&inner, false).when(in_dir.clone()));
        items.push(ProbeItem::new(&inner, true).when(in_dir));
    }
    let times = [&a.mtime, &a.atime]
        .into_iter()
        .filter_map(|t| match t {
            TsArg::Local(d, _) => Some(d.clone()),
            _ => None,
        })
        .collect();
    Observe {
        files: Some(ProbeReq {
            items,
            owner: a.owner.clone(),
            group: a.group.clone(),
            times,
        }),
        ..Observe::default()
    }
}

/// `_diff_peek`'s result: whether the first 8 KiB hold a NUL.
pub(super) fn peeked(a: &FileArgs, out: &str) -> Plan {
    let mut n = out.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
    let (kept, all) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
    Plan::unchanged()
        .with_value("path", a.path.as_str())
        .with_value("appears_binary", kept != all)
}

/// Where the task acts: the path (a directory path with `src` means the file of that name
/// inside it, for hard links), its lstat and stat, and the state asked or kept.
pub(super) struct Located {
    pub(super) path: String,
    pub(super) lst: FileState,
    pub(super) fst: FileState,
    pub(super) state: String,
}

pub(super) fn locate(a: &FileArgs, probe: &Probe) -> Result<Located> {
    let s = &probe.states;
    let (mut path, mut lst, mut fst) = (a.path.clone(), s[0].clone(), s[1].clone());
    if let Some(sv) = &a.src {
        if !matches!(a.state.as_deref(), Some("link") | Some("absent")) && fst.is_dir() {
            path = join(&path, fileops::basename(sv));
            lst = s[5].clone();
            fst = s[6].clone();
        }
    }
    let prev = lst.state_name();
    let state = match &a.state {
        Some(s) => s.clone(),
        None if prev != "absent" => prev.to_string(),
        None if a.recurse => "directory".into(),
        None => "file".into(),
    };
    if a.recurse && state != "directory" {
        return Err(fail_with(
            "recurse option requires state to be 'directory'",
            vec![("path".into(), Value::from(path.as_str()))],
        ));
    }
    if a.src.is_some() && state != "link" && state != "hard" {
        return Err(fail_with(
            "src option requires state to be 'link' or 'hard'",
            vec![("path".into(), Value::from(path.as_str()))],
        ));
    }
    lst.path = path.clone();
    fst.path = path.clone();
    Ok(Located {
        path,
        lst,
        fst,
        state,
    })
}

/// What some decisions need to see besides the path: the tree a removal deletes (for the
/// diff), the entries `recurse` sets, whether a directory a link replaces is empty.
pub(super) fn second_look(a: &FileArgs, at: &Located) -> Option<Observe> {
    let prev = at.lst.state_name();
    let look = |name: &'static str, s: Script| {
        Some(Observe {
            sections: vec![(name, s)],
            ..Observe::default()
        })
    };
    match at.state.as_str() {
        "absent" if prev == "directory" && a.diff => look(
            "tree",
            Script::new().set("p", &for_find(&at.path)).raw(concat!(
                "find \"$p\" -mindepth 1 -type d -exec printf 'D %s\\n' {} +; ",
                "find \"$p\" -mindepth 1 ! -type d -exec printf 'F %s\\n' {} +\n"
            )),
        ),
        "directory" if a.recurse => {
            let target = match (&at.lst.link_source, a.follow && at.lst.is_link()) {
                (Some(real), true) => real.clone(),
                _ => at.path.clone(),
            };
            let mut s = Script::new().set("p", &for_find(&target)).raw(
                "find \"$p\" -mindepth 1 -exec stat -c '%f %u %g %X %Y %x %y %n' -- {} + | sed 's/^/E /'\n",
            );
            if a.follow {
                // A link's target, and what a linked directory holds (followed, as Ansible's
                // recursive_set_attributes does).
                s = s.raw("find \"$p\" -mindepth 1 -type l -exec sh -c 'f=\"%f %u %g %X %Y %x %y %n\"; for l; do t=$(readlink -f -- \"$l\") && [ -e \"$t\" ] || continue; stat -c \"$f\" -- \"$t\"; if [ -d \"$t\" ]; then find -L \"$t\" -mindepth 1 -print0 | xargs -0 -r stat -c \"$f\" --; fi; done' sh {} + | sed 's/^/T /'\n");
            }
            look("tree", s)
        }
        "link" if prev == "directory" && a.force => look(
            "ls",
            Script::new().set("p", &at.path).raw("ls -A -- \"$p\"\n"),
        ),
        _ => None,
    }
}
