//! `systemd` (alias `systemd_service`): manage a unit through `systemctl`. One probe
//! (`systemctl show` plus `systemctl is-enabled`) reads the unit; a pure function decides the
//! actions (mask/unmask, enable/disable, start/stop/restart/reload, in Ansible's order);
//! `apply` runs them. `service` reuses this on hosts whose service manager is systemd.
//!
//! Files: `decide.rs` (the wanted state, the probed unit, the verbs: pure), this file
//! (arguments, the probe, plan, apply, `daemon-reload`), `tests.rs`.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
use crate::vars::{map_value, VarMap};
use anyhow::Result;
use minijinja::Value;
use std::collections::BTreeMap;

mod decide;

pub(crate) use decide::*;

/// The `systemd` module, under one of its names.
pub struct Systemd {
    name: &'static str,
}

pub static SYSTEMD: Systemd = Systemd { name: "systemd" };
pub static SYSTEMD_SERVICE: Systemd = Systemd {
    name: "systemd_service",
};

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
};

/// The properties read with `systemctl show` and returned as `status`.
const PROPS: &str = "Id,Names,Description,LoadState,ActiveState,SubState,UnitFileState,UnitFilePreset,MainPID,FragmentPath,NeedDaemonReload,CanReload,CanStart,CanStop";

/// `systemctl` options: `--no-block` for start/stop/restart/reload, `--force` for
/// enable/disable/mask/unmask.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flags {
    pub no_block: bool,
    pub force: bool,
}

/// The work `apply` does for a unit.
pub(super) struct UnitWork {
    name: String,
    actions: Vec<&'static str>,
    flags: Flags,
}

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

/// Probes the unit and decides; shared by `systemd` and `service`.
pub(super) fn plan_unit(
    ctx: &mut ModuleCtx,
    name: &str,
    want: &Want,
    flags: Flags,
) -> Result<Plan> {
    let probe = format!(
        "systemctl show -p {PROPS} -- {n} 2>&1; echo @is-enabled; systemctl is-enabled --full -- {n} 2>/dev/null; echo \"@rc $?\"",
        n = quote(name)
    );
    let out = ctx.run(&probe)?;
    let mut st = parse_probe(&out.stdout_str());
    let text = out.stdout_str();
    let show = text.split("@is-enabled").next().unwrap_or("");
    // systemd offline (a chroot, `SYSTEMD_OFFLINE=1`): `show` is ignored; as Ansible, the unit
    // exists if `is-enabled` names a state, enabling still works, and a wanted state is not
    // checked (with a warning).
    let offline = st.props.is_empty()
        && !show.contains('=')
        && (show.contains("ignoring command") || show.contains("ignoring request"));
    let mut offline_warning = None;
    let want_offline;
    let want = if offline {
        const STATES: &[&str] = &[
            "enabled",
            "enabled-runtime",
            "linked",
            "linked-runtime",
            "masked",
            "masked-runtime",
            "static",
            "indirect",
            "disabled",
            "generated",
            "transient",
        ];
        if !STATES.contains(&st.is_enabled.as_str()) {
            return Ok(
                Plan::fail(format!("Could not find the requested service {name}: host"))
                    .with_value("name", name),
            );
        }
        st.props.insert("LoadState".into(), "loaded".into());
        if want.state.is_some() {
            offline_warning = Some("Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working.");
        }
        want_offline = Want {
            state: None,
            ..want.clone()
        };
        &want_offline
    } else {
        want
    };
    if st.props.is_empty() {
        return Ok(Plan::fail(format!(
            "systemctl could not read the unit {name}: {}",
            out.stdout_str().trim()
        )));
    }
    let status = map_value(
        st.props
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<VarMap>(),
    );
    // In check mode an earlier task of the same run that predicted a change may be what
    // installs the unit (it did not, because nothing changes): predict for a loaded,
    // inactive, disabled unit. With no such task, a missing unit fails, as in Ansible.
    let assumed = (!st.found() && ctx.check && ctx.check_changed).then(|| {
        let mut a = UnitStatus::default();
        for (k, v) in [
            ("LoadState", "loaded"),
            ("ActiveState", "inactive"),
            ("UnitFileState", "disabled"),
        ] {
            a.props.insert(k.to_string(), v.to_string());
        }
        a.is_enabled = "disabled".into();
        a.is_enabled_rc = 1;
        a
    });
    let mut plan = match decide(name, assumed.as_ref().unwrap_or(&st), want) {
        Err(msg) => return Ok(Plan::fail(msg).with_value("name", name)),
        Ok(actions) if actions.is_empty() => Plan::unchanged(),
        Ok(actions) => Plan::change(UnitWork {
            name: name.to_string(),
            actions,
            flags,
        }),
    };
    if assumed.is_some() {
        plan = plan.with_msg(format!(
            "the unit {name} does not exist yet; check mode assumes an earlier task installs it"
        ));
    }
    plan = plan.with_value("name", name).with_value("status", status);
    if let Some(s) = &want.state {
        let shown = if s == "stopped" { "stopped" } else { "started" };
        plan = plan.with_value("state", shown);
    }
    if let Some(e) = want.enabled {
        plan = plan.with_value("enabled", e);
    }
    if let Some(m) = want.masked {
        plan = plan.with_value("masked", m);
    }
    if let Some(w) = offline_warning {
        plan = plan.with_value("warnings", Value::from(vec![w]));
    }
    Ok(plan)
}

/// Runs the planned `systemctl` verbs; stops at the first failure.
pub(super) fn apply_unit(ctx: &mut ModuleCtx, mut plan: Plan) -> Result<Plan> {
    let work: UnitWork = plan.take_work()?;
    for verb in work.actions {
        let opt = match verb {
            "start" | "stop" | "restart" | "reload" if work.flags.no_block => " --no-block",
            "enable" | "disable" | "mask" | "unmask" if work.flags.force => " --force",
            _ => "",
        };
        let out = ctx.run(&format!("systemctl{opt} {verb} -- {}", quote(&work.name)))?;
        if out.rc != 0 {
            // Ansible's words per verb; a failed verb reports no change.
            plan.failed = true;
            plan.changed = false;
            plan.msg = Some(match verb {
                "mask" | "unmask" => format!(
                    "Failed to {verb} the service ({}): {}",
                    work.name,
                    out.stderr_str().trim()
                ),
                "enable" | "disable" => format!(
                    "Unable to {verb} service {}: {}{}",
                    work.name,
                    out.stdout_str(),
                    out.stderr_str()
                ),
                _ => format!(
                    "Unable to {verb} service {}: {}",
                    work.name,
                    out.stderr_str()
                ),
            });
            return Ok(plan);
        }
    }
    Ok(plan)
}

/// Runs `daemon-reload` / `daemon-reexec` when asked. Ansible does this unconditionally
/// (outside check mode) and does not count it as a change; it must happen before the probe
/// so the unit's state reflects edited unit files.
pub(super) fn daemon_ops(ctx: &mut ModuleCtx, reload: bool, reexec: bool) -> Result<Option<Plan>> {
    if ctx.check {
        return Ok(None);
    }
    for (asked, verb) in [(reexec, "daemon-reexec"), (reload, "daemon-reload")] {
        if asked {
            let out = ctx.run(&format!("systemctl {verb}"))?;
            if out.rc != 0 {
                return Ok(Some(Plan::fail(format!(
                    "failure {} running systemctl {verb}: {}",
                    out.rc,
                    out.stderr_str().trim()
                ))));
            }
        }
    }
    Ok(None)
}

impl Module for Systemd {
    fn name(&self) -> &'static str {
        self.name
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let scope = args.choice("scope", &["system", "user", "global"], "system")?;
        if scope != "system" {
            return Ok(Plan::fail(format!(
                "drover's systemd module supports scope=system only, not `{scope}`"
            )));
        }
        let want = want_from(args)?;
        let reload = args.bool_or("daemon_reload", false)?;
        let reexec = args.bool_or("daemon_reexec", false)?;
        let name = args.str("name");
        if let Some(n) = &name {
            super::names::check_service(n)?;
        }
        let acts = want.state.is_some() || want.enabled.is_some() || want.masked.is_some();
        if !acts && !reload && !reexec {
            return Ok(Plan::fail(
                "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
            ));
        }
        if acts && name.is_none() {
            return Ok(Plan::fail(
                "missing required argument `name` (state, enabled and masked need a unit)",
            ));
        }
        if let Some(failed) = daemon_ops(ctx, reload, reexec)? {
            return Ok(failed);
        }
        match name {
            Some(n) => {
                let flags = Flags {
                    no_block: args.bool_or("no_block", false)?,
                    force: args.bool_or("force", false)?,
                };
                plan_unit(ctx, &n, &want, flags)
            }
            None => Ok(Plan::unchanged()),
        }
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, plan: Plan) -> Result<Plan> {
        apply_unit(ctx, plan)
    }
}

#[cfg(test)]
mod tests;
