//! `community.general.timezone`: the time zone (`name`) and the hardware clock's
//! (`hwclock`) as Ansible's module sets them on Debian: with `timedatectl` where it answers,
//! else in `/etc/timezone` and `/etc/localtime` (then `dpkg-reconfigure tzdata`) and
//! `/etc/default/rcS` (then `hwclock --systohc`). Results: the `diff` of the values
//! (always, as Ansible's) and `msg` with what ran.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

pub struct Timezone;

static SPEC: Spec = Spec {
    args: &["name", "hwclock"],
    aliases: &[("rtc", "hwclock")],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct TzArgs {
    name: Option<String>,
    hwclock: Option<String>,
}

/// What to set, and how (`timedatectl` or the files).
#[derive(Debug)]
pub struct TzChange {
    systemd: bool,
    name: Option<String>,
    hwclock: Option<String>,
    /// The new `/etc/timezone` and `/etc/default/rcS` (Ansible's `_edit_file`), with the
    /// lines each replaced.
    files: Vec<(String, String, usize)>,
}

const LOOK: &str = r#"if command -v timedatectl >/dev/null 2>&1 && s=$(timedatectl status 2>/dev/null); then echo "mode systemd"; printf '%s\n' "$s" | sed 's/^/s /'
else echo "mode files"
for f in /etc/timezone /etc/default/rcS /etc/adjtime; do if [ -f "$f" ]; then echo "file $f"; sed 's/^/| /' "$f"; fi; done
if [ -L /etc/localtime ]; then if [ -e /etc/localtime ]; then echo "link $(readlink /etc/localtime)"; else echo "link -"; fi; fi
[ -n "$tz" ] && ! [ -L /etc/localtime ] && { cmp -s /etc/localtime "/usr/share/zoneinfo/$tz" && echo same || echo differs; }
command -v hwclock >/dev/null 2>&1 || echo nohwclock
fi
[ -n "$tz" ] && { [ -f "/usr/share/zoneinfo/$tz" ] || echo notz; }
"#;

impl Typed for Timezone {
    type Args = TzArgs;
    type Change = TzChange;

    fn name(&self) -> &'static str {
        "timezone"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<TzArgs> {
        let hwclock = match args.str("hwclock") {
            None => None,
            Some(h) => Some(args.choice("hwclock", &["local", "UTC"], &h)?),
        };
        let name = args.str("name");
        if name.is_none() && hwclock.is_none() {
            return Err(Failure::new("one of the following is required: hwclock, name").into());
        }
        Ok(TzArgs { name, hwclock })
    }

    fn observe(&self, a: &TzArgs) -> Observe {
        Observe {
            sections: vec![(
                "tz",
                Script::new()
                    .set("tz", a.name.as_deref().unwrap_or(""))
                    .raw(LOOK),
            )],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &TzArgs, seen: &Observed) -> Outcome<TzChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &TzArgs, c: &TzChange) -> Vec<Step> {
        let mut s = Script::new();
        if c.systemd {
            if let Some(n) = &c.name {
                s = s
                    .raw("timedatectl set-timezone")
                    .arg(n)
                    .raw(" || exit $?\n");
            }
            if let Some(h) = &c.hwclock {
                let v = if h == "local" { "yes" } else { "no" };
                s = s
                    .raw("timedatectl set-local-rtc")
                    .arg(v)
                    .raw(" || exit $?\n");
            }
        } else {
            for (path, text, _) in &c.files {
                s = s
                    .set("t", text)
                    .raw("printf '%s' \"$t\" >")
                    .arg(path)
                    .raw(" || exit $?\n");
            }
            if let Some(n) = &c.name {
                s = s
                    .raw("ln -sf")
                    .arg(&format!("/usr/share/zoneinfo/{n}"))
                    .raw(" /etc/localtime || exit $?\nDEBIAN_FRONTEND=noninteractive dpkg-reconfigure --frontend noninteractive tzdata >/dev/null 2>\"$D/tz.e\" || { cat \"$D/tz.e\" >&2; exit 1; }\n");
            }
            if let Some(h) = &c.hwclock {
                let opt = if h == "local" { "--localtime" } else { "--utc" };
                s = s.raw("hwclock --systohc").arg(opt).raw(" || exit $?\n");
            }
        }
        vec![Step::Exec {
            script: s,
            stdin: None,
        }]
    }

    fn finish(&self, _a: &TzArgs, _c: &TzChange, done: &Done, mut r: Plan) -> Plan {
        let out = &done.outputs[0];
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(format!("Error message:\n{}", out.stderr_str().trim()));
        }
        r
    }
}

/// A file the look printed.
fn file<'a>(text: &'a str, path: &str) -> Option<Vec<&'a str>> {
    let mut out: Option<Vec<&str>> = None;
    for l in text.lines() {
        if let Some(p) = l.strip_prefix("file ") {
            if out.is_some() {
                break;
            }
            if p == path {
                out = Some(Vec::new());
            }
        } else if let (Some(o), Some(line)) = (out.as_mut(), l.strip_prefix("| ")) {
            o.push(line);
        } else if let (Some(o), "|") = (out.as_mut(), l) {
            o.push("");
        } else if out.is_some() && !l.starts_with("| ") {
            break;
        }
    }
    out
}

/// Ansible's `_edit_file`: every line the pattern matches removed, `value` at the first.
fn edit(lines: &[&str], matches: impl Fn(&str) -> bool, value: &str) -> (String, usize) {
    let hits: Vec<usize> = (0..lines.len()).filter(|i| matches(lines[*i])).collect();
    let at = hits.first().copied().unwrap_or(0);
    let mut out: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !hits.contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    out.insert(at.min(out.len()), value.to_string());
    (out.concat(), hits.len())
}

fn decide(a: &TzArgs, seen: &Observed) -> Result<Outcome<TzChange>, Failure> {
    let text = seen.section("tz");
    let systemd = text.lines().any(|l| l == "mode systemd");
    if let (Some(n), true) = (&a.name, text.lines().any(|l| l == "notz")) {
        return Err(Failure::new(format!(
            "Error message:\ngiven timezone \"{n}\" is not available"
        )));
    }
    let (mut before_name, mut before_clock) = (None, None);
    if systemd {
        let status: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("s ")).collect();
        let field = |re: &str| {
            let re = regex::Regex::new(re).expect("a valid pattern");
            status
                .iter()
                .find_map(|l| re.captures(l).map(|c| c[1].to_string()))
                .unwrap_or_default()
        };
        before_name = Some(field(r"^\s*Time ?zone\s*:\s*([^\s]+)"));
        let rtc = field(r"^\s*RTC in local TZ\s*:\s*([^\s]+)");
        before_clock = Some(if ["yes", "true", "1", "on"].contains(&rtc.as_str()) {
            "local".to_string()
        } else {
            "UTC".to_string()
        });
    } else {
        if let Some(n) = &a.name {
            let configured = file(text, "/etc/timezone")
                .and_then(|l| {
                    l.iter().find_map(|l| {
                        l.split_whitespace()
                            .next()
                            .filter(|_| !l.starts_with(char::is_whitespace))
                            .map(String::from)
                    })
                })
                .unwrap_or_else(|| "n/a".into());
            let mut v = configured.clone();
            if configured == *n {
                if let Some(link) = text.lines().find_map(|l| l.strip_prefix("link ")) {
                    let re = regex::Regex::new(r"(?:/(?:usr/share|etc)/zoneinfo/)(.*)")
                        .expect("a valid pattern");
                    v = match re.captures(link) {
                        _ if link == "-" => "n/a".into(),
                        Some(c) if &c[1] != n.as_str() => c[1].to_string(),
                        Some(_) => configured,
                        None => "n/a".into(),
                    };
                } else if text.lines().any(|l| l == "differs") {
                    v = "n/a".into();
                }
            }
            before_name = Some(v);
        }
        if let Some(h) = &a.hwclock {
            let re = regex::Regex::new(r"^UTC\s*=\s*([^\s]+)").expect("a valid pattern");
            let mut v = match file(text, "/etc/default/rcS").and_then(|l| {
                l.iter()
                    .find_map(|l| re.captures(l).map(|c| c[1].to_string()))
            }) {
                None => "n/a".to_string(),
                Some(u)
                    if ["yes", "true", "1", "on", "y", "t"]
                        .contains(&u.to_lowercase().as_str()) =>
                {
                    "UTC".into()
                }
                Some(_) => "local".into(),
            };
            if v == *h {
                v = match file(text, "/etc/adjtime")
                    .and_then(|l| l.iter().find(|l| **l == "UTC" || **l == "LOCAL").copied())
                {
                    Some("LOCAL") => "local".into(),
                    _ => "UTC".into(),
                };
            }
            before_clock = Some(v);
        }
        if a.hwclock.is_some() && text.lines().any(|l| l == "nohwclock") {
            return Err(Failure::new(
                "Failed to find required executable \"hwclock\" in paths",
            ));
        }
    }
    let side = |name: Option<&str>, clock: Option<&str>| {
        let mut m: Vec<(String, Value)> = Vec::new();
        if let (Some(_), Some(c)) = (&a.hwclock, clock) {
            m.push(("hwclock".into(), Value::from(c)));
        }
        if let (Some(_), Some(n)) = (&a.name, name) {
            m.push(("name".into(), Value::from(n)));
        }
        crate::vars::map_value(m)
    };
    let set_name = a
        .name
        .as_ref()
        .filter(|n| before_name.as_deref() != Some(n.as_str()));
    let set_clock = a
        .hwclock
        .as_ref()
        .filter(|h| before_clock.as_deref() != Some(h.as_str()));
    let mut report = Plan::unchanged();
    report.diff_value = Some(crate::vars::map_value([
        (
            "before".to_string(),
            side(before_name.as_deref(), before_clock.as_deref()),
        ),
        (
            "after".to_string(),
            side(a.name.as_deref(), a.hwclock.as_deref()),
        ),
    ]));
    report.diff_always = true;
    if set_name.is_none() && set_clock.is_none() {
        return Ok(Outcome::Unchanged(report));
    }
    let mut files = Vec::new();
    let mut msg = Vec::new();
    if !systemd {
        if let Some(n) = set_name {
            let lines = file(text, "/etc/timezone").unwrap_or_default();
            let (t, k) = edit(
                &lines,
                |l| !l.is_empty() && !l.starts_with(char::is_whitespace),
                &format!("{n}\n"),
            );
            msg.push(format!(
                "Added 1 line and deleted {k} line(s) on /etc/timezone"
            ));
            files.push(("/etc/timezone".to_string(), t, k));
        }
        if let Some(h) = set_clock {
            let re = regex::Regex::new(r"^UTC\s*=\s*([^\s]+)").expect("a valid pattern");
            let lines = file(text, "/etc/default/rcS").unwrap_or_default();
            let utc = if h == "local" { "no" } else { "yes" };
            let (t, k) = edit(&lines, |l| re.is_match(l), &format!("UTC={utc}\n"));
            msg.push(format!(
                "Added 1 line and deleted {k} line(s) on /etc/default/rcS"
            ));
            files.push(("/etc/default/rcS".to_string(), t, k));
            let opt = if h == "local" { "--localtime" } else { "--utc" };
            msg.push(format!("executed `hwclock --systohc {opt}`"));
        }
    } else {
        if let Some(n) = set_name {
            msg.push(format!("executed `timedatectl set-timezone {n}`"));
        }
        if let Some(h) = set_clock {
            let v = if h == "local" { "yes" } else { "no" };
            msg.push(format!("executed `timedatectl set-local-rtc {v}`"));
        }
    }
    report
        .real_values
        .push(("msg".into(), Value::from(msg.join("\n"))));
    Ok(Outcome::change(
        TzChange {
            systemd,
            name: set_name.cloned(),
            hwclock: set_clock.cloned(),
            files,
        },
        report,
    ))
}
