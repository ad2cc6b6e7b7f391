//! Running a probe: what the connection's memo and a look made ahead answer, the round trips
//! for the rest (a look ahead in the first, when one is foreseen), and the answer read back.

use super::*;

/// Runs one probe command, answering what it can from the connection's memo and keeping
/// the identity and id lookups it learns there.
pub fn probe(ctx: &mut ModuleCtx, req: &ProbeReq) -> Result<Probe> {
    probe_run(ctx, None, req, None).map(|(p, _)| p)
}

/// Runs a change script (`what`, `script`; it stops at the first failing command) and then
/// the probe, in one round trip: how modules report the state a change left.
pub fn probe_after(
    ctx: &mut ModuleCtx,
    change: Option<(&str, &str)>,
    req: &ProbeReq,
) -> Result<Probe> {
    probe_run(ctx, change, req, None).map(|(p, _)| p)
}

/// A read-only script to run after the probe, in the same round trip: `(marker, script,
/// pure)`; `pure` when the script is the contract's own (markers, `cat`, `head`), which like
/// the probe changes nothing of the session shell and so needs no subshell.
pub type After<'a> = (&'a str, &'a str, bool);

/// The probe and, in the same round trip, `extra`: `(marker, script)`, a read-only script
/// whose output starts with the line `marker`. Returns the probe and the raw bytes `extra`
/// printed after its marker line, with the round trip's stderr.
pub fn probe_with(
    ctx: &mut ModuleCtx,
    req: &ProbeReq,
    extra: After,
) -> Result<(Probe, Vec<u8>, String)> {
    let (p, rest) = probe_run(ctx, None, req, Some(extra))?;
    let (bytes, stderr) = rest.unwrap_or_default();
    Ok((p, bytes, stderr))
}

type Extra = Option<(Vec<u8>, String)>;

fn probe_run(
    ctx: &mut ModuleCtx,
    change: Option<(&str, &str)>,
    req: &ProbeReq,
    mut extra: Option<After>,
) -> Result<(Probe, Extra)> {
    let as_user = ctx.as_user.map(|b| b.user.clone()).unwrap_or_default();
    let keys = memo_keys(req, &as_user);
    let tag = format!("@@{}:", crate::connection::random_token());
    let mut known = Vec::new();
    let mut text = String::new();
    {
        // The memo keeps lines as `@M …`; the answer's own carry this probe's tag.
        let memo = ctx.conn()?.memo();
        for k in &keys {
            // A user or group lookup `id` answered serves when no full lookup is kept.
            let found = match memo.get(k) {
                Some(v) => Some(v),
                None if !k.starts_with("probe-me:") => memo.get(&id_answer_key(k)),
                None => None,
            };
            if let Some(v) = found {
                for l in v.lines() {
                    text.push_str(&l.replacen('@', &tag, 1));
                    text.push('\n');
                }
                known.push(k.clone());
            }
        }
    }
    // The paths a look made ahead answers (never after a change: it made the look old).
    let mut answered = match change {
        None => ctx.conn()?.memo().looks.answer(&as_user, req, &tag),
        Some(_) => None,
    };
    // Else, when the round trip runs in the session shell, the paths the next tasks will
    // probe are looked at in it, and this probe's paths are answered from that look.
    let inline = extra.is_none_or(|(_, _, pure)| pure) && ctx.env.is_empty();
    let ahead = std::mem::take(&mut ctx.ahead);
    let look = match (&answered, change, inline) {
        (None, None, true) => LookAhead::new(&ahead),
        _ => None,
    };
    let mut rest = None;
    if let Some(look) = &look {
        let changes = crate::connection::host_changes();
        let sent = std::time::Instant::now();
        let mut script = probe_parts(req, &known, &tag, Parts::NoPaths)
            .text()
            .to_string();
        script.push_str(look.script(&tag).text());
        let (fresh, r) = round(ctx, None, script, extra.take())?;
        rest = r;
        let pf = format!("{tag}PF\n");
        let at = crate::modules::sections::line_start(fresh.as_bytes(), pf.as_bytes())
            .unwrap_or(fresh.len());
        keep_looks(ctx, look, &fresh[at..], &tag, &as_user, changes, sent)?;
        keep_lookups(ctx, &keys, &mut known, &fresh[..at], &tag)?;
        text.push_str(&fresh[..at]);
        answered = ctx.conn()?.memo().looks.answer(&as_user, req, &tag);
    }
    let parts = match (look.is_some(), answered.is_some()) {
        (true, true) => None,
        (true, false) => Some(Parts::PathsOnly),
        (false, true) => {
            let more = change.is_some()
                || extra.is_some()
                || keys.len() > known.len()
                || !req.times.is_empty();
            more.then_some(Parts::NoPaths)
        }
        (false, false) => Some(Parts::All),
    };
    if let Some(parts) = parts {
        let script = probe_parts(req, &known, &tag, parts).text().to_string();
        let (fresh, r) = round(ctx, change, script, extra)?;
        if r.is_some() {
            rest = r;
        }
        keep_lookups(ctx, &keys, &mut known, &fresh, &tag)?;
        text.push_str(&fresh);
    }
    if let Some(a) = &answered {
        text.push_str(a);
    }
    let mut p = parse_probe(&text, req, &tag)?;
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
    Ok((p, rest))
}

/// One round trip: the change (if any; it stops at its first failing command), `script`, then
/// `extra`. Returns what came before `extra`'s marker, and the bytes after it with the round
/// trip's stderr.
fn round(
    ctx: &mut ModuleCtx,
    change: Option<(&str, &str)>,
    mut script: String,
    extra: Option<After>,
) -> Result<(String, Extra)> {
    if let Some((_, x, _)) = extra {
        script.push('\n');
        script.push_str(x);
    }
    // The probe alone (or with the contract's own reads) runs in the session shell, its
    // variables unset after it; a change (`set -e`, anything) or a module's script runs in a
    // subshell as every other command.
    let mut out = match change {
        Some((_, c)) => ctx.run(&format!("set -e\n{c}\nset +e\n{script}"))?,
        None if extra.is_none_or(|(_, _, pure)| pure) => {
            script.push_str(INLINE_END);
            ctx.run_inline(&script)?
        }
        None => ctx.run(&script)?,
    };
    if let (Some((what, _)), true) = (change, out.rc != 0) {
        return Err(fail(format!("{what} failed: {}", out.stderr_str().trim())));
    }
    let rest = match extra {
        Some((marker, _, _)) => {
            let line = format!("{marker}\n");
            let at = crate::modules::sections::line_start(&out.stdout, line.as_bytes());
            let tail = match at {
                Some(i) => {
                    let t = out.stdout.split_off(i);
                    t[line.len()..].to_vec()
                }
                None => Vec::new(),
            };
            Some((tail, out.stderr_str()))
        }
        None => None,
    };
    Ok((out.stdout_str(), rest))
}
