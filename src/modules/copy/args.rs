//! `copy`'s arguments: what to write (content, a controller file or tree read here, or a
//! source on the host looked at later) and where.

use super::*;

/// Reads the arguments and the controller's source (content, file or tree).
pub(super) fn parse(args: &Args, host: &mut dyn Resolve) -> Result<CopyArgs> {
    let src = args.str("src").filter(|s| !s.is_empty());
    let content = args.get("content").cloned();
    let dest = args.str("dest").filter(|d| !d.is_empty()).map(|d| {
        if d.contains('/') {
            d
        } else {
            format!("./{d}")
        }
    });
    let remote_src = args.bool_or("remote_src", false)?;
    let local_follow = args.bool_or("local_follow", true)?;
    let Some(dest) = dest else {
        if src.is_none() && content.is_none() {
            return Err(fail("src (or content) is required"));
        }
        return Err(fail("dest is required"));
    };
    match (&src, &content) {
        (None, None) => return Err(fail("src (or content) is required")),
        (Some(_), Some(_)) => return Err(fail("src and content are mutually exclusive")),
        (None, Some(_)) if dest.ends_with('/') => {
            return Err(fail("can not use content with a dir as dest"))
        }
        _ => {}
    }
    let mode_arg = args.mode("mode")?;
    let preserve = mode_arg.as_deref() == Some("preserve");
    let decrypt = args.bool_or("decrypt", true)?;
    let expected = args.str("checksum");
    let dest = host.expand_path(&dest)?;
    let cw = ContentWrite {
        dest: dest.clone(),
        payload: Payload::Bytes(Vec::new()),
        src_label: None,
        basename: None,
        content_mode: content.is_some(),
        mode: mode_arg.clone(),
        owner: args.str("owner"),
        group: args.str("group"),
        directory_mode: args.str("directory_mode"),
        force: args.bool_or("force", true)?,
        backup: args.bool_or("backup", false)?,
        follow: args.bool_or("follow", false)?,
        validate: args.str("validate"),
        after_header: dest.clone(),
        diff: host.diff_mode(),
        secret: false,
    };
    let trailing = src.as_deref().is_some_and(|s| s.ends_with('/'));
    let tree = TreeTask {
        dest: if dest.ends_with('/') {
            dest.clone()
        } else {
            format!("{dest}/")
        },
        root: None,
        files: Vec::new(),
        dirs: Vec::new(),
        links: Vec::new(),
        src_label: String::new(),
        preserve,
        mode_arg: mode_arg.clone(),
        remote: remote_src,
        force: cw.force,
        backup: cw.backup,
        validate: cw.validate.clone(),
        directory_mode: args.mode("directory_mode")?,
        owner: cw.owner.clone(),
        group: cw.group.clone(),
        diff: cw.diff,
    };
    let check_sum = |sum: &str| matches_expected(&expected, sum).map_err(anyhow::Error::from);
    if let Some(c) = &content {
        let bytes = content_bytes(c);
        check_sum(&fileops::sha1_hex(&bytes))?;
        let mode = if preserve { None } else { mode_arg };
        return Ok(CopyArgs::One(Box::new(ContentWrite {
            payload: Payload::Bytes(bytes),
            mode,
            ..cw
        })));
    }
    let src = src.unwrap_or_default();
    if remote_src {
        let path = host.expand_path(&src)?;
        let follow_links = args.has("local_follow") && local_follow;
        let tree = TreeTask {
            src_label: path.clone(),
            ..tree
        };
        return Ok(CopyArgs::Remote(Box::new(RemoteCopy {
            path,
            trailing,
            follow_links,
            one: cw,
            tree,
            expected,
        })));
    }
    let found = match host.paths().find("files", &src) {
        Some(p) => p,
        None => return Err(fail(not_found(host.paths(), &src))),
    };
    if found.is_dir() {
        let entries = walk_local(&found, trailing, local_follow)?;
        let mut t = TreeTask {
            src_label: found.to_string_lossy().into_owned(),
            ..tree
        };
        fill_tree(&mut t, entries, decrypt)?;
        return Ok(CopyArgs::Tree(Box::new(t)));
    }
    let (payload, secret) = crate::modules::transfer::local_source(&found, decrypt)?;
    check_sum(&payload.checksum())?;
    let mode = if preserve {
        Some(fileops::fmt_mode(local_mode(&found)))
    } else {
        mode_arg
    };
    Ok(CopyArgs::One(Box::new(ContentWrite {
        payload,
        mode,
        basename: found.file_name().map(|n| n.to_string_lossy().into_owned()),
        src_label: Some(found.to_string_lossy().into_owned()),
        secret,
        ..cw
    })))
}

/// The tree's entries with what each file writes (controller files read here).
pub(super) fn fill_tree(t: &mut TreeTask, entries: Entries, decrypt: bool) -> Result<()> {
    t.root = entries.root;
    t.dirs = entries.dirs;
    t.links = entries.links;
    t.files = entries
        .files
        .into_iter()
        .map(|(source, rel, mode)| {
            Ok(match source {
                TreeSource::Local(p) => {
                    let (payload, secret) = crate::modules::transfer::local_source(&p, decrypt)?;
                    TreeFile {
                        rel,
                        mode,
                        payload,
                        secret,
                        label: p.to_string_lossy().into_owned(),
                    }
                }
                TreeSource::Remote {
                    path,
                    checksum,
                    size,
                } => TreeFile {
                    rel,
                    mode,
                    payload: Payload::Remote {
                        path: path.clone(),
                        checksum,
                        size,
                    },
                    secret: false,
                    label: path,
                },
            })
        })
        .collect::<Result<_>>()?;
    Ok(())
}

fn not_found(paths: &SearchPaths, src: &str) -> String {
    let mut msg =
        format!("Could not find or access '{src}' on the Ansible Controller.\nSearched in:");
    for d in &paths.dirs {
        msg.push_str(&format!(
            "\n\t{}\n\t{}",
            d.join("files").join(src).display(),
            d.join(src).display()
        ));
    }
    msg
}

pub(super) fn local_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644)
}

/// `content` as bytes: strings as they are; mappings and lists as Python's `json.dumps`.
pub(super) fn content_bytes(v: &Value) -> Vec<u8> {
    match v.kind() {
        // `!!binary` content: the bytes themselves, whatever they are.
        ValueKind::Bytes => v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
        ValueKind::Map | ValueKind::Seq => py_json(v).into_bytes(),
        _ => match v.as_str() {
            Some(s) => s.as_bytes().to_vec(),
            None if v.kind() == ValueKind::Bool => {
                if v.is_true() { "True" } else { "False" }.into()
            }
            None if v.is_none() => b"None".to_vec(),
            None => v.to_string().into_bytes(),
        },
    }
}
