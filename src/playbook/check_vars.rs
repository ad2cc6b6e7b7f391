//! The load-time check that every variable a template reads can be defined by something:
//! inventory, play/role/task vars, role defaults and parameters, `register`, `set_fact`, loop
//! variables, facts, `-e`, or drover's special variables. Ansible decides at run time, so what
//! drover cannot prove is a *warning* with its file:line:column and a did-you-mean, never a
//! refusal: the task fails if it runs and the name is still undefined. A name the task guards
//! (`x is defined`, `x is undefined`, `x | default(...)`) is not even warned about. The same
//! goes for templates that do not compile and for `src:` files of `template`/`copy` (and
//! `include_vars` files) that do not exist yet. A vault-encrypted `src` that cannot be
//! decrypted is the one error here: no run could use it.

use super::task::err_at;
use super::{did_you_mean, Play, Playbook, Task};
use crate::inventory::Inventory;
use crate::modules::SearchPaths;
use crate::template::tree::TTree;
use crate::template::Tmpl;
use crate::vars::VarMap;
use crate::yaml::Span;
use anyhow::Result;
use minijinja::Value;
use std::collections::HashSet;

/// Variables drover itself provides on every host.
pub const SPECIAL_VARS: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "hostvars",
    "groups",
    "group_names",
    "play_hosts",
    "playbook_dir",
    "role_path",
    "role_name",
    "role_names",
    "omit",
    "inventory_dir",
    "inventory_file",
    "item",
    "vars",
    "environment",
    "lookup",
    "query",
    "q",
    "now",
    "range",
    "dict",
    "namespace",
    "joiner",
    "cycler",
    "undef",
    "debug",
];

fn known_names(pb: &Playbook, inv: &Inventory, extra: &VarMap) -> HashSet<String> {
    let mut known: HashSet<String> = SPECIAL_VARS.iter().map(|s| s.to_string()).collect();
    known.extend(extra.keys().cloned());
    for h in inv.hosts.values().chain(inv.implicit_hosts.values()) {
        known.extend(h.vars.keys().cloned());
    }
    for g in inv.groups.values() {
        known.extend(g.vars.keys().cloned());
    }
    for play in &pb.plays {
        known.extend(play.vars.keys().cloned());
        known.extend(play.vars_prompt.iter().map(|p| p.name.clone()));
        for t in play.all_tasks() {
            known.extend(t.vars.keys().cloned());
            if let Some(r) = &t.register {
                known.insert(r.clone());
            }
            known.insert(t.loop_var.clone());
            if let Some(i) = &t.index_var {
                known.insert(i.clone());
            }
            if let Some(role) = &t.role {
                known.extend(role.defaults.keys().cloned());
                known.extend(role.vars.keys().cloned());
                known.extend(role.params.keys().cloned());
            }
            if t.module_name.trim_start_matches("ansible.builtin.") == "include_vars" {
                known.extend(include_vars_names(t, &pb.dir));
            }
            if t.module_name == "set_fact" || t.module_name.ends_with(".set_fact") {
                known.extend(t.args.keys().into_iter().map(str::to_string));
            }
        }
    }
    known
}

/// The names an `include_vars` task can define: the keys of its file when the path is
/// literal, else of every vars file in the directory its path starts with; or its `name`.
fn include_vars_names(t: &Task, play_dir: &std::path::Path) -> Vec<String> {
    let arg = |k: &str| match &t.args {
        TTree::Map(entries) => entries.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        _ => None,
    };
    if let Some(TTree::Value(name)) = arg("name") {
        return vec![name.to_string()];
    }
    let text = |v: Option<TTree>| match v {
        Some(TTree::Value(v)) => v.as_str().map(str::to_string),
        Some(TTree::Tmpl(tm, _)) => Some(tm.source().to_string()),
        _ => None,
    };
    let paths = search_paths(t, play_dir);
    let mut files = Vec::new();
    if let Some(dir) = text(arg("dir")) {
        let dir = dir.split("{{").next().unwrap_or("").to_string();
        for d in paths
            .dirs
            .iter()
            .flat_map(|b| [b.join("vars").join(&dir), b.join(&dir)])
        {
            files.extend(crate::modules::vars_dir_files(&d, 0));
        }
    } else if let Some(file) = text(arg("file")).or_else(|| text(arg("_raw_params"))) {
        if crate::template::is_templated(&file) {
            // `vars/{{ ansible_os_family }}.yml`: any file of that directory may be the one.
            let prefix = file.split("{{").next().unwrap_or("");
            let dir = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for d in paths
                .dirs
                .iter()
                .flat_map(|b| [b.join("vars").join(dir), b.join(dir)])
            {
                files.extend(crate::modules::vars_dir_files(&d, 1));
            }
        } else if let Some(p) = paths.find("vars", &file) {
            files.push(p);
        }
    }
    files
        .iter()
        .filter_map(|f| crate::modules::read_vars_file(f).ok())
        .flat_map(|m| m.into_keys())
        .collect()
}

/// Names the templates guard against being undefined: `x is defined`, `x is not defined`,
/// `x is undefined`, `x is none`, `x | default(...)` / `x | d(...)`, also for an attribute or
/// item of `x` (`x.y | default(...)`), and through other filters (`x | upper | default(...)`).
fn guarded_names<'a>(sources: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    static GUARD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = GUARD.get_or_init(|| {
        regex::Regex::new(
            r"([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\]]*\])*\s*(?:\|\s*[A-Za-z_][A-Za-z0-9_.]*\s*(?:\([^()]*\))?\s*)*(?:\|\s*(?:default|d)\b|is\s+(?:not\s+)?(?:defined|undefined|none)\b)",
        )
        .expect("the guard pattern compiles")
    });
    let mut out = HashSet::new();
    for src in sources {
        for c in re.captures_iter(src) {
            out.insert(c[1].to_string());
        }
    }
    out
}

/// What the check found that may fail at run time, each once.
#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Warnings {
    fn push(&mut self, msg: String) {
        if self.seen.insert(msg.clone()) {
            self.list.push(msg);
        }
    }
}

fn check_template(
    t: &Tmpl,
    span: &Span,
    known: &HashSet<String>,
    guarded: &HashSet<String>,
    w: &mut Warnings,
) {
    if let Some(why) = t.broken() {
        w.push(format!(
            "{span}: template error in `{}`: syntax error: {why}; the task fails if it runs\nhint: check the `{{{{ }}}}` / `{{% %}}` pairs and filter names",
            t.source().trim()
        ));
        return;
    }
    for name in t.variables() {
        if known.contains(&name)
            || guarded.contains(&name)
            || name.starts_with("ansible_")
            || crate::template::is_known_global(&name)
        {
            continue;
        }
        let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        let hint = match did_you_mean(&name, &candidates) {
            Some(s) => format!("did you mean `{s}`?"),
            None => {
                format!("define it in vars, the inventory, role defaults or with `-e {name}=...`")
            }
        };
        w.push(format!(
            "{span}: `{name}` is not defined anywhere drover can see: not in the inventory, play, role or task vars, role defaults, `register`, `set_fact`, loop variables, facts or `-e` (in `{}`); the task fails if it runs while it is undefined\nhint: {hint}",
            t.source().trim()
        ));
    }
}

fn check_tree(tree: &TTree, known: &HashSet<String>, guarded: &HashSet<String>, w: &mut Warnings) {
    for (t, span) in tree.templates() {
        check_template(t, span, known, guarded, w);
    }
}

fn check_value(
    v: &Value,
    span: &Span,
    known: &HashSet<String>,
    guarded: &HashSet<String>,
    w: &mut Warnings,
) {
    let mut texts = Vec::new();
    value_strings(v, &mut texts);
    for s in texts.iter().filter(|s| crate::template::is_templated(s)) {
        let t = crate::template::compile_lenient(s);
        let mut g = guarded_names([s.as_str()]);
        g.extend(guarded.iter().cloned());
        check_template(&t, span, known, &g, w);
    }
}

/// The strings in a value (vars, role defaults), at any depth, in order.
pub(crate) fn value_strings(v: &Value, out: &mut Vec<String>) {
    if let Some(s) = v.as_str() {
        out.push(s.to_string());
    } else if let Ok(items) = v.try_iter() {
        let map = v.kind() == minijinja::value::ValueKind::Map;
        for item in items {
            let child = if map {
                v.get_item(&item).unwrap_or_default()
            } else {
                item
            };
            value_strings(&child, out);
        }
    }
}

/// Every template source of a task (arguments, conditions, loop, name, environment).
pub(crate) fn task_sources(t: &Task) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let trees = std::iter::once(&t.args)
        .chain(&t.environment)
        .chain(&t.loop_items)
        .chain(&t.loop_label)
        .chain(&t.name);
    for tree in trees {
        out.extend(tree.templates().iter().map(|(tm, _)| tm.source()));
    }
    let conds = t
        .when
        .iter()
        .chain(t.changed_when.iter().flatten())
        .chain(t.failed_when.iter().flatten())
        .chain(&t.until);
    out.extend(conds.map(|c| c.source()));
    out
}

fn check_task(
    t: &Task,
    known: &HashSet<String>,
    play_dir: &std::path::Path,
    w: &mut Warnings,
) -> Result<()> {
    let guarded = guarded_names(task_sources(t));
    let g = &guarded;
    check_tree(&t.args, known, g, w);
    for c in &t.when {
        check_template(c, t.span_of("when"), known, g, w);
    }
    for (key, conds) in [
        ("changed_when", &t.changed_when),
        ("failed_when", &t.failed_when),
    ] {
        for c in conds.iter().flatten() {
            check_template(c, t.span_of(key), known, g, w);
        }
    }
    if let Some(u) = &t.until {
        check_template(u, t.span_of("until"), known, g, w);
    }
    let trees = t
        .environment
        .iter()
        .chain(&t.loop_items)
        .chain(&t.loop_label)
        .chain(&t.name);
    for tree in trees {
        check_tree(tree, known, g, w);
    }
    for v in t.vars.values() {
        check_value(v, t.span_of("vars"), known, g, w);
    }
    if let Some(role) = &t.role {
        for v in role
            .defaults
            .values()
            .chain(role.vars.values())
            .chain(role.params.values())
        {
            check_value(v, &t.span, known, g, w);
        }
    }
    let module = t.module_name.trim_start_matches("ansible.builtin.");
    // A literal `include_vars` file must exist now too.
    if let (true, TTree::Map(entries)) = (module == "include_vars", &t.args) {
        let literal = entries
            .iter()
            .find(|(k, _)| k == "file" || k == "_raw_params")
            .and_then(|(_, v)| match v {
                TTree::Value(v) => v.as_str().map(str::to_string),
                _ => None,
            });
        if let Some(file) = literal {
            let paths = search_paths(t, play_dir);
            if paths.find("vars", &file).is_none() {
                let key = if entries.iter().any(|(k, _)| k == "file") {
                    "arg:file"
                } else {
                    "arg:_raw_params"
                };
                let dirs: Vec<String> = paths
                    .dirs
                    .iter()
                    .map(|d| d.join("vars").display().to_string())
                    .collect();
                w.push(format!(
                    "{}: the vars file `{file}` was not found (searched {}); the task fails if it runs and the file is still missing\nhint: put it in the role's `vars/` directory or give a path relative to the playbook",
                    t.span_of(key),
                    dirs.join(", ")
                ));
            }
        }
    }
    // A literal `src:` of template/copy must exist now, not fail halfway through a run.
    let kind = match module {
        "template" => Some("templates"),
        "copy" => Some("files"),
        _ => None,
    };
    if let (Some(kind), TTree::Map(entries)) = (kind, &t.args) {
        let literal_bool = |key: &str| {
            entries.iter().find_map(|(k, v)| match v {
                TTree::Value(b) if k == key => crate::modules::args_to_bool(b),
                _ => None,
            })
        };
        let remote = literal_bool("remote_src") == Some(true);
        let decrypt = kind == "templates" || literal_bool("decrypt") != Some(false);
        if let Some((_, TTree::Value(src))) = entries.iter().find(|(k, _)| k == "src") {
            if let (Some(src), false) = (src.as_str(), remote) {
                let paths = search_paths(t, play_dir);
                let found = paths.find(kind, src).filter(|p| p.is_file());
                if let Some(found) = found.filter(|p| kind == "templates" || is_vaulted(p)) {
                    let text = open_source(&found, decrypt)
                        .map_err(|e| err_at(t.span_of("arg:src"), e))?;
                    if kind == "templates" {
                        if let Err(e) = check_template_file(&found, &text) {
                            w.push(format!("{e:#}; the task fails if it runs"));
                        }
                    }
                }
                if paths.find(kind, src).is_none() {
                    let dirs: Vec<String> = paths
                        .dirs
                        .iter()
                        .map(|d| d.join(kind).display().to_string())
                        .collect();
                    w.push(format!("{}: the {} source `{src}` was not found (searched {}); the task fails if it runs and the file is still missing\nhint: put it in the role's `{kind}/` directory or give a path relative to the playbook", t.span_of("arg:src"), t.module_name, dirs.join(", ")));
                }
            }
        }
    }
    Ok(())
}

/// The text of a `template` task's literal `src` as the run would render it (found where the
/// run looks, decrypted when vault-encrypted); `None` for another task, a templated or
/// missing source, or one no password opens (the check above reports those).
pub(crate) fn template_text(t: &Task, play_dir: &std::path::Path) -> Option<String> {
    if t.module_name.trim_start_matches("ansible.builtin.") != "template" {
        return None;
    }
    let TTree::Map(entries) = &t.args else {
        return None;
    };
    let src = entries.iter().find_map(|(k, v)| match v {
        TTree::Value(s) if k == "src" => s.as_str(),
        _ => None,
    })?;
    let found = search_paths(t, play_dir)
        .find("templates", src)
        .filter(|p| p.is_file())?;
    open_source(&found, true).ok()
}

/// Whether a file starts as vault-encrypted data does (only its first bytes are read: a `copy`
/// source may be large).
fn is_vaulted(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(256);
    std::fs::File::open(path)
        .and_then(|f| f.take(256).read_to_end(&mut head))
        .is_ok_and(|_| crate::vault::is_encrypted(&head))
}

/// A source file's text; a vault-encrypted one is decrypted now (in memory), so a missing or
/// wrong password stops the run before any host is touched.
fn open_source(path: &std::path::Path, decrypt: bool) -> Result<String, String> {
    let Ok(data) = std::fs::read(path) else {
        return Ok(String::new());
    };
    if !decrypt {
        return Ok(String::from_utf8_lossy(&data).into_owned());
    }
    match crate::vault::open_bytes(data) {
        Ok((plain, _)) => Ok(String::from_utf8_lossy(&plain).into_owned()),
        Err(e) => Err(format!(
            "the vault-encrypted source `{}` cannot be decrypted: {}",
            path.display(),
            e.report()
        )),
    }
}

/// A template file must compile: a syntax error names the template's own file:line:column.
fn check_template_file(path: &std::path::Path, text: &str) -> Result<()> {
    let env = crate::template::env();
    if let Err(e) = env.template_from_str(text) {
        let (line, col) = match e.range() {
            Some(r) => {
                let before = &text[..r.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (line, col)
            }
            None => (e.line().unwrap_or(1), 1),
        };
        return Err(anyhow::anyhow!(
            "{}:{line}:{col}: template syntax error: {}\nhint: check the `{{% %}}` blocks are closed (`endif`, `endfor`) and the `{{{{ }}}}` pairs",
            path.display(),
            e.detail().unwrap_or("invalid syntax")
        ));
    }
    Ok(())
}

/// Where a task's controller-side files are looked up: the role, then the task file's dir,
/// then the playbook's dir.
pub fn search_paths(t: &Task, play_dir: &std::path::Path) -> SearchPaths {
    let mut dirs = Vec::new();
    if let Some(r) = &t.role {
        dirs.push(r.path.clone());
    }
    if !dirs.contains(&t.file_dir) {
        dirs.push(t.file_dir.clone());
    }
    if !dirs.iter().any(|d| d == play_dir) {
        dirs.push(play_dir.to_path_buf());
    }
    SearchPaths { dirs }
}

fn check_play(
    play: &Play,
    known: &HashSet<String>,
    dir: &std::path::Path,
    w: &mut Warnings,
) -> Result<()> {
    let none = HashSet::new();
    check_tree(&play.hosts, known, &none, w);
    for v in play.vars.values() {
        check_value(v, &play.span, known, &none, w);
    }
    for t in play.all_tasks() {
        check_task(t, known, dir, w)?;
    }
    Ok(())
}

/// Checks every template of the playbook against the names anything could define; returns
/// the warnings (what may fail at run time). An error is what no run could get past.
pub fn check_variables(pb: &Playbook, inv: &Inventory, extra: &VarMap) -> Result<Vec<String>> {
    let known = known_names(pb, inv, extra);
    let mut w = Warnings::default();
    for play in &pb.plays {
        check_play(play, &known, &pb.dir, &mut w)?;
    }
    Ok(w.list)
}
