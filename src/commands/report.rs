//! `drover report merge STREAM...`: the `--output json` streams of the shards of one run
//! (`drover play --shard I/N`) as one recap (human, `--output json`, `--junit`), and the exit
//! code the run would have had unsharded; 3 when a shard's stream is missing or cut short, so
//! a pipeline never takes a partial run for a whole one.

use super::common::{input, junit_file};
use crate::cli::{MergeArgs, OutputFormat, ReportCommand};
use crate::executor::{HostResult, Stats, Status};
use crate::output::{read_stream, recap_hosts, Completeness, Human, Junit, Reporter};
use crate::output::{StreamSummary, SCHEMA_VERSION};
use crate::shard::Shard;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The exit code of a merge that lacks a shard.
pub const INCOMPLETE: i32 = 3;

/// Runs `drover report …`; returns the exit code.
pub fn run_report(cmd: &ReportCommand) -> Result<i32> {
    match cmd {
        ReportCommand::Merge(a) => merge(a),
    }
}

/// One shard as the merge sees it: its stream, or a note that none was given.
struct Row {
    shard: Option<Shard>,
    stream: Option<StreamSummary>,
}

impl Row {
    fn state(&self) -> Completeness {
        match &self.stream {
            Some(s) => s.state.clone(),
            None => Completeness::Missing("no stream given".into()),
        }
    }

    /// `shard 1/4`, or the file when the stream cannot tell its shard.
    fn label(&self) -> String {
        match (self.shard, &self.stream) {
            (Some(s), _) => format!("shard {s}"),
            (None, Some(st)) => st.file.display().to_string(),
            (None, None) => "?".into(),
        }
    }
}

struct Merged {
    rows: Vec<Row>,
    recap: Vec<(String, Stats)>,
    complete: bool,
    exit_code: i32,
}

fn merge(args: &MergeArgs) -> Result<i32> {
    let mut junit = match &args.junit {
        Some(p) => Some(input(junit_file(p))?),
        None => None,
    };
    let mut streams = Vec::new();
    for file in &args.streams {
        let mut plays = 0;
        let summary = read_stream(file, &mut |e| {
            if let Some(j) = junit.as_mut() {
                replay(j, e, &mut plays);
            }
        });
        streams.push(summary);
    }
    let merged = input(combine(streams, args.shards))?;
    match args.output {
        OutputFormat::Human => print_human(&merged),
        OutputFormat::Json => println!("{}", as_json(&merged)),
    }
    if let Some(j) = junit.as_mut() {
        j.finish()?;
    }
    if !merged.complete {
        let lacking: Vec<String> = merged
            .rows
            .iter()
            .filter(|r| r.state() != Completeness::Complete)
            .map(Row::label)
            .collect();
        eprintln!(
            "error: the run is incomplete: no whole stream for {}; exit code {INCOMPLETE}",
            lacking.join(", ")
        );
    }
    Ok(merged.exit_code)
}

/// Orders the streams by shard, finds the shards with no stream, and adds up the recaps.
fn combine(streams: Vec<StreamSummary>, expected: Option<u32>) -> Result<Merged> {
    // An unsharded run's stream is the one shard of one.
    let shard_of = |s: &StreamSummary| match (&s.shard, &s.state) {
        (Some(sh), _) => Some(*sh),
        (None, Completeness::Complete) => Some(Shard { index: 0, count: 1 }),
        (None, _) => None,
    };
    let mut count = expected;
    for s in &streams {
        if let Some(sh) = shard_of(s) {
            match count {
                Some(n) if n != sh.count => bail!(
                    "{} is shard {sh}, of another number of shards than {n}\nhint: merge the streams of one run",
                    s.file.display()
                ),
                _ => count = Some(sh.count),
            }
        }
    }
    let mut by_index: BTreeMap<u32, StreamSummary> = BTreeMap::new();
    let mut unknown = Vec::new();
    for s in streams {
        match shard_of(&s) {
            Some(sh) => {
                if let Some(other) = by_index.get(&sh.index) {
                    bail!(
                        "{} and {} are both shard {sh}\nhint: give each shard's last stream once",
                        other.file.display(),
                        s.file.display()
                    );
                }
                by_index.insert(sh.index, s);
            }
            None => unknown.push(s),
        }
    }
    let mut rows: Vec<Row> = (0..count.unwrap_or(0))
        .map(|i| {
            let shard = count.map(|n| Shard { index: i, count: n });
            Row {
                shard,
                stream: by_index.remove(&i),
            }
        })
        .collect();
    rows.extend(unknown.into_iter().map(|s| Row {
        shard: None,
        stream: Some(s),
    }));
    let mut owner: BTreeMap<String, (String, Stats)> = BTreeMap::new();
    for row in &rows {
        for (host, stats) in row.stream.iter().flat_map(|s| &s.recap) {
            if let Some((other, _)) = owner.get(host) {
                bail!(
                    "{host} is in the recaps of {other} and {}: these streams are not the shards of one run",
                    row.label()
                );
            }
            owner.insert(host.clone(), (row.label(), stats.clone()));
        }
    }
    let recap = owner.into_iter().map(|(h, (_, s))| (h, s)).collect();
    let complete = !rows.is_empty()
        && rows
            .iter()
            .all(|r| r.state() == Completeness::Complete && r.shard.is_some());
    let exit_code = if complete {
        unsharded_exit(rows.iter().filter_map(|r| r.stream.as_ref()?.exit_code))
    } else {
        INCOMPLETE
    };
    Ok(Merged {
        rows,
        recap,
        complete,
        exit_code,
    })
}

/// The exit code one run over all the shards' hosts would have had: bad input first (every
/// shard reads the same input), then an error, an interruption, a failed host, an unreachable
/// host; 0 when every shard ended 0.
fn unsharded_exit(codes: impl Iterator<Item = i32>) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        4 => 1,
        2 => 2,
        99 => 3,
        5 => 5,
        _ => 4,
    };
    codes
        .map(|c| if rank(c) == 4 { (4, 1) } else { (rank(c), c) })
        .max()
        .map(|(_, c)| c)
        .unwrap_or(0)
}

/// A stream's results into the JUnit report, its `n`th play into the run's `n`th testsuite.
fn replay(j: &mut Junit, e: &Value, plays: &mut usize) {
    let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    match e["event"].as_str() {
        Some("play_start") => {
            j.play_at(*plays, &text("name"));
            *plays += 1;
        }
        Some("task_start") => j.task_start(
            &text("name"),
            e["handler"].as_bool().unwrap_or(false),
            &crate::yaml::Span::synthetic(&text("path")),
        ),
        Some("host_result") => {
            let status: Status =
                serde_json::from_value(e["status"].clone()).unwrap_or(Status::Failed);
            let mut msg = e["msg"].as_str().map(str::to_string);
            for item in e["items"].as_array().into_iter().flatten() {
                if item["status"] == "failed" {
                    let line = format!(
                        "(item={}) {}",
                        item["label"].as_str().unwrap_or_default(),
                        item["msg"].as_str().unwrap_or_default()
                    );
                    msg = Some(match msg {
                        Some(m) => format!("{m}\n{line}"),
                        None => line,
                    });
                }
            }
            let ms = e["duration_ms"].as_u64().unwrap_or(0);
            let mut r = HostResult::simple(
                text("host"),
                status,
                msg,
                std::time::Duration::from_millis(ms),
            );
            r.ignored = e["ignored"].as_bool().unwrap_or(false);
            r.no_log = e["censored"].as_bool().unwrap_or(false);
            j.host_result(&r, 0);
        }
        _ => {}
    }
}

/// A shard's line: its state, exit code and hosts.
fn row_line(r: &Row) -> String {
    let file = r
        .stream
        .as_ref()
        .map(|s| format!(" ({})", s.file.display()))
        .unwrap_or_default();
    let head = match r.shard {
        Some(s) => format!("shard {s}{file}"),
        None => r.label(),
    };
    let Some(s) = &r.stream else {
        return format!("{head}: missing: no stream given");
    };
    match &s.state {
        Completeness::Complete => {
            let error = s
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            format!(
                "{head}: complete, exit {}, {} hosts{error}",
                s.exit_code.unwrap_or(0),
                s.hosts.len()
            )
        }
        Completeness::Missing(why) => format!("{head}: missing: {why}"),
        Completeness::Truncated(why) => {
            let hosts = if s.hosts.is_empty() {
                String::new()
            } else {
                format!(
                    "; no recap for its {} hosts: {}",
                    s.hosts.len(),
                    s.hosts.join(", ")
                )
            };
            format!("{head}: cut short: {why}{hosts}")
        }
    }
}

fn print_human(m: &Merged) {
    let mut h = Human::stdout(true);
    let lines: Vec<String> = m.rows.iter().map(row_line).collect();
    h.section("SHARDS", &lines);
    h.recap(&m.recap);
}

fn as_json(m: &Merged) -> Value {
    let shards: Vec<Value> = m
        .rows
        .iter()
        .map(|r| {
            let (state, why) = match r.state() {
                Completeness::Complete => ("complete", None),
                Completeness::Truncated(w) => ("truncated", Some(w)),
                Completeness::Missing(w) => ("missing", Some(w)),
            };
            let s = r.stream.as_ref();
            json!({
                "shard": r.shard,
                "file": s.map(|s| s.file.display().to_string()),
                "state": state,
                "why": why,
                "exit_code": s.and_then(|s| s.exit_code),
                "error": s.and_then(|s| s.error.clone()),
                "events": s.map(|s| s.events).unwrap_or(0),
                "hosts": s.map(|s| s.hosts.clone()).unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "version": SCHEMA_VERSION,
        "complete": m.complete,
        "exit_code": m.exit_code,
        "shards": shards,
        "hosts": recap_hosts(&m.recap),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unsharded_exit_code() {
        let code = |c: &[i32]| unsharded_exit(c.iter().copied());
        assert_eq!(code(&[0, 0]), 0);
        assert_eq!(code(&[0, 4, 0]), 4);
        assert_eq!(code(&[4, 2]), 2);
        assert_eq!(code(&[2, 99]), 99);
        assert_eq!(code(&[99, 1, 2]), 1);
        assert_eq!(code(&[7, 2]), 1);
        assert_eq!(code(&[1, 5]), 5);
    }

    fn summary(shard: Option<Shard>, state: Completeness, recap: &[&str]) -> StreamSummary {
        let dir = std::path::Path::new("/nonexistent");
        let mut s = read_stream(dir, &mut |_| {});
        s.state = state;
        s.shard = shard;
        s.exit_code = Some(0);
        s.recap = recap
            .iter()
            .map(|h| (h.to_string(), Stats::default()))
            .collect();
        s
    }

    #[test]
    fn shards_with_no_stream_and_cut_streams_make_it_incomplete() {
        let sh = |i| Some(Shard { index: i, count: 3 });
        let whole = || Completeness::Complete;
        let m = combine(
            vec![
                summary(sh(2), whole(), &["c"]),
                summary(sh(0), Completeness::Truncated("x".into()), &[]),
            ],
            None,
        )
        .unwrap();
        assert_eq!(m.rows.len(), 3);
        assert!(!m.complete);
        assert_eq!(m.exit_code, INCOMPLETE);
        assert!(row_line(&m.rows[1]).ends_with("missing: no stream given"));
        let m = combine(
            (0..3)
                .map(|i| summary(sh(i), whole(), &[["a", "b", "c"][i as usize]]))
                .collect(),
            None,
        )
        .unwrap();
        assert!(m.complete);
        assert_eq!(m.exit_code, 0);
        assert_eq!(m.recap.len(), 3);
        let twice = combine(
            vec![
                summary(sh(0), whole(), &["a"]),
                summary(sh(1), whole(), &["a"]),
            ],
            None,
        );
        assert!(twice.is_err());
        let other_count = combine(vec![summary(sh(0), whole(), &[])], Some(4));
        assert!(other_count.is_err());
    }
}
