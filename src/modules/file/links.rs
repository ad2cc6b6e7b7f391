//! Ansible's `ensure_symlink` and `ensure_hardlink`.

use super::*;

/// `listing`: `ls -A` of a directory the link replaces (it must be empty).
pub(super) fn ensure_symlink(
    env: &Env,
    path: &str,
    src: Option<&str>,
    lst: &FileState,
    fst: &FileState,
    target: Option<FileState>,
    listing: Option<&str>,
) -> Result<Decided> {
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
    // A missing source fails a real run; a prediction assumes an earlier task creates it.
    let (mut assumed, mut pending) = (None, None);
    if let (Some(s), Some(t)) = (&src, &target) {
        if !env.force && !t.exists {
            assumed = Some(format!(
                "src {} does not exist yet; check mode assumes an earlier task creates it",
                join(&relpath, s)
            ));
            pending = Some(
                Failure::new(format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                    join(&relpath, s)
                ))
                .with("path", path)
                .with("src", s.as_str()),
            );
        }
    }
    if prev == "directory" {
        if !env.force {
            return Err(fail(format!(
                "refusing to convert from directory to symlink for {path}"
            )));
        }
        if !listing.unwrap_or_default().is_empty() {
            return Err(fail(format!(
                "the directory {path} is not empty, refusing to convert it"
            )));
        }
    } else if (prev == "file" || prev == "hard") && !env.force {
        return Err(fail(format!(
            "refusing to convert from {prev} to symlink for {path}"
        )));
    }
    let mut o = Decided::new("dest", path, "link", prev);
    o.msg = assumed;
    o.pending = pending;
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
        if prev == "absent" {
            o.script.push(Script::new().cmd("ln -s --", [&src_s, path]));
        } else {
            // A new link beside the old path, then renamed over it.
            let tmp = join(
                &dirname(path),
                &format!(".drover-ln.{}", std::process::id()),
            );
            if prev == "directory" {
                o.script.push(Script::new().cmd("rmdir --", [path]));
            }
            o.script.push(
                Script::new()
                    .cmd("ln -s --", [src_s.as_str(), &tmp])
                    .cmd("mv -fT --", [tmp.as_str(), path]),
            );
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
                o.script.push(c.script(path, true));
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

pub(super) fn ensure_hardlink(
    env: &Env,
    path: &str,
    src: Option<&str>,
    lst: &FileState,
    fst: &FileState,
    probe: &Probe,
) -> Result<Decided> {
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
    let mut o = Decided::new("dest", path, "hard", prev);
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
                let mut o = Decided::new("path", path, "hard", "hard");
                o.changed = false;
                return Ok(o);
            }
            return Err(cannot(
                "Cannot link: different hard link exists at destination".into(),
            ));
        }
    }
    let linking = o.changed;
    if linking {
        let src = src.unwrap_or_default();
        if prev == "absent" {
            o.script.push(Script::new().cmd("ln --", [src, path]));
        } else {
            let tmp = join(
                &dirname(path),
                &format!(".drover-ln.{}", std::process::id()),
            );
            o.script.push(
                Script::new()
                    .cmd("ln --", [src, tmp.as_str()])
                    .cmd("mv -fT --", [tmp.as_str(), path]),
            );
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
