//! Ctrl-C: the first SIGINT asks the executor to stop scheduling tasks (the run then prints
//! its recap and exits 99); a second one exits at once.

use crate::executor::INTERRUPTED;
use std::sync::atomic::Ordering;

extern "C" fn on_sigint(_: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(99) };
    }
}

/// Installs the SIGINT handler.
pub fn install() {
    // SAFETY: the handler only touches an atomic and calls the async-signal-safe _exit.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}
