//! `setup`: gather facts with one shell script: one process (`id`; `tr` for PID 1's environment
//! as root, for the virtualization facts); files, `/proc` and the
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

const SCRIPT: &str = r#"echo @uname; { read -r a </proc/sys/kernel/ostype && read -r b </proc/sys/kernel/hostname && read -r c </proc/sys/kernel/osrelease && read -r d </proc/sys/kernel/arch && echo "$a $b $c $d"; } 2>/dev/null || uname -snrm
echo @umask; umask
echo @id; LC_ALL=C id
echo @os; [ -r /etc/os-release ] && while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done </etc/os-release
echo @debver; [ -r /etc/debian_version ] && while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done </etc/debian_version
echo @pkg; for p in apt-get dnf yum apk zypper pacman; do if command -v "$p" >/dev/null 2>&1; then echo "$p"; break; fi; done
echo @svc; if [ -d /run/systemd/system ]; then echo systemd; elif [ -x /sbin/openrc-run ] || [ -x /usr/sbin/openrc-run ]; then echo openrc; elif [ -d /etc/init.d ]; then echo sysvinit; else echo service; fi
echo @systemd; if [ -d /run/systemd/system ]; then systemctl --version 2>/dev/null | { read -r a; read -r b; echo "$a"; echo "$b"; }; fi
echo @home; echo "$HOME"
echo @shell; echo "${SHELL:-/bin/sh}"
echo @mem; while read -r k v u; do if [ "$k" = MemTotal: ]; then echo "$v"; fi; done </proc/meminfo 2>/dev/null
echo @nproc; n=0; while read -r k _; do [ "$k" = processor ] && n=$((n+1)); done </proc/cpuinfo 2>/dev/null; if [ "$n" -gt 0 ]; then echo "$n"; else getconf _NPROCESSORS_ONLN 2>/dev/null; fi
echo @selinux; if [ -r /sys/fs/selinux/enforce ]; then read -r e </sys/fs/selinux/enforce && echo "$e"; fi
echo @fips; if [ -r /proc/sys/crypto/fips_enabled ]; then read -r e </proc/sys/crypto/fips_enabled && echo "$e"; fi
echo @python; if p=$(command -v python3 2>/dev/null); then echo "$p"; for f in "$p".[0-9]*; do case "${f##*/}" in python3.[0-9]|python3.[0-9][0-9]) echo "${f##*/python}";; esac; done; fi
echo @env; export -p
"#;

impl Typed for Setup {
    /// `filter`: the fact-name patterns to keep (all when empty).
    type Args = Vec<String>;
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

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<Vec<String>> {
        Ok(args.list("filter"))
    }

    /// One section per line of `SCRIPT` (`echo @NAME; command`); the identity and umask it
    /// reads are kept in the connection's memo for the file modules.
    fn observe(&self, _a: &Vec<String>) -> Observe {
        let mut sections: Vec<(&'static str, Script)> = SCRIPT
            .lines()
            .filter_map(|l| {
                let (name, cmd) = l.strip_prefix("echo @")?.split_once("; ")?;
                Some((name, Script::new().raw(cmd).raw("\n")))
            })
            .collect();
        sections.push(("virt", Script::new().raw(virtual_facts::PROBE).raw("\n")));
        Observe {
            sections,
            remember_identity: true,
            ..Observe::default()
        }
    }

    fn decide(&self, filter: &Vec<String>, seen: &Observed) -> Outcome<Infallible> {
        if seen.sections.is_empty() {
            return Outcome::Fail(Failure::new(format!(
                "gathering facts failed: {}",
                seen.stderr.trim()
            )));
        }
        let mut facts = parse_facts(&|k| seen.section(k).lines().map(str::to_string).collect());
        // Ansible's `filter`: fnmatch patterns on the `ansible_` names (a bare name matches
        // too), a fact kept when any pattern matches.
        if !filter.is_empty() {
            facts.retain(|k, _| {
                let full = format!("ansible_{k}");
                filter
                    .iter()
                    .any(|p| crate::glob::fnmatch(p, &full) || crate::glob::fnmatch(p, k))
            });
        }
        let mut plan = Plan::unchanged();
        plan.values
            .insert("ansible_facts".into(), map_value(facts.clone()));
        plan.facts = Some(facts);
        plan.facts_kind = super::FactKind::AnsibleFacts;
        Outcome::Unchanged(plan)
    }

    fn apply(&self, _a: &Vec<String>, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}

mod facts;
mod virtual_facts;

pub use facts::*;
