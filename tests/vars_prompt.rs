//! Prompts over the local connection. `vars_prompt`: `-e` values are not asked, defaults
//! answer when stdin is not a terminal, a prompt nobody can answer is an input error before
//! anything runs, and on a terminal the answers (with `confirm`) reach the play. `pause` on a
//! terminal: typed text, Ctrl+C then `C` or `A`, hidden input, timed pauses.

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

/// A play on a pseudo-terminal (`script`) whose output is read as it comes, to type keys
/// when a prompt is shown.
struct OnTerminal {
    child: std::process::Child,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl OnTerminal {
    fn start(cmd: &str) -> OnTerminal {
        let mut child = Command::new("script")
            .args(["-qec", cmd, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnTerminal { child, seen }
    }

    /// Waits until `text` has been shown after what was waited for before, then types `keys`.
    fn answer(&mut self, text: &str, keys: &[u8], from: &mut usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if let Some(at) = seen[*from..].find(text) {
                *from += at + text.len();
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{text}` was not shown:\n{seen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // The prompt flushes what was typed before it reads: let it start reading first.
        std::thread::sleep(std::time::Duration::from_millis(300));
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(keys).unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) -> (bool, String) {
        drop(self.child.stdin.take());
        let ok = self.child.wait().unwrap().success();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let seen = self.seen.lock().unwrap().clone();
        (ok, seen)
    }
}

/// `pause` on a terminal, as Ansible's: the typed text (edited with the erase key) is the
/// result's `user_input`; Ctrl+C then `C` continues, Ctrl+C then `A` aborts the play; hidden
/// input is not shown; Enter does not end a timed pause.
#[test]
fn pause_reads_keys_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        support::skip("util-linux `script` is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("out.txt");
    let pb = write(
        tmp.path(),
        "pause.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: ask
      pause: {prompt: Enter some text}
      register: a
    - pause: {prompt: Interrupt me}
      register: b
    - pause: {prompt: Secret, echo: false}
      register: c
    - pause: {seconds: 2}
      register: d
    - copy:
        dest: "{{ out }}"
        content: "{{ a.user_input }}|{{ b.user_input }}|{{ c.user_input }}|{{ d.user_input }}|{{ d.stdout }}"
"#,
    );
    let bin = env!("CARGO_BIN_EXE_drover");
    let cmd = format!("{bin} play {} -e out={}", s(&pb), s(&out_file));
    let mut t = OnTerminal::start(&cmd);
    let mut at = 0;
    t.answer("[ask]", b"", &mut at);
    t.answer(
        "Enter some text:",
        b"hello there\x7f\x7f\x7f\x7fommy boy\r",
        &mut at,
    );
    t.answer("Interrupt me:", b"\x03", &mut at);
    t.answer(
        "Press 'C' to continue the play or 'A' to abort",
        b"c",
        &mut at,
    );
    t.answer("Secret (output is hidden):", b"pancakes\r", &mut at);
    t.answer("Pausing for 2 seconds", b"", &mut at);
    t.answer("(ctrl+C then 'C' = continue early", b"typed\r", &mut at);
    let (ok, text) = t.finish();
    assert!(ok, "{text}");
    assert!(!text.contains("pancakes"), "hidden input was shown: {text}");
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "hello tommy boy||pancakes||Paused for 2.0 seconds"
    );

    // Ctrl+C then `A`: the play stops there.
    let mut t = OnTerminal::start(&cmd);
    let mut at = 0;
    t.answer("Enter some text:", b"\x03", &mut at);
    t.answer(
        "Press 'C' to continue the play or 'A' to abort",
        b"A",
        &mut at,
    );
    let (ok, text) = t.finish();
    assert!(!ok, "an abort fails the run: {text}");
    assert!(text.contains("user requested abort!"), "{text}");
    assert!(text.contains("failed=1"), "{text}");
}
