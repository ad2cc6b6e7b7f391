//! `lineinfile`: ensure one line is present (inserted or replaced) or absent in a text file.
//! On the module contract: `parse` types and checks the arguments, `observe` asks for the
//! path's stat (link and target), the owner and group ids and the file's content in one
//! round trip, `decide` computes the new content by Ansible's exact algorithm (`present` /
//! `absent` in `edit.rs`) and the attribute changes of `check_file_attrs`, and `apply` writes
//! atomically only what differs.

use super::contract::{Content, Failure, Observe, Observed, Outcome, Read, Resolve, Step, Typed};
use super::fileops::{
    self, dict_diff, AttrChange, AttrWant, DiffMap, ProbeItem, ProbeReq, PutOpts,
};
use super::{Args, Diff, Plan, Spec};
use crate::pyre::{Re as Regex, Template};
use anyhow::Result;

mod edit;
mod parse;

pub use edit::*;
pub use parse::LineArgs;

pub struct LineInFile;

pub static LINEINFILE: super::contract::Driven<LineInFile> = super::contract::Driven(LineInFile);

/// A decided change: where to write, what, and which attributes to set.
#[derive(Debug)]
pub struct Change {
    path: String,
    mkdir: Option<String>,
    write: Option<(Vec<u8>, PutOpts)>,
    attrs: Option<AttrChange>,
}

impl Typed for LineInFile {
    type Args = LineArgs;
    type Change = Change;

    fn name(&self) -> &'static str {
        "lineinfile"
    }

    fn spec(&self) -> &'static Spec {
        &parse::SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<LineArgs> {
        parse::parse(args, host)
    }

    fn observe(&self, a: &LineArgs) -> Observe {
        Observe {
            files: Some(ProbeReq {
                items: vec![
                    ProbeItem::new(&a.path, false),
                    ProbeItem::new(&a.path, true),
                ],
                owner: a.owner.clone(),
                group: a.group.clone(),
                times: Vec::new(),
            }),
            read: Some(Read::Path(a.path.clone())),
            ..Observe::default()
        }
    }

    fn decide(&self, a: &LineArgs, seen: &Observed) -> Outcome<Change> {
        match decide(a, seen) {
            Ok(o) => o,
            Err(f) => Outcome::Fail(match a.warning {
                Some(w) => f.with("warnings", vec![w]),
                None => f,
            }),
        }
    }

    fn apply(&self, _a: &LineArgs, c: &Change) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(dir) = &c.mkdir {
            steps.push(Step::Mkdir { path: dir.clone() });
        }
        if let Some((data, opts)) = &c.write {
            steps.push(Step::Put {
                path: c.path.clone(),
                payload: fileops::Payload::Bytes(data.clone()),
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

    fn finish(&self, _a: &LineArgs, _c: &Change, done: &super::contract::Done, r: Plan) -> Plan {
        r.with_value("backup", done.backup().unwrap_or_default())
    }
}

fn decide(a: &LineArgs, seen: &Observed) -> Result<Outcome<Change>, Failure> {
    let probe = &seen.files;
    let (want, pending) = AttrWant::resolve(
        a.mode.clone(),
        a.owner.as_deref(),
        a.group.as_deref(),
        probe,
    );
    let (lst, st) = (&probe.states[0], &probe.states[1]);
    let path = &a.path;
    if st.is_dir() {
        return Err(Failure::new(format!("Path {path} is a directory !")).with("rc", 256));
    }
    // Writes go to the link's target, as Ansible writes to realpath(dest).
    let real = match (&lst.link_source, lst.is_link()) {
        (Some(r), true) => r.clone(),
        _ => path.clone(),
    };
    let exists = st.exists;
    let warned = |p: Plan| match a.warning {
        Some(w) => p.with_value("warnings", vec![w]),
        None => p,
    };
    if !exists {
        if a.edit.is_absent() {
            let p = Plan::unchanged().with_msg("file not present");
            return Ok(Outcome::Unchanged(warned(
                p.with_value("found", 0).with_value("backup", ""),
            )));
        }
        if !a.create {
            return Err(
                Failure::new(format!("Destination {path} does not exist !")).with("rc", 257)
            );
        }
    }
    let before = match (&seen.content, exists) {
        (Content::Bytes(b), true) => b.clone(),
        (Content::Unreadable(e), true) => {
            return Err(Failure::new(format!("reading `{real}` failed: {e}")))
        }
        _ => Vec::new(),
    };
    let lines = split_lines(&before);
    let (new_lines, content_changed, mut msg, found) = match &a.edit {
        parse::Edit::Present(opts) => {
            let (l, c, m) = present(lines, opts);
            (l, c, m.to_string(), None)
        }
        parse::Edit::Absent(by) => {
            let (l, n) = absent(lines, by);
            let msg = if n > 0 {
                format!("{n} line(s) removed")
            } else {
                String::new()
            };
            (l, n > 0, msg, Some(n))
        }
    };
    let after: Vec<u8> = new_lines.concat();

    // Attributes: those of the file as it will be (a new file starts at 0666 & ~umask).
    let current = if exists {
        st.clone()
    } else {
        let me = AttrWant::default()
            .final_new(probe, false)
            .map_err(Failure::from_error)?;
        fileops::FileState {
            exists: true,
            st_mode: fileops::S_IFREG | me.mode,
            uid: me.uid,
            gid: me.gid,
            owner: me.owner,
            group: me.group,
            ..fileops::FileState::default()
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
    let mut report = Plan::unchanged();
    let header = format!("{path} (content)");
    if content_changed {
        report = report.with_diff(Diff {
            before_header: header.clone(),
            after_header: header,
            before: String::from_utf8_lossy(&before).into_owned(),
            after: String::from_utf8_lossy(&after).into_owned(),
        });
    }
    if !attr_change.is_empty() {
        let (mut b, mut af) = (DiffMap::new(), DiffMap::new());
        attr_change.add_to(&mut b, &mut af);
        let mut d = dict_diff(&b, &af);
        d.before_header = format!("{path} (file attributes)");
        d.after_header = d.before_header.clone();
        report = report.with_diff(d);
    }
    report = warned(report.with_msg(msg).with_value("backup", ""));
    if let Some(n) = found {
        report = report.with_value("found", n);
    }
    if !content_changed && attr_change.is_empty() {
        return Ok(Outcome::Unchanged(report));
    }
    let write = content_changed.then(|| {
        (
            after,
            // An existing file's attributes are known from the probe: naming them lets the
            // temp file be created with its mode and skips a `chown` to the writer's own ids.
            PutOpts {
                mode: attr_change
                    .mode
                    .map(|m| m.1)
                    .or(exists.then_some(st.st_mode & 0o7777)),
                owner: attr_change.owner.map(|o| o.1).or(exists.then_some(st.uid)),
                group: attr_change.group.map(|g| g.1).or(exists.then_some(st.gid)),
                backup: a.backup && exists,
                validate: a.validate.clone(),
            },
        )
    });
    let attrs = (!content_changed && !attr_change.is_empty()).then(|| attr_change.clone());
    let parent = fileops::dirname(&real);
    let mkdir = (!exists && !parent.is_empty()).then_some(parent);
    let change = Change {
        path: real,
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

#[cfg(test)]
mod tests;
