//! `~/.ssh/config` and `ProxyJump`: a target in a network namespace only a jump host can
//! reach is configured through the ssh config alone (HostName, User, IdentityFile, ProxyJump,
//! StrictHostKeyChecking, UserKnownHostsFile); HostName/User/Port/IdentityFile, `-J` and
//! `ProxyCommand ssh -W` in `ansible_ssh_common_args` work against a normal test host,
//! inventory variables winning; a
//! wrong jump host is reported unreachable, naming it; a chain of tunnels carries megabytes
//! both ways and its pump threads end when either side closes.

mod support;

use drover::connection::{connect, ConnSpec, HostKeyPolicy};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::hosts::TestHosts;
use support::sshd::TestSshd;
use support::{drover, recap, run, s, write};

/// A home directory with `.ssh/config` (and the test key copied to `.ssh/test_key`).
fn home_with_config(hosts: &TestHosts, config: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    write(home.path(), ".ssh/config", config);
    std::fs::copy(&hosts.key, home.path().join(".ssh/test_key")).unwrap();
    home
}

fn play(home: &Path, inv: &str, pb: &Path, extra: &[&str]) -> (i32, String, String) {
    let inv_path = write(home, "inventory.ini", inv);
    let mut cmd = drover();
    cmd.env("HOME", home)
        .args(["play", "-i", s(&inv_path), s(pb)])
        .args(extra);
    run(&mut cmd)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn playbook_runs_on_a_target_reachable_only_through_a_proxyjump() {
    let Some(hosts) = TestHosts::up_behind_jump() else {
        return;
    };
    let net = hosts.jumpnet.as_ref().unwrap();
    let jump_port = hosts.hosts[0].port;
    let target: SocketAddr = format!("{}:22", net.target_addr).parse().unwrap();
    // The controller cannot reach the target at all.
    assert!(
        TcpStream::connect_timeout(&target, Duration::from_secs(5)).is_err(),
        "{target} is reachable from the controller: the test network is wrong"
    );
    let config = format!(
        "# drover test
Host bastion
  HostName {jump}
  Port {jump_port}
  User root
Host app
  HostName={target_addr}
  User deploy
  ProxyJump bastion
Host *
  IdentityFile ~/.ssh/test_key
  StrictHostKeyChecking accept-new
  UserKnownHostsFile %d/.ssh/known_hosts_test
",
        jump = net.jump_addr,
        target_addr = net.target_addr,
    );
    let home = home_with_config(&hosts, &config);
    let pb = write(
        home.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        content: \"written by {{ inventory_hostname }}\\n\"\n        dest: /home/deploy/through-jump\n    - command: hostname\n      register: h\n      changed_when: false\n    - copy:\n        content: \"{{ h.stdout }}\\n\"\n        dest: /home/deploy/hostname\n",
    );

    // Without the ssh config, a direct connection fails: the host is unreachable.
    let direct = format!(
        "app ansible_host={} ansible_user=deploy ansible_ssh_private_key_file={}\n",
        net.target_addr,
        hosts.key.display()
    );
    let inv_path = write(home.path(), "direct.ini", &direct);
    let (code, out, err) = run(drover()
        .env("HOME", home.path())
        .env("DROVER_SSH_CONFIG", "none")
        .args(["play", "-i", s(&inv_path), s(&pb), "-T", "2"])
        .args(["--host-key-checking", "accept-new"]));
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(recap(&out, "app").unreachable, 1, "{out}");

    // Through the jump host named in ~/.ssh/config: every connection setting comes from it.
    let started = std::time::Instant::now();
    let (code, out, err) = play(home.path(), "app\n", &pb, &[]);
    let first_run = started.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "app").changed, 2, "{out}");
    let written = std::fs::read_to_string(hosts.path(1, "/home/deploy/through-jump")).unwrap();
    assert_eq!(written, "written by app\n");
    assert_eq!(
        std::fs::read_to_string(hosts.path(1, "/home/deploy/hostname")).unwrap(),
        format!("{}\n", hosts.hosts[1].name),
        "the commands ran on the target"
    );
    let (_, owner) = hosts.sh(1, "stat -c %U /home/deploy/through-jump");
    assert_eq!(owner.trim(), "deploy");
    assert!(
        !hosts.path(0, "/home/deploy/through-jump").exists(),
        "nothing is written on the jump host"
    );
    // The jump host opened a direct-tcpip channel for it.
    let jump_log = std::fs::read_to_string(
        Path::new(&hosts.hosts[0].root)
            .parent()
            .unwrap()
            .join("sshd.log"),
    )
    .unwrap();
    assert!(
        jump_log.contains("direct-tcpip"),
        "no direct-tcpip request in the jump host's sshd log:\n{jump_log}"
    );
    // Both host keys were recorded (accept-new) in the ssh config's known_hosts file.
    let kh = std::fs::read_to_string(home.path().join(".ssh/known_hosts_test")).unwrap();
    assert!(
        kh.contains(&format!("[{}]:{jump_port} ", net.jump_addr)),
        "{kh}"
    );
    assert!(
        kh.contains(&format!("{} ssh-ed25519", net.target_addr)),
        "{kh}"
    );

    // Idempotent, and the recorded keys are now checked under strict checking.
    let started = std::time::Instant::now();
    let (code, out, err) = play(
        home.path(),
        "app\n",
        &pb,
        &["--host-key-checking", "strict"],
    );
    eprintln!(
        "through the jump host: first run {first_run:?}, second run {:?}",
        started.elapsed()
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "app").changed, 0, "{out}");
}

#[test]
fn ssh_config_supplies_hostname_user_port_and_identity_and_inventory_wins() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let port = hosts.hosts[0].port;
    let closed = free_port();
    let config = format!(
        "Host web
  HostName 127.0.0.1
  Port {port}
  User deploy
  IdentityFile %d/.ssh/test_key
Host loop
  HostName 127.0.0.1
  Port {port}
  User root
  IdentityFile ~/.ssh/test_key
Host deadend
  HostName 127.0.0.1
  Port 1
  ProxyJump loop
Host refusing
  HostName 127.0.0.1
  Port {closed}
Host behind-refusing
  HostName 127.0.0.1
  ProxyJump refusing
Host netcat
  HostName 127.0.0.1
  ProxyCommand nc %h %p
Host *
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/.ssh/kh
"
    );
    let home = home_with_config(&hosts, &config);
    let pb = write(
        home.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n      changed_when: false\n    - copy:\n        content: \"{{ who.stdout }}\\n\"\n        dest: \"/tmp/who-{{ inventory_hostname }}\"\n",
    );
    // `web`: everything from the config. `web_as_root`: ansible_user wins over its `User`.
    // `via_j`: `-J` in ansible_ssh_common_args, the jump host (the same host, through itself)
    // taken from the config. `via_pc`: Ansible's classic `ProxyCommand ssh -W %h:%p`.
    let direct = format!(
        "ansible_host=127.0.0.1 ansible_port={port} ansible_user=root ansible_ssh_private_key_file={key}",
        key = hosts.key.display()
    );
    let inv = format!(
        "web\nweb_as_root ansible_host=web ansible_user=root\nvia_j {direct} ansible_ssh_common_args='-o ConnectTimeout=5 -J loop'\nvia_pc {direct} ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p -q -p {port} -i {key} root@127.0.0.1\"'\n",
        key = hosts.key.display()
    );
    let (code, out, err) = play(home.path(), &inv, &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    for (host, user) in [
        ("web", "deploy"),
        ("web_as_root", "root"),
        ("via_j", "root"),
        ("via_pc", "root"),
    ] {
        assert_eq!(recap(&out, host).changed, 1, "{host}: {out}");
        let path = format!("/tmp/who-{host}");
        assert_eq!(
            std::fs::read_to_string(hosts.path(0, &path)).unwrap(),
            format!("{user}\n"),
            "{host}"
        );
        let (_, owner) = hosts.sh(0, &format!("stat -c %U {path}"));
        assert_eq!(owner.trim(), user, "{host}");
    }
    // via_j and via_pc went through the host itself: one direct-tcpip channel each.
    let log_path = hosts.hosts[0].root.parent().unwrap().join("sshd.log");
    let tunnels = || {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .matches("confirm direct-tcpip")
            .count()
    };
    assert_eq!(tunnels(), 2);
    let (code, out, err) = play(home.path(), &inv, &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(tunnels(), 4);
    for host in ["web", "web_as_root", "via_j", "via_pc"] {
        assert_eq!(recap(&out, host).changed, 0, "{host}: {out}");
    }

    // A jump host that refuses the connection, and one that cannot reach the target: both
    // unreachable, the message naming the jump host and what failed there.
    let (code, out, err) = play(home.path(), "behind-refusing\ndeadend\nnetcat\n", &pb, &[]);
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(recap(&out, "netcat").unreachable, 1, "{out}");
    assert_eq!(recap(&out, "behind-refusing").unreachable, 1, "{out}");
    assert_eq!(recap(&out, "deadend").unreachable, 1, "{out}");
    let both = format!("{out}{err}");
    assert!(
        both.contains(&format!(
            "jump host `refusing` (127.0.0.1:{closed}): connection refused"
        )),
        "{both}"
    );
    assert!(
        both.contains(&format!(
            "jump host `loop` (127.0.0.1:{port}): cannot open a tunnel to `127.0.0.1:1`"
        )),
        "{both}"
    );

    assert!(
        both.contains("`ProxyCommand nc %h %p` is not supported"),
        "{both}"
    );

    // The jump host's key is checked under the same policy: unknown under strict, refused
    // before anything reaches the target.
    let empty = write(home.path(), "empty_known_hosts", "");
    std::fs::remove_file(hosts.path(0, "/tmp/who-via_j")).unwrap();
    let (code, out, err) = play(
        home.path(),
        &inv,
        &pb,
        &[
            "--limit",
            "via_j",
            "--known-hosts",
            s(&empty),
            "--host-key-checking",
            "strict",
        ],
    );
    assert_eq!(code, 4, "{out}{err}");
    let both = format!("{out}{err}");
    assert!(
        both.contains(&format!(
            "jump host `loop` (127.0.0.1:{port}): host key for `loop` ([127.0.0.1]:{port}) is unknown"
        )),
        "{both}"
    );
    assert!(!hosts.path(0, "/tmp/who-via_j").exists());
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");
}

#[test]
fn ssh_config_errors_name_file_and_line_before_any_host_is_touched() {
    let home = tempfile::tempdir().unwrap();
    let cfg = write(home.path(), "cfg", "Host x\n  Port 70000\n");
    let pb = write(
        home.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n",
    );
    let inv = write(home.path(), "inv.ini", "x\n");
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .env("NO_COLOR", "1")
        .env("HOME", home.path())
        .env("DROVER_SSH_CONFIG", &cfg)
        .args(["play", "-i", s(&inv), s(&pb)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2: `Port` must be a port number, not `70000`",
            cfg.display()
        )),
        "{err}"
    );
}

/// Live tunnel pump threads of this process (they are named `drover-jump`).
fn pump_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "drover-jump")
        })
        .count()
}

#[test]
fn tunnel_chain_carries_megabytes_and_its_threads_end_when_either_side_closes() {
    let Some(sshd) = TestSshd::start() else {
        return;
    };
    // The one throwaway sshd is both jump hosts and the target: 127.0.0.1 → itself → itself.
    let hop = ConnSpec {
        name: "hop".into(),
        transport: "ssh".into(),
        address: "127.0.0.1".into(),
        port: sshd.port(),
        user: Some(sshd.user().to_string()),
        password: None,
        private_keys: vec![sshd.client_key()],
        connect_timeout: Duration::from_secs(10),
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts: sshd.known_hosts_with_host_key(),
        jumps: Vec::new(),
    };
    let target = ConnSpec {
        name: "target".into(),
        jumps: vec![hop.clone(), hop.clone()],
        ..hop.clone()
    };
    let logins = || sshd.log().matches("Accepted publickey").count();
    let mut conn = connect(&target).unwrap();
    assert_eq!(pump_threads(), 2);
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let started = std::time::Instant::now();
    let out = conn.run("cat", Some(&big), None).unwrap();
    let tunnelled = started.elapsed();
    assert!(out.stdout == big, "{} bytes back", out.stdout.len());
    // Three logins (two hops and the target), two of them opening a direct-tcpip channel.
    assert_eq!(logins(), 3, "{}", sshd.log());
    assert_eq!(
        sshd.log().matches("confirm direct-tcpip").count(),
        2,
        "{}",
        sshd.log()
    );
    let mut direct = connect(&hop).unwrap();
    let started = std::time::Instant::now();
    direct.run("cat", Some(&big), None).unwrap();
    eprintln!(
        "3 MB each way: {tunnelled:?} through two jump hosts, {:?} direct",
        started.elapsed()
    );
    drop(direct);
    // Closing our side: dropping the connection joins both pumps.
    drop(conn);
    assert_eq!(pump_threads(), 0);

    // The far side closing: the target's sshd session dies under us; the pumps end while the
    // connection still exists, and the next command reports a broken transport.
    let mut conn = connect(&target).unwrap();
    assert_eq!(pump_threads(), 2);
    let _ = conn.run("kill -9 $PPID", None, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pump_threads() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pump_threads(), 0, "pump threads outlived the far side");
    let err = conn.run("true", None, None).unwrap_err();
    assert!(
        drover::connection::is_transport_error(&err),
        "not a transport error: {err:#}"
    );
    drop(conn);
}

#[test]
fn a_silent_jump_host_times_out_within_the_connect_timeout() {
    // Accepts TCP (the kernel's backlog) but never speaks SSH.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let home = tempfile::tempdir().unwrap();
    write(
        home.path(),
        ".ssh/config",
        &format!(
            "Host silent\n  HostName 127.0.0.1\n  Port {port}\nHost app\n  HostName 10.0.0.1\n  ProxyJump silent\n"
        ),
    );
    let pb = write(
        home.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n",
    );
    let started = std::time::Instant::now();
    let (code, out, err) = play(home.path(), "app\n", &pb, &["-T", "1"]);
    let took = started.elapsed();
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(recap(&out, "app").unreachable, 1, "{out}");
    assert!(
        out.contains(&format!(
            "jump host `silent` (127.0.0.1:{port}): SSH handshake"
        )),
        "{out}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    drop(silent);
}
