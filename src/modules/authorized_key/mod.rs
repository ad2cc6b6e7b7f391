//! `authorized_key` (also `ansible.posix.authorized_key`): ensure SSH public keys are present
//! in (or absent from) a user's `authorized_keys`. One probe reads the user's passwd entry and
//! the file; the new content is computed in Rust (`update`, pure and table-tested: keys are
//! matched by their key blob, options and comments are replaced in place, lines the task does
//! not own are kept verbatim), then written atomically as the user with mode 0600.
//!
//! Files: `keys.rs` (key lines, pure), this file (the module on the contract).

use super::contract::{
    Content, Failure, Observe, Observed, Outcome, Read, Resolve, Script, Step, Typed,
};
use super::fileops::{self, fail, text_diff, PutOpts};
use super::user::parse_passwd;
use super::{Args, Plan, Spec};
use anyhow::Result;
use std::collections::HashSet;

mod keys;

pub use keys::*;

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
    file_args: false,
};

/// `authorized_key`'s arguments, typed.
pub struct KeyArgs {
    user: String,
    key: String,
    /// `key: file://PATH`: the key file on the host.
    key_file: Option<String>,
    present: bool,
    exclusive: bool,
    manage_dir: bool,
    follow: bool,
    key_options: Option<String>,
    comment: Option<String>,
    path: Option<String>,
    validate_certs: bool,
    /// The user's `passwd` line when the connection already knows it.
    known: Option<String>,
}

/// A decided write of the keys file.
pub struct Change {
    file: String,
    content: String,
    uid: u32,
    gid: u32,
    manage_dir: bool,
}

impl Typed for AuthorizedKey {
    type Args = KeyArgs;
    type Change = Change;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "authorized_key"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<KeyArgs> {
        let user = args.req_str("user")?;
        let key = args.req_str("key")?;
        if key.starts_with("http://") || key.starts_with("https://") {
            return Err(fail(
                "keys given as URLs are not supported; give the key text",
            ));
        }
        Ok(KeyArgs {
            key_file: key.strip_prefix("file://").map(str::to_string),
            present: args.choice("state", &["present", "absent"], "present")? == "present",
            exclusive: args.bool_or("exclusive", false)?,
            manage_dir: args.bool_or("manage_dir", true)?,
            follow: args.bool_or("follow", false)?,
            key_options: args.str("key_options"),
            comment: args.str("comment"),
            path: args.str("path"),
            validate_certs: args.bool_or("validate_certs", true)?,
            known: host.known_user(&user),
            user,
            key,
        })
    }

    /// The key file (for `file://`), the user's passwd line, the keys file's path (from the
    /// home directory) and whether its directory exists, then its content: one round trip.
    fn observe(&self, a: &KeyArgs) -> Observe {
        let mut sections = Vec::new();
        if let Some(k) = &a.key_file {
            let read = Script::new().set("k", k).raw(
                "if [ -d \"$k\" ]; then echo dir; elif [ -e \"$k\" ]; then echo file; cat -- \"$k\"; else echo none; fi\n",
            );
            sections.push(("keyfile", read));
        }
        let passwd = match &a.known {
            Some(line) => Script::new().set("p", line),
            None => Script::new()
                .set("u", &a.user)
                .raw("p=$(getent passwd -- \"$u\") || p=\n"),
        };
        sections.push(("passwd", passwd.raw("printf '%s\\n' \"$p\"\n")));
        // Parameter expansions instead of `cut` and `dirname`: no process.
        let mut file = Script::new().raw("h=${p#*:*:*:*:*:}; h=${h%%:*}\n");
        file = match a.path.as_deref() {
            None => file.raw("f=\"$h/.ssh/authorized_keys\"\n"),
            Some(p) => match p.strip_prefix("~/") {
                Some(rest) => file.set("r", rest).raw("f=\"$h/$r\"\n"),
                None => file.set("f", p),
            },
        };
        if a.follow {
            file = file.raw("if [ -L \"$f\" ]; then f=$(readlink -f -- \"$f\"); fi\n");
        }
        sections.push(("file", file.raw("printf '%s\\n' \"$f\"\n")));
        sections.push((
            "dir",
            Script::new().raw("d=${f%/*}; [ -d \"${d:-/}\" ] && echo yes\n"),
        ));
        Observe {
            sections,
            read: Some(Read::Var("f")),
            ..Observe::default()
        }
    }

    fn decide(&self, a: &KeyArgs, seen: &Observed) -> Outcome<Change> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &KeyArgs, c: &Change) -> Vec<Step> {
        let mut steps = Vec::new();
        if c.manage_dir {
            let owner = format!("{}:{}", c.uid, c.gid);
            let prepare = Script::new()
                .set("d", &fileops::dirname(&c.file))
                .set("o", &owner)
                .raw(concat!(
                    "if [ -L \"$d\" ]; then echo \"$d is a symbolic link: refusing to change its owner and mode (use manage_dir: no)\" >&2; exit 1; fi\n",
                    "if [ ! -d \"$d\" ]; then mkdir -p -m 700 -- \"$d\"; chown \"$o\" -- \"$d\"; ",
                    "elif [ \"$(stat -c %u:%g:%a -- \"$d\")\" != \"$o:700\" ]; then chown \"$o\" -- \"$d\"; chmod 700 -- \"$d\"; fi\n"
                ));
            steps.push(Step::Run {
                what: "preparing the .ssh directory",
                script: prepare,
            });
        }
        steps.push(Step::Put {
            path: c.file.clone(),
            payload: fileops::Payload::Bytes(c.content.clone().into_bytes()),
            opts: PutOpts {
                mode: Some(0o600),
                owner: Some(c.uid),
                group: Some(c.gid),
                ..PutOpts::default()
            },
        });
        steps
    }
}

fn decide(a: &KeyArgs, seen: &Observed) -> Result<Outcome<Change>, Failure> {
    let key_text = match &a.key_file {
        None => a.key.clone(),
        Some(p) => {
            let out = seen.section("keyfile");
            let (kind, text) = out.split_once('\n').unwrap_or((out, ""));
            match kind {
                "none" => return Err(Failure::new(format!("Path to a key file not found: {p}"))),
                "dir" => {
                    return Err(Failure::new(format!(
                        "Path to a key is a directory and must be a file: {p}"
                    )))
                }
                _ if seen.code("keyfile") != Some(0) => {
                    return Err(Failure::new(format!(
                        "Failed to read key file {p} : {}",
                        seen.stderr.trim()
                    )))
                }
                _ => text.to_string(),
            }
        }
    };
    let keys = wanted_keys(&key_text, a.key_options.as_deref(), a.comment.as_deref())?;
    let user = &a.user;
    let passwd = parse_passwd(seen.section("passwd").trim_end());
    let mut report = Plan::unchanged()
        .with_value("user", user.as_str())
        .with_value("key", a.key.as_str());
    let Some(pw) = passwd else {
        let lookup_failed = Failure::new(format!("Failed to lookup user {user}"));
        if !a.present || keys.is_empty() {
            return Err(lookup_failed);
        }
        // An earlier task of the same run may be what creates the user: check mode
        // predicts the keys it would add.
        let keyfile = match a.path.as_deref() {
            Some(p) if !p.starts_with("~/") => p.to_string(),
            _ => format!("~{user}/.ssh/authorized_keys"),
        };
        report = report
            .with_msg(format!(
                "User {user} does not exist yet; check mode assumes an earlier task creates it"
            ))
            .with_value("keyfile", keyfile);
        let change = Change {
            file: String::new(),
            content: String::new(),
            uid: 0,
            gid: 0,
            manage_dir: false,
        };
        return Ok(Outcome::Change {
            change,
            report,
            pending: Some(lookup_failed),
        });
    };
    let file = seen.section("file").trim_end_matches('\n').to_string();
    let dir_exists = seen.section("dir").trim() == "yes";
    let current = match &seen.content {
        Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Content::Unreadable(e) => {
            return Err(Failure::new(format!(
                "reading the authorized_keys of {user} failed: {e}"
            )))
        }
        Content::Absent => String::new(),
    };
    report = report
        .with_value("keyfile", file.as_str())
        .with_value("state", if a.present { "present" } else { "absent" })
        .with_value("exclusive", a.exclusive)
        .with_value("manage_dir", a.manage_dir)
        .with_value("follow", a.follow)
        .with_value("validate_certs", a.validate_certs);
    for (k, v) in [
        ("key_options", &a.key_options),
        ("comment", &a.comment),
        ("path", &a.path),
    ] {
        report = report.with_value(
            k,
            v.as_deref()
                .map(minijinja::Value::from)
                .unwrap_or(minijinja::Value::from(())),
        );
    }
    let Some(content) = update(&current, &keys, a.present, a.exclusive) else {
        return Ok(Outcome::Unchanged(report));
    };
    if !a.manage_dir && !dir_exists {
        return Err(Failure::new(format!(
            "directory {} does not exist (and manage_dir is false)",
            fileops::dirname(&file)
        )));
    }
    report = report.with_diff(text_diff(
        Some(current.as_bytes()),
        content.as_bytes(),
        &file,
        &file,
    ));
    let change = Change {
        file,
        content,
        uid: pw.uid,
        gid: pw.gid,
        manage_dir: a.manage_dir,
    };
    Ok(Outcome::change(change, report))
}

#[cfg(test)]
mod tests;
