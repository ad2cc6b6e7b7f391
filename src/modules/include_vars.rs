//! `include_vars`: load variables from YAML/JSON files on the controller into the host's
//! variables (at `include_vars` precedence, just below `set_fact`). Relative paths are searched
//! in the role's `vars/`, then beside the task file, then in the playbook's `vars/` and dir.
//! Values stay templates, rendered when they are read (as Ansible's are).

use super::contract::{Action, Resolve};
use super::{Args, Plan, Spec};
use crate::vars::{map_value, varmap_from_value, VarMap};
use anyhow::{anyhow, Result};
use minijinja::value::ValueKind;
use minijinja::Value;
use std::path::{Path, PathBuf};

pub struct IncludeVars;

static SPEC: Spec = Spec {
    args: &[
        "_raw_params",
        "file",
        "dir",
        "name",
        "depth",
        "files_matching",
        "ignore_files",
        "extensions",
        "ignore_unknown_extensions",
        "hash_behaviour",
    ],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: false,
    file_args: false,
};

/// The file extensions read from a directory unless `extensions` says otherwise.
pub const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// The files of a directory that `include_vars: dir=` reads, as Ansible walks it: a
/// directory's own files (sorted) before its subdirectories (sorted), `depth` 1 being the
/// top directory only (0: no limit). Only files with one of `EXTENSIONS`.
pub fn dir_files(dir: &Path, depth: usize) -> Vec<PathBuf> {
    walk(dir, depth)
        .into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e))
        })
        .collect()
}

/// Every file under `dir` in Ansible's walk order (see `dir_files`), links followed.
fn walk(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| p.is_dir());
    out.extend(files);
    if depth != 1 {
        for d in dirs {
            out.extend(walk(&d, depth.saturating_sub(1)));
        }
    }
    out
}

/// Reads one vars file into a map; it must be a mapping.
pub fn read_vars_file(path: &Path) -> Result<VarMap> {
    let docs = crate::yaml::load_file(path)?;
    match docs.first() {
        None => Ok(VarMap::new()),
        Some(d) if d.is_null() => Ok(VarMap::new()),
        Some(d) if d.as_map().is_some() => Ok(varmap_from_value(&crate::yaml::node_to_value(d))),
        Some(d) => Err(anyhow!(
            "{}: a vars file must be a mapping of variable names to values",
            d.span
        )),
    }
}

impl Action for IncludeVars {
    fn name(&self) -> &'static str {
        "include_vars"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn act(&self, args: &Args, env: &dyn Resolve) -> Result<Plan> {
        let mut files: Vec<PathBuf> = Vec::new();
        if let Some(dir) = args.str("dir") {
            if args.has("file") || args.has("_raw_params") {
                return Ok(fail(
                    "You are mixing file only and dir only arguments, these are incompatible",
                    &[],
                ));
            }
            let Some(found) = env.paths().find("vars", &dir) else {
                return Ok(fail(&format!("{dir} directory does not exist"), &[]));
            };
            if !found.is_dir() {
                return Ok(fail(&format!("{dir} is not a directory"), &[]));
            }
            let depth = args.int("depth")?.unwrap_or(0).max(0) as usize;
            let matching = match args.str("files_matching") {
                Some(pat) => Some(
                    regex::Regex::new(&crate::template::filters::translate_python_regex(&pat))
                        .map_err(|e| anyhow!("`files_matching` is not a valid regex: {e}"))?,
                ),
                None => None,
            };
            // `ignore_files`: regular expressions matched at the end of the file name.
            let ignore: Vec<regex::Regex> = args
                .list("ignore_files")
                .iter()
                .flat_map(|i| i.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .filter_map(|i| {
                    regex::Regex::new(&format!(
                        "(?:{})$",
                        crate::template::filters::translate_python_regex(&i)
                    ))
                    .ok()
                })
                .collect();
            let extensions: Vec<String> = match args.get("extensions") {
                None => EXTENSIONS.iter().map(|e| e.to_string()).collect(),
                Some(v) => match v.as_str() {
                    // A string is a list of its characters, as in Python.
                    Some(s) => s.chars().map(|c| c.to_string()).collect(),
                    None => v.try_iter()?.map(|e| e.to_string()).collect(),
                },
            };
            let ignore_unknown = args.bool_or("ignore_unknown_extensions", false)?;
            // The role's own vars/main.yml is never read by `dir`.
            let role_main = env.paths().dirs.first().map(|d| d.join("vars/main.yml"));
            for f in walk(&found, depth) {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if ignore.iter().any(|re| re.is_match(name))
                    || matching.as_ref().is_some_and(|re| !re.is_match(name))
                    || role_main.as_deref() == Some(f.as_path())
                {
                    continue;
                }
                let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
                if !extensions.iter().any(|e| e == ext) {
                    if ignore_unknown {
                        continue;
                    }
                    return Ok(fail(
                        &format!(
                            "{} does not have a valid extension: {}",
                            f.display(),
                            extensions.join(", ")
                        ),
                        &files,
                    ));
                }
                files.push(f);
            }
        } else {
            // The free-form name loses its final newlines (a folded `>` scalar's), as Ansible's.
            let file = args.str("file").or_else(|| {
                args.str("_raw_params")
                    .map(|r| r.trim_end_matches('\n').to_string())
            });
            let Some(file) = file.filter(|f| !f.is_empty() && f != "None") else {
                return Ok(fail(
                    "Could not find file on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option",
                    &[],
                ));
            };
            match env.paths().find("vars", &file).filter(|p| p.is_file()) {
                Some(p) => files.push(p),
                None => {
                    let mut msg = format!("Could not find or access '{file}'\nSearched in:");
                    for d in &env.paths().dirs {
                        msg.push_str(&format!(
                            "\n\t{}\n\t{}",
                            d.join("vars").join(&file).display(),
                            d.join(&file).display()
                        ));
                    }
                    msg.push_str(" on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option");
                    return Ok(fail(&msg, &[]));
                }
            }
        }
        // Later files win, key by key; values stay templates, rendered when they are read
        // (a file may refer to its own variables).
        let mut vars = VarMap::new();
        for f in &files {
            match read_vars_file(f) {
                Ok(m) => vars.extend(m),
                Err(e) => {
                    return Ok(fail(
                        &format!(
                            "{} must be stored as a dictionary/hash ({e:#})",
                            f.display()
                        ),
                        &files,
                    ))
                }
            }
        }
        if let Some(name) = args.str("name") {
            let mut nested = VarMap::new();
            nested.insert(name, map_value(vars));
            vars = nested;
        }
        // `hash_behaviour: merge`: mappings are merged into the variables' current values.
        if args.str("hash_behaviour").as_deref() == Some("merge") {
            for (k, v) in vars.iter_mut() {
                let Ok(old) = env.vars().get_attr(k) else {
                    continue;
                };
                if old.kind() != ValueKind::Map || v.kind() != ValueKind::Map {
                    continue;
                }
                let as_map = |x: &Value| -> Result<indexmap::IndexMap<Value, Value>> {
                    let mut m = indexmap::IndexMap::new();
                    for key in x.try_iter()? {
                        let item = x.get_item(&key)?;
                        m.insert(key, item);
                    }
                    Ok(m)
                };
                let merged = crate::template::filters::merge_hash(
                    &as_map(&old)?,
                    &as_map(v)?,
                    true,
                    "replace",
                )
                .map_err(|e| anyhow!("hash_behaviour=merge: {e}"))?;
                *v = Value::from_object(merged);
            }
        }
        let shown: Vec<Value> = files
            .iter()
            .map(|f| Value::from(f.display().to_string()))
            .collect();
        let mut plan = Plan::unchanged().with_value("ansible_included_var_files", shown);
        plan.values
            .insert("ansible_facts".into(), map_value(vars.clone()));
        plan.facts = Some(vars);
        plan.facts_kind = super::FactKind::IncludedVars;
        Ok(plan)
    }
}

/// A failed `include_vars` as Ansible reports it: the reason under `message`.
fn fail(message: &str, files: &[PathBuf]) -> Plan {
    let shown: Vec<Value> = files
        .iter()
        .map(|f| Value::from(f.display().to_string()))
        .collect();
    Plan::fail(message.to_string())
        .with_value("message", message)
        .with_value("ansible_included_var_files", shown)
        .with_value("ansible_facts", map_value(VarMap::new()))
}
