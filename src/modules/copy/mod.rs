//! `copy`: put `content`, a controller file or directory tree (`src`, found in `files/`), or a
//! file or tree already on the host (`remote_src`) at `dest`. Single files go through the
//! content-write path shared with `template` (`fileops::plan_content`); trees are planned
//! here: one probe for every destination path, then writes, directories and links.
//!
//! Files: `walk.rs` (source trees), `tree.rs` (planning and applying a tree), `pyjson.rs`
//! (structured content), this file (arguments, sources, plan, apply).

use super::contract::{
    Content, Done, Driven, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed,
};
use super::fileops::{
    self, content_finish, content_steps, fail, new_mode, resolve_mode, AttrChange, AttrWant,
    ContentChange, ContentWrite, FileDecision, FileState, Payload, Probe, ProbeItem, ProbeReq,
    PutOpts,
};
use super::{Args, Plan, SearchPaths, Spec};
use crate::shell::quote;
use anyhow::Result;
use minijinja::value::ValueKind;
use minijinja::Value;
use std::path::{Path, PathBuf};

mod pyjson;
mod tree;
mod walk;

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
        "mode",
        "owner",
        "group",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
        "attributes",
    ],
    aliases: &[("thirsty", "force"), ("attr", "attributes")],
    free_form: None,
    any_args: false,
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
            CopyArgs::One(cw) if n == 0 => cw.diff_look(seen),
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
            CopyArgs::One(cw) => return one(cw.decide(&seen.files, heads(0).first())),
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
    map_outcome(o, CopyChange::One)
}

fn tree(o: Outcome<TreeChange>) -> Outcome<CopyChange> {
    map_outcome(o, CopyChange::Tree)
}

fn map_outcome<C>(o: Outcome<C>, f: impl FnOnce(C) -> CopyChange) -> Outcome<CopyChange> {
    match o {
        Outcome::Unchanged(r) => Outcome::Unchanged(r),
        Outcome::Fail(e) => Outcome::Fail(e),
        Outcome::Change {
            change,
            report,
            pending,
        } => Outcome::Change {
            change: f(change),
            report,
            pending,
        },
    }
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

/// Reads the arguments and the controller's source (content, file or tree).
fn parse(args: &Args, host: &mut dyn Resolve) -> Result<CopyArgs> {
    let src = args.str("src").filter(|s| !s.is_empty());
    let content = args.get("content").cloned();
    let dest = args.str("dest").filter(|d| !d.is_empty()).map(|d| {
        if d.contains('/') {
            d
        } else {
            format!("./{d}")
        }
    });
    let remote_src = args.bool_or("remote_src", false)?;
    let local_follow = args.bool_or("local_follow", true)?;
    let Some(dest) = dest else {
        if src.is_none() && content.is_none() {
            return Err(fail("src (or content) is required"));
        }
        return Err(fail("dest is required"));
    };
    match (&src, &content) {
        (None, None) => return Err(fail("src (or content) is required")),
        (Some(_), Some(_)) => return Err(fail("src and content are mutually exclusive")),
        (None, Some(_)) if dest.ends_with('/') => {
            return Err(fail("can not use content with a dir as dest"))
        }
        _ => {}
    }
    let mode_arg = args.mode("mode")?;
    let preserve = mode_arg.as_deref() == Some("preserve");
    let decrypt = args.bool_or("decrypt", true)?;
    let expected = args.str("checksum");
    let dest = host.expand_path(&dest)?;
    let cw = ContentWrite {
        dest: dest.clone(),
        payload: Payload::Bytes(Vec::new()),
        src_label: None,
        basename: None,
        content_mode: content.is_some(),
        mode: mode_arg.clone(),
        owner: args.str("owner"),
        group: args.str("group"),
        directory_mode: args.str("directory_mode"),
        force: args.bool_or("force", true)?,
        backup: args.bool_or("backup", false)?,
        follow: args.bool_or("follow", false)?,
        validate: args.str("validate"),
        after_header: dest.clone(),
        diff: host.diff_mode(),
        secret: false,
    };
    let trailing = src.as_deref().is_some_and(|s| s.ends_with('/'));
    let tree = TreeTask {
        dest: if dest.ends_with('/') {
            dest.clone()
        } else {
            format!("{dest}/")
        },
        root: None,
        files: Vec::new(),
        dirs: Vec::new(),
        links: Vec::new(),
        src_label: String::new(),
        preserve,
        mode_arg: mode_arg.clone(),
        remote: remote_src,
        force: cw.force,
        backup: cw.backup,
        validate: cw.validate.clone(),
        directory_mode: args.mode("directory_mode")?,
        owner: cw.owner.clone(),
        group: cw.group.clone(),
        diff: cw.diff,
    };
    let check_sum = |sum: &str| matches_expected(&expected, sum).map_err(anyhow::Error::from);
    if let Some(c) = &content {
        let bytes = content_bytes(c);
        check_sum(&fileops::sha1_hex(&bytes))?;
        let mode = if preserve { None } else { mode_arg };
        return Ok(CopyArgs::One(Box::new(ContentWrite {
            payload: Payload::Bytes(bytes),
            mode,
            ..cw
        })));
    }
    let src = src.unwrap_or_default();
    if remote_src {
        let path = host.expand_path(&src)?;
        let follow_links = args.has("local_follow") && local_follow;
        let tree = TreeTask {
            src_label: path.clone(),
            ..tree
        };
        return Ok(CopyArgs::Remote(Box::new(RemoteCopy {
            path,
            trailing,
            follow_links,
            one: cw,
            tree,
            expected,
        })));
    }
    let found = match host.paths().find("files", &src) {
        Some(p) => p,
        None => return Err(fail(not_found(host.paths(), &src))),
    };
    if found.is_dir() {
        let entries = walk_local(&found, trailing, local_follow)?;
        let mut t = TreeTask {
            src_label: found.to_string_lossy().into_owned(),
            ..tree
        };
        fill_tree(&mut t, entries, decrypt)?;
        return Ok(CopyArgs::Tree(Box::new(t)));
    }
    let (payload, secret) = super::transfer::local_source(&found, decrypt)?;
    check_sum(&payload.checksum())?;
    let mode = if preserve {
        Some(fileops::fmt_mode(local_mode(&found)))
    } else {
        mode_arg
    };
    Ok(CopyArgs::One(Box::new(ContentWrite {
        payload,
        mode,
        basename: found.file_name().map(|n| n.to_string_lossy().into_owned()),
        src_label: Some(found.to_string_lossy().into_owned()),
        secret,
        ..cw
    })))
}

/// The tree's entries with what each file writes (controller files read here).
fn fill_tree(t: &mut TreeTask, entries: Entries, decrypt: bool) -> Result<()> {
    t.root = entries.root;
    t.dirs = entries.dirs;
    t.links = entries.links;
    t.files = entries
        .files
        .into_iter()
        .map(|(source, rel, mode)| {
            Ok(match source {
                TreeSource::Local(p) => {
                    let (payload, secret) = super::transfer::local_source(&p, decrypt)?;
                    TreeFile {
                        rel,
                        mode,
                        payload,
                        secret,
                        label: p.to_string_lossy().into_owned(),
                    }
                }
                TreeSource::Remote {
                    path,
                    checksum,
                    size,
                } => TreeFile {
                    rel,
                    mode,
                    payload: Payload::Remote {
                        path: path.clone(),
                        checksum,
                        size,
                    },
                    secret: false,
                    label: path,
                },
            })
        })
        .collect::<Result<_>>()?;
    Ok(())
}

fn not_found(paths: &SearchPaths, src: &str) -> String {
    let mut msg =
        format!("Could not find or access '{src}' on the Ansible Controller.\nSearched in:");
    for d in &paths.dirs {
        msg.push_str(&format!(
            "\n\t{}\n\t{}",
            d.join("files").join(src).display(),
            d.join(src).display()
        ));
    }
    msg
}

fn local_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644)
}

/// `content` as bytes: strings as they are; mappings and lists as Python's `json.dumps`.
fn content_bytes(v: &Value) -> Vec<u8> {
    match v.kind() {
        // `!!binary` content: the bytes themselves, whatever they are.
        ValueKind::Bytes => v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
        ValueKind::Map | ValueKind::Seq => py_json(v).into_bytes(),
        _ => match v.as_str() {
            Some(s) => s.as_bytes().to_vec(),
            None if v.kind() == ValueKind::Bool => {
                if v.is_true() { "True" } else { "False" }.into()
            }
            None if v.is_none() => b"None".to_vec(),
            None => v.to_string().into_bytes(),
        },
    }
}

#[cfg(test)]
mod tests;
