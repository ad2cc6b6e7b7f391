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
}

/// Shell lines that set `dest`, `dir` (its directory) and `t`, a fresh temp file beside it that
/// is removed on exit unless renamed. Parameter expansion instead of `dirname`: no process.
pub fn temp_beside_script(dest: &str) -> String {
    format!(
        "set -e; dest={}; case $dest in */*) dir=${{dest%/*}}; dir=${{dir:-/}};; *) dir=.;; esac; \
         t=$(mktemp \"$dir/.drover-tmp.XXXXXXXX\"); trap 'rm -f \"$t\"' EXIT\n",
        quote(dest)
    )
}

/// Shell lines that give the temp file `$t` its final attributes: those asked for, and for
/// the rest the destination's current ones (or a new file's defaults). Each `chmod`/`chown`
/// runs only when something is left to set.
pub fn temp_attrs_script(mode: Option<&str>, owner: Option<&str>, group: Option<&str>) -> String {
    let mut s = String::new();
    let keep_mode = if mode.is_some() {
        String::new()
    } else {
        "chmod --reference=\"$dest\" \"$t\"; ".to_string()
    };
    let keep_owner = if owner.is_some() && group.is_some() {
        String::new()
    } else {
        "chown --reference=\"$dest\" \"$t\" 2>/dev/null || true; ".to_string()
    };
    let new_mode = if mode.is_some() {
        ""
    } else {
        "chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$t\"; "
    };
    if !(keep_mode.is_empty() && keep_owner.is_empty() && new_mode.is_empty()) {
        s.push_str(&format!(
            "if [ -e \"$dest\" ]; then {keep_mode}{keep_owner}: ; else {new_mode}: ; fi\n"
        ));
    }
    if let Some(m) = mode {
        s.push_str(&format!("chmod {} \"$t\"\n", quote(m)));
    }
    match (owner, group) {
        (Some(o), Some(g)) => s.push_str(&format!("chown {} \"$t\"\n", quote(&format!("{o}:{g}")))),
        (Some(o), None) => s.push_str(&format!("chown {} \"$t\"\n", quote(o))),
        (None, Some(g)) => s.push_str(&format!("chgrp {} \"$t\"\n", quote(g))),
        (None, None) => {}
    }
    s
}

/// Writes `data` to `dest` atomically. Returns the backup file's path if one was made.
pub fn write_file_atomic(
    conn: &mut dyn Connection,
    as_user: Option<&Become>,
    dest: &str,
    data: &[u8],
    attrs: &FileAttrs,
) -> Result<Option<String>> {
    let mut script = temp_beside_script(dest);
    script.push_str("cat >\"$t\"\n");
    script.push_str(&temp_attrs_script(
        attrs.mode.as_deref(),
        attrs.owner.as_deref(),
        attrs.group.as_deref(),
    ));
    if attrs.backup {
        script.push_str(
            "if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$dest\" \"$b\"; printf '%s' \"$b\"; fi\n",
        );
    }
    script.push_str("mv -f -- \"$t\" \"$dest\"; trap - EXIT");
    let out = conn.run(&script, Some(data), as_user)?;
    if out.rc != 0 {
        bail!("writing `{dest}` failed: {}", out.stderr_str().trim());
    }
    let backup = out.stdout_str();
    Ok((!backup.is_empty()).then_some(backup))
}
