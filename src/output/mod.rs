//! All run output goes through a `Reporter`; nothing else prints. `human.rs` is the
//! Ansible-like terminal output, `diff.rs` renders `--diff` before/after pairs.

mod diff;
mod human;

pub use diff::unified_diff;
pub use human::Human;

use crate::executor::{HostResult, Stats};

/// Receives run events in order. Implementations buffer or print; they never fail the run.
pub trait Reporter {
    fn play_start(&mut self, name: &str);
    fn task_start(&mut self, name: &str, handler: bool);
    /// One host's result, in inventory order after the whole task finished.
    fn host_result(&mut self, result: &HostResult, verbosity: u8);
    fn warning(&mut self, msg: &str);
    /// An `include_tasks` file that runs next for these hosts (`label`: the loop item).
    fn included(&mut self, file: &str, hosts: &[&str], label: Option<&str>);
    fn recap(&mut self, stats: &[(String, Stats)]);
}
