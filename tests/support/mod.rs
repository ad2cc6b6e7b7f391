//! Helpers shared by the integration tests: running the built `drover` binary, writing
//! fixtures, reading the PLAY RECAP, and (in `sshd.rs`) a throwaway sshd.
//!
//! Every test file includes this with `mod support;` and uses only part of it.
#![allow(dead_code)]

pub mod ansible;
pub mod aptrepo;
pub mod background;
pub mod daemon;
pub mod hosts;
pub mod http;
pub mod playgen;
pub mod sshd;
pub mod systemd_hosts;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A `Command` for the drover binary built for these tests, with colour off and no
/// environment that could change which inventory or host key policy it uses.
/// The drover binary under test: cargo's build, or `DROVER_BIN` (a copy, so that a long run
/// by hand is not disturbed by a rebuild).
pub fn drover() -> Command {
    let bin = std::env::var_os("DROVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_drover").into());
    let mut cmd = Command::new(bin);
    cmd.env("NO_COLOR", "1")
        .env_remove("DROVER_HOST_KEY_CHECKING")
        .env_remove("ANSIBLE_INVENTORY")
        .env_remove("ANSIBLE_ROLES_PATH")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_VAULT_IDENTITY_LIST")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("DROVER_SSH_CONFIG");
    cmd
}

/// Runs a command to completion: (exit code, stdout, stderr). A signal death is code -1.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `content` to `dir/rel_path` (creating parent directories) and returns the path.
pub fn write(dir: &Path, rel_path: &str, content: &str) -> PathBuf {
    let p = dir.join(rel_path);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    std::fs::write(&p, content).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    p
}

/// The path as a `&str` (test paths are always UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// One host's numbers from the PLAY RECAP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recap {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// Parses the PLAY RECAP line of `host` from drover's stdout; panics (showing the output) if
/// there is none.
pub fn recap(stdout: &str, host: &str) -> Recap {
    let after = stdout
        .rsplit_once("PLAY RECAP")
        .unwrap_or_else(|| panic!("no PLAY RECAP in output:\n{stdout}"))
        .1;
    let line = after
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host) && l.contains(" : "))
        .unwrap_or_else(|| panic!("no recap line for `{host}` in output:\n{stdout}"));
    let mut r = Recap::default();
    for field in line.split_whitespace() {
        let Some((k, v)) = field.split_once('=') else {
            continue;
        };
        let v: u32 = v
            .parse()
            .unwrap_or_else(|_| panic!("bad recap field `{field}` in `{line}`"));
        match k {
            "ok" => r.ok = v,
            "changed" => r.changed = v,
            "unreachable" => r.unreachable = v,
            "failed" => r.failed = v,
            "skipped" => r.skipped = v,
            "rescued" => r.rescued = v,
            "ignored" => r.ignored = v,
            _ => {}
        }
    }
    r
}

/// `dir/big.bin`: 48 MiB that do not compress (xorshift bytes), long enough on the wire for
/// a test to cut the transfer; returns its path and contents.
pub fn big_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..48 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let p = dir.join("big.bin");
    std::fs::write(&p, &data).expect("write big file");
    (p, data)
}

/// Values that would run `touch MARKER` if a shell ever read them unquoted: quotes of both
/// kinds, substitutions, separators, a pipe and a newline. The injection tests add their own.
pub fn shell_break_outs(marker: &str) -> Vec<String> {
    let p = marker;
    vec![
        format!("a'; touch {p}; echo '"),
        format!("b\"; touch {p}; echo \""),
        format!("$(touch {p})"),
        format!("`touch {p}`"),
        format!("c; touch {p}"),
        format!("d && touch {p} || touch {p}"),
        format!("e | touch {p}"),
        format!("f\ntouch {p}\n"),
    ]
}

/// The seed and case budget of the generated hostile values (`DROVER_PROP_SEED`,
/// `DROVER_PROP_CASES`; CI uses the defaults, a fixed seed).
pub fn prop_budget(default_cases: usize) -> (u64, usize) {
    let seed = std::env::var("DROVER_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261206);
    let cases = std::env::var("DROVER_PROP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_cases);
    (seed, cases)
}

/// `n` generated hostile strings for property tests (the same seed gives the same strings):
/// pieces of shell syntax that would run `touch MARKER` if a value ever became code (quotes
/// of both kinds, `$()`, backticks, separators, pipes, redirections, globs, `~`, `$VAR`),
/// newlines, carriage returns, tabs, NUL, non-ASCII text, printf and marker-looking text (no
/// template syntax: values are written into playbooks, where Jinja would read it), each
/// value with at least one piece that no name may hold (and a leading dash in a quarter of
/// them). `without` lists characters left out (e.g. newline and NUL for a password).
pub fn hostile_values(seed: u64, n: usize, marker: &str, without: &[char]) -> Vec<String> {
    let breaking = [
        format!("'; touch {marker}; echo '"),
        format!("\"; touch {marker}; echo \""),
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!(";touch {marker};"),
        format!(" && touch {marker} || touch {marker}"),
        format!("| touch {marker}"),
        format!("\ntouch {marker}\n"),
        format!("\rtouch {marker}"),
        format!(" > {marker}"),
        "\u{0}".to_string(),
        " ".to_string(),
        "\t".to_string(),
    ];
    let plain = [
        "a", "B9", "_x", "-", "--", ".", "..", "*", "?", "[a-z]", "~", "$HOME", "${PATH}", "$$",
        "%s%n", "\\", "ünï", "✓", "中", "@@DRV:", "=", ",", "#", "!", "(", ")",
    ];
    let mut rng = playgen::Rng::new(seed);
    let mut out = Vec::new();
    while out.len() < n {
        let mut v = String::new();
        if rng.below(4) == 0 {
            v.push('-');
        }
        let parts = 1 + rng.below(5);
        let must = rng.below(parts);
        for i in 0..parts {
            if i == must || rng.below(3) == 0 {
                v.push_str(&breaking[rng.below(breaking.len())]);
            } else {
                v.push_str(plain[rng.below(plain.len())]);
            }
        }
        if v.contains(without) {
            continue;
        }
        out.push(v);
    }
    out
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Every file and directory under `root` with the file contents, sorted: a snapshot to
/// compare before and after a run.
pub fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            if meta.is_dir() {
                out.push((format!("{rel}/"), None));
                walk(root, &p, out);
            } else {
                out.push((rel, Some(std::fs::read(&p).unwrap_or_default())));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Runs a playbook (text, where `LOG` stands for a log file path) in a temp dir over the local
/// connection, with an optional INI inventory; returns the exit code, stdout and the log.
pub fn play_logged(inventory: Option<&str>, yaml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("log");
    let pb = write(dir.path(), "pb.yml", &yaml.replace("LOG", s(&log_path)));
    let mut cmd = drover();
    cmd.arg("play");
    if let Some(inv) = inventory {
        let inv_path = write(dir.path(), "inv.ini", inv);
        cmd.arg("-i").arg(inv_path);
    }
    cmd.arg(&pb);
    let (code, out, _) = run(&mut cmd);
    (
        code,
        out,
        std::fs::read_to_string(&log_path).unwrap_or_default(),
    )
}

/// Runs a command that must end within `limit`: (exit code, stdout, stderr, wall time). A
/// command still running then is killed and the test fails, so a hung binary is a failure,
/// never a hung test; on return the process has exited and been reaped.
pub fn run_within(
    cmd: &mut Command,
    limit: std::time::Duration,
) -> (i32, String, String, std::time::Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_p, err_p) = (dir.path().join("out"), dir.path().join("err"));
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_p).expect("stdout file"))
        .stderr(std::fs::File::create(&err_p).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {limit:?}; output so far:\n{}\n{}",
                std::fs::read_to_string(&out_p).unwrap_or_default(),
                std::fs::read_to_string(&err_p).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    assert!(
        !Path::new(&format!("/proc/{}", child.id())).exists(),
        "the process is gone once reaped"
    );
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&out_p).unwrap_or_default(),
        std::fs::read_to_string(&err_p).unwrap_or_default(),
        elapsed,
    )
}

/// Records that the running test could not make its checks here, and why. The line goes to
/// the terminal at once (past the test harness's output capture, which would hide it in a
/// test that passes) and into the run's skip log, which `tests/zz_skip_report.rs` prints at
/// the end of `cargo test` and `.ci/run` counts: a skip is never a silent pass. The caller
/// returns right after.
pub fn skip(why: &str) {
    use std::io::Write;
    let binary = std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .map(|n| n.rsplit_once('-').map_or(n.clone(), |(b, _)| b.to_string()))
        .unwrap_or_default();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let why = why.replace('\n', " ");
    let line = format!("{binary}::{test}\t{}\n", why.trim());
    // `io::stderr()` written directly is not captured by libtest (only the print macros are).
    let _ = std::io::stderr().write_all(format!("SKIPPED {binary}::{test}: {why}\n").as_bytes());
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = appended {
        panic!("cannot record the skip in {}: {e}", log.display());
    }
}

/// The skip log of this test run: `DROVER_SKIP_LOG` when set (`.ci/run` sets it), else one
/// file per `cargo test` invocation, named after cargo's process id (every test binary of one
/// invocation is a child of the same cargo).
pub fn skip_log() -> PathBuf {
    match std::env::var_os("DROVER_SKIP_LOG") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("skips")
            .join(format!("{}.log", std::os::unix::process::parent_id())),
    }
}
