//! Reading a probe's answer: stat fields, identities and lookups, per path.

use super::*;

/// One `uid=0(root)` / `gid=0(root)` field of `id`'s output (the name is empty when the id
/// has no name).
pub(super) fn id_field(line: &str, key: &str) -> Option<Ident> {
    let rest = line.split_whitespace().find_map(|w| w.strip_prefix(key))?;
    let (num, name) = match rest.split_once('(') {
        Some((n, tail)) => (n, tail.trim_end_matches(')')),
        None => (rest, ""),
    };
    Some(Ident {
        id: num.parse().ok()?,
        name: name.into(),
    })
}

/// Reads the probe's answer; `tag` starts the lines the probe writes itself.
pub(super) fn parse_probe(text: &str, req: &ProbeReq, tag: &str) -> Result<Probe> {
    let mut p = Probe {
        umask: 0o022,
        ..Probe::default()
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let own = line.strip_prefix(tag);
        if let Some(m) = own.and_then(|l| l.strip_prefix("M ")) {
            p.umask = u32::from_str_radix(m.trim(), 8).unwrap_or(0o022);
        } else if let Some(w) = own.and_then(|l| l.strip_prefix("W ")) {
            p.me_user = id_field(w, "uid=");
            p.me_group = id_field(w, "gid=");
        } else if own == Some("P") {
            let mut st = FileState::default();
            if lines.get(i) == Some(&"S") {
                i += 1;
                let f: Vec<&str> = lines.get(i..i + STAT_LINES).unwrap_or_default().to_vec();
                if f.len() != STAT_LINES {
                    return Err(anyhow!("unexpected stat output: {text}"));
                }
                i += STAT_LINES;
                st.exists = true;
                st.st_mode = u32::from_str_radix(f[0], 16).unwrap_or(0);
                st.uid = f[1].parse().unwrap_or(0);
                st.gid = f[2].parse().unwrap_or(0);
                st.size = f[3].parse().unwrap_or(0);
                st.atime = with_fraction(f[4], f[7]);
                st.mtime = with_fraction(f[5], f[8]);
                st.ctime = with_fraction(f[6], f[9]);
                st.inode = f[10].parse().unwrap_or(0);
                st.dev = f[11].parse().unwrap_or(0);
                st.nlink = f[12].parse().unwrap_or(0);
                st.blocks = f[13].parse().unwrap_or(0);
                st.block_size = f[14].parse().unwrap_or(0);
                st.rdev_major = u32::from_str_radix(f[15], 16).unwrap_or(0);
                st.rdev_minor = u32::from_str_radix(f[16], 16).unwrap_or(0);
                st.owner = f[17].to_string();
                st.group = f[18].to_string();
                while let Some(l) = lines.get(i) {
                    if *l == "LNL" || *l == "RNL" {
                        return Err(fail(format!(
                            "the link at {} points to a path holding a newline; drover does not follow it",
                            req.items.get(p.states.len()).map_or("", |it| it.path.as_str())
                        )));
                    }
                    if let Some(t) = l.strip_prefix("L ") {
                        st.link_target = Some(t.to_string());
                    } else if let Some(t) = l.strip_prefix("R ") {
                        st.link_source = Some(t.to_string());
                    } else if let Some(a) = l.strip_prefix('A') {
                        st.readable = a.contains('r');
                        st.writeable = a.contains('w');
                        st.executable = a.contains('x');
                    } else if let Some(c) = l.strip_prefix("C ") {
                        st.checksum = c.split_whitespace().next().map(str::to_string);
                    } else {
                        break;
                    }
                    i += 1;
                }
            } else if lines.get(i) == Some(&"N") {
                i += 1;
            } else if let Some(t) = lines
                .get(i)
                .and_then(|l| l.strip_prefix(tag))
                .and_then(|l| l.strip_prefix("SAME "))
            {
                i += 1;
                let twin: usize = t.trim().parse().unwrap_or(usize::MAX);
                st = p
                    .states
                    .get(twin)
                    .cloned()
                    .ok_or_else(|| anyhow!("probe twin {twin} out of range: {text}"))?;
            }
            p.states.push(st);
        } else if let Some(u) = own.and_then(|l| l.strip_prefix("U ")) {
            p.owner = resolve_ident(req.owner.as_deref(), passwd_fields(u));
        } else if let Some(g) = own.and_then(|l| l.strip_prefix("G ")) {
            p.group = resolve_ident(req.group.as_deref(), passwd_fields(g));
        } else if let Some(t) = own.and_then(|l| l.strip_prefix("T ")) {
            p.times.push(t.trim().parse().ok());
        }
    }
    if p.states.len() != req.items.len() {
        return Err(anyhow!(
            "probe answered for {} of {} paths: {text}",
            p.states.len(),
            req.items.len()
        ));
    }
    Ok(p)
}

/// `[id, name]` of a `passwd` or `group` database line (empty when the lookup found nothing).
pub(super) fn passwd_fields(line: &str) -> Vec<&str> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() >= 3 {
        vec![f[2], f[0]]
    } else {
        vec![]
    }
}

/// `[id, name]` from the host, or the number itself when a numeric id has no name.
pub(super) fn resolve_ident(asked: Option<&str>, f: Vec<&str>) -> Option<Ident> {
    let asked = asked?;
    let numeric: Option<u32> = asked.parse().ok();
    match (f.first().and_then(|s| s.parse::<u32>().ok()), f.get(1)) {
        (Some(id), Some(name)) if !name.is_empty() => Some(Ident {
            id: numeric.unwrap_or(id),
            name: name.to_string(),
        }),
        _ => numeric.map(|id| Ident {
            id,
            name: id.to_string(),
        }),
    }
}

/// Seconds from `%Y` plus the fraction from the human form `%y` (`… 12:00:00.123456789 +0000`).
pub(super) fn with_fraction(secs: &str, human: &str) -> f64 {
    let whole: f64 = secs.parse().unwrap_or(0.0);
    let frac = human
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.split_once('.'))
        .and_then(|(_, f)| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0);
    whole + frac
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn id_output_fields() {
        let line = "uid=1000(deploy) gid=27(sudo) groups=27(sudo),1000(deploy)";
        let u = id_field(line, "uid=").unwrap();
        let g = id_field(line, "gid=").unwrap();
        assert_eq!(
            (u.id, u.name.as_str(), g.id, g.name.as_str()),
            (1000, "deploy", 27, "sudo")
        );
        let anon = id_field("uid=4242 gid=4242 groups=4242", "uid=").unwrap();
        assert_eq!((anon.id, anon.name.as_str()), (4242, ""));
    }
}
