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

/// Where `testhosts.sh` keeps its bases: `DROVER_TESTHOSTS_CACHE` (`.ci/run` points it at a
/// fresh directory of its own), else the machine's shared cache.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("DROVER_TESTHOSTS_CACHE").map_or_else(
        || PathBuf::from("/var/cache/drover-testhosts"),
        PathBuf::from,
    )
}

/// Why test hosts cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Some("test hosts need root".into());
    }
    let base_ok = cache_dir().join("base-bookworm/.drover-base-ok").exists();
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
        let key = set.key.clone();
        // Started a few at a time: each start is mostly waiting (mounts, key generation,
        // sshd coming up), so 100 hosts take seconds rather than a minute.
        let names: Vec<String> = (0..n)
            .map(|_| {
                format!(
                    "th{}x{}",
                    std::process::id(),
                    SEQ.fetch_add(1, Ordering::SeqCst)
                )
            })
            .collect();
        // Distinct ports for the set: all bound at once, then released.
        let ports: Vec<u16> = {
            let held: Vec<std::net::TcpListener> = (0..n)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
                .collect();
            held.iter()
                .map(|l| l.local_addr().expect("local addr").port())
                .collect()
        };
        let next = AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<TestHost, String>>>> =
            (0..n).map(|_| std::sync::Mutex::new(None)).collect();
        let pubkey = key.with_extension("pub");
        std::thread::scope(|sc| {
            for _ in 0..n.clamp(1, 8) {
                sc.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let r = start_host(&names[i], ports[i], &pubkey, None);
                    *slots[i].lock().expect("slot") = Some(r);
                });
            }
        });
        let mut errors = Vec::new();
        for slot in slots {
            match slot.into_inner().expect("slot") {
                Some(Ok(h)) => set.hosts.push(h),
                Some(Err(e)) => errors.push(e),
                None => errors.push("a host was not started".into()),
            }
        }
        // Dropping `set` tears down the hosts that did start.
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        Some(set)
    }

    /// Brings up a jump host (host 0, in namespace `jump_netns` at `jump_addr`, port
    /// `hosts[0].port`) and a target (host 1, in `target_netns` at `target_addr:22`) that only
    /// the jump host can reach (see `jumpnet`); or prints why it cannot and returns `None`.
    pub fn up_behind_jump() -> Option<TestHosts> {
        let mut set = TestHosts::with_jumpnet()?;
        let [jns, jaddr, tns, taddr] = set.net_places();
        set.add(Some((&jns, &jaddr, free_port())));
        set.add(Some((&tns, &taddr, 22)));
        Some(set)
    }

    /// Brings up one host in a network namespace of its own (its firewall, routes and
    /// per-namespace kernel settings are its own, not this machine's), reachable from here;
    /// or prints why it cannot and returns `None`.
    pub fn up_isolated() -> Option<TestHosts> {
        let mut set = TestHosts::with_jumpnet()?;
        let [ns, addr, _, _] = set.net_places();
        set.add(Some((&ns, &addr, free_port())));
        Some(set)
    }

    /// The jump network's namespaces and addresses: jump, its address, target, its address.
    fn net_places(&self) -> [String; 4] {
        let n = self.jumpnet.as_ref().expect("the jump-host network");
        [
            n.jump_netns.clone(),
            n.jump_addr.clone(),
            n.target_netns.clone(),
            n.target_addr.clone(),
        ]
    }

    /// A set without hosts, with the two namespaces of `testhosts.sh jumpnet-up`.
    fn with_jumpnet() -> Option<TestHosts> {
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
        set.jumpnet = Some(JumpNet {
            id: f[0].into(),
            jump_netns: f[1].into(),
            jump_addr: f[2].into(),
            target_netns: f[3].into(),
            target_addr: f[4].into(),
        });
        Some(set)
    }

    /// A set without hosts yet: the base built, a key made.
    fn none() -> Option<TestHosts> {
        if let Some(why) = unavailable() {
            super::skip(&why);
            return None;
        }
        let base = Command::new("bash")
            .arg(script())
            .arg("base")
            .status()
            .expect("run testhosts.sh");
        assert!(
            base.success(),
            "building the test host base failed (see {})",
            cache_dir().join("debootstrap-base-bookworm.log").display()
        );
        Some(TestHosts::with_key())
    }

    /// A set without hosts, with a fresh key in a temporary directory of its own.
    pub(super) fn with_key() -> TestHosts {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("id_ed25519");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "ed25519", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen");
        assert!(st.success());
        TestHosts {
            hosts: Vec::new(),
            dir,
            key,
            jumpnet: None,
        }
    }

    /// Starts one host on a free loopback port, or in (netns, address, port).
    fn add(&mut self, place: Option<(&str, &str, u16)>) {
        let name = format!(
            "th{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let port = place.map_or_else(free_port, |p| p.2);
        let host = start_host(
            &name,
            port,
            &self.key.with_extension("pub"),
            place.map(|(netns, addr, _)| (netns, addr)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.hosts.push(host);
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

    /// Sends `sig` (`KILL`, `STOP`, `CONT`) to every process of host `i`: after `KILL` its
    /// sshd and sessions are gone (connections are refused or cut) and its files stay.
    pub fn signal(&self, i: usize, sig: &str) {
        let st = Command::new("bash")
            .arg(script())
            .args(["signal", &self.hosts[i].name, sig])
            .status()
            .expect("run testhosts.sh signal");
        assert!(st.success(), "signal {sig} to host {i} failed");
    }

    /// A path inside host `i`.
    pub fn path(&self, i: usize, p: &str) -> PathBuf {
        self.hosts[i].root.join(p.trim_start_matches('/'))
    }

    /// The pid (on this machine) of host `i`'s PID 1 (`tini`), while the host runs.
    pub fn init_pid(&self, i: usize) -> Option<u32> {
        let run = std::env::var("DROVER_TESTHOSTS_RUN")
            .unwrap_or_else(|_| "/tmp/drover-testhosts".into());
        let pid_file = Path::new(&run).join(&self.hosts[i].name).join("pid");
        let unshare: u32 = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", pid_file.display()))
            .trim()
            .parse()
            .expect("a pid");
        children(unshare).first().copied()
    }

    /// Every process of host `i` below its init: (pid, command name, command line).
    pub fn processes(&self, i: usize) -> Vec<Proc> {
        let mut out = Vec::new();
        let mut todo: Vec<u32> = self.init_pid(i).into_iter().collect();
        while let Some(p) = todo.pop() {
            for c in children(p) {
                if let Some(proc_) = Proc::read(c) {
                    out.push(proc_);
                }
                todo.push(c);
            }
        }
        out
    }

    /// The `sshd` processes of host `i`: the listener first, then one or two per connection.
    pub fn sshd_pids(&self, i: usize) -> Vec<u32> {
        let init = self.init_pid(i).unwrap_or(0);
        let mut all: Vec<Proc> = self
            .processes(i)
            .into_iter()
            .filter(|p| p.comm == "sshd")
            .collect();
        all.sort_by_key(|p| p.ppid != init);
        all.into_iter().map(|p| p.pid).collect()
    }

    /// Sends `signal` (`libc::SIGKILL`...) to the given processes of a host; one that has
    /// ended since it was listed is skipped.
    pub fn signal_pids(&self, pids: &[u32], signal: i32) {
        for &pid in pids {
            // SAFETY: kill has no memory preconditions.
            let r = unsafe { libc::kill(pid as i32, signal) };
            let err = std::io::Error::last_os_error();
            assert!(
                r == 0 || err.raw_os_error() == Some(libc::ESRCH),
                "kill({pid}, {signal}): {err}"
            );
        }
    }

    /// What is left of drover's work on host `i` once a run is over, waiting up to
    /// `patience` for sessions to wind down: processes other than init and the sshd listener,
    /// session temp dirs, and temp files beside `dirs`.
    pub fn leftovers(&self, i: usize, dirs: &[&str], patience: std::time::Duration) -> Vec<String> {
        let until = std::time::Instant::now() + patience;
        loop {
            let listener = self.sshd_pids(i).first().copied();
            let mut left: Vec<String> = self
                .processes(i)
                .into_iter()
                .filter(|p| Some(p.pid) != listener)
                .map(|p| format!("process {} `{}`", p.pid, p.cmdline))
                .collect();
            for d in std::iter::once("/tmp").chain(dirs.iter().copied()) {
                if let Ok(rd) = std::fs::read_dir(self.path(i, d)) {
                    for e in rd.flatten() {
                        let n = e.file_name().to_string_lossy().into_owned();
                        if n.starts_with("drover.") || n.starts_with(".drover-tmp") {
                            left.push(format!("file {d}/{n}"));
                        }
                    }
                }
            }
            if left.is_empty() || std::time::Instant::now() >= until {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Makes this machine's directory `dir` (absolute) appear at the same path inside host
    /// `i` (a bind mount in the host's mount namespace): what one side writes there, the other
    /// reads, as when a controller and its target are one machine.
    pub fn share_dir(&self, i: usize, dir: &Path) {
        let inside = self.path(i, &dir.to_string_lossy());
        std::fs::create_dir_all(&inside).expect("mkdir inside the host");
        let st = Command::new("nsenter")
            .arg("-t")
            .arg(self.init_pid(i).expect("the host runs").to_string())
            .args(["-m", "--", "mount", "--bind"])
            .arg(dir)
            .arg(&inside)
            .status()
            .expect("nsenter mount");
        assert!(
            st.success(),
            "bind-mounting {} into the host",
            dir.display()
        );
    }

    /// Runs a shell command inside host `i` as its processes see it: in its mount and network
    /// namespaces (mounts made there are not visible from outside) and root directory.
    pub fn ns_sh(&self, i: usize, cmd: &str) -> (i32, String) {
        let out = Command::new("nsenter")
            .arg("-t")
            .arg(self.init_pid(i).expect("the host runs").to_string())
            .args(["-m", "-n"])
            .arg("--")
            .arg("chroot")
            .arg(&self.hosts[i].root)
            .args(["/bin/sh", "-c", cmd])
            .output()
            .expect("nsenter");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

/// A process seen from this machine.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub cmdline: String,
    /// Bytes it has read so far (`/proc/PID/io` rchar).
    pub rchar: u64,
}

impl Proc {
    pub fn read(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat[open + 1..close].to_string();
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        if rest.first() == Some(&"Z") {
            return None;
        }
        let ppid = rest.get(1)?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let rchar = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find_map(|l| l.strip_prefix("rchar: ").and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0);
        Some(Proc {
            pid,
            ppid,
            comm,
            cmdline,
            rchar,
        })
    }
}

/// The children of `pid` (from `/proc/PID/task/*/children`).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

/// Starts one host on a free port (another port if a concurrent test took that one first).
fn start_host(
    name: &str,
    first_port: u16,
    pubkey: &Path,
    place: Option<(&str, &str)>,
) -> Result<TestHost, String> {
    let mut last = String::new();
    for attempt in 0..5 {
        let port = if attempt == 0 {
            first_port
        } else {
            free_port()
        };
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(["up", name, &port.to_string()])
            .arg(pubkey);
        if let Some((netns, addr)) = place {
            cmd.args([netns, addr]);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("run testhosts.sh up: {e}"))?;
        if out.status.success() {
            let root = Command::new("bash")
                .arg(script())
                .args(["root", name])
                .output()
                .map_err(|e| format!("run testhosts.sh root: {e}"))?;
            let root = PathBuf::from(String::from_utf8_lossy(&root.stdout).trim());
            return Ok(TestHost {
                name: name.to_string(),
                addr: place.map_or("127.0.0.1", |p| p.1).to_string(),
                port,
                root,
            });
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        // A loopback port taken meanwhile: another one. A host in a namespace has its own.
        if place.is_some() || !last.contains("already in use") {
            break;
        }
    }
    Err(format!("bringing up {name} failed: {last}"))
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        // In parallel, as they were started.
        let next = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..self.hosts.len().clamp(1, 8) {
                sc.spawn(|| {
                    while let Some(h) = self.hosts.get(next.fetch_add(1, Ordering::SeqCst)) {
                        let _ = Command::new("bash")
                            .arg(script())
                            .args(["down", &h.name])
                            .status();
                    }
                });
            }
        });
        // The namespaces go after the hosts in them.
        self.jumpnet.take();
    }
}
