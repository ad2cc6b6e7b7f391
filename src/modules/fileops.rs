//! Shared file machinery for `copy`, `template`, `file`, `lineinfile` and `stat`: one-command
//! probes of paths (stat fields, link target, checksum, owner/group lookups), Ansible's mode
//! arithmetic (symbolic modes computed exactly from the current mode), attribute planning and
//! its diff, atomic writes with backup and validation, and the content-write path that `copy`
//! and `template` share (plan read-only, then apply exactly what was planned).

use super::{Args, Diff, ModuleCtx, Plan};
use crate::connection::{
    temp_attrs_script, temp_beside_script, temp_fill_script, write_file_atomic, FileAttrs,
};
use crate::shell::quote;
use anyhow::{anyhow, Result};
use minijinja::Value;
use std::collections::BTreeMap;

/// Diffs of files larger than this are replaced by a note.
pub const MAX_DIFF_SIZE: usize = 64 * 1024;

pub const S_IFMT: u32 = 0o170_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFBLK: u32 = 0o060_000;
pub const S_IFIFO: u32 = 0o010_000;
pub const S_IFSOCK: u32 = 0o140_000;

// ---------------------------------------------------------------------------------------------
// Task failures

/// A failure of the task (as opposed to a broken connection): becomes a failed `Plan`.
#[derive(Debug)]
pub struct TaskFail {
    pub msg: String,
    pub values: Vec<(String, Value)>,
}

impl std::fmt::Display for TaskFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for TaskFail {}

/// An error that fails the task with `msg`.
pub fn fail(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(TaskFail {
        msg: msg.into(),
        values: Vec::new(),
    })
}

/// A failed write as a task failure, unless the transport broke or the task ran out of time
/// (those stay what they are: the host is unreachable, the task timed out).
pub fn fail_write(e: anyhow::Error) -> anyhow::Error {
    if crate::connection::is_transport_error(&e) || crate::connection::is_deadline_exceeded(&e) {
        e
    } else {
        fail(format!("{e:#}"))
    }
}

/// Reads a controller source file (`copy`/`template` `src`). With `decrypt`, a vault-encrypted
/// file is decrypted in memory; the flag says it was, so its content stays out of diffs.
pub fn read_source(path: &std::path::Path, decrypt: bool) -> Result<(Vec<u8>, bool)> {
    let data = std::fs::read(path)
        .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
    if !decrypt {
        return Ok((data, false));
    }
    crate::vault::open_bytes(data).map_err(|e| match e {
        // Ansible's words, ending with the path; the hint goes in a key of its own.
        crate::vault::DecryptError::NoSecrets { .. } => fail_with(
            format!(
                "A vault password or secret must be specified to decrypt {}",
                path.display()
            ),
            vec![("hint".into(), Value::from(e.hint()))],
        ),
        _ => fail(format!(
            "could not decrypt the vault-encrypted src={}: {}",
            path.display(),
            e.report()
        )),
    })
}

/// An error that fails the task with `msg` and extra return values.
pub fn fail_with(msg: impl Into<String>, values: Vec<(String, Value)>) -> anyhow::Error {
    anyhow::Error::new(TaskFail {
        msg: msg.into(),
        values,
    })
}

/// A task failure with more result values; other errors pass through.
pub fn with_fail_values(e: anyhow::Error, values: Vec<(String, Value)>) -> anyhow::Error {
    match e.downcast::<TaskFail>() {
        Ok(mut f) => {
            f.values.extend(values);
            anyhow::Error::new(f)
        }
        Err(e) => e,
    }
}

/// Turns a `TaskFail` into a failed plan; other errors pass through.
pub fn catch(res: Result<Plan>) -> Result<Plan> {
    match res {
        Err(e) => match e.downcast::<TaskFail>() {
            Ok(f) => {
                let mut plan = Plan::fail(f.msg);
                for (k, v) in f.values {
                    plan.values.insert(k, v);
                }
                Ok(plan)
            }
            Err(e) => Err(e),
        },
        ok => ok,
    }
}

/// Like `catch` for `apply`: a task failure marks the planned result as failed and, as a
/// module's `fail_json` in Ansible, not changed.
pub fn catch_apply(mut plan: Plan, res: Result<Plan>) -> Result<Plan> {
    match res {
        Ok(p) => Ok(p),
        Err(e) => match e.downcast::<TaskFail>() {
            Ok(f) => {
                plan.failed = true;
                plan.changed = false;
                plan.msg = Some(f.msg);
                for (k, v) in f.values {
                    plan.values.insert(k, v);
                }
                Ok(plan)
            }
            Err(e) => Err(e),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Paths

/// The parent directory of a remote path, as Python's `os.path.dirname`.
pub fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => {
            let head = &path[..i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                "/".into()
            } else {
                trimmed.into()
            }
        }
        None => String::new(),
    }
}

/// The last component of a path, as Python's `os.path.basename`.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Joins like `os.path.join(a, b)`: an absolute `b` wins.
pub fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// Where `copy`/`template` put a file named `src_basename` for `dest`: inside it when it ends
/// with `/`.
pub fn dest_for_file(dest: &str, src_basename: &str) -> String {
    if dest.ends_with('/') {
        format!("{dest}{src_basename}")
    } else {
        dest.to_string()
    }
}

/// Every ancestor directory of `path`, outermost first (`/a/b/c` → `/a`, `/a/b`).
pub fn ancestors(path: &str) -> Vec<String> {
    let abs = path.starts_with('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            break;
        }
        if abs || !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(p);
        out.push(cur.clone());
    }
    out
}

/// Expands `$VAR`, `${VAR}` and a leading `~` / `~user` in a path on the host, as Ansible
/// does for `path` arguments (an unset variable stays as written).
pub fn expand_home(ctx: &mut ModuleCtx, path: &str) -> Result<String> {
    // As Ansible's `path` arguments: `os.path.expanduser(os.path.expandvars(p))`, on the host.
    if !path.starts_with('~') && !path.contains('$') {
        return Ok(path.to_string());
    }
    let out = ctx.run(&format!(
        "printf '%s' {}",
        crate::shell::quote_expanding(path)
    ))?;
    if out.rc != 0 {
        return Err(fail(format!(
            "cannot expand `{path}`: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout_str())
}

// ---------------------------------------------------------------------------------------------
// Probing

/// Checksum algorithms `stat` and the writers know, by their `*sum` tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s.to_ascii_lowercase().as_str() {
            "md5" => Alg::Md5,
            "sha1" => Alg::Sha1,
            "sha224" => Alg::Sha224,
            "sha256" => Alg::Sha256,
            "sha384" => Alg::Sha384,
            "sha512" => Alg::Sha512,
            _ => return None,
        })
    }

    fn tool(self) -> &'static str {
        match self {
            Alg::Md5 => "md5sum",
            Alg::Sha1 => "sha1sum",
            Alg::Sha224 => "sha224sum",
            Alg::Sha256 => "sha256sum",
            Alg::Sha384 => "sha384sum",
            Alg::Sha512 => "sha512sum",
        }
    }
}

/// SHA-1 of bytes as lowercase hex (Ansible's `checksum`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex(&Sha1::digest(data))
}

/// MD5 of bytes as lowercase hex (Ansible's `md5sum`).
pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
}

/// A condition tested with the shell's `test` builtin (no process).
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeCond {
    /// The path is a directory (following links).
    IsDir(String),
    /// Nothing, not even a dangling link, is at the path.
    Missing(String),
}

impl ProbeCond {
    fn test(&self) -> String {
        match self {
            ProbeCond::IsDir(p) => format!("[ -d {} ]", quote(p)),
            ProbeCond::Missing(p) => {
                let q = quote(p);
                format!("! [ -e {q} ] && ! [ -L {q} ]")
            }
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
        }
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
    /// Probed in check mode: a user or group that does not exist yet is taken to be created
    /// by an earlier task of the run (whose change check mode only predicted).
    pub check: bool,
}

/// The id check mode gives a user or group that does not exist yet.
pub const NOT_YET_ID: u32 = u32::MAX;

fn not_yet(name: &str) -> Ident {
    Ident {
        id: name.parse().unwrap_or(NOT_YET_ID),
        name: name.to_string(),
    }
}

const STAT_FMT: &str =
    "S\n%f\n%u\n%g\n%s\n%X\n%Y\n%Z\n%x\n%y\n%z\n%i\n%d\n%h\n%b\n%o\n%t\n%T\n%U\n%G";
const STAT_LINES: usize = 19;

/// The memo key of a user lookup (`@U <passwd line>`).
pub fn user_memo_key(user: &str) -> String {
    format!("probe-user:{user}")
}

/// The memo key of a group lookup (`@G <group line>`).
pub fn group_memo_key(group: &str) -> String {
    format!("probe-group:{group}")
}

/// What the connection's memo already answers for a probe: the lines the script would print.
fn memo_keys(req: &ProbeReq, as_user: &str) -> Vec<String> {
    let mut keys = vec![format!("probe-me:{as_user}")];
    if let Some(o) = &req.owner {
        keys.push(user_memo_key(o));
    }
    if let Some(g) = &req.group {
        keys.push(group_memo_key(g));
    }
    keys
}

/// The probe as one shell command (read-only). `known` are the memo keys whose lines are
/// already at hand, so the script does not ask again.
pub fn probe_script(req: &ProbeReq, known: &[String]) -> String {
    let has = |prefix: &str| known.iter().any(|k| k.starts_with(prefix));
    let mut s = String::new();
    if !has("probe-me:") {
        // `umask` is a builtin and one `id` gives uid, user, gid and group.
        s.push_str("printf '@M '; umask; printf '@W '; LC_ALL=C id\n");
    }
    for (n, it) in req.items.iter().enumerate() {
        let q = quote(&it.path);
        s.push_str(&format!("echo @P; p={q}; "));
        // The same look asked twice (e.g. `file`'s `src` relative to two places that are the
        // same path) is answered once.
        let same = req.items[..n].iter().position(|o| {
            o.path == it.path
                && o.follow == it.follow
                && o.checksum == it.checksum
                && o.when == it.when
        });
        if let Some(t) = same {
            s.push_str(&format!("echo '@SAME {t}'\n"));
            continue;
        }
        if let Some(c) = &it.when {
            s.push_str(&format!("if {}; then ", c.test()));
        }
        // A followed path that an earlier item already read without following reads the
        // same unless it is a link: one `stat` (and checksum) instead of two; and a link's
        // targets were read with the twin.
        if let Some(t) = twin(req, n) {
            s.push_str("if [ -L \"$p\" ]; then ");
            probe_one(&mut s, it, false);
            s.push_str(&format!("; else echo '@SAME {t}'; fi"));
        } else {
            probe_one(&mut s, it, true);
        }
        if it.when.is_some() {
            s.push_str("; else echo N; fi");
        }
        s.push('\n');
    }
    if let Some(o) = req.owner.as_ref().filter(|_| !has("probe-user:")) {
        let q = quote(o);
        s.push_str(&format!(
            "printf '@U %s\\n' \"$(getent passwd -- {q} 2>/dev/null || n={q} awk -F: '$1==ENVIRON[\"n\"]||$3==ENVIRON[\"n\"]{{print;exit}}' /etc/passwd 2>/dev/null)\"\n"
        ));
    }
    if let Some(g) = req.group.as_ref().filter(|_| !has("probe-group:")) {
        let q = quote(g);
        s.push_str(&format!(
            "printf '@G %s\\n' \"$(getent group -- {q} 2>/dev/null || n={q} awk -F: '$1==ENVIRON[\"n\"]||$3==ENVIRON[\"n\"]{{print;exit}}' /etc/group 2>/dev/null)\"\n"
        ));
    }
    for t in &req.times {
        s.push_str(&format!(
            "printf '@T %s\\n' \"$(date -d {} +%s 2>/dev/null)\"\n",
            quote(t)
        ));
    }
    s
}

/// The earlier item that reads the same path without following, if item `n` follows.
fn twin(req: &ProbeReq, n: usize) -> Option<usize> {
    let it = &req.items[n];
    req.items[..n].iter().position(|o| {
        o.path == it.path
            && !o.follow
            && it.follow
            && o.checksum == it.checksum
            && o.when == it.when
    })
}

/// The `stat` of one path (`$p`) and what goes with it (a link's targets when `links`);
/// prints `S…` or `N`.
fn probe_one(s: &mut String, it: &ProbeItem, links: bool) {
    let l = if it.follow { "-L " } else { "" };
    let targets = if links {
        "if [ -L \"$p\" ]; then printf 'L %s\\n' \"$(readlink -- \"$p\")\"; printf 'R %s\\n' \"$(readlink -f -- \"$p\")\"; fi; "
    } else {
        ""
    };
    s.push_str(&format!(
        "if stat {l}-c {} -- \"$p\" 2>/dev/null; then {targets}\
         printf A; [ -r \"$p\" ] && printf r; [ -w \"$p\" ] && printf w; [ -x \"$p\" ] && printf x; echo",
        quote(STAT_FMT),
    ));
    if let Some(alg) = it.checksum {
        let nolink = if it.follow { "" } else { " && ! [ -L \"$p\" ]" };
        s.push_str(&format!(
            "; if [ -f \"$p\" ] && [ -r \"$p\" ]{nolink}; then printf 'C '; {} <\"$p\"; fi",
            alg.tool()
        ));
    }
    s.push_str("; else echo N; fi");
}

/// The uid and gid commands run as, when the connection's memo knows them.
pub fn me_ids(ctx: &mut ModuleCtx) -> Option<(u32, u32)> {
    let as_user = ctx.as_user.map(|b| b.user.clone()).unwrap_or_default();
    let memo = ctx.conn.as_deref_mut()?.memo();
    let line = memo.get(&format!("probe-me:{as_user}"))?;
    let w = line.lines().find_map(|l| l.strip_prefix("@W "))?;
    Some((id_field(w, "uid=")?.id, id_field(w, "gid=")?.id))
}

/// Keeps a `passwd` (`what` = "user") or `group` line another module read for `name`, so file
/// tasks naming that owner or group need not look it up again. Only a line of that name is
/// kept (`getent passwd 1000` answers for uid 1000 whatever its name).
pub fn remember_lookup(ctx: &mut ModuleCtx, what: &str, name: &str, line: &str) {
    if line.split(':').next() != Some(name) {
        return;
    }
    let (key, tag) = match what {
        "user" => (user_memo_key(name), "@U"),
        _ => (group_memo_key(name), "@G"),
    };
    if let Some(c) = ctx.conn.as_deref_mut() {
        c.memo().put(key, format!("{tag} {line}\n"));
    }
}

/// Keeps the identity and umask a shell reported elsewhere (fact gathering) in the memo, so the
/// next file probe need not ask.
pub fn remember_identity(ctx: &mut ModuleCtx, umask: &str, id: &str) -> Result<()> {
    let as_user = ctx.as_user.map(|b| b.user.clone()).unwrap_or_default();
    if let Some(c) = ctx.conn.as_deref_mut() {
        c.memo().put(
            format!("probe-me:{as_user}"),
            format!("@M {}\n@W {}\n", umask.trim(), id.trim()),
        );
    }
    Ok(())
}

/// Runs one probe command, answering what it can from the connection's memo and keeping
/// the identity and id lookups it learns there.
pub fn probe(ctx: &mut ModuleCtx, req: &ProbeReq) -> Result<Probe> {
    probe_after(ctx, None, req)
}

/// Runs a change script (`what`, `script`; it stops at the first failing command) and then
/// the probe, in one round trip: how modules report the state a change left.
pub fn probe_after(
    ctx: &mut ModuleCtx,
    change: Option<(&str, &str)>,
    req: &ProbeReq,
) -> Result<Probe> {
    let as_user = ctx.as_user.map(|b| b.user.clone()).unwrap_or_default();
    let keys = memo_keys(req, &as_user);
    let mut known = Vec::new();
    let mut text = String::new();
    {
        let memo = ctx.conn()?.memo();
        for k in &keys {
            if let Some(v) = memo.get(k) {
                text.push_str(v);
                known.push(k.clone());
            }
        }
    }
    let script = probe_script(req, &known);
    let out = match change {
        Some((_, c)) => ctx.run(&format!("set -e\n{c}\nset +e\n{script}"))?,
        None => ctx.run(&script)?,
    };
    if let (Some((what, _)), true) = (change, out.rc != 0) {
        return Err(fail(format!("{what} failed: {}", out.stderr_str().trim())));
    }
    let fresh = out.stdout_str();
    {
        let memo = ctx.conn()?.memo();
        for k in keys.iter().filter(|k| !known.contains(k)) {
            let prefixes: &[&str] = if k.starts_with("probe-me:") {
                &["@M ", "@W "]
            } else if k.starts_with("probe-user:") {
                &["@U "]
            } else {
                &["@G "]
            };
            let lines: Vec<&str> = fresh
                .lines()
                .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
                .collect();
            // Only complete, successful lookups are kept: a user that does not exist yet
            // may be created by the next task.
            let complete = lines.len() == prefixes.len() && lines.iter().all(|l| l.len() > 3);
            if complete {
                memo.put(k.clone(), lines.iter().map(|l| format!("{l}\n")).collect());
            }
        }
    }
    text.push_str(&fresh);
    let mut p = parse_probe(&text, req)?;
    p.check = ctx.check;
    for n in 0..p.states.len() {
        if let Some(t) = twin(req, n) {
            if p.states[n].link_target.is_none() && p.states[n].exists {
                p.states[n].link_target = p.states[t].link_target.clone();
                p.states[n].link_source = p.states[t].link_source.clone();
            }
        }
    }
    for (st, it) in p.states.iter_mut().zip(&req.items) {
        st.path = it.path.clone();
    }
    Ok(p)
}

/// One `uid=0(root)` / `gid=0(root)` field of `id`'s output (the name is empty when the id
/// has no name).
fn id_field(line: &str, key: &str) -> Option<Ident> {
    let rest = line.split_whitespace().find_map(|w| w.strip_prefix(key))?;
    let (num, name) = match rest.split_once('(') {
        Some((n, tail)) => (n, tail.trim_end_matches(')')),
        None => (rest, ""),
    };
    Some(Ident {
        id: num.parse().ok()?,
        name: name.into(),
    })
}

fn parse_probe(text: &str, req: &ProbeReq) -> Result<Probe> {
    let mut p = Probe {
        umask: 0o022,
        ..Probe::default()
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if let Some(m) = line.strip_prefix("@M ") {
            p.umask = u32::from_str_radix(m.trim(), 8).unwrap_or(0o022);
        } else if let Some(w) = line.strip_prefix("@W ") {
            p.me_user = id_field(w, "uid=");
            p.me_group = id_field(w, "gid=");
        } else if line == "@P" {
            let mut st = FileState::default();
            if lines.get(i) == Some(&"S") {
                i += 1;
                let f: Vec<&str> = lines.get(i..i + STAT_LINES).unwrap_or_default().to_vec();
                if f.len() != STAT_LINES {
                    return Err(anyhow!("unexpected stat output: {text}"));
                }
                i += STAT_LINES;
                st.exists = true;
                st.st_mode = u32::from_str_radix(f[0], 16).unwrap_or(0);
                st.uid = f[1].parse().unwrap_or(0);
                st.gid = f[2].parse().unwrap_or(0);
                st.size = f[3].parse().unwrap_or(0);
                st.atime = with_fraction(f[4], f[7]);
                st.mtime = with_fraction(f[5], f[8]);
                st.ctime = with_fraction(f[6], f[9]);
                st.inode = f[10].parse().unwrap_or(0);
                st.dev = f[11].parse().unwrap_or(0);
                st.nlink = f[12].parse().unwrap_or(0);
                st.blocks = f[13].parse().unwrap_or(0);
                st.block_size = f[14].parse().unwrap_or(0);
                st.rdev_major = u32::from_str_radix(f[15], 16).unwrap_or(0);
                st.rdev_minor = u32::from_str_radix(f[16], 16).unwrap_or(0);
                st.owner = f[17].to_string();
                st.group = f[18].to_string();
                while let Some(l) = lines.get(i) {
                    if let Some(t) = l.strip_prefix("L ") {
                        st.link_target = Some(t.to_string());
                    } else if let Some(t) = l.strip_prefix("R ") {
                        st.link_source = Some(t.to_string());
                    } else if let Some(a) = l.strip_prefix('A') {
                        st.readable = a.contains('r');
                        st.writeable = a.contains('w');
                        st.executable = a.contains('x');
                    } else if let Some(c) = l.strip_prefix("C ") {
                        st.checksum = c.split_whitespace().next().map(str::to_string);
                    } else {
                        break;
                    }
                    i += 1;
                }
            } else if lines.get(i) == Some(&"N") {
                i += 1;
            } else if let Some(t) = lines.get(i).and_then(|l| l.strip_prefix("@SAME ")) {
                i += 1;
                let twin: usize = t.trim().parse().unwrap_or(usize::MAX);
                st = p
                    .states
                    .get(twin)
                    .cloned()
                    .ok_or_else(|| anyhow!("probe twin {twin} out of range: {text}"))?;
            }
            p.states.push(st);
        } else if let Some(u) = line.strip_prefix("@U ") {
            p.owner = resolve_ident(req.owner.as_deref(), passwd_fields(u));
        } else if let Some(g) = line.strip_prefix("@G ") {
            p.group = resolve_ident(req.group.as_deref(), passwd_fields(g));
        } else if let Some(t) = line.strip_prefix("@T ") {
            p.times.push(t.trim().parse().ok());
        }
    }
    if p.states.len() != req.items.len() {
        return Err(anyhow!(
            "probe answered for {} of {} paths: {text}",
            p.states.len(),
            req.items.len()
        ));
    }
    Ok(p)
}

/// `[id, name]` of a `passwd` or `group` database line (empty when the lookup found nothing).
fn passwd_fields(line: &str) -> Vec<&str> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() >= 3 {
        vec![f[2], f[0]]
    } else {
        vec![]
    }
}

/// `[id, name]` from the host, or the number itself when a numeric id has no name.
fn resolve_ident(asked: Option<&str>, f: Vec<&str>) -> Option<Ident> {
    let asked = asked?;
    let numeric: Option<u32> = asked.parse().ok();
    match (f.first().and_then(|s| s.parse::<u32>().ok()), f.get(1)) {
        (Some(id), Some(name)) if !name.is_empty() => Some(Ident {
            id: numeric.unwrap_or(id),
            name: name.to_string(),
        }),
        _ => numeric.map(|id| Ident {
            id,
            name: id.to_string(),
        }),
    }
}

/// Seconds from `%Y` plus the fraction from the human form `%y` (`… 12:00:00.123456789 +0000`).
fn with_fraction(secs: &str, human: &str) -> f64 {
    let whole: f64 = secs.parse().unwrap_or(0.0);
    let frac = human
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.split_once('.'))
        .and_then(|(_, f)| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0);
    whole + frac
}

impl Probe {
    /// The owner asked for, or a failure naming it.
    pub fn owner_for(&self, asked: Option<&str>) -> Result<Option<Ident>> {
        match asked {
            None => Ok(None),
            Some(name) => match (&self.owner, self.check) {
                (Some(o), _) => Ok(Some(o.clone())),
                (None, true) => Ok(Some(not_yet(name))),
                (None, false) => Err(fail(format!("chown failed: failed to look up user {name}"))),
            },
        }
    }

    /// The group asked for, or a failure naming it.
    pub fn group_for(&self, asked: Option<&str>) -> Result<Option<Ident>> {
        match asked {
            None => Ok(None),
            Some(name) => match (&self.group, self.check) {
                (Some(g), _) => Ok(Some(g.clone())),
                (None, true) => Ok(Some(not_yet(name))),
                (None, false) => Err(fail(format!(
                    "chgrp failed: failed to look up group {name}"
                ))),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Modes

/// Ansible's mode display for file results: `'0%03o'`.
pub fn fmt_mode(m: u32) -> String {
    format!("0{m:03o}")
}

/// Computes the mode a symbolic mode (`u+x,go-w`, `=r`, `a+X`) gives a file whose mode is
/// `current`, exactly as Ansible's `_symbolic_mode_to_octal` does. An empty "who" means `a`
/// with the `umask` bits left alone.
pub fn symbolic_to_octal(spec: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32> {
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let bad = || fail(format!("bad symbolic permission for mode: {clause}"));
        let op_pos = clause.find(['+', '-', '=']).ok_or_else(bad)?;
        let (who, rest) = clause.split_at(op_pos);
        let use_umask = who.is_empty();
        let users = if who.is_empty() || who == "a" {
            "ugo"
        } else {
            who
        };
        if users.chars().any(|c| !"ugo".contains(c)) {
            return Err(bad());
        }
        // Split `+r-w=x` into (op, perms) pairs.
        let mut pairs: Vec<(char, String)> = Vec::new();
        for c in rest.chars() {
            if "+-=".contains(c) {
                pairs.push((c, String::new()));
            } else if "rwxXstugo".contains(c) {
                if let Some(last) = pairs.last_mut() {
                    last.1.push(c);
                }
            } else {
                return Err(bad());
            }
        }
        for (op, perms) in &pairs {
            for user in users.chars() {
                let apply = perms_for(user, perms, mode, is_dir, use_umask, umask);
                mode = match op {
                    '=' => {
                        let mask = match user {
                            'u' => 0o4700,
                            'g' => 0o2070,
                            _ => 0o1007,
                        };
                        (mode & (mask ^ 0o7777)) | apply
                    }
                    '+' => mode | apply,
                    _ => mode & !apply,
                };
            }
        }
    }
    Ok(mode)
}

fn perms_for(user: char, perms: &str, prev: u32, is_dir: bool, use_umask: bool, umask: u32) -> u32 {
    let rev = if use_umask { !umask & 0o7777 } else { 0o7777 };
    let apply_x = is_dir || prev & 0o111 != 0;
    let (shift, s_bit, t_bit) = match user {
        'u' => (6, 0o4000, 0),
        'g' => (3, 0o2000, 0),
        _ => (0, 0, 0o1000),
    };
    let mut out = 0;
    for p in perms.chars() {
        out |= match p {
            'r' => rev & (0o4 << shift),
            'w' => rev & (0o2 << shift),
            'x' => rev & (0o1 << shift),
            'X' if apply_x => 0o1 << shift,
            'X' => 0,
            's' => s_bit,
            't' => t_bit,
            'u' => ((prev >> 6) & 0o7) << shift,
            'g' => ((prev >> 3) & 0o7) << shift,
            'o' => (prev & 0o7) << shift,
            _ => 0,
        };
    }
    out
}

/// The mode `want` (octal or symbolic, as `Args::mode` gives it) yields on a file whose mode
/// is `current`.
pub fn resolve_mode(want: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32> {
    match crate::yaml::parse_mode_str(want) {
        Some(m) => Ok(m),
        None => symbolic_to_octal(want, current, is_dir, umask),
    }
}

/// The default mode of a new file (0666 & ~umask) or directory (0777 & ~umask).
pub fn new_mode(is_dir: bool, umask: u32) -> u32 {
    (if is_dir { 0o777 } else { 0o666 }) & !umask
}

// ---------------------------------------------------------------------------------------------
// Attributes

/// The ownership and mode a task asks for (Ansible's file common arguments).
#[derive(Clone, Debug, Default)]
pub struct AttrWant {
    pub mode: Option<String>,
    pub owner: Option<Ident>,
    pub group: Option<Ident>,
}

/// Attribute changes on one path: `(before, after)` pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttrChange {
    pub owner: Option<(u32, u32)>,
    pub group: Option<(u32, u32)>,
    pub mode: Option<(u32, u32)>,
}

/// The owner, group and mode a path ends up with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinalAttrs {
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub mode: u32,
}

impl AttrWant {
    /// The mode/owner/group arguments, with owner and group resolved by the probe.
    pub fn from_args(args: &Args, probe: &Probe) -> Result<AttrWant> {
        Ok(AttrWant {
            mode: args.mode("mode")?,
            owner: probe.owner_for(args.str("owner").as_deref())?,
            group: probe.group_for(args.str("group").as_deref())?,
        })
    }

    /// What must change on an existing path. Symlinks not followed keep their mode (Linux has
    /// no lchmod).
    pub fn changes(&self, st: &FileState, umask: u32) -> Result<AttrChange> {
        let mut c = AttrChange::default();
        if let Some(o) = &self.owner {
            if o.id != st.uid {
                c.owner = Some((st.uid, o.id));
            }
        }
        if let Some(g) = &self.group {
            if g.id != st.gid {
                c.group = Some((st.gid, g.id));
            }
        }
        if let Some(m) = &self.mode {
            if !st.is_link() {
                let new = resolve_mode(m, st.perm(), st.is_dir(), umask)?;
                if new != st.perm() {
                    c.mode = Some((st.perm(), new));
                }
            }
        }
        Ok(c)
    }

    /// The attributes an existing path ends up with.
    pub fn final_for(&self, st: &FileState, umask: u32) -> Result<FinalAttrs> {
        let mode = match &self.mode {
            Some(m) if !st.is_link() => resolve_mode(m, st.perm(), st.is_dir(), umask)?,
            _ => st.perm(),
        };
        Ok(FinalAttrs {
            uid: self.owner.as_ref().map_or(st.uid, |o| o.id),
            gid: self.group.as_ref().map_or(st.gid, |g| g.id),
            owner: self
                .owner
                .as_ref()
                .map_or(st.owner.clone(), |o| o.name.clone()),
            group: self
                .group
                .as_ref()
                .map_or(st.group.clone(), |g| g.name.clone()),
            mode,
        })
    }

    /// The attributes a path created now ends up with (`mode_override` replaces the mode
    /// argument, e.g. `directory_mode`).
    pub fn final_new(&self, probe: &Probe, is_dir: bool) -> Result<FinalAttrs> {
        let base = new_mode(is_dir, probe.umask);
        let mode = match &self.mode {
            Some(m) => resolve_mode(m, base, is_dir, probe.umask)?,
            None => base,
        };
        let me_u = probe.me_user.clone().unwrap_or(Ident {
            id: 0,
            name: String::new(),
        });
        let me_g = probe.me_group.clone().unwrap_or(Ident {
            id: 0,
            name: String::new(),
        });
        let u = self.owner.clone().unwrap_or(me_u);
        let g = self.group.clone().unwrap_or(me_g);
        Ok(FinalAttrs {
            uid: u.id,
            gid: g.id,
            owner: u.name,
            group: g.name,
            mode,
        })
    }

    /// This want with a different mode argument.
    pub fn with_mode(&self, mode: Option<String>) -> AttrWant {
        AttrWant {
            mode,
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }
}

impl AttrChange {
    pub fn is_empty(&self) -> bool {
        self.owner.is_none() && self.group.is_none() && self.mode.is_none()
    }

    /// Shell commands making the change on `path`; `no_deref` changes a symlink itself.
    pub fn script(&self, path: &str, no_deref: bool) -> String {
        let q = quote(path);
        let h = if no_deref { "-h " } else { "" };
        let mut s = String::new();
        let (u, g) = (
            self.owner.map(|o| o.1.to_string()),
            self.group.map(|g| g.1.to_string()),
        );
        if let Some((cmd, who)) = crate::shell::chown_args(u.as_deref(), g.as_deref()) {
            s.push_str(&format!("{cmd} {h}{who} -- {q}\n"));
        }
        if let Some((_, m)) = self.mode {
            s.push_str(&format!("chmod {m:04o} -- {q}\n"));
        }
        s
    }

    /// Adds the before/after entries to a file-module style diff.
    pub fn add_to(&self, before: &mut DiffMap, after: &mut DiffMap) {
        if let Some((b, a)) = self.owner {
            before.insert("owner".into(), b.into());
            after.insert("owner".into(), a.into());
        }
        if let Some((b, a)) = self.group {
            before.insert("group".into(), b.into());
            after.insert("group".into(), a.into());
        }
        if let Some((b, a)) = self.mode {
            before.insert("mode".into(), fmt_mode(b).into());
            after.insert("mode".into(), fmt_mode(a).into());
        }
    }
}

/// Shell commands creating `path` and its missing parents, giving each new directory `mode`,
/// owner and group (Ansible's `file state=directory` and `copy`'s makedirs).
pub fn mkdirs_script(
    path: &str,
    mode: Option<u32>,
    owner: Option<u32>,
    group: Option<u32>,
) -> String {
    let mut comps = ancestors(path);
    comps.push(path.trim_end_matches('/').to_string());
    let mut s = String::new();
    for c in comps {
        if c.is_empty() {
            continue;
        }
        let q = quote(&c);
        // The mode at creation (`mkdir -m`, no umask) unless special bits must come after
        // the ownership change; owner and group in one `chown`.
        let (at_creation, after) = match mode {
            Some(m) if m & 0o7000 == 0 => (format!("-m {m:04o} "), None),
            m => (String::new(), m),
        };
        s.push_str(&format!(
            "if [ ! -d {q} ]; then mkdir {at_creation}-- {q}; "
        ));
        let (u, g) = (owner.map(|o| o.to_string()), group.map(|g| g.to_string()));
        if let Some((cmd, who)) = crate::shell::chown_args(u.as_deref(), g.as_deref()) {
            s.push_str(&format!("{cmd} {who} -- {q}; "));
        }
        if let Some(m) = after {
            s.push_str(&format!("chmod {m:04o} -- {q}; "));
        }
        s.push_str("fi\n");
    }
    s
}

/// Runs a `set -e` script of planned changes; a failure fails the task with its stderr.
pub fn run_script(ctx: &mut ModuleCtx, what: &str, script: &str) -> Result<()> {
    if script.trim().is_empty() {
        return Ok(());
    }
    let out = ctx.run(&format!("set -e\n{script}"))?;
    if out.rc != 0 {
        return Err(fail(format!("{what} failed: {}", out.stderr_str().trim())));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Diffs

/// Keys and values of a file-module style diff side, kept sorted as Ansible's callback prints.
pub type DiffMap = BTreeMap<String, serde_json::Value>;

/// A diff of two dicts, rendered as Ansible's callback renders them (sorted, 4-space JSON).
pub fn dict_diff(before: &DiffMap, after: &DiffMap) -> Diff {
    Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: json4(before),
        after: json4(after),
    }
}

fn json4(map: &DiffMap) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if map.serialize(&mut ser).is_err() {
        return String::new();
    }
    let mut s = String::from_utf8_lossy(&buf).into_owned();
    s.push('\n');
    s
}

/// A content diff; binary or large sides are replaced by a note.
pub fn text_diff(
    before: Option<&[u8]>,
    after: &[u8],
    before_header: &str,
    after_header: &str,
) -> Diff {
    Diff {
        before_header: before_header.to_string(),
        after_header: after_header.to_string(),
        before: before.map(shown).unwrap_or_default(),
        after: shown(after),
    }
}

fn shown(data: &[u8]) -> String {
    if data.contains(&0) {
        "(binary file: content not shown)\n".into()
    } else if data.len() > MAX_DIFF_SIZE {
        format!(
            "(file larger than {} KiB: content not shown)\n",
            MAX_DIFF_SIZE / 1024
        )
    } else {
        String::from_utf8_lossy(data).into_owned()
    }
}

/// Reads up to `MAX_DIFF_SIZE + 1` bytes of a remote file, for a diff's before side.
pub fn read_for_diff(ctx: &mut ModuleCtx, path: &str) -> Result<Vec<u8>> {
    let out = ctx.run(&format!("head -c {} -- {}", MAX_DIFF_SIZE + 1, quote(path)))?;
    if out.rc != 0 {
        return Err(fail(format!(
            "reading `{path}` for the diff failed: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout)
}

/// Reads a whole remote file.
pub fn read_file(ctx: &mut ModuleCtx, path: &str) -> Result<Vec<u8>> {
    let out = ctx.run(&format!("cat -- {}", quote(path)))?;
    if out.rc != 0 {
        return Err(fail(format!(
            "reading `{path}` failed: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(out.stdout)
}

// ---------------------------------------------------------------------------------------------
// Writing files

/// Where a written file's bytes come from.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Bytes from the controller.
    Bytes(Vec<u8>),
    /// A file on the host (`remote_src`), with its checksum and size.
    Remote {
        path: String,
        checksum: String,
        size: u64,
    },
    /// A large file on the controller, streamed to the host when written (`transfer.rs`).
    LocalFile {
        path: std::path::PathBuf,
        checksum: String,
        md5: String,
        size: u64,
    },
}

impl Payload {
    pub fn checksum(&self) -> String {
        match self {
            Payload::Bytes(b) => sha1_hex(b),
            Payload::Remote { checksum, .. } | Payload::LocalFile { checksum, .. } => {
                checksum.clone()
            }
        }
    }
    pub fn size(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::Remote { size, .. } | Payload::LocalFile { size, .. } => *size,
        }
    }
}

/// How to write one file: final attributes and the safety options.
#[derive(Clone, Debug, Default)]
pub struct PutOpts {
    pub mode: Option<u32>,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub backup: bool,
    /// A command with `%s` for the temp file; it must succeed before the file is replaced.
    pub validate: Option<String>,
}

/// Writes `payload` to `dest` atomically (temp file beside it, attributes, optional backup
/// and validation, rename). Returns the backup path if one was made.
pub fn put_file(
    ctx: &mut ModuleCtx,
    dest: &str,
    payload: &Payload,
    opts: &PutOpts,
) -> Result<Option<String>> {
    let (mode, owner, group) = (
        opts.mode.map(|m| format!("{m:04o}")),
        opts.owner.map(|u| u.to_string()),
        opts.group.map(|g| g.to_string()),
    );
    let me = me_ids(ctx);
    if let (Payload::Bytes(data), None) = (payload, &opts.validate) {
        let attrs = FileAttrs {
            mode,
            owner,
            group,
            backup: opts.backup,
            me,
        };
        let as_user = ctx.as_user;
        let conn = ctx.conn()?;
        return write_file_atomic(conn, as_user, dest, data, &attrs).map_err(fail_write);
    }
    let mut s = temp_beside_script(dest, mode.as_deref());
    if opts.validate.is_some() {
        // Keep the destination's suffix: validators often look at it (`nginx -t -c x.conf`).
        let base = basename(dest);
        if let Some(dot) = base.rfind('.').filter(|d| *d > 0) {
            s.push_str(&format!("t=\"$t\"{}\n", quote(&base[dot..])));
        }
    }
    let stdin = match payload {
        Payload::Bytes(data) => {
            let (fill, stdin) = temp_fill_script(data);
            s.push_str(&fill);
            stdin
        }
        Payload::Remote { path, .. } => {
            s.push_str(&format!(
                ": >\"$t\"; set +C; cp -- {} \"$t\"\n",
                quote(path)
            ));
            None
        }
        Payload::LocalFile { path, checksum, .. } => {
            super::transfer::upload(ctx, path, checksum).map_err(fail_write)?;
            let up = super::transfer::UPLOADED;
            s.push_str(&format!(
                ": >\"$t\"; set +C; cat -- {up} >\"$t\"; rm -f -- {up}\n"
            ));
            None
        }
    };
    s.push_str(&temp_attrs_script(
        mode.as_deref(),
        owner.as_deref(),
        group.as_deref(),
        me,
    ));
    if let Some(v) = &opts.validate {
        if !v.contains("%s") {
            return Err(fail(format!("validate must contain %s: {v}")));
        }
        let cmd = v
            .replace("%%", "\u{0}")
            .replace("%s", "\"$t\"")
            .replace('\u{0}', "%");
        s.push_str(&format!(
            "set +e; ( {cmd}\n); vrc=$?; set -e; if [ \"$vrc\" -ne 0 ]; then echo \"@@VRC $vrc\" >&2; exit 86; fi; echo @@VALIDATED\n"
        ));
    }
    if opts.backup {
        s.push_str(
            "if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$dest\" \"$b\"; printf '@@BACKUP %s\\n' \"$b\"; fi\n",
        );
    }
    s.push_str("mv -f -- \"$t\" \"$dest\"; trap - EXIT\n");
    let out = ctx.run_with_stdin(&s, stdin)?;
    let stdout = out.stdout_str();
    if out.rc == 86 && opts.validate.is_some() {
        let stderr = out.stderr_str();
        let (stderr, vrc) = match stderr.rfind("@@VRC ") {
            Some(i) => (
                stderr[..i].to_string(),
                stderr[i + 6..].trim().parse::<i64>().unwrap_or(1),
            ),
            None => (stderr.clone(), 1),
        };
        return Err(fail_with(
            "failed to validate",
            vec![
                ("exit_status".into(), Value::from(vrc)),
                ("stdout".into(), Value::from(stdout)),
                ("stderr".into(), Value::from(stderr)),
            ],
        ));
    }
    if out.rc != 0 {
        return Err(fail(format!(
            "writing `{dest}` failed: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(stdout
        .lines()
        .find_map(|l| l.strip_prefix("@@BACKUP "))
        .map(str::to_string))
}

/// What writing one file comes to, decided from its current state (pure).
#[derive(Clone, Debug, PartialEq)]
pub enum FileDecision {
    /// Present and `force: no`: leave it alone.
    Keep,
    /// Write the content; the file ends with these attributes.
    Write(FinalAttrs),
    /// Content already right; attributes change (possibly nothing).
    Attrs(AttrChange, FinalAttrs),
}

/// Decides one content write. `nofollow` is the lstat of the path, `target` its stat (the
/// same when it is not a link); `follow` writes through a symlink instead of replacing it.
pub fn decide_file(
    nofollow: &FileState,
    target: &FileState,
    checksum: &str,
    want: &AttrWant,
    probe: &Probe,
    force: bool,
    follow: bool,
) -> Result<FileDecision> {
    if nofollow.exists && !force {
        return Ok(FileDecision::Keep);
    }
    let replacing_link = nofollow.is_link() && !follow;
    let current_sum = if replacing_link {
        None
    } else {
        target.checksum.as_deref()
    };
    if current_sum == Some(checksum) {
        let change = want.changes(target, probe.umask)?;
        let fin = want.final_for(target, probe.umask)?;
        return Ok(FileDecision::Attrs(change, fin));
    }
    let fin = if target.exists && !target.is_dir() {
        want.final_for(target, probe.umask)?
    } else {
        want.final_new(probe, false)?
    };
    Ok(FileDecision::Write(fin))
}

// ---------------------------------------------------------------------------------------------
// The content write shared by `copy` and `template`

/// One file to put on the host, as `copy` (content or a single source file) and `template`
/// describe it.
#[derive(Clone, Debug)]
pub struct ContentWrite {
    /// `dest` as given; a trailing `/` means "into this directory".
    pub dest: String,
    pub payload: Payload,
    /// Returned as `src` and used as the diff's after-header.
    pub src_label: Option<String>,
    /// The name used when `dest` is a directory.
    pub basename: Option<String>,
    /// `copy content=`: a directory dest is an error.
    pub content_mode: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub directory_mode: Option<String>,
    pub force: bool,
    pub backup: bool,
    pub follow: bool,
    pub validate: Option<String>,
    /// The diff's after-header when the source is generated (template, content).
    pub after_header: String,
}

/// What `apply_content` does.
pub struct ContentWork {
    path: String,
    payload: Payload,
    mkdirs: Option<String>,
    write: Option<PutOpts>,
    attrs: Option<(AttrChange, bool)>,
}

/// Plans a content write read-only: resolves the destination, compares checksums and
/// attributes, and predicts the result, the diff and the return values.
pub fn plan_content(ctx: &mut ModuleCtx, cw: ContentWrite) -> Result<Plan> {
    catch(plan_content_inner(ctx, cw))
}

fn plan_content_inner(ctx: &mut ModuleCtx, cw: ContentWrite) -> Result<Plan> {
    let dest = expand_home(ctx, &cw.dest)?;
    let trailing = dest.ends_with('/');
    if trailing && cw.content_mode {
        return Err(fail("can not use content with a dir as dest"));
    }
    let base = cw.basename.clone().unwrap_or_default();
    let first = dest_for_file(&dest, &base);
    let inner = join(&first, &base);
    let req = ProbeReq {
        items: vec![
            ProbeItem::new(&first, false).sum(Alg::Sha1),
            ProbeItem::new(&first, true).sum(Alg::Sha1),
            // The file inside `dest` matters only when `dest` is a directory, and `dest`'s
            // directory only when nothing is at `dest`.
            ProbeItem::new(&inner, false)
                .sum(Alg::Sha1)
                .when(ProbeCond::IsDir(first.clone())),
            ProbeItem::new(&inner, true)
                .sum(Alg::Sha1)
                .when(ProbeCond::IsDir(first.clone())),
            ProbeItem::new(dirname(&first), true).when(ProbeCond::Missing(first.clone())),
        ],
        owner: cw.owner.clone(),
        group: cw.group.clone(),
        times: Vec::new(),
    };
    let probe = probe(ctx, &req)?;
    let s = &probe.states;
    let (path, nofollow, target) = if s[1].is_dir() {
        if cw.content_mode {
            return Err(fail("can not use content with a dir as dest"));
        }
        if base.is_empty() {
            return Err(fail(format!("destination {first} is a directory")));
        }
        (inner.clone(), &s[2], &s[3])
    } else {
        (first.clone(), &s[0], &s[1])
    };
    if target.is_dir() {
        return Err(fail(format!("destination {path} is a directory")));
    }
    let want = AttrWant {
        mode: cw.mode.clone(),
        owner: probe.owner_for(cw.owner.as_deref())?,
        group: probe.group_for(cw.group.as_deref())?,
    };
    let checksum = cw.payload.checksum();
    let decision = decide_file(
        nofollow, target, &checksum, &want, &probe, cw.force, cw.follow,
    )?;
    // Writing through a followed link writes its target.
    let write_path = match (&nofollow.link_source, cw.follow && nofollow.is_link()) {
        (Some(real), true) if target.exists => real.clone(),
        _ => path.clone(),
    };
    let mut mkdirs = None;
    let mut check_note: Option<String> = None;
    let parent_exists = s[4].is_dir() || s[1].is_dir();
    if !nofollow.exists && !parent_exists {
        if trailing {
            let dmode = match &cw.directory_mode {
                Some(m) => Some(resolve_mode(
                    m,
                    new_mode(true, probe.umask),
                    true,
                    probe.umask,
                )?),
                None => None,
            };
            mkdirs = Some(mkdirs_script(
                &dirname(&path),
                dmode,
                want.owner.as_ref().map(|o| o.id),
                want.group.as_ref().map(|g| g.id),
            ));
        } else if ctx.check {
            // In check mode an earlier task of the same run may be what creates the directory
            // (it did not, because nothing changes): predict the write, and say so.
            check_note = Some(format!(
                "Destination directory {} does not exist yet; check mode assumes an earlier task creates it",
                dirname(&path)
            ));
        } else {
            return Err(fail(format!(
                "Destination directory {} does not exist",
                dirname(&path)
            )));
        }
    }
    let mut plan;
    match decision {
        FileDecision::Keep => {
            plan = Plan::unchanged().with_value("dest", dest.as_str());
            if let Some(src) = &cw.src_label {
                plan = plan.with_value("src", src.as_str());
            }
            return Ok(plan);
        }
        FileDecision::Write(fin) => {
            // The writer keeps an existing file's mode and gives a new one 0666 & ~umask, so
            // only an explicit mode is passed on.
            let opts = PutOpts {
                mode: want.mode.is_some().then_some(fin.mode),
                owner: want.owner.as_ref().map(|o| o.id),
                group: want.group.as_ref().map(|g| g.id),
                backup: cw.backup,
                validate: cw.validate.clone(),
            };
            let before = if ctx.diff && target.is_reg() && target.readable {
                Some(read_for_diff(ctx, &write_path)?)
            } else {
                None
            };
            plan = Plan::change(ContentWork {
                path: write_path.clone(),
                payload: cw.payload.clone(),
                mkdirs,
                write: Some(opts),
                attrs: None,
            });
            if let Payload::LocalFile { md5, size, .. } = &cw.payload {
                if ctx.diff {
                    let after_header = cw.src_label.clone().unwrap_or(cw.after_header.clone());
                    let mut d = text_diff(
                        Some(before.as_deref().unwrap_or_default()),
                        b"",
                        &write_path,
                        &after_header,
                    );
                    d.after = format!("(file of {size} bytes: content not shown)\n");
                    plan = plan.with_diff(d);
                }
                plan = plan.with_value("md5sum", md5.as_str());
            }
            if let Payload::Bytes(data) = &cw.payload {
                if ctx.diff {
                    let after_header = cw.src_label.clone().unwrap_or(cw.after_header.clone());
                    plan = plan.with_diff(text_diff(
                        Some(before.as_deref().unwrap_or_default()),
                        data,
                        &write_path,
                        &after_header,
                    ));
                }
                plan = plan.with_value("md5sum", md5_hex(data));
            }
            plan = with_info(plan, &write_path, &fin, cw.payload.size());
        }
        FileDecision::Attrs(change, fin) => {
            if change.is_empty() && mkdirs.is_none() {
                plan = Plan::unchanged();
            } else {
                let mut b = DiffMap::new();
                let mut a = DiffMap::new();
                b.insert("path".into(), write_path.clone().into());
                a.insert("path".into(), write_path.clone().into());
                change.add_to(&mut b, &mut a);
                plan = Plan::change(ContentWork {
                    path: write_path.clone(),
                    payload: cw.payload.clone(),
                    mkdirs,
                    write: None,
                    attrs: Some((change, false)),
                })
                .with_diff(dict_diff(&b, &a));
            }
            plan = with_info(plan, &write_path, &fin, target.size);
        }
    }
    plan = plan
        .with_value("dest", write_path.as_str())
        .with_value("checksum", checksum);
    if let Some(src) = &cw.src_label {
        plan = plan.with_value("src", src.as_str());
    }
    if let Some(note) = check_note {
        plan = plan.with_msg(note);
    }
    Ok(plan)
}

/// Ansible's path info on a result: owner, group, uid, gid, mode, state, size.
pub fn with_info(plan: Plan, path: &str, fin: &FinalAttrs, size: u64) -> Plan {
    plan.with_value("path", path)
        .with_value("uid", fin.uid)
        .with_value("gid", fin.gid)
        .with_value("owner", fin.owner.as_str())
        .with_value("group", fin.group.as_str())
        .with_value("mode", fmt_mode(fin.mode))
        .with_value("state", "file")
        .with_value("size", size)
}

/// Carries out a planned content write.
pub fn apply_content(ctx: &mut ModuleCtx, mut plan: Plan) -> Result<Plan> {
    let work: ContentWork = plan.take_work()?;
    Ok(match apply_content_inner(ctx, &work)? {
        Some(backup) => plan.with_value("backup_file", backup),
        None => plan,
    })
}

fn apply_content_inner(ctx: &mut ModuleCtx, work: &ContentWork) -> Result<Option<String>> {
    if let Some(script) = &work.mkdirs {
        run_script(ctx, "creating the destination directory", script)?;
    }
    let mut backup = None;
    if let Some(opts) = &work.write {
        backup = put_file(ctx, &work.path, &work.payload, opts)?;
    }
    if let Some((change, no_deref)) = &work.attrs {
        run_script(
            ctx,
            "setting attributes",
            &change.script(&work.path, *no_deref),
        )?;
    }
    Ok(backup)
}

// ---------------------------------------------------------------------------------------------
// Test support

#[cfg(test)]
pub mod testing {
    //! A hand-built `ModuleCtx` over a local connection, for module tests.
    use super::super::{Args, Module, ModuleCtx, Plan, SearchPaths};
    use crate::connection::{Connection, LocalConnection};
    use minijinja::Value;

    pub struct Harness {
        pub conn: Box<dyn Connection>,
        pub vars: Value,
        pub paths: SearchPaths,
    }

    impl Harness {
        pub fn new() -> Harness {
            Harness {
                conn: Box::new(LocalConnection::new().expect("local shell")),
                vars: Value::from(minijinja::value::Serde(serde_json::json!({}))),
                paths: SearchPaths::default(),
            }
        }

        pub fn ctx(&mut self, check: bool) -> ModuleCtx<'_> {
            ModuleCtx {
                host: "localhost",
                conn: Some(&mut *self.conn),
                as_user: None,
                check,
                diff: true,
                vars: &self.vars,
                paths: &self.paths,
                env: &[],
                verbosity: 0,
                check_changed: false,
            }
        }

        /// A real run: plan, then apply when the plan changes something.
        pub fn run(&mut self, m: &dyn Module, a: &Args) -> Plan {
            let plan = m.plan_task(&mut self.ctx(false), a).expect("plan");
            assert!(!plan.failed, "{:?}", plan.msg);
            if !plan.changed {
                return plan;
            }
            let done = m.apply_task(&mut self.ctx(false), a, plan).expect("apply");
            assert!(!done.failed, "{:?}", done.msg);
            done
        }

        /// Check mode predicts a change and touches nothing; the real run changes; a second
        /// run neither changes nor fails. Returns the prediction and the real run's result.
        pub fn cycle(&mut self, m: &dyn Module, dir: &std::path::Path, a: &Args) -> (Plan, Plan) {
            let snap = snapshot(dir);
            let predicted = m.plan_task(&mut self.ctx(true), a).expect("plan");
            assert!(
                predicted.changed && !predicted.failed,
                "{:?}",
                predicted.msg
            );
            assert_eq!(snapshot(dir), snap, "check mode changed the disk");
            let done = self.run(m, a);
            let again = m.plan_task(&mut self.ctx(false), a).expect("plan");
            assert!(
                !again.changed && !again.failed,
                "second run: {:?} {:?}",
                again.msg,
                again.diffs
            );
            (predicted, done)
        }
    }

    /// Arguments from a JSON object.
    pub fn args(v: serde_json::Value) -> Args {
        let value = Value::from(minijinja::value::Serde(&v));
        Args {
            map: crate::vars::varmap_from_value(&value),
        }
    }

    /// Every file under a directory with its bytes, mode and link target: a snapshot to
    /// prove check mode left it untouched.
    pub fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>, u32, Option<String>)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(md) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                let link = std::fs::read_link(&p)
                    .ok()
                    .map(|l| l.to_string_lossy().into_owned());
                let bytes = if md.is_file() {
                    std::fs::read(&p).unwrap_or_default()
                } else {
                    Vec::new()
                };
                if md.is_dir() {
                    stack.push(p.clone());
                }
                out.push((
                    p.to_string_lossy().into_owned(),
                    bytes,
                    md.permissions().mode(),
                    link,
                ));
            }
        }
        out.sort();
        out
    }

    pub fn mode_of(p: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn id_output_fields() {
        let line = "uid=1000(deploy) gid=27(sudo) groups=27(sudo),1000(deploy)";
        let u = id_field(line, "uid=").unwrap();
        let g = id_field(line, "gid=").unwrap();
        assert_eq!(
            (u.id, u.name.as_str(), g.id, g.name.as_str()),
            (1000, "deploy", 27, "sudo")
        );
        let anon = id_field("uid=4242 gid=4242 groups=4242", "uid=").unwrap();
        assert_eq!((anon.id, anon.name.as_str()), (4242, ""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes_match_ansible() {
        // (spec, current, is_dir, umask, want)
        let table: &[(&str, u32, bool, u32, u32)] = &[
            ("u+x", 0o644, false, 0o022, 0o744),
            ("u=rw,g=r,o=", 0o777, false, 0o022, 0o640),
            ("a+X", 0o644, false, 0o022, 0o644),
            ("a+X", 0o744, false, 0o022, 0o755),
            ("a+X", 0o600, true, 0o022, 0o711),
            ("go-rwx", 0o755, false, 0o022, 0o700),
            ("+x", 0o644, false, 0o022, 0o755),
            ("+w", 0o444, false, 0o022, 0o644),
            ("=r", 0o777, false, 0o022, 0o444),
            ("u+s", 0o755, false, 0o022, 0o4755),
            ("g+s,o+t", 0o755, true, 0o022, 0o3755),
            ("u=rwx,g=u,o=g", 0o600, false, 0o022, 0o777),
            ("g=u-w", 0o750, false, 0o022, 0o750),
            ("g=u", 0o750, false, 0o022, 0o770),
            ("u-s", 0o4755, false, 0o022, 0o755),
            ("o=", 0o1777, true, 0o022, 0o770),
            ("a=rw", 0o755, false, 0o077, 0o666),
        ];
        for (spec, cur, dir, umask, want) in table {
            let got = symbolic_to_octal(spec, *cur, *dir, *umask).unwrap();
            assert_eq!(got, *want, "{spec} on {cur:o}: got {got:o}, want {want:o}");
        }
        assert!(symbolic_to_octal("z+x", 0o644, false, 0o022).is_err());
        assert!(symbolic_to_octal("u+q", 0o644, false, 0o022).is_err());
        assert!(symbolic_to_octal("ux", 0o644, false, 0o022).is_err());
        assert_eq!(resolve_mode("0640", 0o777, false, 0o022).unwrap(), 0o640);
    }

    #[test]
    fn path_helpers() {
        assert_eq!(dirname("/a/b/c"), "/a/b");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a"), "");
        assert_eq!(dirname("a/b/"), "a/b");
        assert_eq!(basename("/a/b.txt"), "b.txt");
        assert_eq!(join("/d/", "x"), "/d/x");
        assert_eq!(join("/d", "/x"), "/x");
        assert_eq!(ancestors("/a/b/c"), ["/a", "/a/b"]);
        assert_eq!(ancestors("a/b/c"), ["a", "a/b"]);
        assert_eq!(fmt_mode(0o644), "0644");
        assert_eq!(fmt_mode(0o4755), "04755");
        assert_eq!(fmt_mode(0), "0000");
    }

    #[test]
    fn probe_parses_stat_and_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("it's a file");
        std::fs::write(&f, b"hello\n").unwrap();
        let link = dir.path().join("ln");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let mut h = testing::Harness::new();
        let mut ctx = h.ctx(false);
        let req = ProbeReq {
            items: vec![
                ProbeItem::new(f.to_str().unwrap(), false).sum(Alg::Sha1),
                ProbeItem::new(link.to_str().unwrap(), false).sum(Alg::Sha1),
                ProbeItem::new(link.to_str().unwrap(), true).sum(Alg::Sha256),
                ProbeItem::new(dir.path().join("none").to_str().unwrap(), false),
            ],
            owner: Some("root".into()),
            group: Some("0".into()),
            times: vec!["2020-01-02 03:04:05".into()],
        };
        let p = probe(&mut ctx, &req).unwrap();
        assert_eq!(
            p.states[0].checksum.as_deref(),
            Some(sha1_hex(b"hello\n").as_str())
        );
        assert_eq!(p.states[0].size, 6);
        assert!(p.states[0].is_reg());
        assert_eq!(p.states[0].state_name(), "file");
        assert!(p.states[1].is_link());
        assert_eq!(p.states[1].checksum, None);
        assert_eq!(p.states[1].link_target.as_deref(), f.to_str());
        assert!(p.states[2].is_reg());
        assert_eq!(p.states[2].checksum.as_ref().map(String::len), Some(64));
        assert!(!p.states[3].exists);
        assert_eq!(
            p.owner,
            Some(Ident {
                id: 0,
                name: "root".into()
            })
        );
        assert_eq!(p.group.as_ref().map(|g| g.id), Some(0));
        assert!(p.times[0].is_some());
        assert!(p.me_user.is_some());

        // The identity and the id lookups are memoized: asked again, the script leaves them
        // out and the answers are the same; twins and conditional items answer without a stat.
        let known: Vec<String> = memo_keys(&req, "")
            .into_iter()
            .filter(|k| ctx.conn().unwrap().memo().get(k).is_some())
            .collect();
        assert_eq!(known.len(), 3, "{known:?}");
        let again = probe_script(&req, &known);
        assert!(
            !again.contains("getent") && !again.contains(" id"),
            "{again}"
        );
        let p2 = probe(&mut ctx, &req).unwrap();
        assert_eq!(
            (p2.owner, p2.group, p2.me_user),
            (p.owner, p.group, p.me_user)
        );
        let fs = f.to_str().unwrap();
        let twins = ProbeReq {
            items: vec![
                ProbeItem::new(fs, false).sum(Alg::Sha1),
                ProbeItem::new(fs, true).sum(Alg::Sha1),
                ProbeItem::new(fs, true).sum(Alg::Sha1),
                ProbeItem::new(format!("{fs}/x"), false).when(ProbeCond::IsDir(fs.into())),
                ProbeItem::new(dir.path().to_str().unwrap(), true)
                    .when(ProbeCond::Missing(fs.into())),
            ],
            ..ProbeReq::default()
        };
        let script = probe_script(&twins, &[]);
        assert_eq!(script.matches("stat ").count(), 4, "{script}");
        let t = probe(&mut ctx, &twins).unwrap();
        assert_eq!(t.states[0], t.states[1]);
        assert_eq!(t.states[1], t.states[2]);
        assert!(t.states[0].checksum.is_some());
        assert!(!t.states[3].exists && !t.states[4].exists);
    }

    #[test]
    fn unknown_owner_is_a_task_failure() {
        let mut h = testing::Harness::new();
        let mut ctx = h.ctx(false);
        let req = ProbeReq {
            owner: Some("no-such-user-drover".into()),
            ..ProbeReq::default()
        };
        let p = probe(&mut ctx, &req).unwrap();
        let err = p.owner_for(Some("no-such-user-drover")).unwrap_err();
        let plan = catch(Err(err)).unwrap();
        assert!(plan.failed);
        assert!(plan.msg.unwrap().contains("no-such-user-drover"));
    }

    #[test]
    fn put_file_validates_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("app.conf");
        std::fs::write(&dest, b"old\n").unwrap();
        let d = dest.to_str().unwrap();
        let mut h = testing::Harness::new();
        let mut ctx = h.ctx(false);
        let bad = PutOpts {
            validate: Some("grep -q good %s".into()),
            ..PutOpts::default()
        };
        let err = put_file(&mut ctx, d, &Payload::Bytes(b"bad\n".to_vec()), &bad).unwrap_err();
        let plan = catch(Err(err)).unwrap();
        assert_eq!(plan.msg.as_deref(), Some("failed to validate"));
        assert_eq!(std::fs::read(&dest).unwrap(), b"old\n");
        let good = PutOpts {
            validate: Some("grep -q good %s && case %s in *.conf) true;; *) false;; esac".into()),
            backup: true,
            mode: Some(0o600),
            ..PutOpts::default()
        };
        let backup = put_file(&mut ctx, d, &Payload::Bytes(b"good\n".to_vec()), &good)
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"good\n");
        assert_eq!(std::fs::read(&backup).unwrap(), b"old\n");
        assert_eq!(testing::mode_of(&dest), 0o600);
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("drover-tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn decisions() {
        let probe = Probe {
            umask: 0o022,
            me_user: Some(Ident {
                id: 5,
                name: "me".into(),
            }),
            me_group: Some(Ident {
                id: 6,
                name: "us".into(),
            }),
            ..Probe::default()
        };
        let absent = FileState::default();
        let want = AttrWant {
            mode: Some("u+x".into()),
            ..AttrWant::default()
        };
        let d = decide_file(&absent, &absent, "abc", &want, &probe, true, false).unwrap();
        assert_eq!(
            d,
            FileDecision::Write(FinalAttrs {
                uid: 5,
                gid: 6,
                owner: "me".into(),
                group: "us".into(),
                mode: 0o744
            })
        );
        let same = FileState {
            exists: true,
            st_mode: S_IFREG | 0o744,
            nlink: 1,
            checksum: Some("abc".into()),
            ..FileState::default()
        };
        match decide_file(&same, &same, "abc", &want, &probe, true, false).unwrap() {
            FileDecision::Attrs(c, _) => assert!(c.is_empty()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide_file(&same, &same, "xyz", &want, &probe, false, false).unwrap(),
            FileDecision::Keep
        );
        let link = FileState {
            exists: true,
            st_mode: S_IFLNK | 0o777,
            ..FileState::default()
        };
        assert!(matches!(
            decide_file(&link, &same, "abc", &want, &probe, true, false).unwrap(),
            FileDecision::Write(_)
        ));
        assert!(matches!(
            decide_file(&link, &same, "abc", &want, &probe, true, true).unwrap(),
            FileDecision::Attrs(..)
        ));
    }
}
