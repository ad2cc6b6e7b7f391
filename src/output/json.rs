//! `--output json`: one JSON object per line, for CI. Every line has `event` and `seq` (1, 2,
//! 3, ... in output order); the first line also has `version` (the schema version). `drover
//! run` reports the same events as a one-task play. The
//! events and their fields are described by `docs/output-json.schema.json`. A `no_log`
//! result carries no values: `msg` is null, `items` empty, `diff` null, `censored` true.

use super::{redact_strings, task_path, value_msg, DiffSummary, ProfileSummary, Reporter};
use crate::executor::{HostResult, Stats};
use crate::yaml::Span;
use serde_json::{json, Map, Value};
use std::io::Write;

/// The version of the event format; it changes only when a field changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

/// Writes one event per line and flushes each, so a consumer can follow the run live.
pub struct Json {
    out: Box<dyn Write + Send>,
    seq: u64,
    task: String,
}

impl Json {
    pub fn stdout() -> Json {
        Json::to(Box::new(std::io::stdout()))
    }

    pub fn to(out: Box<dyn Write + Send>) -> Json {
        Json {
            out,
            seq: 0,
            task: String::new(),
        }
    }

    fn emit(&mut self, event: &str, fields: Value) {
        self.seq += 1;
        let mut line = Map::new();
        line.insert("event".into(), json!(event));
        line.insert("seq".into(), json!(self.seq));
        if self.seq == 1 {
            line.insert("version".into(), json!(SCHEMA_VERSION));
        }
        if let Value::Object(f) = fields {
            line.extend(f);
        }
        let mut line = Value::Object(line);
        redact_strings(&mut line);
        // A closed stdout must not stop the run; the exit code still tells the outcome.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}

/// The `recap` event's `hosts`: each host's counters.
pub fn recap_hosts(stats: &[(String, Stats)]) -> Value {
    let hosts: Map<String, Value> = stats.iter().map(|(h, s)| (h.clone(), json!(s))).collect();
    Value::Object(hosts)
}

/// A result as the `host_result` event's fields (`task` is the task running).
pub fn host_result_fields(r: &HostResult, task: &str) -> Value {
    let changed = r.status == crate::executor::Status::Changed
        || r.result
            .get_attr("changed")
            .map(|v| v.is_true())
            .unwrap_or(false);
    let mut v = json!({
        "host": r.host,
        "task": task,
        "status": r.status,
        "changed": changed,
        "ignored": r.ignored,
        "duration_ms": r.duration.as_millis() as u64,
        "censored": r.no_log,
        "msg": null,
        "diff": null,
        "items": [],
    });
    if r.no_log {
        return v;
    }
    v["msg"] = json!(r.msg);
    v["diff"] = json!(DiffSummary::of(r));
    // The values a result shows (`debug`'s `var`, `assert`'s), as the human output prints them.
    if r.show {
        v["result"] = serde_json::to_value(&r.result).unwrap_or(Value::Null);
    }
    // What a command said, when the module ran one (`command`, `shell`, `drover run`).
    for key in ["rc", "stdout", "stderr"] {
        if let Ok(x) = r.result.get_attr(key) {
            if let Some(n) = x.as_i64().filter(|_| key == "rc") {
                v[key] = json!(n);
            } else if let Some(text) = x.as_str().filter(|_| key != "rc") {
                v[key] = json!(text);
            }
        }
    }
    v["items"] = r
        .items
        .iter()
        .map(|i| {
            json!({
                "label": i.label,
                "status": i.status,
                "changed": i.status == crate::executor::Status::Changed,
                "msg": value_msg(&i.result),
            })
        })
        .collect();
    v
}

impl Reporter for Json {
    fn run_start(&mut self, shard: Option<crate::shard::Shard>) {
        self.emit("run_start", json!({ "shard": shard }));
    }

    fn run_end(&mut self, exit_code: i32, error: Option<&str>) {
        self.emit("run_end", json!({ "exit_code": exit_code, "error": error }));
    }

    fn play_start(&mut self, name: &str, hosts: &[String]) {
        self.emit("play_start", json!({ "name": name, "hosts": hosts }));
    }

    fn task_start(&mut self, name: &str, handler: bool, at: &Span) {
        self.task = name.to_string();
        self.emit(
            "task_start",
            json!({ "name": name, "handler": handler, "path": task_path(at) }),
        );
    }

    fn host_result(&mut self, r: &HostResult, _verbosity: u8) {
        let fields = host_result_fields(r, &self.task);
        self.emit("host_result", fields);
    }

    fn warning(&mut self, msg: &str) {
        self.emit("warning", json!({ "msg": msg }));
    }

    fn included(&mut self, file: &str, hosts: &[&str], label: Option<&str>) {
        self.emit(
            "included",
            json!({ "file": file, "hosts": hosts, "item": label }),
        );
    }

    fn recap(&mut self, stats: &[(String, Stats)]) {
        self.emit("recap", json!({ "hosts": recap_hosts(stats) }));
    }

    fn profile(&mut self, p: &ProfileSummary) {
        let tasks: Vec<Value> = p
            .tasks
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "path": t.path,
                    "total_ms": t.total.as_millis() as u64,
                    "max_ms": t.max.as_millis() as u64,
                    "max_host": t.max_host,
                    "results": t.results,
                })
            })
            .collect();
        let hosts: Vec<Value> = p
            .hosts
            .iter()
            .map(|h| {
                json!({
                    "host": h.host,
                    "total_ms": h.total.as_millis() as u64,
                    "results": h.results,
                })
            })
            .collect();
        self.emit("profile", json!({ "tasks": tasks, "hosts": hosts }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Status;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_numbered_versioned_and_censored() {
        let sink = Sink::default();
        let mut j = Json::to(Box::new(sink.clone()));
        j.play_start("p", &["h".to_string()]);
        j.task_start("t", false, &Span::synthetic("site.yml"));
        let mut r = HostResult::simple(
            "h".into(),
            Status::Failed,
            Some("secret".into()),
            std::time::Duration::from_millis(5),
        );
        r.no_log = true;
        j.host_result(&r, 0);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["version"], 1);
        assert_eq!(lines[0]["seq"], 1);
        assert!(lines[1].get("version").is_none());
        assert_eq!(lines[2]["seq"], 3);
        assert_eq!(lines[2]["task"], "t");
        assert_eq!(lines[2]["status"], "failed");
        assert_eq!(lines[2]["censored"], true);
        assert!(!text.contains("secret"), "{text}");
    }
}
