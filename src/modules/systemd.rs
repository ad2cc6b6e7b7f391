//! `systemd` (alias `systemd_service`): manage a unit through `systemctl`. One probe
//! (`systemctl show` plus `systemctl is-enabled`) reads the unit; a pure function decides the
//! actions (mask/unmask, enable/disable, start/stop/restart/reload, in Ansible's order);
//! `apply` runs them. `service` reuses this on hosts whose service manager is systemd.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
use crate::vars::{map_value, VarMap};
use anyhow::Result;
use minijinja::Value;
use std::collections::BTreeMap;

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

/// The states `state` accepts.
pub(super) const STATES: &[&str] = &["started", "stopped", "restarted", "reloaded"];

/// What a task asks of a unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Want {
    pub state: Option<String>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
}

/// A unit as probed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct UnitStatus {
    /// `systemctl show` properties.
    pub props: BTreeMap<String, String>,
    /// `systemctl is-enabled` output (first line) and exit code.
    pub is_enabled: String,
    pub is_enabled_rc: i32,
    /// `is-enabled --full` listed installation targets under its answer.
    pub is_enabled_targets: bool,
}

impl UnitStatus {
    fn prop(&self, k: &str) -> &str {
        self.props.get(k).map(String::as_str).unwrap_or("")
    }
    fn masked(&self) -> bool {
        self.prop("UnitFileState") == "masked"
            || self.prop("LoadState") == "masked"
            || self.is_enabled == "masked"
    }
    fn found(&self) -> bool {
        let load = self.prop("LoadState");
        !load.is_empty() && load != "not-found"
    }
    /// Ansible: `is-enabled --full` succeeded, unless its whole answer is `indirect`,
    /// `alias` or `enabled-runtime` (an `indirect` unit whose `Also=` units are enabled lists
    /// them below, and counts as enabled).
    fn enabled(&self) -> bool {
        self.is_enabled_rc == 0
            && (self.is_enabled_targets
                || !matches!(
                    self.is_enabled.as_str(),
                    "indirect" | "alias" | "enabled-runtime"
                ))
    }
    fn running(&self) -> bool {
        matches!(self.prop("ActiveState"), "active" | "activating")
    }
    fn deactivating(&self) -> bool {
        self.prop("ActiveState") == "deactivating"
    }
}

/// Parses the probe: `systemctl show` lines, then `@is-enabled`, its output, and `@rc N`.
pub(super) fn parse_probe(text: &str) -> UnitStatus {
    let mut st = UnitStatus {
        is_enabled_rc: -1,
        ..UnitStatus::default()
    };
    let mut section = "show";
    for line in text.lines() {
        if line == "@is-enabled" {
            section = "is-enabled";
        } else if let Some(rc) = line.strip_prefix("@rc ") {
            st.is_enabled_rc = rc.trim().parse().unwrap_or(-1);
        } else if section == "show" {
            if let Some((k, v)) = line.split_once('=') {
                st.props.insert(k.to_string(), v.to_string());
            }
        } else if st.is_enabled.is_empty() && !line.trim().is_empty() {
            st.is_enabled = line.trim().to_string();
        } else if !line.trim().is_empty() {
            st.is_enabled_targets = true;
        }
    }
    st
}

/// The `systemctl` verbs to run, in order, or why the task fails.
pub(super) fn decide(
    name: &str,
    st: &UnitStatus,
    want: &Want,
) -> Result<Vec<&'static str>, String> {
    let mut actions = Vec::new();
    let not_found = || format!("Could not find the requested service {name}: host");
    if let Some(m) = want.masked {
        if m != st.masked() {
            actions.push(if m { "mask" } else { "unmask" });
        }
    }
    let masked_after = want.masked.unwrap_or_else(|| st.masked());
    if let Some(e) = want.enabled {
        if !st.found() && !masked_after {
            return Err(not_found());
        }
        if e != st.enabled() {
            actions.push(if e { "enable" } else { "disable" });
        }
    }
    if let Some(state) = &want.state {
        if !st.found() && !st.masked() {
            return Err(not_found());
        }
        let running = st.running();
        let verb = match state.as_str() {
            "started" => (!running).then_some("start"),
            "stopped" => (running || st.deactivating()).then_some("stop"),
            "restarted" => Some(if running { "restart" } else { "start" }),
            "reloaded" => Some(if running { "reload" } else { "start" }),
            other => return Err(format!("unknown state `{other}`")),
        };
        actions.extend(verb);
    }
    Ok(actions)
}

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
mod tests {
    use super::*;

    fn unit(active: &str, file_state: &str, is_enabled: &str, rc: i32) -> UnitStatus {
        let text = format!(
            "Id=x.service\nLoadState={}\nActiveState={active}\nSubState=dead\nUnitFileState={file_state}\n@is-enabled\n{is_enabled}\n@rc {rc}\n",
            if file_state == "masked" { "masked" } else { "loaded" }
        );
        parse_probe(&text)
    }

    fn want(state: Option<&str>, enabled: Option<bool>, masked: Option<bool>) -> Want {
        Want {
            state: state.map(str::to_string),
            enabled,
            masked,
        }
    }

    #[test]
    fn parses_show_and_is_enabled() {
        let st = parse_probe("Id=a.service\nDescription=x=y\n@is-enabled\nenabled\n@rc 0\n");
        assert_eq!(st.props["Description"], "x=y");
        assert_eq!(st.is_enabled, "enabled");
        assert_eq!(st.is_enabled_rc, 0);
        assert!(st.enabled());
    }

    #[test]
    fn decisions_table() {
        let stopped_disabled = unit("inactive", "disabled", "disabled", 1);
        let running_enabled = unit("active", "enabled", "enabled", 0);
        let masked = unit("inactive", "masked", "masked", 1);
        let deactivating = unit("deactivating", "enabled", "enabled", 0);
        let static_unit = unit("active", "static", "static", 0);
        let indirect_unit = unit("active", "indirect", "indirect", 0);
        let table: Vec<(&UnitStatus, Want, Vec<&str>)> = vec![
            (
                &stopped_disabled,
                want(Some("started"), None, None),
                vec!["start"],
            ),
            (
                &running_enabled,
                want(Some("started"), Some(true), None),
                vec![],
            ),
            (
                &stopped_disabled,
                want(Some("started"), Some(true), None),
                vec!["enable", "start"],
            ),
            (
                &running_enabled,
                want(Some("stopped"), Some(false), None),
                vec!["disable", "stop"],
            ),
            (&stopped_disabled, want(Some("stopped"), None, None), vec![]),
            (
                &running_enabled,
                want(Some("restarted"), None, None),
                vec!["restart"],
            ),
            (
                &stopped_disabled,
                want(Some("restarted"), None, None),
                vec!["start"],
            ),
            (
                &running_enabled,
                want(Some("reloaded"), None, None),
                vec!["reload"],
            ),
            (
                &stopped_disabled,
                want(Some("reloaded"), None, None),
                vec!["start"],
            ),
            (&masked, want(None, None, Some(true)), vec![]),
            (
                &masked,
                want(Some("started"), None, Some(false)),
                vec!["unmask", "start"],
            ),
            (
                &stopped_disabled,
                want(None, None, Some(true)),
                vec!["mask"],
            ),
            (
                &deactivating,
                want(Some("stopped"), None, None),
                vec!["stop"],
            ),
            (&static_unit, want(None, Some(true), None), vec![]),
            (&indirect_unit, want(None, Some(true), None), vec!["enable"]),
        ];
        for (st, w, expect) in table {
            assert_eq!(decide("x", st, &w).unwrap(), expect, "{st:?} {w:?}");
        }
    }

    #[test]
    fn missing_units_fail() {
        let st = parse_probe(
            "Id=nope.service\nLoadState=not-found\nActiveState=inactive\n@is-enabled\n@rc 1\n",
        );
        let err = decide("nope", &st, &want(Some("started"), None, None)).unwrap_err();
        assert!(
            err.contains("Could not find the requested service nope"),
            "{err}"
        );
        assert!(decide("nope", &st, &want(None, Some(true), None)).is_err());
        assert_eq!(
            decide("nope", &st, &want(None, None, None)).unwrap(),
            Vec::<&str>::new()
        );
    }
}
