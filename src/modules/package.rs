//! `package`: the generic package module. Picks the host's package manager from the
//! `use` argument, else the gathered fact `ansible_facts.pkg_mgr`, else a probe
//! (`command -v apt-get`, …), and hands every other argument to that manager's module, as
//! Ansible does. Only `apt` is supported; any other manager fails the task clearly.

use super::apt::{spec as apt_spec, Apt};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

pub struct Package;

static SPEC: Spec = Spec {
    args: &["name", "state", "use"],
    aliases: &[],
    free_form: None,
    // The rest is passed to the manager's module, which checks it.
    any_args: true,
};

const PROBE: &str = "for p in apt-get dnf yum apk zypper pacman; do if command -v \"$p\" >/dev/null 2>&1; then echo \"$p\"; exit 0; fi; done; echo unknown";

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
fn apt_args(args: &Args) -> std::result::Result<Args, String> {
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
            None => return Err(format!("the apt module has no argument `{k}`")),
        }
    }
    Ok(out)
}

impl Package {
    fn manager(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<String> {
        if let Some(u) = args.str("use").filter(|u| u != "auto") {
            return Ok(u);
        }
        if let Some(m) = fact_pkg_mgr(ctx.vars) {
            return Ok(m);
        }
        let out = ctx.run(PROBE)?;
        Ok(match out.stdout_str().trim() {
            "apt-get" => "apt".to_string(),
            other => other.to_string(),
        })
    }
}

impl Module for Package {
    fn name(&self) -> &'static str {
        "package"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let mgr = self.manager(ctx, args)?;
        if mgr != "apt" {
            return Ok(Plan::fail(format!(
                "package manager `{mgr}` is not supported by drover yet (supported: apt)"
            )));
        }
        match apt_args(args) {
            Ok(a) => Apt.plan(ctx, &a),
            Err(m) => Ok(Plan::fail(m)),
        }
    }

    fn apply(&self, ctx: &mut ModuleCtx, args: &Args, plan: Plan) -> Result<Plan> {
        // Only apt plans change anything, so the plan is apt's.
        match apt_args(args) {
            Ok(a) => Apt.apply(ctx, &a, plan),
            Err(m) => Ok(Plan::fail(m)),
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
        assert!(apt_args(&bad).unwrap_err().contains("enablerepo"));
    }
}
