//! The `local` connection: the same shell protocol over a child `sh` process on this machine;
//! and the `chroot` connection, the same with the shell started inside a directory tree
//! (`chroot DIR /bin/sh`), for baking images without booting them. Each shell runs in a
//! process group of its own, so a command past its deadline is killed with everything it
//! started.

use super::{become_command, Become, Connection, Memo, Output, ShellSession, ShellStream};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process's stdin and stdout (pipes, or both ends of one pseudo-terminal) as one
/// stream.
pub struct ChildIo {
    child: Child,
    stdin: Option<File>,
    stdout: File,
    /// How long a read waits for output before reporting `TimedOut` (`None`: forever).
    wait: Option<Duration>,
    /// On a pseudo-terminal: its master is both ends.
    tty: bool,
}

impl Read for ChildIo {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(wait) = self.wait {
            let mut pfd = libc::pollfd {
                fd: self.stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
            // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                0 => return Err(std::io::ErrorKind::TimedOut.into()),
                n if n < 0 => return Err(std::io::Error::last_os_error()),
                _ => {}
            }
        }
        match self.stdout.read(buf) {
            // A terminal whose other side has closed reads as EIO: the end of the stream.
            Err(e) if self.tty && e.raw_os_error() == Some(libc::EIO) => Ok(0),
            r => r,
        }
    }
}

impl ShellStream for ChildIo {
    fn wake_after(&mut self, wait: Option<Duration>) {
        self.wait = wait;
    }
}

impl Write for ChildIo {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.stdin.as_mut() {
            Some(s) => s.write(buf),
            None => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stdin.as_mut().map_or(Ok(()), |s| s.flush())
    }
}

impl Drop for ChildIo {
    fn drop(&mut self) {
        // Closing stdin ends the shell, whose EXIT trap removes its temp dir; a terminal ends
        // when its master, both ends, is closed (a hangup).
        drop(self.stdin.take());
        if self.tty {
            if let Ok(null) = File::open("/dev/null") {
                self.stdout = null;
            }
        }
        let _ = self.child.wait();
    }
}

/// Runs commands on the controller itself, or inside a chroot on it.
pub struct LocalConnection {
    user: String,
    shells: HashMap<Option<Become>, ShellSession<ChildIo>>,
    opened: u64,
    memo: Memo,
    /// `chroot` connection: the image root every shell starts in.
    root: Option<std::path::PathBuf>,
    deadline: Option<Instant>,
}

/// How long a local shell may take to start (sudo included).
const START_WAIT: Duration = Duration::from_secs(30);

impl LocalConnection {
    pub fn new() -> Result<LocalConnection> {
        let user = current_user();
        Ok(LocalConnection {
            user,
            shells: HashMap::new(),
            opened: 0,
            memo: Memo::default(),
            root: None,
            deadline: None,
        })
    }

    /// A connection whose commands run inside `root` (as root: `chroot` needs it).
    pub fn chroot(root: &std::path::Path) -> Result<LocalConnection> {
        if !root.join("bin/sh").exists() {
            anyhow::bail!(
                "`{}` has no /bin/sh: not a root file system to chroot into",
                root.display()
            );
        }
        let mut c = LocalConnection::new()?;
        c.user = "root".into();
        c.root = Some(root.to_path_buf());
        Ok(c)
    }

    /// Starts `sh` (through sudo, su or doas for another user), in a process group of its
    /// own: a timed-out shell can be killed alone, and a terminal's Ctrl-C (sent to the
    /// foreground group only) lets the running command finish, as on SSH hosts (see
    /// `interrupt.rs`). A password su or doas asks for is answered before it returns.
    fn spawn(&self, key: Option<&Become>) -> Result<(ChildIo, Option<Vec<u8>>)> {
        let (cmd, preamble) = become_command(&self.user, key)?;
        let mut command = match &self.root {
            Some(root) => {
                // The image's own tools, with an environment of its own.
                let mut c = Command::new("chroot");
                c.arg(root).arg("/bin/sh").env_clear();
                c.env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .env("HOME", "/root")
                .env("LC_ALL", "C.UTF-8");
                c
            }
            None => Command::new("/bin/sh"),
        };
        command.arg("-c").arg(cmd);
        if let (Some((program, pw)), Some(b)) = (super::tty_password(&self.user, key), key) {
            // su's or doas's prompt answered on the shell's own terminal.
            let mut io = spawn_on_tty(command)?;
            super::su::login(&mut io, program, pw, START_WAIT)
                .map_err(|e| super::become_error(e, b, "localhost"))?;
            return Ok((io, preamble));
        }
        let mut child = command
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a local shell")?;
        let stdin = child.stdin.take().map(|s| File::from(OwnedFd::from(s)));
        let stdout = child.stdout.take().context("local shell has no stdout")?;
        let io = ChildIo {
            child,
            stdin,
            stdout: File::from(OwnedFd::from(stdout)),
            wait: None,
            tty: false,
        };
        Ok((io, preamble))
    }

    fn shell(&mut self, as_user: Option<&Become>) -> Result<&mut ShellSession<ChildIo>> {
        let key = super::shell_key(&self.user, as_user);
        if !self.shells.contains_key(&key) {
            let (io, preamble) = self.spawn(key.as_ref())?;
            self.opened += 1;
            let session = match (
                ShellSession::start(io, preamble.as_deref(), START_WAIT),
                &key,
            ) {
                (Ok(s), _) => s,
                (Err(e), Some(b)) => return Err(super::become_error(e, b, "localhost")),
                (Err(e), None) => return Err(e.context("starting a local shell".to_string())),
            };
            self.shells.insert(key.clone(), session);
        }
        self.shells
            .get_mut(&key)
            .context("invariant: the shell was just inserted")
    }

    /// Ends the shell of `key` after a command ran past its deadline: kills its process
    /// group from a fresh shell of the same user (and the group of the process we started),
    /// then drops it.
    fn end_shell(&mut self, key: &Option<Become>) {
        let Some(mut shell) = self.shells.remove(key) else {
            return;
        };
        if let Some(script) = shell.cleanup_script() {
            if let Ok((mut io, preamble)) = self.spawn(key.as_ref()) {
                let mut input = preamble.unwrap_or_default();
                input.extend_from_slice(script.as_bytes());
                if io.tty {
                    // A terminal does not pass the end of input on: the shell is told to end.
                    input.extend_from_slice(b"\nexit\n");
                }
                let _ = io.write_all(&input);
                // Dropping closes its stdin and waits for it: it runs the script and ends.
                drop(io);
            }
        }
        let io = shell.stream_mut();
        if let Ok(pid) = i32::try_from(io.child.id()) {
            // SAFETY: kill has no memory preconditions; a negative pid names our child's group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        drop(shell);
    }
}

impl Connection for LocalConnection {
    fn request(
        &mut self,
        cmd: &str,
        stdin: Option<&[u8]>,
        as_user: Option<&Become>,
        inline: bool,
    ) -> Result<Output> {
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

    fn descriptors(&self) -> usize {
        // Each shell: its stdin and stdout (or its terminal's master, twice).
        2 * self.shells.len()
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

/// Starts `command` on a new pseudo-terminal that does not echo (su asks its password on a
/// terminal only): its stdin, stdout and stderr, and its controlling terminal in a session
/// of its own (whose process group a timed-out shell is killed with).
fn spawn_on_tty(mut command: Command) -> Result<ChildIo> {
    // SAFETY: posix_openpt, grantpt, unlockpt and ptsname_r take the descriptor just opened
    // (checked) and a buffer owned by this frame with its length.
    let (master, slave_path) = unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("opening a pseudo-terminal");
        }
        let master = File::from(<OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd));
        let mut name = [0 as libc::c_char; 128];
        if libc::grantpt(fd) != 0
            || libc::unlockpt(fd) != 0
            || libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) != 0
        {
            return Err(std::io::Error::last_os_error()).context("opening a pseudo-terminal");
        }
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (master, path)
    };
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&slave_path)
        .with_context(|| format!("opening {slave_path}"))?;
    // SAFETY: termios is plain data filled by tcgetattr on a valid descriptor.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
            t.c_lflag &= !(libc::ECHO | libc::ECHONL);
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    command
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls between fork and exec: a new session, and the
    // terminal (now stdin) made its controlling one.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().context("starting a local shell")?;
    Ok(ChildIo {
        child,
        stdin: Some(master.try_clone()?),
        stdout: master,
        wait: None,
        tty: true,
    })
}

/// The name of the user this process runs as.
pub fn current_user() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid) {
                return f[0].to_string();
            }
        }
    }
    std::env::var("USER").unwrap_or_else(|_| {
        if uid == 0 {
            "root".into()
        } else {
            uid.to_string()
        }
    })
}
