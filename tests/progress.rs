//! The live status line of the human output: the real binary under a pseudo-terminal
//! (util-linux `script`) over the local connection, and the same run with stdout piped.
//! Under a terminal the line shows the running task's counts and is erased (`\r\x1b[2K`)
//! before every other line and at the end; without a terminal, with `--output json`,
//! `--no-progress` or `DROVER_PROGRESS=0`, not one control byte is printed.

mod support;

use std::path::Path;
use std::process::Command;
use support::{drover, run, s, write};

/// Four local hosts: `h4` fails at once, `h1` is done after about a second, `h2` and `h3`
/// after two, so the line is seen with each count.
const PLAYBOOK: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: wait a bit
      shell: "{{ 'exit 3' if inventory_hostname == 'h4' else 'sleep 1' if inventory_hostname == 'h1' else 'sleep 2' }}"
    - name: quick
      debug:
        msg: "hello {{ inventory_hostname }}"
"#;

fn fixture(dir: &Path) {
    let hosts: String = (1..=4)
        .map(|i| format!("h{i} ansible_connection=local\n"))
        .collect();
    write(dir, "hosts.ini", &hosts);
    write(dir, "site.yml", PLAYBOOK);
}

fn have_script() -> bool {
    Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `drover ARGS` under an 80-column pseudo-terminal; the raw bytes it wrote.
fn under_tty(dir: &Path, args: &str, env: &[(&str, &str)]) -> (i32, String) {
    let bin = env!("CARGO_BIN_EXE_drover");
    let mut cmd = Command::new("script");
    cmd.current_dir(dir)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("DROVER_PROGRESS")
        .args(["-qfec"])
        .arg(format!(
            "stty cols 80 rows 40; '{bin}' play -i hosts.ini site.yml {args}"
        ))
        .arg("/dev/null");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = run(&mut cmd);
    assert!(err.is_empty(), "stderr: {err}");
    (code, out)
}

const ERASE: &str = "\r\x1b[2K";

/// Splits a terminal transcript into the status lines drawn and the text printed; panics if
/// a status line was left on the screen at the end.
fn split_transcript(raw: &str) -> (Vec<String>, String) {
    let mut status = Vec::new();
    let mut text = String::new();
    let parts: Vec<&str> = raw.split(ERASE).collect();
    for (i, part) in parts.iter().enumerate() {
        // After an erase: either a status line (no newline, erased again by the next part)
        // or ordinary output.
        if i > 0 && !part.contains('\n') && !part.is_empty() {
            assert!(
                i + 1 < parts.len(),
                "the status line `{part}` was not erased at the end:\n{raw:?}"
            );
            status.push(part.to_string());
        } else {
            text.push_str(part);
        }
    }
    (status, text.replace("\r\n", "\n"))
}

/// Lines with timings (the failed command's result) differ from run to run, and so does the
/// order of hosts that finish a task together (each result prints as its host finishes):
/// under each banner, the hosts' results (a status line and the lines that follow it) are
/// sorted.
fn stable(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut chunks: Vec<String> = Vec::new();
    let flush = |out: &mut Vec<String>, chunks: &mut Vec<String>| {
        chunks.sort();
        out.append(chunks);
    };
    for l in text.lines().filter(|l| !l.starts_with("fatal: ")) {
        let result = ["ok: [", "changed: [", "skipping: [", "failed: ["]
            .iter()
            .any(|p| l.starts_with(p));
        if result {
            chunks.push(l.to_string());
        } else if l.starts_with(' ') || l == "}" {
            match chunks.last_mut() {
                Some(c) => {
                    c.push('\n');
                    c.push_str(l);
                }
                None => out.push(l.to_string()),
            }
        } else {
            flush(&mut out, &mut chunks);
            out.push(l.to_string());
        }
    }
    flush(&mut out, &mut chunks);
    out.join("\n")
}

#[test]
fn status_line_counts_hosts_and_is_erased() {
    if !have_script() {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let (code, raw) = under_tty(dir.path(), "", &[]);
    assert_eq!(code, 2, "h4 failed:\n{raw:?}");
    let (status, text) = split_transcript(&raw);
    assert!(!status.is_empty(), "no status line was drawn:\n{raw:?}");
    for line in &status {
        // (A loaded machine may show the quick task too.)
        assert!(
            line.starts_with("TASK [wait a bit]  done ") || line.starts_with("TASK [quick]  done "),
            "a line names its task: {line:?}"
        );
    }
    // The counts as the hosts finish: h4 failed at once, h1 after a second.
    let seen = |needle: &str| status.iter().any(|l| l.contains(needle));
    assert!(
        seen("done 1/4  running 3  failed 1"),
        "h4's failure is counted: {status:?}"
    );
    assert!(
        seen("done 2/4  running 2  failed 1"),
        "h1 is counted as done: {status:?}"
    );

    // Erased before each printed line: what is left is exactly the output without a
    // terminal.
    let mut cmd = drover();
    cmd.current_dir(dir.path())
        .env("TERM", "xterm")
        .args(["play", "-i", "hosts.ini", "site.yml"]);
    let (code, piped, _) = run(&mut cmd);
    assert_eq!(code, 2);
    assert_eq!(stable(&text), stable(&piped));
    assert!(text.contains("PLAY RECAP"), "{text}");
}

#[test]
fn no_control_bytes_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    for args in [&[][..], &["--output", "json"][..]] {
        let mut cmd = drover();
        cmd.current_dir(dir.path())
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .args(["play", "-i", s(&dir.path().join("hosts.ini")), "site.yml"])
            .args(args);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let bad: Vec<u8> = out
            .stdout
            .iter()
            .copied()
            .filter(|b| *b == 0x1b || *b == b'\r')
            .collect();
        assert!(
            bad.is_empty(),
            "{args:?}: control bytes in piped output:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn turned_off_by_flag_env_and_json() {
    if !have_script() {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let cases: [(&str, &[(&str, &str)]); 3] = [
        ("--no-progress", &[]),
        ("", &[("DROVER_PROGRESS", "0")]),
        ("--output json", &[]),
    ];
    for (args, env) in cases {
        let (code, raw) = under_tty(dir.path(), args, env);
        assert_eq!(code, 2, "{args} {env:?}");
        assert!(
            !raw.contains('\x1b') && !raw.contains("done "),
            "{args} {env:?}: a status line was drawn:\n{raw:?}"
        );
    }
}

/// Under `strategy: free` each host runs the play on its own and results print as they come;
/// the line counts hosts through the play.
#[test]
fn free_strategy_counts_hosts_through_the_play() {
    if !have_script() {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    write(
        dir.path(),
        "site.yml",
        r#"- name: loose
  hosts: all
  strategy: free
  gather_facts: false
  tasks:
    - name: nap
      shell: "sleep {{ 1 if inventory_hostname == 'h1' else 2 }}"
    - name: after
      command: "true"
"#,
    );
    let (code, raw) = under_tty(dir.path(), "", &[]);
    assert_eq!(code, 0, "{raw:?}");
    let (status, text) = split_transcript(&raw);
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("PLAY [loose] (strategy free)  done 1/4  running 3  failed 0")),
        "{status:?}"
    );
    assert!(
        status
            .iter()
            .all(|l| l.starts_with("PLAY [loose] (strategy free)  done ")),
        "the title stays the play's: {status:?}"
    );
    assert!(text.contains("PLAY RECAP"), "{text}");
}
