//! Conformance: Ansible's own integration tests, run verbatim with drover.
//!
//! The targets come from the pinned ansible-core source distribution on PyPI
//! (`test/integration/targets/`) and, for collection modules, from the `ansible` package's
//! bundled collections, downloaded at test time (nothing of Ansible's is in this repository).
//! Each target in scope (`tests/conformance/targets.txt`) runs the way `ansible-test
//! integration` runs it: a role target as the only role of a generated play on `testhost` (a
//! fresh test host over SSH), with `output_dir` set and every target on the roles path; a
//! `runme.sh` target as a script, with `ansible-playbook`, `ansible`, `ansible-inventory` and
//! `ansible-vault` on `PATH` as thin wrappers over drover's own subcommands. A target passes
//! when it exits 0 (and, for a role, every recap has `failed=0 unreachable=0`).
//!
//! The table of results is written to `docs/conformance.md`. Targets expected to fail are
//! listed with a reason in `tests/conformance/known_failures.txt`; this test fails when any
//! other target fails (a regression), and says which listed failures now pass.
//! `DROVER_CONFORMANCE=name,name` runs only those targets (and writes no table);
//! `DROVER_CONFORMANCE_LOGS=DIR` puts each target's output in DIR/NAME.log.

mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::ansible::{self, ANSIBLE_CORE, ANSIBLE_PKG};
use support::hosts::TestHosts;

const CORE_SHA256: &str = "1e7612788eaa6b3c87a3670ce86c64b830eba0ae2b3fcb25a772f276704163b4";
/// A target still running after this long fails as timed out.
const TARGET_LIMIT: Duration = Duration::from_secs(300);
/// Targets run at once (each on its own test host).
const PARALLEL: usize = 2;

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Where a target's files come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Core,
    Posix,
    General,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Core => "ansible-core",
            Source::Posix => "ansible.posix",
            Source::General => "community.general",
        }
    }
}

/// One target in scope, as listed in `targets.txt`.
#[derive(Clone, Debug)]
struct Target {
    name: String,
    source: Source,
    /// Runs on a systemd-booted test host (`NAME systemd` in targets.txt), as Ansible's CI
    /// runs it; else on a sysvinit one.
    systemd: bool,
    /// Runs on a host in a network namespace of its own (`NAME netns`): the target changes
    /// the firewall.
    netns: bool,
}

fn read_scope() -> Vec<Target> {
    let text = std::fs::read_to_string(here().join("targets.txt")).expect("targets.txt");
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap_or_default();
            let flags: Vec<&str> = words.collect();
            let systemd = flags.contains(&"systemd");
            let netns = flags.contains(&"netns");
            if let Some(n) = name.strip_prefix("community.general:") {
                return Target {
                    name: n.into(),
                    source: Source::General,
                    systemd,
                    netns,
                };
            }
            match name.strip_prefix("ansible.posix:") {
                Some(n) => Target {
                    name: n.into(),
                    source: Source::Posix,
                    systemd,
                    netns,
                },
                None => Target {
                    name: name.into(),
                    source: Source::Core,
                    systemd,
                    netns,
                },
            }
        })
        .collect()
}

/// `target: reason` lines.
fn read_known_failures() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(here().join("known_failures.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The unpacked integration trees: ansible-core's `test/integration`, and ansible.posix's and
/// community.general's `tests/integration`.
struct Sources {
    core: PathBuf,
    /// ansible-test's helpers for `runme.sh` targets (`virtualenv.sh`), on their `PATH` as
    /// ansible-test puts them.
    injector: PathBuf,
    posix: PathBuf,
    general: PathBuf,
}

impl Sources {
    fn get() -> Result<Sources, String> {
        let core = ansible::sdist(
            "ansible-core",
            ANSIBLE_CORE,
            CORE_SHA256,
            &[
                "test/integration/*",
                "test/lib/ansible_test/_util/target/injector/*",
                "test/lib/ansible_test/_data/requirements/*",
            ],
        )?;
        let pkg = ansible::collections()?;
        Ok(Sources {
            injector: core.join("test/lib/ansible_test/_util/target/injector"),
            core: core.join("test/integration"),
            posix: pkg.join("ansible/posix/tests/integration"),
            general: pkg.join("community/general/tests/integration"),
        })
    }

    fn integration(&self, s: Source) -> &Path {
        match s {
            Source::Core => &self.core,
            Source::Posix => &self.posix,
            Source::General => &self.general,
        }
    }
}

/// How one target ended.
#[derive(Clone, Debug)]
struct Outcome {
    passed: bool,
    /// The first error seen (empty for a pass).
    why: String,
    seconds: f64,
}

fn aliases(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("aliases"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The wrappers that stand in for Ansible's commands: each runs the drover subcommand.
fn write_wrappers(bin: &Path) {
    std::fs::create_dir_all(bin).expect("mkdir bin");
    let drover = env!("CARGO_BIN_EXE_drover");
    for (name, sub) in [
        ("ansible-playbook", "play"),
        ("ansible", "run"),
        ("ansible-inventory", "inventory"),
        ("ansible-vault", "vault"),
    ] {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\nexec '{drover}' {sub} \"$@\"\n"))
            .expect("write wrapper");
        let _ = Command::new("chmod").arg("0755").arg(&p).status();
    }
}

/// Copies `src` to `dst` (`cp -a`).
fn copy_tree(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .expect("cp");
    assert!(st.success(), "cp -a {} {}", src.display(), dst.display());
}

/// Lays out a private integration tree for one target: the target itself copied (it may
/// write into its own directory), every other target a symlink (they are only read, as
/// roles), an empty `ansible.cfg`, and the inventory `ansible-test` writes for an SSH host.
fn prepare(
    work: &Path,
    src: &Path,
    target: &str,
    host: &support::hosts::TestHost,
    key: &Path,
) -> PathBuf {
    let integration = work.join("test/integration");
    let targets = integration.join("targets");
    std::fs::create_dir_all(&targets).expect("mkdir targets");
    for e in std::fs::read_dir(src.join("targets")).expect("read targets") {
        let e = e.expect("entry");
        let name = e.file_name();
        if name.to_string_lossy() == target {
            copy_tree(&e.path(), &targets.join(&name));
        } else {
            std::os::unix::fs::symlink(e.path(), targets.join(&name)).expect("symlink");
        }
    }
    std::fs::write(integration.join("ansible.cfg"), "").expect("ansible.cfg");
    std::fs::write(
        integration.join("inventory"),
        format!(
            "[testgroup]\ntesthost ansible_connection=ssh ansible_pipelining=yes \
             ansible_python_interpreter=/usr/bin/python3 ansible_host={} ansible_port={} \
             ansible_user=root ansible_ssh_private_key_file={}\n",
            host.addr,
            host.port,
            key.display()
        ),
    )
    .expect("inventory");
    integration
}

/// The line that says what went wrong: the last failed task (not one whose failure was
/// ignored; an earlier one may have been rescued) or error, else the last lines of output.
fn what_failed(out: &str, code: i32) -> String {
    let lines: Vec<&str> = out.lines().collect();
    for (i, l) in lines.iter().enumerate().rev() {
        let t = l.trim_start();
        // Ignored when `...ignoring` follows within the task's output (an `[ERROR]` block
        // comes before the `fatal:` line it explains).
        let ignored = lines[i + 1..]
            .iter()
            .take_while(|n| {
                !(n.starts_with("TASK [")
                    || n.starts_with("PLAY ")
                    || n.starts_with("RUNNING HANDLER"))
            })
            .any(|n| n.trim_start().starts_with("...ignoring"));
        let is_error = t.starts_with("fatal: ")
            || t.starts_with("ERROR")
            || t.starts_with("error:")
            || t.starts_with("failed: ")
            || (t.contains(" | FAILED") && !t.contains("FAILED =>"))
            || t.starts_with("[ERROR]");
        if is_error && !ignored {
            // The task's `[ERROR]:` line says it in one line where the result is multi-line.
            let t = lines[..i]
                .iter()
                .rev()
                .take_while(|n| !n.starts_with("TASK ["))
                .find(|n| n.starts_with("[ERROR]:"))
                .filter(|_| t.ends_with('{'))
                .map_or(t, |n| n.trim_start());
            let mut s: String = t.chars().take(300).collect();
            if t.chars().count() > 300 {
                s.push('…');
            }
            return s;
        }
    }
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .copied()
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let mut s: String = tail.join(" / ").chars().take(300).collect();
    if s.is_empty() {
        s = "no output".into();
    }
    format!("exit {code}: {s}")
}

/// Whether every PLAY RECAP line in `out` has failed=0 and unreachable=0.
fn recaps_clean(out: &str) -> bool {
    out.lines()
        .filter(|l| l.contains(" : ") && l.contains("unreachable="))
        .all(|l| l.contains("unreachable=0") && l.contains("failed=0"))
}

/// Runs one target on a fresh test host; `None` when test hosts cannot run here.
fn run_target(srcs: &Sources, t: &Target, log_dir: &Path) -> Option<Outcome> {
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix(&format!("drover-conf-{}-", t.name))
        .tempdir()
        .expect("work dir");
    let src = srcs.integration(t.source);
    // The target's files and `output_dir` are at the same paths on the test host.
    let hosts = if t.systemd {
        TestHosts::up_systemd(1, &[work.path(), src])?
    } else {
        let hosts = if t.netns {
            TestHosts::up_isolated()?
        } else {
            TestHosts::up(1)?
        };
        hosts.share_dir(0, work.path());
        hosts.share_dir(0, src);
        hosts
    };
    let integration = prepare(work.path(), src, &t.name, &hosts.hosts[0], &hosts.key);
    let target_dir = integration.join("targets").join(&t.name);
    let bin = work.path().join("bin");
    write_wrappers(&bin);
    // ansible-test's controller and target are one machine: the target's files (its copy and
    // the other targets it links to) and `output_dir` are at the same paths on the test host.
    let shared = work.path().join("shared");
    let output_dir = shared.join("output_dir");
    std::fs::create_dir_all(&output_dir).expect("output_dir");
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).expect("home");

    let mut cmd;
    let is_script = target_dir.join("runme.sh").exists();
    if is_script {
        cmd = Command::new("bash");
        cmd.arg("./runme.sh").current_dir(&target_dir);
        if let Ok(site) = ansible::site_packages() {
            cmd.env("PYTHONPATH", site);
        }
    } else {
        let gather = !aliases(&target_dir).iter().any(|a| a == "gather_facts/no");
        let play = format!(
            "[{{\"gather_facts\": {gather}, \"hosts\": \"testhost\", \"roles\": [\"{}\"], \
             \"vars\": {{\"output_dir\": \"{}\"}}, \"vars_files\": []}}]\n",
            t.name,
            output_dir.display()
        );
        let pb = integration.join(format!("{}-conformance.yml", t.name));
        std::fs::write(&pb, play).expect("playbook");
        cmd = Command::new(bin.join("ansible-playbook"));
        cmd.arg(pb.file_name().expect("name"))
            .args(["-i", "inventory"])
            .current_dir(&integration)
            .env("ANSIBLE_ROLES_PATH", integration.join("targets"));
    }
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        srcs.injector.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cwd = cmd.get_current_dir().expect("cwd").to_path_buf();
    cmd.env("PATH", path)
        .env("HOME", &home)
        .env("ANSIBLE_CONFIG", integration.join("ansible.cfg"))
        .env("ANSIBLE_FORCE_COLOR", "false")
        .env("ANSIBLE_FORCE_HANDLERS", "true")
        .env("ANSIBLE_HOST_PATTERN_MISMATCH", "error")
        .env("ANSIBLE_INVENTORY", "/dev/null")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
        .env("ANSIBLE_HOST_KEY_CHECKING", "false")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
        .env("ANSIBLE_LIBRARY", "/dev/null")
        .env("ANSIBLE_DEVEL_WARNING", "false")
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .env("ANSIBLE_PLAYBOOK_DIR", &cwd)
        .env("ANSIBLE_TEST_ANSIBLE_VERSION", ANSIBLE_CORE)
        .env("ANSIBLE_TEST_COVERAGE", "")
        .env("ANSIBLE_TEST_CI", "")
        .env("ANSIBLE_TEST_PYTHON_INTERPRETER", "python3")
        .env("ANSIBLE_TEST_PYTHON_VERSION", "3")
        .env("PAGER", "/bin/cat")
        .env("OUTPUT_DIR", &output_dir)
        .env("INVENTORY_PATH", integration.join("inventory"))
        .env("NO_COLOR", "1")
        .env_remove("DROVER_HOST_KEY_CHECKING")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("SSH_AUTH_SOCK");
    let log = log_dir.join(format!("{}.log", t.name));
    let out_file = std::fs::File::create(&log).expect("log");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().expect("dup"))
        .stderr(out_file)
        // Its own process group, so a timeout ends everything the script started.
        .process_group(0)
        .spawn()
        .expect("start the target");
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if started.elapsed() > TARGET_LIMIT {
            // SAFETY: signalling the process group we created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let seconds = started.elapsed().as_secs_f64();
    Some(match status {
        None => Outcome {
            passed: false,
            why: format!("timed out after {}s", TARGET_LIMIT.as_secs()),
            seconds,
        },
        Some(st) => {
            let code = st.code().unwrap_or(-1);
            let passed = code == 0 && (is_script || recaps_clean(&out));
            Outcome {
                passed,
                why: if passed {
                    String::new()
                } else {
                    what_failed(&out, code)
                },
                seconds,
            }
        }
    })
}

/// A progress line on the terminal, past the test harness's capture.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A failure's text without what changes from run to run (the work directory's random name,
/// times), so the table only changes when an outcome does.
fn stable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("/tmp/drover-conf-") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        // `/tmp/drover-conf-NAME-XXXXXX`: up to the next `/` or the end of the path.
        let end = tail[5..]
            .find(|c: char| c == '/' || c.is_whitespace() || "\"'`:),".contains(c))
            .map_or(tail.len(), |j| j + 5);
        out.push_str("$WORK");
        rest = &tail[end..];
    }
    out.push_str(rest);
    for key in ["\"delta\": \"", "\"end\": \"", "\"start\": \""] {
        while let Some(i) = out.find(key) {
            let from = i + key.len();
            let Some(len) = out[from..].find('"') else {
                break;
            };
            out.replace_range(i..from + len + 1, "");
            // Drop the separator the removed pair leaves.
            if out[i..].starts_with(", ") {
                out.replace_range(i..i + 2, "");
            }
        }
    }
    out
}

/// Writes `docs/conformance.md`: the totals and one row per target, with the reason a failure
/// is known for (`known_failures.txt`; one whose reason starts with `n/a` is not applicable:
/// it needs what a drover host does not have, such as Python plugins of the target's own).
fn write_table(
    scope: &[Target],
    results: &BTreeMap<String, Outcome>,
    known: &BTreeMap<String, String>,
) {
    let passed = results.values().filter(|o| o.passed).count();
    let na = |name: &str| known.get(name).is_some_and(|r| r.starts_with("n/a"));
    let not_applicable = results.iter().filter(|(n, o)| !o.passed && na(n)).count();
    let applicable = scope.len() - not_applicable;
    let pct = |n: usize, of: usize| (n * 100).checked_div(of).unwrap_or(0);
    let mut md = format!(
        "# Conformance with Ansible's own integration tests\n\n\
         Written by `tests/conformance.rs` (`cargo test --test conformance`); do not edit.\n\n\
         Ansible's integration targets, run verbatim with drover the way `ansible-test \
         integration` runs them (see the test's header): ansible-core {ANSIBLE_CORE} \
         (`test/integration/targets/`) and the ansible.posix and community.general \
         collections from the `ansible` {ANSIBLE_PKG} package. A target passes when it exits 0 with no failed or unreachable \
         host in its recaps. The reason of each failure is from \
         `tests/conformance/known_failures.txt`; a target is *not applicable* when it needs \
         what drover does not run (Python modules or plugins shipped with the target, Python \
         on the target, hosts or connection plugins of its own).\n\n\
         **{passed} of {} targets in scope pass ({}%); {passed} of the {applicable} applicable \
         ones ({}%); {not_applicable} not applicable.**\n\n\
         | target | source | result | why it fails | first error of the run |\n\
         | --- | --- | --- | --- | --- |\n",
        scope.len(),
        pct(passed, scope.len()),
        pct(passed, applicable),
    );
    for t in scope {
        let Some(o) = results.get(&t.name) else {
            continue;
        };
        let result = match (o.passed, na(&t.name)) {
            (true, _) => "pass",
            (false, true) => "not applicable",
            (false, false) => "fail",
        };
        let why = if o.passed {
            String::new()
        } else {
            known.get(&t.name).cloned().unwrap_or_default()
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            t.name,
            t.source.label(),
            result,
            md_escape(&why),
            md_escape(&stable(if o.passed { "" } else { &o.why }))
        ));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conformance.md");
    std::fs::write(&p, md).expect("write docs/conformance.md");
}

#[test]
fn ansible_integration_targets() {
    if let Some(why) = support::hosts::unavailable() {
        support::skip(&why);
        return;
    }
    let srcs = match Sources::get() {
        Ok(s) => s,
        Err(why) => {
            support::skip(&format!("Ansible's integration tests cannot be had: {why}"));
            return;
        }
    };
    let scope = read_scope();
    let only: Option<Vec<String>> = std::env::var("DROVER_CONFORMANCE")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let run: Vec<&Target> = scope
        .iter()
        .filter(|t| only.as_ref().is_none_or(|o| o.contains(&t.name)))
        .collect();
    let log_dir = std::env::var_os("DROVER_CONFORMANCE_LOGS").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-logs"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let results: Mutex<BTreeMap<String, Outcome>> = Mutex::new(BTreeMap::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..PARALLEL {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(t) = run.get(i) else { break };
                if let Some(o) = run_target(&srcs, t, &log_dir) {
                    say(&format!(
                        "conformance: {} {} ({:.0}s) {}",
                        t.name,
                        if o.passed { "pass" } else { "FAIL" },
                        o.seconds,
                        o.why
                    ));
                    results.lock().expect("results").insert(t.name.clone(), o);
                }
            });
        }
    });
    let results = results.into_inner().expect("results");
    let known = read_known_failures();
    if only.is_none() {
        write_table(&scope, &results, &known);
    }
    let mut regressions = Vec::new();
    let mut now_pass = Vec::new();
    for t in &run {
        let Some(o) = results.get(&t.name) else {
            continue;
        };
        match (o.passed, known.contains_key(&t.name)) {
            (false, false) => regressions.push(format!(
                "{}: {} (log: {})",
                t.name,
                o.why,
                log_dir.join(format!("{}.log", t.name)).display()
            )),
            (true, true) => now_pass.push(t.name.clone()),
            _ => {}
        }
    }
    let passed = results.values().filter(|o| o.passed).count();
    say(&format!(
        "conformance: {passed} of {} targets pass; logs in {}",
        results.len(),
        log_dir.display()
    ));
    if !now_pass.is_empty() {
        say(&format!(
            "conformance: listed as failing but now pass (remove them from known_failures.txt): {}",
            now_pass.join(", ")
        ));
    }
    assert!(
        regressions.is_empty(),
        "targets that fail and are not listed in tests/conformance/known_failures.txt:\n{}",
        regressions.join("\n")
    );
}
