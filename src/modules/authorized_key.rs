//! `authorized_key` (also `ansible.posix.authorized_key`): ensure SSH public keys are present
//! in (or absent from) a user's `authorized_keys`. One probe reads the user's passwd entry and
//! the file; the new content is computed in Rust (`update`, pure and table-tested: keys are
//! matched by their key blob, options and comments are replaced in place, lines the task does
//! not own are kept verbatim), then written atomically as the user with mode 0600.

use super::fileops::{fail, text_diff};
use super::user::parse_passwd;
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::connection::{write_file_atomic, FileAttrs};
use crate::shell::quote;
use anyhow::Result;
use std::collections::HashSet;

pub struct AuthorizedKey;

static SPEC: Spec = Spec {
    args: &[
        "user",
        "key",
        "state",
        "path",
        "exclusive",
        "manage_dir",
        "key_options",
        "comment",
        "follow",
        "validate_certs",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
};

const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "ssh-xmss@openssh.com",
];

fn is_key_type(t: &str) -> bool {
    KEY_TYPES.contains(&t)
        || t.strip_suffix("-cert-v01@openssh.com").is_some_and(|base| {
            KEY_TYPES
                .iter()
                .any(|k| k.trim_end_matches("@openssh.com") == base)
        })
}

/// One key line: `[options] type blob [comment]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLine {
    pub options: Vec<String>,
    pub ktype: String,
    pub blob: String,
    pub comment: Option<String>,
}

/// Splits an options string on commas outside double quotes.
pub fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Takes the first whitespace-delimited word (double quotes group), returning it and the rest.
fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

/// Parses a key line; `None` for blank lines, comments and anything that is not a key.
pub fn parse_key(line: &str) -> Option<KeyLine> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (w, rest) = first_word(line);
    let (options, ktype, rest) = if is_key_type(w) {
        (Vec::new(), w, rest)
    } else {
        let (t, rest2) = first_word(rest);
        if !is_key_type(t) {
            return None;
        }
        (split_options(w), t, rest2)
    };
    let (blob, rest) = first_word(rest);
    if blob.is_empty() {
        return None;
    }
    // As Ansible's authorized_key: the comment is the remaining words joined by one space.
    let comment = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(KeyLine {
        options,
        ktype: ktype.to_string(),
        blob: blob.to_string(),
        comment: (!comment.is_empty()).then(|| comment.to_string()),
    })
}

/// A key as a line of `authorized_keys`.
pub fn render(k: &KeyLine) -> String {
    let mut s = String::new();
    if !k.options.is_empty() {
        s.push_str(&k.options.join(","));
        s.push(' ');
    }
    s.push_str(&k.ktype);
    s.push(' ');
    s.push_str(&k.blob);
    if let Some(c) = &k.comment {
        s.push(' ');
        s.push_str(c);
    }
    s
}

/// The keys a task names: each non-blank, non-comment line of `key`, with `key_options` and
/// `comment` replacing the line's own, in order (a repeated blob too, as Ansible has them).
pub fn wanted_keys(
    key: &str,
    key_options: Option<&str>,
    comment: Option<&str>,
) -> Result<Vec<KeyLine>, String> {
    // A line break in an option or a comment would start a line of its own in the file: a key
    // nobody asked for.
    for (what, v) in [("key_options", key_options), ("comment", comment)] {
        if v.is_some_and(|v| v.contains(['\n', '\r', '\0'])) {
            return Err(format!(
                "invalid {what}: it must be one line (no line breaks or NUL)"
            ));
        }
    }
    if key.contains('\0') {
        return Err("invalid key specified: it contains a NUL byte".into());
    }
    let mut out: Vec<KeyLine> = Vec::new();
    for line in key.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some(mut k) = parse_key(t) else {
            return Err(format!("invalid key specified: {t}"));
        };
        if let Some(o) = key_options {
            k.options = split_options(o);
        }
        if let Some(c) = comment {
            k.comment = (!c.is_empty()).then(|| c.to_string());
        }
        out.push(k);
    }
    Ok(out)
}

/// A line of an authorized_keys file as the module keeps it: a key, or any other line as is.
enum Entry {
    Key(KeyLine),
    Raw(String),
}

/// The file's new content, or `None` when it stays as it is; ansible.posix's algorithm: the
/// file's lines keyed by key blob (any other line by its text; a later line with the same
/// key wins, keeping the place of the first), each with its line number as rank; a wanted key
/// that differs is removed and added again after every existing line, in the order given;
/// `exclusive` drops every other entry, comments too; the file is written sorted by rank.
pub fn update(existing: &str, keys: &[KeyLine], present: bool, exclusive: bool) -> Option<String> {
    let mut map: indexmap::IndexMap<String, (Entry, usize)> = indexmap::IndexMap::new();
    for (rank, line) in existing.lines().enumerate() {
        match parse_key(line) {
            Some(k) => map.insert(k.blob.clone(), (Entry::Key(k), rank)),
            None => map.insert(line.to_string(), (Entry::Raw(line.to_string()), rank)),
        };
    }
    let max_rank = map.len();
    let mut keep: HashSet<&str> = HashSet::new();
    let mut write = false;
    for (idx, k) in keys.iter().enumerate() {
        let same = match map.get(&k.blob) {
            None => None,
            Some((Entry::Key(e), _)) => Some(e == k),
            Some((Entry::Raw(_), _)) => Some(false),
        };
        if present {
            keep.insert(&k.blob);
            if same == Some(false) {
                map.shift_remove(&k.blob);
            }
            if same != Some(true) {
                map.insert(k.blob.clone(), (Entry::Key(k.clone()), max_rank + idx));
                write = true;
            }
        } else if same.is_some() {
            map.shift_remove(&k.blob);
            write = true;
        }
    }
    if present && exclusive {
        let before = map.len();
        map.retain(|k, _| keep.contains(k.as_str()));
        write |= map.len() != before;
    }
    if !write {
        return None;
    }
    let mut entries: Vec<&(Entry, usize)> = map.values().collect();
    entries.sort_by_key(|(_, rank)| *rank);
    let mut s = String::new();
    for (e, _) in entries {
        match e {
            Entry::Key(k) => s.push_str(&render(k)),
            Entry::Raw(l) => s.push_str(l),
        }
        s.push('\n');
    }
    Some(s)
}

/// What the probe found.
#[derive(Debug, Default)]
struct Found {
    uid: u32,
    gid: u32,
    file: String,
    dir_exists: bool,
    exists: bool,
    content: String,
}

struct Work {
    file: String,
    content: String,
    uid: u32,
    gid: u32,
    manage_dir: bool,
    dir_exists: bool,
}

/// Probes the user and the file; `None` when the user does not exist.
fn probe(
    ctx: &mut ModuleCtx,
    user: &str,
    path: Option<&str>,
    follow: bool,
) -> Result<Option<Found>> {
    // The account's passwd line, from the connection's memo when a file task looked it up.
    let known = ctx
        .conn()?
        .memo()
        .get(&super::fileops::user_memo_key(user))
        .and_then(|l| l.strip_prefix("@U "))
        .map(|l| l.trim_end().to_string())
        .filter(|l| l.split(':').next() == Some(user));
    let lookup = match known {
        Some(line) => format!("p={}", quote(&line)),
        None => "p=$(getent passwd -- \"$u\") || { echo NOUSER; exit 0; }".to_string(),
    };
    let mut s = format!(
        "u={}\n{lookup}\nprintf 'P %s\\n' \"$p\"\nh=${{p#*:*:*:*:*:}}; h=${{h%%:*}}\n",
        quote(user)
    );
    match path {
        None => s.push_str("f=\"$h/.ssh/authorized_keys\"\n"),
        Some(p) => match p.strip_prefix("~/") {
            Some(rest) => s.push_str(&format!("f=\"$h\"/{}\n", quote(rest))),
            None => s.push_str(&format!("f={}\n", quote(p))),
        },
    }
    if follow {
        s.push_str("if [ -L \"$f\" ]; then f=$(readlink -f -- \"$f\"); fi\n");
    }
    s.push_str(
        // Parameter expansions instead of `cut` and `dirname`: no process.
        "printf 'F %s\\n' \"$f\"\nd=${f%/*}; [ -d \"${d:-/}\" ] && echo DIR\n\
         if [ -f \"$f\" ]; then echo EXISTS; echo @@CONTENT; cat -- \"$f\" || exit 1; fi\ntrue",
    );
    let out = ctx.run(&s)?;
    if out.rc != 0 {
        return Err(fail(format!(
            "reading the authorized_keys of {user} failed: {}",
            out.stderr_str().trim()
        )));
    }
    let text = out.stdout_str();
    let (head, content) = match text.split_once("@@CONTENT\n") {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (text.clone(), String::new()),
    };
    let mut f = Found {
        content,
        ..Found::default()
    };
    let mut have_user = false;
    for line in head.lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "NOUSER" => return Ok(None),
            "P" => {
                if let Some(p) = parse_passwd(rest) {
                    f.uid = p.uid;
                    f.gid = p.gid;
                    have_user = true;
                }
            }
            "F" => f.file = rest.to_string(),
            "DIR" => f.dir_exists = true,
            "EXISTS" => f.exists = true,
            _ => {}
        }
    }
    if !have_user {
        return Err(fail(format!("Failed to lookup user {user}")));
    }
    Ok(Some(f))
}

/// The keys of `key: file://PATH`: the file on the host, with Ansible's messages.
fn key_file(ctx: &mut ModuleCtx, path: &str) -> Result<String> {
    let q = crate::shell::quote(path);
    let out = ctx.run(&format!(
        "if [ -d {q} ]; then echo dir; elif [ -e {q} ]; then echo file; else echo none; fi"
    ))?;
    match out.stdout_str().trim() {
        "none" => Err(fail(format!("Path to a key file not found: {path}"))),
        "dir" => Err(fail(format!(
            "Path to a key is a directory and must be a file: {path}"
        ))),
        _ => {
            let bytes = super::fileops::read_file(ctx, path)
                .map_err(|e| fail(format!("Failed to read key file {path} : {e:#}")))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let user = args.req_str("user")?;
    let key = args.req_str("key")?;
    if key.starts_with("http://") || key.starts_with("https://") {
        return Err(fail(
            "keys given as URLs are not supported; give the key text",
        ));
    }
    let present = args.choice("state", &["present", "absent"], "present")? == "present";
    let exclusive = args.bool_or("exclusive", false)?;
    let manage_dir = args.bool_or("manage_dir", true)?;
    let follow = args.bool_or("follow", false)?;
    let key_options = args.str("key_options");
    let comment = args.str("comment");
    let path = args.str("path");
    let key_text = match key.strip_prefix("file://") {
        Some(p) => key_file(ctx, p)?,
        None => key.clone(),
    };
    let keys = wanted_keys(&key_text, key_options.as_deref(), comment.as_deref()).map_err(fail)?;
    let found = match probe(ctx, &user, path.as_deref(), follow)? {
        Some(f) => f,
        None if ctx.check => {
            // In check mode an earlier task of the same run may be what creates the user.
            let keyfile = match path.as_deref() {
                Some(p) if !p.starts_with("~/") => p.to_string(),
                _ => format!("~{user}/.ssh/authorized_keys"),
            };
            let changed = present && !keys.is_empty();
            let mut p = Plan::unchanged()
                .with_msg(format!(
                    "User {user} does not exist yet; check mode assumes an earlier task creates it"
                ))
                .with_value("user", user.as_str())
                .with_value("key", key.as_str())
                .with_value("keyfile", keyfile);
            p.changed = changed;
            return Ok(p);
        }
        None => return Err(fail(format!("Failed to lookup user {user}"))),
    };
    let new = update(&found.content, &keys, present, exclusive);
    let mut plan = match &new {
        Some(content) => {
            let mut p = Plan::change(Work {
                file: found.file.clone(),
                content: content.clone(),
                uid: found.uid,
                gid: found.gid,
                manage_dir,
                dir_exists: found.dir_exists,
            });
            if ctx.diff {
                p = p.with_diff(text_diff(
                    Some(found.content.as_bytes()),
                    content.as_bytes(),
                    &found.file,
                    &found.file,
                ));
            }
            p
        }
        None => Plan::unchanged(),
    };
    plan = plan
        .with_value("user", user.as_str())
        .with_value("key", key.as_str())
        .with_value("keyfile", found.file.as_str())
        .with_value("state", if present { "present" } else { "absent" })
        .with_value("exclusive", exclusive)
        .with_value("manage_dir", manage_dir)
        .with_value("follow", follow)
        .with_value("validate_certs", args.bool_or("validate_certs", true)?);
    for (k, v) in [
        ("key_options", &key_options),
        ("comment", &comment),
        ("path", &path),
    ] {
        plan = plan.with_value(
            k,
            v.as_deref()
                .map(minijinja::Value::from)
                .unwrap_or(minijinja::Value::from(())),
        );
    }
    Ok(plan)
}

fn apply(ctx: &mut ModuleCtx, w: &Work) -> Result<()> {
    let dir = super::fileops::dirname(&w.file);
    let owner = format!("{}:{}", w.uid, w.gid);
    if w.manage_dir {
        let out = ctx.run(&format!(
            "set -e; d={}; if [ -L \"$d\" ]; then echo \"$d is a symbolic link: refusing to change its owner and mode (use manage_dir: no)\" >&2; exit 1; fi; \
             if [ ! -d \"$d\" ]; then mkdir -p -m 700 -- \"$d\"; chown {o} -- \"$d\"; \
             elif [ \"$(stat -c %u:%g:%a -- \"$d\")\" != {o}:700 ]; then chown {o} -- \"$d\"; chmod 700 -- \"$d\"; fi",
            quote(&dir),
            o = quote(&owner)
        ))?;
        if out.rc != 0 {
            return Err(fail(format!(
                "preparing {dir} failed: {}",
                out.stderr_str().trim()
            )));
        }
    } else if !w.dir_exists && ctx.run(&format!("[ -d {} ]", quote(&dir)))?.rc != 0 {
        return Err(fail(format!(
            "directory {dir} does not exist (and manage_dir is false)"
        )));
    }
    let attrs = FileAttrs {
        mode: Some("0600".into()),
        owner: Some(w.uid.to_string()),
        group: Some(w.gid.to_string()),
        backup: false,
        me: super::fileops::me_ids(ctx),
    };
    let as_user = ctx.as_user;
    let conn = ctx.conn()?;
    write_file_atomic(conn, as_user, &w.file, w.content.as_bytes(), &attrs)
        .map_err(super::fileops::fail_write)?;
    Ok(())
}

impl Module for AuthorizedKey {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "authorized_key"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        plan(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        let work: Work = plan.take_work()?;
        apply(ctx, &work)?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop";
    const B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob";

    fn keys(text: &str) -> Vec<KeyLine> {
        wanted_keys(text, None, None).unwrap()
    }

    #[test]
    fn parses_key_lines() {
        let k = parse_key(
            "no-pty,from=\"10.0.0.1,10.0.0.2\",command=\"echo a b\" ssh-ed25519 AAAA the comment",
        )
        .unwrap();
        assert_eq!(
            k.options,
            [
                "no-pty",
                "from=\"10.0.0.1,10.0.0.2\"",
                "command=\"echo a b\""
            ]
        );
        assert_eq!(k.ktype, "ssh-ed25519");
        assert_eq!(k.blob, "AAAA");
        assert_eq!(k.comment.as_deref(), Some("the comment"));
        assert_eq!(parse_key("# comment"), None);
        assert_eq!(parse_key(""), None);
        assert_eq!(parse_key("not a key"), None);
        assert!(parse_key("ssh-ed25519-cert-v01@openssh.com AAAA").is_some());
        assert_eq!(
            render(&k),
            "no-pty,from=\"10.0.0.1,10.0.0.2\",command=\"echo a b\" ssh-ed25519 AAAA the comment"
        );
        assert!(wanted_keys("garbage", None, None).is_err());
    }

    #[test]
    fn options_and_comments_with_line_breaks_are_refused() {
        let key = "ssh-ed25519 AAAA c";
        let evil = "no-pty\nssh-ed25519 BBBB intruder";
        let e = wanted_keys(key, Some(evil), None).unwrap_err();
        assert!(e.starts_with("invalid key_options"), "{e}");
        let e = wanted_keys(key, None, Some(evil)).unwrap_err();
        assert!(e.starts_with("invalid comment"), "{e}");
        assert!(wanted_keys("ssh-ed25519 AAAA a\0b", None, None).is_err());
        assert!(wanted_keys(key, Some("no-pty,from=\"a\""), Some("x")).is_ok());
    }

    #[test]
    fn update_table() {
        type Case<'a> = (&'a str, &'a str, Vec<KeyLine>, bool, bool, Option<String>);
        let cases: Vec<Case> = vec![
            ("add to empty", "", keys(A), true, false, Some(format!("{A}\n"))),
            (
                "add keeps other lines",
                "# mine\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n",
                keys(A),
                true,
                false,
                Some(format!("# mine\n{B}\n{A}\n")),
            ),
            ("keep", "# x\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n", keys(A), true, false, None),
            (
                "replace options in place",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n# tail\n",
                wanted_keys(A, Some("no-pty,no-agent-forwarding"), None).unwrap(),
                true,
                false,
                // A changed key is added again after the existing lines.
                Some(format!("# tail\nno-pty,no-agent-forwarding {A}\n")),
            ),
            (
                "the last line of a repeated blob is the key (the file stays as it is)",
                "from=\"x\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA old\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n",
                keys(A),
                true,
                false,
                None,
            ),
            (
                "remove by blob whatever the options/comment",
                "no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA other\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n",
                keys("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA"),
                false,
                false,
                Some(format!("{B}\n")),
            ),
            ("remove absent key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n", keys(A), false, false, None),
            (
                "exclusive drops other keys and comments",
                "# header\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABBBB bob\n",
                keys(A),
                true,
                true,
                Some(format!("{A}\n")),
            ),
            (
                "exclusive, already exact",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n",
                keys(A),
                true,
                true,
                None,
            ),
            (
                "several keys in one task",
                "",
                keys(&format!("{A}\n\n{B}\n")),
                true,
                false,
                Some(format!("{A}\n{B}\n")),
            ),
            (
                "comment replaced",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop\n",
                wanted_keys(A, None, Some("work")).unwrap(),
                true,
                false,
                Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA work\n".into()),
            ),
            (
                "file without final newline, unchanged",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA alice@laptop",
                keys(A),
                true,
                false,
                None,
            ),
        ];
        for (what, existing, ks, present, exclusive, expect) in cases {
            assert_eq!(update(existing, &ks, present, exclusive), expect, "{what}");
        }
    }
}
