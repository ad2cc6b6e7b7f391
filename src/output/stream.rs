//! Reading an `--output json` stream back (`drover report merge`): line by line, so memory
//! stays flat whatever its size. A stream is complete when its events are numbered without a
//! gap from `run_start` to `run_end`; anything else (a file cut off by a killed process, a
//! line that is not JSON, a stream of an older drover) is reported with where it stops.

use crate::executor::Stats;
use crate::shard::Shard;
use serde::Deserialize;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// How much of a stream there is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// From `run_start` to `run_end`.
    Complete,
    /// Readable up to a point; why it stops there.
    Truncated(String),
    /// Not there or not readable at all.
    Missing(String),
}

/// What one stream says about its run.
#[derive(Debug)]
pub struct StreamSummary {
    pub file: PathBuf,
    pub state: Completeness,
    /// `run_start`'s shard (None: an unsharded run, or unknown when the stream is missing).
    pub shard: Option<Shard>,
    /// `run_end`'s exit code and error.
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// Events read (the last good `seq`).
    pub events: u64,
    /// The hosts its plays started on, in first-seen order.
    pub hosts: Vec<String>,
    /// The `recap` event's counters.
    pub recap: Vec<(String, Stats)>,
}

impl StreamSummary {
    fn new(file: &Path) -> StreamSummary {
        StreamSummary {
            file: file.to_path_buf(),
            state: Completeness::Complete,
            shard: None,
            exit_code: None,
            error: None,
            events: 0,
            hosts: Vec::new(),
            recap: Vec::new(),
        }
    }
}

/// Reads the stream in `file`, handing every good event to `each` in order.
pub fn read_stream(file: &Path, each: &mut dyn FnMut(&Value)) -> StreamSummary {
    let mut s = StreamSummary::new(file);
    let reader = match std::fs::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            s.state = Completeness::Missing(format!("cannot read it: {e}"));
            return s;
        }
    };
    let mut seen = std::collections::HashSet::new();
    let mut last_event = String::new();
    for (n, line) in reader.split(b'\n').enumerate() {
        let lineno = n + 1;
        let cut = |why: String| Completeness::Truncated(format!("line {lineno}: {why}"));
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                s.state = cut(format!("cannot read it: {e}"));
                return s;
            }
        };
        let Ok(event) = serde_json::from_slice::<Value>(&line) else {
            s.state = cut("not a whole JSON event (the stream is cut off here)".into());
            return s;
        };
        let name = event["event"].as_str().unwrap_or_default().to_string();
        if event["seq"].as_u64() != Some(s.events + 1) {
            s.state = cut(format!(
                "event number {} where {} was due (events are missing)",
                event["seq"],
                s.events + 1
            ));
            return s;
        }
        if s.events == 0 && name != "run_start" {
            s.state = cut(format!(
                "the stream begins with `{name}`, not `run_start` (written by an older drover?)"
            ));
            return s;
        }
        s.events += 1;
        match name.as_str() {
            "run_start" => s.shard = shard_of(&event["shard"]),
            "play_start" => {
                for h in event["hosts"].as_array().into_iter().flatten() {
                    if let Some(h) = h.as_str().filter(|h| seen.insert(h.to_string())) {
                        s.hosts.push(h.to_string());
                    }
                }
            }
            "recap" => s.recap = recap_of(&event["hosts"]),
            "run_end" => {
                s.exit_code = event["exit_code"].as_i64().map(|c| c as i32);
                s.error = event["error"].as_str().map(str::to_string);
            }
            _ => {}
        }
        each(&event);
        last_event = name;
    }
    if last_event != "run_end" {
        s.state = Completeness::Truncated(if s.events == 0 {
            "it is empty".into()
        } else {
            format!(
                "it stops after event {} (`{last_event}`) without the end of the run",
                s.events
            )
        });
    }
    s
}

fn shard_of(v: &Value) -> Option<Shard> {
    let index = v["index"].as_u64()?;
    let count = v["count"].as_u64()?;
    Shard::new(u32::try_from(index).ok()?, u32::try_from(count).ok()?).ok()
}

fn recap_of(hosts: &Value) -> Vec<(String, Stats)> {
    hosts
        .as_object()
        .into_iter()
        .flatten()
        .map(|(h, c)| (h.clone(), Stats::deserialize(c).unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> StreamSummary {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        std::fs::write(&p, text).unwrap();
        read_stream(&p, &mut |_| {})
    }

    const WHOLE: &str = r#"{"event":"run_start","seq":1,"version":1,"shard":{"index":1,"count":3}}
{"event":"play_start","seq":2,"name":"p","hosts":["b","a"]}
{"event":"recap","seq":3,"hosts":{"a":{"ok":2,"changed":1,"unreachable":0,"failed":0,"skipped":0,"rescued":0,"ignored":0}}}
{"event":"run_end","seq":4,"exit_code":2,"error":null}
"#;

    #[test]
    fn a_whole_stream() {
        let s = read(WHOLE);
        assert_eq!(s.state, Completeness::Complete);
        assert_eq!(s.shard, Some(Shard { index: 1, count: 3 }));
        assert_eq!(s.exit_code, Some(2));
        assert_eq!(s.hosts, ["b", "a"]);
        assert_eq!(s.recap.len(), 1);
        assert_eq!((s.recap[0].1.ok, s.recap[0].1.changed), (2, 1));
    }

    #[test]
    fn cut_off_gapped_or_foreign_streams_say_where() {
        let cut = &WHOLE[..WHOLE.len() - 20];
        let s = read(cut);
        assert!(
            matches!(&s.state, Completeness::Truncated(w) if w.starts_with("line 4: not a whole JSON")),
            "{:?}",
            s.state
        );
        assert_eq!(s.events, 3);
        let no_end: String = WHOLE.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(
            matches!(&read(&no_end).state, Completeness::Truncated(w) if w.contains("after event 3 (`recap`)"))
        );
        let gap: String = WHOLE
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(
            matches!(&read(&gap).state, Completeness::Truncated(w) if w.contains("number 3 where 2"))
        );
        let old =
            "{\"event\":\"play_start\",\"seq\":1,\"version\":1,\"name\":\"p\",\"hosts\":[]}\n";
        assert!(
            matches!(&read(old).state, Completeness::Truncated(w) if w.contains("older drover"))
        );
        assert!(matches!(&read("").state, Completeness::Truncated(w) if w == "it is empty"));
        let gone = read_stream(Path::new("/nonexistent/s.jsonl"), &mut |_| {});
        assert!(matches!(gone.state, Completeness::Missing(_)));
    }
}
