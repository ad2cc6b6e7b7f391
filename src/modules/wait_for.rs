//! `wait_for`: waits, on the host, for a port to accept connections (or to stop, or to have
//! no active connections: `drained`), for a path to appear (with `search_regex` in its
//! content) or go away, or simply for `timeout` seconds. The waiting is one shell loop on
//! the host (one round trip however long it waits): connections through bash's
//! `/dev/tcp` or `nc`, content through `grep -P`, connection states from `/proc/net/tcp*`.
//! Match groups come from the content with Python's regular expressions. Changes nothing.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{path_info, ProbeItem, ProbeReq};
use super::{Args, Plan, Spec};
use crate::pyre::Re;
use anyhow::Result;
use minijinja::Value;
use std::convert::Infallible;

pub struct WaitFor;

static SPEC: Spec = Spec {
    args: &[
        "host",
        "timeout",
        "connect_timeout",
        "delay",
        "port",
        "active_connection_states",
        "state",
        "path",
        "search_regex",
        "exclude_hosts",
        "sleep",
        "msg",
    ],
    aliases: &[("regex", "search_regex")],
    free_form: None,
    any_args: false,
    file_args: false,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Sleep,
    PathThere,
    PathGone,
    PortOpen,
    PortClosed,
    Drained,
}

pub struct WaitArgs {
    host: String,
    port: Option<i64>,
    path: Option<String>,
    regex: Option<(String, Re)>,
    until: Until,
    state: String,
    timeout: i64,
    connect_timeout: i64,
    delay: i64,
    sleep: i64,
    msg: Option<String>,
    /// `/proc/net/tcp` state codes that count as active, and remote addresses to leave out.
    active: Vec<&'static str>,
    exclude: Vec<String>,
}

/// Linux's TCP states by the names Ansible takes.
const STATES: [(&str, &str); 11] = [
    ("ESTABLISHED", "01"),
    ("SYN_SENT", "02"),
    ("SYN_RECV", "03"),
    ("FIN_WAIT1", "04"),
    ("FIN_WAIT2", "05"),
    ("TIME_WAIT", "06"),
    ("CLOSE", "07"),
    ("CLOSE_WAIT", "08"),
    ("LAST_ACK", "09"),
    ("LISTEN", "0A"),
    ("CLOSING", "0B"),
];

fn fail(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(msg).with("elapsed", 0).into()
}

/// An IPv4 address as `/proc/net/tcp` writes it (`127.0.0.1` is `0100007F`).
fn proc_hex(ip: &str) -> Option<String> {
    let o: Vec<u8> = ip
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (o.len() == 4).then(|| format!("{:02X}{:02X}{:02X}{:02X}", o[3], o[2], o[1], o[0]))
}

impl Typed for WaitFor {
    type Args = WaitArgs;
    type Change = Infallible;

    fn name(&self) -> &'static str {
        "wait_for"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<WaitArgs> {
        let state = args.choice(
            "state",
            &["absent", "drained", "present", "started", "stopped"],
            "started",
        )?;
        let port = args.int("port")?;
        let path = match args.str("path") {
            Some(p) => Some(host.expand_path(&p)?),
            None => None,
        };
        let regex = match args.str("search_regex") {
            Some(r) => Some((
                r.clone(),
                Re::new(&r, false, true)
                    .map_err(|e| Failure::new(format!("Invalid regular expression: {e}")))?,
            )),
            None => None,
        };
        if port.is_some() && path.is_some() {
            return Err(fail(
                "port and path parameter can not both be passed to wait_for",
            ));
        }
        if path.is_some() && (state == "stopped" || state == "drained") {
            return Err(fail(format!(
                "state={state} should only be used for checking a port in the wait_for module"
            )));
        }
        if args.has("exclude_hosts") && state != "drained" {
            return Err(fail("exclude_hosts should only be with state=drained"));
        }
        let mut names = args.list("active_connection_states");
        if names.is_empty() {
            names = [
                "ESTABLISHED",
                "FIN_WAIT1",
                "FIN_WAIT2",
                "SYN_RECV",
                "SYN_SENT",
                "TIME_WAIT",
            ]
            .map(String::from)
            .to_vec();
        }
        let mut active = Vec::new();
        for n in &names {
            match STATES.iter().find(|(s, _)| s == n) {
                Some((_, code)) => active.push(*code),
                None => {
                    return Err(fail(format!(
                        "unknown active_connection_state ({n}) defined"
                    )))
                }
            }
        }
        let until = match (state.as_str(), &port, &path) {
            ("drained", _, _) => Until::Drained,
            (_, None, None) => Until::Sleep,
            ("absent" | "stopped", None, Some(_)) => Until::PathGone,
            ("absent" | "stopped", Some(_), None) => Until::PortClosed,
            (_, None, Some(_)) => Until::PathThere,
            _ => Until::PortOpen,
        };
        Ok(WaitArgs {
            host: args.str("host").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            path,
            regex,
            until,
            state,
            timeout: args.int("timeout")?.unwrap_or(300),
            connect_timeout: args.int("connect_timeout")?.unwrap_or(5),
            delay: args.int("delay")?.unwrap_or(0),
            sleep: args.int("sleep")?.unwrap_or(1),
            msg: args.str("msg"),
            active,
            exclude: args
                .list("exclude_hosts")
                .iter()
                .filter_map(|h| proc_hex(h))
                .collect(),
        })
    }

    fn observe(&self, a: &WaitArgs) -> Observe {
        let num = |n: i64| n.max(0).to_string();
        let mut s = Script::new()
            .set("t", &num(a.timeout))
            .set("ct", &num(a.connect_timeout.max(1)))
            .set("h", &a.host)
            .set("port", &a.port.map(num).unwrap_or_default())
            .set("p", a.path.as_deref().unwrap_or(""))
            .set("re", &a.regex.as_ref().map(|(r, _)| grep_pattern(r)).unwrap_or_default())
            .set("active", &a.active.join(" "))
            .set("skip", &a.exclude.join(" "))
            .raw("s0=$(date +%s.%N); sleep")
            .arg(&num(a.delay))
            .raw("\nconn() { if command -v bash >/dev/null 2>&1; then timeout \"$ct\" bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$h\" \"$port\" 2>/dev/null; elif command -v nc >/dev/null 2>&1; then nc -z -w \"$ct\" \"$h\" \"$port\" 2>/dev/null; else return 2; fi; }\n")
            .raw("banner() { timeout \"$ct\" bash -c 'exec 3<>\"/dev/tcp/$0/$1\" && cat <&3' \"$h\" \"$port\" 2>/dev/null | grep -qP -e \"$re\"; }\n")
            .raw("busy() { hex=$(printf '%04X' \"$port\"); cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v hex=\"$hex\" -v active=\" $active \" -v skip=\" $skip \" 'NR > 0 { split($2, l, \":\"); split($3, r, \":\"); if (l[2] == hex && index(active, \" \" $4 \" \") && !index(skip, \" \" r[1] \" \")) n++ } END { exit n > 0 ? 0 : 1 }'; }\n");
        let cond: &'static str = match a.until {
            Until::Sleep => "false",
            Until::PathThere if a.regex.is_some() => {
                "[ -e \"$p\" ] && grep -qzP -e \"$re\" -- \"$p\" 2>/dev/null"
            }
            Until::PathThere => "[ -e \"$p\" ]",
            Until::PathGone => "! [ -e \"$p\" ]",
            Until::PortOpen if a.regex.is_some() => "banner",
            Until::PortOpen => "conn",
            Until::PortClosed => "! conn",
            Until::Drained => "! busy",
        };
        // The end to the fraction of a second, as Ansible's `start + timeout`: whole seconds
        // would end the wait up to a second early.
        s = s.raw(
            "e=$(awk -v a=\"$s0\" -v b=\"$t\" 'BEGIN { printf \"%.9f\", a + b }'); r=timeout\n",
        );
        s = if a.until == Until::Sleep {
            s.raw("sleep \"$t\"; r=ok\n")
        } else {
            s.raw("while awk -v n=\"$(date +%s.%N)\" -v e=\"$e\" 'BEGIN { exit !(n < e) }'; do if ")
                .raw(cond)
                .raw("; then r=ok; break; fi; sleep")
                .arg(&num(a.sleep))
                .raw("; done\n")
        };
        s = s.raw("echo \"$r $s0 $(date +%s.%N)\"\n");
        let mut sections = vec![("wait", s)];
        if let (Until::PathThere, Some(_), Some(p)) = (a.until, &a.regex, &a.path) {
            sections.push((
                "content",
                Script::new().raw("cat --").arg(p).raw(" 2>/dev/null"),
            ));
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    /// After waiting on a path: its stat, for the keys Ansible adds to a result with `path`.
    fn observe_again(&self, a: &WaitArgs, seen: &Observed) -> Option<Observe> {
        let path = a.path.as_ref()?;
        if !seen.more.is_empty() || !seen.section("wait").starts_with("ok") {
            return None;
        }
        Some(Observe {
            files: Some(ProbeReq {
                items: vec![ProbeItem::new(path, false)],
                ..ProbeReq::default()
            }),
            ..Observe::default()
        })
    }

    fn decide(&self, a: &WaitArgs, seen: &Observed) -> Outcome<Infallible> {
        let line = seen
            .section("wait")
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let mut words = line.split_whitespace();
        let r = words.next().unwrap_or("timeout");
        let stamp = |w: Option<&str>| w.and_then(|w| w.parse::<f64>().ok()).unwrap_or(0.0);
        let (from, to) = (stamp(words.next()), stamp(words.next()));
        // Whole seconds, as Ansible's `timedelta.seconds`.
        let elapsed = (to - from).max(0.0).floor() as i64;
        if r != "ok" {
            let (host, port) = (&a.host, a.port.unwrap_or_default());
            let path = a.path.as_deref().unwrap_or_default();
            let why = match (a.until, &a.regex) {
                (Until::PortClosed, _) => {
                    format!("Timeout when waiting for {host}:{port} to stop.")
                }
                (Until::PathGone, _) => format!("Timeout when waiting for {path} to be absent."),
                (Until::PortOpen, Some((re, _))) => {
                    format!("Timeout when waiting for search string {re} in {host}:{port}")
                }
                (Until::PortOpen, None) => format!("Timeout when waiting for {host}:{port}"),
                (Until::PathThere, Some((re, _))) => {
                    format!("Timeout when waiting for search string {re} in {path}")
                }
                (Until::PathThere, None) => format!("Timeout when waiting for file {path}"),
                _ => format!("Timeout when waiting for {host}:{port} to drain"),
            };
            return Outcome::Fail(
                Failure::new(a.msg.clone().unwrap_or(why)).with("elapsed", elapsed),
            );
        }
        let (mut groups, mut named) = (Vec::<Value>::new(), Vec::<(String, Value)>::new());
        if let (Some((_, re)), Some(text)) = (&a.regex, seen.sections.get("content")) {
            if let Some(c) = re.captures(text.as_bytes()) {
                let group = |i: usize| match c.get(i).copied().flatten() {
                    Some((s, e)) => Value::from(&text[s..e]),
                    None => Value::from(()),
                };
                groups = (1..c.len()).map(group).collect();
                for i in 1..c.len() {
                    if let Some(n) = re.group_name(i) {
                        named.push((n.to_string(), group(i)));
                    }
                }
            }
        }
        let opt = |v: Option<&str>| v.map_or(Value::from(()), Value::from);
        let mut report = Plan::unchanged()
            .with_value("state", a.state.as_str())
            .with_value("port", a.port.map_or(Value::from(()), Value::from))
            .with_value(
                "search_regex",
                opt(a.regex.as_ref().map(|(r, _)| r.as_str())),
            )
            .with_value("match_groups", groups)
            .with_value("match_groupdict", crate::vars::map_value(named))
            .with_value("path", opt(a.path.as_deref()))
            .with_value("elapsed", elapsed);
        let st = seen.more.iter().find_map(|m| m.files.states.first());
        if let Some(st) = st.filter(|st| st.exists) {
            for (k, v) in path_info(st) {
                report = report.with_value(&k, v);
            }
        }
        Outcome::Unchanged(report)
    }

    fn apply(&self, _a: &WaitArgs, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}

/// The expression for `grep -P`, as Python compiles it here (`MULTILINE`); a newline in it
/// as `\n` (grep takes a newline as the end of one pattern).
fn grep_pattern(re: &str) -> String {
    format!("(?m){}", re.replace('\n', "\\n"))
}
