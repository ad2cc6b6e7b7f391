//! Unified diffs of before/after text for `--diff`.

use similar::TextDiff;

/// A unified diff with three lines of context; empty when the texts are equal.
pub fn unified_diff(before: &str, after: &str, before_header: &str, after_header: &str) -> String {
    if before == after {
        return String::new();
    }
    let diff = TextDiff::from_lines(before, after);
    let mut out = diff
        .unified_diff()
        .context_radius(3)
        .header(before_header, after_header)
        .to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines() {
        let d = unified_diff("a\nb\n", "a\nc\n", "before: /f", "after: /f");
        assert!(d.contains("--- before: /f\n+++ after: /f\n"), "{d}");
        assert!(d.contains("-b\n+c\n"), "{d}");
        assert_eq!(unified_diff("x", "x", "a", "b"), "");
    }
}
