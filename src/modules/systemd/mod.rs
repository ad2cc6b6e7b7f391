//! `systemd` (alias `systemd_service`): manage a unit through `systemctl`. One probe
//! (`systemctl show` plus `systemctl is-enabled`) reads the unit; a pure function decides the
//! actions (mask/unmask, enable/disable, start/stop/restart/reload, in Ansible's order);
//! `apply` runs them. `service` reuses this on hosts whose service manager is systemd.
//!
//! Files: `decide.rs` (the wanted state, the probed unit, the verbs: pure), `unit.rs` (one
//! unit's sections, decision, steps and failure, shared with `service`), this file (the
//! module's arguments and `daemon-reload`), `tests.rs`.

use super::contract::{Done, Driven, Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use crate::vars::{map_value, VarMap};
use anyhow::Result;
use minijinja::Value;
use std::collections::BTreeMap;

mod decide;
mod unit;

pub(crate) use decide::*;
pub(crate) use unit::*;

/// The `systemd` module, under one of its names.
pub struct Systemd {
    name: &'static str,
}

pub static SYSTEMD: Driven<Systemd> = Driven(Systemd { name: "systemd" });
pub static SYSTEMD_SERVICE: Driven<Systemd> = Driven(Systemd {
    name: "systemd_service",
});

static SPEC: Spec = Spec {
    args: &[
        "name",
        "state",
        "enabled",
        "force",
        "masked",
        "daemon_reload",
        "daemon_reexec",
        "scope",
        "no_block",
    ],
    aliases: &[
        ("unit", "name"),
        ("service", "name"),
        ("daemon-reload", "daemon_reload"),
        ("daemon-reexec", "daemon_reexec"),
    ],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// Reads `state`, `enabled` and `masked` into a `Want`.
pub(super) fn want_from(args: &Args) -> Result<Want> {
    Ok(Want {
        state: match args.str("state") {
            Some(_) => Some(args.choice("state", STATES, "started")?),
            None => None,
        },
        enabled: match args.get("enabled") {
            Some(_) => Some(args.bool_or("enabled", false)?),
            None => None,
        },
        masked: match args.get("masked") {
            Some(_) => Some(args.bool_or("masked", false)?),
            None => None,
        },
    })
}

/// `systemd`'s arguments, typed.
pub struct SdArgs {
    name: Option<String>,
    want: Want,
    flags: Flags,
    reload: bool,
    reexec: bool,
    assume_missing: bool,
}

impl Typed for Systemd {
    type Args = SdArgs;
    type Change = UnitChange;

    fn name(&self) -> &'static str {
        self.name
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<SdArgs> {
        let scope = match args
            .choice("scope", &["system", "user", "global"], "system")?
            .as_str()
        {
            "user" => Scope::User,
            "global" => Scope::Global,
            _ => Scope::System,
        };
        let want = want_from(args)?;
        if scope == Scope::Global && want.state.is_some() {
            return Err(fail(
                "scope: global manages the unit files of all users (enabled, masked); a state needs a running service manager (scope: user or system)",
            ));
        }
        let reload = args.bool_or("daemon_reload", false)?;
        let reexec = args.bool_or("daemon_reexec", false)?;
        let name = args.str("name");
        if let Some(n) = &name {
            super::names::check_service(n)?;
        }
        let acts = want.state.is_some() || want.enabled.is_some() || want.masked.is_some();
        if !acts && !reload && !reexec {
            return Err(fail(
                "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
            ));
        }
        if acts && name.is_none() {
            return Err(fail(
                "missing required argument `name` (state, enabled and masked need a unit)",
            ));
        }
        Ok(SdArgs {
            name,
            want,
            flags: Flags {
                no_block: args.bool_or("no_block", false)?,
                force: args.bool_or("force", false)?,
                scope,
            },
            reload,
            reexec,
            assume_missing: host.earlier_change_predicted(),
        })
    }

    /// `daemon-reexec` / `daemon-reload` when asked: Ansible runs them unconditionally
    /// (outside check mode) and does not count them as a change; they come before the unit
    /// is read, so its state reflects edited unit files.
    fn observe(&self, a: &SdArgs) -> Observe {
        let mut effects = Vec::new();
        let scope = a.flags.scope;
        if a.reexec {
            effects.push(("daemon-reexec", systemctl(scope).raw("daemon-reexec\n")));
        }
        if a.reload {
            effects.push(("daemon-reload", systemctl(scope).raw("daemon-reload\n")));
        }
        Observe {
            effects,
            sections: a
                .name
                .as_deref()
                .map(|n| unit_sections(n, scope))
                .unwrap_or_default(),
            ..Observe::default()
        }
    }

    fn decide(&self, a: &SdArgs, seen: &Observed) -> Outcome<UnitChange> {
        for verb in ["daemon-reexec", "daemon-reload"] {
            if let Some(rc) = seen.code(verb).filter(|rc| *rc != 0) {
                return Outcome::Fail(Failure::new(format!(
                    "failure {rc} running systemctl {verb}: {}",
                    seen.stderr.trim()
                )));
            }
        }
        match &a.name {
            Some(n) => decide_unit(n, &a.want, a.flags, seen, a.assume_missing),
            None => Outcome::Unchanged(Plan::unchanged()),
        }
    }

    fn apply(&self, _a: &SdArgs, c: &UnitChange) -> Vec<Step> {
        unit_steps(c)
    }

    fn finish(&self, _a: &SdArgs, c: &UnitChange, done: &Done, report: Plan) -> Plan {
        finish_unit(c, done, report)
    }
}

#[cfg(test)]
mod tests;
