//! ansible-playbook as the oracle: every scenario of `tests/differential/` (a playbook
//! `NAME.yml`, with an inventory `NAME.ini` if it needs more than one local host, and `-e`
//! values in a first-line comment `# args: ...`) runs under ansible-playbook 2.19 and under
//! drover, each in a fresh copy of the scenario's directory, and the runs must agree on:
//! 1. the exit code and every host's recap;
//! 2. the ordered trace: each task banner with, per host, its status and changed flag (items
//!    included), read from both tools' default output;
//! 3. the state left behind: every file the playbook wrote under its directory (`DIR` in the
//!    playbook), with its mode and content;
//! 4. the same again with `--check --diff`: what is predicted, and that nothing changed.
//!
//! Hosts use the local connection (`ansible_connection=local`), so what is compared is the
//! playbook language; a divergence prints both outputs side by side. Deliberate differences
//! are listed in `tests/differential/deliberate.txt` (`NAME: view: reason`) and documented in
//! the README's compatibility section.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{drover, run};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

/// One run of a scenario: exit code, output, the trace, the recaps and the files left.
#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    trace: Vec<String>,
    recap: BTreeMap<String, String>,
    files: BTreeMap<String, String>,
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
    std::fs::write(d.join("pb.yml"), &pb_text).map_err(|e| e.to_string())?;
    let hosts = inv.lines().filter(|l| !l.trim().is_empty()).count();
    std::fs::write(d.join("inv.ini"), inv).map_err(|e| e.to_string())?;
    let args: Vec<String> = pb_text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# args:"))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut cmd = if ansible {
        let mut c = support::ansible::command("ansible-playbook")?;
        c.env(
            "ANSIBLE_PYTHON_INTERPRETER",
            support::ansible::venv()?.join("bin/python"),
        );
        c
    } else {
        let mut c = drover();
        c.arg("play");
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
    Ok(Run {
        code,
        trace: trace(&out),
        recap: recaps(&out),
        files: files(d, &own, hosts),
        out: format!("{out}{err}"),
    })
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
        for (mode, extra) in [("run", &[][..]), ("check", &["--check", "--diff"][..])] {
            let a = run_scenario(name, true, extra).unwrap_or_else(|e| panic!("{name}: {e}"));
            let d = run_scenario(name, false, extra).unwrap_or_else(|e| panic!("{name}: {e}"));
            let diffs: Vec<String> = compare(&a, &d)
                .into_iter()
                .filter(|v| {
                    let view = v.split(':').next().unwrap_or_default();
                    !deliberate
                        .lines()
                        .any(|l| l.starts_with(&format!("{name}: {mode} {view}:")))
                })
                .collect();
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
        names.len() * 2,
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
