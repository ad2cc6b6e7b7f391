//! `copy`: put `content`, a controller file or directory tree (`src`, found in `files/`), or a
//! file or tree already on the host (`remote_src`) at `dest`. Single files go through the
//! content-write path shared with `template` (`fileops::plan_content`); trees are planned
//! here: one probe for every destination path, then writes, directories and links.
//!
//! Files: `walk.rs` (source trees), `tree.rs` (planning and applying a tree), `pyjson.rs`
//! (structured content), this file (arguments, sources, plan, apply).

use super::fileops::{
    self, fail, new_mode, resolve_mode, AttrChange, AttrWant, ContentWrite, FileDecision,
    FileState, Payload, ProbeItem, ProbeReq, PutOpts,
};
use super::{Args, Module, ModuleCtx, Plan, Spec};
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

impl Module for Copy {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "copy"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        plan(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        if plan.work.as_ref().is_some_and(|w| w.is::<TreeWork>()) {
            let work: TreeWork = plan.take_work()?;
            apply_tree(ctx, work)?;
            return Ok(plan);
        }
        fileops::apply_content(ctx, plan)
    }
}

/// Where the bytes come from, resolved.
enum Source {
    Content(Vec<u8>),
    LocalFile(PathBuf),
    LocalDir(PathBuf),
    RemoteFile(Box<FileState>),
    RemoteDir(String),
}

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let src = args.str("src").filter(|s| !s.is_empty());
    let content = args.get("content").cloned();
    // A bare file name is relative to the remote working directory (Ansible's `./` prefix).
    let dest = args.str("dest").filter(|d| !d.is_empty()).map(|d| {
        if d.contains('/') {
            d
        } else {
            format!("./{d}")
        }
    });
    let remote_src = args.bool_or("remote_src", false)?;
    let force = args.bool_or("force", true)?;
    let follow = args.bool_or("follow", false)?;
    let local_follow = args.bool_or("local_follow", true)?;
    let backup = args.bool_or("backup", false)?;
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
    // Vault-encrypted controller files are decrypted unless `decrypt: false` (Ansible's).
    let decrypt = args.bool_or("decrypt", true)?;

    let source = match (&content, &src) {
        (Some(c), _) => Source::Content(content_bytes(c)),
        (None, Some(s)) if remote_src => {
            let path = fileops::expand_home(ctx, s)?;
            let req = ProbeReq {
                items: vec![ProbeItem::new(&path, true).sum(fileops::Alg::Sha1)],
                ..ProbeReq::default()
            };
            let st = fileops::probe(ctx, &req)?
                .states
                .into_iter()
                .next()
                .unwrap_or_default();
            if !st.exists {
                return Err(fail(format!("Source {path} not found")));
            }
            if !st.readable {
                return Err(fail(format!("Source {path} not readable")));
            }
            if st.is_dir() {
                Source::RemoteDir(path)
            } else if st.is_reg() {
                Source::RemoteFile(Box::new(st))
            } else {
                return Err(fail(format!(
                    "Cannot copy invalid source '{path}': not a file"
                )));
            }
        }
        (None, Some(s)) => match ctx.paths.find("files", s) {
            Some(p) if p.is_dir() => Source::LocalDir(p),
            Some(p) => Source::LocalFile(p),
            None => return Err(fail(not_found(ctx, s))),
        },
        (None, None) => return Err(fail("src (or content) is required")),
    };

    let single = |payload: Payload,
                  label: Option<String>,
                  base: Option<String>,
                  mode: Option<String>| ContentWrite {
        dest: dest.clone(),
        payload,
        src_label: label,
        basename: base,
        content_mode: content.is_some(),
        mode,
        owner: args.str("owner"),
        group: args.str("group"),
        directory_mode: args.str("directory_mode"),
        force,
        backup,
        follow,
        validate: args.str("validate"),
        after_header: dest.clone(),
    };
    let expected = args.str("checksum");
    let check_sum = |sum: &str| -> Result<()> {
        match &expected {
            Some(e) if e != sum => Err(fileops::fail_with(
                "Copied file does not match the expected checksum. Transfer failed.",
                vec![
                    ("checksum".into(), Value::from(sum)),
                    ("expected_checksum".into(), Value::from(e.as_str())),
                ],
            )),
            _ => Ok(()),
        }
    };
    match source {
        Source::Content(bytes) => {
            check_sum(&fileops::sha1_hex(&bytes))?;
            let mode = if preserve { None } else { mode_arg };
            fileops::plan_content(ctx, single(Payload::Bytes(bytes), None, None, mode))
        }
        Source::LocalFile(p) => {
            let (payload, secret) = super::transfer::local_source(&p, decrypt)?;
            check_sum(&payload.checksum())?;
            let mode = if preserve {
                Some(fileops::fmt_mode(local_mode(&p)))
            } else {
                mode_arg
            };
            let base = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let label = p.to_string_lossy().into_owned();
            let mut plan = fileops::plan_content(ctx, single(payload, Some(label), base, mode))?;
            plan.secret = secret;
            Ok(plan)
        }
        Source::RemoteFile(st) => {
            let sum = st.checksum.clone().unwrap_or_default();
            check_sum(&sum)?;
            let mode = if preserve {
                Some(fileops::fmt_mode(st.perm()))
            } else {
                mode_arg
            };
            let base = Some(fileops::basename(&st.path).to_string());
            let payload = Payload::Remote {
                path: st.path.clone(),
                checksum: sum,
                size: st.size,
            };
            fileops::plan_content(ctx, single(payload, Some(st.path.clone()), base, mode))
        }
        Source::LocalDir(p) => {
            let trailing = src.as_deref().is_some_and(|s| s.ends_with('/'));
            let entries = walk_local(&p, trailing, local_follow)?;
            plan_tree(
                ctx,
                args,
                &dest,
                entries,
                &p.to_string_lossy(),
                preserve,
                mode_arg,
            )
        }
        Source::RemoteDir(path) => {
            let trailing = src.as_deref().is_some_and(|s| s.ends_with('/'));
            // The module's `local_follow` has no default: only an explicit true follows links.
            let follow_links = args.has("local_follow") && local_follow;
            let entries = walk_remote(ctx, &path, trailing, follow_links)?;
            plan_tree(ctx, args, &dest, entries, &path, preserve, mode_arg)
        }
    }
}

/// The message for a source file not found on the controller, naming where it looked.
fn not_found(ctx: &ModuleCtx, src: &str) -> String {
    let mut msg =
        format!("Could not find or access '{src}' on the Ansible Controller.\nSearched in:");
    for d in &ctx.paths.dirs {
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
