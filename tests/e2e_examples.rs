//! The shipped examples (`inventory/`, `roles/`, `playbooks/`) run unchanged on isolated Debian
//! test hosts. Each test uses the shipped staging inventory (`inventory/staging.yml` with its
//! `group_vars/` and `host_vars/`) plus a second inventory that only points the staging host
//! names at test hosts (address, port, key), and the stand-in packages of the local apt
//! repository (`support/aptrepo.rs`: `nginx`, `redis-server`, `nodejs`). Every run is then
//! repeated to show it changes nothing.
//!
//! - `site.yml` converges all six staging machines (base, data store, application, proxy);
//! - `rolling.yml` stops at a failing canary without touching the other servers;
//! - `blue-green.yml` switches the proxy to the new colour and keeps the old one as `backup`,
//!   and refuses to switch to a colour that fails its check;
//! - `bake-image.yml` bakes an image directory (an overlay of the test-host base) over the
//!   `chroot` connection, with the services enabled but not started.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::aptrepo::{self, installed};
use support::hosts::TestHosts;
use support::{drover, recap, run, s, write};

const WEB1: &str = "web1.staging.example.com";
const WEB2: &str = "web2.staging.example.com";
const API1: &str = "api1.staging.example.com";
const WORKER1: &str = "worker1.staging.example.com";
const DB1: &str = "db1.staging.example.com";
const LB1: &str = "lb1.staging.example.com";

/// The version in the shipped `group_vars/all.yml`.
const VERSION: &str = "1.4.2";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Test hosts standing in for some of the staging machines.
struct Staging {
    hosts: TestHosts,
    names: Vec<&'static str>,
    /// The inventory that points the staging names at the test hosts.
    connect: PathBuf,
}

impl Staging {
    fn up(names: &[&'static str]) -> Option<Staging> {
        let hosts = TestHosts::up(names.len())?;
        let mut text = String::from(
            "# Points the staging machines at test hosts; everything else comes from \
             inventory/staging.yml and its group_vars/host_vars.\n",
        );
        for (i, name) in names.iter().enumerate() {
            text.push_str(&format!(
                "{name} ansible_host=127.0.0.1 ansible_port={} ansible_user=deploy \
                 ansible_ssh_private_key_file={}\n",
                hosts.hosts[i].port,
                hosts.key.display()
            ));
            aptrepo::install_into(&hosts, i, &["1.0"]);
        }
        let connect = write(hosts.dir.path(), "connect.ini", &text);
        Some(Staging {
            hosts,
            names: names.to_vec(),
            connect,
        })
    }

    fn i(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} is not up"))
    }

    fn common(&self, cmd: &mut Command) {
        let kh = self.hosts.known_hosts();
        cmd.args(["-i", "inventory/staging.yml", "-i", s(&self.connect)])
            .args(["--known-hosts", s(&kh), "--host-key-checking", "accept-new"])
            .current_dir(repo());
    }

    /// Runs a shipped playbook: (exit code, stdout + stderr).
    fn play(&self, playbook: &str, extra: &[&str]) -> (i32, String) {
        let t = Instant::now();
        let mut cmd = drover();
        cmd.arg("play");
        self.common(&mut cmd);
        cmd.arg(format!("playbooks/{playbook}")).args(extra);
        let (code, out, err) = run(&mut cmd);
        eprintln!("{playbook} {extra:?}: {:.1?}", t.elapsed());
        (code, format!("{out}\n--- stderr ---\n{err}"))
    }

    /// Runs one ad-hoc command with sudo on `pattern`; asserts it succeeded everywhere.
    fn assert_command(&self, pattern: &str, command: &str) {
        let mut cmd = drover();
        cmd.args(["run", pattern]);
        self.common(&mut cmd);
        cmd.args(["-b", "-m", "command", "-a", command]);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{pattern}: {command}\n{out}{err}");
    }

    fn read(&self, name: &str, p: &str) -> String {
        std::fs::read_to_string(self.hosts.path(self.i(name), p))
            .unwrap_or_else(|e| panic!("{name}: reading {p}: {e}"))
    }

    fn sh(&self, name: &str, cmd: &str) -> String {
        let (rc, out) = self.hosts.sh(self.i(name), cmd);
        assert_eq!(rc, 0, "{name}: {cmd}: {out}");
        out
    }

    fn exists(&self, name: &str, p: &str) -> bool {
        self.hosts.path(self.i(name), p).symlink_metadata().is_ok()
    }

    /// The recap says `names` (all hosts when empty) changed nothing and failed nothing.
    fn assert_unchanged(&self, out: &str, names: &[&str]) {
        let names = if names.is_empty() {
            &self.names[..]
        } else {
            names
        };
        for n in names {
            let r = recap(out, n);
            assert_eq!(
                (r.changed, r.failed),
                (0, 0),
                "{n} in the second run:\n{out}"
            );
        }
    }
}

/// Whether init script `name` starts in runlevel 2 of root `root`.
fn enabled_in(root: &Path, name: &str) -> bool {
    std::fs::read_dir(root.join("etc/rc2.d"))
        .map(|rd| {
            rd.flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with('S') && n.len() > 3 && &n[3..] == name
            })
        })
        .unwrap_or(false)
}

/// The configuration the app role writes, as a list of `key = value` lines.
fn app_conf(name: &str, env: &str, colour: &str, port: u16, workers: u32) -> String {
    format!(
        "name = {name}\nenv = {env}\nversion = {VERSION}\ncolour = {colour}\nport = {port}\n\
         workers = {workers}\nlog_level = debug\nlog_dir = /var/log/app\n"
    )
}

/// The body of a file after its first (`# managed`) line.
fn body(text: &str) -> &str {
    text.split_once('\n').map_or("", |x| x.1)
}

const ALICE_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ+F6Og81JC3qyiiVtX6j0TptqcUB7ou9lInJGO3wzat alice@example.com";

/// The base role's state: admins, their keys, sudoers, hardened sshd.
fn assert_base(st: &Staging, name: &str) {
    let pw = st.sh(name, "getent passwd alice bob");
    for (user, comment) in [("alice", "Alice Example"), ("bob", "Bob Example")] {
        let line = pw
            .lines()
            .find(|l| l.starts_with(&format!("{user}:")))
            .unwrap_or_else(|| panic!("{name}: no user {user}"));
        assert!(
            line.ends_with(&format!(":{comment}:/home/{user}:/bin/bash")),
            "{name}: {line}"
        );
        let groups = st.sh(name, &format!("id -nG {user}"));
        assert!(
            groups.split_whitespace().any(|g| g == "sudo"),
            "{name}: {groups}"
        );
    }
    assert_eq!(
        st.read(name, "/home/alice/.ssh/authorized_keys"),
        format!("{ALICE_KEY}\n")
    );
    assert_eq!(
        st.read(name, "/etc/sudoers.d/admins"),
        "# Managed by drover (role base).\n%sudo ALL=(ALL:ALL) NOPASSWD: ALL\n"
    );
    let sshd = st.read(name, "/etc/ssh/sshd_config");
    for line in [
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "X11Forwarding no",
        "MaxAuthTries 3",
    ] {
        let key = line.split(' ').next().unwrap();
        let found: Vec<&str> = sshd
            .lines()
            .filter(|l| l.trim_start_matches('#').starts_with(key))
            .collect();
        assert_eq!(found, [line], "{name}: sshd_config:\n{sshd}");
    }
}

/// The runtime and app roles' state on an application server, with the server running.
fn assert_app(st: &Staging, name: &str, conf: &str, version: &str, log: &str) {
    assert_eq!(
        installed(&st.hosts, st.i(name), "nodejs").as_deref(),
        Some("18.19.0+dfsg-6~deb12u2"),
        "{name}"
    );
    let pw = st.sh(name, "getent passwd app");
    assert!(
        pw.ends_with(":/srv/app:/usr/sbin/nologin\n"),
        "{name}: {pw}"
    );
    assert_eq!(
        st.sh(name, "readlink /srv/app/current"),
        format!("/srv/app/releases/{version}\n")
    );
    assert_eq!(
        st.sh(name, "cat /srv/app/current/VERSION"),
        format!("{version}\n")
    );
    let written = st.read(name, "/srv/app/shared/app.conf");
    assert_eq!(body(&written), conf, "{name}: app.conf");
    assert_eq!(
        st.sh(
            name,
            "stat -c '%U:%G %a' /srv/app/shared/app.conf /srv/app/shared"
        ),
        "root:app 640\napp:app 755\n"
    );
    // The server loaded exactly that configuration, as the app user.
    assert_eq!(
        st.read(name, "/srv/app/shared/health"),
        format!("version={version}\n{written}"),
        "{name}"
    );
    let app_name = conf.lines().next().unwrap().trim_start_matches("name = ");
    assert_eq!(
        st.read(name, &format!("/var/log/app/{app_name}.service.log")),
        log,
        "{name}: service actions"
    );
    assert!(
        enabled_in(&st.hosts.hosts[st.i(name)].root, app_name),
        "{name}"
    );
}

/// The proxy's upstream block, without the comment lines.
fn upstream(st: &Staging) -> String {
    let site = st.read(LB1, "/etc/nginx/sites-enabled/app.conf");
    let start = site.find("upstream ").expect("an upstream block");
    let end = site[start..].find("}\n").expect("end of upstream") + start + 2;
    site[start..end].to_string()
}

fn upstream_with(primary: &str, backup: &str) -> String {
    format!(
        "upstream app_backend {{\n    server {primary}:8080 max_fails=3 fail_timeout=10s;\n    \
         server {backup}:8080 backup;\n}}\n"
    )
}

#[test]
fn site_converges_every_staging_machine_and_is_idempotent() {
    let names = [WEB1, WEB2, API1, WORKER1, DB1, LB1];
    let Some(st) = Staging::up(&names) else {
        return;
    };
    let (code, out) = st.play("site.yml", &[]);
    assert_eq!(code, 0, "{out}");
    for n in names {
        let r = recap(&out, n);
        assert_eq!((r.failed, r.unreachable), (0, 0), "{n}: {out}");
        assert!(r.changed > 0, "{n}: {out}");
    }
    for n in names {
        assert_base(&st, n);
    }
    let started = "start\nrestart\n";
    assert_app(
        &st,
        WEB1,
        &app_conf("web", "staging", "blue", 8080, 2),
        VERSION,
        started,
    );
    assert_app(
        &st,
        WEB2,
        &app_conf("web", "staging", "green", 8080, 2),
        VERSION,
        started,
    );
    assert_app(
        &st,
        API1,
        &app_conf("api", "staging", "", 8081, 4),
        VERSION,
        started,
    );
    // host_vars/worker1.staging.example.com.yml: 8 workers.
    assert_app(
        &st,
        WORKER1,
        &app_conf("worker", "staging", "", 9090, 8),
        VERSION,
        started,
    );
    assert_eq!(
        installed(&st.hosts, st.i(DB1), "redis-server").as_deref(),
        Some("7.0.15-1")
    );
    assert_eq!(st.read(DB1, "/var/log/redis-server.initlog"), "start\n");
    assert!(
        installed(&st.hosts, st.i(DB1), "nodejs").is_none(),
        "db has no runtime"
    );

    // The proxy: blue (lb_live_colour in group_vars/all.yml) primary, green backup.
    assert_eq!(
        installed(&st.hosts, st.i(LB1), "nginx").as_deref(),
        Some("1.22.1-9")
    );
    assert!(!st.exists(LB1, "/etc/nginx/sites-enabled/default"));
    assert_eq!(upstream(&st), upstream_with(WEB1, WEB2));
    let site = st.read(LB1, "/etc/nginx/sites-enabled/app.conf");
    assert!(
        site.contains("    listen 80;\n    server_name www.staging.example.com;\n"),
        "{site}"
    );
    assert!(
        site.contains("        proxy_pass http://app_backend;\n"),
        "{site}"
    );
    assert_eq!(st.read(LB1, "/var/log/nginx.initlog"), "start\nreload\n");

    // The daemons answer.
    st.assert_command(
        "front:api:workers",
        "/srv/app/current/bin/healthcheck /srv/app/shared",
    );
    st.assert_command("db", "/etc/init.d/redis-server status");
    st.assert_command("lb", "/etc/init.d/nginx status");

    // Converged: nothing changes, nothing restarts or reloads.
    let (code, out) = st.play("site.yml", &[]);
    assert_eq!(code, 0, "{out}");
    st.assert_unchanged(&out, &[]);
    assert!(!out.contains("RUNNING HANDLER"), "{out}");
    assert_app(
        &st,
        WEB1,
        &app_conf("web", "staging", "blue", 8080, 2),
        VERSION,
        started,
    );
    assert_eq!(st.read(LB1, "/var/log/nginx.initlog"), "start\nreload\n");
    assert_eq!(st.read(DB1, "/var/log/redis-server.initlog"), "start\n");
}

#[test]
fn rolling_deploy_stops_at_a_failing_canary_then_rolls_out() {
    let names = [WEB1, WEB2, API1, WORKER1];
    let Some(st) = Staging::up(&names) else {
        return;
    };

    // A broken configuration: the canary's server refuses to start, its smoke test fails,
    // and no other server is touched.
    let (code, out) = st.play("rolling.yml", &["-e", "app_port=0"]);
    assert_eq!(code, 2, "{out}");
    let canary = recap(&out, WEB1);
    assert_eq!(canary.failed, 1, "{out}");
    assert!(out.contains("Smoke-test the running release"), "{out}");
    assert!(st
        .read(WEB1, "/srv/app/shared/app.conf")
        .contains("\nport = 0\n"));
    assert!(
        !st.exists(WEB1, "/srv/app/shared/health"),
        "the server must not run"
    );
    for n in [WEB2, API1, WORKER1] {
        assert!(
            !out.contains(&format!("[{n}]")) && !out.contains(&format!("\n{n} ")),
            "{n} must not appear:\n{out}"
        );
        assert!(!st.exists(n, "/srv/app"), "{n} was touched");
        assert!(
            installed(&st.hosts, st.i(n), "nodejs").is_none(),
            "{n} was touched"
        );
    }

    // The good configuration rolls out: canary, then batches; every server healthy.
    let (code, out) = st.play("rolling.yml", &[]);
    assert_eq!(code, 0, "{out}");
    assert_app(
        &st,
        WEB1,
        &app_conf("web", "staging", "blue", 8080, 2),
        VERSION,
        // The broken run started it (it exited at once) and restarted it; this run finds it
        // stopped, starts it and restarts it for the new configuration.
        "start\nrestart\nstart\nrestart\n",
    );
    assert_app(
        &st,
        WEB2,
        &app_conf("web", "staging", "green", 8080, 2),
        VERSION,
        "start\nrestart\n",
    );
    assert_app(
        &st,
        API1,
        &app_conf("api", "staging", "", 8081, 4),
        VERSION,
        "start\nrestart\n",
    );
    assert_app(
        &st,
        WORKER1,
        &app_conf("worker", "staging", "", 9090, 8),
        VERSION,
        "start\nrestart\n",
    );

    let (code, out) = st.play("rolling.yml", &[]);
    assert_eq!(code, 0, "{out}");
    st.assert_unchanged(&out, &[]);
}

#[test]
fn blue_green_switches_the_proxy_and_keeps_the_old_colour_as_backup() {
    let names = [WEB1, WEB2, LB1];
    let Some(st) = Staging::up(&names) else {
        return;
    };

    // Blue goes live first: primary blue, backup green (not deployed yet).
    let (code, out) = st.play("blue-green.yml", &["-e", "new_colour=blue"]);
    assert_eq!(code, 0, "{out}");
    assert!(!st.exists(WEB2, "/srv/app"), "green is not deployed yet");
    assert_eq!(upstream(&st), upstream_with(WEB1, WEB2));
    assert_eq!(st.read(LB1, "/var/log/nginx.initlog"), "start\nreload\n");

    // Release 1.5.0 on green, then the switch: green primary, blue backup; blue untouched.
    let (code, out) = st.play(
        "blue-green.yml",
        &["-e", "new_colour=green", "-e", "app_version=1.5.0"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(upstream(&st), upstream_with(WEB2, WEB1));
    assert!(st
        .read(LB1, "/etc/nginx/sites-enabled/app.conf")
        .contains("# Live colour: green; backup: blue.\n"));
    assert_eq!(
        st.read(LB1, "/var/log/nginx.initlog"),
        "start\nreload\nreload\n"
    );
    assert_eq!(
        recap(&out, LB1).changed,
        2,
        "the site file and the reload\n{out}"
    );
    assert!(
        !out.contains(&format!("[{WEB1}]")),
        "blue is not touched:\n{out}"
    );
    assert_eq!(st.sh(WEB2, "cat /srv/app/current/VERSION"), "1.5.0\n");
    assert!(st
        .read(WEB2, "/srv/app/shared/health")
        .starts_with("version=1.5.0\n"));
    assert_eq!(
        st.sh(WEB1, "cat /srv/app/current/VERSION"),
        format!("{VERSION}\n")
    );
    assert!(st
        .read(WEB1, "/srv/app/shared/health")
        .starts_with(&format!("version={VERSION}\n")));

    // The same switch again changes nothing.
    let (code, out) = st.play(
        "blue-green.yml",
        &["-e", "new_colour=green", "-e", "app_version=1.5.0"],
    );
    assert_eq!(code, 0, "{out}");
    st.assert_unchanged(&out, &[WEB2, LB1]);
    assert_eq!(
        st.read(LB1, "/var/log/nginx.initlog"),
        "start\nreload\nreload\n"
    );

    // A colour that fails its check is not switched to: the proxy stays on green.
    let before = st.read(LB1, "/etc/nginx/sites-enabled/app.conf");
    let (code, out) = st.play(
        "blue-green.yml",
        &[
            "-e",
            "new_colour=blue",
            "-e",
            "app_version=1.6.0",
            "-e",
            "app_port=0",
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert_eq!(recap(&out, WEB1).failed, 1, "{out}");
    assert_eq!(st.read(LB1, "/etc/nginx/sites-enabled/app.conf"), before);
    assert_eq!(
        st.read(LB1, "/var/log/nginx.initlog"),
        "start\nreload\nreload\n"
    );
    assert!(st
        .read(WEB2, "/srv/app/shared/health")
        .starts_with("version=1.5.0\n"));
}

/// An overlay of the cached test-host base, mounted in a temp dir, unmounted on drop.
struct Image {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Image {
    fn mount() -> Option<Image> {
        // Builds the cached base if needed, or says why it cannot (and the test skips).
        TestHosts::up(0)?;
        let base = support::hosts::cache_dir().join("base-bookworm");
        let dir = tempfile::tempdir().expect("temp dir");
        for d in ["upper", "work", "root"] {
            std::fs::create_dir(dir.path().join(d)).expect("mkdir");
        }
        let root = dir.path().join("root");
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            base.display(),
            dir.path().join("upper").display(),
            dir.path().join("work").display()
        );
        let (code, out, err) = run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&root));
        assert_eq!(code, 0, "mount the image overlay: {out}{err}");
        Some(Image { dir, root })
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.root.join(p.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("image: reading {p}: {e}"))
    }

    fn sh(&self, cmd: &str) -> String {
        let (code, out, err) = run(Command::new("chroot")
            .arg(&self.root)
            .args(["/bin/sh", "-c", cmd]));
        assert_eq!(code, 0, "image: {cmd}: {out}{err}");
        out
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.root).status();
    }
}

#[test]
fn bake_image_provisions_an_image_directory_over_chroot() {
    let Some(image) = Image::mount() else {
        return;
    };
    aptrepo::publish_into(&image.root, &["1.0"]);
    let connect = write(
        image.dir.path(),
        "connect.ini",
        &format!("web-image ansible_host={}\n", s(&image.root)),
    );
    let bake = || {
        let t = Instant::now();
        let mut cmd = drover();
        cmd.args(["play", "-i", "inventory/image.ini", "-i", s(&connect)])
            .arg("playbooks/bake-image.yml")
            .current_dir(repo());
        let (code, out, err) = run(&mut cmd);
        eprintln!("bake-image.yml: {:.1?}", t.elapsed());
        (code, format!("{out}\n--- stderr ---\n{err}"))
    };

    let (code, out) = bake();
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out, "web-image").changed > 10, "{out}");

    // Baked: the runtime, the accounts, sshd hardened, the release and its config.
    let pkgs = image.sh("dpkg-query -W -f='${Package} ${Status}\\n' nodejs openssh-server");
    assert_eq!(
        pkgs,
        "nodejs install ok installed\nopenssh-server install ok installed\n"
    );
    let pw = image.sh("getent passwd alice app");
    assert!(
        pw.contains(":Alice Example:/home/alice:/bin/bash\n"),
        "{pw}"
    );
    assert!(pw.contains(":/srv/app:/usr/sbin/nologin\n"), "{pw}");
    assert_eq!(
        image.read("/home/alice/.ssh/authorized_keys"),
        format!("{ALICE_KEY}\n")
    );
    let sshd = image.read("/etc/ssh/sshd_config");
    for line in [
        "PasswordAuthentication no",
        "PermitRootLogin prohibit-password",
    ] {
        assert_eq!(sshd.lines().filter(|l| *l == line).count(), 1, "{sshd}");
    }
    assert_eq!(
        image.sh("readlink /srv/app/current"),
        "/srv/app/releases/1.4.2\n"
    );
    let conf = image.read("/srv/app/shared/app.conf");
    assert!(
        conf.contains("name = web\nenv = production\nversion = 1.4.2\n"),
        "{conf}"
    );
    assert!(conf.contains("\nlog_level = warn\n"), "{conf}");

    // Enabled, not started: the init script and its boot links, but no server has run.
    assert!(image
        .read("/etc/init.d/web")
        .contains("DAEMON=/srv/app/current/bin/server\n"));
    assert!(enabled_in(&image.root, "web"));
    for p in [
        "srv/app/shared/server.pid",
        "srv/app/shared/health",
        "var/log/app/web.service.log",
    ] {
        assert!(
            !image.root.join(p).exists(),
            "{p}: a service ran in the image"
        );
    }
    // The guard against package scripts starting services is gone again, and no host key
    // was left behind by the sshd check.
    assert!(!image.root.join("usr/sbin/policy-rc.d").exists());
    assert_eq!(image.sh("ls /etc/ssh | grep -c host_key || true"), "0\n");

    // Baking again changes nothing.
    let (code, out) = bake();
    assert_eq!(code, 0, "{out}");
    let r = recap(&out, "web-image");
    assert_eq!((r.changed, r.failed), (0, 0), "{out}");
}
