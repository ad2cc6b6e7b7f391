//! Roles: finding a role on the search path (`roles/` beside the playbook, `--roles-path`,
//! `ANSIBLE_ROLES_PATH`, the playbook dir), loading its defaults, vars, tasks and handlers,
//! and its `meta/main.yml` dependencies first (each role once per play unless its parameters
//! differ).

use super::play::{load_task_list, load_vars_file, LoadCtx};
use super::task::{err_at, vars_map, want_str, Inherited};
use super::{RoleInfo, Task};
use crate::vars::VarMap;
use crate::yaml::{load_file, Node, NodeKind, Span};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A role as named in a play's `roles:` or an `import_role`.
pub(super) struct RoleRef {
    pub name: String,
    pub span: Span,
    pub params: VarMap,
    /// The entry itself, for inherited keywords (`when`, `tags`, `become`…).
    pub keywords: Node,
    /// `handlers_from`, `vars_from`, `defaults_from` of an `import_role`/`include_role`.
    pub from: FromFiles,
    /// Brought in by `import_role`/`include_role` (part of the role's identity).
    pub from_include: bool,
    /// `allow_duplicates` of the `import_role`/`include_role` (default true there), over the
    /// role's `meta/main.yml`.
    pub allow_duplicates: Option<bool>,
}

/// Which files of a role's `handlers/`, `vars/` and `defaults/` are read (`main` unless given).
#[derive(Clone, Debug, Default)]
pub(super) struct FromFiles {
    pub handlers: Option<String>,
    pub vars: Option<String>,
    pub defaults: Option<String>,
}

const ROLE_ENTRY_KEYWORDS: &[&str] = &[
    "role",
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "vars",
    "ignore_errors",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "remote_user",
    "become_method",
];

impl RoleRef {
    pub fn parse(node: &Node) -> Result<RoleRef> {
        match &node.kind {
            NodeKind::Str(s) => Ok(RoleRef {
                name: s.clone(),
                span: node.span.clone(),
                params: VarMap::new(),
                keywords: Node {
                    kind: NodeKind::Map(Default::default()),
                    span: node.span.clone(),
                    tag: None,
                },
                from: FromFiles::default(),
                from_include: false,
                allow_duplicates: None,
            }),
            NodeKind::Map(entries) => {
                let name_node = node
                    .get("role")
                    .or_else(|| node.get("name"))
                    .ok_or_else(|| err_at(&node.span, "a role entry needs `role: NAME`"))?;
                let name = want_str(name_node, "role")?;
                let mut params = VarMap::new();
                let mut keywords = Vec::new();
                for (k, v) in entries.iter() {
                    let key = k.key_str().unwrap_or_default();
                    if key == "vars" {
                        params.extend(vars_map(v, "vars")?);
                    } else if ROLE_ENTRY_KEYWORDS.contains(&key.as_str()) {
                        keywords.push((k.clone(), v.clone()));
                    } else {
                        crate::template::tree::TTree::from_node(v)?;
                        params.insert(key, crate::yaml::node_to_value(v));
                    }
                }
                let keywords = keywords
                    .into_iter()
                    .filter(|(k, _)| !matches!(k.as_str(), Some("role" | "name")))
                    .collect::<Vec<_>>()
                    .into();
                Ok(RoleRef {
                    name,
                    span: name_node.span.clone(),
                    params,
                    keywords: Node {
                        kind: NodeKind::Map(keywords),
                        span: node.span.clone(),
                        tag: None,
                    },
                    from: FromFiles::default(),
                    from_include: false,
                    allow_duplicates: None,
                })
            }
            _ => Err(err_at(
                &node.span,
                "a role entry must be a name or a mapping with `role:`",
            )),
        }
    }

    /// `import_role: {name: x, tasks_from: y, vars: {…}}`
    pub fn from_include(node: &Node) -> Result<RoleRef> {
        let name_node = node
            .get("name")
            .or_else(|| node.get("role"))
            .ok_or_else(|| err_at(&node.span, "`import_role` / `include_role` needs `name:`"))?;
        let mut params = VarMap::new();
        if let Some(v) = node.get("vars") {
            params.extend(vars_map(v, "vars")?);
        }
        for (k, _) in node.as_map().unwrap_or(&[]) {
            let key = k.key_str().unwrap_or_default();
            if !matches!(
                key.as_str(),
                "name"
                    | "role"
                    | "tasks_from"
                    | "vars"
                    | "handlers_from"
                    | "defaults_from"
                    | "vars_from"
                    | "public"
                    | "apply"
                    | "allow_duplicates"
                    | "rolespec_validate"
            ) {
                return Err(err_at(
                    &k.span,
                    format!("`{key}` is not an option of import_role/include_role"),
                ));
            }
        }
        let from_file =
            |k: &str| -> Result<Option<String>> { node.get(k).map(|v| want_str(v, k)).transpose() };
        Ok(RoleRef {
            name: want_str(name_node, "name")?,
            span: name_node.span.clone(),
            params,
            keywords: Node {
                kind: NodeKind::Map(Default::default()),
                span: node.span.clone(),
                tag: None,
            },
            from: FromFiles {
                handlers: from_file("handlers_from")?,
                vars: from_file("vars_from")?,
                defaults: from_file("defaults_from")?,
            },
            from_include: true,
            allow_duplicates: Some(
                node.get("allow_duplicates")
                    .map(|v| super::task::want_bool(v, "allow_duplicates"))
                    .transpose()?
                    .unwrap_or(true),
            ),
        })
    }
}

pub(super) struct LoadedRole {
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
}

/// Where collections are installed, in Ansible's order: `collections/` beside the playbook,
/// `ANSIBLE_COLLECTIONS_PATH` (or the older `ANSIBLE_COLLECTIONS_PATHS`), then the default
/// `~/.ansible/collections` and `/usr/share/ansible/collections`. Each holds
/// `ansible_collections/NAMESPACE/COLLECTION/`.
pub fn collection_roots(playbook_dir: &Path) -> Vec<PathBuf> {
    let mut roots = vec![playbook_dir.join("collections")];
    let env = std::env::var_os("ANSIBLE_COLLECTIONS_PATH")
        .or_else(|| std::env::var_os("ANSIBLE_COLLECTIONS_PATHS"));
    match env {
        Some(v) => roots.extend(std::env::split_paths(&v)),
        None => {
            if let Some(home) = std::env::var_os("HOME") {
                roots.push(Path::new(&home).join(".ansible/collections"));
            }
            roots.push(PathBuf::from("/usr/share/ansible/collections"));
        }
    }
    roots
}

/// The directory of collection `ns.coll` (`NAMESPACE.COLLECTION`), if installed.
pub fn collection_dir(collection: &str, playbook_dir: &Path) -> Option<PathBuf> {
    let (ns, coll) = collection.split_once('.')?;
    collection_roots(playbook_dir)
        .into_iter()
        .map(|r| r.join("ansible_collections").join(ns).join(coll))
        .find(|d| d.is_dir())
}

/// The role directory for `name`, absolute with links resolved (`role_path`, as Ansible's).
fn find_role(name: &str, ctx: &LoadCtx, collections: &[String]) -> Option<PathBuf> {
    find_role_dir(name, ctx, collections).map(|p| {
        std::fs::canonicalize(&p)
            .or_else(|_| std::path::absolute(&p))
            .unwrap_or(p)
    })
}

fn find_role_dir(name: &str, ctx: &LoadCtx, collections: &[String]) -> Option<PathBuf> {
    // `namespace.collection.role`: the role of an installed collection.
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 3 && !name.contains('/') {
        return collection_dir(&format!("{}.{}", parts[0], parts[1]), &ctx.playbook_dir)
            .map(|c| c.join("roles").join(parts[2]))
            .filter(|p| p.is_dir());
    }
    let mut dirs = vec![ctx.playbook_dir.join("roles")];
    dirs.extend(ctx.opts.roles_path.iter().cloned());
    if let Some(env) = std::env::var_os("ANSIBLE_ROLES_PATH") {
        dirs.extend(std::env::split_paths(&env));
    }
    dirs.extend(ctx.dep_basedir.clone());
    dirs.push(ctx.playbook_dir.clone());
    let direct = Path::new(name);
    if direct.is_absolute() && direct.is_dir() {
        return Some(direct.to_path_buf());
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_dir())
        // A short name in a collection the play (or the enclosing role) lists.
        .or_else(|| {
            collections.iter().find_map(|c| {
                collection_dir(c, &ctx.playbook_dir)
                    .map(|d| d.join("roles").join(name))
                    .filter(|p| p.is_dir())
            })
        })
}

fn main_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [
        format!("{stem}.yml"),
        format!("{stem}.yaml"),
        stem.to_string(),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
}

/// The variables of a role's `defaults/` or `vars/` file `stem`, as Ansible's
/// `find_vars_files` reads them: `stem.yml`, `stem.yaml`, `stem.json` or `stem`, or, when
/// `stem` is a directory, every such file under it (sorted, hidden and `~` files skipped),
/// merged in order.
fn role_vars(dir: &Path, stem: &str) -> Result<VarMap> {
    let mut out = VarMap::new();
    let base = dir.join(stem);
    if base.is_dir() {
        fn walk(d: &Path, files: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(d) else { return };
            let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            for p in entries {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                let name = name.unwrap_or_default();
                if name.starts_with('.') || name.ends_with('~') {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, files);
                } else if matches!(
                    p.extension().and_then(|e| e.to_str()),
                    None | Some("yml" | "yaml" | "json")
                ) {
                    files.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(&base, &mut files);
        for f in files {
            out.extend(load_vars_file(&f)?);
        }
        return Ok(out);
    }
    let found = [
        format!("{stem}.yml"),
        format!("{stem}.yaml"),
        format!("{stem}.json"),
        stem.to_string(),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file());
    if let Some(f) = found {
        out = load_vars_file(&f)?;
    }
    Ok(out)
}

/// Whether `p` is inside `dir`, with `.` and `..` resolved in both (links are not followed).
fn lexically_under(p: &Path, dir: &Path) -> bool {
    fn norm(p: &Path) -> PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut out = PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }
    norm(p).starts_with(norm(dir))
}

/// `ns.coll` when `role_dir` is a role of an installed collection
/// (`…/ansible_collections/NS/COLL/roles/ROLE`).
fn collection_of(role_dir: &Path) -> Option<String> {
    let roles = role_dir.parent()?;
    if roles.file_name()? != "roles" {
        return None;
    }
    let coll = roles.parent()?;
    let ns = coll.parent()?;
    if ns.parent()?.file_name()? != "ansible_collections" {
        return None;
    }
    Some(format!(
        "{}.{}",
        ns.file_name()?.to_string_lossy(),
        coll.file_name()?.to_string_lossy()
    ))
}

/// Loads a role with its dependencies; `seen` holds (name, params) already loaded in this play.
pub(super) fn load_role(
    rref: &RoleRef,
    inh: &Inherited,
    ctx: &mut LoadCtx,
    seen: &mut Vec<(String, String)>,
    tasks_from: &str,
) -> Result<LoadedRole> {
    // A role inside a collection finds its siblings by their short names.
    let mut collections = inh.collections.clone();
    if let Some(c) = inh.role.as_ref().and_then(|r| collection_of(&r.path)) {
        collections.push(c);
    }
    // A templated name (`name: "{{ role_to_use }}"`) is rendered with what loading knows.
    let rendered;
    let rref = if crate::template::is_templated(&rref.name) {
        rendered = RoleRef {
            name: ctx.render_name(&rref.name),
            span: rref.span.clone(),
            params: rref.params.clone(),
            keywords: rref.keywords.clone(),
            from: rref.from.clone(),
            from_include: rref.from_include,
            allow_duplicates: rref.allow_duplicates,
        };
        &rendered
    } else {
        rref
    };
    let Some(path) = find_role(&rref.name, ctx, &collections) else {
        let mut searched = vec![ctx.playbook_dir.join("roles").display().to_string()];
        searched.extend(ctx.opts.roles_path.iter().map(|p| p.display().to_string()));
        searched.extend(ctx.dep_basedir.iter().map(|p| p.display().to_string()));
        searched.push(ctx.playbook_dir.display().to_string());
        // The dependent role's directory is often one already named (`roles/`).
        let mut seen_dirs = std::collections::HashSet::new();
        searched.retain(|d| {
            let real = std::fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d));
            seen_dirs.insert(real)
        });
        return Err(err_at(&rref.span, format!("role `{}` not found (searched {})\nhint: put it in `roles/` beside the playbook or pass `--roles-path`", rref.name, searched.join(", "))));
    };
    // The role's identity (Ansible's role cache key): where it is, its parameters, the
    // keywords of its entry, the files it reads, and whether an import/include brought it.
    // A role run to completion on a host does not run again there in this play unless it
    // allows duplicates (decided at run time, see `TaskKind::RoleComplete`).
    let identity = format!(
        "{}|{:?}|{}|{}|{:?}/{:?}/{:?}|{}",
        path.display(),
        rref.params,
        crate::yaml::node_to_value(&rref.keywords),
        tasks_from,
        rref.from.handlers,
        rref.from.vars,
        rref.from.defaults,
        rref.from_include
    );
    let key = (rref.name.clone(), identity.clone());
    let mut out = LoadedRole {
        tasks: Vec::new(),
        handlers: Vec::new(),
    };
    seen.push(key);
    // A role may bring in its own other task files (`tasks_from`); the same file again is a
    // recursion without end.
    let stack_key = path.join("tasks").join(tasks_from);
    if ctx.include_stack.contains(&stack_key) {
        return Err(err_at(
            &rref.span,
            format!("role `{}` depends on itself", rref.name),
        ));
    }
    ctx.include_stack.push(stack_key);

    let defaults = role_vars(
        &path.join("defaults"),
        rref.from.defaults.as_deref().unwrap_or("main"),
    )?;
    let vars = role_vars(
        &path.join("vars"),
        rref.from.vars.as_deref().unwrap_or("main"),
    )?;
    // This role's parameters: those of the roles it sits in, then its own.
    let mut param_chain = inh.role_param_chain.clone();
    param_chain.extend(rref.params.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut role_collections = Vec::new();
    let mut allow_duplicates = false;
    if let Some(meta) = main_file(&path.join("meta"), "main") {
        let docs = load_file(&meta)?;
        if let Some(a) = docs.first().and_then(|d| d.get("allow_duplicates")) {
            allow_duplicates = super::task::want_bool(a, "allow_duplicates")?;
        }
        if let Some(c) = docs.first().and_then(|d| d.get("collections")) {
            role_collections = super::task::want_str_list(c, "collections")?;
        }
        if let Some(deps) = docs.first().and_then(|d| d.get("dependencies")) {
            for dep in deps.as_seq().unwrap_or(&[]) {
                let dref = RoleRef::parse(dep)?;
                let mut dinh = super::task::inherit_from(&dref.keywords, inh, &["role", "name"])?;
                // A dependency gets this role's parameters under its own.
                dinh.role_param_chain = param_chain.clone();
                let was = std::mem::replace(&mut ctx.loading_dep, true);
                let base =
                    std::mem::replace(&mut ctx.dep_basedir, path.parent().map(Path::to_path_buf));
                let loaded = load_role(&dref, &dinh, ctx, seen, "main");
                ctx.loading_dep = was;
                ctx.dep_basedir = base;
                let loaded = loaded?;
                out.tasks.extend(loaded.tasks);
                out.handlers.extend(loaded.handlers);
            }
        }
    }
    // A role given by path (`roles: [/srv/roles/app]`) is named after its directory.
    let name = Path::new(&rref.name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| rref.name.clone());
    // A collection's role is shown (and is `ansible_role_name`) by its FQCN.
    let (name, fqcn) = match collection_of(&path) {
        Some(c) => {
            let short = name.rsplit('.').next().unwrap_or(&name).to_string();
            (short.clone(), format!("{c}.{short}"))
        }
        None => (name.clone(), name),
    };
    // `ansible_parent_role_names`/`_paths`: the roles that brought this one in, nearest first.
    // Only an import/include statement inside a role makes a parent (a role bringing itself
    // in is its own parent); dependencies have none of their own.
    let parents = match (&inh.role, ctx.loading_dep) {
        (Some(p), false) => {
            let mut v = vec![(p.fqcn.clone(), p.path.clone())];
            v.extend(p.parents.iter().cloned());
            v
        }
        _ => Vec::new(),
    };
    let (chain_defaults, chain_vars) = match (&inh.role, ctx.loading_dep) {
        (Some(p), false) => {
            let mut d = (*p.chain_defaults).clone();
            d.extend(p.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
            let mut v = (*p.chain_vars).clone();
            v.extend(p.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            (Arc::new(d), Arc::new(v))
        }
        _ => Default::default(),
    };
    let info = Arc::new(RoleInfo {
        name,
        fqcn,
        parents,
        path: path.clone(),
        defaults: Arc::new(defaults),
        vars: Arc::new(vars),
        params: Arc::new(param_chain.clone()),
        chain_defaults,
        chain_vars,
        key: identity.clone(),
        allow_duplicates: rref.allow_duplicates.unwrap_or(allow_duplicates),
    });
    if ctx.public {
        ctx.public_roles.push(info.clone());
    }
    if ctx.loading_dep {
        ctx.dep_role_names.push(info.fqcn.clone());
    } else if ctx.public {
        ctx.play_role_names.push(info.fqcn.clone());
    }
    let mut rinh = inh.clone();
    rinh.role = Some(info);
    rinh.role_param_chain = param_chain;
    rinh.collections.extend(role_collections);
    if let Some(c) = collection_of(&path) {
        rinh.collections.push(c);
    }
    rinh.file_dir = path.join("tasks");
    let tasks_from = ctx.render_name(tasks_from);
    let tasks_from = tasks_from.as_str();
    match main_file(&path.join("tasks"), tasks_from) {
        // As Ansible: `tasks_from` stays inside the role's `tasks/` (compared as written,
        // `..` resolved, links not followed).
        Some(f) if !lexically_under(&f, &path.join("tasks")) => {
            return Err(super::task::ansible_err_at(
                &rref.span,
                format!(
                    "Failed loading '{}' for role ({}) as it is not inside the expected role path: '{}'",
                    f.display(),
                    rref.name,
                    path.join("tasks").display()
                ),
            ));
        }
        Some(f) => {
            let docs = load_file(&f)?;
            if let Some(doc) = docs.first() {
                out.tasks.extend(load_task_list(doc, &rinh, ctx, false)?);
            }
            // Ansible's implicit `meta: role_complete` (tagged `always`).
            let mut done = Task::structural(
                crate::playbook::TaskKind::RoleComplete,
                None,
                rref.span.clone(),
                &rinh,
            );
            done.tags = vec!["always".into()];
            done.when.clear();
            out.tasks.push(done);
        }
        None if tasks_from != "main" => {
            return Err(err_at(
                &rref.span,
                format!("role `{}` has no tasks file `{tasks_from}`", rref.name),
            ));
        }
        None => {}
    }
    let handlers_file = main_file(
        &path.join("handlers"),
        rref.from.handlers.as_deref().unwrap_or("main"),
    )
    .filter(|_| ctx.handler_roles.insert(identity.clone()));
    if let Some(f) = handlers_file {
        let docs = load_file(&f)?;
        let mut hinh = rinh.clone();
        hinh.file_dir = path.join("handlers");
        if let Some(doc) = docs.first() {
            out.handlers.extend(load_task_list(doc, &hinh, ctx, true)?);
        }
    }
    ctx.include_stack.pop();
    Ok(out)
}
