//! A throwaway OpenSSH server on 127.0.0.1 for one test: its own host key, client key,
//! config, log and port, all in a temp dir, killed on drop.
#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd accepting the client key for the current user.
pub struct TestSshd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    user: String,
}

fn keygen(path: &Path) -> Result<(), String> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-C", "drover-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

fn current_user() -> String {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .expect("running `id -un`");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl TestSshd {
    /// Starts an sshd, or returns `None` (after printing why) when this machine cannot run
    /// one: no sshd/ssh-keygen installed, or (not as root) no privilege separation dir. As
    /// root, an sshd that is installed but does not start is a test failure.
    pub fn start() -> Option<TestSshd> {
        if !Path::new(SSHD).exists() {
            super::skip(&format!(
                "{SSHD} is not installed (apt-get install openssh-server)"
            ));
            return None;
        }
        if Command::new("ssh-keygen")
            .arg("-?")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            super::skip("ssh-keygen is not installed");
            return None;
        }
        let mut last_err = String::new();
        // The free port can be taken between probing and sshd binding it: retry a few times.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(s) => return Some(s),
                Err(e) => last_err = e,
            }
        }
        if super::is_root() {
            panic!("sshd is installed but did not start: {last_err}");
        }
        super::skip(&format!(
            "cannot start a test sshd as a non-root user: {last_err}"
        ));
        None
    }

    fn try_start() -> Result<TestSshd, String> {
        let dir = tempfile::Builder::new()
            .prefix("drover-sshd-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let d = dir.path();
        keygen(&d.join("host_key"))?;
        keygen(&d.join("client_key"))?;
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))
            .map_err(|e| format!("writing authorized_keys: {e}"))?;
        let port = free_port();
        let cfg = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\n\
             StrictModes no\n\
             UsePAM no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin yes\n\
             LogLevel DEBUG1\n\
             MaxSessions 100\n\
             Subsystem sftp internal-sftp\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), cfg).map_err(|e| format!("sshd_config: {e}"))?;
        if !Path::new("/run/sshd").exists() {
            // Privilege separation dir; sshd refuses to start without it.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let log = d.join("sshd.log");
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {SSHD}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let logged = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("sshd exited with {status}: {err}{logged}"));
            }
            let addr = ([127, 0, 0, 1], port).into();
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let logged = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "sshd did not listen on port {port} within 5s: {logged}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(TestSshd {
            dir,
            child,
            port,
            user: current_user(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private key sshd accepts for `user()`.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The user drover logs in as (the one running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The harness's own temp dir (keys, config, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host key line as known_hosts records it: `[127.0.0.1]:PORT ssh-ed25519 AAAA…`.
    pub fn host_key_line(&self) -> String {
        let pubkey = std::fs::read_to_string(self.dir.path().join("host_key.pub"))
            .expect("reading the host public key");
        let mut f = pubkey.split_whitespace();
        let (kt, key) = (f.next().unwrap(), f.next().unwrap());
        format!("[127.0.0.1]:{} {kt} {key}", self.port)
    }

    /// Writes a known_hosts file holding this server's host key; returns its path.
    pub fn known_hosts_with_host_key(&self) -> PathBuf {
        let p = self.dir.path().join("known_hosts.trusted");
        std::fs::write(&p, format!("{}\n", self.host_key_line())).expect("writing known_hosts");
        p
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// How many `session` channels sshd has opened so far (all connections together).
    pub fn channel_opens(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("server_input_channel_open: ctype session"))
            .count()
    }

    /// How many SSH connections sshd has accepted so far.
    pub fn connections(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("Connection from 127.0.0.1"))
            .count()
    }

    /// Writes an INI inventory with the one host `target` pointing at this server, `extra`
    /// appended to its line (e.g. `ansible_host_key_checking=accept-new`); returns its path.
    pub fn inventory(&self, extra_vars: &str) -> PathBuf {
        let p = self.dir.path().join(format!(
            "inventory-{}.ini",
            self.dir.path().read_dir().map(|r| r.count()).unwrap_or(0)
        ));
        std::fs::write(
            &p,
            format!(
                "target ansible_host=127.0.0.1 ansible_port={} ansible_user={} ansible_ssh_private_key_file={} {extra_vars}\n",
                self.port,
                self.user,
                self.client_key().display()
            ),
        )
        .expect("writing the inventory");
        p
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
