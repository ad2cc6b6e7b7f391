//! The entries of a source tree, on the controller or on the host (`remote_src`), in the
//! order Ansible walks them.

use super::*;

/// The entries of a source tree, relative to the destination directory.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Entries {
    /// The copied directory itself (`name/`) when `src` has no trailing slash.
    pub(super) root: Option<String>,
    /// (source, relative destination, mode of the source)
    pub(super) files: Vec<(TreeSource, String, u32)>,
    pub(super) dirs: Vec<String>,
    /// (link target, relative destination)
    pub(super) links: Vec<(String, String)>,
}

impl Entries {
    pub(super) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty() && self.links.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum TreeSource {
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
pub(super) fn walk_local(top: &Path, trailing: bool, local_follow: bool) -> Result<Entries> {
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
pub(super) fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
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

pub(super) fn walk_dir(
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

/// Lists a directory tree on the host (one section): directories, files with SHA-1, mode
/// and size, and links with their targets.
pub(super) fn walk_observe(top: &str, follow: bool) -> Observe {
    // Following links, a link is what it points to (only a dangling one stays a link).
    let script = Script::new().set("top", top);
    let script = if follow {
        script.raw(concat!(
            "cd -- \"$top\" && {\n",
            "find -L . -mindepth 1 -type d -exec printf 'D %s\\n' {} +\n",
            "find -L . -mindepth 1 -type f -exec sha1sum -- {} + | sed 's/^/F /'\n",
            "find -L . -mindepth 1 -type f -exec stat -L -c 'M %a %s %n' -- {} +\n",
            "find -L . -mindepth 1 -type l -exec sh -c 'for l; do printf \"L %s\\t%s\\n\" \"$l\" \"$(readlink -- \"$l\")\"; done' sh {} +\n",
            "}\n"
        ))
    } else {
        script.raw(concat!(
            "cd -- \"$top\" && {\n",
            "find . -mindepth 1 -type d -exec printf 'D %s\\n' {} +\n",
            "find . -mindepth 1 -type f -exec sha1sum -- {} + | sed 's/^/F /'\n",
            "find . -mindepth 1 -type f -exec stat -L -c 'M %a %s %n' -- {} +\n",
            "find . -mindepth 1 -type l -exec sh -c 'for l; do printf \"L %s\\t%s\\n\" \"$l\" \"$(readlink -- \"$l\")\"; done' sh {} +\n",
            "}\n"
        ))
    };
    Observe {
        sections: vec![("walk", script)],
        ..Observe::default()
    }
}

/// The entries of the listing (`seen` is the look `walk_observe` asked for).
pub(super) fn walk_parse(top: &str, trailing: bool, seen: &Observed) -> Result<Entries> {
    if seen.code("walk") != Some(0) {
        return Err(fail(format!(
            "cannot read source directory {top}: {}",
            seen.stderr.trim()
        )));
    }
    let prefix = if trailing {
        String::new()
    } else {
        format!("{}/", fileops::basename(top.trim_end_matches('/')))
    };
    let rel = |p: &str| format!("{prefix}{}", p.strip_prefix("./").unwrap_or(p));
    let text = seen.section("walk");
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
