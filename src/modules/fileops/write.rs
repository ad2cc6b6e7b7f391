//! Writing files: atomic writes with backup and validation (`put_file`).

use super::*;
use crate::modules::contract::Script;

/// Where a written file's bytes come from.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Bytes from the controller.
    Bytes(Vec<u8>),
    /// A file on the host (`remote_src`), with its checksum and size.
    Remote {
        path: String,
        checksum: String,
        size: u64,
    },
    /// A large file on the controller, streamed to the host when written (`transfer.rs`).
    LocalFile {
        path: std::path::PathBuf,
        checksum: String,
        md5: String,
        size: u64,
    },
}

impl Payload {
    pub fn checksum(&self) -> String {
        match self {
            Payload::Bytes(b) => sha1_hex(b),
            Payload::Remote { checksum, .. } | Payload::LocalFile { checksum, .. } => {
                checksum.clone()
            }
        }
    }
    pub fn size(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::Remote { size, .. } | Payload::LocalFile { size, .. } => *size,
        }
    }
}

/// How to write one file: final attributes and the safety options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutOpts {
    pub mode: Option<u32>,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub backup: bool,
    /// A command with `%s` for the temp file; it must succeed before the file is replaced.
    pub validate: Option<String>,
}

/// Writes `payload` to `dest` atomically (temp file beside it, attributes, optional backup
/// and validation, rename). Returns the backup path if one was made.
pub fn put_file(
    ctx: &mut ModuleCtx,
    dest: &str,
    payload: &Payload,
    opts: &PutOpts,
) -> Result<Option<String>> {
    let (mode, owner, group) = (
        opts.mode.map(|m| format!("{m:04o}")),
        opts.owner.map(|u| u.to_string()),
        opts.group.map(|g| g.to_string()),
    );
    let me = me_ids(ctx);
    if let (Payload::Bytes(data), None) = (payload, &opts.validate) {
        let attrs = FileAttrs {
            mode,
            owner,
            group,
            backup: opts.backup,
            me,
        };
        let as_user = ctx.as_user;
        let conn = ctx.conn()?;
        return write_file_atomic(conn, as_user, dest, data, &attrs).map_err(fail_write);
    }
    let mut s = temp_beside_script(dest, mode.as_deref());
    if opts.validate.is_some() {
        // Keep the destination's suffix: validators often look at it (`nginx -t -c x.conf`).
        let base = basename(dest);
        if let Some(dot) = base.rfind('.').filter(|d| *d > 0) {
            let suffix = Script::new().set("sfx", &base[dot..]).raw("t=\"$t$sfx\"\n");
            s.push_str(suffix.text());
        }
    }
    let stdin = match payload {
        Payload::Bytes(data) => {
            let (fill, stdin) = temp_fill_script(data);
            s.push_str(&fill);
            stdin
        }
        Payload::Remote { path, .. } => {
            let copy = Script::new()
                .set("src", path)
                .raw(": >\"$t\"; set +C; cp -- \"$src\" \"$t\"\n");
            s.push_str(copy.text());
            None
        }
        Payload::LocalFile { path, checksum, .. } => {
            crate::modules::transfer::upload(ctx, path, checksum).map_err(fail_write)?;
            let up = crate::modules::transfer::UPLOADED;
            s.push_str(&format!(
                ": >\"$t\"; set +C; cat -- {up} >\"$t\"; rm -f -- {up}\n"
            ));
            None
        }
    };
    s.push_str(&temp_attrs_script(
        mode.as_deref(),
        owner.as_deref(),
        group.as_deref(),
        me,
    ));
    // What the script itself reports starts with a random tag: the validator's output and
    // the file names cannot pass for it.
    let tag = format!("@@{}:", crate::connection::random_token());
    if let Some(v) = &opts.validate {
        if !v.contains("%s") {
            return Err(fail(format!("validate must contain %s: {v}")));
        }
        let cmd = v
            .replace("%%", "\u{0}")
            .replace("%s", "\"$t\"")
            .replace('\u{0}', "%");
        s.push_str(&format!(
            "set +e; ( {cmd}\n); vrc=$?; set -e; if [ \"$vrc\" -ne 0 ]; then echo \"{tag}VRC $vrc\" >&2; exit 86; fi\n"
        ));
    }
    if opts.backup {
        s.push_str(&format!(
            "if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$dest\" \"$b\"; printf '{tag}BACKUP %s\\n' \"$b\"; fi\n"
        ));
    }
    s.push_str("mv -f -- \"$t\" \"$dest\"; trap - EXIT\n");
    let out = ctx.run_with_stdin(&s, stdin)?;
    let stdout = out.stdout_str();
    if out.rc == 86 && opts.validate.is_some() {
        let stderr = out.stderr_str();
        let mark = format!("{tag}VRC ");
        let (stderr, vrc) = match stderr.rfind(&mark) {
            Some(i) => (
                stderr[..i].to_string(),
                stderr[i + mark.len()..].trim().parse::<i64>().unwrap_or(1),
            ),
            None => (stderr.clone(), 1),
        };
        return Err(fail_with(
            "failed to validate",
            vec![
                ("exit_status".into(), Value::from(vrc)),
                ("stdout".into(), Value::from(stdout)),
                ("stderr".into(), Value::from(stderr)),
            ],
        ));
    }
    if out.rc != 0 {
        return Err(fail(format!(
            "writing `{dest}` failed: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(stdout
        .lines()
        .find_map(|l| l.strip_prefix(tag.as_str())?.strip_prefix("BACKUP "))
        .map(str::to_string))
}

/// What writing one file comes to, decided from its current state (pure).
#[derive(Clone, Debug, PartialEq)]
pub enum FileDecision {
    /// Present and `force: no`: leave it alone.
    Keep,
    /// Write the content; the file ends with these attributes.
    Write(FinalAttrs),
    /// Content already right; attributes change (possibly nothing).
    Attrs(AttrChange, FinalAttrs),
}

/// Decides one content write. `nofollow` is the lstat of the path, `target` its stat (the
/// same when it is not a link); `follow` writes through a symlink instead of replacing it.
pub fn decide_file(
    nofollow: &FileState,
    target: &FileState,
    checksum: &str,
    want: &AttrWant,
    probe: &Probe,
    force: bool,
    follow: bool,
) -> Result<FileDecision> {
    if nofollow.exists && !force {
        return Ok(FileDecision::Keep);
    }
    let replacing_link = nofollow.is_link() && !follow;
    let current_sum = if replacing_link {
        None
    } else {
        target.checksum.as_deref()
    };
    if current_sum == Some(checksum) {
        let change = want.changes(target, probe.umask)?;
        let fin = want.final_for(target, probe.umask)?;
        return Ok(FileDecision::Attrs(change, fin));
    }
    let fin = if target.exists && !target.is_dir() {
        want.final_for(target, probe.umask)?
    } else {
        want.final_new(probe, false)?
    };
    Ok(FileDecision::Write(fin))
}
