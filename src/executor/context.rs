//! Variable precedence: which layers make up a host's scope for a task, in Ansible's order
//! (lowest first): role defaults, inventory (group_vars/host_vars), facts, play vars and
//! vars_files, role vars, block and task vars, `include_vars`, `set_fact`/`register`, role
//! parameters, include parameters, loop variables, extra vars (`-e`), then the special
//! variables drover sets.

use super::host::HostState;
use crate::playbook::{Play, Task};
use crate::settings::Settings;
use crate::vars::{HostVars, Layer, Scope, VarMap};
use minijinja::Value;
use std::sync::Arc;

/// What every host in a play shares while a task runs.
#[derive(Clone)]
pub struct PlayCtx<'a> {
    pub play: &'a Play,
    /// `vars_prompt` answers (above play vars).
    pub prompted: Arc<VarMap>,
    pub settings: &'a Settings,
    pub extra: Arc<VarMap>,
    /// groups, play_hosts, playbook_dir, omit, ansible_check_mode…
    pub play_magic: Arc<VarMap>,
    /// Every host's variables as of the start of the current task.
    pub hostvars: Value,
    pub omit: String,
    pub playbook_dir: std::path::PathBuf,
    /// The inventory, for `delegate_to` targets' connection variables.
    pub inventory: Arc<crate::inventory::Inventory>,
    /// `include_role`s that ran in this play: their handlers answer notifications.
    pub open_gates: std::collections::HashSet<u32>,
}

impl PlayCtx<'_> {
    /// The play's own scope, without any host: its vars, the answers to its prompts, `-e`
    /// and the play's special variables (for what is decided per play, such as templated tags).
    pub fn play_scope(&self) -> Value {
        let mut layers = vec![Layer::templated(self.play.vars.clone())];
        if !self.prompted.is_empty() {
            layers.push(Layer::templated(self.prompted.clone()));
        }
        layers.push(Layer::templated(self.extra.clone()));
        layers.push(Layer::data(self.play_magic.clone()));
        Scope::new(layers).into_value()
    }
}

/// The layers of a host's scope, lowest first; `item` holds loop variables.
pub fn layers(
    pc: &PlayCtx,
    host: &HostState,
    task: Option<&Task>,
    item: Option<Arc<VarMap>>,
) -> Vec<Layer> {
    let mut layers = Vec::with_capacity(12);
    let role = task.and_then(|t| t.role.as_ref());
    // Every public role of the play is visible everywhere (Ansible's public roles); inside a
    // role, its own defaults and vars come over them.
    if !pc.play.roles_defaults.is_empty() {
        layers.push(Layer::templated(pc.play.roles_defaults.clone()));
    }
    if let Some(r) = role {
        if !r.chain_defaults.is_empty() {
            layers.push(Layer::templated(r.chain_defaults.clone()));
        }
        layers.push(Layer::templated(r.defaults.clone()));
    }
    layers.push(Layer::templated(host.inv_vars.clone()));
    layers.push(Layer::data(host.facts.clone()));
    layers.push(Layer::templated(pc.play.vars.clone()));
    if !pc.prompted.is_empty() {
        layers.push(Layer::templated(pc.prompted.clone()));
    }
    if !pc.play.roles_vars.is_empty() {
        layers.push(Layer::templated(pc.play.roles_vars.clone()));
    }
    if let Some(r) = role {
        if !r.chain_vars.is_empty() {
            layers.push(Layer::templated(r.chain_vars.clone()));
        }
        layers.push(Layer::templated(r.vars.clone()));
    }
    if let Some(t) = task {
        if !t.vars.is_empty() {
            layers.push(Layer::templated(t.vars.clone()));
        }
    }
    if !host.included.is_empty() {
        layers.push(Layer::templated(host.included.clone()));
    }
    layers.push(Layer::data(host.runtime.clone()));
    if let Some(r) = role {
        if !r.params.is_empty() {
            layers.push(Layer::templated(r.params.clone()));
        }
    }
    if let Some(p) = task.and_then(|t| t.include_params.as_ref()) {
        layers.push(Layer::templated(p.clone()));
    }
    if let Some(item) = item {
        layers.push(Layer::data(item));
    }
    layers.push(Layer::templated(pc.extra.clone()));
    layers.push(Layer::data(pc.play_magic.clone()));
    let mut magic = VarMap::with_capacity(6);
    magic.insert("inventory_hostname".into(), Value::from(host.name.as_str()));
    magic.insert(
        "inventory_hostname_short".into(),
        Value::from(host.name.split('.').next().unwrap_or(&host.name)),
    );
    magic.insert("group_names".into(), host.group_names.clone());
    magic.insert("hostvars".into(), pc.hostvars.clone());
    if let Some(r) = role {
        magic.insert("role_name".into(), Value::from(r.name.as_str()));
        magic.insert("ansible_role_name".into(), Value::from(r.fqcn.as_str()));
        magic.insert(
            "role_path".into(),
            Value::from(r.path.display().to_string()),
        );
        if !r.parents.is_empty() {
            magic.insert(
                "ansible_parent_role_names".into(),
                Value::from(r.parents.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()),
            );
            magic.insert(
                "ansible_parent_role_paths".into(),
                Value::from(
                    r.parents
                        .iter()
                        .map(|(_, p)| p.display().to_string())
                        .collect::<Vec<_>>(),
                ),
            );
        }
    }
    // Where relative lookups look, in Ansible's order: the role, the task file's directory,
    // the playbook's directory.
    if let Some(t) = task {
        let mut dirs: Vec<Value> = Vec::new();
        let mut push = |p: &std::path::Path| {
            let v = Value::from(canonical_dir(p));
            if !dirs.contains(&v) {
                dirs.push(v);
            }
        };
        if let Some(r) = role {
            push(&r.path);
        }
        push(&t.file_dir);
        push(&pc.playbook_dir);
        magic.insert("ansible_search_path".into(), Value::from(dirs));
    }
    layers.push(Layer::data(Arc::new(magic)));
    layers
}

/// A role's, task file's or playbook's directory with links resolved, as
/// `ansible_search_path` shows it. Scopes are built several times per task and host, so each
/// directory is resolved once per run (a `realpath` is a `readlink` per path component).
fn canonical_dir(p: &std::path::Path) -> Arc<str> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Arc<str>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(v) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(p) {
        return v.clone();
    }
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let v: Arc<str> = abs.display().to_string().into();
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(p.to_path_buf(), v.clone());
    v
}

/// The scope as a template context.
pub fn scope(
    pc: &PlayCtx,
    host: &HostState,
    task: Option<&Task>,
    item: Option<Arc<VarMap>>,
) -> Value {
    Scope::new(layers(pc, host, task, item)).into_value()
}

/// Each host's variables (inventory, facts, run-time, extra vars) as `hostvars` sees them.
pub fn hostvars_snapshot(hosts: &[HostState], extra: &Arc<VarMap>) -> Value {
    Value::from_object(hostvars_over(hosts, extra, None))
}

/// `hostvars_snapshot` over a base (the other hosts of a `free` play, as of its start).
pub fn hostvars_over(
    hosts: &[HostState],
    extra: &Arc<VarMap>,
    base: Option<&HostVars>,
) -> HostVars {
    let mut hv = base.cloned().unwrap_or_default();
    for h in hosts {
        let mut magic = VarMap::new();
        magic.insert("inventory_hostname".into(), Value::from(h.name.as_str()));
        magic.insert("group_names".into(), h.group_names.clone());
        let scope = Scope::new(vec![
            Layer::templated(h.inv_vars.clone()),
            Layer::data(h.facts.clone()),
            Layer::templated(h.included.clone()),
            Layer::data(h.runtime.clone()),
            Layer::templated(extra.clone()),
            Layer::data(Arc::new(magic)),
        ]);
        hv.hosts.insert(h.name.clone(), Arc::new(scope));
    }
    hv
}
