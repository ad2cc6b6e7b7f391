//! `copy`: put `content`, a controller file or directory tree (`src`, found in `files/`), or a
//! file or tree already on the host (`remote_src`) at `dest`. Single files go through the
//! content write shared with `template` (`fileops::ContentWrite`); trees through `tree.rs`:
//! one probe for every destination path, then writes, directories and links. A remote source
//! is looked at first, then its destination (or its listing, then the tree's destinations).
//!
//! Files: `args.rs` (arguments and the controller's sources), `walk.rs` (source trees),
//! `tree.rs` (deciding a tree), `pyjson.rs` (structured content), this file (the module on
//! the contract).

use super::contract::{
    Content, Done, Driven, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed,
};
use super::fileops::{
    self, content_finish, content_steps, fail, new_mode, resolve_mode, AttrChange, AttrWant,
    ContentChange, ContentWrite, FileDecision, FileState, Payload, Probe, ProbeItem, ProbeReq,
    PutOpts,
};
use super::{Args, Plan, SearchPaths, Spec};
use anyhow::Result;
use minijinja::value::ValueKind;
use minijinja::Value;
use std::path::{Path, PathBuf};

mod args;
pub(super) mod pyjson;
mod tree;
mod walk;

use args::*;
pub use pyjson::*;
use tree::*;
use walk::*;

pub struct Copy;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "content",
        "dest",
        "backup",
        "force",
        "validate",
        "directory_mode",
        "remote_src",
        "local_follow",
        "checksum",
        "follow",
        "decrypt",
    ],
    aliases: &[("thirsty", "force")],
    free_form: None,
    any_args: false,
    file_args: true,
};

pub static COPY: Driven<Copy> = Driven(Copy);

/// `copy`'s arguments, typed: one file (content or a controller file), a controller tree,
/// or a source on the host, whose kind the first look tells.
pub enum CopyArgs {
    One(Box<ContentWrite>),
    Tree(Box<TreeTask>),
    Remote(Box<RemoteCopy>),
}

/// A `remote_src` copy: the source is looked at first.
pub struct RemoteCopy {
    path: String,
    trailing: bool,
    follow_links: bool,
    /// The write of a single file, without its payload (known from the source's look).
    one: ContentWrite,
    /// The tree copy, without its entries (known from the listing).
    tree: TreeTask,
    expected: Option<String>,
}

/// What a copy changes.
pub enum CopyChange {
    One(ContentChange),
    Tree(TreeChange),
}

impl Typed for Copy {
    type Args = CopyArgs;
    type Change = CopyChange;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        super::fileops::content_ahead(args)
    }

    fn name(&self) -> &'static str {
        "copy"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<CopyArgs> {
        parse(args, host)
    }

    fn observe(&self, a: &CopyArgs) -> Observe {
        match a {
            CopyArgs::One(cw) => cw.observe(),
            CopyArgs::Tree(t) => t.observe(),
            CopyArgs::Remote(r) => Observe {
                files: Some(ProbeReq {
                    items: vec![ProbeItem::new(&r.path, true).sum(fileops::Alg::Sha1)],
                    ..ProbeReq::default()
                }),
                ..Observe::default()
            },
        }
    }

    fn observe_again(&self, a: &CopyArgs, seen: &Observed) -> Option<Observe> {
        let n = seen.more.len();
        match a {
            CopyArgs::One(cw) => cw.next_look(seen),
            CopyArgs::Tree(t) if n == 0 => t.diff_look(&seen.files),
            CopyArgs::Remote(r) => {
                let src = remote_source(r, seen).ok()?;
                match (src, n) {
                    (Source::RemoteFile(st), 0) => Some(remote_one(r, &st).observe()),
                    (Source::RemoteDir(path), 0) => Some(walk_observe(&path, r.follow_links)),
                    (Source::RemoteDir(_), 1) => {
                        Some(remote_tree(r, &seen.more[0]).ok()?.observe())
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn decide(&self, a: &CopyArgs, seen: &Observed) -> Outcome<CopyChange> {
        let heads = |i: usize| seen.more.get(i).map(|m| m.heads.as_slice()).unwrap_or(&[]);
        let out = match a {
            CopyArgs::One(cw) => return one(cw.decide_seen(seen)),
            CopyArgs::Tree(t) => return tree(t.decide(&seen.files, heads(0))),
            CopyArgs::Remote(r) => r,
        };
        let src = match remote_source(out, seen) {
            Ok(s) => s,
            Err(e) => return Outcome::Fail(Failure::from_error(e)),
        };
        match (src, seen.more.len()) {
            (Source::RemoteFile(st), 1) => {
                let sum = st.checksum.clone().unwrap_or_default();
                if let Err(f) = matches_expected(&out.expected, &sum) {
                    return Outcome::Fail(f);
                }
                one(remote_one(out, &st).decide(&seen.more[0].files, None))
            }
            (Source::RemoteDir(_), 2) => match remote_tree(out, &seen.more[0]) {
                Ok(t) => tree(t.decide(&seen.more[1].files, &[])),
                Err(e) => Outcome::Fail(Failure::from_error(e)),
            },
            (Source::RemoteDir(_), 1) => match remote_tree(out, &seen.more[0]) {
                Err(e) => Outcome::Fail(Failure::from_error(e)),
                Ok(_) => Outcome::Fail(Failure::new("invariant: the tree was not looked at")),
            },
            _ => Outcome::Fail(Failure::new("invariant: the destination was not looked at")),
        }
    }

    fn apply(&self, _a: &CopyArgs, c: &CopyChange) -> Vec<Step> {
        match c {
            CopyChange::One(c) => content_steps(c),
            CopyChange::Tree(t) => tree_steps(t),
        }
    }

    fn finish(&self, _a: &CopyArgs, c: &CopyChange, done: &Done, report: Plan) -> Plan {
        match c {
            CopyChange::One(_) => content_finish(done, report),
            CopyChange::Tree(_) => report,
        }
    }
}

fn one(o: Outcome<ContentChange>) -> Outcome<CopyChange> {
    o.map(CopyChange::One)
}

fn tree(o: Outcome<TreeChange>) -> Outcome<CopyChange> {
    o.map(CopyChange::Tree)
}

/// The `checksum` argument against the source's.
fn matches_expected(expected: &Option<String>, sum: &str) -> Result<(), Failure> {
    match expected {
        Some(e) if e != sum => Err(Failure::new(
            "Copied file does not match the expected checksum. Transfer failed.",
        )
        .with("checksum", sum)
        .with("expected_checksum", e.as_str())),
        _ => Ok(()),
    }
}

/// The remote source as the first look saw it.
enum Source {
    RemoteFile(Box<FileState>),
    RemoteDir(String),
}

fn remote_source(r: &RemoteCopy, seen: &Observed) -> Result<Source> {
    let st = seen.files.states.first().cloned().unwrap_or_default();
    let path = &r.path;
    if !st.exists {
        return Err(fail(format!("Source {path} not found")));
    }
    if !st.readable {
        return Err(fail(format!("Source {path} not readable")));
    }
    if st.is_dir() {
        Ok(Source::RemoteDir(path.clone()))
    } else if st.is_reg() {
        Ok(Source::RemoteFile(Box::new(st)))
    } else {
        Err(fail(format!(
            "Cannot copy invalid source '{path}': not a file"
        )))
    }
}

/// The single-file write of a remote source.
fn remote_one(r: &RemoteCopy, st: &FileState) -> ContentWrite {
    let mut cw = r.one.clone();
    if cw.mode.as_deref() == Some("preserve") {
        cw.mode = Some(fileops::fmt_mode(st.perm()));
    }
    cw.basename = Some(fileops::basename(&st.path).to_string());
    cw.src_label = Some(st.path.clone());
    cw.payload = Payload::Remote {
        path: st.path.clone(),
        checksum: st.checksum.clone().unwrap_or_default(),
        size: st.size,
    };
    cw
}

/// The tree copy of a remote source, from its listing.
fn remote_tree(r: &RemoteCopy, listing: &Observed) -> Result<TreeTask> {
    let entries = walk_parse(&r.path, r.trailing, listing)?;
    let mut t = r.tree.clone();
    fill_tree(&mut t, entries, true)?;
    Ok(t)
}

#[cfg(test)]
mod tests;
