//! `include_tasks` (dynamic) against `import_tasks` (static), over the local connection: the
//! order of execution is asserted through a log file the tasks append to.

mod support;

use support::{drover, run, s, write};

/// Writes `files` (name, text; `LOG` stands for the log path) into a temp dir, runs
/// `pb.yml` there with an inventory of local hosts `a` and `b`, and returns (exit code,
/// stdout, log).
fn play(files: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    for (name, text) in files {
        write(dir.path(), name, &text.replace("LOG", s(&log)));
    }
    let inv = write(
        dir.path(),
        "inv.ini",
        "a ansible_connection=local kind=web\nb ansible_connection=local kind=db\n",
    );
    let mut cmd = drover();
    cmd.arg("play")
        .arg("-i")
        .arg(&inv)
        .arg(dir.path().join("pb.yml"))
        .args(args);
    let (code, out, err) = run(&mut cmd);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (code, format!("{out}{err}"), text)
}

fn sorted(log: &str) -> Vec<&str> {
    let mut v: Vec<&str> = log.lines().collect();
    v.sort();
    v
}

#[test]
fn a_looped_include_runs_the_whole_file_per_item_with_its_parameters() {
    let (code, out, log) = play(
        &[
            (
                "pb.yml",
                r#"- hosts: a
  gather_facts: false
  tasks:
    - include_tasks: each.yml
      loop: [x, y]
      loop_control:
        loop_var: outer
        index_var: n
      vars:
        suffix: "{{ outer }}!"
    - shell: echo after >> LOG
"#,
            ),
            (
                "each.yml",
                r#"- shell: echo "{{ outer }} one {{ n }} {{ suffix }}" >> LOG
- shell: echo "{{ outer }} two" >> LOG
"#,
            ),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        log, "x one 0 x!\nx two\ny one 1 y!\ny two\nafter\n",
        "{out}"
    );
    assert!(out.contains("each.yml for a => (item=x)"), "{out}");
    assert!(out.contains("each.yml for a => (item=y)"), "{out}");
}

#[test]
fn the_when_of_an_include_is_evaluated_once_but_an_import_passes_it_to_every_task() {
    let inner = r#"- set_fact:
    done_once: true
- shell: echo "{{ label }} second" >> LOG
"#;
    let pb = |kw: &str| {
        format!(
            "- hosts: a\n  gather_facts: false\n  tasks:\n    - {kw}: inner.yml\n      vars:\n        label: {kw}\n      when: done_once is not defined\n"
        )
    };
    let (code, out, log) = play(
        &[("pb.yml", &pb("include_tasks")), ("inner.yml", inner)],
        &[],
    );
    assert_eq!((code, log.as_str()), (0, "include_tasks second\n"), "{out}");
    // import_tasks: each imported task carries the condition, so the task after `set_fact`
    // is skipped (Ansible's well-known difference).
    let (code, out, log) = play(
        &[("pb.yml", &pb("import_tasks")), ("inner.yml", inner)],
        &[],
    );
    assert_eq!((code, log.as_str()), (0, ""), "{out}");
}

#[test]
fn tags_on_an_include_select_the_include_only_unless_applied() {
    let files = |apply: &str| {
        vec![
            (
                "pb.yml".to_string(),
                format!(
                    r#"- hosts: a
  gather_facts: false
  tasks:
    - include_tasks:
        file: inner.yml{apply}
      tags: [deploy]
    - import_tasks: imported.yml
      tags: [deploy]
"#
                ),
            ),
            (
                "inner.yml".to_string(),
                "- shell: echo included >> LOG\n".to_string(),
            ),
            (
                "imported.yml".to_string(),
                "- shell: echo imported >> LOG\n".to_string(),
            ),
        ]
    };
    let run_with = |apply: &str| {
        let f = files(apply);
        let refs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        play(&refs, &["--tags", "deploy"])
    };
    let (code, out, log) = run_with("");
    assert_eq!((code, log.as_str()), (0, "imported\n"), "{out}");
    let (code, out, log) = run_with("\n        apply:\n          tags: [deploy]");
    assert_eq!((code, log.as_str()), (0, "included\nimported\n"), "{out}");
}

#[test]
fn a_templated_file_name_is_resolved_per_host_and_equal_includes_share_a_run() {
    let (code, out, log) = play(
        &[
            (
                "pb.yml",
                r#"- hosts: all
  gather_facts: false
  tasks:
    - include_tasks: "{{ kind }}.yml"
    - include_tasks: common.yml
"#,
            ),
            (
                "web.yml",
                "- shell: echo \"web on {{ inventory_hostname }}\" >> LOG\n",
            ),
            (
                "db.yml",
                "- shell: echo \"db on {{ inventory_hostname }}\" >> LOG\n",
            ),
            (
                "common.yml",
                "- shell: echo \"common on {{ inventory_hostname }}\" >> LOG\n",
            ),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        sorted(&log),
        ["common on a", "common on b", "db on b", "web on a"],
        "{out}"
    );
    assert!(out.contains("web.yml for a\n"), "{out}");
    assert!(out.contains("db.yml for b\n"), "{out}");
    assert!(out.contains("common.yml for a, b\n"), "{out}");
    // Each host: two includes and two shell tasks, all ok (Ansible counts includes as ok).
    assert_eq!(out.matches("ok=4 ").count(), 2, "{out}");
}

#[test]
fn a_keyword_that_only_applies_to_the_include_is_refused_with_a_hint() {
    let (code, out, _) = play(
        &[
            (
                "pb.yml",
                "- hosts: a\n  gather_facts: false\n  tasks:\n    - include_tasks: inner.yml\n      environment: {X: 1}\n",
            ),
            ("inner.yml", "- debug: msg=hi\n"),
        ],
        &[],
    );
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("pb.yml:5:7"), "{out}");
    assert!(
        out.contains("`environment` is not valid on `include_tasks`"),
        "{out}"
    );
    assert!(out.contains("put it in `apply:`"), "{out}");
    let (code, out, _) = play(
        &[(
            "pb.yml",
            "- hosts: a\n  gather_facts: false\n  tasks:\n    - include_tasks: missing.yml\n",
        )],
        &[],
    );
    // A missing file is no load error for an include (Ansible fails the task when it runs).
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot load `missing.yml`"), "{out}");
}

/// Runs `pb.yml` (with `LOG`) against local hosts named in `inventory`; (code, out, log).
fn play_inv(inventory: &str, files: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    for (name, text) in files {
        write(dir.path(), name, &text.replace("LOG", s(&log)));
    }
    let inv = write(dir.path(), "inv.ini", inventory);
    let mut cmd = drover();
    cmd.arg("play")
        .arg("-i")
        .arg(&inv)
        .arg(dir.path().join("pb.yml"));
    let (code, out, err) = run(&mut cmd);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (code, format!("{out}{err}"), text)
}

const THREE: &str =
    "b ansible_connection=local\nc ansible_connection=local\na ansible_connection=local\n";

#[test]
fn play_order_sets_the_host_order() {
    for (order, want) in [
        ("inventory", "b c a "),
        ("reverse_inventory", "a c b "),
        ("sorted", "a b c "),
        ("reverse_sorted", "c b a "),
    ] {
        let pb = format!(
            "- hosts: all\n  gather_facts: false\n  serial: 1\n  order: {order}\n  tasks:\n    - shell: printf '%s ' {{{{ inventory_hostname }}}} >> LOG\n"
        );
        let (code, out, log) = play_inv(THREE, &[("pb.yml", &pb)]);
        assert_eq!((code, log.as_str()), (0, want), "{order}: {out}");
    }
    let pb = "- hosts: all\n  gather_facts: false\n  order: shuffle\n  tasks:\n    - shell: echo {{ inventory_hostname }} >> LOG\n";
    let (code, out, log) = play_inv(THREE, &[("pb.yml", pb)]);
    assert_eq!((code, sorted(&log)), (0, vec!["a", "b", "c"]), "{out}");
    let pb = "- hosts: all\n  order: random\n  tasks: []\n";
    let (code, out, _) = play_inv(THREE, &[("pb.yml", pb)]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("`order: random` is not a host order"), "{out}");
}

#[test]
fn throttle_limits_how_many_hosts_run_a_task_at_once() {
    let pb = r#"- hosts: all
  gather_facts: false
  tasks:
    - shell: echo start >> LOG; sleep 0.4; echo end >> LOG
      throttle: 1
    - block:
        - shell: echo start >> LOG; sleep 0.4; echo end >> LOG
      throttle: 1
    - shell: echo free-start >> LOG; sleep 0.6; echo free-end >> LOG
"#;
    let (code, out, log) = play_inv(THREE, &[("pb.yml", pb)]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = log.lines().collect();
    let throttled = &lines[..12];
    assert_eq!(throttled, ["start", "end"].repeat(6).as_slice(), "{log}");
    // Without throttle the three hosts overlap.
    assert_eq!(&lines[12..14], ["free-start", "free-start"], "{log}");
}

#[test]
fn with_fileglob_and_with_first_found_loop_over_controller_files() {
    let pb = r#"- hosts: a
  gather_facts: false
  tasks:
    - shell: echo "glob {{ item | basename }}" >> LOG
      with_fileglob: ["*.conf"]
    - shell: echo "first {{ item | basename }}" >> LOG
      with_first_found:
        - missing.yml
        - present.yml
        - other.conf
"#;
    let (code, out, log) = play_inv(
        "a ansible_connection=local\n",
        &[
            ("pb.yml", pb),
            ("files/x.conf", "x"),
            ("files/y.conf", "y"),
            ("files/z.txt", "z"),
            ("present.yml", "p"),
            ("other.conf", "o"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        log, "glob x.conf\nglob y.conf\nfirst present.yml\n",
        "{out}"
    );
}

#[test]
fn delegate_facts_gives_the_facts_to_the_delegated_host() {
    let pb = r#"- hosts: a
  gather_facts: false
  tasks:
    - set_fact:
        colour: blue
      delegate_to: b
      delegate_facts: true
    - set_fact:
        shape: round
      delegate_to: b
    - shell: echo "a {{ colour | default('none') }} {{ shape }}" >> LOG
- hosts: b
  gather_facts: false
  tasks:
    - shell: echo "b {{ colour }} {{ shape | default('none') }}" >> LOG
"#;
    let (code, out, log) = play_inv(
        "a ansible_connection=local\nb ansible_connection=local\n",
        &[("pb.yml", pb)],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(log, "a none round\nb blue none\n", "{out}");
}

#[test]
fn under_the_free_strategy_a_fast_host_does_not_wait_for_a_slow_one() {
    let pb = |strategy: &str| {
        format!(
            r#"- hosts: all
  gather_facts: false
  strategy: {strategy}
  tasks:
    - shell: if [ {{{{ inventory_hostname }}}} = a ]; then sleep 1; fi; echo {{{{ inventory_hostname }}}} one >> LOG
    - shell: echo {{{{ inventory_hostname }}}} two >> LOG
      notify: note
    - debug:
        msg: once
      run_once: true
  handlers:
    - name: note
      shell: echo {{{{ inventory_hostname }}}} handler >> LOG
"#
        )
    };
    let inv = "a ansible_connection=local\nb ansible_connection=local\n";
    let (code, out, log) = play_inv(inv, &[("pb.yml", &pb("free"))]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        log, "b one\nb two\nb handler\na one\na two\na handler\n",
        "{out}"
    );
    assert_eq!(out.matches("changed=3 ").count(), 2, "{out}");
    // As ansible-playbook: `run_once` under `free` runs on every host, with one warning.
    assert_eq!(out.matches("\"msg\": \"once\"").count(), 2, "{out}");
    assert_eq!(
        out.matches("Using run_once with the free strategy is not currently supported")
            .count(),
        1,
        "{out}"
    );
    let (code, out, log) = play_inv(inv, &[("pb.yml", &pb("linear"))]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("\"msg\": \"once\"").count(), 1, "{out}");
    assert!(!out.contains("Using run_once"), "{out}");
    assert_eq!(
        &log.lines().collect::<Vec<_>>()[..2],
        ["b one", "a one"],
        "{out}"
    );
}

#[test]
fn step_asks_before_each_task_and_continue_stops_asking() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let pb = write(
        dir.path(),
        "pb.yml",
        &"- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: one\n      shell: echo one >> LOG\n    - name: two\n      shell: echo two >> LOG\n    - name: three\n      shell: echo three >> LOG\n    - name: four\n      shell: echo four >> LOG\n"
            .replace("LOG", s(&log)),
    );
    let mut child = drover()
        .arg("play")
        .arg(&pb)
        .arg("--step")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"y\nn\nc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\nthree\nfour\n");
    assert_eq!(err.matches("Perform task: TASK: ").count(), 3, "{err}");
    assert!(
        err.contains("Perform task: TASK: two (N)o/(y)es/(c)ontinue: "),
        "{err}"
    );
}

#[test]
fn include_role_loops_with_parameters_and_imported_roles_bring_their_handlers() {
    let (code, out, log) = play(
        &[
            (
                "pb.yml",
                r#"- hosts: a
  gather_facts: false
  tasks:
    - include_role:
        name: pkg
        vars:
          pkg: "{{ item }}"
      loop: [nginx, redis]
    - include_role:
        name: pkg
        tasks_from: other
      when: false
    - import_role:
        name: svc
"#,
            ),
            (
                "roles/pkg/tasks/main.yml",
                "- shell: echo \"install {{ pkg }} ({{ role_name }})\" >> LOG\n",
            ),
            ("roles/pkg/tasks/other.yml", "- shell: echo never >> LOG\n"),
            (
                "roles/svc/tasks/main.yml",
                "- shell: echo configure >> LOG\n  notify: restart svc\n",
            ),
            (
                "roles/svc/handlers/main.yml",
                "- name: restart svc\n  shell: echo restarted >> LOG\n",
            ),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        log, "install nginx (pkg)\ninstall redis (pkg)\nconfigure\nrestarted\n",
        "{out}"
    );
}

#[test]
fn list_tasks_shows_imported_tasks_and_includes_as_themselves() {
    let (code, out, _) = play(
        &[
            (
                "pb.yml",
                "- hosts: a\n  gather_facts: false\n  tasks:\n    - import_tasks: imported.yml\n    - name: dynamic part\n      include_tasks: included.yml\n",
            ),
            ("imported.yml", "- name: imported step\n  debug: msg=hi\n"),
            ("included.yml", "- name: included step\n  debug: msg=hi\n"),
        ],
        &["--list-tasks"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("      imported step\tTAGS: []"), "{out}");
    assert!(out.contains("      dynamic part\tTAGS: []"), "{out}");
    assert!(!out.contains("included step"), "{out}");
}

#[test]
fn role_defaults_and_vars_are_visible_to_the_plays_other_tasks() {
    let (code, out, log) = play(
        &[
            (
                "pb.yml",
                "- hosts: a\n  gather_facts: false\n  roles: [web]\n  post_tasks:\n    - shell: echo \"{{ web_port }} {{ web_user }}\" >> LOG\n",
            ),
            ("roles/web/defaults/main.yml", "web_port: 8080\n"),
            ("roles/web/vars/main.yml", "web_user: www\n"),
            ("roles/web/tasks/main.yml", "- debug: msg=in-role\n"),
        ],
        &[],
    );
    assert_eq!((code, log.as_str()), (0, "8080 www\n"), "{out}");
}

#[test]
fn an_include_of_a_missing_file_fails_only_when_it_runs() {
    // As Ansible: the play loads; the hosts that reach the include fail there, the others go
    // on; a handler that includes a missing file is no error unless notified.
    let (code, out, log) = play(
        &[
            (
                "pb.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo before-{{ inventory_hostname }} >> LOG\n    - include_tasks: nowhere.yml\n      when: kind == 'web'\n    - shell: echo after-{{ inventory_hostname }} >> LOG\n      notify: other platform\n  handlers:\n    - name: other platform\n      include_tasks: missing-handler.yml\n      when: false\n",
            ),
        ],
        &[],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("nowhere.yml"), "{out}");
    assert_eq!(sorted(&log), ["after-b", "before-a", "before-b"], "{out}");
}
