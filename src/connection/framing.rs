//! The long-lived remote shell protocol. One `sh` reads requests from its stdin; each request
//! runs one command in a subshell and answers on stdout with the command's stdout, a marker,
//! its stderr (kept in a per-session temp file), and a final marker carrying the exit code.
//! Markers embed a per-session random nonce and a request counter, so no command output can
//! forge one, and output of any size, binary or without a final newline comes back intact.
//! Each request is one `{ …; }` group, which `sh` parses whole before running any of it: a
//! request cut short by a broken connection runs nothing (a cut here-document would otherwise
//! run with the part that arrived). A request may carry a deadline; on expiry the caller kills
//! the shell's process group (see `cleanup_script`) and drops the session.

use super::{DeadlineExceeded, Output, TransportError};
use anyhow::{bail, Result};
use base64::Engine;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// A byte stream to a shell whose blocking reads and writes can be told when to give up.
pub trait ShellStream: Read + Write {
    /// Makes the next blocking reads and writes return `TimedOut` after about `wait` (`None`:
    /// wait as long as it takes). They may also return `TimedOut` earlier (keepalives).
    fn wake_after(&mut self, wait: Option<Duration>);
}

/// Stdin larger than this is staged in a temp file first, so the request is never blocked
/// on a command that writes a lot while we are still sending.
const INLINE_STDIN_MAX: usize = 256 * 1024;

/// Sets up the per-session temp dir; the shell removes it when its stdin closes, and also when
/// its reader went away (a reply written to a closed pipe: SIGPIPE, trapped so that the EXIT
/// trap runs; commands still start with SIGPIPE's default action, as traps are reset for them).
const PRELUDE: &str = "exec 2>/dev/null; unset HISTFILE; D=$(mktemp -d \"${TMPDIR:-/tmp}/drover.XXXXXXXX\") || exit 97\ntrap 'rm -rf \"$D\"' EXIT; trap 'exit 141' PIPE HUP TERM\n";

/// A remote `sh` speaking the framing protocol over any byte stream.
pub struct ShellSession<S: ShellStream> {
    stream: S,
    nonce: String,
    counter: u64,
    buf: Vec<u8>,
    /// Requests sent on this session, for diagnostics and tests.
    pub requests: u64,
    /// When the running request must have answered (`None`: no limit).
    deadline: Option<Instant>,
    /// The shell's process group and temp dir, as it reported them.
    pgid: Option<u32>,
    dir: Option<String>,
}

/// The command that reports the shell is ready, its process group and its temp dir (for
/// `cleanup_script`). The session shell leads its group (sshd starts it with `setsid`, the
/// local connection in a group of its own; under sudo, whichever group sudo gives it); read from
/// `/proc/$$/stat` by a builtin (no process), `$$` where there is no `/proc`.
const READY: &str = "read -r _ _ _ _ g _ </proc/$$/stat 2>/dev/null || g=$$; printf 'drover-ready %s %s\\n' \"${g:-$$}\" \"$D\"; unset g";

impl<S: ShellStream> ShellSession<S> {
    /// Starts the protocol on a stream whose other end is a fresh `sh`; `preamble` is sent
    /// first as raw bytes (e.g. a sudo password line). A shell that has not answered within
    /// `wait` is a broken transport.
    pub fn start(mut stream: S, preamble: Option<&[u8]>, wait: Duration) -> Result<Self> {
        stream.wake_after(Some(wait));
        if let Some(p) = preamble {
            stream
                .write_all(p)
                .map_err(|e| TransportError::new("sending the shell preamble", e))?;
        }
        stream
            .write_all(PRELUDE.as_bytes())
            .map_err(|e| TransportError::new("starting the remote shell", e))?;
        let mut s = ShellSession {
            stream,
            nonce: random_nonce(),
            counter: 0,
            buf: Vec::with_capacity(8192),
            requests: 0,
            deadline: Some(Instant::now() + wait),
            pgid: None,
            dir: None,
        };
        // Builtins only: in the session shell itself (no subshell), its variable unset.
        let out = match s.run_inline(READY) {
            Err(e) if e.is::<DeadlineExceeded>() => {
                return Err(TransportError::msg(format!(
                    "the remote shell did not answer within {} s",
                    wait.as_secs_f64()
                ))
                .into())
            }
            r => r?,
        };
        s.deadline = None;
        // sudo may print a lecture before the shell starts; only the last line must match.
        let text = String::from_utf8_lossy(&out.stdout);
        let ready = text
            .strip_suffix('\n')
            .and_then(|t| t.rsplit('\n').next())
            .and_then(|l| l.strip_prefix("drover-ready "));
        let Some(ready) = ready.filter(|_| out.rc == 0) else {
            bail!(
                "the remote shell did not start: rc={} {}",
                out.rc,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        };
        let (pgid, dir) = ready.split_once(' ').unwrap_or((ready, ""));
        s.pgid = pgid.parse().ok().filter(|g| *g > 1);
        s.dir = Some(dir.to_string()).filter(|d| d.starts_with('/') && d.contains("/drover."));
        Ok(s)
    }

    /// Sets when later requests must have answered (`None`: no limit). A request still
    /// running then fails with `DeadlineExceeded`, and the session must not be used again.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Shell lines that end this session from another shell of the same user: kill its
    /// process group (the shell and every command it started, unless one left the group) and
    /// remove its temp dir, which its EXIT trap will not get to. `None` if the shell did not
    /// report its group.
    pub fn cleanup_script(&self) -> Option<String> {
        let pgid = self.pgid?;
        // Not `kill -- -PGID`: dash's `kill` takes no `--`.
        let mut s = format!("kill -KILL -{pgid} 2>/dev/null\n");
        if let Some(d) = &self.dir {
            s.push_str(&format!("rm -rf -- {}\n", crate::shell::quote(d)));
        }
        Some(s)
    }

    /// What is left until the deadline (`Err` once it has passed).
    fn remaining(&self) -> Result<Option<Duration>, DeadlineExceeded> {
        match self.deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(DeadlineExceeded),
            },
        }
    }

    /// Runs a shell command line; `stdin` is fed to it (else it reads /dev/null).
    pub fn run(&mut self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        self.send(cmd, stdin, false)
    }

    /// Runs `cmd` in the session shell itself, without the subshell (a process) that keeps
    /// every other command's `exit`, `cd`, options and variables from the session: only for
    /// drover's own read-only scripts, which change none of these and unset their variables.
    pub fn run_inline(&mut self, cmd: &str) -> Result<Output> {
        self.send(cmd, None, true)
    }

    /// `run` (`inline` false) or `run_inline`, as the connections pass it on.
    pub fn send(&mut self, cmd: &str, stdin: Option<&[u8]>, inline: bool) -> Result<Output> {
        self.counter += 1;
        self.requests += 1;
        let id = format!("{}:{}", self.nonce, self.counter);
        let err_mark = format!("\n@@DRV:{id}:E\n");
        let rc_mark = format!("\n@@DRV:{id}:R ");
        let req = match inline {
            true => inline_request(&id, cmd),
            false => request(&id, cmd, stdin),
        };
        self.write_request(&req)?;
        self.read_reply(&err_mark, &rc_mark)
    }

    /// `write_all` and `flush` that keep going through the keepalive wake-ups of a blocking
    /// libssh2 channel (reported as timeouts, like reads), until the deadline.
    fn write_request(&mut self, mut data: &[u8]) -> Result<()> {
        use std::io::ErrorKind::{Interrupted, TimedOut};
        let broken = |e| TransportError::new("sending a command to the remote shell", e);
        loop {
            self.stream.wake_after(self.remaining()?);
            let r = if data.is_empty() {
                self.stream.flush().map(|()| 0)
            } else {
                self.stream.write(data)
            };
            match r {
                Ok(0) if data.is_empty() => return Ok(()),
                Ok(0) => return Err(broken("the remote shell took no data").into()),
                Ok(n) => data = &data[n..],
                Err(e) if matches!(e.kind(), TimedOut | Interrupted) => {}
                Err(e) => return Err(broken(&e.to_string()).into()),
            }
        }
    }

    fn read_reply(&mut self, err_mark: &str, rc_mark: &str) -> Result<Output> {
        let rc_b = rc_mark.as_bytes();
        let mut scan_from = 0usize;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(pos) = find(&self.buf[scan_from..], rc_b).map(|p| p + scan_from) {
                let tail = &self.buf[pos + rc_b.len()..];
                if let Some(nl) = tail.iter().position(|b| *b == b'\n') {
                    let rc: i32 = std::str::from_utf8(&tail[..nl])
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(-1);
                    let body = &self.buf[..pos];
                    let (stdout, stderr) = match find(body, err_mark.as_bytes()) {
                        Some(e) => (body[..e].to_vec(), body[e + err_mark.len()..].to_vec()),
                        None => bail!("malformed reply from the remote shell"),
                    };
                    let consumed = pos + rc_b.len() + nl + 1;
                    self.buf.drain(..consumed);
                    return Ok(Output { rc, stdout, stderr });
                }
            }
            scan_from = self.buf.len().saturating_sub(rc_b.len() + 16);
            if self.buf.len() > super::MAX_OUTPUT {
                return Err(super::OutputLimitExceeded.into());
            }
            self.stream.wake_after(self.remaining()?);
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                // libssh2 wakes a blocking read at each keepalive interval (after sending the
                // keepalive) with a timeout: the command is still running, keep waiting (the
                // deadline is checked above).
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) => {
                    return Err(TransportError::new("reading from the remote shell", e).into())
                }
            };
            if n == 0 {
                let partial = String::from_utf8_lossy(&self.buf);
                let detail = if partial.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", partial.trim())
                };
                return Err(TransportError::msg(format!(
                    "the remote shell closed the connection{detail}"
                ))
                .into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The underlying stream (to read diagnostics after a failure).
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

/// The bytes of request `id`: `cmd` run with `stdin`, then the markers and its exit code.
fn request(id: &str, cmd: &str, stdin: Option<&[u8]>) -> Vec<u8> {
    let mut req = Vec::with_capacity(cmd.len() + stdin.map_or(0, <[u8]>::len) * 4 / 3 + 256);
    // One group: nothing runs before the closing brace has arrived.
    req.extend_from_slice(b"{\n");
    let mut staged = false;
    match stdin {
        Some(data) if data.len() > INLINE_STDIN_MAX => {
            req.extend_from_slice(b"base64 -d >\"$D/i\" <<'@@DRVIN'\n");
            push_base64(&mut req, data);
            req.extend_from_slice(b"@@DRVIN\n");
            staged = true;
        }
        _ => {}
    }
    // The command is evaluated inside a subshell so that `exit`, `cd` or a syntax error in
    // it can never end or alter the session shell.
    let quoted = crate::shell::quote(cmd);
    match stdin {
        _ if staged => {
            req.extend_from_slice(format!("( eval {quoted} ) <\"$D/i\" 2>\"$D/e\"\n").as_bytes())
        }
        // Text that ends with a newline goes as a here-document as it is: no `base64`
        // process, a third fewer bytes. The delimiter carries the request's nonce.
        Some(data) if heredoc_safe(data, &format!("@@DRVIN:{id}")) => {
            req.extend_from_slice(
                format!("( eval {quoted} ) 2>\"$D/e\" <<'@@DRVIN:{id}'\n").as_bytes(),
            );
            req.extend_from_slice(data);
            req.extend_from_slice(format!("@@DRVIN:{id}\n").as_bytes());
        }
        Some(data) => {
            req.extend_from_slice(b"base64 -d <<'@@DRVIN' | ( eval ");
            req.extend_from_slice(quoted.as_bytes());
            req.extend_from_slice(b" ) 2>\"$D/e\"\n");
            push_base64(&mut req, data);
            req.extend_from_slice(b"@@DRVIN\n");
        }
        None => {
            req.extend_from_slice(format!("( eval {quoted} ) </dev/null 2>\"$D/e\"\n").as_bytes())
        }
    }
    push_reply(&mut req, id);
    req
}

/// The bytes of request `id` that runs `cmd` in the session shell (see `run_inline`).
fn inline_request(id: &str, cmd: &str) -> Vec<u8> {
    let quoted = crate::shell::quote(cmd);
    let mut req = format!("{{\n{{ eval {quoted}\n}} </dev/null 2>\"$D/e\"\n").into_bytes();
    push_reply(&mut req, id);
    req
}

/// The end of every request: the markers around the command's stderr and its exit code.
fn push_reply(req: &mut Vec<u8>, id: &str) {
    req.extend_from_slice(
        format!(
            "R=$?; printf '\\n@@DRV:%s:E\\n' '{id}'; [ -s \"$D/e\" ] && cat \"$D/e\"; printf '\\n@@DRV:%s:R %d\\n' '{id}' \"$R\"\n}}\n"
        )
        .as_bytes(),
    );
}

/// Whether `data` can be a quoted here-document's body byte for byte: lines only (empty, or
/// ending with a newline), no NUL, and no line that would end the document early.
fn heredoc_safe(data: &[u8], delimiter: &str) -> bool {
    (data.is_empty() || data.ends_with(b"\n"))
        && !data.contains(&0)
        && !data
            .split(|b| *b == b'\n')
            .any(|line| line == delimiter.as_bytes())
}

/// `data` in base64 lines of 76 characters, encoded straight into `req` (no copy of the
/// whole encoding).
fn push_base64(req: &mut Vec<u8>, data: &[u8]) {
    let mut line = [0u8; 76];
    for chunk in data.chunks(57) {
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(chunk, &mut line)
            .unwrap_or(0);
        req.extend_from_slice(&line[..n]);
        req.push(b'\n');
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// 128 bits from the OS, hex-encoded.
pub fn random_nonce() -> String {
    let mut bytes = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&(t ^ u128::from(std::process::id())).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request cut anywhere (a connection broken mid-transfer) runs nothing: not the
    /// command, not with the part of its stdin that arrived.
    #[test]
    fn a_cut_request_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let cmd = format!("cat >{}", crate::shell::quote(mark.to_str().unwrap()));
        let text = b"line\n".repeat(20_000);
        let binary: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        let big = b"x".repeat(INLINE_STDIN_MAX + 10);
        for stdin in [None, Some(&text[..]), Some(&binary[..]), Some(&big[..])] {
            let req = request("n:1", &cmd, stdin);
            let cuts = (1..20).map(|i| req.len() * i / 20).chain([req.len() - 2]);
            for cut in cuts.chain([req.len()]) {
                let _ = std::fs::remove_file(&mark);
                feed_sh(&req[..cut]);
                let ran = mark.exists();
                assert_eq!(ran, cut == req.len(), "cut at {cut} of {}", req.len());
                if ran {
                    let want = stdin.unwrap_or_default();
                    assert!(std::fs::read(&mark).unwrap() == want);
                }
            }
        }
        // An inline request too.
        let req = inline_request(
            "n:1",
            &format!("x=1; : >{}", crate::shell::quote(mark.to_str().unwrap())),
        );
        for cut in (1..20)
            .map(|i| req.len() * i / 20)
            .chain([req.len() - 2, req.len()])
        {
            let _ = std::fs::remove_file(&mark);
            feed_sh(&req[..cut]);
            assert_eq!(mark.exists(), cut == req.len(), "inline cut at {cut}");
        }
    }

    /// Feeds the prelude and then `bytes` to a fresh `sh`, and waits for it to end.
    fn feed_sh(bytes: &[u8]) {
        let mut input = PRELUDE.as_bytes().to_vec();
        input.extend_from_slice(bytes);
        let mut child = std::process::Command::new("/bin/sh")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait().unwrap();
    }
}
