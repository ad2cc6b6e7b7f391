//! The YAML inventory format as Ansible's `yaml` plugin reads it: top-level groups, each with
//! `hosts`, `vars` and `children`, host keys with ports and ranges; unknown keys and wrong
//! shapes are errors that name file:line:column.

use super::hostname::expand_host_pattern;
use super::Builder;
use crate::yaml::{node_to_value, Node, NodeKind};
use anyhow::{anyhow, bail, Result};

const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

/// Parses the documents of a YAML inventory file into the builder.
pub(super) fn parse(docs: &[Node], b: &mut Builder) -> Result<()> {
    let Some(doc) = docs.first() else {
        return Ok(());
    };
    if doc.is_null() {
        return Ok(());
    }
    let Some(entries) = doc.as_map() else {
        bail!(
            "{}: a YAML inventory must be a mapping of group names, got {}\nhint: start with `all:` and list hosts under `hosts:`",
            doc.span,
            doc.type_name()
        );
    };
    if let Some((k, _)) = entries.iter().find(|(k, _)| k.as_str() == Some("plugin")) {
        bail!(
            "{}: inventory plugin configuration files are not supported\nhint: drover reads static INI and YAML inventories; list hosts under `all: {{hosts: ...}}`",
            k.span
        );
    }
    for (key, data) in entries {
        let name = group_name(key)?;
        parse_group(&name, data, b)?;
    }
    Ok(())
}

fn group_name(key: &Node) -> Result<String> {
    match key.key_str() {
        Some(name) if !name.is_empty() => Ok(name),
        _ => bail!("{}: a group name must be a non-empty string", key.span),
    }
}

fn parse_group(name: &str, data: &Node, b: &mut Builder) -> Result<()> {
    b.add_group(name);
    let entries = match &data.kind {
        NodeKind::Null => return Ok(()),
        NodeKind::Map(entries) => entries,
        _ => bail!(
            "{}: group `{name}` must be a mapping with `hosts`, `vars` or `children`, got {}",
            data.span,
            data.type_name()
        ),
    };
    for (key, value) in entries.iter() {
        let section = key.key_str().unwrap_or_default();
        match section.as_str() {
            "hosts" => hosts_section(name, value, b)?,
            "vars" => match &value.kind {
                NodeKind::Null => {}
                NodeKind::Map(vars) => {
                    for (k, v) in vars.iter() {
                        let var = k.key_str().ok_or_else(|| {
                            anyhow!("{}: a variable name must be a string", k.span)
                        })?;
                        b.set_group_var(name, &var, node_to_value(v))
                            .map_err(|e| anyhow!("{}: {e}", k.span))?;
                    }
                }
                _ => bail!(
                    "{}: `vars` of group `{name}` must be a mapping, got {}",
                    value.span,
                    value.type_name()
                ),
            },
            "children" => match &value.kind {
                NodeKind::Null => {}
                NodeKind::Str(child) => {
                    b.add_group(child);
                    b.add_child(name, child)
                        .map_err(|e| anyhow!("{}: {e}", value.span))?;
                }
                NodeKind::Map(children) => {
                    for (ck, cv) in children.iter() {
                        let child = group_name(ck)?;
                        parse_group(&child, cv, b)?;
                        b.add_child(name, &child)
                            .map_err(|e| anyhow!("{}: {e}", ck.span))?;
                    }
                }
                _ => bail!(
                    "{}: `children` of group `{name}` must be a mapping of group names, got {}",
                    value.span,
                    value.type_name()
                ),
            },
            _ => bail!(
                "{}: unknown key `{section}` in group `{name}`\nhint: {}",
                key.span,
                unknown_key_hint(&section)
            ),
        }
    }
    Ok(())
}

fn hosts_section(group: &str, value: &Node, b: &mut Builder) -> Result<()> {
    match &value.kind {
        NodeKind::Null => Ok(()),
        NodeKind::Str(host) => add_hosts(group, host, value, None, b),
        NodeKind::Map(hosts) => {
            for (hk, hv) in hosts.iter() {
                let pattern = hk
                    .key_str()
                    .ok_or_else(|| anyhow!("{}: a host name must be a string", hk.span))?;
                add_hosts(group, &pattern, hk, Some(hv), b)?;
            }
            Ok(())
        }
        NodeKind::Seq(_) => bail!(
            "{}: `hosts` of group `{group}` must be a mapping, got a list\nhint: write each host as a key ending in `:`, e.g. `hosts: {{web1: {{}}, web2: {{}}}}`",
            value.span
        ),
        _ => bail!(
            "{}: `hosts` of group `{group}` must be a mapping, got {}",
            value.span,
            value.type_name()
        ),
    }
}

fn add_hosts(
    group: &str,
    pattern: &str,
    at: &Node,
    vars: Option<&Node>,
    b: &mut Builder,
) -> Result<()> {
    let (hosts, port) = expand_host_pattern(pattern).map_err(|e| anyhow!("{}: {e}", at.span))?;
    let vars: &[(Node, Node)] = match vars.map(|v| (&v.kind, v)) {
        None | Some((NodeKind::Null, _)) => &[],
        Some((NodeKind::Map(entries), _)) => entries,
        Some((_, v)) => bail!(
            "{}: variables of host `{pattern}` must be a mapping, got {}\nhint: write `{pattern}: {{ansible_host: ...}}`, or `{pattern}:` with nothing after it",
            v.span,
            v.type_name()
        ),
    };
    let mut values = Vec::with_capacity(vars.len());
    for (k, v) in vars {
        let var = k
            .key_str()
            .ok_or_else(|| anyhow!("{}: a variable name must be a string", k.span))?;
        values.push((var, node_to_value(v)));
    }
    for h in &hosts {
        b.add_host(h, group, port);
        for (k, v) in &values {
            b.set_host_var(h, k, v.clone());
        }
    }
    Ok(())
}

fn unknown_key_hint(key: &str) -> String {
    let best = GROUP_KEYS
        .iter()
        .map(|k| (edit_distance(&key.to_lowercase(), k), *k))
        .min();
    let base = "a group may only contain `hosts`, `vars` and `children`; list hosts under `hosts:` and child groups under `children:`";
    match best {
        Some((d, k)) if d <= 2 || (d <= 3 && key.len() > 5) => {
            format!("did you mean `{k}`? {base}")
        }
        _ => base.to_string(),
    }
}

/// Levenshtein distance, for did-you-mean hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;
    use std::path::Path;

    fn parse_str(text: &str) -> Result<Builder> {
        let mut b = Builder::new();
        let docs = crate::yaml::load_str(text, Path::new("inv.yml"))?;
        parse(&docs, &mut b)?;
        Ok(b)
    }

    fn hosts_of(b: &Builder, group: &str) -> Vec<String> {
        b.groups[group].hosts.iter().cloned().collect()
    }

    #[test]
    fn groups_hosts_vars_children() {
        let b = parse_str(
            "all:\n  hosts:\n    solo:\n  vars:\n    region: eu\n  children:\n    web:\n      hosts:\n        web[1:2]:8022:\n          tier: front\n      vars:\n        http_port: 80\n        debug: yes\n    db:\n      hosts: db1\n      children:\n        replicas:\n          hosts:\n            r1: {ansible_host: 10.0.0.9}\nextra:\n  hosts:\n    solo:\n",
        )
        .unwrap();
        assert_eq!(hosts_of(&b, "all"), ["solo"]);
        assert_eq!(b.groups["all"].vars["region"], Value::from("eu"));
        assert_eq!(b.groups["all"].children, ["web", "db"]);
        assert_eq!(hosts_of(&b, "web"), ["web1", "web2"]);
        assert_eq!(b.hosts["web2"].vars["ansible_port"], Value::from(8022));
        assert_eq!(b.hosts["web2"].vars["tier"], Value::from("front"));
        assert_eq!(b.groups["web"].vars["http_port"], Value::from(80));
        assert_eq!(b.groups["web"].vars["debug"], Value::from(true));
        assert_eq!(hosts_of(&b, "db"), ["db1"]);
        assert_eq!(b.groups["db"].children, ["replicas"]);
        assert_eq!(b.hosts["r1"].vars["ansible_host"], Value::from("10.0.0.9"));
        assert_eq!(hosts_of(&b, "extra"), ["solo"]);
        let order: Vec<&String> = b.hosts.keys().collect();
        assert_eq!(order, ["solo", "web1", "web2", "db1", "r1"]);
    }

    #[test]
    fn error_messages() {
        let table: &[(&str, &str)] = &[
            (
                "all:\n  host:\n    a:\n",
                "inv.yml:2:3: unknown key `host` in group `all`\nhint: did you mean `hosts`? a group may only contain `hosts`, `vars` and `children`; list hosts under `hosts:` and child groups under `children:`",
            ),
            (
                "all:\n  children:\n    web:\n      chilren:\n",
                "inv.yml:4:7: unknown key `chilren` in group `web`\nhint: did you mean `children`? a group may only contain `hosts`, `vars` and `children`; list hosts under `hosts:` and child groups under `children:`",
            ),
            (
                "web:\n  web1:\n",
                "inv.yml:2:3: unknown key `web1` in group `web`\nhint: a group may only contain `hosts`, `vars` and `children`; list hosts under `hosts:` and child groups under `children:`",
            ),
            (
                "all:\n  hosts:\n    - a\n    - b\n",
                "inv.yml:3:5: `hosts` of group `all` must be a mapping, got a list\nhint: write each host as a key ending in `:`, e.g. `hosts: {web1: {}, web2: {}}`",
            ),
            (
                "all:\n  hosts:\n    a: 10.0.0.1\n",
                "inv.yml:3:8: variables of host `a` must be a mapping, got a string\nhint: write `a: {ansible_host: ...}`, or `a:` with nothing after it",
            ),
            ("- a\n", "inv.yml:1:1: a YAML inventory must be a mapping of group names, got a list\nhint: start with `all:` and list hosts under `hosts:`"),
            ("all:\n  hosts:\n    w[1:]:\n", "inv.yml:3:5: host range `[1:]` must specify an end value"),
            ("all:\n  vars: [1]\n", "inv.yml:2:9: `vars` of group `all` must be a mapping, got a list"),
            (
                "plugin: aws_ec2\n",
                "inv.yml:1:1: inventory plugin configuration files are not supported\nhint: drover reads static INI and YAML inventories; list hosts under `all: {hosts: ...}`",
            ),
        ];
        for (text, want) in table {
            let err = parse_str(text).err().map(|e| e.to_string());
            assert_eq!(err.as_deref(), Some(*want), "input {text:?}");
        }
    }
}
