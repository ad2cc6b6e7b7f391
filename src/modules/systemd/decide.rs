//! What a task asks of a unit, the unit as probed (`systemctl show`, `is-enabled`), and the
//! `systemctl` verbs that bring one to the other, in Ansible's order (pure, table-tested).

use super::*;

/// The states `state` accepts.
pub(crate) const STATES: &[&str] = &["started", "stopped", "restarted", "reloaded"];

/// What a task asks of a unit.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Want {
    pub state: Option<String>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
}

/// A unit as probed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UnitStatus {
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
    pub(crate) fn masked(&self) -> bool {
        self.prop("UnitFileState") == "masked"
            || self.prop("LoadState") == "masked"
            || self.is_enabled == "masked"
    }
    pub(crate) fn found(&self) -> bool {
        let load = self.prop("LoadState");
        !load.is_empty() && load != "not-found"
    }
    /// Ansible: `is-enabled --full` succeeded, unless its whole answer is `indirect`,
    /// `alias` or `enabled-runtime` (an `indirect` unit whose `Also=` units are enabled lists
    /// them below, and counts as enabled).
    pub(crate) fn enabled(&self) -> bool {
        self.is_enabled_rc == 0
            && (self.is_enabled_targets
                || !matches!(
                    self.is_enabled.as_str(),
                    "indirect" | "alias" | "enabled-runtime"
                ))
    }
    pub(crate) fn running(&self) -> bool {
        matches!(self.prop("ActiveState"), "active" | "activating")
    }
    pub(crate) fn deactivating(&self) -> bool {
        self.prop("ActiveState") == "deactivating"
    }
}

/// A unit from the `systemctl show` lines and the `is-enabled` answer and status.
pub(crate) fn unit_status(show: &str, is_enabled: &str, rc: Option<i32>) -> UnitStatus {
    let mut st = UnitStatus {
        is_enabled_rc: rc.unwrap_or(-1),
        ..UnitStatus::default()
    };
    for line in show.lines() {
        if let Some((k, v)) = line.split_once('=') {
            st.props.insert(k.to_string(), v.to_string());
        }
    }
    for line in is_enabled.lines().filter(|l| !l.trim().is_empty()) {
        if st.is_enabled.is_empty() {
            st.is_enabled = line.trim().to_string();
        } else {
            st.is_enabled_targets = true;
        }
    }
    st
}

/// The `systemctl` verbs to run, in order, or why the task fails.
pub(crate) fn decide(
    name: &str,
    st: &UnitStatus,
    want: &Want,
) -> Result<Vec<&'static str>, Failure> {
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
            return Err(Failure::new(not_found()));
        }
        if e != st.enabled() {
            actions.push(if e { "enable" } else { "disable" });
        }
    }
    if let Some(state) = &want.state {
        if !st.found() && !st.masked() {
            return Err(Failure::new(not_found()));
        }
        let running = st.running();
        let verb = match state.as_str() {
            "started" => (!running).then_some("start"),
            "stopped" => (running || st.deactivating()).then_some("stop"),
            "restarted" => Some(if running { "restart" } else { "start" }),
            "reloaded" => Some(if running { "reload" } else { "start" }),
            other => return Err(Failure::new(format!("unknown state `{other}`"))),
        };
        actions.extend(verb);
    }
    Ok(actions)
}
