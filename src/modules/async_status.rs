//! `async_status`: the state of a job a task started with `async` and `poll: 0`
//! (`contract/background.rs`): running (`finished: false`), finished (the command's result:
//! `rc`, `stdout`, `stderr`, `start`, `end`, `delta`, `cmd`, failed on a non-zero exit), or
//! unknown ("could not find job"); `mode: cleanup` erases the job's files. One look.

use super::clock::format_delta;
use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;
use std::convert::Infallible;

pub struct AsyncStatus;

static SPEC: Spec = Spec {
    args: &["jid", "mode", "_async_dir"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct StatusArgs {
    jid: String,
    cleanup: bool,
}

/// The job's files, one section each.
const FILES: [(&str, &str); 7] = [
    ("rc", "rc"),
    ("start", "start"),
    ("end", "end"),
    ("cmd", "cmd"),
    ("out", "out"),
    ("err", "err"),
    ("json", "json"),
];

impl Typed for AsyncStatus {
    type Args = StatusArgs;
    type Change = Infallible;

    fn name(&self) -> &'static str {
        "async_status"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<StatusArgs> {
        let jid = args.req_str("jid")?;
        let cleanup = args.choice("mode", &["status", "cleanup"], "status")? == "cleanup";
        Ok(StatusArgs { jid, cleanup })
    }

    fn observe(&self, a: &StatusArgs) -> Observe {
        let at = || {
            Script::new()
                .set("f", &a.jid)
                .raw("f=\"$HOME/.ansible_async/$f\"\n")
        };
        let mut sections = vec![(
            "state",
            at().raw(
                "if [ -e \"$f.json\" ] || [ -e \"$f.rc\" ]; then echo finished; elif [ -e \"$f.cmd\" ]; then echo running; else echo missing; fi; echo \"$f\"",
            ),
        )];
        if a.cleanup {
            sections.push((
                "erase",
                at().raw("rm -f \"$f\" \"$f.in\" \"$f.sh\" \"$f.cmd\" \"$f.rc\" \"$f.start\" \"$f.end\" \"$f.out\" \"$f.err\" \"$f.json\"; echo \"$f\""),
            ));
        } else {
            for (name, ext) in FILES {
                let cat = match ext {
                    "rc" => at().raw("cat \"$f.rc\" 2>/dev/null"),
                    "start" => at().raw("cat \"$f.start\" 2>/dev/null"),
                    "end" => at().raw("cat \"$f.end\" 2>/dev/null"),
                    "cmd" => at().raw("cat \"$f.cmd\" 2>/dev/null"),
                    "out" => at().raw("cat \"$f.out\" 2>/dev/null"),
                    "err" => at().raw("cat \"$f.err\" 2>/dev/null"),
                    _ => at().raw("cat \"$f.json\" 2>/dev/null"),
                };
                sections.push((name, cat));
            }
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &StatusArgs, seen: &Observed) -> Outcome<Infallible> {
        let mut lines = seen.section("state").lines();
        let state = lines.next().unwrap_or("missing");
        let file = lines.next().unwrap_or_default().to_string();
        let empty: Vec<String> = Vec::new();
        let base = |p: Plan| {
            p.with_value("ansible_job_id", a.jid.as_str())
                .with_value("stdout", "")
                .with_value("stderr", "")
                .with_value("stdout_lines", empty.clone())
                .with_value("stderr_lines", empty.clone())
        };
        if a.cleanup {
            let erased = seen.section("erase").trim().to_string();
            return Outcome::Unchanged(
                base(Plan::unchanged())
                    .with_value("erased", erased)
                    .with_value("started", false)
                    .with_value("finished", false),
            );
        }
        let job = |p: Plan| {
            p.with_value("results_file", file.as_str())
                .with_value("started", true)
        };
        match state {
            "missing" => Outcome::Fail(
                Failure::new("could not find job")
                    .with("ansible_job_id", a.jid.as_str())
                    .with("results_file", file.as_str())
                    .with("started", true)
                    .with("finished", true)
                    .with("stdout", "")
                    .with("stderr", "")
                    .with("stdout_lines", empty.clone())
                    .with("stderr_lines", empty),
            ),
            "running" => {
                Outcome::Unchanged(job(base(Plan::unchanged())).with_value("finished", false))
            }
            _ => Outcome::Unchanged(finished(a, seen, job(Plan::unchanged()))),
        }
    }

    fn apply(&self, _a: &StatusArgs, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}

/// A finished job's result: the one it settled with, or its command's.
fn finished(a: &StatusArgs, seen: &Observed, mut plan: Plan) -> Plan {
    plan = plan
        .with_value("ansible_job_id", a.jid.as_str())
        .with_value("finished", true);
    if let Ok(serde_json::Value::Object(m)) =
        serde_json::from_str::<serde_json::Value>(seen.section("json").trim())
    {
        for (k, v) in m {
            if k == "msg" {
                plan.msg = v.as_str().map(str::to_string);
            } else if k != "changed" {
                plan = plan.with_value(&k, crate::template::filters::json_to_value(v));
            }
        }
        return plan;
    }
    let text = |k: &str| seen.section(k).trim_end_matches(['\n', '\r']).to_string();
    let rc: i64 = seen.section("rc").trim().parse().unwrap_or(-1);
    let (out, err) = (text("out"), text("err"));
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    let (start, end) = (text("start"), text("end"));
    if let Ok(cmd) = serde_json::from_str::<serde_json::Value>(seen.section("cmd").trim()) {
        plan = plan.with_value("cmd", crate::template::filters::json_to_value(cmd));
    }
    plan = plan
        .with_value("rc", rc)
        .with_value("stdout_lines", lines(&out))
        .with_value("stderr_lines", lines(&err))
        .with_value("stdout", out)
        .with_value("stderr", err)
        .with_value("delta", format_delta(elapsed(&start, &end)))
        .with_value("start", start)
        .with_value("end", end);
    // The job changed the host as its command did.
    plan.verdict = Verdict::Changed;
    if rc == 124 {
        plan.mark_failed(true);
        plan.msg = Some("Timeout exceeded".into());
    } else if rc != 0 {
        plan.mark_failed(true);
        plan.msg = Some("non-zero return code".into());
    }
    plan
}

/// The time between two `YYYY-MM-DD hh:mm:ss.ffffff` stamps of one day or more.
fn elapsed(start: &str, end: &str) -> std::time::Duration {
    let secs = |t: &str| -> Option<f64> {
        let (date, time) = t.split_once(' ')?;
        let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
        let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
        let mut tt = time.split(':');
        let (h, mi) = (
            tt.next()?.parse::<f64>().ok()?,
            tt.next()?.parse::<f64>().ok()?,
        );
        let s: f64 = tt.next()?.parse().ok()?;
        let days = super::clock::days_from_civil(y, m, dd) as f64;
        Some(days * 86400.0 + h * 3600.0 + mi * 60.0 + s)
    };
    match (secs(start), secs(end)) {
        (Some(a), Some(b)) if b >= a => std::time::Duration::from_secs_f64(b - a),
        _ => std::time::Duration::ZERO,
    }
}

/// The job's state now, for a task that polls it: its result, and whether it still runs.
pub fn look(ctx: &mut super::ModuleCtx, jid: &str) -> Result<(Plan, bool)> {
    let a = StatusArgs {
        jid: jid.to_string(),
        cleanup: false,
    };
    let seen = super::contract::gather(ctx, &AsyncStatus.observe(&a))?;
    let running = seen.section("state").lines().next() == Some("running");
    Ok(match AsyncStatus.decide(&a, &seen) {
        Outcome::Unchanged(p) => (p, running),
        Outcome::Fail(f) => (f.into_plan(), false),
        Outcome::Change { report, .. } => (report, running),
    })
}

/// Erases a finished job's files (Ansible's automatic cleanup after a polled job).
pub fn erase(ctx: &mut super::ModuleCtx, jid: &str) -> Result<()> {
    let a = StatusArgs {
        jid: jid.to_string(),
        cleanup: true,
    };
    super::contract::gather(ctx, &AsyncStatus.observe(&a)).map(|_| ())
}
