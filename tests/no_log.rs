//! `no_log` hides a secret from every output drover writes: the human output at every
//! verbosity, `--diff`, `--check --diff`, `--output json`, `--junit FILE` and `--profile`, for
//! every kind of task that can carry one (command/shell, copy content, template, lineinfile,
//! user password, debug, set_fact, loops, blocks, plays, failing tasks, template and argument
//! errors, an `include_tasks` loop), over the local connection and over SSH to a test host. The tasks still run: the
//! secret reaches the host. `ANSIBLE_NO_LOG` censors ad-hoc runs too, `ansible.cfg`'s
//! `no_log` a whole run.

mod support;

use std::path::{Path, PathBuf};
use support::hosts::TestHosts;
use support::{drover, run, s, write};

/// The secret every task uses; it must appear in no output stream and no report file.
const SECRET: &str = "nolog-S3CR3T-7f3a9c";
/// Printed by a task without `no_log`: proves the output checked is the real output.
const CANARY: &str = "visible-canary-41d2";
const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// The playbook: `base` is where files go on the target, `with_user` adds the `user` task
/// (test hosts only: it creates an account).
fn playbook(dir: &Path) -> PathBuf {
    write(
        dir,
        "templates/secret.j2",
        "password={{ secret }}\nlist={{ items | join(',') }}\n",
    );
    write(
        dir,
        "inc.yml",
        "- name: included\n  debug:\n    msg: \"included {{ item }}\"\n  no_log: true\n",
    );
    write(
        dir,
        "templates/broken.j2",
        "value={{ secret | from_json }}\n",
    );
    write(
        dir,
        "pb.yml",
        r#"- hosts: test
  gather_facts: false
  vars:
    items: ["a-{{ secret }}", "b-{{ secret }}"]
  tasks:
    - name: command
      command: echo {{ secret }}
      register: cmd_out
      no_log: true
    - name: shell to stderr
      shell: echo {{ secret }} >&2; echo {{ secret }}
      no_log: true
    - name: copy content
      copy:
        content: "{{ secret }}-{{ run }}\n"
        dest: "{{ base }}/copied"
      no_log: true
    - name: template
      template:
        src: secret.j2
        dest: "{{ base }}/templated"
      no_log: true
    - name: lineinfile
      lineinfile:
        path: "{{ base }}/lines"
        line: "token={{ secret }}-{{ run }}"
        regexp: "^token="
        create: true
      no_log: true
    - name: user password
      user:
        name: nologuser
        password: "$6$salt${{ secret }}{{ run }}"
        create_home: false
      when: with_user | bool
      no_log: true
    - name: debug var
      debug:
        var: secret
      no_log: true
    - name: debug msg
      debug:
        msg: "the secret is {{ secret }}"
      no_log: true
    - name: registered output
      debug:
        var: cmd_out
      no_log: true
    - name: set_fact
      set_fact:
        copy_of_secret: "{{ secret }}"
      no_log: true
    - name: loop
      command: echo {{ item }}
      loop: "{{ items }}"
      no_log: true
    - name: loop with a failing item
      command: "{{ 'false' if item is search('b-') else 'echo' }} {{ item }}"
      loop: "{{ items }}"
      no_log: true
      ignore_errors: true
    - name: failing command
      command: ls /nonexistent-{{ secret }}
      no_log: true
      ignore_errors: true
    - name: fail
      fail:
        msg: "failed with {{ secret }}"
      no_log: true
      ignore_errors: true
    - name: template error
      debug:
        msg: "{{ secret | from_json }}"
      no_log: true
      ignore_errors: true
    - name: template file error
      template:
        src: broken.j2
        dest: "{{ base }}/broken"
      no_log: true
      ignore_errors: true
    - name: module argument error
      file:
        path: "{{ base }}/x"
        state: "{{ secret }}"
      no_log: true
      ignore_errors: true
    - name: condition error
      debug:
        msg: hi
      when: secret.nope.deeper == 1
      no_log: true
      ignore_errors: true
    - name: block
      no_log: true
      block:
        - name: in block
          copy:
            content: "block {{ secret }} {{ run }}\n"
            dest: "{{ base }}/block"
        - name: failing in block
          command: ls /nonexistent-block-{{ secret }}
      rescue:
        - name: rescue
          debug:
            msg: "rescued {{ ansible_failed_result.msg | default('') }} {{ secret }}"
    - name: include in a loop
      include_tasks: inc.yml
      loop: "{{ items }}"
      no_log: true
    - name: canary
      debug:
        msg: "{{ canary }}"

- hosts: test
  gather_facts: false
  no_log: true
  tasks:
    - name: play-level no_log
      shell: echo {{ secret }}; echo {{ copy_of_secret }} >&2
    - name: play-level no_log copy
      copy:
        content: "play {{ secret }} {{ run }}\n"
        dest: "{{ base }}/play"
"#,
    )
}

/// One run's streams and report files, to search.
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn assert_hidden(&self) {
        for (what, text) in &self.0 {
            assert!(
                !text.contains(SECRET),
                "the secret leaked into {what}:\n{text}"
            );
        }
    }
}

/// Runs the playbook with `extra` options, adding `--junit` and `--profile`; returns the
/// outputs and stdout.
fn run_play(
    dir: &Path,
    pb: &Path,
    inv: &Path,
    base: &str,
    with_user: bool,
    extra: &[&str],
    conn: &[&str],
) -> (Outputs, String) {
    let junit = dir.join("junit.xml");
    let _ = std::fs::remove_file(&junit);
    // `run` changes every time, so every file task has a diff to show.
    let vars = format!(
        "{{\"secret\": \"{SECRET}\", \"canary\": \"{CANARY}\", \"base\": \"{base}\", \"with_user\": {with_user}, \"run\": \"{}\"}}",
        extra.join("")
    );
    let mut cmd = drover();
    cmd.args(["play", "-i", s(inv), s(pb), "-e", &vars])
        .args(["--junit", s(&junit), "--profile"])
        .args(conn)
        .args(extra);
    let (code, out, err) = run(&mut cmd);
    // The play-level tasks run after ignored failures, so the run succeeds.
    assert_eq!(code, 0, "{extra:?}\n{out}{err}");
    let junit_text = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    let label = format!("{extra:?}");
    (
        Outputs(vec![
            (format!("stdout {label}"), out.clone()),
            (format!("stderr {label}"), err),
            (format!("junit {label}"), junit_text),
        ]),
        out,
    )
}

/// Every output mode over one connection; `read` reads a file the play wrote on the target.
fn check_every_output(
    dir: &Path,
    inv: &Path,
    base: &str,
    with_user: bool,
    conn: &[&str],
    read: &dyn Fn(&str) -> String,
) {
    let pb = playbook(dir);
    let modes: [&[&str]; 8] = [
        &[],
        &["-v"],
        &["-vv"],
        &["-vvv"],
        &["-vvvv", "--diff"],
        &["--check", "--diff", "-vvvv"],
        &["--output", "json", "--diff"],
        &["--output", "json", "-vvvv", "--check", "--diff"],
    ];
    for extra in modes {
        let (outputs, out) = run_play(dir, &pb, inv, base, with_user, extra, conn);
        outputs.assert_hidden();
        assert!(
            out.contains(CANARY),
            "the canary is printed: {extra:?}\n{out}"
        );
        if extra.contains(&"json") {
            assert!(out.contains("\"censored\":true"), "{out}");
        } else {
            assert!(out.contains(CENSORED), "{extra:?}\n{out}");
            assert!(out.contains("(item=None)"), "loop items are hidden\n{out}");
            assert!(out.contains("inc.yml for h0 => (item=None)"), "{out}");
        }
    }
    // The tasks did their work: the secret is on the target.
    assert!(read("copied").starts_with(&format!("{SECRET}-")));
    assert_eq!(
        read("templated"),
        format!("password={SECRET}\nlist=a-{SECRET},b-{SECRET}\n")
    );
    assert!(read("lines").starts_with(&format!("token={SECRET}-")));
    assert!(read("block").starts_with(&format!("block {SECRET} ")));
    assert!(read("play").starts_with(&format!("play {SECRET} ")));
}

#[test]
fn no_log_hides_the_secret_everywhere_over_the_local_connection() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("target");
    std::fs::create_dir(&base).unwrap();
    let inv = write(
        dir.path(),
        "inv.ini",
        "[test]\nh0 ansible_connection=local\n",
    );
    let read = |f: &str| std::fs::read_to_string(base.join(f)).unwrap();
    check_every_output(dir.path(), &inv, s(&base), false, &[], &read);
}

#[test]
fn no_log_hides_the_secret_everywhere_over_ssh() {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let inv = hosts.inventory("root", "");
    let kh = hosts.known_hosts();
    hosts.sh(0, "mkdir -p /root/nolog");
    let read =
        |f: &str| std::fs::read_to_string(hosts.path(0, &format!("/root/nolog/{f}"))).unwrap();
    check_every_output(
        dir.path(),
        &inv,
        "/root/nolog",
        true,
        &["--known-hosts", s(&kh), "--host-key-checking", "accept-new"],
        &read,
    );
    let (_, shadow) = hosts.sh(0, "getent shadow nologuser");
    assert!(shadow.contains(SECRET), "the password was set: {shadow}");
}

#[test]
fn ansible_no_log_censors_ad_hoc_runs() {
    let dir = tempfile::tempdir().unwrap();
    let inv = write(
        dir.path(),
        "inv.ini",
        "[test]\nh0 ansible_connection=local\n",
    );
    let dest = dir.path().join("adhoc");
    let cases: [(&str, String); 3] = [
        ("debug", format!("msg={SECRET}")),
        ("shell", format!("echo {SECRET}; echo {SECRET} >&2; exit 3")),
        ("copy", format!("content={SECRET} dest={}", s(&dest))),
    ];
    for (module, args) in &cases {
        let mut cmd = drover();
        cmd.env("ANSIBLE_NO_LOG", "true").args([
            "run",
            "-i",
            s(&inv),
            "test",
            "-m",
            module,
            "-a",
            args,
            "-vvvv",
            "--diff",
        ]);
        let (_, out, err) = run(&mut cmd);
        assert!(!out.contains(SECRET) && !err.contains(SECRET), "{out}{err}");
        assert!(out.contains(CENSORED), "{out}");
        // Without it, ad-hoc runs show results (the check above is not vacuous).
        let (_, out, _) =
            run(drover().args(["run", "-i", s(&inv), "test", "-m", module, "-a", args]));
        if *module != "copy" {
            assert!(out.contains(SECRET), "{out}");
        }
    }
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), SECRET);
}

#[test]
fn no_log_in_ansible_cfg_censors_a_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ansible.cfg", "[defaults]\nno_log = True\n");
    let pb = write(
        dir.path(),
        "pb.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: {SECRET}\n    - command: echo {SECRET}\n"
        ),
    );
    let (code, out, err) = run(drover()
        .current_dir(dir.path())
        .env_remove("ANSIBLE_CONFIG")
        .args(["play", "-vv"])
        .arg(&pb));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains(SECRET) && !err.contains(SECRET), "{out}{err}");
    assert_eq!(out.matches(CENSORED).count(), 2, "{out}");
}
