//! Loading a playbook file: plays, `import_playbook`, `vars_files`, and task lists with their
//! blocks, `import_tasks`/`include_tasks` and `import_role`/`include_role` expanded in place.

use super::role::{load_role, RoleRef};
use super::task::{
    err_at, inherit_from, parse_task, vars_map, want_bool, want_str, want_str_list, Inherited,
    BLOCK_KEYWORDS,
};
use super::task::{BlockTasks, IncludeTasks, TaskKind};
use super::{did_you_mean, BatchSize, LoadOptions, Play, Playbook, Task};
use crate::template::tree::TTree;
use crate::vars::VarMap;
use crate::yaml::{load_file, node_to_value, Node, NodeKind};
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};

const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "tasks",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "roles",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "remote_user",
    "connection",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "ignore_unreachable",
    "force_handlers",
    "check_mode",
    "diff",
    "tags",
    "environment",
    "strategy",
    "order",
    "collections",
    "ignore_errors",
    "no_log",
    "vars_prompt",
    "throttle",
    "timeout",
    "gather_subset",
    "run_once",
    "module_defaults",
    "fact_path",
    "gather_timeout",
    "import_playbook",
];

/// Ansible's play `order` values.
const ORDERS: &[&str] = &[
    "inventory",
    "reverse_inventory",
    "sorted",
    "reverse_sorted",
    "shuffle",
];

/// Shared state while loading one playbook: options and the include stack.
pub(super) struct LoadCtx<'a> {
    pub opts: &'a LoadOptions,
    pub playbook_dir: PathBuf,
    pub include_stack: Vec<PathBuf>,
    /// Handlers of roles imported or included from task lists: they join the play's.
    pub role_handlers: Vec<Task>,
    /// `vars` of the `import_playbook` statements being loaded (they win over play vars).
    pub import_vars: VarMap,
    /// The play being loaded's vars (with `import_vars`), for names rendered at load time.
    pub play_vars: VarMap,
    /// Whether roles loaded now are public (`roles:`, `import_role`, their dependencies; an
    /// `include_role` only with `public: true`): their defaults and vars are the play's too.
    pub public: bool,
    /// The public roles of the play being loaded, in load order (each once).
    pub public_roles: Vec<std::sync::Arc<super::RoleInfo>>,
    /// `ansible_play_role_names`: the play's `roles:` and imported roles, in load order.
    pub play_role_names: Vec<String>,
    /// `ansible_dependent_role_names`: roles loaded as `meta/main.yml` dependencies.
    pub dep_role_names: Vec<String>,
    /// A dependency is being loaded (its name goes to `dep_role_names`).
    pub loading_dep: bool,
    /// While a role's dependencies load: the directory that holds that role, where Ansible
    /// also looks for them (`role_basedir`).
    pub dep_basedir: Option<PathBuf>,
    /// Blocks entered while loading handlers: a block inside a handler is refused.
    pub handler_block_depth: usize,
    /// Roles (by identity) whose handlers the play has: a role loaded again (a dependency of
    /// two roles) adds them once, as Ansible's role cache does.
    pub handler_roles: std::collections::HashSet<String>,
}

/// Whether a role's defaults and vars are the play's too, unless it says `public:`: as
/// ansible-core decides, a static role (`roles:`, `import_role`) is public and an
/// `include_role` private, unless `private_role_vars` (`ANSIBLE_PRIVATE_ROLE_VARS`) is set,
/// which then decides for both.
fn default_public(is_static: bool) -> bool {
    crate::config_lookup::explicit("DEFAULT_PRIVATE_ROLE_VARS", None)
        .and_then(|v| crate::config::boolean(&v))
        .map(|private| !private)
        .unwrap_or(is_static)
}

impl LoadCtx<'_> {
    /// Renders a name that must be known while loading (a role's): with `-e` over the play's
    /// vars; a name that cannot be rendered yet is kept as written.
    pub fn render_name(&self, name: &str) -> String {
        if !crate::template::is_templated(name) {
            return name.to_string();
        }
        let mut magic = VarMap::new();
        let dir = std::path::absolute(&self.playbook_dir).unwrap_or(self.playbook_dir.clone());
        magic.insert(
            "playbook_dir".into(),
            minijinja::Value::from(dir.display().to_string()),
        );
        let scope = crate::vars::Scope::new(vec![
            crate::vars::Layer::data(std::sync::Arc::new(magic)),
            crate::vars::Layer::templated(std::sync::Arc::new(self.play_vars.clone())),
            crate::vars::Layer::templated(std::sync::Arc::new(self.opts.extra_vars.clone())),
        ])
        .into_value();
        crate::template::compile_lenient(name)
            .render(&scope)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| name.to_string())
    }
}

/// Loads a playbook file and everything it imports.
pub fn load_playbook(path: &Path, opts: &LoadOptions) -> Result<Playbook> {
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let mut ctx = LoadCtx {
        opts,
        playbook_dir: dir.clone(),
        include_stack: vec![path.to_path_buf()],
        role_handlers: Vec::new(),
        import_vars: VarMap::new(),
        play_vars: VarMap::new(),
        public: true,
        public_roles: Vec::new(),
        play_role_names: Vec::new(),
        dep_role_names: Vec::new(),
        loading_dep: false,
        dep_basedir: None,
        handler_block_depth: 0,
        handler_roles: Default::default(),
    };
    let plays = load_plays(path, &mut ctx)?;
    Ok(Playbook {
        path: path.to_path_buf(),
        dir,
        plays,
    })
}

/// Loads a playbook from text (ad-hoc runs); `name` appears in messages.
pub fn load_playbook_str(text: &str, name: &str, opts: &LoadOptions) -> Result<Playbook> {
    let dir = PathBuf::from(".");
    let mut ctx = LoadCtx {
        opts,
        playbook_dir: dir.clone(),
        include_stack: Vec::new(),
        role_handlers: Vec::new(),
        import_vars: VarMap::new(),
        play_vars: VarMap::new(),
        public: true,
        public_roles: Vec::new(),
        play_role_names: Vec::new(),
        dep_role_names: Vec::new(),
        loading_dep: false,
        dep_basedir: None,
        handler_block_depth: 0,
        handler_roles: Default::default(),
    };
    let docs = crate::yaml::load_str(text, Path::new(name))?;
    let plays = plays_from_docs(docs, &dir, &mut ctx)?;
    Ok(Playbook {
        path: PathBuf::from(name),
        dir,
        plays,
    })
}

fn load_plays(path: &Path, ctx: &mut LoadCtx) -> Result<Vec<Play>> {
    if !path.exists() {
        return Err(anyhow!("the playbook `{}` does not exist", path.display()));
    }
    let docs = load_file(path)?;
    if docs
        .first()
        .is_none_or(|d| matches!(d.kind, NodeKind::Null))
    {
        return Err(anyhow!(
            "Empty playbook, nothing to do: {}\nhint: a playbook is a list of plays (`- hosts: ...`)",
            path.display()
        ));
    }
    if let Some(second) = docs.get(1) {
        return Err(err_at(
            &second.span,
            "a playbook is one YAML document, and another one starts here\nhint: remove the `---` line above it, so that its plays join the list of the first document".to_string(),
        ));
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    plays_from_docs(docs, &base, ctx)
}

fn plays_from_docs(docs: Vec<Node>, base: &Path, ctx: &mut LoadCtx) -> Result<Vec<Play>> {
    let Some(doc) = docs.into_iter().next() else {
        return Ok(Vec::new());
    };
    let Some(items) = doc.as_seq() else {
        return Err(err_at(&doc.span, format!("a playbook must be a list of plays, not {}\nhint: start each play with `- hosts: ...`", doc.type_name())));
    };
    let mut plays = Vec::new();
    for item in items {
        let normalized = short_action_keys(item);
        let item = normalized.as_ref().unwrap_or(item);
        if let Some(imp) = item.get("import_playbook") {
            let mut name = want_str(imp, "import_playbook")?;
            if crate::template::is_templated(&name) {
                // Rendered now, with what is known before any play runs.
                name = crate::template::compile_lenient(&name)
                    .render(&minijinja::Value::from(()))
                    .map_err(|e| err_at(&imp.span, format!("rendering the playbook name: {e}")))?
                    .to_string();
            }
            let target = base.join(name);
            if ctx.include_stack.contains(&target) {
                return Err(err_at(
                    &imp.span,
                    format!(
                        "`{}` imports itself (recursive import_playbook)",
                        target.display()
                    ),
                ));
            }
            // `vars:` on the import win over the imported plays' own; `when:` and `tags:`
            // apply to every task of them.
            let saved = ctx.import_vars.clone();
            if let Some(v) = item.get("vars") {
                ctx.import_vars.extend(vars_map(v, "vars")?);
            }
            let conds = match item.get("when") {
                Some(w) => super::task::conditions(w, "when")?,
                None => Vec::new(),
            };
            let tags = match item.get("tags") {
                Some(t) => want_str_list(t, "tags")?,
                None => Vec::new(),
            };
            ctx.include_stack.push(target.clone());
            let loaded =
                load_plays(&target, ctx).with_context(|| format!("imported at {}", imp.span));
            ctx.include_stack.pop();
            ctx.import_vars = saved;
            let mut loaded = loaded?;
            for play in &mut loaded {
                for t in play.sections.iter_mut().flatten() {
                    t.add_conditions_and_tags(&conds, &tags);
                }
                play.tags.extend(tags.iter().cloned());
            }
            plays.extend(loaded);
            continue;
        }
        plays.push(load_play(item, base, ctx)?);
    }
    Ok(plays)
}

fn parse_serial(node: &Node) -> Result<Vec<BatchSize>> {
    let one = |n: &Node| -> Result<BatchSize> {
        match &n.kind {
            NodeKind::Int(i) if *i >= 0 => Ok(BatchSize::Count(*i as usize)),
            NodeKind::Str(s) if s.trim().ends_with('%') => s
                .trim()
                .trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .map(BatchSize::Percent)
                .map_err(|_| err_at(&n.span, format!("`{s}` is not a percentage"))),
            NodeKind::Str(s) => s
                .trim()
                .parse::<usize>()
                .map(BatchSize::Count)
                .map_err(|_| {
                    err_at(
                        &n.span,
                        format!("`serial` must be a number or a percentage, not `{s}`"),
                    )
                }),
            _ => Err(err_at(
                &n.span,
                "`serial` must be a number, a percentage, or a list of them",
            )),
        }
    };
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(node)?]),
    }
}

fn load_play(node: &Node, base: &Path, ctx: &mut LoadCtx) -> Result<Play> {
    let Some(entries) = node.as_map() else {
        return Err(err_at(
            &node.span,
            format!("a play must be a mapping, not {}", node.type_name()),
        ));
    };
    for (k, _) in entries {
        let key = k.key_str().unwrap_or_default();
        if !PLAY_KEYWORDS.contains(&key.as_str()) {
            let hint = did_you_mean(&key, PLAY_KEYWORDS)
                .map(|s| format!("\nhint: did you mean `{s}`?"))
                .unwrap_or_else(|| "\nhint: tasks go under `tasks:`".into());
            return Err(err_at(
                &k.span,
                format!("'{key}' is not a valid attribute for a Play{hint}"),
            ));
        }
    }
    let get = |k: &str| node.get(k);
    // Keywords written as templates are decided when the play starts.
    let mut templated: Vec<(&'static str, TTree)> = Vec::new();
    for key in ["strategy", "serial", "max_fail_percentage"] {
        if let Some(n) = get(key).filter(|n| n.as_str().is_some_and(crate::template::is_templated))
        {
            templated.push((key, TTree::from_node(n)?));
        }
    }
    let literal = |k: &str| get(k).filter(|_| !templated.iter().any(|(t, _)| *t == k));
    let strategy = match literal("strategy") {
        Some(v) => {
            let mut val = want_str(v, "strategy")?;
            // `host_pinned` is `free` that keeps a host on one worker: drover's free does.
            if val == "host_pinned" {
                val = "free".into();
            }
            if val != "linear" && val != "free" {
                return Err(err_at(
                    &v.span,
                    format!(
                        "`strategy: {val}` is not supported by drover (use `linear` or `free`)"
                    ),
                ));
            }
            val
        }
        None => "linear".to_string(),
    };
    let order = match get("order") {
        Some(v) => {
            let val = want_str(v, "order")?;
            if !ORDERS.contains(&val.as_str()) {
                return Err(err_at(
                    &v.span,
                    format!(
                        "`order: {val}` is not a host order\nhint: use one of {}",
                        ORDERS.join(", ")
                    ),
                ));
            }
            val
        }
        None => "inventory".to_string(),
    };
    let hosts = match get("hosts") {
        Some(h) => match &h.kind {
            NodeKind::Seq(items) => {
                let parts: Result<Vec<String>> =
                    items.iter().map(|i| want_str(i, "hosts")).collect();
                TTree::from_str_at(&parts?.join(","), &h.span)?
            }
            _ => TTree::from_node(h)?,
        },
        None => {
            return Err(err_at(
                &node.span,
                "this play has no `hosts`\nhint: add `hosts: all` or a group name",
            ))
        }
    };
    let name = match get("name") {
        Some(n) => want_str(n, "name")?,
        None => match &hosts {
            TTree::Value(v) => v.to_string(),
            _ => String::new(),
        },
    };
    let mut vars = match get("vars") {
        Some(v) => vars_map(v, "vars")?,
        None => VarMap::new(),
    };
    if let Some(files) = get("vars_files") {
        ctx.play_vars = vars.clone();
        let entries: Vec<&Node> = match &files.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![files],
        };
        for entry in entries {
            // An entry may be a list of alternatives: the first that exists is read.
            let names: Vec<String> = match &entry.kind {
                NodeKind::Seq(alts) => alts
                    .iter()
                    .map(|a| want_str(a, "vars_files"))
                    .collect::<Result<_>>()?,
                _ => vec![want_str(entry, "vars_files")?],
            };
            let names: Vec<String> = names.iter().map(|n| ctx.render_name(n)).collect();
            let chosen = names
                .iter()
                .find(|n| base.join(n).is_file())
                .or(names.last())
                .cloned()
                .unwrap_or_default();
            let p = base.join(&chosen);
            let docs = load_file(&p).map_err(|e| {
                err_at(
                    &entry.span,
                    format!("cannot load vars file `{chosen}`: {e:#}"),
                )
            })?;
            if let Some(d) = docs.first() {
                // A mapping, or a list of mappings merged in order (as Ansible reads them).
                match &d.kind {
                    NodeKind::Map(_) | NodeKind::Null => vars.extend(vars_map(d, "vars_files")?),
                    NodeKind::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                        for i in items.iter() {
                            vars.extend(vars_map(i, "vars_files")?);
                        }
                    }
                    _ => {
                        return Err(err_at(
                            &d.span,
                            "Invalid variable file contents: a vars file must be a mapping of variable names to values, or a list of mappings",
                        ))
                    }
                }
            }
        }
    }
    vars.extend(ctx.import_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    ctx.play_vars = vars.clone();
    ctx.public_roles.clear();
    ctx.handler_roles.clear();
    ctx.play_role_names.clear();
    ctx.dep_role_names.clear();
    ctx.public = default_public(true);
    let mut inh = Inherited {
        file_dir: base.to_path_buf(),
        ..Inherited::default()
    };
    if let Some(t) = get("tags") {
        inh.tags = want_str_list(t, "tags")?;
    }
    let opt_bool =
        |k: &str| -> Result<Option<bool>> { get(k).map(|n| want_bool(n, k)).transpose() };
    super::task::take_flag(
        get("ignore_errors"),
        "ignore_errors",
        &mut inh.ignore_errors,
        &mut inh.templated_flags,
    )?;
    super::task::take_flag(
        get("no_log"),
        "no_log",
        &mut inh.no_log,
        &mut inh.templated_flags,
    )?;
    if let Some(t) = get("throttle") {
        inh.throttle = Some(super::task::want_count(t, "throttle")?);
    }
    if let Some(t) = get("timeout") {
        inh.timeout = Some(super::task::want_seconds(t, "timeout")?);
    }
    if let Some(e) = get("environment") {
        inh.environment.push(TTree::from_node(e)?);
    }
    if let Some(c) = get("collections") {
        inh.collections = want_str_list(c, "collections")?;
    }
    if let Some(md) = get("module_defaults") {
        inh.module_defaults.push(super::task::module_defaults(md)?);
    }

    let mut sections: Vec<Vec<Task>> = Vec::new();
    let mut handlers: Vec<Task> = Vec::new();
    // Always three sections (pre_tasks, roles and tasks, post_tasks), even empty ones: each
    // ends with a handler flush, as in Ansible.
    sections.push(match get("pre_tasks") {
        Some(pre) => load_task_list(pre, &inh, ctx, false)?,
        None => Vec::new(),
    });
    let mut main = Vec::new();
    if let Some(roles) = get("roles") {
        let Some(items) = roles.as_seq() else {
            return Err(err_at(&roles.span, "`roles` must be a list"));
        };
        let mut seen = Vec::new();
        for r in items {
            let rref = RoleRef::parse(r)?;
            let role_inh = inherit_from(&rref.keywords, &inh, &["role", "name"])?;
            let loaded = load_role(&rref, &role_inh, ctx, &mut seen, "main")?;
            main.extend(loaded.tasks);
            handlers.extend(loaded.handlers);
        }
    }
    if let Some(tasks) = get("tasks") {
        main.extend(load_task_list(tasks, &inh, ctx, false)?);
    }
    sections.push(main);
    sections.push(match get("post_tasks") {
        Some(post) => load_task_list(post, &inh, ctx, false)?,
        None => Vec::new(),
    });
    if let Some(h) = get("handlers") {
        handlers.extend(load_task_list(h, &inh, ctx, true)?);
    }
    // A role's handlers once, however often the role is imported or included.
    for h in ctx.role_handlers.drain(..) {
        if !handlers.iter().any(|k| k.span == h.span) {
            handlers.push(h);
        }
    }

    let become_opts = super::BecomeOpts {
        enabled: opt_bool("become")?,
        user: get("become_user")
            .map(|u| want_str(u, "become_user"))
            .transpose()?,
        method: match get("become_method") {
            Some(m) => {
                let method = want_str(m, "become_method")?;
                if !crate::template::is_templated(&method) {
                    super::check_become_method(&method).map_err(|e| err_at(&m.span, e))?;
                }
                Some(method)
            }
            None => None,
        },
    };
    let pct = |k: &str| -> Result<Option<f64>> {
        get(k)
            .map(|n| match &n.kind {
                NodeKind::Int(i) => Ok(*i as f64),
                NodeKind::Float(f) => Ok(*f),
                NodeKind::Str(s) => s
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| err_at(&n.span, format!("`{k}` must be a number"))),
                _ => Err(err_at(&n.span, format!("`{k}` must be a number"))),
            })
            .transpose()
    };
    // The play's public roles, once each, in load order: their defaults and vars are visible
    // to every task of the play (Ansible's public roles), even a role without tasks.
    let (mut roles_defaults, mut roles_vars) = (VarMap::new(), VarMap::new());
    {
        let mut seen: Vec<&Path> = Vec::new();
        for r in &ctx.public_roles {
            if !seen.contains(&r.path.as_path()) {
                seen.push(&r.path);
                roles_defaults.extend(r.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
                roles_vars.extend(r.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    Ok(Play {
        name,
        hosts,
        hosts_span: get("hosts")
            .map(|h| h.span.clone())
            .unwrap_or_else(|| node.span.clone()),
        span: node.span.clone(),
        vars: std::sync::Arc::new(vars),
        vars_prompt: get("vars_prompt")
            .map(super::prompt::load_prompts)
            .transpose()?
            .unwrap_or_default(),
        gather_facts: opt_bool("gather_facts")?,
        gather_args: ["gather_subset", "fact_path", "gather_timeout"]
            .iter()
            .filter_map(|k| Some((k.to_string(), node_to_value(get(k)?))))
            .collect(),
        become_opts,
        remote_user: get("remote_user")
            .map(|u| want_str(u, "remote_user"))
            .transpose()?,
        connection: get("connection")
            .map(|c| want_str(c, "connection"))
            .transpose()?,
        serial: literal("serial")
            .map(parse_serial)
            .transpose()?
            .unwrap_or_default(),
        max_fail_percentage: match literal("max_fail_percentage") {
            Some(_) => pct("max_fail_percentage")?,
            None => None,
        },
        order,
        strategy,
        roles_defaults: std::sync::Arc::new(roles_defaults),
        roles_vars: std::sync::Arc::new(roles_vars),
        play_role_names: std::mem::take(&mut ctx.play_role_names),
        dep_role_names: {
            let mut d = std::mem::take(&mut ctx.dep_role_names);
            d.sort();
            d.dedup();
            d
        },
        any_errors_fatal: opt_bool("any_errors_fatal")?.unwrap_or(false),
        ignore_unreachable: opt_bool("ignore_unreachable")?.unwrap_or(false),
        force_handlers: opt_bool("force_handlers")?,
        check_mode: opt_bool("check_mode")?,
        diff: opt_bool("diff")?,
        tags: inh.tags.clone(),
        sections,
        handlers,
        environment: inh.environment.clone(),
        templated,
    })
}

/// `serial` from a rendered value (a templated `serial:`): a number, a percentage, or a list.
pub fn serial_from_value(v: &minijinja::Value) -> Result<Vec<BatchSize>> {
    let one = |v: &minijinja::Value| -> Result<BatchSize> {
        if let Some(n) = v.as_i64() {
            return Ok(BatchSize::Count(n.max(0) as usize));
        }
        let s = v.to_string();
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            return p
                .trim()
                .parse()
                .map(BatchSize::Percent)
                .map_err(|_| anyhow!("`{s}` is not a percentage"));
        }
        t.parse()
            .map(BatchSize::Count)
            .map_err(|_| anyhow!("`serial` must be a number or a percentage, not `{s}`"))
    };
    match v.kind() {
        minijinja::value::ValueKind::Seq => v.try_iter()?.map(|i| one(&i)).collect(),
        minijinja::value::ValueKind::None | minijinja::value::ValueKind::Undefined => {
            Ok(Vec::new())
        }
        _ => Ok(vec![one(v)?]),
    }
}

/// Loads a list of tasks (or handlers), expanding blocks, imports and includes.
pub(super) fn load_task_list(
    node: &Node,
    inh: &Inherited,
    ctx: &mut LoadCtx,
    handlers: bool,
) -> Result<Vec<Task>> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items.as_slice(),
        NodeKind::Null => &[],
        _ => {
            return Err(err_at(
                &node.span,
                format!(
                    "a task list must be a list, not {}\nhint: start each task with `- name: ...`",
                    node.type_name()
                ),
            ))
        }
    };
    let mut out = Vec::new();
    for item in items {
        let start = out.len();
        load_item(item, inh, ctx, handlers, &mut out)?;
        // A handler that is an include, import or block: notifying its name (or a `listen`
        // topic of it) runs the tasks it brings in.
        let compound = ["import_tasks", "block", "include_role", "import_role"]
            .iter()
            .any(|k| item.get(k).is_some() || item.get(&format!("ansible.builtin.{k}")).is_some());
        if handlers && compound {
            let mut identity = Vec::new();
            if let Some(n) = item.get("name").and_then(|n| n.as_str()) {
                identity.push(n.to_string());
            }
            if let Some(l) = item.get("listen") {
                identity.extend(want_str_list(l, "listen")?);
            }
            for t in &mut out[start..] {
                for id in &identity {
                    if !t.listen.contains(id) {
                        t.listen.push(id.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Loads one entry of a task list (a task, block, import or include) onto `out`.
fn load_item(
    item: &Node,
    inh: &Inherited,
    ctx: &mut LoadCtx,
    handlers: bool,
    out: &mut Vec<Task>,
) -> Result<()> {
    let start = out.len();
    load_item_as_written(item, inh, ctx, handlers, out)?;
    // An include or meta task written with its FQCN keeps it as its action (its banner shows
    // `ansible.builtin.include_tasks`, as Ansible's does).
    if out.len() == start + 1 {
        let written = item.as_map().and_then(|m| {
            m.iter().find_map(|(k, _)| {
                let k = k.as_str()?;
                let short = short_action(k);
                (k != short
                    && matches!(short, "include_tasks" | "include" | "include_role" | "meta"))
                .then(|| (k.to_string(), short))
            })
        });
        if let Some((k, short)) = written {
            if out[start].module_name == short {
                out[start].module_name = k;
            }
        }
    }
    Ok(())
}

fn load_item_as_written(
    item: &Node,
    inh: &Inherited,
    ctx: &mut LoadCtx,
    handlers: bool,
    out: &mut Vec<Task>,
) -> Result<()> {
    if item.as_map().is_none() {
        return Err(err_at(
            &item.span,
            format!("a task must be a mapping, not {}", item.type_name()),
        ));
    }
    let normalized = short_action_keys(item);
    let written = item;
    let item = normalized.as_ref().unwrap_or(item);
    // As ansible-core: a role is no handler.
    if handlers {
        if let Some((k, _)) = written.as_map().and_then(|m| {
            m.iter().find(|(k, _)| {
                k.as_str().is_some_and(|k| {
                    matches!(k.rsplit('.').next(), Some("include_role" | "import_role"))
                })
            })
        }) {
            return Err(super::task::ansible_err_at(
                &item.span,
                format!(
                    "Using '{}' as a handler is not supported.",
                    k.as_str().unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(block) = item.get("block") {
        // A handler list's entries may be blocks; a block inside one may not (ansible-core).
        if handlers && ctx.handler_block_depth > 0 {
            return Err(super::task::ansible_err_at(
                &item.span,
                "Using a block as a handler is not supported.",
            ));
        }
        let binh = inherit_from(item, inh, BLOCK_KEYWORDS)?;
        if handlers {
            ctx.handler_block_depth += 1;
        }
        let loaded = (|| -> Result<_> {
            let tasks = load_task_list(block, &binh, ctx, handlers)?;
            let rescue = match item.get("rescue") {
                Some(r) => load_task_list(r, &binh, ctx, handlers)?,
                None => Vec::new(),
            };
            let always = match item.get("always") {
                Some(a) => load_task_list(a, &binh, ctx, handlers)?,
                None => Vec::new(),
            };
            Ok((tasks, rescue, always))
        })();
        if handlers {
            ctx.handler_block_depth -= 1;
        }
        let (tasks, rescue, always) = loaded?;
        if rescue.is_empty() && always.is_empty() {
            out.extend(tasks);
        } else {
            let name = item.get("name").map(TTree::from_node).transpose()?;
            let kind = TaskKind::Block(std::sync::Arc::new(BlockTasks {
                block: tasks,
                rescue,
                always,
            }));
            out.push(Task::structural(kind, name, item.span.clone(), &binh));
        }
        return Ok(());
    }
    let include = ["import_tasks", "include_tasks", "include"]
        .into_iter()
        .find_map(|k| item.get(k).map(|v| (k, v)));
    // `include_tasks` is dynamic, as a handler too (notifying it runs the file's tasks as
    // handlers; they are not notifiable themselves).
    if let Some((kw, target)) = include.filter(|(kw, _)| *kw != "import_tasks") {
        out.push(load_dynamic_include(item, kw, target, inh, ctx, handlers)?);
        return Ok(());
    }
    if let Some((kw, target)) = include {
        if let Some(l) = item.get("loop").or_else(|| item.get("with_items")) {
            return Err(err_at(
                &l.span,
                format!("a loop on `{kw}` is not supported by drover yet"),
            ));
        }
        // `import_tasks: x.yml`, `import_tasks: file=x.yml` or `import_tasks: {file: x.yml}`
        let file = match target.get("file") {
            Some(f) => want_str(f, kw)?,
            None => {
                let f = want_str(target, kw)?;
                f.trim_start()
                    .strip_prefix("file=")
                    .map(str::to_string)
                    .unwrap_or(f)
            }
        };
        if crate::template::is_templated(&file) {
            return Err(err_at(
                &target.span,
                format!("a templated file name in `{kw}` is not supported by drover yet"),
            ));
        }
        let path = task_file(inh, &ctx.playbook_dir, &file);
        if ctx.include_stack.contains(&path) {
            return Err(err_at(
                &target.span,
                format!("`{}` includes itself (recursive {kw})", path.display()),
            ));
        }
        let mut sub = inherit_from(item, inh, super::task::IMPORT_KEYWORDS)?;
        sub.file_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let docs = load_file(&path)
            .map_err(|e| err_at(&target.span, format!("cannot load `{file}`: {e:#}")))?;
        ctx.include_stack.push(path.clone());
        let depth = std::mem::take(&mut ctx.handler_block_depth);
        let loaded = match docs.first() {
            Some(doc) => load_task_list(doc, &sub, ctx, handlers),
            None => Ok(Vec::new()),
        };
        ctx.handler_block_depth = depth;
        out.extend(loaded?);
        ctx.include_stack.pop();
        return Ok(());
    }
    let role_kv;
    let role_inc = match ["import_role", "include_role"]
        .into_iter()
        .find_map(|k| item.get(k).map(|v| (k, v)))
    {
        // `include_role: name=x tasks_from=y`
        Some((k, v)) if v.as_str().is_some() => {
            role_kv = kv_mapping(v)?;
            Some((k, &role_kv))
        }
        other => other,
    };
    if let Some((kw, spec)) = role_inc.filter(|(kw, _)| *kw == "include_role" && !handlers) {
        out.push(load_dynamic_role(item, kw, spec, inh, ctx)?);
        return Ok(());
    }
    if let Some((_, spec)) = role_inc {
        let rref = RoleRef::from_include(spec)?;
        let rinh = inherit_from(item, inh, super::task::IMPORT_KEYWORDS)?;
        let tasks_from = spec
            .get("tasks_from")
            .map(|t| want_str(t, "tasks_from"))
            .transpose()?;
        let mut seen = Vec::new();
        let public = spec
            .get("public")
            .map(|p| want_bool(p, "public"))
            .transpose()?
            .unwrap_or_else(|| default_public(true));
        let was_public = std::mem::replace(&mut ctx.public, public);
        let loaded = load_role(
            &rref,
            &rinh,
            ctx,
            &mut seen,
            tasks_from.as_deref().unwrap_or("main"),
        );
        ctx.public = was_public;
        let loaded = loaded?;
        out.extend(loaded.tasks);
        ctx.role_handlers.extend(loaded.handlers);
        return Ok(());
    }
    out.push(parse_task(item, inh, handlers)?);
    Ok(())
}

/// A `k=v` string as a mapping node (each value a string at the string's place).
fn kv_mapping(node: &Node) -> Result<Node> {
    let text = want_str(node, "arguments")?;
    let (pairs, _) = super::parse_kv(&text, false, &|_| true)
        .map_err(|e| err_at(&node.span, format!("cannot read `{text}`: {e}")))?;
    let at = |kind| Node {
        kind,
        span: node.span.clone(),
        tag: None,
    };
    Ok(at(NodeKind::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (at(NodeKind::Str(k)), at(NodeKind::Str(v))))
            .collect::<Vec<_>>()
            .into(),
    )))
}

/// The actions the loader handles itself, which Ansible also accepts by their FQCN
/// (`ansible.builtin.import_tasks`, `ansible.legacy.meta`, ...).
const STRUCTURAL_ACTIONS: &[&str] = &[
    "import_tasks",
    "include_tasks",
    "include",
    "import_role",
    "include_role",
    "meta",
    "import_playbook",
];

/// The short name of an action written with the `ansible.builtin.`/`ansible.legacy.` prefix.
pub(super) fn short_action(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// The task mapping with FQCN keys of structural actions shortened, when it has any.
pub(super) fn short_action_keys(item: &Node) -> Option<Node> {
    let entries = item.as_map()?;
    let needs = entries.iter().any(|(k, _)| {
        k.as_str()
            .is_some_and(|n| n != short_action(n) && STRUCTURAL_ACTIONS.contains(&short_action(n)))
    });
    if !needs {
        return None;
    }
    let entries = entries
        .iter()
        .map(|(k, v)| {
            let mut k = k.clone();
            if let NodeKind::Str(n) = &k.kind {
                let short = short_action(n);
                if STRUCTURAL_ACTIONS.contains(&short) {
                    k.kind = NodeKind::Str(short.to_string());
                }
            }
            (k, v.clone())
        })
        .collect::<Vec<_>>();
    Some(Node {
        kind: NodeKind::Map(entries.into()),
        span: item.span.clone(),
        tag: item.tag.clone(),
    })
}

/// Keywords an `include_tasks` statement takes; they apply to the include itself.
const INCLUDE_KEYWORDS: &[&str] = &[
    "name",
    "args",
    "when",
    "tags",
    "vars",
    "loop_control",
    "ignore_errors",
    "no_log",
    "become",
    "become_user",
    "become_method",
    "check_mode",
    "diff",
    "debugger",
];

/// What `apply:` may hand to the included tasks.
const APPLY_KEYWORDS: &[&str] = &[
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
    "timeout",
];

/// An `include_tasks` statement: a task of kind `Include` whose own keywords (`when`, loop,
/// `tags`) the executor evaluates per host, and the included file loaded now when its name is
/// not templated (so its errors surface before any host is touched).
fn load_dynamic_include(
    item: &Node,
    kw: &str,
    target: &Node,
    inh: &Inherited,
    ctx: &mut LoadCtx,
    handlers: bool,
) -> Result<Task> {
    // `include_tasks: file=x.yml`
    let kv;
    let target = match target.as_str() {
        Some(t) if t.trim_start().starts_with("file=") => {
            kv = kv_mapping(target)?;
            &kv
        }
        _ => target,
    };
    // `args: {file: ..., apply: ...}` beside (or instead of) the include's own value.
    let merged;
    let target = match item.get("args").and_then(|a| a.as_map()) {
        Some(extra) => {
            let mut entries: Vec<(Node, Node)> = extra.to_vec();
            match &target.kind {
                NodeKind::Map(own) => entries.extend(own.iter().cloned()),
                NodeKind::Null => {}
                _ => entries.push((
                    Node {
                        kind: NodeKind::Str("file".into()),
                        span: target.span.clone(),
                        tag: None,
                    },
                    target.clone(),
                )),
            }
            merged = Node {
                kind: NodeKind::Map(entries.into()),
                span: target.span.clone(),
                tag: None,
            };
            &merged
        }
        None => target,
    };
    let (file_node, apply) = match target.as_map() {
        Some(m) => {
            for (k, _) in m {
                let key = k.key_str().unwrap_or_default();
                if key != "file" && key != "apply" && key != "_raw_params" {
                    return Err(err_at(
                        &k.span,
                        format!("`{kw}` takes `file` and `apply`, not `{key}`"),
                    ));
                }
            }
            let file = target
                .get("file")
                .or_else(|| target.get("_raw_params"))
                .ok_or_else(|| err_at(&target.span, format!("`{kw}` needs `file:`")))?;
            (file, target.get("apply"))
        }
        None => (target, None),
    };
    let file = want_str(file_node, kw)?;
    let mut task = include_statement(item, kw, target, inh, handlers)?;
    task.args = TTree::from_node(file_node)?;
    // The include's `vars` reach the included tasks as include parameters, not as inherited
    // task vars; `apply` keywords are inherited.
    let mut sub = match apply {
        Some(a) => inherit_from(a, inh, APPLY_KEYWORDS)?,
        None => inh.clone(),
    };
    let templated = crate::template::is_templated(&file);
    let mut tasks = None;
    // A file an `include_tasks` names that is not there fails the task only if it runs, as
    // in Ansible (a handler for another platform includes one that may not exist).
    let deferred = !kw.ends_with("import_tasks")
        && !templated
        && !task_file(inh, &ctx.playbook_dir, &file).exists();
    if !templated && !deferred {
        let path = task_file(inh, &ctx.playbook_dir, &file);
        sub.file_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if ctx.include_stack.contains(&path) {
            return Err(err_at(
                &file_node.span,
                format!("`{}` includes itself (recursive {kw})", path.display()),
            ));
        }
        tasks = Some(std::sync::Arc::new(
            load_included_file(&path, &sub, ctx, handlers)
                .map_err(|e| err_at(&file_node.span, format!("cannot load `{file}`: {e:#}")))?,
        ));
    }
    task.kind = TaskKind::Include(std::sync::Arc::new(IncludeTasks {
        file: TTree::from_node(file_node)?,
        inherit: sub,
        params: match item.get("vars") {
            Some(v) => vars_map(v, "vars")?,
            None => VarMap::new(),
        },
        tasks,
        opts: ctx.opts.clone(),
        playbook_dir: ctx.playbook_dir.clone(),
        role_spec: None,
        handlers,
        handlers_gate: None,
    }));
    Ok(task)
}

/// `include_role`: dynamic like `include_tasks` (its `when` and loop are its own); the role
/// (defaults, vars, dependencies, `tasks_from`, handlers) is loaded now. Its `vars:` are the
/// role's parameters, templated per host and item.
fn load_dynamic_role(
    item: &Node,
    kw: &str,
    spec: &Node,
    inh: &Inherited,
    ctx: &mut LoadCtx,
) -> Result<Task> {
    let rref = RoleRef::from_include(spec)?;
    let mut task = include_statement(item, kw, spec, inh, false)?;
    // The statement's `vars:` reach the role's tasks as include parameters (above `set_fact`),
    // as Ansible's include_role passes them.
    let params = match item.get("vars") {
        Some(v) => vars_map(v, "vars")?,
        None => VarMap::new(),
    };
    if crate::template::is_templated(&rref.name) {
        // `include_role: name: "{{ role_path }}/roles/a"`: loaded when a host reaches it.
        let sub = match spec.get("apply") {
            Some(a) => inherit_from(a, inh, APPLY_KEYWORDS)?,
            None => inh.clone(),
        };
        let name_node = spec
            .get("name")
            .or_else(|| spec.get("role"))
            .ok_or_else(|| err_at(&spec.span, "`include_role` needs `name:`"))?;
        task.args = TTree::from_node(name_node)?;
        task.kind = TaskKind::Include(std::sync::Arc::new(IncludeTasks {
            file: TTree::from_node(name_node)?,
            inherit: sub,
            params: params.clone(),
            tasks: None,
            opts: ctx.opts.clone(),
            playbook_dir: ctx.playbook_dir.clone(),
            role_spec: Some(spec.clone()),
            handlers: false,
            handlers_gate: None,
        }));
        return Ok(task);
    }
    let tasks_from = spec
        .get("tasks_from")
        .map(|t| want_str(t, "tasks_from"))
        .transpose()?;
    let sub = match spec.get("apply") {
        Some(a) => inherit_from(a, inh, APPLY_KEYWORDS)?,
        None => inh.clone(),
    };
    let mut seen = Vec::new();
    // An included role's defaults and vars are its own unless it says `public: true`.
    let public = spec
        .get("public")
        .map(|p| want_bool(p, "public"))
        .transpose()?
        .unwrap_or_else(|| default_public(false));
    let was_public = std::mem::replace(&mut ctx.public, public);
    let handlers_before = ctx.role_handlers.len();
    let loaded = load_role(
        &rref,
        &sub,
        ctx,
        &mut seen,
        tasks_from.as_deref().unwrap_or("main"),
    );
    ctx.public = was_public;
    let loaded = loaded?;
    ctx.role_handlers.extend(loaded.handlers);
    // The role's handlers (and those of roles it imports) join the play's when it runs.
    static GATES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let gate = GATES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut gated = false;
    for h in &mut ctx.role_handlers[handlers_before..] {
        if h.handler_gate.is_none() {
            h.handler_gate = Some(gate);
            gated = true;
        }
    }
    let shown = format!(
        "{}/tasks/{}",
        rref.name,
        tasks_from.as_deref().unwrap_or("main")
    );
    task.args = TTree::Value(minijinja::Value::from(shown.as_str()));
    task.kind = TaskKind::Include(std::sync::Arc::new(IncludeTasks {
        file: TTree::Value(minijinja::Value::from(shown)),
        inherit: sub,
        params,
        tasks: Some(std::sync::Arc::new(loaded.tasks)),
        opts: ctx.opts.clone(),
        playbook_dir: ctx.playbook_dir.clone(),
        role_spec: None,
        handlers: false,
        handlers_gate: gated.then_some(gate),
    }));
    Ok(task)
}

/// The include statement's own keywords (`when`, loop, `tags`, `vars`...) parsed as a task's;
/// keywords that would apply to the include alone are refused with a hint to use `apply:`.
fn include_statement(
    item: &Node,
    kw: &str,
    target: &Node,
    inh: &Inherited,
    handlers: bool,
) -> Result<Task> {
    let Some(entries) = item.as_map() else {
        return Err(err_at(&item.span, "a task must be a mapping"));
    };
    let mut synthetic = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let key = k.key_str().unwrap_or_default();
        if key == kw {
            continue;
        }
        let is_loop = super::task::is_loop_keyword(&key);
        let allowed =
            is_loop || INCLUDE_KEYWORDS.contains(&key.as_str()) || (handlers && key == "listen");
        if !allowed {
            let mut hint = "put it in `apply:` to give it to the included tasks, or on those tasks";
            if super::task::TASK_KEYWORDS.contains(&key.as_str())
                && APPLY_KEYWORDS.contains(&key.as_str())
            {
                hint = "on `include_tasks` it would apply to the include alone: put it in `apply:` to give it to the included tasks";
            }
            return Err(err_at(
                &k.span,
                format!("`{key}` is not valid on `{kw}`\nhint: {hint}"),
            ));
        }
        synthetic.push((k.clone(), v.clone()));
    }
    // The include's own keywords are parsed as a task's (the `meta: noop` stands in for the
    // include itself), so `when`, loops and `loop_control` read exactly the same.
    let key_node = Node {
        kind: NodeKind::Str("meta".into()),
        span: target.span.clone(),
        tag: None,
    };
    let noop = Node {
        kind: NodeKind::Str("noop".into()),
        span: target.span.clone(),
        tag: None,
    };
    synthetic.push((key_node, noop));
    let node = Node {
        kind: NodeKind::Map(synthetic.into()),
        span: item.span.clone(),
        tag: None,
    };
    let mut task = parse_task(&node, inh, handlers)?;
    task.module_name = kw.to_string();
    Ok(task)
}

/// Where an imported or included task file is, as Ansible looks for it: beside the file that
/// names it, then (in a role) in the role's `tasks/` (a role's handlers include task files
/// from there) and the role's directory, then the playbook's directory. A file found nowhere
/// is reported at the first place.
pub(super) fn task_file(inh: &Inherited, playbook_dir: &Path, file: &str) -> PathBuf {
    let first = inh.file_dir.join(file);
    if Path::new(file).is_absolute() {
        return first;
    }
    let mut candidates = vec![first.clone()];
    if let Some(role) = &inh.role {
        candidates.push(role.path.join("tasks").join(file));
        candidates.push(role.path.join(file));
    }
    candidates.push(playbook_dir.join(file));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or(first)
}

fn load_included_file(
    path: &Path,
    inh: &Inherited,
    ctx: &mut LoadCtx,
    handlers: bool,
) -> Result<Vec<Task>> {
    let docs = load_file(path)?;
    ctx.include_stack.push(path.to_path_buf());
    let depth = std::mem::take(&mut ctx.handler_block_depth);
    let res = match docs.first() {
        Some(doc) => load_task_list(doc, inh, ctx, handlers),
        None => Ok(Vec::new()),
    };
    ctx.handler_block_depth = depth;
    ctx.include_stack.pop();
    res
}

/// Loads an included task file at run time (its name was templated): `file` is the rendered
/// name, relative to the including file's directory.
pub fn load_include_at_run_time(inc: &IncludeTasks, file: &str) -> Result<Vec<Task>> {
    if let Some(spec) = &inc.role_spec {
        let mut rref = RoleRef::from_include(spec)?;
        rref.name = file.to_string();
        let tasks_from = spec
            .get("tasks_from")
            .map(|t| want_str(t, "tasks_from"))
            .transpose()?;
        let mut ctx = LoadCtx {
            opts: &inc.opts,
            playbook_dir: inc.playbook_dir.clone(),
            include_stack: Vec::new(),
            role_handlers: Vec::new(),
            import_vars: VarMap::new(),
            play_vars: VarMap::new(),
            public: false,
            public_roles: Vec::new(),
            play_role_names: Vec::new(),
            dep_role_names: Vec::new(),
            loading_dep: false,
            dep_basedir: None,
            handler_block_depth: 0,
            handler_roles: Default::default(),
        };
        let mut seen = Vec::new();
        let loaded = load_role(
            &rref,
            &inc.inherit,
            &mut ctx,
            &mut seen,
            tasks_from.as_deref().unwrap_or("main"),
        )
        .map_err(|e| anyhow!("cannot load the role `{file}`: {e:#}"))?;
        return Ok(loaded.tasks);
    }
    let path = task_file(&inc.inherit, &inc.playbook_dir, file);
    let mut sub = inc.inherit.clone();
    sub.file_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut ctx = LoadCtx {
        opts: &inc.opts,
        playbook_dir: inc.playbook_dir.clone(),
        include_stack: Vec::new(),
        role_handlers: Vec::new(),
        import_vars: VarMap::new(),
        play_vars: VarMap::new(),
        public: true,
        public_roles: Vec::new(),
        play_role_names: Vec::new(),
        dep_role_names: Vec::new(),
        loading_dep: false,
        dep_basedir: None,
        handler_block_depth: 0,
        handler_roles: Default::default(),
    };
    load_included_file(&path, &sub, &mut ctx, inc.handlers)
        .map_err(|e| anyhow!("cannot load `{file}`: {e:#}"))
}

/// Reads a YAML vars file (role defaults/vars) into a map.
pub(super) fn load_vars_file(path: &Path) -> Result<VarMap> {
    let docs = load_file(path)?;
    match docs.first() {
        None => Ok(VarMap::new()),
        Some(d) if d.is_null() => Ok(VarMap::new()),
        Some(d) => match &d.kind {
            NodeKind::Map(entries) => {
                let mut out = VarMap::new();
                for (k, v) in entries.iter() {
                    TTree::from_node(v)?;
                    out.insert(k.key_str().unwrap_or_default(), node_to_value(v));
                }
                Ok(out)
            }
            _ => Err(err_at(
                &d.span,
                "a vars file must be a mapping of variable names to values",
            )),
        },
    }
}
