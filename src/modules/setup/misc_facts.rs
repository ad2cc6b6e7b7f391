//! The small collectors of Ansible's minimal set and beside it: `date_time`, `lsb`, `local`
//! (`facts.d`), `dns`, `cmdline`, `ssh_pub_keys`, `apparmor`, `loadavg`, each read with
//! builtins (`date` and `lsb_release` are the processes, and the executable fact files).

use serde_json::{json, Map, Value as J};

macro_rules! date_fmt {
    () => {
        "'+%s %N %Z %z|%Y|%m|%A|%w|%W|%d|%H|%M|%S'"
    };
}

/// `facts.d`: each `NAME.fact` of `$fp` as `=exec RC NAME` (run) or `=file 0 NAME` (read),
/// then its lines after `|`.
const LOCAL: &str = r#"for f in "$fp"/*.fact; do [ -e "$f" ] || continue; n=${f##*/}; n=${n%.fact}; if [ -x "$f" ]; then o=$("$f" 2>/dev/null); echo "=exec $? $n"; else o=; [ -r "$f" ] && o=$(while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done <"$f"); echo "=file 0 $n"; fi; [ -n "$o" ] && printf '%s\n' "$o" | while IFS= read -r l || [ -n "$l" ]; do printf '|%s\n' "$l"; done; done; :"#;

/// The sections: `(collector, name, shell)`; `local`'s reads `$fp`.
pub const SECTIONS: &[(&str, &str, &str)] = &[
    (
        "date_time",
        "date",
        // The three dates as a here-document (no process to write them, as a pipe would).
        concat!(
            "LC_ALL=C date -f - ",
            date_fmt!(),
            " 2>/dev/null <<'@@DATES' || LC_ALL=C date ",
            date_fmt!(),
            "\nnow\njan 1 12:00\njul 1 12:00\n@@DATES"
        ),
    ),
    (
        "lsb",
        "lsb",
        r#"if command -v lsb_release >/dev/null 2>&1 && o=$(lsb_release -a 2>/dev/null) && [ -n "$o" ]; then printf '%s\n' "$o"; elif [ -r /etc/lsb-release ]; then while IFS= read -r l || [ -n "$l" ]; do echo "=$l"; done </etc/lsb-release; fi; :"#,
    ),
    ("local", "local", LOCAL),
    ("dns", "dns", lines_of!("/etc/resolv.conf")),
    ("cmdline", "cmdline", lines_of!("/proc/cmdline")),
    (
        "ssh_pub_keys",
        "sshkeys",
        r#"for d in /etc/ssh /etc/openssh /etc; do for a in dsa rsa ecdsa ed25519; do f=$d/ssh_host_${a}_key.pub; [ -r "$f" ] && read -r l <"$f" && echo "$d $a $l"; done; done; :"#,
    ),
    (
        "apparmor",
        "apparmor",
        "[ -e /sys/kernel/security/apparmor ] && echo enabled; :",
    ),
    ("loadavg", "loadavg", lines_of!("/proc/loadavg")),
];

/// The facts of the collectors asked for (`has(collector)`), from the sections' lines.
pub fn misc_facts(
    get: &dyn Fn(&str) -> Vec<String>,
    has: &dyn Fn(&str) -> bool,
    fact_path: &str,
    out: &mut Map<String, J>,
    warnings: &mut Vec<String>,
) {
    if has("date_time") {
        if let Some(d) = date_time(&get("date")) {
            out.insert("date_time".into(), d);
        }
    }
    if has("lsb") {
        out.insert("lsb".into(), lsb(&get("lsb")));
    }
    if has("local") {
        out.insert("local".into(), local(&get("local"), fact_path, warnings));
    }
    if has("dns") {
        out.insert("dns".into(), dns(&get("dns")));
    }
    if has("cmdline") {
        if let Some(line) = get("cmdline").first().filter(|l| !l.trim().is_empty()) {
            let (mut one, mut all) = (Map::new(), Map::new());
            for piece in line.split_whitespace() {
                let Some((k, v)) = piece.split_once('=') else {
                    one.insert(piece.into(), J::Bool(true));
                    all.insert(piece.into(), J::Bool(true));
                    continue;
                };
                one.insert(k.into(), J::from(v));
                match all.get_mut(k) {
                    Some(J::Array(a)) => a.push(J::from(v)),
                    Some(old) => *old = J::Array(vec![old.clone(), J::from(v)]),
                    None => {
                        all.insert(k.into(), J::from(v));
                    }
                }
            }
            out.insert("cmdline".into(), J::Object(one));
            out.insert("proc_cmdline".into(), J::Object(all));
        }
    }
    if has("ssh_pub_keys") {
        ssh_keys(&get("sshkeys"), out);
    }
    if has("apparmor") {
        let status = if get("apparmor").is_empty() {
            "disabled"
        } else {
            "enabled"
        };
        out.insert("apparmor".into(), json!({ "status": status }));
    }
    if has("loadavg") {
        let l = get("loadavg");
        let w: Vec<f64> = l
            .first()
            .map(|l| {
                l.split_whitespace()
                    .take(3)
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if w.len() == 3 {
            out.insert(
                "loadavg".into(),
                json!({"1m": w[0], "5m": w[1], "15m": w[2]}),
            );
        }
    }
}

/// `date -f`'s three lines (now, January and July of this year) as Ansible's `date_time`.
fn date_time(lines: &[String]) -> Option<J> {
    let parse = |l: &String| -> Option<(Vec<String>, String, String, String)> {
        let f: Vec<String> = l.split('|').map(str::to_string).collect();
        let head: Vec<&str> = f.first()?.split(' ').collect();
        (f.len() == 10 && head.len() == 4).then(|| {
            (
                f.clone(),
                head[0].to_string(),
                head[1].to_string(),
                head[2].to_string(),
            )
        })
    };
    let (f, epoch, nanos, tz) = parse(lines.first()?)?;
    let head: Vec<&str> = f[0].split(' ').collect();
    let secs: i64 = epoch.parse().ok()?;
    let micros = if nanos.len() >= 6 && nanos.bytes().all(|b| b.is_ascii_digit()) {
        nanos[..6].to_string()
    } else {
        "000000".to_string()
    };
    // Python's `time.tzname[1]`: the zone's summer name when it has one (the name of the
    // half-year with the larger offset), else its only name.
    let zones: Vec<(String, i64)> = lines[1..]
        .iter()
        .filter_map(parse)
        .map(|(f, _, _, z)| {
            let off = f[0]
                .split(' ')
                .nth(3)
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(0);
            (z, off)
        })
        .collect();
    let tz_dst = match zones.as_slice() {
        [(a, oa), (b, ob)] if a != b => {
            if ob > oa {
                b.clone()
            } else {
                a.clone()
            }
        }
        [(a, _), ..] => a.clone(),
        [] => tz.clone(),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let utc = format!(
        "{}T{:02}:{:02}:{:02}",
        crate::modules::clock::ymd(days),
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    let (y, m, d, hh, mm, ss) = (&f[1], &f[2], &f[6], &f[7], &f[8], &f[9]);
    Some(json!({
        "year": y, "month": m, "weekday": f[3], "weekday_number": f[4], "weeknumber": f[5],
        "day": d, "hour": hh, "minute": mm, "second": ss, "epoch": epoch, "epoch_int": epoch,
        "date": format!("{y}-{m}-{d}"), "time": format!("{hh}:{mm}:{ss}"),
        "iso8601_micro": format!("{utc}.{micros}Z"), "iso8601": format!("{utc}Z"),
        "iso8601_basic": format!("{y}{m}{d}T{hh}{mm}{ss}{micros}"),
        "iso8601_basic_short": format!("{y}{m}{d}T{hh}{mm}{ss}"),
        "tz": tz, "tz_dst": tz_dst, "tz_offset": head[3],
    }))
}

fn lsb(lines: &[String]) -> J {
    let strip = |v: &str| v.trim().trim_matches(['\'', '"', '\\']).to_string();
    let mut m = Map::new();
    for line in lines {
        let (key, value) = match line.strip_prefix('=') {
            // `/etc/lsb-release`
            Some(l) => {
                let Some((k, v)) = l.split_once('=') else {
                    continue;
                };
                let key = [
                    "DISTRIB_ID",
                    "DISTRIB_RELEASE",
                    "DISTRIB_DESCRIPTION",
                    "DISTRIB_CODENAME",
                ]
                .iter()
                .find(|x| k.contains(**x))
                .map(|x| x.trim_start_matches("DISTRIB_").to_lowercase());
                (key, v)
            }
            // `lsb_release -a`
            None => {
                let Some((_, v)) = line.split_once(':') else {
                    continue;
                };
                let key = [
                    ("LSB Version:", "release"),
                    ("Distributor ID:", "id"),
                    ("Description:", "description"),
                    ("Release:", "release"),
                    ("Codename:", "codename"),
                ]
                .iter()
                .find(|(p, _)| line.contains(p))
                .map(|(_, k)| k.to_string());
                (key, v)
            }
        };
        if let Some(k) = key {
            m.insert(k, J::from(strip(value)));
        }
    }
    if let Some(r) = m.get("release").and_then(J::as_str) {
        let major = r.split('.').next().unwrap_or("").to_string();
        m.insert("major_release".into(), J::from(major));
    }
    J::Object(m)
}

/// `facts.d`: each `NAME.fact` (`=exec RC NAME` or `=file 0 NAME`, then its lines after `|`)
/// as JSON, else INI, else Ansible's message.
fn local(lines: &[String], fact_path: &str, warnings: &mut Vec<String>) -> J {
    let mut facts = Map::new();
    let mut files: Vec<(bool, i32, String, String)> = Vec::new();
    for l in lines {
        if let Some(rest) = l.strip_prefix('|') {
            if let Some(f) = files.last_mut() {
                f.3.push_str(rest);
                f.3.push('\n');
            }
        } else if let Some(rest) = l.strip_prefix('=') {
            let mut w = rest.splitn(3, ' ');
            let (kind, rc, name) = (
                w.next().unwrap_or(""),
                w.next().unwrap_or("0"),
                w.next().unwrap_or(""),
            );
            files.push((
                kind == "exec",
                rc.parse().unwrap_or(0),
                name.to_string(),
                String::new(),
            ));
        }
    }
    for (exec, rc, name, out) in files {
        let path = format!("{}/{name}.fact", fact_path.trim_end_matches('/'));
        if exec && rc != 0 {
            let msg = format!("Failure executing fact script ({path}), rc: {rc}, err: ");
            warnings.push(msg.clone());
            facts.insert(name, J::from(msg));
            continue;
        }
        let fact = match serde_json::from_str::<J>(&out) {
            Ok(v) => v,
            Err(_) => ini(&out).unwrap_or_else(|| {
                let msg =
                    format!("error loading facts as JSON or ini - please check content: {path}");
                warnings.push(msg.clone());
                J::from(msg)
            }),
        };
        facts.insert(name, fact);
    }
    J::Object(facts)
}

/// Python's `configparser` on a fact file: sections of `key = value` (or `key: value`),
/// keys lower-cased; `None` where it would raise (an option before any section).
fn ini(text: &str) -> Option<J> {
    let mut m = Map::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            m.entry(name.to_string())
                .or_insert_with(|| J::Object(Map::new()));
            current = Some(name.to_string());
            continue;
        }
        let section = current.as_ref()?;
        let cut = line.find(['=', ':']);
        let (k, v) = match cut {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => return None,
        };
        if let Some(J::Object(s)) = m.get_mut(section) {
            s.insert(k.trim().to_lowercase(), J::from(v.trim()));
        }
    }
    Some(J::Object(m))
}

fn dns(lines: &[String]) -> J {
    let mut d = Map::new();
    for line in lines {
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let list = |from: &[&str]| J::from(from.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        match t.first().copied() {
            Some("nameserver") => {
                if let J::Array(a) = d
                    .entry("nameservers")
                    .or_insert_with(|| J::Array(Vec::new()))
                {
                    a.extend(t[1..].iter().map(|s| J::from(*s)));
                }
            }
            Some("domain") if t.len() > 1 => {
                d.insert("domain".into(), J::from(t[1]));
            }
            Some("search") => {
                d.insert("search".into(), list(&t[1..]));
            }
            Some("sortlist") => {
                d.insert("sortlist".into(), list(&t[1..]));
            }
            Some("options") => {
                let o: Map<String, J> = t[1..]
                    .iter()
                    .map(|o| match o.split_once(':') {
                        Some((k, v)) if !v.is_empty() => (k.to_string(), J::from(v)),
                        _ => (o.split(':').next().unwrap_or("").to_string(), J::Bool(true)),
                    })
                    .collect();
                d.insert("options".into(), J::Object(o));
            }
            _ => {}
        }
    }
    J::Object(d)
}

/// The first directory's host keys, as Ansible's loop over `/etc/ssh`, `/etc/openssh`, `/etc`.
fn ssh_keys(lines: &[String], out: &mut Map<String, J>) {
    let mut found = Map::new();
    for dir in ["/etc/ssh", "/etc/openssh", "/etc"] {
        for algo in ["dsa", "rsa", "ecdsa", "ed25519"] {
            let name = format!("ssh_host_key_{algo}_public");
            if found.contains_key(&name) {
                out.extend(found);
                return;
            }
            let prefix = format!("{dir} {algo} ");
            let Some(key) = lines.iter().find_map(|l| l.strip_prefix(&prefix)) else {
                continue;
            };
            let w: Vec<&str> = key.split_whitespace().collect();
            if w.len() >= 2 {
                found.insert(name.clone(), J::from(w[1]));
                found.insert(format!("{name}_keytype"), J::from(w[0]));
            }
        }
    }
    out.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn date_time_from_date_in_a_zone_with_summer_time() {
        let d = date_time(&text("1796594869 937447587 CET +0100|2026|12|Sunday|0|48|06|23|07|49\n1767265200 000000000 CET +0100|2026|01|Thursday|4|00|01|12|00|00\n1782900000 000000000 CEST +0200|2026|07|Wednesday|3|26|01|12|00|00")).unwrap();
        assert_eq!(d["iso8601"], "2026-12-06T22:07:49Z");
        assert_eq!(d["iso8601_micro"], "2026-12-06T22:07:49.937447Z");
        assert_eq!(d["iso8601_basic"], "20261206T230749937447");
        assert_eq!(
            (&d["tz"], &d["tz_dst"], &d["tz_offset"]),
            (&json!("CET"), &json!("CEST"), &json!("+0100"))
        );
        assert_eq!(
            (&d["date"], &d["time"], &d["weekday"]),
            (&json!("2026-12-06"), &json!("23:07:49"), &json!("Sunday"))
        );
    }

    #[test]
    fn lsb_local_dns_and_keys() {
        let l = lsb(&text("Distributor ID:\tDebian\nDescription:\tDebian GNU/Linux 12 (bookworm)\nRelease:\t12\nCodename:\tbookworm"));
        assert_eq!(
            l,
            json!({"id": "Debian", "description": "Debian GNU/Linux 12 (bookworm)", "release": "12", "codename": "bookworm", "major_release": "12"})
        );
        let f = lsb(&text("=DISTRIB_ID=Ubuntu\n=DISTRIB_RELEASE=22.04\n=DISTRIB_DESCRIPTION=\"Ubuntu 22.04.3 LTS\""));
        assert_eq!(f["description"], "Ubuntu 22.04.3 LTS");
        assert_eq!(f["major_release"], "22");
        let mut w = Vec::new();
        let facts = local(
            &text(
                "=file 0 a\n|{\"x\": [1]}\n=file 0 b\n|[s]\n|Key = v\n=exec 3 c\n=file 0 d\n|k=v",
            ),
            "/etc/ansible/facts.d",
            &mut w,
        );
        assert_eq!(facts["a"], json!({"x": [1]}));
        assert_eq!(facts["b"], json!({"s": {"key": "v"}}));
        assert_eq!(
            facts["c"],
            "Failure executing fact script (/etc/ansible/facts.d/c.fact), rc: 3, err: "
        );
        assert!(facts["d"]
            .as_str()
            .unwrap()
            .starts_with("error loading facts as JSON or ini"));
        assert_eq!(w.len(), 2);
        let d = dns(&text(
            "# c\nnameserver 10.0.0.1\nnameserver 10.0.0.2\nsearch a b\noptions ndots:2 rotate",
        ));
        assert_eq!(
            d,
            json!({"nameservers": ["10.0.0.1", "10.0.0.2"], "search": ["a", "b"], "options": {"ndots": "2", "rotate": true}})
        );
        let mut k = Map::new();
        ssh_keys(&text("/etc/ssh rsa ssh-rsa AAAA root@h\n/etc/ssh ed25519 ssh-ed25519 BBBB\n/etc rsa ssh-rsa CCCC"), &mut k);
        assert_eq!(k["ssh_host_key_rsa_public"], "AAAA");
        assert_eq!(k["ssh_host_key_ed25519_public_keytype"], "ssh-ed25519");
    }
}
