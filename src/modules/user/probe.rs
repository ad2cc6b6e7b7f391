//! Observing an account in one round trip: its passwd and shadow entries, the group database,
//! its home directory and key file, each a section of the answer.

use super::*;

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

/// Reads the probe's sections. `user` is the account's name and `asked` the groups the task
/// names (by name or gid).
pub fn parse_probe(seen: &Observed, user: &str, asked: &[&String]) -> Account {
    let mut o = Account::default();
    let entries: Vec<GroupEntry> = seen
        .section("groups")
        .lines()
        .filter_map(parse_group)
        .collect();
    o.passwd = seen.section("passwd").lines().next().and_then(parse_passwd);
    if let Some(line) = seen.section("shadow").lines().next() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 8 {
            o.hash = Some(f[1].to_string());
            o.expire_days = f[7].parse().ok();
            let day = |i: usize| f[i].parse().unwrap_or(-1);
            o.ages = Some([day(3), day(4), day(5), day(6)]);
        }
    }
    o.home_exists = seen.section("homedir").trim() == "yes";
    o.key_exists = seen.section("key").trim() == "yes";
    let text = |name: &str| Some(seen.section(name).trim().to_string()).filter(|t| !t.is_empty());
    o.public_key = text("pub");
    o.fingerprint = text("fp");
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
    // `getent passwd 1000` finds uid 1000: only an entry of that name is this account.
    if o.passwd.as_ref().is_some_and(|p| p.name != user) {
        o = Account {
            same_name_group: o.same_name_group,
            known_groups: o.known_groups,
            ..Account::default()
        };
    }
    o
}

/// The account's sections: its passwd and shadow entries (the latter when the task asks for a
/// password, lock, expiry or age), its home directory and key file, and the whole group
/// database (one `getent group`, as Ansible's `grp.getgrall()`), from which the controller
/// works out the primary group's name, the memberships and the named groups: two or three
/// processes.
pub fn observe_account(want: &UserWant, key_file: Option<&str>) -> Observe {
    let passwd = Script::new()
        .set("u", &want.name)
        .set("d", &format!("/home/{}", want.name))
        .raw(concat!(
            "if p=$(getent passwd -- \"$u\"); then printf '%s\\n' \"$p\"; ",
            "h=${p#*:*:*:*:*:}; h=${h%%:*}; else p=; h=$d; fi\n"
        ));
    // The shadow entry holds only what a password, lock, expiry or age compares with: a task
    // that asks for none of them needs no process for it.
    let wants_shadow = want.password.is_some()
        || want.password_lock.is_some()
        || want.expires.is_some()
        || want.inactive.is_some()
        || want.ages.iter().any(Option::is_some);
    let shadow = match wants_shadow {
        true => Script::new().raw(
            "if [ -n \"$p\" ] && s=$(getent shadow -- \"$u\" 2>/dev/null); then printf '%s\\n' \"$s\"; fi\n",
        ),
        false => Script::new().raw(":\n"),
    };
    let home = match &want.home {
        Some(h) => Script::new().set("H", h),
        None => Script::new().raw("H=$h\n"),
    }
    .raw("if [ -d \"$H\" ]; then echo yes; fi\n");
    let mut sections = vec![("passwd", passwd), ("shadow", shadow), ("homedir", home)];
    if let Some(k) = key_file {
        let key = match k.strip_prefix('/') {
            Some(_) => Script::new().set("k", k),
            None => Script::new().set("r", k).raw("k=\"$H/$r\"\n"),
        }
        .raw("if [ -f \"$k\" ]; then echo yes; fi\n");
        sections.push(("key", key));
        sections.push((
            "pub",
            Script::new()
                .raw("if [ -f \"$k\" ] && [ -f \"$k.pub\" ]; then cat -- \"$k.pub\"; fi\n"),
        ));
        sections.push((
            "fp",
            Script::new().raw(
                "if [ -f \"$k\" ] && [ -f \"$k.pub\" ]; then ssh-keygen -l -f \"$k.pub\" 2>/dev/null; fi\n",
            ),
        ));
    }
    sections.push(("groups", Script::new().raw("getent group\n")));
    Observe {
        sections,
        remember: vec![("passwd", "user", want.name.clone())],
        ..Observe::default()
    }
}
