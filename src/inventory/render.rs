//! `ansible-inventory`-style output: `--list` JSON (groups plus `_meta.hostvars`), the
//! `--graph` tree and `--host` variables. Keys are sorted as `ansible-inventory` prints them.

use super::Inventory;
use anyhow::{bail, Result};
use indexmap::IndexMap;
use minijinja::Value;
use serde_json::{json, Map, Value as Json};
use std::collections::HashSet;

/// Run-time variables `ansible-inventory` leaves out of host variables.
const INTERNAL_VARS: [&str; 19] = [
    "ansible_config_file",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_playbook_python",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "omit",
    "playbook_dir",
];

/// The `ansible-inventory --list` document: one entry per non-empty group with its direct
/// `hosts` and `children` (`all` has only children), and `_meta.hostvars`.
pub fn list_json(inv: &Inventory) -> serde_json::Value {
    let mut out = Map::new();
    let mut seen = HashSet::new();
    format_group(inv, "all", &mut seen, &mut out);
    let mut hostvars = Map::new();
    for (name, host) in &inv.hosts {
        let vars = public_vars(&host.vars);
        if !vars.as_object().is_some_and(Map::is_empty) {
            hostvars.insert(name.clone(), vars);
        }
    }
    out.insert("_meta".into(), json!({ "hostvars": hostvars }));
    sort_keys(Json::Object(out))
}

fn format_group(
    inv: &Inventory,
    name: &str,
    seen: &mut HashSet<String>,
    out: &mut Map<String, Json>,
) {
    let Some(group) = inv.groups.get(name) else {
        return;
    };
    let mut entry = Map::new();
    if name != "all" {
        let hosts: Vec<Json> = group
            .hosts
            .iter()
            .filter(|h| inv.hosts.contains_key(*h))
            .map(|h| Json::from(h.as_str()))
            .collect();
        if !hosts.is_empty() {
            entry.insert("hosts".into(), Json::Array(hosts));
        }
    }
    for child in &group.children {
        if seen.insert(child.clone()) {
            format_group(inv, child, seen, out);
        }
    }
    if !group.children.is_empty() {
        let children = group
            .children
            .iter()
            .map(|c| Json::from(c.as_str()))
            .collect();
        entry.insert("children".into(), Json::Array(children));
    }
    if !entry.is_empty() {
        out.insert(name.to_string(), Json::Object(entry));
    }
}

/// The `ansible-inventory --graph` tree for a group: child groups first, then direct hosts
/// (`all` lists no hosts of its own). Lines are joined by `\n` with no trailing newline;
/// an unknown group gives an empty string.
pub fn graph(inv: &Inventory, group: &str) -> String {
    graph_with_vars(inv, group, false)
}

/// `--graph --vars`: the tree with `{name = value}` lines, a host's own variables under it
/// and a group's after its members, as `ansible-inventory` prints them.
pub fn graph_with_vars(inv: &Inventory, group: &str, vars: bool) -> String {
    let mut lines = Vec::new();
    if inv.groups.contains_key(group) {
        graph_group(inv, group, 0, vars, &mut lines);
    }
    lines.join("\n")
}

fn graph_line(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

fn graph_group(inv: &Inventory, name: &str, depth: usize, vars: bool, lines: &mut Vec<String>) {
    lines.push(graph_line(&format!("@{name}:"), depth));
    let Some(group) = inv.groups.get(name) else {
        return;
    };
    for child in &group.children {
        graph_group(inv, child, depth + 1, vars, lines);
    }
    if name != "all" {
        for host in &group.hosts {
            lines.push(graph_line(host, depth + 1));
            if vars {
                let own = inv.hosts.get(host).map(|h| own_vars(inv, h));
                graph_vars(own.into_iter().flatten(), depth + 2, lines);
            }
        }
    }
    if vars {
        graph_vars(group.vars.iter(), depth + 1, lines);
    }
}

/// A host's variables that none of its groups gives it (host vars are stored merged).
fn own_vars<'a>(inv: &'a Inventory, h: &'a super::Host) -> Vec<(&'a String, &'a Value)> {
    h.vars
        .iter()
        .filter(|(k, v)| {
            !INTERNAL_VARS.contains(&k.as_str())
                && !h
                    .groups
                    .iter()
                    .chain(std::iter::once(&"all".to_string()))
                    .any(|g| {
                        inv.groups
                            .get(g)
                            .and_then(|g| g.vars.get(*k))
                            .is_some_and(|gv| gv == *v)
                    })
        })
        .collect()
}

fn graph_vars<'a>(
    vars: impl Iterator<Item = (&'a String, &'a Value)>,
    depth: usize,
    lines: &mut Vec<String>,
) {
    let mut vars: Vec<_> = vars
        .filter(|(k, _)| !INTERNAL_VARS.contains(&k.as_str()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in vars {
        let json = serde_json::to_value(v).unwrap_or(Json::Null);
        lines.push(graph_line(
            &format!("{{{k} = {}}}", py_str(&json, true)),
            depth,
        ));
    }
}

/// A value as Python's `str()` prints it (`True`, `None`, `{'a': [1, 2]}`); a top-level
/// string is bare, nested ones quoted.
fn py_str(v: &Json, top: bool) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) => n.to_string(),
        Json::String(s) if top => s.clone(),
        Json::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Json::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| py_str(i, false))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_str(v, false)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The `ansible-inventory --host` document: the host's variables without run-time ones.
/// Implicit local hosts (`localhost` when the inventory lacks it) are accepted too.
pub fn host_json(inv: &Inventory, host: &str) -> Result<serde_json::Value> {
    match inv.get_host(host) {
        Some(h) => Ok(sort_keys(public_vars(&h.vars))),
        None => bail!(
            "host `{host}` is not in the inventory\nhint: `--host` takes one host name; see `--list` for the hosts"
        ),
    }
}

fn public_vars(vars: &IndexMap<String, Value>) -> Json {
    let mut out = Map::new();
    for (k, v) in vars {
        if !INTERNAL_VARS.contains(&k.as_str()) {
            out.insert(k.clone(), serde_json::to_value(v).unwrap_or(Json::Null));
        }
    }
    Json::Object(out)
}

/// Sorts object keys recursively, as `json.dumps(sort_keys=True)` does.
fn sort_keys(v: Json) -> Json {
    match v {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/inventory/testdata/render.yml"
        );
        Inventory::load(&[file.to_string()], &[]).unwrap()
    }

    #[test]
    fn list_shape() {
        let got = list_json(&inv());
        let want = json!({
            "_meta": {"hostvars": {
                "db1": {"ansible_port": 5432, "role": "db"},
                "lone": {"flag": true},
                "web1": {"ansible_host": "10.0.0.1", "nested": {"a": [1, 2], "b": null}, "role": "web"},
                "web2": {"role": "web"}
            }},
            "all": {"children": ["prod", "empty", "ungrouped"]},
            "db": {"hosts": ["db1"]},
            "prod": {"children": ["web", "db"]},
            "ungrouped": {"hosts": ["lone"]},
            "web": {"hosts": ["web1", "web2"]}
        });
        assert_eq!(got, want);
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["_meta", "all", "db", "prod", "ungrouped", "web"]);
    }

    #[test]
    fn graph_shape() {
        let inv = inv();
        assert_eq!(
            graph(&inv, "all"),
            "@all:\n  |--@prod:\n  |  |--@web:\n  |  |  |--web1\n  |  |  |--web2\n  |  |--@db:\n  |  |  |--db1\n  |--@empty:\n  |--@ungrouped:\n  |  |--lone"
        );
        assert_eq!(graph(&inv, "db"), "@db:\n  |--db1");
        assert_eq!(graph(&inv, "nope"), "");
        assert_eq!(
            graph_with_vars(&inv, "web", true),
            "@web:\n  |--web1\n  |  |--{ansible_host = 10.0.0.1}\n  |  |--{nested = {'a': [1, 2], 'b': None}}\n  |--web2\n  |--{role = web}"
        );
    }

    #[test]
    fn host_shape() {
        let inv = inv();
        assert_eq!(host_json(&inv, "web2").unwrap(), json!({"role": "web"}));
        // The implicit localhost: local, with the controller's Python as Ansible gives it.
        let local = host_json(&inv, "localhost").unwrap();
        assert_eq!(local["ansible_connection"], json!("local"));
        if let Some(py) = local.get("ansible_python_interpreter") {
            assert!(py.as_str().unwrap().contains("python"), "{local}");
        }
        assert_eq!(
            host_json(&inv, "ghost").unwrap_err().to_string(),
            "host `ghost` is not in the inventory\nhint: `--host` takes one host name; see `--list` for the hosts"
        );
    }
}
