//! `package_facts`: the installed packages into `ansible_facts.packages`, as Ansible's `apt`
//! manager lists them (`name`, `version`, `arch`, `category`, `origin`, `source`), read
//! without Python: `dpkg-query` for the packages, and each apt list that has the installed
//! version (decompressed by `apt-helper`) for its section and its archive's `Origin`.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, FactKind, Plan, Spec};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::Value;
use std::collections::{BTreeMap, HashMap};

pub struct PackageFacts;

static SPEC: Spec = Spec {
    args: &["manager", "strategy"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// Ansible's package managers (`auto` tries them all).
const MANAGERS: &[&str] = &[
    "apk", "apt", "pacman", "pkg", "pkg_info", "pkgng", "portage", "rpm", "zypper",
];

pub struct PfArgs {
    /// The managers asked for by name (warned about when unusable).
    asked: Vec<String>,
}

impl Typed for PackageFacts {
    type Args = PfArgs;
    type Change = std::convert::Infallible;

    fn name(&self) -> &'static str {
        "package_facts"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<PfArgs> {
        args.choice("strategy", &["first", "all"], "first")?;
        let mut asked: Vec<String> = args
            .list("manager")
            .iter()
            .map(|m| m.to_lowercase())
            .collect();
        if asked.is_empty() {
            asked.push("auto".into());
        }
        let unsupported: Vec<&str> = asked
            .iter()
            .map(String::as_str)
            .filter(|m| *m != "auto" && !MANAGERS.contains(m))
            .collect();
        if !unsupported.is_empty() {
            return Err(Failure::new(format!(
                "Unsupported package managers requested: {}",
                unsupported.join(", ")
            ))
            .into());
        }
        Ok(PfArgs { asked })
    }

    fn observe(&self, _a: &PfArgs) -> Observe {
        let s = Script::new()
            .raw("command -v dpkg-query >/dev/null 2>&1 || { echo nodpkg; exit 0; }\nt=$(mktemp)\n")
            .raw("dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${Section}\\n' 2>/dev/null | awk -F'\\t' 'substr($1,2,1) != \"n\" && substr($1,2,1) != \"c\" { print $2 \"\\t\" $3 \"\\t\" $4 \"\\t\" $5 }' >\"$t\"\n")
            .raw("sed 's/^/p\\t/' \"$t\"\n")
            .raw("for r in /var/lib/apt/lists/*InRelease /var/lib/apt/lists/*_Release; do [ -f \"$r\" ] || continue\n")
            .raw("o=$(sed -n 's/^Origin: *//p' \"$r\" | head -n 1); pre=${r%InRelease}; pre=${pre%Release}\n")
            .raw("for f in \"$pre\"*Packages*; do [ -f \"$f\" ] || continue; case $f in *diff_Index*) continue;; esac\n")
            .raw("/usr/lib/apt/apt-helper cat-file \"$f\" 2>/dev/null | awk -v o=\"$o\" -v want=\"$t\" 'BEGIN { FS = \"\\t\"; while ((getline l < want) > 0) { split(l, a, \"\\t\"); k[a[1] \" \" a[2] \" \" a[3]] = 1 }; FS = \" \" }\n")
            .raw("/^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { ar = $2 } /^Section: / { s = $2 }\n")
            .raw("/^$/ { if ((p \" \" v \" \" ar) in k) print \"o\\t\" p \" \" v \" \" ar \"\\t\" s \"\\t\" o; p = v = ar = s = \"\" }'\n")
            .raw("done\ndone\nrm -f \"$t\"\n");
        Observe {
            sections: vec![("pkgs", s)],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &PfArgs, seen: &Observed) -> Outcome<Self::Change> {
        let text = seen.section("pkgs");
        let mut warnings: Vec<String> = a
            .asked
            .iter()
            .filter(|m| *m != "auto" && *m != "apt")
            .map(|m| {
                format!("Requested package manager {m} was not usable by this module: drover reads apt (dpkg) hosts only")
            })
            .collect();
        let wants_apt = a.asked.iter().any(|m| m == "auto" || m == "apt");
        if text.lines().any(|l| l == "nodpkg") || !wants_apt {
            let list: Vec<String> = if a.asked.iter().any(|m| m == "auto") {
                MANAGERS.iter().map(|m| format!("'{m}'")).collect()
            } else {
                a.asked.iter().map(|m| format!("'{m}'")).collect()
            };
            let mut f = Failure::new(format!(
                "Could not detect a supported package manager from the following list: [{}], or the required Python library is not installed. Check warnings for details.",
                list.join(", ")
            ));
            if !warnings.is_empty() {
                f = f.with("warnings", std::mem::take(&mut warnings));
            }
            return Outcome::Fail(f);
        }
        // (section, origin) of the archive that has the installed version.
        let mut origins: HashMap<&str, (&str, &str)> = HashMap::new();
        for l in text.lines().filter_map(|l| l.strip_prefix("o\t")) {
            let mut f = l.splitn(3, '\t');
            if let (Some(key), Some(section), Some(origin)) = (f.next(), f.next(), f.next()) {
                origins.entry(key).or_insert((section, origin));
            }
        }
        let mut packages: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for l in text.lines().filter_map(|l| l.strip_prefix("p\t")) {
            let f: Vec<&str> = l.split('\t').collect();
            let [name, version, arch, section] = f[..] else {
                continue;
            };
            let key = format!("{name} {version} {arch}");
            let (section, origin) = match origins.get(key.as_str()) {
                Some((s, o)) if !s.is_empty() => (*s, *o),
                Some((_, o)) => (section, *o),
                None => (section, ""),
            };
            packages
                .entry(name.to_string())
                .or_default()
                .push(crate::vars::map_value([
                    ("name".to_string(), Value::from(name)),
                    ("version".to_string(), Value::from(version)),
                    ("arch".to_string(), Value::from(arch)),
                    ("category".to_string(), Value::from(section)),
                    ("origin".to_string(), Value::from(origin)),
                    ("source".to_string(), Value::from("apt")),
                ]));
        }
        let mut facts = VarMap::new();
        facts.insert(
            "packages".into(),
            crate::vars::map_value(packages.into_iter().map(|(k, v)| (k, Value::from(v)))),
        );
        let mut p = Plan::unchanged().with_facts(facts);
        p.facts_kind = FactKind::ModuleFacts;
        if !warnings.is_empty() {
            p = p.with_value("warnings", warnings);
        }
        Outcome::Unchanged(p)
    }

    fn apply(&self, _a: &PfArgs, change: &Self::Change) -> Vec<Step> {
        match *change {}
    }
}
