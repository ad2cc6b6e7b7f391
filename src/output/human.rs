//! Ansible-like human output: PLAY/TASK banners, one line per host in inventory order,
//! coloured diffs, PLAY RECAP. Colour only on a terminal and never with `NO_COLOR`. Every
//! string that came out of a vault is shown as `********` (`crate::vault::redact`); a `no_log`
//! result shows its status only (Ansible's "output has been hidden" text, no diff, no items).

use super::{unified_diff, ProfileSummary, Reporter};
use crate::executor::{HostResult, ItemResult, Stats, Status};
use crate::vault::redact;
use crate::yaml::Span;
use console::{Style, Term};
use std::io::Write;
use std::time::Duration;

/// Terminal reporter writing to stdout.
pub struct Human {
    out: Box<dyn Write + Send>,
    colour: bool,
    width: usize,
}

impl Human {
    /// Writes to stdout, with colour when stdout is a terminal and `NO_COLOR` is unset.
    pub fn stdout() -> Human {
        let term = Term::stdout();
        let colour = term.is_term() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let width = if term.is_term() {
            term.size().1 as usize
        } else {
            80
        };
        Human {
            out: Box::new(std::io::stdout()),
            colour,
            width: width.clamp(40, 200),
        }
    }

    /// Writes to any sink without colour (for tests and files).
    pub fn plain(out: Box<dyn Write + Send>) -> Human {
        Human {
            out,
            colour: false,
            width: 80,
        }
    }

    fn paint(&self, s: &str, style: &Style) -> String {
        if self.colour {
            style.apply_to(s).to_string()
        } else {
            s.to_string()
        }
    }

    fn banner(&mut self, title: &str) {
        let title = &*redact(title);
        let stars = "*".repeat(self.width.saturating_sub(title.chars().count() + 1).max(3));
        let _ = writeln!(self.out, "\n{title} {stars}");
    }

    fn status_style(status: Status, ignored: bool) -> (Style, &'static str) {
        match status {
            Status::Ok => (Style::new().green(), "ok"),
            Status::Changed => (Style::new().yellow(), "changed"),
            Status::Skipped => (Style::new().cyan(), "skipping"),
            Status::Failed if ignored => (Style::new().red(), "failed"),
            Status::Failed => (Style::new().red(), "fatal"),
            Status::Unreachable => (Style::new().red(), "fatal"),
        }
    }

    fn write_diffs(&mut self, diffs: &[crate::modules::Diff]) {
        for d in diffs {
            // Vault secrets are hidden before diffing: a changed secret shows as a changed
            // `********` line, an unchanged one as context.
            let text = unified_diff(
                &redact(&d.before),
                &redact(&d.after),
                &format!("before: {}", d.before_header),
                &format!("after: {}", d.after_header),
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

    fn json(v: &minijinja::Value, no_log: bool) -> String {
        if no_log {
            return "{\"censored\": \"the output has been hidden due to the fact that 'no_log: true' was specified for this result\"}".into();
        }
        match serde_json::to_value(v) {
            Ok(mut json) => {
                super::redact_strings(&mut json);
                json.to_string()
            }
            Err(_) => redact(&v.to_string()).into_owned(),
        }
    }

    fn item_line(&mut self, host: &str, item: &ItemResult, verbosity: u8, no_log: bool) {
        if !no_log {
            self.write_diffs(&item.diffs);
        }
        let (style, word) = Self::status_style(item.status, false);
        let label = if no_log {
            "None".to_string()
        } else {
            redact(&item.label).into_owned()
        };
        let mut line = format!("{word}: [{host}] => (item={label})");
        if item.status == Status::Failed || verbosity > 0 {
            line.push_str(&format!(" => {}", Self::json(&item.result, no_log)));
        }
        let painted = self.paint(&line, &style);
        let _ = writeln!(self.out, "{painted}");
    }
}

impl Reporter for Human {
    fn play_start(&mut self, name: &str, _hosts: &[String]) {
        self.banner(&format!("PLAY [{name}]"));
    }

    fn task_start(&mut self, name: &str, handler: bool, _at: &Span) {
        let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
        self.banner(&format!("{kind} [{name}]"));
    }

    fn host_result(&mut self, r: &HostResult, verbosity: u8) {
        for item in &r.items {
            self.item_line(&r.host, item, verbosity, r.no_log);
        }
        // A `no_log` result shows no diff at all: before and after are the secret's content.
        if r.items.is_empty() && !r.no_log {
            self.write_diffs(&r.diffs);
        }
        let (style, word) = Self::status_style(r.status, r.ignored);
        let line = match r.status {
            Status::Unreachable => format!(
                "{word}: [{}]: UNREACHABLE! => {}",
                r.host,
                Self::json(&r.result, r.no_log)
            ),
            Status::Failed => format!(
                "{word}: [{}]: FAILED! => {}",
                r.host,
                Self::json(&r.result, r.no_log)
            ),
            _ if !r.items.is_empty() && verbosity == 0 => String::new(),
            _ if verbosity > 0 => format!(
                "{word}: [{}] => {}",
                r.host,
                Self::json(&r.result, r.no_log)
            ),
            _ if r.show && r.status == Status::Ok => {
                let mut shown = crate::vars::varmap_from_value(&r.result);
                shown.shift_remove("changed");
                shown.shift_remove("failed");
                format!(
                    "{word}: [{}] => {}",
                    r.host,
                    Self::json(&crate::vars::map_value(shown), r.no_log)
                )
            }
            _ => format!("{word}: [{}]", r.host),
        };
        if !line.is_empty() {
            let painted = self.paint(&line, &style);
            let _ = writeln!(self.out, "{painted}");
        }
        if r.ignored && r.status == Status::Failed {
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

    fn warning(&mut self, msg: &str) {
        let line = self.paint(
            &format!("[WARNING]: {}", redact(msg)),
            &Style::new().magenta(),
        );
        let _ = writeln!(self.out, "{line}");
    }

    fn recap(&mut self, stats: &[(String, Stats)]) {
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
