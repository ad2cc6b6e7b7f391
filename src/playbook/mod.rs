//! Playbooks as loaded and validated before any host is touched: plays, tasks (with every
//! template compiled), handlers and roles already expanded. Loading plays lives in `play.rs`,
//! tasks in `task.rs`, `k=v` parsing in `kv.rs`, roles in `role.rs`, and the check that
//! every variable a template reads can be defined somewhere in `check_vars.rs`.

mod check_vars;
mod kv;
mod play;
mod prompt;
mod role;
mod task;

pub use check_vars::{check_variables, search_paths};
pub(crate) use check_vars::{task_sources, template_text, value_strings};
pub use kv::{decode_escapes, parse_kv};
pub use play::{load_include_at_run_time, load_playbook, load_playbook_str, serial_from_value};
pub use prompt::VarPrompt;
pub use task::{AnsibleError, BlockTasks, IncludeTasks, Task, TaskKind};

use crate::template::tree::TTree;
use crate::vars::VarMap;
use crate::yaml::Span;
use std::path::PathBuf;
use std::sync::Arc;

/// Options that shape loading: where roles are searched.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub roles_path: Vec<PathBuf>,
    /// `-e` values: with the play's vars, they render what must be known while loading
    /// (a templated role name of `roles:`/`import_role`).
    pub extra_vars: VarMap,
}

/// A loaded playbook file.
#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// The become methods drover runs: `sudo`, and `su` where it needs no password (from root,
/// or to the login user); others are refused where they are named.
pub fn check_become_method(method: &str) -> Result<(), String> {
    crate::connection::BecomeMethod::parse(method).map(|_| ())
}

/// Privilege escalation settings at some level (play, block, task); `None` inherits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BecomeOpts {
    pub enabled: Option<bool>,
    pub user: Option<String>,
    pub method: Option<String>,
}

impl BecomeOpts {
    /// `self` overridden by anything `inner` sets.
    pub fn merged(&self, inner: &BecomeOpts) -> BecomeOpts {
        BecomeOpts {
            enabled: inner.enabled.or(self.enabled),
            user: inner.user.clone().or_else(|| self.user.clone()),
            method: inner.method.clone().or_else(|| self.method.clone()),
        }
    }
}

/// A role as used by a play: its variables and where its files are.
#[derive(Debug)]
pub struct RoleInfo {
    /// `role_name`: the role's directory name.
    pub name: String,
    /// `ansible_role_name` and the name task banners show: `ns.coll.role` for a collection's
    /// role, else the name.
    pub fqcn: String,
    /// The roles that brought this one in (`import_role`/`include_role` inside a role,
    /// `meta/main.yml` dependencies), nearest first: `ansible_parent_role_names`/`_paths`.
    pub parents: Vec<(String, PathBuf)>,
    pub path: PathBuf,
    pub defaults: Arc<VarMap>,
    pub vars: Arc<VarMap>,
    /// Parameters given where the role is listed (`- { role: x, port: 80 }`).
    pub params: Arc<VarMap>,
    /// The defaults and vars of the roles that brought this one in (its dependency chain,
    /// outermost first): Ansible shows them to the role, under its own.
    pub chain_defaults: Arc<VarMap>,
    pub chain_vars: Arc<VarMap>,
    /// The role's identity in the play (Ansible's role cache key).
    pub key: String,
    /// `allow_duplicates`: it runs again on a host where it completed.
    pub allow_duplicates: bool,
}

/// `serial:` one batch size.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchSize {
    Count(usize),
    Percent(f64),
}

/// One play.
#[derive(Debug)]
pub struct Play {
    pub name: String,
    pub hosts: TTree,
    /// Where `hosts:` was written.
    pub hosts_span: Span,
    pub span: Span,
    /// Play `vars`, then `vars_files` (which win).
    pub vars: Arc<VarMap>,
    /// `vars_prompt`: asked when the play starts (unless given with `-e`).
    pub vars_prompt: Vec<VarPrompt>,
    /// `gather_facts` as the play says it (`None`: as `gathering` of the configuration says).
    pub gather_facts: Option<bool>,
    /// `gather_subset`, `fact_path` and `gather_timeout`: the arguments of the play's own
    /// fact gathering.
    pub gather_args: VarMap,
    pub become_opts: BecomeOpts,
    pub remote_user: Option<String>,
    pub connection: Option<String>,
    pub serial: Vec<BatchSize>,
    pub max_fail_percentage: Option<f64>,
    /// `order`: inventory, reverse_inventory, sorted, reverse_sorted or shuffle.
    pub order: String,
    /// `strategy`: `linear` (every host finishes a task before the next) or `free`.
    pub strategy: String,
    /// Defaults and vars of the play's roles, merged in load order: Ansible exposes them to
    /// the play's tasks outside the roles too (role variables are not private by default).
    pub roles_defaults: Arc<VarMap>,
    pub roles_vars: Arc<VarMap>,
    /// `ansible_play_role_names` (`role_names`): `roles:` and imported roles, in load order.
    pub play_role_names: Vec<String>,
    /// `ansible_dependent_role_names`: the roles loaded as dependencies, each once.
    pub dep_role_names: Vec<String>,
    pub any_errors_fatal: bool,
    pub ignore_unreachable: bool,
    pub force_handlers: Option<bool>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub tags: Vec<String>,
    /// pre_tasks, roles then tasks, post_tasks: handlers are flushed after each.
    pub sections: Vec<Vec<Task>>,
    pub handlers: Vec<Task>,
    pub environment: Vec<TTree>,
    /// `strategy`, `serial` and `max_fail_percentage` written as templates: rendered when
    /// the play starts (with the play's vars and `-e`), over the literal fields above.
    pub templated: Vec<(&'static str, TTree)>,
}

impl Play {
    /// Every task of the play, blocks expanded, then the handlers.
    pub fn all_tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        for t in self.sections.iter().flatten().chain(self.handlers.iter()) {
            t.flatten(&mut out);
        }
        out
    }
}

/// Names close to `word` among `candidates`, for "did you mean" hints.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(word, c);
        if d <= 2.max(word.len() / 4) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("comand", &["command", "copy"]).as_deref(),
            Some("command")
        );
        assert_eq!(did_you_mean("zzzzzz", &["command", "copy"]), None);
        assert_eq!(
            did_you_mean("whne", &["when", "with_items"]).as_deref(),
            Some("when")
        );
    }
}
