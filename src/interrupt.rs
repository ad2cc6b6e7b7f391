//! Ctrl-C. The first SIGINT sets `executor::INTERRUPTED`: the tasks already running finish,
//! no further task starts on any host, and the run prints its recap and exits 99. A second
//! SIGINT exits 99 at once. Commands already running on hosts are not signalled: over SSH
//! nothing can reach them, and local shells run in their own process group (see
//! `connection/local.rs`), so a terminal's Ctrl-C reaches neither.
//!
//! SIGINT is blocked in every thread and taken by one thread with `sigwait`, so it never
//! interrupts a system call elsewhere (libssh2 reports an interrupted `poll` as a timeout, which
//! would fail a handshake in progress).

use crate::executor::INTERRUPTED;
use std::io::Write;
use std::sync::atomic::Ordering;

/// Blocks SIGINT in this thread (and so in every thread started after it) and starts the thread
/// that takes it. Call before any other thread starts. Child processes start with an empty
/// signal mask (the standard library resets it).
pub fn install() {
    // SAFETY: plain libc calls on a zeroed, then initialised, local signal set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawned = std::thread::Builder::new()
        .name("drover-sigint".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is initialised and `sig` is a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            let mut err = std::io::stderr();
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                let _ = writeln!(err, "\ninterrupted again: exiting now");
                // SAFETY: ends the process without running destructors or flushing buffers
                // another thread may hold locked.
                unsafe { libc::_exit(99) };
            }
            let _ = writeln!(
                err,
                "\ninterrupted: the running tasks finish, no further task starts (Ctrl-C again to exit at once)"
            );
        });
    if spawned.is_err() {
        // Without the thread, SIGINT keeps its default action: it ends the process.
        // SAFETY: as above.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}
