//! Ansible's line editing, byte for byte and pure (table-tested): `present` (insert or replace,
//! with `insertbefore`/`insertafter`, `backrefs`, `firstmatch`) and `absent`.

use super::*;

/// Where to insert when nothing matches.
#[derive(Clone, Debug)]
pub enum Anchor {
    Bof,
    Eof,
    Re(Regex),
}

/// The inputs of Ansible's `present()`.
#[derive(Clone, Debug)]
pub struct PresentOpts {
    pub regexp: Option<Regex>,
    pub search_string: Option<Vec<u8>>,
    pub line: Vec<u8>,
    pub insertafter: Option<Anchor>,
    pub insertbefore: Option<Anchor>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

/// Splits like Python's `readlines()` on bytes: each line keeps its `\n`.
pub fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A line without its final `\n`, so `$` matches where Python's `$` would.
pub(super) fn body(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

pub(super) fn rstrip_crlf(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn ends_with_eol(lines: &[Vec<u8>]) -> bool {
    lines
        .last()
        .and_then(|l| l.last())
        .is_none_or(|b| *b == b'\n' || *b == b'\r')
}

pub(super) fn with_eol(line: &[u8]) -> Vec<u8> {
    let mut v = line.to_vec();
    v.push(b'\n');
    v
}

/// Ansible's `present()` on a file's lines: the new lines, whether they changed, and the
/// message (`line added`, `line replaced`, or empty).
pub fn present(mut lines: Vec<Vec<u8>>, o: &PresentOpts) -> (Vec<Vec<u8>>, bool, &'static str) {
    let mut index: [i64; 2] = [-1, -1];
    let mut matched = false;
    let mut captures_line: Option<usize> = None;

    if let Some(re) = &o.regexp {
        for (n, cur) in lines.iter().enumerate() {
            if re.is_match(body(cur)) {
                index[0] = n as i64;
                matched = true;
                captures_line = Some(n);
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &o.search_string {
        for (n, cur) in lines.iter().enumerate() {
            if contains(cur, s) {
                index[0] = n as i64;
                matched = true;
                if o.firstmatch {
                    break;
                }
            }
        }
    }
    let ins_re = match (&o.insertafter, &o.insertbefore) {
        (Some(Anchor::Re(r)), _) => Some(r),
        (None, Some(Anchor::Re(r))) => Some(r),
        _ => None,
    };
    if !matched {
        for (n, cur) in lines.iter().enumerate() {
            if rstrip_crlf(cur) == o.line.as_slice() {
                index[0] = n as i64;
            } else if ins_re.is_some_and(|r| r.is_match(body(cur))) {
                if o.insertafter.is_some() {
                    index[1] = n as i64 + 1;
                    if o.firstmatch {
                        break;
                    }
                }
                if o.insertbefore.is_some() {
                    index[1] = n as i64;
                    if o.firstmatch {
                        break;
                    }
                }
            }
        }
    }

    let line = o.line.as_slice();
    let is_bof = |a: &Option<Anchor>| matches!(a, Some(Anchor::Bof));
    let is_eof = |a: &Option<Anchor>| matches!(a, Some(Anchor::Eof));
    if index[0] != -1 {
        let i = index[0] as usize;
        let new_line = match (o.backrefs, &o.regexp, captures_line) {
            (true, Some(re), Some(n)) => {
                // Python's `match.expand(line)`.
                let hay = body(&lines[n]);
                match (
                    re.captures(hay),
                    Template::parse(&String::from_utf8_lossy(line), re),
                ) {
                    (Some(caps), Ok(t)) => t.expand(hay, &caps),
                    _ => Vec::new(),
                }
            }
            _ => line.to_vec(),
        };
        let new_line = if new_line.ends_with(b"\n") {
            new_line
        } else {
            with_eol(&new_line)
        };
        if lines[i] != new_line {
            lines[i] = new_line;
            return (lines, true, "line replaced");
        }
        return (lines, false, "");
    }
    if o.backrefs {
        return (lines, false, "");
    }
    if is_bof(&o.insertbefore) || is_bof(&o.insertafter) {
        lines.insert(0, with_eol(line));
        return (lines, true, "line added");
    }
    if is_eof(&o.insertafter) || index[1] == -1 {
        if !ends_with_eol(&lines) {
            lines.push(b"\n".to_vec());
        }
        lines.push(with_eol(line));
        return (lines, true, "line added");
    }
    let at = index[1] as usize;
    if o.insertafter.is_some() {
        if lines.len() == at {
            if rstrip_crlf(&lines[at - 1]) != line {
                lines.push(with_eol(line));
                return (lines, true, "line added");
            }
        } else if rstrip_crlf(&lines[at]) != line {
            lines.insert(at, with_eol(line));
            return (lines, true, "line added");
        }
        return (lines, false, "");
    }
    lines.insert(at, with_eol(line));
    (lines, true, "line added")
}

/// What `absent()` matches lines by.
#[derive(Clone, Debug)]
pub enum AbsentBy {
    Re(Regex),
    Search(Vec<u8>),
    Line(Vec<u8>),
}

/// Ansible's `absent()`: the remaining lines and how many were removed.
pub fn absent(lines: Vec<Vec<u8>>, by: &AbsentBy) -> (Vec<Vec<u8>>, usize) {
    let before = lines.len();
    let kept: Vec<Vec<u8>> = lines
        .into_iter()
        .filter(|cur| !match by {
            AbsentBy::Re(r) => r.is_match(body(cur)),
            AbsentBy::Search(s) => contains(cur, s),
            AbsentBy::Line(l) => rstrip_crlf(cur) == l.as_slice(),
        })
        .collect();
    let found = before - kept.len();
    (kept, found)
}
