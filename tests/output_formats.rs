//! Machine-readable output through the real binary over the local connection:
//! `--output json` (every line validated against docs/output-json.schema.json), `--junit FILE`
//! (parsed as XML) and `--profile`.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{drover, run, s, write};

const SECRET: &str = "hunter2-very-secret";

/// A play that matches nobody (a warning), then one task of each kind of outcome on
/// `localhost`, ending with a failure.
const PLAYBOOK: &str = r#"- name: nobody home
  hosts: empty
  gather_facts: false
  tasks:
    - name: never runs
      command: "true"

- name: one of each
  hosts: local
  gather_facts: false
  vars:
    secret: hunter2-very-secret
  tasks:
    - name: an ok task
      command: "true"
      changed_when: false
    - name: a changed task
      copy:
        content: "hello\n"
        dest: "{{ work }}/made.txt"
    - name: a skipped task
      command: "true"
      when: false
    - name: an ignored failure
      command: "false"
      ignore_errors: true
    - name: a loop
      command: "echo {{ item }}"
      loop: [one, two]
      changed_when: item == 'two'
    - name: include some tasks
      include_tasks: inc.yml
      loop: [x]
    - name: a secret
      debug:
        msg: "the secret is {{ secret }}"
      loop: ["{{ secret }}"]
      no_log: true
    - name: a failing task
      fail:
        msg: "deliberate <failure> & \"quotes\""
    - name: not reached
      command: "true"
"#;

const INCLUDED: &str = r#"- name: from the include
  debug:
    msg: "included with {{ item }}"
"#;

/// Writes the inventory and playbooks into `dir`; returns the playbook.
fn fixture(dir: &Path) -> PathBuf {
    write(
        dir,
        "hosts.ini",
        "[local]\nlocalhost ansible_connection=local\n\n[empty]\n",
    );
    write(dir, "inc.yml", INCLUDED);
    write(dir, "site.yml", PLAYBOOK)
}

fn play(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let pb = fixture(dir);
    let mut cmd = drover();
    cmd.current_dir(dir)
        .arg("play")
        .arg("-i")
        .arg(dir.join("hosts.ini"))
        .arg(pb)
        .arg("-e")
        .arg(format!("work={}", s(dir)))
        .args(args);
    run(&mut cmd)
}

fn schema_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/output-json.schema.json");
    let text = std::fs::read_to_string(&path).expect("the committed schema");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is a valid 2020-12 schema")
}

/// Every stdout line parsed and validated against the schema.
/// The events between `run_start` and `run_end` (each line checked against the schema).
fn events(stdout: &str) -> Vec<Value> {
    let mut all = stream(stdout);
    assert_eq!(all[0]["event"], "run_start", "{stdout}");
    assert_eq!(all.last().unwrap()["event"], "run_end", "{stdout}");
    all.pop();
    all.remove(0);
    all
}

/// Every line of a stream, checked against the schema.
fn stream(stdout: &str) -> Vec<Value> {
    let validator = schema_validator();
    let mut out = Vec::new();
    for (n, line) in stdout.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}\n{stdout}", n + 1));
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "line {} does not match the schema: {errors:?}\n{line}",
            n + 1
        );
        out.push(v);
    }
    assert!(!out.is_empty(), "no output");
    out
}

fn result_of<'a>(events: &'a [Value], task: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "host_result" && e["task"] == task)
        .unwrap_or_else(|| panic!("no result for `{task}` in {events:#?}"))
}

#[test]
fn json_lines_validate_and_tell_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = play(dir.path(), &["--output", "json", "--diff"]);
    assert_eq!(
        code, 2,
        "a failed task exits 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stdout.contains(SECRET),
        "the no_log secret leaked:\n{stdout}"
    );
    // Numbered lines, the schema version on the first one only; the run's start and end,
    // with its exit code, around the rest.
    let all = stream(&stdout);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"], (i + 1) as u64, "{e}");
        assert_eq!(e.get("version").is_some(), i == 0, "{e}");
    }
    assert_eq!(all[0]["version"], 1);
    assert_eq!(all[0]["shard"], Value::Null);
    let end = all.last().unwrap();
    assert_eq!(
        (&end["event"], &end["exit_code"]),
        (&"run_end".into(), &2.into())
    );
    assert_eq!(end["error"], Value::Null);
    let ev = events(&stdout);

    let kinds: Vec<String> = ev
        .iter()
        .map(|e| match e["event"].as_str().unwrap() {
            "host_result" => format!("result:{}", e["status"].as_str().unwrap()),
            k => k.to_string(),
        })
        .collect();
    let expected = [
        "play_start",
        "warning",
        "play_start",
        "task_start",
        "result:ok",
        "task_start",
        "result:changed",
        "task_start",
        "result:skipped",
        "task_start",
        "result:failed",
        "task_start",
        "result:changed",
        "task_start",
        "included",
        "task_start",
        "result:ok",
        "task_start",
        "result:ok",
        "task_start",
        "result:failed",
        "recap",
    ];
    assert_eq!(kinds, expected, "{stdout}");

    assert_eq!(ev[0]["name"], "nobody home");
    assert_eq!(ev[0]["hosts"], serde_json::json!([]));
    assert_eq!(ev[1]["msg"], "no hosts matched, skipping this play");
    assert_eq!(ev[2]["hosts"], serde_json::json!(["localhost"]));
    assert_eq!(ev[3]["name"], "an ok task");
    assert_eq!(ev[3]["handler"], false);
    let path = ev[3]["path"].as_str().unwrap();
    assert!(path.ends_with("site.yml:14"), "task path: {path}");

    let ok = result_of(&ev, "an ok task");
    assert_eq!(ok["host"], "localhost");
    assert_eq!(ok["changed"], false);
    assert_eq!(ok["censored"], false);
    assert!(ok["duration_ms"].is_u64());

    let changed = result_of(&ev, "a changed task");
    assert_eq!(changed["changed"], true);
    let made = dir.path().join("made.txt");
    assert_eq!(changed["diff"]["count"], 1, "{changed}");
    assert_eq!(changed["diff"]["files"], serde_json::json!([s(&made)]));
    assert_eq!(changed["diff"]["lines_added"], 1);
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "hello\n");

    let ignored = result_of(&ev, "an ignored failure");
    assert_eq!(ignored["status"], "failed");
    assert_eq!(ignored["ignored"], true);

    let lp = result_of(&ev, "a loop");
    let items: Vec<(&str, &str)> = lp["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["label"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(items, [("one", "ok"), ("two", "changed")]);

    let inc = ev.iter().find(|e| e["event"] == "included").unwrap();
    assert!(inc["file"].as_str().unwrap().ends_with("inc.yml"), "{inc}");
    assert_eq!(inc["hosts"], serde_json::json!(["localhost"]));
    assert_eq!(inc["item"], "x");
    assert_eq!(result_of(&ev, "from the include")["msg"], "included with x");

    let secret = result_of(&ev, "a secret");
    assert_eq!(secret["censored"], true);
    assert_eq!(secret["msg"], Value::Null);
    assert_eq!(secret["items"], serde_json::json!([]));

    let failed = result_of(&ev, "a failing task");
    assert_eq!(failed["ignored"], false);
    assert_eq!(failed["msg"], "deliberate <failure> & \"quotes\"");
    assert!(
        ev.iter()
            .all(|e| e["task"] != "not reached" && e["name"] != "not reached"),
        "a failed host runs nothing more"
    );

    let recap = &ev.last().unwrap()["hosts"]["localhost"];
    assert_eq!(
        recap,
        // The ignored failure (a command that ran) counts as changed too, as in Ansible.
        &serde_json::json!({"ok": 7, "changed": 3, "unreachable": 0, "failed": 1,
                            "skipped": 1, "rescued": 0, "ignored": 1}),
        "{stdout}"
    );
}

/// (testcases, failures, errors, skipped) of an element's `testcase` descendants, and the
/// element's own counters, which must agree.
fn junit_counts(node: roxmltree::Node) -> (usize, usize, usize, usize) {
    let cases: Vec<_> = node
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let has = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|k| k.has_tag_name(tag)))
            .count()
    };
    let counts = (cases.len(), has("failure"), has("error"), has("skipped"));
    let attr = |a: &str| node.attribute(a).unwrap().parse::<usize>().unwrap();
    assert_eq!(
        counts,
        (
            attr("tests"),
            attr("failures"),
            attr("errors"),
            attr("skipped")
        ),
        "counters of <{}>",
        node.tag_name().name()
    );
    counts
}

fn check_junit(file: &Path) {
    let text = std::fs::read_to_string(file).expect("the JUnit report was written");
    assert!(!text.contains(SECRET), "the no_log secret leaked:\n{text}");
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("the report is not XML ({e}):\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    // ok, changed, skipped, ignored, loop, from the include, secret, failing.
    assert_eq!(junit_counts(root), (8, 1, 0, 1), "{text}");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["nobody home", "one of each"]);
    assert_eq!(junit_counts(suites[0]), (0, 0, 0, 0));
    let case = |name: &str| {
        root.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase `{name}`:\n{text}"))
    };
    let failing = case("a failing task");
    assert_eq!(failing.attribute("classname"), Some("localhost"));
    let time: f64 = failing.attribute("time").unwrap().parse().unwrap();
    assert!((0.0..60.0).contains(&time), "time in seconds: {time}");
    let failure = failing
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("deliberate <failure> & \"quotes\"")
    );
    let skipped = case("a skipped task");
    assert!(skipped.children().any(|n| n.has_tag_name("skipped")));
    let ignored = case("an ignored failure");
    assert!(!ignored.children().any(|n| n.has_tag_name("failure")));
}

#[test]
fn junit_report_with_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.xml");
    let (code, stdout, stderr) = play(dir.path(), &["--junit", s(&report)]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("PLAY RECAP"), "{stdout}");
    check_junit(&report);
}

#[test]
fn junit_and_profile_with_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.xml");
    let (code, stdout, stderr) = play(
        dir.path(),
        &["--output", "json", "--junit", s(&report), "--profile"],
    );
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    check_junit(&report);
    let ev = events(&stdout);
    let n = ev.len();
    assert_eq!(ev[n - 2]["event"], "recap");
    let profile = &ev[n - 1];
    assert_eq!(profile["event"], "profile");
    let tasks = profile["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 8, "{profile}");
    let totals: Vec<u64> = tasks
        .iter()
        .map(|t| t["total_ms"].as_u64().unwrap())
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "slowest first: {totals:?}"
    );
    assert!(tasks.iter().any(|t| t["name"] == "a loop"
        && t["path"].as_str().unwrap().ends_with("site.yml:27")
        && t["max_host"] == "localhost"));
    assert_eq!(profile["hosts"][0]["host"], "localhost");
    assert_eq!(profile["hosts"][0]["results"], 8);
}

#[test]
fn profile_section_after_the_recap() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = play(dir.path(), &["--profile"]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let (_, after) = stdout
        .split_once("PLAY RECAP")
        .unwrap_or_else(|| panic!("no recap:\n{stdout}"));
    let (tasks, hosts) = after
        .split_once("PROFILE [slowest hosts]")
        .unwrap_or_else(|| panic!("no host profile:\n{stdout}"));
    let (_, tasks) = tasks
        .split_once("PROFILE [slowest tasks]")
        .unwrap_or_else(|| panic!("no task profile:\n{stdout}"));
    let task_lines: Vec<&str> = tasks.lines().filter(|l| l.contains("max ")).collect();
    assert_eq!(task_lines.len(), 8, "{tasks}");
    assert!(
        task_lines.iter().any(|l| l.contains("a failing task")
            && l.contains("site.yml:")
            && l.contains("on localhost")),
        "{tasks}"
    );
    assert!(
        hosts
            .lines()
            .any(|l| l.contains("localhost") && l.contains("(8 results)")),
        "{hosts}"
    );
}

#[test]
fn json_mode_keeps_errors_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.ini",
        "localhost ansible_connection=local\n",
    );
    let pb = write(
        dir.path(),
        "bad.yml",
        "- hosts: all\n  tasks:\n    - name: typo\n      nope_no_module:\n        msg: hi\n",
    );
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["play", "--output", "json", "-i", "hosts.ini"])
        .arg(&pb);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 5, "stderr:\n{stderr}");
    // Nothing but events on stdout: the run's start, and its end with the error.
    let all = stream(&stdout);
    assert_eq!(all.len(), 2, "{stdout}");
    assert_eq!(all[1]["exit_code"], 5);
    assert!(
        all[1]["error"]
            .as_str()
            .unwrap()
            .contains("bad.yml:4:7: unknown module or keyword `nope_no_module`"),
        "{stdout}"
    );
    assert!(stderr.contains("nope"), "{stderr}");

    // Listing modes print text, so they refuse JSON output.
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args([
            "play",
            "--output",
            "json",
            "--list-hosts",
            "-i",
            "hosts.ini",
        ])
        .arg(&pb);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!((code, stdout.as_str()), (5, ""), "stderr:\n{stderr}");
    assert!(stderr.contains("--output json"), "{stderr}");

    // A report in a directory that does not exist is bad input, found before the run.
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["play", "--junit", "no/such/dir/r.xml", "-i", "hosts.ini"])
        .arg(&pb);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 5, "stderr:\n{stderr}");
    assert!(stderr.contains("--junit"), "{stderr}");
}

#[test]
fn unreachable_host_is_an_error_case() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.ini",
        "gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh\n",
    );
    let pb = write(
        dir.path(),
        "site.yml",
        "- name: far away\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: knock\n      ping:\n",
    );
    let report = dir.path().join("r.xml");
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["play", "--output", "json", "-T", "3", "-i", "hosts.ini"])
        .arg("--junit")
        .arg(&report)
        .arg(&pb);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 4, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let ev = events(&stdout);
    let r = result_of(&ev, "knock");
    assert_eq!(r["status"], "unreachable");
    assert!(r["msg"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    assert_eq!(ev.last().unwrap()["hosts"]["gone"]["unreachable"], 1);

    let text = std::fs::read_to_string(&report).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(junit_counts(doc.root_element()), (1, 0, 1, 0), "{text}");
    let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(error.parent().unwrap().attribute("classname"), Some("gone"));
}

/// `drover run` reports as a one-task play: the same events (with the command's `rc`,
/// `stdout` and `stderr`), a JUnit file, and the exit codes of `drover play`.
#[test]
fn adhoc_run_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.ini",
        "[web]\nweb1 ansible_connection=local\nweb2 ansible_connection=local\n",
    );
    let report = dir.path().join("adhoc.xml");
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args([
            "run",
            "web",
            "-i",
            "hosts.ini",
            "--output",
            "json",
            "--junit",
        ])
        .arg(&report)
        .args(["-m", "shell", "-a"])
        .arg(
            "echo out-{{ inventory_hostname }}; echo err >&2; [ {{ inventory_hostname }} = web1 ]",
        );
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "web2 failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let ev = events(&stdout);
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "play_start",
            "task_start",
            "host_result",
            "host_result",
            "recap"
        ],
        "{stdout}"
    );
    assert_eq!(ev[0]["hosts"], serde_json::json!(["web1", "web2"]));
    // The hosts' results come as each finishes: found by host.
    let of = |h: &str| {
        ev.iter()
            .find(|e| e["event"] == "host_result" && e["host"] == h)
            .unwrap_or_else(|| panic!("no result for {h}: {stdout}"))
    };
    let web1 = of("web1");
    assert_eq!(
        (
            &web1["host"],
            &web1["status"],
            &web1["rc"],
            &web1["stdout"],
            &web1["stderr"]
        ),
        (
            &serde_json::json!("web1"),
            &serde_json::json!("changed"),
            &serde_json::json!(0),
            &serde_json::json!("out-web1"),
            &serde_json::json!("err")
        ),
        "{web1}"
    );
    assert_eq!(of("web2")["status"], "failed");
    assert_eq!(of("web2")["rc"], 1);
    assert_eq!(ev[4]["hosts"]["web2"]["failed"], 1);

    let text = std::fs::read_to_string(&report).expect("the JUnit report was written");
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(junit_counts(doc.root_element()), (2, 1, 0, 0), "{text}");

    // All well: exit 0, and the human output carries no recap (as `ansible -m`).
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .args(["run", "web", "-i", "hosts.ini", "-a", "true"]);
    let (code, stdout, _) = run(&mut cmd);
    assert_eq!(code, 0, "{stdout}");
    // Each host's result as it finishes: in either order.
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["web1 | CHANGED | rc=0 >>", "web2 | CHANGED | rc=0 >>"],
        "{stdout}"
    );
}

/// `debug: var=x` carries the variable's value in `--output json` (under `result`, by the
/// variable's name, as Ansible's json callback has it), and the event still matches the
/// schema; a censored result carries none.
#[test]
fn debug_var_values_are_in_the_json_events() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "hosts.ini",
        "[local]\nlocalhost ansible_connection=local\n",
    );
    let pb = write(
        dir,
        "pb.yml",
        "- hosts: local\n  gather_facts: false\n  vars: {x: {a: [1, two]}}\n  tasks:\n    - debug: var=x\n    - debug: var=x\n      no_log: true\n",
    );
    let mut cmd = drover();
    cmd.current_dir(dir)
        .args(["play", "-i", "hosts.ini", s(&pb), "--output", "json"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let results: Vec<Value> = events(&out)
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .collect();
    assert_eq!(results.len(), 2, "{out}");
    assert_eq!(
        results[0]["result"]["x"],
        serde_json::json!({"a": [1, "two"]})
    );
    assert!(results[1].get("result").is_none(), "{}", results[1]);
}
