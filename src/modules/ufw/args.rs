//! `ufw`'s arguments, checked as community.general's module checks them, and the rule's
//! words in the long format its module builds (`ufw [route] [delete | insert N] RULE ...`).

use crate::modules::fileops::fail;
use crate::modules::Args;
use anyhow::Result;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UfwArgs {
    pub state: Option<String>,
    pub default: Option<String>,
    pub logging: Option<String>,
    pub direction: Option<String>,
    pub delete: bool,
    pub route: bool,
    pub insert: Option<i64>,
    pub insert_relative_to: String,
    pub rule: Option<String>,
    pub interface: Option<String>,
    pub interface_in: Option<String>,
    pub interface_out: Option<String>,
    pub log: bool,
    pub from_ip: String,
    pub from_port: Option<String>,
    pub to_ip: String,
    pub to_port: Option<String>,
    pub proto: Option<String>,
    pub name: Option<String>,
    pub comment: Option<String>,
}

/// A choice as Ansible checks it: YAML's booleans read back as `on`/`off` (or `yes`/`no`)
/// where the choices hold exactly one of them.
fn choice(args: &Args, key: &str, choices: &[&str]) -> Result<Option<String>> {
    let Some(mut v) = args.str(key) else {
        return Ok(None);
    };
    if !choices.contains(&v.as_str()) {
        let read_back = |set: &[&str]| {
            let overlap: Vec<&&str> = set.iter().filter(|b| choices.contains(b)).collect();
            (overlap.len() == 1).then(|| overlap[0].to_string())
        };
        let back = match v.as_str() {
            "False" => read_back(&["off", "no", "n", "false", "f", "0"]),
            "True" => read_back(&["on", "yes", "y", "true", "t", "1"]),
            _ => None,
        };
        match back {
            Some(b) => v = b,
            None => {
                return Err(fail(format!(
                    "value of {key} must be one of: {}, got: {v}",
                    choices.join(", ")
                )))
            }
        }
    }
    Ok(Some(v))
}

impl UfwArgs {
    pub fn parse(args: &Args) -> Result<UfwArgs> {
        let a = UfwArgs {
            state: choice(args, "state", &["enabled", "disabled", "reloaded", "reset"])?,
            default: choice(args, "default", &["allow", "deny", "reject"])?,
            logging: choice(
                args,
                "logging",
                &["full", "high", "low", "medium", "off", "on"],
            )?,
            direction: choice(
                args,
                "direction",
                &["in", "incoming", "out", "outgoing", "routed"],
            )?,
            delete: args.bool_or("delete", false)?,
            route: args.bool_or("route", false)?,
            insert: args.int("insert")?,
            insert_relative_to: choice(
                args,
                "insert_relative_to",
                &["zero", "first-ipv4", "last-ipv4", "first-ipv6", "last-ipv6"],
            )?
            .unwrap_or_else(|| "zero".into()),
            rule: choice(args, "rule", &["allow", "deny", "limit", "reject"])?,
            interface: args.str("interface"),
            interface_in: args.str("interface_in"),
            interface_out: args.str("interface_out"),
            log: args.bool_or("log", false)?,
            from_ip: args.str("from_ip").unwrap_or_else(|| "any".into()),
            from_port: args.str("from_port"),
            to_ip: args.str("to_ip").unwrap_or_else(|| "any".into()),
            to_port: args.str("to_port"),
            proto: choice(
                args,
                "proto",
                &[
                    "ah", "any", "esp", "ipv6", "tcp", "udp", "gre", "igmp", "vrrp",
                ],
            )?,
            name: args.str("name"),
            comment: args.str("comment"),
        };
        let given = |k: &str| args.has(k);
        let exclusive = ["name", "proto", "logging"];
        if exclusive.iter().filter(|k| given(k)).count() > 1 {
            return Err(fail(format!(
                "parameters are mutually exclusive: {}",
                exclusive.join("|")
            )));
        }
        for other in ["interface_in", "interface_out"] {
            if given("direction") && given(other) {
                return Err(fail(format!(
                    "parameters are mutually exclusive: direction|{other}"
                )));
            }
        }
        if a.state.is_none() && a.default.is_none() && a.rule.is_none() && a.logging.is_none() {
            return Err(fail(
                "one of the following is required: state, default, rule, logging",
            ));
        }
        if given("interface") && !given("direction") {
            return Err(fail(
                "missing parameter(s) required by 'interface': direction",
            ));
        }
        if a.default.is_some()
            && !matches!(
                a.direction.as_deref(),
                None | Some("outgoing" | "incoming" | "routed")
            )
        {
            return Err(fail("For default, direction must be one of \"outgoing\", \"incoming\" and \"routed\", or direction must not be specified."));
        }
        if a.rule.is_some() {
            if !matches!(a.direction.as_deref(), None | Some("in" | "out")) {
                return Err(fail("For rules, direction must be one of \"in\" and \"out\", or direction must not be specified."));
            }
            if !a.route && a.interface_in.is_some() && a.interface_out.is_some() {
                return Err(fail(
                    "Only route rules can combine interface_in and interface_out",
                ));
            }
        }
        Ok(a)
    }

    /// Whether the insert position depends on the numbered rules (`insert_relative_to`).
    pub fn needs_numbered(&self) -> bool {
        self.rule.is_some()
            && self.insert.is_some()
            && !self.delete
            && self.insert_relative_to != "zero"
    }

    /// The rule's words after `ufw` (and `--dry-run`): the insert position from the numbered
    /// status (`ufw status numbered`), `comment` when the version takes it (0.35 on).
    pub fn rule_words(&self, numbered: &str, comments: bool) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        let rule = self.rule.clone().unwrap_or_default();
        if self.route {
            w.push("route".into());
        }
        if self.delete {
            w.push("delete".into());
        }
        if let (Some(n), false) = (self.insert, self.delete) {
            if let Some(at) = self.insert_at(n, numbered) {
                w.extend(["insert".to_string(), at.to_string()]);
            }
        }
        w.push(rule);
        w.extend(self.direction.clone());
        for (v, prefix) in [
            (&self.interface, &["on"][..]),
            (&self.interface_in, &["in", "on"][..]),
            (&self.interface_out, &["out", "on"][..]),
        ] {
            if let Some(v) = v {
                w.extend(prefix.iter().map(|p| p.to_string()));
                w.push(v.clone());
            }
        }
        if self.log {
            w.push("log".into());
        }
        let fields = [
            ("from", Some(&self.from_ip)),
            ("port", self.from_port.as_ref()),
            ("to", Some(&self.to_ip)),
            ("port", self.to_port.as_ref()),
            ("proto", self.proto.as_ref()),
            ("app", self.name.as_ref()),
        ];
        for (word, v) in fields {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                w.extend([word.to_string(), v.clone()]);
            }
        }
        if comments {
            if let Some(c) = &self.comment {
                w.extend(["comment".to_string(), c.clone()]);
            }
        }
        w
    }

    /// Ansible's insert position: `insert` as given, or counted from the first or last IPv4
    /// or IPv6 rule; none when past the last rule.
    fn insert_at(&self, n: i64, numbered: &str) -> Option<i64> {
        if self.insert_relative_to == "zero" {
            return Some(n);
        }
        let re = regex::Regex::new(r"^\[ *([0-9]+)\] ").expect("a valid pattern");
        let lines: Vec<(i64, bool)> = numbered
            .lines()
            .filter_map(|l| {
                let no = re.captures(l)?[1].parse().ok()?;
                Some((no, l.contains("(v6)")))
            })
            .collect();
        let last = lines.iter().map(|l| l.0).max().unwrap_or(0);
        let last_v4 = lines.iter().filter(|l| !l.1).map(|l| l.0).max();
        let has_v6 = lines.iter().any(|l| l.1);
        let relative = match self.insert_relative_to.as_str() {
            "first-ipv4" => 1,
            "last-ipv4" => last_v4.unwrap_or(1),
            "first-ipv6" => last_v4.map_or(1, |l| l + 1),
            _ => {
                if has_v6 {
                    last
                } else {
                    last + 1
                }
            }
        };
        let at = n + relative;
        (at <= last).then_some(at)
    }
}
