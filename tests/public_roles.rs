//! Roles written in the style of widely used public Ansible roles (`tests/fixtures/public_roles`:
//! memcached, redis, security hardening, and nginx depending on a firewall role) run unchanged
//! on two isolated Debian test hosts, as `deploy` with sudo, against stand-in packages from the
//! local apt repository (`support/aptrepo.rs`). The test checks the state each role leaves on
//! the hosts, then that a second run and a `--check` run change nothing.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;
use support::aptrepo::{self, installed};
use support::hosts::TestHosts;
use support::{drover, recap, run, s};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/public_roles")
}

/// Runs `site.yml` on every test host as `deploy` with sudo: (exit code, stdout + stderr).
fn site(hosts: &TestHosts, extra: &[&str]) -> (i32, String) {
    let inv = hosts.inventory("deploy", "");
    let kh = hosts.known_hosts();
    let pb = fixture().join("site.yml");
    let mut cmd = drover();
    cmd.args(["play", "-i", s(&inv), s(&pb), "--known-hosts", s(&kh)])
        .args(["--host-key-checking", "accept-new", "-b"])
        .args(extra)
        .current_dir(fixture());
    let (code, out, err) = run(&mut cmd);
    (code, format!("{out}\n--- stderr ---\n{err}"))
}

fn read(hosts: &TestHosts, i: usize, p: &str) -> String {
    std::fs::read_to_string(hosts.path(i, p))
        .unwrap_or_else(|e| panic!("host {i}: reading {p}: {e}"))
}

/// (mode bits, owner name, group name) of a path in host `i`.
fn owner_mode(hosts: &TestHosts, i: usize, p: &str) -> (u32, String, String) {
    let (rc, out) = hosts.sh(i, &format!("stat -c '%U %G' {p}"));
    assert_eq!(rc, 0, "host {i}: stat {p}: {out}");
    let (u, g) = out.trim().split_once(' ').expect("owner and group");
    let mode = std::fs::metadata(hosts.path(i, p))
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777;
    (mode, u.to_string(), g.to_string())
}

/// The start links of init script `name` in runlevel 2 of host `i`.
fn enabled(hosts: &TestHosts, i: usize, name: &str) -> bool {
    std::fs::read_dir(hosts.path(i, "/etc/rc2.d"))
        .map(|rd| {
            rd.flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with('S') && n.len() > 3 && &n[3..] == name
            })
        })
        .unwrap_or(false)
}

/// What each init script logged, per host: changes only when a service starts or restarts.
fn init_logs(hosts: &TestHosts, i: usize) -> Vec<(String, String)> {
    ["memcached", "redis-server", "nginx", "firewall"]
        .iter()
        .map(|n| {
            let p = format!("/var/log/{n}.initlog");
            (
                n.to_string(),
                std::fs::read_to_string(hosts.path(i, &p)).unwrap_or_default(),
            )
        })
        .collect()
}

/// Whether an init script's log shows one start and then one restart (drover runs the
/// script's `restart`; Ansible's `service` runs `stop` and `start`).
fn started_then_restarted(log: &str) -> bool {
    log == "start\nrestart\n" || log == "start\nstop\nstart\n"
}

fn assert_converged(hosts: &TestHosts, i: usize) {
    let host = &hosts.hosts[i].name;
    // Packages, from the local repository.
    for (pkg, ver) in [
        ("memcached", "1.6.18-1"),
        ("redis-server", "7.0.15-1"),
        ("nginx", "1.22.1-9"),
    ] {
        assert_eq!(installed(hosts, i, pkg).as_deref(), Some(ver), "{pkg}");
    }

    // memcached: the template with the role parameter and the OS-family user; the daemon was
    // restarted by the handler and loaded exactly that file.
    let conf = read(hosts, i, "/etc/memcached.conf");
    for line in [
        "-m 96\n",
        "-p 11211\n",
        "-u memcache\n",
        "-l 127.0.0.1\n",
        "-c 1024\n",
    ] {
        assert!(
            conf.contains(line),
            "memcached.conf lacks {line:?}:\n{conf}"
        );
    }
    assert!(
        conf.contains(&format!("configuration for h{i}\n")),
        "{conf}"
    );
    assert_eq!(
        read(hosts, i, "/var/lib/drover-fake/memcached.loaded"),
        conf
    );
    let log = read(hosts, i, "/var/log/memcached.initlog");
    assert!(started_then_restarted(&log), "memcached: {log:?}");
    assert!(enabled(hosts, i, "memcached"));

    // redis: lineinfile edits of the packaged file, the local include, the user from the
    // package's postinst owning the data directory.
    let conf = read(hosts, i, "/etc/redis/redis.conf");
    assert_eq!(
        conf,
        "# Redis configuration file example.\n\
         bind 127.0.0.1\n\
         protected-mode yes\n\
         port 6379\n\
         daemonize yes\n\
         pidfile /run/redis/redis-server.pid\n\
         loglevel notice\n\
         logfile /var/log/redis/redis-server.log\n\
         databases 16\n\
         maxmemory 128mb\n\
         maxmemory-policy allkeys-lru\n\
         dir /var/lib/redis\n\
         include /etc/redis/redis-local.conf\n"
    );
    let local = read(hosts, i, "/etc/redis/redis-local.conf");
    assert_eq!(
        local.split_once('\n').map(|x| x.1),
        Some(
            "appendonly no\nsave 900 1\nsave 300 10\nsave 60 10000\n\
             rename-command FLUSHDB \"\"\nrename-command FLUSHALL \"\"\n"
        ),
        "{local}"
    );
    assert_eq!(
        owner_mode(hosts, i, "/etc/redis/redis-local.conf"),
        (0o640, "root".into(), "redis".into())
    );
    assert_eq!(
        owner_mode(hosts, i, "/var/lib/redis"),
        (0o750, "redis".into(), "redis".into())
    );
    assert_eq!(
        read(hosts, i, "/var/lib/drover-fake/redis-server.loaded"),
        conf
    );
    let log = read(hosts, i, "/var/log/redis-server.initlog");
    assert!(started_then_restarted(&log), "redis-server: {log:?}");
    assert!(enabled(hosts, i, "redis-server"));

    // security: sshd_config edited in place (validated by sshd -T), one line per setting.
    let sshd = read(hosts, i, "/etc/ssh/sshd_config");
    for line in [
        "PasswordAuthentication no",
        "PermitRootLogin prohibit-password",
        "PermitEmptyPasswords no",
        "KbdInteractiveAuthentication no",
        "X11Forwarding no",
        "MaxAuthTries 3",
        "MaxSessions 10",
        "Banner /etc/issue.net",
    ] {
        let key = line.split(' ').next().unwrap();
        let found: Vec<&str> = sshd.lines().filter(|l| l.starts_with(key)).collect();
        assert_eq!(found, [line], "sshd_config:\n{sshd}");
    }
    assert_eq!(
        owner_mode(hosts, i, "/etc/ssh/sshd_config"),
        (0o600, "root".into(), "root".into())
    );
    assert_eq!(
        read(hosts, i, "/etc/issue.net"),
        format!("{host}: authorised access only (Debian 12).\n")
    );
    assert_eq!(
        read(hosts, i, "/etc/sysctl.d/90-hardening.conf")
            .split_once('\n')
            .map(|x| x.1.to_string()),
        Some(
            "kernel.dmesg_restrict = 1\nkernel.kptr_restrict = 2\n\
             net.ipv4.conf.all.accept_redirects = 0\nnet.ipv4.conf.all.rp_filter = 1\n\
             net.ipv4.tcp_syncookies = 1\n"
                .to_string()
        )
    );
    let defs = read(hosts, i, "/etc/login.defs");
    assert!(defs.lines().any(|l| l == "UMASK\t\t027"), "login.defs");
    assert!(
        defs.lines().any(|l| l == "PASS_MAX_DAYS\t\t90"),
        "login.defs"
    );
    assert_eq!(defs.lines().filter(|l| l.starts_with("UMASK")).count(), 1);
    assert_eq!(hosts.sh(i, "getent group ops").1, "ops:x:2500:\n");
    for (user, uid, comment) in [
        ("alice", 2501, "Alice Operator"),
        ("bob", 2502, "Bob Operator"),
    ] {
        assert_eq!(
            hosts.sh(i, &format!("getent passwd {user}")).1,
            format!("{user}:x:{uid}:2500:{comment}:/home/{user}:/bin/bash\n")
        );
        assert_eq!(hosts.sh(i, &format!("id -nG {user}")).1, "ops users\n");
        assert_eq!(
            owner_mode(hosts, i, &format!("/home/{user}")),
            (0o750, user.into(), "ops".into())
        );
    }
    assert_eq!(
        read(hosts, i, "/etc/sudoers.d/ops"),
        "# Managed by the security role.\n%ops ALL=(ALL) NOPASSWD: ALL\n"
    );
    assert_eq!(
        owner_mode(hosts, i, "/etc/sudoers.d/ops"),
        (0o440, "root".into(), "root".into())
    );

    // firewall, pulled in by nginx's meta dependency with its parameters.
    let rules = read(hosts, i, "/etc/firewall/rules.v4");
    for port in ["22", "80", "8080"] {
        let l = format!("-A INPUT -p tcp -m tcp --dport {port} -j ACCEPT\n");
        assert!(rules.contains(&l), "rules.v4 lacks port {port}:\n{rules}");
    }
    assert!(
        !rules.contains("LOG"),
        "firewall_log_dropped_packets: false\n{rules}"
    );
    assert_eq!(read(hosts, i, "/var/lib/firewall/active.rules"), rules);
    let log = read(hosts, i, "/var/log/firewall.initlog");
    assert!(started_then_restarted(&log), "firewall: {log:?}");
    assert!(enabled(hosts, i, "firewall"));
    let meta = std::fs::metadata(hosts.path(i, "/etc/init.d/firewall")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o755);

    // nginx: the loop templates, the default vhost gone, one reload from the `listen` topic.
    let conf = read(hosts, i, "/etc/nginx/nginx.conf");
    assert!(
        conf.contains(
            "    upstream app {\n        least_conn;\n        server 127.0.0.1:8001;\n        server 127.0.0.1:8002;\n    }\n"
        ),
        "{conf}"
    );
    assert!(conf.contains("user www-data;\n"), "{conf}");
    assert!(!hosts.path(i, "/etc/nginx/sites-enabled/default").exists());
    let www = read(hosts, i, "/etc/nginx/sites-enabled/www.example.test.conf");
    assert!(www.contains("    root /var/www/example;\n"), "{www}");
    assert!(!www.contains("proxy_pass"), "{www}");
    let api = read(hosts, i, "/etc/nginx/sites-enabled/api.example.test.conf");
    assert!(api.contains("    listen 8080;\n"), "{api}");
    assert!(api.contains("proxy_pass http://app;"), "{api}");
    assert_eq!(
        read(hosts, i, "/var/www/example/index.html"),
        "<h1>www.example.test</h1>\n"
    );
    assert_eq!(read(hosts, i, "/var/log/nginx.initlog"), "start\nreload\n");
    assert!(enabled(hosts, i, "nginx"));
}

#[test]
fn public_style_roles_converge_and_are_idempotent() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    for i in 0..hosts.hosts.len() {
        aptrepo::install_into(&hosts, i, &["1.0"]);
    }

    // The first run converges both hosts (the apt cache starts empty: the play updates it).
    let t = Instant::now();
    let (code, out) = site(&hosts, &[]);
    eprintln!("first run: {:.1?}", t.elapsed());
    assert_eq!(code, 0, "{out}");
    for i in 0..2 {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.failed, r.unreachable), (0, 0), "{out}");
        assert!(r.changed >= 30, "h{i}: {r:?}\n{out}");
    }
    for i in 0..2 {
        assert_converged(&hosts, i);
    }
    let logs: Vec<_> = (0..2).map(|i| init_logs(&hosts, i)).collect();

    // The second run changes nothing, runs no handler, and sshd (reloaded by the first run's
    // handler) still lets us in.
    let t = Instant::now();
    let (code, out) = site(&hosts, &[]);
    eprintln!("second run: {:.1?}", t.elapsed());
    assert_eq!(code, 0, "{out}");
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(recap(&out, &format!("h{i}")).changed, 0, "h{i}:\n{out}");
        assert_eq!(&init_logs(&hosts, i), log, "a service was restarted");
        assert_converged(&hosts, i);
    }

    // Check mode on the converged hosts predicts no change either.
    let (code, out) = site(&hosts, &["--check", "--diff"]);
    assert_eq!(code, 0, "{out}");
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(recap(&out, &format!("h{i}")).changed, 0, "h{i}:\n{out}");
        assert_eq!(&init_logs(&hosts, i), log, "check mode ran an init script");
    }
}
