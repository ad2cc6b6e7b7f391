//! `service`: start, stop, restart, reload and enable services, dispatching on the host's
//! service manager (`use`, else `ansible_facts.service_mgr`, else a look at
//! `/run/systemd/system` in the same round trip as the service's own probe). On systemd it is
//! the `systemd` module's unit logic; otherwise it drives the init script (`sysv.rs`).

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::systemd::{self, Flags, UnitChange, Want};
use super::{Args, Plan, Spec};
use anyhow::Result;

mod sysv;

use sysv::{decide_sysv, parse_probe, probe_script, sysv_steps, SysvStatus, SysvWork};

pub struct Service;

/// The arguments: `service`'s own, then (from index 8) those only `systemd` takes, passed on
/// to it when it is the host's manager, as Ansible's action does; the `service` module
/// (sysvinit) refuses them.
static ARGS: [&str; 16] = [
    "name",
    "state",
    "enabled",
    "pattern",
    "sleep",
    "arguments",
    "runlevel",
    "use",
    "daemon_reload",
    "daemon_reexec",
    "force",
    "masked",
    "no_block",
    "scope",
    "_defaults_systemd",
    "_defaults_sysvinit",
];

/// The arguments only `systemd` takes.
static SYSTEMD_ONLY: &[&str] = {
    let (_, rest) = ARGS.split_at(8);
    rest.split_at(6).0
};

static SPEC: Spec = Spec {
    args: &ARGS,
    aliases: &[
        ("args", "arguments"),
        ("daemon-reload", "daemon_reload"),
        ("daemon-reexec", "daemon_reexec"),
    ],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// The task as one service manager reads it (its `module_defaults` merged in).
pub struct Variant {
    name: String,
    want: Want,
    pattern: Option<String>,
    /// systemd's `daemon_reload`, `daemon_reexec`, `no_block` and `force`.
    reload: bool,
    reexec: bool,
    flags: Flags,
}

/// `service`'s arguments: the variant per manager that may run. One manager when `use` or
/// the facts name it; both, chosen by the probe, otherwise.
pub struct SvcArgs {
    systemd: Option<Result<Variant, Failure>>,
    sysv: Option<Result<Variant, Failure>>,
    assume_missing: bool,
}

/// What to do, per manager.
pub enum Change {
    Unit(UnitChange),
    Sysv(SysvWork),
}

/// The manager named by `use` or the gathered fact.
fn known_mgr(args: &Args, host: &dyn Resolve) -> Option<String> {
    if let Some(u) = args.str("use").filter(|u| u != "auto") {
        return Some(u);
    }
    host.vars()
        .get_attr("ansible_facts")
        .ok()
        .and_then(|f| f.get_attr("service_mgr").ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
}

/// The task's arguments with the `module_defaults` of the module that runs for `mgr`, under
/// the task's own.
fn variant(args: &Args, mgr: &str) -> Result<Variant> {
    let mut args = args.clone();
    if let Some(d) = args.get(&format!("_defaults_{mgr}")).cloned() {
        for k in d.try_iter()? {
            let key = k.to_string();
            if SPEC.args.contains(&key.as_str()) && !args.has(&key) {
                args.map.insert(key, d.get_item(&k)?);
            }
        }
    }
    let on_systemd = mgr == "systemd";
    if !on_systemd {
        let given: Vec<&str> = SYSTEMD_ONLY
            .iter()
            .copied()
            .filter(|k| args.has(k))
            .collect();
        if !given.is_empty() {
            return Err(fail(format!(
                "Unsupported parameters for (service) module: {}. Supported parameters include: arguments, enabled, name, pattern, runlevel, sleep, state, use (args).",
                given.join(", ")
            )));
        }
    }
    let name = args.req_str("name")?;
    super::names::check_service(&name)?;
    let want = systemd::want_from(&args)?;
    let (reload, reexec) = (
        args.bool_or("daemon_reload", false)?,
        args.bool_or("daemon_reexec", false)?,
    );
    if on_systemd {
        let scope = args.choice("scope", &["system", "user", "global"], "system")?;
        if scope != "system" {
            return Err(fail(format!(
                "drover's systemd module supports scope=system only, not `{scope}`"
            )));
        }
    }
    let acts = want.state.is_some() || want.enabled.is_some() || want.masked.is_some();
    if !(acts || reload || reexec) {
        return Err(fail(if on_systemd {
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
        } else {
            "one of the following is required: state, enabled"
        }));
    }
    Ok(Variant {
        name,
        want,
        pattern: args.str("pattern"),
        reload,
        reexec,
        flags: Flags {
            no_block: args.bool_or("no_block", false)?,
            force: args.bool_or("force", false)?,
            scope: systemd::Scope::System,
        },
    })
}

/// A variant's error as a failure of the task when that manager is the host's.
fn as_failure(r: Result<Variant>) -> Result<Result<Variant, Failure>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) => match e.downcast::<super::fileops::TaskFail>() {
            Ok(f) => Ok(Err(Failure::with_values(f.msg, f.values))),
            Err(e) => Err(e),
        },
    }
}

/// A section's script, run only on hosts with (or without) systemd.
fn only_if(systemd: bool, s: Script) -> Script {
    let test = if systemd {
        "if [ -d /run/systemd/system ]; then\n"
    } else {
        "if ! [ -d /run/systemd/system ]; then\n"
    };
    Script::new().raw(test).then(s).raw("fi\n")
}

impl Typed for Service {
    type Args = SvcArgs;
    type Change = Change;

    fn name(&self) -> &'static str {
        "service"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<SvcArgs> {
        let (systemd, sysv) = match known_mgr(args, host).as_deref() {
            Some("systemd") => (Some(Ok(variant(args, "systemd")?)), None),
            Some(_) => (None, Some(Ok(variant(args, "sysvinit")?))),
            None => (
                Some(as_failure(variant(args, "systemd"))?),
                Some(as_failure(variant(args, "sysvinit"))?),
            ),
        };
        Ok(SvcArgs {
            systemd,
            sysv,
            assume_missing: host.earlier_change_predicted(),
        })
    }

    fn observe(&self, a: &SvcArgs) -> Observe {
        let both = a.systemd.is_some() && a.sysv.is_some();
        let mut sections = Vec::new();
        if both {
            sections.push((
                "mgr",
                Script::new().raw(
                    "if [ -d /run/systemd/system ]; then echo systemd; else echo sysvinit; fi\n",
                ),
            ));
        }
        let mut effects = Vec::new();
        if let Some(Ok(v)) = &a.systemd {
            // Before the unit is read, as the `systemd` module does (not counted as a change).
            for (on, verb, s) in [
                (v.reexec, "daemon-reexec", "systemctl daemon-reexec\n"),
                (v.reload, "daemon-reload", "systemctl daemon-reload\n"),
            ] {
                if on {
                    let s = Script::new().raw(s);
                    effects.push((verb, if both { only_if(true, s) } else { s }));
                }
            }
            for (n, s) in systemd::unit_sections(&v.name, systemd::Scope::System) {
                sections.push((n, if both { only_if(true, s) } else { s }));
            }
        }
        if let Some(Ok(v)) = &a.sysv {
            let s = probe_script(&v.name, v.pattern.as_deref());
            sections.push(("sysv", if both { only_if(false, s) } else { s }));
        }
        Observe {
            sections,
            effects,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &SvcArgs, seen: &Observed) -> Outcome<Change> {
        let on_systemd = match (&a.systemd, &a.sysv) {
            (Some(_), Some(_)) => seen.section("mgr").trim() == "systemd",
            (s, _) => s.is_some(),
        };
        let chosen = if on_systemd { &a.systemd } else { &a.sysv };
        let v = match chosen {
            Some(Ok(v)) => v,
            Some(Err(f)) => return Outcome::Fail(f.clone()),
            None => return Outcome::Fail(Failure::new("invariant: no service manager chosen")),
        };
        if on_systemd {
            for verb in ["daemon-reexec", "daemon-reload"] {
                if let Some(rc) = seen.code(verb).filter(|rc| *rc != 0) {
                    return Outcome::Fail(Failure::new(format!(
                        "failure {rc} running systemctl {verb}: {}",
                        seen.stderr.trim()
                    )));
                }
            }
            return systemd::decide_unit(&v.name, &v.want, v.flags, seen, a.assume_missing)
                .map(Change::Unit);
        }
        decide_on_sysv(v, parse_probe(seen.section("sysv")), a.assume_missing)
    }

    fn apply(&self, _a: &SvcArgs, c: &Change) -> Vec<Step> {
        match c {
            Change::Unit(u) => systemd::unit_steps(u),
            Change::Sysv(w) => sysv_steps(w).into_iter().map(|(s, _)| s).collect(),
        }
    }

    fn finish(&self, _a: &SvcArgs, c: &Change, done: &Done, report: Plan) -> Plan {
        let w = match c {
            Change::Unit(u) => return systemd::finish_unit(u, done, report),
            Change::Sysv(w) => w,
        };
        let Some(out) = done.outputs.last().filter(|o| o.rc != 0) else {
            return report;
        };
        let what = &sysv_steps(w)[done.outputs.len() - 1].1;
        let mut plan = report;
        plan.mark_failed(true);
        plan.msg = Some(format!(
            "Unable to {what} service {}: {}",
            w.name,
            format!("{} {}", out.stdout_str().trim(), out.stderr_str().trim()).trim()
        ));
        plan
    }
}

/// The decision for an init-script service. In check mode an earlier task of the same run
/// may be what installs a missing init script: predict for a stopped, disabled service.
fn decide_on_sysv(v: &Variant, st: SysvStatus, assume_missing: bool) -> Outcome<Change> {
    let name = &v.name;
    let assumed = (!st.exists && assume_missing).then(|| SysvStatus {
        exists: true,
        ..SysvStatus::default()
    });
    let work = match decide_sysv(name, assumed.as_ref().unwrap_or(&st), &v.want) {
        Ok(w) => w,
        Err(f) => return Outcome::Fail(f.with("name", name.as_str())),
    };
    let mut report = Plan::unchanged();
    if assumed.is_some() {
        report = report.with_msg(format!(
            "/etc/init.d/{name} does not exist yet; check mode assumes an earlier task installs it"
        ));
    }
    report = report.with_value("name", name.as_str());
    if let Some(s) = &v.want.state {
        let shown = if s == "stopped" { "stopped" } else { "started" };
        report = report.with_value("state", shown);
    }
    if let Some(e) = v.want.enabled {
        report = report.with_value("enabled", e);
    }
    if work.rc_verbs.is_empty() && work.action.is_none() {
        Outcome::Unchanged(report)
    } else {
        Outcome::change(Change::Sysv(work), report)
    }
}
