//! What a module observes (`Observe`, data) and what came back (`Observed`): the file probe
//! of `fileops`, one file's content, and named read-only commands, in one round trip.

use super::super::fileops::{self, Probe, ProbeReq};
use super::super::sections::Marks;
use super::super::ModuleCtx;
use super::Script;
use anyhow::Result;
use std::collections::HashMap;

/// What to look at.
#[derive(Clone, Debug, Default)]
pub struct Observe {
    /// Paths to stat, owner and group names to resolve (with the shell's identity and umask).
    pub files: Option<ProbeReq>,
    /// A file whose whole content to read (links followed), after the sections; not a
    /// regular file reads as [`Content::Absent`].
    pub read: Option<Read>,
    /// Read-only commands; each one's standard output comes back under its name.
    pub sections: Vec<(&'static str, Script)>,
    /// Changes a real run makes before looking, which Ansible makes unconditionally and does
    /// not count as a change (`systemd`'s `daemon_reload`): run first, their output and
    /// status come back as sections; check mode leaves them out.
    pub effects: Vec<(&'static str, Script)>,
    /// Only a prediction needs this (a real run learns the same by applying): the driver
    /// gathers it in check mode only, and `decide` sees nothing observed otherwise.
    pub prediction_only: bool,
    /// `(section, "user" | "group", name)`: a section that is the `getent` line of that
    /// account; the driver keeps it in the connection's memo for later file tasks.
    pub remember: Vec<(&'static str, &'static str, String)>,
}

/// Which file to read.
#[derive(Clone, Debug)]
pub enum Read {
    Path(String),
    /// The path a section computed into this shell variable (`authorized_key`'s file, from
    /// the user's home).
    Var(&'static str),
}

/// A file's content as observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Content {
    /// Nothing was asked, or the path is not a regular file.
    #[default]
    Absent,
    Bytes(Vec<u8>),
    /// Reading failed (permissions): the shell's message.
    Unreadable(String),
}

/// What came back.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub files: Probe,
    pub content: Content,
    pub sections: HashMap<String, String>,
    /// Each section's exit status.
    pub codes: HashMap<String, i32>,
    /// What the round trip wrote to stderr (for messages when a section is missing).
    pub stderr: String,
}

impl Observed {
    /// A section's output (empty if the command printed nothing or was not asked).
    pub fn section(&self, name: &str) -> &str {
        self.sections.get(name).map(String::as_str).unwrap_or("")
    }

    /// Adds a second look's sections (and its files and content, when it has them).
    pub fn merge(&mut self, more: Observed) {
        self.sections.extend(more.sections);
        self.codes.extend(more.codes);
        if !more.files.states.is_empty() {
            self.files = more.files;
        }
        if more.content != Content::Absent {
            self.content = more.content;
        }
        self.stderr.push_str(&more.stderr);
    }

    /// A section's exit status (`None` if it did not run).
    pub fn code(&self, name: &str) -> Option<i32> {
        self.codes.get(name).copied()
    }
}

/// Gathers everything `want` asks in one round trip (none if it asks nothing).
pub fn gather(ctx: &mut ModuleCtx, want: &Observe) -> Result<Observed> {
    let marks = Marks::new();
    let extra = extra_script(&marks, want);
    let head = marks.line("observe");
    let (files, tail, stderr) = match (&want.files, extra.is_empty()) {
        (Some(req), true) => (fileops::probe(ctx, req)?, Vec::new(), String::new()),
        (Some(req), false) => fileops::probe_with(ctx, req, (&head, extra.text()))?,
        (None, true) => return Ok(Observed::default()),
        (None, false) => {
            let out = ctx.run(extra.text())?;
            let stderr = out.stderr_str();
            let line = format!("{head}\n");
            let tail = out
                .stdout
                .strip_prefix(line.as_bytes())
                .unwrap_or(&out.stdout)
                .to_vec();
            (Probe::default(), tail, stderr)
        }
    };
    let seen = split(&marks, files, &tail, &stderr);
    for (section, what, name) in &want.remember {
        if seen.code(section) == Some(0) {
            if let Some(line) = seen.section(section).lines().next() {
                fileops::remember_lookup(ctx, what, name, line);
            }
        }
    }
    Ok(seen)
}

/// The script after the file probe: the head marker, the sections, the read.
fn extra_script(marks: &Marks, want: &Observe) -> Script {
    if want.read.is_none() && want.sections.is_empty() && want.effects.is_empty() {
        return Script::new();
    }
    let mut s = Script::new().raw_owned(marks.start("observe"));
    for (name, cmd) in want.effects.iter().chain(&want.sections) {
        s = s
            .raw_owned(marks.start(&format!("s.{name}")))
            .raw("{\n")
            .then(cmd.clone())
            .raw("}\nr=$?; ")
            .raw_owned(marks.start(&format!("rc.{name}")))
            .raw("echo \"$r\"\n");
    }
    if let Some(r) = &want.read {
        s = s.raw_owned(marks.start("content")).raw("if [ -f");
        s = match r {
            Read::Path(p) => s.arg(p).raw(" ]; then cat --").arg(p),
            Read::Var(v) => s.raw_owned(format!(" \"${v}\" ]; then cat -- \"${v}\"")),
        };
        s = s
            .raw("; r=$?; echo; ")
            .raw_owned(format!("echo \"{} $r\"; fi\n", marks.line("read")));
    }
    s
}

/// Cuts the bytes after the head marker into sections and content.
fn split(marks: &Marks, files: Probe, tail: &[u8], stderr: &str) -> Observed {
    let content_line = format!("{}\n", marks.line("content"));
    let (text, content) = match find(tail, content_line.as_bytes()) {
        Some(i) => (
            &tail[..i],
            read_content(marks, &tail[i + content_line.len()..], stderr),
        ),
        None => (tail, Content::Absent),
    };
    let text = String::from_utf8_lossy(text);
    let parsed = marks.parse(&text);
    let sections = parsed
        .names()
        .filter_map(|n| Some((n.strip_prefix("s.")?.to_string(), parsed.text(n)?)))
        .collect();
    let codes = parsed
        .names()
        .filter_map(|n| {
            let rc = parsed.first(n)?.trim().parse().ok()?;
            Some((n.strip_prefix("rc.")?.to_string(), rc))
        })
        .collect();
    Observed {
        files,
        content,
        sections,
        codes,
        stderr: stderr.to_string(),
    }
}

/// The content between the content marker and the read marker (whose line ends the output).
fn read_content(marks: &Marks, after: &[u8], stderr: &str) -> Content {
    let end = format!("\n{} ", marks.line("read"));
    let Some(i) = rfind(after, end.as_bytes()) else {
        return Content::Absent;
    };
    let rc = String::from_utf8_lossy(&after[i + end.len()..]);
    if rc.trim() == "0" {
        Content::Bytes(after[..i].to_vec())
    } else {
        Content::Unreadable(stderr.trim().to_string())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_content_come_apart() {
        let m = Marks::fixed("T");
        let want = Observe {
            read: Some(Read::Path("/etc/a b".into())),
            sections: vec![("id", Script::new().cmd("id", ["-u"]))],
            ..Observe::default()
        };
        let s = extra_script(&m, &want);
        assert_eq!(
            s.text(),
            "echo '@@T:observe'\necho '@@T:s.id'\n{\nid '-u'\n}\nr=$?; echo '@@T:rc.id'\necho \"$r\"\necho '@@T:content'\nif [ -f '/etc/a b' ]; then cat -- '/etc/a b'; r=$?; echo; echo \"@@T:read $r\"; fi\n"
        );
        // Content with a marker-like line and no final newline stays exact.
        let tail = b"@@T:s.id\n0\n@@T:rc.id\n3\n@@T:content\nx\n@@T:read 7\ny\n@@T:read 0\n";
        let o = split(&m, Probe::default(), tail, "");
        assert_eq!(o.section("id"), "0\n");
        assert_eq!(o.code("id"), Some(3));
        assert_eq!(o.content, Content::Bytes(b"x\n@@T:read 7\ny".to_vec()));
        let o = split(
            &m,
            Probe::default(),
            b"@@T:content\n\n@@T:read 1\n",
            "cat: denied\n",
        );
        assert_eq!(o.content, Content::Unreadable("cat: denied".into()));
        let o = split(&m, Probe::default(), b"@@T:content\n", "");
        assert_eq!(o.content, Content::Absent);
    }
}
