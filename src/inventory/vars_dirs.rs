//! `group_vars/` and `host_vars/` beside an inventory or playbook, as Ansible's
//! `host_group_vars` plugin finds them: `<name>`, `<name>.yml|.yaml|.json` (the first that
//! exists), or a `<name>/` directory whose files are merged in sorted order.

use crate::yaml::{load_file, node_to_value};
use anyhow::{anyhow, bail, Context, Result};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};

/// Which vars directory to read.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Group,
    Host,
}

impl Kind {
    fn dir_name(self) -> &'static str {
        match self {
            Kind::Group => "group_vars",
            Kind::Host => "host_vars",
        }
    }
}

const EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// Variables for one group or host from `<base>/group_vars/` or `<base>/host_vars/`, files
/// merged in order (later keys win); `None` when there are none.
pub fn load_entity_vars(
    base: &Path,
    kind: Kind,
    name: &str,
) -> Result<Option<IndexMap<String, Value>>> {
    // Like Ansible, names that look like absolute paths (chroot hosts) are skipped.
    if name.is_empty() || name.starts_with('/') {
        return Ok(None);
    }
    let dir = base.join(kind.dir_name());
    if !dir.is_dir() {
        return Ok(None);
    }
    let files = find_vars_files(&dir, name)?;
    let mut merged: Option<IndexMap<String, Value>> = None;
    for file in files {
        if let Some(vars) = load_vars_file(&file)? {
            let into = merged.get_or_insert_with(IndexMap::new);
            for (k, v) in vars {
                into.insert(k, v);
            }
        }
    }
    Ok(merged)
}

/// The first of `<name>`, `<name>.yml`, `<name>.yaml`, `<name>.json` that exists; a directory
/// gives all its vars files.
fn find_vars_files(dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let candidates = std::iter::once(dir.join(name))
        .chain(EXTENSIONS.iter().map(|e| dir.join(format!("{name}.{e}"))));
    for path in candidates {
        if path.is_dir() {
            return dir_vars_files(&path);
        }
        if path.is_file() {
            return Ok(vec![path]);
        }
    }
    Ok(Vec::new())
}

/// Files of a `group_vars/<name>/` directory in sorted order, recursing into subdirectories
/// without an extension; hidden files, backups (`~`) and other extensions are skipped.
fn dir_vars_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
        if path.is_dir() {
            if ext.is_none() {
                out.extend(dir_vars_files(&path)?);
            }
        } else if ext.as_deref().is_none_or(|e| EXTENSIONS.contains(&e)) {
            out.push(path);
        }
    }
    Ok(out)
}

/// Loads one vars file (decrypted in memory when vault-encrypted); empty files give `None`,
/// anything but a mapping is an error.
fn load_vars_file(path: &Path) -> Result<Option<IndexMap<String, Value>>> {
    let docs = load_file(path)?;
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    if doc.is_null() {
        return Ok(None);
    }
    let Some(entries) = doc.as_map() else {
        bail!(
            "{}: a vars file must be a mapping of variable names to values, got {}\nhint: write one `name: value` per line",
            doc.span,
            doc.type_name()
        );
    };
    let mut vars = IndexMap::new();
    for (k, v) in entries {
        let name = k
            .key_str()
            .ok_or_else(|| anyhow!("{}: a variable name must be a string", k.span))?;
        vars.insert(name, node_to_value(v));
    }
    Ok(Some(vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn file_forms_and_first_match_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let gv = tmp.path().join("group_vars");
        write(&gv.join("plain"), "a: 1\n");
        write(&gv.join("yml.yml"), "a: 2\n");
        write(&gv.join("both"), "a: bare\n");
        write(&gv.join("both.yml"), "a: ext\n");
        write(&gv.join("js.json"), "{\"a\": [1, 2]}\n");
        write(&gv.join("empty.yaml"), "");
        let get = |name: &str| {
            load_entity_vars(tmp.path(), Kind::Group, name)
                .unwrap()
                .map(|v| v["a"].to_string())
        };
        assert_eq!(get("plain").as_deref(), Some("1"));
        assert_eq!(get("yml").as_deref(), Some("2"));
        assert_eq!(get("both").as_deref(), Some("bare"));
        assert_eq!(get("js").as_deref(), Some("[1, 2]"));
        assert_eq!(
            load_entity_vars(tmp.path(), Kind::Group, "empty").unwrap(),
            None
        );
        assert_eq!(
            load_entity_vars(tmp.path(), Kind::Group, "missing").unwrap(),
            None
        );
        assert_eq!(
            load_entity_vars(tmp.path(), Kind::Host, "plain").unwrap(),
            None
        );
    }

    #[test]
    fn directory_form_merges_sorted_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("host_vars/web1");
        write(&d.join("10-base.yml"), "a: base\nb: base\nc: base\n");
        write(&d.join("20-over.yaml"), "b: over\n");
        write(&d.join("30/deep.yml"), "c: deep\n");
        write(&d.join("README.md"), "not: loaded\n");
        write(&d.join(".hidden.yml"), "a: hidden\n");
        write(&d.join("99-backup.yml~"), "a: backup\n");
        let vars = load_entity_vars(tmp.path(), Kind::Host, "web1")
            .unwrap()
            .unwrap();
        let got: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".into(), "base".into()),
                ("b".into(), "over".into()),
                ("c".into(), "deep".into())
            ]
        );
    }

    #[test]
    fn errors_name_the_place() {
        let tmp = tempfile::tempdir().unwrap();
        let list = tmp.path().join("group_vars/web.yml");
        write(&list, "- a\n- b\n");
        let err = load_entity_vars(tmp.path(), Kind::Group, "web")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}:1:1: a vars file must be a mapping of variable names to values, got a list\nhint: write one `name: value` per line",
                list.display()
            )
        );
        let vault = tmp.path().join("host_vars/h1");
        write(&vault, "$ANSIBLE_VAULT;1.1;AES256\n3133\n");
        let err = load_entity_vars(tmp.path(), Kind::Host, "h1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:1:1: malformed vault data", vault.display())),
            "{err}"
        );
    }
}
