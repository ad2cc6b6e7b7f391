//! The connection's memo of what probes learnt: the shell's identity and umask, and user and
//! group lookups (kept until a module that may change accounts changes something).

use super::*;

/// The memo key of a user lookup (`@U <passwd line>`).
pub fn user_memo_key(user: &str) -> String {
    format!("probe-user:{user}")
}

/// The memo key of a group lookup (`@G <group line>`).
pub fn group_memo_key(group: &str) -> String {
    format!("probe-group:{group}")
}

/// Where `id_lookups` keeps what `id` told of a user or group lookup's key (`probe-user:…`,
/// `probe-group:…`): apart from full lookups, which other modules read for more than the
/// name and id (a user's home).
pub(super) fn id_answer_key(key: &str) -> String {
    format!("id-{key}")
}

/// What the connection's memo already answers for a probe: the lines the script would print.
pub(super) fn memo_keys(req: &ProbeReq, as_user: &str) -> Vec<String> {
    let mut keys = vec![format!("probe-me:{as_user}")];
    if let Some(o) = &req.owner {
        keys.push(user_memo_key(o));
    }
    if let Some(g) = &req.group {
        keys.push(group_memo_key(g));
    }
    keys
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
        let memo = c.memo();
        memo.put(
            format!("probe-me:{as_user}"),
            format!("@M {}\n@W {}\n", umask.trim(), id.trim()),
        );
        keep_id_lookups(memo, id);
    }
    Ok(())
}

/// Keeps in `memo` the lookups the `id` line `id` answers (see `id_lookups`).
pub(super) fn keep_id_lookups(memo: &mut crate::connection::Memo, id: &str) {
    for (k, v) in id_lookups(id) {
        memo.put(k, v);
    }
}

/// The lookups an `id` line answers (`uid=0(root) gid=0(root) groups=0(root),4(adm)`): `id`
/// resolved each number to its name through the same user and group databases `getent`
/// reads, so a file task owned by the user a shell runs as, or by one of its groups, needs no
/// lookup. Keyed by name and by number (`id_answer_key` of the lookup's key), as `(memo key,
/// memo line)`; the line holds the two fields a file probe reads of a lookup's answer (name,
/// and the id in the third field).
pub(super) fn id_lookups(id: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |user: bool, ident: &Ident| {
        if ident.name.is_empty() || ident.name.contains([':', '\n']) {
            return;
        }
        let (tag, key): (&str, fn(&str) -> String) = if user {
            ("@U", user_memo_key)
        } else {
            ("@G", group_memo_key)
        };
        let line = format!("{tag} {}:x:{}:\n", ident.name, ident.id);
        out.push((id_answer_key(&key(&ident.name)), line.clone()));
        out.push((id_answer_key(&key(&ident.id.to_string())), line));
    };
    if let Some(u) = id_field(id, "uid=") {
        add(true, &u);
    }
    if let Some(g) = id_field(id, "gid=") {
        add(false, &g);
    }
    if let Some(list) = id
        .split_whitespace()
        .find_map(|w| w.strip_prefix("groups="))
    {
        for g in list.split(',') {
            if let Some(g) = id_field(&format!("gid={g}"), "gid=") {
                add(false, &g);
            }
        }
    }
    out
}

/// Keeps in the connection's memo the identity and lookups a round trip answered (`fresh`)
/// that it did not know yet, and adds their keys to `known`.
pub(super) fn keep_lookups(
    ctx: &mut ModuleCtx,
    keys: &[String],
    known: &mut Vec<String>,
    fresh: &str,
    tag: &str,
) -> Result<()> {
    let memo = ctx.conn()?.memo();
    let mut kept = Vec::new();
    for k in keys.iter().filter(|k| !known.contains(k)) {
        let kinds: &[&str] = if k.starts_with("probe-me:") {
            &["M ", "W "]
        } else if k.starts_with("probe-user:") {
            &["U "]
        } else {
            &["G "]
        };
        let lines: Vec<&str> = fresh
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .filter(|l| kinds.iter().any(|p| l.starts_with(p)))
            .collect();
        // Only complete, successful lookups are kept: a user that does not exist yet
        // may be created by the next task.
        let complete = lines.len() == kinds.len() && lines.iter().all(|l| l.len() > 2);
        if complete {
            if let Some(w) = lines.iter().find_map(|l| l.strip_prefix("W ")) {
                keep_id_lookups(memo, w);
            }
            memo.put(k.clone(), lines.iter().map(|l| format!("@{l}\n")).collect());
            kept.push(k.clone());
        }
    }
    known.extend(kept);
    Ok(())
}
