//! `find`'s walk over the listings: Ansible's `os.walk` order and filters, and the `grep -P`
//! form of its content patterns.

use super::entries::{self, age_ok, name_matches, size_ok, Entry};
use super::FindArgs;
use crate::modules::contract::Observed;

/// Section names for the searched paths (a task names a handful).
pub(super) const SECTION_NAMES: [&str; 16] = [
    "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14",
    "p15",
];

/// What the filters let through.
pub(super) struct Found {
    pub files: Vec<Entry>,
    pub skipped: Vec<(String, String)>,
    pub examined: usize,
    pub limited: bool,
}

/// Ansible's walk and filters over the listings, up to `limit` matches; `grep` (when the
/// further look ran) names the files whose content matched.
pub(super) fn select(
    a: &FindArgs,
    seen: &Observed,
    grep: Option<&[&str]>,
    limit: Option<usize>,
) -> Found {
    let now: f64 = seen.section("now").trim().parse().unwrap_or(0.0);
    let mut out = Found {
        files: Vec::new(),
        skipped: Vec::new(),
        examined: 0,
        limited: false,
    };
    for (i, path) in a.paths.iter().enumerate() {
        let text = seen.section(SECTION_NAMES[i.min(SECTION_NAMES.len() - 1)]);
        if text.trim_end() == "notdir" {
            out.skipped
                .push((path.clone(), format!("'{path}' is not a directory")));
            continue;
        }
        let listing = entries::parse(text);
        out.skipped.extend(listing.skipped);
        let examined = std::cell::Cell::new(0);
        for e in walk_order(path, listing.entries, &examined) {
            if a.depth.is_some_and(|d| e.depth > d) {
                continue;
            }
            if e.name().starts_with('.') && !a.hidden {
                continue;
            }
            let stamp = match a.age_stamp.as_str() {
                "atime" => e.atime,
                "ctime" => e.ctime,
                _ => e.mtime,
            };
            let mode_ok = a.mode.is_none_or(|(bits, exact)| {
                let m = e.mode & 0o7777;
                if exact {
                    m == bits
                } else {
                    m & bits != 0
                }
            });
            let common = name_matches(e.name(), &a.patterns, a.excludes.as_ref())
                && age_ok(stamp, now, a.age)
                && mode_ok;
            let candidate = e.kind == 'f' && common && size_ok(e.size, a.size);
            let keep = match a.file_type.as_str() {
                "any" => common && (e.kind != 'f' || size_ok(e.size, a.size)),
                "directory" => e.kind == 'd' && common,
                "link" => e.kind == 'l' && common,
                _ if !candidate => false,
                _ => match (&a.contains, grep) {
                    (None, _) | (Some(_), None) => true,
                    (Some(_), Some(g)) => {
                        // An encoding Python does not know fails at the first file read, a
                        // file it cannot decode too: either ends the walk of this path.
                        if g.contains(&"?") {
                            let enc = a.encoding.as_deref().unwrap_or("utf-8");
                            out.skipped
                                .push((path.clone(), format!("unknown encoding: {enc}")));
                            break;
                        }
                        if g.contains(&format!("!{}", e.path).as_str()) {
                            let enc = a.encoding.as_deref().unwrap_or(
                                "None (default determined by the Python built-in function \"open\")",
                            );
                            out.skipped.push((
                                path.clone(),
                                format!(
                                    "Failed to read the file {} due to an encoding error. current encoding: {enc}",
                                    e.path
                                ),
                            ));
                            break;
                        }
                        g.contains(&format!("+{}", e.path).as_str())
                    }
                },
            };
            if keep {
                out.files.push(e);
                if limit == Some(out.files.len()) {
                    out.limited = true;
                    out.examined += examined.get();
                    return out;
                }
            }
        }
        out.examined += examined.get();
    }
    out
}

/// The entries in the order Ansible's `os.walk` visits them: each directory's entries (the
/// other entries first, then its directories), then each of its directories in turn. Adds
/// the entries of each directory to `examined` as it is walked, which the walk does lazily
/// (so that a `limit` reached early leaves the rest unexamined, as in Ansible).
fn walk_order<'a>(
    root: &str,
    listed: Vec<Entry>,
    examined: &'a std::cell::Cell<usize>,
) -> impl Iterator<Item = Entry> + 'a {
    let mut children: std::collections::HashMap<String, Vec<Entry>> = Default::default();
    for e in listed {
        let parent = e.path.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        children.entry(parent).or_default().push(e);
    }
    let mut stack = vec![root.trim_end_matches('/').to_string()];
    let mut pending: std::collections::VecDeque<Entry> = Default::default();
    std::iter::from_fn(move || loop {
        if let Some(e) = pending.pop_front() {
            return Some(e);
        }
        let dir = stack.pop()?;
        let mut here = children.remove(&dir).unwrap_or_default();
        examined.set(examined.get() + here.len());
        here.sort_by_key(|e| e.kind == 'd');
        for d in here.iter().rev().filter(|e| e.kind == 'd') {
            stack.push(d.path.clone());
        }
        pending.extend(here);
    })
}

/// Python's `$` (without `MULTILINE`: the end, or before a newline that ends the text) for
/// `grep -zP`, whose `$` is the end of the record only: `(?=\n?\z)`, outside classes; a
/// newline as `\n`.
pub(super) fn python_dollar(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let (mut escaped, mut in_class) = (false, false);
    for c in pattern.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                out.push(c);
                continue;
            }
            '\\' => escaped = true,
            '[' => in_class = true,
            ']' => in_class = false,
            '$' if !in_class => {
                out.push_str("(?=\\n?\\z)");
                continue;
            }
            // grep takes a newline as the end of one pattern: the escape says the same.
            '\n' => {
                out.push_str("\\n");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dollar_as_python_reads_it() {
        assert_eq!(super::python_dollar(r"OK$"), r"OK(?=\n?\z)");
        assert_eq!(super::python_dollar(r"a\$[$]"), r"a\$[$]");
        assert_eq!(super::python_dollar("has\na few"), r"has\na few");
    }
}
