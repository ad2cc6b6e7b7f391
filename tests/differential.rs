//! ansible-playbook as the oracle: every scenario of `tests/differential/` (a playbook
//! `NAME.yml`, with an inventory `NAME.ini` if it needs more than one local host, and `-e`
//! values in a first-line comment `# args: ...`) runs under ansible-playbook 2.19 and under
//! drover, each in a fresh copy of the scenario's directory, and the runs must agree on:
//! 1. the exit code and every host's recap;
//! 2. the ordered trace: each task banner with, per host, its status and changed flag (items
//!    included), read from both tools' default output;
//! 3. the state left behind: every file the playbook wrote under its directory (`DIR` in the
//!    playbook), with its mode and content;
//! 4. the same again with `--check --diff`: what is predicted, and that nothing changed;
//! 5. the machine-readable view: ansible.posix's `json` callback against drover's
//!    `--output json` (exit code, stats, and per task and host the status, changed flag and
//!    item statuses).
//!
//! Most scenarios use the local connection (`ansible_connection=local`), so what is compared
//! is the playbook language. A scenario whose inventory names test hosts (`HOST0`, `HOST1`,
//! ... in place of the connection variables) runs each tool on its own fresh twin set of test
//! hosts over SSH (the local apt repository of `support/aptrepo.rs` published and indexed in
//! each), and view 3 becomes the state of every path either tool's run touched in the hosts
//! (the overlay's upper layer): type, mode, owner, content, so users, groups, packages
//! (`/etc/passwd`, `/var/lib/dpkg/status`, ...) and files; `tests/differential/ignored_paths.txt`
//! lists what is not compared, with a reason each. A divergence prints both outputs side by
//! side. Deliberate differences
//! are listed in `tests/differential/deliberate.txt` (`NAME: view: reason`) and documented in
//! the README's compatibility section.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::hosts::TestHosts;
use support::{drover, run};

/// Not an argument: asks [`run_text`] for the machine-readable outputs of both tools.
const JSON: &str = "<json>";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

/// One run of a scenario: exit code, output, the trace, the recaps and the files left.
struct Run {
    code: i32,
    out: String,
    trace: Vec<String>,
    recap: BTreeMap<String, String>,
    files: BTreeMap<String, String>,
    /// The test hosts the run used (twin scenarios), kept for the state comparison.
    hosts: Option<TestHosts>,
}

/// The trace of a default-callback output: `TASK`/`RUNNING HANDLER` banners and, for each
/// result line, `status: [host]` (with the item label). Hosts run a task at once, so the
/// results under one banner are compared in host order (each host's items in order).
fn trace(out: &str) -> Vec<String> {
    let mut t: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    let flush = |t: &mut Vec<String>, block: &mut Vec<String>| {
        // Stable by host: a host's own lines keep their order.
        block.sort_by_key(|l| {
            l.split('[')
                .nth(1)
                .and_then(|r| r.split(']').next())
                .unwrap_or("")
                .to_string()
        });
        t.append(block);
    };
    for l in raw_trace(out) {
        if l.starts_with("task ") || l.starts_with("handler ") {
            flush(&mut t, &mut block);
            t.push(l);
        } else {
            block.push(l);
        }
    }
    flush(&mut t, &mut block);
    t
}

fn raw_trace(out: &str) -> Vec<String> {
    let mut t = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line
            .strip_prefix("TASK [")
            .or_else(|| line.strip_prefix("RUNNING HANDLER ["))
        {
            let name = rest
                .split("] ")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(']');
            let kind = if line.starts_with("TASK") {
                "task"
            } else {
                "handler"
            };
            t.push(format!("{kind} {name}"));
            continue;
        }
        for status in ["ok", "changed", "skipping", "failed", "fatal", "included"] {
            if let Some(rest) = line.strip_prefix(&format!("{status}: [")) {
                let host = rest.split(']').next().unwrap_or_default();
                let item = rest
                    .split_once("(item=")
                    .map(|(_, i)| {
                        let end = i.rfind(')').unwrap_or(i.len());
                        format!(" item={}", &i[..end])
                    })
                    .unwrap_or_default();
                let status = if status == "fatal" { "failed" } else { status };
                t.push(format!("  {status} [{host}]{item}"));
            }
        }
        if line.starts_with("...ignoring") {
            // Belongs to the result above it.
            if let Some(last) = t.last_mut() {
                last.push_str(" ...ignoring");
            }
        }
    }
    t
}

/// `host: ok=1 changed=0 ...` of every PLAY RECAP line.
fn recaps(out: &str) -> BTreeMap<String, String> {
    let mut r = BTreeMap::new();
    let mut in_recap = false;
    for line in out.lines() {
        if line.starts_with("PLAY RECAP") {
            in_recap = true;
            continue;
        }
        if in_recap {
            match line.split_once(" : ") {
                Some((h, counts)) => {
                    let counts: Vec<&str> = counts.split_whitespace().collect();
                    r.insert(h.trim().to_string(), counts.join(" "));
                }
                None => in_recap = false,
            }
        }
    }
    r
}

/// The status of one result of Ansible's `json` callback (a host's or an item's).
fn ansible_status(r: &serde_json::Value) -> &'static str {
    let flag = |k: &str| r.get(k).and_then(serde_json::Value::as_bool) == Some(true);
    if flag("unreachable") {
        "unreachable"
    } else if flag("failed") {
        "failed"
    } else if flag("skipped") {
        "skipped"
    } else if flag("changed") {
        "changed"
    } else {
        "ok"
    }
}

/// Trace and stats of ansible.posix's `json` callback output: `task NAME`, then per host (in
/// host order) `STATUS [host]` and its items' statuses. Tasks with no host result are left
/// out, as in [`drover_json`].
fn ansible_json(out: &str) -> Result<(Vec<String>, BTreeMap<String, String>), String> {
    let start = out.find('{').ok_or("no JSON document in the output")?;
    let doc: serde_json::Value = serde_json::from_str(&out[start..])
        .map_err(|e| format!("the json callback's output: {e}"))?;
    let mut trace = Vec::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let Some(hosts) = task["hosts"].as_object().filter(|h| !h.is_empty()) else {
                continue;
            };
            trace.push(format!(
                "task {}",
                task["task"]["name"].as_str().unwrap_or("")
            ));
            let mut names: Vec<&String> = hosts.keys().collect();
            names.sort();
            for h in names {
                let r = &hosts[h];
                let items: Vec<&str> = r["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(ansible_status)
                    .collect();
                trace.push(format!("  {} [{h}] {}", ansible_status(r), items.join(",")));
            }
        }
    }
    let stats = stats_of(&doc["stats"], "failures");
    Ok((trace, stats))
}

/// Each host's stats as a recap line, from a JSON object of per-host counts whose failure
/// count is named `failed` (Ansible's json callback says `failures`).
fn stats_of(hosts: &serde_json::Value, failed: &str) -> BTreeMap<String, String> {
    let mut stats = BTreeMap::new();
    for (h, s) in hosts.as_object().into_iter().flatten() {
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        stats.insert(
            h.clone(),
            format!(
                "ok={} changed={} unreachable={} failed={} skipped={} rescued={} ignored={}",
                n("ok"),
                n("changed"),
                n("unreachable"),
                n(failed),
                n("skipped"),
                n("rescued"),
                n("ignored")
            ),
        );
    }
    stats
}

/// The same views of drover's `--output json` event stream (an `included` event per host and
/// item stands for the include task's result, as Ansible's `ok` with its items).
fn drover_json(out: &str) -> Result<(Vec<String>, BTreeMap<String, String>), String> {
    type Results = BTreeMap<String, (String, Vec<String>)>;
    let mut trace: Vec<String> = Vec::new();
    let mut task: Option<String> = None;
    let mut results = Results::new();
    let mut stats = BTreeMap::new();
    let flush = |trace: &mut Vec<String>, task: &Option<String>, results: &mut Results| {
        if let (Some(t), false) = (task, results.is_empty()) {
            trace.push(format!("task {t}"));
            for (h, (status, items)) in std::mem::take(results) {
                trace.push(format!("  {status} [{h}] {}", items.join(",")));
            }
        }
        results.clear();
    };
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let e: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("drover's event {line}: {e}"))?;
        match e["event"].as_str() {
            Some("task_start") => {
                flush(&mut trace, &task, &mut results);
                task = e["name"].as_str().map(str::to_string);
            }
            Some("host_result") => {
                let items = e["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| i["status"].as_str().unwrap_or("?").to_string())
                    .collect();
                let status = e["status"].as_str().unwrap_or("?").to_string();
                results.insert(
                    e["host"].as_str().unwrap_or("").to_string(),
                    (status, items),
                );
            }
            Some("included") => {
                for h in e["hosts"].as_array().into_iter().flatten() {
                    let r = results
                        .entry(h.as_str().unwrap_or("").to_string())
                        .or_insert_with(|| ("ok".into(), Vec::new()));
                    if !e["item"].is_null() {
                        r.1.push("ok".into());
                    }
                }
            }
            Some("recap") => stats = stats_of(&e["hosts"], "failed"),
            _ => {}
        }
    }
    flush(&mut trace, &task, &mut results);
    Ok((trace, stats))
}

/// Every file under `dir` (but the scenario's own), with its mode and content; with several
/// hosts, whose lines reach a shared file in any order, the lines sorted.
fn files(dir: &Path, own: &[String], hosts: usize) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            if own.contains(&rel) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(format!("{rel}/"), format!("{mode:o}"));
                todo.push(p);
            } else if meta.file_type().is_symlink() {
                let to = std::fs::read_link(&p).unwrap_or_default();
                out.insert(rel, format!("-> {}", to.display()));
            } else {
                let content = std::fs::read(&p).unwrap_or_default();
                let mut text = String::from_utf8_lossy(&content).into_owned();
                if hosts > 1 {
                    let mut lines: Vec<&str> = text.lines().collect();
                    lines.sort_unstable();
                    text = lines.join("\n");
                }
                out.insert(rel, format!("{mode:o} {text}"));
            }
        }
    }
    out
}

/// Runs a scenario of the corpus in a fresh directory with ansible-playbook (`true`) or drover.
fn run_scenario(name: &str, ansible: bool, extra: &[&str]) -> Result<Run, String> {
    let src = corpus();
    let pb = std::fs::read_to_string(src.join(format!("{name}.yml"))).map_err(|e| e.to_string())?;
    let inv = std::fs::read_to_string(src.join(format!("{name}.ini")))
        .unwrap_or_else(|_| "localhost ansible_connection=local\n".into());
    run_text(name, &pb, &inv, ansible, extra)
}

/// Runs a playbook's text with an inventory's text in a fresh directory.
fn run_text(name: &str, pb: &str, inv: &str, ansible: bool, extra: &[&str]) -> Result<Run, String> {
    let src = corpus();
    let dir = tempfile::Builder::new()
        .prefix(&format!("drover-diff-{name}-"))
        .tempdir()
        .map_err(|e| e.to_string())?;
    let d = dir.path();
    // The shared roles, copied with `DIR` (the run's directory) and `ROLES` filled in.
    let roles = d.join("roles");
    let fill = |text: &str| {
        text.replace("ROLES", &roles.display().to_string())
            .replace("DIR", &d.display().to_string())
    };
    copy_tree(&src.join("roles"), &roles, &fill).map_err(|e| e.to_string())?;
    let pb_text = fill(pb);
    let twins = test_hosts_named(inv);
    let test_hosts = if twins > 0 {
        let set = TestHosts::up(twins).ok_or("test hosts are not available here")?;
        for i in 0..twins {
            support::aptrepo::install_into(&set, i, &["1.0", "2.0"]);
            support::aptrepo::update(&set, i);
        }
        Some(set)
    } else {
        None
    };
    let inv = &match &test_hosts {
        Some(set) => connect_test_hosts(inv, set),
        None => inv.to_string(),
    };
    std::fs::write(d.join("pb.yml"), &pb_text).map_err(|e| e.to_string())?;
    let hosts = inv.lines().filter(|l| !l.trim().is_empty()).count();
    std::fs::write(d.join("inv.ini"), inv).map_err(|e| e.to_string())?;
    let args: Vec<String> = pb_text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# args:"))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let json = extra.contains(&JSON);
    let extra: Vec<&str> = extra.iter().copied().filter(|a| *a != JSON).collect();
    let mut cmd = if ansible {
        let mut c = support::ansible::command("ansible-playbook")?;
        c.env(
            "ANSIBLE_PYTHON_INTERPRETER",
            support::ansible::venv()?.join("bin/python"),
        )
        // Each set of test hosts is new: no host key is known, none is kept.
        .env(
            "ANSIBLE_SSH_ARGS",
            "-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null",
        );
        // ansible.posix: `authorized_key`, and the `json` callback.
        let collections = support::ansible::collections()?;
        c.env(
            "ANSIBLE_COLLECTIONS_PATH",
            collections.parent().unwrap_or(d),
        );
        if json {
            c.env("ANSIBLE_STDOUT_CALLBACK", "ansible.posix.json");
        }
        c
    } else {
        let mut c = drover();
        c.arg("play");
        if json {
            c.args(["--output", "json"]);
        }
        c
    };
    cmd.current_dir(d)
        .args(["-i", "inv.ini", "pb.yml"])
        .args(&args)
        .args(extra)
        .env("ANSIBLE_ROLES_PATH", &roles)
        .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
        .env("ANSIBLE_HOST_KEY_CHECKING", "false")
        .env_remove("ANSIBLE_CONFIG");
    let (code, out, err) = run(&mut cmd);
    let own = vec![
        "pb.yml".to_string(),
        "inv.ini".to_string(),
        "roles".to_string(),
    ];
    let (trace, recap) = match (json, ansible) {
        (false, _) => (trace(&out), recaps(&out)),
        (true, true) => ansible_json(&out).map_err(|e| format!("{e}\n{out}{err}"))?,
        (true, false) => drover_json(&out).map_err(|e| format!("{e}\n{out}{err}"))?,
    };
    Ok(Run {
        code,
        trace,
        recap,
        files: files(d, &own, hosts),
        out: format!("{out}{err}"),
        hosts: test_hosts,
    })
}

/// How many test hosts an inventory names (`HOST0`, `HOST1`, ...).
fn test_hosts_named(inv: &str) -> usize {
    (0..)
        .take_while(|i| inv.contains(&format!("HOST{i}")))
        .count()
}

/// The inventory with each `HOSTn` replaced by the connection variables of test host `n`.
fn connect_test_hosts(inv: &str, set: &TestHosts) -> String {
    let mut inv = inv.to_string();
    // Highest first: `HOST1` is a prefix of `HOST10`.
    for (i, h) in set.hosts.iter().enumerate().rev() {
        inv = inv.replace(
            &format!("HOST{i}"),
            &format!(
                "ansible_host={} ansible_port={} ansible_ssh_private_key_file={} \
                 ansible_python_interpreter=/usr/bin/python3",
                h.addr,
                h.port,
                set.key.display()
            ),
        );
    }
    inv
}

/// What is not compared of a test host's state: `(pattern, reason)` from
/// `ignored_paths.txt`.
fn ignored_paths() -> Vec<(String, String)> {
    std::fs::read_to_string(corpus().join("ignored_paths.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(p, r)| (p.trim().to_string(), r.trim().to_string()))
        .collect()
}

/// Whether a host path (relative to `/`) matches an ignored pattern: a path prefix, or
/// `*/NAME/` for a directory of that name anywhere.
fn ignored(rel: &str, patterns: &[(String, String)]) -> bool {
    patterns.iter().any(|(p, _)| match p.strip_prefix("*/") {
        Some(name) => format!("/{rel}/").contains(&format!("/{name}")),
        None => rel.starts_with(p.as_str()),
    })
}

/// The paths a run wrote in host `i` (its overlay's upper layer), relative to `/`.
fn touched(set: &TestHosts, i: usize) -> Vec<String> {
    let root = &set.hosts[i].root;
    let upper = root.parent().expect("a host's directory").join("upper");
    let mut out = Vec::new();
    let mut todo = vec![upper.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(&upper).unwrap_or(&p).display().to_string());
        }
    }
    out
}

/// A path's state in host `i`: absent, or its type, mode and owner, and a text file's content
/// (other files by size and hash).
fn describe(set: &TestHosts, i: usize, rel: &str) -> (String, Option<String>) {
    use std::os::unix::fs::MetadataExt;
    let p = set.hosts[i].root.join(rel);
    let Ok(m) = std::fs::symlink_metadata(&p) else {
        return ("absent".into(), None);
    };
    let owner = format!("{:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid());
    if m.is_dir() {
        (format!("dir {owner}"), None)
    } else if m.file_type().is_symlink() {
        let to = std::fs::read_link(&p).unwrap_or_default();
        (format!("link -> {}", to.display()), None)
    } else if m.is_file() {
        let bytes = std::fs::read(&p).unwrap_or_default();
        match String::from_utf8(bytes) {
            Ok(text) => (format!("file {owner}"), Some(text)),
            Err(e) => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                e.as_bytes().hash(&mut h);
                let n = e.as_bytes().len();
                (
                    format!("file {owner} {n} bytes, hash {:016x}", h.finish()),
                    None,
                )
            }
        }
    } else {
        (format!("special {owner} rdev {}", m.rdev()), None)
    }
}

/// The state of every path either run wrote in its twin host, where the two differ:
/// `HOSTi:/path` with both states (for text files, the lines only one side has).
fn host_state_diffs(a: &TestHosts, d: &TestHosts) -> Vec<String> {
    let patterns = ignored_paths();
    let mut out = Vec::new();
    for i in 0..a.hosts.len().min(d.hosts.len()) {
        let mut paths = touched(a, i);
        paths.extend(touched(d, i));
        paths.sort();
        paths.dedup();
        for rel in paths.iter().filter(|p| !ignored(p, &patterns)) {
            let (sa, sd) = (describe(a, i, rel), describe(d, i, rel));
            if sa == sd {
                continue;
            }
            let mut text = format!(
                "  HOST{i}:/{rel}\n    ansible {}\n    drover  {}",
                sa.0, sd.0
            );
            match (&sa.1, &sd.1) {
                (Some(ta), Some(td)) => {
                    for l in ta.lines().filter(|l| !td.lines().any(|m| m == *l)) {
                        text.push_str(&format!("\n    - {l:?}"));
                    }
                    for l in td.lines().filter(|l| !ta.lines().any(|m| m == *l)) {
                        text.push_str(&format!("\n    + {l:?}"));
                    }
                    if ta.lines().eq(td.lines()) || ta.lines().count() == td.lines().count() {
                        text.push_str(&format!("\n    (content: ansible {ta:?}, drover {td:?})"));
                    }
                }
                (Some(t), None) | (None, Some(t)) if t.len() < 300 => {
                    text.push_str(&format!("\n    content {t:?}"));
                }
                _ => {}
            }
            out.push(text);
        }
    }
    out
}

/// Copies a directory tree, passing each file's text through `fill`.
fn copy_tree(from: &Path, to: &Path, fill: &dyn Fn(&str) -> String) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target, fill)?;
        } else {
            std::fs::write(&target, fill(&std::fs::read_to_string(e.path())?))?;
        }
    }
    Ok(())
}

fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .expect("tests/differential")
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".yml").map(str::to_string)
        })
        .collect();
    if let Ok(only) = std::env::var("DROVER_DIFF") {
        let only: Vec<&str> = only.split(',').collect();
        names.retain(|n| only.contains(&n.as_str()));
    }
    names.sort();
    names
}

/// The views of two runs that differ, each with both sides.
fn compare(a: &Run, d: &Run) -> Vec<String> {
    let mut diffs = Vec::new();
    if a.code != d.code {
        diffs.push(format!("exit code: ansible {} drover {}", a.code, d.code));
    }
    if a.recap != d.recap {
        diffs.push(format!(
            "recap:\n  ansible {:?}\n  drover  {:?}",
            a.recap, d.recap
        ));
    }
    if a.trace != d.trace {
        let width = a.trace.iter().map(|l| l.len()).max().unwrap_or(0).min(60);
        let mut side = String::from("trace (ansible | drover):\n");
        for i in 0..a.trace.len().max(d.trace.len()) {
            let l = a.trace.get(i).map(String::as_str).unwrap_or("");
            let r = d.trace.get(i).map(String::as_str).unwrap_or("");
            let mark = if l == r { " " } else { "≠" };
            side.push_str(&format!("{mark} {l:width$} | {r}\n"));
        }
        diffs.push(side);
    }
    if a.files != d.files {
        diffs.push(format!(
            "files:\n  ansible {:?}\n  drover  {:?}",
            a.files, d.files
        ));
    }
    if let (Some(ha), Some(hd)) = (&a.hosts, &d.hosts) {
        let state = host_state_diffs(ha, hd);
        if !state.is_empty() {
            diffs.push(format!("files: test host state\n{}", state.join("\n")));
        }
    }
    diffs
}

#[test]
fn scenarios_agree_with_ansible_playbook() {
    if let Err(why) = support::ansible::venv() {
        support::skip(&format!("ansible-core is not available: {why}"));
        return;
    }
    let deliberate = std::fs::read_to_string(corpus().join("deliberate.txt")).unwrap_or_default();
    let mut failures = Vec::new();
    let names = scenarios();
    assert!(!names.is_empty(), "no scenario in tests/differential");
    for name in &names {
        let inv = std::fs::read_to_string(corpus().join(format!("{name}.ini"))).unwrap_or_default();
        if test_hosts_named(&inv) > 0 {
            if let Some(why) = support::hosts::unavailable() {
                support::skip(&format!("{name}: {why}"));
                continue;
            }
        }
        for (mode, extra) in [
            ("run", &[][..]),
            ("check", &["--check", "--diff"][..]),
            ("json", &[JSON][..]),
        ] {
            let a = run_scenario(name, true, extra).unwrap_or_else(|e| panic!("{name}: {e}"));
            let d = run_scenario(name, false, extra).unwrap_or_else(|e| panic!("{name}: {e}"));
            let all = compare(&a, &d);
            let views: Vec<&str> = all
                .iter()
                .map(|v| {
                    let head = v.split(':').next().unwrap_or_default();
                    head.split(" (").next().unwrap_or(head)
                })
                .collect();
            let expected: Vec<&str> = deliberate
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{name}: {mode} ")))
                .filter_map(|l| l.split(':').next())
                .collect();
            let mut diffs: Vec<String> = all
                .iter()
                .zip(&views)
                .filter(|(_, view)| !expected.contains(view))
                .map(|(v, _)| v.clone())
                .collect();
            // A deliberate difference is asserted too: gone, its entry is stale.
            for view in expected.iter().filter(|e| !views.contains(e)) {
                diffs.push(format!(
                    "{view}: listed in deliberate.txt as a deliberate difference, but the \
                     tools agree: remove the entry (and its README note)"
                ));
            }
            eprintln!(
                "differential: {name} ({mode}): {}",
                if diffs.is_empty() {
                    "agrees"
                } else {
                    "DIFFERS"
                }
            );
            if !diffs.is_empty() {
                failures.push(format!(
                    "== {name} ({mode})\n{}\n-- ansible output:\n{}\n-- drover output:\n{}",
                    diffs.join("\n"),
                    a.out,
                    d.out
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs differ from ansible-playbook:\n{}",
        failures.len(),
        names.len() * 3,
        failures.join("\n")
    );
}

/// `DROVER_DIFF_SEEDS`: seeds as `A-B` ranges and numbers, comma-separated (CI's fixed set
/// by default).
fn seeds() -> Vec<u64> {
    let spec = std::env::var("DROVER_DIFF_SEEDS").unwrap_or_else(|_| "1-12".into());
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().unwrap_or(1), b.parse().unwrap_or(0));
                out.extend(a..=b);
            }
            None => out.extend(part.parse::<u64>().ok()),
        }
    }
    out
}

/// The differences of a generated playbook's runs (plain run), if any.
fn generated_diffs(g: &support::playgen::Generated, seed: u64) -> Vec<String> {
    let name = format!("gen{seed}");
    let (pb, inv) = (g.playbook(), g.inventory());
    let a = run_text(&name, &pb, &inv, true, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
    let d = run_text(&name, &pb, &inv, false, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
    compare(&a, &d)
}

#[test]
fn generated_playbooks_agree_with_ansible_playbook() {
    if let Err(why) = support::ansible::venv() {
        support::skip(&format!("ansible-core is not available: {why}"));
        return;
    }
    let seeds = seeds();
    let mut failures = Vec::new();
    for seed in &seeds {
        let g = support::playgen::generate(*seed);
        let diffs = generated_diffs(&g, *seed);
        if diffs.is_empty() {
            continue;
        }
        // Shrink to a smallest playbook that still diverges (within a budget of runs).
        let mut smallest = g;
        let mut budget = 40;
        'shrink: while budget > 0 {
            for candidate in smallest.smaller() {
                if budget == 0 {
                    break 'shrink;
                }
                budget -= 1;
                if !generated_diffs(&candidate, *seed).is_empty() {
                    smallest = candidate;
                    continue 'shrink;
                }
            }
            break;
        }
        let diffs = generated_diffs(&smallest, *seed);
        failures.push(format!(
            "== seed {seed}, shrunk to:\n{}\ninventory:\n{}\n{}",
            smallest.playbook(),
            smallest.inventory(),
            diffs.join("\n")
        ));
    }
    eprintln!(
        "differential: {} generated playbooks, {} agree with ansible-playbook",
        seeds.len(),
        seeds.len() - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} generated playbooks differ:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}
