//! `include_vars`: the per-OS file pattern from facts, `name:`, `dir:`, precedence over play
//! vars, and the load-time check knowing which names the files define.

use std::path::Path;
use std::process::Command;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn run(dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(dir.join("pb.yml"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn per_os_file_name_and_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "roles/r/vars/Debian.yml",
        "pkg_name: from-debian\nport: \"{{ base_port + 1 }}\"\n",
    );
    write(d, "roles/r/vars/RedHat.yml", "pkg_name: from-redhat\n");
    write(
        d,
        "roles/r/tasks/main.yml",
        r#"- include_vars: "{{ ansible_facts.os_family }}.yml"
- include_vars: {file: Debian.yml, name: nested}
- include_vars: {dir: extra}
- assert:
    that:
      - pkg_name == "from-debian"
      - port | int == 8081
      - nested.pkg_name == "from-debian"
      - extra_a == 1 and extra_b == 2
"#,
    );
    write(d, "roles/r/vars/extra/a.yml", "extra_a: 1\n");
    write(d, "roles/r/vars/extra/b.yml", "extra_b: 2\n");
    write(
        d,
        "pb.yml",
        "- hosts: localhost\n  vars: {pkg_name: from-play, base_port: 8080}\n  roles: [r]\n",
    );
    let (code, out, err) = run(d);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("All assertions passed"), "{out}");
}

#[test]
fn a_name_no_vars_file_defines_is_warned_at_load_and_fails_when_reached() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "vars/common.yml", "known_one: 1\n");
    write(d, "pb.yml", "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - include_vars: vars/common.yml\n    - debug: msg=\"{{ known_one }} {{ unknown_two }}\"\n");
    let (code, out, err) = run(d);
    assert_eq!(code, 2, "{out}{err}");
    let warning = out
        .lines()
        .find(|l| l.starts_with("[WARNING]:"))
        .unwrap_or_else(|| panic!("no warning\n{out}"));
    assert!(
        warning.contains("pb.yml:5:") && warning.contains("`unknown_two` is not defined anywhere"),
        "{warning}"
    );
    assert!(out.contains("'unknown_two' is undefined"), "{out}");
}
