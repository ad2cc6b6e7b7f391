//! Resolved run settings: command line, environment and defaults combined into one struct the
//! executor reads. Nothing here touches hosts.

use crate::connection::ssh_config::SshConfig;
use crate::connection::HostKeyPolicy;
use crate::vars::VarMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything a run needs to know besides the inventory and playbooks.
#[derive(Clone, Debug)]
pub struct Settings {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub extra_vars: VarMap,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub remote_user: Option<String>,
    pub become_enabled: bool,
    pub become_user: Option<String>,
    /// `--become-method`: under the `become_method` keywords and variables.
    pub become_method: Option<String>,
    /// `-K`: the become password, under `ansible_become_password`.
    pub become_password: Option<String>,
    /// `-k`: the SSH password, under `ansible_password`.
    pub conn_password: Option<String>,
    /// `--ssh-common-args` and `--ssh-extra-args`: under `ansible_ssh_common_args` and
    /// `ansible_ssh_extra_args`, read as those are.
    pub ssh_common_args: Option<String>,
    pub ssh_extra_args: Option<String>,
    /// ansible-playbook's flags given that change nothing here, each with why (warned
    /// about before the run).
    pub ignored_flags: Vec<String>,
    /// `--shard I/N`: the hosts of one shard only (after `--limit`).
    pub shard: Option<crate::shard::Shard>,
    pub private_key: Option<PathBuf>,
    pub connection: Option<String>,
    pub connect_timeout: Duration,
    /// Time limit of a task (in seconds) that sets no `timeout:` of its own; 0: none.
    pub task_timeout: u64,
    /// `--host-key-checking` or `host_key_checking` of ansible.cfg; `None`: the ssh config's
    /// `StrictHostKeyChecking`, else strict.
    pub host_key_policy: Option<HostKeyPolicy>,
    /// `--known-hosts`; `None`: the ssh config's `UserKnownHostsFile`, else
    /// `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// `~/.ssh/config` (or the file `DROVER_SSH_CONFIG` names), parsed once per run.
    pub ssh_config: Arc<SshConfig>,
    pub verbosity: u8,
    pub force_handlers: bool,
    /// A notification that no handler answers fails the run (else a warning).
    pub error_on_missing_handler: bool,
    /// `--start-at-task`: skip tasks until one with this name.
    pub start_at_task: Option<String>,
    /// `--step`: confirm each task on standard input.
    pub step: bool,
    /// Every result is censored as with `no_log: true` (`ANSIBLE_NO_LOG`, `[defaults] no_log`).
    pub no_log: bool,
    /// `[defaults] gathering` / `ANSIBLE_GATHERING`: `implicit` (gather unless a play says
    /// `gather_facts: false`), `explicit` (only when it says `true`), `smart` (as implicit,
    /// skipping hosts whose facts this run already has).
    pub gathering: String,
    /// The fact cache (`fact_caching = jsonfile`), if any.
    pub fact_cache: Option<crate::executor::FactCache>,
    /// `ANSIBLE_DEBUG`: Ansible's debug lines for what drover does alike (the implicit
    /// handler flushes), on stderr.
    pub debug: bool,
}

/// The number of hosts worked on at once unless `--forks` says otherwise: enough for 50 hosts.
pub const DEFAULT_FORKS: usize = 50;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            check: false,
            diff: false,
            forks: DEFAULT_FORKS,
            extra_vars: VarMap::new(),
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            remote_user: None,
            become_enabled: false,
            become_user: None,
            become_method: None,
            become_password: None,
            conn_password: None,
            ssh_common_args: None,
            ssh_extra_args: None,
            ignored_flags: Vec::new(),
            shard: None,
            private_key: None,
            connection: None,
            connect_timeout: Duration::from_secs(10),
            task_timeout: 0,
            host_key_policy: None,
            known_hosts: None,
            ssh_config: Arc::new(SshConfig::default()),
            verbosity: 0,
            force_handlers: false,
            error_on_missing_handler: true,
            start_at_task: None,
            step: false,
            no_log: false,
            gathering: "implicit".into(),
            fact_cache: None,
            debug: false,
        }
    }
}

/// `~/.ssh/known_hosts`.
pub fn default_known_hosts() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ssh")
        .join("known_hosts")
}
