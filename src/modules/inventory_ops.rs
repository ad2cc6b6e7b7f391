//! `group_by` and `add_host`: change the run's inventory. The modules only compute Ansible's
//! result (`add_group`/`parent_groups`, `add_host: {host_name, groups, host_vars}`); the
//! executor applies it to the inventory after the task (`Runner::apply_inventory_changes`).
//! `add_host` bypasses the host loop: it runs once, as Ansible runs it.

use super::contract::{Action, Resolve};
use super::{Args, Plan, Spec};
use crate::vars::map_value;
use anyhow::Result;
use minijinja::Value;

pub struct GroupBy;
pub struct AddHost;

static GROUP_BY_SPEC: Spec = Spec {
    args: &["key", "parents"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

static ADD_HOST_SPEC: Spec = Spec {
    args: &["name", "groups"],
    aliases: &[
        ("host", "name"),
        ("hostname", "name"),
        ("group", "groups"),
        ("groupname", "groups"),
    ],
    free_form: None,
    any_args: true,
    file_args: false,
};

/// A list argument: a list, or a comma-separated string.
fn list(args: &Args, key: &str) -> Vec<String> {
    match args.get(key) {
        None => Vec::new(),
        Some(v) => match v.as_str() {
            Some(s) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            None => v
                .try_iter()
                .map(|it| it.map(|x| x.to_string()).collect())
                .unwrap_or_default(),
        },
    }
}

impl Action for GroupBy {
    fn name(&self) -> &'static str {
        "group_by"
    }
    fn spec(&self) -> &'static Spec {
        &GROUP_BY_SPEC
    }
    fn act(&self, args: &Args, _env: &dyn Resolve) -> Result<Plan> {
        let Some(key) = args.str("key") else {
            return Ok(Plan::fail(
                "the 'key' param is required when using group_by",
            ));
        };
        // Ansible replaces spaces (and other characters invalid in group names) with `_`
        // only with a warning; the group name is the key as given.
        let parents = if args.has("parents") {
            list(args, "parents")
        } else {
            vec!["all".to_string()]
        };
        Ok(Plan::unchanged()
            .with_value("add_group", key.as_str())
            .with_value("parent_groups", Value::from(parents)))
    }
}

impl Action for AddHost {
    fn name(&self) -> &'static str {
        "add_host"
    }
    fn spec(&self) -> &'static Spec {
        &ADD_HOST_SPEC
    }
    fn act(&self, args: &Args, _env: &dyn Resolve) -> Result<Plan> {
        let Some(name) = args.str("name") else {
            return Ok(Plan::fail("name is required"));
        };
        // `host:port` sets `ansible_ssh_port`, a number (not for a bare IPv6 address).
        let (host, port) = match name.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
                Ok(p) => (h.to_string(), Some(p)),
                Err(_) => (name.clone(), None),
            },
            _ => (name.clone(), None),
        };
        let groups = list(args, "groups");
        let mut vars = crate::vars::VarMap::new();
        for (k, v) in &args.map {
            if !matches!(k.as_str(), "name" | "groups") {
                vars.insert(k.clone(), v.clone());
            }
        }
        if let Some(p) = port {
            vars.insert("ansible_ssh_port".into(), Value::from(p));
        }
        // `changed` is decided when the executor applies it (whether the inventory changed).
        let plan = Plan::unchanged().with_value(
            "add_host",
            map_value([
                ("host_name".to_string(), Value::from(host)),
                ("groups".to_string(), Value::from(groups)),
                ("host_vars".to_string(), map_value(vars)),
            ]),
        );
        Ok(plan)
    }
}
