//! Roles referenced by path: found, and named after their directory in task titles.

use std::process::Command;

#[test]
fn role_given_by_path_is_named_after_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("somewhere/web_server");
    std::fs::create_dir_all(role.join("tasks")).unwrap();
    std::fs::write(
        role.join("tasks/main.yml"),
        "- name: say hi\n  debug: msg=hi\n",
    )
    .unwrap();
    let pb = dir.path().join("pb.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: localhost\n  gather_facts: false\n  roles:\n    - {}\n",
            role.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("play")
        .arg(&pb)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("TASK [web_server : say hi]"), "{stdout}");
}
