//! Playbooks, ad-hoc runs and the inventory command over the local connection, each in its
//! own temp dir: outcomes are checked on disk, in the output and in the PLAY RECAP.

mod support;

use std::path::{Path, PathBuf};
use support::{drover, recap, run, s, snapshot, write};

/// An inventory with `localhost` on the local connection, in `dir`.
fn local_inventory(dir: &Path) -> PathBuf {
    write(
        dir,
        "hosts.ini",
        "[local]\nlocalhost ansible_connection=local\n",
    )
}

/// `drover play -i <local inventory> PLAYBOOK ARGS…`
fn play(dir: &Path, playbook: &Path, args: &[&str]) -> (i32, String, String) {
    let inv = local_inventory(dir);
    let mut cmd = drover();
    cmd.current_dir(dir)
        .arg("play")
        .arg("-i")
        .arg(inv)
        .arg(playbook)
        .args(args);
    run(&mut cmd)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

const FEATURES: &str = r#"- hosts: localhost
  gather_facts: false
  vars:
    words: [alpha, beta, gamma]
  tasks:
    - name: make the work dir
      command: mkdir {{ work }}
      args:
        creates: "{{ work }}"
    - name: seed a file
      shell: printf 'seed\n' > seed.txt
      args:
        chdir: "{{ work }}"
        creates: "{{ work }}/seed.txt"
    - name: remove the stale file
      command: rm {{ stale }}
      args:
        removes: "{{ stale }}"
    - name: where am I
      command: pwd
      args:
        chdir: "{{ work }}"
      register: where
      changed_when: false
    - name: feed stdin
      shell: tr a-z A-Z
      args:
        stdin: hello stdin
      register: upper
      changed_when: false
    - set_fact:
        summary: "{{ where.stdout | basename }}:{{ upper.stdout }}"
    - debug: var=summary
    - assert:
        that:
          - where.stdout == work
          - upper.stdout == 'HELLO STDIN'
          - summary == 'work:HELLO STDIN'
    - name: an ignored failure
      fail:
        msg: this failure is ignored
      ignore_errors: true
    - name: loop with when
      shell: echo {{ item }} >> {{ work }}/loop.txt
      loop: "{{ words }}"
      when: item != 'beta'
    - name: with_items flattens one level
      shell: echo {{ item }} >> {{ work }}/items.txt
      with_items:
        - [one, two]
        - three
    - name: never runs
      command: touch {{ work }}/never
      when: words | length > 5
    - name: grep finding nothing is not a failure
      command: grep nomatch {{ work }}/seed.txt
      register: g
      failed_when: g.rc not in [0, 1]
      changed_when: g.rc == 0
    - assert:
        that:
          - g.rc == 1
          - g is not failed
"#;

#[test]
fn command_shell_and_core_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let stale = write(tmp.path(), "stale.txt", "old\n");
    let pb = write(tmp.path(), "features.yml", FEATURES);
    let ev = [
        "-e",
        &format!("work={}", s(&work)),
        "-e",
        &format!("stale={}", s(&stale)),
    ];
    let (code, out, err) = play(tmp.path(), &pb, &ev);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("{\n    \"summary\": \"work:HELLO STDIN\"\n}"),
        "debug var= shows the fact: {out}"
    );
    assert!(out.contains("...ignoring"), "{out}");
    let r = recap(&out, "localhost");
    assert_eq!(
        (r.ok, r.changed, r.failed, r.skipped, r.ignored),
        (13, 5, 0, 1, 1),
        "{out}"
    );
    assert_eq!(read(&work.join("seed.txt")), "seed\n");
    assert!(!stale.exists(), "removes: ran and removed the file");
    assert_eq!(read(&work.join("loop.txt")), "alpha\ngamma\n");
    assert_eq!(read(&work.join("items.txt")), "one\ntwo\nthree\n");
    assert!(!work.join("never").exists());

    // Second run: creates/removes guards hold, only the unguarded loops change again.
    let (code, out, err) = play(tmp.path(), &pb, &ev);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let r = recap(&out, "localhost");
    assert_eq!(
        (r.ok, r.changed, r.failed, r.skipped, r.ignored),
        (13, 2, 0, 1, 1),
        "{out}"
    );
    assert_eq!(read(&work.join("seed.txt")), "seed\n");
    assert_eq!(read(&work.join("loop.txt")), "alpha\ngamma\nalpha\ngamma\n");
    assert_eq!(read(&work.join("items.txt")).lines().count(), 6);
}

#[test]
fn failing_task_exits_2_and_stops_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: touch before\n    - name: this fails\n      command: ls /nonexistent-drover-test-path\n    - command: touch after\n",
    );
    let (code, out, err) = play(tmp.path(), &pb, &[]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("FAILED!"), "{out}");
    assert!(tmp.path().join("before").exists());
    assert!(
        !tmp.path().join("after").exists(),
        "no task after a failure"
    );
    let r = recap(&out, "localhost");
    assert_eq!((r.ok, r.changed, r.failed), (1, 1, 1), "{out}");

    // `fail` without ignore_errors fails the run too; with it, the run succeeds.
    let pb = write(
        tmp.path(),
        "fail.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail:\n        msg: stop here\n",
    );
    let (code, out, _) = play(tmp.path(), &pb, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("stop here"), "{out}");
}

#[test]
fn failed_when_false_keeps_changed() {
    // Ansible: a command that ran is `changed` even when its rc is non-zero and
    // `failed_when: false` says that is fine.
    let tmp = tempfile::tempdir().unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - shell: exit 3\n      register: r\n      failed_when: false\n    - assert:\n        that:\n          - r.rc == 3\n          - r is not failed\n          - r is changed\n",
    );
    let (code, out, err) = play(tmp.path(), &pb, &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let r = recap(&out, "localhost");
    assert_eq!((r.ok, r.changed, r.failed), (2, 1, 0), "{out}");
}

#[test]
fn handlers_run_only_on_change() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: create config
      command: touch {{ dir }}/config
      args:
        creates: "{{ dir }}/config"
      notify: restart
    - name: unchanged task notifies too
      command: "true"
      changed_when: false
      notify: other
  handlers:
    - name: restart
      shell: echo restarted >> {{ dir }}/handler.log
    - name: other
      shell: echo other >> {{ dir }}/other.log
"#,
    );
    let dir = format!("dir={}", s(tmp.path()));
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &dir]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("RUNNING HANDLER [restart]"), "{out}");
    assert!(!out.contains("RUNNING HANDLER [other]"), "{out}");
    assert_eq!(recap(&out, "localhost").changed, 2, "{out}");
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &dir]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains("RUNNING HANDLER"), "{out}");
    assert_eq!(recap(&out, "localhost").changed, 0, "{out}");
    assert_eq!(read(&tmp.path().join("handler.log")), "restarted\n");
    assert!(!tmp.path().join("other.log").exists());
}

#[test]
fn extra_vars_override_play_vars() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  vars:
    a: play
    b: play
    c: play
  tasks:
    - debug:
        msg: "first a={{ a }} b={{ b }} c={{ c }}"
    - set_fact:
        a: fact
    - debug:
        msg: "then a={{ a }}"
      vars:
        b: task
"#,
    );
    write(tmp.path(), "ev.yml", "a: file\nb: file\n");
    let (code, out, err) = play(tmp.path(), &pb, &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("first a=play b=play c=play"), "{out}");
    assert!(out.contains("then a=fact"), "{out}");

    let (code, out, err) = play(tmp.path(), &pb, &["-e", "@ev.yml"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("first a=file b=file c=play"), "{out}");
    assert!(out.contains("then a=file"), "-e beats set_fact: {out}");

    // Later -e values win over earlier ones; JSON works too.
    let (code, out, err) = play(
        tmp.path(),
        &pb,
        &["-e", "@ev.yml", "-e", "b=kv", "-e", r#"{"c": "json"}"#],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("first a=file b=kv c=json"), "{out}");
}

#[test]
fn tags_and_skip_tags_select_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: alpha task
      command: touch alpha
      tags: [alpha]
    - name: beta task
      command: touch beta
      tags: beta
    - name: both
      command: touch both
      tags: [alpha, beta]
    - name: untagged
      command: touch untagged
    - name: always
      command: touch always
      tags: always
    - name: never
      command: touch never
      tags: [never, debug]
"#,
    );
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["alpha", "always", "beta", "both", "untagged"]),
        (&["--tags", "alpha"], &["alpha", "always", "both"]),
        (
            &["--tags", "beta,debug"],
            &["always", "beta", "both", "never"],
        ),
        (&["--skip-tags", "alpha"], &["always", "beta", "untagged"]),
        (
            &["--tags", "beta", "--skip-tags", "alpha,always"],
            &["beta"],
        ),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        std::fs::create_dir(&dir).unwrap();
        let mut cmd = drover();
        cmd.current_dir(&dir)
            .args(["play", "-i"])
            .arg(local_inventory(tmp.path()))
            .arg(&pb)
            .args(*args);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{args:?}: stdout:\n{out}\nstderr:\n{err}");
        let mut made: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        made.sort();
        assert_eq!(made, *expected, "{args:?}\n{out}");
        assert_eq!(
            recap(&out, "localhost").changed as usize,
            expected.len(),
            "{args:?}\n{out}"
        );
    }
}

const LISTED: &str = r#"- name: Configure web
  hosts: web
  gather_facts: false
  tasks:
    - name: first step
      command: touch {{ marker }}
      tags: [setup]
    - name: second step
      debug:
        msg: hi
- name: Configure db
  hosts: db:!db2
  tasks:
    - name: db step
      command: touch {{ marker }}
      tags: db
"#;

fn listing_fixture(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let inv = write(
        dir,
        "list.ini",
        "[web]\nweb1 ansible_connection=local\nweb2 ansible_connection=local\n[db]\ndb1 ansible_connection=local\ndb2 ansible_connection=local\n",
    );
    let pb = write(dir, "site.yml", LISTED);
    (inv, pb, dir.join("marker"))
}

fn list_run(inv: &Path, pb: &Path, marker: &Path, args: &[&str]) -> String {
    let mut cmd = drover();
    cmd.args(["play", "-i"])
        .arg(inv)
        .arg(pb)
        .args(["-e", &format!("marker={}", s(marker))])
        .args(args);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{args:?}: stdout:\n{out}\nstderr:\n{err}");
    assert!(!marker.exists(), "{args:?} must not run anything");
    assert!(!out.contains("PLAY RECAP"), "{args:?} runs nothing: {out}");
    out
}

#[test]
fn list_hosts_tasks_and_syntax_check_run_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb, marker) = listing_fixture(tmp.path());

    let out = list_run(&inv, &pb, &marker, &["--list-hosts"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines.contains(&"hosts (2):"), "{out}");
    assert!(lines.contains(&"hosts (1):"), "db:!db2 is one host: {out}");
    for h in ["web1", "web2", "db1"] {
        assert!(lines.contains(&h), "{h} listed: {out}");
    }
    assert!(!lines.contains(&"db2"), "{out}");
    assert!(
        out.contains("Configure web") && out.contains("Configure db"),
        "{out}"
    );

    let out = list_run(&inv, &pb, &marker, &["--list-hosts", "--limit", "web1,db1"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines.contains(&"web1") && lines.contains(&"db1"), "{out}");
    assert!(!lines.contains(&"web2"), "{out}");

    let out = list_run(&inv, &pb, &marker, &["--list-tasks"]);
    for t in ["first step", "second step", "db step"] {
        assert!(out.contains(t), "{t}: {out}");
    }
    assert!(out.contains("TAGS: [setup]"), "{out}");
    let out = list_run(&inv, &pb, &marker, &["--list-tasks", "--tags", "db"]);
    assert!(out.contains("db step"), "{out}");
    assert!(
        !out.contains("first step") && !out.contains("second step"),
        "{out}"
    );

    let out = list_run(&inv, &pb, &marker, &["--syntax-check"]);
    assert!(
        out.contains(&format!("playbook: {}", pb.display())),
        "{out}"
    );
}

#[test]
fn list_hosts_shows_the_host_pattern() {
    // ansible-playbook --list-hosts prints `play #1 (web): Configure web` and
    // `pattern: ['web']`: the play's host pattern, not its name again.
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb, marker) = listing_fixture(tmp.path());
    let out = list_run(&inv, &pb, &marker, &["--list-hosts"]);
    let patterns: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pattern:"))
        .map(str::trim)
        .collect();
    assert_eq!(patterns.len(), 2, "{out}");
    assert!(
        patterns[0].contains("web") && !patterns[0].contains("Configure"),
        "first play's pattern is `web`: {out}"
    );
    assert!(
        patterns[1].contains("db:!db2"),
        "second play's pattern is `db:!db2`: {out}"
    );
}

#[test]
fn check_mode_changes_nothing_and_predicts_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    write(&root, "stale.txt", "stale\n");
    write(&root, "keep.txt", "keep\n");
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: make a dir
      command: mkdir {{ root }}/new
      args:
        creates: "{{ root }}/new"
    - name: write a file
      shell: echo data > {{ root }}/new/data.txt
      args:
        creates: "{{ root }}/new/data.txt"
    - name: remove the stale file
      command: rm {{ root }}/stale.txt
      args:
        removes: "{{ root }}/stale.txt"
    - name: already there
      command: touch {{ root }}/keep.txt
      args:
        creates: "{{ root }}/keep.txt"
    - name: unguarded command (skipped in check mode)
      shell: echo boom > {{ root }}/boom
    - set_fact:
        x: 1
    - debug:
        msg: "x={{ x }}"
"#,
    );
    let ev = format!("root={}", s(&root));
    let before = snapshot(&root);

    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev, "--check"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(snapshot(&root), before, "--check changed the disk:\n{out}");
    let checked = recap(&out, "localhost");
    assert_eq!((checked.changed, checked.skipped), (3, 1), "{out}");

    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev, "--check", "--diff"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(snapshot(&root), before, "--check --diff changed the disk");

    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let real = recap(&out, "localhost");
    assert_eq!(
        real.changed,
        checked.changed + 1,
        "the check run predicted every guarded change (plus the unguarded one runs now)\n{out}"
    );
    assert_eq!(read(&root.join("new/data.txt")), "data\n");
    assert_eq!(read(&root.join("boom")), "boom\n");
    assert!(!root.join("stale.txt").exists());
    assert_eq!(read(&root.join("keep.txt")), "keep\n");

    // Converged: check mode predicts nothing for the guarded tasks and still changes nothing.
    let after = snapshot(&root);
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev, "--check"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(snapshot(&root), after);
    let r = recap(&out, "localhost");
    assert_eq!((r.changed, r.skipped), (0, 1), "{out}");
}

/// A link to a directory an earlier task creates: check mode predicts both changes (saying
/// what it assumed) instead of failing, changes nothing, and the real run agrees; a link to a
/// source nothing creates still fails in both.
#[test]
fn check_mode_links_to_what_an_earlier_task_creates() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - file:
        path: "{{ root }}/releases/1"
        state: directory
    - file:
        src: releases/1
        dest: "{{ root }}/current"
        state: link
"#,
    );
    let ev = format!("root={}", s(&root));
    let before = snapshot(&root);
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev, "--check", "-v"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(snapshot(&root), before, "--check changed the disk:\n{out}");
    assert_eq!(recap(&out, "localhost").changed, 2, "{out}");
    assert!(
        out.contains(
            "releases/1 does not exist yet; check mode assumes an earlier task creates it"
        ),
        "{out}"
    );
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 2, "{out}");
    assert_eq!(
        std::fs::read_link(root.join("current")).unwrap(),
        Path::new("releases/1")
    );
    let (code, out, _) = play(tmp.path(), &pb, &["-e", &ev, "--check"]);
    assert_eq!((code, recap(&out, "localhost").changed), (0, 0), "{out}");

    let missing = write(
        tmp.path(),
        "missing.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - file:
        src: nowhere
        dest: "{{ root }}/dangling"
        state: link
"#,
    );
    let (code, out, _) = play(tmp.path(), &missing, &["-e", &ev]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("src file does not exist"), "{out}");
    assert!(!root.join("dangling").exists());
}

/// Rewriting a file keeps what the task did not ask to change: its owner, group and mode,
/// set-user-ID and set-group-ID bits included (a `chown` after a `chmod` would clear them).
#[test]
fn rewrites_keep_owner_group_and_special_mode_bits() {
    if !support::is_root() {
        support::skip("needs root to give files to another user");
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let modes = [0o4755, 0o2750, 0o640];
    for (i, m) in modes.iter().enumerate() {
        for kind in ["line", "copy", "tmpl"] {
            let f = write(&root, &format!("{kind}{i}"), "a=1\n");
            std::os::unix::fs::chown(&f, Some(65534), Some(1)).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(*m)).unwrap();
        }
    }
    write(tmp.path(), "t.j2", "templated {{ item }}\n");
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - lineinfile:
        path: "{{ root }}/line{{ item }}"
        line: b=2
      loop: [0, 1, 2]
    - copy:
        dest: "{{ root }}/copy{{ item }}"
        content: "copied\n"
      loop: [0, 1, 2]
    - template:
        src: t.j2
        dest: "{{ root }}/tmpl{{ item }}"
      loop: [0, 1, 2]
"#,
    );
    let ev = format!("root={}", s(&root));
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &ev]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 3, "{out}");
    for (i, m) in modes.iter().enumerate() {
        for kind in ["line", "copy", "tmpl"] {
            let f = root.join(format!("{kind}{i}"));
            let md = std::fs::metadata(&f).unwrap();
            assert_eq!(
                (md.mode() & 0o7777, md.uid(), md.gid()),
                (*m, 65534, 1),
                "{}",
                f.display()
            );
        }
    }
    assert_eq!(read(&root.join("line0")), "a=1\nb=2\n");
    assert_eq!(read(&root.join("copy1")), "copied\n");
    assert_eq!(read(&root.join("tmpl2")), "templated 2\n");
}

#[test]
fn adhoc_run() {
    let tmp = tempfile::tempdir().unwrap();
    // The README's example: the implicit localhost, no inventory.
    let (code, out, err) = run(drover().current_dir(tmp.path()).args([
        "run",
        "localhost",
        "-m",
        "command",
        "-a",
        "echo hi",
    ]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out, "localhost | CHANGED | rc=0 >>\nhi\n");
    let (code, out, _) = run(drover().current_dir(tmp.path()).args([
        "run",
        "localhost",
        "-v",
        "-m",
        "command",
        "-a",
        "echo hi",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("localhost | CHANGED | rc=0 >>\nhi\n"), "{out}");

    // Against an inventory, with a side effect to check on disk.
    let inv = local_inventory(tmp.path());
    let target = tmp.path().join("out.txt");
    let (code, out, err) = run(drover()
        .args(["run", "all", "-i", s(&inv), "-m", "shell", "-a"])
        .arg(format!("echo from-adhoc > {}", s(&target))));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(read(&target), "from-adhoc\n");

    let (code, out, _) = run(drover().args(["run", "all", "-i", s(&inv), "-a", "false"]));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("localhost | FAILED | rc=1 >>"), "{out}");
}

const INVENTORY: &str = "\
[web]
web[01:03].example.com http_port=8080

[db]
db1 ansible_host=10.0.0.5 role=primary

[prod:children]
web
db

[prod:vars]
env=production
http_port=80

[all:vars]
ntp=pool.ntp.org
";

fn inventory_cmd(inv: &Path, args: &[&str]) -> (i32, String, String) {
    run(drover().args(["inventory", "-i", s(inv)]).args(args))
}

#[test]
fn inventory_list_graph_host() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = write(tmp.path(), "inv.ini", INVENTORY);
    let web = [
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
    ];

    let (code, out, err) = inventory_cmd(&inv, &["--list"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("--list prints JSON");
    assert_eq!(v["web"]["hosts"], serde_json::json!(web), "{out}");
    assert_eq!(v["db"]["hosts"], serde_json::json!(["db1"]), "{out}");
    assert_eq!(
        v["prod"]["children"],
        serde_json::json!(["web", "db"]),
        "{out}"
    );
    let hv = &v["_meta"]["hostvars"];
    assert_eq!(hv["web02.example.com"]["http_port"], 8080, "{out}");
    assert_eq!(hv["web02.example.com"]["env"], "production", "{out}");
    assert_eq!(hv["db1"]["http_port"], 80, "{out}");
    assert_eq!(hv["db1"]["ntp"], "pool.ntp.org", "{out}");

    let (code, out, err) = inventory_cmd(&inv, &["--host", "db1"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("--host prints JSON");
    assert_eq!(
        v,
        serde_json::json!({
            "ansible_host": "10.0.0.5",
            "env": "production",
            "http_port": 80,
            "ntp": "pool.ntp.org",
            "role": "primary"
        }),
        "{out}"
    );

    let (code, out, err) = inventory_cmd(&inv, &["--graph"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"@all:"), "{out}");
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no line `{l}` in:\n{out}"))
    };
    let prod = pos("  |--@prod:");
    let webg = pos("  |  |--@web:");
    let dbg = pos("  |  |--@db:");
    assert!(prod < webg && prod < dbg, "{out}");
    for h in web {
        let p = pos(&format!("  |  |  |--{h}"));
        assert!(p > webg, "{out}");
    }
    assert!(pos("  |  |  |--db1") > dbg, "{out}");

    let (code, out, err) = inventory_cmd(&inv, &["--graph", "web"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("@web:"), "{out}");
    assert!(out.contains("|--web03.example.com"), "{out}");
    assert!(!out.contains("db1"), "{out}");

    let (code, _, err) = inventory_cmd(&inv, &["--host", "nope"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn ansible_become_variable_overrides_the_play_keyword_for_fact_gathering() {
    // The inventory turns become off for this host (as inventory/local.ini does); the play
    // asks for it. Facts must be gathered as the login user too, as every task is: before the
    // fix, gathering used the play's `become_user` (and needed sudo) whatever the variable said.
    let (code, out, log) = support::play_logged(
        Some("localhost ansible_connection=local ansible_become=false\n"),
        r#"- hosts: localhost
  become: true
  become_user: nobody
  tasks:
    - copy:
        content: "{{ ansible_user_id }}"
        dest: LOG
"#,
    );
    assert_eq!(code, 0, "{out}");
    let (_, me, _) = run(std::process::Command::new("id").arg("-un"));
    assert_eq!(log, me.trim(), "{out}");
}

/// `-f 100000` with one host: the worker pool is capped (at the hosts there are, with a few
/// spare, and a ceiling), so the run starts at once instead of creating 100,000 threads.
#[test]
fn huge_forks_with_one_host_runs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pb = write(
        dir.path(),
        "pb.yml",
        "- hosts: local\n  gather_facts: false\n  tasks:\n    - copy: dest={{ playbook_dir }}/out content=ok\n",
    );
    let start = std::time::Instant::now();
    let (code, out, err) = play(dir.path(), &pb, &["-f", "100000"]);
    let took = start.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(&dir.path().join("out")), "ok");
    assert!(
        took < std::time::Duration::from_secs(10),
        "took {took:?} (threads are not capped?)"
    );
}

/// A UTF-8 byte order mark at the start of a playbook, a vars file and an INI inventory is no
/// content: they load as without it (editors on Windows write one).
#[test]
fn utf8_byte_order_marks_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("bom.ini"),
        "\u{feff}[web]\nlocalhost ansible_connection=local\n",
    )
    .unwrap();
    std::fs::write(d.join("vars.yml"), "\u{feff}greeting: hello\n").unwrap();
    std::fs::write(
        d.join("pb.yml"),
        "\u{feff}- hosts: web\n  gather_facts: false\n  vars_files: [vars.yml]\n  tasks:\n    - copy: dest={{ playbook_dir }}/out content={{ greeting }}\n",
    )
    .unwrap();
    let (code, out, err) = run(drover()
        .current_dir(d)
        .args(["play", "-i", "bom.ini", "pb.yml"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read(&d.join("out")), "hello");
}

/// A template or copy source that is a device (read forever) fails the task at once, with a
/// message saying why; the play goes on.
#[test]
fn device_sources_fail_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pb = write(
        dir.path(),
        "pb.yml",
        "- hosts: local\n  gather_facts: false\n  tasks:\n    - template: src=/dev/zero dest={{ playbook_dir }}/t\n      ignore_errors: true\n    - copy: src=/dev/urandom dest={{ playbook_dir }}/c\n      ignore_errors: true\n    - copy: dest={{ playbook_dir }}/after content=after\n",
    );
    let (code, out, err) = play(dir.path(), &pb, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let fatal = out
        .lines()
        .filter(|l| l.starts_with("fatal:") && l.contains("is not a regular file"));
    assert_eq!(fatal.count(), 2, "{out}");
    assert_eq!(read(&dir.path().join("after")), "after");
}

/// `{% include %}` in a template renders the included file (found beside it), a missing one
/// fails naming the template that includes it, and `--diff` shows a file's terminal control
/// bytes escaped instead of sending them to the terminal.
#[test]
fn template_include_and_diff_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "templates/main.j2",
        "head\n{% include 'part.j2' %}\ntail\n",
    );
    write(d, "templates/part.j2", "part {{ x }}\n");
    write(d, "templates/bad.j2", "ok\n{% include 'missing.j2' %}\n");
    let pb = write(
        d,
        "pb.yml",
        "- hosts: local\n  gather_facts: false\n  vars: {x: 1}\n  tasks:\n    - template: src=main.j2 dest={{ playbook_dir }}/out\n    - template: src=bad.j2 dest={{ playbook_dir }}/bad\n      ignore_errors: true\n    - copy:\n        dest: \"{{ playbook_dir }}/esc\"\n        content: \"\\e[31mred\\a\\n\"\n",
    );
    let (code, out, err) = play(d, &pb, &["--diff"]);
    assert_eq!(code, 0, "{out}{err}");
    // As Jinja2 with Ansible's trim_blocks: the included file's last newline is dropped.
    assert_eq!(read(&d.join("out")), "head\npart 1tail\n");
    assert!(
        out.contains("missing.j2") && out.contains("bad.j2:2"),
        "the error names the including template and line:\n{out}"
    );
    assert_eq!(std::fs::read(d.join("esc")).unwrap(), b"\x1b[31mred\x07\n");
    assert!(out.contains("+\\x1b[31mred\\x07"), "{out}");
    assert!(
        !out.contains('\x1b') && !out.contains('\x07'),
        "raw controls shown"
    );
}

/// What ansible-playbook says about what a run targets, and its exit codes: a `--limit` that
/// leaves no host is an error (exit 1) after a warning per term that matches nothing; a play
/// pattern that matches nothing is warned about and skipped; with no inventory, its warnings;
/// a `--start-at-task` that names no task is an error before anything runs (Ansible's runs
/// the plays and exits 0).
#[test]
fn unmatched_patterns_limits_and_start_at_task_are_loud() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let marker = dir.join("ran");
    let pb = write(
        dir,
        "pb.yml",
        &format!(
            "- hosts: db\n  gather_facts: false\n  tasks:\n    - debug: msg=db\n- hosts: local\n  gather_facts: false\n  tasks:\n    - name: mark\n      file: {{path: {}, state: touch}}\n",
            marker.display()
        ),
    );
    let (code, out, err) = play(dir, &pb, &["-l", "nomatch,zz"]);
    assert_eq!(code, 1, "{out}{err}");
    let err = format!("{out}{err}");
    assert!(
        err.contains("[WARNING]: Could not match supplied host pattern, ignoring: nomatch"),
        "{err}"
    );
    assert!(
        err.contains("[WARNING]: Could not match supplied host pattern, ignoring: zz"),
        "{err}"
    );
    assert!(
        err.contains(
            "Specified inventory, host pattern and/or --limit leaves us with no hosts to target."
        ),
        "{err}"
    );
    assert!(!marker.exists(), "a play ran");

    let (code, out, err) = play(dir, &pb, &["--start-at-task", "nosuch"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("No matching task \"nosuch\" found. Note: --start-at-task can only follow static includes."), "{err}");
    assert!(!marker.exists(), "a play ran");

    let (code, out, err) = play(dir, &pb, &["-l", "localhost,zz", "--start-at-task", "mark"]);
    assert_eq!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("ignoring: zz") && all.contains("ignoring: db"),
        "{all}"
    );
    assert!(out.contains("skipping: no hosts matched"), "{out}");
    assert!(marker.exists());

    // No inventory at all: only the implicit localhost, and Ansible's warnings.
    let mut cmd = drover();
    cmd.current_dir(dir)
        .env_remove("ANSIBLE_INVENTORY")
        .env_remove("ANSIBLE_CONFIG")
        .args(["play", s(&pb)]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let err = format!("{out}{err}");
    assert!(err.contains("[WARNING]: provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'"), "{err}");
    assert!(err.contains("ignoring: local"), "{err}");
}

/// Under an open-file limit far below what 1,000 hosts' connections would hold (256, soft and
/// hard, so drover cannot raise it), no host is lost: fewer workers, and connections closed
/// between tasks once they do not fit; every host runs every task.
#[test]
fn a_thousand_local_hosts_under_a_low_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = String::from("[all]\n");
    for i in 0..1000 {
        inv.push_str(&format!("h{i:04} ansible_connection=local\n"));
    }
    write(dir.path(), "hosts.ini", &inv);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    write(
        dir.path(),
        "pb.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo one >> {0}/out/{{{{ inventory_hostname }}}}\n    - shell: echo two >> {0}/out/{{{{ inventory_hostname }}}}\n",
            dir.path().display()
        ),
    );
    let out = std::process::Command::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec {} play -i hosts.ini pb.yml -v",
            env!("CARGO_BIN_EXE_drover")
        ))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{stderr}\n{}",
        &stdout[stdout.len().saturating_sub(3000)..]
    );
    assert!(stderr.contains("workers instead of"), "{stderr}");
    let recaps = stdout
        .lines()
        .filter(|l| l.contains(": ok=2    changed=2    unreachable=0    failed=0"))
        .count();
    assert_eq!(
        recaps,
        1000,
        "{}",
        &stdout[stdout.len().saturating_sub(3000)..]
    );
    for i in 0..1000 {
        let f = dir.path().join(format!("out/h{i:04}"));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "one\ntwo\n",
            "{}",
            f.display()
        );
    }
}

/// `--shard I/N`: N runs cover the hosts exactly once between them, and their recaps together
/// are the unsharded run's; `--shards N` takes the index from JOB_COMPLETION_INDEX and
/// `DROVER_SHARD` stands for the flag; keywords that mean the whole fleet are refused before
/// anything runs unless `--per-shard` says they are meant per shard.
#[test]
fn shards_cover_the_hosts_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = String::from("[all]\n");
    for i in 0..40 {
        inv.push_str(&format!("node{i:02} ansible_connection=local\n"));
    }
    inv.push_str("[db]\nnode0[0:4]\n");
    write(dir.path(), "hosts.ini", &inv);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    write(
        dir.path(),
        "pb.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo {{{{ shard }}}} >> {}/out/{{{{ inventory_hostname }}}}\n",
            dir.path().display()
        ),
    );
    let play = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = drover();
        cmd.current_dir(dir.path())
            .args(["play", "-i", "hosts.ini", "pb.yml", "-l", "all:!db"])
            .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    let recap_lines = |out: &str| -> Vec<String> {
        out.lines()
            .skip_while(|l| !l.starts_with("PLAY RECAP"))
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut merged = Vec::new();
    for i in 0..4 {
        let shard = format!("{i}/4");
        let (code, out, err) = play(&["--shard", &shard, "-e", &format!("shard={i}")], &[]);
        assert_eq!(code, 0, "{out}{err}");
        merged.extend(recap_lines(&out));
    }
    // Every host after --limit ran once, in one shard; none of the limited-out ones ran.
    let ran: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ran.len(), 35, "{ran:?}");
    let mut sizes = [0usize; 4];
    for h in &ran {
        let text = std::fs::read_to_string(dir.path().join("out").join(h)).unwrap();
        assert_eq!(text.lines().count(), 1, "{h} ran {text:?}");
        sizes[text.trim().parse::<usize>().unwrap()] += 1;
        assert!(
            !h.starts_with("node0") || h.as_str() >= "node05",
            "{h} is limited out"
        );
    }
    assert!(sizes.iter().all(|s| *s > 0), "{sizes:?}");
    // The shards' recaps together are the unsharded run's.
    let (code, out, err) = play(&["-e", "shard=all"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    merged.sort();
    assert_eq!(merged, recap_lines(&out));
    // The same shard three ways.
    let hosts_of = |extra: &[&str], env: &[(&str, &str)]| -> String {
        let mut args = vec!["--list-hosts"];
        args.extend(extra);
        let (code, out, err) = play(&args, env);
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    let by_flag = hosts_of(&["--shard", "2/4"], &[]);
    assert_eq!(hosts_of(&[], &[("DROVER_SHARD", "2/4")]), by_flag);
    assert_eq!(
        hosts_of(&["--shards", "4"], &[("JOB_COMPLETION_INDEX", "2")]),
        by_flag
    );
    assert_eq!(by_flag.matches("node").count(), sizes[2], "{by_flag}");
    let (code, _, err) = play(&["--shard", "4/4"], &[]);
    assert_eq!(code, 5, "{err}");
    // Fleet-wide keywords.
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  serial: 5\n  tasks:\n    - debug: msg=x\n",
    );
    let (code, out, err) = play(&["--shard", "0/4"], &[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("pb.yml:1:3") && err.contains("`serial` means the whole fleet"),
        "{err}"
    );
    let (code, out, err) = play(&["--shard", "0/4", "--per-shard"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    // A literal hostvars lookup of a host of another shard is refused; of a host of this shard,
    // or one no shard runs (limited out), it runs; a computed one is warned about.
    let owner = (0..4)
        .find(|i| hosts_of(&["--shard", &format!("{i}/4")], &[]).contains("node10"))
        .unwrap();
    let other = format!("{}/4", (owner + 1) % 4);
    let own = format!("{owner}/4");
    let lookup = |host: &str| {
        let text = format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg={{{{ hostvars['{host}'].inventory_hostname }}}}\n");
        write(dir.path(), "pb.yml", &text);
    };
    lookup("node10");
    let (code, out, err) = play(&["--shard", &other], &[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("pb.yml:4:7: `hostvars['node10']` reads a host of another shard"),
        "{err}"
    );
    let (code, out, err) = play(&["--shard", &own], &[]);
    assert_eq!(code, 0, "{out}{err}");
    lookup("node01");
    let (code, out, err) = play(&["--shard", &other], &[]);
    assert_eq!(code, 0, "node01 is limited out: {out}{err}");
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg={{ hostvars[item].inventory_hostname }}\n      loop: [node10]\n",
    );
    let (code, out, err) = play(&["--shard", &other], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("[WARNING]: pb.yml:4:7: `hostvars` of a host named at run time"),
        "{out}"
    );
}

#[test]
fn looks_made_ahead_never_hide_a_change() {
    // The first file task of a quiet host looks at the paths of the next ones in one round
    // trip; they are answered from that look while nothing can have changed, and a change in
    // between (here the `second` task's) makes it serve no more.
    let tmp = tempfile::tempdir().unwrap();
    let pb = write(
        tmp.path(),
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: first
      copy: {dest: "{{ d }}/a", content: "one\n", mode: "0644"}
    - name: a directory
      file: {path: "{{ d }}/sub", state: directory, mode: "0750"}
    - name: a line
      lineinfile: {path: "{{ d }}/sub/b", line: "kept", create: true}
    - name: a file in the directory
      template: {src: "{{ d }}/t.j2", dest: "{{ d }}/sub/", mode: "0600"}
    - name: in between
      debug: {msg: nothing changes}
    - name: second
      copy: {dest: "{{ d }}/a", content: "two\n"}
    - name: third
      copy: {dest: "{{ d }}/a", content: "one\n"}
      register: third
    - name: the third saw the second's change
      debug: {msg: "third changed={{ third.changed }}"}
"#,
    );
    write(tmp.path(), "t.j2", "{{ 6 * 7 }}\n");
    let d = format!("d={}", s(tmp.path()));
    let run = |extra: &[&str], changed: u32| {
        let mut args = vec!["-e", d.as_str()];
        args.extend_from_slice(extra);
        let (code, out, err) = play(tmp.path(), &pb, &args);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        assert_eq!(recap(&out, "localhost").changed, changed, "{out}");
        out
    };
    run(&[], 6);
    // Quiet from the start: the first task's look holds `a`, `sub`, `sub/b` and `sub/t.j2`.
    for _ in 0..2 {
        let out = run(&[], 2);
        assert!(out.contains("third changed=True"), "{out}");
        assert_eq!(read(&tmp.path().join("a")), "one\n");
    }
    // In check mode nothing changes: the third task sees the file as the first left it.
    let out = run(&["--check"], 1);
    assert!(out.contains("third changed=False"), "{out}");
    // Changed outside the run, each of them is found changed by the look and set right.
    let sub = tmp.path().join("sub");
    std::fs::write(sub.join("t.j2"), "41\n").unwrap();
    run(&[], 3);
    assert_eq!(read(&sub.join("t.j2")), "42\n");
    std::fs::write(sub.join("b"), "other\n").unwrap();
    run(&[], 3);
    assert_eq!(read(&sub.join("b")), "other\nkept\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
    run(&[], 3);
    let mode = std::fs::metadata(&sub).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o750);
    std::fs::set_permissions(sub.join("t.j2"), std::fs::Permissions::from_mode(0o644)).unwrap();
    run(&[], 3);
    let mode = std::fs::metadata(sub.join("t.j2"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    // A lookup that writes a file on the controller (here the host itself) between two file
    // tasks ends the look too: the second finds the file the lookup made.
    let pb = write(
        tmp.path(),
        "pw.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - file: {path: "{{ d }}/sub", state: directory, mode: "0750"}
    - set_fact: {pw: "{{ lookup('password', d ~ '/sub/pw length=12') }}"}
    - file: {path: "{{ d }}/sub/pw", mode: "0600"}
"#,
    );
    let (code, out, err) = play(tmp.path(), &pb, &["-e", &d]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let mode = std::fs::metadata(sub.join("pw"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
}
