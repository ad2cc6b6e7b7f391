//! Open files: every host's connection holds descriptors for the whole play (a socket; for the
//! local connection a pipe pair per shell), so a large inventory meets the process's
//! open-file limit. The soft limit is raised to the hard one when a run starts, and the
//! connections held between tasks are bounded by what the limit leaves: a host whose
//! connection does not fit closes it after its task and opens a fresh one for the next. The
//! workers are fewer than `--forks` when even their connections in flight would not fit.

use super::host::HostState;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Descriptors kept free for everything else a task opens (files read and written on the
/// controller, transfers, the reporters, a new connection's handshake).
const RESERVE: usize = 64;

/// Descriptors one worker may have open while it connects and runs a task (a connection and
/// a become shell beside the login one).
pub const PER_WORKER: usize = 4;

/// The open-file limit as the run found and left it.
pub struct Limit {
    /// The soft limit at start, and after raising it to the hard one.
    pub before: u64,
    pub soft: u64,
    /// Descriptors open when the run started.
    pub in_use: usize,
}

/// Raises the soft limit on open files to the hard limit (capped by the kernel's
/// `fs.nr_open`), and says what it is now.
pub fn raise() -> Limit {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct owned by this frame.
    let before = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Limit {
                before: 1024,
                soft: 1024,
                in_use: in_use(),
            };
        }
        let before = r.rlim_cur;
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let want = r.rlim_max.min(nr_open);
        if want > r.rlim_cur {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                r.rlim_cur = want;
            }
        }
        before
    };
    Limit {
        before,
        soft: r.rlim_cur,
        in_use: in_use(),
    }
}

/// How many descriptors this process has open now.
fn in_use() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count())
}

impl Limit {
    /// What the limit leaves for connections: after what is open, the reserve and the
    /// workers' connections in flight.
    fn room(&self) -> usize {
        usize::try_from(self.soft)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.in_use + RESERVE)
    }

    /// At most `workers`, fewer if their connections in flight would not fit.
    pub fn workers(&self, workers: usize) -> usize {
        workers.min(self.room() / PER_WORKER).max(1)
    }

    /// Descriptors the connections held between tasks may use, with `workers` workers.
    pub fn held_cap(&self, workers: usize) -> usize {
        self.room().saturating_sub(workers * PER_WORKER)
    }
}

/// After a host's task: its connection stays open if its descriptors fit in what `held`
/// counts against `cap`, else it is closed (the next task reconnects). A connection that
/// changed (a become shell more, a reconnect, dropped) is counted anew.
pub fn keep_or_close(h: &mut HostState, held: &AtomicUsize, cap: usize) {
    let now = h.conn.as_ref().map_or(0, |c| c.descriptors());
    if now == h.held_fds {
        return;
    }
    held.fetch_sub(h.held_fds, Ordering::SeqCst);
    h.held_fds = 0;
    if now == 0 {
        return;
    }
    if held.fetch_add(now, Ordering::SeqCst).saturating_add(now) <= cap {
        h.held_fds = now;
    } else {
        held.fetch_sub(now, Ordering::SeqCst);
        h.conn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_for_workers_and_held_connections() {
        let l = Limit {
            before: 256,
            soft: 256,
            in_use: 12,
        };
        // 256 - 12 - 64 = 180: 45 workers at most, and what they leave for held connections.
        assert_eq!(l.workers(50), 45);
        assert_eq!(l.workers(10), 10);
        assert_eq!(l.held_cap(10), 140);
        assert_eq!(l.held_cap(45), 0);
        let tiny = Limit {
            before: 32,
            soft: 32,
            in_use: 12,
        };
        assert_eq!(tiny.workers(50), 1);
    }
}
