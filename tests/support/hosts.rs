//! Isolated Debian test hosts for end-to-end tests, brought up and torn down by
//! `tests/hosts/testhosts.sh` (one implementation, also usable by hand). Each host has its
//! own root filesystem (overlay on a cached debootstrap base), namespaces, and an sshd on a
//! loopback port that accepts one generated key for `root` and for `deploy` (passwordless
//! sudo). Hosts are removed when the `TestHosts` value is dropped, even if the test panics.
//! For jump-host tests, `up_behind_jump` places two hosts in network namespaces of their own
//! (`JumpNet`): a jump host this machine reaches, and a target only the jump host reaches.
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
    /// Where its sshd listens: 127.0.0.1, or an address inside its network namespace.
    pub addr: String,
    pub port: u16,
    pub root: PathBuf,
}

/// Two network namespaces made by `testhosts.sh jumpnet-up`, deleted on drop.
pub struct JumpNet {
    pub id: String,
    pub jump_netns: String,
    /// The jump namespace's address, reachable from here.
    pub jump_addr: String,
    pub target_netns: String,
    /// The target namespace's address, reachable only from the jump namespace.
    pub target_addr: String,
}

impl Drop for JumpNet {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["jumpnet-down", &self.id])
            .status();
    }
}

/// A set of running test hosts and the key that reaches them.
pub struct TestHosts {
    pub hosts: Vec<TestHost>,
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    /// The namespaces of `up_behind_jump`, deleted after the hosts in them are down.
    pub jumpnet: Option<JumpNet>,
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
        let mut set = TestHosts::none()?;
        for _ in 0..n {
            set.add(None);
        }
        Some(set)
    }

    /// Brings up a jump host (host 0, in namespace `jump_netns` at `jump_addr`, port
    /// `hosts[0].port`) and a target (host 1, in `target_netns` at `target_addr:22`) that only
    /// the jump host can reach (see `jumpnet`); or prints why it cannot and returns `None`.
    pub fn up_behind_jump() -> Option<TestHosts> {
        let mut set = TestHosts::none()?;
        let out = Command::new("bash")
            .arg(script())
            .arg("jumpnet-up")
            .output()
            .expect("run testhosts.sh jumpnet-up");
        assert!(
            out.status.success(),
            "making the jump-host network failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(f.len(), 5, "unexpected jumpnet-up output `{text}`");
        let net = JumpNet {
            id: f[0].into(),
            jump_netns: f[1].into(),
            jump_addr: f[2].into(),
            target_netns: f[3].into(),
            target_addr: f[4].into(),
        };
        let (jump, target) = (
            (net.jump_netns.clone(), net.jump_addr.clone()),
            (net.target_netns.clone(), net.target_addr.clone()),
        );
        set.jumpnet = Some(net);
        set.add(Some((&jump.0, &jump.1, free_port())));
        set.add(Some((&target.0, &target.1, 22)));
        Some(set)
    }

    /// A set without hosts yet: the base built, a key made.
    fn none() -> Option<TestHosts> {
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
        Some(TestHosts {
            hosts: Vec::new(),
            dir,
            key,
            jumpnet: None,
        })
    }

    /// Starts one host on a free loopback port, or in (netns, address, port).
    fn add(&mut self, place: Option<(&str, &str, u16)>) {
        let name = format!(
            "th{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let (addr, port) = match place {
            Some((_, addr, port)) => (addr.to_string(), port),
            None => ("127.0.0.1".to_string(), free_port()),
        };
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(["up", &name, &port.to_string()])
            .arg(self.key.with_extension("pub"));
        if let Some((netns, addr, _)) = place {
            cmd.args([netns, addr]);
        }
        let out = cmd.output().expect("run testhosts.sh up");
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
        self.hosts.push(TestHost {
            name,
            addr,
            port,
            root,
        });
    }

    /// Writes an INI inventory: hosts `h0..hN` in group `test`, logging in as `user`.
    pub fn inventory(&self, user: &str, extra: &str) -> PathBuf {
        let mut text = String::from("[test]\n");
        for (i, h) in self.hosts.iter().enumerate() {
            text.push_str(&format!(
                "h{i} ansible_host={} ansible_port={} ansible_user={user} ansible_ssh_private_key_file={} {extra}\n",
                h.addr,
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
        self.jumpnet.take();
    }
}
