//! The decision: desired and observed state → the `useradd`/`usermod`/`userdel` argv and
//! what else a run does (home directory, key). Pure, table-tested.

use super::*;

/// What the probe found.
#[derive(Clone, Debug, Default)]
pub struct Account {
    pub passwd: Option<Passwd>,
    /// The password hash from `getent shadow`; `None` when unreadable.
    pub hash: Option<String>,
    /// The account expiry in days since the epoch (`None`: never, or unreadable).
    pub expire_days: Option<i64>,
    /// The shadow entry's password ages and inactivity days (min, max, warn, inactive;
    /// `-1` for an empty field).
    pub ages: Option<[i64; 4]>,
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
    /// `password_expire_min`, `_max`, `_warn` (set with `chage`).
    pub ages: [Option<i64>; 3],
    /// `password_expire_account_disable` (`useradd`/`usermod -f`).
    pub inactive: Option<i64>,
    /// `local: true`: libuser's tools (`luseradd`, `lusermod`, `luserdel`; supplementary
    /// groups with `lgroupmod`, the expiry with `lchage`), as Ansible's module uses them.
    pub local: bool,
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
    /// `chage` for the password ages that differ, after the account change.
    pub chage: Option<Vec<String>>,
    /// `local`: `lchage -E DAYS` after the account change (-1: never).
    pub lexpires: Option<i64>,
    /// `local`: groups to join (`lgroupmod -M USER GROUP`) and leave (`-m`).
    pub lgroup_add: Vec<String>,
    pub lgroup_del: Vec<String>,
}

impl Decision {
    pub fn changed(&self) -> bool {
        self.action.is_some()
            || self.create_home_dir
            || self.gen_key
            || self.chage.is_some()
            || self.lexpires.is_some()
            || !self.lgroup_add.is_empty()
            || !self.lgroup_del.is_empty()
    }
}

pub(super) fn expire_days(expires: f64) -> Option<i64> {
    (expires >= 0.0).then(|| (expires / 86_400.0).floor() as i64)
}

pub(super) fn expire_arg(expires: f64) -> String {
    expire_days(expires)
        .map(crate::modules::clock::ymd)
        .unwrap_or_default()
}

/// Decides the change. `strict` (outside check mode) fails on groups that do not exist; in
/// check mode an earlier task of the same run may be what creates them.
pub fn decide(want: &UserWant, obs: &Account, strict: bool) -> Result<Decision, Failure> {
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
                return Err(Failure::new(format!("Group {g} does not exist")));
            }
        }
    }
    let Some(cur) = &obs.passwd else {
        if !want.present {
            return Ok(d);
        }
        let l = want.local;
        let mut a: Vec<String> = vec![if l { "luseradd" } else { "useradd" }.into()];
        if let Some(u) = want.uid {
            a.extend(["-u".into(), u.to_string()]);
            if want.non_unique {
                a.push("-o".into());
            }
        }
        if let Some(g) = &want.group {
            a.extend(["-g".into(), g.clone()]);
        } else if obs.same_name_group {
            // A group named like the user exists: do not let useradd try to create it
            // (luseradd's option is `-n`).
            a.push(if l { "-n" } else { "-N" }.into());
        }
        if let Some(gs) = want.groups.as_ref().filter(|g| !g.is_empty()) {
            if l {
                d.lgroup_add = gs.iter().map(|g| group_name(g)).collect();
            } else {
                a.extend(["-G".into(), gs.join(",")]);
            }
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
            if l {
                d.lexpires = Some(expire_days(e).unwrap_or(-1));
            } else {
                a.extend(["-e".into(), expire_arg(e)]);
            }
        }
        if let Some(i) = want.inactive {
            a.extend(["-f".into(), i.to_string()]);
        }
        if let Some(p) = &want.password {
            // Locked in the same command, as Ansible's `create_user`.
            let hash = if want.password_lock == Some(true) {
                format!("!{p}")
            } else {
                p.clone()
            };
            a.extend(["-p".into(), hash]);
        }
        if want.create_home {
            // luseradd makes the home directory unless told not to.
            if !l {
                a.push("-m".into());
            }
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
        d.chage = chage(want, None);
        return Ok(d);
    };
    if !want.present {
        let mut a: Vec<String> = vec![if want.local { "luserdel" } else { "userdel" }.into()];
        if want.force && !want.local {
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
            // lusermod takes the group's number.
            let gid = match (want.local, obs.known_groups.get(g)) {
                (true, Some(e)) => e.gid.to_string(),
                _ => g.clone(),
            };
            a.extend(["-g".into(), gid]);
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
        if need && want.local {
            d.lgroup_add = wanted.difference(&have).cloned().collect();
            if !want.append {
                d.lgroup_del = have.difference(&wanted).cloned().collect();
            }
        } else if need {
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
        // An account without a shadow entry gets one (`usermod -e ''`), as Ansible's reads
        // its expiry as 0 then.
        if expire_days(e) != obs.expire_days || (e < 0.0 && obs.ages.is_none()) {
            if want.local {
                d.lexpires = Some(expire_days(e).unwrap_or(-1));
            } else {
                a.extend(["-e".into(), expire_arg(e)]);
            }
        }
    }
    // Ansible's `usermod -f` runs every time; drover only when the days differ.
    if let Some(i) = want.inactive {
        if obs.ages.map(|a| a[3]) != Some(i) {
            a.extend(["-f".into(), i.to_string()]);
        }
    }
    // Ansible's order: lock or unlock, then a new hash (compared without the lock's `!`)
    // replaces both, locked in the same command when asked.
    if let (Some(lock), Some(h)) = (want.password_lock, &obs.hash) {
        if lock && !h.starts_with('!') {
            a.push("-L".into());
        } else if !lock && h.starts_with('!') {
            a.push("-U".into());
        }
    }
    if let (true, Some(p)) = (want.update_always, &want.password) {
        let have = obs.hash.as_deref().map(|h| h.trim_start_matches('!'));
        if have != Some(p.trim_start_matches('!')) {
            a.retain(|x| x != "-L" && x != "-U");
            let hash = if want.password_lock == Some(true) {
                format!("!{p}")
            } else {
                p.clone()
            };
            a.extend(["-p".into(), hash]);
        }
    }
    if !a.is_empty() {
        let mut argv: Vec<String> = vec![if want.local { "lusermod" } else { "usermod" }.into()];
        argv.extend(a);
        argv.push(want.name.clone());
        d.action = Some(Action::Mod(argv));
    }
    d.create_home_dir = want.create_home && !obs.home_exists && !(moving && want.move_home);
    // `force` makes a new key every run, as Ansible's module does.
    d.gen_key = want.generate_ssh_key && (!obs.key_exists || want.force);
    d.chage = chage(want, obs.ages);
    Ok(d)
}

/// Ansible's `set_password_expire`: `chage -m/-M/-W` for the ages asked that differ from the
/// shadow entry's (all asked for a new account).
fn chage(want: &UserWant, have: Option<[i64; 4]>) -> Option<Vec<String>> {
    let mut argv: Vec<String> = vec!["chage".into()];
    for (i, flag) in ["-m", "-M", "-W"].into_iter().enumerate() {
        if let Some(v) = want.ages[i] {
            if have.is_none_or(|h| h[i] != v) {
                argv.extend([flag.to_string(), v.to_string()]);
            }
        }
    }
    (argv.len() > 1).then(|| {
        argv.push(want.name.clone());
        argv
    })
}
