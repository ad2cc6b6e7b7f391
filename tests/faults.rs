//! Faults on real test hosts: one host of several breaks (refuses connections, dies mid-task,
//! hangs, runs past a task's `timeout`, has a full disk, loses its connection mid-transfer)
//! and drover reports it within its time limits while the others complete. Each test checks
//! the state on the hosts, the recap and exit code, that the binary exited, and that nothing
//! of drover's (processes, session temp dirs, temp files) is left on the hosts.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::hosts::TestHosts;
use support::{drover, recap, run_within, s, write};

/// No run here may take longer than this: a hang is a failure.
const HANG: Duration = Duration::from_secs(60);

/// The test hosts as `h0..hN` (logging in as `deploy`), plus `extra` inventory lines.
fn inventory(hosts: &TestHosts, extra: &str) -> PathBuf {
    let p = hosts.inventory("deploy", "");
    let mut text = std::fs::read_to_string(&p).expect("inventory");
    text.push_str(extra);
    std::fs::write(&p, text).expect("write inventory");
    p
}

/// `drover play` on the hosts with a 2 s connect timeout.
fn play(hosts: &TestHosts, inv: &Path, yaml: &str, args: &[&str]) -> Command {
    let pb = write(hosts.dir.path(), "pb.yml", yaml);
    let kh = hosts.known_hosts();
    let mut cmd = drover();
    cmd.args([
        "play",
        "-T",
        "2",
        "-i",
        s(inv),
        s(&pb),
        "--known-hosts",
        s(&kh),
    ])
    .args(["--host-key-checking", "accept-new"])
    .args(args);
    cmd
}

/// Waits until `cond` holds (panics after `limit`).
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether host `i` runs a process named `comm`.
fn runs(hosts: &TestHosts, i: usize, comm: &str) -> bool {
    hosts.processes(i).iter().any(|p| p.comm == comm)
}

fn assert_clean(hosts: &TestHosts, which: &[usize], dirs: &[&str]) {
    for &i in which {
        let left = hosts.leftovers(i, dirs, Duration::from_secs(5));
        assert!(left.is_empty(), "h{i} after the run: {left:?}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

const AFTER: &str = "    - copy: {content: \"after\\n\", dest: /tmp/fault-after}\n";

#[test]
fn refused_host_is_unreachable_at_once_and_the_others_complete() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    let inv = inventory(
        &hosts,
        &format!(
            "h9 ansible_host=127.0.0.1 ansible_port={} ansible_user=deploy ansible_ssh_private_key_file={}\n",
            free_port(),
            hosts.key.display()
        ),
    );
    let yaml = format!("- hosts: test\n  gather_facts: false\n  tasks:\n{AFTER}");
    let (code, out, err, took) = run_within(&mut play(&hosts, &inv, &yaml, &[]), HANG);
    eprintln!("drover ran {took:?}");
    assert_eq!(code, 4, "{out}{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        out.contains("UNREACHABLE") && out.contains("refused"),
        "{out}"
    );
    assert_eq!(recap(&out, "h9").unreachable, 1);
    for i in 0..2 {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.changed, r.failed, r.unreachable), (1, 0, 0), "{out}");
        assert_eq!(hosts.sh(i, "cat /tmp/fault-after").1, "after\n");
    }
    assert_clean(&hosts, &[0, 1], &[]);
}

#[test]
fn host_killed_mid_task_is_unreachable_and_the_others_complete() {
    let Some(hosts) = TestHosts::up(3) else {
        return;
    };
    let inv = inventory(&hosts, "");
    let yaml =
        format!("- hosts: test\n  gather_facts: false\n  tasks:\n    - shell: sleep 2\n{AFTER}");
    let mut cmd = play(&hosts, &inv, &yaml, &[]);
    let run = std::thread::spawn(move || run_within(&mut cmd, HANG));
    wait_for("the task's sleep on h1", Duration::from_secs(20), || {
        runs(&hosts, 1, "sleep")
    });
    // The host dies: sshd, its sessions and the command.
    let all: Vec<u32> = hosts.processes(1).iter().map(|p| p.pid).collect();
    hosts.signal_pids(&all, libc::SIGKILL);
    let (code, out, err, took) = run.join().expect("drover run");
    eprintln!("drover ran {took:?}");
    assert_eq!(code, 4, "{out}{err}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let r = recap(&out, "h1");
    assert_eq!((r.ok, r.unreachable, r.failed), (0, 1, 0), "{out}");
    for i in [0, 2] {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.changed, r.failed, r.unreachable), (2, 0, 0), "{out}");
        assert_eq!(hosts.sh(i, "cat /tmp/fault-after").1, "after\n");
    }
    assert!(!hosts.path(1, "/tmp/fault-after").exists());
    assert_clean(&hosts, &[0, 2], &[]);
    assert!(
        hosts.processes(1).is_empty(),
        "nothing runs on the dead host"
    );
    assert!(hosts.init_pid(1).is_none(), "its init ended with sshd");
}

#[test]
fn host_hung_before_the_run_is_unreachable_within_the_connect_timeout() {
    let Some(hosts) = TestHosts::up(3) else {
        return;
    };
    // sshd stopped: the kernel still accepts connections, but nothing ever answers.
    let sshd = hosts.sshd_pids(1);
    hosts.signal_pids(&sshd, libc::SIGSTOP);
    let inv = inventory(&hosts, "");
    let yaml = format!("- hosts: test\n  gather_facts: false\n  tasks:\n{AFTER}");
    let (code, out, err, took) = run_within(&mut play(&hosts, &inv, &yaml, &[]), HANG);
    eprintln!("drover ran {took:?}");
    hosts.signal_pids(&sshd, libc::SIGCONT);
    assert_eq!(code, 4, "{out}{err}");
    // The 2 s connect timeout, plus the other hosts' work and the binary's start.
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(out.contains("SSH handshake"), "{out}");
    assert_eq!(recap(&out, "h1").unreachable, 1, "{out}");
    for i in [0, 2] {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.changed, r.failed, r.unreachable), (1, 0, 0), "{out}");
        assert_eq!(hosts.sh(i, "cat /tmp/fault-after").1, "after\n");
    }
    assert_clean(&hosts, &[0, 1, 2], &[]);
}

#[test]
fn host_hung_mid_task_fails_at_the_task_timeout_then_is_unreachable() {
    let Some(hosts) = TestHosts::up(3) else {
        return;
    };
    let inv = inventory(&hosts, "");
    let yaml = format!(
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - shell: sleep 2\n      timeout: 4\n      ignore_errors: true\n{AFTER}"
    );
    let mut cmd = play(&hosts, &inv, &yaml, &[]);
    let run = std::thread::spawn(move || run_within(&mut cmd, HANG));
    wait_for("the task's sleep on h1", Duration::from_secs(20), || {
        runs(&hosts, 1, "sleep")
    });
    let sshd = hosts.sshd_pids(1);
    hosts.signal_pids(&sshd, libc::SIGSTOP);
    let (code, out, err, took) = run.join().expect("drover run");
    eprintln!("drover ran {took:?}");
    hosts.signal_pids(&sshd, libc::SIGCONT);
    assert_eq!(code, 4, "{out}{err}");
    // 4 s task timeout, 2 s to find the host does not answer the kill, 2 s to fail to
    // connect again for the next task; the first run of the binary adds its start.
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert!(
        out.contains(
            "The shell action failed to execute in the expected time frame (4) and was terminated"
        ),
        "{out}"
    );
    let r = recap(&out, "h1");
    assert_eq!((r.ignored, r.unreachable, r.failed), (1, 1, 0), "{out}");
    for i in [0, 2] {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.changed, r.failed, r.unreachable), (2, 0, 0), "{out}");
        assert_eq!(hosts.sh(i, "cat /tmp/fault-after").1, "after\n");
    }
    assert!(!hosts.path(1, "/tmp/fault-after").exists());
    // Once sshd runs again it sees the connection gone; the shell ends with its command.
    assert_clean(&hosts, &[0, 1, 2], &[]);
}

#[test]
fn task_timeout_kills_the_remote_command_and_later_tasks_run() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    let inv = inventory(&hosts, "");
    // One limit from the task (the command runs as root through sudo), one from
    // `--task-timeout` (as the login user).
    let yaml = format!(
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - command: sleep 30\n      become: true\n      timeout: 2\n      ignore_errors: true\n    - command: sleep 31\n      ignore_errors: true\n{AFTER}"
    );
    let mut cmd = play(&hosts, &inv, &yaml, &["--task-timeout", "2"]);
    let (code, out, err, took) = run_within(&mut cmd, HANG);
    eprintln!("drover ran {took:?}");
    let after_run: Vec<String> = (0..2)
        .flat_map(|i| hosts.processes(i))
        .filter(|p| p.comm == "sleep")
        .map(|p| p.cmdline)
        .collect();
    assert!(after_run.is_empty(), "still running: {after_run:?}");
    assert_eq!(code, 0, "{out}{err}");
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert!(took < Duration::from_secs(9), "{took:?}");
    let msg =
        "The command action failed to execute in the expected time frame (2) and was terminated";
    let fatal = out
        .lines()
        .filter(|l| l.starts_with("fatal:") && l.contains(msg));
    assert_eq!(fatal.count(), 4, "{out}");
    for i in 0..2 {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.ignored, r.changed, r.failed), (2, 1, 0), "{out}");
        assert_eq!(hosts.sh(i, "cat /tmp/fault-after").1, "after\n");
    }
    assert_clean(&hosts, &[0, 1], &[]);
}

/// Lines of text making `len` bytes.
fn text_of(len: usize, word: &str) -> String {
    let line = format!("{word} {}\n", "x".repeat(60));
    line.repeat(len / line.len() + 1)
}

#[test]
fn full_disk_fails_the_write_and_keeps_the_original() {
    let Some(hosts) = TestHosts::up(3) else {
        return;
    };
    for i in 0..3 {
        hosts.sh(i, "mkdir -p /srv/data");
    }
    // On h1 the directory is a small tmpfs, filled up (mounted inside the host only).
    let (rc, said) = hosts.ns_sh(
        1,
        "mount -t tmpfs -o size=256k tmpfs /srv/data && cd /srv/data \
         && printf 'original\\n' >app.conf && chown deploy:deploy app.conf && chmod 0640 app.conf \
         && { dd if=/dev/zero of=filler bs=4k 2>/dev/null; df -k . | tail -n 1; }",
    );
    assert_eq!(rc, 0, "{said}");
    let src = write(hosts.dir.path(), "big.txt", &text_of(300_000, "copied"));
    write(
        hosts.dir.path(),
        "big.j2",
        &(text_of(300_000, "templated") + "{{ inventory_hostname }}\n"),
    );
    let yaml = format!(
        "- hosts: test\n  gather_facts: false\n  become: true\n  tasks:\n    - copy: {{src: {}, dest: /srv/data/app.conf}}\n      ignore_errors: true\n    - template: {{src: {}/big.j2, dest: /srv/data/app.conf}}\n",
        s(&src),
        hosts.dir.path().display()
    );
    let inv = inventory(&hosts, "");
    let (code, out, err, _) = run_within(&mut play(&hosts, &inv, &yaml, &[]), HANG);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("No space left on device"), "{out}");
    let r = recap(&out, "h1");
    assert_eq!((r.ignored, r.failed, r.changed), (1, 1, 0), "{out}");
    let (_, state) = hosts.ns_sh(
        1,
        "cat /srv/data/app.conf; stat -c '%a %U %G' /srv/data/app.conf; ls -A /srv/data",
    );
    assert_eq!(state, "original\n640 deploy deploy\napp.conf\nfiller\n");
    for i in [0, 2] {
        let r = recap(&out, &format!("h{i}"));
        assert_eq!((r.changed, r.failed), (2, 0), "{out}");
        let want = text_of(300_000, "templated") + &format!("h{i}\n");
        assert!(hosts.sh(i, "cat /srv/data/app.conf").1 == want);
    }
    assert_clean(&hosts, &[0, 1, 2], &["/srv/data"]);
}

#[test]
fn transfer_cut_midway_leaves_the_destination_as_it_was() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    for i in 0..2 {
        let (rc, _) = hosts.sh(
            i,
            "mkdir -p /srv/data && printf 'original\\n' >/srv/data/big.bin \
             && chown deploy:deploy /srv/data/big.bin && chmod 0640 /srv/data/big.bin",
        );
        assert_eq!(rc, 0);
    }
    let (src, data) = support::big_file(hosts.dir.path());
    let yaml = format!(
        "- hosts: test\n  gather_facts: false\n  become: true\n  tasks:\n    - copy: {{src: {}, dest: /srv/data/big.bin}}\n",
        s(&src)
    );
    let inv = inventory(&hosts, "");
    let mut cmd = play(&hosts, &inv, &yaml, &[]);
    let run = std::thread::spawn(move || run_within(&mut cmd, HANG));
    // The shell on h1 has read a few megabytes of the request: cut the connection there.
    wait_for("the transfer to h1", Duration::from_secs(30), || {
        hosts
            .processes(1)
            .iter()
            .any(|p| p.comm == "sh" && p.rchar > 4 << 20)
    });
    let sessions = hosts.sshd_pids(1)[1..].to_vec();
    hosts.signal_pids(&sessions, libc::SIGKILL);
    let (code, out, err, _) = run.join().expect("drover run");
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(recap(&out, "h1").unreachable, 1, "{out}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert!(std::fs::read(hosts.path(0, "/srv/data/big.bin")).unwrap() == data);
    assert_eq!(
        hosts
            .sh(
                1,
                "cat /srv/data/big.bin; stat -c '%a %U %G' /srv/data/big.bin; ls -A /srv/data"
            )
            .1,
        "original\n640 deploy deploy\nbig.bin\n"
    );
    assert_clean(&hosts, &[0, 1], &["/srv/data"]);
}

/// `timeout` on a play and a block reaches their tasks, a task's own `timeout: 0` lifts it,
/// and a value that is not a number of seconds is a load error.
#[test]
fn timeout_is_inherited_from_plays_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let pb = write(
        dir.path(),
        "pb.yml",
        &format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  timeout: 1\n  tasks:\n    - command: sleep 5\n      ignore_errors: true\n    - command: sleep 1.5\n      timeout: 0\n    - block:\n        - shell: sleep 5\n          ignore_errors: true\n      timeout: 2\n    - shell: echo done >{}\n",
            log.display()
        ),
    );
    let mut cmd = drover();
    cmd.arg("play").arg(&pb);
    let (code, out, err, took) = run_within(&mut cmd, HANG);
    eprintln!("drover ran {took:?}");
    assert_eq!(code, 0, "{out}{err}");
    assert!(took < Duration::from_secs(7), "{took:?}");
    assert!(out.contains(
        "The command action failed to execute in the expected time frame (1) and was terminated"
    ));
    assert!(out.contains(
        "The shell action failed to execute in the expected time frame (2) and was terminated"
    ));
    assert_eq!(recap(&out, "localhost").ignored, 2, "{out}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "done\n");

    // The run's default from ansible.cfg (`--task-timeout` is tested over SSH above).
    write(dir.path(), "ansible.cfg", "[defaults]\ntask_timeout = 1\n");
    let plain = write(
        dir.path(),
        "plain.yml",
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - command: sleep 5\n",
    );
    let mut cmd = drover();
    cmd.env_remove("ANSIBLE_CONFIG")
        .current_dir(dir.path())
        .arg("play")
        .arg(&plain);
    let (code, out, err, took) = run_within(&mut cmd, HANG);
    eprintln!("drover ran {took:?}");
    assert_eq!(code, 2, "{out}{err}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(out.contains("expected time frame (1)"), "{out}");

    let bad = write(
        dir.path(),
        "bad.yml",
        "- hosts: localhost\n  tasks:\n    - command: sleep 1\n      timeout: soon\n",
    );
    let mut cmd = drover();
    cmd.arg("play").arg(&bad);
    let (code, _, err, _) = run_within(&mut cmd, HANG);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("bad.yml:4:16") && err.contains("`timeout` must be a whole number of seconds"),
        "{err}"
    );
}

/// Endless output on one host (`yes`): that host's task fails with a message naming the limit,
/// its command is stopped, the controller's memory stays bounded, and the other host's results
/// and the recap are all there.
#[test]
fn endless_output_fails_that_hosts_task_only() {
    let Some(hosts) = TestHosts::up(2) else {
        return;
    };
    let inv = inventory(&hosts, "");
    let yaml = format!(
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - shell: \"{{{{ 'yes' if inventory_hostname == 'h0' else 'echo fine' }}}}\"\n      register: r\n      ignore_errors: true\n    - copy: dest=/tmp/fault-r content=\"{{{{ r.stdout | default('none') | length }}}}\"\n{AFTER}"
    );
    let mut cmd = play(&hosts, &inv, &yaml, &[]);
    let bg = support::background::Background::start(&mut cmd);
    let done = bg.wait(HANG);
    let (out, err) = (&done.stdout, &done.stderr);
    assert_eq!(done.code, 0, "{out}{err}");
    assert!(
        out.contains("fatal: [h0]") && out.contains("more than 32 MiB of output"),
        "{out}"
    );
    let r0 = recap(out, "h0");
    let r1 = recap(out, "h1");
    assert_eq!((r0.ignored, r0.failed), (1, 0), "{out}");
    assert_eq!((r1.ignored, r1.failed, r1.changed), (0, 0, 3), "{out}");
    assert_eq!(hosts.sh(1, "cat /tmp/fault-r").1, "4");
    for i in 0..2 {
        assert_eq!(hosts.sh(i, "cat /tmp/fault-after").1, "after\n");
    }
    assert!(!runs(&hosts, 0, "yes"), "the flooding command was stopped");
    assert!(
        done.peak_rss_kib < 200 * 1024,
        "controller peak {} KiB",
        done.peak_rss_kib
    );
    assert_clean(&hosts, &[0, 1], &[]);
}
