//! `apt_repository`: a one-line apt source added (in `sources.list.d/NAME.list`, named after
//! its URL as Ansible names it) or removed, then `apt-get update` (with Ansible's retries;
//! the files are put back when it keeps failing). The files are read in the look and edited
//! as Ansible's `SourcesList` edits them (`sources`), without python3-apt on the host.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{Payload, PutOpts};
use super::{Args, Diff, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod sources;
use super::fileops::fail;
use sources::{parse, suggest_filename, Sources};

pub struct AptRepository;

static SPEC: Spec = Spec {
    args: &[
        "repo",
        "state",
        "mode",
        "update_cache",
        "update_cache_retries",
        "update_cache_retry_max_delay",
        "filename",
        "install_python_apt",
        "validate_certs",
        "codename",
    ],
    aliases: &[("update-cache", "update_cache")],
    free_form: None,
    any_args: false,
    file_args: false,
};

const LIST: &str = "/etc/apt/sources.list";
const PARTS: &str = "/etc/apt/sources.list.d";

pub struct RepoArgs {
    repo: String,
    present: bool,
    mode: Option<u32>,
    update: bool,
    retries: i64,
    max_delay: i64,
    filename: Option<String>,
}

/// One file to write (its real path, the text, whether it is new, its mode when set).
#[derive(Debug)]
pub struct Write {
    path: String,
    text: String,
    old: Option<String>,
    mode: Option<u32>,
}

#[derive(Debug)]
pub struct RepoChange {
    writes: Vec<Write>,
    /// Files left without lines: removed (with their old text, to put back).
    removes: Vec<(String, String)>,
}

impl Typed for AptRepository {
    type Args = RepoArgs;
    type Change = RepoChange;

    fn name(&self) -> &'static str {
        "apt_repository"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<RepoArgs> {
        let repo = args.req_str("repo")?;
        if repo.is_empty() {
            return Err(fail("Please set argument 'repo' to a non-empty value"));
        }
        if repo.starts_with("ppa:") {
            return Err(fail(format!(
                "drover's apt_repository does not add Launchpad PPAs (`{repo}`) yet: give the repository's `deb` line (and its key with signed-by)"
            )));
        }
        let mode = match args.mode("mode")? {
            None => None,
            Some(m) => Some(crate::yaml::parse_mode_str(&m).ok_or_else(|| {
                fail(format!(
                    "apt_repository's `mode` must be octal here, not `{m}`"
                ))
            })?),
        };
        Ok(RepoArgs {
            repo,
            present: args.choice("state", &["absent", "present"], "present")? == "present",
            mode,
            update: args.bool_or("update_cache", true)?,
            retries: args.int("update_cache_retries")?.unwrap_or(5).max(1),
            max_delay: args
                .int("update_cache_retry_max_delay")?
                .unwrap_or(12)
                .max(0),
            filename: args.str("filename"),
        })
    }

    fn observe(&self, _a: &RepoArgs) -> Observe {
        let s = Script::new()
            .set("l", LIST)
            .set("d", PARTS)
            .raw("for f in \"$l\" \"$d\"/*.list; do [ -f \"$f\" ] || continue\necho \"F $f\"; [ -L \"$f\" ] && echo \"T $(readlink -f -- \"$f\")\"\nsed 's/^/| /' \"$f\"; echo E\ndone");
        Observe {
            sections: vec![("lists", s)],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &RepoArgs, seen: &Observed) -> Outcome<RepoChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &RepoArgs, c: &RepoChange) -> Vec<Step> {
        let mut steps = Vec::new();
        for w in &c.writes {
            steps.push(Step::Put {
                path: w.path.clone(),
                payload: Payload::Bytes(w.text.clone().into_bytes()),
                opts: PutOpts {
                    mode: w.mode,
                    ..PutOpts::default()
                },
            });
        }
        for (p, _) in &c.removes {
            steps.push(Step::Run {
                what: "removing the emptied sources file",
                script: Script::new().cmd("rm -f --", [p.as_str()]),
            });
        }
        if a.update {
            steps.push(Step::Exec {
                script: update_script(a, c),
                stdin: None,
            });
        }
        steps
    }

    fn finish(&self, a: &RepoArgs, _c: &RepoChange, done: &Done, mut r: Plan) -> Plan {
        if let Some(out) = done.outputs.last().filter(|o| a.update && o.rc != 0) {
            r.mark_failed(false);
            let err = out.stdout_str();
            let err = err.trim();
            r.msg = Some(format!(
                "Failed to update apt cache after {} retries: {}",
                a.retries,
                if err.is_empty() {
                    "unknown reason"
                } else {
                    err
                }
            ));
        }
        r
    }
}

/// `apt-get update` with Ansible's retries and backoff; after the last failure the files
/// are put back as they were and the output is the failure's.
fn update_script(a: &RepoArgs, c: &RepoChange) -> Script {
    let mut revert = Script::new();
    for w in &c.writes {
        revert = match &w.old {
            None => revert.cmd("rm -f --", [w.path.as_str()]).raw("\n"),
            Some(old) => revert
                .set("o", old)
                .raw("printf '%s' \"$o\" >")
                .arg(&w.path)
                .raw("\n"),
        };
    }
    for (p, old) in &c.removes {
        revert = revert
            .set("o", old)
            .raw("printf '%s' \"$o\" >")
            .arg(p)
            .raw("\n");
    }
    Script::new()
        .set("retries", &a.retries.to_string())
        .set("max", &a.max_delay.to_string())
        // apt-get exits 0 when an index could not be fetched; python-apt's update (Ansible's)
        // fails then, and so does this.
        .raw("n=0\nwhile ! { LC_ALL=C apt-get update -q >\"$D/upd\" 2>&1 && ! grep -qE '^(Err|E):|^W: (Failed to fetch|Some index files failed)' \"$D/upd\"; }; do\nn=$((n + 1))\nif [ \"$n\" -ge \"$retries\" ]; then\n")
        .then(revert)
        .raw("grep -E '^(E|Err|W: Failed to fetch)' \"$D/upd\" | tail -n 5; rm -f \"$D/upd\"; exit 1\nfi\nd=$((1 << (n - 1))); [ \"$d\" -gt \"$max\" ] && d=$max; sleep \"$d\"\ndone\nrm -f \"$D/upd\"\n")
}

/// The files the look read: (path as listed, real path, text).
fn files(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String, String)> = None;
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("F ") {
            cur = Some((p.to_string(), p.to_string(), String::new()));
        } else if let (Some(t), Some(c)) = (line.strip_prefix("T "), cur.as_mut()) {
            c.1 = t.to_string();
        } else if let (Some(l), Some(c)) = (line.strip_prefix("| "), cur.as_mut()) {
            c.2.push_str(l);
            c.2.push('\n');
        } else if line == "|" {
            if let Some(c) = cur.as_mut() {
                c.2.push('\n');
            }
        } else if line == "E" {
            out.extend(cur.take());
        }
    }
    out
}

fn decide(a: &RepoArgs, seen: &Observed) -> Result<Outcome<RepoChange>, Failure> {
    let read = files(seen.section("lists"));
    let mut src = Sources::default();
    for (p, _, text) in &read {
        src.files
            .push((p.clone(), text.lines().map(parse).collect()));
    }
    let line = parse(&a.repo);
    if !line.valid || !line.enabled {
        return Err(Failure::new(format!(
            "Invalid repository string: {}",
            a.repo.trim().trim_start_matches('#')
        )));
    }
    let before = src.dump();
    let mut appended_to = None;
    if a.present {
        let name = suggest_filename(&line.source, a.filename.as_deref());
        let file = if name.contains('/') {
            name
        } else {
            format!("{PARTS}/{name}")
        };
        if src.add(&line.source, &file) {
            appended_to = Some(file);
        }
    } else {
        src.remove(&line.source);
    }
    let after = src.dump();
    let changed = before != after;
    let names = |d: &[(String, String)]| d.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let (bn, an) = (names(&before), names(&after));
    let added: Vec<String> = an.iter().filter(|p| !bn.contains(p)).cloned().collect();
    let removed: Vec<String> = bn.iter().filter(|p| !an.contains(p)).cloned().collect();
    let mut report = Plan::unchanged()
        .with_value("repo", a.repo.as_str())
        .with_value("state", if a.present { "present" } else { "absent" })
        .with_value("sources_added", added.clone())
        .with_value("sources_removed", removed.clone());
    report.plain_diff = Some(Value::from(Vec::<Value>::new()));
    if !changed {
        return Ok(Outcome::Unchanged(report));
    }
    let text_of =
        |d: &[(String, String)], p: &str| d.iter().find(|(x, _)| x == p).map(|(_, t)| t.clone());
    let mut writes = Vec::new();
    let mut removes = Vec::new();
    for (path, old_dump) in before
        .iter()
        .map(|(p, t)| (p, Some(t)))
        .chain(added.iter().map(|p| (p, None)))
    {
        let new = text_of(&after, path);
        if new.as_ref() == old_dump {
            continue;
        }
        let real = read
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, r, _)| r.clone())
            .unwrap_or_else(|| path.clone());
        let raw = read
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, _, t)| t.clone());
        report = report.with_diff(Diff {
            before_header: if raw.is_some() {
                path.clone()
            } else {
                "/dev/null".into()
            },
            after_header: if new.is_some() {
                path.clone()
            } else {
                "/dev/null".into()
            },
            before: old_dump.cloned().unwrap_or_default(),
            after: new.clone().unwrap_or_default(),
            prepared: None,
        });
        match new {
            Some(text) => writes.push(Write {
                mode: match (&raw, appended_to.as_deref() == Some(path.as_str())) {
                    (None, _) => Some(a.mode.unwrap_or(0o644)),
                    (Some(_), true) => a.mode,
                    _ => None,
                },
                path: real,
                text,
                old: raw,
            }),
            None => removes.push((real, raw.unwrap_or_default())),
        }
    }
    Ok(Outcome::change(RepoChange { writes, removes }, report))
}
