//! Ansible's `ensure_absent`, `ensure_file_attributes`, `ensure_directory` (with `recurse`) and
//! `execute_touch`, decided from the probe into a script.

use super::*;

/// `tree`: the `D path` / `F path` listing of a directory to remove, for the diff.
pub(super) fn ensure_absent(path: &str, lst: &FileState, tree: Option<&str>) -> Result<Decided> {
    let prev = lst.state_name();
    let mut o = Decided::new("path", path, "absent", prev);
    if prev == "absent" {
        return Ok(o);
    }
    o.changed = true;
    if prev == "directory" {
        o.script = Script::new().cmd("rm -rf --", [path]);
        if let Some(text) = tree {
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
        o.script = Script::new().cmd("rm -f --", [path]);
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
) -> Result<Decided> {
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
    let mut o = Decided::new("path", &path, "file", prev);
    let after = env.attrs_and_times(&st, false, true, &mut o)?;
    o.info = Some(after);
    Ok(o)
}

/// `tree`: with `recurse`, the entries below the directory (see `recurse_attrs`).
pub(super) fn ensure_directory(
    env: &Env,
    path: &str,
    lst: &FileState,
    fst: &FileState,
    tree: Option<&str>,
) -> Result<Decided> {
    let (path, st) = follow_target(env, path, lst, fst);
    let prev = st.state_name();
    let mut o = Decided::new("path", &path, "directory", prev);
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
        let mut scratch = Decided::default();
        env.times(&fresh, false, &mut scratch);
        o.script.push(scratch.script);
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
        recurse_attrs(env, tree.unwrap_or_default(), &mut o)?;
    }
    Ok(o)
}

/// Ansible's `recursive_set_attributes`: every entry below the directory, from the listing
/// of its `stat` lines (`E` the entries, links themselves getting owner/group; `T` with
/// `follow`, the existing targets of links, getting everything).
pub(super) fn recurse_attrs(env: &Env, listing: &str, o: &mut Decided) -> Result<()> {
    for line in listing.lines() {
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
) -> Result<Decided> {
    let prev = lst.state_name();
    let mut o = Decided::new("dest", path, "touch", prev);
    let st = if prev == "absent" {
        o.changed = true;
        // A file this task creates goes again if its owner, group or mode cannot be set
        // (as Ansible's touch removes it).
        o.script.push(
            Script::new()
                .set("created", path)
                .raw("touch -- \"$created\"\ntrap 'rm -f -- \"$created\"' EXIT\n"),
        );
        env.fresh(path, fileops::S_IFREG, 0)
    } else {
        follow_target(env, path, lst, fst).1
    };
    let after = env.attrs_and_times(&st, false, true, &mut o)?;
    if prev == "absent" {
        o.script.push(Script::new().raw("trap - EXIT\n"));
    }
    let mut info = if lst.is_link() { lst.clone() } else { after };
    info.path = path.to_string();
    o.info = Some(info);
    Ok(o)
}
