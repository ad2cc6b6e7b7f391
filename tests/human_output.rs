//! Snapshots of the human output: the exact text of a representative run over the local
//! connection (banners, ok/changed/failed/skipping lines, loop items, `--diff` of a copied file
//! and a template, handlers, `skipping: no hosts matched`, a warning on stderr, the recap, `-vv` results and task paths), of `drover run` and of
//! `drover inventory --graph/--list`, compared with the files in `tests/snapshots/`.
//!
//! Durations, timestamps, the temp directory and the user's ids are replaced by placeholders
//! (`<work>`, `<delta>`, ...) before comparing. After an intended change of the output,
//! rewrite the snapshots and review the diff:
//!
//! ```sh
//! DROVER_UPDATE_SNAPSHOTS=1 cargo test --test human_output
//! git diff tests/snapshots/
//! ```

mod support;

use std::path::Path;
use support::{drover, run, s, write};

const PLAYBOOK: &str = r#"- name: nobody home
  hosts: empty
  gather_facts: false
  tasks:
    - name: never runs
      command: "true"

- name: configure the box
  hosts: local
  gather_facts: false
  vars:
    greeting: hello
    secret: hunter2-very-secret
  tasks:
    - name: write a file
      copy:
        content: "one\ntwo\nthree\n"
        dest: "{{ work }}/plain.txt"
      notify: announce
    - name: render a template
      template:
        src: motd.j2
        dest: "{{ work }}/motd"
      notify: announce
    - name: an unchanged command
      command: "true"
      changed_when: false
    - name: a skipped task
      command: "true"
      when: false
    - name: loop items
      command: "echo {{ item }}"
      loop: [alpha, beta]
      changed_when: item == 'beta'
    - name: say something
      debug:
        msg: "{{ greeting }} from {{ inventory_hostname }}"
    - name: a lookup that only warns
      debug:
        msg: "{{ lookup('file', work ~ '/missing.txt', errors='warn') | default('nothing', true) }}"
    - name: a tolerated failure
      fail:
        msg: not fatal
      ignore_errors: true
    - name: one loop item fails
      command: "test {{ item }} = ok"
      loop: [ok, bad]
      ignore_errors: true
    - name: a secret loop
      debug:
        msg: "the secret is {{ secret }}"
      loop: ["{{ secret }}"]
      no_log: true
    - name: a secret failure
      shell: "echo {{ secret }}; exit 1"
      no_log: true
      ignore_errors: true
  handlers:
    - name: announce
      debug:
        msg: files changed

- name: the end
  hosts: local
  gather_facts: false
  tasks:
    - name: stop here
      fail:
        msg: "deliberate failure"
"#;

const TEMPLATE: &str =
    "Welcome to {{ inventory_hostname }}\n{{ greeting }}, operator\nline three\n";

fn fixture(dir: &Path) {
    write(
        dir,
        "hosts.ini",
        "[local]\nlocalhost ansible_connection=local\n\n[empty]\n",
    );
    write(dir, "site.yml", PLAYBOOK);
    write(dir, "motd.j2", TEMPLATE);
    // Files that exist with other content, so the diffs change lines rather than add all.
    write(dir, "plain.txt", "one\n2\nthree\n");
    write(
        dir,
        "motd",
        "Welcome to localhost\nhi, operator\nline three\n",
    );
}

/// Replaces the value of `"key": VALUE` (a JSON string or number) with `"<key>"`.
fn mask_key(text: &str, key: &str) -> String {
    let pat = format!("\"{key}\": ");
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        out.push_str(&rest[..i + pat.len()]);
        rest = &rest[i + pat.len()..];
        let end = if let Some(body) = rest.strip_prefix('"') {
            let mut escaped = false;
            let close = body
                .char_indices()
                .find(|&(_, c)| {
                    let hit = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    hit
                })
                .map(|(j, _)| j + 2)
                .unwrap_or(rest.len());
            close
        } else {
            rest.find(|c: char| !c.is_ascii_digit() && c != '-')
                .unwrap_or(rest.len())
        };
        out.push_str(&format!("\"<{key}>\""));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Output with what differs between runs and machines replaced by placeholders.
fn normalise(text: &str, work: &Path) -> String {
    let mut t = text.replace(s(work), "<work>");
    for key in [
        "delta", "start", "end", "uid", "gid", "owner", "group", "mtime", "atime",
    ] {
        t = mask_key(&t, key);
    }
    t
}

/// Compares `actual` with `tests/snapshots/NAME`, or writes it there with
/// `DROVER_UPDATE_SNAPSHOTS=1`.
fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("DROVER_UPDATE_SNAPSHOTS").is_some_and(|v| v != "0") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}); create it with DROVER_UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    if expected != actual {
        let diff: String = expected
            .lines()
            .zip(actual.lines().chain(std::iter::repeat("<missing>")))
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(n, (e, a))| format!("line {}:\n  want: {e}\n  got:  {a}\n", n + 1))
            .collect();
        panic!(
            "the output differs from {} (DROVER_UPDATE_SNAPSHOTS=1 rewrites it):\n{diff}\nfull output:\n{actual}",
            path.display()
        );
    }
}

fn play(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = drover();
    cmd.current_dir(dir)
        .args(["play", "-i", "hosts.ini", "site.yml", "-e"])
        .arg(format!("work={}", s(dir)))
        .args(args);
    let (code, out, err) = run(&mut cmd);
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "{args:?}: the no_log secret leaked:\n{out}\n{err}"
    );
    // Warnings go to stderr, as ansible-playbook's; they end the snapshot.
    (code, normalise(&format!("{out}--- stderr ---\n{err}"), dir))
}

const SECRET: &str = "hunter2-very-secret";

#[test]
fn playbook_run_with_diff_then_verbose_rerun() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let (code, out) = play(dir.path(), &["--diff"]);
    assert_eq!(code, 2, "the last play fails:\n{out}");
    assert_snapshot("play_diff.txt", &out);
    let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
    assert_eq!(read("plain.txt"), "one\ntwo\nthree\n");
    assert_eq!(
        read("motd"),
        "Welcome to localhost\nhello, operator\nline three\n"
    );

    // Nothing left to change: no diff, no handler; every result echoed, task paths shown.
    let (code, out) = play(dir.path(), &["-vv"]);
    assert_eq!(code, 2, "{out}");
    assert_snapshot("play_verbose.txt", &out);

    // `no_log` holds at every verbosity (`play` asserts the secret is absent).
    for v in ["-vvv", "-vvvv"] {
        let (code, out) = play(dir.path(), &[v, "--diff"]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("(item=None)"), "{out}");
    }
}

#[test]
fn adhoc_run_like_ansible() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.ini",
        "[web]\nweb1 ansible_connection=local\nweb2 ansible_connection=local\n",
    );
    // One fork: results print as each host finishes, so hosts taking turns keep the
    // snapshot's order.
    let adhoc = |args: &[&str]| {
        let mut cmd = drover();
        cmd.current_dir(dir.path())
            .args(["run", "-i", "hosts.ini", "web", "-f", "1"])
            .args(args);
        let (code, out, err) = run(&mut cmd);
        (code, normalise(&out, dir.path()), err)
    };
    let (code, out, err) = adhoc(&["-a", "echo hi {{ inventory_hostname }}"]);
    assert_eq!(code, 0, "{err}");
    let (code2, failed, _) = adhoc(&["-m", "shell", "-a", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code2, 2, "a failed command exits 2 as a play does");
    let (code3, other, _) = adhoc(&[
        "-m",
        "copy",
        "-a",
        &format!(
            "content=x dest={}/{{{{ inventory_hostname }}}}.txt mode=0600",
            s(dir.path())
        ),
    ]);
    assert_eq!(code3, 0);
    for h in ["web1", "web2"] {
        let p = dir.path().join(format!("{h}.txt"));
        assert_eq!(std::fs::read_to_string(p).unwrap(), "x");
    }
    let (code4, debug, _) = adhoc(&["-m", "debug", "-a", "msg=hello"]);
    assert_eq!(code4, 0);
    let dir_arg = format!("path={}/d state=directory", s(dir.path()));
    let (code5, check, _) = adhoc(&[
        "-l", "web1", "-m", "file", "-a", &dir_arg, "--check", "--diff",
    ]);
    assert_eq!(code5, 0);
    assert!(!dir.path().join("d").exists(), "--check changed nothing");
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["run", "-i", "hosts.ini", "nosuch", "-m", "ping"]);
    let (code6, nobody, _) = run(&mut cmd);
    assert_eq!(code6, 0, "no hosts is not an error (as ansible)");
    assert_snapshot(
        "adhoc.txt",
        &format!(
            "$ drover run web -a 'echo hi ...'\n{out}\n$ drover run web -m shell -a '... exit 3'\n{failed}\n$ drover run web -m copy ...\n{other}\n$ drover run web -m debug -a msg=hello\n{debug}\n$ drover run web -l web1 -m file -a '... state=directory' --check --diff\n{check}\n$ drover run nosuch -m ping\n{nobody}"
        ),
    );
}

#[test]
fn inventory_graph_and_list_like_ansible_inventory() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.yml",
        "all:\n  vars:\n    site: north\n  children:\n    prod:\n      children:\n        web:\n          hosts:\n            web1:\n              ansible_host: 10.0.0.1\n              tags: [a, b]\n            web2:\n          vars:\n            http_port: 80\n        db:\n          hosts:\n            db1:\n    empty:\n  hosts:\n    lone:\n      flag: yes\n",
    );
    let inventory = |args: &[&str]| {
        let mut cmd = drover();
        cmd.current_dir(dir.path())
            .args(["inventory", "-i", "hosts.yml"])
            .args(args);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let text = format!(
        "$ drover inventory --graph\n{}\n$ drover inventory --graph prod --vars\n{}\n$ drover inventory --list\n{}",
        inventory(&["--graph"]),
        inventory(&["--graph", "prod", "--vars"]),
        inventory(&["--list"]),
    );
    assert_snapshot("inventory.txt", &text);

    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["inventory", "-i", "hosts.yml", "--graph", "nope"]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 5, "an unknown group is bad input");
    assert!(err.contains("no group named `nope`"), "{err}");
}

/// On a terminal (util-linux `script`), `--diff` is coloured: removed lines red, added lines
/// green, hunk headers cyan, file headers bold; the words stay the snapshot's.
#[test]
fn diff_is_coloured_on_a_terminal() {
    let have_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_script {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let mut cmd = std::process::Command::new("script");
    cmd.current_dir(dir.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .arg("-qfec")
        .arg(format!(
            "stty cols 80; '{}' play -i hosts.ini site.yml --diff --no-progress -e work='{}'",
            env!("CARGO_BIN_EXE_drover"),
            s(dir.path())
        ))
        .arg("/dev/null");
    let (code, out, _) = run(&mut cmd);
    assert_eq!(code, 2, "{out:?}");
    for want in [
        "\x1b[31m-2\x1b[0m",
        "\x1b[32m+two\x1b[0m",
        "\x1b[36m@@ -1,3 +1,3 @@\x1b[0m",
        "\x1b[1m--- before: ",
        "\x1b[31m-hi, operator\x1b[0m",
        "\x1b[33mchanged: [localhost]\x1b[0m",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out:?}");
    }
}

/// Results print as each host finishes the task (ansible-playbook's linear strategy), not in
/// inventory order once all are done; the recap stays sorted by host name.
#[test]
fn results_print_as_each_host_finishes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.ini",
        "a ansible_connection=local nap=1.6\nb ansible_connection=local nap=0\nc ansible_connection=local nap=0.8\n",
    );
    write(
        dir.path(),
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: sleep {{ nap }}\n",
    );
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["play", "-i", "hosts.ini", "pb.yml"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("changed: ["))
        .collect();
    assert_eq!(order, ["b]", "c]", "a]"], "{out}");
    let recap: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(recap, ["a", "b", "c"], "{out}");
}
