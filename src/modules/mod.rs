//! Modules and their registry. Every module follows the contract of `contract/`: typed
//! arguments, what to observe as data, a pure decision, the change as steps; the driver runs
//! them, and stops before the steps in check mode, so check mode can never change a host and
//! reports exactly what a real run would. Argument helpers live in `args.rs`; each module has
//! its own file or directory named after it.

mod apt;
mod apt_key;
mod apt_repository;
mod args;
mod assemble;
mod assert;
mod async_status;
mod authorized_key;
mod blockinfile;
mod clock;
mod command;
pub mod contract;
mod copy;
mod cron;
mod deb822_repository;
mod debconf;
mod debug;
mod dpkg_selections;
mod dynamic;
mod fail;
mod fetch;
mod file;
mod fileops;
mod find;
mod get_url;
mod getent;
mod group;
mod hostname;
mod include_vars;
mod ini_file;
mod inventory_ops;
mod iptables;
mod known_hosts;
mod lineinfile;
mod missing;
mod modprobe;
mod mount;
mod names;
mod package;
mod package_facts;
mod pam_limits;
mod pamd;
mod pause;
mod ping;
mod pip;
mod raw;
mod reboot;
mod replace;
mod script;
mod sections;
mod service;
mod service_facts;
mod set_fact;
mod setup;
mod slurp;
mod stat;
mod sysctl;
mod systemd;
mod tempfile;
mod template;
mod timezone;
mod transfer;
mod ufw;
mod unarchive;
mod uri;
mod user;
mod wait_for;
mod wait_for_connection;

pub use args::{to_bool as args_to_bool, Args, Spec, FILE_ARGS};
pub use clock::chrono_like_now;
pub use debug::UNTRUSTED as DEBUG_UNTRUSTED;
pub use dynamic::dynamic;
pub use fileops::{Ahead, Looks};
pub use include_vars::{dir_files as vars_dir_files, read_vars_file};
pub use missing::{ansible_has_arg, is_ansible_module, missing, unimplemented_arg};

use crate::connection::{Become, Connection, Output};
use crate::vars::VarMap;
use anyhow::{bail, Result};
use minijinja::Value;
use std::path::PathBuf;

/// A before/after pair for `--diff`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
    /// A module's own text of the change (Ansible's `diff: {prepared: ...}`), shown as it is.
    pub prepared: Option<String>,
}

/// Where variables a module sets go (each is its own precedence level).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FactKind {
    /// `set_fact` and `register`: host variables.
    #[default]
    HostVars,
    /// `setup`: `ansible_facts` and their `ansible_*` names.
    AnsibleFacts,
    /// `include_vars`: one level below `set_fact`.
    IncludedVars,
    /// `set_fact` with `cacheable: true`: host variables that are also facts, persisted by
    /// the fact cache.
    CacheableHostVars,
    /// A module's `ansible_facts` (`getent_passwd`): facts under their own names, in
    /// `ansible_facts` and as variables.
    ModuleFacts,
}

/// How a task ended, as its module reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Verdict {
    #[default]
    Unchanged,
    /// It changes the host (in check mode: would).
    Changed,
    /// It changes the host, and check mode cannot predict how (`command` without `creates`):
    /// reported as skipped there, as Ansible does.
    Unpredictable,
    /// It failed (`assert`, `fail`, a missing source file, a command exiting non-zero);
    /// `changed` when the host was changed before it failed (a command that ran).
    Failed { changed: bool },
    /// The module decided to skip, with Ansible's `skipped_reason` (`debug` below its
    /// `verbosity`), or with none when its `msg` says why (`script`'s `creates`).
    Skipped(String),
}

/// A task's result as a module reports it: whether it changed the host (or would), its
/// return values, diffs and message.
#[derive(Clone, Default)]
pub struct Plan {
    /// How the task ended: unchanged, changed (or, in check mode, would change), failed or
    /// skipped.
    pub verdict: Verdict,
    /// Return values (Ansible's keys), as predicted; `finish` may add to them.
    pub values: VarMap,
    pub diffs: Vec<Diff>,
    pub msg: Option<String>,
    /// Facts to set on the host (`set_fact`, `setup`).
    pub facts: Option<VarMap>,
    /// What kind of variables `facts` are.
    pub facts_kind: FactKind,
    /// The content came out of a vault (a vault-encrypted `src`): its diffs are never shown,
    /// as for `no_log`.
    pub secret: bool,
    /// What check mode says instead of `msg` (`command`'s "Would not run ..." for "Did not
    /// run ..."): the driver picks it.
    pub check_msg: Option<String>,
    /// Values only a prediction reports (`file`'s warnings about an owner an earlier task
    /// creates): the driver adds them in check mode.
    pub check_values: Vec<(String, Value)>,
    /// The change is housekeeping a prediction does not count (`apt`'s cache update with
    /// packages already as asked: Ansible's check mode reports no change): the driver
    /// reports it unchanged in check mode.
    pub check_unchanged: bool,
    /// Values only a real run reports (`known_hosts`'s parameters and path info, which
    /// Ansible's check mode leaves out): the driver drops them in check mode.
    pub real_values: Vec<(String, Value)>,
    /// The result's `diff` as the module returns it (the `file` module's `{before, after}`
    /// dicts, changed or not), in diff mode; otherwise `diff` is built from `diffs`.
    pub diff_value: Option<Value>,
    /// The module returns `diff_value` whatever the mode (`unarchive`'s prepared changes), so
    /// the result carries it outside diff mode too (the output shows it in diff mode only).
    pub diff_always: bool,
    /// The result's `diff` outside diff mode, for modules that return one whatever the mode
    /// (`lineinfile`'s headers with empty texts and its attribute changes).
    pub plain_diff: Option<Value>,
}

impl Plan {
    /// A plan that changes nothing.
    pub fn unchanged() -> Plan {
        Plan::default()
    }

    /// Whether the task changed the host (or, in check mode, would), failed or not.
    pub fn changed(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Changed | Verdict::Unpredictable | Verdict::Failed { changed: true }
        )
    }

    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Failed { .. })
    }

    /// Marks the task failed; a host it changed before failing stays changed only when
    /// `keep_change` says so (a command that ran).
    pub fn mark_failed(&mut self, keep_change: bool) {
        self.verdict = Verdict::Failed {
            changed: keep_change && self.changed(),
        };
    }

    /// A failed plan with a message.
    pub fn fail(msg: impl Into<String>) -> Plan {
        Plan {
            verdict: Verdict::Failed { changed: false },
            msg: Some(msg.into()),
            ..Plan::default()
        }
    }

    pub fn with_value(mut self, key: &str, v: impl Into<Value>) -> Plan {
        self.values.insert(key.to_string(), v.into());
        self
    }

    pub fn with_diff(mut self, d: Diff) -> Plan {
        self.diffs.push(d);
        self
    }

    pub fn with_msg(mut self, msg: impl Into<String>) -> Plan {
        self.msg = Some(msg.into());
        self
    }

    /// Facts the module returns (`ansible_facts`), shown in its result too.
    pub fn with_facts(mut self, facts: VarMap) -> Plan {
        self.values.insert(
            "ansible_facts".into(),
            crate::vars::map_value(facts.clone()),
        );
        self.facts = Some(facts);
        self
    }
}

/// Where a module finds the controller files a task names (`src:` of copy/template).
#[derive(Clone, Debug, Default)]
pub struct SearchPaths {
    /// Directories searched in order for `files/` and `templates/` lookups: the role's dir
    /// first, then the playbook's dir.
    pub dirs: Vec<PathBuf>,
}

impl SearchPaths {
    /// Finds a controller file: absolute paths as they are; relative ones in
    /// `<dir>/<kind>/<path>` then `<dir>/<path>` for each search dir.
    pub fn find(&self, kind: &str, path: &str) -> Option<PathBuf> {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            return p.exists().then_some(p);
        }
        for d in &self.dirs {
            for cand in [d.join(kind).join(&p), d.join(&p)] {
                if cand.exists() {
                    return Some(cand);
                }
            }
        }
        None
    }
}

/// Everything a module may use on one host for one task.
pub struct ModuleCtx<'a> {
    pub host: &'a str,
    /// The host connection; `None` for modules that run on the controller only.
    pub conn: Option<&'a mut (dyn Connection + 'static)>,
    pub as_user: Option<&'a Become>,
    pub diff: bool,
    /// The task's variables, for modules that render (template) or inspect them (debug).
    pub vars: &'a Value,
    pub paths: &'a SearchPaths,
    /// `environment:` variables exported for every command this task runs.
    pub env: &'a [(String, String)],
    /// The run's `-v` count (`debug`'s `verbosity`).
    pub verbosity: u8,
    /// In check mode: an earlier task predicted a change on this host that did not happen
    /// (so a missing unit or init script may be one it would have installed).
    pub check_changed: bool,
    /// `async: N` with `poll: P`: the change runs in the background for at most N seconds,
    /// looked at every P seconds, or not at all with `poll: 0` (`contract/background.rs`).
    pub background: Option<(u64, u64)>,
    /// The task's name as its banner shows it (only `pause` asks for it).
    pub task_name: &'a str,
    /// The task has `no_log`: at `-vvvv` its commands are not shown.
    pub no_log: bool,
    /// Paths the next tasks will probe, to look at with this task's first file probe
    /// (`fileops::Looks`); empty when none are foreseen.
    pub ahead: Vec<fileops::Ahead>,
}

impl ModuleCtx<'_> {
    /// Runs a command line on the host as the task's user.
    pub fn run(&mut self, cmd: &str) -> Result<Output> {
        self.run_with_stdin(cmd, None)
    }

    /// `-vvvv`: each command sent, as Ansible's `EXEC` lines (vault values and the scripts'
    /// secrets masked; none for a `no_log` task).
    fn log_exec(&self, cmd: &str) {
        let as_user = self.as_user;
        if self.verbosity >= 4 {
            let who = as_user.map_or(String::new(), |b| {
                format!(" (as {} via {})", b.user, b.method.name())
            });
            if self.no_log {
                eprintln!("<{}> EXEC{who}: the command is hidden (no_log)", self.host);
            } else {
                eprintln!(
                    "<{}> EXEC{who}:\n{}",
                    self.host,
                    crate::vault::redact(cmd.trim_end())
                );
            }
        }
    }

    /// Runs one of drover's own read-only scripts (a file probe) in the session shell, without
    /// a subshell of its own (`Connection::run_inline`); with task `environment` set, as `run`
    /// (the exports must end with the command).
    pub fn run_inline(&mut self, cmd: &str) -> Result<Output> {
        if !self.env.is_empty() {
            return self.run(cmd);
        }
        self.log_exec(cmd);
        let as_user = self.as_user;
        match self.conn.as_deref_mut() {
            Some(c) => c.run_inline(cmd, as_user),
            None => bail!("invariant: module needs a connection but runs on the controller"),
        }
    }

    /// Runs a command line with data on its stdin.
    pub fn run_with_stdin(&mut self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        self.log_exec(cmd);
        let as_user = self.as_user;
        let with_env;
        let cmd = if self.env.is_empty() {
            cmd
        } else {
            // Commands run in a subshell of the session shell, so the exports end with them.
            let exports = self
                .env
                .iter()
                .fold(contract::Script::new(), |s, (k, v)| s.export(k, v));
            with_env = format!("{}{cmd}", exports.text());
            &with_env
        };
        match self.conn.as_deref_mut() {
            Some(c) => c.run(cmd, stdin, as_user),
            None => bail!("invariant: module needs a connection but runs on the controller"),
        }
    }

    /// The connection, for helpers such as `write_file_atomic`.
    pub fn conn(&mut self) -> Result<&mut (dyn Connection + 'static)> {
        match self.conn.as_deref_mut() {
            Some(c) => Ok(c),
            None => bail!("invariant: module needs a connection but runs on the controller"),
        }
    }
}

/// A module as the executor runs it. Every module is one of two kinds (`contract.rs`): a
/// [`contract::Typed`] module registered as [`contract::Driven`] (parse, observe, decide,
/// apply: the driver runs the steps and gates check mode), or a controller
/// [`contract::Action`] registered as [`contract::Acting`].
pub trait Module: Sync {
    /// The name used in playbooks.
    fn name(&self) -> &'static str;
    /// Accepted arguments, aliases, and free-form handling; checked at load time.
    fn spec(&self) -> &'static Spec;
    /// Whether the module runs on the controller only (no connection needed).
    fn controller_only(&self) -> bool {
        false
    }
    /// Whether the module can change nothing but files (and so never users, groups or the
    /// shell's identity): lookups memoized on the connection survive it (see `Memo`).
    fn leaves_accounts_alone(&self) -> bool {
        false
    }
    /// The paths a task with these (rendered) arguments will probe, for a look made ahead by
    /// an earlier task (`fileops::Looks`); `None` for a module that does not answer its probes
    /// from such looks, whose task ends what looks ahead serve.
    fn looks_ahead(&self, args: &Args) -> Option<Vec<fileops::Ahead>> {
        let _ = args;
        None
    }
    /// Runs the task: in check mode, the prediction only; a task failure is a failed result,
    /// a broken connection or a deadline an error.
    fn run(&self, ctx: &mut ModuleCtx, args: &Args, check: bool) -> Result<Plan>;
}

/// Every module drover knows, by every name it answers to.
pub fn lookup(name: &str) -> Option<&'static dyn Module> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .or_else(|| name.strip_prefix("ansible.posix."))
        .or_else(|| {
            name.strip_prefix("community.general.").filter(|n| {
                matches!(
                    *n,
                    "ini_file" | "pam_limits" | "pamd" | "timezone" | "ufw" | "modprobe"
                )
            })
        })
        .unwrap_or(name);
    // `gather_facts` as a task is the `setup` module (drover gathers one set of facts).
    let short = if short == "gather_facts" {
        "setup"
    } else {
        short
    };
    registry().iter().copied().find(|m| m.name() == short)
}

/// All registered modules.
pub fn registry() -> &'static [&'static dyn Module] {
    REGISTRY
}

static REGISTRY: &[&dyn Module] = &[
    &command::COMMAND,
    &command::SHELL,
    &contract::Acting(debug::Debug),
    &contract::Acting(set_fact::SetFact),
    &contract::Acting(assert::Assert),
    &contract::Acting(fail::Fail),
    &contract::Driven(ping::Ping),
    &contract::Driven(getent::Getent),
    &contract::Acting(pause::Pause),
    &contract::Driven(raw::Raw),
    &contract::Driven(script::ScriptModule),
    &contract::Driven(setup::Setup),
    &contract::Driven(stat::Stat),
    &lineinfile::LINEINFILE,
    &file::FILE,
    &copy::COPY,
    &template::TEMPLATE,
    &contract::Driven(apt::Apt),
    &contract::Driven(package::Package),
    &contract::Driven(service::Service),
    &systemd::SYSTEMD,
    &systemd::SYSTEMD_SERVICE,
    &contract::Driven(user::User),
    &contract::Acting(include_vars::IncludeVars),
    &contract::Driven(group::Group),
    &contract::Driven(authorized_key::AuthorizedKey),
    &contract::Driven(tempfile::TempFile),
    &contract::Acting(inventory_ops::GroupBy),
    &contract::Acting(inventory_ops::AddHost),
    &contract::Driven(replace::Replace),
    &contract::Driven(blockinfile::BlockInFile),
    &contract::Driven(find::Find),
    &contract::Driven(async_status::AsyncStatus),
    &contract::Driven(wait_for::WaitFor),
    &contract::Driven(get_url::GetUrl),
    &contract::Driven(unarchive::Unarchive),
    &contract::Driven(uri::Uri),
    &contract::Driven(fetch::Fetch),
    &contract::Acting(wait_for_connection::WaitForConnection),
    &contract::Acting(reboot::Reboot),
    &contract::Driven(assemble::Assemble),
    &contract::Driven(ini_file::IniFile),
    &contract::Driven(slurp::Slurp),
    &contract::Driven(known_hosts::KnownHosts),
    &contract::Driven(cron::Cron),
    &contract::Driven(hostname::Hostname),
    &contract::Driven(debconf::Debconf),
    &contract::Driven(dpkg_selections::DpkgSelections),
    &contract::Driven(package_facts::PackageFacts),
    &contract::Driven(service_facts::ServiceFacts),
    &contract::Driven(sysctl::Sysctl),
    &contract::Driven(pam_limits::PamLimits),
    &contract::Driven(apt_repository::AptRepository),
    &contract::Driven(timezone::Timezone),
    &contract::Driven(mount::Mount),
    &contract::Driven(deb822_repository::Deb822Repository),
    &contract::Driven(pamd::Pamd),
    &contract::Driven(iptables::Iptables),
    &contract::Driven(ufw::Ufw),
    &contract::Driven(modprobe::Modprobe),
    &contract::Driven(apt_key::AptKey),
    &contract::Driven(pip::Pip),
];

/// All module names, for "did you mean" hints.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|m| m.name()).collect()
}
