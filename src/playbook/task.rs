//! Tasks: one YAML task mapping becomes a `Task` with its module resolved, its arguments
//! compiled, and the keywords inherited from blocks, includes and roles applied. Unknown
//! keywords, modules and arguments are load errors naming file:line:column with a hint.

use super::{did_you_mean, parse_kv, BecomeOpts, RoleInfo};
use crate::modules::{self, Module};
use crate::template::tree::TTree;
use crate::template::{compile_condition_lenient, Tmpl};
use crate::vars::VarMap;
use crate::yaml::{node_to_value, Node, NodeKind, Span};
use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// The task keywords drover understands (Ansible's names).
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "args",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "changed_when",
    "check_mode",
    "diff",
    "environment",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "loop",
    "loop_control",
    "no_log",
    "notify",
    "register",
    "remote_user",
    "tags",
    "vars",
    "when",
    "listen",
    "until",
    "retries",
    "delay",
    "run_once",
    "collections",
    "debugger",
    "throttle",
    "timeout",
    "any_errors_fatal",
    "with_items",
    "with_list",
    "with_dict",
    "with_indexed_items",
    "with_sequence",
    "with_fileglob",
    "with_nested",
    "with_together",
    "with_first_found",
    "with_subelements",
    "with_flattened",
    "with_random_choice",
    "action",
    "local_action",
    "delegate_to",
    "delegate_facts",
    "async",
    "poll",
    "connection",
    "port",
    "module_defaults",
];

/// The loop keywords drover runs; `loop_values` in the executor turns each into items.
pub const LOOP_KEYWORDS: &[&str] = &[
    "loop",
    "with_items",
    "with_list",
    "with_flattened",
    "with_dict",
    "with_indexed_items",
    "with_sequence",
    "with_nested",
    "with_together",
    "with_subelements",
    "with_random_choice",
    "with_fileglob",
    "with_first_found",
];

/// Whether `key` is a loop keyword: `loop` or `with_<lookup>` for any lookup (those without a
/// loop of their own in `executor/loops.rs` hand their terms to the lookup of that name).
pub fn is_loop_keyword(key: &str) -> bool {
    key == "loop" || key.strip_prefix("with_").is_some_and(|l| !l.is_empty())
}

/// The loop keyword as a `'static` name: one of `LOOP_KEYWORDS`, else interned once.
fn loop_keyword(key: &str) -> &'static str {
    if let Some(k) = LOOP_KEYWORDS.iter().find(|k| **k == key) {
        return k;
    }
    static NAMES: std::sync::OnceLock<std::sync::Mutex<Vec<&'static str>>> =
        std::sync::OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(k) = names.iter().find(|k| **k == key) {
        return k;
    }
    let k: &'static str = Box::leak(key.to_string().into_boxed_str());
    names.push(k);
    k
}

/// Keywords Ansible has that drover does not run yet: refused at load time, never ignored.
const NOT_YET: &[&str] = &["port"];

/// A `block` with `rescue` and/or `always` sections.
#[derive(Debug)]
pub struct BlockTasks {
    pub block: Vec<Task>,
    pub rescue: Vec<Task>,
    pub always: Vec<Task>,
}

/// What a task does.
#[derive(Clone)]
pub enum TaskKind {
    Module(&'static dyn Module),
    /// A block with rescue/always: run by the executor section by section.
    Block(Arc<BlockTasks>),
    /// `meta: flush_handlers`.
    FlushHandlers,
    /// `meta: noop` and other metas that do nothing here.
    Noop,
    /// `meta: end_play`: no more tasks for any host of the play.
    EndPlay,
    /// `meta: end_host`: no more tasks of this play for the hosts where `when` holds.
    EndHost,
    /// `meta: clear_host_errors`: failed hosts of the batch take part again.
    ClearHostErrors,
    RefreshInventory,
    /// `meta: clear_facts`: the gathered facts of the hosts where `when` holds are dropped.
    ClearFacts,
    /// `meta: reset_connection`: the next task opens a new connection.
    ResetConnection,
    /// `meta: end_batch`: no more tasks for the current `serial` batch.
    EndBatch,
    /// `meta: end_role`: the rest of the role is skipped on the hosts where `when` holds.
    EndRole,
    /// The implicit `meta: role_complete` after a role's tasks: the role counts as run on the
    /// hosts where any of its tasks ran (and does not run again there unless it allows
    /// duplicates).
    RoleComplete,
    /// `include_tasks`: decided per host at run time (its `when` and loop are the include's
    /// own), then the file's tasks run for the hosts that included it.
    Include(Arc<IncludeTasks>),
}

/// A dynamic `include_tasks` (Ansible's semantics): the include's `when`, `tags` and loop
/// belong to the include alone; the included tasks get the enclosing blocks' keywords, the
/// include's `vars` and loop variables as include parameters, and whatever `apply` gives.
#[derive(Debug)]
pub struct IncludeTasks {
    /// The file, as written (it may be templated).
    pub file: TTree,
    /// What the included tasks inherit.
    pub inherit: Inherited,
    /// The include's own `vars`: include parameters of the included tasks.
    pub params: VarMap,
    /// The tasks, loaded (and checked) at load time when the file name is not templated.
    pub tasks: Option<Arc<Vec<Task>>>,
    /// Where roles are searched, for a file loaded at run time.
    pub opts: super::LoadOptions,
    pub playbook_dir: PathBuf,
    /// For an `include_role` whose name is a template: its options (`tasks_from`...), the
    /// role being loaded when a host reaches it, named by `file` rendered.
    pub role_spec: Option<Node>,
    /// A handler's include: its tasks are handlers (run when the include runs).
    pub handlers: bool,
    /// An `include_role`'s handlers answer notifications once it ran (see `Task::handler_gate`).
    pub handlers_gate: Option<u32>,
}

impl std::fmt::Debug for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskKind::Module(m) => write!(f, "Module({})", m.name()),
            TaskKind::Block(b) => write!(f, "Block({} tasks)", b.block.len()),
            TaskKind::FlushHandlers => write!(f, "FlushHandlers"),
            TaskKind::Noop => write!(f, "Noop"),
            TaskKind::EndPlay => write!(f, "EndPlay"),
            TaskKind::EndHost => write!(f, "EndHost"),
            TaskKind::ClearHostErrors => write!(f, "ClearHostErrors"),
            TaskKind::RefreshInventory => write!(f, "RefreshInventory"),
            TaskKind::ClearFacts => write!(f, "ClearFacts"),
            TaskKind::ResetConnection => write!(f, "ResetConnection"),
            TaskKind::EndBatch => write!(f, "EndBatch"),
            TaskKind::RoleComplete => write!(f, "RoleComplete"),
            TaskKind::EndRole => write!(f, "EndRole"),
            TaskKind::Include(_) => write!(f, "Include"),
        }
    }
}

/// One task, ready to run.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<TTree>,
    pub kind: TaskKind,
    pub module_name: String,
    pub args: TTree,
    pub when: Vec<Arc<Tmpl>>,
    pub loop_items: Option<TTree>,
    /// Which loop keyword gave the items (`loop`, `with_items`, `with_dict`, ...): it decides
    /// how the rendered value becomes items.
    pub loop_kind: &'static str,
    pub loop_var: String,
    pub index_var: Option<String>,
    pub loop_label: Option<TTree>,
    /// `loop_control.pause`: seconds to wait between items.
    pub loop_pause: f64,
    /// `loop_control.extended` (`ansible_loop` is defined) and `extended_allitems`.
    pub loop_extended: bool,
    pub loop_allitems: bool,
    /// `loop_control.break_when`: after an item for which these hold, the loop stops.
    pub loop_break_when: Option<Vec<Arc<Tmpl>>>,
    pub register: Option<String>,
    pub tags: Vec<String>,
    pub notify: Vec<String>,
    pub listen: Vec<String>,
    pub changed_when: Option<Vec<Arc<Tmpl>>>,
    pub failed_when: Option<Vec<Arc<Tmpl>>>,
    pub ignore_errors: bool,
    pub ignore_unreachable: bool,
    pub become_opts: BecomeOpts,
    pub remote_user: Option<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub no_log: bool,
    pub vars: Arc<VarMap>,
    pub role: Option<Arc<RoleInfo>>,
    pub span: Span,
    /// `delegate_to:` run the module on this host instead, with the task host's variables.
    pub delegate_to: Option<TTree>,
    /// `environment:` from the play, blocks and the task, outermost first (later wins).
    pub environment: Vec<TTree>,
    pub until: Option<Arc<Tmpl>>,
    pub retries: usize,
    pub delay: f64,
    pub run_once: bool,
    /// The directory of the file the task was written in (relative lookups).
    pub file_dir: PathBuf,
    /// Where each keyword's value (`when`, `notify`…) and each argument (`arg:src`) was written.
    pub spans: Vec<(String, Span)>,
    /// Parameters of the dynamic include this task came from (its `vars` and loop variables).
    pub include_params: Option<Arc<VarMap>>,
    /// `throttle`: at most this many hosts run the task at once (0: no limit beyond forks).
    pub throttle: usize,
    /// `timeout` of the task, an enclosing block or the play, in seconds (0: none; `None`:
    /// the run's default, `--task-timeout`).
    pub timeout: Option<u64>,
    /// `delegate_facts`: facts the task sets go to the `delegate_to` host.
    pub delegate_facts: bool,
    /// Boolean keywords given as templates (`no_log: "{{ secret_run }}"`): decided per host
    /// when the task runs, over the literal fields above.
    pub templated_flags: Vec<(&'static str, Arc<Tmpl>)>,
    /// `any_errors_fatal` of the task or an enclosing block (`None`: the play's).
    pub any_errors_fatal: Option<bool>,
    /// `async: SECONDS` with `poll`: the task's time limit when it is polled (`poll` > 0);
    /// `poll: 0` (fire and forget) is not run yet and fails the task.
    pub async_poll: Option<(u64, u64)>,
    /// A handler of a role an `include_role` brings in: it answers notifications only once
    /// that include ran (Ansible adds such handlers to the play then).
    pub handler_gate: Option<u32>,
}

impl Task {
    /// This task with its templated keywords decided by `eval` (for one host): booleans as
    /// Ansible reads them, `retries` and `delay` as numbers.
    pub fn with_flags_decided(
        &self,
        omit: &str,
        keep: &[&str],
        mut eval: impl FnMut(&Tmpl) -> anyhow::Result<minijinja::Value>,
    ) -> anyhow::Result<Task> {
        let mut t = self.clone();
        for (key, tm) in &self.templated_flags {
            if keep.contains(key) {
                continue;
            }
            let v = eval(tm).map_err(|e| anyhow!("the value of `{key}`: {e:#}"))?;
            // `{{ omit }}`: the keyword is not set here (what it inherits stays).
            if v.as_str() == Some(omit) {
                continue;
            }
            let b = crate::template::truthy(&v);
            let num = || -> anyhow::Result<f64> {
                v.as_i64()
                    .map(|i| i as f64)
                    .or_else(|| v.to_string().trim().parse().ok())
                    .ok_or_else(|| anyhow!("`{key}` must be a number, not `{v}`"))
            };
            match *key {
                "ignore_errors" => t.ignore_errors = b,
                "ignore_unreachable" => t.ignore_unreachable = b,
                "check_mode" => t.check_mode = Some(b),
                "diff" => t.diff = Some(b),
                "no_log" => t.no_log = b,
                "run_once" => t.run_once = b,
                "delegate_facts" => t.delegate_facts = b,
                "become" => t.become_opts.enabled = Some(b),
                "retries" => t.retries = num()?.max(0.0) as usize,
                "delay" => t.delay = num()?,
                _ => {}
            }
        }
        t.templated_flags.retain(|(k, _)| keep.contains(k));
        Ok(t)
    }

    /// Adds conditions (in front of its own) and tags to this task and every task inside it:
    /// an `import_playbook`'s `when:` and `tags:`.
    pub fn add_conditions_and_tags(&mut self, conds: &[Arc<Tmpl>], tags: &[String]) {
        if conds.is_empty() && tags.is_empty() {
            return;
        }
        let mut when = conds.to_vec();
        when.append(&mut self.when);
        self.when = when;
        self.tags.extend(tags.iter().cloned());
        if let TaskKind::Block(b) = &self.kind {
            let mut b = BlockTasks {
                block: b.block.clone(),
                rescue: b.rescue.clone(),
                always: b.always.clone(),
            };
            for t in b.block.iter_mut().chain(&mut b.rescue).chain(&mut b.always) {
                t.add_conditions_and_tags(conds, tags);
            }
            self.kind = TaskKind::Block(Arc::new(b));
        }
    }

    /// A task that only carries structure (a block with rescue/always).
    pub fn structural(kind: TaskKind, name: Option<TTree>, span: Span, inh: &Inherited) -> Task {
        Task {
            name,
            kind,
            module_name: "block".into(),
            args: TTree::Map(Vec::new()),
            when: Vec::new(),
            loop_items: None,
            loop_kind: "loop",
            loop_var: "item".into(),
            index_var: None,
            loop_label: None,
            loop_pause: 0.0,
            loop_extended: false,
            loop_allitems: true,
            loop_break_when: None,
            register: None,
            tags: inh.tags.clone(),
            notify: Vec::new(),
            listen: Vec::new(),
            changed_when: None,
            failed_when: None,
            ignore_errors: false,
            ignore_unreachable: false,
            become_opts: inh.become_opts.clone(),
            remote_user: None,
            check_mode: None,
            diff: None,
            no_log: false,
            vars: Arc::new(VarMap::new()),
            role: inh.role.clone(),
            span,
            delegate_to: None,
            environment: inh.environment.clone(),
            until: None,
            retries: 0,
            delay: 0.0,
            run_once: false,
            file_dir: inh.file_dir.clone(),
            spans: Vec::new(),
            include_params: None,
            throttle: inh.throttle.unwrap_or(0),
            timeout: inh.timeout,
            delegate_facts: false,
            templated_flags: Vec::new(),
            any_errors_fatal: inh.any_errors_fatal,
            async_poll: None,
            handler_gate: None,
        }
    }

    /// A copy of this task (and of the tasks inside it) with include parameters set.
    pub fn with_include_params(&self, params: &Arc<VarMap>) -> Task {
        let mut t = self.clone();
        t.include_params = Some(match &self.include_params {
            // An include inside an included file: the inner parameters win.
            Some(inner) => {
                let mut m = (**params).clone();
                m.extend(inner.iter().map(|(k, v)| (k.clone(), v.clone())));
                Arc::new(m)
            }
            None => params.clone(),
        });
        if let TaskKind::Block(b) = &self.kind {
            let map = |ts: &[Task]| ts.iter().map(|x| x.with_include_params(params)).collect();
            t.kind = TaskKind::Block(Arc::new(BlockTasks {
                block: map(&b.block),
                rescue: map(&b.rescue),
                always: map(&b.always),
            }));
        }
        t
    }

    /// This task and, for blocks, every task inside it, in order.
    pub fn flatten<'a>(&'a self, out: &mut Vec<&'a Task>) {
        out.push(self);
        match &self.kind {
            TaskKind::Block(b) => {
                for t in b.block.iter().chain(&b.rescue).chain(&b.always) {
                    t.flatten(out);
                }
            }
            TaskKind::Include(inc) => {
                for t in inc.tasks.iter().flat_map(|ts| ts.iter()) {
                    t.flatten(out);
                }
            }
            _ => {}
        }
    }

    /// Where a keyword's value (or `arg:NAME`) was written; the task's own place otherwise.
    pub fn span_of(&self, key: &str) -> &Span {
        self.spans
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s)
            .unwrap_or(&self.span)
    }

    /// The module, if this task runs one.
    pub fn module(&self) -> Option<&'static dyn Module> {
        match self.kind {
            TaskKind::Module(m) => Some(m),
            _ => None,
        }
    }
}

/// What enclosing blocks, includes and roles hand down to the tasks inside them.
#[derive(Clone, Debug, Default)]
pub struct Inherited {
    pub when: Vec<Arc<Tmpl>>,
    pub tags: Vec<String>,
    pub become_opts: BecomeOpts,
    pub vars: VarMap,
    pub role: Option<Arc<RoleInfo>>,
    pub ignore_errors: Option<bool>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub no_log: Option<bool>,
    pub remote_user: Option<String>,
    /// `environment:` from the play, blocks and the task, outermost first (later wins).
    pub environment: Vec<TTree>,
    pub file_dir: PathBuf,
    /// `throttle` of the play or an enclosing block.
    pub throttle: Option<usize>,
    /// `timeout` of the play or an enclosing block.
    pub timeout: Option<u64>,
    /// `collections:` of the play, an enclosing block or the role: where short module names
    /// are also looked up.
    pub collections: Vec<String>,
    /// Boolean keywords of enclosing blocks given as templates, decided per host at run time.
    pub templated_flags: Vec<(&'static str, Arc<Tmpl>)>,
    /// `delegate_to` of an enclosing block or import.
    pub delegate_to: Option<TTree>,
    /// `ignore_unreachable` and `run_once` of an enclosing block or import.
    pub ignore_unreachable: Option<bool>,
    pub run_once: Option<bool>,
    /// `any_errors_fatal` of an enclosing block.
    pub any_errors_fatal: Option<bool>,
    /// `notify` of an enclosing import: every imported task notifies these too.
    pub notify: Vec<String>,
    /// `module_defaults` of the play and enclosing blocks, outermost first: each a mapping of
    /// module names to default arguments.
    pub module_defaults: Vec<TTree>,
    /// Role parameters of the roles this one sits in (a dependency, or a role imported from a
    /// role's tasks, gets its parents' parameters under its own).
    pub role_param_chain: VarMap,
}

pub(super) fn err_at(span: &Span, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{span}: {msg}")
}

/// An error of a playbook that ansible-core refuses in the same words: shown as Ansible
/// shows it (`[ERROR]: MSG` and `Origin: FILE:LINE:COL`), so that scripts grepping
/// ansible-playbook's output find it.
#[derive(Debug)]
pub struct AnsibleError {
    pub msg: String,
    pub origin: String,
}

impl std::fmt::Display for AnsibleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.msg)
    }
}

impl std::error::Error for AnsibleError {}

/// `err_at` for an error in ansible-core's own words (see `AnsibleError`).
pub(super) fn ansible_err_at(span: &Span, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(AnsibleError {
        msg: msg.to_string(),
        origin: span.to_string(),
    })
}

pub(super) fn want_bool(node: &Node, key: &str) -> Result<bool> {
    match &node.kind {
        NodeKind::Bool(b) => Ok(*b),
        NodeKind::Str(s) => match crate::yaml::parse_bool_str(s) {
            Some(b) => Ok(b),
            None => Err(err_at(
                &node.span,
                format!("`{key}` must be a boolean (true/false), not `{s}`"),
            )),
        },
        _ => Err(err_at(
            &node.span,
            format!("`{key}` must be a boolean, not {}", node.type_name()),
        )),
    }
}

/// A boolean keyword: its literal value, or (`Err`) the template that decides it per host.
pub(super) fn want_flag(node: &Node, key: &str) -> Result<std::result::Result<bool, Arc<Tmpl>>> {
    if let NodeKind::Str(s) = &node.kind {
        if crate::template::is_templated(s) {
            return Ok(Err(compile_condition_lenient(s)));
        }
    }
    want_bool(node, key).map(Ok)
}

/// Sets a boolean keyword of `node` (if it has it) on `literal`/`templated`: a literal value
/// replaces an inherited template of the same keyword, a template is added to them.
pub(super) fn take_flag(
    node: Option<&Node>,
    key: &'static str,
    literal: &mut Option<bool>,
    templated: &mut Vec<(&'static str, Arc<Tmpl>)>,
) -> Result<()> {
    let Some(n) = node else { return Ok(()) };
    templated.retain(|(k, _)| *k != key);
    match want_flag(n, key)? {
        Ok(b) => *literal = Some(b),
        Err(t) => templated.push((key, t)),
    }
    Ok(())
}

pub(super) fn want_str(node: &Node, key: &str) -> Result<String> {
    match &node.kind {
        NodeKind::Str(s) => Ok(s.clone()),
        NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => {
            Ok(node.key_str().unwrap_or_default())
        }
        _ => Err(err_at(
            &node.span,
            format!("`{key}` must be a string, not {}", node.type_name()),
        )),
    }
}

/// A string or a list of strings (`tags`, `notify`).
pub(super) fn want_str_list(node: &Node, key: &str) -> Result<Vec<String>> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(|i| want_str(i, key)).collect(),
        NodeKind::Null => Ok(Vec::new()),
        _ if key == "tags" => Ok(want_str(node, key)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()),
        _ => Ok(vec![want_str(node, key)?]),
    }
}

/// `when` / `changed_when` / `failed_when`: a condition or a list (all must hold).
pub(super) fn conditions(node: &Node, key: &str) -> Result<Vec<Arc<Tmpl>>> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .map(|n| {
            let text = match &n.kind {
                NodeKind::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                // `when: !unsafe ...`: never evaluated (Ansible fails the task).
                _ if n.tag.as_deref() == Some("unsafe") => "__drover_untrusted()".to_string(),
                _ => want_str(n, key)?,
            };
            Ok(compile_condition_lenient(&text))
        })
        .collect()
}

/// Variables from a `vars:` mapping.
pub(super) fn vars_map(node: &Node, key: &str) -> Result<VarMap> {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut out = VarMap::new();
            for (k, v) in entries.iter() {
                let name = k.key_str().unwrap_or_default();
                // Compile now so a template error is a load error at its place.
                TTree::from_node(v)?;
                out.insert(name, node_to_value(v));
            }
            Ok(out)
        }
        NodeKind::Null => Ok(VarMap::new()),
        _ => Err(err_at(
            &node.span,
            format!("`{key}` must be a mapping of variable names to values"),
        )),
    }
}

/// The module a task names: drover's own, else (for a real Ansible module drover lacks, or a
/// custom module beside the playbook or in a role's `library/`) a stand-in that fails the
/// task when a host reaches it. `None`: a name no Ansible knows.
pub(super) fn resolve_module(name: &str, inh: &Inherited) -> Option<&'static dyn Module> {
    if let Some(m) = modules::lookup(name) {
        return Some(m);
    }
    if crate::template::is_templated(name) {
        return Some(modules::dynamic(name));
    }
    if modules::is_ansible_module(name, &inh.collections)
        || custom_module(name, inh)
        || installed_collection_module(name, inh)
    {
        return Some(modules::missing(name));
    }
    None
}

/// Whether a custom module or action plugin of that name sits in a `library/` or
/// `action_plugins/` directory of the role, of the task file's directory or its parents.
fn custom_module(name: &str, inh: &Inherited) -> bool {
    let short = name.rsplit('.').next().unwrap_or(name);
    let mut dirs: Vec<&std::path::Path> = inh.file_dir.ancestors().take(4).collect();
    if let Some(r) = &inh.role {
        dirs.push(&r.path);
    }
    dirs.iter().any(|d| {
        ["library", "action_plugins"].iter().any(|sub| {
            ["py", "ps1", "sh"]
                .iter()
                .any(|ext| d.join(sub).join(format!("{short}.{ext}")).is_file())
                || d.join(sub).join(short).is_file()
        })
    })
}

/// Whether an installed collection (see `role::collection_roots`) has a module of that name:
/// `ns.coll.name`, or `name` in a collection of `collections:`.
fn installed_collection_module(name: &str, inh: &Inherited) -> bool {
    let candidates: Vec<(String, String)> = match name.rsplit_once('.') {
        Some((coll, short)) => vec![(coll.to_string(), short.to_string())],
        None => inh
            .collections
            .iter()
            .map(|c| (c.clone(), name.to_string()))
            .collect(),
    };
    let base = inh.file_dir.ancestors().take(6).collect::<Vec<_>>();
    candidates.iter().any(|(coll, short)| {
        base.iter().any(|b| {
            super::role::collection_dir(coll, b).is_some_and(|d| {
                ["modules", "action"].iter().any(|k| {
                    d.join("plugins")
                        .join(k)
                        .join(format!("{short}.py"))
                        .is_file()
                })
            })
        })
    })
}

/// Whether ansible-core 2.19 would refuse `debug`'s `var` as untrusted: an `!unsafe` string,
/// or a template whose result (not a variable passed through) would be evaluated again.
fn untrusted_var(v: &Node) -> bool {
    if v.tag.as_deref() == Some("unsafe") {
        return true;
    }
    let Some(s) = v.as_str() else { return false };
    if !crate::template::is_templated(s) {
        return false;
    }
    match crate::template::single_expression(s.trim()) {
        Some(expr) => {
            let e = expr.trim();
            !e.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        }
        None => true,
    }
}

/// `assert`'s `that` as Ansible reads it: each item is a condition, evaluated as written (an
/// embedded template, `'"{{ x }}" == "a"'`, is part of the expression), so only a whole
/// template (`'{{ x }}'`) is rendered before the module sees it.
fn conditions_as_written(tree: TTree) -> TTree {
    match tree {
        TTree::Tmpl(t, _) if crate::template::single_expression(t.source().trim()).is_none() => {
            TTree::Value(minijinja::Value::from_safe_string(t.source().to_string()))
        }
        TTree::Seq(items) => TTree::Seq(items.into_iter().map(conditions_as_written).collect()),
        other => other,
    }
}

/// Whether a tree still holds a template to render.
fn has_template(tree: &TTree) -> bool {
    match tree {
        TTree::Tmpl(..) => true,
        TTree::Seq(items) => items.iter().any(has_template),
        TTree::Map(entries) => entries.iter().any(|(_, t)| has_template(t)),
        TTree::Value(_) => false,
    }
}

/// Finds the module key of a task mapping: the one key that is not a keyword.
fn module_key<'a>(
    entries: &'a [(Node, Node)],
    span: &Span,
    inh: &Inherited,
) -> Result<(&'a Node, &'a Node, String)> {
    let mut found: Option<(&Node, &Node, String)> = None;
    for (k, v) in entries {
        let name = k.key_str().unwrap_or_default();
        if TASK_KEYWORDS.contains(&name.as_str()) || is_loop_keyword(&name) {
            continue;
        }
        let module_name = name.clone();
        if resolve_module(&module_name, inh).is_none() && !is_meta_or_include(&module_name) {
            let mut candidates: Vec<&str> = modules::names();
            candidates.extend_from_slice(TASK_KEYWORDS);
            let hint = did_you_mean(&module_name, &candidates)
                .map(|s| format!("\nhint: did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    "\nhint: it is no module of ansible-core or of the collections the `ansible` package ships; check the spelling (`drover doc --list` lists drover's modules)".into()
                });
            return Err(err_at(
                &k.span,
                format!("unknown module or keyword `{module_name}`{hint}"),
            ));
        }
        if let Some((prev, _, prev_name)) = &found {
            return Err(err_at(
                &k.span,
                format!(
                    "a task can run one module, but this one names `{prev_name}` (at {}) and `{module_name}`",
                    prev.span
                ),
            ));
        }
        found = Some((k, v, module_name));
    }
    found.ok_or_else(|| {
        err_at(
            span,
            "this task names no module\nhint: add a module such as `command:` or `debug:`",
        )
    })
}

fn is_meta_or_include(name: &str) -> bool {
    matches!(
        name,
        "meta"
            | "import_tasks"
            | "include_tasks"
            | "include"
            | "import_role"
            | "include_role"
            | "block"
            | "include_vars"
    )
}

/// Builds module arguments from the module's value (mapping or free-form string) and `args:`.
/// A module's arguments; the second value names an argument Ansible's module has that drover's
/// does not implement (the task fails when it runs, as a module drover lacks does).
fn module_args(
    module: &'static dyn Module,
    module_name: &str,
    value: &Node,
    extra: Option<&Node>,
    lenient: bool,
) -> Result<(TTree, Option<String>)> {
    let spec = module.spec();
    let mut entries: Vec<(String, TTree, Span)> = Vec::new();
    if let Some(extra) = extra.filter(|e| e.as_str().is_some_and(crate::template::is_templated)) {
        // `args: "{{ some_mapping }}"`: spliced in per host, under the module's own arguments.
        entries.push((
            crate::template::tree::SPLICE.to_string(),
            TTree::from_node(extra)?,
            extra.span.clone(),
        ));
    } else if let Some(extra) = extra {
        let Some(m) = extra.as_map() else {
            return Err(err_at(&extra.span, "`args` must be a mapping"));
        };
        for (k, v) in m {
            entries.push((
                k.key_str().unwrap_or_default(),
                TTree::from_node(v)?,
                k.span.clone(),
            ));
        }
    }
    match &value.kind {
        NodeKind::Map(m) => {
            for (k, v) in m.iter() {
                let key = k.key_str().unwrap_or_default();
                entries.retain(|(e, _, _)| *e != key);
                let tree = if module.name() == "debug" && key == "var" && untrusted_var(v) {
                    if v.tag.as_deref() == Some("unsafe") {
                        TTree::Value(minijinja::Value::from(format!(
                            "{}{}",
                            modules::DEBUG_UNTRUSTED,
                            v.as_str().unwrap_or_default()
                        )))
                    } else {
                        // Rendered first (its errors are the task's), then refused.
                        entries.push((
                            "_untrusted_var".into(),
                            TTree::Value(minijinja::Value::from(true)),
                            k.span.clone(),
                        ));
                        TTree::from_node(v)?
                    }
                } else if module.name() == "assert" && key == "that" {
                    let tree = conditions_as_written(TTree::from_node(v)?);
                    if has_template(&tree) {
                        entries.push((
                            "_that_templated".into(),
                            TTree::Value(minijinja::Value::from(true)),
                            k.span.clone(),
                        ));
                    }
                    tree
                } else {
                    TTree::from_node(v)?
                };
                entries.push((key, tree, k.span.clone()));
            }
        }
        // `assert: "{{ item }}"`: the whole argument mapping from a template, per host.
        NodeKind::Str(s)
            if spec.free_form.is_none()
                && crate::template::single_expression(s.trim()).is_some() =>
        {
            entries.push((
                crate::template::tree::SPLICE.to_string(),
                TTree::from_node(value)?,
                value.span.clone(),
            ));
        }
        NodeKind::Str(s) => {
            let text = s.clone();
            // Free-form modules keep unknown `k=v` words in their text; the others take every
            // `k=v` as an argument, and words without one as `_raw_params`, which Ansible
            // loads and fails when the task runs.
            let free_form = spec.free_form.is_some();
            let known = |k: &str| !free_form || (spec.canonical(k).is_some() && k != "_raw_params");
            let (pairs, raw) = parse_kv(&text, true, &known)
                .map_err(|e| err_at(&value.span, format!("cannot read the arguments of `{module_name}`: {e}\nhint: write them as a YAML mapping instead")))?;
            for (k, v) in pairs {
                entries.retain(|(e, _, _)| *e != k);
                entries.push((k, TTree::from_str_at(&v, &value.span)?, value.span.clone()));
            }
            if let Some(raw) = raw {
                entries.push((
                    spec.free_form.unwrap_or("_raw_params").to_string(),
                    TTree::from_str_at(&raw, &value.span)?,
                    value.span.clone(),
                ));
            }
        }
        NodeKind::Null => {}
        _ => {
            return Err(err_at(
                &value.span,
                format!(
                    "the arguments of `{module_name}` must be a mapping or a `k=v` string, not {}",
                    value.type_name()
                ),
            ));
        }
    }
    // `_ansible_` is reserved for Ansible's own internal arguments.
    if spec.free_form.is_none() {
        if let Some((k, _, span)) = entries.iter().find(|(k, _, _)| k.starts_with("_ansible_")) {
            return Err(err_at(
                span,
                format!("Invalid parameter specified beginning with keyword '_ansible_' for action '{module_name}': '{k}'. The prefix '_ansible_' is reserved for internal use only."),
            ));
        }
    }
    let mut unimplemented = None;
    if !spec.any_args && !lenient {
        for (k, _, span) in &entries {
            if spec.canonical(k).is_none()
                && k != crate::template::tree::SPLICE
                && k != "_raw_params"
            {
                if crate::modules::ansible_has_arg(module.name(), k) {
                    unimplemented.get_or_insert_with(|| k.clone());
                    continue;
                }
                let names = spec.all_names();
                let hint = did_you_mean(k, &names)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        format!(
                            "`{module_name}` takes: {}",
                            spec.args
                                .iter()
                                .chain(if spec.file_args {
                                    &crate::modules::FILE_ARGS[..]
                                } else {
                                    &[]
                                })
                                .filter(|a| !a.starts_with('_'))
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                return Err(err_at(
                    span,
                    format!("module `{module_name}` has no argument `{k}`\nhint: {hint}"),
                ));
            }
        }
    }
    Ok((
        TTree::Map(entries.into_iter().map(|(k, v, _)| (k, v)).collect()),
        unimplemented,
    ))
}

/// `action:` and `local_action:` rewritten as the module key they name: `action: copy src=a`
/// and `action: {module: copy, src: a}` become `copy: ...`; `local_action` also delegates to
/// `localhost` (unless the task says where).
fn action_as_module(node: &Node) -> Result<Option<Node>> {
    let Some(entries) = node.as_map() else {
        return Ok(None);
    };
    let Some((ak, av)) = entries
        .iter()
        .find(|(k, _)| matches!(k.as_str(), Some("action" | "local_action")))
    else {
        return Ok(None);
    };
    let local = ak.as_str() == Some("local_action");
    let (module, args) = match &av.kind {
        NodeKind::Map(m) => {
            let module = av
                .get("module")
                .ok_or_else(|| err_at(&av.span, "an `action` mapping needs `module:`"))?;
            let mut rest: Vec<(Node, Node)> = m
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), Some("module" | "args")))
                .cloned()
                .collect();
            // `action: {module: m, args: {...}}`: the nested arguments, under the others.
            if let Some(NodeKind::Map(nested)) = av.get("args").map(|a| &a.kind) {
                for (k, v) in nested.iter() {
                    if !rest.iter().any(|(o, _)| o.as_str() == k.as_str()) {
                        rest.push((k.clone(), v.clone()));
                    }
                }
            }
            (
                want_str(module, "module")?,
                Node {
                    kind: NodeKind::Map(rest.into()),
                    span: av.span.clone(),
                    tag: None,
                },
            )
        }
        _ => {
            // As ansible-core's `_split_module_string`: the first argument word (a template
            // stays whole) is the module, the other words its arguments.
            let text = want_str(av, "action")?;
            let words = super::kv::split_args(&text).map_err(|e| err_at(&av.span, e))?;
            let m = words
                .first()
                .map(|w| w.trim().to_string())
                .unwrap_or_default();
            let rest = words.get(1..).map(|r| r.join(" ")).unwrap_or_default();
            let (m, rest) = (m.as_str(), rest.as_str());
            (
                m.to_string(),
                Node {
                    kind: if rest.trim().is_empty() {
                        NodeKind::Null
                    } else {
                        NodeKind::Str(rest.trim().to_string())
                    },
                    span: av.span.clone(),
                    tag: None,
                },
            )
        }
    };
    let mut out: Vec<(Node, Node)> = Vec::with_capacity(entries.len() + 1);
    for (k, v) in entries {
        if std::ptr::eq(k, ak) {
            out.push((
                Node {
                    kind: NodeKind::Str(module.clone()),
                    span: k.span.clone(),
                    tag: None,
                },
                args.clone(),
            ));
        } else {
            out.push((k.clone(), v.clone()));
        }
    }
    if local
        && !entries
            .iter()
            .any(|(k, _)| k.as_str() == Some("delegate_to"))
    {
        out.push((
            Node {
                kind: NodeKind::Str("delegate_to".into()),
                span: ak.span.clone(),
                tag: None,
            },
            Node {
                kind: NodeKind::Str("localhost".into()),
                span: ak.span.clone(),
                tag: None,
            },
        ));
    }
    Ok(Some(Node {
        kind: NodeKind::Map(out.into()),
        span: node.span.clone(),
        tag: node.tag.clone(),
    }))
}

/// Parses one task mapping (not a block or include) with what it inherits.
pub(super) fn parse_task(node: &Node, inh: &Inherited, handler: bool) -> Result<Task> {
    let rewritten = action_as_module(node)?;
    let node = rewritten.as_ref().unwrap_or(node);
    let Some(entries) = node.as_map() else {
        return Err(err_at(
            &node.span,
            format!("a task must be a mapping, not {}", node.type_name()),
        ));
    };
    for (k, _) in entries {
        let key = k.key_str().unwrap_or_default();
        if NOT_YET.contains(&key.as_str()) {
            return Err(err_at(
                &k.span,
                format!("the task keyword `{key}` is not supported by drover yet"),
            ));
        }
        if key == "listen" && !handler {
            return Err(err_at(&k.span, "`listen` belongs on handlers, not tasks"));
        }
    }
    let (mkey, mval, module_name) = module_key(entries, &node.span, inh)?;
    // Ansible's action plugins that run once for the batch (`BYPASS_HOST_LOOP`).
    let bypasses_host_loop = matches!(module_name.rsplit('.').next(), Some("add_host" | "pause"));
    let mut spans: Vec<(String, Span)> = entries
        .iter()
        .map(|(k, v)| (k.key_str().unwrap_or_default(), v.span.clone()))
        .collect();
    for args_node in [Some(mval), node.get("args")].into_iter().flatten() {
        match args_node.as_map() {
            Some(m) => spans.extend(m.iter().map(|(k, v)| {
                (
                    format!("arg:{}", k.key_str().unwrap_or_default()),
                    v.span.clone(),
                )
            })),
            None => spans.push(("arg:_raw_params".into(), args_node.span.clone())),
        }
    }
    let get = |k: &str| node.get(k);
    let mut kind;
    let args;
    if module_name == "meta" {
        let what = want_str(mval, "meta")?;
        kind = match what.as_str() {
            "flush_handlers" => TaskKind::FlushHandlers,
            "end_play" => TaskKind::EndPlay,
            "end_host" => TaskKind::EndHost,
            "clear_host_errors" => TaskKind::ClearHostErrors,
            "noop" => TaskKind::Noop,
            "refresh_inventory" => TaskKind::RefreshInventory,
            "clear_facts" => TaskKind::ClearFacts,
            "reset_connection" => TaskKind::ResetConnection,
            "end_batch" => TaskKind::EndBatch,
            // As ansible-core, refused where it cannot work.
            "end_role" if handler => {
                return Err(ansible_err_at(
                    &mval.span,
                    "Cannot execute 'end_role' from a handler",
                ))
            }
            "end_role" if inh.role.is_none() => {
                return Err(ansible_err_at(
                    &mval.span,
                    "Cannot execute 'end_role' from outside of a role",
                ))
            }
            "end_role" => TaskKind::EndRole,
            other => {
                return Err(err_at(
                    &mval.span,
                    format!("`meta: {other}` is not supported by drover yet"),
                ));
            }
        };
        args = TTree::Map(Vec::new());
    } else {
        let Some(module) = resolve_module(&module_name, inh) else {
            return Err(err_at(
                &mkey.span,
                format!("`{module_name}` cannot be used here"),
            ));
        };
        kind = TaskKind::Module(module);
        // A task that ignores its errors gets an unknown argument as Ansible gives it: as the
        // task's failure (`Unsupported parameters ...`), not as a refusal of the playbook.
        let lenient = get("ignore_errors")
            .is_some_and(|n| matches!(want_flag(n, "ignore_errors"), Ok(Ok(true)) | Ok(Err(_))))
            || inh.ignore_errors == Some(true);
        let (mut own, unimplemented) =
            module_args(module, &module_name, mval, get("args"), lenient)?;
        if let Some(arg) = unimplemented {
            kind = TaskKind::Module(crate::modules::unimplemented_arg(module.name(), &arg));
        }
        let mut defaults = inh.module_defaults.clone();
        if let Some(md) = get("module_defaults") {
            defaults.push(module_defaults(md)?);
        }
        apply_module_defaults(&mut own, &module_name, module.spec(), &defaults);
        args = own;
    }

    let mut when = inh.when.clone();
    if let Some(w) = get("when") {
        when.extend(conditions(w, "when")?);
    }
    let mut tags = inh.tags.clone();
    if let Some(t) = get("tags") {
        tags.extend(want_str_list(t, "tags")?);
    }
    let mut vars = inh.vars.clone();
    if let Some(v) = get("vars") {
        vars.extend(vars_map(v, "vars")?);
    }
    let mut loop_items = None;
    let mut loop_kind = "loop";
    for (k, l) in entries {
        let key = k.key_str().unwrap_or_default();
        if !is_loop_keyword(&key) {
            continue;
        }
        if loop_items.is_some() {
            return Err(err_at(&l.span, "a task can have only one loop"));
        }
        loop_items = Some(TTree::from_node(l)?);
        loop_kind = loop_keyword(&key);
    }
    let (mut loop_var, mut index_var, mut loop_label) = ("item".to_string(), None, None);
    let mut loop_pause = 0.0;
    let (mut loop_extended, mut loop_allitems) = (false, true);
    let mut loop_break_when = None;
    if let Some(lc) = get("loop_control") {
        let Some(m) = lc.as_map() else {
            return Err(err_at(&lc.span, "`loop_control` must be a mapping"));
        };
        for (k, v) in m {
            match k.key_str().unwrap_or_default().as_str() {
                "loop_var" => loop_var = want_str(v, "loop_var")?,
                "index_var" => index_var = Some(want_str(v, "index_var")?),
                "label" => loop_label = Some(TTree::from_node(v)?),
                "pause" => {
                    loop_pause = match &v.kind {
                        NodeKind::Int(i) if *i >= 0 => *i as f64,
                        NodeKind::Float(f) if *f >= 0.0 => *f,
                        _ => return Err(err_at(&v.span, "`pause` must be a number of seconds")),
                    }
                }
                "extended" => loop_extended = want_bool(v, "extended")?,
                "extended_allitems" => loop_allitems = want_bool(v, "extended_allitems")?,
                "break_when" => loop_break_when = Some(conditions(v, "break_when")?),
                other => {
                    return Err(err_at(&k.span, format!("unknown `loop_control` option `{other}`\nhint: use loop_var, index_var, label, pause, extended, extended_allitems or break_when")));
                }
            }
        }
    }
    let mut templated_flags = inh.templated_flags.clone();
    let mut become_opts = BecomeOpts::default();
    take_flag(
        get("become"),
        "become",
        &mut become_opts.enabled,
        &mut templated_flags,
    )?;
    let mut flag = |k: &'static str, inherited: Option<bool>| -> Result<Option<bool>> {
        let mut v = inherited;
        take_flag(get(k), k, &mut v, &mut templated_flags)?;
        Ok(v)
    };
    let ignore_errors = flag("ignore_errors", inh.ignore_errors)?;
    let ignore_unreachable = flag("ignore_unreachable", inh.ignore_unreachable)?;
    let check_mode = flag("check_mode", inh.check_mode)?;
    let diff = flag("diff", inh.diff)?;
    let no_log = flag("no_log", inh.no_log)?;
    let run_once = flag("run_once", inh.run_once)?;
    let delegate_facts = flag("delegate_facts", None)?;
    if let Some(u) = get("become_user") {
        become_opts.user = Some(want_str(u, "become_user")?);
    }
    if let Some(m) = get("become_method") {
        let method = want_str(m, "become_method")?;
        if !crate::template::is_templated(&method) {
            super::check_become_method(&method).map_err(|e| err_at(&m.span, e))?;
        }
        become_opts.method = Some(method);
    }
    let name = match get("name") {
        Some(n) => Some(TTree::from_node(n)?),
        None => None,
    };
    let mut number = |key: &'static str, default: f64| -> Result<f64> {
        let Some(n) = get(key) else {
            return Ok(default);
        };
        match &n.kind {
            NodeKind::Int(i) => Ok(*i as f64),
            NodeKind::Float(f) => Ok(*f),
            NodeKind::Str(s) if crate::template::is_templated(s) => {
                templated_flags.push((key, compile_condition_lenient(s)));
                Ok(default)
            }
            NodeKind::Str(s) if s.trim().parse::<f64>().is_ok() => {
                Ok(s.trim().parse().unwrap_or(default))
            }
            _ => Err(err_at(&n.span, format!("`{key}` must be a number"))),
        }
    };
    let retries = number("retries", 3.0)?.max(0.0) as usize;
    let delay = number("delay", 5.0)?;
    let until = match get("until") {
        Some(u) => conditions(u, "until")?.into_iter().next(),
        None => None,
    };
    let mut environment = inh.environment.clone();
    if let Some(e) = get("environment") {
        environment.push(TTree::from_node(e)?);
    }
    Ok(Task {
        name,
        kind,
        module_name,
        args,
        when,
        loop_items,
        loop_kind,
        loop_var,
        index_var,
        loop_label,
        loop_pause,
        loop_extended,
        loop_allitems,
        loop_break_when,
        register: match get("register") {
            Some(r) => {
                let v = crate::yaml::node_to_value(r);
                crate::vars::check_var_name(&v).map_err(|e| {
                    err_at(&r.span, format!("Invalid 'register' specified: {e}\nhint: variable names must be strings starting with a letter or underscore character, and contain only letters, numbers and underscores"))
                })?;
                Some(want_str(r, "register")?)
            }
            None => None,
        },
        tags,
        notify: {
            let mut n = inh.notify.clone();
            n.extend(
                get("notify")
                    .map(|n| want_str_list(n, "notify"))
                    .transpose()?
                    .unwrap_or_default(),
            );
            n
        },
        listen: get("listen")
            .map(|n| want_str_list(n, "listen"))
            .transpose()?
            .unwrap_or_default(),
        changed_when: get("changed_when")
            .map(|c| conditions(c, "changed_when"))
            .transpose()?,
        failed_when: get("failed_when")
            .map(|c| conditions(c, "failed_when"))
            .transpose()?,
        ignore_errors: ignore_errors.unwrap_or(false),
        ignore_unreachable: ignore_unreachable.unwrap_or(false),
        become_opts: inh.become_opts.merged(&become_opts),
        remote_user: get("remote_user")
            .map(|u| want_str(u, "remote_user"))
            .transpose()?
            .or_else(|| inh.remote_user.clone()),
        check_mode,
        diff,
        no_log: no_log.unwrap_or(false),
        vars: Arc::new(vars),
        role: inh.role.clone(),
        span: node.span.clone(),
        environment,
        delegate_to: match get("delegate_to") {
            Some(d) => Some(TTree::from_node(d)?),
            // `connection: local` on a task runs it on the controller.
            None => match get("connection").map(|c| want_str(c, "connection")).transpose()? {
                Some(c) if c == "local" => Some(TTree::Value(minijinja::Value::from("localhost"))),
                Some(c) => {
                    return Err(err_at(
                        t_span(node, "connection"),
                        format!("the task keyword `connection: {c}` is not supported by drover yet (only `local`)"),
                    ))
                }
                None => inh.delegate_to.clone(),
            },
        },
        until,
        retries,
        delay,
        // `add_host` bypasses the host loop: it runs once (for every item of a loop).
        run_once: run_once.unwrap_or(false) || bypasses_host_loop,
        file_dir: inh.file_dir.clone(),
        spans,
        include_params: None,
        throttle: match get("throttle") {
            Some(t) => want_count(t, "throttle")?,
            None => inh.throttle.unwrap_or(0),
        },
        timeout: match get("timeout") {
            Some(t) => Some(want_seconds(t, "timeout")?),
            None => inh.timeout,
        },
        delegate_facts: delegate_facts.unwrap_or(false),
        templated_flags,
        any_errors_fatal: match get("any_errors_fatal") {
            Some(a) => Some(want_bool(a, "any_errors_fatal")?),
            None => inh.any_errors_fatal,
        },
        async_poll: match get("async") {
            Some(a) => Some((
                want_seconds(a, "async")?,
                match get("poll") {
                    Some(p) => want_seconds(p, "poll")?,
                    None => 15,
                },
            )),
            None => None,
        },
        handler_gate: None,
    })
}

/// Where a keyword of `node` was written (the node's own place when it has no such key).
fn t_span<'a>(node: &'a Node, key: &str) -> &'a Span {
    node.get(key).map(|n| &n.span).unwrap_or(&node.span)
}

/// A `module_defaults` mapping: module name (short or FQCN, or `group/NAME`) to its default
/// arguments.
pub(super) fn module_defaults(node: &Node) -> Result<TTree> {
    match &node.kind {
        NodeKind::Map(_) | NodeKind::Null => TTree::from_node(node),
        NodeKind::Seq(items) => {
            // A list of mappings is their union, later ones winning.
            let mut all = Vec::new();
            for i in items.iter() {
                if let TTree::Map(m) = TTree::from_node(i)? {
                    all.extend(m);
                }
            }
            Ok(TTree::Map(all))
        }
        _ => Err(err_at(
            &node.span,
            "`module_defaults` must be a mapping of module names to arguments",
        )),
    }
}

/// Adds to a task's arguments the defaults `module_defaults` gives its module (by its short
/// name or its FQCN), innermost first; an argument the task sets itself is kept.
fn apply_module_defaults(
    args: &mut TTree,
    module_name: &str,
    spec: &modules::Spec,
    defaults: &[TTree],
) {
    let TTree::Map(own) = args else { return };
    let short = module_name.rsplit('.').next().unwrap_or(module_name);
    let names = [
        module_name.to_string(),
        short.to_string(),
        format!("ansible.builtin.{short}"),
        format!("ansible.legacy.{short}"),
    ];
    let canon = |k: &str| spec.canonical(k).unwrap_or("").to_string();
    // `service` runs one of these modules on the host, with that module's defaults (ansible-core's
    // service action): handed over for the module to pick from once it knows the manager.
    if short == "service" {
        for backend in ["systemd", "sysvinit"] {
            let mut merged: Vec<(String, TTree)> = Vec::new();
            let mut names = vec![
                backend.to_string(),
                format!("ansible.builtin.{backend}"),
                format!("ansible.legacy.{backend}"),
            ];
            if backend == "systemd" {
                names.extend([
                    "systemd_service".into(),
                    "ansible.builtin.systemd_service".into(),
                ]);
            }
            for md in defaults.iter().rev() {
                let TTree::Map(entries) = md else { continue };
                for (m, d) in entries {
                    let TTree::Map(dargs) = d else { continue };
                    if names.contains(m) {
                        for (k, v) in dargs {
                            if !merged.iter().any(|(o, _)| o == k) {
                                merged.push((k.clone(), v.clone()));
                            }
                        }
                    }
                }
            }
            if !merged.is_empty() {
                own.push((format!("_defaults_{backend}"), TTree::Map(merged)));
            }
        }
    }
    for md in defaults.iter().rev() {
        let TTree::Map(entries) = md else { continue };
        for (m, d) in entries {
            let TTree::Map(dargs) = d else { continue };
            if !names.contains(m) {
                continue;
            }
            for (k, v) in dargs {
                let taken = own
                    .iter()
                    .any(|(o, _)| o == k || (!canon(o).is_empty() && canon(o) == canon(k)));
                if !taken {
                    own.push((k.clone(), v.clone()));
                }
            }
        }
    }
}

/// A whole number of hosts (`throttle`).
pub(super) fn want_count(node: &Node, key: &str) -> Result<usize> {
    match &node.kind {
        NodeKind::Int(i) if *i >= 0 => Ok(*i as usize),
        _ => Err(err_at(
            &node.span,
            format!("`{key}` must be a whole number of hosts"),
        )),
    }
}

/// A whole number of seconds (`timeout`; 0 means no limit).
pub(super) fn want_seconds(node: &Node, key: &str) -> Result<u64> {
    let n = match &node.kind {
        NodeKind::Int(i) => u64::try_from(*i).ok(),
        NodeKind::Str(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        err_at(
            &node.span,
            format!("`{key}` must be a whole number of seconds (0: no limit)"),
        )
    })
}

/// What `import_tasks` and `import_role` may carry for the tasks they bring in.
pub(super) const IMPORT_KEYWORDS: &[&str] = &[
    "import_tasks",
    "include_tasks",
    "listen",
    "import_role",
    "include",
    "name",
    "apply",
    "notify",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "vars",
    "ignore_errors",
    "ignore_unreachable",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "remote_user",
    "any_errors_fatal",
    "collections",
    "module_defaults",
    "run_once",
    "delegate_to",
    "throttle",
    "timeout",
    "debugger",
];

/// Block-level keywords (a block may carry these for its tasks).
pub(super) const BLOCK_KEYWORDS: &[&str] = &[
    "block",
    "rescue",
    "always",
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "vars",
    "ignore_errors",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "remote_user",
    "any_errors_fatal",
    "collections",
    "ignore_unreachable",
    "module_defaults",
    "run_once",
    "delegate_to",
    "throttle",
    "timeout",
    "debugger",
    "notify",
    "listen",
];

/// Applies a block's (or include's) keywords to what its tasks inherit.
pub(super) fn inherit_from(node: &Node, inh: &Inherited, allowed: &[&str]) -> Result<Inherited> {
    let mut out = inh.clone();
    let Some(entries) = node.as_map() else {
        return Ok(out);
    };
    for (k, v) in entries {
        let key = k.key_str().unwrap_or_default();
        match key.as_str() {
            "when" => out.when.extend(conditions(v, "when")?),
            "tags" => out.tags.extend(want_str_list(v, "tags")?),
            "become" => take_flag(
                Some(v),
                "become",
                &mut out.become_opts.enabled,
                &mut out.templated_flags,
            )?,
            "become_user" => out.become_opts.user = Some(want_str(v, "become_user")?),
            "vars" => out.vars.extend(vars_map(v, "vars")?),
            "ignore_errors" => take_flag(
                Some(v),
                "ignore_errors",
                &mut out.ignore_errors,
                &mut out.templated_flags,
            )?,
            "check_mode" => take_flag(
                Some(v),
                "check_mode",
                &mut out.check_mode,
                &mut out.templated_flags,
            )?,
            "diff" => take_flag(Some(v), "diff", &mut out.diff, &mut out.templated_flags)?,
            "no_log" => take_flag(Some(v), "no_log", &mut out.no_log, &mut out.templated_flags)?,
            "remote_user" => out.remote_user = Some(want_str(v, "remote_user")?),
            "environment" => out.environment.push(TTree::from_node(v)?),
            "throttle" => out.throttle = Some(want_count(v, "throttle")?),
            "timeout" => out.timeout = Some(want_seconds(v, "timeout")?),
            "collections" => out.collections.extend(want_str_list(v, "collections")?),
            "delegate_to" => out.delegate_to = Some(TTree::from_node(v)?),
            "ignore_unreachable" => take_flag(
                Some(v),
                "ignore_unreachable",
                &mut out.ignore_unreachable,
                &mut out.templated_flags,
            )?,
            "run_once" => take_flag(
                Some(v),
                "run_once",
                &mut out.run_once,
                &mut out.templated_flags,
            )?,
            "become_method" => out.become_opts.method = Some(want_str(v, "become_method")?),
            "any_errors_fatal" => out.any_errors_fatal = Some(want_bool(v, key.as_str())?),
            "module_defaults" => out.module_defaults.push(module_defaults(v)?),
            "notify" => out.notify.extend(want_str_list(v, "notify")?),
            _ if allowed.contains(&key.as_str()) => {}
            _ => {
                let hint = did_you_mean(&key, allowed)
                    .map(|s| format!("\nhint: did you mean `{s}`?"))
                    .unwrap_or_default();
                bail!("{}: `{key}` is not valid here{hint}", k.span);
            }
        }
    }
    Ok(out)
}
