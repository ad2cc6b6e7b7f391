//! The rule's words, in the order Ansible's `construct_rule` gives them: the same words make
//! the `-C` probe, the `-A`/`-I`/`-D` change, and the `rule` return value.

use super::super::Args;
use crate::modules::fileops::fail;
use anyhow::Result;

/// The rule's arguments, as given (strings; lists for `match`, `ctstate`,
/// `destination_ports`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleArgs {
    pub protocol: Option<String>,
    pub source: Option<String>,
    pub destination: Option<String>,
    pub matches: Vec<String>,
    pub tcp_flags: Option<(Vec<String>, Vec<String>)>,
    pub jump: Option<String>,
    pub gateway: Option<String>,
    pub log_prefix: Option<String>,
    pub log_level: Option<String>,
    pub to_destination: Option<String>,
    pub destination_ports: Vec<String>,
    pub to_source: Option<String>,
    pub goto: Option<String>,
    pub in_interface: Option<String>,
    pub out_interface: Option<String>,
    pub fragment: Option<String>,
    pub set_counters: Option<String>,
    pub source_port: Option<String>,
    pub destination_port: Option<String>,
    pub to_ports: Option<String>,
    pub set_dscp_mark: Option<String>,
    pub set_dscp_mark_class: Option<String>,
    pub syn: String,
    pub ctstate: Vec<String>,
    pub src_range: Option<String>,
    pub dst_range: Option<String>,
    pub match_set: Option<String>,
    pub match_set_flags: Option<String>,
    pub limit: Option<String>,
    pub limit_burst: Option<String>,
    pub uid_owner: Option<String>,
    pub gid_owner: Option<String>,
    pub reject_with: Option<String>,
    pub icmp_type: Option<String>,
    pub comment: Option<String>,
}

const LOG_LEVELS: &[&str] = &[
    "0", "1", "2", "3", "4", "5", "6", "7", "emerg", "alert", "crit", "error", "warning", "notice",
    "info", "debug",
];

impl RuleArgs {
    pub fn parse(args: &Args) -> Result<RuleArgs> {
        let s = |k: &str| args.str(k);
        let tcp_flags = match args.get("tcp_flags") {
            None => None,
            Some(v) => {
                let list = |k: &str| -> Vec<String> {
                    v.get_attr(k)
                        .ok()
                        .filter(|x| !x.is_undefined() && !x.is_none())
                        .map(|x| match x.try_iter() {
                            Ok(it) if x.as_str().is_none() => it
                                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                                .collect(),
                            _ => vec![x.to_string()],
                        })
                        .unwrap_or_default()
                };
                let (f, set) = (list("flags"), list("flags_set"));
                (!f.is_empty() && !set.is_empty()).then_some((f, set))
            }
        };
        let log_level = match s("log_level") {
            None => None,
            Some(l) if LOG_LEVELS.contains(&l.as_str()) => Some(l),
            Some(l) => {
                return Err(fail(format!(
                    "value of log_level must be one of: {}, got: {l}",
                    LOG_LEVELS.join(", ")
                )))
            }
        };
        let match_set_flags = match s("match_set_flags") {
            None => None,
            Some(f) => {
                let ok = ["src", "dst", "src,dst", "dst,src", "src,src", "dst,dst"];
                if !ok.contains(&f.as_str()) {
                    return Err(fail(format!(
                        "value of match_set_flags must be one of: {}, got: {f}",
                        ok.join(", ")
                    )));
                }
                Some(f)
            }
        };
        Ok(RuleArgs {
            protocol: s("protocol"),
            source: s("source"),
            destination: s("destination"),
            matches: args.list("match"),
            tcp_flags,
            jump: s("jump"),
            gateway: s("gateway"),
            log_prefix: s("log_prefix"),
            log_level,
            to_destination: s("to_destination"),
            destination_ports: args.list("destination_ports"),
            to_source: s("to_source"),
            goto: s("goto"),
            in_interface: s("in_interface"),
            out_interface: s("out_interface"),
            fragment: s("fragment"),
            set_counters: s("set_counters"),
            source_port: s("source_port"),
            destination_port: s("destination_port"),
            to_ports: s("to_ports"),
            set_dscp_mark: s("set_dscp_mark"),
            set_dscp_mark_class: s("set_dscp_mark_class"),
            syn: args.choice("syn", &["ignore", "match", "negate"], "ignore")?,
            ctstate: args.list("ctstate"),
            src_range: s("src_range"),
            dst_range: s("dst_range"),
            match_set: s("match_set"),
            match_set_flags,
            limit: s("limit"),
            limit_burst: s("limit_burst"),
            uid_owner: s("uid_owner"),
            gid_owner: s("gid_owner"),
            reject_with: s("reject_with"),
            icmp_type: s("icmp_type"),
            comment: s("comment"),
        })
    }

    /// The rule's words for `ip_version` (`ipv4`, `ipv6`; `both` only names the ICMP option
    /// as Ansible's `rule` return value does).
    pub fn words(&self, ip_version: &str) -> Vec<String> {
        let mut r = Words(Vec::new());
        r.param(&self.protocol, "-p");
        r.param(&self.source, "-s");
        r.param(&self.destination, "-d");
        for m in &self.matches {
            r.param(&Some(m.clone()), "-m");
        }
        if let Some((flags, set)) = &self.tcp_flags {
            r.push(["--tcp-flags", &flags.join(","), &set.join(",")]);
        }
        r.param(&self.jump, "-j");
        if self
            .jump
            .as_deref()
            .is_some_and(|j| j.eq_ignore_ascii_case("tee"))
        {
            r.param(&self.gateway, "--gateway");
        }
        r.param(&self.log_prefix, "--log-prefix");
        r.param(&self.log_level, "--log-level");
        r.param(&self.to_destination, "--to-destination");
        if !self.destination_ports.is_empty() {
            r.push([
                "-m",
                "multiport",
                "--dports",
                &self.destination_ports.join(","),
            ]);
        }
        r.param(&self.to_source, "--to-source");
        r.param(&self.goto, "-g");
        r.param(&self.in_interface, "-i");
        r.param(&self.out_interface, "-o");
        r.param(&self.fragment, "-f");
        r.param(&self.set_counters, "-c");
        r.param(&self.source_port, "--source-port");
        r.param(&self.destination_port, "--destination-port");
        r.param(&self.to_ports, "--to-ports");
        let not_dscp_jump = || {
            !self
                .jump
                .as_deref()
                .is_some_and(|j| j.eq_ignore_ascii_case("dscp"))
        };
        r.param(&self.set_dscp_mark, "--set-dscp");
        if self.set_dscp_mark.is_some() && not_dscp_jump() {
            r.push(["-j", "DSCP"]);
        }
        r.param(&self.set_dscp_mark_class, "--set-dscp-class");
        if self.set_dscp_mark_class.is_some() && not_dscp_jump() {
            r.push(["-j", "DSCP"]);
        }
        match self.syn.as_str() {
            "match" => r.push(["--syn"]),
            "negate" => r.push(["!", "--syn"]),
            _ => {}
        }
        let has = |m: &str| self.matches.iter().any(|x| x == m);
        let ct = self.ctstate.join(",");
        if has("conntrack") {
            if !ct.is_empty() {
                r.push(["--ctstate", &ct]);
            }
        } else if has("state") {
            if !ct.is_empty() {
                r.push(["--state", &ct]);
            }
        } else if !ct.is_empty() {
            r.push(["-m", "conntrack", "--ctstate", &ct]);
        }
        if !has("iprange") && (self.src_range.is_some() || self.dst_range.is_some()) {
            r.push(["-m", "iprange"]);
        }
        r.param(&self.src_range, "--src-range");
        r.param(&self.dst_range, "--dst-range");
        if self.match_set.is_some() {
            if !has("set") {
                r.push(["-m", "set"]);
            }
            r.param(&self.match_set, "--match-set");
            if let Some(f) = &self.match_set_flags {
                r.push([f.as_str()]);
            }
        }
        if self.limit.is_some() || self.limit_burst.is_some() {
            r.push(["-m", "limit"]);
        }
        r.param(&self.limit, "--limit");
        r.param(&self.limit_burst, "--limit-burst");
        for (owner, flag) in [
            (&self.uid_owner, "--uid-owner"),
            (&self.gid_owner, "--gid-owner"),
        ] {
            if owner.is_some() {
                r.push(["-m", "owner"]);
            }
            match owner.as_deref() {
                Some("match") => r.push([flag]),
                Some("negate") => r.push(["!", flag]),
                _ => {}
            }
            r.param(owner, flag);
        }
        if self.jump.is_none() {
            for (v, target) in [
                (&self.reject_with, "REJECT"),
                (&self.set_dscp_mark_class, "DSCP"),
                (&self.set_dscp_mark, "DSCP"),
            ] {
                if v.is_some() {
                    r.push(["-j", target]);
                }
            }
        }
        r.param(&self.reject_with, "--reject-with");
        let icmp = match ip_version {
            "ipv6" => "--icmpv6-type",
            "both" => "--icmp-type --icmpv6-type",
            _ => "--icmp-type",
        };
        r.param(&self.icmp_type, icmp);
        if self.comment.is_some() {
            r.push(["-m", "comment"]);
        }
        r.param(&self.comment, "--comment");
        r.0
    }
}

struct Words(Vec<String>);

impl Words {
    fn push<const N: usize>(&mut self, words: [&str; N]) {
        self.0.extend(words.iter().map(|w| w.to_string()));
    }

    /// Ansible's `append_param`: a leading `!` negates the option.
    fn param(&mut self, v: &Option<String>, flag: &str) {
        match v {
            None => {}
            Some(v) => match v.strip_prefix('!') {
                Some(rest) => self.push(["!", flag, rest]),
                None => self.push([flag, v]),
            },
        }
    }
}
