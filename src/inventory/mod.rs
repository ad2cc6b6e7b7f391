//! The inventory: hosts and groups loaded from INI/YAML files, directories and host lists,
//! with `group_vars/` and `host_vars/` merged in Ansible's precedence. Each format, the vars
//! directories, host patterns and `ansible-inventory`-style output live in the submodules.

mod hostname;
mod ini;
mod literal;
mod pattern;
pub mod render;
mod runtime;
mod vars_dirs;
mod yaml;

pub use render::{graph, graph_with_vars, host_json, list_json};

use anyhow::{anyhow, bail, Context, Result};
use indexmap::{IndexMap, IndexSet};
use minijinja::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Names Ansible treats as the control machine: a pattern naming one of them that the
/// inventory lacks selects an implicit local host.
pub const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Hosts and groups of all inventory sources, in the order they were first defined.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// The implicit local hosts (`localhost`, `127.0.0.1`, `::1`; only names the inventory
    /// does not define): `ansible_connection=local`, the `all` group's variables and their
    /// own host_vars. They are in no group, not even `all`; see [`Inventory::get_host`].
    pub implicit_hosts: IndexMap<String, Host>,
    /// The directories whose `group_vars/` apply (inventory directories, then playbook
    /// directories), for groups made while a play runs.
    pub var_dirs: Vec<PathBuf>,
    /// Per host, the variables it sets at host level (inline, `host_vars/`, `add_host`):
    /// group variables joined at run time do not override them.
    pub host_keys: HashMap<String, HashSet<String>>,
}

/// One inventory host with its variables resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    /// Host-level variables fully merged in Ansible's precedence among inventory sources
    /// (low→high): group vars from inventory files (`all` first, then by group depth, then group name),
    /// inventory-dir group_vars/all, playbook-dir group_vars/all, inventory-dir group_vars/<g>,
    /// playbook-dir group_vars/<g> (same depth/name order), host vars inline in the inventory, inventory-dir host_vars/<h>, playbook-dir host_vars/<h>.
    /// Maps are replaced, not merged (Ansible's default hash_behaviour=replace).
    /// Like Ansible, also holds `inventory_file` and `inventory_dir` (the absolute path of the
    /// file that first defined the host and its directory; none for `-i host1,host2`).
    pub vars: IndexMap<String, Value>,
    /// `group_names`: every group the host is in, directly or through children, sorted, without `all`.
    pub groups: Vec<String>,
}

/// One group. `vars` are the group's own variables: inventory-file vars, then
/// inventory-dir group_vars/<name>, then playbook-dir group_vars/<name>.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub name: String,
    /// Direct members, in the order they were added.
    pub hosts: Vec<String>,
    /// Direct child groups; `all` also lists every group that has no other parent.
    pub children: Vec<String>,
    pub vars: IndexMap<String, Value>,
}

impl Inventory {
    /// `sources`: each `-i` value: an INI or YAML file, a directory (load every file in it, skipping
    /// hidden/backup files, *.retry, *.md, and the group_vars/host_vars dirs; group_vars/host_vars of that dir apply),
    /// or a comma-separated host list like `host1,host2,` / `localhost,`.
    /// `playbook_dirs`: directories whose group_vars/ and host_vars/ also apply (ranked above the inventory's).
    pub fn load(sources: &[String], playbook_dirs: &[PathBuf]) -> Result<Inventory> {
        let mut b = Builder::new();
        let mut inventory_dirs = Vec::new();
        for source in sources.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let path = Path::new(source);
            if source.contains(',') && !path.exists() {
                b.add_host_list(source);
                continue;
            }
            if !path.exists() {
                bail!(
                    "inventory source `{source}` does not exist\nhint: pass an inventory file, a directory, or a comma-separated host list such as `web1,` (note the trailing comma)"
                );
            }
            let abs = std::path::absolute(path)
                .with_context(|| format!("resolving inventory source `{source}`"))?;
            if abs.is_dir() {
                load_dir(&abs, &mut b)?;
                inventory_dirs.push(abs);
            } else {
                load_file(&abs, &mut b)?;
                inventory_dirs.push(abs.parent().map(Path::to_path_buf).unwrap_or_default());
            }
        }
        let playbook_dirs: Vec<PathBuf> = playbook_dirs
            .iter()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .collect();
        b.reconcile()?;
        b.finish(&inventory_dirs, &playbook_dirs)
    }

    /// An inventory from INI text (`format` "ini") or YAML text ("yaml"), with no files around
    /// it: the entry point of the loader fuzz targets.
    pub fn from_text(text: &str, format: &str) -> Result<Inventory> {
        let mut b = Builder::new();
        match format {
            "ini" => ini::parse(text, Path::new("inventory.ini"), &mut b)?,
            _ => {
                let docs = crate::yaml::load_str(text, Path::new("inventory.yml"))?;
                yaml::parse(&docs, &mut b)?;
            }
        }
        b.reconcile()?;
        b.finish(&[], &[])
    }

    /// An inventory with only the implicit `localhost` (ansible_connection=local) used when no -i is given and no default exists.
    /// (`load(&[], playbook_dirs)` gives the same with playbook-dir vars applied.)
    pub fn implicit_localhost() -> Inventory {
        let mut b = Builder::new();
        // Nothing is read from disk here, so this cannot fail.
        b.reconcile()
            .and_then(|()| b.finish(&[], &[]))
            .unwrap_or_default()
    }

    /// All hosts of a group including descendants, in inventory order.
    pub fn group_hosts(&self, group: &str) -> Vec<&str> {
        if !self.groups.contains_key(group) {
            return Vec::new();
        }
        let mut seen_groups = HashSet::new();
        let mut stack = vec![group];
        let mut members = HashSet::new();
        while let Some(g) = stack.pop() {
            if !seen_groups.insert(g) {
                continue;
            }
            if let Some(grp) = self.groups.get(g) {
                members.extend(grp.hosts.iter().map(String::as_str));
                stack.extend(grp.children.iter().map(String::as_str));
            }
        }
        self.hosts
            .keys()
            .map(String::as_str)
            .filter(|h| members.contains(h))
            .collect()
    }

    /// A host by name: an inventory host, or one of the implicit local hosts.
    pub fn get_host(&self, name: &str) -> Option<Cow<'_, Host>> {
        self.hosts
            .get(name)
            .or_else(|| self.implicit_hosts.get(name))
            .map(Cow::Borrowed)
    }
}

/// Files and directories a directory source skips, as Ansible's default ignore lists do.
fn ignored_entry(name: &str) -> bool {
    const EXTS: [&str; 12] = [
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || EXTS.iter().any(|e| name.ends_with(e))
}

fn load_dir(dir: &Path, b: &mut Builder) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading inventory directory `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if ignored_entry(&name) {
            continue;
        }
        if path.is_dir() {
            load_dir(&path, b)?;
        } else {
            load_file(&path, b)?;
        }
    }
    Ok(())
}

fn is_executable_script(path: &Path, text: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let exec = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    exec && text.starts_with("#!")
}

/// Parses one inventory file: `.yml`/`.yaml`/`.json` as YAML, `.ini` as INI, anything else
/// as YAML when it reads as a YAML mapping and as INI otherwise.
fn load_file(path: &Path, b: &mut Builder) -> Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading inventory `{}`", path.display()))?;
    // A vault-encrypted inventory is decrypted in memory, as Ansible does.
    let bytes = if crate::vault::is_encrypted(&bytes) {
        crate::vault::decrypt(&bytes)
            .map_err(|e| anyhow!("{}:1:1: {}", path.display(), e.report()))?
    } else {
        bytes
    };
    let text = crate::yaml::utf8_text(bytes, path)?;
    if is_executable_script(path, &text) {
        bail!(
            "{}: executable inventory scripts are not supported\nhint: write the inventory as an INI or YAML file, or remove the execute bit if this is one",
            path.display()
        );
    }
    b.source = Some(path.to_path_buf());
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let result = match ext.as_str() {
        "yml" | "yaml" | "json" => {
            let docs = crate::yaml::load_str(&text, path)?;
            yaml::parse(&docs, b)
        }
        "ini" => ini::parse(&text, path, b),
        _ => match crate::yaml::load_str(&text, path) {
            Ok(docs) if docs.first().is_some_and(|d| d.as_map().is_some()) => yaml::parse(&docs, b),
            Ok(_) => ini::parse(&text, path, b),
            Err(yaml_err) => match ini::parse(&text, path, b) {
                Ok(()) => Ok(()),
                Err(_) if looks_like_yaml(&text) => Err(yaml_err),
                Err(ini_err) => Err(ini_err),
            },
        },
    };
    b.source = None;
    result
}

/// Whether text that is neither valid YAML nor valid INI was probably meant as YAML.
fn looks_like_yaml(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    first.is_some_and(|l| l == "---" || l.ends_with(':') || l.contains(": "))
}

/// Inventory data while sources are read; `finish` turns it into an [`Inventory`].
pub(crate) struct Builder {
    hosts: IndexMap<String, BuildHost>,
    groups: IndexMap<String, BuildGroup>,
    /// The file being read, recorded as `inventory_file` of hosts it defines first.
    source: Option<PathBuf>,
}

struct BuildHost {
    vars: IndexMap<String, Value>,
}

#[derive(Default)]
struct BuildGroup {
    hosts: IndexSet<String>,
    children: Vec<String>,
    parents: Vec<String>,
    vars: IndexMap<String, Value>,
    priority: i64,
}

impl Builder {
    fn new() -> Builder {
        let mut b = Builder {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            source: None,
        };
        b.add_group("all");
        b.add_group("ungrouped");
        b
    }

    fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(
                name.to_string(),
                BuildGroup {
                    priority: 1,
                    ..BuildGroup::default()
                },
            );
        }
    }

    /// Adds a host (once) and makes it a direct member of `group`; `port` sets `ansible_port`.
    fn add_host(&mut self, name: &str, group: &str, port: Option<i64>) {
        if !self.hosts.contains_key(name) {
            let mut vars = IndexMap::new();
            let (file, dir) = match &self.source {
                Some(p) => (
                    Value::from(p.display().to_string()),
                    Value::from(p.parent().unwrap_or(p).display().to_string()),
                ),
                None => (Value::from(()), Value::from(())),
            };
            vars.insert("inventory_file".to_string(), file);
            vars.insert("inventory_dir".to_string(), dir);
            self.hosts.insert(name.to_string(), BuildHost { vars });
        }
        if let Some(port) = port {
            self.set_host_var(name, "ansible_port", Value::from(port));
        }
        self.add_group(group);
        if let Some(g) = self.groups.get_mut(group) {
            g.hosts.insert(name.to_string());
        }
    }

    fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    /// Sets a group variable from an inventory file; `ansible_group_priority` sets the
    /// group's sort priority instead, as in Ansible.
    fn set_group_var(&mut self, group: &str, key: &str, value: Value) -> Result<(), String> {
        self.add_group(group);
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(());
        };
        if key == "ansible_group_priority" {
            let n = i64::try_from(value.clone())
                .ok()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
            match n {
                Some(n) => g.priority = n,
                None => {
                    return Err(format!(
                        "`ansible_group_priority` must be an integer, got `{value}`"
                    ))
                }
            }
        } else {
            g.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    /// Whether `ancestor` is `group` or reachable from it through parents.
    fn is_ancestor(&self, ancestor: &str, group: &str) -> bool {
        let mut stack = vec![group.to_string()];
        let mut seen = HashSet::new();
        while let Some(g) = stack.pop() {
            if g == ancestor {
                return true;
            }
            if seen.insert(g.clone()) {
                if let Some(grp) = self.groups.get(&g) {
                    stack.extend(grp.parents.iter().cloned());
                }
            }
        }
        false
    }

    /// Makes `child` a child group of `parent`, creating either if needed.
    fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if child == "all" {
            return Err(format!("group `all` cannot be a child of `{parent}`"));
        }
        if self.is_ancestor(child, parent) {
            return Err(format!(
                "adding group `{child}` as a child of `{parent}` creates a loop"
            ));
        }
        self.add_group(parent);
        self.add_group(child);
        if let Some(p) = self.groups.get_mut(parent) {
            if !p.children.iter().any(|c| c == child) {
                p.children.push(child.to_string());
            }
        }
        if let Some(c) = self.groups.get_mut(child) {
            if !c.parents.iter().any(|p| p == parent) {
                c.parents.push(parent.to_string());
            }
        }
        Ok(())
    }

    /// A `-i host1,host2:2222,` source: each name becomes an ungrouped host.
    fn add_host_list(&mut self, list: &str) {
        let previous = self.source.take();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, port) =
                hostname::parse_address(item, false).unwrap_or_else(|| (item.to_string(), None));
            if !self.hosts.contains_key(&name) {
                self.add_host(&name, "ungrouped", port);
            }
        }
        self.source = previous;
    }

    /// Ansible's `reconcile_inventory`: parentless groups become children of `all`, and
    /// `ungrouped` holds exactly the hosts that are in no other group.
    fn reconcile(&mut self) -> Result<()> {
        let orphans: Vec<String> = self
            .groups
            .iter()
            .filter(|(name, g)| name.as_str() != "all" && g.parents.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for g in orphans {
            self.add_child("all", &g).map_err(|e| anyhow!("{e}"))?;
        }
        let mut direct: HashMap<&str, Vec<&str>> = HashMap::new();
        for (gname, g) in &self.groups {
            for h in &g.hosts {
                direct.entry(h.as_str()).or_default().push(gname.as_str());
            }
        }
        let mut remove = HashSet::new();
        let mut add = Vec::new();
        for name in self.hosts.keys() {
            let groups = direct.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let others = groups.iter().any(|g| *g != "all" && *g != "ungrouped");
            if groups.contains(&"ungrouped") {
                if others {
                    remove.insert(name.clone());
                }
            } else if !others {
                add.push(name.clone());
            }
        }
        if let Some(ungrouped) = self.groups.get_mut("ungrouped") {
            ungrouped.hosts.retain(|h| !remove.contains(h));
            ungrouped.hosts.extend(add);
        }
        Ok(())
    }

    /// Longest path from `all` to each group, Ansible's group depth.
    fn depths(&self) -> HashMap<String, usize> {
        fn depth(b: &Builder, g: &str, memo: &mut HashMap<String, usize>) -> usize {
            if let Some(d) = memo.get(g) {
                return *d;
            }
            let parents = b
                .groups
                .get(g)
                .map(|x| x.parents.clone())
                .unwrap_or_default();
            let d = parents
                .iter()
                .map(|p| depth(b, p, memo) + 1)
                .max()
                .unwrap_or(0);
            memo.insert(g.to_string(), d);
            d
        }
        let mut memo = HashMap::new();
        for g in self.groups.keys() {
            depth(self, g, &mut memo);
        }
        memo
    }

    /// Every ancestor group of the groups a host is directly in (including those groups).
    fn host_groups(&self, host: &str, direct: &HashMap<&str, Vec<&str>>) -> IndexSet<String> {
        let mut out = IndexSet::new();
        let mut stack: Vec<String> = direct
            .get(host)
            .map(|gs| gs.iter().map(|g| g.to_string()).collect())
            .unwrap_or_default();
        while let Some(g) = stack.pop() {
            if out.insert(g.clone()) {
                if let Some(grp) = self.groups.get(&g) {
                    stack.extend(grp.parents.iter().cloned());
                }
            }
        }
        out
    }

    /// Resolves every host's variables (see [`Host::vars`]) and builds the inventory.
    fn finish(&self, inventory_dirs: &[PathBuf], playbook_dirs: &[PathBuf]) -> Result<Inventory> {
        let dirs: Vec<&PathBuf> = inventory_dirs.iter().chain(playbook_dirs).collect();
        // group_vars per directory (inventory dirs first), loaded once per group.
        let mut group_files: Vec<HashMap<&str, IndexMap<String, Value>>> = Vec::new();
        for dir in &dirs {
            let mut per_group = HashMap::new();
            for g in self.groups.keys() {
                if let Some(vars) = vars_dirs::load_entity_vars(dir, vars_dirs::Kind::Group, g)? {
                    per_group.insert(g.as_str(), vars);
                }
            }
            group_files.push(per_group);
        }
        let depths = self.depths();
        let sort_key = |g: &str| {
            let depth = depths.get(g).copied().unwrap_or(0);
            let priority = self.groups.get(g).map_or(1, |x| x.priority);
            (depth, priority, g.to_string())
        };
        let all_vars = self
            .groups
            .get("all")
            .map(|g| g.vars.clone())
            .unwrap_or_default();
        let group_chain = |sorted: &[String]| -> IndexMap<String, Value> {
            let mut vars = all_vars.clone();
            for g in sorted {
                if let Some(grp) = self.groups.get(g) {
                    extend(&mut vars, &grp.vars);
                }
            }
            for per_group in &group_files {
                if let Some(v) = per_group.get("all") {
                    extend(&mut vars, v);
                }
            }
            for per_group in &group_files {
                for g in sorted {
                    if let Some(v) = per_group.get(g.as_str()) {
                        extend(&mut vars, v);
                    }
                }
            }
            vars
        };
        let host_files = |name: &str| -> Result<Vec<IndexMap<String, Value>>> {
            let mut out = Vec::new();
            for dir in &dirs {
                if let Some(v) = vars_dirs::load_entity_vars(dir, vars_dirs::Kind::Host, name)? {
                    out.push(v);
                }
            }
            Ok(out)
        };

        let mut direct: HashMap<&str, Vec<&str>> = HashMap::new();
        for (gname, g) in &self.groups {
            for h in &g.hosts {
                direct.entry(h.as_str()).or_default().push(gname.as_str());
            }
        }
        let mut hosts = IndexMap::new();
        let mut host_keys = HashMap::new();
        for (name, h) in &self.hosts {
            let groups = self.host_groups(name, &direct);
            let mut sorted: Vec<String> = groups.iter().filter(|g| *g != "all").cloned().collect();
            sorted.sort_by_key(|g| sort_key(g));
            let mut vars = group_chain(&sorted);
            extend(&mut vars, &h.vars);
            let mut own: HashSet<String> = h.vars.keys().cloned().collect();
            for v in host_files(name)? {
                own.extend(v.keys().cloned());
                extend(&mut vars, &v);
            }
            host_keys.insert(name.clone(), own);
            let mut group_names: Vec<String> = sorted;
            group_names.sort();
            hosts.insert(
                name.clone(),
                Host {
                    name: name.clone(),
                    vars,
                    groups: group_names,
                },
            );
        }

        let mut implicit_hosts = IndexMap::new();
        for name in LOCALHOST_NAMES {
            if self.hosts.contains_key(name) {
                continue;
            }
            let mut vars = group_chain(&[]);
            vars.insert("ansible_connection".to_string(), Value::from("local"));
            // As Ansible gives its implicit localhost the controller's Python.
            if let Some(py) = controller_python() {
                vars.insert("ansible_python_interpreter".to_string(), Value::from(py));
            }
            for v in host_files(name)? {
                extend(&mut vars, &v);
            }
            implicit_hosts.insert(
                name.to_string(),
                Host {
                    name: name.to_string(),
                    vars,
                    groups: Vec::new(),
                },
            );
        }

        let mut groups = IndexMap::new();
        for (name, g) in &self.groups {
            let mut vars = g.vars.clone();
            for per_group in &group_files {
                if let Some(v) = per_group.get(name.as_str()) {
                    extend(&mut vars, v);
                }
            }
            groups.insert(
                name.clone(),
                Group {
                    name: name.clone(),
                    hosts: g.hosts.iter().cloned().collect(),
                    children: g.children.clone(),
                    vars,
                },
            );
        }
        Ok(Inventory {
            hosts,
            groups,
            implicit_hosts,
            var_dirs: dirs.into_iter().cloned().collect(),
            host_keys,
        })
    }
}

/// Ansible's `combine_vars` with `hash_behaviour=replace`: later keys win, maps are replaced.
fn extend(into: &mut IndexMap<String, Value>, from: &IndexMap<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

/// The `python3` (or `python`) on the controller's `PATH`, if any.
fn controller_python() -> Option<&'static str> {
    static PY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let path = std::env::var_os("PATH")?;
        ["python3", "python"].iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .map(|p| p.display().to_string())
        })
    })
    .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rel: &str) -> String {
        format!(
            "{}/src/inventory/testdata/{rel}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn s(v: &str) -> Value {
        Value::from(v)
    }

    #[test]
    fn precedence_each_level_wins_over_the_one_below() {
        let inv = Inventory::load(
            &[data("precedence/inventory/hosts.ini")],
            &[PathBuf::from(data("precedence/playbook"))],
        )
        .unwrap();
        let vars = &inv.hosts["web1"].vars;
        let levels = [
            "inventory file [all:vars]",
            "inventory file [prod:vars] (depth 1)",
            "inventory file [web:vars] (depth 2)",
            "inventory group_vars/all",
            "playbook group_vars/all",
            "inventory group_vars/prod",
            "inventory group_vars/web/ (directory)",
            "playbook group_vars/prod",
            "playbook group_vars/web",
            "inline host vars",
            "inventory host_vars/web1",
            "playbook host_vars/web1",
        ];
        for (i, level) in levels.iter().enumerate() {
            let n = i + 1;
            assert_eq!(
                vars[format!("lvl{n}").as_str()],
                s(&format!("L{n}")),
                "level {n}: {level}"
            );
        }
        assert_eq!(vars["from_dir"], s("base"));
        // Maps are replaced, not merged.
        let z_only: IndexMap<Value, Value> = [(s("z"), Value::from(3))].into_iter().collect();
        assert_eq!(vars["a_map"], Value::from_object(z_only));
        // web2 has no host vars: the group levels decide.
        let web2 = &inv.hosts["web2"].vars;
        assert_eq!(web2["lvl12"], s("L9"));
        assert_eq!(web2["lvl5"], s("L5"));
        assert_eq!(inv.hosts["web1"].groups, ["prod", "web"]);
        // Group vars include both vars directories, playbook last.
        assert_eq!(inv.groups["web"].vars["lvl12"], s("L9"));
        assert_eq!(inv.groups["web"].vars["lvl3"], s("L3"));
        // The implicit localhost gets `all` vars and its own host_vars.
        let local = inv.get_host("localhost").unwrap();
        assert_eq!(local.vars["lvl12"], s("L5"));
        assert_eq!(local.vars["pb_local"], Value::from(true));
        assert_eq!(local.vars["ansible_connection"], s("local"));
        // Without playbook dirs, the inventory's own levels win.
        let inv = Inventory::load(&[data("precedence/inventory/hosts.ini")], &[]).unwrap();
        let vars = &inv.hosts["web1"].vars;
        assert_eq!(vars["lvl12"], s("L11"));
        assert_eq!(vars["lvl9"], s("L7"));
        assert_eq!(vars["lvl5"], s("L4"));
    }

    #[test]
    fn group_order_depth_name_priority() {
        let inv = Inventory::load(&[data("order.ini")], &[]).unwrap();
        let h = &inv.hosts["h1"];
        assert_eq!(h.vars["depth_vs_name"], s("web"));
        assert_eq!(h.vars["same_depth"], s("zzz"));
        assert_eq!(h.vars["prio"], s("hi_prio"));
        assert!(!h.vars.contains_key("ansible_group_priority"));
        assert_eq!(h.groups, ["aaa", "hi_prio", "web", "zparent", "zzz"]);
    }

    #[test]
    fn directory_source_skips_and_orders() {
        let dir = data("multi");
        let inv = Inventory::load(std::slice::from_ref(&dir), &[]).unwrap();
        let hosts: Vec<&String> = inv.hosts.keys().collect();
        assert_eq!(hosts, ["early", "app1", "app2", "cache1"]);
        assert_eq!(inv.groups["app"].hosts, ["app1", "early", "app2"]);
        assert!(inv.groups["ungrouped"].hosts.is_empty());
        assert_eq!(inv.hosts["early"].groups, ["app"]);
        assert_eq!(inv.hosts["early"].vars["ansible_host"], s("192.0.2.1"));
        assert_eq!(inv.hosts["app2"].vars["ansible_user"], s("deploy"));
        assert_eq!(inv.hosts["app2"].vars["app_port"], Value::from(8080));
        assert!(!inv.hosts["cache1"].vars.contains_key("app_port"));
        assert_eq!(
            inv.hosts["cache1"].vars["inventory_file"],
            s(&format!("{dir}/sub/03-nested"))
        );
        assert_eq!(
            inv.hosts["cache1"].vars["inventory_dir"],
            s(&format!("{dir}/sub"))
        );
        // 02-more.yml names `app` under `all` while parsing; the others are attached afterwards.
        assert_eq!(inv.groups["all"].children, ["app", "ungrouped", "cache"]);
        assert_eq!(inv.group_hosts("all"), ["early", "app1", "app2", "cache1"]);
    }

    #[test]
    fn host_lists_and_format_detection() {
        let inv = Inventory::load(&["web1,db1:2222, ,[::1]:2200,".to_string()], &[]).unwrap();
        let hosts: Vec<&String> = inv.hosts.keys().collect();
        assert_eq!(hosts, ["web1", "db1", "::1"]);
        assert_eq!(inv.groups["ungrouped"].hosts, ["web1", "db1", "::1"]);
        assert_eq!(inv.hosts["db1"].vars["ansible_port"], Value::from(2222));
        assert_eq!(inv.hosts["::1"].vars["ansible_port"], Value::from(2200));
        assert_eq!(inv.hosts["web1"].vars["inventory_file"], Value::from(()));
        assert_eq!(inv.hosts["web1"].groups, ["ungrouped"]);
        assert!(!inv.implicit_hosts.contains_key("::1"));

        let yaml = Inventory::load(&[data("yaml_noext")], &[]).unwrap();
        assert_eq!(yaml.hosts["y1"].vars["answer"], Value::from(42));

        let both = Inventory::load(&[data("yaml_noext"), "extra,".to_string()], &[]).unwrap();
        let hosts: Vec<&String> = both.hosts.keys().collect();
        assert_eq!(hosts, ["y1", "extra"]);
    }

    #[test]
    fn ungrouped_reconciliation_and_group_hosts() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("hosts");
        std::fs::write(
            &file,
            "early\nalone\n[web]\nearly\n[app:children]\nweb\nworker\n[worker]\nw1\n",
        )
        .unwrap();
        let inv = Inventory::load(&[file.display().to_string()], &[]).unwrap();
        assert_eq!(inv.groups["ungrouped"].hosts, ["alone"]);
        assert_eq!(inv.group_hosts("app"), ["early", "w1"]);
        assert_eq!(inv.group_hosts("nope"), Vec::<&str>::new());
        assert_eq!(inv.groups["all"].children, ["ungrouped", "app"]);
        assert_eq!(inv.hosts["w1"].groups, ["app", "worker"]);
        assert_eq!(inv.hosts["alone"].groups, ["ungrouped"]);
    }

    #[test]
    fn load_errors() {
        let err = Inventory::load(&["/nonexistent/hosts".to_string()], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "inventory source `/nonexistent/hosts` does not exist\nhint: pass an inventory file, a directory, or a comma-separated host list such as `web1,` (note the trailing comma)"
        );
        let bad = data("bad_yaml_noext");
        let err = Inventory::load(std::slice::from_ref(&bad), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{bad}:4:1: YAML syntax error")),
            "{err}"
        );

        let tmp = tempfile::tempdir().unwrap();
        let script = tmp.path().join("inv.py");
        std::fs::write(&script, "#!/usr/bin/env python3\nprint('{}')\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Inventory::load(&[script.display().to_string()], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: executable inventory scripts are not supported\nhint: write the inventory as an INI or YAML file, or remove the execute bit if this is one",
                script.display()
            )
        );

        let cyclic = tmp.path().join("cyclic.yml");
        std::fs::write(
            &cyclic,
            "a:\n  children:\n    b:\n      children:\n        a:\n",
        )
        .unwrap();
        let err = Inventory::load(&[cyclic.display().to_string()], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3:5: adding group `b` as a child of `a` creates a loop",
                cyclic.display()
            )
        );

        let gv = tmp.path().join("gv");
        std::fs::create_dir_all(gv.join("group_vars")).unwrap();
        std::fs::write(gv.join("hosts.ini"), "h1\n").unwrap();
        std::fs::write(gv.join("group_vars/all.yml"), "just a string\n").unwrap();
        let err = Inventory::load(&[gv.display().to_string()], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1:1: a vars file must be a mapping of variable names to values, got a string\nhint: write one `name: value` per line",
                gv.join("group_vars/all.yml").display()
            )
        );
    }
}
