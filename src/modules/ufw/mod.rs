//! `community.general.ufw`: the firewall's state, default policies, logging and rules through
//! the host's `ufw`. One look reads `ufw status verbose`, the rule tuples of ufw's rule files
//! and the version (and the numbered rules for `insert_relative_to`); a second runs the rule
//! with `--dry-run`. The decision is the module's own check-mode reasoning (a rule changes
//! when the dry run's tuples differ from the files'), so check mode and a real run agree, and
//! a real run runs only the commands that change something.

use super::contract::{
    Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed, SBIN_PATH,
};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod args;

pub use args::UfwArgs;

pub struct Ufw;

static SPEC: Spec = Spec {
    args: &[
        "state",
        "default",
        "logging",
        "direction",
        "delete",
        "route",
        "insert",
        "insert_relative_to",
        "rule",
        "interface",
        "interface_in",
        "interface_out",
        "log",
        "from_ip",
        "from_port",
        "to_ip",
        "to_port",
        "proto",
        "name",
        "comment",
    ],
    aliases: &[
        ("policy", "default"),
        ("if", "interface"),
        ("if_in", "interface_in"),
        ("if_out", "interface_out"),
        ("from", "from_ip"),
        ("src", "from_ip"),
        ("dest", "to_ip"),
        ("to", "to_ip"),
        ("port", "to_port"),
        ("protocol", "proto"),
        ("app", "name"),
    ],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// The commands to run (each the words after `ufw`), and the binary's path for `commands`.
#[derive(Debug)]
pub struct UfwChange {
    bin: String,
    cmds: Vec<Vec<String>>,
}

const RULE_FILES: &str = "/lib/ufw/user.rules /lib/ufw/user6.rules /etc/ufw/user.rules /etc/ufw/user6.rules /var/lib/ufw/user.rules /var/lib/ufw/user6.rules";

fn version_takes_comments(seen: &Observed) -> bool {
    let re = regex::Regex::new(r"^ufw.+(\d+)\.(\d+)(?:\.(\d+))?.*$").expect("a valid pattern");
    let first = seen
        .section("ufw")
        .lines()
        .find_map(|l| l.strip_prefix("version "))
        .unwrap_or_default();
    re.captures(first).is_some_and(|c| {
        let major: u32 = c[1].parse().unwrap_or(0);
        let minor: u32 = c[2].parse().unwrap_or(0);
        major > 0 || minor >= 35
    })
}

impl Typed for Ufw {
    type Args = UfwArgs;
    type Change = UfwChange;

    fn name(&self) -> &'static str {
        "ufw"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<UfwArgs> {
        UfwArgs::parse(args)
    }

    fn observe(&self, a: &UfwArgs) -> Observe {
        let mut sections = vec![
            (
                "ufw",
                Script::new().raw(SBIN_PATH).raw(
                    "u=$(command -v ufw) || { u=; echo \"missing $PATH\"; }\n[ -z \"$u\" ] || { echo \"bin $u\"; LC_ALL=C \"$u\" --version 2>&1 | head -n 1 | sed 's/^/version /'; }\n",
                ),
            ),
            (
                "status",
                Script::new().raw("[ -z \"$u\" ] || LC_ALL=C \"$u\" status verbose 2>&1\n"),
            ),
            (
                "rules",
                Script::new()
                    .raw("grep -h '^### tuple' ")
                    .raw(RULE_FILES)
                    .raw(" 2>/dev/null; :\n"),
            ),
        ];
        if a.needs_numbered() {
            sections.push((
                "numbered",
                Script::new().raw("[ -z \"$u\" ] || LC_ALL=C \"$u\" status numbered 2>&1\n"),
            ));
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    fn observe_again(&self, a: &UfwArgs, seen: &Observed) -> Option<Observe> {
        if a.rule.is_none() || seen.sections.contains_key("dry") || missing(seen).is_some() {
            return None;
        }
        let words = a.rule_words(seen.section("numbered"), version_takes_comments(seen));
        let mut s = Script::new().raw("{ LC_ALL=C \"$u\" --dry-run");
        for w in &words {
            s = s.arg(w);
        }
        s = s.raw(" 2>&1; echo \"rc $?\"; } | awk '/^rc -?[0-9]+$/ { print; next } { n++; if (n <= 5) print \"o \" $0 } /Skipping/ { k++ } /^### tuple/ { print \"t \" $0 } END { print \"lines \" n + 0; print \"skipping \" k + 0 }'\n");
        // The first look's shell variable is gone: find the binary again.
        let find = Script::new()
            .raw(SBIN_PATH)
            .raw("u=$(command -v ufw)\n")
            .then(s);
        Some(Observe {
            sections: vec![("dry", find)],
            ..Observe::default()
        })
    }

    fn decide(&self, a: &UfwArgs, seen: &Observed) -> Outcome<UfwChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &UfwArgs, c: &UfwChange) -> Vec<Step> {
        let mut steps: Vec<Step> = c
            .cmds
            .iter()
            .map(|w| Step::Exec {
                script: Script::new().raw(SBIN_PATH).raw("LC_ALL=C ").cmd("ufw", w),
                stdin: None,
            })
            .collect();
        steps.push(Step::Exec {
            script: Script::new()
                .raw(SBIN_PATH)
                .raw("LC_ALL=C ufw status verbose"),
            stdin: None,
        });
        steps
    }

    fn finish(&self, _a: &UfwArgs, c: &UfwChange, done: &Done, mut r: Plan) -> Plan {
        let shown: Vec<String> = c
            .cmds
            .iter()
            .map(|w| format!("{} {}", c.bin, w.join(" ")))
            .collect();
        for (i, out) in done.outputs.iter().enumerate() {
            if out.rc != 0 {
                let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
                r.mark_failed(false);
                r.msg = Some(if stderr.trim().is_empty() {
                    stdout.to_string()
                } else {
                    stderr.to_string()
                });
                let ran: Vec<String> = shown.iter().take(i + 1).cloned().collect();
                return r.with_value("commands", ran);
            }
        }
        if let Some(last) = done.outputs.last() {
            r.msg = Some(last.stdout_str().trim_end().to_string());
        }
        r.with_value("commands", shown)
    }
}

fn missing(seen: &Observed) -> Option<Failure> {
    Failure::missing_program(seen.section("ufw"), "ufw")
}

fn ipv4_re() -> regex::Regex {
    regex::Regex::new(
        r"((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])",
    )
    .expect("a valid pattern")
}

fn ipv6_re() -> regex::Regex {
    regex::Regex::new(concat!(
        r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
        r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}",
        r"(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4})",
        r"{1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]",
        r"{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]",
        r"{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4})",
        r"{0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]",
        r"|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
        r"[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
        r"[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))"
    ))
    .expect("a valid pattern")
}

/// Whether `ip` starts with an address of the pattern (Python's `re.match`).
fn starts_with(re: &regex::Regex, ip: &str) -> bool {
    re.find(ip).is_some_and(|m| m.start() == 0)
}

/// Whether the rule's dry run differs from the rule files, as the module's check mode judges.
fn rule_changes(a: &UfwArgs, rules: &str, dry: &str) -> Result<bool, Failure> {
    let mut rc = 0;
    let (mut lines, mut skipping) = (0usize, 0usize);
    let mut tuples = Vec::new();
    let mut out = Vec::new();
    for l in dry.lines() {
        if let Some(v) = l.strip_prefix("rc ") {
            rc = v.parse().unwrap_or(-1);
        } else if let Some(v) = l.strip_prefix("lines ") {
            lines = v.parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("skipping ") {
            skipping = v.parse().unwrap_or(0);
        } else if let Some(t) = l.strip_prefix("t ") {
            tuples.push(t);
        } else if let Some(o) = l.strip_prefix("o ") {
            out.push(o);
        }
    }
    if rc != 0 {
        return Err(Failure::new(out.join("\n")));
    }
    if skipping > 0 && skipping == lines {
        return Ok(false);
    }
    let before: Vec<&str> = rules.lines().collect();
    let only = |re: &regex::Regex, v: &[&str]| -> Vec<String> {
        v.iter()
            .filter(|l| re.is_match(l))
            .map(|l| l.to_string())
            .collect()
    };
    let (v4, v6) = (ipv4_re(), ipv6_re());
    Ok(
        if starts_with(&v4, &a.from_ip) || starts_with(&v4, &a.to_ip) {
            only(&v4, &before) != only(&v4, &tuples)
        } else if starts_with(&v6, &a.from_ip) || starts_with(&v6, &a.to_ip) {
            only(&v6, &before) != only(&v6, &tuples)
        } else {
            before != tuples
        },
    )
}

fn decide(a: &UfwArgs, seen: &Observed) -> Result<Outcome<UfwChange>, Failure> {
    if let Some(f) = missing(seen) {
        return Err(f);
    }
    let bin = seen
        .section("ufw")
        .lines()
        .find_map(|l| l.strip_prefix("bin "))
        .unwrap_or("ufw")
        .to_string();
    let status = seen.section("status");
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut changed = false;
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    if let Some(state) = &a.state {
        let verb = match state.as_str() {
            "enabled" => "enable",
            "disabled" => "disable",
            "reloaded" => "reload",
            _ => "reset",
        };
        // "active" would also match "inactive", hence the space.
        let enabled = status.contains(" active");
        let change = match state.as_str() {
            "enabled" => !enabled,
            "disabled" => enabled,
            _ => true,
        };
        if change {
            changed = true;
            cmds.push(words(&["-f", verb]));
        }
    }
    if let Some(value) = &a.default {
        let re = regex::Regex::new(r"Default: (deny|allow|reject) \(incoming\), (deny|allow|reject) \(outgoing\), (deny|allow|reject|disabled) \(routed\)").expect("a valid pattern");
        let direction = a.direction.clone().unwrap_or_else(|| "incoming".into());
        let current = re.captures(status).map(|c| match direction.as_str() {
            "outgoing" => c[2].to_string(),
            "routed" => c[3].to_string(),
            _ => c[1].to_string(),
        });
        if current.as_deref() != Some(value.as_str()) {
            changed = true;
            let mut w = words(&["default", value]);
            w.extend(a.direction.clone());
            cmds.push(w);
        }
    }
    if a.rule.is_some() {
        let words = a.rule_words(seen.section("numbered"), version_takes_comments(seen));
        if rule_changes(a, seen.section("rules"), seen.section("dry"))? {
            changed = true;
            cmds.push(words);
        }
    }
    if let Some(value) = &a.logging {
        let re =
            regex::Regex::new(r"Logging: (on|off)(?: \(([a-z]+)\))?").expect("a valid pattern");
        let change = match re.captures(status) {
            None => true,
            Some(c) => {
                let on_off = &c[1];
                let level = c.get(2).map(|m| m.as_str());
                if value != "off" {
                    on_off == "off" || (value != "on" && Some(value.as_str()) != level)
                } else {
                    on_off != "off"
                }
            }
        };
        if change {
            changed = true;
            cmds.push(words(&["logging", value]));
        }
    }
    let report = Plan::unchanged().with_value("commands", Value::from(Vec::<String>::new()));
    Ok(if changed {
        Outcome::change(UfwChange { bin, cmds }, report)
    } else {
        Outcome::Unchanged(report.with_msg(status.trim_end()))
    })
}
