//! `package`: the generic package module. Picks the host's package manager from the
//! `use` argument, else the gathered fact `ansible_facts.pkg_mgr`, else a probe
//! (`command -v apt-get`, …), and hands every other argument to that manager's module, as
//! Ansible does. Only `apt` is supported; any other manager fails the task clearly.

use super::apt::{spec as apt_spec, Apt};
use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

pub struct Package;

static SPEC: Spec = Spec {
    args: &["name", "state", "use"],
    aliases: &[],
    free_form: None,
    // The rest is passed to the manager's module, which checks it.
    any_args: true,
    file_args: false,
};

const PROBE: &str = "m=unknown; for p in apt-get dnf yum apk zypper pacman; do if command -v \"$p\" >/dev/null 2>&1; then m=$p; break; fi; done; echo \"$m\"\n";

/// The manager named by a gathered fact, if facts were gathered.
fn fact_pkg_mgr(vars: &Value) -> Option<String> {
    let from_facts = vars
        .get_attr("ansible_facts")
        .ok()
        .and_then(|f| f.get_attr("pkg_mgr").ok());
    let from_var = vars.get_attr("ansible_pkg_mgr").ok();
    [from_facts, from_var]
        .into_iter()
        .flatten()
        .filter(|v| !v.is_undefined() && !v.is_none())
        .find_map(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty() && s != "unknown")
}

/// `package`'s arguments as the apt module's (aliases resolved), or the first argument apt
/// does not take.
fn apt_args(args: &Args) -> std::result::Result<Args, Failure> {
    let spec = apt_spec();
    let mut out = Args::default();
    for (k, v) in &args.map {
        if k == "use" {
            continue;
        }
        match spec.canonical(k) {
            Some(c) => {
                out.map.insert(c.to_string(), v.clone());
            }
            None => {
                return Err(Failure::new(format!(
                    "the apt module has no argument `{k}`"
                )))
            }
        }
    }
    Ok(out)
}

/// `package`'s arguments: the manager when `use` or the facts name it, and the task as
/// `apt` reads it (or why it cannot).
pub struct PkgArgs {
    known: Option<String>,
    apt: Result<<Apt as Typed>::Args, Failure>,
}

impl Typed for Package {
    type Args = PkgArgs;
    type Change = <Apt as Typed>::Change;

    fn name(&self) -> &'static str {
        "package"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<PkgArgs> {
        let known = match args.str("use").filter(|u| u != "auto") {
            Some(u) => Some(u),
            None => fact_pkg_mgr(host.vars()),
        };
        let apt = match apt_args(args) {
            Ok(a) => Ok(Apt.parse(&a, host)?),
            Err(f) => Err(f),
        };
        Ok(PkgArgs { known, apt })
    }

    /// Without a known manager, which one the host has is asked in the same round trip as
    /// apt's probe.
    fn observe(&self, a: &PkgArgs) -> Observe {
        let mut o = match &a.apt {
            Ok(req) => Apt.observe(req),
            Err(_) => Observe::default(),
        };
        if a.known.is_none() {
            o.sections.insert(0, ("mgr", Script::new().raw(PROBE)));
        }
        o
    }

    fn observe_again(&self, a: &PkgArgs, seen: &Observed) -> Option<Observe> {
        Apt.observe_again(a.apt.as_ref().ok()?, seen)
    }

    fn decide(&self, a: &PkgArgs, seen: &Observed) -> Outcome<Self::Change> {
        let mgr = match &a.known {
            Some(m) => m.clone(),
            None => match seen.section("mgr").trim() {
                "apt-get" => "apt".to_string(),
                other => other.to_string(),
            },
        };
        if mgr != "apt" {
            return Outcome::Fail(Failure::new(format!(
                "package manager `{mgr}` is not supported by drover yet (supported: apt)"
            )));
        }
        match &a.apt {
            Ok(req) => Apt.decide(req, seen),
            Err(f) => Outcome::Fail(f.clone()),
        }
    }

    fn apply(&self, a: &PkgArgs, c: &Self::Change) -> Vec<Step> {
        a.apt.as_ref().map(|r| Apt.apply(r, c)).unwrap_or_default()
    }

    fn apply_more(&self, a: &PkgArgs, c: &Self::Change, done: &Done) -> Vec<Step> {
        a.apt
            .as_ref()
            .map(|r| Apt.apply_more(r, c, done))
            .unwrap_or_default()
    }

    fn finish(&self, a: &PkgArgs, c: &Self::Change, done: &Done, report: Plan) -> Plan {
        match &a.apt {
            Ok(r) => Apt.finish(r, c, done, report),
            Err(_) => report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vars::map_value;

    #[test]
    fn reads_the_fact() {
        let facts = map_value([("pkg_mgr".to_string(), Value::from("dnf"))]);
        let vars = map_value([("ansible_facts".to_string(), facts)]);
        assert_eq!(fact_pkg_mgr(&vars).as_deref(), Some("dnf"));
        let none = map_value([("x".to_string(), Value::from(1))]);
        assert_eq!(fact_pkg_mgr(&none), None);
    }

    #[test]
    fn translates_arguments() {
        let args = Args {
            map: [
                ("pkg".to_string(), Value::from("a")),
                ("use".to_string(), Value::from("auto")),
                ("update-cache".to_string(), Value::from(true)),
            ]
            .into_iter()
            .collect(),
        };
        let a = apt_args(&args).unwrap();
        assert!(a.has("name") && a.has("update_cache") && !a.has("use"));
        let bad = Args {
            map: [("enablerepo".to_string(), Value::from("x"))]
                .into_iter()
                .collect(),
        };
        assert!(apt_args(&bad).unwrap_err().msg.contains("enablerepo"));
    }
}
