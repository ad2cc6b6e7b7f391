//! Copying a tree: one probe for every destination path, a look at the old content of the
//! files a diff shows, then the writes, directories and links it comes to.

use super::*;

/// One file of a tree, with what to write.
#[derive(Clone, Debug)]
pub(super) struct TreeFile {
    pub(super) rel: String,
    /// The source's mode (what `preserve`, and a remote source, give the copy).
    pub(super) mode: u32,
    pub(super) payload: Payload,
    /// Decrypted from a vault: no diff shows it.
    pub(super) secret: bool,
    /// The source, as the diff's after-header.
    pub(super) label: String,
}

/// A tree copy, typed.
#[derive(Clone, Debug)]
pub struct TreeTask {
    /// The destination directory, `~` expanded, with a trailing `/`.
    pub(super) dest: String,
    pub(super) root: Option<String>,
    pub(super) files: Vec<TreeFile>,
    pub(super) dirs: Vec<String>,
    /// (link target, relative destination)
    pub(super) links: Vec<(String, String)>,
    pub(super) src_label: String,
    pub(super) preserve: bool,
    pub(super) mode_arg: Option<String>,
    pub(super) remote: bool,
    pub(super) force: bool,
    pub(super) backup: bool,
    pub(super) validate: Option<String>,
    pub(super) directory_mode: Option<String>,
    pub(super) owner: Option<String>,
    pub(super) group: Option<String>,
    pub(super) diff: bool,
}

/// The changes of a tree copy, in order.
#[derive(Clone, Debug)]
pub struct TreeChange {
    mkdirs: Script,
    writes: Vec<(String, Payload, PutOpts)>,
    after: Script,
}

impl TreeTask {
    /// Every directory that must exist: dest's ancestors, dest, and the tree's directories;
    /// how many of them are ancestors.
    fn dir_paths(&self) -> (Vec<String>, usize) {
        let top = self.dest.trim_end_matches('/');
        let mut dirs: Vec<String> = fileops::ancestors(&format!("{top}/x"));
        if let Some(root) = &self.root {
            dirs.push(format!("{}{root}", self.dest));
        }
        let n_anc = dirs.len();
        dirs.extend(self.dirs.iter().map(|d| format!("{}{d}", self.dest)));
        (dirs, n_anc)
    }

    pub(super) fn observe(&self) -> Observe {
        let (dirs, _) = self.dir_paths();
        let mut items: Vec<ProbeItem> = dirs.iter().map(|d| ProbeItem::new(d, false)).collect();
        items.extend(self.files.iter().map(|f| {
            ProbeItem::new(format!("{}{}", self.dest, f.rel), false).sum(fileops::Alg::Sha1)
        }));
        items.extend(
            self.links
                .iter()
                .map(|(_, rel)| ProbeItem::new(format!("{}{rel}", self.dest), false)),
        );
        Observe {
            files: Some(ProbeReq {
                items,
                owner: self.owner.clone(),
                group: self.group.clone(),
                times: Vec::new(),
            }),
            ..Observe::default()
        }
    }

    /// The wanted attributes of a file.
    fn file_want(&self, want: &AttrWant, f: &TreeFile) -> AttrWant {
        want.with_mode(
            if self.preserve || (self.mode_arg.is_none() && self.remote) {
                Some(fileops::fmt_mode(f.mode))
            } else {
                self.mode_arg.clone()
            },
        )
    }

    /// The files a write replaces whose old content a diff shows.
    fn diffed(&self, probe: &Probe) -> Vec<String> {
        if !self.diff {
            return Vec::new();
        }
        let (dirs, _) = self.dir_paths();
        let states = &probe.states[dirs.len()..];
        let (want, _) =
            AttrWant::resolve(None, self.owner.as_deref(), self.group.as_deref(), probe);
        self.files
            .iter()
            .zip(states)
            .filter(|(f, st)| {
                !f.secret && matches!(f.payload, Payload::Bytes(_)) && st.is_reg() && st.readable
            })
            .filter(|(f, st)| {
                let fw = self.file_want(&want, f);
                let sum = f.payload.checksum();
                matches!(
                    fileops::decide_file(st, st, &sum, &fw, probe, self.force, false),
                    Ok(FileDecision::Write(_))
                )
            })
            .map(|(f, _)| format!("{}{}", self.dest, f.rel))
            .collect()
    }

    /// The old content of the files a diff shows.
    pub(super) fn diff_look(&self, probe: &Probe) -> Option<Observe> {
        let heads = self.diffed(probe);
        (!heads.is_empty()).then(|| Observe {
            heads,
            ..Observe::default()
        })
    }

    pub(super) fn decide(&self, probe: &Probe, heads: &[Content]) -> Outcome<TreeChange> {
        match self.decide_inner(probe, heads) {
            Ok(o) => o,
            Err(e) => Outcome::Fail(Failure::from_error(e)),
        }
    }

    fn decide_inner(&self, probe: &Probe, heads: &[Content]) -> Result<Outcome<TreeChange>> {
        let dest = &self.dest;
        let (dir_paths, n_anc) = self.dir_paths();
        let olds: std::collections::HashMap<String, &Content> =
            self.diffed(probe).into_iter().zip(heads).collect();
        let (want, pending) =
            AttrWant::resolve(None, self.owner.as_deref(), self.group.as_deref(), probe);
        let dwant = want.with_mode(self.directory_mode.clone());
        let (dir_states, rest) = probe.states.split_at(dir_paths.len());
        let (file_states, link_states) = rest.split_at(self.files.len());
        let umask = probe.umask;
        let new_dir_mode = match &self.directory_mode {
            Some(m) => Some(resolve_mode(m, new_mode(true, umask), true, umask)?),
            None => None,
        };
        let mut changed = false;
        let mut mkdirs = Script::new();
        let mut after = Script::new();
        for (i, (path, st)) in dir_paths.iter().zip(dir_states).enumerate() {
            if !st.exists {
                changed = true;
                mkdirs.push(fileops::mkdirs_script(
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
            } else if i >= n_anc {
                let c = dwant.changes(st, umask)?;
                if !c.is_empty() {
                    changed = true;
                    after.push(c.script(path, false));
                }
            }
        }
        let mut writes = Vec::new();
        let mut diffs = Vec::new();
        for (f, st) in self.files.iter().zip(file_states) {
            let path = format!("{dest}{}", f.rel);
            if st.is_dir() {
                return Err(fail(format!("destination {path} is a directory")));
            }
            let fwant = self.file_want(&want, f);
            let target = if st.is_link() {
                FileState::default()
            } else {
                st.clone()
            };
            let sum = f.payload.checksum();
            match fileops::decide_file(st, &target, &sum, &fwant, probe, self.force, false)? {
                FileDecision::Keep => {}
                FileDecision::Attrs(c, _) => {
                    if !c.is_empty() {
                        changed = true;
                        after.push(c.script(&path, false));
                    }
                }
                FileDecision::Write(fin) => {
                    changed = true;
                    if let (true, false, Payload::Bytes(d)) = (self.diff, f.secret, &f.payload) {
                        let before = match olds.get(&path) {
                            Some(Content::Bytes(b)) => b.as_slice(),
                            _ => &[],
                        };
                        diffs.push(fileops::text_diff(Some(before), d, &path, &f.label));
                    }
                    let opts = PutOpts {
                        mode: Some(fin.mode),
                        owner: want.owner.as_ref().map(|o| o.id),
                        group: want.group.as_ref().map(|g| g.id),
                        backup: self.backup,
                        validate: self.validate.clone(),
                    };
                    writes.push((path, f.payload.clone(), opts));
                }
            }
        }
        for ((target, rel), st) in self.links.iter().zip(link_states) {
            let path = format!("{dest}{rel}");
            if st.is_link() && st.link_target.as_deref() == Some(target.as_str()) {
                let c = want.changes(st, umask)?;
                if !c.is_empty() {
                    changed = true;
                    after.push(c.script(&path, true));
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
                let tmp = format!(
                    "{}/.drover-ln.{}",
                    fileops::dirname(&path),
                    std::process::id()
                );
                after.push(
                    Script::new()
                        .cmd("ln -s --", [target.as_str(), &tmp])
                        .cmd("mv -fT --", [tmp.as_str(), &path]),
                );
            } else {
                after.push(Script::new().cmd("ln -s --", [target.as_str(), &path]));
            }
            let c = AttrChange {
                owner: want.owner.as_ref().map(|o| (0, o.id)),
                group: want.group.as_ref().map(|g| (0, g.id)),
                mode: None,
            };
            after.push(c.script(&path, true));
        }
        let mut report = Plan::unchanged();
        for d in diffs {
            report = report.with_diff(d);
        }
        report = report
            .with_value("dest", dest.as_str())
            .with_value("src", self.src_label.as_str());
        if !changed {
            return Ok(Outcome::Unchanged(report));
        }
        let change = TreeChange {
            mkdirs,
            writes,
            after,
        };
        Ok(Outcome::Change {
            change,
            report,
            pending,
        })
    }
}

/// The steps of a tree copy: directories, writes, then attributes and links.
pub(super) fn tree_steps(c: &TreeChange) -> Vec<Step> {
    let mut steps = Vec::new();
    if !c.mkdirs.is_empty() {
        steps.push(Step::Run {
            what: "creating directories",
            script: c.mkdirs.clone(),
        });
    }
    for (path, payload, opts) in &c.writes {
        steps.push(Step::Put {
            path: path.clone(),
            payload: payload.clone(),
            opts: opts.clone(),
        });
    }
    if !c.after.is_empty() {
        steps.push(Step::Run {
            what: "setting attributes and links",
            script: c.after.clone(),
        });
    }
    steps
}
