//! The one wildcard matcher: `*` matches any run of characters (none included), `?` any one
//! character, everything else itself. Used for ssh_config `Host` patterns, known_hosts
//! patterns, `fileglob`/`with_fileglob` names and apt's version patterns. (Inventory host
//! patterns, which also take character classes, go through a regular expression instead.)

/// Whether `text` matches `pattern` as a whole. Linear in practice: one backtrack point.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn stars_and_question_marks() {
        assert!(wildcard("a*b*c", "aXXbYYc") && !wildcard("a*b*c", "aXXbYY"));
        assert!(wildcard("10.0.?.*", "10.0.1.77"));
        assert!(wildcard("*", "") && wildcard("", "") && !wildcard("", "x"));
        assert!(wildcard("1.*-deb*", "1.2-debian3") && !wildcard("1.*", "2.0"));
        assert!(wildcard("ü?*", "üxyz") && !wildcard("a?c", "ac"));
        // No exponential backtracking.
        assert!(!wildcard(&"*a".repeat(30), &"a".repeat(29)));
    }
}
