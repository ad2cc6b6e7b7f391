//! `service_facts`: the host's services into `ansible_facts.services`, as Ansible's module
//! gathers them on Debian: init scripts from `service --status-all` (`source: sysv`), and, on
//! a host that runs systemd, the units of `systemctl list-units` and `list-unit-files`
//! (`source: systemd`, with `state` and `status`). One look.

use super::contract::{Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, FactKind, Plan, Spec, Verdict};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::Value;
use std::collections::BTreeMap;

pub struct ServiceFacts;

static SPEC: Spec = Spec {
    args: &[],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// systemd's states that stand for the unit's status, as Ansible's `BAD_STATES`.
const BAD_STATES: &[&str] = &["not-found", "masked", "failed"];

/// One service: name, state, status (systemd's), source.
struct Svc {
    state: String,
    status: Option<String>,
    source: &'static str,
}

const LOOK: &str = r#"export LC_ALL=C
if command -v service >/dev/null 2>&1 && ! command -v chkconfig >/dev/null 2>&1 && ! command -v rc-status >/dev/null 2>&1; then
out=$(service --status-all 2>"$D/sf.e"); rc=$?; echo "svrc $rc"; printf '%s\n' "$out" | sed 's/^/sv /'; [ "$rc" = 0 ] || sed 's/^/sverr /' "$D/sf.e"; rm -f "$D/sf.e"
fi
if command -v systemctl >/dev/null 2>&1 && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }; then
systemctl list-units --no-pager --type service --all --plain 2>/dev/null | sed 's/^/u /'
files=$(systemctl list-unit-files --no-pager --type service --all 2>/dev/null); printf '%s\n' "$files" | sed 's/^/f /'
set -- $(printf '%s\n' "$files" | awk '$1 ~ /\.service$/ && $1 !~ /@\.service$/ { print $1 }')
[ $# -gt 0 ] && systemctl show --property=Id,ActiveState "$@" 2>/dev/null | sed 's/^/a /'
fi
"#;

impl Typed for ServiceFacts {
    type Args = ();
    type Change = std::convert::Infallible;

    fn name(&self) -> &'static str {
        "service_facts"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, _args: &Args, _host: &mut dyn Resolve) -> Result<()> {
        Ok(())
    }

    fn observe(&self, _a: &()) -> Observe {
        Observe {
            sections: vec![("svc", Script::new().raw(LOOK))],
            ..Observe::default()
        }
    }

    fn decide(&self, _a: &(), seen: &Observed) -> Outcome<Self::Change> {
        let (services, warnings) = gather(seen.section("svc"));
        let mut p = Plan::unchanged();
        if !warnings.is_empty() {
            p = p.with_value("warnings", warnings);
        }
        if services.is_empty() {
            p.verdict = Verdict::Skipped(String::new());
            p.msg = Some("Failed to find any services. This can be due to privileges or some other configuration issue.".into());
            return Outcome::Unchanged(p);
        }
        let map = services.into_iter().map(|(name, s)| {
            let mut m = vec![
                ("name".to_string(), Value::from(name.as_str())),
                ("state".to_string(), Value::from(s.state)),
            ];
            if let Some(st) = s.status {
                m.push(("status".to_string(), Value::from(st)));
            }
            m.push(("source".to_string(), Value::from(s.source)));
            (name, crate::vars::map_value(m))
        });
        let mut facts = VarMap::new();
        facts.insert("services".into(), crate::vars::map_value(map));
        let mut p = p.with_facts(facts);
        p.facts_kind = FactKind::ModuleFacts;
        Outcome::Unchanged(p)
    }

    fn apply(&self, _a: &(), change: &Self::Change) -> Vec<Step> {
        match *change {}
    }
}

/// The services the look found, and Ansible's warnings.
fn gather(text: &str) -> (BTreeMap<String, Svc>, Vec<String>) {
    let mut services = BTreeMap::new();
    let mut warnings = Vec::new();
    let section = |key: &str| -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
            .collect()
    };
    // `service --status-all`: `[ + ]  name` and `[ - ]  name` (`[ ? ]` is left out).
    if let Some(rc) = section("svrc").first() {
        if *rc != "0" {
            warnings.push(format!(
                "Unable to query 'service' tool ({rc}): {}",
                section("sverr").join("\n")
            ));
        }
        for line in section("sv") {
            let t = line.trim_start();
            let state = match (t.strip_prefix("[ + ]"), t.strip_prefix("[ - ]")) {
                (Some(rest), _) => Some(("running", rest)),
                (_, Some(rest)) => Some(("stopped", rest)),
                _ => None,
            };
            if let Some((state, rest)) = state {
                let name = rest.trim_start();
                if rest.starts_with(char::is_whitespace) && !name.is_empty() {
                    services.insert(
                        name.to_string(),
                        Svc {
                            state: state.into(),
                            status: None,
                            source: "sysv",
                        },
                    );
                }
            }
        }
    }
    // `systemctl list-units`: unit, load, active, sub, description.
    for line in section("u").into_iter().filter(|l| l.contains(".service")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let bad = BAD_STATES
            .iter()
            .find(|b| f[..f.len() - 1].contains(b))
            .map(|b| b.to_string());
        services.insert(
            f[0].to_string(),
            Svc {
                state: if f[3] == "running" {
                    "running"
                } else {
                    "stopped"
                }
                .into(),
                status: Some(bad.unwrap_or_else(|| f[2].to_string())),
                source: "systemd",
            },
        );
    }
    // `systemctl show --property=Id,ActiveState`: the state of units not loaded.
    let mut active = std::collections::HashMap::new();
    let mut id = None;
    for line in section("a") {
        if let Some(v) = line.strip_prefix("Id=") {
            id = Some(v.to_string());
        } else if let (Some(v), Some(i)) = (line.strip_prefix("ActiveState="), id.take()) {
            active.insert(i, v.to_string());
        }
    }
    // `systemctl list-unit-files`: unit, state (the final `status`).
    for line in section("f").into_iter().filter(|l| l.contains(".service")) {
        let mut w = line.split_whitespace();
        let (Some(name), Some(status)) = (w.next(), w.next()) else {
            continue;
        };
        match services.get_mut(name) {
            None => {
                let state = active
                    .get(name)
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "unknown".into());
                services.insert(
                    name.to_string(),
                    Svc {
                        state,
                        status: Some(status.to_string()),
                        source: "systemd",
                    },
                );
            }
            Some(s) => {
                if !s
                    .status
                    .as_deref()
                    .is_some_and(|st| BAD_STATES.contains(&st))
                {
                    s.status = Some(status.to_string());
                }
            }
        }
    }
    (services, warnings)
}
