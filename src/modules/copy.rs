//! `copy`: put `content`, a controller file or directory tree (`src`, found in `files/`), or a
//! file or tree already on the host (`remote_src`) at `dest`. Single files go through the
//! content-write path shared with `template` (`fileops::plan_content`); trees are planned
//! here: one probe for every destination path, then writes, directories and links.

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

/// Python's `json.dumps` (default separators, `ensure_ascii`).
pub fn py_json(v: &Value) -> String {
    let mut out = String::new();
    py_json_into(v, &mut out);
    out
}

fn py_json_into(v: &Value, out: &mut String) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => match v.as_i64() {
            Some(i) if v.to_string() == i.to_string() => out.push_str(&i.to_string()),
            _ => {
                let f = f64::try_from(v.clone()).unwrap_or(0.0);
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                    out.push_str(&format!("{f:.1}"));
                } else {
                    out.push_str(&format!("{f}"));
                }
            }
        },
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(it) = v.try_iter() {
                for (i, item) in it.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_json_into(&item, out);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = v.try_iter() {
                for (i, k) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let key = k
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| k.to_string());
                    py_json_str(&key, out);
                    out.push_str(": ");
                    py_json_into(&v.get_item(&k).unwrap_or_default(), out);
                }
            }
            out.push('}');
        }
        _ => {
            let s = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            py_json_str(&s, out);
        }
    }
}

fn py_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The entries of a source tree, relative to the destination directory.
#[derive(Debug, Default, PartialEq)]
struct Entries {
    /// The copied directory itself (`name/`) when `src` has no trailing slash.
    root: Option<String>,
    /// (source, relative destination, mode of the source)
    files: Vec<(TreeSource, String, u32)>,
    dirs: Vec<String>,
    /// (link target, relative destination)
    links: Vec<(String, String)>,
}

impl Entries {
    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty() && self.links.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TreeSource {
    Local(PathBuf),
    Remote {
        path: String,
        checksum: String,
        size: u64,
    },
}

/// Walks a controller directory as Ansible's `_walk_dirs`: with a trailing slash the entries
/// are relative to it, else they start with its name; `local_follow` copies what links point
/// to (links back into the tree stay links).
fn walk_local(top: &Path, trailing: bool, local_follow: bool) -> Result<Entries> {
    let mut e = Entries::default();
    let prefix = if trailing {
        String::new()
    } else {
        top.file_name()
            .map(|n| format!("{}/", n.to_string_lossy()))
            .unwrap_or_default()
    };
    let mut seen = Vec::new();
    if let Ok(c) = std::fs::canonicalize(top) {
        seen.push(c);
    }
    walk_dir(top, &prefix, local_follow, &mut seen, &mut e)?;
    if !prefix.is_empty() && !e.is_empty() {
        e.root = Some(prefix.trim_end_matches('/').to_string());
    }
    // `os.walk` order (Ansible reads the files so): a directory's files before anything in
    // its subdirectories.
    e.files.sort_by(|a, b| walk_order(&a.1, &b.1));
    e.dirs.sort();
    e.links.sort();
    Ok(e)
}

/// Compares relative paths so that at the first differing component, a file (the last
/// component) comes before a directory, names comparing otherwise.
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.split('/').peekable(), b.split('/').peekable());
    loop {
        match (x.next(), y.next()) {
            (Some(p), Some(q)) if p == q => continue,
            (Some(p), Some(q)) => {
                let (pf, qf) = (x.peek().is_none(), y.peek().is_none());
                return qf.cmp(&pf).then_with(|| p.cmp(q));
            }
            (p, q) => return p.is_some().cmp(&q.is_some()),
        }
    }
}

fn walk_dir(
    dir: &Path,
    rel: &str,
    follow: bool,
    seen: &mut Vec<PathBuf>,
    e: &mut Entries,
) -> Result<()> {
    let rd = std::fs::read_dir(dir)
        .map_err(|err| fail(format!("cannot read {}: {err}", dir.display())))?;
    let mut names: Vec<_> = rd.flatten().collect();
    names.sort_by_key(|d| d.file_name());
    for ent in names {
        let p = ent.path();
        let name = format!("{rel}{}", ent.file_name().to_string_lossy());
        let lmd = std::fs::symlink_metadata(&p)
            .map_err(|err| fail(format!("cannot read {}: {err}", p.display())))?;
        if lmd.file_type().is_symlink() {
            let target = std::fs::read_link(&p)
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let real = std::fs::canonicalize(&p).ok();
            match real {
                Some(r) if follow && r.is_file() => {
                    e.files
                        .push((TreeSource::Local(r.clone()), name, local_mode(&r)))
                }
                Some(r) if follow && r.is_dir() && !seen.contains(&r) => {
                    e.dirs.push(name.clone());
                    seen.push(r.clone());
                    walk_dir(&r, &format!("{name}/"), follow, seen, e)?;
                }
                _ => e.links.push((target, name)),
            }
        } else if lmd.is_dir() {
            e.dirs.push(name.clone());
            if let Ok(c) = std::fs::canonicalize(&p) {
                seen.push(c);
            }
            walk_dir(&p, &format!("{name}/"), follow, seen, e)?;
        } else {
            e.files
                .push((TreeSource::Local(p.clone()), name, local_mode(&p)));
        }
    }
    Ok(())
}

/// Lists a directory tree on the host (one command): directories, files with SHA-1, mode and
/// size, and links with their targets.
fn walk_remote(ctx: &mut ModuleCtx, top: &str, trailing: bool, follow: bool) -> Result<Entries> {
    // Following links, a link is what it points to (only a dangling one stays a link).
    let find = if follow { "find -L" } else { "find" };
    let script = format!(
        "cd -- {} || exit 3\n\
         {find} . -mindepth 1 -type d -exec printf 'D %s\\n' {{}} +\n\
         {find} . -mindepth 1 -type f -exec sha1sum -- {{}} + | sed 's/^/F /'\n\
         {find} . -mindepth 1 -type f -exec stat -L -c 'M %a %s %n' -- {{}} +\n\
         {find} . -mindepth 1 -type l -exec sh -c 'for l; do printf \"L %s\\t%s\\n\" \"$l\" \"$(readlink -- \"$l\")\"; done' sh {{}} +\n",
        quote(top)
    );
    let out = ctx.run(&script)?;
    if out.rc != 0 {
        return Err(fail(format!(
            "cannot read source directory {top}: {}",
            out.stderr_str().trim()
        )));
    }
    let prefix = if trailing {
        String::new()
    } else {
        format!("{}/", fileops::basename(top.trim_end_matches('/')))
    };
    let rel = |p: &str| format!("{prefix}{}", p.strip_prefix("./").unwrap_or(p));
    let text = out.stdout_str();
    let mut e = Entries::default();
    let mut meta = std::collections::HashMap::new();
    for l in text.lines() {
        if let Some(m) = l.strip_prefix("M ") {
            let f: Vec<&str> = m.splitn(3, ' ').collect();
            if f.len() == 3 {
                let mode = u32::from_str_radix(f[0], 8).unwrap_or(0o644);
                let size: u64 = f[1].parse().unwrap_or(0);
                meta.insert(f[2].to_string(), (mode, size));
            }
        }
    }
    for l in text.lines() {
        if let Some(d) = l.strip_prefix("D ") {
            e.dirs.push(rel(d));
        } else if let Some(f) = l.strip_prefix("F ") {
            if let Some((sum, name)) = f.split_once("  ") {
                let (mode, size) = meta.get(name).copied().unwrap_or((0o644, 0));
                e.files.push((
                    TreeSource::Remote {
                        path: fileops::join(top, name.strip_prefix("./").unwrap_or(name)),
                        checksum: sum.to_string(),
                        size,
                    },
                    rel(name),
                    mode,
                ));
            }
        } else if let Some(lk) = l.strip_prefix("L ") {
            if let Some((name, target)) = lk.split_once('\t') {
                e.links.push((target.to_string(), rel(name)));
            }
        }
    }
    if !prefix.is_empty() && !e.is_empty() {
        e.root = Some(prefix.trim_end_matches('/').to_string());
    }
    // `os.walk` order (Ansible reads the files so): a directory's files before anything in
    // its subdirectories.
    e.files.sort_by(|a, b| walk_order(&a.1, &b.1));
    e.dirs.sort();
    e.links.sort();
    Ok(e)
}

/// The planned changes of a tree copy, in order.
struct TreeWork {
    mkdirs: String,
    writes: Vec<(String, Payload, PutOpts)>,
    after: String,
}

fn plan_tree(
    ctx: &mut ModuleCtx,
    args: &Args,
    dest: &str,
    entries: Entries,
    src_label: &str,
    preserve: bool,
    mode_arg: Option<String>,
) -> Result<Plan> {
    let dest = fileops::expand_home(ctx, dest)?;
    let dest = if dest.ends_with('/') {
        dest
    } else {
        format!("{dest}/")
    };
    let force = args.bool_or("force", true)?;
    let backup = args.bool_or("backup", false)?;
    let validate = args.str("validate");
    let directory_mode = args.mode("directory_mode")?;
    let decrypt = args.bool_or("decrypt", true)?;
    let top = dest.trim_end_matches('/').to_string();
    // Every directory that must exist: dest's ancestors, dest, and the tree's directories.
    let mut dir_paths: Vec<String> = fileops::ancestors(&format!("{top}/x"));
    if let Some(root) = &entries.root {
        dir_paths.push(format!("{dest}{root}"));
    }
    let n_anc = dir_paths.len();
    dir_paths.extend(entries.dirs.iter().map(|d| format!("{dest}{d}")));
    let mut items: Vec<ProbeItem> = dir_paths.iter().map(|d| ProbeItem::new(d, false)).collect();
    items.extend(
        entries.files.iter().map(|(_, rel, _)| {
            ProbeItem::new(format!("{dest}{rel}"), false).sum(fileops::Alg::Sha1)
        }),
    );
    items.extend(
        entries
            .links
            .iter()
            .map(|(_, rel)| ProbeItem::new(format!("{dest}{rel}"), false)),
    );
    let req = ProbeReq {
        items,
        owner: args.str("owner"),
        group: args.str("group"),
        times: Vec::new(),
    };
    let probe = fileops::probe(ctx, &req)?;
    let want = AttrWant {
        mode: None,
        owner: probe.owner_for(args.str("owner").as_deref())?,
        group: probe.group_for(args.str("group").as_deref())?,
    };
    let dwant = want.with_mode(directory_mode.clone());
    let (dir_states, rest) = probe.states.split_at(dir_paths.len());
    let (file_states, link_states) = rest.split_at(entries.files.len());
    let umask = probe.umask;
    let new_dir_mode = match &directory_mode {
        Some(m) => Some(resolve_mode(m, new_mode(true, umask), true, umask)?),
        None => None,
    };

    let mut changed = false;
    let mut mkdirs = String::new();
    let mut after = String::new();
    for (i, (path, st)) in dir_paths.iter().zip(dir_states).enumerate() {
        let is_tree_dir = i >= n_anc;
        if !st.exists {
            changed = true;
            mkdirs.push_str(&fileops::mkdirs_script(
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
        } else if is_tree_dir {
            let c = dwant.changes(st, umask)?;
            if !c.is_empty() {
                changed = true;
                after.push_str(&c.script(path, false));
            }
        }
    }

    let mut writes = Vec::new();
    let mut diffs = Vec::new();
    for ((source, rel, src_mode), st) in entries.files.iter().zip(file_states) {
        let path = format!("{dest}{rel}");
        if st.is_dir() {
            return Err(fail(format!("destination {path} is a directory")));
        }
        let fwant = want.with_mode(if preserve {
            Some(fileops::fmt_mode(*src_mode))
        } else if mode_arg.is_some() {
            mode_arg.clone()
        } else if matches!(source, TreeSource::Remote { .. }) {
            Some(fileops::fmt_mode(*src_mode))
        } else {
            None
        });
        let (sum, local, secret) = match source {
            TreeSource::Local(p) => {
                let (payload, secret) = super::transfer::local_source(p, decrypt)?;
                (payload.checksum(), Some(payload), secret)
            }
            TreeSource::Remote { checksum, .. } => (checksum.clone(), None, false),
        };
        let data = match &local {
            Some(Payload::Bytes(d)) => Some(d.clone()),
            _ => None,
        };
        let target = if st.is_link() {
            FileState::default()
        } else {
            st.clone()
        };
        match fileops::decide_file(st, &target, &sum, &fwant, &probe, force, false)? {
            FileDecision::Keep => {}
            FileDecision::Attrs(c, _) => {
                if !c.is_empty() {
                    changed = true;
                    after.push_str(&c.script(&path, false));
                }
            }
            FileDecision::Write(fin) => {
                changed = true;
                // A file decrypted from a vault has no diff to show.
                if ctx.diff && !secret {
                    if let Some(d) = &data {
                        let before = if st.is_reg() && st.readable {
                            fileops::read_for_diff(ctx, &path)?
                        } else {
                            Vec::new()
                        };
                        let label = match source {
                            TreeSource::Local(p) => p.to_string_lossy().into_owned(),
                            TreeSource::Remote { path, .. } => path.clone(),
                        };
                        diffs.push(fileops::text_diff(Some(&before), d, &path, &label));
                    }
                }
                let opts = PutOpts {
                    mode: Some(fin.mode),
                    owner: want.owner.as_ref().map(|o| o.id),
                    group: want.group.as_ref().map(|g| g.id),
                    backup,
                    validate: validate.clone(),
                };
                let payload = match (source, local) {
                    (_, Some(p)) => p,
                    (
                        TreeSource::Remote {
                            path,
                            checksum,
                            size,
                        },
                        None,
                    ) => Payload::Remote {
                        path: path.clone(),
                        checksum: checksum.clone(),
                        size: *size,
                    },
                    (TreeSource::Local(p), None) => {
                        return Err(fail(format!("could not read src={}", p.display())))
                    }
                };
                writes.push((path, payload, opts));
            }
        }
    }

    for ((target, rel), st) in entries.links.iter().zip(link_states) {
        let path = format!("{dest}{rel}");
        let q = quote(&path);
        let qt = quote(target);
        if st.is_link() && st.link_target.as_deref() == Some(target.as_str()) {
            let c = want.changes(st, umask)?;
            if !c.is_empty() {
                changed = true;
                after.push_str(&c.script(&path, true));
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
            let tmp = quote(&format!(
                "{}/.drover-ln.{}",
                fileops::dirname(&path),
                std::process::id()
            ));
            after.push_str(&format!("ln -s -- {qt} {tmp}\nmv -fT -- {tmp} {q}\n"));
        } else {
            after.push_str(&format!("ln -s -- {qt} {q}\n"));
        }
        let c = AttrChange {
            owner: want.owner.as_ref().map(|o| (0, o.id)),
            group: want.group.as_ref().map(|g| (0, g.id)),
            mode: None,
        };
        after.push_str(&c.script(&path, true));
    }

    let mut plan = if changed {
        Plan::change(TreeWork {
            mkdirs,
            writes,
            after,
        })
    } else {
        Plan::unchanged()
    };
    for d in diffs {
        plan = plan.with_diff(d);
    }
    Ok(plan
        .with_value("dest", dest.as_str())
        .with_value("src", src_label))
}

fn apply_tree(ctx: &mut ModuleCtx, work: TreeWork) -> Result<()> {
    fileops::run_script(ctx, "creating directories", &work.mkdirs)?;
    for (path, payload, opts) in &work.writes {
        fileops::put_file(ctx, path, payload, opts)?;
    }
    fileops::run_script(ctx, "setting attributes and links", &work.after)
}

#[cfg(test)]
mod tests {
    use super::super::fileops::testing::{args, mode_of, Harness};
    use super::super::SearchPaths;
    use super::*;
    use serde_json::json;

    fn cycle(h: &mut Harness, dir: &Path, a: &Args) -> (Plan, Plan) {
        h.cycle(&Copy, dir, a)
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    #[test]
    fn dest_resolution() {
        let table = [
            ("/etc/app/", "a.conf", "/etc/app/a.conf"),
            ("/etc/app/b.conf", "a.conf", "/etc/app/b.conf"),
            ("rel/", "x", "rel/x"),
        ];
        for (dest, base, want) in table {
            assert_eq!(fileops::dest_for_file(dest, base), want);
        }
    }

    #[test]
    fn python_json_for_structured_content() {
        let v = Value::from(minijinja::value::Serde(
            json!({"b": [1, 2.5, true, null], "a": "é\"x"}),
        ));
        assert_eq!(
            py_json(&v),
            r#"{"b": [1, 2.5, true, null], "a": "\u00e9\"x"}"#
        );
    }

    #[test]
    fn content_write_check_idempotent_and_diff() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("motd");
        std::fs::write(&f, "old\n").unwrap();
        let mut h = Harness::new();
        let a = args(json!({"content": "hello\n", "dest": s(&f), "mode": "0640", "backup": true}));
        let (predicted, done) = cycle(&mut h, dir.path(), &a);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello\n");
        assert_eq!(mode_of(&f), 0o640);
        assert_eq!(predicted.diffs[0].before, "old\n");
        assert_eq!(predicted.diffs[0].after, "hello\n");
        assert_eq!(
            predicted.values["checksum"].as_str(),
            Some("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        for k in ["dest", "mode", "owner", "group", "size", "checksum"] {
            assert_eq!(predicted.values.get(k), done.values.get(k), "{k}");
        }
        let backup = done.values["backup_file"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "old\n");

        // Only the mode differs: an attribute change with a file-style diff.
        let b = args(json!({"content": "hello\n", "dest": s(&f), "mode": "u+x"}));
        let (predicted, _) = cycle(&mut h, dir.path(), &b);
        assert!(predicted.diffs[0].after.contains("\"mode\": \"0740\""));
        assert_eq!(mode_of(&f), 0o740);

        // force: no leaves an existing file alone.
        let c = args(json!({"content": "other\n", "dest": s(&f), "force": false}));
        assert!(!Copy.plan_task(&mut h.ctx(false), &c).unwrap().changed);
    }

    #[test]
    fn src_file_into_directory_and_missing_source() {
        let dir = tempfile::tempdir().unwrap();
        let role = dir.path().join("role");
        std::fs::create_dir_all(role.join("files")).unwrap();
        std::fs::write(role.join("files/app.conf"), "x=1\n").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let mut h = Harness::new();
        h.paths = SearchPaths {
            dirs: vec![role.clone()],
        };
        let a = args(json!({"src": "app.conf", "dest": s(&out)}));
        let (predicted, _) = cycle(&mut h, &out, &a);
        assert_eq!(
            std::fs::read_to_string(out.join("app.conf")).unwrap(),
            "x=1\n"
        );
        assert_eq!(
            predicted.values["dest"].as_str(),
            Some(s(&out.join("app.conf")))
        );
        assert_eq!(
            predicted.diffs[0].after_header,
            s(&role.join("files/app.conf"))
        );

        // dest ending in / that does not exist yet: created.
        let nested = out.join("a/b/");
        let b = args(
            json!({"src": "app.conf", "dest": format!("{}/", s(&nested)), "directory_mode": "0700"}),
        );
        cycle(&mut h, &out, &b);
        assert_eq!(
            std::fs::read_to_string(nested.join("app.conf")).unwrap(),
            "x=1\n"
        );
        assert_eq!(mode_of(&out.join("a")), 0o700);

        // A missing parent without the trailing slash fails.
        let c = args(json!({"src": "app.conf", "dest": s(&out.join("zz/app.conf"))}));
        let plan = Copy.plan_task(&mut h.ctx(false), &c).unwrap();
        assert!(plan.failed && plan.msg.unwrap().contains("does not exist"));

        let d = args(json!({"src": "nope.conf", "dest": s(&out)}));
        let plan = Copy.plan_task(&mut h.ctx(false), &d).unwrap();
        assert!(plan.failed);
        let msg = plan.msg.unwrap();
        assert!(
            msg.contains("nope.conf") && msg.contains(s(&role.join("files"))),
            "{msg}"
        );
    }

    #[test]
    fn directory_trees_with_and_without_trailing_slash() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("site");
        std::fs::create_dir_all(src.join("css")).unwrap();
        std::fs::create_dir_all(src.join("empty")).unwrap();
        std::fs::write(src.join("index.html"), "<h1>hi</h1>\n").unwrap();
        std::fs::write(src.join("css/a.css"), "a{}\n").unwrap();
        std::os::unix::fs::symlink("index.html", src.join("home.html")).unwrap();
        let out = dir.path().join("out");
        let mut h = Harness::new();

        let a =
            args(json!({"src": s(&src), "dest": s(&out), "local_follow": false, "mode": "0600"}));
        cycle(&mut h, dir.path(), &a);
        assert_eq!(
            std::fs::read_to_string(out.join("site/css/a.css")).unwrap(),
            "a{}\n"
        );
        assert!(out.join("site/empty").is_dir());
        assert_eq!(
            std::fs::read_link(out.join("site/home.html")).unwrap(),
            Path::new("index.html")
        );
        assert_eq!(mode_of(&out.join("site/index.html")), 0o600);

        let out2 = dir.path().join("out2");
        let b = args(json!({"src": format!("{}/", s(&src)), "dest": s(&out2)}));
        cycle(&mut h, dir.path(), &b);
        assert_eq!(
            std::fs::read_to_string(out2.join("index.html")).unwrap(),
            "<h1>hi</h1>\n"
        );
        // local_follow (default) copies the link's target as a file.
        assert_eq!(
            std::fs::read_to_string(out2.join("home.html")).unwrap(),
            "<h1>hi</h1>\n"
        );
        assert!(!std::fs::symlink_metadata(out2.join("home.html"))
            .unwrap()
            .file_type()
            .is_symlink());

        // Changing one file changes only that file.
        std::fs::write(src.join("css/a.css"), "b{}\n").unwrap();
        let (predicted, _) = cycle(&mut h, dir.path(), &b);
        assert_eq!(predicted.diffs.len(), 1);
        assert_eq!(predicted.diffs[0].before, "a{}\n");
        assert_eq!(
            std::fs::read_to_string(out2.join("css/a.css")).unwrap(),
            "b{}\n"
        );
    }

    #[test]
    fn remote_src_file_and_tree() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d/f.txt"), "remote\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(src.join("d/f.txt"), std::fs::Permissions::from_mode(0o751))
            .unwrap();
        let mut h = Harness::new();

        let one = dir.path().join("one.txt");
        let a = args(json!({"src": s(&src.join("d/f.txt")), "dest": s(&one), "remote_src": true}));
        cycle(&mut h, dir.path(), &a);
        assert_eq!(std::fs::read_to_string(&one).unwrap(), "remote\n");

        let tree = dir.path().join("tree");
        let b =
            args(json!({"src": format!("{}/", s(&src)), "dest": s(&tree), "remote_src": "yes"}));
        cycle(&mut h, dir.path(), &b);
        assert_eq!(
            std::fs::read_to_string(tree.join("d/f.txt")).unwrap(),
            "remote\n"
        );
        assert_eq!(mode_of(&tree.join("d/f.txt")), 0o751);
    }

    #[test]
    fn validate_failure_leaves_dest() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sudoers");
        std::fs::write(&f, "ok\n").unwrap();
        let mut h = Harness::new();
        let a = args(json!({"content": "broken\n", "dest": s(&f), "validate": "grep -qx ok %s"}));
        let plan = Copy.plan_task(&mut h.ctx(false), &a).unwrap();
        assert!(plan.changed);
        let done = Copy.apply_task(&mut h.ctx(false), &a, plan).unwrap();
        assert!(done.failed);
        assert_eq!(done.msg.as_deref(), Some("failed to validate"));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "ok\n");
    }

    #[test]
    fn content_into_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new();
        let a = args(json!({"content": "x", "dest": s(dir.path())}));
        let plan = Copy.plan_task(&mut h.ctx(false), &a).unwrap();
        assert!(plan.failed);
        assert_eq!(
            plan.msg.as_deref(),
            Some("can not use content with a dir as dest")
        );
    }
}
