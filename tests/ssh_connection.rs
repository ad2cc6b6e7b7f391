//! drover against a real (throwaway) sshd on 127.0.0.1: one long-lived remote shell per host,
//! output framing over SSH, host key policies, and become. Every test skips (and passes) with a
//! printed message when sshd is not installed.

mod support;

use std::path::Path;
use support::sshd::TestSshd;
use support::{drover, recap, run, s, write};

macro_rules! sshd_or_skip {
    () => {
        match TestSshd::start() {
            Some(sshd) => sshd,
            None => return,
        }
    };
}

/// Runs `drover play -i INV PLAYBOOK ARGS…` with a short connect timeout.
fn play(inv: &Path, playbook: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = drover();
    cmd.args(["play", "-T", "5", "-i"])
        .arg(inv)
        .arg(playbook)
        .args(args);
    run(&mut cmd)
}

/// A playbook of `n` tasks alternating `command` and `shell`, each appending one line to
/// `log` on the target (which is this machine).
fn many_tasks(n: usize, log: &Path) -> String {
    let mut pb = String::from("- hosts: target\n  tasks:\n");
    for i in 0..n {
        if i % 2 == 0 {
            pb.push_str(&format!(
                "    - name: command {i}\n      command: sh -c 'echo task{i} >> {}'\n",
                log.display()
            ));
        } else {
            pb.push_str(&format!(
                "    - name: shell {i}\n      shell: echo task{i} >> {}\n",
                log.display()
            ));
        }
    }
    pb
}

#[test]
fn remote_shell_is_reused() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("known_hosts");
    let inv = sshd.inventory("");
    let mut per_run = Vec::new();
    for n in [20usize, 40] {
        let log = tmp.path().join(format!("log{n}.txt"));
        let pb = write(tmp.path(), &format!("pb{n}.yml"), &many_tasks(n, &log));
        let before = sshd.channel_opens();
        let (code, out, err) = play(
            &inv,
            &pb,
            &["--host-key-checking", "accept-new", "--known-hosts", s(&kh)],
        );
        assert_eq!(code, 0, "{n} tasks: stdout:\n{out}\nstderr:\n{err}");
        let lines = std::fs::read_to_string(&log).unwrap();
        assert_eq!(lines.lines().count(), n, "every task ran once: {lines}");
        assert_eq!(
            lines.lines().last(),
            Some(format!("task{}", n - 1).as_str())
        );
        let r = recap(&out, "target");
        assert_eq!(
            (r.changed, r.failed, r.unreachable),
            (n as u32, 0, 0),
            "{out}"
        );
        let opened = sshd.channel_opens() - before;
        assert!(
            (1..=3).contains(&opened),
            "{n} tasks opened {opened} SSH session channels (want 1..=3: one shell per user)\nsshd log:\n{}",
            sshd.log()
        );
        per_run.push(opened);
    }
    assert_eq!(
        per_run[0], per_run[1],
        "channels opened must not grow with the number of tasks (20 tasks, 40 tasks)"
    );
}

#[test]
fn output_survives_framing_over_ssh() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let inv = sshd.inventory("");
    let kh = sshd.known_hosts_with_host_key();
    // 2,000,000 `x`, then control bytes, something that looks like a framing marker, and no
    // final newline; stderr separate; rc 3 passed through. Then 300 KB of stdin (larger than
    // the inline limit, so it is staged on the remote side) through `command`.
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: target
  gather_facts: false
  tasks:
    - name: noisy
      shell: "head -c 2000000 /dev/zero | tr '\\0' x; printf '\\001\\002\\033[0m\\n@@DRV:0:R 0\\nend'; printf err >&2; exit 3"
      register: out
      failed_when: false
    - assert:
        that:
          - out.rc == 3
          - out.stderr == 'err'
          - out.stdout | length == 2000022
          - out.stdout[:5] == 'xxxxx'
          - out.stdout[-15:] == '@@DRV:0:R 0\nend'
          - out.stdout_lines | length == 3
    - set_fact:
        big: "{{ 'y' * 300000 }}"
    - command: wc -c
      args:
        stdin: "{{ big }}"
      register: wc
    - assert:
        that:
          - wc.stdout | trim == '300001'
    - name: empty output
      command: "true"
      register: nothing
    - assert:
        that:
          - nothing.stdout == ''
          - nothing.stderr == ''
          - nothing.rc == 0
"#,
    );
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let r = recap(&out, "target");
    assert_eq!((r.ok, r.failed), (7, 0), "{out}");
    assert_eq!(sshd.channel_opens(), 1, "{}", sshd.log());
}

/// A playbook that touches `marker` on the target (this machine), to prove whether it ran.
fn touch_playbook(dir: &Path, marker: &Path) -> std::path::PathBuf {
    write(
        dir,
        "touch.yml",
        &format!(
            "- hosts: target\n  gather_facts: false\n  tasks:\n    - command: touch {}\n",
            marker.display()
        ),
    )
}

#[test]
fn unknown_host_refused_under_strict() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let kh = write(tmp.path(), "known_hosts", "");
    let marker = tmp.path().join("ran");
    let pb = touch_playbook(tmp.path(), &marker);
    let inv = sshd.inventory("");
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh)]);
    let both = format!("{out}{err}");
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(both.contains("target"), "names the host: {both}");
    assert!(both.contains("SHA256:"), "shows the fingerprint: {both}");
    assert!(both.contains("accept-new"), "hints at accept-new: {both}");
    assert!(!marker.exists(), "nothing may run on a refused host");
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "strict never records keys"
    );
    assert_eq!(sshd.channel_opens(), 0, "{}", sshd.log());
    assert_eq!(recap(&out, "target").unreachable, 1, "{out}");
}

#[test]
fn accept_new_records_key() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("ssh").join("known_hosts");
    let marker = tmp.path().join("ran");
    let pb = touch_playbook(tmp.path(), &marker);
    let inv = sshd.inventory("");
    let (code, out, err) = play(
        &inv,
        &pb,
        &["--host-key-checking", "accept-new", "--known-hosts", s(&kh)],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(marker.exists());
    let text = std::fs::read_to_string(&kh).unwrap();
    let prefix = format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port());
    let recorded: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(recorded.len(), 1, "{text}");
    assert_eq!(
        recorded[0].trim(),
        sshd.host_key_line(),
        "the server's real key"
    );

    // Now the key is known: strict accepts it, and nothing more is recorded.
    std::fs::remove_file(&marker).unwrap();
    let (code, out, err) = play(
        &inv,
        &pb,
        &["--host-key-checking", "strict", "--known-hosts", s(&kh)],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(marker.exists());
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text);
}

#[test]
fn changed_key_always_refused() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f", s(&other)])
        .status()
        .unwrap();
    assert!(st.success());
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let b64 = other_pub.split_whitespace().nth(1).unwrap();
    let kh_text = format!(
        "# a comment\n[127.0.0.1]:{} ssh-ed25519 {b64}\n",
        sshd.port()
    );
    let kh = write(tmp.path(), "known_hosts", &kh_text);
    let marker = tmp.path().join("ran");
    let pb = touch_playbook(tmp.path(), &marker);
    let inv = sshd.inventory("");
    for policy in ["strict", "accept-new"] {
        let (code, out, err) = play(
            &inv,
            &pb,
            &["--host-key-checking", policy, "--known-hosts", s(&kh)],
        );
        let both = format!("{out}{err}");
        assert_eq!(code, 4, "{policy}: stdout:\n{out}\nstderr:\n{err}");
        assert!(both.contains("CHANGED"), "{policy}: {both}");
        assert!(both.contains("target"), "{policy}: {both}");
        assert!(
            both.contains(&format!("{}:2", kh.display())),
            "{policy}: names the known_hosts line: {both}"
        );
        assert!(!marker.exists(), "{policy}: nothing may run");
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            kh_text,
            "{policy}: known_hosts untouched"
        );
    }
    assert_eq!(sshd.channel_opens(), 0, "{}", sshd.log());
}

#[test]
fn host_key_policy_from_inventory_var() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("known_hosts");
    let marker = tmp.path().join("ran");
    let pb = touch_playbook(tmp.path(), &marker);
    // Without the inventory variable the (default strict) policy refuses the unknown host…
    let inv = sshd.inventory("");
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh)]);
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!marker.exists());
    // …with it, no flag is needed.
    let inv = sshd.inventory("ansible_host_key_checking=accept-new");
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(marker.exists());
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text.trim(), sshd.host_key_line());
}

#[test]
fn become_root_via_sudo() {
    if !support::is_root() {
        support::skip("become_root_via_sudo needs to run as root");
        return;
    }
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let kh = sshd.known_hosts_with_host_key();
    let inv = sshd.inventory("");
    let pb = write(
        tmp.path(),
        "pb.yml",
        "- hosts: target\n  gather_facts: false\n  tasks:\n    - command: id -u\n      become: true\n      register: id\n    - assert:\n        that: id.stdout == '0'\n    - command: id -un\n      become: true\n      become_user: root\n      register: name\n    - debug: var=name.stdout\n",
    );
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(r#""name.stdout": "root""#), "{out}");
    let opened = sshd.channel_opens();
    assert!((1..=3).contains(&opened), "{opened}: {}", sshd.log());
}

/// `-vvv` says how each host is reached (user, address, port, identity files, host key
/// policy, known hosts) as Ansible's `ESTABLISH SSH CONNECTION` lines; `-vvvv` shows every
/// command sent (secrets masked as in results), a `no_log` task's hidden.
#[test]
fn verbose_levels_show_the_connection_and_the_commands() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let kh = sshd.known_hosts_with_host_key();
    let inv = sshd.inventory("");
    let pb = write(
        tmp.path(),
        "pb.yml",
        "- hosts: target\n  gather_facts: false\n  tasks:\n    - command: echo visible-marker\n    - command: echo hidden-marker\n      no_log: true\n",
    );
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh), "-vvv"]);
    assert_eq!(code, 0, "{out}{err}");
    let user = sshd.user();
    assert!(
        err.contains(&format!(
            "<target> ESTABLISH SSH CONNECTION FOR USER: {user}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("<target> SSH: {user}@127.0.0.1:")),
        "{err}"
    );
    assert!(err.contains(&format!("against {}", kh.display())), "{err}");
    assert!(!err.contains("EXEC"), "-vvv shows no commands: {err}");
    let (code, out, err) = play(&inv, &pb, &["--known-hosts", s(&kh), "-vvvv"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("<target> EXEC:\n") && err.contains("echo visible-marker"),
        "{err}"
    );
    assert!(
        err.contains("<target> EXEC: the command is hidden (no_log)"),
        "{err}"
    );
    assert!(!err.contains("hidden-marker"), "{err}");
}

/// `--ssh-common-args`/`--ssh-extra-args` as ansible-playbook's: ssh options read as the
/// `ansible_ssh_*_args` variables are (which win over them); `--scp-extra-args`,
/// `--sftp-extra-args` and `-M` are accepted and warned about as doing nothing here.
#[test]
fn ssh_args_from_the_command_line() {
    let sshd = sshd_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let pb = touch_playbook(tmp.path(), &marker);
    // No port nor key in the inventory: they come from the flags.
    let inv = write(tmp.path(), "inv.ini", "target ansible_host=127.0.0.1\n");
    let common = format!(
        "-o Port={} -o User={} -o StrictHostKeyChecking=no -o UserKnownHostsFile={}",
        sshd.port(),
        sshd.user(),
        tmp.path().join("kh").display()
    );
    let extra = format!("-i {}", sshd.client_key().display());
    let (code, out, err) = play(
        &inv,
        &pb,
        &[
            "--ssh-common-args",
            &common,
            "--ssh-extra-args",
            &extra,
            "--scp-extra-args",
            "-l 8192",
            "-M",
            "/usr/share/ansible/plugins/modules",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(marker.exists());
    assert!(
        out.contains("--scp-extra-args is ignored: drover sends files over its shell session"),
        "{out}"
    );
    assert!(out.contains("--module-path is ignored"), "{out}");
    // The inventory's variable wins: a wrong port there fails though the flag is right.
    let inv = write(
        tmp.path(),
        "inv2.ini",
        "target ansible_host=127.0.0.1 ansible_ssh_common_args='-o Port=1'\n",
    );
    let (code, out, err) = play(
        &inv,
        &pb,
        &["--ssh-common-args", &common, "--ssh-extra-args", &extra],
    );
    assert_eq!(code, 4, "{out}{err}");
}
