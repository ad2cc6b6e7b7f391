//! Connections to hosts. A `Connection` runs shell command lines (through one long-lived `sh`
//! per as_user user, see `framing.rs`) and reports `{rc, stdout, stderr}`; a non-zero rc is
//! data, an `Err` means the transport broke and the host is unreachable. Transports: `local`
//! (std::process) and `ssh` (ssh2). File helpers built on `run` live in `files.rs`.

mod files;
mod framing;
mod jump;
pub(crate) mod known_hosts;
mod local;
mod ssh;
pub mod ssh_config;
mod su;

pub use files::{
    temp_attrs_script, temp_beside_script, temp_fill_script, write_file_atomic, FileAttrs,
};
pub use framing::{random_nonce as random_token, ShellSession, ShellStream};
pub use known_hosts::HostKeyPolicy;
pub use local::{current_user, LocalConnection};
pub use ssh::SshConnection;

use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// What a command produced. A non-zero `rc` is a result, not an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The transport broke (as opposed to a command failing): the host is unreachable.
#[derive(Debug)]
pub struct TransportError(pub String);

impl TransportError {
    pub fn new(doing: &str, e: impl std::fmt::Display) -> TransportError {
        TransportError(format!("{doing}: {e}"))
    }
    pub fn msg(m: String) -> TransportError {
        TransportError(m)
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransportError {}

/// A command was still running at the deadline set with `Connection::set_deadline`. Its
/// shell and everything it started have been killed (if the host still answered).
#[derive(Debug)]
pub struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the command did not finish before its deadline and was terminated")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// A command wrote more than [`MAX_OUTPUT`] bytes (standard output and error together): its
/// shell and everything it started have been killed, as for a deadline, and only that task
/// fails.
#[derive(Debug)]
pub struct OutputLimitExceeded;

/// The most a command's result may hold in the controller's memory.
pub const MAX_OUTPUT: usize = 32 << 20;

impl std::fmt::Display for OutputLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the command wrote more than {} MiB of output; drover keeps at most that much of a result in memory, so the command was stopped\nhint: send the output to a file on the host (`> /path/to/log`), or keep only what is needed (`| tail -n 100`)",
            MAX_OUTPUT >> 20
        )
    }
}

impl std::error::Error for OutputLimitExceeded {}

/// Whether a command's shell must be ended after this error: it is still running (past its
/// deadline, or flooding its output).
pub fn ends_shell(e: &anyhow::Error) -> bool {
    e.is::<DeadlineExceeded>() || e.is::<OutputLimitExceeded>()
}

/// The host could not be reached for a task: its connection (or the facts a task needs first)
/// could not be set up. The result is `unreachable`, with this message.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// An error setting up a host's connection, as [`Unreachable`].
pub fn unreachable(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Unreachable(format!("{e:#}")))
}

/// Whether an error (anywhere in its chain) says the host is unreachable.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Unreachable>())
}

/// Whether an error (anywhere in its chain) is a deadline that passed.
pub fn is_deadline_exceeded(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<DeadlineExceeded>())
}

/// Whether an error (anywhere in its chain) is a broken transport.
pub fn is_transport_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<TransportError>())
}

/// Privilege escalation for a command: run it as `user` through sudo (or su). `exe`, `flags`
/// and `chdir` are the become plugin's options (`ansible_become_exe`, `ansible_become_flags`,
/// `ansible_sudo_chdir`); an empty `user` is sudo's default (root), as Ansible leaves `-u`
/// out then.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Become {
    pub user: String,
    /// `sudo` (the default), `su` or `doas`.
    pub method: BecomeMethod,
    /// Why the method asked for cannot run (a variable naming one drover lacks): the shell
    /// that needs it fails with this.
    pub refused: Option<String>,
    pub password: Option<String>,
    pub exe: Option<String>,
    pub flags: Option<String>,
    pub chdir: Option<String>,
}

/// The become methods drover runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BecomeMethod {
    #[default]
    Sudo,
    Su,
    Doas,
}

impl BecomeMethod {
    /// The method a `become_method` names (`su`, `ansible.builtin.su`,
    /// `community.general.doas`, ...), or why drover cannot run it.
    pub fn parse(name: &str) -> Result<BecomeMethod, String> {
        let short = name
            .strip_prefix("ansible.builtin.")
            .or_else(|| name.strip_prefix("ansible.legacy."))
            .or_else(|| name.strip_prefix("community.general."))
            .unwrap_or(name);
        match short {
            "sudo" if !name.starts_with("community.") => Ok(BecomeMethod::Sudo),
            "su" if !name.starts_with("community.") => Ok(BecomeMethod::Su),
            "doas" if !name.starts_with("ansible.") => Ok(BecomeMethod::Doas),
            _ => Err(format!(
                "become method `{name}` is not supported (drover runs `sudo`, `su` and `doas`)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BecomeMethod::Sudo => "sudo",
            BecomeMethod::Su => "su",
            BecomeMethod::Doas => "doas",
        }
    }
}

impl Become {
    /// Whether a plugin option asks for more than plain `sudo`: then even becoming the login
    /// user goes through it (a wrapper as `become_exe` must run).
    fn customized(&self) -> bool {
        self.exe.is_some() || self.flags.is_some() || self.chdir.is_some()
    }

    /// As Ansible's su plugin: `EXE FLAGS USER -c SHELL`, flags none unless given. With a
    /// password, su asks for it on a terminal: the shell starts on a pseudo-terminal, which
    /// it turns raw before the protocol starts (see `su.rs`).
    fn su_command(&self) -> Result<String> {
        let exe = crate::shell::quote(self.exe.as_deref().unwrap_or("su"));
        let flags = self.flags.as_deref().unwrap_or("");
        let flags: Vec<String> = crate::shell::split(flags)
            .unwrap_or_else(|_| vec![flags.to_string()])
            .iter()
            .map(|f| crate::shell::quote(f))
            .collect();
        let mut words = vec![exe];
        words.extend(flags);
        if !self.user.is_empty() {
            words.push(crate::shell::quote(&self.user));
        }
        let shell = if self.password.is_some() {
            crate::shell::quote(su::SHELL)
        } else {
            "/bin/sh".to_string()
        };
        Ok(format!("exec {} -c {shell} 2>&1", words.join(" ")))
    }

    /// As community.general's doas plugin: `EXE FLAGS [-u USER] SHELL`, with `-n` added when
    /// there is no password (never wait for one); with one, doas asks on a terminal as su does.
    fn doas_command(&self) -> String {
        let exe = crate::shell::quote(self.exe.as_deref().unwrap_or("doas"));
        let flags = self.flags.as_deref().unwrap_or("");
        let mut flags: Vec<String> =
            crate::shell::split(flags).unwrap_or_else(|_| vec![flags.to_string()]);
        if self.password.is_none() && !flags.iter().any(|f| f == "-n") {
            flags.push("-n".into());
        }
        let mut words = vec![exe];
        words.extend(flags.iter().map(|f| crate::shell::quote(f)));
        if !self.user.is_empty() {
            words.push("-u".into());
            words.push(crate::shell::quote(&self.user));
        }
        let shell = if self.password.is_some() {
            format!("/bin/sh -c {}", crate::shell::quote(su::SHELL))
        } else {
            "/bin/sh".to_string()
        };
        format!("exec {} {shell} 2>&1", words.join(" "))
    }

    /// The password su or doas asks for on a terminal, when this become goes through one of
    /// them with a password.
    pub fn su_password(&self) -> Option<&str> {
        self.password
            .as_deref()
            .filter(|_| matches!(self.method, BecomeMethod::Su | BecomeMethod::Doas))
    }
}

/// The program (su or doas) and password of the shell that serves `as_user`, when that
/// shell must start on a pseudo-terminal to answer a password prompt (see `su.rs`).
fn tty_password<'b>(login: &str, as_user: Option<&'b Become>) -> Option<(&'static str, &'b str)> {
    becoming(login, as_user).and_then(|b| Some((b.method.name(), b.su_password()?)))
}

/// A live connection to one host. Owned by one worker at a time: `Send`, never shared.
pub trait Connection: Send {
    /// One request on the session shell of `as_user`: `cmd` in a subshell of its own, or with
    /// `inline` in the session shell itself (see `ShellSession::send`).
    fn request(
        &mut self,
        cmd: &str,
        stdin: Option<&[u8]>,
        as_user: Option<&Become>,
        inline: bool,
    ) -> Result<Output>;

    /// Runs a shell command line as the login user, or as `as_user` through sudo. The same
    /// long-lived shell serves every call with the same `as_user`. It may change the host:
    /// counted before (a look made meanwhile may see half of what it does) and after.
    fn run(&mut self, cmd: &str, stdin: Option<&[u8]>, as_user: Option<&Become>) -> Result<Output> {
        note_host_change();
        let out = self.request(cmd, stdin, as_user, false);
        note_host_change();
        out
    }

    /// Runs one of drover's own read-only scripts in the session shell itself, without the
    /// subshell `run` puts around a command (see `ShellSession::run_inline`).
    fn run_inline(&mut self, cmd: &str, as_user: Option<&Become>) -> Result<Output> {
        self.request(cmd, None, as_user, true)
    }

    /// Transport channels opened so far (SSH channels, or local processes started as shells).
    fn channels_opened(&self) -> u64;

    /// Descriptors this connection holds open on the controller (its socket and tunnels, or
    /// its shells' pipes).
    fn descriptors(&self) -> usize;

    /// The user commands run as without as_user.
    fn login_user(&self) -> &str;

    /// Facts about the host that modules looked up and may reuse (see `Memo`).
    fn memo(&mut self) -> &mut Memo;

    /// Sets when commands must have finished (`None`: no limit). A command still running
    /// then fails with `DeadlineExceeded`: its shell's process group is killed from a fresh
    /// shell and the shell is dropped (the next command starts another).
    fn set_deadline(&mut self, deadline: Option<std::time::Instant>);

    /// Whether the transport stopped answering (the cleanup after a deadline could not
    /// reach the host): the connection is to be dropped, and a new one made if needed.
    fn broken(&self) -> bool {
        false
    }
}

/// Answers a host gave that stay true until something changes accounts or the session: the
/// identity and umask a shell runs with, user and group ids by name. Modules that only touch
/// files reuse them; the executor forgets them after any other module runs (a package, a
/// command or `user` may create the very user the next file task names).
#[derive(Debug, Default)]
pub struct Memo {
    lines: std::collections::HashMap<String, String>,
    /// Paths looked at ahead of the tasks that probe them (`fileops::Looks`).
    pub looks: crate::modules::Looks,
}

impl Memo {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines.get(key).map(String::as_str)
    }
    pub fn put(&mut self, key: String, value: String) {
        self.lines.insert(key, value);
    }
    pub fn clear(&mut self) {
        self.lines.clear();
        self.looks.forget();
    }
}

/// How many times, in this run, something may have changed a host: every command that is not
/// one of drover's own read-only probes, and every task that lets time pass without looking
/// (`pause`). A look made ahead serves only while this count stays what it was when the look
/// was made, on any connection: hosts may share files (local hosts, a task delegated to
/// another host), so a change anywhere counts.
static HOST_CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The count of possible changes so far (see `HOST_CHANGES`).
pub fn host_changes() -> u64 {
    HOST_CHANGES.load(std::sync::atomic::Ordering::SeqCst)
}

/// Notes that something may change a host now: looks made before no longer serve.
pub fn note_host_change() {
    HOST_CHANGES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// A job started in the background (`async` with `poll: 0`) may change a host at any time:
/// from then on, no look made ahead serves in this run.
static BACKGROUND_WORK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a background job was started in this run (see `BACKGROUND_WORK`).
pub fn background_work() -> bool {
    BACKGROUND_WORK.load(std::sync::atomic::Ordering::SeqCst)
}

/// Notes that a background job was started.
pub fn note_background_work() {
    BACKGROUND_WORK.store(true, std::sync::atomic::Ordering::SeqCst);
    note_host_change();
}

/// Everything needed to reach one host.
#[derive(Clone, Debug)]
pub struct ConnSpec {
    /// The inventory name, for messages.
    pub name: String,
    /// `ansible_connection`: `ssh` or `local`.
    pub transport: String,
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub private_keys: Vec<PathBuf>,
    pub connect_timeout: Duration,
    pub host_key_policy: HostKeyPolicy,
    pub known_hosts: PathBuf,
    /// Jump hosts to go through, first hop first (`ProxyJump`); each has no jumps of its own.
    pub jumps: Vec<ConnSpec>,
}

/// Opens a connection of the spec's transport.
pub fn connect(spec: &ConnSpec) -> Result<Box<dyn Connection>> {
    match spec.transport.as_str() {
        "local" => Ok(Box::new(LocalConnection::new()?)),
        // ansible_host (or the inventory name) is the image's root directory.
        "chroot" | "community.general.chroot" => Ok(Box::new(LocalConnection::chroot(
            std::path::Path::new(&spec.address),
        )?)),
        "ssh" | "paramiko" | "smart" => Ok(Box::new(SshConnection::connect(spec)?)),
        other => anyhow::bail!(
            "unsupported connection type `{other}` for host `{}`",
            spec.name
        ),
    }
}

/// Which shell of a connection serves `as_user`: `None` (the login user's own) when there is
/// no become or it becomes the login user.
fn shell_key(login: &str, as_user: Option<&Become>) -> Option<Become> {
    becoming(login, as_user).cloned()
}

/// The become a shell of `login` needs for `as_user`: none when it becomes the login user
/// with plain options.
fn becoming<'b>(login: &str, as_user: Option<&'b Become>) -> Option<&'b Become> {
    as_user.filter(|b| b.user != login || b.customized())
}

/// The command that starts a shell as `as_user` from a shell running as `login` (it `exec`s
/// the shell), and the bytes to send first. sudo's stderr is merged into the stream so its
/// refusal reaches the error message; the shell silences its own stderr once it runs (see the
/// framing prelude). As Ansible's sudo plugin: `EXE FLAGS [-p ''] [-u USER]`, flags `-H -S -n`
/// unless given; with a password `-n` is dropped and `-S` added; `chdir` first.
///
/// The password is data for sudo, never shell text: sudo may not ask for it (no password
/// needed, or a cached one), and then whatever it left unread goes to the shell. So the
/// password line is followed by an empty line, and the shell sudo starts first reads and
/// drops one line (`read -r _`) before it reads commands: if sudo asked, it took the password
/// (sudo reads its answer byte by byte, up to the newline) and the shell drops the empty
/// line; if it did not, the shell drops the password. A password holding a newline, a
/// carriage return or a NUL (which sudo cannot take either) is refused before any of this.
fn become_command(login: &str, as_user: Option<&Become>) -> Result<(String, Option<Vec<u8>>)> {
    let Some(b) = becoming(login, as_user) else {
        return Ok(("exec /bin/sh".to_string(), None));
    };
    if let Some(why) = &b.refused {
        anyhow::bail!("{why}");
    }
    match b.method {
        BecomeMethod::Su => return Ok((b.su_command()?, None)),
        BecomeMethod::Doas => return Ok((b.doas_command(), None)),
        BecomeMethod::Sudo => {}
    }
    if let Some(pw) = &b.password {
        check_become_password(pw)?;
    }
    let exe = b.exe.as_deref().unwrap_or("sudo");
    let mut flags = match &b.flags {
        Some(f) => crate::shell::split(f).unwrap_or_else(|_| vec![f.clone()]),
        None => vec!["-H".into(), "-S".into(), "-n".into()],
    };
    if b.password.is_some() {
        flags.retain(|f| f != "-n" && f != "--non-interactive");
        for f in &mut flags {
            if f.starts_with('-') && !f.starts_with("--") {
                if let Some(pos) = f[1..].find('n') {
                    f.remove(pos + 1);
                }
            }
        }
        flags.retain(|f| f != "-");
        let reads_stdin = flags.iter().any(|f| {
            f == "--stdin" || (f.starts_with('-') && !f.starts_with("--") && f.contains('S'))
        });
        if !reads_stdin {
            flags.push("-S".into());
        }
    } else if b.flags.is_none() {
        // No password to give: never wait for one.
        flags = vec!["-H".into(), "-n".into()];
    }
    let flags: Vec<String> = flags.iter().map(|f| crate::shell::quote(f)).collect();
    let prompt = if b.password.is_some() { " -p ''" } else { "" };
    let user = if b.user.is_empty() {
        String::new()
    } else {
        format!(" -u {}", crate::shell::quote(&b.user))
    };
    let cd = match &b.chdir {
        Some(d) => format!("cd {} 2>&1 && ", crate::shell::quote(d)),
        None => String::new(),
    };
    let shell = if b.password.is_some() {
        "/bin/sh -c 'read -r _; exec /bin/sh'"
    } else {
        "/bin/sh"
    };
    Ok((
        format!(
            "{cd}exec {exe} {}{prompt}{user} -- {shell} 2>&1",
            flags.join(" ")
        ),
        b.password
            .as_ref()
            .map(|pw| format!("{pw}\n\n").into_bytes()),
    ))
}

/// Refuses a become password sudo could not take as one line (see [`become_command`]).
fn check_become_password(pw: &str) -> Result<()> {
    if let Some(c) = pw.chars().find(|c| matches!(c, '\n' | '\r' | '\0')) {
        anyhow::bail!(
            "the become password holds a {} character, which sudo cannot read as part of a password\nhint: set `ansible_become_password` to the password alone, on one line",
            match c {
                '\n' => "newline",
                '\r' => "carriage return",
                _ => "NUL",
            }
        );
    }
    Ok(())
}

/// Turns a failure to start a become shell into a task failure (not a broken transport),
/// with sudo's own words and what to do about them.
fn become_error(e: anyhow::Error, b: &Become, host: &str) -> anyhow::Error {
    let user = if b.user.is_empty() { "root" } else { &b.user };
    let detail = format!("{e:#}");
    let said = detail
        .split("the remote shell closed the connection")
        .nth(1)
        .map(|s| s.trim_start_matches(':').trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or(detail.clone());
    match b.method {
        BecomeMethod::Su => {
            // Ansible's words for su: its `fail` and `missing` markers.
            let what = if said.contains("Authentication failure") || said.contains("not accepted") {
                "Incorrect su password"
            } else if said.contains("must be run from a terminal") {
                "Missing su password"
            } else {
                "su refused"
            };
            return anyhow::anyhow!(
                "{what}: becoming `{user}` on `{host}` failed: {said}\nhint: su asks for the password of `{user}`: set `ansible_become_password` or pass -K"
            );
        }
        BecomeMethod::Doas => {
            // community.general.doas's `fail` and `missing` markers (and OpenDoas's words on
            // Linux for a wrong password).
            let what = if said.contains("Permission denied")
                || said.contains("Authentication failed")
                || said.contains("not accepted")
            {
                "Incorrect doas password"
            } else if said.contains("Authorization required")
                || said.contains("Authentication required")
            {
                "Missing doas password"
            } else {
                "doas refused"
            };
            return anyhow::anyhow!(
                "{what}: becoming `{user}` on `{host}` failed: {said}\nhint: doas.conf must permit this user as `{user}` (`nopass`, or set `ansible_become_password`)"
            );
        }
        BecomeMethod::Sudo => {}
    }
    let what = if said.contains("password is required") {
        "Missing sudo password"
    } else if said.contains("incorrect password") || said.contains("Sorry, try again") {
        "Incorrect sudo password"
    } else {
        "sudo refused"
    };
    anyhow::anyhow!(
        "{what}: becoming `{user}` on `{host}` failed: {said}\nhint: allow passwordless sudo for this user, or set `ansible_become_password`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn su_starts_the_shell_as_ansible_su_plugin_does() {
        let su = |user: &str, flags: Option<&str>, password: Option<&str>| Become {
            user: user.into(),
            method: BecomeMethod::Su,
            flags: flags.map(str::to_string),
            password: password.map(str::to_string),
            ..Become::default()
        };
        let (cmd, input) = become_command("deploy", Some(&su("root", None, None))).unwrap();
        assert_eq!(
            (cmd.as_str(), input),
            ("exec su root -c /bin/sh 2>&1", None)
        );
        let (cmd, _) =
            become_command("root", Some(&su("app user", Some("-s /bin/sh"), None))).unwrap();
        assert_eq!(cmd, "exec su '-s' /bin/sh 'app user' -c /bin/sh 2>&1");
        // The login user needs no su; with a password, the shell starts on a terminal it
        // turns raw (the password is answered to su's prompt, never sent as input).
        let (cmd, _) = become_command("root", Some(&su("root", None, None))).unwrap();
        assert_eq!(cmd, "exec /bin/sh");
        let b = su("root", None, Some("pw"));
        let (cmd, input) = become_command("deploy", Some(&b)).unwrap();
        assert_eq!(
            (cmd.as_str(), input),
            (
                "exec su root -c 'stty raw -echo 2>/dev/null; echo drover-su-ready; cat | { /bin/sh; kill 0; }' 2>&1",
                None
            )
        );
        assert_eq!(tty_password("deploy", Some(&b)), Some(("su", "pw")));
        assert_eq!(
            tty_password("root", Some(&su("root", None, Some("pw")))),
            None
        );
    }

    #[test]
    fn local_shell_keeps_output_intact() {
        let mut c = LocalConnection::new().unwrap();
        let out = c
            .run("printf 'a\\0b'; printf 'err' >&2; exit 3", None, None)
            .unwrap();
        assert_eq!(
            (out.rc, out.stdout.as_slice(), out.stderr.as_slice()),
            (3, &b"a\0b"[..], &b"err"[..])
        );
        // A syntax error or `exit` in one command does not end the session.
        let out = c.run("if then", None, None).unwrap();
        assert_ne!(out.rc, 0);
        let out = c.run("cd /; exit 0", None, None).unwrap();
        assert_eq!(out.rc, 0);
        let before = c.run("pwd", None, None).unwrap();
        assert_ne!(before.stdout_str(), "", "the session shell is still alive");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let out = c.run("cat", Some(&big), None).unwrap();
        assert_eq!(out.stdout.len(), big.len());
        assert!(out.stdout == big);
        let out = c.run("cat", Some(b"no newline"), None).unwrap();
        assert_eq!(out.stdout, b"no newline");
        // Here-document and base64 paths alike deliver stdin byte for byte.
        let mut long_lines = b"x".repeat(200_000);
        long_lines.push(b'\n');
        for data in [
            &b""[..],
            b"\n\n",
            b"line\n@@DRVIN\n$(id) `id` \\\n'\"\n",
            b"nul\0inside\n",
            b"\xff\xfe not utf-8\n",
            &long_lines,
        ] {
            let out = c.run("cat; echo rc", Some(data), None).unwrap();
            assert_eq!(out.stdout, [data, b"rc\n"].concat(), "{data:?}");
        }
        assert_eq!(c.channels_opened(), 1);
    }

    /// An inline request runs in the session shell itself (what it sets stays set: the file
    /// probes unset their variables); its output, stderr and exit code come back as any
    /// request's, and the session goes on.
    #[test]
    fn inline_requests_share_the_session_shell() {
        let mut c = LocalConnection::new().unwrap();
        let out = c
            .run_inline("x=kept; echo out; echo err >&2; false", None)
            .unwrap();
        assert_eq!(
            (out.rc, out.stdout_str(), out.stderr_str()),
            (1, "out\n".into(), "err\n".into())
        );
        let out = c.run("echo \"$x\"; x=gone", None, None).unwrap();
        assert_eq!(out.stdout_str(), "kept\n");
        let out = c.run_inline("echo \"$x\"", None).unwrap();
        assert_eq!(out.stdout_str(), "kept\n");
        assert_eq!(c.channels_opened(), 1);
    }

    /// A command past its deadline fails with `DeadlineExceeded` on time, is killed with
    /// the shell that ran it, and the next command runs in a new shell.
    #[test]
    fn deadline_kills_the_command_and_its_shell() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut c = LocalConnection::new().unwrap();
        let first = c.run("echo $$", None, None).unwrap().stdout_str();
        let shell_pid: i32 = first.trim().parse().unwrap();
        c.set_deadline(Some(std::time::Instant::now() + Duration::from_millis(800)));
        let started = std::time::Instant::now();
        let cmd = format!(
            "sh -c 'echo $$ >{}; exec sleep 30'",
            crate::shell::quote(pidfile.to_str().unwrap())
        );
        let err = c.run(&cmd, None, None).unwrap_err();
        let took = started.elapsed();
        assert!(is_deadline_exceeded(&err), "{err:#}");
        assert!(!is_transport_error(&err));
        assert!(took < Duration::from_secs(3), "{took:?}");
        let sleep_pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = |pid: i32| {
            (0..100).any(|_| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // Gone, or a zombie waiting for its reaper.
                let dead =
                    stat.is_empty() || stat.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'));
                if !dead {
                    std::thread::sleep(Duration::from_millis(20));
                }
                dead
            })
        };
        assert!(gone(sleep_pid), "the timed-out command is still running");
        assert!(gone(shell_pid), "the timed-out shell is still running");
        c.set_deadline(None);
        let out = c.run("echo again", None, None).unwrap();
        assert_eq!(out.stdout_str(), "again\n");
        assert_eq!(c.channels_opened(), 2, "a new shell after the timeout");
    }

    #[test]
    fn atomic_write_sets_mode_and_keeps_backup() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.txt");
        let dest_s = dest.to_str().unwrap();
        let mut c = LocalConnection::new().unwrap();
        let attrs = FileAttrs {
            mode: Some("0640".into()),
            ..Default::default()
        };
        assert_eq!(
            write_file_atomic(&mut c, None, dest_s, b"one\n", &attrs).unwrap(),
            None
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        let attrs = FileAttrs {
            backup: true,
            ..Default::default()
        };
        let backup = write_file_atomic(&mut c, None, dest_s, b"two\n", &attrs)
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "two\n");
        // Mode preserved from the existing file when not asked to change.
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        // Binary content goes through stdin, text inside the command; modes with execute
        // bits need a chmod, others are created with the mode; the writer's own ids need no
        // chown (a non-root test would fail one).
        let me = unsafe { (libc::geteuid(), libc::getegid()) };
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        for (data, mode) in [
            (binary.as_slice(), "0755"),
            (b"it's $(id) `x`\n\\n%s %%\n".as_slice(), "0604"),
        ] {
            let attrs = FileAttrs {
                mode: Some(mode.into()),
                owner: Some(me.0.to_string()),
                group: Some(me.1.to_string()),
                me: Some(me),
                ..Default::default()
            };
            write_file_atomic(&mut c, None, dest_s, data, &attrs).unwrap();
            assert_eq!(std::fs::read(&dest).unwrap(), data);
            assert_eq!(
                std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
                u32::from_str_radix(mode, 8).unwrap()
            );
        }
        // The last line keeps a replaced file's ACL where the ACL tools are (mode after it).
        let acl = |m: &str| {
            format!("if [ -e \"$dest\" ] && command -v getfacl >/dev/null 2>&1; then getfacl -cp -- \"$dest\" 2>/dev/null | setfacl --set-file=- \"$t\" 2>/dev/null || true; chmod {m} \"$t\"; fi\n")
        };
        let s = temp_attrs_script(Some("0644"), Some("0"), Some("5"), Some((0, 5)));
        assert_eq!(
            s,
            format!(
                "if [ -g \"$dir\" ]; then chgrp -- 5 \"$t\"; fi\n{}",
                acl("0644")
            )
        );
        let s = temp_attrs_script(Some("0755"), Some("7"), Some("5"), Some((0, 0)));
        // Ownership first: `chown` would clear set-ID bits a `chmod` before it had set.
        assert_eq!(
            s,
            format!("chown 7:5 -- \"$t\"\nchmod 0755 \"$t\"\n{}", acl("0755"))
        );
        // An existing file or link at the temp name is never written through.
        let script = temp_beside_script(dest_s, None);
        let t = script
            .split("t=\"$dir/")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(&t)).unwrap();
        let out = c
            .run(&format!("{script}printf x >\"$t\""), None, None)
            .unwrap();
        assert_ne!(out.rc, 0);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let _ = std::fs::remove_file(dir.path().join(&t));
        std::fs::remove_file(&victim).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                n.contains("drover-tmp").then_some(n)
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
