//! Variable precedence, level by level: the same variable is set at every level, and each step
//! removes the current winner to show the next one down wins, through the real binary.

use std::path::Path;
use std::process::Command;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Levels from highest to lowest; each is (name, where it is set).
const LEVELS: &[&str] = &[
    "extra_vars",
    "set_fact",
    "task_vars",
    "role_vars",
    "play_vars_files",
    "play_vars",
    "host_vars",
    "inventory_host",
    "group_vars_child",
    "group_vars_all",
    "inventory_group",
    "role_defaults",
];

fn build(dir: &Path, enabled: &[&str]) -> Vec<String> {
    let on = |l: &str| enabled.contains(&l);
    let host_inline = if on("inventory_host") {
        " v=inventory_host"
    } else {
        ""
    };
    let group_vars = if on("inventory_group") {
        "[web:vars]\nv=inventory_group\n"
    } else {
        ""
    };
    write(
        dir,
        "inv/hosts.ini",
        &format!("[web]\nlocalhost ansible_connection=local{host_inline}\n{group_vars}"),
    );
    let gv = |l: &str| {
        if on(l) {
            format!("v: {l}\n")
        } else {
            "other: 1\n".into()
        }
    };
    write(dir, "inv/group_vars/all.yml", &gv("group_vars_all"));
    write(dir, "inv/group_vars/web.yml", &gv("group_vars_child"));
    write(dir, "inv/host_vars/localhost.yml", &gv("host_vars"));
    write(dir, "roles/r/defaults/main.yml", &gv("role_defaults"));
    write(dir, "roles/r/vars/main.yml", &gv("role_vars"));
    write(dir, "vars.yml", &gv("play_vars_files"));
    let set_fact = if on("set_fact") {
        "- set_fact: {v: set_fact}\n"
    } else {
        ""
    };
    let task_vars = if on("task_vars") {
        "  vars: {v: task_vars}\n"
    } else {
        ""
    };
    write(
        dir,
        "roles/r/tasks/main.yml",
        &format!("{set_fact}- debug: msg=\"V={{{{ v }}}}\"\n{task_vars}"),
    );
    let play_vars = if on("play_vars") {
        "  vars: {v: play_vars}\n"
    } else {
        ""
    };
    write(dir, "site.yml", &format!("- hosts: web\n  gather_facts: false\n{play_vars}  vars_files: [vars.yml]\n  roles: [r]\n"));
    let mut args = vec![
        "play".to_string(),
        "-i".into(),
        dir.join("inv/hosts.ini").display().to_string(),
        dir.join("site.yml").display().to_string(),
    ];
    if on("extra_vars") {
        args.extend(["-e".into(), "v=extra_vars".into()]);
    }
    args
}

/// For each level in turn, sets the variable at that level and every one below it, and checks
/// that the level wins.
fn check_levels(levels: &[&str], build: fn(&Path, &[&str]) -> Vec<String>) {
    for (i, expected) in levels.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let args = build(dir.path(), &levels[i..]);
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "level {expected}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("\"msg\": \"V={expected}\"")),
            "expected {expected} to win:\n{stdout}"
        );
    }
}

#[test]
fn each_level_beats_the_ones_below() {
    check_levels(LEVELS, build);
}

/// Ansible's documented precedence table, highest first, as far as a playbook can set a
/// variable (command-line options other than `-e` are not variables; `vars_prompt` is not
/// supported; facts cannot be named freely). Playbook-adjacent `group_vars`/`host_vars` sit
/// just above the inventory's.
const FULL: &[&str] = &[
    "extra_vars",
    "include_params",
    "role_params",
    "set_fact",
    "include_vars",
    "task_vars",
    "block_vars",
    "role_vars",
    "play_vars_files",
    "play_vars",
    "pb_host_vars",
    "inv_host_vars",
    "inventory_host",
    "pb_group_vars_child",
    "inv_group_vars_child",
    "pb_group_vars_all",
    "inv_group_vars_all",
    "inventory_group",
    "role_defaults",
];

fn build_full(dir: &Path, enabled: &[&str]) -> Vec<String> {
    let on = |l: &str| enabled.contains(&l);
    let kv = |l: &str| {
        if on(l) {
            format!("v: {l}\n")
        } else {
            "other: 1\n".into()
        }
    };
    let inline = |l: &str, text: &str| {
        if on(l) {
            text.to_string()
        } else {
            String::new()
        }
    };
    write(
        dir,
        "inv/hosts.ini",
        &format!(
            "[web]\nlocalhost ansible_connection=local{}\n{}",
            inline("inventory_host", " v=inventory_host"),
            inline("inventory_group", "[web:vars]\nv=inventory_group\n")
        ),
    );
    write(dir, "inv/group_vars/all.yml", &kv("inv_group_vars_all"));
    write(dir, "inv/group_vars/web.yml", &kv("inv_group_vars_child"));
    write(dir, "inv/host_vars/localhost.yml", &kv("inv_host_vars"));
    write(dir, "pb/group_vars/all.yml", &kv("pb_group_vars_all"));
    write(dir, "pb/group_vars/web.yml", &kv("pb_group_vars_child"));
    write(dir, "pb/host_vars/localhost.yml", &kv("pb_host_vars"));
    write(dir, "pb/roles/r/defaults/main.yml", &kv("role_defaults"));
    write(dir, "pb/roles/r/vars/main.yml", &kv("role_vars"));
    write(dir, "pb/vars.yml", &kv("play_vars_files"));
    write(dir, "pb/roles/r/vars/iv.yml", &kv("include_vars"));
    // set_fact comes before include_vars in the list: a level, not the order, decides.
    write(
        dir,
        "pb/roles/r/tasks/main.yml",
        &format!(
            "{}- include_vars: iv.yml\n- include_tasks: inner.yml\n{}",
            inline("set_fact", "- set_fact: {v: set_fact}\n"),
            inline("include_params", "  vars: {v: include_params}\n"),
        ),
    );
    write(
        dir,
        "pb/roles/r/tasks/inner.yml",
        &format!(
            "- block:\n    - debug: msg=\"V={{{{ v }}}}\"\n{}{}",
            inline("task_vars", "      vars: {v: task_vars}\n"),
            inline("block_vars", "  vars: {v: block_vars}\n"),
        ),
    );
    write(
        dir,
        "pb/site.yml",
        &format!(
            "- hosts: web\n  gather_facts: false\n{}  vars_files: [vars.yml]\n  roles:\n    - role: r\n{}",
            inline("play_vars", "  vars: {v: play_vars}\n"),
            inline("role_params", "      v: role_params\n"),
        ),
    );
    let mut args = vec![
        "play".to_string(),
        "-i".into(),
        dir.join("inv/hosts.ini").display().to_string(),
        dir.join("pb/site.yml").display().to_string(),
    ];
    if on("extra_vars") {
        args.extend(["-e".into(), "v=extra_vars".into()]);
    }
    args
}

#[test]
fn ansibles_full_table_level_by_level() {
    check_levels(FULL, build_full);
}
