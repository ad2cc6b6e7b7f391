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

/// Writes `data` to `dest` atomically. Returns the backup file's path if one was made.
pub fn write_file_atomic(
    conn: &mut dyn Connection,
    as_user: Option<&Become>,
    dest: &str,
    data: &[u8],
    attrs: &FileAttrs,
) -> Result<Option<String>> {
    let mut script = format!(
        "set -e; dest={}; dir=$(dirname -- \"$dest\"); t=$(mktemp \"$dir/.drover-tmp.XXXXXXXX\"); trap 'rm -f \"$t\"' EXIT; cat >\"$t\"; \
         if [ -e \"$dest\" ]; then chmod --reference=\"$dest\" \"$t\"; chown --reference=\"$dest\" \"$t\" 2>/dev/null || true; \
         else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$t\"; fi; ",
        quote(dest)
    );
    if let Some(m) = &attrs.mode {
        script.push_str(&format!("chmod {} \"$t\"; ", quote(m)));
    }
    match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => {
            script.push_str(&format!("chown {} \"$t\"; ", quote(&format!("{o}:{g}"))))
        }
        (Some(o), None) => script.push_str(&format!("chown {} \"$t\"; ", quote(o))),
        (None, Some(g)) => script.push_str(&format!("chgrp {} \"$t\"; ", quote(g))),
        (None, None) => {}
    }
    if attrs.backup {
        script.push_str(
            "if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$dest\" \"$b\"; printf '%s' \"$b\"; fi; ",
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
