//! What a module observes (`Observe`, data) and what came back (`Observed`): the file probe
//! of `fileops`, one file's content, and named read-only commands, in one round trip.

use super::super::fileops::{self, Probe, ProbeReq};
use super::super::sections::{line_start, Marks};
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
    /// Files whose first bytes (up to `fileops::MAX_DIFF_SIZE + 1`) to read, for a diff's
    /// before side; each comes back in [`Observed::heads`].
    pub heads: Vec<String>,
    /// Only a prediction needs this (a real run learns the same by applying): the driver
    /// gathers it in check mode only, and `decide` sees nothing observed otherwise.
    pub prediction_only: bool,
    /// `(section, "user" | "group", name)`: a section that is the `getent` line of that
    /// account; the driver keeps it in the connection's memo for later file tasks.
    pub remember: Vec<(&'static str, &'static str, String)>,
    /// The sections `umask` and `id` are the shell's identity (`setup`): the driver keeps them
    /// in the connection's memo, so the next file probe need not ask.
    pub remember_identity: bool,
    /// A controller file (and its SHA-1) to send first into the session's temp dir, where the
    /// look's commands find it as `"$D/upload"` (`unarchive` lists and compares an archive
    /// there); the session's end removes it, a module's steps may use it and remove it.
    pub upload: Option<(std::path::PathBuf, String)>,
    /// A URL the controller downloads (with its own `curl`) and sends into `"$D/upload"` when
    /// the answer is 200, for a host that cannot download itself (`get_url`); the answer's
    /// status, reason and length reach the look's first section as `$dl_status`,
    /// `$dl_reason`, `$dl_length`. A real run's, as `effects` are, unless the look is
    /// `prediction_only`.
    pub download: Option<Box<Download>>,
}

/// A request the controller makes for a look.
#[derive(Clone, Debug, Default)]
pub struct Download {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub timeout: i64,
    pub validate_certs: bool,
    pub agent: String,
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
    /// The first bytes of each of [`Observe::heads`], in order.
    pub heads: Vec<Content>,
    /// The further looks `observe_again` asked for, in order.
    pub more: Vec<Observed>,
}

impl Observed {
    /// A section's output (empty if the command printed nothing or was not asked).
    pub fn section(&self, name: &str) -> &str {
        self.sections.get(name).map(String::as_str).unwrap_or("")
    }

    /// Adds a further look: its sections join these (their names differ), and the whole look
    /// is kept in [`Observed::more`] (its files, content and heads).
    pub fn merge(&mut self, more: Observed) {
        self.sections
            .extend(more.sections.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.codes
            .extend(more.codes.iter().map(|(k, v)| (k.clone(), *v)));
        self.stderr.push_str(&more.stderr);
        self.more.push(more);
    }

    /// A section's exit status (`None` if it did not run).
    pub fn code(&self, name: &str) -> Option<i32> {
        self.codes.get(name).copied()
    }
}

/// Gathers everything `want` asks in one round trip (none if it asks nothing).
pub fn gather(ctx: &mut ModuleCtx, want: &Observe) -> Result<Observed> {
    if let Some((path, sum)) = &want.upload {
        crate::modules::transfer::upload(ctx, path, sum)?;
    }
    let answered;
    let want = match &want.download {
        Some(d) if !want.effects.is_empty() || !want.sections.is_empty() => {
            let vars = super::download::fetch(ctx, d)?;
            let mut w = want.clone();
            // The first command the look runs (effects run first) gets the answer.
            let first = match w.effects.first_mut() {
                Some(e) => e,
                None => &mut w.sections[0],
            };
            first.1 = vars.then(first.1.clone());
            answered = w;
            &answered
        }
        _ => want,
    };
    let marks = Marks::new();
    let extra = extra_script(&marks, want);
    let head = marks.line("observe");
    let (files, tail, stderr) = match (&want.files, extra.is_empty()) {
        (Some(req), true) => (fileops::probe(ctx, req)?, Vec::new(), String::new()),
        (Some(req), false) => {
            // Without the module's own sections, what follows the probe is the contract's.
            let pure = want.sections.is_empty() && want.effects.is_empty();
            fileops::probe_with(ctx, req, (&head, extra.text(), pure))?
        }
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
    let seen = split(&marks, files, &tail, &stderr, want.heads.len());
    for (section, what, name) in &want.remember {
        if seen.code(section) == Some(0) {
            if let Some(line) = seen.section(section).lines().next() {
                fileops::remember_lookup(ctx, what, name, line);
            }
        }
    }
    if want.remember_identity {
        let first = |k: &str| seen.section(k).lines().next().map(str::to_string);
        if let (Some(m), Some(id)) = (first("umask"), first("id")) {
            fileops::remember_identity(ctx, &m, &id)?;
        }
    }
    Ok(seen)
}

/// The script after the file probe: the head marker, the sections, the read.
fn extra_script(marks: &Marks, want: &Observe) -> Script {
    if want.read.is_none()
        && want.sections.is_empty()
        && want.effects.is_empty()
        && want.heads.is_empty()
    {
        return Script::new();
    }
    let mut s = Script::new().raw_owned(marks.start("observe"));
    for (name, cmd) in want.effects.iter().chain(&want.sections) {
        // A command's last line ends before the brace (`... >/dev/null` must not take it).
        let end = if cmd.text().ends_with('\n') { "" } else { "\n" };
        s = s
            .raw_owned(marks.start(&format!("s.{name}")))
            .raw("{\n")
            .then(cmd.clone())
            .raw(end)
            .raw("}\nr=$?; echo; ")
            .raw_owned(marks.start(&format!("rc.{name}")))
            .raw("echo \"$r\"\n");
    }
    for (i, p) in want.heads.iter().enumerate() {
        s = s
            .raw_owned(marks.start(&format!("content.{i}")))
            .raw("if [ -f")
            .arg(p)
            .raw(" ]; then head -c ")
            .raw_owned((super::super::fileops::MAX_DIFF_SIZE + 1).to_string())
            .raw(" --")
            .arg(p)
            .raw("; r=$?; echo; ")
            .raw_owned(format!(
                "echo \"{} $r\"; fi\n",
                marks.line(&format!("read.{i}"))
            ));
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
fn split(marks: &Marks, files: Probe, tail: &[u8], stderr: &str, n_heads: usize) -> Observed {
    // Sections are text; the file blocks after them are bytes, each framed by its markers.
    let first_block = marks.line("content");
    let start = line_start(tail, first_block.as_bytes()).unwrap_or(tail.len());
    let text = String::from_utf8_lossy(&tail[..start]);
    let parsed = marks.parse(&text);
    let sections = parsed
        .names()
        .filter_map(|n| Some((n.strip_prefix("s.")?.to_string(), section_text(&parsed, n))))
        .collect();
    let codes = parsed
        .names()
        .filter_map(|n| {
            let rc = parsed.first(n)?.trim().parse().ok()?;
            Some((n.strip_prefix("rc.")?.to_string(), rc))
        })
        .collect();
    let blocks = &tail[start..];
    let heads = (0..n_heads)
        .map(|i| block(marks, blocks, &format!(".{i}"), stderr))
        .collect();
    Observed {
        files,
        content: block(marks, blocks, "", stderr),
        sections,
        codes,
        stderr: stderr.to_string(),
        heads,
        more: Vec::new(),
    }
}

/// A section's output: its lines, less the empty line the script adds after every section
/// (so that an output without a final newline still ends before the next marker).
fn section_text(parsed: &super::super::sections::Sections, name: &str) -> String {
    let mut lines = parsed.lines(name);
    if lines.last() == Some(&"") {
        lines = &lines[..lines.len() - 1];
    }
    lines.iter().fold(String::new(), |mut s, l| {
        s.push_str(l);
        s.push('\n');
        s
    })
}

/// The bytes of block `suffix` ("" for `read`, ".N" for head N): between its content marker
/// line and its read marker (which ends the block with the read's status).
fn block(marks: &Marks, blocks: &[u8], suffix: &str, stderr: &str) -> Content {
    let open = format!("{}\n", marks.line(&format!("content{suffix}")));
    let Some(at) = line_start(blocks, open.as_bytes()) else {
        return Content::Absent;
    };
    let after = &blocks[at + open.len()..];
    let end = format!("\n{} ", marks.line(&format!("read{suffix}")));
    // The `read` block comes last: its end is the last marker (the token is random, so no
    // content holds one; the tests show the data stays exact anyway).
    let found = if suffix.is_empty() {
        after.windows(end.len()).rposition(|w| w == end.as_bytes())
    } else {
        find(after, end.as_bytes())
    };
    let Some(i) = found else {
        return Content::Absent;
    };
    let rest = &after[i + end.len()..];
    let rc_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let rc = String::from_utf8_lossy(&rest[..rc_end]);
    if rc.trim() == "0" {
        Content::Bytes(after[..i].to_vec())
    } else {
        Content::Unreadable(stderr.trim().to_string())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
            "echo '@@T:observe'\necho '@@T:s.id'\n{\nid '-u'\n}\nr=$?; echo; echo '@@T:rc.id'\necho \"$r\"\necho '@@T:content'\nif [ -f '/etc/a b' ]; then cat -- '/etc/a b'; r=$?; echo; echo \"@@T:read $r\"; fi\n"
        );
        // Content with a marker-like line and no final newline stays exact.
        let tail = b"@@T:s.id\n0\n\n@@T:rc.id\n3\n@@T:content\nx\n@@T:read 7\ny\n@@T:read 0\n";
        let o = split(&m, Probe::default(), tail, "", 0);
        assert_eq!(o.section("id"), "0\n");
        assert_eq!(o.code("id"), Some(3));
        assert_eq!(o.content, Content::Bytes(b"x\n@@T:read 7\ny".to_vec()));
        let o = split(
            &m,
            Probe::default(),
            b"@@T:content\n\n@@T:read 1\n",
            "cat: denied\n",
            0,
        );
        assert_eq!(o.content, Content::Unreadable("cat: denied".into()));
        let o = split(&m, Probe::default(), b"@@T:content\n", "", 0);
        assert_eq!(o.content, Content::Absent);
        // Heads, each framed, before the read; one of them not a file.
        let tail = b"@@T:s.a\n1\n@@T:rc.a\n0\n@@T:content.1\nab\n@@T:read.1 0\n@@T:content\nz\n@@T:read 0\n";
        let o = split(&m, Probe::default(), tail, "", 2);
        assert_eq!(o.section("a"), "1\n");
        assert_eq!(o.heads, [Content::Absent, Content::Bytes(b"ab".to_vec())]);
        assert_eq!(o.content, Content::Bytes(b"z".to_vec()));
    }
}
