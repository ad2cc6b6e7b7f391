//! Adversarial names never run as code on a test host: user, group, service and package
//! names, `apt deb` paths, authorized_key comments and options, `file` owner/group,
//! `creates`/`removes` and `chdir` get values that try to break out of their quoting (quotes,
//! `$()`, backticks, `;`, `&&`, newlines, NUL, globs, leading dashes read as options, paths
//! that climb out of a directory, very long values). A value a module cannot take fails the
//! task with a message (from the module or from the tool it runs); a value it can take
//! arrives exactly. The break-out marker file is never created, and the account databases
//! are unchanged. Bytes that are not UTF-8 (`!!binary` content, a `src` file) arrive exactly.

mod support;

use support::hosts::TestHosts;
use support::{drover, run, s, write};

/// Where a break-out would leave its mark, inside the host (and on the controller).
const PWNED: &str = "/tmp/pwned-by-a-name";
/// An executable that leaves the mark: what a path climbing out of `/etc/init.d` would run.
const EVIL: &str = "/tmp/evil-script";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc8f0mXbq0zq1mRZ0hY5W0s1l0m1y8yq5b8Gm6l1Z2a";

/// A key of its own for task `n` (authorized_key keeps one line per key: the same key with
/// another comment would replace the line).
fn key(n: usize) -> String {
    let mut k = KEY.to_string();
    let letters = |d: usize| char::from(b'A' + (d % 26) as u8);
    k.replace_range(70..72, &format!("{}{}", letters(n / 26), letters(n)));
    k
}

fn adversarial() -> Vec<String> {
    let p = PWNED;
    let mut v = support::shell_break_outs(p);
    v.extend([
        format!("nul\u{0}; touch {p}"),
        "*".to_string(),
        "g?[a-z]*".to_string(),
        "-".to_string(),
        "-rf".to_string(),
        "--help".to_string(),
        "-oDpkg::Pre-Invoke::=touch /tmp/pwned-by-a-name".to_string(),
        "-oAPT::Update::Pre-Invoke::=touch /tmp/pwned-by-a-name".to_string(),
        "--reference=/etc/shadow".to_string(),
        format!("../../..{EVIL}"),
        "${HOME}$PATH$$".to_string(),
        "ünïcødé ✓".to_string(),
        "x".repeat(100_000),
    ]);
    v
}

/// The key of the `key_options` task for value `i`.
fn key_of_options(i: usize, n: usize) -> String {
    key(n + i)
}

/// YAML double-quoted scalar for any string (JSON escaping is valid YAML).
fn yq(v: &str) -> String {
    serde_json::to_string(v).unwrap()
}

/// The modules whose every adversarial value must fail, by task-name prefix.
const MUST_FAIL: [&str; 8] = [
    "user", "group", "service", "apt name", "apt deb", "owner", "grp", "chdir",
];

/// Bytes YAML text cannot carry: invalid UTF-8, NUL, every byte value, shell syntax.
fn raw_bytes() -> Vec<u8> {
    let mut b =
        b"\xff\xfe\x00 $(touch /tmp/pwned-by-a-name) `touch /tmp/pwned-by-a-name`\n".to_vec();
    b.extend(0..=255u8);
    b.extend(b"'\"; touch /tmp/pwned-by-a-name\n@@DRV:end\n\x80");
    b
}

fn playbook(dir: &std::path::Path, values: &[String]) -> std::path::PathBuf {
    use base64::Engine;
    std::fs::write(dir.join("raw.bin"), raw_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw_bytes());
    // Non-UTF-8 content reaches the host as `!!binary` content and as a `src` file.
    let mut tasks = format!(
        "    - name: binary content\n      copy:\n        content: !!binary |\n          {b64}\n        dest: /tmp/inj/binary\n\
         \x20   - name: binary src\n      copy:\n        src: raw.bin\n        dest: /tmp/inj/raw\n"
    );
    for (i, v) in values.iter().enumerate() {
        let q = yq(v);
        let key = yq(&format!("{} {v}", key(i)));
        let okey = key_of_options(i, values.len());
        tasks.push_str(&format!(
            r#"    - name: user {i}
      user:
        name: {q}
        create_home: false
    - name: group {i}
      group:
        name: {q}
    - name: service {i}
      service:
        name: {q}
        state: started
    - name: apt name {i}
      apt:
        name: {q}
    - name: apt deb {i}
      apt:
        deb: {deb}
    - name: owner {i}
      file:
        path: /tmp/inj/file
        owner: {q}
    - name: grp {i}
      file:
        path: /tmp/inj/file
        group: {q}
    - name: chdir {i}
      command: pwd
      args:
        chdir: {q}
    - name: creates {i}
      command: touch /tmp/inj/created-{i}
      args:
        creates: {q}
    - name: removes {i}
      command: touch /tmp/inj/removed-{i}
      args:
        removes: {q}
    - name: key comment {i}
      authorized_key:
        user: root
        key: {key}
    - name: key options {i}
      authorized_key:
        user: root
        key: "{okey} options-{i}"
        key_options: {q}
"#,
            deb = yq(&format!("/tmp/{v}.deb")),
        ));
    }
    write(
        dir,
        "pb.yml",
        &format!("- hosts: test\n  gather_facts: true\n  ignore_errors: true\n  tasks:\n{tasks}"),
    )
}

#[test]
fn adversarial_names_are_refused_or_kept_exactly_and_never_run() {
    check_values(adversarial());
}

/// The property behind the list above, on generated values (a fixed seed and case budget in
/// CI; `DROVER_PROP_SEED`/`DROVER_PROP_CASES` for more): shell syntax, newlines, NUL, tabs,
/// globs, leading dashes and non-ASCII text in every name, path and option, on a test host.
#[test]
fn generated_hostile_names_are_refused_or_kept_exactly_and_never_run() {
    let (seed, cases) = support::prop_budget(40);
    eprintln!("hostile names: seed {seed}, {cases} cases");
    check_values(support::hostile_values(seed, cases, PWNED, &[]));
}

/// Runs every module task of [`playbook`] with each value on a fresh test host and checks
/// that nothing but the requested effect happened.
fn check_values(values: Vec<String>) {
    let Some(hosts) = TestHosts::up(1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    hosts.sh(
        0,
        &format!(
            "mkdir -p /tmp/inj && touch /tmp/inj/file && printf '#!/bin/sh\\ntouch {PWNED}\\n' > {EVIL} && chmod 755 {EVIL}"
        ),
    );
    let accounts = "cat /etc/passwd /etc/group /etc/shadow /etc/gshadow";
    let (_, accounts_before) = hosts.sh(0, accounts);
    let keys_before =
        std::fs::read_to_string(hosts.path(0, "/root/.ssh/authorized_keys")).unwrap_or_default();
    let pb = playbook(dir.path(), &values);
    let inv = hosts.inventory("root", "");
    let kh = hosts.known_hosts();
    let (code, out, err) = run(drover().args([
        "play",
        "-i",
        s(&inv),
        s(&pb),
        "--known-hosts",
        s(&kh),
        "--host-key-checking",
        "accept-new",
        "--output",
        "json",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !hosts.path(0, PWNED).exists(),
        "a name broke out of its quoting on the host"
    );
    assert!(!std::path::Path::new(PWNED).exists(), "on the controller");
    for f in ["/tmp/inj/binary", "/tmp/inj/raw"] {
        assert_eq!(std::fs::read(hosts.path(0, f)).unwrap(), raw_bytes(), "{f}");
    }
    assert!(
        hosts.sh(0, accounts).1 == accounts_before,
        "accounts changed:\n{}",
        hosts.sh(0, accounts).1
    );

    // Every value a module cannot take failed its task, with a message.
    let results: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "host_result")
        .collect();
    let mut problems = Vec::new();
    for (i, v) in values.iter().enumerate() {
        for prefix in MUST_FAIL {
            let name = format!("{prefix} {i}");
            let r = results
                .iter()
                .find(|r| r["task"] == name)
                .unwrap_or_else(|| panic!("no result for `{name}`"));
            let shown: String = v.chars().take(60).collect();
            // apt takes globs: `*` names the installed packages, which are there.
            let glob = prefix == "apt name" && v.contains('*') && !v.contains(' ');
            if glob {
                continue;
            }
            if r["status"] != "failed" {
                problems.push(format!("`{name}` ({shown:?}) did not fail: {r}"));
            } else if r["msg"].as_str().is_none_or(|m| m.trim().is_empty()) {
                problems.push(format!("`{name}` failed without a message: {r}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Comments and options that can be written are written exactly, one line per key.
    let keys = std::fs::read_to_string(hosts.path(0, "/root/.ssh/authorized_keys")).unwrap();
    for (i, v) in values.iter().enumerate() {
        let one_line = !v.contains(['\n', '\r', '\0']);
        if one_line {
            // As Ansible's authorized_key: the comment is the key's remaining words, joined by
            // one space.
            let words: Vec<&str> = v.split_whitespace().collect();
            let want = if words.is_empty() {
                key(i)
            } else {
                format!("{} {}", key(i), words.join(" "))
            };
            assert!(
                keys.lines().any(|l| l == want),
                "comment {i} ({v:?}) is not kept exactly:\n{}",
                keys.lines()
                    .filter(|l| l.contains(&key(i)[60..]))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    for line in keys
        .lines()
        .filter(|l| !keys_before.lines().any(|b| b == *l))
    {
        assert!(
            line.contains(&KEY[..60]) || line.is_empty() || line.starts_with('#'),
            "a value became a line of its own: {line:?}"
        );
    }
    // `creates`/`removes` only ever name a path, relative to the home directory: only the path
    // climbing to the script exists, so every other `creates` task ran and every other
    // `removes` task was skipped.
    for (i, v) in values.iter().enumerate() {
        // A NUL byte fails both tasks (it is no path).
        if v.contains('\0') {
            let created = hosts.path(0, &format!("/tmp/inj/created-{i}")).exists();
            let removed = hosts.path(0, &format!("/tmp/inj/removed-{i}")).exists();
            if created || removed {
                problems.push(format!("creates/removes {i} with a NUL byte ran"));
            }
            continue;
        }
        let exists = v.ends_with(EVIL);
        let created = hosts.path(0, &format!("/tmp/inj/created-{i}")).exists();
        let removed = hosts.path(0, &format!("/tmp/inj/removed-{i}")).exists();
        if created == exists || removed != exists {
            let shown: String = v.chars().take(60).collect();
            problems.push(format!(
                "creates/removes {i} ({shown:?}): created={created} removed={removed}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
