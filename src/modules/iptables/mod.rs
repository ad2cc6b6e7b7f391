//! `iptables`: one rule present or absent in a chain (checked with `iptables -C`, added with
//! `-A`/`-I`, removed with `-D`), a chain's policy (`-P`), a chain flushed (`-F`), a user
//! chain created or deleted (`chain_management`), for IPv4, IPv6 or both, as Ansible's module
//! builds its commands (`rule.rs`). Each binary is looked at once, in one round trip; the
//! commands a change runs are decided from that, so check mode predicts them exactly.
//!
//! Better than Ansible where it reports a change it does not make: a missing chain without
//! `chain_management` (Ansible says changed and creates nothing) is unchanged with a warning,
//! and `flush` changes only a chain (or table) that has rules.

use super::contract::{
    Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed, SBIN_PATH,
};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod rule;
#[cfg(test)]
mod tests;

pub use rule::RuleArgs;

pub struct Iptables;

static SPEC: Spec = Spec {
    args: &[
        "table",
        "state",
        "action",
        "ip_version",
        "chain",
        "rule_num",
        "protocol",
        "wait",
        "source",
        "to_source",
        "destination",
        "to_destination",
        "match",
        "tcp_flags",
        "jump",
        "gateway",
        "log_prefix",
        "log_level",
        "goto",
        "in_interface",
        "out_interface",
        "fragment",
        "set_counters",
        "source_port",
        "destination_port",
        "destination_ports",
        "to_ports",
        "set_dscp_mark",
        "set_dscp_mark_class",
        "comment",
        "ctstate",
        "src_range",
        "dst_range",
        "match_set",
        "match_set_flags",
        "limit",
        "limit_burst",
        "uid_owner",
        "gid_owner",
        "reject_with",
        "icmp_type",
        "syn",
        "flush",
        "policy",
        "chain_management",
        "numeric",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// What the task is about.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Flush,
    Policy(String),
    /// A chain without rule arguments: present or absent.
    Chain {
        present: bool,
    },
    Rule {
        present: bool,
        insert: bool,
    },
}

pub struct IptArgs {
    pub table: String,
    pub chain: Option<String>,
    pub ip_version: String,
    pub mode: Mode,
    pub rule: RuleArgs,
    pub rule_num: Option<String>,
    pub wait: Option<String>,
    pub chain_management: bool,
    pub state: String,
    pub flush: bool,
    /// The `rule` return value: the rule's words before the LOG jump is implied.
    pub reported: String,
}

/// The binaries' commands a change runs, in order.
pub type Commands = Vec<(&'static str, Vec<String>)>;

const SECTIONS: [(&str, &str); 2] = [("ipv4", "iptables"), ("ipv6", "ip6tables")];

impl IptArgs {
    fn versions(&self) -> Vec<(&'static str, &'static str)> {
        SECTIONS
            .iter()
            .copied()
            .filter(|(v, _)| self.ip_version == "both" || self.ip_version == *v)
            .collect()
    }

    /// `-t TABLE ACTION [CHAIN] [RULE_NUM] [-w WAIT]`, as Ansible's `push_arguments`.
    fn head(&self, action: &str) -> Vec<String> {
        let mut w = vec!["-t".to_string(), self.table.clone(), action.to_string()];
        w.extend(self.chain.clone());
        if action == "-I" {
            w.extend(self.rule_num.clone());
        }
        if let Some(wait) = &self.wait {
            w.extend(["-w".to_string(), wait.clone()]);
        }
        w
    }

    fn rule_words(&self, action: &str, version: &str) -> Vec<String> {
        let mut w = self.head(action);
        w.extend(self.rule.words(version));
        w
    }
}

impl Typed for Iptables {
    type Args = IptArgs;
    type Change = Commands;

    fn name(&self) -> &'static str {
        "iptables"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<IptArgs> {
        parse(args)
    }

    fn observe(&self, a: &IptArgs) -> Observe {
        let mut sections = Vec::new();
        for (version, prog) in a.versions() {
            let mut s = Script::new()
                .raw(SBIN_PATH)
                .set("b", prog)
                .raw("command -v \"$b\" >/dev/null 2>&1 || { echo \"missing $PATH\"; exit 0; }\n");
            s = match &a.mode {
                Mode::Rule { .. } => {
                    let mut s = s.raw("out=$(LC_ALL=C \"$b\"");
                    for w in a.rule_words("-C", version) {
                        s = s.arg(&w);
                    }
                    s.raw(" 2>&1); echo \"rc $?\"; printf '%s\\n' \"$out\" | head -n 5\n")
                }
                _ => {
                    let mut s = s.raw("{ LC_ALL=C \"$b\"");
                    for w in a.head("-S") {
                        s = s.arg(&w);
                    }
                    s.raw(" 2>&1; echo \"rc $?\"; } | awk '/^rc -?[0-9]+$/ { print; next } NR == 1 { print \"first \" $0 } /^-A / { n++ } END { print \"rules \" n + 0 }'\n")
                }
            };
            sections.push((version, s));
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &IptArgs, seen: &Observed) -> Outcome<Commands> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &IptArgs, c: &Commands) -> Vec<Step> {
        c.iter()
            .map(|(prog, words)| Step::Exec {
                script: Script::new().raw(SBIN_PATH).cmd(prog, words),
                stdin: None,
            })
            .collect()
    }

    fn finish(&self, _a: &IptArgs, c: &Commands, done: &Done, mut r: Plan) -> Plan {
        for ((prog, words), out) in c.iter().zip(&done.outputs) {
            if out.rc != 0 {
                let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
                let mut cmd = vec![prog.to_string()];
                cmd.extend(words.iter().cloned());
                r.mark_failed(false);
                r.msg = Some(if stderr.trim().is_empty() {
                    stdout.trim_end().to_string()
                } else {
                    stderr.trim_end().to_string()
                });
                r = r
                    .with_value("cmd", cmd.join(" "))
                    .with_value("rc", out.rc)
                    .with_value("stdout", stdout.to_string())
                    .with_value("stderr", stderr.to_string());
                return r;
            }
        }
        r
    }
}

fn parse(args: &Args) -> Result<IptArgs> {
    let table = args.choice(
        "table",
        &["filter", "nat", "mangle", "raw", "security"],
        "filter",
    )?;
    let state = args.choice("state", &["absent", "present"], "present")?;
    let action = args.choice("action", &["append", "insert"], "append")?;
    let ip_version = args.choice("ip_version", &["ipv4", "ipv6", "both"], "ipv4")?;
    let policy = match args.str("policy") {
        None => None,
        Some(p) if ["ACCEPT", "DROP", "QUEUE", "RETURN"].contains(&p.as_str()) => Some(p),
        Some(p) => {
            return Err(fail(format!(
                "value of policy must be one of: ACCEPT, DROP, QUEUE, RETURN, got: {p}"
            )))
        }
    };
    let flush = args.bool_or("flush", false)?;
    for pair in [
        ["set_dscp_mark", "set_dscp_mark_class"],
        ["flush", "policy"],
    ] {
        if args.has(pair[0]) && args.has(pair[1]) && (pair[0] != "flush" || flush) {
            return Err(fail(format!(
                "parameters are mutually exclusive: {}",
                pair.join("|")
            )));
        }
    }
    let mut rule = RuleArgs::parse(args)?;
    for k in ["set_dscp_mark", "set_dscp_mark_class"] {
        if args.has(k) && rule.jump.is_none() {
            return Err(fail(format!(
                "missing parameter(s) required by '{k}': jump"
            )));
        }
    }
    if let Some(j) = rule.jump.as_deref().filter(|j| *j == "TEE" || *j == "tee") {
        if rule.gateway.is_none() {
            return Err(fail(format!(
                "jump is {j} but all of the following are missing: gateway"
            )));
        }
    }
    let chain = args.str("chain");
    if !flush && chain.is_none() {
        return Err(fail(
            "flush is False but all of the following are missing: chain",
        ));
    }
    // The reported rule is built before the LOG jump is implied, as Ansible's is.
    let reported = rule.words(&ip_version).join(" ");
    if rule.log_prefix.is_some() || rule.log_level.is_some() {
        match rule.jump.as_deref() {
            None => rule.jump = Some("LOG".into()),
            Some("LOG") => {}
            Some(_) => {
                return Err(fail(
                    "Logging options can only be used with the LOG jump target.",
                ))
            }
        }
    }
    let present = state == "present";
    let mode = if flush {
        Mode::Flush
    } else if let Some(p) = policy {
        Mode::Policy(p)
    } else if reported.is_empty() {
        Mode::Chain { present }
    } else {
        Mode::Rule {
            present,
            insert: action == "insert",
        }
    };
    Ok(IptArgs {
        table,
        chain,
        ip_version,
        mode,
        rule,
        rule_num: args.str("rule_num"),
        wait: args.str("wait"),
        chain_management: args.bool_or("chain_management", false)?,
        state,
        flush,
        reported,
    })
}

/// One binary's look: the `-C` status and message, or the listing's first line, rule count
/// and status.
#[derive(Debug, Default, PartialEq)]
pub struct Look {
    pub rc: i32,
    pub first: String,
    pub rules: usize,
    pub text: String,
}

pub fn read_look(text: &str) -> Look {
    let mut l = Look::default();
    let mut rest = Vec::new();
    for line in text.lines() {
        if let Some(rc) = line.strip_prefix("rc ").and_then(|r| r.parse().ok()) {
            l.rc = rc;
        } else if let Some(f) = line.strip_prefix("first ") {
            l.first = f.to_string();
        } else if let Some(n) = line.strip_prefix("rules ").and_then(|r| r.parse().ok()) {
            l.rules = n;
        } else {
            rest.push(line);
        }
    }
    l.text = if rest.is_empty() {
        l.first.clone()
    } else {
        rest.join("\n")
    };
    l
}

fn decide(a: &IptArgs, seen: &Observed) -> Result<Outcome<Commands>, Failure> {
    let mut cmds: Commands = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut changed = false;
    for (version, prog) in a.versions() {
        let text = seen.section(version);
        if let Some(f) = Failure::missing_program(text, prog) {
            return Err(f);
        }
        let look = read_look(text);
        let listing_failed = || {
            Failure::new(look.text.trim_end().to_string())
                .with("rc", look.rc)
                .with("stdout", "")
                .with("stderr", look.text.clone())
        };
        let chain = a.chain.clone().unwrap_or_default();
        match &a.mode {
            Mode::Flush => {
                if look.rc != 0 {
                    return Err(listing_failed());
                }
                if look.rules > 0 {
                    changed = true;
                    cmds.push((prog, a.head("-F")));
                }
            }
            Mode::Policy(p) => {
                if look.rc != 0 {
                    return Err(listing_failed());
                }
                let current = look
                    .first
                    .strip_prefix("-P ")
                    .and_then(|r| r.split_whitespace().nth(1));
                let Some(current) = current else {
                    return Err(Failure::new("Can't detect current policy"));
                };
                if current != p {
                    changed = true;
                    let mut w = a.head("-P");
                    w.push(p.clone());
                    cmds.push((prog, w));
                }
            }
            Mode::Chain { present } => {
                let exists = look.rc == 0;
                if exists != *present {
                    if a.chain_management {
                        changed = true;
                        cmds.push((prog, a.head(if *present { "-N" } else { "-X" })));
                    } else {
                        warnings.push(format!(
                            "chain {chain} {} in table {} ({prog}); chain_management: true {} it",
                            if exists { "exists" } else { "does not exist" },
                            a.table,
                            if *present { "creates" } else { "deletes" },
                        ));
                    }
                }
            }
            Mode::Rule { present, insert } => {
                if (look.rc == 0) != *present {
                    changed = true;
                    let action = match (present, insert) {
                        (false, _) => "-D",
                        (true, true) => "-I",
                        (true, false) => "-A",
                    };
                    cmds.push((prog, a.rule_words(action, version)));
                }
            }
        }
    }
    let mut report = Plan::unchanged()
        .with_value("ip_version", a.ip_version.as_str())
        .with_value("table", a.table.as_str())
        .with_value(
            "chain",
            a.chain.clone().map_or(Value::from(()), Value::from),
        )
        .with_value("flush", a.flush)
        .with_value("rule", a.reported.as_str())
        .with_value("state", a.state.as_str())
        .with_value("chain_management", a.chain_management)
        .with_value("wait", a.wait.clone().map_or(Value::from(()), Value::from));
    if !warnings.is_empty() {
        report = report.with_value("warnings", warnings);
    }
    Ok(if changed {
        Outcome::change(cmds, report)
    } else {
        Outcome::Unchanged(report)
    })
}
