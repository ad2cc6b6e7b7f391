//! Adversarial values reach the host exactly, and nothing else runs: every value that a module
//! puts into a shell command (paths, contents, lines, regexps, command arguments, environment
//! values) goes through the one quoting function. Each string below tries to break out of its
//! quoting; a break-out would create the `pwned` file or change the value on the host.

mod support;

use std::path::Path;
use support::{drover, run, write};

/// Strings that break naive quoting: quotes of both kinds, substitutions, separators,
/// newlines, globs, a leading dash, backslashes, printf and template-looking text, long runs.
fn adversarial(pwned: &Path) -> Vec<String> {
    let mut v = support::shell_break_outs(&pwned.display().to_string());
    v.extend([
        "*".to_string(),
        "g?[a-z]*".to_string(),
        "-rf".to_string(),
        "--help".to_string(),
        "h\\'\\\"\\\\\\n".to_string(),
        "%s%d%n%%".to_string(),
        "${HOME}$PATH$$".to_string(),
        "i'\"'\"'j".to_string(),
        "k\t\r\u{1b}[31m".to_string(),
        "ünïcødé ✓ 中文".to_string(),
        "@@DRV:end @@DRVIN".to_string(),
        "x".repeat(100_000),
    ]);
    v
}

/// Whether a value can be a file name as written: no `/`, no newline, not too long, and no
/// `$NAME` or leading `~` (path arguments expand those on the host, as Ansible's do).
fn name_ok(v: &str) -> bool {
    let expands = v.starts_with('~')
        || v.match_indices('$').any(|(i, _)| {
            v[i + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '{')
        });
    !v.contains('/') && !v.contains('\n') && v.len() < 200 && v != "-rf" && !expands
}

/// YAML double-quoted scalar for any string (JSON escaping is valid YAML).
fn yq(v: &str) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn every_module_passes_values_exactly_and_runs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("pwned");
    let values = adversarial(&pwned);
    check_values(dir.path(), &pwned, &values);
}

/// The property behind the list above, on generated values (a fixed seed and case budget in
/// CI; `DROVER_PROP_SEED`/`DROVER_PROP_CASES` for more). NUL has a test of its own (it is
/// refused in paths and command words).
#[test]
fn generated_hostile_values_pass_exactly_and_run_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("pwned");
    let (seed, cases) = support::prop_budget(60);
    eprintln!("hostile values: seed {seed}, {cases} cases");
    let values = support::hostile_values(seed, cases, &pwned.display().to_string(), &['\0']);
    check_values(dir.path(), &pwned, &values);
}

/// Uses each value as file content, a file name, a line, a regexp, a command argument, an
/// environment value and a template variable, twice, and checks that each arrived exactly and
/// nothing else ran.
fn check_values(dir: &Path, pwned: &Path, values: &[String]) {
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // Each value is used as file content, a file name (where a file name can hold it), a line,
    // a regexp, a command argument, an environment value and a template variable.
    let mut tasks = String::new();
    for (i, v) in values.iter().enumerate() {
        let q = yq(v);
        let name_ok = name_ok(v);
        let f = out_dir.join(format!("f{i}"));
        let fs = yq(&f.display().to_string());
        tasks.push_str(&format!(
            "    - copy:\n        content: {q}\n        dest: {fs}\n\
             \x20   - shell: printf '%s' \"$V\" > {fe}\n      environment:\n        V: {q}\n\
             \x20   - command:\n        argv: [sh, -c, 'printf \"%s\" \"$1\" > \"$2\"', sh, {q}, {fa}]\n        expand_argument_vars: false\n\
             \x20   - command:\n        argv: [sh, -c, 'printf \"%s\" \"$1\" > \"$2\"', sh, {q}, {fx}]\n\
             \x20   - template:\n        src: echo.j2\n        dest: {ft}\n      vars:\n        value: {q}\n",
            fe = yq(&format!("{}.env", f.display())),
            fa = yq(&format!("{}.argv", f.display())),
            // With `expand_argument_vars` (the default) `$VAR` and `~` expand, nothing runs.
            fx = yq(&format!("{}.argvx", f.display())),
            ft = yq(&format!("{}.tmpl", f.display())),
        ));
        if !v.contains('\n') && !v.contains('\r') {
            tasks.push_str(&format!(
                "    - lineinfile:\n        path: {fl}\n        line: {q}\n        create: true\n\
                 \x20   - lineinfile:\n        path: {fl}\n        regexp: {rq}\n        line: {q}\n",
                fl = yq(&format!("{}.line", f.display())),
                rq = yq(&format!("^{}$", regex::escape(v))),
            ));
        }
        if name_ok {
            let named = out_dir.join(format!("n{i}-{v}"));
            tasks.push_str(&format!(
                "    - file:\n        path: {}\n        state: directory\n",
                yq(&named.display().to_string())
            ));
        }
    }
    let pb = write(
        dir,
        "pb.yml",
        &format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n{tasks}"),
    );
    write(dir, "templates/echo.j2", "{{ value }}");
    let (code, out, err) = run(drover().arg("play").arg(&pb));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!pwned.exists(), "a value broke out of its quoting");
    let (code, out, _) = run(drover().arg("play").arg(&pb));
    assert_eq!(code, 0);
    // Only `shell` and `command` (which always run) report changes on the second run.
    let again = format!("changed={} ", 3 * values.len());
    assert!(out.contains(&again), "{out}");
    for (i, v) in values.iter().enumerate() {
        let f = out_dir.join(format!("f{i}"));
        let read =
            |suffix: &str| std::fs::read_to_string(format!("{}{suffix}", f.display())).unwrap();
        assert_eq!(read(""), *v, "copy content {i}");
        assert_eq!(read(".env"), *v, "environment value {i}");
        assert_eq!(read(".argv"), *v, "argv {i}");
        assert_eq!(read(".tmpl"), *v, "template value {i}");
        if !v.contains('\n') && !v.contains('\r') {
            assert_eq!(read(".line"), format!("{v}\n"), "lineinfile {i}");
        }
        if name_ok(v) {
            assert!(out_dir.join(format!("n{i}-{v}")).is_dir(), "file path {i}");
        }
    }
}

/// `find` takes no `--`: `file: path=-delete state=absent` with `--diff` listed the directory
/// with `find -delete ...`, which deleted everything in the working directory, in check mode.
#[test]
fn a_path_that_looks_like_a_find_action_deletes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    write(&work, "keep/me", "still here\n");
    write(&work, "-delete/inside", "x\n");
    write(&work, "-exec/inside", "x\n");
    let pb = write(
        dir.path(),
        "pb.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n\
         \x20   - file: path=-exec state=directory recurse=true mode=0755\n\
         \x20   - file: path=-delete state=absent\n",
    );
    for extra in [&["--check", "--diff"][..], &["--diff"]] {
        let (code, out, err) = run(drover()
            .current_dir(&work)
            .args(["play", "-c", "local"])
            .arg(&pb)
            .args(extra));
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(
            std::fs::read_to_string(work.join("keep/me")).unwrap(),
            "still here\n",
            "{extra:?}"
        );
        assert!(work.join("-exec/inside").exists(), "{extra:?}");
    }
    assert!(!work.join("-delete").exists(), "the real run removes it");
}

/// A NUL byte in a path, a name or a command's word fails that task (Ansible: "embedded null
/// byte") and never reaches another file: `a\0b` must not delete or write `ab`, nor run
/// `ab`. A NUL byte in content is content.
#[test]
fn nul_byte_in_a_path_name_or_argv_is_refused_and_reaches_no_other_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("ab"), "keep").expect("ab");
    let pb = write(
        d,
        "pb.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - file: {path: "{{ playbook_dir }}/a\u0000b", state: absent}
      ignore_errors: true
    - copy: {dest: "{{ playbook_dir }}/c\u0000d", content: x}
      ignore_errors: true
    - command: {argv: [touch, "{{ playbook_dir }}/e\u0000f"]}
      ignore_errors: true
    - shell: "touch {{ playbook_dir }}/g\0h"
      ignore_errors: true
    - user: {name: "ro\0ot", state: absent}
      ignore_errors: true
    - copy: {dest: "{{ playbook_dir }}/bin", content: "a\0b"}
"#,
    );
    let (code, out, err) = run(drover()
        .args(["play", "-i", "localhost,", "-c", "local"])
        .arg(&pb));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("FAILED! => {\"changed\": false, \"msg\": \"embedded null byte")
            .count(),
        5,
        "each of the five tasks fails with it:\n{out}"
    );
    assert!(out.contains("ok=6") && out.contains("ignored=5"), "{out}");
    assert_eq!(
        std::fs::read_to_string(d.join("ab")).expect("ab kept"),
        "keep"
    );
    for other in ["cd", "ef", "gh"] {
        assert!(!d.join(other).exists(), "{other} was written");
    }
    assert_eq!(std::fs::read(d.join("bin")).expect("bin"), b"a\0b");
}
