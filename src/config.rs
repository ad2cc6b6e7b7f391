//! Settings people keep in their repositories: `ansible.cfg` (found as Ansible finds it:
//! `$ANSIBLE_CONFIG`, `./ansible.cfg`, `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`; the first
//! that exists wins) and drover's own `drover.toml` (in the current directory; its keys, under
//! the same section names, win over `ansible.cfg`). Ansible's environment variables for the
//! same keys (`ANSIBLE_FORKS`, `ANSIBLE_HOST_KEY_CHECKING`, ...) win over both files, as in
//! Ansible; command-line options win over all.
//!
//! Understood: `[defaults]` inventory, remote_user, forks, roles_path, host_key_checking,
//! private_key_file, vault_password_file, timeout, task_timeout, no_log, force_handlers,
//! fact_caching, fact_caching_connection, fact_caching_prefix, fact_caching_timeout,
//! allow_broken_conditionals;
//! `[privilege_escalation]`
//! become, become_user, become_method; `[ssh_connection]` ssh_config (the OpenSSH client
//! configuration drover reads instead of `~/.ssh/config`; `none` for none); pipelining,
//! ssh_args, control_path... are accepted and ignored (drover keeps one session per host
//! anyway). Other keys are ignored, as Ansible ignores keys it does not know.

use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};

/// What the configuration files say (each `None` when they do not say it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileConfig {
    /// The file(s) read, for messages.
    pub sources: Vec<PathBuf>,
    pub inventory: Vec<String>,
    pub remote_user: Option<String>,
    pub forks: Option<usize>,
    pub roles_path: Vec<PathBuf>,
    pub host_key_checking: Option<bool>,
    pub private_key_file: Option<PathBuf>,
    pub vault_password_file: Option<PathBuf>,
    pub timeout: Option<u64>,
    /// `task_timeout`: the default time limit of a task in seconds (0: none).
    pub task_timeout: Option<u64>,
    /// `[defaults] no_log`: censor every task's result.
    pub no_log: Option<bool>,
    /// `[defaults] force_handlers`: notified handlers run even on hosts that failed.
    pub force_handlers: Option<bool>,
    /// `[defaults] error_on_missing_handler`: a notification no handler answers fails the run
    /// (default) or only warns.
    pub error_on_missing_handler: Option<bool>,
    /// `[defaults] gathering`: implicit, explicit or smart.
    pub gathering: Option<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// `[ssh_connection] ssh_config`: the OpenSSH client configuration to read (`none`: none).
    pub ssh_config: Option<PathBuf>,
    /// `[defaults] fact_caching` (the cache plugin), `fact_caching_connection`,
    /// `fact_caching_prefix`, `fact_caching_timeout`.
    pub fact_caching: Option<String>,
    pub fact_caching_connection: Option<String>,
    pub fact_caching_prefix: Option<String>,
    pub fact_caching_timeout: Option<u64>,
    /// `[defaults] allow_broken_conditionals`: a non-boolean conditional is taken for its
    /// truth instead of failing.
    pub allow_broken_conditionals: Option<bool>,
}

/// The `ansible.cfg` Ansible would read here, if any.
pub fn find_ansible_cfg() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ANSIBLE_CONFIG") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut candidates = vec![PathBuf::from("ansible.cfg")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".ansible.cfg"));
    }
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    candidates.into_iter().find(|p| p.is_file())
}

/// Reads `ansible.cfg` and `drover.toml` as found from the current directory.
pub fn load() -> Result<FileConfig> {
    let mut cfg = FileConfig::default();
    if let Some(p) = find_ansible_cfg() {
        let text =
            std::fs::read_to_string(&p).map_err(|e| anyhow!("reading `{}`: {e}", p.display()))?;
        let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
        apply(&mut cfg, &parse_ini(&text, &p)?, &base, &p)?;
        cfg.sources.push(p);
    }
    let toml_path = PathBuf::from("drover.toml");
    if toml_path.is_file() {
        let text = std::fs::read_to_string(&toml_path)
            .map_err(|e| anyhow!("reading `drover.toml`: {e}"))?;
        apply(
            &mut cfg,
            &parse_toml(&text, &toml_path)?,
            Path::new("."),
            &toml_path,
        )?;
        cfg.sources.push(toml_path);
    }
    let env = env_entries(|k| std::env::var(k).ok());
    if !env.is_empty() {
        apply(&mut cfg, &env, Path::new("."), Path::new("<environment>"))?;
    }
    Ok(cfg)
}

/// Ansible's environment variables for the keys drover reads: (variable, section, key).
const ENV_KEYS: &[(&str, &str, &str)] = &[
    ("ANSIBLE_REMOTE_USER", "defaults", "remote_user"),
    ("ANSIBLE_FORKS", "defaults", "forks"),
    ("ANSIBLE_HOST_KEY_CHECKING", "defaults", "host_key_checking"),
    ("ANSIBLE_PRIVATE_KEY_FILE", "defaults", "private_key_file"),
    ("ANSIBLE_TIMEOUT", "defaults", "timeout"),
    ("ANSIBLE_TASK_TIMEOUT", "defaults", "task_timeout"),
    ("ANSIBLE_FORCE_HANDLERS", "defaults", "force_handlers"),
    (
        "ANSIBLE_ERROR_ON_MISSING_HANDLER",
        "defaults",
        "error_on_missing_handler",
    ),
    ("ANSIBLE_GATHERING", "defaults", "gathering"),
    ("ANSIBLE_CACHE_PLUGIN", "defaults", "fact_caching"),
    (
        "ANSIBLE_ALLOW_BROKEN_CONDITIONALS",
        "defaults",
        "allow_broken_conditionals",
    ),
    (
        "ANSIBLE_CACHE_PLUGIN_CONNECTION",
        "defaults",
        "fact_caching_connection",
    ),
    (
        "ANSIBLE_CACHE_PLUGIN_PREFIX",
        "defaults",
        "fact_caching_prefix",
    ),
    (
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT",
        "defaults",
        "fact_caching_timeout",
    ),
    ("ANSIBLE_BECOME", "privilege_escalation", "become"),
    ("ANSIBLE_BECOME_USER", "privilege_escalation", "become_user"),
    (
        "ANSIBLE_BECOME_METHOD",
        "privilege_escalation",
        "become_method",
    ),
];

/// The configuration entries the environment sets (empty values are unset, as in Ansible).
fn env_entries(get: impl Fn(&str) -> Option<String>) -> Entries {
    ENV_KEYS
        .iter()
        .filter_map(|(var, section, key)| {
            get(var)
                .filter(|v| !v.is_empty())
                .map(|v| (section.to_string(), key.to_string(), v, 0))
        })
        .collect()
}

/// (section, key, value, line) entries of a file.
type Entries = Vec<(String, String, String, usize)>;

/// Python's configparser dialect as Ansible uses it: `[section]`, `key = value` or
/// `key: value`, `#`/`;` comment lines, indented continuation lines.
pub fn parse_ini(text: &str, path: &Path) -> Result<Entries> {
    let mut section = String::new();
    let mut out: Entries = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.2.push('\n');
                last.2.push_str(trimmed);
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                bail!(
                    "{}:{line_no}:1: unterminated section header `{trimmed}`\nhint: close it with `]`, e.g. `[defaults]`",
                    path.display()
                );
            };
            section = name.trim().to_string();
            continue;
        }
        let split = trimmed.find(['=', ':']).ok_or_else(|| {
            anyhow!(
                "{}:{line_no}:1: expected `key = value`, got `{trimmed}`",
                path.display()
            )
        })?;
        let key = trimmed[..split].trim().to_string();
        let mut value = trimmed[split + 1..].trim().to_string();
        // Inline comments after whitespace, as configparser's inline_comment_prefixes.
        if let Some(i) = value.find(" #").or_else(|| value.find(" ;")) {
            value.truncate(i);
            value = value.trim_end().to_string();
        }
        out.push((section.clone(), key, value, line_no));
    }
    Ok(out)
}

/// The TOML subset `drover.toml` uses: `[section]` tables of strings, numbers, booleans and
/// arrays of strings.
pub fn parse_toml(text: &str, path: &Path) -> Result<Entries> {
    let mut section = String::new();
    let mut out: Entries = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                bail!(
                    "{}:{line_no}:1: unterminated table header `{line}`",
                    path.display()
                );
            };
            section = name.trim().to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!(
                "{}:{line_no}:1: expected `key = value`, got `{line}`",
                path.display()
            );
        };
        let v = v.trim();
        let value = if let Some(items) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            items
                .split(',')
                .map(|i| toml_scalar(i.trim()))
                .filter(|i| !i.is_empty())
                .collect::<Vec<_>>()
                .join(":")
        } else {
            toml_scalar(v)
        };
        out.push((section.clone(), k.trim().to_string(), value, line_no));
    }
    Ok(out)
}

fn toml_scalar(v: &str) -> String {
    let v = v.split(" #").next().unwrap_or(v).trim();
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v)
        .to_string()
}

/// A boolean as Ansible's configuration spells it (`yes`, `on`, `1`, `false`...).
pub fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// Paths in a config file are relative to the file's directory, `~` is the home directory.
fn path_in(base: &Path, v: &str) -> PathBuf {
    if let Some(rest) = v.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    let p = Path::new(v);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn apply(cfg: &mut FileConfig, entries: &Entries, base: &Path, path: &Path) -> Result<()> {
    for (section, key, value, line) in entries {
        let bad = |what: &str| {
            anyhow!(
                "{}:{line}:1: `{key}` must be {what}, not `{value}`",
                path.display()
            )
        };
        match (section.as_str(), key.as_str()) {
            ("defaults", "inventory" | "hostfile") => {
                cfg.inventory = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| path_in(base, s).display().to_string())
                    .collect();
            }
            ("defaults", "remote_user") => cfg.remote_user = Some(value.clone()),
            ("defaults", "forks") => {
                cfg.forks = Some(value.parse().map_err(|_| bad("a number of hosts"))?)
            }
            ("defaults", "roles_path") => {
                cfg.roles_path = value
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(|s| path_in(base, s))
                    .collect();
            }
            ("defaults", "host_key_checking") => {
                cfg.host_key_checking = Some(boolean(value).ok_or_else(|| bad("a boolean"))?)
            }
            ("defaults", "private_key_file") => cfg.private_key_file = Some(path_in(base, value)),
            ("defaults", "vault_password_file") => {
                cfg.vault_password_file = Some(path_in(base, value))
            }
            ("defaults", "timeout") => {
                cfg.timeout = Some(value.parse().map_err(|_| bad("a number of seconds"))?)
            }
            ("defaults", "task_timeout") => {
                cfg.task_timeout = Some(value.parse().map_err(|_| bad("a number of seconds"))?)
            }
            ("defaults", "no_log") => {
                cfg.no_log = Some(boolean(value).ok_or_else(|| bad("a boolean"))?)
            }
            ("defaults", "gathering") => {
                let g = value.to_ascii_lowercase();
                if !matches!(g.as_str(), "implicit" | "explicit" | "smart") {
                    return Err(bad("implicit, explicit or smart"));
                }
                cfg.gathering = Some(g)
            }
            ("defaults", "fact_caching") => cfg.fact_caching = Some(value.clone()),
            ("defaults", "allow_broken_conditionals") => {
                cfg.allow_broken_conditionals =
                    Some(boolean(value).ok_or_else(|| bad("a boolean"))?)
            }
            ("defaults", "fact_caching_connection") => {
                cfg.fact_caching_connection = Some(path_in(base, value).display().to_string())
            }
            ("defaults", "fact_caching_prefix") => cfg.fact_caching_prefix = Some(value.clone()),
            ("defaults", "fact_caching_timeout") => {
                cfg.fact_caching_timeout =
                    Some(value.parse().map_err(|_| bad("a number of seconds"))?)
            }
            ("defaults", "force_handlers") => {
                cfg.force_handlers = Some(boolean(value).ok_or_else(|| bad("a boolean"))?)
            }
            ("defaults", "error_on_missing_handler") => {
                cfg.error_on_missing_handler = Some(boolean(value).ok_or_else(|| bad("a boolean"))?)
            }
            ("privilege_escalation", "become") => {
                cfg.become_ = Some(boolean(value).ok_or_else(|| bad("a boolean"))?)
            }
            ("privilege_escalation", "become_user") => cfg.become_user = Some(value.clone()),
            ("ssh_connection", "ssh_config") => {
                cfg.ssh_config = Some(if value == "none" {
                    PathBuf::from("none")
                } else {
                    path_in(base, value)
                })
            }
            ("privilege_escalation", "become_method") => {
                if let Err(e) = crate::playbook::check_become_method(value) {
                    bail!("{}:{line}:1: {e}", path.display());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ansible_cfg_keys_and_ignores_the_rest() {
        let text = "\
# comment
[defaults]
inventory = inventory/production.ini, extra.yml
remote_user: deploy
forks=20 ; inline comment
roles_path = roles:/srv/shared-roles
host_key_checking = False
private_key_file = ~/.ssh/deploy
timeout = 30
task_timeout = 600
gathering = smart

[privilege_escalation]
become = True
become_user = root

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto
  -o ControlPersist=60s
";
        let p = Path::new("/repo/ansible.cfg");
        let mut cfg = FileConfig::default();
        apply(
            &mut cfg,
            &parse_ini(text, p).unwrap(),
            Path::new("/repo"),
            p,
        )
        .unwrap();
        assert_eq!(
            cfg.inventory,
            ["/repo/inventory/production.ini", "/repo/extra.yml"]
        );
        assert_eq!(cfg.remote_user.as_deref(), Some("deploy"));
        assert_eq!(cfg.forks, Some(20));
        assert_eq!(
            cfg.roles_path,
            [
                PathBuf::from("/repo/roles"),
                PathBuf::from("/srv/shared-roles")
            ]
        );
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.timeout, Some(30));
        assert_eq!(cfg.task_timeout, Some(600));
        assert_eq!(cfg.become_, Some(true));
        assert_eq!(cfg.become_user.as_deref(), Some("root"));
        let err = apply(
            &mut cfg,
            &parse_ini("[defaults]\nforks = many\n", p).unwrap(),
            Path::new("/repo"),
            p,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/repo/ansible.cfg:2:1: `forks` must be a number of hosts, not `many`"
        );
    }

    #[test]
    fn the_environment_wins_over_the_files() {
        let p = Path::new("/repo/ansible.cfg");
        let mut cfg = FileConfig::default();
        let file = "[defaults]\nforks = 20\nhost_key_checking = True\n";
        apply(
            &mut cfg,
            &parse_ini(file, p).unwrap(),
            Path::new("/repo"),
            p,
        )
        .unwrap();
        let env = env_entries(|k| match k {
            "ANSIBLE_HOST_KEY_CHECKING" => Some("false".into()),
            "ANSIBLE_FORCE_HANDLERS" => Some("yes".into()),
            "ANSIBLE_FORKS" => Some(String::new()),
            _ => None,
        });
        apply(&mut cfg, &env, Path::new("."), Path::new("<environment>")).unwrap();
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.force_handlers, Some(true));
        assert_eq!(cfg.forks, Some(20), "an empty variable is unset");
    }

    #[test]
    fn reads_drover_toml() {
        let text = "[defaults]\nforks = 8\nroles_path = [\"roles\", \"/x\"]\nremote_user = \"ci\"\n[privilege_escalation]\nbecome = true\n";
        let p = Path::new("drover.toml");
        let mut cfg = FileConfig::default();
        apply(&mut cfg, &parse_toml(text, p).unwrap(), Path::new("/w"), p).unwrap();
        assert_eq!(cfg.forks, Some(8));
        assert_eq!(
            cfg.roles_path,
            [PathBuf::from("/w/roles"), PathBuf::from("/x")]
        );
        assert_eq!(cfg.remote_user.as_deref(), Some("ci"));
        assert_eq!(cfg.become_, Some(true));
    }
}
