//! The content write shared by `copy` and `template`: planned read-only, then applied exactly
//! as planned.

use super::*;

/// One file to put on the host, as `copy` (content or a single source file) and `template`
/// describe it.
#[derive(Clone, Debug)]
pub struct ContentWrite {
    /// `dest` as given; a trailing `/` means "into this directory".
    pub dest: String,
    pub payload: Payload,
    /// Returned as `src` and used as the diff's after-header.
    pub src_label: Option<String>,
    /// The name used when `dest` is a directory.
    pub basename: Option<String>,
    /// `copy content=`: a directory dest is an error.
    pub content_mode: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub directory_mode: Option<String>,
    pub force: bool,
    pub backup: bool,
    pub follow: bool,
    pub validate: Option<String>,
    /// The diff's after-header when the source is generated (template, content).
    pub after_header: String,
}

/// What `apply_content` does.
pub struct ContentWork {
    path: String,
    payload: Payload,
    mkdirs: Option<String>,
    write: Option<PutOpts>,
    attrs: Option<(AttrChange, bool)>,
}

/// Plans a content write read-only: resolves the destination, compares checksums and
/// attributes, and predicts the result, the diff and the return values.
pub fn plan_content(ctx: &mut ModuleCtx, cw: ContentWrite) -> Result<Plan> {
    catch(plan_content_inner(ctx, cw))
}

pub(super) fn plan_content_inner(ctx: &mut ModuleCtx, cw: ContentWrite) -> Result<Plan> {
    let dest = expand_home(ctx, &cw.dest)?;
    let trailing = dest.ends_with('/');
    if trailing && cw.content_mode {
        return Err(fail("can not use content with a dir as dest"));
    }
    let base = cw.basename.clone().unwrap_or_default();
    let first = dest_for_file(&dest, &base);
    let inner = join(&first, &base);
    let req = ProbeReq {
        items: vec![
            ProbeItem::new(&first, false).sum(Alg::Sha1),
            ProbeItem::new(&first, true).sum(Alg::Sha1),
            // The file inside `dest` matters only when `dest` is a directory, and `dest`'s
            // directory only when nothing is at `dest`.
            ProbeItem::new(&inner, false)
                .sum(Alg::Sha1)
                .when(ProbeCond::IsDir(first.clone())),
            ProbeItem::new(&inner, true)
                .sum(Alg::Sha1)
                .when(ProbeCond::IsDir(first.clone())),
            ProbeItem::new(dirname(&first), true).when(ProbeCond::Missing(first.clone())),
        ],
        owner: cw.owner.clone(),
        group: cw.group.clone(),
        times: Vec::new(),
    };
    let probe = probe(ctx, &req)?;
    let s = &probe.states;
    let (path, nofollow, target) = if s[1].is_dir() {
        if cw.content_mode {
            return Err(fail("can not use content with a dir as dest"));
        }
        if base.is_empty() {
            return Err(fail(format!("destination {first} is a directory")));
        }
        (inner.clone(), &s[2], &s[3])
    } else {
        (first.clone(), &s[0], &s[1])
    };
    if target.is_dir() {
        return Err(fail(format!("destination {path} is a directory")));
    }
    let want = AttrWant {
        mode: cw.mode.clone(),
        owner: probe.owner_for(cw.owner.as_deref())?,
        group: probe.group_for(cw.group.as_deref())?,
    };
    let checksum = cw.payload.checksum();
    let decision = decide_file(
        nofollow, target, &checksum, &want, &probe, cw.force, cw.follow,
    )?;
    // Writing through a followed link writes its target.
    let write_path = match (&nofollow.link_source, cw.follow && nofollow.is_link()) {
        (Some(real), true) if target.exists => real.clone(),
        _ => path.clone(),
    };
    let mut mkdirs = None;
    let mut check_note: Option<String> = None;
    let parent_exists = s[4].is_dir() || s[1].is_dir();
    if !nofollow.exists && !parent_exists {
        if trailing {
            let dmode = match &cw.directory_mode {
                Some(m) => Some(resolve_mode(
                    m,
                    new_mode(true, probe.umask),
                    true,
                    probe.umask,
                )?),
                None => None,
            };
            mkdirs = Some(mkdirs_script(
                &dirname(&path),
                dmode,
                want.owner.as_ref().map(|o| o.id),
                want.group.as_ref().map(|g| g.id),
            ));
        } else if ctx.check {
            // In check mode an earlier task of the same run may be what creates the directory
            // (it did not, because nothing changes): predict the write, and say so.
            check_note = Some(format!(
                "Destination directory {} does not exist yet; check mode assumes an earlier task creates it",
                dirname(&path)
            ));
        } else {
            return Err(fail(format!(
                "Destination directory {} does not exist",
                dirname(&path)
            )));
        }
    }
    let mut plan;
    match decision {
        FileDecision::Keep => {
            plan = Plan::unchanged().with_value("dest", dest.as_str());
            if let Some(src) = &cw.src_label {
                plan = plan.with_value("src", src.as_str());
            }
            return Ok(plan);
        }
        FileDecision::Write(fin) => {
            // The writer keeps an existing file's mode and gives a new one 0666 & ~umask, so
            // only an explicit mode is passed on.
            let opts = PutOpts {
                mode: want.mode.is_some().then_some(fin.mode),
                owner: want.owner.as_ref().map(|o| o.id),
                group: want.group.as_ref().map(|g| g.id),
                backup: cw.backup,
                validate: cw.validate.clone(),
            };
            let before = if ctx.diff && target.is_reg() && target.readable {
                Some(read_for_diff(ctx, &write_path)?)
            } else {
                None
            };
            plan = Plan::change(ContentWork {
                path: write_path.clone(),
                payload: cw.payload.clone(),
                mkdirs,
                write: Some(opts),
                attrs: None,
            });
            if let Payload::LocalFile { md5, size, .. } = &cw.payload {
                if ctx.diff {
                    let after_header = cw.src_label.clone().unwrap_or(cw.after_header.clone());
                    let mut d = text_diff(
                        Some(before.as_deref().unwrap_or_default()),
                        b"",
                        &write_path,
                        &after_header,
                    );
                    d.after = format!("(file of {size} bytes: content not shown)\n");
                    plan = plan.with_diff(d);
                }
                plan = plan.with_value("md5sum", md5.as_str());
            }
            if let Payload::Bytes(data) = &cw.payload {
                if ctx.diff {
                    let after_header = cw.src_label.clone().unwrap_or(cw.after_header.clone());
                    plan = plan.with_diff(text_diff(
                        Some(before.as_deref().unwrap_or_default()),
                        data,
                        &write_path,
                        &after_header,
                    ));
                }
                plan = plan.with_value("md5sum", md5_hex(data));
            }
            plan = with_info(plan, &write_path, &fin, cw.payload.size());
        }
        FileDecision::Attrs(change, fin) => {
            if change.is_empty() && mkdirs.is_none() {
                plan = Plan::unchanged();
            } else {
                let mut b = DiffMap::new();
                let mut a = DiffMap::new();
                b.insert("path".into(), write_path.clone().into());
                a.insert("path".into(), write_path.clone().into());
                change.add_to(&mut b, &mut a);
                plan = Plan::change(ContentWork {
                    path: write_path.clone(),
                    payload: cw.payload.clone(),
                    mkdirs,
                    write: None,
                    attrs: Some((change, false)),
                })
                .with_diff(dict_diff(&b, &a));
            }
            plan = with_info(plan, &write_path, &fin, target.size);
        }
    }
    plan = plan
        .with_value("dest", write_path.as_str())
        .with_value("checksum", checksum);
    if let Some(src) = &cw.src_label {
        plan = plan.with_value("src", src.as_str());
    }
    if let Some(note) = check_note {
        plan = plan.with_msg(note);
    }
    Ok(plan)
}

/// Ansible's path info on a result: owner, group, uid, gid, mode, state, size.
pub fn with_info(plan: Plan, path: &str, fin: &FinalAttrs, size: u64) -> Plan {
    plan.with_value("path", path)
        .with_value("uid", fin.uid)
        .with_value("gid", fin.gid)
        .with_value("owner", fin.owner.as_str())
        .with_value("group", fin.group.as_str())
        .with_value("mode", fmt_mode(fin.mode))
        .with_value("state", "file")
        .with_value("size", size)
}

/// Carries out a planned content write.
pub fn apply_content(ctx: &mut ModuleCtx, mut plan: Plan) -> Result<Plan> {
    let work: ContentWork = plan.take_work()?;
    Ok(match apply_content_inner(ctx, &work)? {
        Some(backup) => plan.with_value("backup_file", backup),
        None => plan,
    })
}

pub(super) fn apply_content_inner(
    ctx: &mut ModuleCtx,
    work: &ContentWork,
) -> Result<Option<String>> {
    if let Some(script) = &work.mkdirs {
        run_script(ctx, "creating the destination directory", script)?;
    }
    let mut backup = None;
    if let Some(opts) = &work.write {
        backup = put_file(ctx, &work.path, &work.payload, opts)?;
    }
    if let Some((change, no_deref)) = &work.attrs {
        run_script(
            ctx,
            "setting attributes",
            &change.script(&work.path, *no_deref),
        )?;
    }
    Ok(backup)
}
