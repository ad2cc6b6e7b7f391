//! `user`: ensure a local account is present (uid, primary and supplementary groups, shell,
//! home, comment, password hash, expiry, an SSH key) or absent. Everything is probed with ONE
//! command (`getent passwd`, `getent shadow`, `id -Gn`, the groups named, the home directory
//! and key file); `decide` (pure, table-tested) turns desired and observed state into the
//! `useradd`/`usermod`/`userdel` argv, so check mode predicts exactly what a run does.

use super::fileops::fail;
use super::group::{parse_group, GroupEntry};
use super::sections::{Marks, Sections};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::{join, quote};
use anyhow::Result;
use std::collections::BTreeMap;

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
    ],
    aliases: &[("createhome", "create_home"), ("user", "name")],
    free_form: None,
    any_args: false,
};

/// An account as `getent passwd` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub comment: String,
    pub home: String,
    pub shell: String,
}

/// Parses one `getent passwd` line.
pub fn parse_passwd(line: &str) -> Option<Passwd> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some(Passwd {
        name: f[0].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
    })
}

/// What the probe found.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub passwd: Option<Passwd>,
    /// The password hash from `getent shadow`; `None` when unreadable.
    pub hash: Option<String>,
    /// The account expiry in days since the epoch (`None`: never, or unreadable).
    pub expire_days: Option<i64>,
    /// The primary group's name.
    pub primary: Option<String>,
    /// Supplementary group names (the primary group excluded).
    pub groups: Vec<String>,
    /// A group named like the user exists.
    pub same_name_group: bool,
    /// The groups named by `group` and `groups` that exist, by the name given.
    pub known_groups: BTreeMap<String, GroupEntry>,
    /// The (final) home directory exists.
    pub home_exists: bool,
    /// The SSH key file exists, with its public key and fingerprint.
    pub key_exists: bool,
    pub public_key: Option<String>,
    pub fingerprint: Option<String>,
}

/// What the task asks for.
#[derive(Clone, Debug, Default)]
pub struct UserWant {
    pub name: String,
    pub present: bool,
    pub uid: Option<u32>,
    pub non_unique: bool,
    pub group: Option<String>,
    /// `None`: not managed; `Some(empty)`: no supplementary groups.
    pub groups: Option<Vec<String>>,
    pub append: bool,
    pub shell: Option<String>,
    pub home: Option<String>,
    pub create_home: bool,
    pub move_home: bool,
    pub system: bool,
    pub comment: Option<String>,
    pub password: Option<String>,
    pub update_always: bool,
    pub remove: bool,
    pub force: bool,
    pub expires: Option<f64>,
    pub skeleton: Option<String>,
    /// `useradd -K` settings: `UID_MIN`, `UID_MAX`, `UMASK` (from uid_min, uid_max, umask).
    pub login_defs: Vec<(&'static str, String)>,
    pub generate_ssh_key: bool,
    pub password_lock: Option<bool>,
}

/// The account change to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Add(Vec<String>),
    Mod(Vec<String>),
    Del(Vec<String>),
}

/// Everything `apply` does, decided from desired and observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub action: Option<Action>,
    /// The account exists (or is being kept) but its home directory is missing: create it.
    pub create_home_dir: bool,
    /// Generate the SSH key (the key file is absent).
    pub gen_key: bool,
}

impl Decision {
    pub fn changed(&self) -> bool {
        self.action.is_some() || self.create_home_dir || self.gen_key
    }
}

/// Days since the epoch as `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
pub fn ymd(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn expire_days(expires: f64) -> Option<i64> {
    (expires >= 0.0).then(|| (expires / 86_400.0).floor() as i64)
}

fn expire_arg(expires: f64) -> String {
    expire_days(expires).map(ymd).unwrap_or_default()
}

/// Decides the change. `strict` (outside check mode) fails on groups that do not exist; in
/// check mode an earlier task of the same run may be what creates them.
pub fn decide(want: &UserWant, obs: &Observed, strict: bool) -> Result<Decision, String> {
    let mut d = Decision::default();
    let group_name = |g: &str| -> String {
        obs.known_groups
            .get(g)
            .map(|e| e.name.clone())
            .unwrap_or_else(|| g.to_string())
    };
    if strict && want.present {
        let named = want.group.iter().chain(want.groups.iter().flatten());
        for g in named {
            if !obs.known_groups.contains_key(g) {
                return Err(format!("Group {g} does not exist"));
            }
        }
    }
    let Some(cur) = &obs.passwd else {
        if !want.present {
            return Ok(d);
        }
        let mut a: Vec<String> = vec!["useradd".into()];
        if let Some(u) = want.uid {
            a.extend(["-u".into(), u.to_string()]);
            if want.non_unique {
                a.push("-o".into());
            }
        }
        if let Some(g) = &want.group {
            a.extend(["-g".into(), g.clone()]);
        } else if obs.same_name_group {
            // A group named like the user exists: do not let useradd try to create it.
            a.push("-N".into());
        }
        if let Some(gs) = want.groups.as_ref().filter(|g| !g.is_empty()) {
            a.extend(["-G".into(), gs.join(",")]);
        }
        if let Some(c) = &want.comment {
            a.extend(["-c".into(), c.clone()]);
        }
        if let Some(h) = &want.home {
            a.extend(["-d".into(), h.clone()]);
        }
        if let Some(s) = &want.shell {
            a.extend(["-s".into(), s.clone()]);
        }
        if let Some(e) = want.expires {
            a.extend(["-e".into(), expire_arg(e)]);
        }
        if let Some(p) = &want.password {
            a.extend(["-p".into(), p.clone()]);
        }
        if want.create_home {
            a.push("-m".into());
            if let Some(k) = &want.skeleton {
                a.extend(["-k".into(), k.clone()]);
            }
        } else {
            a.push("-M".into());
        }
        if want.system {
            a.push("-r".into());
        }
        for (k, v) in &want.login_defs {
            a.extend(["-K".into(), format!("{k}={v}")]);
        }
        a.push(want.name.clone());
        d.action = Some(Action::Add(a));
        d.gen_key = want.generate_ssh_key;
        return Ok(d);
    };
    if !want.present {
        let mut a: Vec<String> = vec!["userdel".into()];
        if want.force {
            a.push("-f".into());
        }
        if want.remove {
            a.push("-r".into());
        }
        a.push(want.name.clone());
        d.action = Some(Action::Del(a));
        return Ok(d);
    }
    let mut a: Vec<String> = Vec::new();
    if let Some(u) = want.uid.filter(|u| *u != cur.uid) {
        a.extend(["-u".into(), u.to_string()]);
        if want.non_unique {
            a.push("-o".into());
        }
    }
    if let Some(g) = &want.group {
        let same = obs.known_groups.get(g).is_some_and(|e| e.gid == cur.gid);
        if !same {
            a.extend(["-g".into(), g.clone()]);
        }
    }
    if let Some(gs) = &want.groups {
        let primary = want
            .group
            .as_deref()
            .map(group_name)
            .or_else(|| obs.primary.clone());
        let wanted: std::collections::BTreeSet<String> = gs
            .iter()
            .map(|g| group_name(g))
            .filter(|g| Some(g) != primary.as_ref())
            .collect();
        let have: std::collections::BTreeSet<String> = obs
            .groups
            .iter()
            .filter(|g| Some(*g) != primary.as_ref())
            .cloned()
            .collect();
        let need = if want.append {
            !wanted.is_subset(&have)
        } else {
            wanted != have
        };
        if need {
            if want.append {
                a.push("-a".into());
            }
            a.extend(["-G".into(), gs.join(",")]);
        }
    }
    if let Some(c) = want.comment.as_ref().filter(|c| **c != cur.comment) {
        a.extend(["-c".into(), c.clone()]);
    }
    let moving = want.home.as_ref().is_some_and(|h| *h != cur.home);
    if let Some(h) = want.home.as_ref().filter(|_| moving) {
        a.extend(["-d".into(), h.clone()]);
        if want.move_home {
            a.push("-m".into());
        }
    }
    if let Some(s) = want.shell.as_ref().filter(|s| **s != cur.shell) {
        a.extend(["-s".into(), s.clone()]);
    }
    if let Some(e) = want.expires {
        if expire_days(e) != obs.expire_days {
            a.extend(["-e".into(), expire_arg(e)]);
        }
    }
    if let (true, Some(p)) = (want.update_always, &want.password) {
        if obs.hash.as_ref() != Some(p) {
            a.extend(["-p".into(), p.clone()]);
        }
    }
    if let (Some(lock), Some(h)) = (want.password_lock, &obs.hash) {
        if lock && !h.starts_with('!') {
            a.push("-L".into());
        } else if !lock && h.starts_with('!') {
            a.push("-U".into());
        }
    }
    if !a.is_empty() {
        let mut argv: Vec<String> = vec!["usermod".into()];
        argv.extend(a);
        argv.push(want.name.clone());
        d.action = Some(Action::Mod(argv));
    }
    d.create_home_dir = want.create_home && !obs.home_exists && !(moving && want.move_home);
    d.gen_key = want.generate_ssh_key && !obs.key_exists;
    Ok(d)
}

/// Reads the probe's sections. `user` is the account's name and `asked` the groups the task
/// names (by name or gid).
pub fn parse_probe(sec: &Sections, user: &str, asked: &[&String]) -> Observed {
    let mut o = Observed::default();
    let entries: Vec<GroupEntry> = sec
        .lines("groups")
        .iter()
        .filter_map(|l| parse_group(l))
        .collect();
    o.passwd = sec.first("passwd").and_then(parse_passwd);
    if let Some(line) = sec.first("shadow") {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 8 {
            o.hash = Some(f[1].to_string());
            o.expire_days = f[7].parse().ok();
        }
    }
    o.home_exists = sec.has("homedir");
    o.key_exists = sec.has("key");
    o.public_key = sec.text("pub").map(|t| t.trim().to_string());
    o.fingerprint = sec
        .text("fp")
        .map(|t| t.trim().to_string())
        .filter(|s| !s.is_empty());
    o.same_name_group = entries.iter().any(|e| e.name == user);
    for g in asked {
        let by_name = entries.iter().find(|e| &e.name == *g);
        let by_gid = || {
            let gid: u32 = g.parse().ok()?;
            entries.iter().find(|e| e.gid == gid)
        };
        if let Some(e) = by_name.or_else(by_gid) {
            o.known_groups.insert(g.to_string(), e.clone());
        }
    }
    if let Some(pw) = &o.passwd {
        o.primary = entries
            .iter()
            .find(|e| e.gid == pw.gid)
            .map(|e| e.name.clone());
        // Supplementary groups, as `id -Gn` lists them without the primary one.
        let mut seen = std::collections::BTreeSet::new();
        o.groups = entries
            .iter()
            .filter(|e| e.members.iter().any(|m| m == user))
            .filter(|e| Some(&e.name) != o.primary.as_ref())
            .filter(|e| seen.insert(e.name.clone()))
            .map(|e| e.name.clone())
            .collect();
    }
    o
}

fn key_type(args: &Args) -> String {
    args.str("ssh_key_type").unwrap_or_else(|| "rsa".into())
}

fn key_file(args: &Args) -> String {
    args.str("ssh_key_file")
        .unwrap_or_else(|| format!(".ssh/id_{}", key_type(args)))
}

/// The one probe command: the account, its shadow entry and the whole group database (one
/// `getent group`, as Ansible's `grp.getgrall()`), from which the controller works out the
/// primary group's name, the memberships and the named groups: three processes. Each answer
/// is a section of `m` (a public key file's lines, whatever they hold, stay its data).
pub fn probe_script(want: &UserWant, key_file: Option<&str>, m: &Marks) -> String {
    let mut s = format!(
        "u={}\nif p=$(getent passwd -- \"$u\"); then {}; printf '%s\\n' \"$p\"; \
         if s=$(getent shadow -- \"$u\" 2>/dev/null); then {}; printf '%s\\n' \"$s\"; fi; \
         h=${{p#*:*:*:*:*:}}; h=${{h%%:*}}; else h={}; fi\n",
        quote(&want.name),
        m.echo("passwd"),
        m.echo("shadow"),
        quote(&format!("/home/{}", want.name)),
    );
    match &want.home {
        Some(h) => s.push_str(&format!("H={}\n", quote(h))),
        None => s.push_str("H=$h\n"),
    }
    s.push_str(&format!(
        "if [ -d \"$H\" ]; then {}; fi\n",
        m.echo("homedir")
    ));
    if let Some(k) = key_file {
        if k.starts_with('/') {
            s.push_str(&format!("k={}\n", quote(k)));
        } else {
            s.push_str(&format!("k=\"$H\"/{}\n", quote(k)));
        }
        s.push_str(&format!(
            "if [ -f \"$k\" ]; then {}; if [ -f \"$k.pub\" ]; then {}; cat -- \"$k.pub\"; \
             {}; ssh-keygen -l -f \"$k.pub\" 2>/dev/null; fi; fi\n",
            m.echo("key"),
            m.echo("pub"),
            m.echo("fp"),
        ));
    }
    s.push_str(&format!("{}; getent group\ntrue", m.echo("groups")));
    s
}

fn want_from(args: &Args) -> Result<UserWant> {
    if args.bool_or("local", false)? {
        return Err(fail(
            "local: true (libuser's luseradd/lusermod) is not supported; drover manages accounts with useradd/usermod",
        ));
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
        password_lock: match args.get("password_lock") {
            None => None,
            Some(_) => Some(args.bool_or("password_lock", false)?),
        },
    })
}

fn observe(ctx: &mut ModuleCtx, want: &UserWant, key: Option<&str>) -> Result<Observed> {
    let marks = Marks::new();
    let out = ctx.run(&probe_script(want, key, &marks))?;
    if out.rc != 0 {
        return Err(fail(format!(
            "probing user {} failed: {}",
            want.name,
            out.stderr_str().trim()
        )));
    }
    let asked: Vec<&String> = want
        .group
        .iter()
        .chain(want.groups.iter().flatten())
        .collect();
    let text = out.stdout_str();
    let sec = marks.parse(&text);
    if let Some(line) = sec.first("passwd") {
        super::fileops::remember_lookup(ctx, "user", &want.name, line);
    }
    let mut o = parse_probe(&sec, &want.name, &asked);
    // `getent passwd 1000` finds uid 1000: only an entry of that name is this account.
    if o.passwd.as_ref().is_some_and(|p| p.name != want.name) {
        o = Observed {
            same_name_group: o.same_name_group,
            known_groups: o.known_groups,
            ..Observed::default()
        };
    }
    Ok(o)
}

struct Work {
    want: UserWant,
    decision: Decision,
}

/// Return values of a present account as found.
fn present_values(mut plan: Plan, obs: &Observed) -> Plan {
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

fn key_values(mut plan: Plan, obs: &Observed, key_file: &str) -> Plan {
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

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let mut want = want_from(args)?;
    // `shell: ~/bin/sh` is the module user's home, as Ansible expands it.
    if let Some(sh) = want.shell.as_ref().filter(|s| s.starts_with('~')) {
        want.shell = Some(super::fileops::expand_home(ctx, sh)?);
    }
    let key = want.generate_ssh_key.then(|| key_file(args));
    let obs = observe(ctx, &want, key.as_deref())?;
    let decision = decide(&want, &obs, !ctx.check).map_err(fail)?;
    let mut plan = if decision.changed() {
        Plan::change(Work {
            want: want.clone(),
            decision: decision.clone(),
        })
    } else {
        Plan::unchanged()
    };
    plan = plan
        .with_value("name", want.name.as_str())
        .with_value("state", if want.present { "present" } else { "absent" });
    if !want.present {
        return Ok(plan
            .with_value("force", want.force)
            .with_value("remove", want.remove));
    }
    plan = plan
        .with_value("system", want.system)
        .with_value("append", want.append)
        .with_value("move_home", want.move_home);
    if obs.passwd.is_none() {
        plan = plan.with_value("createhome", want.create_home);
    }
    plan = present_values(plan, &obs);
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
    if let Some(pw) = &want.password {
        plan = plan.with_value("password", "NOT_LOGGING_PASSWORD");
        if !looks_hashed(pw) {
            plan = plan.with_value(
                "warnings",
                minijinja::Value::from(vec!["The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly."]),
            );
        }
    }
    if let Some(k) = &key {
        plan = key_values(plan, &obs, k);
    }
    Ok(plan)
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

/// An SSH key to generate for an account.
pub struct KeyGen<'a> {
    pub user: &'a str,
    pub uid: u32,
    pub path: &'a str,
    pub ktype: &'a str,
    pub bits: Option<i64>,
    pub passphrase: &'a str,
    /// `None`: Ansible's `ansible-generated on <hostname>`.
    pub comment: Option<&'a str>,
}

/// The script that runs `ssh-keygen` as the account itself (via `runuser` when the shell is
/// root), so nothing is created through links the account controls; a missing key directory
/// is made with mode 0700. Values reach the inner shell as positional arguments.
pub fn keygen_script(k: &KeyGen) -> String {
    let mut kg: Vec<String> = vec![
        "ssh-keygen".into(),
        "-q".into(),
        "-t".into(),
        k.ktype.into(),
    ];
    if let Some(b) = k.bits {
        kg.extend(["-b".into(), b.to_string()]);
    }
    let inner = format!(
        "set -e; umask 077; d=$(dirname -- \"$1\"); [ -d \"$d\" ] || mkdir -p -- \"$d\"; \
         {} -N \"$3\" -C \"$2\" -f \"$1\" </dev/null >/dev/null",
        join(&kg)
    );
    let comment = match k.comment {
        Some(c) => quote(c),
        None => "\"ansible-generated on $(uname -n)\"".into(),
    };
    let as_user = if k.uid == 0 {
        String::new()
    } else {
        format!(
            "if [ \"$(id -u)\" = 0 ]; then set -- runuser -u {} --; else set --; fi; ",
            quote(k.user)
        )
    };
    format!(
        "{as_user}\"$@\" sh -c {} sh {} {comment} {}",
        quote(&inner),
        quote(k.path),
        quote(k.passphrase)
    )
}

fn run_argv(ctx: &mut ModuleCtx, argv: &[String]) -> Result<()> {
    let out = ctx.run(&join(argv))?;
    if out.rc != 0 {
        let tool = argv.first().map(String::as_str).unwrap_or("command");
        return Err(fail(format!(
            "{tool} failed (rc={}): {}",
            out.rc,
            mask_password(argv, out.stderr_str().trim())
        )));
    }
    Ok(())
}

/// A tool's message with the password hash of its command line (`-p HASH`) masked, should the
/// tool repeat it: a password never shows in a result.
fn mask_password(argv: &[String], text: &str) -> String {
    match argv
        .iter()
        .position(|a| a == "-p")
        .and_then(|i| argv.get(i + 1))
    {
        Some(pw) if !pw.is_empty() => text.replace(pw.as_str(), "********"),
        _ => text.to_string(),
    }
}

fn run_script(ctx: &mut ModuleCtx, what: &str, script: &str) -> Result<()> {
    let out = ctx.run(script)?;
    if out.rc != 0 {
        return Err(fail(format!(
            "{what} failed (rc={}): {}",
            out.rc,
            out.stderr_str().trim()
        )));
    }
    Ok(())
}

fn apply(ctx: &mut ModuleCtx, args: &Args, mut plan: Plan) -> Result<Plan> {
    let work: Work = plan.take_work()?;
    let want = &work.want;
    match &work.decision.action {
        Some(Action::Add(a) | Action::Mod(a) | Action::Del(a)) => run_argv(ctx, a)?,
        None => {}
    }
    if !want.present {
        return Ok(plan);
    }
    let key = want.generate_ssh_key.then(|| key_file(args));
    let obs = observe(ctx, want, None)?;
    let Some(pw) = obs.passwd.clone() else {
        return Err(fail(format!(
            "user {} does not exist after {}",
            want.name,
            if matches!(work.decision.action, Some(Action::Add(_))) {
                "useradd"
            } else {
                "usermod"
            }
        )));
    };
    let owner = format!("{}:{}", pw.uid, pw.gid);
    if work.decision.create_home_dir {
        let home = want.home.clone().unwrap_or(pw.home.clone());
        let skel = want.skeleton.clone().unwrap_or_else(|| "/etc/skel".into());
        run_script(
            ctx,
            "creating the home directory",
            &format!(
                "set -e; h={}; mkdir -p -- \"$h\"; if [ -d {skel} ]; then cp -a -- {skel}/. \"$h\"/; fi; chown -R {} -- \"$h\"",
                quote(&home),
                quote(&owner),
                skel = quote(&skel),
            ),
        )?;
    }
    if let Some(k) = &key {
        let path = if k.starts_with('/') {
            k.clone()
        } else {
            format!("{}/{k}", pw.home)
        };
        let key_exists = ctx.run(&format!("[ -f {} ]", quote(&path)))?.rc == 0;
        if !key_exists {
            let script = keygen_script(&KeyGen {
                user: &want.name,
                uid: pw.uid,
                path: &path,
                ktype: &key_type(args),
                bits: args.int("ssh_key_bits")?.filter(|b| *b > 0),
                passphrase: &args.str("ssh_key_passphrase").unwrap_or_default(),
                comment: args.str("ssh_key_comment").as_deref(),
            });
            run_script(ctx, "generating the SSH key", &script)?;
        }
    }
    // Creating the home or a key changes no account field: only a key's values need a look.
    let obs = match &key {
        Some(k) => observe(ctx, want, Some(k))?,
        None => obs,
    };
    plan = present_values(plan, &obs);
    if let Some(k) = &key {
        plan = key_values(plan, &obs, k);
    }
    Ok(plan)
}

impl Module for User {
    fn name(&self) -> &'static str {
        "user"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        plan(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, args: &Args, plan: Plan) -> Result<Plan> {
        apply(ctx, args, plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_tools_message_is_masked() {
        let argv: Vec<String> = ["useradd", "-p", "$6$s$h", "bob"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            mask_password(&argv, "useradd: bad hash $6$s$h for bob"),
            "useradd: bad hash ******** for bob"
        );
        let none: Vec<String> = vec!["userdel".into(), "bob".into()];
        assert_eq!(
            mask_password(&none, "userdel: bob in use"),
            "userdel: bob in use"
        );
    }

    /// An argv shown with shell quoting, except that flags stay bare for readability.
    fn show(v: &[String]) -> String {
        v.iter()
            .map(|w| {
                if w.starts_with('-') && !w.contains(' ') {
                    w.clone()
                } else {
                    join(&[w])
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn want() -> UserWant {
        UserWant {
            name: "alice".into(),
            present: true,
            create_home: true,
            update_always: true,
            ..UserWant::default()
        }
    }

    fn gentry(name: &str, gid: u32) -> GroupEntry {
        GroupEntry {
            name: name.into(),
            gid,
            members: vec![],
        }
    }

    fn existing() -> Observed {
        let mut known = BTreeMap::new();
        known.insert("alice".to_string(), gentry("alice", 1001));
        known.insert("web".to_string(), gentry("web", 2000));
        known.insert("db".to_string(), gentry("db", 2001));
        known.insert("2000".to_string(), gentry("web", 2000));
        Observed {
            passwd: Some(Passwd {
                name: "alice".into(),
                uid: 1001,
                gid: 1001,
                comment: "Alice".into(),
                home: "/home/alice".into(),
                shell: "/bin/bash".into(),
            }),
            hash: Some("$6$salt$hash".into()),
            expire_days: None,
            primary: Some("alice".into()),
            groups: vec!["web".into()],
            same_name_group: true,
            known_groups: known,
            home_exists: true,
            key_exists: false,
            public_key: None,
            fingerprint: None,
        }
    }

    fn argv(d: &Decision) -> Option<String> {
        d.action.as_ref().map(|a| match a {
            Action::Add(v) | Action::Mod(v) | Action::Del(v) => show(v),
        })
    }

    #[test]
    fn decide_table() {
        let absent = Observed::default();
        let cases: Vec<(&str, UserWant, Observed, Option<&str>)> = vec![
            ("create plain", want(), absent.clone(), Some("useradd -m alice")),
            (
                "create full",
                UserWant {
                    uid: Some(1500),
                    group: Some("web".into()),
                    groups: Some(vec!["db".into(), "adm".into()]),
                    shell: Some("/bin/zsh".into()),
                    home: Some("/srv/alice".into()),
                    comment: Some("Alice A".into()),
                    password: Some("$6$x$y".into()),
                    system: true,
                    ..want()
                },
                absent.clone(),
                Some("useradd -u 1500 -g web -G db,adm -c 'Alice A' -d /srv/alice -s /bin/zsh -p '$6$x$y' -m -r alice"),
            ),
            (
                "create with login.defs overrides",
                UserWant {
                    system: true,
                    login_defs: vec![("UID_MIN", "500".into()), ("UMASK", "077".into())],
                    ..want()
                },
                absent.clone(),
                Some("useradd -m -r -K UID_MIN=500 -K UMASK=077 alice"),
            ),
            (
                "create without home, group of that name exists",
                UserWant {
                    create_home: false,
                    ..want()
                },
                Observed {
                    same_name_group: true,
                    ..absent.clone()
                },
                Some("useradd -N -M alice"),
            ),
            (
                "create with expiry",
                UserWant {
                    expires: Some(86_400.0 * 365.0),
                    ..want()
                },
                absent.clone(),
                Some("useradd -e 1971-01-01 -m alice"),
            ),
            ("exists, nothing asked", want(), existing(), None),
            (
                "same values",
                UserWant {
                    uid: Some(1001),
                    group: Some("alice".into()),
                    groups: Some(vec!["web".into()]),
                    shell: Some("/bin/bash".into()),
                    home: Some("/home/alice".into()),
                    comment: Some("Alice".into()),
                    password: Some("$6$salt$hash".into()),
                    ..want()
                },
                existing(),
                None,
            ),
            (
                "groups by gid match",
                UserWant {
                    groups: Some(vec!["2000".into()]),
                    ..want()
                },
                existing(),
                None,
            ),
            (
                "exact groups differ",
                UserWant {
                    groups: Some(vec!["db".into()]),
                    ..want()
                },
                existing(),
                Some("usermod -G db alice"),
            ),
            (
                "append a missing group",
                UserWant {
                    groups: Some(vec!["db".into()]),
                    append: true,
                    ..want()
                },
                existing(),
                Some("usermod -a -G db alice"),
            ),
            (
                "append an existing group",
                UserWant {
                    groups: Some(vec!["web".into()]),
                    append: true,
                    ..want()
                },
                existing(),
                None,
            ),
            (
                "clear groups",
                UserWant {
                    groups: Some(vec![]),
                    ..want()
                },
                existing(),
                Some("usermod -G '' alice"),
            ),
            (
                "primary group listed in groups is ignored",
                UserWant {
                    groups: Some(vec!["web".into(), "alice".into()]),
                    ..want()
                },
                existing(),
                None,
            ),
            (
                "modify many",
                UserWant {
                    uid: Some(1600),
                    group: Some("web".into()),
                    shell: Some("/bin/sh".into()),
                    comment: Some("x".into()),
                    home: Some("/srv/a".into()),
                    move_home: true,
                    ..want()
                },
                existing(),
                Some("usermod -u 1600 -g web -c x -d /srv/a -m -s /bin/sh alice"),
            ),
            (
                "password differs, always",
                UserWant {
                    password: Some("$6$new$h".into()),
                    ..want()
                },
                existing(),
                Some("usermod -p '$6$new$h' alice"),
            ),
            (
                "password differs, on_create",
                UserWant {
                    password: Some("$6$new$h".into()),
                    update_always: false,
                    ..want()
                },
                existing(),
                None,
            ),
            (
                "remove",
                UserWant {
                    present: false,
                    remove: true,
                    force: true,
                    ..want()
                },
                existing(),
                Some("userdel -f -r alice"),
            ),
            (
                "already absent",
                UserWant {
                    present: false,
                    ..want()
                },
                absent.clone(),
                None,
            ),
        ];
        for (what, w, obs, expect) in cases {
            let d = decide(&w, &obs, false).unwrap();
            assert_eq!(argv(&d).as_deref(), expect, "{what}");
        }
    }

    #[test]
    fn home_and_key_extras() {
        let mut obs = existing();
        obs.home_exists = false;
        let d = decide(&want(), &obs, true).unwrap();
        assert!(d.create_home_dir && d.action.is_none() && d.changed());
        let d = decide(
            &UserWant {
                create_home: false,
                ..want()
            },
            &obs,
            true,
        )
        .unwrap();
        assert!(!d.changed());
        let w = UserWant {
            generate_ssh_key: true,
            ..want()
        };
        assert!(decide(&w, &existing(), true).unwrap().gen_key);
        let mut has_key = existing();
        has_key.key_exists = true;
        assert!(!decide(&w, &has_key, true).unwrap().changed());
    }

    #[test]
    fn missing_groups_fail_only_outside_check_mode() {
        let w = UserWant {
            groups: Some(vec!["nosuch".into()]),
            ..want()
        };
        assert_eq!(
            decide(&w, &existing(), true).unwrap_err(),
            "Group nosuch does not exist"
        );
        assert!(decide(&w, &existing(), false).is_ok());
    }

    #[test]
    fn expiry() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(19_723), "2024-01-01");
        let mut obs = existing();
        obs.expire_days = Some(19_723);
        let w = UserWant {
            expires: Some(19_723.0 * 86_400.0 + 5.0),
            ..want()
        };
        assert_eq!(argv(&decide(&w, &obs, true).unwrap()), None);
        let w = UserWant {
            expires: Some(-1.0),
            ..want()
        };
        assert_eq!(
            argv(&decide(&w, &obs, true).unwrap()).as_deref(),
            Some("usermod -e '' alice")
        );
    }

    #[test]
    fn parses_probe_output() {
        let asked = ["2000".to_string()];
        let m = Marks::fixed("T");
        let o = parse_probe(
            &m.parse(
                "@@T:passwd\nalice:x:1001:1001:Alice:/home/alice:/bin/bash\n\
                 @@T:shadow\nalice:$6$a$b:19000:0:99999:7:::\n\
                 @@T:homedir\n\
                 @@T:key\n\
                 @@T:pub\nssh-ed25519 AAAA c\n@GROUPS\nroot:x:0:alice\n\
                 @@T:fp\n256 SHA256:xyz c (ED25519)\n\
                 @@T:groups\n\
                 alice:x:1001:\n\
                 web:x:2000:alice\n\
                 db:x:2001:bob,alice\n\
                 ops:x:2002:bob\n",
            ),
            "alice",
            &asked.iter().collect::<Vec<_>>(),
        );
        assert_eq!(o.passwd.as_ref().map(|p| p.uid), Some(1001));
        assert_eq!(o.hash.as_deref(), Some("$6$a$b"));
        assert_eq!(o.expire_days, None);
        // A public key file's lines are its data, whatever they look like.
        assert_eq!(o.groups, ["web", "db"]);
        assert_eq!(
            o.public_key.as_deref(),
            Some("ssh-ed25519 AAAA c\n@GROUPS\nroot:x:0:alice")
        );
        assert!(o.same_name_group && o.home_exists && o.key_exists);
        assert_eq!(o.known_groups.get("2000").map(|g| g.gid), Some(2000));
        assert_eq!(o.fingerprint.as_deref(), Some("256 SHA256:xyz c (ED25519)"));
        assert_eq!(o.primary.as_deref(), Some("alice"));
        let none = parse_probe(
            &m.parse("@@T:homedir\n@@T:groups\nalice:x:1001:\n"),
            "alice",
            &[],
        );
        assert!(none.same_name_group);
        assert!(none.passwd.is_none());
    }

    #[test]
    fn keygen_runs_as_the_user_with_quoted_values() {
        let s = keygen_script(&KeyGen {
            user: "alice",
            uid: 1001,
            path: "/home/alice/.ssh/id rsa",
            ktype: "rsa",
            bits: Some(2048),
            passphrase: "it's $secret",
            comment: Some("a b"),
        });
        assert!(
            s.starts_with("if [ \"$(id -u)\" = 0 ]; then set -- runuser -u alice --;"),
            "{s}"
        );
        assert!(
            s.ends_with("'/home/alice/.ssh/id rsa' 'a b' 'it'\\''s $secret'"),
            "{s}"
        );
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &s])
            .output()
            .unwrap();
        assert!(out.status.success(), "{s}");
        let root = keygen_script(&KeyGen {
            user: "root",
            uid: 0,
            path: "/root/.ssh/id_ed25519",
            ktype: "ed25519",
            bits: None,
            passphrase: "",
            comment: None,
        });
        assert!(root.starts_with("\"$@\" sh -c"), "{root}");
        assert!(
            root.contains("\"ansible-generated on $(uname -n)\""),
            "{root}"
        );
    }

    #[test]
    fn probe_script_quotes_values() {
        let w = UserWant {
            name: "alice".into(),
            home: Some("/srv/it's".into()),
            groups: Some(vec!["$(id)".into()]),
            ..want()
        };
        let s = probe_script(&w, Some(".ssh/id rsa"), &Marks::fixed("T"));
        assert!(s.contains("H='/srv/it'\\''s'"), "{s}");
        // Group names are matched on the controller: they never reach the shell.
        assert!(!s.contains("$(id)"), "{s}");
        assert!(s.contains("k=\"$H\"/'.ssh/id rsa'"), "{s}");
    }
}
