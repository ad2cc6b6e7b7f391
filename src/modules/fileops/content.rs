//! The content write shared by `copy` and `template`, on the module contract: what to observe
//! (the destination, the file inside it when it is a directory, its parent), a second look at
//! the old content when a diff shows it, the pure decision, and the steps.

use super::*;
use crate::modules::contract::{Content, Done, Failure, Observe, Observed, Outcome, Script, Step};

/// One file to put on the host, as `copy` (content or a single source file) and `template`
/// describe it.
#[derive(Clone, Debug)]
pub struct ContentWrite {
    /// `dest` as given (`~` expanded); a trailing `/` means "into this directory".
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
    /// The run shows diffs.
    pub diff: bool,
    /// The content came out of a vault: no diff shows it.
    pub secret: bool,
}

/// A decided content write.
#[derive(Clone, Debug)]
pub struct ContentChange {
    path: String,
    payload: Payload,
    mkdirs: Option<Script>,
    write: Option<PutOpts>,
    attrs: Option<AttrChange>,
}

/// Where the write goes and what it comes to, from the probe.
struct Located {
    path: String,
    nofollow: FileState,
    target: FileState,
    write_path: String,
    want: AttrWant,
    pending: Option<Failure>,
    decision: FileDecision,
}

impl ContentWrite {
    fn first(&self) -> String {
        dest_for_file(&self.dest, self.basename.as_deref().unwrap_or_default())
    }

    /// The destination, the file of that name inside it (only when it is a directory) and
    /// its parent (only when nothing is at it), with owner and group.
    pub fn observe(&self) -> Observe {
        let first = self.first();
        let inner = join(&first, self.basename.as_deref().unwrap_or_default());
        let req = ProbeReq {
            items: vec![
                ProbeItem::new(&first, false).sum(Alg::Sha1),
                ProbeItem::new(&first, true).sum(Alg::Sha1),
                ProbeItem::new(&inner, false)
                    .sum(Alg::Sha1)
                    .when(ProbeCond::IsDir(first.clone())),
                ProbeItem::new(&inner, true)
                    .sum(Alg::Sha1)
                    .when(ProbeCond::IsDir(first.clone())),
                ProbeItem::new(dirname(&first), true).when(ProbeCond::Missing(first.clone())),
            ],
            owner: self.owner.clone(),
            group: self.group.clone(),
            times: Vec::new(),
        };
        Observe {
            files: Some(req),
            ..Observe::default()
        }
    }

    fn locate(&self, probe: &Probe) -> Result<Located> {
        if self.dest.ends_with('/') && self.content_mode {
            return Err(fail("can not use content with a dir as dest"));
        }
        let base = self.basename.clone().unwrap_or_default();
        let first = self.first();
        let s = &probe.states;
        let (path, nofollow, target) = if s[1].is_dir() {
            if self.content_mode {
                return Err(fail("can not use content with a dir as dest"));
            }
            if base.is_empty() {
                return Err(fail(format!("destination {first} is a directory")));
            }
            (join(&first, &base), s[2].clone(), s[3].clone())
        } else {
            (first, s[0].clone(), s[1].clone())
        };
        if target.is_dir() {
            return Err(fail(format!("destination {path} is a directory")));
        }
        let (want, pending) = AttrWant::resolve(
            self.mode.clone(),
            self.owner.as_deref(),
            self.group.as_deref(),
            probe,
        );
        let checksum = self.payload.checksum();
        let decision = decide_file(
            &nofollow,
            &target,
            &checksum,
            &want,
            probe,
            self.force,
            self.follow,
        )?;
        // Writing through a followed link writes its target.
        let write_path = match (&nofollow.link_source, self.follow && nofollow.is_link()) {
            (Some(real), true) if target.exists => real.clone(),
            _ => path.clone(),
        };
        Ok(Located {
            path,
            nofollow,
            target,
            write_path,
            want,
            pending,
            decision,
        })
    }

    /// The old content, when a write will replace it and the diff shows it.
    pub fn diff_look(&self, seen: &Observed) -> Option<Observe> {
        if !self.diff || self.secret {
            return None;
        }
        let at = self.locate(&seen.files).ok()?;
        let shows = matches!(at.decision, FileDecision::Write(_))
            && at.target.is_reg()
            && at.target.readable
            && !matches!(self.payload, Payload::Remote { .. });
        shows.then(|| Observe {
            heads: vec![at.write_path],
            ..Observe::default()
        })
    }

    /// The further look a content write takes, once: the old content for a diff.
    pub fn next_look(&self, seen: &Observed) -> Option<Observe> {
        seen.more.is_empty().then(|| self.diff_look(seen)).flatten()
    }

    /// The decision from all that was seen (the old content from `next_look`).
    pub fn decide_seen(&self, seen: &Observed) -> Outcome<ContentChange> {
        self.decide(&seen.files, seen.more.first().and_then(|m| m.heads.first()))
    }

    /// The decision, the result as predicted, the diff. `before`: the old content's first
    /// bytes, from `diff_look`.
    pub fn decide(&self, probe: &Probe, before: Option<&Content>) -> Outcome<ContentChange> {
        match self.decide_inner(probe, before) {
            Ok(o) => o,
            Err(e) => Outcome::Fail(Failure::from_error(e)),
        }
    }

    fn decide_inner(
        &self,
        probe: &Probe,
        before: Option<&Content>,
    ) -> Result<Outcome<ContentChange>> {
        let at = self.locate(probe)?;
        let Located {
            path,
            nofollow,
            target,
            write_path,
            want,
            mut pending,
            decision,
        } = at;
        let mut mkdirs = None;
        let mut note: Option<String> = None;
        let parent_exists = probe.states[4].is_dir() || probe.states[1].is_dir();
        if !nofollow.exists && !parent_exists {
            if self.dest.ends_with('/') {
                let dmode = match &self.directory_mode {
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
            } else {
                // An earlier task of the same run may be what creates the directory: a
                // prediction assumes so, and says it; a real run fails.
                note = Some(format!(
                    "Destination directory {} does not exist yet; check mode assumes an earlier task creates it",
                    dirname(&path)
                ));
                pending = pending.or(Some(Failure::new(format!(
                    "Destination directory {} does not exist",
                    dirname(&path)
                ))));
            }
        }
        let checksum = self.payload.checksum();
        let mut plan = Plan::unchanged();
        plan.secret = self.secret;
        let change = match decision {
            FileDecision::Keep => {
                plan = plan.with_value("dest", self.dest.as_str());
                if let Some(src) = &self.src_label {
                    plan = plan.with_value("src", src.as_str());
                }
                return Ok(Outcome::Unchanged(plan));
            }
            FileDecision::Write(fin) => {
                // The writer keeps an existing file's mode and gives a new one 0666 & ~umask,
                // so only an explicit mode is passed on.
                let opts = PutOpts {
                    mode: want.mode.is_some().then_some(fin.mode),
                    owner: want.owner.as_ref().map(|o| o.id),
                    group: want.group.as_ref().map(|g| g.id),
                    backup: self.backup,
                    validate: self.validate.clone(),
                };
                let old = match before {
                    Some(Content::Bytes(b)) => b.as_slice(),
                    _ => &[],
                };
                let after_header = self.src_label.clone().unwrap_or(self.after_header.clone());
                match &self.payload {
                    Payload::LocalFile { md5, size, .. } => {
                        if self.diff {
                            let mut d = text_diff(Some(old), b"", &write_path, &after_header);
                            d.after = format!("(file of {size} bytes: content not shown)\n");
                            plan = plan.with_diff(d);
                        }
                        plan = plan.with_value("md5sum", md5.as_str());
                    }
                    Payload::Bytes(data) => {
                        if self.diff {
                            plan = plan.with_diff(text_diff(
                                Some(old),
                                data,
                                &write_path,
                                &after_header,
                            ));
                        }
                        plan = plan.with_value("md5sum", md5_hex(data));
                    }
                    Payload::Remote { .. } => {}
                }
                plan = with_info(plan, &write_path, &fin, self.payload.size());
                Some(ContentChange {
                    path: write_path.clone(),
                    payload: self.payload.clone(),
                    mkdirs,
                    write: Some(opts),
                    attrs: None,
                })
            }
            FileDecision::Attrs(change, fin) => {
                let c = if change.is_empty() && mkdirs.is_none() {
                    None
                } else {
                    let mut b = DiffMap::new();
                    let mut a = DiffMap::new();
                    b.insert("path".into(), write_path.clone().into());
                    a.insert("path".into(), write_path.clone().into());
                    change.add_to(&mut b, &mut a);
                    plan = plan.with_diff(dict_diff(&b, &a));
                    Some(ContentChange {
                        path: write_path.clone(),
                        payload: self.payload.clone(),
                        mkdirs,
                        write: None,
                        attrs: Some(change),
                    })
                };
                plan = with_info(plan, &write_path, &fin, target.size);
                c
            }
        };
        plan = plan
            .with_value("dest", write_path.as_str())
            .with_value("checksum", checksum);
        if let Some(src) = &self.src_label {
            plan = plan.with_value("src", src.as_str());
        }
        if let Some(note) = note {
            plan = plan.with_msg(note);
        }
        Ok(match change {
            Some(change) => Outcome::Change {
                change,
                report: plan,
                pending,
            },
            None => Outcome::Unchanged(plan),
        })
    }
}

/// The steps of a content write: the destination's directories, the write, the attributes.
pub fn content_steps(c: &ContentChange) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(script) = &c.mkdirs {
        steps.push(Step::Run {
            what: "creating the destination directory",
            script: script.clone(),
        });
    }
    if let Some(opts) = &c.write {
        steps.push(Step::Put {
            path: c.path.clone(),
            payload: c.payload.clone(),
            opts: opts.clone(),
        });
    }
    if let Some(change) = &c.attrs {
        steps.push(Step::Attrs {
            path: c.path.clone(),
            change: change.clone(),
        });
    }
    steps
}

/// The result of a content write: the backup it made.
pub fn content_finish(done: &Done, report: Plan) -> Plan {
    match done.backup() {
        Some(b) => report.with_value("backup_file", b),
        None => report,
    }
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
