//! End to end on isolated Debian test hosts: `group`, `user` and `authorized_key` converge as
//! `deploy` with sudo (state checked inside the host with getent/id/stat), the second run
//! changes nothing, check mode on a fresh host predicts the same count and changes nothing;
//! `become_user` writes files as that user, and a sudo that needs a password fails fast.
//! `known_hosts` entries written by drover are found by the host's own `ssh-keygen -F`.

mod support;

use std::time::{Duration, Instant};
use support::hosts::TestHosts;
use support::{drover, recap, run, s, write};

const HASH: &str =
    "$6$drsalt$RIGCU5Qm2Kpih.T1nl4EmweVJfBkJE9HT4BOABOd0GpviLCv8pF8dS53vgbfRWhRVYA422bop1MJHxWZp70jK/";
const KEY_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc8f0mXbq0zq1mRZ0hY5W0s1l0m1y8yq5b8Gm6l1Z2a alice@laptop";
const KEY_B: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb bob@desk";

fn play(
    hosts: &TestHosts,
    user: &str,
    pb: &std::path::Path,
    extra: &[&str],
) -> (i32, String, String) {
    let inv = hosts.inventory(user, "");
    let kh = hosts.known_hosts();
    let mut cmd = drover();
    cmd.args(["play", "-i", s(&inv), s(pb), "--known-hosts", s(&kh)])
        .args(["--host-key-checking", "accept-new"])
        .args(extra);
    run(&mut cmd)
}

fn users_playbook(dir: &std::path::Path) -> std::path::PathBuf {
    write(
        dir,
        "users.yml",
        &format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - group: name=devs gid=2500
      register: devs
    - ansible.builtin.group:
        name: ops
        system: yes
    - user:
        name: alice
        uid: 2501
        group: devs
        groups: [ops, adm]
        shell: /bin/bash
        comment: Alice Example
        password: "{HASH}"
        generate_ssh_key: yes
        ssh_key_type: ed25519
      register: alice
    - user: name=bob groups=ops append=yes createhome=no
    - authorized_key:
        user: alice
        key: "{KEY_A}"
    - ansible.posix.authorized_key:
        user: alice
        key: "{KEY_B}"
        key_options: no-pty
    - user: name=ghost state=absent
    - group: name=ghosts state=absent
    - assert:
        that:
          - alice.name == 'alice'
          - alice.state == 'present'
          - alice.uid == 2501
          - alice.group == 2500
          - alice.home == '/home/alice'
          - alice.shell == '/bin/bash'
          - alice.comment == 'Alice Example'
          - alice.groups == 'ops,adm'
          - alice.password == 'NOT_LOGGING_PASSWORD'
          - alice.ssh_key_file == '/home/alice/.ssh/id_ed25519'
          - alice.ssh_fingerprint is search('SHA256:')
          - devs.gid == 2500 and devs.name == 'devs'
      when: not ansible_check_mode
    - copy:
        content: "{{{{ alice.ssh_public_key | default('none') }}}}\n"
        dest: /root/alice.pub
"#
        ),
    )
}

#[test]
fn users_groups_and_keys_converge_and_check_mode_predicts() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = users_playbook(hosts.dir.path());

    // Check mode on the fresh host: predicts 7 changes, changes nothing.
    let (code, out, err) = play(&hosts, "deploy", &pb, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}{err}");
    let predicted = recap(&out, "h0").changed;
    assert_eq!(predicted, 7, "{out}");
    for q in [
        "getent passwd alice",
        "getent passwd bob",
        "getent group devs",
        "getent group ops",
    ] {
        assert_ne!(hosts.sh(0, q).0, 0, "check mode changed the host: {q}");
    }
    assert!(!hosts.path(0, "/home/alice").exists());

    // First run: the same count, and the host has it all.
    let (code, out, err) = play(&hosts, "deploy", &pb, &["-b", "--diff"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, predicted, "{out}");
    assert!(out.contains("+no-pty ssh-ed25519"), "diff shown:\n{out}");
    let (_, g) = hosts.sh(0, "getent group devs ops");
    assert!(g.starts_with("devs:x:2500:\n"), "{g}");
    let ops_gid: u32 = g
        .lines()
        .nth(1)
        .unwrap()
        .split(':')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(ops_gid < 1000, "ops is a system group: {g}");
    let (_, p) = hosts.sh(0, "getent passwd alice bob");
    assert!(
        p.starts_with("alice:x:2501:2500:Alice Example:/home/alice:/bin/bash\n"),
        "{p}"
    );
    assert!(p.contains("\nbob:x:"), "{p}");
    let (_, sh) = hosts.sh(0, "getent shadow alice | cut -d: -f2");
    assert_eq!(sh.trim(), HASH);
    let (_, ids) = hosts.sh(0, "id -Gn alice; id -Gn bob");
    assert_eq!(ids, "devs adm ops\nbob ops\n");
    assert!(!hosts.path(0, "/home/bob").exists(), "createhome=no");
    let (_, st) = hosts.sh(
        0,
        "stat -c '%U %a' /home/alice /home/alice/.ssh /home/alice/.ssh/authorized_keys /home/alice/.ssh/id_ed25519",
    );
    assert_eq!(st, "alice 755\nalice 700\nalice 600\nalice 600\n");
    let ak = std::fs::read_to_string(hosts.path(0, "/home/alice/.ssh/authorized_keys")).unwrap();
    assert_eq!(ak, format!("{KEY_A}\nno-pty {KEY_B}\n"));
    let pubkey = std::fs::read_to_string(hosts.path(0, "/root/alice.pub")).unwrap();
    let on_host =
        std::fs::read_to_string(hosts.path(0, "/home/alice/.ssh/id_ed25519.pub")).unwrap();
    assert!(
        pubkey.starts_with("ssh-ed25519 "),
        "registered ssh_public_key: {pubkey}"
    );
    assert_eq!(pubkey.trim(), on_host.trim());

    // Second run: nothing changes.
    let (code, out, err) = play(&hosts, "deploy", &pb, &["-b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        recap(&out, "h0").changed,
        0,
        "second run must change nothing:\n{out}"
    );

    // Changes to an existing account: exact groups, options replaced in place, key removed.
    let pb2 = write(
        hosts.dir.path(),
        "change.yml",
        &format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - user: name=alice groups=ops shell=/bin/sh
    - authorized_key:
        user: alice
        key: "{KEY_A}"
        key_options: 'from="10.0.0.1"'
    - authorized_key:
        user: alice
        key: "{KEY_B}"
        state: absent
    - user: name=bob state=absent remove=yes
    - group: name=ops gid=2600
"#
        ),
    );
    let (code, out, err) = play(&hosts, "deploy", &pb2, &["-b", "--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 5, "{out}");
    assert_eq!(hosts.sh(0, "id -Gn alice").1, "devs adm ops\n");
    let (code, out, err) = play(&hosts, "deploy", &pb2, &["-b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 5, "{out}");
    assert_eq!(hosts.sh(0, "id -Gn alice").1, "devs ops\n");
    assert_eq!(
        hosts.sh(0, "getent passwd alice | cut -d: -f7").1,
        "/bin/sh\n"
    );
    assert_ne!(hosts.sh(0, "getent passwd bob").0, 0);
    assert_eq!(hosts.sh(0, "getent group ops | cut -d: -f3").1, "2600\n");
    let ak = std::fs::read_to_string(hosts.path(0, "/home/alice/.ssh/authorized_keys")).unwrap();
    assert_eq!(ak, format!("from=\"10.0.0.1\" {KEY_A}\n"));
    let (code, out, _) = play(&hosts, "deploy", &pb2, &["-b"]);
    assert_eq!(code, 0);
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");
}

#[test]
fn become_user_writes_files_owned_by_that_user() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    // become_user: a file written as `carol` belongs to carol.
    let pb = write(
        hosts.dir.path(),
        "carol.yml",
        r#"- hosts: test
  gather_facts: false
  become: true
  tasks:
    - user: name=carol
    - copy:
        content: "hi\n"
        dest: /home/carol/note.txt
      become_user: carol
    - command: whoami
      become_user: carol
      register: who
    - assert:
        that: who.stdout == "carol"
"#,
    );
    let (code, out, err) = play(&hosts, "deploy", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        hosts.sh(0, "stat -c '%U %G' /home/carol/note.txt").1,
        "carol carol\n"
    );
}

/// A sudo that needs a password (none given): the task fails (exit 2, as Ansible's "Missing
/// sudo password") with a message naming sudo and the password, and does not hang.
#[test]
fn a_sudo_that_needs_a_password_fails_fast_with_a_clear_message() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (rc, _) = hosts.sh(
        0,
        &format!(
            "useradd -m -s /bin/bash -p '{HASH}' pwuser && \
             echo 'pwuser ALL=(ALL) ALL' >/etc/sudoers.d/pwuser && chmod 440 /etc/sudoers.d/pwuser && \
             install -d -m 700 -o pwuser -g pwuser /home/pwuser/.ssh && \
             install -m 600 -o pwuser -g pwuser /home/deploy/.ssh/authorized_keys /home/pwuser/.ssh/authorized_keys"
        ),
    );
    assert_eq!(rc, 0);
    let pb = write(
        hosts.dir.path(),
        "pw.yml",
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - command: id\n",
    );
    // Without become the login works (so the failure below is sudo's).
    let (code, out, err) = play(&hosts, "pwuser", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let start = Instant::now();
    let (code, out, err) = play(&hosts, "pwuser", &pb, &["-b"]);
    let took = start.elapsed();
    assert_eq!(code, 2, "{out}{err}");
    let all = format!("{out}{err}").to_lowercase();
    assert!(
        all.contains("sudo") && all.contains("password"),
        "the message names sudo and the password:\n{out}{err}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// As `root` without become: expiry, an encrypted RSA key at a custom path, keys in a custom
/// `path` with `manage_dir: no`, then `exclusive`.
#[test]
fn keys_expiry_custom_paths_and_exclusive_as_root() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = write(
        hosts.dir.path(),
        "dave.yml",
        &format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - group: name=team
    - user:
        name: dave
        groups: team
        expires: 1893456000
        generate_ssh_key: yes
        ssh_key_bits: 2048
        ssh_key_comment: dave key
        ssh_key_passphrase: hunter2
        ssh_key_file: .ssh/custom_rsa
      register: dave
    - assert:
        that:
          - dave.ssh_fingerprint is search('^2048 SHA256:')
          - dave.ssh_public_key is search('^ssh-rsa .* dave key$')
      when: not ansible_check_mode
    - file: path=/etc/ssh/keys state=directory mode=0755
    - authorized_key:
        user: dave
        path: /etc/ssh/keys/dave
        manage_dir: no
        key: "{KEY_A}\n\n{KEY_B}\n"
"#
        ),
    );
    let (code, out, err) = play(&hosts, "root", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 4, "{out}");
    assert_ne!(hosts.sh(0, "getent passwd dave").0, 0);
    assert!(!hosts.path(0, "/etc/ssh/keys").exists());

    let (code, out, err) = play(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 4, "{out}");
    assert_eq!(
        hosts.sh(0, "getent shadow dave | cut -d: -f8").1,
        "21915\n",
        "expires 2030-01-01"
    );
    assert_eq!(hosts.sh(0, "id -Gn dave").1, "dave team\n");
    let (rc, _) = hosts.sh(0, "ssh-keygen -y -P hunter2 -f /home/dave/.ssh/custom_rsa");
    assert_eq!(rc, 0, "the key opens with its passphrase");
    let (rc, _) = hosts.sh(0, "ssh-keygen -y -P '' -f /home/dave/.ssh/custom_rsa");
    assert_ne!(rc, 0, "the key is encrypted");
    assert_eq!(
        hosts
            .sh(
                0,
                "stat -c '%U %a' /home/dave/.ssh /home/dave/.ssh/custom_rsa /etc/ssh/keys /etc/ssh/keys/dave"
            )
            .1,
        "dave 700\ndave 600\nroot 755\ndave 600\n"
    );
    let keys = std::fs::read_to_string(hosts.path(0, "/etc/ssh/keys/dave")).unwrap();
    assert_eq!(keys, format!("{KEY_A}\n{KEY_B}\n"));

    let (code, out, _) = play(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0);
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");

    // exclusive: only B stays, with the comment given.
    let ex = write(
        hosts.dir.path(),
        "exclusive.yml",
        &format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - authorized_key:
        user: dave
        path: /etc/ssh/keys/dave
        manage_dir: no
        exclusive: yes
        key: "{KEY_B}"
        comment: only-b
"#
        ),
    );
    let (code, out, err) = play(&hosts, "root", &ex, &["--check", "--diff"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert!(
        out.contains("-ssh-ed25519"),
        "diff shows the removed key:\n{out}"
    );
    let (code, out, err) = play(&hosts, "root", &ex, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    let keys = std::fs::read_to_string(hosts.path(0, "/etc/ssh/keys/dave")).unwrap();
    let b_only = KEY_B.rsplit_once(' ').unwrap().0;
    assert_eq!(keys, format!("{b_only} only-b\n"));
    let (code, out, _) = play(&hosts, "root", &ex, &[]);
    assert_eq!(code, 0);
    assert_eq!(recap(&out, "h0").changed, 0, "{out}");
}

/// The become password is data for sudo, never a command: with shell text in it, whether sudo
/// asks for it (a user whose sudo needs the password) or not (`deploy`, passwordless sudo),
/// the task runs as root and nothing else runs; a password with a newline is refused (sudo
/// could not take it) and runs nothing either.
#[test]
fn become_password_is_data_for_sudo_never_a_command() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    // The password of `pwuser` is itself full of shell text; then generated ones (a fixed seed
    // and budget, `DROVER_PROP_SEED`/`DROVER_PROP_CASES` for more).
    let mut passwords = vec![
        "s3cret;touch /tmp/pwned-a $(touch /tmp/pwned-b) `touch /tmp/pwned-c` 'q\"".to_string(),
    ];
    let (seed, cases) = support::prop_budget(6);
    passwords.extend(support::hostile_values(
        seed,
        cases,
        "/tmp/pwned-a",
        &['\n', '\r', '\0'],
    ));
    let (rc, out) = hosts.sh(
        0,
        "useradd -m -s /bin/bash pwuser && \
         echo 'pwuser ALL=(ALL) ALL' >/etc/sudoers.d/pwuser && chmod 440 /etc/sudoers.d/pwuser && \
         install -d -m 700 -o pwuser -g pwuser /home/pwuser/.ssh && \
         install -m 600 -o pwuser -g pwuser /home/deploy/.ssh/authorized_keys /home/pwuser/.ssh/authorized_keys",
    );
    assert_eq!(rc, 0, "{out}");
    let pb = write(
        hosts.dir.path(),
        "become.yml",
        "- hosts: test\n  gather_facts: false\n  become: true\n  tasks:\n    - command: id -u\n      register: r\n    - copy: dest=/tmp/as-root content=\"{{ r.stdout }}\"\n",
    );
    let vars = hosts.dir.path().join("pw.json");
    let pwned = || {
        ["a", "b", "c"]
            .iter()
            .filter(|s| hosts.path(0, &format!("/tmp/pwned-{s}")).exists())
            .count()
    };
    for (pw, user) in passwords
        .iter()
        .flat_map(|pw| [(pw, "pwuser"), (pw, "deploy")])
    {
        let mut chpasswd = std::process::Command::new("chroot");
        chpasswd
            .arg(&hosts.hosts[0].root)
            .arg("chpasswd")
            .stdin(std::process::Stdio::piped());
        let mut child = chpasswd.spawn().expect("chpasswd");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("pwuser:{pw}\n").as_bytes())
            .expect("write");
        assert!(child.wait().expect("chpasswd").success());
        std::fs::write(
            &vars,
            serde_json::json!({ "ansible_become_password": pw }).to_string(),
        )
        .expect("write vars");
        let _ = std::fs::remove_file(hosts.path(0, "/tmp/as-root"));
        let e = format!("@{}", vars.display());
        let (code, out, err) = play(&hosts, user, &pb, &["-e", &e]);
        assert_eq!(code, 0, "{user} with {pw:?}: {out}{err}");
        assert_eq!(
            std::fs::read_to_string(hosts.path(0, "/tmp/as-root")).expect("as-root"),
            "0",
            "{user}: the task ran as root"
        );
        assert_eq!(pwned(), 0, "{user}: nothing of the password {pw:?} ran");
    }
    // A newline: refused, nothing runs (not even the part before the newline as a password).
    std::fs::write(
        &vars,
        serde_json::json!({ "ansible_become_password": "x\ntouch /tmp/pwned-a" }).to_string(),
    )
    .expect("write vars");
    let e = format!("@{}", vars.display());
    let (code, out, err) = play(&hosts, "deploy", &pb, &["-e", &e]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("newline"),
        "the error says why: {out}{err}"
    );
    assert_eq!(pwned(), 0, "nothing of the password ran");
}

#[test]
fn known_hosts_entries_are_the_ones_ssh_keygen_finds() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIzlnSq5ESxLgW0avvPk3j7zLV59hcAPkxrMNdnZMKP2";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFp8VtD59XAcxkj1qbfCtB1in9nm5WiipORjtVJUBA6I";
    let pb = write(
        hosts.dir.path(),
        "kh.yml",
        &format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - known_hosts: {{name: git.example.org, key: "git.example.org {ED}"}}
    - known_hosts: {{name: "[db.example.org]:2222", key: "[db.example.org]:2222 {ED2}", hash_host: true}}
    - known_hosts: {{name: old.example.org, key: "old.example.org {ED}", path: /tmp/kh, state: absent}}
"#
        ),
    );
    let (code, out, err) = play(&hosts, "deploy", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert!(!hosts.path(0, "/home/deploy/.ssh/known_hosts").exists());
    let (code, out, err) = play(&hosts, "deploy", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    let kh = "/home/deploy/.ssh/known_hosts";
    let (rc, found) = hosts.sh(0, &format!("ssh-keygen -F git.example.org -f {kh}"));
    assert_eq!(rc, 0, "{found}");
    assert!(found.contains(&format!("git.example.org {ED}")), "{found}");
    let (rc, found) = hosts.sh(0, &format!("ssh-keygen -F '[db.example.org]:2222' -f {kh}"));
    assert_eq!(rc, 0, "{found}");
    assert!(
        found.contains("|1|") && found.contains(ED2),
        "hashed: {found}"
    );
    assert_eq!(
        hosts.sh(0, &format!("stat -c '%U %a' {kh}")).1,
        "deploy 644\n"
    );
    for extra in [&[][..], &["--check"][..]] {
        let (code, out, err) = play(&hosts, "deploy", &pb, extra);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 0, "{extra:?}: {out}");
    }
    // A new key for the host replaces the old one; removing the host leaves the others.
    let pb2 = write(
        hosts.dir.path(),
        "kh2.yml",
        &format!(
            r#"- hosts: test
  gather_facts: false
  tasks:
    - known_hosts: {{name: git.example.org, key: "git.example.org {ED2}"}}
    - known_hosts: {{name: "[db.example.org]:2222", state: absent}}
"#
        ),
    );
    let (code, out, err) = play(&hosts, "deploy", &pb2, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    let text = std::fs::read_to_string(hosts.path(0, kh)).unwrap();
    assert_eq!(text, format!("git.example.org {ED2}\n"));
}

#[test]
fn password_ages_and_inactivity_are_set_and_kept() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = write(
        hosts.dir.path(),
        "ages.yml",
        r#"- hosts: test
  gather_facts: false
  tasks:
    - user: {name: erin, password_expire_min: 1, password_expire_max: 90, password_expire_warn: 14, password_expire_account_disable: 30}
    - user: {name: deploy, password_expire_max: 60}
"#,
    );
    let shadow = |u: &str| hosts.sh(0, &format!("getent shadow {u} | cut -d: -f4-7")).1;
    let (code, out, err) = play(&hosts, "root", &pb, &["--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert_eq!(shadow("erin"), "");
    let deploy_before = shadow("deploy");
    let (code, out, err) = play(&hosts, "root", &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert_eq!(shadow("erin"), "1:90:14:30\n");
    assert_ne!(shadow("deploy"), deploy_before);
    assert!(
        shadow("deploy").starts_with(&format!("{}:60:", deploy_before.split(':').next().unwrap()))
    );
    for extra in [&[][..], &["--check"][..]] {
        let (code, out, err) = play(&hosts, "root", &pb, extra);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 0, "{extra:?}: {out}");
    }
}

/// `local: true` with libuser's tools on the host (`lgroupadd`, `luseradd`, `lgroupmod`,
/// `lchage`): a group with a gid, an account in two groups with an expiry, a group changed
/// and one left; read back from the host's files, check mode predicting, the second run
/// changing nothing, removal; a gid another group has is refused as Ansible's does.
#[test]
fn local_accounts_and_groups_use_libuser() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = |groups: &str| {
        write(
            hosts.dir.path(),
            "local.yml",
            &format!(
                r#"- hosts: test
  gather_facts: false
  tasks:
    - group: {{name: lg1, gid: 3100, local: true}}
    - group: {{name: lg2, local: true}}
    - user: {{name: lucy, local: true, groups: [{groups}], expires: 2529881062}}
"#
            ),
        )
    };
    let member = |g: &str| hosts.sh(0, &format!("getent group {g} | cut -d: -f4")).1;
    let first = pb("lg1, lg2");
    let (code, out, err) = play(&hosts, "root", &first, &["--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 3, "{out}");
    assert_eq!(hosts.sh(0, "getent passwd lucy").0, 2);
    let (code, out, err) = play(&hosts, "root", &first, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 3, "{out}");
    assert_eq!(hosts.sh(0, "getent group lg1 | cut -d: -f3").1, "3100\n");
    assert_eq!(
        (member("lg1"), member("lg2")),
        ("lucy\n".into(), "lucy\n".into())
    );
    // 2050-03-03: days since the epoch.
    assert_eq!(hosts.sh(0, "getent shadow lucy | cut -d: -f8").1, "29281\n");
    assert!(hosts.path(0, "/home/lucy").is_dir());
    for extra in [&[][..], &["--check"][..]] {
        let (code, out, err) = play(&hosts, "root", &first, extra);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(recap(&out, "h0").changed, 0, "{extra:?}: {out}");
    }
    // Leaving a group: `lgroupmod -m`.
    let second = pb("lg2");
    let (code, out, err) = play(&hosts, "root", &second, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 1, "{out}");
    assert_eq!(
        (member("lg1"), member("lg2")),
        ("\n".into(), "lucy\n".into())
    );

    let clash = write(
        hosts.dir.path(),
        "clash.yml",
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - group: {name: lg3, gid: 3100, local: true}\n",
    );
    let (code, out, _) = play(&hosts, "root", &clash, &["--check"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("GID '3100' already exists with group 'lg1'"),
        "{out}"
    );

    let gone = write(
        hosts.dir.path(),
        "gone.yml",
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - user: {name: lucy, local: true, state: absent, remove: true}\n    - group: {name: lg1, local: true, state: absent}\n",
    );
    let (code, out, err) = play(&hosts, "root", &gone, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "{out}");
    assert_eq!(hosts.sh(0, "getent passwd lucy").0, 2);
    assert!(!hosts.path(0, "/home/lucy").exists());
}

/// `--become-method su` (as ansible-playbook's): root's session becomes `deploy` through the
/// host's `su`, without sudo; a method drover does not run is refused before any host is
/// touched.
#[test]
fn become_method_from_the_command_line() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let pb = write(
        hosts.dir.path(),
        "su.yml",
        "- hosts: test\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n    - copy: {dest: /tmp/who, content: \"{{ who.stdout }}\"}\n",
    );
    let args = ["-b", "--become-method", "su", "--become-user", "deploy"];
    let (code, out, err) = play(&hosts, "root", &pb, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(hosts.sh(0, "cat /tmp/who").1, "deploy");
    assert_eq!(hosts.sh(0, "stat -c %U /tmp/who").1, "deploy\n");
    let (code, out, err) = play(&hosts, "root", &pb, &["-b", "--become-method", "pbrun"]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("become method `pbrun` is not supported"),
        "{err}"
    );
}

/// `-K` asks for the become password on the terminal once, before anything runs, and sudo
/// takes it: a user whose sudo needs a password becomes root.
#[test]
fn ask_become_pass_gives_sudo_its_password() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (rc, out) = hosts.sh(
        0,
        "useradd -m -s /bin/bash kuser && echo 'kuser:typed-pw-1' | chpasswd && \
         echo 'kuser ALL=(ALL) ALL' >/etc/sudoers.d/kuser && chmod 440 /etc/sudoers.d/kuser && \
         install -d -m 700 -o kuser -g kuser /home/kuser/.ssh && \
         install -m 600 -o kuser -g kuser /home/deploy/.ssh/authorized_keys /home/kuser/.ssh/authorized_keys",
    );
    assert_eq!(rc, 0, "{out}");
    let pb = write(
        hosts.dir.path(),
        "k.yml",
        "- hosts: test\n  gather_facts: false\n  become: true\n  tasks:\n    - command: id -un\n      register: who\n    - copy: {dest: /tmp/k-who, content: \"{{ who.stdout }}\"}\n",
    );
    let inv = hosts.inventory("kuser", "");
    let cmd = format!(
        "{} play -i {} {} -K --known-hosts {} --host-key-checking accept-new",
        env!("CARGO_BIN_EXE_drover"),
        s(&inv),
        s(&pb),
        s(&hosts.known_hosts())
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        std::thread::sleep(Duration::from_millis(500));
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"typed-pw-1\n").unwrap();
        stdin.flush().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("BECOME password: "), "{text}");
    assert!(
        !text.contains("typed-pw-1"),
        "the password was echoed: {text}"
    );
    assert_eq!(hosts.sh(0, "cat /tmp/k-who").1, "root");

    // `--become-password-file`: a file (its line break removed) and a script's output, as
    // ansible-playbook reads them; a missing file stops the run before anything runs.
    hosts.sh(0, "rm -f /tmp/k-who");
    let file = write(hosts.dir.path(), "become-pw", "typed-pw-1\n");
    let script = write(
        hosts.dir.path(),
        "become-pw.sh",
        "#!/bin/sh\necho typed-pw-1\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for source in [&file, &script] {
        let (code, out, err) = play(
            &hosts,
            "kuser",
            &pb,
            &["--become-password-file", source.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(hosts.sh(0, "cat /tmp/k-who && rm /tmp/k-who").1, "root");
    }
    let (code, out, err) = play(
        &hosts,
        "kuser",
        &pb,
        &["--become-pass-file", "/nonexistent"],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("The password file /nonexistent was not found"),
        "{err}"
    );
    assert_eq!(hosts.sh(0, "test -e /tmp/k-who; echo $?").1, "1\n");
}

/// `become_method: su` with a password: `deploy` logs in over SSH and becomes root through
/// su, which asks root's password on a terminal. The tasks' data crosses the terminal intact
/// (control characters both ways, a file far larger than a terminal's line), a second run
/// changes nothing, a task past its timeout is ended; a wrong password fails the host with
/// su's words and Ansible's.
#[test]
fn su_with_a_password_becomes_root_over_ssh() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (rc, out) = hosts.sh(0, "echo 'root:su-pw-7' | chpasswd");
    assert_eq!(rc, 0, "{out}");
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let src = write(hosts.dir.path(), "big.txt", &big);
    let pb = write(
        hosts.dir.path(),
        "su-pw.yml",
        &format!(
            "- hosts: test\n  gather_facts: false\n  become: true\n  become_method: su\n  tasks:\n    - command: id -un\n      register: who\n    - copy: {{dest: /root/who, content: \"{{{{ who.stdout }}}}\\u0003\\u0004\\t|\\n\"}}\n    - copy: {{src: {}, dest: /root/big.txt}}\n    - shell: printf 'a\\001b'\n      register: raw\n    - assert: {{that: [\"raw.stdout == 'a\\u0001b'\"]}}\n",
            src.display()
        ),
    );
    let (code, out, err) = play(
        &hosts,
        "deploy",
        &pb,
        &["-e", "ansible_become_password=su-pw-7"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 4, "{out}");
    assert_eq!(hosts.sh(0, "cat /root/who").1, "root\u{3}\u{4}\t|\n");
    assert_eq!(hosts.sh(0, "stat -c %U /root/who").1, "root\n");
    assert_eq!(
        std::fs::read_to_string(hosts.path(0, "/root/big.txt")).unwrap(),
        big
    );
    // Idempotent through the same terminal.
    let (code, out, err) = play(
        &hosts,
        "deploy",
        &pb,
        &["-e", "ansible_become_password=su-pw-7"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(recap(&out, "h0").changed, 2, "the commands only: {out}");

    // A task past its timeout: its shell is ended from a second su'd shell, and the next task
    // gets a fresh one.
    let slow = write(
        hosts.dir.path(),
        "su-slow.yml",
        "- hosts: test\n  gather_facts: false\n  become: true\n  become_method: su\n  tasks:\n    - command: sleep 60\n      timeout: 2\n      ignore_errors: true\n    - command: id -un\n      register: who\n    - assert: {that: [\"who.stdout == 'root'\"]}\n",
    );
    let started = Instant::now();
    let (code, out, err) = play(
        &hosts,
        "deploy",
        &slow,
        &["-e", "ansible_become_password=su-pw-7"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?} {out}",
        started.elapsed()
    );
    assert!(
        hosts
            .processes(0)
            .iter()
            .all(|p| !p.cmdline.contains("sleep 60")),
        "the timed-out command was left running"
    );

    let (code, out, err) = play(
        &hosts,
        "deploy",
        &pb,
        &["-e", "ansible_become_password=wrong"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("Incorrect su password"), "{out}");
    assert!(out.contains("Authentication failure"), "{out}");
    assert!(!out.contains("wrong"), "the password was shown: {out}");
}

/// `become_method: su` with a password over the local connection: drover, run by `deploy`
/// inside a test host, starts root's shell on a pseudo-terminal of its own and answers su.
#[test]
fn su_with_a_password_over_the_local_connection() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (rc, out) = hosts.sh(0, "echo 'root:su-pw-8' | chpasswd");
    assert_eq!(rc, 0, "{out}");
    std::fs::copy(
        env!("CARGO_BIN_EXE_drover"),
        hosts.path(0, "/usr/local/bin/drover"),
    )
    .unwrap();
    std::fs::write(
        hosts.path(0, "/tmp/su-local.yml"),
        "- hosts: localhost\n  gather_facts: false\n  become: true\n  become_method: su\n  tasks:\n    - command: id -un\n      register: who\n    - copy: {dest: /root/local-who, content: \"{{ who.stdout }}\"}\n",
    )
    .unwrap();
    let run_as_deploy = |password: &str| {
        hosts.ns_sh(
            0,
            &format!(
                "cd /tmp && setpriv --reuid=deploy --regid=deploy --init-groups env HOME=/home/deploy USER=deploy NO_COLOR=1 /usr/local/bin/drover play -c local -i localhost, /tmp/su-local.yml -e ansible_become_password={password}"
            ),
        )
    };
    let (rc, out) = run_as_deploy("su-pw-8");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(hosts.sh(0, "cat /root/local-who").1, "root");
    assert_eq!(hosts.sh(0, "stat -c %U /root/local-who").1, "root\n");
    let (rc, out) = run_as_deploy("wrong");
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("Incorrect su password"), "{out}");
}

/// `become_method: doas` (community.general's, as `doas` and by its FQCN): `deploy` becomes
/// `nobody` where doas.conf says `nopass` (doas run with `-n`, never waiting), and root
/// where doas asks deploy's own password on a terminal; a wrong password and a user doas.conf
/// does not permit fail with the plugin's words.
#[test]
fn doas_becomes_users_with_and_without_a_password() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let (rc, out) = hosts.sh(
        0,
        "command -v doas && echo 'deploy:doas-pw-3' | chpasswd && \
         printf 'permit nopass deploy as nobody\\npermit deploy as root\\n' > /etc/doas.conf && \
         chmod 0400 /etc/doas.conf",
    );
    assert_eq!(rc, 0, "{out}");
    let pb = write(
        hosts.dir.path(),
        "doas.yml",
        "- hosts: test\n  gather_facts: false\n  become: true\n  tasks:\n    - command: id -un\n      become_user: nobody\n      become_method: doas\n      register: who\n    - copy: {dest: /root/doas-who, content: \"{{ who.stdout }}\"}\n      become_method: community.general.doas\n",
    );
    let (code, out, err) = play(
        &hosts,
        "deploy",
        &pb,
        &["-e", "ansible_become_password=doas-pw-3"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(hosts.sh(0, "cat /root/doas-who").1, "nobody");
    assert_eq!(hosts.sh(0, "stat -c %U /root/doas-who").1, "root\n");
    // Without a password, doas is not asked to wait for one: `nobody` still works, root fails.
    let (code, out, err) = play(&hosts, "deploy", &pb, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("Missing doas password"), "{out}");
    let (code, out, err) = play(
        &hosts,
        "deploy",
        &pb,
        &["-e", "ansible_become_password=nope"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("Incorrect doas password"), "{out}");
    assert!(!out.contains("nope"), "the password was shown: {out}");
}
