//! The live status line at the bottom of a terminal while a task runs on many hosts
//! (`TASK [name]  done 37/120  running 80  failed 3  12s`). The executor counts hosts as they
//! start and finish (`Counts`, shared with its workers); a ticker thread redraws the line a few
//! times per second. All other output goes through `ScreenWriter`, which erases the line first,
//! so the line never garbles what is printed; it is erased for good when the run ends.

use console::Term;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the ticker looks at the counters.
const TICK: Duration = Duration::from_millis(150);
/// A task shorter than this never shows the line (no flicker on quick tasks).
const SHOW_AFTER: Duration = Duration::from_millis(300);

/// Whether to show the line: only on a terminal (not a dumb one), and not when turned off with
/// `--no-progress` (`off`) or `DROVER_PROGRESS=0`. `NO_COLOR` is about colour: the line has
/// none and stays.
pub fn wanted(off: bool) -> bool {
    let env_off = std::env::var("DROVER_PROGRESS")
        .map(|v| matches!(v.trim(), "0" | "false" | "no" | "off"))
        .unwrap_or(false);
    !off && !env_off && Term::stdout().is_term() && !console::is_dumb()
}

/// Live counters of the task running now. The executor calls `begin` when it sends a task to
/// its hosts, `host_started`/`host_done` from the workers, and `end` once every host reported.
#[derive(Default)]
pub struct Counts {
    task: Mutex<String>,
    /// The title stays as set by `begin_hosts` (`strategy: free` counts hosts, not tasks).
    pinned: AtomicBool,
    started: Mutex<Option<Instant>>,
    total: AtomicUsize,
    running: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

/// A lock that a panicked holder does not poison for the rest of the run.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Counts {
    /// The name the line shows (the banner's title).
    pub fn set_task(&self, title: &str) {
        if !self.pinned.load(Ordering::SeqCst) {
            *lock(&self.task) = title.to_string();
        }
    }

    /// `total` hosts run a whole play section on their own (`strategy: free`): the line is
    /// titled `title` and counts hosts until `end`.
    pub fn begin_hosts(&self, title: &str, total: usize) {
        *lock(&self.task) = title.to_string();
        self.pinned.store(true, Ordering::SeqCst);
        self.begin(total);
    }

    /// `total` hosts are about to run the current task.
    pub fn begin(&self, total: usize) {
        self.total.store(total, Ordering::SeqCst);
        self.running.store(0, Ordering::SeqCst);
        self.done.store(0, Ordering::SeqCst);
        self.failed.store(0, Ordering::SeqCst);
        *lock(&self.started) = Some(Instant::now());
    }

    pub fn host_started(&self) {
        self.running.fetch_add(1, Ordering::SeqCst);
    }

    /// A host finished the task; `failed` counts failures and unreachable hosts.
    pub fn host_done(&self, failed: bool) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
        if failed {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Runs one host's part of a task, counted as running, then as done (and as failed when
    /// `failed` says so). Without counters (no status line) it only runs.
    pub fn track<R>(
        counts: Option<&Counts>,
        run: impl FnOnce() -> R,
        failed: impl FnOnce(&R) -> bool,
    ) -> R {
        let Some(c) = counts else { return run() };
        c.host_started();
        let r = run();
        c.host_done(failed(&r));
        r
    }

    /// Every host reported: no line until the next `begin`.
    pub fn end(&self) {
        *lock(&self.started) = None;
        self.pinned.store(false, Ordering::SeqCst);
    }

    /// The status line, when a task has been running long enough to show one.
    fn line(&self, now: Instant) -> Option<String> {
        let started = (*lock(&self.started))?;
        let elapsed = now.checked_duration_since(started)?;
        if elapsed < SHOW_AFTER {
            return None;
        }
        Some(format!(
            "{}  done {}/{}  running {}  failed {}  {}s",
            lock(&self.task),
            self.done.load(Ordering::SeqCst),
            self.total.load(Ordering::SeqCst),
            self.running.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            elapsed.as_secs()
        ))
    }
}

/// The terminal and what is on its last line.
struct Screen {
    term: Term,
    /// The text of the status line shown now (`None`: the line is blank).
    shown: Option<String>,
    /// The cursor is at the start of a line: the only place the status line may be drawn
    /// (a line of output still being written must not be overwritten).
    at_line_start: bool,
}

impl Screen {
    fn erase(&mut self) {
        if self.shown.take().is_some() {
            let _ = self.term.clear_line();
        }
    }

    fn draw(&mut self, line: Option<String>) {
        if !self.at_line_start || line == self.shown {
            return;
        }
        match line {
            None => self.erase(),
            Some(text) => {
                let width = (self.term.size().1 as usize).saturating_sub(1).max(10);
                let fitted = console::truncate_str(&text, width, "…");
                let _ = self.term.clear_line();
                let _ = self.term.write_str(&fitted);
                let _ = self.term.flush();
                self.shown = Some(text);
            }
        }
    }
}

/// The screen of the status line shown now, for lines written to standard error.
static SHOWN: Mutex<Option<Arc<Mutex<Screen>>>> = Mutex::new(None);

/// Writes a line to standard error (a warning from a worker) without garbling the status
/// line: it is erased first and drawn again by the next tick.
pub fn eprintln_above(line: &str) {
    let screen = lock(&SHOWN).clone();
    match screen {
        Some(screen) => {
            let mut s = lock(&screen);
            s.erase();
            let _ = Term::stderr().write_line(line);
        }
        None => eprintln!("{line}"),
    }
}

/// Runs `f` with the status line erased and held off (a prompt at the terminal: `pause`);
/// `f` writes to the terminal itself, not through [`eprintln_above`].
pub fn with_screen_held<R>(f: impl FnOnce() -> R) -> R {
    let screen = lock(&SHOWN).clone();
    match screen {
        Some(screen) => {
            let mut s = lock(&screen);
            s.erase();
            f()
        }
        None => f(),
    }
}

/// The status line on standard output and its ticker thread; dropping it erases the line.
pub struct Progress {
    counts: Arc<Counts>,
    screen: Arc<Mutex<Screen>>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the ticker on standard output.
    pub fn stdout() -> Progress {
        let counts = Arc::new(Counts::default());
        let screen = Arc::new(Mutex::new(Screen {
            term: Term::stdout(),
            shown: None,
            at_line_start: true,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (counts, screen, stop) = (counts.clone(), screen.clone(), stop.clone());
            std::thread::Builder::new()
                .name("drover-progress".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(TICK);
                        let line = counts.line(Instant::now());
                        lock(&screen).draw(line);
                    }
                })
                .ok()
        };
        *lock(&SHOWN) = Some(screen.clone());
        Progress {
            counts,
            screen,
            stop,
            ticker,
        }
    }

    /// The counters the executor updates.
    pub fn counts(&self) -> Arc<Counts> {
        self.counts.clone()
    }

    /// A writer for every other line of output: it erases the status line before writing.
    pub fn writer(&self) -> ScreenWriter {
        ScreenWriter {
            screen: self.screen.clone(),
        }
    }

    /// Stops the ticker and erases the line (also done on drop).
    pub fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        lock(&self.screen).erase();
        *lock(&SHOWN) = None;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.close();
    }
}

/// Standard output that keeps the status line out of the way.
pub struct ScreenWriter {
    screen: Arc<Mutex<Screen>>,
}

impl Write for ScreenWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut s = lock(&self.screen);
        s.erase();
        let n = (&s.term).write(buf)?;
        if n > 0 {
            s.at_line_start = buf[n - 1] == b'\n';
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        lock(&self.screen).term.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_tells_the_counts_after_a_while() {
        let c = Counts::default();
        c.set_task("TASK [wait]");
        let t0 = Instant::now();
        assert_eq!(c.line(t0), None, "no task begun");
        c.begin(5);
        c.host_started();
        c.host_started();
        c.host_done(true);
        c.host_started();
        let started = c.started.lock().unwrap().unwrap();
        assert_eq!(c.line(started), None, "not shown at once");
        assert_eq!(
            c.line(started + Duration::from_millis(2100)).as_deref(),
            Some("TASK [wait]  done 1/5  running 2  failed 1  2s")
        );
        c.end();
        assert_eq!(c.line(started + Duration::from_secs(3)), None);
    }
}
