//! `--profile`: time spent per task (summed over hosts, and the slowest host) and per host,
//! collected from the results' durations. The collector prints nothing; the primary reporter
//! shows the summary after the recap.

use super::{task_path, Reporter};
use crate::executor::{HostResult, Stats};
use crate::yaml::Span;
use indexmap::IndexMap;
use std::time::Duration;

/// How many tasks and hosts the summary lists.
pub const PROFILE_TOP: usize = 10;

/// One task's time over the run (a task that ran more than once, in several includes or
/// plays, is summed under its name and place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskTime {
    pub name: String,
    /// `file:line` of the task.
    pub path: String,
    /// Summed over every host it ran on.
    pub total: Duration,
    /// The longest it took on one host, and that host.
    pub max: Duration,
    pub max_host: String,
    /// How many results it produced.
    pub results: usize,
}

/// One host's time over the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTime {
    pub host: String,
    pub total: Duration,
    pub results: usize,
}

/// The slowest tasks and hosts, slowest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileSummary {
    pub tasks: Vec<TaskTime>,
    pub hosts: Vec<HostTime>,
}

/// Collects durations from results.
#[derive(Default)]
pub struct Profile {
    current: (String, String),
    tasks: IndexMap<(String, String), TaskTime>,
    hosts: IndexMap<String, HostTime>,
}

impl Profile {
    pub fn new() -> Profile {
        Profile::default()
    }

    /// The `top` slowest tasks and hosts (ties keep the order they first ran in).
    pub fn summary(&self, top: usize) -> ProfileSummary {
        let mut tasks: Vec<TaskTime> = self.tasks.values().cloned().collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.total));
        tasks.truncate(top);
        let mut hosts: Vec<HostTime> = self.hosts.values().cloned().collect();
        hosts.sort_by_key(|h| std::cmp::Reverse(h.total));
        hosts.truncate(top);
        ProfileSummary { tasks, hosts }
    }
}

impl Reporter for Profile {
    fn play_start(&mut self, _name: &str, _hosts: &[String]) {}

    fn task_start(&mut self, name: &str, _handler: bool, at: &Span) {
        self.current = (name.to_string(), task_path(at));
    }

    fn host_result(&mut self, r: &HostResult, _verbosity: u8) {
        let (name, path) = &self.current;
        let t = self
            .tasks
            .entry(self.current.clone())
            .or_insert_with(|| TaskTime {
                name: name.clone(),
                path: path.clone(),
                total: Duration::ZERO,
                max: Duration::ZERO,
                max_host: r.host.clone(),
                results: 0,
            });
        t.total += r.duration;
        t.results += 1;
        if r.duration > t.max {
            t.max = r.duration;
            t.max_host = r.host.clone();
        }
        let h = self
            .hosts
            .entry(r.host.clone())
            .or_insert_with(|| HostTime {
                host: r.host.clone(),
                total: Duration::ZERO,
                results: 0,
            });
        h.total += r.duration;
        h.results += 1;
    }

    fn warning(&mut self, _msg: &str) {}
    fn included(&mut self, _file: &str, _hosts: &[&str], _label: Option<&str>) {}
    fn recap(&mut self, _stats: &[(String, Stats)]) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Status;

    fn result(host: &str, ms: u64) -> HostResult {
        HostResult::simple(host.into(), Status::Ok, None, Duration::from_millis(ms))
    }

    #[test]
    fn sums_per_task_and_host_slowest_first() {
        let mut p = Profile::new();
        let at = |line| Span {
            line,
            ..Span::synthetic("site.yml")
        };
        p.task_start("fast", false, &at(3));
        p.host_result(&result("a", 1), 0);
        p.host_result(&result("b", 2), 0);
        p.task_start("slow", false, &at(7));
        p.host_result(&result("a", 10), 0);
        p.host_result(&result("b", 30), 0);
        let s = p.summary(1);
        assert_eq!(s.tasks.len(), 1);
        assert_eq!(s.tasks[0].name, "slow");
        assert_eq!(s.tasks[0].path, "site.yml:7");
        assert_eq!(s.tasks[0].total, Duration::from_millis(40));
        assert_eq!(s.tasks[0].max, Duration::from_millis(30));
        assert_eq!(s.tasks[0].max_host, "b");
        assert_eq!(s.hosts[0].host, "b");
        assert_eq!(s.hosts[0].total, Duration::from_millis(32));
    }
}
