//! Attributes: the owner, group and mode a task wants, their change and its diff.

use super::*;
use crate::modules::contract::{Failure, Script};

/// The ownership and mode a task asks for (Ansible's file common arguments).
#[derive(Clone, Debug, Default)]
pub struct AttrWant {
    pub mode: Option<String>,
    pub owner: Option<Ident>,
    pub group: Option<Ident>,
}

/// Attribute changes on one path: `(before, after)` pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttrChange {
    pub owner: Option<(u32, u32)>,
    pub group: Option<(u32, u32)>,
    pub mode: Option<(u32, u32)>,
}

/// The owner, group and mode a path ends up with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinalAttrs {
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub mode: u32,
}

impl AttrWant {
    /// The attributes asked for, resolved by the probe, without a check flag: an owner or
    /// group the host does not know yet is taken to be one an earlier task would create (what
    /// check mode predicts), and the failure a real run reports comes back with it.
    pub fn resolve(
        mode: Option<String>,
        owner: Option<&str>,
        group: Option<&str>,
        probe: &Probe,
    ) -> (AttrWant, Option<Failure>) {
        let mut pending = None;
        let owner = owner.map(|name| {
            probe.owner.clone().unwrap_or_else(|| {
                pending.get_or_insert_with(|| {
                    Failure::new(format!("chown failed: failed to look up user {name}"))
                });
                not_yet(name)
            })
        });
        let group = group.map(|name| {
            probe.group.clone().unwrap_or_else(|| {
                pending.get_or_insert_with(|| {
                    Failure::new(format!("chgrp failed: failed to look up group {name}"))
                });
                not_yet(name)
            })
        });
        (AttrWant { mode, owner, group }, pending)
    }

    /// What must change on an existing path. Symlinks not followed keep their mode (Linux has
    /// no lchmod).
    pub fn changes(&self, st: &FileState, umask: u32) -> Result<AttrChange> {
        let mut c = AttrChange::default();
        if let Some(o) = &self.owner {
            if o.id != st.uid {
                c.owner = Some((st.uid, o.id));
            }
        }
        if let Some(g) = &self.group {
            if g.id != st.gid {
                c.group = Some((st.gid, g.id));
            }
        }
        if let Some(m) = &self.mode {
            if !st.is_link() {
                let new = resolve_mode(m, st.perm(), st.is_dir(), umask)?;
                if new != st.perm() {
                    c.mode = Some((st.perm(), new));
                }
            }
        }
        Ok(c)
    }

    /// The attributes an existing path ends up with.
    pub fn final_for(&self, st: &FileState, umask: u32) -> Result<FinalAttrs> {
        let mode = match &self.mode {
            Some(m) if !st.is_link() => resolve_mode(m, st.perm(), st.is_dir(), umask)?,
            _ => st.perm(),
        };
        Ok(FinalAttrs {
            uid: self.owner.as_ref().map_or(st.uid, |o| o.id),
            gid: self.group.as_ref().map_or(st.gid, |g| g.id),
            owner: self
                .owner
                .as_ref()
                .map_or(st.owner.clone(), |o| o.name.clone()),
            group: self
                .group
                .as_ref()
                .map_or(st.group.clone(), |g| g.name.clone()),
            mode,
        })
    }

    /// The attributes a path created now ends up with (`mode_override` replaces the mode
    /// argument, e.g. `directory_mode`).
    pub fn final_new(&self, probe: &Probe, is_dir: bool) -> Result<FinalAttrs> {
        let base = new_mode(is_dir, probe.umask);
        let mode = match &self.mode {
            Some(m) => resolve_mode(m, base, is_dir, probe.umask)?,
            None => base,
        };
        let me_u = probe.me_user.clone().unwrap_or(Ident {
            id: 0,
            name: String::new(),
        });
        let me_g = probe.me_group.clone().unwrap_or(Ident {
            id: 0,
            name: String::new(),
        });
        let u = self.owner.clone().unwrap_or(me_u);
        let g = self.group.clone().unwrap_or(me_g);
        Ok(FinalAttrs {
            uid: u.id,
            gid: g.id,
            owner: u.name,
            group: g.name,
            mode,
        })
    }

    /// This want with a different mode argument.
    pub fn with_mode(&self, mode: Option<String>) -> AttrWant {
        AttrWant {
            mode,
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }
}

impl AttrChange {
    pub fn is_empty(&self) -> bool {
        self.owner.is_none() && self.group.is_none() && self.mode.is_none()
    }

    /// The change on `path` (links followed) as a script: one `chown`/`chgrp`, one `chmod`.
    pub fn to_script(&self, path: &str) -> Script {
        self.script(path, false)
    }

    /// The change on `path`; `no_deref` changes a symlink itself (`chown -h`).
    pub fn script(&self, path: &str, no_deref: bool) -> Script {
        let mut s = Script::new();
        if let Some((cmd, who)) = chown_ids(self.owner.map(|o| o.1), self.group.map(|g| g.1)) {
            s = s.raw(cmd);
            if no_deref {
                s = s.raw(" -h");
            }
            s = s.arg(&who).raw(" --").arg(path).raw("\n");
        }
        if let Some((_, m)) = self.mode {
            s = s
                .raw("chmod")
                .arg(&format!("{m:04o}"))
                .raw(" --")
                .arg(path)
                .raw("\n");
        }
        s
    }

    /// Adds the before/after entries to a file-module style diff.
    pub fn add_to(&self, before: &mut DiffMap, after: &mut DiffMap) {
        if let Some((b, a)) = self.owner {
            before.insert("owner".into(), b.into());
            after.insert("owner".into(), a.into());
        }
        if let Some((b, a)) = self.group {
            before.insert("group".into(), b.into());
            after.insert("group".into(), a.into());
        }
        if let Some((b, a)) = self.mode {
            before.insert("mode".into(), fmt_mode(b).into());
            after.insert("mode".into(), fmt_mode(a).into());
        }
    }
}

/// The command that sets owner and/or group ids (`chown u:g`, `chown u`, `chgrp g`) and its
/// operand, unquoted (the `Script` quotes it).
fn chown_ids(owner: Option<u32>, group: Option<u32>) -> Option<(&'static str, String)> {
    match (owner, group) {
        (Some(u), Some(g)) => Some(("chown", format!("{u}:{g}"))),
        (Some(u), None) => Some(("chown", u.to_string())),
        (None, Some(g)) => Some(("chgrp", g.to_string())),
        (None, None) => None,
    }
}

/// Shell commands creating `path` and its missing parents, giving each new directory `mode`,
/// owner and group (Ansible's `file state=directory` and `copy`'s makedirs).
pub fn mkdirs_script(
    path: &str,
    mode: Option<u32>,
    owner: Option<u32>,
    group: Option<u32>,
) -> Script {
    let mut comps = ancestors(path);
    comps.push(path.trim_end_matches('/').to_string());
    let mut s = Script::new();
    for c in comps.iter().filter(|c| !c.is_empty()) {
        // The mode at creation (`mkdir -m`, no umask) unless special bits must come after
        // the ownership change; owner and group in one `chown`.
        let (at_creation, after) = match mode {
            Some(m) if m & 0o7000 == 0 => (Some(m), None),
            m => (None, m),
        };
        s = s.raw("if [ ! -d").arg(c).raw(" ]; then mkdir");
        if let Some(m) = at_creation {
            s = s.raw(" -m").arg(&format!("{m:04o}"));
        }
        s = s.raw(" --").arg(c).raw("; ");
        if let Some((cmd, who)) = chown_ids(owner, group) {
            s = s.raw(cmd).arg(&who).raw(" --").arg(c).raw("; ");
        }
        if let Some(m) = after {
            s = s
                .raw("chmod")
                .arg(&format!("{m:04o}"))
                .raw(" --")
                .arg(c)
                .raw("; ");
        }
        s = s.raw("fi\n");
    }
    s
}

/// Runs a `set -e` script of planned changes; a failure fails the task with its stderr.
pub fn run_script(ctx: &mut ModuleCtx, what: &str, script: &str) -> Result<()> {
    if script.trim().is_empty() {
        return Ok(());
    }
    let out = ctx.run(&format!("set -e\n{script}"))?;
    if out.rc != 0 {
        return Err(fail(format!("{what} failed: {}", out.stderr_str().trim())));
    }
    Ok(())
}
