//! `find`: the files under paths that match names, type, age, size, mode and content, with
//! Ansible's result (`files` with each entry's stat keys, `matched`, `examined`, `msg`,
//! `skipped_paths`). One look lists every path with GNU `find` (its `-printf` records); the
//! filters are pure; `contains` (with `grep -P` on the host, Perl's regular expressions,
//! which read Python's alike) and `get_checksum` take one further look at the candidates.
//! It changes nothing.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{symbolic_to_octal, Alg};
use super::{Args, Plan, Spec};
use crate::pyre::Re;
use anyhow::Result;
use minijinja::Value;
use std::convert::Infallible;

mod entries;

use entries::{age_ok, name_matches, size_ok, with_unit, Entry, Patterns};

pub struct Find;

static SPEC: Spec = Spec {
    args: &[
        "paths",
        "patterns",
        "excludes",
        "contains",
        "read_whole_file",
        "file_type",
        "age",
        "age_stamp",
        "size",
        "recurse",
        "hidden",
        "follow",
        "get_checksum",
        "checksum_algorithm",
        "use_regex",
        "depth",
        "mode",
        "exact_mode",
        "encoding",
        "limit",
    ],
    aliases: &[
        ("name", "paths"),
        ("path", "paths"),
        ("pattern", "patterns"),
        ("exclude", "excludes"),
        ("checksum", "checksum_algorithm"),
        ("checksum_algo", "checksum_algorithm"),
    ],
    free_form: None,
    any_args: false,
};

/// `find`'s arguments, typed.
pub struct FindArgs {
    paths: Vec<String>,
    patterns: Patterns,
    excludes: Option<Patterns>,
    contains: Option<String>,
    /// What the files are read as (`iconv`'s name for it); UTF-8 when not given.
    encoding: Option<String>,
    whole_file: bool,
    file_type: String,
    age: Option<i64>,
    age_stamp: String,
    size: Option<i64>,
    recurse: bool,
    hidden: bool,
    follow: bool,
    checksum: Option<Alg>,
    depth: Option<usize>,
    /// The mode bits to look for, and whether all of them exactly.
    mode: Option<(u32, bool)>,
    limit: Option<usize>,
}

fn fail(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(msg).into()
}

fn patterns(list: Vec<String>, regex: bool) -> Result<Patterns> {
    if !regex {
        return Ok(Patterns::Glob(list));
    }
    list.iter()
        .map(|p| Re::new(&format!("^(?:{p})"), false, false).map_err(|e| fail(e.to_string())))
        .collect::<Result<_>>()
        .map(Patterns::Regex)
}

impl Typed for Find {
    type Args = FindArgs;
    type Change = Infallible;

    fn name(&self) -> &'static str {
        "find"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<FindArgs> {
        let mut paths = Vec::new();
        for p in args.list("paths") {
            paths.push(host.expand_path(&p)?);
        }
        if paths.is_empty() {
            return Err(fail("missing required arguments: paths"));
        }
        let regex = args.bool_or("use_regex", false)?;
        let mut pats = args.list_untrimmed("patterns");
        if pats.is_empty() {
            pats.push(if regex { ".*" } else { "*" }.to_string());
        }
        let excludes = match args.list_untrimmed("excludes") {
            e if e.is_empty() => None,
            e => Some(patterns(e, regex)?),
        };
        let age = match args.str("age") {
            None => None,
            Some(a) => Some(
                with_unit(
                    &a,
                    &[
                        ('s', 1),
                        ('m', 60),
                        ('h', 3600),
                        ('d', 86400),
                        ('w', 604800),
                    ],
                )
                .ok_or_else(|| fail("failed to process age"))?,
            ),
        };
        let k = 1024i64;
        let size = match args.str("size") {
            None => None,
            Some(s) => Some(
                with_unit(
                    &s,
                    &[
                        ('b', 1),
                        ('k', k),
                        ('m', k * k),
                        ('g', k.pow(3)),
                        ('t', k.pow(4)),
                    ],
                )
                .ok_or_else(|| fail("failed to process size"))?,
            ),
        };
        let limit = match args.int("limit")? {
            Some(l) if l <= 0 => {
                return Err(fail(format!(
                    "limit cannot be {l} (use None for unlimited)"
                )))
            }
            l => l.map(|l| l.unsigned_abs() as usize),
        };
        let mode = match args.get("mode") {
            None => None,
            Some(v) if v.as_str().is_none() => {
                return Err(fail(format!(
                    "argument 'mode' is not a string and conversion is not allowed, value is of type {}",
                    crate::template::conditional::type_name(v)
                )))
            }
            Some(v) => {
                let text = v.as_str().unwrap_or_default();
                let bits = match u32::from_str_radix(text, 8) {
                    Ok(m) => m,
                    Err(_) => symbolic_to_octal(text, 0, false, 0)?,
                };
                Some((bits & 0o7777, args.bool_or("exact_mode", true)?))
            }
        };
        let checksum = if args.bool_or("get_checksum", false)? {
            let name = args.choice(
                "checksum_algorithm",
                &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
                "sha1",
            )?;
            Alg::parse(&name)
        } else {
            None
        };
        Ok(FindArgs {
            paths,
            patterns: patterns(pats, regex)?,
            excludes,
            contains: args.str("contains"),
            encoding: args.str("encoding"),
            whole_file: args.bool_or("read_whole_file", false)?,
            file_type: args.choice("file_type", &["any", "directory", "file", "link"], "file")?,
            age,
            age_stamp: args.choice("age_stamp", &["atime", "ctime", "mtime"], "mtime")?,
            size,
            recurse: args.bool_or("recurse", false)?,
            hidden: args.bool_or("hidden", false)?,
            follow: args.bool_or("follow", false)?,
            checksum,
            depth: args.int("depth")?.filter(|d| *d > 0).map(|d| d as usize),
            mode,
            limit,
        })
    }

    fn observe(&self, a: &FindArgs) -> Observe {
        let mut sections = vec![("now", Script::new().raw("date +%s"))];
        // os.walk looks one level past `depth` (it lists a directory before it drops it).
        let max = match (a.recurse, a.depth) {
            (false, _) => Some(1),
            (true, Some(d)) => Some(d + 1),
            (true, None) => None,
        };
        for (i, p) in a.paths.iter().enumerate() {
            let mut s = Script::new()
                .raw("if [ -d")
                .arg(p)
                .raw(" ]; then e=$(mktemp) && { LC_ALL=C find")
                .raw(if a.follow { " -L" } else { " -H" })
                .arg(p)
                .raw(" -mindepth 1");
            if let Some(m) = max {
                s = s.raw(" -maxdepth").arg(&m.to_string());
            }
            s = s.raw(" -printf").arg(entries::FORMAT).raw(
                " 2>\"$e\"; printf '\\0'; cat \"$e\"; rm -f \"$e\"; }; else echo notdir; fi\n",
            );
            sections.push((SECTION_NAMES[i.min(SECTION_NAMES.len() - 1)], s));
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    fn observe_again(&self, a: &FindArgs, seen: &Observed) -> Option<Observe> {
        if seen.sections.contains_key("grep") || seen.sections.contains_key("sums") {
            return None;
        }
        let found = select(a, seen, None, None).files;
        let regular: Vec<&Entry> = found.iter().filter(|e| e.kind == 'f').collect();
        let mut sections = Vec::new();
        let contains = a.contains.as_ref().filter(|_| a.file_type == "file");
        if let (Some(pattern), false) = (contains, regular.is_empty()) {
            // Each file read in its encoding (`iconv`, as Python's `open(encoding=)` reads it;
            // UTF-8 by default): `!PATH` when that fails, `+PATH` when it matches (re.match
            // at a line's start, or re.search in the whole file: `-z` makes it one record).
            let enc = a.encoding.as_deref().unwrap_or("UTF-8");
            let mut s = Script::new()
                .raw("iconv -f")
                .arg(enc)
                .raw(" -t UTF-8 </dev/null >/dev/null 2>&1 || printf '?\\0'; for f in");
            for e in &regular {
                s = s.arg(&e.path);
            }
            s = s
                .raw("; do if iconv -f")
                .arg(a.encoding.as_deref().unwrap_or("UTF-8"))
                .raw(" -t UTF-8 -- \"$f\" >/dev/null 2>&1; then iconv -f")
                .arg(a.encoding.as_deref().unwrap_or("UTF-8"))
                .raw(" -t UTF-8 -- \"$f\" | LC_ALL=C.UTF-8 grep -q")
                .raw(if a.whole_file { "zP" } else { "P" })
                .raw(" -e")
                .arg(&if a.whole_file {
                    python_dollar(pattern)
                } else {
                    format!("^(?:{pattern})")
                })
                .raw(" 2>/dev/null && printf '+%s\\0' \"$f\"; elif [ -r \"$f\" ]; then printf '!%s\\0' \"$f\"; fi; done; :");
            sections.push(("grep", s));
        }
        if let (Some(alg), false) = (a.checksum, regular.is_empty()) {
            let mut s = Script::new().raw("for f in");
            for e in &regular {
                s = s.arg(&e.path);
            }
            s = s
                .raw("; do printf '%s\\0' \"$(")
                .raw(alg.tool())
                .raw(" < \"$f\" | cut -d' ' -f1)\"; done; :");
            sections.push(("sums", s));
        }
        (!sections.is_empty()).then(|| Observe {
            sections,
            ..Observe::default()
        })
    }

    fn decide(&self, a: &FindArgs, seen: &Observed) -> Outcome<Infallible> {
        let grep: Option<Vec<&str>> = seen
            .sections
            .get("grep")
            .map(|s| s.split('\0').filter(|p| !p.is_empty()).collect());
        let found = select(a, seen, grep.as_deref(), a.limit);
        // The checksums come in the order of the regular files the further look named.
        let sums: Vec<&str> = seen.section("sums").split('\0').collect();
        let all_regular: Vec<String> = select(a, seen, None, None)
            .files
            .into_iter()
            .filter(|e| e.kind == 'f')
            .map(|e| e.path)
            .collect();
        let files: Vec<Value> = found
            .files
            .iter()
            .map(|e| {
                let sum = a
                    .checksum
                    .filter(|_| e.kind == 'f')
                    .and_then(|_| all_regular.iter().position(|p| *p == e.path))
                    .and_then(|i| sums.get(i).copied());
                e.value(sum)
            })
            .collect();
        let msg = if !found.skipped.is_empty() {
            "Not all paths examined, check warnings for details"
        } else if found.limited {
            "Limit of matches reached"
        } else {
            "All paths examined"
        };
        let skipped = crate::vars::map_value(
            found
                .skipped
                .iter()
                .map(|(p, why)| (p.clone(), Value::from(why.as_str()))),
        );
        let warnings: Vec<String> = found
            .skipped
            .iter()
            .map(|(p, why)| format!("Skipped '{p}' path due to this access issue: {why}\n"))
            .collect();
        let mut report = Plan::unchanged()
            .with_value("matched", files.len())
            .with_value("files", files)
            .with_value("msg", msg)
            .with_value("examined", found.examined)
            .with_value("skipped_paths", skipped);
        if !warnings.is_empty() {
            report = report.with_value("warnings", warnings);
        }
        report.msg = Some(msg.into());
        Outcome::Unchanged(report)
    }

    fn apply(&self, _a: &FindArgs, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}

/// Section names for the searched paths (a task names a handful).
const SECTION_NAMES: [&str; 16] = [
    "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14",
    "p15",
];

/// What the filters let through.
struct Found {
    files: Vec<Entry>,
    skipped: Vec<(String, String)>,
    examined: usize,
    limited: bool,
}

/// Ansible's walk and filters over the listings, up to `limit` matches; `grep` (when the
/// further look ran) names the files whose content matched.
fn select(a: &FindArgs, seen: &Observed, grep: Option<&[&str]>, limit: Option<usize>) -> Found {
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
fn python_dollar(pattern: &str) -> String {
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
