//! `drover doc`: the modules drover implements (`--list`), or one module's arguments.

use crate::cli::DocArgs;
use anyhow::Result;

pub fn run_doc(args: &DocArgs) -> Result<i32> {
    match (&args.module, args.list) {
        (Some(name), _) => {
            let Some(m) = crate::modules::lookup(name) else {
                let known = if crate::modules::is_ansible_module(name, &[]) {
                    "an Ansible module that drover does not implement yet"
                } else {
                    "no module drover or Ansible knows"
                };
                return Err(super::InputError(anyhow::anyhow!(
                    "`{name}` is {known}; `drover doc --list` lists drover's modules"
                ))
                .into());
            };
            let spec = m.spec();
            println!("{}", m.name());
            let mut args: Vec<&str> = spec
                .args
                .iter()
                .copied()
                .filter(|a| !a.starts_with('_'))
                .collect();
            args.sort_unstable();
            println!("  arguments: {}", args.join(", "));
            if !spec.aliases.is_empty() {
                let aliases: Vec<String> = spec
                    .aliases
                    .iter()
                    .map(|(a, c)| format!("{a} (= {c})"))
                    .collect();
                println!("  aliases: {}", aliases.join(", "));
            }
            if let Some(f) = spec.free_form {
                println!("  free-form text: {}", f.trim_start_matches('_'));
            }
            Ok(0)
        }
        (None, _) if args.markdown => {
            print!("{}", markdown());
            Ok(0)
        }
        (None, _) => {
            for n in names() {
                println!("{n}");
            }
            Ok(0)
        }
    }
}

/// The modules by what they are for: `drover doc --list --markdown` prints them as the
/// README's module list (a test keeps the README in step). Every module is in one group.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Files and commands",
        &[
            "command",
            "shell",
            "raw",
            "script",
            "copy",
            "file",
            "template",
            "lineinfile",
            "blockinfile",
            "replace",
            "assemble",
            "find",
            "slurp",
            "fetch",
            "stat",
            "tempfile",
            "ini_file",
        ],
    ),
    ("Downloads and archives", &["get_url", "unarchive", "uri"]),
    (
        "Waiting and jobs",
        &[
            "wait_for",
            "wait_for_connection",
            "reboot",
            "async_status",
            "pause",
        ],
    ),
    (
        "System",
        &[
            "apt",
            "apt_repository",
            "apt_key",
            "deb822_repository",
            "package",
            "pip",
            "debconf",
            "dpkg_selections",
            "package_facts",
            "user",
            "group",
            "getent",
            "authorized_key",
            "known_hosts",
            "cron",
            "hostname",
            "timezone",
            "sysctl",
            "modprobe",
            "mount",
            "pam_limits",
            "pamd",
            "iptables",
            "ufw",
            "service",
            "systemd",
            "systemd_service",
            "service_facts",
        ],
    ),
    (
        "Control and facts",
        &[
            "debug",
            "set_fact",
            "assert",
            "fail",
            "ping",
            "setup",
            "include_vars",
            "group_by",
            "add_host",
        ],
    ),
];

/// The registry's module names, sorted.
fn names() -> Vec<&'static str> {
    let mut names: Vec<&str> = crate::modules::registry()
        .iter()
        .map(|m| m.name())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The README's module list: one line per group.
fn markdown() -> String {
    let mut out = String::new();
    for (group, mods) in GROUPS {
        let shown: Vec<String> = mods.iter().map(|m| format!("`{m}`")).collect();
        out.push_str(&format!("- {group}: {}.\n", shown.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_module_is_in_one_group() {
        let mut grouped: Vec<&str> = super::GROUPS
            .iter()
            .flat_map(|g| g.1.iter().copied())
            .collect();
        grouped.sort_unstable();
        let before = grouped.len();
        grouped.dedup();
        assert_eq!(before, grouped.len(), "a module in two groups");
        assert_eq!(grouped, super::names());
    }
}
