//! What `find` sees on the host: one GNU `find -printf` record per entry (NUL-terminated,
//! the path last, so any byte but NUL may be in it), the errors it met, and Ansible's
//! filters and result keys for each entry (`statinfo`, `pfilter`, `agefilter`, ...).

use crate::pyre::Re;
use minijinja::Value;

/// The `-printf` format: type, mode bits, uid, gid, size, inode, device, links, atime,
/// mtime, ctime, owner name, group name, depth, path.
pub const FORMAT: &str =
    "%y\\t%m\\t%U\\t%G\\t%s\\t%i\\t%D\\t%n\\t%A@\\t%T@\\t%C@\\t%u\\t%g\\t%d\\t%p\\0";

/// One entry under a searched path.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// `f`, `d`, `l`, `c`, `b`, `p` or `s`.
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    pub atime: f64,
    pub mtime: f64,
    pub ctime: f64,
    pub owner: String,
    pub group: String,
    pub depth: usize,
    pub path: String,
}

impl Entry {
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Ansible's `statinfo` keys, with `path` (and `checksum` when given).
    pub fn value(&self, checksum: Option<&str>) -> Value {
        let m = self.mode;
        let bit = |b: u32| Value::from(m & b != 0);
        let mut v: Vec<(&str, Value)> = vec![
            ("path", Value::from(self.path.as_str())),
            ("mode", Value::from(format!("{:04o}", m & 0o7777))),
            ("isdir", Value::from(self.kind == 'd')),
            ("ischr", Value::from(self.kind == 'c')),
            ("isblk", Value::from(self.kind == 'b')),
            ("isreg", Value::from(self.kind == 'f')),
            ("isfifo", Value::from(self.kind == 'p')),
            ("islnk", Value::from(self.kind == 'l')),
            ("issock", Value::from(self.kind == 's')),
            ("uid", Value::from(self.uid)),
            ("gid", Value::from(self.gid)),
            ("size", Value::from(self.size)),
            ("inode", Value::from(self.inode)),
            ("dev", Value::from(self.dev)),
            ("nlink", Value::from(self.nlink)),
            ("atime", Value::from(self.atime)),
            ("mtime", Value::from(self.mtime)),
            ("ctime", Value::from(self.ctime)),
            ("gr_name", Value::from(self.group.as_str())),
            ("pw_name", Value::from(self.owner.as_str())),
            ("wusr", bit(0o200)),
            ("rusr", bit(0o400)),
            ("xusr", bit(0o100)),
            ("wgrp", bit(0o020)),
            ("rgrp", bit(0o040)),
            ("xgrp", bit(0o010)),
            ("woth", bit(0o002)),
            ("roth", bit(0o004)),
            ("xoth", bit(0o001)),
            ("isuid", bit(0o4000)),
            ("isgid", bit(0o2000)),
        ];
        if let Some(c) = checksum {
            v.push(("checksum", Value::from(c)));
        }
        crate::vars::map_value(v.into_iter().map(|(k, v)| (k.to_string(), v)))
    }
}

/// The listing of one searched path: its entries, and the paths `find` could not read
/// (Ansible's `skipped_paths`, with Python's message).
#[derive(Debug, Default, PartialEq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub skipped: Vec<(String, String)>,
}

/// Reads a section: the records, an empty record, then `find`'s error lines (C locale).
pub fn parse(text: &str) -> Listing {
    let mut listing = Listing::default();
    let mut chunks = text.split('\0');
    for chunk in chunks.by_ref() {
        if chunk.is_empty() {
            break;
        }
        if let Some(e) = record(chunk) {
            listing.entries.push(e);
        }
    }
    let errors: Vec<&str> = chunks.collect();
    for line in errors.join("").lines() {
        // `find: 'PATH': Permission denied`
        let Some(rest) = line.strip_prefix("find: '") else {
            continue;
        };
        if let Some((path, why)) = rest.rsplit_once("': ") {
            let errno = match why {
                "Permission denied" => "[Errno 13] ",
                "No such file or directory" => "[Errno 2] ",
                "Operation not permitted" => "[Errno 1] ",
                _ => "",
            };
            listing
                .skipped
                .push((path.to_string(), format!("{errno}{why}: '{path}'")));
        }
    }
    listing
}

fn record(chunk: &str) -> Option<Entry> {
    let mut f = chunk.splitn(15, '\t');
    let mut next = || f.next();
    let kind = next()?.chars().next()?;
    let mode = u32::from_str_radix(next()?, 8).ok()?;
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
    let float = |s: Option<&str>| s.and_then(|s| s.parse::<f64>().ok());
    let (uid, gid, size, inode, dev, nlink) = (
        num(next())?,
        num(next())?,
        num(next())?,
        num(next())?,
        num(next())?,
        num(next())?,
    );
    let (atime, mtime, ctime) = (float(next())?, float(next())?, float(next())?);
    let owner = next()?.to_string();
    let group = next()?.to_string();
    let depth = next()?.parse().ok()?;
    let path = next()?.to_string();
    // `find` prints the number for an id without a name; Ansible gives "".
    let named = |n: String, id: u64| {
        if n == id.to_string() {
            String::new()
        } else {
            n
        }
    };
    Some(Entry {
        kind,
        mode,
        uid,
        gid,
        size,
        inode,
        dev,
        nlink,
        atime,
        mtime,
        ctime,
        owner: named(owner, uid),
        group: named(group, gid),
        depth,
        path,
    })
}

/// How names are matched: shell patterns (`fnmatch`) or regular expressions matched at the
/// start (`re.match`).
pub enum Patterns {
    Glob(Vec<String>),
    Regex(Vec<Re>),
}

impl Patterns {
    fn any(&self, name: &str) -> bool {
        match self {
            Patterns::Glob(p) => p.iter().any(|p| crate::glob::fnmatch(p, name)),
            Patterns::Regex(r) => r.iter().any(|r| r.is_match(name.as_bytes())),
        }
    }
}

/// Ansible's `pfilter`: a name matches a pattern and no exclude.
pub fn name_matches(name: &str, patterns: &Patterns, excludes: Option<&Patterns>) -> bool {
    patterns.any(name) && !excludes.is_some_and(|e| e.any(name))
}

/// Ansible's `agefilter` (`age` seconds; negative: at most that old) and `sizefilter`.
pub fn age_ok(stamp: f64, now: f64, age: Option<i64>) -> bool {
    match age {
        None => true,
        Some(a) if a >= 0 => now - stamp >= a as f64,
        Some(a) => now - stamp <= a.unsigned_abs() as f64,
    }
}

pub fn size_ok(size: u64, want: Option<i64>) -> bool {
    match want {
        None => true,
        Some(s) if s >= 0 => size >= s.unsigned_abs(),
        Some(s) => size <= s.unsigned_abs(),
    }
}

/// `age` (`-3d`, `2w`, `30`) in seconds and `size` (`10m`, `-1k`) in bytes, as Ansible reads
/// them; `None` when the text is not one.
pub fn with_unit(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let t = text.to_ascii_lowercase();
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m = units.iter().find(|(u, _)| *u == c)?.1;
            (&t[..t.len() - 1], m)
        }
        _ => (t.as_str(), 1),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_errors() {
        let text = "f\t644\t0\t1234\t5\t12\t2049\t1\t1700000000.5\t1700000001.0000000000\t1700000002\troot\t1234\t1\t/srv/a\tb\n c\0d\t2755\t1000\t1000\t4096\t13\t2049\t2\t1\t2\t3\tapp\tapp\t1\t/srv/d\0\0find: '/srv/p': Permission denied\n";
        let l = parse(text);
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[0].path, "/srv/a\tb\n c");
        assert_eq!(l.entries[0].name(), "a\tb\n c");
        assert_eq!(l.entries[0].group, "", "a gid without a name");
        assert_eq!(l.entries[1].mode, 0o2755);
        assert_eq!(
            l.skipped,
            [(
                "/srv/p".to_string(),
                "[Errno 13] Permission denied: '/srv/p'".to_string()
            )]
        );
    }

    #[test]
    fn units_as_ansible_reads_them() {
        let age = [
            ('s', 1),
            ('m', 60),
            ('h', 3600),
            ('d', 86400),
            ('w', 604800),
        ];
        assert_eq!(with_unit("-2d", &age), Some(-172800));
        assert_eq!(with_unit("30", &age), Some(30));
        assert_eq!(with_unit("2x", &age), None);
        assert_eq!(with_unit("d", &age), None);
    }
}
