//! Ansible's configuration settings as `lookup('config', NAME)` reads them: the settings
//! drover knows (the ones its behaviour follows, and the become plugin's options), each from
//! its environment variables, else its `ansible.cfg` keys, else Ansible's default.

use minijinja::Value;

#[derive(Clone, Copy)]
enum Default {
    Bool(bool),
    Int(i64),
    Str(&'static str),
    None,
}

/// (name, plugin `(type, name)` or none, environment variables, `ansible.cfg` keys, default).
type Entry = (
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    Default,
);

const SETTINGS: &[Entry] = &[
    (
        "ALLOW_BROKEN_CONDITIONALS",
        None,
        &["ANSIBLE_ALLOW_BROKEN_CONDITIONALS"],
        &[("defaults", "allow_broken_conditionals")],
        Default::Bool(false),
    ),
    (
        "DEFAULT_PRIVATE_ROLE_VARS",
        None,
        &["ANSIBLE_PRIVATE_ROLE_VARS"],
        &[("defaults", "private_role_vars")],
        Default::Bool(false),
    ),
    (
        "DEFAULT_FORCE_HANDLERS",
        None,
        &["ANSIBLE_FORCE_HANDLERS"],
        &[("defaults", "force_handlers")],
        Default::Bool(false),
    ),
    (
        "DEFAULT_FORKS",
        None,
        &["ANSIBLE_FORKS"],
        &[("defaults", "forks")],
        Default::Int(5),
    ),
    (
        "DEFAULT_TIMEOUT",
        None,
        &["ANSIBLE_TIMEOUT"],
        &[("defaults", "timeout")],
        Default::Int(10),
    ),
    (
        "DEFAULT_REMOTE_USER",
        None,
        &["ANSIBLE_REMOTE_USER"],
        &[("defaults", "remote_user")],
        Default::None,
    ),
    (
        "DEFAULT_BECOME",
        None,
        &["ANSIBLE_BECOME"],
        &[("privilege_escalation", "become")],
        Default::Bool(false),
    ),
    (
        "DEFAULT_BECOME_METHOD",
        None,
        &["ANSIBLE_BECOME_METHOD"],
        &[("privilege_escalation", "become_method")],
        Default::Str("sudo"),
    ),
    (
        "DEFAULT_BECOME_USER",
        None,
        &["ANSIBLE_BECOME_USER"],
        &[("privilege_escalation", "become_user")],
        Default::Str("root"),
    ),
    (
        "DEFAULT_BECOME_EXE",
        None,
        &["ANSIBLE_BECOME_EXE"],
        &[("privilege_escalation", "become_exe")],
        Default::None,
    ),
    (
        "DEFAULT_BECOME_FLAGS",
        None,
        &["ANSIBLE_BECOME_FLAGS"],
        &[("privilege_escalation", "become_flags")],
        Default::Str(""),
    ),
    (
        "become_flags",
        Some(("become", "sudo")),
        &["ANSIBLE_BECOME_FLAGS", "ANSIBLE_SUDO_FLAGS"],
        &[
            ("privilege_escalation", "become_flags"),
            ("sudo_become_plugin", "flags"),
        ],
        Default::Str("-H -S -n"),
    ),
    (
        "become_exe",
        Some(("become", "sudo")),
        &["ANSIBLE_BECOME_EXE", "ANSIBLE_SUDO_EXE"],
        &[
            ("privilege_escalation", "become_exe"),
            ("sudo_become_plugin", "executable"),
        ],
        Default::Str("sudo"),
    ),
    (
        "become_flags",
        Some(("become", "su")),
        &["ANSIBLE_BECOME_FLAGS", "ANSIBLE_SU_FLAGS"],
        &[
            ("privilege_escalation", "become_flags"),
            ("su_become_plugin", "flags"),
        ],
        Default::Str(""),
    ),
    (
        "become_exe",
        Some(("become", "su")),
        &["ANSIBLE_BECOME_EXE", "ANSIBLE_SU_EXE"],
        &[
            ("privilege_escalation", "become_exe"),
            ("su_become_plugin", "executable"),
        ],
        Default::Str("su"),
    ),
    (
        "sudo_chdir",
        Some(("become", "sudo")),
        &["ANSIBLE_SUDO_CHDIR"],
        &[("sudo_become_plugin", "chdir")],
        Default::None,
    ),
    (
        "become_user",
        Some(("become", "sudo")),
        &["ANSIBLE_BECOME_USER", "ANSIBLE_SUDO_USER"],
        &[
            ("privilege_escalation", "become_user"),
            ("sudo_become_plugin", "user"),
        ],
        Default::Str("root"),
    ),
];

/// The value of setting `name` (of plugin `plugin`, as `(type, name)`), or `None` when drover
/// does not know the setting.
pub fn setting(name: &str, plugin: Option<(&str, &str)>) -> Option<Value> {
    let plugin = plugin.map(|(t, n)| (t, n.rsplit('.').next().unwrap_or(n)));
    let (_, _, envs, keys, default) = SETTINGS
        .iter()
        .find(|(n, p, ..)| *n == name && *p == plugin)?;
    let raw = envs
        .iter()
        .rev()
        .find_map(|e| std::env::var(e).ok().filter(|v| !v.is_empty()))
        .or_else(|| ini_value(keys));
    Some(match (raw, *default) {
        (Some(v), Default::Bool(_)) => match crate::config::boolean(&v) {
            Some(b) => Value::from(b),
            None => Value::from(v),
        },
        (Some(v), Default::Int(_)) => v.trim().parse::<i64>().map_or(Value::from(v), Value::from),
        (Some(v), _) => Value::from(v),
        (None, Default::Bool(b)) => Value::from(b),
        (None, Default::Int(i)) => Value::from(i),
        (None, Default::Str(s)) => Value::from(s),
        (None, Default::None) => Value::from(()),
    })
}

/// Setting `name` of plugin `plugin` as the environment or `ansible.cfg` sets it, without a
/// default (`None` when neither says).
pub fn explicit(name: &str, plugin: Option<(&str, &str)>) -> Option<String> {
    let (_, _, envs, keys, _) = SETTINGS
        .iter()
        .find(|(n, p, ..)| *n == name && *p == plugin)?;
    envs.iter()
        .rev()
        .find_map(|e| std::env::var(e).ok().filter(|v| !v.is_empty()))
        .or_else(|| ini_value(keys))
}

/// The first of `keys` set in the `ansible.cfg` Ansible would read.
fn ini_value(keys: &[(&str, &str)]) -> Option<String> {
    let path = crate::config::find_ansible_cfg()?;
    let text = std::fs::read_to_string(&path).ok()?;
    let entries = crate::config::parse_ini(&text, &path).ok()?;
    keys.iter().rev().find_map(|(section, key)| {
        entries
            .iter()
            .rev()
            .find(|(s, k, _, _)| s == section && k == key)
            .map(|(_, _, v, _)| v.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::setting;

    #[test]
    fn known_settings_have_ansibles_defaults() {
        assert_eq!(
            setting("become_flags", Some(("become", "ansible.builtin.sudo")))
                .unwrap()
                .to_string(),
            "-H -S -n"
        );
        assert!(setting("NO_SUCH_SETTING", None).is_none());
        assert!(setting("become_flags", None).is_none());
    }
}
