//! What one `file` task works with (`Env`: the arguments read, the probe, the wanted
//! attributes) and what it comes to (`Decided`: the script, the diff, the values).

use super::*;

/// The decided outcome: what to run and what to report.
#[derive(Default)]
pub(super) struct Decided {
    /// `path` for most states, `dest` for touch/link/hard (as Ansible).
    pub(super) key: &'static str,
    pub(super) path: String,
    pub(super) changed: bool,
    pub(super) before: DiffMap,
    pub(super) after: DiffMap,
    pub(super) script: Script,
    /// The path whose lstat is reported after the change, and its predicted state.
    pub(super) info: Option<FileState>,
    pub(super) extra: Vec<(String, Value)>,
    /// What a prediction assumed (a link's source an earlier task creates).
    pub(super) msg: Option<String>,
    /// The failure a real run reports instead, when the prediction rests on that assumption.
    pub(super) pending: Option<Failure>,
}

impl Decided {
    pub(super) fn new(key: &'static str, path: &str, state: &str, prev: &str) -> Decided {
        let mut o = Decided {
            key,
            path: path.to_string(),
            ..Decided::default()
        };
        o.before.insert("path".into(), json!(path));
        o.after.insert("path".into(), json!(path));
        if prev != state {
            o.before.insert("state".into(), json!(prev));
            o.after.insert("state".into(), json!(state));
        }
        o
    }
}

/// Shared inputs of the `ensure_*` functions.
pub(super) struct Env {
    pub(super) want: AttrWant,
    pub(super) umask: u32,
    pub(super) mtime: Ts,
    pub(super) atime: Ts,
    pub(super) now: f64,
    pub(super) follow: bool,
    pub(super) force: bool,
    pub(super) recurse: bool,
    pub(super) me: FileState,
}

impl Env {
    /// `set_fs_attributes_if_different` then `update_timestamp_for_file` on `st` (which
    /// exists); returns the state afterwards. `diff` false keeps the change out of the diff
    /// (recursion).
    pub(super) fn attrs_and_times(
        &self,
        st: &FileState,
        no_deref: bool,
        diff: bool,
        o: &mut Decided,
    ) -> Result<FileState> {
        let mut after = st.clone();
        let c = self.want.changes(st, self.umask)?;
        if !c.is_empty() {
            o.changed = true;
            o.script.push(c.script(&st.path, no_deref && st.is_link()));
            if diff {
                c.add_to(&mut o.before, &mut o.after);
            }
            if let Some((_, u)) = c.owner {
                after.uid = u;
                after.owner = self
                    .want
                    .owner
                    .as_ref()
                    .map_or(String::new(), |w| w.name.clone());
            }
            if let Some((_, g)) = c.group {
                after.gid = g;
                after.group = self
                    .want
                    .group
                    .as_ref()
                    .map_or(String::new(), |w| w.name.clone());
            }
            if let Some((_, m)) = c.mode {
                after.st_mode = (st.st_mode & fileops::S_IFMT) | m;
            }
        }
        self.times(st, diff, o);
        Ok(after)
    }

    pub(super) fn times(&self, st: &FileState, diff: bool, o: &mut Decided) {
        if self.mtime == Ts::Preserve && self.atime == Ts::Preserve {
            return;
        }
        let target = |t: &Ts, prev: f64| match t {
            Ts::Preserve => prev,
            Ts::Now => self.now,
            Ts::At(e, _) => *e,
        };
        let m = target(&self.mtime, st.mtime);
        let a = target(&self.atime, st.atime);
        let both_now = self.mtime == Ts::Now && self.atime == Ts::Now;
        if !both_now && m == st.mtime && a == st.atime {
            return;
        }
        o.changed = true;
        let path = st.path.as_str();
        if both_now {
            o.script.push(Script::new().cmd("touch -c --", [path]));
        } else {
            for (flag, t) in [("-m", &self.mtime), ("-a", &self.atime)] {
                let s = Script::new().raw("touch -c ").raw(flag);
                match t {
                    Ts::Preserve => {}
                    Ts::Now => o.script.push(s.raw(" --").arg(path).raw("\n")),
                    Ts::At(_, touch) => o
                        .script
                        .push(s.raw(" -t").arg(touch).raw(" --").arg(path).raw("\n")),
                }
            }
        }
        if diff {
            if m != st.mtime {
                o.before.insert("mtime".into(), json!(st.mtime));
                o.after.insert("mtime".into(), json!(m));
            }
            if a != st.atime {
                o.before.insert("atime".into(), json!(st.atime));
                o.after.insert("atime".into(), json!(a));
            }
        }
    }

    /// A path as it is right after being created by us (before attributes).
    pub(super) fn fresh(&self, path: &str, kind: u32, size: u64) -> FileState {
        let base = match kind {
            fileops::S_IFDIR => fileops::new_mode(true, self.umask),
            fileops::S_IFLNK => 0o777,
            _ => fileops::new_mode(false, self.umask),
        };
        FileState {
            path: path.to_string(),
            exists: true,
            st_mode: kind | base,
            nlink: 1,
            size,
            mtime: self.now,
            atime: self.now,
            ..self.me.clone()
        }
    }
}
