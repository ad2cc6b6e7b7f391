//! Module arguments: the accepted names of each module (`Spec`), and typed getters over the
//! rendered argument map that apply Ansible's coercions (`yes`/`no` strings as booleans,
//! `"0644"` and `0644` as modes, a comma-separated string as a list).

use crate::vars::VarMap;
use anyhow::{anyhow, bail, Result};
use minijinja::value::ValueKind;
use minijinja::Value;

/// What a module accepts.
pub struct Spec {
    /// Argument names, canonical first.
    pub args: &'static [&'static str],
    /// `(alias, canonical)` pairs.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Modules whose free-form text (`command: ls -l`) is an argument: the key it goes to.
    pub free_form: Option<&'static str>,
    /// Accept any argument (e.g. `set_fact`).
    pub any_args: bool,
    /// The file arguments too (Ansible's `add_file_common_args`: [`FILE_ARGS`], and `attr`
    /// for `attributes`).
    pub file_args: bool,
}

/// Ansible's common file arguments.
pub const FILE_ARGS: [&str; 9] = [
    "mode",
    "owner",
    "group",
    "seuser",
    "serole",
    "setype",
    "selevel",
    "unsafe_writes",
    "attributes",
];

impl Spec {
    /// The canonical name for an argument, or `None` if the module does not take it.
    pub fn canonical(&self, name: &str) -> Option<&'static str> {
        if let Some(a) = self.args.iter().find(|a| **a == name) {
            return Some(a);
        }
        if self.file_args {
            if let Some(a) = FILE_ARGS.iter().find(|a| **a == name) {
                return Some(a);
            }
            if name == "attr" {
                return Some("attributes");
            }
        }
        self.aliases
            .iter()
            .find(|(a, _)| *a == name)
            .map(|(_, c)| *c)
    }

    /// Every name accepted, for hints.
    pub fn all_names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.args.to_vec();
        if self.file_args {
            v.extend(FILE_ARGS);
        }
        v.extend(self.aliases.iter().map(|(a, _)| *a));
        if self.file_args {
            v.push("attr");
        }
        v
    }
}

/// Arguments that name something on the host (a path, an account, a package, a service) or
/// are a command's words: a NUL byte cannot be part of them (the shell and the kernel would cut
/// the value there and act on another name), so it is refused, as Python refuses it in
/// Ansible ("embedded null byte"). Contents (`content`, `line`, `msg`, `stdin`) may hold NUL.
const NO_NUL: &[&str] = &[
    "path",
    "dest",
    "src",
    "creates",
    "removes",
    "chdir",
    "name",
    "cmd",
    "argv",
    "_raw_params",
    "executable",
    "owner",
    "group",
    "groups",
    "home",
    "shell",
    "user",
    "validate",
    "key_file",
    "ssh_key_file",
];

/// Whether a value (or a string in a list of them) holds a NUL byte.
fn holds_nul(v: &Value) -> bool {
    match v.as_str() {
        Some(s) => s.contains('\0'),
        None if v.kind() == ValueKind::Seq => v
            .try_iter()
            .map(|mut it| it.any(|i| holds_nul(&i)))
            .unwrap_or(false),
        None => false,
    }
}

/// Rendered arguments with aliases resolved to canonical names.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub map: VarMap,
}

impl Args {
    /// Builds from a rendered map, resolving aliases; unknown names are an error.
    pub fn from_value(module: &str, spec: &Spec, v: &Value) -> Result<Args> {
        let mut map = VarMap::new();
        if v.kind() == ValueKind::Map {
            for k in v.try_iter()? {
                // set_fact's keys become variables: they must be valid names.
                if module.rsplit('.').next() == Some("set_fact") {
                    crate::vars::check_var_name(&k).map_err(|e| anyhow!("{e}"))?;
                }
                let key = k.to_string();
                let item = v.get_item(&k)?;
                let name = if spec.any_args || key == "_raw_params" {
                    spec.canonical(&key).map_or(key, str::to_string)
                } else {
                    match spec.canonical(&key) {
                        Some(c) => c.to_string(),
                        // Ansible's shell action refuses this one itself, in short.
                        None if key == "expand_argument_vars"
                            && module.rsplit('.').next() == Some("shell") =>
                        {
                            bail!("Unsupported parameters for ({module}) module: {key}")
                        }
                        // Ansible's action plugins with a fixed set of options say it so.
                        None if matches!(
                            module.rsplit('.').next(),
                            Some(
                                "wait_for_connection"
                                    | "reboot"
                                    | "set_stats"
                                    | "fail"
                                    | "group_by"
                            )
                        ) =>
                        {
                            bail!("Invalid options for {module}: {key}")
                        }
                        None => {
                            let mut names = spec.all_names();
                            names.retain(|n| !n.starts_with('_'));
                            names.sort_unstable();
                            bail!(
                                "Unsupported parameters for ({module}) module: {key}. Supported parameters include: {}.",
                                names.join(", ")
                            )
                        }
                    }
                };
                map.insert(name, item);
            }
        } else if !v.is_none() && !v.is_undefined() {
            bail!(
                "the arguments of `{module}` must be a mapping, not {}",
                v.kind()
            );
        }
        if !spec.any_args {
            for key in NO_NUL {
                if map.get(*key).is_some_and(holds_nul) {
                    bail!(
                        "embedded null byte in argument `{key}` of `{module}`: a NUL byte cannot be part of a path, a name or a command's word (the host would act on another one)\nhint: remove the NUL byte (`\\u0000`, `\\x00`) from the value"
                    );
                }
            }
        }
        Ok(Args { map })
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_none())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_none())
    }

    /// A string argument; numbers and booleans are turned into their text.
    pub fn str(&self, key: &str) -> Option<String> {
        let v = self.get(key)?;
        Some(match v.as_str() {
            Some(s) => s.to_string(),
            None if v.kind() == ValueKind::Bool => {
                if v.is_true() { "True" } else { "False" }.into()
            }
            None => v.to_string(),
        })
    }

    /// A required string argument.
    pub fn req_str(&self, key: &str) -> Result<String> {
        self.str(key)
            .ok_or_else(|| anyhow!("missing required arguments: {key}"))
    }

    /// A boolean with Ansible's readings of strings (`yes`, `on`, `1`, `true`…).
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => to_bool(v).ok_or_else(|| {
                // Ansible's words (its list of valid booleans comes from a set).
                anyhow!(
                    "argument '{key}' is of type {} and we were unable to convert to bool: The value '{v}' is not a valid boolean. Valid booleans include: 0, 1, '0', '1', 'y', 'n', 'yes', 'no', 't', 'f', 'true', 'false', 'on', 'off'",
                    crate::template::conditional::type_name(v)
                )
            }),
        }
    }

    /// An integer argument (numbers or numeric strings).
    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                if let Some(i) = v.as_i64() {
                    return Ok(Some(i));
                }
                v.as_str()
                    .and_then(|s| s.trim().parse().ok())
                    .map(Some)
                    .ok_or_else(|| anyhow!("argument `{key}` must be an integer, not `{v}`"))
            }
        }
    }

    /// A list of strings: a list, or a comma-separated string.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(v) if v.kind() == ValueKind::Seq => v
                .try_iter()
                .map(|it| {
                    it.map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect()
                })
                .unwrap_or_default(),
            Some(v) => v
                .to_string()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// As [`Args::list`], but the parts of a comma-separated string keep their spaces (only
    /// empty parts are left out).
    pub fn list_untrimmed(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(v) if v.kind() != ValueKind::Seq => v
                .to_string()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            _ => self.list(key),
        }
    }

    /// A mapping's entries in their order, each value as its string (`headers`); none when
    /// the argument is absent.
    pub fn pairs(&self, key: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        if let Some(h) = self.get(key) {
            for k in h.try_iter()? {
                let v = h.get_item(&k)?;
                out.push((
                    k.to_string(),
                    v.as_str().map_or(v.to_string(), str::to_string),
                ));
            }
        }
        Ok(out)
    }

    /// A file mode as `chmod` takes it: integers are mode bits (YAML `0644` is 420),
    /// strings are octal (`"0644"`, `"644"`) or symbolic (`u+rwx,g-w`), `preserve` is kept.
    pub fn mode(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                if let Some(i) = v.as_i64() {
                    if !(0..=0o7777).contains(&i) {
                        bail!("argument `{key}`: mode {i} is out of range");
                    }
                    return Ok(Some(format!("{i:04o}")));
                }
                let s = v.to_string();
                if let Some(m) = crate::yaml::parse_mode_str(&s) {
                    return Ok(Some(format!("{m:04o}")));
                }
                if s == "preserve" || s.is_empty() {
                    return Ok(Some(s));
                }
                match bad_symbolic_clause(&s) {
                    None => Ok(Some(s)),
                    // Ansible's words (its file arguments' check), with the clause at fault.
                    Some(clause) => Err(super::contract::Failure::with_values(
                        "mode must be in octal or symbolic form",
                        vec![(
                            "details".into(),
                            Value::from(format!("bad symbolic permission for mode: {clause}")),
                        )],
                    )
                    .into()),
                }
            }
        }
    }

    /// One of a fixed set of choices.
    pub fn choice(&self, key: &str, choices: &[&str], default: &str) -> Result<String> {
        match self.str(key) {
            None => Ok(default.to_string()),
            Some(s) if choices.contains(&s.as_str()) => Ok(s),
            Some(s) => bail!(
                "argument `{key}` must be one of {}, not `{s}`",
                choices.join(", ")
            ),
        }
    }
}

/// Ansible's boolean conversion.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true()),
        ValueKind::Number => v.as_i64().map(|i| i != 0),
        _ => match v.as_str()?.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" => Some(true),
            "no" | "off" | "0" | "false" | "n" | "f" | "" => Some(false),
            _ => None,
        },
    }
}

/// The first clause of a symbolic mode that Ansible's `_symbolic_mode_to_octal` refuses:
/// its users must be empty, `a`, or of `ugo`, and each operator's permissions of `rwxXstugo`.
fn bad_symbolic_clause(s: &str) -> Option<&str> {
    s.split(',').find(|clause| {
        let mut parts = clause.split(['+', '-', '=']);
        let users = parts.next().unwrap_or_default();
        let users_ok = users.is_empty() || users == "a" || users.chars().all(|c| "ugo".contains(c));
        !users_ok || parts.any(|p| !p.chars().all(|c| "rwxXstugo".contains(c)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Value)]) -> Args {
        Args {
            map: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn every_module_names_each_argument_once() {
        for m in crate::modules::registry() {
            let mut names = m.spec().all_names();
            let all = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), all, "{} lists an argument twice", m.name());
        }
    }

    #[test]
    fn bool_readings() {
        let a = args(&[
            ("a", Value::from("yes")),
            ("b", Value::from("off")),
            ("c", Value::from(1)),
            ("d", Value::from("maybe")),
        ]);
        assert!(a.bool_or("a", false).unwrap());
        assert!(!a.bool_or("b", true).unwrap());
        assert!(a.bool_or("c", false).unwrap());
        assert!(a.bool_or("d", false).is_err());
        assert!(a.bool_or("missing", true).unwrap());
    }

    #[test]
    fn mode_readings() {
        let table = [
            (Value::from(0o644), Some("0644")),
            (Value::from("0644"), Some("0644")),
            (Value::from("755"), Some("0755")),
            (Value::from("u=rw,g=r,o="), Some("u=rw,g=r,o=")),
            (Value::from("a+x"), Some("a+x")),
        ];
        for (v, want) in table {
            let a = args(&[("mode", v.clone())]);
            assert_eq!(a.mode("mode").unwrap().as_deref(), want, "{v}");
        }
        for bad in ["rwx", "u=foo", "ao=r", "oa=r", "u+r,abc=r"] {
            let e = args(&[("mode", Value::from(bad))])
                .mode("mode")
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "mode must be in octal or symbolic form",
                "{bad}"
            );
        }
    }

    #[test]
    fn lists_from_strings() {
        let a = args(&[("g", Value::from("a, b,c"))]);
        assert_eq!(a.list("g"), ["a", "b", "c"]);
    }
}
