//! ProxyJump tunnels: a `direct-tcpip` channel through a jump host's SSH session, bridged to a
//! local socket pair so the next hop's ssh2 `Session` gets the real file descriptor it needs.
//! A pump thread per tunnel owns the jump session (non-blocking) and moves bytes both ways;
//! it ends when either side closes. Opening the sessions is `ssh.rs`'s.

use anyhow::{anyhow, Result};
use ssh2::{BlockDirections, Channel, Session};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

/// Bytes buffered in each direction before the pump stops reading that side.
const BUFFER: usize = 256 * 1024;

/// A running tunnel. Dropping it waits for its pump thread, which ends once the socket end
/// handed out was closed (drop the session using it first) or the jump host closed the channel.
pub struct Tunnel {
    thread: Option<JoinHandle<()>>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens a `direct-tcpip` channel from `session` (blocking, authenticated; `fd` is its
/// transport's descriptor) to `host:port`, and returns the socket end that reaches it.
pub fn open(session: Session, fd: RawFd, host: &str, port: u16) -> Result<(UnixStream, Tunnel)> {
    let channel = session
        .channel_direct_tcpip(host, port, None)
        .map_err(|e| anyhow!("cannot open a tunnel to `{host}:{port}`: {e}"))?;
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| anyhow!("creating a socket pair for a tunnel: {e}"))?;
    ours.set_nonblocking(true)
        .map_err(|e| anyhow!("configuring a tunnel socket: {e}"))?;
    session.set_keepalive(false, 30);
    session.set_blocking(false);
    let thread = std::thread::Builder::new()
        .name("drover-jump".into())
        .spawn(move || pump(session, channel, fd, ours))
        .map_err(|e| anyhow!("starting a tunnel thread: {e}"))?;
    Ok((
        theirs,
        Tunnel {
            thread: Some(thread),
        },
    ))
}

/// What one pass moved: whether anything happened, and whether the tunnel is done.
#[derive(Default)]
struct Pass {
    progress: bool,
    done: bool,
}

struct Pump {
    channel: Channel,
    sock: UnixStream,
    /// From the channel, waiting to be written to the socket.
    to_sock: Vec<u8>,
    /// From the socket, waiting to be written to the channel.
    to_chan: Vec<u8>,
    sock_eof: bool,
    chan_eof: bool,
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

impl Pump {
    fn pass(&mut self) -> Pass {
        let mut p = Pass::default();
        let mut buf = [0u8; 32 * 1024];
        // Channel → buffer: until libssh2 has nothing more (it reads whole packets, so a
        // would-block means the socket is drained and poll will tell when there is more).
        while !self.chan_eof && self.to_sock.len() < BUFFER {
            match self.channel.read(&mut buf) {
                Ok(0) if self.channel.eof() => {
                    self.chan_eof = true;
                    p.progress = true;
                }
                Ok(0) => break,
                Ok(n) => {
                    self.to_sock.extend_from_slice(&buf[..n]);
                    p.progress = true;
                }
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    p.done = true;
                    return p;
                }
            }
        }
        // Buffer → socket.
        while !self.to_sock.is_empty() {
            match self.sock.write(&self.to_sock) {
                Ok(n) => {
                    self.to_sock.drain(..n);
                    p.progress = true;
                }
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    p.done = true;
                    return p;
                }
            }
        }
        // Socket → buffer.
        while !self.sock_eof && self.to_chan.len() < BUFFER {
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.sock_eof = true;
                    p.progress = true;
                }
                Ok(n) => {
                    self.to_chan.extend_from_slice(&buf[..n]);
                    p.progress = true;
                }
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    self.sock_eof = true;
                    break;
                }
            }
        }
        // Buffer → channel. A would-block keeps the buffer as is: libssh2 wants the same
        // bytes again after a partial packet.
        while !self.to_chan.is_empty() {
            match self.channel.write(&self.to_chan) {
                Ok(0) => break,
                Ok(n) => {
                    self.to_chan.drain(..n);
                    p.progress = true;
                }
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    p.done = true;
                    return p;
                }
            }
        }
        // The next hop's session closed its end: nothing more will travel.
        if self.sock_eof && self.to_chan.is_empty() {
            p.done = true;
        }
        // The far side closed: deliver what is left, then close our end.
        if self.chan_eof && self.to_sock.is_empty() {
            p.done = true;
        }
        p
    }
}

fn pump(session: Session, channel: Channel, fd: RawFd, sock: UnixStream) {
    let mut pump = Pump {
        channel,
        sock,
        to_sock: Vec::new(),
        to_chan: Vec::new(),
        sock_eof: false,
        chan_eof: false,
    };
    loop {
        let pass = pump.pass();
        if pass.done {
            break;
        }
        if pass.progress {
            continue;
        }
        let next_keepalive = session.keepalive_send().unwrap_or(30).clamp(1, 30);
        let mut sock_events = 0;
        if !pump.sock_eof && pump.to_chan.len() < BUFFER {
            sock_events |= libc::POLLIN;
        }
        if !pump.to_sock.is_empty() {
            sock_events |= libc::POLLOUT;
        }
        // The jump session's socket matters when we would read the channel, or when a write
        // waits for a window adjustment (a write drains incoming packets into libssh2, whose
        // buffering the channel window bounds). Watching it otherwise would spin while the
        // next hop is slow to read.
        let mut ssh_events = 0;
        if (!pump.chan_eof && pump.to_sock.len() < BUFFER) || !pump.to_chan.is_empty() {
            ssh_events |= libc::POLLIN;
        }
        if !pump.to_chan.is_empty()
            && matches!(
                session.block_directions(),
                BlockDirections::Outbound | BlockDirections::Both
            )
        {
            ssh_events |= libc::POLLOUT;
        }
        let mut fds = [
            libc::pollfd {
                fd,
                events: ssh_events,
                revents: 0,
            },
            libc::pollfd {
                fd: pump.sock.as_raw_fd(),
                events: sock_events,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, (next_keepalive * 1000) as i32) };
        if n < 0 && std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
            break;
        }
    }
    // A polite close, bounded: the jump host may already be gone.
    session.set_timeout(1000);
    session.set_blocking(true);
    let _ = pump.channel.send_eof();
    let _ = pump.channel.close();
    let _ = session.disconnect(None, "drover done", None);
    // Dropping the socket end tells the next hop's session that the tunnel is gone.
}
