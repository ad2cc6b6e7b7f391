//! `setup`: gather facts with one shell script and few processes (`id`, `date`, one `grep` for
//! the larger `/proc` files, one `ip`, `stat -f` for the mounts); the other files and the
//! environment (`export -p`) are read with shell builtins. The identity and umask it sees are
//! kept in the connection's memo for the file modules; the answers map to Ansible's fact names. Facts are set under `ansible_facts` and as
//! `ansible_*` variables by the executor.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec};
use crate::vars::{map_value, VarMap};
use anyhow::Result;
use minijinja::Value;
use std::collections::HashMap;
use std::convert::Infallible;

pub struct Setup;

static SPEC: Spec = Spec {
    // `parallel` is the `gather_facts` action's (several fact modules at once): drover
    // gathers one set of facts in one round trip, so it changes nothing.
    args: &[
        "gather_subset",
        "filter",
        "gather_timeout",
        "fact_path",
        "parallel",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// Reads the lines of a file with builtins.
macro_rules! lines_of {
    ($f:literal) => {
        concat!(
            "[ -r ",
            $f,
            " ] && while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done <",
            $f,
            "; :"
        )
    };
}

/// The sections of the minimal identity every run needs (the file modules' memo) and of the
/// platform, distribution, user and service collectors: `(collector, name, shell)`; `""`
/// is always read.
const SCRIPT: &[(&str, &str, &str)] = &[
    (
        "platform",
        "uname",
        r#"{ read -r a </proc/sys/kernel/ostype && read -r b </proc/sys/kernel/hostname && read -r c </proc/sys/kernel/osrelease && read -r d </proc/sys/kernel/arch && echo "$a $b $c $d"; } 2>/dev/null || uname -snrm"#,
    ),
    (
        "platform",
        "kver",
        r#"{ read -r v </proc/sys/kernel/version && echo "$v"; } 2>/dev/null || uname -v"#,
    ),
    (
        "platform",
        "machineid",
        r#"for f in /var/lib/dbus/machine-id /etc/machine-id; do [ -r $f ] && read -r v <$f && [ -n "$v" ] && { echo "$v"; break; }; done; :"#,
    ),
    ("", "umask", "umask"),
    ("", "id", "LC_ALL=C id"),
    (
        "user",
        "ids",
        r#"while read -r k r e _; do case $k in Uid:) echo "$k $r $e";; Gid:) echo "$k $r $e"; break;; esac; done </proc/self/status; :"#,
    ),
    (
        "user",
        "passwd",
        r#"u=; while read -r k r _; do [ "$k" = Uid: ] && { u=$r; break; }; done </proc/self/status; f=; while IFS=: read -r n p i g c d s; do [ "$i" = "$u" ] && { echo "$n:$p:$i:$g:$c:$d:$s"; f=1; break; }; done </etc/passwd; [ -n "$f" ] || getent passwd "$u" 2>/dev/null; :"#,
    ),
    ("distribution", "os", lines_of!("/etc/os-release")),
    ("distribution", "debver", lines_of!("/etc/debian_version")),
    (
        "pkg_mgr",
        "pkg",
        r#"for p in apt-get dnf yum apk zypper pacman; do if command -v "$p" >/dev/null 2>&1; then echo "$p"; break; fi; done"#,
    ),
    (
        "service_mgr",
        "svc",
        r#"p=; [ -r /proc/1/comm ] && read -r p </proc/1/comm 2>/dev/null; [ -z "$p" ] && [ -L /sbin/init ] && p=$(readlink /sbin/init); echo "comm ${p##*/}"; s=; command -v systemctl >/dev/null 2>&1 && s=1; [ -n "$s" ] && for c in /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/; do [ -e $c ] && echo systemd; done; command -v initctl >/dev/null 2>&1 && [ -e /etc/init/ ] && echo upstart; [ -e /sbin/openrc ] && echo openrc; [ -n "$s" ] && [ -L /sbin/init ] && l=$(readlink /sbin/init) && [ "${l##*/}" = systemd ] && echo systemd; [ -e /etc/init.d/ ] && echo sysvinit; [ -e /etc/dinit.d/ ] && echo dinit; :"#,
    ),
    (
        "chroot",
        "chroot",
        r#"if [ -n "${debian_chroot:-}" ]; then echo env; elif [ -e /proc/1/root/. ]; then if [ / -ef /proc/1/root/. ]; then echo same; else echo differs; fi; else LC_ALL=C stat -c '%d %i' / 2>/dev/null; LC_ALL=C stat -f -c '%T' / 2>/dev/null; fi; :"#,
    ),
    (
        "platform",
        "fqdn",
        r#"n=; read -r n </proc/sys/kernel/hostname 2>/dev/null || n=$(uname -n); f=1; [ -r /etc/nsswitch.conf ] && while read -r k v; do [ "$k" = hosts: ] && case "$v " in "files "*) ;; *) f=;; esac; done </etc/nsswitch.conf; ip=; [ -n "$f" ] && [ -r /etc/hosts ] && while read -r a b; do case $a in ''|\#*) continue;; esac; case " $b " in *" $n "*) ip=$a; break;; esac; done </etc/hosts; if [ -n "$ip" ]; then while read -r a b; do [ "$a" = "$ip" ] && { echo "$a $b"; break; }; done </etc/hosts; else a=$(getent hosts "$n" 2>/dev/null) && set -- $a && getent hosts "$1" 2>/dev/null; fi; :"#,
    ),
    (
        "systemd",
        "systemd",
        r#"if [ -d /run/systemd/system ]; then systemctl --version 2>/dev/null | { read -r a; read -r b; echo "$a"; echo "$b"; }; fi"#,
    ),
    (
        "selinux",
        "selinux",
        r#"if [ -r /sys/fs/selinux/enforce ]; then read -r e </sys/fs/selinux/enforce && echo "enforce $e"; fi; for f in /lib/*/libselinux.so.1 /usr/lib/*/libselinux.so.1 /lib64/libselinux.so.1 /usr/lib64/libselinux.so.1 /lib/libselinux.so.1 /usr/lib/libselinux.so.1; do [ -e "$f" ] && { echo lib; break; }; done; :"#,
    ),
    (
        "fips",
        "fips",
        r#"if [ -r /proc/sys/crypto/fips_enabled ]; then read -r e </proc/sys/crypto/fips_enabled && echo "$e"; fi"#,
    ),
    (
        "python",
        "python",
        // `command -v` through `$PATH` by hand: no command substitution (a process).
        r#"p=; r=$PATH:; while [ -n "$r" ]; do d=${r%%:*}; r=${r#*:}; [ -f "${d:-.}/python3" ] && [ -x "${d:-.}/python3" ] && { p=${d:-.}/python3; break; }; done; if [ -n "$p" ]; then echo "$p"; for f in "$p".[0-9]*; do case "${f##*/}" in python3.[0-9]|python3.[0-9][0-9]) echo "${f##*/python}";; esac; done; fi"#,
    ),
    ("env", "env", "export -p"),
];

/// `setup`'s arguments.
pub struct Gather {
    /// `filter`: the fact-name patterns to keep (all when empty).
    filter: Vec<String>,
    /// `gather_subset` as given (`all` when empty) and the collectors it selects.
    subset: Vec<String>,
    collectors: std::collections::BTreeSet<&'static str>,
    /// `fact_path`: where the `.fact` files of `ansible_local` are.
    fact_path: String,
}

impl Typed for Setup {
    type Args = Gather;
    type Change = Infallible;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "setup"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<Gather> {
        let subset = match args.list("gather_subset") {
            s if s.is_empty() => vec!["all".to_string()],
            s => s,
        };
        let collectors = subset::collectors(&subset).map_err(|m| anyhow::anyhow!(m))?;
        Ok(Gather {
            filter: args.list("filter"),
            subset,
            collectors,
            fact_path: args
                .str("fact_path")
                .unwrap_or_else(|| "/etc/ansible/facts.d".into()),
        })
    }

    /// One section per collector's look, only for the collectors `gather_subset` selects;
    /// the identity and umask are always read, for the connection's memo of the file modules.
    fn observe(&self, a: &Gather) -> Observe {
        let has = |c: &str| c.is_empty() || a.collectors.contains(c);
        let mut sections: Vec<(&'static str, Script)> = Vec::new();
        let mut add = |name: &'static str, script: Script| {
            sections.push((name, script.raw("\n")));
        };
        for (c, name, cmd) in SCRIPT.iter().chain(misc_facts::SECTIONS) {
            if has(c) {
                // `local`'s script reads the fact path from `$fp`.
                let script = match *name {
                    "local" => Script::new().set("fp", &a.fact_path),
                    _ => Script::new(),
                };
                add(name, script.raw(cmd));
            }
        }
        for (c, list) in [
            ("hardware", hw_facts::SECTIONS),
            ("network", net_facts::SECTIONS),
        ] {
            if has(c) {
                for (name, cmd) in list {
                    add(name, Script::new().raw(cmd));
                }
            }
        }
        if has("virtual") {
            add("virt", Script::new().raw(virtual_facts::PROBE));
        }
        if has("hardware") || has("virtual") {
            add("files", Script::new().raw(proc_files::SECTION));
        }
        Observe {
            sections,
            remember_identity: true,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &Gather, seen: &Observed) -> Outcome<Infallible> {
        if seen.sections.is_empty() {
            return Outcome::Fail(Failure::new(format!(
                "gathering facts failed: {}",
                seen.stderr.trim()
            )));
        }
        let lines =
            |k: &str| -> Vec<String> { seen.section(k).lines().map(str::to_string).collect() };
        let has = |c: &str| a.collectors.contains(c);
        let mut warnings = Vec::new();
        let mut facts = gathered(&lines, &has, &a.fact_path, &mut warnings);
        // Ansible's `filter`: fnmatch patterns on the `ansible_` names (a bare name matches
        // too), a fact kept when any pattern matches; without one, the run's own two facts.
        if a.filter.is_empty() {
            let subset: Vec<Value> = a.subset.iter().map(|s| Value::from(s.as_str())).collect();
            facts.insert("gather_subset".into(), Value::from(subset));
            facts.insert("module_setup".into(), Value::from(true));
        } else {
            facts.retain(|k, _| {
                let full = format!("ansible_{k}");
                a.filter
                    .iter()
                    .any(|p| crate::glob::fnmatch(p, &full) || crate::glob::fnmatch(p, k))
            });
        }
        // The result names the facts as Ansible's module returns them (`ansible_` before
        // each but its own two); the host's facts keep the bare names.
        let shown: VarMap = facts
            .iter()
            .map(|(k, v)| match k.as_str() {
                "gather_subset" | "module_setup" => (k.clone(), v.clone()),
                _ => (format!("ansible_{k}"), v.clone()),
            })
            .collect();
        let mut plan = Plan::unchanged();
        plan.values.insert("ansible_facts".into(), map_value(shown));
        if !warnings.is_empty() {
            let w: Vec<Value> = warnings.into_iter().map(Value::from).collect();
            plan.values.insert("warnings".into(), Value::from(w));
        }
        plan.facts = Some(facts);
        plan.facts_kind = super::FactKind::AnsibleFacts;
        Outcome::Unchanged(plan)
    }

    fn apply(&self, _a: &Gather, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}

/// Every collector's facts from the sections' lines, under their bare names.
fn gathered(
    lines: &dyn Fn(&str) -> Vec<String>,
    has: &dyn Fn(&str) -> bool,
    fact_path: &str,
    warnings: &mut Vec<String>,
) -> VarMap {
    // The lines made from the `/proc` files read at once, with their sections' own.
    let files = lines("files");
    let with_files = |k: &str| -> Vec<String> {
        let mut v = lines(k);
        match k {
            "cpu" => v.extend(proc_files::cpu_lines(&files)),
            "meminfo" => v.extend(proc_files::meminfo_lines(&files)),
            "virt" => v.extend(proc_files::virt_lines(&files)),
            _ => {}
        }
        v
    };
    let lines: &dyn Fn(&str) -> Vec<String> = &with_files;
    let mut f = parse_facts(lines, has);
    let mut more = serde_json::Map::new();
    misc_facts::misc_facts(lines, has, fact_path, &mut more, warnings);
    if has("hardware") {
        let arch = f
            .get("architecture")
            .map(|v| v.to_string())
            .unwrap_or_default();
        hw_facts::hardware_facts(lines, &arch, &mut more);
    }
    if has("network") {
        net_facts::network_facts(lines, &mut more);
    }
    if has("virtual") {
        virtual_facts::virtual_facts(&lines("virt"), &mut f);
    }
    for (k, v) in more {
        f.insert(k, crate::template::filters::json_to_value(v));
    }
    f
}

mod facts;
mod hw_facts;
mod misc_facts;
mod net_facts;
mod proc_files;
mod subset;
mod virtual_facts;

pub use facts::*;
