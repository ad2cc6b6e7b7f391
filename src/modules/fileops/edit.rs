//! A text file edited in place, as `lineinfile`, `replace` and `blockinfile` do: one look (the
//! path and its link target, the owner and group ids, the content), the module computes the
//! new content, and this decides the rest the way their `check_file_attrs` does (attribute
//! changes and their message, the diffs, an atomic write to the link's target with backup and
//! validation, the parent directory of a file created).

use super::{dict_diff, dirname, AttrChange, AttrWant, DiffMap, FileState, Payload, ProbeItem};
use super::{ProbeReq, PutOpts, S_IFREG};
use crate::modules::contract::{Content, Failure, Observe, Observed, Outcome, Read, Step};
use crate::modules::{Args, Diff, Plan};
use anyhow::Result;

/// The file a module edits, and the common file arguments it takes.
#[derive(Clone, Debug, Default)]
pub struct TextEdit {
    /// The path, `~` and `$VAR` expanded on the host.
    pub path: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub backup: bool,
    pub validate: Option<String>,
    pub diff: DiffStyle,
    /// Write through a symlink to its target (else the write replaces the link with a file,
    /// as `ini_file` with `follow: false` does).
    pub follow: bool,
}

impl TextEdit {
    /// The `diff` Ansible's module returns outside diff mode: the content's headers with
    /// empty texts and (`Listed`) the attribute changes.
    fn plain_diff(&self, attrs: &AttrChange) -> Option<minijinja::Value> {
        let path = &self.path;
        let content = serde_json::json!({
            "before": "",
            "after": "",
            "before_header": format!("{path} (content)"),
            "after_header": format!("{path} (content)"),
        });
        let v = match self.diff {
            DiffStyle::Single => return None,
            DiffStyle::SingleContent => content,
            DiffStyle::Listed => {
                let header = format!("{path} (file attributes)");
                let mut a = serde_json::json!({"before_header": header, "after_header": header});
                if !attrs.is_empty() {
                    let (mut b, mut af) = (DiffMap::new(), DiffMap::new());
                    attrs.add_to(&mut b, &mut af);
                    a["before"] = serde_json::json!(b);
                    a["after"] = serde_json::json!(af);
                }
                serde_json::json!([content, a])
            }
        };
        Some(crate::template::filters::json_to_value(v))
    }

    /// The file at `path` with the common arguments read from `args`: `mode`, `owner`,
    /// `group`, `backup` and, where the module takes it, `validate` (checked for its `%s`
    /// when the file is written, as Ansible's `write_changes` does).
    pub fn from_args(args: &Args, path: String, diff: DiffStyle, follow: bool) -> Result<TextEdit> {
        Ok(TextEdit {
            path,
            mode: args.mode("mode")?,
            owner: args.str("owner"),
            group: args.str("group"),
            backup: args.bool_or("backup", false)?,
            validate: args.str("validate"),
            diff,
            follow,
        })
    }
}

/// How the result's `diff` is shaped, as each module returns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiffStyle {
    /// A list: the content (headed `PATH (content)`) and the attributes (`lineinfile`,
    /// `blockinfile`).
    #[default]
    Listed,
    /// One dict for the content, headed by the path; attributes are not shown (`replace`).
    Single,
    /// One dict for the content, headed `PATH (content)` (`ini_file`).
    SingleContent,
}

/// The file as the look found it.
pub struct Current {
    pub exists: bool,
    /// Where writes go: the link's target, as Ansible writes to `realpath(path)`.
    pub real: String,
    pub content: Vec<u8>,
}

/// A decided edit: where to write, what, and which attributes to set.
#[derive(Debug)]
pub struct EditChange {
    path: String,
    mkdir: Option<String>,
    write: Option<(Vec<u8>, PutOpts)>,
    attrs: Option<AttrChange>,
}

impl TextEdit {
    /// The path's stat (link and target), the owner and group ids, and the content.
    pub fn observe(&self) -> Observe {
        Observe {
            files: Some(ProbeReq {
                items: vec![
                    ProbeItem::new(&self.path, false),
                    ProbeItem::new(&self.path, true),
                ],
                owner: self.owner.clone(),
                group: self.group.clone(),
                times: Vec::new(),
            }),
            read: Some(Read::Path(self.path.clone())),
            ..Observe::default()
        }
    }

    /// The file as seen; a directory is Ansible's "Path ... is a directory !" (rc 256).
    pub fn current(&self, seen: &Observed) -> Result<Current, Failure> {
        let (lst, st) = (&seen.files.states[0], &seen.files.states[1]);
        let path = &self.path;
        if st.is_dir() {
            return Err(Failure::new(format!("Path {path} is a directory !")).with("rc", 256));
        }
        let real = match (&lst.link_source, lst.is_link() && self.follow) {
            (Some(r), true) => r.clone(),
            _ => path.clone(),
        };
        let content = match (&seen.content, st.exists) {
            (Content::Bytes(b), true) => b.clone(),
            (Content::Unreadable(e), true) => {
                return Err(Failure::new(format!("reading `{real}` failed: {e}")))
            }
            _ => Vec::new(),
        };
        Ok(Current {
            exists: st.exists,
            real,
            content,
        })
    }

    /// The outcome of writing `after` (`None`: the content stays) and setting the attributes
    /// asked for: `msg` is the module's message for the content change, to which "ownership,
    /// perms or SE linux context changed" is joined; `report` carries the module's own values.
    pub fn outcome(
        &self,
        seen: &Observed,
        cur: &Current,
        after: Option<Vec<u8>>,
        mut msg: String,
        report: Plan,
    ) -> Result<Outcome<EditChange>, Failure> {
        let probe = &seen.files;
        let st = &probe.states[1];
        let (want, pending) = AttrWant::resolve(
            self.mode.clone(),
            self.owner.as_deref(),
            self.group.as_deref(),
            probe,
        );
        let content_changed = after.is_some();
        // Attributes: those of the file as it will be (a new file starts at 0666 & ~umask).
        let current = if cur.exists {
            st.clone()
        } else {
            let me = AttrWant::default()
                .final_new(probe, false)
                .map_err(Failure::from_error)?;
            FileState {
                exists: true,
                st_mode: S_IFREG | me.mode,
                uid: me.uid,
                gid: me.gid,
                owner: me.owner,
                group: me.group,
                ..FileState::default()
            }
        };
        let attr_change = want
            .changes(&current, probe.umask)
            .map_err(Failure::from_error)?;
        if !attr_change.is_empty() {
            if content_changed {
                msg.push_str(" and ");
            }
            msg.push_str("ownership, perms or SE linux context changed");
        }
        let path = &self.path;
        let mut report = report;
        report.plain_diff = self.plain_diff(&attr_change);
        if let Some(after) = &after {
            let header = match self.diff {
                DiffStyle::Listed | DiffStyle::SingleContent => format!("{path} (content)"),
                DiffStyle::Single => path.clone(),
            };
            let d = Diff {
                before_header: header.clone(),
                after_header: header,
                before: String::from_utf8_lossy(&cur.content).into_owned(),
                after: String::from_utf8_lossy(after).into_owned(),
                prepared: None,
            };
            if matches!(self.diff, DiffStyle::Single | DiffStyle::SingleContent) {
                report.diff_value =
                    Some(crate::template::filters::json_to_value(serde_json::json!({
                        "before_header": d.before_header,
                        "before": d.before,
                        "after_header": d.after_header,
                        "after": d.after,
                    })));
            }
            report = report.with_diff(d);
        }
        if self.diff == DiffStyle::Listed && !attr_change.is_empty() {
            let (mut b, mut af) = (DiffMap::new(), DiffMap::new());
            attr_change.add_to(&mut b, &mut af);
            let mut d = dict_diff(&b, &af);
            d.before_header = format!("{path} (file attributes)");
            d.after_header = d.before_header.clone();
            report = report.with_diff(d);
        }
        let report = report.with_msg(msg);
        if !content_changed && attr_change.is_empty() {
            return Ok(Outcome::Unchanged(report));
        }
        let exists = cur.exists;
        let write = after.map(|after| {
            (
                after,
                // An existing file's attributes are known from the look: naming them lets the
                // temp file be created with its mode and skips a `chown` to the writer's ids.
                PutOpts {
                    mode: attr_change
                        .mode
                        .map(|m| m.1)
                        .or(exists.then_some(st.st_mode & 0o7777)),
                    owner: attr_change.owner.map(|o| o.1).or(exists.then_some(st.uid)),
                    group: attr_change.group.map(|g| g.1).or(exists.then_some(st.gid)),
                    backup: self.backup && exists,
                    validate: self.validate.clone(),
                },
            )
        });
        let attrs = (!content_changed && !attr_change.is_empty()).then(|| attr_change.clone());
        let parent = dirname(&cur.real);
        let mkdir = (!exists && !parent.is_empty()).then_some(parent);
        let change = EditChange {
            path: cur.real.clone(),
            mkdir,
            write,
            attrs,
        };
        Ok(Outcome::Change {
            change,
            report,
            pending,
        })
    }
}

impl EditChange {
    /// The parent directory, the atomic write, then the attributes the write did not set.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(dir) = &self.mkdir {
            steps.push(Step::Mkdir { path: dir.clone() });
        }
        if let Some((data, opts)) = &self.write {
            steps.push(Step::Put {
                path: self.path.clone(),
                payload: Payload::Bytes(data.clone()),
                opts: opts.clone(),
            });
        }
        if let Some(change) = &self.attrs {
            steps.push(Step::Attrs {
                path: self.path.clone(),
                change: change.clone(),
            });
        }
        steps
    }
}
