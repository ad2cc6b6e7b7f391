//! `pause` at a terminal, as Ansible's `Display.prompt_until`: the prompt is shown, the
//! terminal is put in raw mode (echoing the typed text unless it is private), and keys are
//! read one at a time until a completing key (Enter, or the given ones), an interrupting key
//! (the terminal's `intr`, Ctrl+C, or the given ones), or the time is up. The terminal's
//! erase key removes the last character. The terminal's settings are restored afterwards.

use std::io::Write;
use std::time::{Duration, Instant};

/// How a prompt ended.
pub enum Ended {
    /// Completed (or timed out) with the text typed.
    Input(Vec<u8>),
    /// An interrupting key was pressed.
    Interrupted,
}

/// Whether a person can answer: standard input is a terminal and this process is in its
/// foreground (a job in the background is not asked, as Ansible's check).
pub fn interactive() -> bool {
    // SAFETY: isatty, getpgrp and tcgetpgrp only read process and terminal state.
    unsafe { libc::isatty(0) == 1 && libc::getpgrp() == libc::tcgetpgrp(0) }
}

/// Moves to the start of the line and clears it (Ansible's `clear_line`).
fn clear_line(out: &mut impl Write) {
    let _ = out.write_all(b"\r\x1b[K");
    let _ = out.flush();
}

/// Shows `msg` and reads keys. `complete`/`interrupt`: the keys (lower case) that end the
/// prompt instead of Enter and `intr`; `seconds`: the time after which the input so far is
/// the answer.
pub fn prompt_until(
    msg: &str,
    private: bool,
    seconds: Option<u64>,
    interrupt: Option<&[u8]>,
    complete: Option<&[u8]>,
) -> std::io::Result<Ended> {
    let mut out = std::io::stderr().lock();
    writeln!(out, "{msg}")?;
    out.flush()?;
    // SAFETY: `termios` is plain data; tcgetattr fills it for fd 0, which is a terminal
    // (`interactive`), and the settings are restored before returning.
    let orig = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = t;
        libc::cfmakeraw(&mut raw);
        if !private {
            raw.c_lflag |= libc::ECHO;
        }
        libc::tcsetattr(0, libc::TCSANOW, &raw);
        libc::tcflush(0, libc::TCIFLUSH);
        t
    };
    let intr = orig.c_cc[libc::VINTR];
    let erase = orig.c_cc[libc::VERASE];
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut typed: Vec<u8> = Vec::new();
    let ended = loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.as_millis().min(i32::MAX as u128) as i32,
                _ => break Ended::Input(typed),
            },
            None => -1,
        };
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, wait) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            restore(&orig);
            return Err(e);
        }
        if ready == 0 {
            continue;
        }
        let mut key = [0u8; 1];
        // SAFETY: reads at most one byte into a one-byte buffer.
        let n = unsafe { libc::read(0, key.as_mut_ptr().cast(), 1) };
        if n <= 0 {
            // The terminal went away: what was typed is the answer.
            break Ended::Input(typed);
        }
        let k = key[0];
        let lower = k.to_ascii_lowercase();
        let interrupted = match interrupt {
            None => k == intr,
            Some(keys) => keys.contains(&lower),
        };
        if interrupted {
            clear_line(&mut out);
            break Ended::Interrupted;
        }
        let completed = match complete {
            None => k == b'\r' || k == b'\n',
            Some(keys) => keys.contains(&lower),
        };
        if completed {
            clear_line(&mut out);
            break Ended::Input(typed);
        }
        if k == erase || k == 0x7f || k == 0x08 {
            clear_line(&mut out);
            typed.pop();
            if !private {
                let _ = out.write_all(&typed);
            }
            let _ = out.flush();
        } else {
            typed.push(k);
        }
    };
    restore(&orig);
    Ok(ended)
}

fn restore(orig: &libc::termios) {
    // SAFETY: the settings read from fd 0 before, written back.
    unsafe {
        libc::tcsetattr(0, libc::TCSADRAIN, orig);
    }
}
