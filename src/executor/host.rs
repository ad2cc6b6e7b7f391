//! Per-host run state, kept for the whole run (facts and registered variables outlive plays,
//! as in Ansible): the connection, variables produced at run time, counters, notifications.

use crate::connection::{ConnSpec, Connection};
use crate::vars::VarMap;
use indexmap::IndexSet;
use minijinja::Value;
use std::sync::Arc;

/// Recap counters for one host, as the `recap` event of `--output json` writes them (and
/// `drover report merge` reads them back).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// One host's state.
pub struct HostState {
    pub name: String,
    /// Host-level inventory variables (group_vars, host_vars, inline) merged.
    pub inv_vars: Arc<VarMap>,
    /// `ansible_facts` and the `ansible_*` names; empty until gathered.
    pub facts: Arc<VarMap>,
    pub facts_gathered: bool,
    /// `register` and `set_fact` results.
    pub runtime: Arc<VarMap>,
    pub conn: Option<Box<dyn Connection>>,
    pub conn_spec: Option<ConnSpec>,
    /// The descriptors of `conn` counted against the run's open-file budget (see
    /// `descriptors.rs`).
    pub held_fds: usize,
    /// Connections to `delegate_to` targets, opened on first use, owned by this host's worker.
    pub delegated: std::collections::HashMap<String, Box<dyn Connection>>,
    /// Failed in this play: no further tasks run on it (until the next play).
    pub failed: bool,
    /// Unreachable: no further tasks in this run.
    pub unreachable: bool,
    pub stats: Stats,
    /// The play's handlers (by index) notified here and not run yet: a notification names
    /// them when it is made, as in Ansible.
    pub notified: IndexSet<usize>,
    pub group_names: Value,
    /// `meta: end_host` / `end_play` ended this play for the host (not a failure).
    pub ended: bool,
    /// The last task that failed on this host and its result (`ansible_failed_task`/`_result`).
    pub last_failure: Option<(Value, Value)>,
    /// Out of `ansible_play_hosts`/`ansible_play_batch`: failed (not where a rescue will run),
    /// unreachable or ended in this play.
    pub removed: bool,
    /// Facts set for a `delegate_to` host under `delegate_facts` (target, facts, whether they
    /// are `ansible_facts`), handed over after the task.
    pub delegated_facts: Vec<(String, VarMap, crate::modules::FactKind)>,
    /// A task run in check mode predicted a change here (not of a service): what a later
    /// task needs (a unit file, a package) may be one of the changes that did not happen.
    pub check_changed: bool,
    /// What the fact cache holds for the host (facts under their `ansible_` names and
    /// cacheable `set_fact` values), written back when it grows.
    pub cache_entries: VarMap,
    /// Roles (by identity) with a task that ran on the host in this play, and roles that
    /// completed here: a completed role that does not allow duplicates is not run again.
    pub roles_ran: std::collections::HashSet<String>,
    pub roles_done: std::collections::HashSet<String>,
    /// `meta: end_role` ran here: the host skips tasks until the next role completes.
    pub ending_role: bool,
    /// Facts a `run_once` task set on this host, for the other hosts of the batch.
    pub once_facts: Vec<(VarMap, crate::modules::FactKind)>,
    /// `include_vars` results (below `set_fact`/`register` in precedence).
    pub included: Arc<VarMap>,
    /// The last task that ran a module here changed nothing (or only predicted a change): the
    /// next file task looks at the paths of the ones after it (`lookahead.rs`), which a run
    /// that changes every file would only throw away.
    pub quiet: bool,
}

impl HostState {
    pub fn new(name: String, inv_vars: VarMap, groups: &[String]) -> HostState {
        HostState {
            name,
            inv_vars: Arc::new(inv_vars),
            facts: Arc::new(VarMap::new()),
            facts_gathered: false,
            runtime: Arc::new(VarMap::new()),
            conn: None,
            held_fds: 0,
            conn_spec: None,
            delegated: std::collections::HashMap::new(),
            failed: false,
            unreachable: false,
            stats: Stats::default(),
            notified: IndexSet::new(),
            group_names: Value::from(
                groups
                    .iter()
                    .map(|g| Value::from(g.as_str()))
                    .collect::<Vec<_>>(),
            ),
            last_failure: None,
            removed: false,
            delegated_facts: Vec::new(),
            check_changed: false,
            cache_entries: VarMap::new(),
            roles_ran: Default::default(),
            roles_done: Default::default(),
            ending_role: false,
            once_facts: Vec::new(),
            included: Arc::new(VarMap::new()),
            quiet: true,
            ended: false,
        }
    }

    /// Whether tasks still run on this host.
    pub fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }

    /// Sets facts (unprefixed names) as `ansible_facts` and `ansible_<name>`.
    pub fn set_facts(&mut self, facts: &VarMap) {
        let map = Arc::make_mut(&mut self.facts);
        let mut all = match map.get("ansible_facts") {
            Some(v) => crate::vars::varmap_from_value(v),
            None => VarMap::new(),
        };
        for (k, v) in facts {
            all.insert(k.clone(), v.clone());
            map.insert(format!("ansible_{k}"), v.clone());
        }
        map.insert("ansible_facts".into(), crate::vars::map_value(all));
        self.facts_gathered = true;
    }

    /// Facts read from the fact cache: each under its own name and, without its `ansible_`
    /// prefix, in `ansible_facts`.
    pub fn set_cached_facts(&mut self, facts: &VarMap) {
        let map = Arc::make_mut(&mut self.facts);
        let mut all = match map.get("ansible_facts") {
            Some(v) => crate::vars::varmap_from_value(v),
            None => VarMap::new(),
        };
        for (k, v) in facts {
            let short = k.strip_prefix("ansible_").filter(|_| k != "ansible_local");
            all.insert(short.unwrap_or(k).to_string(), v.clone());
            map.insert(k.clone(), v.clone());
        }
        map.insert("ansible_facts".into(), crate::vars::map_value(all));
    }

    /// Adds gathered facts (`ansible_`-prefixed) or cacheable values to what the fact cache
    /// holds for the host.
    pub fn cache_add(&mut self, facts: &VarMap, prefix: bool) {
        for (k, v) in facts {
            let key = if prefix && !k.starts_with("ansible_") {
                format!("ansible_{k}")
            } else {
                k.clone()
            };
            self.cache_entries.insert(key, v.clone());
        }
    }

    /// Sets a run-time variable (`register`, `set_fact`).
    /// Sets variables a module produced, at their kind's level.
    pub fn set_vars_of(&mut self, kind: crate::modules::FactKind, vars: VarMap) {
        use crate::modules::FactKind;
        match kind {
            FactKind::AnsibleFacts => self.set_facts(&vars),
            FactKind::HostVars => {
                for (k, v) in vars {
                    self.set_var(&k, v);
                }
            }
            FactKind::IncludedVars => Arc::make_mut(&mut self.included).extend(vars),
            FactKind::ModuleFacts => self.set_cached_facts(&vars),
            // `set_fact ... cacheable: true`: a host variable and a cached fact.
            FactKind::CacheableHostVars => {
                self.set_cached_facts(&vars);
                for (k, v) in vars {
                    self.set_var(&k, v);
                }
            }
        }
    }

    pub fn set_var(&mut self, name: &str, v: Value) {
        Arc::make_mut(&mut self.runtime).insert(name.to_string(), v);
    }
}
