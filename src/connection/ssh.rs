//! The `ssh` connection on the ssh2 crate: one TCP connection and SSH session per host, host
//! key checked before authentication, and one channel per long-lived shell (one for the login
//! user, one per as_user user). Every wait on the host is bounded: the handshake, opening a
//! channel and starting a shell by the connect timeout, a command by its deadline if it has
//! one (libssh2's session timeout is set to the time left before each blocking call).
//! Through jump hosts, each hop's session rides on a tunnel opened by the previous one
//! (`jump.rs`).

use super::jump::{self, Tunnel};
use super::known_hosts::{self, HostKeyPolicy};
use super::{
    become_command, Become, ConnSpec, Connection, Memo, Output, ShellSession, ShellStream,
    TransportError,
};
use anyhow::{anyhow, bail, Context, Result};
use ssh2::{Channel, HostKeyType, MethodType, Session};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A connection over SSH.
pub struct SshConnection {
    session: Session,
    user: String,
    shells: HashMap<Option<Become>, ShellSession<SshStream>>,
    opened: u64,
    memo: Memo,
    name: String,
    connect_timeout: Duration,
    deadline: Option<Instant>,
    /// The host stopped answering: nothing more is sent on this session.
    broken: bool,
    /// Tunnels through jump hosts, first hop first, held for their `Drop` (which waits for
    /// the pump threads). Last field: dropped after the session and channels riding on them.
    _tunnels: Vec<Tunnel>,
}

/// A shell's channel, with the session whose timeout bounds its blocking calls.
pub struct SshStream {
    channel: Channel,
    session: Session,
}

impl Read for SshStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.channel.read(buf)
    }
}

impl Write for SshStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.channel.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.channel.flush()
    }
}

impl ShellStream for SshStream {
    fn wake_after(&mut self, wait: Option<Duration>) {
        self.session.set_timeout(timeout_ms(wait));
    }
}

/// libssh2's session timeout for a wait: whole milliseconds, at least one (0 means none).
fn timeout_ms(wait: Option<Duration>) -> u32 {
    match wait {
        None => 0,
        Some(w) => u32::try_from(w.as_millis()).unwrap_or(u32::MAX).max(1),
    }
}

fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

fn default_keys() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|k| PathBuf::from(&home).join(".ssh").join(k))
        .filter(|p| p.exists())
        .collect()
}

/// At most this many SSH handshakes run at once. A key exchange costs both ends tens of
/// milliseconds of CPU; hundreds at once on a few cores would each take seconds and run into
/// the connect timeout, while queued ones finish in the same total time, each well within it.
fn handshake_slots() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 4)
        .unwrap_or(8)
        .max(8)
}

struct Slots {
    busy: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

static SLOTS: Slots = Slots {
    busy: std::sync::Mutex::new(0),
    freed: std::sync::Condvar::new(),
};

/// A handshake slot, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Slot {
        let max = handshake_slots();
        let mut busy = SLOTS.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy >= max {
            busy = SLOTS.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = SLOTS.busy.lock().unwrap_or_else(|e| e.into_inner());
        *busy = busy.saturating_sub(1);
        SLOTS.freed.notify_one();
    }
}

impl SshConnection {
    /// Connects (through the spec's jump hosts, if any), verifies the host key, and
    /// authenticates. A failure at a jump host names it.
    pub fn connect(spec: &ConnSpec) -> Result<SshConnection> {
        let _slot = Slot::take();
        // Declared first so it is dropped last: a tunnel's pump ends only once the session
        // riding on it has closed its socket.
        let mut tunnels: Vec<Tunnel> = Vec::new();
        let session = match spec.jumps.split_first() {
            None => {
                let tcp = tcp_connect(spec).map_err(|e| {
                    anyhow!("cannot connect to `{}:{}`: {e}", spec.address, spec.port)
                })?;
                open_session(spec, tcp)?
            }
            Some((first, rest)) => {
                let at = |hop: &ConnSpec, e: anyhow::Error| {
                    anyhow!(
                        "jump host `{}` ({}:{}): {e:#}",
                        hop.name,
                        hop.address,
                        hop.port
                    )
                };
                let tcp = tcp_connect(first).map_err(|e| at(first, anyhow!("{e}")))?;
                let mut fd = tcp.as_raw_fd();
                let mut session = open_session(first, tcp).map_err(|e| at(first, e))?;
                let mut from = first;
                for (i, next) in rest.iter().chain([spec]).enumerate() {
                    let (stream, tunnel) = jump::open(session, fd, &next.address, next.port)
                        .map_err(|e| at(from, e))?;
                    tunnels.push(tunnel);
                    fd = stream.as_raw_fd();
                    session = if i == rest.len() {
                        open_session(spec, stream)?
                    } else {
                        open_session(next, stream).map_err(|e| at(next, e))?
                    };
                    from = next;
                }
                session
            }
        };
        let user = spec.user.clone().unwrap_or_else(super::local::current_user);
        session.set_keepalive(true, 30);
        Ok(SshConnection {
            session,
            user,
            shells: HashMap::new(),
            opened: 0,
            memo: Memo::default(),
            name: spec.name.clone(),
            connect_timeout: spec.connect_timeout,
            deadline: None,
            broken: false,
            _tunnels: tunnels,
        })
    }

    fn shell(&mut self, as_user: Option<&Become>) -> Result<&mut ShellSession<SshStream>> {
        let key = super::shell_key(&self.user, as_user);
        if !self.shells.contains_key(&key) {
            let (stream, preamble, _) = self.shell_stream(key.as_ref())?;
            let started = ShellSession::start(stream, preamble.as_deref(), self.connect_timeout);
            let session = match (started, &key) {
                (Ok(s), _) => s,
                (Err(e), Some(b)) => return Err(super::become_error(e, b, &self.name)),
                (Err(e), None) => {
                    return Err(e.context(format!("starting the remote shell on `{}`", self.name)))
                }
            };
            self.shells.insert(key.clone(), session);
        }
        self.shells
            .get_mut(&key)
            .context("invariant: the shell was just inserted")
    }

    /// A channel running a new shell as `as_user` (su's or doas's prompt answered on its
    /// terminal), the bytes to send it first, and whether it is on a terminal.
    fn shell_stream(
        &mut self,
        as_user: Option<&Become>,
    ) -> Result<(SshStream, Option<Vec<u8>>, bool)> {
        let (cmd, preamble) = become_command(&self.user, as_user)?;
        let su_password = super::tty_password(&self.user, as_user);
        let channel = self.exec_channel(&cmd, su_password.is_some())?;
        let mut stream = SshStream {
            channel,
            session: self.session.clone(),
        };
        if let (Some((program, pw)), Some(b)) = (su_password, as_user) {
            super::su::login(&mut stream, program, pw, self.connect_timeout)
                .map_err(|e| super::become_error(e, b, &self.name))?;
        }
        Ok((stream, preamble, su_password.is_some()))
    }

    /// A new channel running `exec CMD`, opened within the connect timeout; with `tty`, on a
    /// pseudo-terminal that does not echo (for su's password prompt).
    fn exec_channel(&mut self, cmd: &str, tty: bool) -> Result<Channel> {
        let broken = |doing: &str, e: ssh2::Error| TransportError::new(doing, e);
        self.session
            .set_timeout(timeout_ms(Some(self.connect_timeout)));
        let mut channel = self
            .session
            .channel_session()
            .map_err(|e| broken(&format!("opening an SSH channel to `{}`", self.name), e))?;
        self.opened += 1;
        channel
            .handle_extended_data(ssh2::ExtendedData::Ignore)
            .context("configuring the SSH channel")?;
        if tty {
            let mut modes = ssh2::PtyModes::new();
            modes.set_boolean(ssh2::PtyModeOpcode::ECHO, false);
            channel
                .request_pty("dumb", Some(modes), None)
                .map_err(|e| broken(&format!("asking `{}` for a terminal", self.name), e))?;
        }
        channel
            .exec(cmd)
            .map_err(|e| broken(&format!("starting a shell on `{}`", self.name), e))?;
        Ok(channel)
    }

    /// Ends the shell of `key` after a command ran past its deadline: kills its process group
    /// from a fresh shell of the same user, then drops it. If the host does not answer within
    /// the connect timeout, the connection is marked broken.
    fn end_shell(&mut self, key: &Option<Become>) {
        let Some(shell) = self.shells.remove(key) else {
            return;
        };
        let killed = match shell.cleanup_script() {
            Some(script) => self.run_once(key.as_ref(), &script).is_ok(),
            None => false,
        };
        if !killed {
            self.broken = true;
            // Closing the channel must not wait for a host that does not answer.
            self.session.set_timeout(1);
        }
        drop(shell);
    }

    /// Runs `script` in a new shell of `as_user` and waits for it to end, all within the
    /// connect timeout.
    fn run_once(&mut self, as_user: Option<&Become>, script: &str) -> Result<()> {
        let until = Instant::now() + self.connect_timeout;
        let (stream, preamble, tty) = self.shell_stream(as_user)?;
        let mut channel = stream.channel;
        let mut input = preamble.unwrap_or_default();
        input.extend_from_slice(script.as_bytes());
        if tty {
            // A terminal does not pass the end of input on: the shell is told to end.
            input.extend_from_slice(b"\nexit\n");
        }
        channel.write_all(&input)?;
        channel.send_eof()?;
        let mut chunk = [0u8; 4096];
        loop {
            match channel.read(&mut chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && Instant::now() < until => {}
                Err(e) => return Err(e.into()),
            }
        }
        channel.wait_close()?;
        Ok(())
    }
}

/// A TCP connection to the spec's address, within its connect timeout.
fn tcp_connect(spec: &ConnSpec) -> Result<TcpStream, String> {
    let target = format!("{}:{}", spec.address, spec.port);
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .map_err(|e| format!("resolving `{target}`: {e}"))?
        .collect();
    let mut last_err = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, spec.connect_timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(match last_err {
        Some(e) => match e.kind() {
            ErrorKind::ConnectionRefused
            | ErrorKind::TimedOut
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable => e.kind().to_string(),
            _ => e.to_string(),
        },
        None => "no address".into(),
    })
}

/// An SSH session over `stream` (a TCP connection or a tunnel's socket): handshake preferring
/// the host key types already known, host key verified, user authenticated; all within the
/// connect timeout.
fn open_session<S: AsRawFd + 'static>(spec: &ConnSpec, stream: S) -> Result<Session> {
    let target = format!("{}:{}", spec.address, spec.port);
    let mut session = Session::new().context("creating an SSH session")?;
    session.set_tcp_stream(stream);
    // Bounds the handshake too: a host whose kernel accepts the connection but whose sshd
    // never speaks (stopped, overloaded) fails after the connect timeout.
    session.set_timeout(timeout_ms(Some(spec.connect_timeout)));
    let known = known_hosts::known_key_types(&spec.known_hosts, &spec.address, spec.port);
    if !known.is_empty() && spec.host_key_policy != HostKeyPolicy::Off {
        // Prefer the key types we already know for this host, as OpenSSH does.
        let mut prefs = known.clone();
        for t in [
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
            "rsa-sha2-512",
            "rsa-sha2-256",
            "ssh-rsa",
        ] {
            if !prefs.iter().any(|p| p == t) {
                prefs.push(t.to_string());
            }
        }
        if prefs.iter().any(|p| p == "ssh-rsa") {
            prefs.retain(|p| p != "rsa-sha2-512" && p != "rsa-sha2-256");
            let pos = prefs.iter().position(|p| p == "ssh-rsa").unwrap_or(0);
            prefs.insert(pos, "rsa-sha2-256".into());
            prefs.insert(pos, "rsa-sha2-512".into());
        }
        let _ = session.method_pref(MethodType::HostKey, &prefs.join(","));
    }
    session
        .handshake()
        .with_context(|| format!("SSH handshake with `{target}`"))?;
    let (key, ktype) = session.host_key().context("the server sent no host key")?;
    known_hosts::verify(
        spec.host_key_policy,
        &spec.known_hosts,
        &spec.name,
        &spec.address,
        spec.port,
        key_type_name(ktype),
        key,
    )?;
    let user = spec.user.clone().unwrap_or_else(super::local::current_user);
    authenticate(&session, &user, spec)?;
    Ok(session)
}

fn authenticate(session: &Session, user: &str, spec: &ConnSpec) -> Result<()> {
    let mut tried = Vec::new();
    for key in &spec.private_keys {
        if !key.exists() {
            bail!("private key file `{}` does not exist", key.display());
        }
        if session.userauth_pubkey_file(user, None, key, None).is_ok() {
            return Ok(());
        }
        tried.push(format!("key {}", key.display()));
    }
    if let Some(pw) = &spec.password {
        if session.userauth_password(user, pw).is_ok() {
            return Ok(());
        }
        tried.push("password".into());
    }
    if std::env::var_os("SSH_AUTH_SOCK").is_some() && session.userauth_agent(user).is_ok() {
        return Ok(());
    }
    if spec.private_keys.is_empty() {
        for key in default_keys() {
            if session.userauth_pubkey_file(user, None, &key, None).is_ok() {
                return Ok(());
            }
            tried.push(format!("key {}", key.display()));
        }
    }
    tried.push("ssh-agent".into());
    bail!(
        "authentication as `{user}` on `{}` failed (tried: {})\nhint: set `ansible_user` and `ansible_ssh_private_key_file` in the inventory, or pass `-u` and `--private-key`",
        spec.name,
        tried.join(", ")
    )
}

impl Connection for SshConnection {
    fn request(
        &mut self,
        cmd: &str,
        stdin: Option<&[u8]>,
        as_user: Option<&Become>,
        inline: bool,
    ) -> Result<Output> {
        if self.broken {
            return Err(TransportError::msg(format!("`{}` stopped answering", self.name)).into());
        }
        let deadline = self.deadline;
        let shell = self.shell(as_user)?;
        shell.set_deadline(deadline);
        let out = shell.send(cmd, stdin, inline);
        if let Err(e) = &out {
            if super::ends_shell(e) {
                let key = super::shell_key(&self.user, as_user);
                self.end_shell(&key);
            }
        }
        out
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    fn broken(&self) -> bool {
        self.broken
    }

    fn descriptors(&self) -> usize {
        // The socket; each jump's tunnel adds a socket pair and the jump host's socket.
        1 + 3 * self._tunnels.len()
    }

    fn channels_opened(&self) -> u64 {
        self.opened
    }

    fn login_user(&self) -> &str {
        &self.user
    }

    fn memo(&mut self) -> &mut Memo {
        &mut self.memo
    }
}

impl Drop for SshConnection {
    fn drop(&mut self) {
        // Closing must not hang on a host that stopped answering.
        let wait = if self.broken {
            Duration::from_millis(1)
        } else {
            self.connect_timeout
        };
        self.session.set_timeout(timeout_ms(Some(wait)));
        for (_, mut shell) in self.shells.drain() {
            let _ = shell.stream_mut().channel.send_eof();
        }
        let _ = self.session.disconnect(None, "drover done", None);
    }
}
