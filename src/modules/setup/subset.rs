//! `gather_subset`: which of the fact collectors run, decided as Ansible's
//! `get_collector_names` decides: the minimal set always, then each named subset added (a
//! collector's name or one of its fact names), each `!name` taken away (`!all` leaves the
//! minimal set, `!min` removes it too), what is named explicitly kept.

use std::collections::BTreeSet;

/// The collectors drover has: `(name, the fact names that select it too)`.
pub const COLLECTORS: &[(&str, &[&str])] = &[
    ("apparmor", &["apparmor"]),
    (
        "caps",
        &["system_capabilities", "system_capabilities_enforced"],
    ),
    ("cmdline", &["cmdline", "proc_cmdline"]),
    ("date_time", &[]),
    (
        "distribution",
        &[
            "distribution_version",
            "distribution_release",
            "distribution_major_version",
            "os_family",
        ],
    ),
    ("dns", &[]),
    ("env", &[]),
    ("fips", &[]),
    ("local", &[]),
    ("lsb", &[]),
    ("pkg_mgr", &[]),
    (
        "platform",
        &[
            "system",
            "kernel",
            "kernel_version",
            "machine",
            "python_version",
            "architecture",
            "machine_id",
        ],
    ),
    ("python", &[]),
    ("selinux", &[]),
    ("service_mgr", &[]),
    (
        "ssh_pub_keys",
        &[
            "ssh_host_pub_keys",
            "ssh_host_key_dsa_public",
            "ssh_host_key_rsa_public",
            "ssh_host_key_ecdsa_public",
            "ssh_host_key_ed25519_public",
        ],
    ),
    (
        "user",
        &[
            "user_id",
            "user_uid",
            "user_gid",
            "user_gecos",
            "user_dir",
            "user_shell",
            "real_user_id",
            "effective_user_id",
            "effective_group_ids",
        ],
    ),
    (
        "hardware",
        &[
            "processor",
            "processor_cores",
            "processor_count",
            "mounts",
            "devices",
        ],
    ),
    (
        "network",
        &[
            "interfaces",
            "default_ipv4",
            "default_ipv6",
            "all_ipv4_addresses",
            "all_ipv6_addresses",
        ],
    ),
    (
        "virtual",
        &[
            "virtualization_type",
            "virtualization_role",
            "virtualization_tech_guest",
            "virtualization_tech_host",
        ],
    ),
    ("chroot", &["is_chroot"]),
    ("loadavg", &["loadavg"]),
    ("systemd", &["systemd"]),
];

/// Ansible's minimal set, gathered even with `!all`.
const MINIMAL: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

fn aliases(name: &str) -> &'static [&'static str] {
    COLLECTORS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[], |(_, ids)| *ids)
}

/// The collectors `gather_subset` selects, or Ansible's message for a subset nothing
/// answers.
pub fn collectors(gather_subset: &[String]) -> Result<BTreeSet<&'static str>, String> {
    let valid: BTreeSet<&'static str> = COLLECTORS
        .iter()
        .flat_map(|(n, ids)| std::iter::once(*n).chain(ids.iter().copied()))
        .collect();
    let minimal: BTreeSet<&'static str> = MINIMAL
        .iter()
        .flat_map(|n| std::iter::once(*n).chain(aliases(n).iter().copied()))
        .collect();
    let all = if gather_subset.is_empty() {
        vec!["all".to_string()]
    } else {
        gather_subset.to_vec()
    };
    let (mut add, mut exclude, mut explicit) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for subset in std::iter::once("min").chain(all.iter().map(|s| s.trim())) {
        match subset {
            "min" => add.extend(minimal.iter().copied()),
            "all" => add.extend(valid.iter().copied()),
            "!min" => exclude.extend(minimal.iter().copied()),
            "!all" => exclude.extend(valid.difference(&minimal).copied()),
            s => match s.strip_prefix('!') {
                // Excluding a subset nothing answers is no error, as in Ansible.
                Some(name) => {
                    exclude.extend(aliases(name).iter().copied());
                    if let Some(v) = valid.get(name) {
                        exclude.insert(*v);
                    }
                }
                None => {
                    let Some(v) = valid.get(s) else {
                        let names: Vec<&str> = valid.iter().copied().collect();
                        return Err(format!(
                            "Bad subset '{s}' given to Ansible. gather_subset options allowed: all, {}",
                            names.join(", ")
                        ));
                    };
                    explicit.insert(*v);
                    add.insert(*v);
                }
            },
        }
    }
    if add.is_empty() {
        add.extend(valid.iter().copied());
    }
    let removed: BTreeSet<&str> = exclude.difference(&explicit).copied().collect();
    let kept: BTreeSet<&str> = add.difference(&removed).copied().collect();
    let mut chosen: BTreeSet<&'static str> = COLLECTORS
        .iter()
        .filter(|(n, ids)| kept.contains(n) || ids.iter().any(|i| kept.contains(i)))
        .map(|(n, _)| *n)
        .collect();
    // The collectors others need run too (Ansible's `required_facts`).
    for (c, needs) in REQUIRES {
        if chosen.contains(c) {
            chosen.extend(needs.iter().copied());
        }
    }
    Ok(chosen)
}

/// Ansible's `required_facts` of the Linux collectors (none needs one that needs another).
const REQUIRES: &[(&str, &[&str])] = &[
    ("network", &["distribution", "platform"]),
    ("hardware", &["platform"]),
    ("pkg_mgr", &["distribution"]),
    ("service_mgr", &["platform", "distribution"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: &[&str]) -> Vec<&'static str> {
        let v: Vec<String> = s.iter().map(|x| x.to_string()).collect();
        collectors(&v).unwrap().into_iter().collect()
    }

    #[test]
    fn subsets_as_ansible_resolves_them() {
        assert_eq!(of(&[]).len(), COLLECTORS.len());
        assert_eq!(of(&["!all"]).len(), MINIMAL.len());
        assert_eq!(of(&["!all", "!min"]), Vec::<&str>::new());
        assert_eq!(
            of(&["!all", "!min", "network"]),
            vec!["distribution", "network", "platform"]
        );
        // A fact name selects its collector.
        assert_eq!(
            of(&["!all", "!min", "mounts"]),
            vec!["hardware", "platform"]
        );
        // `!hardware` alone leaves the minimal set (Ansible adds `all` only to an empty
        // list); with `all` it takes just the hardware away.
        assert_eq!(of(&["!hardware"]).len(), MINIMAL.len());
        let no_hw = of(&["all", "!hardware"]);
        assert!(!no_hw.contains(&"hardware"), "{no_hw:?}");
        assert!(no_hw.contains(&"network"), "{no_hw:?}");
        // `!min` with a minimal collector named again keeps that one.
        assert_eq!(of(&["!all", "!min", "env"]), vec!["env"]);
        assert_eq!(of(&["!all", "!min", "virtual"]), vec!["virtual"]);
        let bad = collectors(&["nope".to_string()]).unwrap_err();
        assert!(
            bad.starts_with("Bad subset 'nope' given to Ansible."),
            "{bad}"
        );
        assert!(collectors(&["!nope".to_string()]).is_ok());
    }
}
