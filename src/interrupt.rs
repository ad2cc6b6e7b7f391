//! Ctrl-C: the first SIGINT asks the executor to stop scheduling tasks (the run then prints
//! its recap and exits 99); a second one exits at once. Local shells run in process groups of
//! their own (so a timed-out one can be killed alone); the handler passes SIGINT on to them,
//! as the terminal did when they shared its group.

use crate::executor::INTERRUPTED;
use std::sync::atomic::Ordering;

extern "C" fn on_sigint(_: libc::c_int) {
    crate::connection::signal_local_shells(libc::SIGINT);
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(99) };
    }
}

/// Installs the SIGINT handler.
pub fn install() {
    // SAFETY: the handler only touches atomics and calls the async-signal-safe kill and _exit.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}
