//! The long-lived remote shell protocol. One `sh` reads requests from its stdin; each request
//! runs one command in a subshell and answers on stdout with the command's stdout, a marker,
//! its stderr (kept in a per-session temp file), and a final marker carrying the exit code.
//! Markers embed a per-session random nonce and a request counter, so no command output can
//! forge one, and output of any size, binary or without a final newline comes back intact.

use super::{Output, TransportError};
use anyhow::{bail, Result};
use base64::Engine;
use std::io::{Read, Write};

/// Stdin larger than this is staged in a temp file first, so the request is never blocked
/// on a command that writes a lot while we are still sending.
const INLINE_STDIN_MAX: usize = 256 * 1024;

/// Sets up the per-session temp dir; the shell removes it when its stdin closes, and also when
/// its reader went away (a reply written to a closed pipe: SIGPIPE, trapped so that the EXIT
/// trap runs; commands still start with SIGPIPE's default action, as traps are reset for them).
const PRELUDE: &str = "exec 2>/dev/null; unset HISTFILE; D=$(mktemp -d \"${TMPDIR:-/tmp}/drover.XXXXXXXX\") || exit 97\ntrap 'rm -rf \"$D\"' EXIT; trap 'exit 141' PIPE HUP TERM\n";

/// A remote `sh` speaking the framing protocol over any byte stream.
pub struct ShellSession<S: Read + Write> {
    stream: S,
    nonce: String,
    counter: u64,
    buf: Vec<u8>,
    /// Requests sent on this session, for diagnostics and tests.
    pub requests: u64,
}

impl<S: Read + Write> ShellSession<S> {
    /// Starts the protocol on a stream whose other end is a fresh `sh`; `preamble` is sent
    /// first as raw bytes (e.g. a sudo password line).
    pub fn start(mut stream: S, preamble: Option<&[u8]>) -> Result<Self> {
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
        };
        let out = s.run("echo drover-ready", None)?;
        // sudo may print a lecture before the shell starts; only the end must match.
        if out.rc != 0 || !out.stdout.ends_with(b"drover-ready\n") {
            bail!(
                "the remote shell did not start: rc={} {}",
                out.rc,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(s)
    }

    /// Runs a shell command line; `stdin` is fed to it (else it reads /dev/null).
    pub fn run(&mut self, cmd: &str, stdin: Option<&[u8]>) -> Result<Output> {
        self.counter += 1;
        self.requests += 1;
        let id = format!("{}:{}", self.nonce, self.counter);
        let err_mark = format!("\n@@DRV:{id}:E\n");
        let rc_mark = format!("\n@@DRV:{id}:R ");
        // The whole request is one `{ ... }` group: the shell parses a compound command to its
        // end before running any of it, so a request cut short (a dropped connection, drover
        // killed mid-transfer) is a syntax error at end of input and runs nothing. Without
        // it, a here-document cut short is taken as complete and a half-sent file written.
        let mut req = Vec::with_capacity(cmd.len() + 256);
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
            _ if staged => req
                .extend_from_slice(format!("( eval {quoted} ) <\"$D/i\" 2>\"$D/e\"\n").as_bytes()),
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
            None => req
                .extend_from_slice(format!("( eval {quoted} ) </dev/null 2>\"$D/e\"\n").as_bytes()),
        }
        req.extend_from_slice(
            format!(
                "R=$?; printf '\\n@@DRV:%s:E\\n' '{id}'; [ -s \"$D/e\" ] && cat \"$D/e\"; printf '\\n@@DRV:%s:R %d\\n' '{id}' \"$R\"\n}}\n"
            )
            .as_bytes(),
        );
        write_patiently(&mut self.stream, &req)
            .map_err(|e| TransportError::new("sending a command to the remote shell", e))?;
        self.read_reply(&err_mark, &rc_mark)
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
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                // libssh2 wakes a blocking read at each keepalive interval (after sending the
                // keepalive) with a timeout: the command is still running, keep waiting.
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

/// Whether `data` can be a quoted here-document's body byte for byte: lines only (empty, or
/// ending with a newline), no NUL, and no line that would end the document early.
/// `write_all` and `flush` that keep going through the keepalive wake-ups of a blocking
/// libssh2 channel (reported as timeouts, like reads).
fn write_patiently<W: Write>(w: &mut W, mut data: &[u8]) -> std::io::Result<()> {
    use std::io::ErrorKind::{Interrupted, TimedOut, WriteZero};
    while !data.is_empty() {
        match w.write(data) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    WriteZero,
                    "the remote shell took no data",
                ))
            }
            Ok(n) => data = &data[n..],
            Err(e) if matches!(e.kind(), TimedOut | Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        match w.flush() {
            Err(e) if matches!(e.kind(), TimedOut | Interrupted) => {}
            other => return other,
        }
    }
}

fn heredoc_safe(data: &[u8], delimiter: &str) -> bool {
    (data.is_empty() || data.ends_with(b"\n"))
        && !data.contains(&0)
        && !data
            .split(|b| *b == b'\n')
            .any(|line| line == delimiter.as_bytes())
}

fn push_base64(req: &mut Vec<u8>, data: &[u8]) {
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    for line in enc.as_bytes().chunks(76) {
        req.extend_from_slice(line);
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
fn random_nonce() -> String {
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
    use std::process::{Child, Command, Stdio};

    /// A local `sh` whose stdin takes only `room` more bytes once `cut` is set, then breaks,
    /// as a connection that drops in the middle of a request.
    struct CutShell {
        child: Child,
        room: Option<usize>,
    }

    impl Read for CutShell {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.child.stdout.as_mut().expect("stdout").read(buf)
        }
    }

    impl Write for CutShell {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = match self.room {
                None => buf.len(),
                Some(0) => return Err(std::io::ErrorKind::BrokenPipe.into()),
                Some(r) => r.min(buf.len()),
            };
            if let Some(r) = self.room.as_mut() {
                *r -= n;
            }
            self.child.stdin.as_mut().expect("stdin").write(&buf[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.child.stdin.as_mut().expect("stdin").flush()
        }
    }

    #[test]
    fn a_request_cut_short_runs_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text_100k = "line of text\n".repeat(8000).into_bytes();
        let binary = (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>();
        let text_600k = "another line\n".repeat(48_000).into_bytes();
        // Here-document, base64 through a pipe, and staged in a temp file.
        for (name, data) in [
            ("heredoc", &text_100k),
            ("piped", &binary),
            ("staged", &text_600k),
        ] {
            let child = Command::new("/bin/sh")
                .env("TMPDIR", dir.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("sh");
            let mut s = ShellSession::start(CutShell { child, room: None }, None).expect("start");
            let dest = dir.path().join(name);
            let cmd = format!(
                "cat > {}",
                crate::shell::quote(dest.to_str().expect("utf-8"))
            );
            // The request is about as long as the data (base64: 4/3); cut it halfway.
            s.stream_mut().room = Some(data.len() / 2);
            assert!(
                s.run(&cmd, Some(data)).is_err(),
                "{name}: the cut must fail"
            );
            let mut shell = s.stream;
            drop(shell.child.stdin.take());
            shell.child.wait().expect("wait");
            assert!(!dest.exists(), "{name}: a cut request ran its command");
            let left: Vec<_> = std::fs::read_dir(dir.path())
                .expect("read dir")
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(left.is_empty(), "{name}: left behind: {left:?}");
        }
    }
}
