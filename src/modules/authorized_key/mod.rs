//! `authorized_key` (also `ansible.posix.authorized_key`): ensure SSH public keys are present
//! in (or absent from) a user's `authorized_keys`. One probe reads the user's passwd entry and
//! the file; the new content is computed in Rust (`update`, pure and table-tested: keys are
//! matched by their key blob, options and comments are replaced in place, lines the task does
//! not own are kept verbatim), then written atomically as the user with mode 0600.
//!
//! Files: `keys.rs` (key lines, pure), this file (probe, plan, apply).

use super::fileops::{fail, text_diff};
use super::user::parse_passwd;
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::connection::{write_file_atomic, FileAttrs};
use crate::shell::quote;
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
};

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
mod tests;
