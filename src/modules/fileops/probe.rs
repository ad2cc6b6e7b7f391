//! Probing: the one command that reads every path a task needs (stat fields, link target,
//! checksum, owner and group lookups), with the per-connection memo of lookups.

use super::*;
use crate::modules::contract::Script;

/// One path to look at.
#[derive(Clone, Debug)]
pub struct ProbeItem {
    pub path: String,
    /// Stat the link target rather than the link.
    pub follow: bool,
    pub checksum: Option<Alg>,
    /// Look only when this holds on the host (else the path reads as absent): saves the
    /// processes of paths a module needs only in some cases.
    pub when: Option<ProbeCond>,
    /// Resolve a link's final target (`link_source`, a `readlink -f`); the link's own target
    /// (`link_target`) is always read.
    pub realpath: bool,
}

/// A condition tested with the shell's `test` builtin (no process).
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeCond {
    /// The path is a directory (following links).
    IsDir(String),
    /// The path is a directory itself, not a link to one.
    RealDir(String),
    /// Nothing, not even a dangling link, is at the path.
    Missing(String),
}

impl ProbeCond {
    /// `if TEST; then `, with the path quoted by the builder.
    fn open_if(&self) -> Script {
        match self {
            ProbeCond::IsDir(p) => Script::new().raw("if [ -d").arg(p).raw(" ]; then "),
            ProbeCond::RealDir(p) => Script::new()
                .raw("if [ -d")
                .arg(p)
                .raw(" ] && ! [ -L")
                .arg(p)
                .raw(" ]; then "),
            ProbeCond::Missing(p) => Script::new()
                .raw("if ! [ -e")
                .arg(p)
                .raw(" ] && ! [ -L")
                .arg(p)
                .raw(" ]; then "),
        }
    }
}

impl ProbeItem {
    pub fn new(path: impl Into<String>, follow: bool) -> ProbeItem {
        ProbeItem {
            path: path.into(),
            follow,
            checksum: None,
            when: None,
            realpath: true,
        }
    }

    /// Leaves `link_source` unread (`None`): for a caller that never follows the link.
    pub fn no_realpath(mut self) -> ProbeItem {
        self.realpath = false;
        self
    }

    /// Whether `self` answers for `other` (same look; a resolved link target serves a caller
    /// that does not need it).
    fn answers(&self, other: &ProbeItem) -> bool {
        self.path == other.path
            && self.follow == other.follow
            && self.checksum == other.checksum
            && (self.realpath || !other.realpath)
    }

    pub fn sum(mut self, alg: Alg) -> ProbeItem {
        self.checksum = Some(alg);
        self
    }

    pub fn when(mut self, cond: ProbeCond) -> ProbeItem {
        self.when = Some(cond);
        self
    }
}

/// What one probe command asks.
#[derive(Clone, Debug, Default)]
pub struct ProbeReq {
    pub items: Vec<ProbeItem>,
    /// Owner and group names (or numbers) to resolve to ids.
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Local times `YYYY-MM-DD hh:mm:ss` to convert to epoch seconds on the host.
    pub times: Vec<String>,
}

/// A user or group: numeric id and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub id: u32,
    pub name: String,
}

/// One path's state as `stat` saw it. `exists == false` leaves everything else default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileState {
    pub path: String,
    pub exists: bool,
    pub st_mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: f64,
    pub mtime: f64,
    pub ctime: f64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    pub blocks: u64,
    pub block_size: u64,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub owner: String,
    pub group: String,
    /// `readlink` of the path, when the path itself is a symlink (even if followed).
    pub link_target: Option<String>,
    /// `readlink -f` (realpath) of the path, when the path is a symlink.
    pub link_source: Option<String>,
    pub readable: bool,
    pub writeable: bool,
    pub executable: bool,
    pub checksum: Option<String>,
}

impl FileState {
    pub fn perm(&self) -> u32 {
        self.st_mode & 0o7777
    }
    pub fn kind(&self) -> u32 {
        self.st_mode & S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.exists && self.kind() == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.exists && self.kind() == S_IFREG
    }
    pub fn is_link(&self) -> bool {
        self.exists && self.kind() == S_IFLNK
    }

    /// Ansible's `get_state` for an lstat result: absent, link, directory, hard or file.
    pub fn state_name(&self) -> &'static str {
        if !self.exists {
            "absent"
        } else if self.is_link() {
            "link"
        } else if self.is_dir() {
            "directory"
        } else if self.nlink > 1 {
            "hard"
        } else {
            "file"
        }
    }
}

/// What a probe found.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub umask: u32,
    /// The user commands run as, and its primary group.
    pub me_user: Option<Ident>,
    pub me_group: Option<Ident>,
    pub states: Vec<FileState>,
    /// `None` if requested and not found.
    pub owner: Option<Ident>,
    pub group: Option<Ident>,
    pub times: Vec<Option<f64>>,
}

/// The id check mode gives a user or group that does not exist yet.
pub const NOT_YET_ID: u32 = u32::MAX;

pub(super) fn not_yet(name: &str) -> Ident {
    Ident {
        id: name.parse().unwrap_or(NOT_YET_ID),
        name: name.to_string(),
    }
}

pub(super) const STAT_FMT: &str =
    "S\n%f\n%u\n%g\n%s\n%X\n%Y\n%Z\n%x\n%y\n%z\n%i\n%d\n%h\n%b\n%o\n%t\n%T\n%U\n%G";
pub(super) const STAT_LINES: usize = 19;

/// The probe as one shell command (read-only). `known` are the memo keys whose lines are
/// already at hand, so the script does not ask again. `tag` starts every line the probe
/// itself writes (`@@<random token>:`), so no path, link target or name can pass for one.
#[cfg(test)]
pub fn probe_script(req: &ProbeReq, known: &[String], tag: &str) -> Script {
    probe_parts(req, known, tag, Parts::All)
}

/// What of a probe a script asks.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Parts {
    All,
    /// The identity, lookups and times, not the paths (answered from a look made ahead).
    NoPaths,
    /// The paths only (the rest was asked in the look ahead's round trip).
    PathsOnly,
}

pub(super) fn probe_parts(req: &ProbeReq, known: &[String], tag: &str, parts: Parts) -> Script {
    let has = |prefix: &str| known.iter().any(|k| k.starts_with(prefix));
    // A newline, to tell link targets that hold one; the tag, for the lookups' lines.
    let mut s = Script::new().raw("nl='\n'\n").set("tg", tag);
    if !has("probe-me:") {
        // `umask` is a builtin and one `id` gives uid, user, gid and group.
        s = s.raw("printf '%sM ' \"$tg\"; umask; printf '%sW ' \"$tg\"; LC_ALL=C id\n");
    }
    let items: &[ProbeItem] = match parts {
        Parts::NoPaths => &[],
        _ => &req.items,
    };
    for (n, it) in items.iter().enumerate() {
        s = s.raw("printf '%sP\\n' \"$tg\"\n").set("p", &it.path);
        // The same look asked twice (e.g. `file`'s `src` relative to two places that are the
        // same path) is answered once.
        let same = req.items[..n]
            .iter()
            .position(|o| o.answers(it) && o.when == it.when);
        if let Some(t) = same {
            s = s.cmd("printf '%sSAME %s\\n' \"$tg\"", [t.to_string()]);
            continue;
        }
        // An unconditional look an earlier conditional one made when its condition held
        // (e.g. `file`'s `src` both inside a directory `path` and beside it).
        let made: Vec<(usize, &ProbeCond)> = match it.when {
            Some(_) => Vec::new(),
            None => req.items[..n]
                .iter()
                .enumerate()
                .filter(|(_, o)| o.answers(it))
                .filter_map(|(t, o)| Some((t, o.when.as_ref()?)))
                .collect(),
        };
        for (k, (t, c)) in made.iter().enumerate() {
            if k > 0 {
                s = s.raw("el");
            }
            s = s
                .then(c.open_if())
                .raw("printf '%sSAME %s\\n' \"$tg\"")
                .arg(&t.to_string())
                .raw("; ");
        }
        if !made.is_empty() {
            s = s.raw("else ");
        }
        if let Some(c) = &it.when {
            s = s.then(c.open_if());
        }
        // A followed path that an earlier item already read without following reads the
        // same unless it is a link: one `stat` (and checksum) instead of two; and a link's
        // targets were read with the twin.
        if let Some(t) = twin(req, n) {
            s = s
                .raw("if [ -L \"$p\" ]; then ")
                .then(probe_one(it, false))
                .raw("; else printf '%sSAME %s\\n' \"$tg\"")
                .arg(&t.to_string())
                .raw("; fi");
        } else {
            s = s.then(probe_one(it, true));
        }
        if it.when.is_some() {
            s = s.raw("; else echo N; fi");
        }
        if !made.is_empty() {
            s = s.raw("; fi");
        }
        s = s.raw("\n");
    }
    if parts == Parts::PathsOnly {
        return s;
    }
    // An owner or group by name or number; without `getent`, the database file itself. The
    // entry is printed straight after the tag (no command substitution: one process less),
    // or an empty line when there is none.
    if let Some(o) = req.owner.as_ref().filter(|_| !has("probe-user:")) {
        s = s.set("o", o).raw(
            "printf '%sU ' \"$tg\"; getent passwd -- \"$o\" 2>/dev/null || n=\"$o\" awk -F: '$1==ENVIRON[\"n\"]||$3==ENVIRON[\"n\"]{print;f=1;exit} END{if(!f)print \"\"}' /etc/passwd 2>/dev/null || echo\n",
        );
    }
    if let Some(g) = req.group.as_ref().filter(|_| !has("probe-group:")) {
        s = s.set("g", g).raw(
            "printf '%sG ' \"$tg\"; getent group -- \"$g\" 2>/dev/null || n=\"$g\" awk -F: '$1==ENVIRON[\"n\"]||$3==ENVIRON[\"n\"]{print;f=1;exit} END{if(!f)print \"\"}' /etc/group 2>/dev/null || echo\n",
        );
    }
    for t in &req.times {
        s = s
            .set("tm", t)
            .raw("printf '%sT %s\\n' \"$tg\" \"$(date -d \"$tm\" +%s 2>/dev/null)\"\n");
    }
    s
}

/// What an inline probe ends with: the variables it and the contract's reads set are unset, so
/// that no later command of the session sees them.
pub(super) const INLINE_END: &str = "\nunset nl tg p t o g tm r\n";

/// The earlier item that reads the same path without following, if item `n` follows.
pub(super) fn twin(req: &ProbeReq, n: usize) -> Option<usize> {
    let it = &req.items[n];
    req.items[..n].iter().position(|o| {
        o.path == it.path
            && !o.follow
            && it.follow
            && o.checksum == it.checksum
            && o.when == it.when
            && (o.realpath || !it.realpath)
    })
}

/// The `stat` of one path (`$p`) and what goes with it (a link's targets when `links`);
/// prints `S…` or `N`.
pub(super) fn probe_one(it: &ProbeItem, links: bool) -> Script {
    let mut s = Script::new().raw(if it.follow {
        "if stat -L -c"
    } else {
        "if stat -c"
    });
    s = s.arg(STAT_FMT).raw(" -- \"$p\" 2>/dev/null; then ");
    if links {
        // A target holding a newline is told (`LNL`, `RNL`), never printed: it could pass
        // for another line of the answer.
        s = s.raw("if [ -L \"$p\" ]; then t=$(readlink -- \"$p\"); case $t in *\"$nl\"*) echo LNL;; *) printf 'L %s\\n' \"$t\";; esac; ");
        if it.realpath {
            s = s.raw("t=$(readlink -f -- \"$p\"); case $t in *\"$nl\"*) echo RNL;; *) printf 'R %s\\n' \"$t\";; esac; ");
        }
        s = s.raw("fi; ");
    }
    s = s.raw("printf A; [ -r \"$p\" ] && printf r; [ -w \"$p\" ] && printf w; [ -x \"$p\" ] && printf x; echo");
    if let Some(alg) = it.checksum {
        s = s.raw("; if [ -f \"$p\" ] && [ -r \"$p\" ]");
        if !it.follow {
            s = s.raw(" && ! [ -L \"$p\" ]");
        }
        s = s
            .raw("; then printf 'C '; ")
            .raw(alg.tool())
            .raw(" <\"$p\"; fi");
    }
    s.raw("; else echo N; fi")
}
