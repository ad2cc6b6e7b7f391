//! Changes a play makes to the inventory while it runs: `group_by` puts a host into a group
//! (made on first use, with parent groups), `add_host` adds a host (with groups and
//! variables). Later tasks see them in `groups`/`group_names`, later plays in their patterns.
//! A group made at run time takes its `group_vars/` files, and a host that joins a group takes
//! the group's variables over its other group variables (never over its host variables).

use super::{Group, Host, Inventory};
use indexmap::IndexMap;
use minijinja::Value;

impl Inventory {
    /// Makes `group` (a child of `all`, or of each of `parents`) if it does not exist; true
    /// when a parent group was made or linked.
    fn ensure_group(&mut self, group: &str, parents: &[String]) -> bool {
        let mut changed = false;
        if !self.groups.contains_key(group) {
            let mut vars = IndexMap::new();
            for dir in &self.var_dirs {
                match super::vars_dirs::load_entity_vars(dir, super::vars_dirs::Kind::Group, group)
                {
                    Ok(Some(v)) => vars.extend(v),
                    Ok(None) => {}
                    Err(e) => crate::output::eprintln_above(&format!(
                        "[WARNING]: the variables of group `{group}` were not loaded: {e:#}"
                    )),
                }
            }
            self.groups.insert(
                group.to_string(),
                Group {
                    name: group.to_string(),
                    vars,
                    ..Group::default()
                },
            );
            if parents.is_empty() {
                if let Some(all) = self.groups.get_mut("all") {
                    all.children.push(group.to_string());
                }
            }
        }
        for p in parents {
            changed |= !self.groups.contains_key(p);
            self.ensure_group(p, &[]);
            if let Some(pg) = self.groups.get_mut(p) {
                if !pg.children.iter().any(|c| c == group) {
                    pg.children.push(group.to_string());
                    changed = true;
                }
            }
        }
        changed
    }

    /// `group_by`: host `host` joins `group` (and through it, `parents`); true when that
    /// changed the inventory (Ansible's `changed`).
    pub fn add_to_group(&mut self, host: &str, group: &str, parents: &[String]) -> bool {
        let before = self
            .hosts
            .get(host)
            .map(|h| h.groups.clone())
            .unwrap_or_default();
        let changed = self.join_group(host, group, parents);
        self.take_group_vars(host, &before);
        changed
    }

    fn join_group(&mut self, host: &str, group: &str, parents: &[String]) -> bool {
        let mut changed = self.ensure_group(group, parents);
        if let Some(g) = self.groups.get_mut(group) {
            if !g.hosts.iter().any(|h| h == host) {
                g.hosts.push(host.to_string());
                changed = true;
            }
        }
        self.refresh_group_names(host);
        changed
    }

    /// Gives `host` the variables of the groups it joined (`before`: its groups until now),
    /// outer groups first, except those it sets itself.
    fn take_group_vars(&mut self, host: &str, before: &[String]) {
        let Some(h) = self.hosts.get(host) else {
            return;
        };
        let mut joined: Vec<(usize, String)> = h
            .groups
            .iter()
            .filter(|g| !before.contains(g))
            .map(|g| (self.depth(g), g.clone()))
            .collect();
        joined.sort();
        let own = self.host_keys.get(host).cloned().unwrap_or_default();
        let mut add = IndexMap::new();
        for (_, g) in joined {
            if let Some(grp) = self.groups.get(&g) {
                add.extend(grp.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        if let Some(h) = self.hosts.get_mut(host) {
            for (k, v) in add {
                if !own.contains(&k) {
                    h.vars.insert(k, v);
                }
            }
        }
    }

    /// Ansible's group depth: the longest path down from `all`.
    fn depth(&self, group: &str) -> usize {
        fn walk(inv: &Inventory, g: &str, seen: &mut Vec<String>) -> usize {
            if seen.iter().any(|s| s == g) {
                return 0;
            }
            seen.push(g.to_string());
            let d = inv
                .groups
                .values()
                .filter(|p| p.children.iter().any(|c| c == g))
                .map(|p| walk(inv, &p.name, seen) + 1)
                .max()
                .unwrap_or(0);
            seen.pop();
            d
        }
        walk(self, group, &mut Vec::new())
    }

    /// `add_host`: the host (new, or one the inventory has) joins `groups` and gets `vars`
    /// over those it has. A new host takes the variables of `all` and of its groups.
    pub fn add_runtime_host(
        &mut self,
        name: &str,
        groups: &[String],
        vars: IndexMap<String, Value>,
    ) -> bool {
        let mut changed = false;
        if !self.hosts.contains_key(name) {
            changed = true;
            let mut base: IndexMap<String, Value> = IndexMap::new();
            for g in std::iter::once("all".to_string()).chain(groups.iter().cloned()) {
                if let Some(grp) = self.groups.get(&g) {
                    base.extend(grp.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            self.hosts.insert(
                name.to_string(),
                Host {
                    name: name.to_string(),
                    vars: base,
                    groups: Vec::new(),
                },
            );
            self.implicit_hosts.shift_remove(name);
            if let Some(all) = self.groups.get_mut("all") {
                all.hosts.push(name.to_string());
            }
        }
        let before = self
            .hosts
            .get(name)
            .map(|h| h.groups.clone())
            .unwrap_or_default();
        for g in groups {
            changed |= self.join_group(name, g, &[]);
        }
        self.take_group_vars(name, &before);
        let own = self.host_keys.entry(name.to_string()).or_default();
        own.extend(vars.keys().cloned());
        if let Some(h) = self.hosts.get_mut(name) {
            for (k, v) in vars {
                if h.vars.get(&k) != Some(&v) {
                    changed = true;
                    h.vars.insert(k, v);
                }
            }
        }
        self.refresh_group_names(name);
        changed
    }

    /// Recomputes a host's `group_names` (every group reaching it, sorted, without `all`); a
    /// host in some group is no longer `ungrouped`.
    fn refresh_group_names(&mut self, host: &str) {
        let in_other = self
            .groups
            .values()
            .any(|g| g.name != "all" && g.name != "ungrouped" && g.hosts.iter().any(|h| h == host));
        if in_other {
            if let Some(u) = self.groups.get_mut("ungrouped") {
                u.hosts.retain(|h| h != host);
            }
        }
        let mut names: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != "all")
            .filter(|g| self.group_hosts(g).contains(&host))
            .cloned()
            .collect();
        names.sort();
        if let Some(h) = self.hosts.get_mut(host) {
            h.groups = names;
        }
    }
}
