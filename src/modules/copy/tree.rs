//! Copying a tree: one probe for every destination path, then the writes, directories and
//! links it comes to.

use super::*;

/// The planned changes of a tree copy, in order.
pub(super) struct TreeWork {
    pub(super) mkdirs: String,
    pub(super) writes: Vec<(String, Payload, PutOpts)>,
    pub(super) after: String,
}

pub(super) fn plan_tree(
    ctx: &mut ModuleCtx,
    args: &Args,
    dest: &str,
    entries: Entries,
    src_label: &str,
    preserve: bool,
    mode_arg: Option<String>,
) -> Result<Plan> {
    let dest = fileops::expand_home(ctx, dest)?;
    let dest = if dest.ends_with('/') {
        dest
    } else {
        format!("{dest}/")
    };
    let force = args.bool_or("force", true)?;
    let backup = args.bool_or("backup", false)?;
    let validate = args.str("validate");
    let directory_mode = args.mode("directory_mode")?;
    let decrypt = args.bool_or("decrypt", true)?;
    let top = dest.trim_end_matches('/').to_string();
    // Every directory that must exist: dest's ancestors, dest, and the tree's directories.
    let mut dir_paths: Vec<String> = fileops::ancestors(&format!("{top}/x"));
    if let Some(root) = &entries.root {
        dir_paths.push(format!("{dest}{root}"));
    }
    let n_anc = dir_paths.len();
    dir_paths.extend(entries.dirs.iter().map(|d| format!("{dest}{d}")));
    let mut items: Vec<ProbeItem> = dir_paths.iter().map(|d| ProbeItem::new(d, false)).collect();
    items.extend(
        entries.files.iter().map(|(_, rel, _)| {
            ProbeItem::new(format!("{dest}{rel}"), false).sum(fileops::Alg::Sha1)
        }),
    );
    items.extend(
        entries
            .links
            .iter()
            .map(|(_, rel)| ProbeItem::new(format!("{dest}{rel}"), false)),
    );
    let req = ProbeReq {
        items,
        owner: args.str("owner"),
        group: args.str("group"),
        times: Vec::new(),
    };
    let probe = fileops::probe(ctx, &req)?;
    let want = AttrWant {
        mode: None,
        owner: probe.owner_for(args.str("owner").as_deref())?,
        group: probe.group_for(args.str("group").as_deref())?,
    };
    let dwant = want.with_mode(directory_mode.clone());
    let (dir_states, rest) = probe.states.split_at(dir_paths.len());
    let (file_states, link_states) = rest.split_at(entries.files.len());
    let umask = probe.umask;
    let new_dir_mode = match &directory_mode {
        Some(m) => Some(resolve_mode(m, new_mode(true, umask), true, umask)?),
        None => None,
    };

    let mut changed = false;
    let mut mkdirs = String::new();
    let mut after = String::new();
    for (i, (path, st)) in dir_paths.iter().zip(dir_states).enumerate() {
        let is_tree_dir = i >= n_anc;
        if !st.exists {
            changed = true;
            mkdirs.push_str(&fileops::mkdirs_script(
                path,
                new_dir_mode,
                want.owner.as_ref().map(|o| o.id),
                want.group.as_ref().map(|g| g.id),
            ));
        } else if !st.is_dir() {
            return Err(fail(format!(
                "{path} already exists as a {}",
                st.state_name()
            )));
        } else if is_tree_dir {
            let c = dwant.changes(st, umask)?;
            if !c.is_empty() {
                changed = true;
                after.push_str(&c.script(path, false));
            }
        }
    }

    let mut writes = Vec::new();
    let mut diffs = Vec::new();
    for ((source, rel, src_mode), st) in entries.files.iter().zip(file_states) {
        let path = format!("{dest}{rel}");
        if st.is_dir() {
            return Err(fail(format!("destination {path} is a directory")));
        }
        let fwant = want.with_mode(if preserve {
            Some(fileops::fmt_mode(*src_mode))
        } else if mode_arg.is_some() {
            mode_arg.clone()
        } else if matches!(source, TreeSource::Remote { .. }) {
            Some(fileops::fmt_mode(*src_mode))
        } else {
            None
        });
        let (sum, local, secret) = match source {
            TreeSource::Local(p) => {
                let (payload, secret) = crate::modules::transfer::local_source(p, decrypt)?;
                (payload.checksum(), Some(payload), secret)
            }
            TreeSource::Remote { checksum, .. } => (checksum.clone(), None, false),
        };
        let data = match &local {
            Some(Payload::Bytes(d)) => Some(d.clone()),
            _ => None,
        };
        let target = if st.is_link() {
            FileState::default()
        } else {
            st.clone()
        };
        match fileops::decide_file(st, &target, &sum, &fwant, &probe, force, false)? {
            FileDecision::Keep => {}
            FileDecision::Attrs(c, _) => {
                if !c.is_empty() {
                    changed = true;
                    after.push_str(&c.script(&path, false));
                }
            }
            FileDecision::Write(fin) => {
                changed = true;
                // A file decrypted from a vault has no diff to show.
                if ctx.diff && !secret {
                    if let Some(d) = &data {
                        let before = if st.is_reg() && st.readable {
                            fileops::read_for_diff(ctx, &path)?
                        } else {
                            Vec::new()
                        };
                        let label = match source {
                            TreeSource::Local(p) => p.to_string_lossy().into_owned(),
                            TreeSource::Remote { path, .. } => path.clone(),
                        };
                        diffs.push(fileops::text_diff(Some(&before), d, &path, &label));
                    }
                }
                let opts = PutOpts {
                    mode: Some(fin.mode),
                    owner: want.owner.as_ref().map(|o| o.id),
                    group: want.group.as_ref().map(|g| g.id),
                    backup,
                    validate: validate.clone(),
                };
                let payload = match (source, local) {
                    (_, Some(p)) => p,
                    (
                        TreeSource::Remote {
                            path,
                            checksum,
                            size,
                        },
                        None,
                    ) => Payload::Remote {
                        path: path.clone(),
                        checksum: checksum.clone(),
                        size: *size,
                    },
                    (TreeSource::Local(p), None) => {
                        return Err(fail(format!("could not read src={}", p.display())))
                    }
                };
                writes.push((path, payload, opts));
            }
        }
    }

    for ((target, rel), st) in entries.links.iter().zip(link_states) {
        let path = format!("{dest}{rel}");
        let q = quote(&path);
        let qt = quote(target);
        if st.is_link() && st.link_target.as_deref() == Some(target.as_str()) {
            let c = want.changes(st, umask)?;
            if !c.is_empty() {
                changed = true;
                after.push_str(&c.script(&path, true));
            }
            continue;
        }
        changed = true;
        if st.is_dir() {
            return Err(fail(format!(
                "refusing to replace directory {path} with a symlink"
            )));
        }
        if st.exists {
            let tmp = quote(&format!(
                "{}/.drover-ln.{}",
                fileops::dirname(&path),
                std::process::id()
            ));
            after.push_str(&format!("ln -s -- {qt} {tmp}\nmv -fT -- {tmp} {q}\n"));
        } else {
            after.push_str(&format!("ln -s -- {qt} {q}\n"));
        }
        let c = AttrChange {
            owner: want.owner.as_ref().map(|o| (0, o.id)),
            group: want.group.as_ref().map(|g| (0, g.id)),
            mode: None,
        };
        after.push_str(&c.script(&path, true));
    }

    let mut plan = if changed {
        Plan::change(TreeWork {
            mkdirs,
            writes,
            after,
        })
    } else {
        Plan::unchanged()
    };
    for d in diffs {
        plan = plan.with_diff(d);
    }
    Ok(plan
        .with_value("dest", dest.as_str())
        .with_value("src", src_label))
}

pub(super) fn apply_tree(ctx: &mut ModuleCtx, work: TreeWork) -> Result<()> {
    fileops::run_script(ctx, "creating directories", &work.mkdirs)?;
    for (path, payload, opts) in &work.writes {
        fileops::put_file(ctx, path, payload, opts)?;
    }
    fileops::run_script(ctx, "setting attributes and links", &work.after)
}
