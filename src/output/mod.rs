//! All run output goes through a `Reporter`; nothing else prints. `human.rs` is the
//! Ansible-like terminal output (`adhoc.rs`: its `ansible -m`-style lines for `drover run`,
//! `pyjson.rs`: results dumped as Ansible does, `progress.rs`: the live status line on a
//! terminal), `json.rs` one JSON event per line for machines (`stream.rs` reads it back), `junit.rs` a JUnit XML file
//! written at the end, `profile.rs` the `--profile` timings, `fanout.rs` sends every event to
//! several of them, `diff.rs` renders `--diff` before/after pairs.

mod adhoc;
mod diff;
mod fanout;
mod human;
mod json;
mod junit;
mod profile;
mod progress;
mod pyjson;
mod stream;

pub use diff::{unified_diff, DiffSummary};
pub use fanout::Fanout;
pub use human::Human;
pub use json::{recap_hosts, Json, SCHEMA_VERSION};
pub use junit::Junit;
pub use profile::{HostTime, Profile, ProfileSummary, TaskTime};
pub use progress::{eprintln_above, with_screen_held, Counts, Progress};
pub use pyjson::dumps as python_json;
pub use stream::{read_stream, Completeness, StreamSummary};

use crate::executor::{HostResult, Stats};
use crate::yaml::Span;

/// What Ansible shows in place of a `no_log` result's values.
const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// Receives run events in order. Implementations buffer or print; they never fail the run.
pub trait Reporter {
    /// The command begins: which shard of the fleet it runs (`--shard`), if one. Comes first.
    fn run_start(&mut self, _shard: Option<crate::shard::Shard>) {}
    /// The command is over with this exit code (`error`: why, when it failed before or outside
    /// the hosts' results). Comes last, after `finish`.
    fn run_end(&mut self, _exit_code: i32, _error: Option<&str>) {}
    /// A playbook file begins (`plays` after imports); ansible-playbook shows it at `-vv`.
    fn playbook_start(&mut self, _path: &str, _plays: usize) {}
    /// A play begins on these hosts (after `--limit`, in the play's order).
    fn play_start(&mut self, name: &str, hosts: &[String]);
    /// A task (or handler) begins; `at` is where it is defined.
    fn task_start(&mut self, name: &str, handler: bool, at: &Span);
    /// One host's result, as the host finishes the task (the linear strategy's order).
    fn host_result(&mut self, result: &HostResult, verbosity: u8);
    fn warning(&mut self, msg: &str);
    /// What a `meta` task did (`META: ending play for web1`), shown at `-vv` as ansible does.
    fn meta(&mut self, _line: &str, _verbosity: u8) {}
    /// The play that just started matched no host and is skipped.
    fn no_hosts_matched(&mut self) {
        self.warning("no hosts matched, skipping this play");
    }
    /// An `include_tasks` file that runs next for these hosts (`label`: the loop item).
    fn included(&mut self, file: &str, hosts: &[&str], label: Option<&str>);
    fn recap(&mut self, stats: &[(String, Stats)]);
    /// `--profile`: the slowest tasks and hosts, right after the recap.
    fn profile(&mut self, _summary: &ProfileSummary) {}
    /// The run is over: write whatever files this reporter owns. An error here fails the
    /// command (the run itself already happened).
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// The counters of a live status line this reporter shows, for the executor to update
    /// from its workers as hosts start and finish a task.
    fn progress(&self) -> Option<std::sync::Arc<Counts>> {
        None
    }
}

/// A task's place as `file:line` (just the file for places that have no line).
pub fn task_path(at: &Span) -> String {
    if at.line == 0 {
        at.file.display().to_string()
    } else {
        format!("{}:{}", at.file.display(), at.line)
    }
}

/// Masks vault-decrypted values in every string of a JSON value, before it is serialised (a
/// multi-line secret no longer matches once its newlines are escaped).
pub(crate) fn redact_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = crate::vault::redact(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_strings),
        serde_json::Value::Object(m) => m.values_mut().for_each(redact_strings),
        _ => {}
    }
}

/// A result's `msg` as a string, from a loop item's registered value.
pub(crate) fn value_msg(v: &minijinja::Value) -> Option<String> {
    let m = v.get_attr("msg").ok()?;
    if m.is_undefined() || m.is_none() {
        return None;
    }
    Some(
        m.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| m.to_string()),
    )
}
