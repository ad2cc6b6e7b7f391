//! Ansible-like human output: PLAY/TASK banners, one line per host as each host finishes,
//! coloured diffs, PLAY RECAP. Colour only on a terminal and never with `NO_COLOR`; on a
//! terminal, a live status line while a task runs (`progress.rs`). Results are dumped as
//! ansible-playbook dumps them (`pyjson.rs`). Every string that came out of a vault is shown
//! as `********` (`crate::vault::redact`); a `no_log` result shows its status only (Ansible's
//! "output has been hidden" text, no diff, no items).

use super::progress::{self, Counts, Progress};
use super::{pyjson, unified_diff, ProfileSummary, Reporter};
use crate::executor::{HostResult, ItemResult, Stats, Status};
use crate::vault::redact;
use crate::yaml::Span;
use console::{Style, Term};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Terminal reporter writing to stdout.
pub struct Human {
    out: Box<dyn Write + Send>,
    colour: bool,
    width: usize,
    /// The live status line, when stdout is a terminal and it is not turned off.
    progress: Option<Progress>,
    /// `drover run MODULE`: `ansible -m` lines instead of banners and a recap.
    adhoc: Option<String>,
    /// `-vv` and up: each task's `file:line` under its banner.
    verbosity: u8,
    /// `[ERROR]` blocks already printed: ansible-core shows each text once per run.
    errors_shown: std::collections::HashSet<String>,
}

impl Human {
    /// Writes to stdout, with colour when stdout is a terminal and `NO_COLOR` is unset, and
    /// the live status line there unless `no_progress` (see `progress::wanted`).
    pub fn stdout(no_progress: bool) -> Human {
        let term = Term::stdout();
        let colour = term.is_term() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        // ansible-playbook's width: the terminal's less one, at least 79 (80 with the space).
        let width = if term.is_term() {
            term.size().1 as usize
        } else {
            80
        };
        let progress = progress::wanted(no_progress).then(Progress::stdout);
        let out: Box<dyn Write + Send> = match &progress {
            Some(p) => Box::new(p.writer()),
            None => Box::new(std::io::stdout()),
        };
        Human {
            out,
            colour,
            width: width.clamp(80, 200),
            progress,
            adhoc: None,
            verbosity: 0,
            errors_shown: std::collections::HashSet::new(),
        }
    }

    /// `file:line` with the file made absolute, as ansible-playbook shows task paths.
    fn absolute_path(at: &Span) -> String {
        let file: std::sync::Arc<std::path::Path> = match std::path::absolute(&at.file) {
            Ok(p) => p.into(),
            Err(_) => at.file.clone(),
        };
        super::task_path(&Span { file, ..at.clone() })
    }

    /// ansible-core 2.19's `[ERROR]` block before a failed result: the failure, where the task
    /// was written, and the lines before it with a marker; each text once per run. A `no_log`
    /// result names no message (ansible-core would print it; drover keeps it hidden).
    fn error_block(&mut self, r: &HostResult, result: &minijinja::Value) {
        let Some(origin) = &r.origin else { return };
        let msg = result
            .get_attr("msg")
            .ok()
            .filter(|m| !m.is_undefined() && !m.is_none())
            .map(|m| m.to_string())
            .unwrap_or_default();
        let first = if msg.starts_with("Task failed") {
            msg.clone()
        } else {
            let kind = if origin.on_host {
                "Module failed"
            } else {
                "Action failed"
            };
            match (r.no_log, msg.is_empty()) {
                (true, _) | (_, true) => format!("Task failed: {kind}."),
                _ => format!("Task failed: {kind}: {msg}"),
            }
        };
        let span = &origin.span;
        let file = std::path::absolute(&span.file).unwrap_or_else(|_| span.file.to_path_buf());
        let mut text = format!(
            "[ERROR]: {}\nOrigin: {}:{}:{}\n",
            redact(&first),
            file.display(),
            span.line,
            span.col
        );
        if let Ok(src) = std::fs::read_to_string(&span.file) {
            let lines: Vec<&str> = src.lines().collect();
            let w = span.line.to_string().len();
            text.push('\n');
            for n in span.line.saturating_sub(2).max(1)..=span.line {
                let l = lines.get(n - 1).copied().unwrap_or("").replace('\t', " ");
                let line = format!("{n:>w$} {l}");
                text.push_str(line.trim_end());
                text.push('\n');
            }
            text.push_str(&format!(
                "{} {}^ column {}\n",
                " ".repeat(w),
                " ".repeat(span.col.saturating_sub(1)),
                span.col
            ));
        }
        if self.errors_shown.insert(text.clone()) {
            let painted = self.paint(text.trim_end(), &Style::new().red());
            let _ = writeln!(self.out, "{painted}\n");
        }
    }

    /// From `-vv` on, each task banner is followed by `task path: FILE:LINE`.
    pub fn verbosity(mut self, v: u8) -> Human {
        self.verbosity = v;
        self
    }

    /// Reports an ad-hoc run of `module` as `ansible -m` does (`host | CHANGED | rc=0 >>`).
    pub fn adhoc(mut self, module: &str) -> Human {
        self.adhoc = Some(module.to_string());
        self
    }

    /// Writes to any sink without colour (for tests and files).
    pub fn plain(out: Box<dyn Write + Send>) -> Human {
        Human {
            out,
            colour: false,
            width: 80,
            progress: None,
            adhoc: None,
            verbosity: 0,
            errors_shown: std::collections::HashSet::new(),
        }
    }

    fn paint(&self, s: &str, style: &Style) -> String {
        if self.colour {
            style.apply_to(s).to_string()
        } else {
            s.to_string()
        }
    }

    /// A banner and plain lines under it (`drover report merge`'s SHARDS).
    pub fn section(&mut self, title: &str, lines: &[String]) {
        self.banner(title);
        for l in lines {
            let _ = writeln!(self.out, "{}", redact(l));
        }
    }

    fn banner(&mut self, title: &str) {
        let title = &*redact(title);
        let stars = "*".repeat(self.width.saturating_sub(title.chars().count() + 1).max(3));
        let _ = writeln!(self.out, "\n{title} {stars}");
    }

    fn status_style(status: Status) -> (Style, &'static str) {
        match status {
            Status::Ok => (Style::new().green(), "ok"),
            Status::Changed => (Style::new().yellow(), "changed"),
            Status::Skipped => (Style::new().cyan(), "skipping"),
            Status::Failed => (Style::new().red(), "fatal"),
            Status::Unreachable => (Style::new().red(), "fatal"),
        }
    }

    /// `before: /etc/motd`, or `before` alone when the diff names nothing (as Ansible).
    fn diff_header(side: &str, name: &str) -> String {
        if name.is_empty() {
            side.to_string()
        } else {
            format!("{side}: {name}")
        }
    }

    fn write_diffs(&mut self, diffs: &[crate::modules::Diff]) {
        for d in diffs {
            if let Some(text) = &d.prepared {
                let _ = writeln!(self.out, "{}", text.trim_end_matches('\n'));
                continue;
            }
            // Vault secrets are hidden before diffing: a changed secret shows as a changed
            // `********` line, an unchanged one as context.
            let text = unified_diff(
                &redact(&d.before),
                &redact(&d.after),
                &Self::diff_header("before", &d.before_header),
                &Self::diff_header("after", &d.after_header),
            );
            for line in text.lines() {
                let styled = if line.starts_with("+++") || line.starts_with("---") {
                    self.paint(line, &Style::new().bold())
                } else if line.starts_with('+') {
                    self.paint(line, &Style::new().green())
                } else if line.starts_with('-') {
                    self.paint(line, &Style::new().red())
                } else if line.starts_with("@@") {
                    self.paint(line, &Style::new().cyan())
                } else {
                    line.to_string()
                };
                let _ = writeln!(self.out, "{styled}");
            }
        }
    }

    /// A result as ansible-playbook dumps it: sorted keys, one line, or indented for results
    /// shown on purpose (`debug`) and from `-vvv` on.
    fn json(v: &minijinja::Value, no_log: bool, indent: bool) -> String {
        let v = if no_log {
            // As ansible-core: only `changed` stays beside the notice.
            match v.get_attr("changed").ok().filter(|c| !c.is_undefined()) {
                Some(c) => {
                    serde_json::json!({ "censored": super::CENSORED, "changed": c.is_true() })
                }
                None => serde_json::json!({ "censored": super::CENSORED }),
            }
        } else {
            let mut json = serde_json::to_value(v)
                .unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
            // Before encoding: a multi-line vault value is one string here, escaped after.
            super::redact_strings(&mut json);
            pyjson::clean_result(json)
        };
        redact(&pyjson::dumps(&v, indent)).into_owned()
    }

    /// What a `debug`/`assert` result shows: its message alone when it has one (as
    /// ansible-playbook cleans debug results), else its values without the status keys.
    pub(super) fn shown(v: &minijinja::Value) -> minijinja::Value {
        let mut shown = crate::vars::varmap_from_value(v);
        if shown.contains_key("msg") {
            shown.retain(|k, _| matches!(k.as_str(), "msg" | "warnings" | "deprecations"));
        } else {
            for k in ["changed", "failed", "skipped", "invocation", "skip_reason"] {
                shown.shift_remove(k);
            }
        }
        crate::vars::map_value(shown)
    }

    /// One loop item, as ansible-playbook words it: `ok: [h] => (item=x)`, but
    /// `failed: [h] (item=x) => {...}`.
    fn item_line(&mut self, r: &HostResult, item: &ItemResult, verbosity: u8) {
        if !r.no_log {
            self.write_diffs(&item.diffs);
        }
        if item.status == Status::Failed {
            self.error_block(r, &item.result);
        }
        let (style, word) = Self::status_style(item.status);
        let label = if r.no_log {
            "None".to_string()
        } else {
            redact(&item.label).into_owned()
        };
        let indent = r.show || verbosity >= 3;
        let line = match item.status {
            Status::Failed | Status::Unreachable => format!(
                "failed: [{}] (item={label}) => {}",
                r.shown_host(),
                Self::json(&item.result, r.no_log, indent)
            ),
            _ if r.show && matches!(item.status, Status::Ok | Status::Changed) => format!(
                "{word}: [{}] => (item={label}) => {}",
                r.shown_host(),
                Self::json(&Self::shown(&item.result), r.no_log, true)
            ),
            _ if verbosity > 0 => format!(
                "{word}: [{}] => (item={label}) => {}",
                r.shown_host(),
                Self::json(&item.result, r.no_log, indent)
            ),
            _ => format!("{word}: [{}] => (item={label})", r.shown_host()),
        };
        let painted = self.paint(&line, &style);
        let _ = writeln!(self.out, "{painted}");
    }
}

impl Reporter for Human {
    fn play_start(&mut self, name: &str, _hosts: &[String]) {
        if self.adhoc.is_some() {
            return;
        }
        self.banner(&format!("PLAY [{name}]"));
    }

    fn task_start(&mut self, name: &str, handler: bool, at: &Span) {
        let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
        let title = format!("{kind} [{name}]");
        if let Some(p) = &self.progress {
            p.counts().set_task(&redact(&title));
        }
        if self.adhoc.is_none() {
            self.banner(&title);
            if self.verbosity >= 2 && !handler {
                let line = self.paint(
                    &format!("task path: {}", Self::absolute_path(at)),
                    &Style::new().green().bright(),
                );
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    fn host_result(&mut self, r: &HostResult, verbosity: u8) {
        if let Some(module) = &self.adhoc {
            let text = redact(&super::adhoc::result_text(module, r)).into_owned();
            let (style, _) = Self::status_style(r.status);
            if !r.no_log {
                self.write_diffs(&r.diffs);
            }
            let painted = self.paint(&text, &style);
            let _ = writeln!(self.out, "{painted}");
            return;
        }
        for item in &r.items {
            self.item_line(r, item, verbosity);
        }
        // A `no_log` result shows no diff at all: before and after are the secret's content.
        if r.items.is_empty() && !r.no_log {
            self.write_diffs(&r.diffs);
        }
        let (style, word) = Self::status_style(r.status);
        let indent = r.show || verbosity >= 3;
        let line = match r.status {
            Status::Unreachable => format!(
                "{word}: [{}]: UNREACHABLE! => {}",
                r.shown_host(),
                Self::json(&r.result, r.no_log, indent)
            ),
            // A loop whose every item was skipped: ansible-playbook's line for the task.
            Status::Skipped if !r.items.is_empty() && verbosity == 0 => {
                format!("{word}: [{}]", r.shown_host())
            }
            // A loop's items said it all (ansible-playbook prints no line for the task).
            _ if !r.items.is_empty() => String::new(),
            Status::Failed => {
                self.error_block(r, &r.result);
                format!(
                    "{word}: [{}]: FAILED! => {}",
                    r.shown_host(),
                    Self::json(&r.result, r.no_log, indent)
                )
            }
            _ if r.show && matches!(r.status, Status::Ok | Status::Changed) => format!(
                "{word}: [{}] => {}",
                r.shown_host(),
                Self::json(&Self::shown(&r.result), r.no_log, true)
            ),
            _ if verbosity > 0 => format!(
                "{word}: [{}] => {}",
                r.shown_host(),
                Self::json(&r.result, r.no_log, indent)
            ),
            _ => format!("{word}: [{}]", r.shown_host()),
        };
        if !line.is_empty() {
            let painted = self.paint(&line, &style);
            let _ = writeln!(self.out, "{painted}");
        }
        if r.ignored && matches!(r.status, Status::Failed | Status::Unreachable) {
            let _ = writeln!(
                self.out,
                "{}",
                self.paint("...ignoring", &Style::new().cyan())
            );
        }
    }

    fn included(&mut self, file: &str, hosts: &[&str], label: Option<&str>) {
        let item = label.map(|l| format!(" => (item={l})")).unwrap_or_default();
        let line = format!("included: {file} for {}{item}", hosts.join(", "));
        let line = redact(&line);
        let line = self.paint(&line, &Style::new().cyan());
        let _ = writeln!(self.out, "{line}");
    }

    fn playbook_start(&mut self, path: &str, plays: usize) {
        if self.verbosity >= 2 && self.adhoc.is_none() {
            let base = std::path::Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_string());
            self.banner(&format!("PLAYBOOK: {base}"));
            let _ = writeln!(self.out, "{plays} plays in {path}");
        }
    }

    fn meta(&mut self, line: &str, verbosity: u8) {
        if verbosity >= 2 && self.adhoc.is_none() {
            let _ = writeln!(self.out, "META: {}", redact(line));
        }
    }

    fn warning(&mut self, msg: &str) {
        let line = self.paint(
            &format!("[WARNING]: {}", redact(msg)),
            &Style::new().magenta(),
        );
        let _ = writeln!(self.out, "{line}");
    }

    /// ansible-playbook's line under the banner of a play without hosts (`ansible`'s warning
    /// for an ad-hoc run).
    fn no_hosts_matched(&mut self) {
        if self.adhoc.is_some() {
            self.warning("no hosts matched, nothing to do");
            return;
        }
        let line = self.paint("skipping: no hosts matched", &Style::new().cyan());
        let _ = writeln!(self.out, "{line}");
    }

    fn recap(&mut self, stats: &[(String, Stats)]) {
        if let Some(p) = &mut self.progress {
            p.close();
        }
        if self.adhoc.is_some() {
            let _ = self.out.flush();
            return;
        }
        self.banner("PLAY RECAP");
        let width = stats
            .iter()
            .map(|(h, _)| h.len())
            .max()
            .unwrap_or(0)
            .max(26);
        for (host, s) in stats {
            let colour = if s.failed > 0 || s.unreachable > 0 {
                Style::new().red()
            } else if s.changed > 0 {
                Style::new().yellow()
            } else {
                Style::new().green()
            };
            let name = self.paint(&format!("{host:width$}"), &colour);
            let _ = writeln!(
                self.out,
                "{name} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={:<4}",
                s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
            );
        }
        let _ = self.out.flush();
    }

    fn progress(&self) -> Option<Arc<Counts>> {
        self.progress.as_ref().map(Progress::counts)
    }

    fn profile(&mut self, p: &ProfileSummary) {
        self.banner("PROFILE [slowest tasks]");
        let secs = |d: Duration| format!("{:.2}s", d.as_secs_f64());
        for t in &p.tasks {
            let _ = writeln!(
                self.out,
                "{:>9}  max {:>8} on {:<16} {}  ({})",
                secs(t.total),
                secs(t.max),
                t.max_host,
                t.name,
                t.path
            );
        }
        self.banner("PROFILE [slowest hosts]");
        for h in &p.hosts {
            let _ = writeln!(
                self.out,
                "{:>9}  {}  ({} results)",
                secs(h.total),
                h.host,
                h.results
            );
        }
        let _ = self.out.flush();
    }
}
