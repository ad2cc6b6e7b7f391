//! `vars_prompt` over the local connection: `-e` values are not asked, defaults answer when
//! stdin is not a terminal, a prompt nobody can answer is an input error before anything
//! runs, and on a terminal the answers (with `confirm`) reach the play.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use support::{drover, recap, run, s, write};

const PLAYBOOK: &str = r#"- hosts: localhost
  gather_facts: false
  vars:
    release: from-play-vars
  vars_prompt:
    - name: release
      prompt: Which release?
      private: false
      default: "1.0"
    - name: secret
      prompt: Password
      confirm: true
    - name: raw
      prompt: Raw text
      private: false
      unsafe: true
      default: "{{ release }}"
  tasks:
    - copy:
        dest: "{{ out }}"
        content: "release={{ release }} secret={{ secret }} raw={{ raw }}\n"
"#;

fn setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let inv = write(dir, "hosts.ini", "localhost ansible_connection=local\n");
    let pb = write(dir, "pb.yml", PLAYBOOK);
    (inv, pb)
}

#[test]
fn extra_vars_and_defaults_answer_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb) = setup(tmp.path());
    let out_file = tmp.path().join("out.txt");
    let out_var = format!("out={}", s(&out_file));
    let (code, out, err) = run(drover()
        .args([
            "play",
            "-i",
            s(&inv),
            s(&pb),
            "-e",
            &out_var,
            "-e",
            "secret=s3",
        ])
        .stdin(Stdio::null()));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(recap(&out, "localhost").changed, 1, "{out}");
    // The prompt's answer (its default here) is above play vars; `-e` skips the prompt; an
    // `unsafe` default is not templated.
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "release=1.0 secret=s3 raw={{ release }}\n"
    );
}

#[test]
fn a_prompt_nobody_can_answer_is_an_input_error_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb) = setup(tmp.path());
    let out_file = tmp.path().join("out.txt");
    let out_var = format!("out={}", s(&out_file));
    let (code, out, err) = run(drover()
        .args(["play", "-i", s(&inv), s(&pb), "-e", &out_var])
        .stdin(Stdio::null()));
    assert_eq!(code, 5, "{out}\n{err}");
    assert_eq!(
        err.trim(),
        format!(
            "error: {}:10:7: vars_prompt `secret` needs an answer and stdin is not a terminal\nhint: pass it with -e secret=VALUE (or give the prompt a `default`)",
            s(&pb)
        )
    );
    assert!(!out.contains("PLAY ["), "{out}");
    assert!(!out_file.exists());
}

/// On a terminal (a pseudo-terminal from `script`): the answers typed, a confirmation that
/// does not match asks again.
#[test]
fn answers_typed_on_a_terminal_reach_the_play() {
    if Command::new("script").arg("--version").output().is_err() {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (inv, pb) = setup(tmp.path());
    let out_file = tmp.path().join("out.txt");
    let bin = env!("CARGO_BIN_EXE_drover");
    let cmd = format!(
        "{bin} play -i {} {} -e out={}",
        s(&inv),
        s(&pb),
        s(&out_file)
    );
    // release, secret, a wrong confirmation, secret again, its confirmation, raw (empty).
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        for line in ["2.0", "pw1", "nope", "pw1", "pw1", "{{ x }}"] {
            stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Which release? [1.0]: "), "{text}");
    assert!(
        text.contains("***** VALUES ENTERED DO NOT MATCH ****"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "release=2.0 secret=pw1 raw={{ x }}\n"
    );
}
