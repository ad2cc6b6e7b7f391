//! `find`: the files under paths that match names, type, age, size, mode and content, with
//! Ansible's result (`files` with each entry's stat keys, `matched`, `examined`, `msg`,
//! `skipped_paths`). One look lists every path with GNU `find` (its `-printf` records); the
//! filters are pure; `contains` (with `grep -P` on the host, Perl's regular expressions,
//! which read Python's alike) and `get_checksum` take one further look at the candidates.
//! It changes nothing.

use super::contract::{Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{symbolic_to_octal, Alg};
use super::{Args, Plan, Spec};
use crate::pyre::Re;
use anyhow::Result;
use minijinja::Value;
use std::convert::Infallible;

mod entries;
mod select;

use super::fileops::fail;
use entries::{with_unit, Entry, Patterns};
use select::{python_dollar, select, SECTION_NAMES};

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
    file_args: false,
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
