//! Looks made ahead: when a file task probes a host, the paths the next file tasks will probe
//! (the executor foresees them, `Module::looks_ahead`) are read in the same round trip, with
//! one `stat` for all of them and one checksum command for the files among them, instead of a
//! `stat` (and a checksum) per task. The next tasks' probes are answered from what was read,
//! exactly as their own probe would have printed it, while nothing can have changed: no command
//! other than a read-only probe ran on any host since (`connection::host_changes`), and the
//! look is at most `FRESH` old. A link, a path holding a newline or a backslash, or anything
//! else not read ahead is probed as before.

use super::*;
use crate::modules::contract::Script;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a look made ahead serves at most.
const FRESH: Duration = Duration::from_secs(2);

/// A path a later task will probe, and the checksum it will ask for.
#[derive(Clone, Debug, PartialEq)]
pub struct Ahead {
    pub path: String,
    pub sum: Option<Alg>,
}

impl Ahead {
    pub fn new(path: impl Into<String>, sum: Option<Alg>) -> Ahead {
        Ahead {
            path: path.into(),
            sum,
        }
    }
}

/// What a content write (`copy`, `template`) will probe: the destination (or the file of the
/// source's name in it, for a `dest` ending in `/`), that file inside it (a directory), and its
/// parent.
pub fn content_ahead(args: &crate::modules::Args) -> Option<Vec<Ahead>> {
    let dest = args.str("dest").filter(|d| d.starts_with('/'));
    let src = args.str("src");
    // A directory's tree and a source on the host are probed otherwise.
    let remote = args.get("remote_src").is_some_and(|v| v.is_true());
    let (Some(dest), false, false) = (dest, remote, src.as_ref().is_some_and(|s| s.ends_with('/')))
    else {
        return Some(Vec::new());
    };
    let base = src.as_deref().map(basename).unwrap_or_default();
    let first = dest_for_file(&dest, base);
    let mut out = vec![
        Ahead::new(&first, Some(Alg::Sha1)),
        Ahead::new(dirname(&first), None),
    ];
    if !base.is_empty() {
        out.push(Ahead::new(join(&first, base), Some(Alg::Sha1)));
    }
    Some(out)
}

/// What a task on the file at `path` (`file`, `lineinfile`, `blockinfile`, `replace`) will
/// probe.
pub fn path_ahead(args: &crate::modules::Args) -> Option<Vec<Ahead>> {
    let path = args.str("path").filter(|p| p.starts_with('/'));
    Some(path.map(|p| Ahead::new(p, None)).into_iter().collect())
}

/// One path as a look ahead saw it, without following links.
#[derive(Clone, Debug, Default, PartialEq)]
struct Seen {
    /// The `S` line and the stat fields, as the probe prints them; `None` when `stat` failed.
    stat: Option<String>,
    mode: u32,
    /// The access line (`A` and the letters of `r`, `w`, `x` that hold).
    access: String,
    /// The checksums asked: `None` when the path is no readable regular file (the probe
    /// prints none then).
    sums: Vec<(Alg, Option<String>)>,
}

/// What looks made ahead saw, for one connection.
#[derive(Debug, Default)]
pub struct Looks {
    changes: u64,
    at: Option<Instant>,
    as_user: String,
    seen: HashMap<String, Seen>,
    /// Probes the last look answered (the one that made it included).
    served: u32,
    /// Tasks to let pass before the next look, and how many after the last look that
    /// served no other task (doubling while looks keep serving none).
    skip: u32,
    backoff: u32,
}

impl Looks {
    /// Whether what was looked at still serves (see the module's comment).
    pub fn fresh(&self) -> bool {
        self.at.is_some_and(|t| t.elapsed() < FRESH)
            && self.changes == crate::connection::host_changes()
            && !self.seen.is_empty()
    }

    /// Whether a new look may be made now (what was looked at before no longer serves): not
    /// for a while after looks that served no task but the one that made them (a host where
    /// something changes at every task would only throw them away).
    pub fn may_look(&mut self) -> bool {
        if self.at.take().is_some() {
            self.seen.clear();
            if self.served <= 1 {
                self.backoff = (self.backoff * 2).clamp(2, 64);
                self.skip = self.backoff;
            } else {
                self.backoff = 0;
            }
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    /// Keeps what a look ahead saw; `changes` is the count taken before it was sent, at
    /// `sent`.
    fn keep(&mut self, as_user: &str, changes: u64, sent: Instant, seen: HashMap<String, Seen>) {
        self.changes = changes;
        self.at = Some(sent);
        self.as_user = as_user.to_string();
        self.seen = seen;
        self.served = 0;
    }

    /// Forgets what was seen (keeping how long to wait before the next look).
    pub fn forget(&mut self) {
        self.at = None;
        self.seen.clear();
    }

    /// The probe's answer for every item of `req`, as the probe script prints it (`tag`
    /// starting its own lines), or `None` when any item was not looked at ahead.
    pub(super) fn answer(&mut self, as_user: &str, req: &ProbeReq, tag: &str) -> Option<String> {
        let out = self.answer_all(as_user, req, tag)?;
        self.served += 1;
        Some(out)
    }

    fn answer_all(&self, as_user: &str, req: &ProbeReq, tag: &str) -> Option<String> {
        if !self.fresh() || self.as_user != as_user {
            return None;
        }
        let mut out = String::new();
        for it in &req.items {
            out.push_str(tag);
            out.push_str("P\n");
            if let Some(c) = &it.when {
                if !self.holds(c)? {
                    out.push_str("N\n");
                    continue;
                }
            }
            let s = self.seen.get(&it.path)?;
            let Some(stat) = &s.stat else {
                out.push_str("N\n");
                continue;
            };
            // A link is read as the probe reads one (its targets, followed or not).
            if s.mode & S_IFMT == S_IFLNK {
                return None;
            }
            out.push_str(stat);
            out.push_str(&s.access);
            out.push('\n');
            if let Some(alg) = it.checksum {
                if let (_, Some(sum)) = s.sums.iter().find(|(a, _)| *a == alg)? {
                    out.push_str(&format!("C {sum}  -\n"));
                }
            }
        }
        Some(out)
    }

    /// A probe item's condition, from what was seen (`None`: not known).
    fn holds(&self, c: &ProbeCond) -> Option<bool> {
        let path = match c {
            ProbeCond::IsDir(p) | ProbeCond::RealDir(p) | ProbeCond::Missing(p) => p,
        };
        let s = self.seen.get(path)?;
        let kind = s.stat.as_ref().map(|_| s.mode & S_IFMT);
        Some(match c {
            // `[ -d ]` follows a link: what it points to was not looked at.
            ProbeCond::IsDir(_) if kind == Some(S_IFLNK) => return None,
            ProbeCond::IsDir(_) | ProbeCond::RealDir(_) => kind == Some(S_IFDIR),
            ProbeCond::Missing(_) => kind.is_none(),
        })
    }
}

/// A look ahead: the paths, each once, and for each checksum tool the paths to sum.
#[derive(Debug)]
pub(super) struct LookAhead {
    paths: Vec<String>,
    sums: Vec<(Alg, Vec<String>)>,
}

impl LookAhead {
    /// The look at `ahead`; `None` when nothing in it can be looked at this way.
    pub(super) fn new(ahead: &[Ahead]) -> Option<LookAhead> {
        let mut paths: Vec<String> = Vec::new();
        let mut sums: Vec<(Alg, Vec<String>)> = Vec::new();
        // `sha1sum` escapes a name holding a backslash or a newline; `stat`'s name ends
        // at a line of its own.
        for a in ahead
            .iter()
            .filter(|a| !a.path.is_empty() && !a.path.contains(['\n', '\\']))
        {
            if !paths.contains(&a.path) {
                paths.push(a.path.clone());
            }
            if let Some(alg) = a.sum {
                let at = match sums.iter().position(|(x, _)| *x == alg) {
                    Some(i) => i,
                    None => {
                        sums.push((alg, Vec::new()));
                        sums.len() - 1
                    }
                };
                if !sums[at].1.contains(&a.path) {
                    sums[at].1.push(a.path.clone());
                }
            }
        }
        (!paths.is_empty()).then_some(LookAhead { paths, sums })
    }

    /// The script (read-only, builtins but for one `stat` and one command per checksum tool;
    /// it sets only `p`, which the inline end unsets). `tag` starts its own lines.
    pub(super) fn script(&self, tag: &str) -> Script {
        let mut s = Script::new().raw("printf '%sPF\\n' \"$tg\"\n");
        // The files' checksums first: reading a file may change its access time, which the
        // `stat` after them then shows, as a later task's own probe would.
        for (alg, files) in &self.sums {
            // Only readable regular files, as the probe: a FIFO or a device is never read.
            // The function keeps the list in its own positional parameters.
            s = s
                .raw("printf '%sPC ")
                .raw(alg.tool())
                .raw("\\n' \"$tg\"\n")
                .raw("drover_sums() { set --; for p in");
            for p in files {
                s = s.arg(p);
            }
            s = s
                .raw("; do [ -f \"$p\" ] && [ -r \"$p\" ] && ! [ -L \"$p\" ] && set -- \"$@\" \"$p\"; done; [ $# -eq 0 ] || ")
                .raw(alg.tool())
                .raw(" -- \"$@\" 2>/dev/null; }; drover_sums; unset -f drover_sums\n");
        }
        let fmt = format!("{STAT_FMT}\n%n\n{tag}E");
        s = s
            .raw("printf '%sPS\\n' \"$tg\"\nstat -c")
            .arg(&fmt)
            .raw(" --");
        for p in &self.paths {
            s = s.arg(p);
        }
        s = s.raw(" 2>/dev/null\nprintf '%sPA\\n' \"$tg\"\nfor p in");
        for p in &self.paths {
            s = s.arg(p);
        }
        s.raw("; do printf A; [ -r \"$p\" ] && printf r; [ -w \"$p\" ] && printf w; [ -x \"$p\" ] && printf x; echo; done\n")
    }

    /// What the script printed (from its first line on), path by path; `None` when the
    /// answer does not read as expected (nothing is kept then).
    fn read(&self, text: &str, tag: &str) -> Option<HashMap<String, Seen>> {
        let lines: Vec<&str> = text.lines().collect();
        let own = |l: &str, what: &str| l.strip_prefix(tag) == Some(what);
        let mut i = lines.iter().position(|l| own(l, "PS"))? + 1;
        let mut seen: HashMap<String, Seen> = HashMap::new();
        // `stat`: a record per path it could read, in order: `S`, the fields, the name.
        let mut next = 0;
        while i < lines.len() && !own(lines[i], "PA") {
            if lines[i] != "S" {
                return None;
            }
            let fields = lines.get(i + 1..i + 1 + STAT_LINES)?;
            i += 1 + STAT_LINES;
            let end = (i..lines.len()).find(|&j| own(lines[j], "E"))?;
            let name = lines[i..end].join("\n");
            i = end + 1;
            let at = next + self.paths[next..].iter().position(|p| *p == name)?;
            next = at + 1;
            let mut stat = String::from("S\n");
            for f in fields {
                stat.push_str(f);
                stat.push('\n');
            }
            seen.insert(
                name,
                Seen {
                    stat: Some(stat),
                    mode: u32::from_str_radix(fields[0], 16).ok()?,
                    ..Seen::default()
                },
            );
        }
        i += 1;
        // The access lines, one per path.
        for p in &self.paths {
            let access = lines.get(i).filter(|l| l.starts_with('A'))?;
            i += 1;
            seen.entry(p.clone()).or_default().access = access.to_string();
        }
        // The checksums: `HASH  NAME` lines after each tool's header.
        for (alg, files) in &self.sums {
            let head = format!("PC {}", alg.tool());
            let start = lines.iter().position(|l| own(l, &head))? + 1;
            let mut found: HashMap<&str, &str> = HashMap::new();
            for l in lines[start..].iter().take_while(|l| !l.starts_with(tag)) {
                let (hash, name) = l.split_once(' ')?;
                found.insert(name.get(1..)?, hash);
            }
            for f in files {
                let s = seen.get_mut(f)?;
                let eligible =
                    s.stat.is_some() && s.mode & S_IFMT == S_IFREG && s.access.contains('r');
                match (found.get(f.as_str()), eligible) {
                    (Some(h), true) => s.sums.push((*alg, Some(h.to_string()))),
                    (None, false) => s.sums.push((*alg, None)),
                    // A file that could not be summed (or a sum of what the probe would not
                    // sum): its own probe reads it.
                    _ => {}
                }
            }
        }
        Some(seen)
    }
}

/// Keeps what the look ahead `look` printed (`text`, from its first line) for `as_user`;
/// `changes` is the count of possible changes taken before the look was sent, at `sent`.
pub(super) fn keep_looks(
    ctx: &mut ModuleCtx,
    look: &LookAhead,
    text: &str,
    tag: &str,
    as_user: &str,
    changes: u64,
    sent: Instant,
) -> Result<()> {
    let looks = &mut ctx.conn()?.memo().looks;
    match look.read(text, tag) {
        Some(seen) => looks.keep(as_user, changes, sent, seen),
        None => looks.forget(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_ahead_reads_each_path_once() {
        let look = LookAhead::new(&[
            Ahead::new("/a b", Some(Alg::Sha1)),
            Ahead::new("/a b", None),
            Ahead::new("/c", None),
            Ahead::new("/new\nline", None),
            Ahead::new("/back\\slash", Some(Alg::Sha1)),
        ])
        .unwrap();
        assert_eq!(look.paths, ["/a b", "/c"]);
        assert_eq!(look.sums, [(Alg::Sha1, vec!["/a b".to_string()])]);
        assert!(LookAhead::new(&[Ahead::new("", None)]).is_none());
    }

    /// The requests a `copy` or `template` (`content`) and an edit or `file` task (`path`)
    /// make of `p`.
    fn requests(p: &str) -> [ProbeReq; 2] {
        let inner = join(p, "f");
        let content = ProbeReq {
            items: vec![
                ProbeItem::new(p, false).sum(Alg::Sha1),
                ProbeItem::new(p, true).sum(Alg::Sha1),
                ProbeItem::new(&inner, false)
                    .sum(Alg::Sha1)
                    .when(ProbeCond::IsDir(p.into())),
                ProbeItem::new(&inner, true)
                    .sum(Alg::Sha1)
                    .when(ProbeCond::IsDir(p.into())),
                ProbeItem::new(dirname(p), true).when(ProbeCond::Missing(p.into())),
            ],
            owner: Some("0".into()),
            ..ProbeReq::default()
        };
        let path = ProbeReq {
            items: vec![ProbeItem::new(p, false), ProbeItem::new(p, true)],
            ..ProbeReq::default()
        };
        [content, path]
    }

    /// What a probe found, less the access time (reading a file may change it).
    fn states(p: Probe) -> Vec<FileState> {
        p.states
            .into_iter()
            .map(|s| FileState { atime: 0.0, ..s })
            .collect()
    }

    #[test]
    fn looks_made_ahead_answer_as_the_probe_does() {
        let dir = tempfile::tempdir().unwrap();
        let at = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
        std::fs::write(at("file"), b"hello\n").unwrap();
        std::fs::write(at("it's a file"), b"").unwrap();
        std::fs::create_dir(at("dir")).unwrap();
        std::fs::write(at("dir/f"), b"inside\n").unwrap();
        std::os::unix::fs::symlink(at("file"), at("link")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(at("fifo"))
            .status();
        assert!(fifo.unwrap().success());
        let names = ["file", "it's a file", "dir", "link", "fifo", "gone"];
        let reqs: Vec<ProbeReq> = names.iter().flat_map(|n| requests(&at(n))).collect();
        let ahead: Vec<Ahead> = names
            .iter()
            .flat_map(|n| {
                [
                    Ahead::new(at(n), Some(Alg::Sha1)),
                    Ahead::new(join(&at(n), "f"), Some(Alg::Sha1)),
                    Ahead::new(dir.path().to_str().unwrap(), None),
                ]
            })
            .collect();
        // Each request probed on its own, then answered after a look ahead at every path.
        let mut h = crate::modules::fileops::testing::Harness::new();
        let direct: Vec<Vec<FileState>> = reqs
            .iter()
            .map(|r| states(probe(&mut h.ctx(), r).unwrap()))
            .collect();
        let mut h = crate::modules::fileops::testing::Harness::new();
        let mut ctx = h.ctx();
        ctx.ahead = ahead.clone();
        assert_eq!(states(probe(&mut ctx, &reqs[0]).unwrap()), direct[0]);
        for (r, want) in reqs.iter().zip(&direct) {
            assert_eq!(&states(probe(&mut h.ctx(), r).unwrap()), want, "{r:?}");
        }
        // The look answers every request but a link's (probed as before).
        let looks = &mut h.conn.memo().looks;
        if looks.fresh() {
            for (n, r) in reqs.iter().enumerate() {
                let link = names[n / 2] == "link";
                assert_eq!(looks.answer("", r, "@@T:").is_none(), link, "{r:?}");
            }
        }
        // What a look saw answers until something may have changed (another thread's
        // command counts too: then the probe reads again, and the test makes a new look).
        let file = at("file");
        let mut answered = false;
        for _ in 0..100 {
            std::fs::write(&file, b"hello\n").unwrap();
            let mut ctx = h.ctx();
            ctx.ahead = ahead.clone();
            probe(&mut ctx, &reqs[2]).unwrap();
            let before = h.conn.memo().looks.fresh();
            std::fs::remove_file(&file).unwrap();
            let seen = probe(&mut h.ctx(), &reqs[0]).unwrap();
            if before && h.conn.memo().looks.fresh() {
                assert!(seen.states[0].exists, "answered from the look");
                answered = true;
                break;
            }
        }
        assert!(answered, "no look served in 100 tries");
        // A command (it may change anything) ends it: the next probe reads again.
        h.ctx().run("true").unwrap();
        assert!(!h.conn.memo().looks.fresh());
        assert!(!probe(&mut h.ctx(), &reqs[0]).unwrap().states[0].exists);
    }
}
