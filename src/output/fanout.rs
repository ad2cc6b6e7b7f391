//! Sends every event to several reporters: the one that prints (human or JSON) first, then
//! collectors such as the JUnit report. With `--profile`, the timings collected over the run
//! go to every reporter right after the recap.

use super::profile::PROFILE_TOP;
use super::{Profile, ProfileSummary, Reporter};
use crate::executor::{HostResult, Stats};
use crate::yaml::Span;

pub struct Fanout {
    reporters: Vec<Box<dyn Reporter>>,
    profile: Option<Profile>,
}

impl Fanout {
    /// Events go to `primary`, and to reporters added with `also`.
    pub fn new(primary: Box<dyn Reporter>) -> Fanout {
        Fanout {
            reporters: vec![primary],
            profile: None,
        }
    }

    pub fn also(mut self, r: Box<dyn Reporter>) -> Fanout {
        self.reporters.push(r);
        self
    }

    /// Collect timings and report the slowest tasks and hosts after the recap.
    pub fn profiled(mut self) -> Fanout {
        self.profile = Some(Profile::new());
        self
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn Reporter)) {
        for r in &mut self.reporters {
            f(r.as_mut());
        }
        if let Some(p) = &mut self.profile {
            f(p);
        }
    }
}

impl Reporter for Fanout {
    fn run_start(&mut self, shard: Option<crate::shard::Shard>) {
        self.each(|r| r.run_start(shard));
    }

    fn run_end(&mut self, exit_code: i32, error: Option<&str>) {
        self.each(|r| r.run_end(exit_code, error));
    }

    fn playbook_start(&mut self, path: &str, plays: usize) {
        self.each(|r| r.playbook_start(path, plays));
    }

    fn play_start(&mut self, name: &str, hosts: &[String]) {
        self.each(|r| r.play_start(name, hosts));
    }

    fn task_start(&mut self, name: &str, handler: bool, at: &Span) {
        self.each(|r| r.task_start(name, handler, at));
    }

    fn host_result(&mut self, result: &HostResult, verbosity: u8) {
        self.each(|r| r.host_result(result, verbosity));
    }

    fn warning(&mut self, msg: &str) {
        self.each(|r| r.warning(msg));
    }

    fn meta(&mut self, line: &str, verbosity: u8) {
        self.each(|r| r.meta(line, verbosity));
    }

    fn no_hosts_matched(&mut self) {
        self.each(|r| r.no_hosts_matched());
    }

    fn included(&mut self, file: &str, hosts: &[&str], label: Option<&str>) {
        self.each(|r| r.included(file, hosts, label));
    }

    fn recap(&mut self, stats: &[(String, Stats)]) {
        self.each(|r| r.recap(stats));
        if let Some(summary) = self.profile.as_ref().map(|p| p.summary(PROFILE_TOP)) {
            self.profile(&summary);
        }
    }

    fn profile(&mut self, summary: &ProfileSummary) {
        for r in &mut self.reporters {
            r.profile(summary);
        }
    }

    fn progress(&self) -> Option<std::sync::Arc<super::Counts>> {
        self.reporters.iter().find_map(|r| r.progress())
    }

    /// Every reporter finishes; the first error is returned.
    fn finish(&mut self) -> anyhow::Result<()> {
        let mut first = Ok(());
        for r in &mut self.reporters {
            let res = r.finish();
            if first.is_ok() {
                first = res;
            }
        }
        first
    }
}
