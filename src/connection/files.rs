//! Atomic file writes on a host, built on `Connection::run`: the content goes to a temp file
//! beside the destination, gets its mode and ownership, and is renamed over the destination in
//! one step, so a reader never sees a half-written file and a cut transfer changes nothing.

use super::{Become, Connection};
use crate::shell::quote;
use anyhow::{bail, Result};

/// Attributes to set on a written file; `None` keeps the destination's current value (or the
/// default for a new file: mode 0666 & ~umask, the connecting user's ownership).
#[derive(Clone, Debug, Default)]
pub struct FileAttrs {
    /// An octal (`0644`) or symbolic (`u=rw,go=r`) mode, as `chmod` takes it.
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Keep a timestamped copy of the old file (Ansible's `backup: yes`).
    pub backup: bool,
    /// The writing user's uid and gid when known: an owner or group equal to them needs no
    /// `chown` (a new file already has them, unless its directory is setgid).
    pub me: Option<(u32, u32)>,
}

/// Content up to this size without NUL bytes is written by the shell's `printf` builtin from
/// the command itself, instead of by `cat` from stdin.
const INLINE_MAX: usize = 64 * 1024;

/// Whether `data` can travel inside the command and be written by `printf`.
pub fn inline_ok(data: &[u8]) -> bool {
    data.len() <= INLINE_MAX && !data.contains(&0)
}

/// A random name for a temp file (16 hex digits from the controller's kernel generator).
fn temp_suffix() -> String {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An octal mode a new file can be created with through the umask alone (no `chmod`): no
/// execute or special bits.
fn umask_mode(mode: Option<&str>) -> Option<u32> {
    let m = u32::from_str_radix(mode?.trim_start_matches("0o"), 8).ok()?;
    (m & !0o666 == 0).then_some(m)
}

/// Shell lines that set `dest`, `dir` (its directory) and `t`, a new temp file beside it,
/// created exclusively (`set -C`: never through an existing file or link) and removed on exit
/// unless renamed. When the mode allows, the file is created with it (through the umask of
/// the command's own subshell). Parameter expansion instead of `dirname`: no process.
pub fn temp_beside_script(dest: &str, mode: Option<&str>) -> String {
    let umask = match umask_mode(mode) {
        Some(m) => format!("umask {:03o}; ", 0o777 & !m),
        None => String::new(),
    };
    format!(
        "set -e; dest={}; case $dest in */*) dir=${{dest%/*}}; dir=${{dir:-/}};; *) dir=.;; esac; \
         t=\"$dir/.drover-tmp.{}\"; trap 'rm -f \"$t\"' EXIT; set -C; {umask}\n",
        quote(dest),
        temp_suffix()
    )
}

/// Shell lines that give the temp file `$t` its final attributes: those asked for, and for
/// the rest the destination's current ones (or a new file's defaults). Each `chmod`/`chown`
/// runs only when something is left to set: not for a mode the file was created with, nor for
/// an owner or group the writer already has.
pub fn temp_attrs_script(
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
    me: Option<(u32, u32)>,
) -> String {
    let mut s = String::new();
    // Ownership first, then the mode: `chown` clears the set-user/group-ID bits.
    let keep_owner = if owner.is_some() && group.is_some() {
        String::new()
    } else {
        "chown --reference=\"$dest\" \"$t\" 2>/dev/null || true; ".to_string()
    };
    let keep_mode = if mode.is_some() {
        String::new()
    } else {
        "chmod --reference=\"$dest\" \"$t\"; ".to_string()
    };
    let new_mode = if mode.is_some() {
        ""
    } else {
        "chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$t\"; "
    };
    // A replaced file's POSIX ACL goes on its replacement (Ansible's atomic_move copies the
    // extended attributes), where the ACL tools are installed; a mode asked for is set after.
    const COPY_ACL: &str =
        "getfacl -cp -- \"$dest\" 2>/dev/null | setfacl --set-file=- \"$t\" 2>/dev/null || true";
    let keep_acl = if mode.is_some() {
        String::new()
    } else {
        format!("if command -v getfacl >/dev/null 2>&1; then {COPY_ACL}; fi; ")
    };
    if !(keep_mode.is_empty() && keep_owner.is_empty() && new_mode.is_empty()) {
        s.push_str(&format!(
            "if [ -e \"$dest\" ]; then {keep_owner}{keep_mode}{keep_acl}: ; else {new_mode}: ; fi\n"
        ));
    }
    let is = |v: Option<&str>, id: Option<u32>| match (v.and_then(|x| x.parse::<u32>().ok()), id) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    // A file the writer creates is its own; its group is the writer's unless the directory
    // is setgid (then it is the directory's).
    let owner = owner.filter(|o| !is(Some(o), me.map(|m| m.0)));
    let (group, group_if_setgid) = match group {
        Some(g) if is(Some(g), me.map(|m| m.1)) => (None, Some(g)),
        g => (g, None),
    };
    if let Some((cmd, who)) = crate::shell::chown_args(owner, group) {
        s.push_str(&format!("{cmd} {who} -- \"$t\"\n"));
    }
    if let Some(g) = group_if_setgid {
        s.push_str(&format!(
            "if [ -g \"$dir\" ]; then chgrp -- {} \"$t\"; fi\n",
            quote(g)
        ));
    }
    if let Some(m) = mode.filter(|m| umask_mode(Some(m)).is_none()) {
        s.push_str(&format!("chmod {} \"$t\"\n", quote(m)));
    }
    if let Some(m) = mode {
        s.push_str(&format!(
            "if [ -e \"$dest\" ] && command -v getfacl >/dev/null 2>&1; then {COPY_ACL}; chmod {} \"$t\"; fi\n",
            quote(m)
        ));
    }
    s
}

/// The line that fills `$t` with `data`: inside the command (`printf`, a builtin) when it is
/// small text, else from stdin (`cat`); returns the stdin to send.
pub fn temp_fill_script(data: &[u8]) -> (String, Option<&[u8]>) {
    if inline_ok(data) {
        let text = String::from_utf8_lossy(data);
        if text.as_bytes() == data {
            return (
                format!("printf '%s' {} >\"$t\"; set +C\n", quote(&text)),
                None,
            );
        }
    }
    ("cat >\"$t\"; set +C\n".to_string(), Some(data))
}

/// Writes `data` to `dest` atomically. Returns the backup file's path if one was made.
pub fn write_file_atomic(
    conn: &mut dyn Connection,
    as_user: Option<&Become>,
    dest: &str,
    data: &[u8],
    attrs: &FileAttrs,
) -> Result<Option<String>> {
    let mut script = temp_beside_script(dest, attrs.mode.as_deref());
    let (fill, stdin) = temp_fill_script(data);
    script.push_str(&fill);
    script.push_str(&temp_attrs_script(
        attrs.mode.as_deref(),
        attrs.owner.as_deref(),
        attrs.group.as_deref(),
        attrs.me,
    ));
    if attrs.backup {
        script.push_str(
            "if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$dest\" \"$b\"; printf '%s' \"$b\"; fi\n",
        );
    }
    script.push_str("mv -f -- \"$t\" \"$dest\"; trap - EXIT");
    let out = conn.run(&script, stdin, as_user)?;
    if out.rc != 0 {
        bail!("writing `{dest}` failed: {}", out.stderr_str().trim());
    }
    let backup = out.stdout_str();
    Ok((!backup.is_empty()).then_some(backup))
}
