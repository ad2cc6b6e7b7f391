//! Observing an account in one command: its passwd and shadow entries, the group database,
//! its home directory and key file, each a section of the probe's answer.

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

pub(super) fn observe(ctx: &mut ModuleCtx, want: &UserWant, key: Option<&str>) -> Result<Observed> {
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
        crate::modules::fileops::remember_lookup(ctx, "user", &want.name, line);
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
