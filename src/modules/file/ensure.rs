//! Ansible's `ensure_absent`, `ensure_file_attributes`, `ensure_directory` (with `recurse`) and
//! `execute_touch`, decided from the probe into a script.

use super::*;

pub(super) fn ensure_absent(ctx: &mut ModuleCtx, path: &str, lst: &FileState) -> Result<Outcome> {
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
pub(super) fn follow_target(
    env: &Env,
    path: &str,
    lst: &FileState,
    fst: &FileState,
) -> (String, FileState) {
    match (&lst.link_source, env.follow && lst.is_link()) {
        (Some(real), true) => {
            let mut t = fst.clone();
            t.path = real.clone();
            (real.clone(), t)
        }
        _ => (path.to_string(), lst.clone()),
    }
}

pub(super) fn ensure_file(
    env: &Env,
    path: &str,
    lst: &FileState,
    fst: &FileState,
) -> Result<Outcome> {
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

pub(super) fn ensure_directory(
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
pub(super) fn recurse_attrs(
    ctx: &mut ModuleCtx,
    env: &Env,
    path: &str,
    o: &mut Outcome,
) -> Result<()> {
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

pub(super) fn ensure_touch(
    env: &Env,
    path: &str,
    lst: &FileState,
    fst: &FileState,
) -> Result<Outcome> {
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
