//! Isolated Debian test hosts for end-to-end tests, brought up and torn down by
//! `tests/hosts/testhosts.sh` (one implementation, also usable by hand). Each host has its
//! own root filesystem (overlay on a cached debootstrap base), namespaces, and an sshd on a
//! loopback port that accepts one generated key for `root` and for `deploy` (passwordless
//! sudo). Hosts are removed when the `TestHosts` value is dropped, even if the test panics.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/testhosts.sh")
}

/// One running test host.
pub struct TestHost {
    pub name: String,
    pub port: u16,
    pub root: PathBuf,
}

/// A set of running test hosts and the key that reaches them.
pub struct TestHosts {
    pub hosts: Vec<TestHost>,
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Why test hosts cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Some("test hosts need root".into());
    }
    let base_ok = Path::new(
        &std::env::var("DROVER_TESTHOSTS_CACHE")
            .unwrap_or_else(|_| "/var/cache/drover-testhosts".into()),
    )
    .join("base-bookworm/.drover-base-ok")
    .exists();
    if !base_ok
        && Command::new("sh")
            .args(["-c", "command -v debootstrap"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    {
        return Some("debootstrap is not installed and no cached base exists".into());
    }
    None
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl TestHosts {
    /// Brings up `n` hosts, or prints why it cannot and returns `None` (the test then passes
    /// as skipped). Builds the cached base first if needed (about a minute, once).
    pub fn up(n: usize) -> Option<TestHosts> {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let base = Command::new("bash")
            .arg(script())
            .arg("base")
            .status()
            .expect("run testhosts.sh");
        assert!(
            base.success(),
            "building the test host base failed (see /var/cache/drover-testhosts/debootstrap-base-bookworm.log)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("id_ed25519");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "ed25519", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen");
        assert!(st.success());
        let mut set = TestHosts {
            hosts: Vec::new(),
            dir,
            key,
        };
        for _ in 0..n {
            let name = format!(
                "th{}x{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst)
            );
            let port = free_port();
            let out = Command::new("bash")
                .arg(script())
                .args(["up", &name, &port.to_string()])
                .arg(set.key.with_extension("pub"))
                .output()
                .expect("run testhosts.sh up");
            assert!(
                out.status.success(),
                "bringing up {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let root = PathBuf::from(
                String::from_utf8_lossy(
                    &Command::new("bash")
                        .arg(script())
                        .args(["root", &name])
                        .output()
                        .expect("root")
                        .stdout,
                )
                .trim()
                .to_string(),
            );
            set.hosts.push(TestHost { name, port, root });
        }
        Some(set)
    }

    /// Writes an INI inventory: hosts `h0..hN` in group `test`, logging in as `user`.
    pub fn inventory(&self, user: &str, extra: &str) -> PathBuf {
        let mut text = String::from("[test]\n");
        for (i, h) in self.hosts.iter().enumerate() {
            text.push_str(&format!(
                "h{i} ansible_host=127.0.0.1 ansible_port={} ansible_user={user} ansible_ssh_private_key_file={} {extra}\n",
                h.port,
                self.key.display()
            ));
        }
        let p = self.dir.path().join(format!("inventory-{user}.ini"));
        std::fs::write(&p, text).expect("write inventory");
        p
    }

    /// A known_hosts path for `--known-hosts` (fresh per set; use with accept-new).
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// Runs a shell command inside host `i`'s root filesystem (to check its state).
    pub fn sh(&self, i: usize, cmd: &str) -> (i32, String) {
        let out = Command::new("chroot")
            .arg(&self.hosts[i].root)
            .args(["/bin/sh", "-c", cmd])
            .output()
            .expect("chroot");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// A path inside host `i`.
    pub fn path(&self, i: usize, p: &str) -> PathBuf {
        self.hosts[i].root.join(p.trim_start_matches('/'))
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = Command::new("bash")
                .arg(script())
                .args(["down", &h.name])
                .status();
        }
    }
}
