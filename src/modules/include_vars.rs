//! `include_vars`: load variables from YAML/JSON files on the controller into the host's
//! variables (at `include_vars` precedence, just below `set_fact`). Relative paths are searched
//! in the role's `vars/`, then beside the task file, then in the playbook's `vars/` and dir.
//! Template strings in the files are rendered when they are included.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::vars::{map_value, render_deep, varmap_from_value, VarMap};
use anyhow::{anyhow, Result};
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
};

/// The file extensions read from a directory.
pub const EXTENSIONS: &[&str] = &["yml", "yaml", "json"];

/// The files of a directory that `include_vars: dir=` reads, sorted by name.
pub fn dir_files(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if depth != 1 {
                out.extend(dir_files(&p, depth.saturating_sub(1)));
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(p);
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

impl Module for IncludeVars {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "include_vars"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let files: Vec<PathBuf> = if let Some(dir) = args.str("dir") {
            let found = ctx.paths.find("vars", &dir).filter(|p| p.is_dir());
            let Some(found) = found else {
                return Ok(Plan::fail(format!(
                    "the vars directory `{dir}` was not found"
                )));
            };
            let depth = args.int("depth")?.unwrap_or(0).max(0) as usize;
            let mut files = dir_files(&found, depth);
            if let Some(pat) = args.str("files_matching") {
                let re = regex::Regex::new(&pat)
                    .map_err(|e| anyhow!("`files_matching` is not a valid regex: {e}"))?;
                files.retain(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| re.is_match(n))
                });
            }
            let ignore = args.list("ignore_files");
            files.retain(|f| {
                !f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| ignore.iter().any(|i| i == n))
            });
            files
        } else {
            let Some(file) = args.str("file").or_else(|| args.str("_raw_params")) else {
                return Ok(Plan::fail(
                    "`include_vars` needs a file (free-form or `file:`) or `dir:`",
                ));
            };
            match ctx.paths.find("vars", &file) {
                Some(p) => vec![p],
                None => {
                    let dirs: Vec<String> = ctx
                        .paths
                        .dirs
                        .iter()
                        .map(|d| d.join("vars").display().to_string())
                        .collect();
                    return Ok(Plan::fail(format!(
                        "could not find the vars file `{file}` (searched {})",
                        dirs.join(", ")
                    )));
                }
            }
        };
        let mut vars = VarMap::new();
        for f in &files {
            for (k, v) in read_vars_file(f)? {
                let v = render_deep(&v, ctx.vars)
                    .map_err(|e| anyhow!("{}: variable `{k}`: {e}", f.display()))?;
                vars.insert(k, v);
            }
        }
        if let Some(name) = args.str("name") {
            let mut nested = VarMap::new();
            nested.insert(name, map_value(vars));
            vars = nested;
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
