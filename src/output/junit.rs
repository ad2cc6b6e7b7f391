//! `--junit FILE`: a JUnit XML report written when the run ends. One `<testsuite>` per play,
//! one `<testcase>` per task and host (`classname` = host, `name` = task, `time` in seconds);
//! a failure is `<failure>`, an unreachable host `<error>`, a skip `<skipped/>`. Failures
//! that `ignore_errors` let pass count as passed, with the message in `<system-out>`.

use super::{value_msg, Reporter};
use crate::executor::{HostResult, Stats, Status};
use crate::yaml::Span;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

enum Outcome {
    Passed,
    /// An ignored failure or unreachable host: passed, with this note.
    Ignored(String),
    Failure(String),
    Error(String),
    Skipped(Option<String>),
}

struct Case {
    host: String,
    task: String,
    time: Duration,
    outcome: Outcome,
}

struct Suite {
    name: String,
    cases: Vec<Case>,
}

/// Collects results; `finish` writes the file.
pub struct Junit {
    path: PathBuf,
    suites: Vec<Suite>,
    /// The suite results go to (the play running).
    current: usize,
    task: String,
}

impl Junit {
    /// A report to be written to `path` (its directory must exist).
    pub fn new(path: PathBuf) -> Junit {
        Junit {
            path,
            suites: Vec::new(),
            current: 0,
            task: String::new(),
        }
    }

    /// Results go to the `ix`th play of the run (from 0) from now on, so that the streams of
    /// a run's shards fill one testsuite per play (`drover report merge`).
    pub fn play_at(&mut self, ix: usize, name: &str) {
        while self.suites.len() <= ix {
            self.suites.push(Suite {
                name: name.to_string(),
                cases: Vec::new(),
            });
        }
        self.current = ix;
    }

    /// The report as XML text.
    pub fn render(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let all: Vec<&Case> = self.suites.iter().flat_map(|s| &s.cases).collect();
        let _ = writeln!(x, "<testsuites name=\"drover\"{}>", counts(&all));
        for s in &self.suites {
            let cases: Vec<&Case> = s.cases.iter().collect();
            let _ = writeln!(
                x,
                "  <testsuite name=\"{}\"{}>",
                attr(&s.name),
                counts(&cases)
            );
            for c in &s.cases {
                let _ = write!(
                    x,
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                    attr(&c.host),
                    attr(&c.task),
                    c.time.as_secs_f64()
                );
                let _ = match &c.outcome {
                    Outcome::Passed => writeln!(x, "/>"),
                    Outcome::Ignored(msg) => writeln!(
                        x,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        text(msg)
                    ),
                    Outcome::Failure(msg) => writeln!(
                        x,
                        ">\n      <failure message=\"{}\" type=\"failed\">{}</failure>\n    </testcase>",
                        attr(first_line(msg)),
                        text(msg)
                    ),
                    Outcome::Error(msg) => writeln!(
                        x,
                        ">\n      <error message=\"{}\" type=\"unreachable\">{}</error>\n    </testcase>",
                        attr(first_line(msg)),
                        text(msg)
                    ),
                    Outcome::Skipped(None) => writeln!(x, ">\n      <skipped/>\n    </testcase>"),
                    Outcome::Skipped(Some(msg)) => writeln!(
                        x,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        attr(msg)
                    ),
                };
            }
            let _ = writeln!(x, "  </testsuite>");
        }
        x.push_str("</testsuites>\n");
        x
    }
}

/// ` tests=".." failures=".." errors=".." skipped=".." time=".."` for a set of cases.
fn counts(cases: &[&Case]) -> String {
    let n = |f: fn(&Outcome) -> bool| cases.iter().filter(|c| f(&c.outcome)).count();
    let time: Duration = cases.iter().map(|c| c.time).sum();
    format!(
        " tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
        cases.len(),
        n(|o| matches!(o, Outcome::Failure(_))),
        n(|o| matches!(o, Outcome::Error(_))),
        n(|o| matches!(o, Outcome::Skipped(_))),
        time.as_secs_f64()
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// What a failed result says: its message, and each failed item's.
fn failure_text(r: &HostResult) -> String {
    if r.no_log {
        return super::CENSORED.to_string();
    }
    let mut msg = r.msg.clone().unwrap_or_else(|| "failed".to_string());
    for i in r.items.iter().filter(|i| i.status == Status::Failed) {
        let _ = write!(
            msg,
            "\n(item={}) {}",
            i.label,
            value_msg(&i.result).unwrap_or_default()
        );
    }
    msg
}

/// Characters XML 1.0 cannot carry at all, even escaped, become U+FFFD.
fn legal(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

/// Escaped for element text.
fn text(s: &str) -> String {
    // Vault-decrypted values are masked before anything is written.
    let s = crate::vault::redact(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(legal) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped for a double-quoted attribute value (line breaks and tabs kept as references, which
/// attribute normalisation would otherwise turn into spaces).
fn attr(s: &str) -> String {
    let s = crate::vault::redact(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(legal) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

impl Reporter for Junit {
    fn play_start(&mut self, name: &str, _hosts: &[String]) {
        self.play_at(self.suites.len(), name);
    }

    fn task_start(&mut self, name: &str, _handler: bool, _at: &Span) {
        self.task = name.to_string();
    }

    fn host_result(&mut self, r: &HostResult, _verbosity: u8) {
        let outcome = match r.status {
            Status::Ok | Status::Changed => Outcome::Passed,
            Status::Skipped if r.no_log => Outcome::Skipped(None),
            Status::Skipped => Outcome::Skipped(r.msg.clone()),
            Status::Failed | Status::Unreachable if r.ignored => {
                Outcome::Ignored(format!("ignored: {}", failure_text(r)))
            }
            Status::Failed => Outcome::Failure(failure_text(r)),
            Status::Unreachable => Outcome::Error(failure_text(r)),
        };
        if self.suites.is_empty() {
            self.play_start("", &[]);
        }
        if let Some(s) = self.suites.get_mut(self.current) {
            s.cases.push(Case {
                host: r.host.clone(),
                task: self.task.clone(),
                time: r.duration,
                outcome,
            });
        }
    }

    fn warning(&mut self, _msg: &str) {}
    fn included(&mut self, _file: &str, _hosts: &[&str], _label: Option<&str>) {}
    fn recap(&mut self, _stats: &[(String, Stats)]) {}

    fn finish(&mut self) -> anyhow::Result<()> {
        std::fs::write(&self.path, self.render())
            .map_err(|e| anyhow::anyhow!("writing the JUnit report {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_illegal_characters() {
        assert_eq!(
            attr("a<b>&\"c'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;\u{FFFD}"
        );
        assert_eq!(text("]]> & <x/>"), "]]&gt; &amp; &lt;x/&gt;");
    }

    #[test]
    fn counts_by_outcome() {
        let mut j = Junit::new("unused.xml".into());
        j.play_start("p & q", &[]);
        j.task_start("t", false, &Span::synthetic("x"));
        let d = Duration::from_millis(1500);
        for (host, status) in [
            ("a", Status::Ok),
            ("b", Status::Failed),
            ("c", Status::Skipped),
        ] {
            j.host_result(&HostResult::simple(host.into(), status, None, d), 0);
        }
        let x = j.render();
        assert!(
            x.contains("<testsuite name=\"p &amp; q\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"4.500\">"),
            "{x}"
        );
        assert!(
            x.contains("<testcase classname=\"b\" name=\"t\" time=\"1.500\">"),
            "{x}"
        );
    }
}
