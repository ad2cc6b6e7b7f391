//! `user`: ensure a local account is present (uid, primary and supplementary groups, shell,
//! home, comment, password hash, expiry, an SSH key) or absent. Everything is observed in ONE
//! round trip (`probe.rs`: `getent passwd`, `getent shadow`, `getent group`, the home
//! directory and key file); `decide` (`decide.rs`, pure, table-tested) turns desired and
//! observed state into the `useradd`/`usermod`/`userdel` argv, so check mode predicts exactly
//! what a run does; `apply.rs` gives the steps that carry it out.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::group::{parse_group, GroupEntry};
use super::{Args, Plan, Spec};
use anyhow::Result;
use std::collections::BTreeMap;

mod apply;
mod decide;
mod probe;

use apply::*;
pub use decide::*;
pub use probe::*;

pub struct User;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "state",
        "uid",
        "non_unique",
        "group",
        "groups",
        "append",
        "shell",
        "home",
        "create_home",
        "move_home",
        "system",
        "comment",
        "password",
        "update_password",
        "remove",
        "force",
        "generate_ssh_key",
        "ssh_key_bits",
        "ssh_key_type",
        "ssh_key_file",
        "ssh_key_comment",
        "ssh_key_passphrase",
        "expires",
        "skeleton",
        "local",
        "password_lock",
        "uid_min",
        "uid_max",
        "umask",
        "password_expire_min",
        "password_expire_max",
        "password_expire_warn",
        "password_expire_account_disable",
    ],
    aliases: &[("createhome", "create_home"), ("user", "name")],
    free_form: None,
    any_args: false,
    file_args: false,
};

fn key_type(args: &Args) -> String {
    args.str("ssh_key_type").unwrap_or_else(|| "rsa".into())
}

fn key_file(args: &Args) -> String {
    args.str("ssh_key_file")
        .unwrap_or_else(|| format!(".ssh/id_{}", key_type(args)))
}

fn want_from(args: &Args) -> Result<UserWant> {
    let local = args.bool_or("local", false)?;
    if local {
        // Ansible's words: libuser's tools take no login.defs settings.
        for arg in ["umask", "uid_min", "uid_max"] {
            if args.has(arg) {
                return Err(fail(format!("'{arg}' can not be used with 'local'")));
            }
        }
    }
    let name = args.req_str("name")?;
    super::names::check_account("user", &name)?;
    let uid = match args.int("uid")? {
        None => None,
        Some(i) => Some(
            u32::try_from(i)
                .map_err(|_| fail(format!("argument `uid` must be a non-negative id, not {i}")))?,
        ),
    };
    let expires = match args.get("expires") {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .map(|i| i as f64)
                .or_else(|| f64::try_from(v.clone()).ok())
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| fail(format!("argument `expires` must be a number, not `{v}`")))?,
        ),
    };
    let groups = if args.has("groups") {
        Some(args.list("groups"))
    } else {
        None
    };
    for field in ["comment", "home", "shell", "group"] {
        if args.str(field).is_some_and(|v| v.contains([':', '\n'])) {
            return Err(fail(format!(
                "argument `{field}` cannot contain `:` or a newline"
            )));
        }
    }
    Ok(UserWant {
        name,
        present: args.choice("state", &["present", "absent"], "present")? == "present",
        uid,
        non_unique: args.bool_or("non_unique", false)?,
        group: args.str("group"),
        groups,
        append: args.bool_or("append", false)?,
        shell: args.str("shell"),
        home: args.str("home"),
        create_home: args.bool_or("create_home", true)?,
        move_home: args.bool_or("move_home", false)?,
        system: args.bool_or("system", false)?,
        comment: args.str("comment"),
        password: args.str("password"),
        update_always: args.choice("update_password", &["always", "on_create"], "always")?
            == "always",
        remove: args.bool_or("remove", false)?,
        force: args.bool_or("force", false)?,
        expires,
        ages: [
            args.int("password_expire_min")?,
            args.int("password_expire_max")?,
            args.int("password_expire_warn")?,
        ],
        inactive: args.int("password_expire_account_disable")?,
        skeleton: args.str("skeleton"),
        login_defs: {
            let mut v: Vec<(&'static str, String)> = Vec::new();
            for (arg, key) in [("uid_min", "UID_MIN"), ("uid_max", "UID_MAX")] {
                if let Some(i) = args.int(arg)? {
                    v.push((key, i.to_string()));
                }
            }
            if let Some(m) = args.str("umask") {
                if m.is_empty() || !m.chars().all(|c| c.is_digit(8)) {
                    return Err(fail(format!(
                        "argument `umask` must be octal digits, not `{m}`"
                    )));
                }
                v.push(("UMASK", m));
            }
            v
        },
        generate_ssh_key: args.bool_or("generate_ssh_key", false)?,
        local,
        password_lock: match args.get("password_lock") {
            None => None,
            Some(_) => Some(args.bool_or("password_lock", false)?),
        },
    })
}

/// The SSH key a task asks to generate.
pub struct KeySpec {
    file: String,
    ktype: String,
    bits: Option<i64>,
    passphrase: String,
    comment: Option<String>,
}

/// `user`'s arguments, typed.
pub struct UserArgs {
    want: UserWant,
    key: Option<KeySpec>,
}

/// A decided change.
pub struct UserChange {
    want: UserWant,
    decision: Decision,
}

/// Return values of a present account as found.
fn present_values(mut plan: Plan, obs: &Account) -> Plan {
    if let Some(p) = &obs.passwd {
        plan = plan
            .with_value("uid", p.uid)
            .with_value("group", p.gid)
            .with_value("home", p.home.as_str())
            .with_value("shell", p.shell.as_str())
            .with_value("comment", p.comment.as_str());
    }
    plan
}

fn key_values(mut plan: Plan, obs: &Account, key_file: &str) -> Plan {
    let path = match &obs.passwd {
        Some(p) if !key_file.starts_with('/') => format!("{}/{key_file}", p.home),
        _ => key_file.to_string(),
    };
    plan = plan.with_value("ssh_key_file", path);
    if let Some(k) = &obs.public_key {
        plan = plan.with_value("ssh_public_key", k.as_str());
    }
    if let Some(f) = &obs.fingerprint {
        plan = plan.with_value("ssh_fingerprint", f.as_str());
    }
    plan
}

impl Typed for User {
    type Args = UserArgs;
    type Change = UserChange;

    fn name(&self) -> &'static str {
        "user"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<UserArgs> {
        let mut want = want_from(args)?;
        // `shell: ~/bin/sh` is the module user's home, as Ansible expands it.
        if let Some(sh) = want.shell.as_ref().filter(|s| s.starts_with('~')) {
            want.shell = Some(host.expand_path(sh)?);
        }
        let key = match want.generate_ssh_key {
            false => None,
            true => Some(KeySpec {
                file: key_file(args),
                ktype: key_type(args),
                bits: args.int("ssh_key_bits")?.filter(|b| *b > 0),
                passphrase: args.str("ssh_key_passphrase").unwrap_or_default(),
                comment: args.str("ssh_key_comment"),
            }),
        };
        Ok(UserArgs { want, key })
    }

    fn observe(&self, u: &UserArgs) -> Observe {
        observe_account(&u.want, u.key.as_ref().map(|k| k.file.as_str()))
    }

    /// Groups that do not exist fail a real run; a prediction assumes an earlier task of the
    /// same run creates them (`pending`).
    fn decide(&self, u: &UserArgs, seen: &Observed) -> Outcome<UserChange> {
        let want = &u.want;
        let asked: Vec<&String> = want
            .group
            .iter()
            .chain(want.groups.iter().flatten())
            .collect();
        let obs = parse_probe(seen, &want.name, &asked);
        let decision = match decide(want, &obs, false) {
            Ok(d) => d,
            Err(f) => return Outcome::Fail(f),
        };
        let pending = decide(want, &obs, true).err();
        let report = report(u, &obs);
        if !decision.changed() {
            return match pending {
                Some(f) => Outcome::Fail(f),
                None => Outcome::Unchanged(report),
            };
        }
        let change = UserChange {
            want: want.clone(),
            decision,
        };
        Outcome::Change {
            change,
            report,
            pending,
        }
    }

    fn apply(&self, _u: &UserArgs, c: &UserChange) -> Vec<Step> {
        action_steps(c)
    }

    fn apply_more(&self, u: &UserArgs, c: &UserChange, done: &Done) -> Vec<Step> {
        let first_stage = usize::from(c.decision.action.is_some());
        if done.outputs.len() != first_stage || done.observed.len() != 1 || !c.want.present {
            return Vec::new();
        }
        let obs = parse_probe(&done.observed[0], &c.want.name, &[]);
        match &obs.passwd {
            Some(pw) => extra_steps(u, c, pw),
            None => Vec::new(),
        }
    }

    fn finish(&self, u: &UserArgs, c: &UserChange, done: &Done, report: Plan) -> Plan {
        finish_user(u, c, done, report)
    }
}

/// The result as predicted: the task's values over the account as found.
fn report(u: &UserArgs, obs: &Account) -> Plan {
    let want = &u.want;
    let mut plan = Plan::unchanged()
        .with_value("name", want.name.as_str())
        .with_value("state", if want.present { "present" } else { "absent" });
    if !want.present {
        return plan
            .with_value("force", want.force)
            .with_value("remove", want.remove);
    }
    plan = plan
        .with_value("system", want.system)
        .with_value("append", want.append)
        .with_value("move_home", want.move_home);
    if obs.passwd.is_none() {
        plan = plan.with_value("createhome", want.create_home);
    }
    plan = present_values(plan, obs);
    // Predicted values the change will set.
    if let Some(u) = want.uid {
        plan = plan.with_value("uid", u);
    }
    for (k, v) in [
        ("home", &want.home),
        ("shell", &want.shell),
        ("comment", &want.comment),
    ] {
        if let Some(v) = v {
            plan = plan.with_value(k, v.as_str());
        }
    }
    if let Some(gs) = &want.groups {
        plan = plan.with_value("groups", gs.join(","));
    }
    let mut warnings: Vec<&str> = Vec::new();
    if want.groups.is_none() && want.append {
        warnings.push("'append' is set, but no 'groups' are specified. Use 'groups' for appending new groups.This will change to an error in Ansible 2.14.");
    }
    if let Some(pw) = &want.password {
        plan = plan.with_value("password", "NOT_LOGGING_PASSWORD");
        if !looks_hashed(pw) {
            warnings.push("The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly.");
        }
    }
    if !warnings.is_empty() {
        plan = plan.with_value("warnings", minijinja::Value::from(warnings));
    }
    if let Some(k) = &u.key {
        plan = key_values(plan, obs, &k.file);
    }
    plan
}

/// Whether `password` looks like a crypt(3) hash (or one of the values that lock an account),
/// as ansible-core's user module checks it before warning.
fn looks_hashed(password: &str) -> bool {
    if password.is_empty() || ["*", "!", "*************"].contains(&password) {
        return true;
    }
    if password.contains([':', '*', '!']) || !password.contains('$') {
        return false;
    }
    let fields: Vec<&str> = password.split('$').collect();
    if fields.len() < 3 {
        return false;
    }
    let last = fields[fields.len() - 1];
    if last
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "./=".contains(c)))
    {
        return false;
    }
    !matches!(
        (fields[1], last.len()),
        ("1", n) if n != 22
    ) && !matches!((fields[1], last.len()), ("5", n) if n != 43)
        && !matches!((fields[1], last.len()), ("6", n) if n != 86)
        && !matches!((fields[1], last.len()), ("y", n) if n != 43)
}

#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod tests;
