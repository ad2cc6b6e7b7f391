//! `blockinfile`: a block of lines between two marker lines inserted, replaced or removed,
//! by Ansible's algorithm (`insertafter`/`insertbefore` only place a block whose markers are
//! not there yet; `prepend_newline`/`append_newline`). The look, attributes, diff and atomic
//! write are the in-place edit of `fileops::TextEdit`.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::{DiffStyle, EditChange, TextEdit};
use super::{Args, Plan, Spec};
use crate::pyre::Re;
use anyhow::Result;

pub struct BlockInFile;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "state",
        "marker",
        "block",
        "insertafter",
        "insertbefore",
        "create",
        "backup",
        "validate",
        "marker_begin",
        "marker_end",
        "append_newline",
        "prepend_newline",
    ],
    aliases: &[
        ("dest", "path"),
        ("destfile", "path"),
        ("name", "path"),
        ("content", "block"),
    ],
    free_form: None,
    any_args: false,
    file_args: true,
};

/// Where a block whose markers are not in the file goes.
enum Place {
    Eof,
    Bof,
    /// After (`true`) or before the last line matching; the whole file when the pattern sets
    /// `(?m)` itself (then the first match).
    Re(Re, bool, bool),
}

/// `blockinfile`'s arguments, typed.
pub struct BlockArgs {
    file: TextEdit,
    present: bool,
    /// The marker lines, with their `\n`.
    begin: Vec<u8>,
    end: Vec<u8>,
    block: Vec<u8>,
    place: Place,
    create: bool,
    append_newline: bool,
    prepend_newline: bool,
}

/// Whether a pattern turns on `MULTILINE` itself (`(?m)...`), which Ansible checks to search
/// the whole file instead of line by line.
fn sets_multiline(pattern: &str) -> bool {
    pattern.strip_prefix("(?").is_some_and(|rest| {
        rest.chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 'm')
    })
}

impl Typed for BlockInFile {
    type Args = BlockArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "blockinfile"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        super::fileops::path_ahead(args)
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<BlockArgs> {
        let path = host.expand_path(&args.req_str("path")?)?;
        let present = args.choice("state", &["present", "absent"], "present")? == "present";
        if args.has("insertbefore") && args.has("insertafter") {
            return Err(Failure::new(
                "parameters are mutually exclusive: insertbefore|insertafter",
            )
            .into());
        }
        let marker = args
            .str("marker")
            .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
        let line = |key: &str, default: &str| {
            let mark = args.str(key).unwrap_or_else(|| default.into());
            let mut l = marker.replace("{mark}", &mark).into_bytes();
            l.push(b'\n');
            l
        };
        let compile = |key: &str, pattern: &str, after: bool| -> Result<Place> {
            let multiline = sets_multiline(pattern);
            let re = Re::new(pattern, false, false).map_err(|e| {
                Failure::new(format!(
                    "invalid `{key}` regular expression `{pattern}`: {e}"
                ))
            })?;
            Ok(Place::Re(re, after, multiline))
        };
        let place = match (args.str("insertafter"), args.str("insertbefore")) {
            (Some(a), _) if a != "EOF" => compile("insertafter", &a, true)?,
            (None, Some(b)) if b == "BOF" => Place::Bof,
            (None, Some(b)) => compile("insertbefore", &b, false)?,
            _ => Place::Eof,
        };
        Ok(BlockArgs {
            file: TextEdit::from_args(args, path, DiffStyle::Listed, true)?,
            present,
            begin: line("marker_begin", "BEGIN"),
            end: line("marker_end", "END"),
            block: args.str("block").unwrap_or_default().into_bytes(),
            place,
            create: args.bool_or("create", false)?,
            append_newline: args.bool_or("append_newline", false)?,
            prepend_newline: args.bool_or("prepend_newline", false)?,
        })
    }

    fn observe(&self, a: &BlockArgs) -> Observe {
        a.file.observe()
    }

    fn decide(&self, a: &BlockArgs, seen: &Observed) -> Outcome<EditChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &BlockArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(&self, _a: &BlockArgs, _c: &EditChange, done: &Done, r: Plan) -> Plan {
        super::fileops::content_finish(done, r)
    }
}

/// Python's `bytes.splitlines(True)`: lines end at `\n`, `\r\n` or `\r`, and keep it.
fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        let end = match data[i] {
            b'\n' => i + 1,
            b'\r' if data.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        lines.push(data[start..end].to_vec());
        start = end;
        i = end;
    }
    if start < data.len() {
        lines.push(data[start..].to_vec());
    }
    lines
}

/// The new content, by Ansible's algorithm.
pub fn edit(a: &BlockArgs, original: &[u8]) -> Vec<u8> {
    let mut lines = split_lines(original);
    let blocklines: Vec<Vec<u8>> = if a.present && !a.block.is_empty() {
        let mut block = a.block.clone();
        if !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        let mut v = vec![a.begin.clone()];
        v.extend(split_lines(&block));
        v.push(a.end.clone());
        v
    } else {
        Vec::new()
    };
    let (mut n0, mut n1) = (None, None);
    for (i, line) in lines.iter().enumerate() {
        if *line == a.begin {
            n0 = Some(i);
        }
        if *line == a.end {
            n1 = Some(i);
        }
    }
    let mut at = match (n0, n1) {
        (Some(b), Some(e)) if b < e => {
            lines.drain(b..=e);
            b
        }
        (Some(b), Some(e)) => {
            lines.drain(e..=b);
            e
        }
        _ => match &a.place {
            Place::Eof => lines.len(),
            Place::Bof => 0,
            Place::Re(re, after, multiline) => {
                let mut found = None;
                if *multiline {
                    if let Some(c) = re.captures(original) {
                        let (s, e) = c[0].unwrap_or_default();
                        let upto = if *after { e } else { s };
                        found = Some(original[..upto].iter().filter(|b| **b == b'\n').count());
                    }
                } else {
                    for (i, line) in lines.iter().enumerate() {
                        // `$` matches before a final `\n`, as in Python.
                        let body = line.strip_suffix(b"\n").unwrap_or(line);
                        if re.is_match(body) {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(n) if *after => n + 1,
                    Some(n) => n,
                }
            }
        },
    };
    if at > 0 && !lines[at - 1].ends_with(b"\n") {
        lines[at - 1].push(b'\n');
    }
    if a.prepend_newline && a.present && at != 0 && lines[at - 1] != b"\n" {
        lines.insert(at, b"\n".to_vec());
        at += 1;
    }
    let count = blocklines.len();
    lines.splice(at..at, blocklines);
    if a.append_newline && a.present {
        let after = at + count;
        if after < lines.len() && lines[after] != b"\n" {
            lines.insert(after, b"\n".to_vec());
        }
    }
    lines.concat()
}

fn decide(a: &BlockArgs, seen: &Observed) -> Result<Outcome<EditChange>, Failure> {
    let cur = a.file.current(seen)?;
    let path = &a.file.path;
    if !cur.exists {
        if !a.create {
            return Err(Failure::new(format!("Path {path} does not exist !")).with("rc", 257));
        }
        if !a.present {
            let msg = format!("File {path} not present");
            return Ok(Outcome::Unchanged(Plan::unchanged().with_msg(msg)));
        }
    }
    let result = edit(a, &cur.content);
    let (after, msg) = if cur.exists && result == cur.content {
        (None, "")
    } else if !cur.exists {
        (Some(result), "File created")
    } else if !a.present || a.block.is_empty() {
        (Some(result), "Block removed")
    } else {
        (Some(result), "Block inserted")
    };
    let mut report = Plan::unchanged();
    if !cur.exists {
        // Ansible's check mode stops before the attributes of a file it would create.
        report.check_msg = Some(msg.to_string());
    }
    a.file.outcome(seen, &cur, after, msg.to_string(), report)
}
