//! The module contract. A module is four small steps, three of them pure:
//!
//! 1. `parse`: the task's rendered arguments become the module's own typed `Args` (choices as
//!    enums, regular expressions compiled, contradictions refused as Ansible refuses them).
//! 2. `observe`: what the module needs to see on the host, as data ([`Observe`]): paths to
//!    stat, a file to read, read-only commands whose output comes back as named sections.
//!    The driver gathers all of it in one round trip.
//! 3. `decide`: from the arguments and what was observed, the [`Outcome`]: unchanged, a
//!    change (with its report and diffs), or a failure. No I/O and no check flag: check mode
//!    stops after this step, so a prediction is exactly the decision a real run acts on.
//! 4. `apply`: the change as [`Step`]s (atomic writes, attribute changes, quoted [`Script`]s),
//!    which the driver runs; `finish` adds what only the run can tell (a backup's name).
//!
//! The driver (`driver.rs`) runs the steps in that order for every module: the error
//! conversion, the check gate and the fact that a check-mode prediction may rest on something
//! an earlier task would have created ([`Outcome::Change::pending`]) live there, once.

pub mod background;
mod download;
mod driver;
#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod fixture;
mod observe;
mod script;
#[cfg(test)]
mod table;

pub use download::host_fetch;

/// Shell text that adds the sbin directories to `PATH`, where Ansible's `get_bin_path` also
/// looks for a module's program (a login shell of an unprivileged user may lack them).
pub const SBIN_PATH: &str = "PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"\n";
pub use driver::{Acting, Done, Driven};
pub use observe::{gather, Content, Download, Observe, Observed, Read};
pub use script::Script;

use super::fileops::{AttrChange, Payload, ProbeReq, PutOpts, TaskFail};
use super::{Args, Plan, SearchPaths, Spec};
use anyhow::Result;
use minijinja::Value;

/// A task failure, as a module's `fail_json`: the message and extra return values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Failure {
    pub msg: String,
    pub values: Vec<(String, Value)>,
    /// Values only a prediction reports (see `Plan::check_values`).
    pub check_values: Vec<(String, Value)>,
}

impl Failure {
    pub fn new(msg: impl Into<String>) -> Failure {
        Failure {
            msg: msg.into(),
            ..Failure::default()
        }
    }

    /// A failure with its message and values.
    pub fn with_values(msg: impl Into<String>, values: Vec<(String, Value)>) -> Failure {
        Failure {
            msg: msg.into(),
            values,
            ..Failure::default()
        }
    }

    /// A helper's error as the task's failure: a `TaskFail` keeps its message and values;
    /// anything else becomes its message.
    pub fn from_error(e: anyhow::Error) -> Failure {
        match e.downcast::<TaskFail>() {
            Ok(f) => Failure::with_values(f.msg, f.values),
            Err(e) => Failure::new(format!("{e:#}")),
        }
    }

    /// Ansible's `get_bin_path` failure, when a look printed `missing $PATH` (the shell's
    /// `command -v PROGRAM || echo "missing $PATH"`): `program` is not on the host's PATH.
    pub fn missing_program(look: &str, program: &str) -> Option<Failure> {
        let path = look.lines().find_map(|l| l.strip_prefix("missing "))?;
        Some(Failure::new(format!(
            "Failed to find required executable \"{program}\" in paths: {path}"
        )))
    }

    pub fn with(mut self, key: &str, v: impl Into<Value>) -> Failure {
        self.values.push((key.to_string(), v.into()));
        self
    }

    /// The failed result this failure reports.
    pub fn into_plan(self) -> Plan {
        let mut plan = Plan::fail(self.msg);
        plan.values.extend(self.values);
        plan.check_values = self.check_values;
        plan
    }
}

impl From<Failure> for anyhow::Error {
    fn from(f: Failure) -> anyhow::Error {
        anyhow::Error::new(TaskFail {
            msg: f.msg,
            values: f.values,
        })
    }
}

/// What `decide` concluded.
pub enum Outcome<C> {
    /// Nothing to do; the report is the result.
    Unchanged(Plan),
    /// Something to do.
    Change {
        change: C,
        /// The result as predicted (message, values, diffs); `finish` may add to it.
        report: Plan,
        /// The prediction assumes something an earlier task of the run would create (a user
        /// named as owner that does not exist yet). Check mode reports the change, as Ansible
        /// does after an earlier predicted change; a real run fails with this instead.
        pending: Option<Failure>,
    },
    /// The task fails.
    Fail(Failure),
}

impl<C> Outcome<C> {
    /// A change with its report, resting on nothing pending.
    pub fn change(change: C, report: Plan) -> Outcome<C> {
        Outcome::Change {
            change,
            report,
            pending: None,
        }
    }

    /// The same outcome with its report (changed or not) adjusted: a module that builds on
    /// another's decision and reports with its own keys (`assemble`, `get_url`).
    pub fn map_report(self, f: impl FnOnce(Plan) -> Plan) -> Outcome<C> {
        match self {
            Outcome::Unchanged(r) => Outcome::Unchanged(f(r)),
            Outcome::Fail(e) => Outcome::Fail(e),
            Outcome::Change {
                change,
                report,
                pending,
            } => Outcome::Change {
                change,
                report: f(report),
                pending,
            },
        }
    }

    /// The same outcome with its change wrapped (a module that dispatches to another's
    /// decision: `copy`'s file or tree, `service` on systemd or init scripts).
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> Outcome<D> {
        match self {
            Outcome::Unchanged(r) => Outcome::Unchanged(r),
            Outcome::Fail(e) => Outcome::Fail(e),
            Outcome::Change {
                change,
                report,
                pending,
            } => Outcome::Change {
                change: f(change),
                report,
                pending,
            },
        }
    }
}

/// One step of applying a change, run in order by the driver; the first failing one fails
/// the task.
#[derive(Clone, Debug)]
pub enum Step {
    /// Shell commands, run with `set -e`; a failure fails the task with `what` and stderr.
    Run { what: &'static str, script: Script },
    /// An atomic write: temp file beside `path`, attributes, optional validation and backup,
    /// rename (`fileops::put_file`).
    Put {
        path: String,
        payload: Payload,
        opts: PutOpts,
    },
    /// Owner, group and mode of an existing path.
    Attrs { path: String, change: AttrChange },
    /// A directory and its missing parents.
    Mkdir { path: String },
    /// A change script (run with `set -e`; a failure fails the task with `what`), then, in
    /// the same round trip, a probe of the paths it changed (into [`Done::observed`]).
    Change {
        what: &'static str,
        script: Script,
        then: ProbeReq,
    },
    /// A look at the host between steps (`apt` reads its candidates again after updating
    /// the cache); the result goes to [`Done::observed`].
    Observe(Observe),
    /// The change cannot go on (a decision made from an `Observe` step failed).
    Fail(Failure),
    /// A command whose outcome is the module's result (`command`, `raw`): its output goes
    /// to [`Done::outputs`] for `finish`, which judges it; a non-zero exit stops the steps
    /// after it.
    Exec {
        script: Script,
        stdin: Option<Vec<u8>>,
    },
    /// A file written on the controller (`fetch`): atomically, its directories made.
    WriteLocal {
        path: std::path::PathBuf,
        bytes: Vec<u8>,
    },
}

impl Step {
    /// The step as one readable text, for tables and `-vvv`.
    pub fn describe(&self) -> String {
        match self {
            Step::Run { what, script } => format!("run ({what}): {}", script.shown().trim_end()),
            Step::Put {
                path,
                payload,
                opts,
            } => {
                let mut s = format!("put {path}");
                if let Some(m) = opts.mode {
                    s.push_str(&format!(" mode={m:04o}"));
                }
                if let Some(u) = opts.owner {
                    s.push_str(&format!(" owner={u}"));
                }
                if let Some(g) = opts.group {
                    s.push_str(&format!(" group={g}"));
                }
                if opts.backup {
                    s.push_str(" backup");
                }
                if let Some(v) = &opts.validate {
                    s.push_str(&format!(" validate={v}"));
                }
                match payload {
                    Payload::Bytes(data) => format!("{s}: {:?}", String::from_utf8_lossy(data)),
                    Payload::Remote { path, .. } => format!("{s}: copy of {path}"),
                    Payload::LocalFile { path, .. } => format!("{s}: {}", path.display()),
                }
            }
            Step::Attrs { path, change } => {
                let mut s = format!("attrs {path}");
                if let Some((_, u)) = change.owner {
                    s.push_str(&format!(" owner={u}"));
                }
                if let Some((_, g)) = change.group {
                    s.push_str(&format!(" group={g}"));
                }
                if let Some((_, m)) = change.mode {
                    s.push_str(&format!(" mode={m:04o}"));
                }
                s
            }
            Step::Mkdir { path } => format!("mkdir {path}"),
            Step::Change { what, script, .. } => {
                format!("change ({what}): {}", script.shown().trim_end())
            }
            Step::Exec { script, .. } => format!("exec: {}", script.shown().trim_end()),
            Step::Observe(o) => {
                let names: Vec<&str> = o.sections.iter().map(|(n, _)| *n).collect();
                format!("observe: {}", names.join(", "))
            }
            Step::Fail(f) => format!("fail: {}", f.msg),
            Step::WriteLocal { path, bytes } => format!(
                "write on the controller {}: {:?}",
                path.display(),
                String::from_utf8_lossy(bytes)
            ),
        }
    }
}

/// What `parse` may consult besides the arguments: the task's variables and the controller's
/// search paths (controller-side, no I/O on the host), and the expansion of `~` and `$VAR` in
/// path arguments, which Ansible does on the host.
pub trait Resolve {
    fn expand_path(&mut self, path: &str) -> Result<String>;
    /// The task's variables (`debug`'s `var`, `assert`'s conditions, templates).
    fn vars(&self) -> &Value;
    /// The run's `-v` count.
    fn verbosity(&self) -> u8;
    /// The run shows diffs (`--diff`): what only a diff needs may be looked at.
    /// The task's name as its banner shows it (`pause`'s prompt header).
    fn task_name(&self) -> &str {
        ""
    }
    fn diff_mode(&self) -> bool {
        false
    }
    /// Where the task's controller files are (`src`, `include_vars`).
    fn paths(&self) -> &SearchPaths;
    /// The `passwd` line of `user` when an earlier task of this connection looked it up
    /// (so a probe need not ask again).
    fn known_user(&mut self, user: &str) -> Option<String> {
        let _ = user;
        None
    }
    /// An earlier task of this run predicted a change on this host that check mode did not
    /// make (so a unit or init script that is missing may be one it would have installed).
    /// Always false in a real run.
    fn earlier_change_predicted(&self) -> bool {
        false
    }
}

/// A module on the contract (see the module docs). Registered through [`Driven`].
pub trait Typed: Sync + 'static {
    /// The arguments, typed and checked.
    type Args;
    /// A decided change, as data.
    type Change;

    /// The name used in playbooks.
    fn name(&self) -> &'static str;
    /// Accepted arguments and aliases, checked at load time.
    fn spec(&self) -> &'static Spec;
    /// Whether the module runs on the controller only (no connection needed).
    fn controller_only(&self) -> bool {
        false
    }
    /// Whether the module changes nothing but files (see `Module::leaves_accounts_alone`).
    fn leaves_accounts_alone(&self) -> bool {
        false
    }
    /// The paths a task will probe (see `Module::looks_ahead`); `None` by default.
    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        let _ = args;
        None
    }
    /// The typed arguments; a [`Failure`] (as an error) fails the task with its message.
    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<Self::Args>;
    /// What to look at on the host.
    fn observe(&self, args: &Self::Args) -> Observe;
    /// A further look, formed from what was seen so far (`apt`'s simulation of the operation
    /// it chose; `copy`'s destination once it knows its remote source), merged into what
    /// `decide` sees ([`Observed::merge`]); called again until it returns none (at most a
    /// few times). None by default.
    fn observe_again(&self, args: &Self::Args, seen: &Observed) -> Option<Observe> {
        let _ = (args, seen);
        None
    }
    /// What to do. Pure.
    fn decide(&self, args: &Self::Args, seen: &Observed) -> Outcome<Self::Change>;
    /// How to do it. Pure.
    fn apply(&self, args: &Self::Args, change: &Self::Change) -> Vec<Step>;
    /// More steps once those before ran, from what they reported (`apt` chooses its
    /// operation again after a cache update); none by default. Called until it returns none.
    fn apply_more(&self, args: &Self::Args, change: &Self::Change, done: &Done) -> Vec<Step> {
        let _ = (args, change, done);
        Vec::new()
    }
    /// The result once the steps ran (`done` holds what they reported).
    fn finish(&self, args: &Self::Args, change: &Self::Change, done: &Done, report: Plan) -> Plan {
        let _ = (args, change, done);
        report
    }
}

/// A controller action: a module that neither reads nor changes a host (`debug`, `set_fact`,
/// `assert`, `fail`, `pause`, `include_vars`, `group_by`, `add_host`). Its result follows from
/// the arguments and the task's variables, the same in check mode. Registered through
/// [`Acting`].
pub trait Action: Sync + 'static {
    fn name(&self) -> &'static str;
    fn spec(&self) -> &'static Spec;
    /// The result; a [`Failure`] (as an error) fails the task with its message.
    fn act(&self, args: &Args, env: &dyn Resolve) -> Result<Plan>;
}
