//! What running one task on one host produced, as the reporter and `register` see it.

use crate::modules::Diff;
use minijinja::Value;

/// The outcome of a task on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

/// One loop item's outcome.
#[derive(Clone, Debug)]
pub struct ItemResult {
    pub label: String,
    pub status: Status,
    pub result: Value,
    pub diffs: Vec<Diff>,
}

/// A task's outcome on one host.
#[derive(Clone, Debug)]
pub struct HostResult {
    pub host: String,
    pub status: Status,
    /// Failed, but `ignore_errors` let the play go on.
    pub ignored: bool,
    /// The registered value (Ansible's keys).
    pub result: Value,
    pub items: Vec<ItemResult>,
    pub diffs: Vec<Diff>,
    pub msg: Option<String>,
    pub no_log: bool,
    /// Print the result's values on the host line (debug, assert), as Ansible does.
    pub show: bool,
    pub duration: std::time::Duration,
    /// Where the task was written and how its failure reads, for ansible-core's `[ERROR]`
    /// block before a failed result (set when the result is recorded).
    pub origin: Option<Box<FailureOrigin>>,
    /// The `delegate_to` host the task ran on (shown `[host -> delegate]`), if another.
    pub delegated_to: Option<String>,
}

/// Where a failed task was written, and whether the failure came from the module on the host
/// (`Module failed`) or from the controller side (`Action failed`).
#[derive(Clone, Debug)]
pub struct FailureOrigin {
    pub span: crate::yaml::Span,
    pub on_host: bool,
}

impl HostResult {
    /// The host as a result line names it: `h1`, or `h1 -> h2` for a delegated task (not for
    /// a skipped one, as Ansible shows it).
    pub fn shown_host(&self) -> String {
        match &self.delegated_to {
            Some(d) if self.status != Status::Skipped => format!("{} -> {d}", self.host),
            _ => self.host.clone(),
        }
    }

    /// A result with only a status and a message (no module ran).
    pub fn simple(
        host: String,
        status: Status,
        msg: Option<String>,
        duration: std::time::Duration,
    ) -> HostResult {
        let failed = status == Status::Failed;
        let mut m = vec![
            ("changed".to_string(), Value::from(false)),
            ("failed".to_string(), Value::from(failed)),
        ];
        if status == Status::Skipped {
            m.push(("skipped".to_string(), Value::from(true)));
        }
        if status == Status::Unreachable {
            m.push(("unreachable".to_string(), Value::from(true)));
        }
        if let Some(msg) = &msg {
            m.push(("msg".to_string(), Value::from(msg.as_str())));
        }
        HostResult {
            host,
            status,
            ignored: false,
            result: crate::vars::map_value(m),
            items: Vec::new(),
            diffs: Vec::new(),
            msg,
            no_log: false,
            show: false,
            duration,
            origin: None,
            delegated_to: None,
        }
    }
}
