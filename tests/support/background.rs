//! A drover run in the background: started in a process group of its own (as a shell starts
//! a foreground job), its output drained by threads, its peak memory (`VmHWM`) sampled until
//! it exits, interrupted with SIGINT, and waited on with a time limit.
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running drover.
pub struct Background {
    child: Child,
    out: JoinHandle<String>,
    err: JoinHandle<String>,
    started: Instant,
    peak_kib: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    sampler: JoinHandle<()>,
}

/// How a background run ended.
#[derive(Debug)]
pub struct Finished {
    /// Exit code; -1 for a death by signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// The highest `VmHWM` (peak resident set) seen while it ran, in KiB.
    pub peak_rss_kib: u64,
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Background {
    /// Starts `cmd` with its output piped, leading a new process group.
    pub fn start(cmd: &mut Command) -> Background {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let out = drain(child.stdout.take().expect("piped stdout"));
        let err = drain(child.stderr.take().expect("piped stderr"));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let pid = child.id();
        let sampler = {
            let (peak, done) = (peak_kib.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if let Some(k) = vm_hwm_kib(pid) {
                        peak.fetch_max(k, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
            })
        };
        Background {
            child,
            out,
            err,
            started: Instant::now(),
            peak_kib,
            done,
            sampler,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// SIGINT to drover alone.
    pub fn sigint(&self) {
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGINT) }, 0);
    }

    /// SIGINT to drover's whole process group: what a terminal's Ctrl-C does to the
    /// foreground job.
    pub fn sigint_group(&self) {
        // SAFETY: as above; the group is the one the child leads.
        assert_eq!(unsafe { libc::kill(-self.pid(), libc::SIGINT) }, 0);
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the end, at most `limit` (then kills it and panics with its output).
    pub fn wait(mut self, limit: Duration) -> Finished {
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.done.store(true, Ordering::SeqCst);
                panic!(
                    "drover still running after {limit:?}; output:\n{}\n{}",
                    self.out.join().unwrap_or_default(),
                    self.err.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let wall = self.started.elapsed();
        self.done.store(true, Ordering::SeqCst);
        let _ = self.sampler.join();
        Finished {
            code: status.code().unwrap_or(-1),
            stdout: self.out.join().expect("stdout reader"),
            stderr: self.err.join().expect("stderr reader"),
            wall,
            peak_rss_kib: self.peak_kib.load(Ordering::SeqCst),
        }
    }
}

/// Polls `cond` every 20 ms for at most `limit`; whether it became true.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Processes of the drover binary whose command line mentions `marker` (a test's temp dir).
pub fn drover_processes(marker: &str) -> Vec<u32> {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_drover"));
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_drover = args
            .first()
            .is_some_and(|a0| std::path::Path::new(a0) == exe);
        if is_drover && args.iter().any(|a| a.contains(marker)) {
            found.push(pid);
        }
    }
    found
}
