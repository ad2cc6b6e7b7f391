//! One unit, shared by `systemd` and `service` (on systemd hosts): what to observe
//! (`systemctl show`, `is-enabled`), the decision (verbs in Ansible's order, with the result's
//! keys), the steps (one `systemctl` per verb) and the failure message of a verb.

use super::*;
use crate::modules::contract::{Done, Failure, Observed, Outcome, Script, Step};

/// The properties read with `systemctl show` and returned as `status`.
const PROPS: &str = "Id,Names,Description,LoadState,ActiveState,SubState,UnitFileState,UnitFilePreset,MainPID,FragmentPath,NeedDaemonReload,CanReload,CanStart,CanStop";

/// `systemctl` options: `--no-block` for start/stop/restart/reload, `--force` for
/// enable/disable/mask/unmask, and the service manager (`scope`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Flags {
    pub no_block: bool,
    pub force: bool,
    pub scope: Scope,
}

/// Which service manager: the system's, the connecting user's (`--user`), or the unit files
/// of all users (`--global`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Scope {
    #[default]
    System,
    User,
    Global,
}

/// `systemctl ` for the scope; the user's manager is found through `XDG_RUNTIME_DIR`, set as
/// Ansible's module sets it when the session has none.
pub(crate) fn systemctl(scope: Scope) -> Script {
    match scope {
        Scope::System => Script::new().raw("systemctl "),
        Scope::User => Script::new().raw(
            "[ -n \"${XDG_RUNTIME_DIR:-}\" ] || XDG_RUNTIME_DIR=/run/user/$(id -u); export XDG_RUNTIME_DIR\nsystemctl --user ",
        ),
        Scope::Global => Script::new().raw("systemctl --global "),
    }
}

/// The verbs to run on a unit.
#[derive(Clone, Debug)]
pub struct UnitChange {
    name: String,
    actions: Vec<&'static str>,
    flags: Flags,
}

/// The sections that read a unit.
pub(crate) fn unit_sections(name: &str, scope: Scope) -> Vec<(&'static str, Script)> {
    vec![
        (
            "show",
            systemctl(scope)
                .raw("show -p ")
                .raw(PROPS)
                .raw(" --")
                .arg(name)
                .raw(" 2>&1\n"),
        ),
        (
            "is-enabled",
            systemctl(scope)
                .raw("is-enabled --full --")
                .arg(name)
                .raw(" 2>/dev/null\n"),
        ),
    ]
}

/// The states `is-enabled` names for a unit that exists (systemd offline).
const KNOWN_STATES: &[&str] = &[
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

/// The decision for one unit. `assume_missing`: in check mode, an earlier task that
/// predicted a change may be what installs a missing unit (predict for a loaded, inactive,
/// disabled one); with no such task a missing unit fails, as in Ansible.
pub(crate) fn decide_unit(
    name: &str,
    want: &Want,
    flags: Flags,
    seen: &Observed,
    assume_missing: bool,
) -> Outcome<UnitChange> {
    let show = seen.section("show");
    let mut st = unit_status(show, seen.section("is-enabled"), seen.code("is-enabled"));
    // systemd offline (a chroot, `SYSTEMD_OFFLINE=1`): `show` is ignored; as Ansible, the unit
    // exists if `is-enabled` names a state, enabling still works, and a wanted state is not
    // checked (with a warning).
    // `--global` reads unit files only (`show` needs a running manager): as offline.
    let offline = st.props.is_empty()
        && !show.contains('=')
        && (show.contains("ignoring command")
            || show.contains("ignoring request")
            || flags.scope == Scope::Global);
    let mut offline_warning = None;
    let want_offline;
    let want = if offline {
        if !KNOWN_STATES.contains(&st.is_enabled.as_str()) {
            return Outcome::Fail(
                Failure::new(format!("Could not find the requested service {name}: host"))
                    .with("name", name),
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
        return Outcome::Fail(Failure::new(format!(
            "systemctl could not read the unit {name}: {}",
            show.trim()
        )));
    }
    let status = map_value(
        st.props
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<VarMap>(),
    );
    let assumed = (!st.found() && assume_missing).then(|| {
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
    let actions = match decide(name, assumed.as_ref().unwrap_or(&st), want) {
        Err(f) => return Outcome::Fail(f.with("name", name)),
        Ok(actions) => actions,
    };
    let mut report = Plan::unchanged();
    if assumed.is_some() {
        report = report.with_msg(format!(
            "the unit {name} does not exist yet; check mode assumes an earlier task installs it"
        ));
    }
    report = report.with_value("name", name).with_value("status", status);
    if let Some(s) = &want.state {
        let shown = if s == "stopped" { "stopped" } else { "started" };
        report = report.with_value("state", shown);
    }
    if let Some(e) = want.enabled {
        report = report.with_value("enabled", e);
    }
    if let Some(m) = want.masked {
        report = report.with_value("masked", m);
    }
    if let Some(w) = offline_warning {
        report = report.with_value("warnings", Value::from(vec![w]));
    }
    if actions.is_empty() {
        return Outcome::Unchanged(report);
    }
    let change = UnitChange {
        name: name.to_string(),
        actions,
        flags,
    };
    Outcome::change(change, report)
}

/// One `systemctl` per verb; the first failing one stops the rest.
pub(crate) fn unit_steps(c: &UnitChange) -> Vec<Step> {
    c.actions
        .iter()
        .map(|verb| {
            let s = systemctl(c.flags.scope);
            let s = match *verb {
                "start" | "stop" | "restart" | "reload" if c.flags.no_block => s.raw("--no-block "),
                "enable" | "disable" | "mask" | "unmask" if c.flags.force => s.raw("--force "),
                _ => s,
            };
            Step::Exec {
                script: s.raw(verb).raw(" --").arg(&c.name).raw("\n"),
                stdin: None,
            }
        })
        .collect()
}

/// The result once the verbs ran: Ansible's words for a failed verb (no change reported).
pub(crate) fn finish_unit(c: &UnitChange, done: &Done, report: Plan) -> Plan {
    let Some(out) = done.outputs.last().filter(|o| o.rc != 0) else {
        return report;
    };
    let verb = c.actions[done.outputs.len() - 1];
    let name = &c.name;
    let msg = match verb {
        "mask" | "unmask" => format!(
            "Failed to {verb} the service ({name}): {}",
            out.stderr_str().trim()
        ),
        "enable" | "disable" => format!(
            "Unable to {verb} service {name}: {}{}",
            out.stdout_str(),
            out.stderr_str()
        ),
        _ => format!("Unable to {verb} service {name}: {}", out.stderr_str()),
    };
    let mut plan = report;
    plan.mark_failed(false);
    plan.msg = Some(msg);
    plan
}
