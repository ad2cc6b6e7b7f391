//! Unified diffs of before/after text for `--diff`.

use crate::executor::HostResult;
use crate::modules::Diff;
use similar::{ChangeTag, TextDiff};

/// A unified diff with three lines of context; empty when the texts are equal. Terminal
/// control characters from the files (escape sequences, bells, carriage returns) are shown
/// escaped (`\x1b`), so a file's bytes cannot drive the terminal that shows its diff.
pub fn unified_diff(before: &str, after: &str, before_header: &str, after_header: &str) -> String {
    if before == after {
        return String::new();
    }
    let diff = TextDiff::from_lines(before, after);
    let out = diff
        .unified_diff()
        .context_radius(3)
        .header(before_header, after_header)
        .to_string();
    let mut out = escape_controls(&out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `text` with every control character but newline and tab written as `\xNN` (`\u{NN}`
/// for C1 controls).
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// What a result's diffs (its own and its loop items') amount to, without their text.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiffSummary {
    /// How many before/after pairs the task produced.
    pub count: usize,
    /// What the diffs are about (a file path, `packages`, ...), each once, in order.
    pub files: Vec<String>,
    pub lines_added: usize,
    pub lines_removed: usize,
}

impl DiffSummary {
    /// `None` when the result carries no diff.
    pub fn of(r: &HostResult) -> Option<DiffSummary> {
        let all: Vec<&Diff> = r
            .diffs
            .iter()
            .chain(r.items.iter().flat_map(|i| i.diffs.iter()))
            .collect();
        if all.is_empty() {
            return None;
        }
        let mut s = DiffSummary {
            count: all.len(),
            ..DiffSummary::default()
        };
        for d in all {
            // The before side names the target (the after side may name a source file).
            let name = if d.before_header.is_empty() {
                &d.after_header
            } else {
                &d.before_header
            };
            if !name.is_empty() && !s.files.contains(name) {
                s.files.push(name.clone());
            }
            for change in TextDiff::from_lines(&d.before, &d.after).iter_all_changes() {
                match change.tag() {
                    ChangeTag::Insert => s.lines_added += 1,
                    ChangeTag::Delete => s.lines_removed += 1,
                    ChangeTag::Equal => {}
                }
            }
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        let d = unified_diff("", "\x1b[31mred\x07\r\u{9b}2J\tok\n", "b", "a");
        assert!(d.contains("+\\x1b[31mred\\x07\\x0d"), "{d}");
        assert!(d.contains("\\u{9b}2J\tok\n"), "{d}");
        assert!(!d.contains('\x1b') && !d.contains('\x07') && !d.contains('\r'));
    }

    #[test]
    fn shows_changed_lines() {
        let d = unified_diff("a\nb\n", "a\nc\n", "before: /f", "after: /f");
        assert!(d.contains("--- before: /f\n+++ after: /f\n"), "{d}");
        assert!(d.contains("-b\n+c\n"), "{d}");
        assert_eq!(unified_diff("x", "x", "a", "b"), "");
    }
}
