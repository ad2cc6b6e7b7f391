//! `service`: start, stop, restart, reload and enable services, dispatching on the host's
//! service manager (`ansible_facts.service_mgr`, or a probe of `/run/systemd/system` when facts
//! were not gathered). On systemd it is the `systemd` module; otherwise it drives the init
//! script: status from `/etc/init.d/NAME status` (rc 0 = running), actions run the script the
//! way `service` would (same clean environment, without the wrapper's processes), boot-time
//! enablement from the `S??NAME` links in `/etc/rc[2-5].d` and `update-rc.d`.

use super::systemd::{self, Want};
use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
use anyhow::Result;

pub struct Service;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "state",
        "enabled",
        "pattern",
        "sleep",
        "arguments",
        "runlevel",
        "use",
        "_defaults_systemd",
        "_defaults_sysvinit",
    ],
    aliases: &[("args", "arguments")],
    free_form: None,
    any_args: false,
};

/// An init-script service as probed.
#[derive(Clone, Debug, Default, PartialEq)]
struct SysvStatus {
    /// `/etc/init.d/NAME` exists.
    exists: bool,
    running: bool,
    /// An `S??NAME` link exists in `/etc/rc[2-5].d`.
    enabled: bool,
    /// Any `[SK]??NAME` link exists (the script was registered with `update-rc.d`).
    registered: bool,
}

/// What to do to an init-script service.
#[derive(Clone, Debug, Default, PartialEq)]
struct SysvWork {
    name: String,
    /// `update-rc.d NAME <verb>` runs, in order.
    rc_verbs: Vec<&'static str>,
    /// `service NAME <action>`.
    action: Option<&'static str>,
}

/// Parses the probe's `key=value` lines; with a pattern, `pattern=1` decides `running`.
fn parse_probe(text: &str) -> SysvStatus {
    let mut st = SysvStatus::default();
    let mut pattern = None;
    for line in text.lines() {
        match line.trim() {
            "script=1" => st.exists = true,
            "status=0" => st.running = true,
            "enabled=1" => st.enabled = true,
            "registered=1" => st.registered = true,
            "pattern=1" => pattern = Some(true),
            "pattern=0" => pattern = Some(false),
            _ => {}
        }
    }
    if let Some(p) = pattern {
        st.running = p;
    }
    st
}

/// Ansible's decisions for an init-script service.
fn decide_sysv(name: &str, st: &SysvStatus, want: &Want) -> Result<SysvWork, String> {
    if !st.exists {
        return Err(format!(
            "cannot find init script /etc/init.d/{name} for service {name}, possible typo in service name?"
        ));
    }
    let mut work = SysvWork {
        name: name.to_string(),
        ..SysvWork::default()
    };
    if let Some(e) = want.enabled {
        if e != st.enabled {
            if !st.registered {
                work.rc_verbs.push("defaults");
            }
            work.rc_verbs.push(if e { "enable" } else { "disable" });
        }
    }
    if let Some(state) = &want.state {
        work.action = match state.as_str() {
            "started" => (!st.running).then_some("start"),
            "stopped" => st.running.then_some("stop"),
            "restarted" => Some("restart"),
            "reloaded" => Some(if st.running { "reload" } else { "start" }),
            other => return Err(format!("unknown state `{other}`")),
        };
    }
    Ok(work)
}

/// Runs `/etc/init.d/NAME ACTION` exactly as `service(8)` does on a host without systemd (a
/// clean environment with only the locale, `PATH` and `TERM`), without its wrapper processes.
fn init_script_cmd(quoted_name: &str, action: &str) -> String {
    const KEEP: &[&str] = &[
        "LANG",
        "LANGUAGE",
        "LC_CTYPE",
        "LC_NUMERIC",
        "LC_TIME",
        "LC_COLLATE",
        "LC_MONETARY",
        "LC_MESSAGES",
        "LC_PAPER",
        "LC_NAME",
        "LC_ADDRESS",
        "LC_TELEPHONE",
        "LC_MEASUREMENT",
        "LC_IDENTIFICATION",
        "LC_ALL",
        "PATH",
        "TERM",
    ];
    let vars: Vec<String> = KEEP.iter().map(|v| format!("{v}=\"${{{v}-}}\"")).collect();
    format!(
        "env -i {} /etc/init.d/{quoted_name} {action}",
        vars.join(" ")
    )
}

/// One command that reads everything the decision needs.
fn probe_cmd(name: &str, pattern: Option<&str>) -> String {
    let mut s = format!(
        "n={}\n\
         if [ -f \"/etc/init.d/$n\" ]; then echo script=1; else echo script=0; fi\n\
         if [ -x \"/etc/init.d/$n\" ]; then \"/etc/init.d/$n\" status >/dev/null 2>&1; echo \"status=$?\"; fi\n\
         set -- /etc/rc[2-5].d/S??\"$n\"; if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo enabled=1; fi\n\
         set -- /etc/rc[0-6S].d/[SK]??\"$n\"; if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo registered=1; fi\n",
        quote(name)
    );
    if let Some(p) = pattern {
        s.push_str(&format!(
            "if pgrep -f -- {} >/dev/null 2>&1; then echo pattern=1; else echo pattern=0; fi\n",
            quote(p)
        ));
    }
    s
}

/// The manager to drive: `use`, else the gathered fact, else a probe.
fn service_mgr(ctx: &mut ModuleCtx, args: &Args) -> Result<String> {
    if let Some(u) = args.str("use").filter(|u| u != "auto") {
        return Ok(u);
    }
    let fact = ctx
        .vars
        .get_attr("ansible_facts")
        .ok()
        .and_then(|f| f.get_attr("service_mgr").ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty());
    if let Some(f) = fact {
        return Ok(f);
    }
    let out = ctx.run("[ -d /run/systemd/system ]")?;
    Ok(if out.rc == 0 { "systemd" } else { "sysvinit" }.into())
}

impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let mgr = service_mgr(ctx, args)?;
        // The `module_defaults` of the module that runs for this manager, under the task's own.
        let mut args = args.clone();
        if let Some(d) = args.get(&format!("_defaults_{mgr}")).cloned() {
            for k in d.try_iter()? {
                let key = k.to_string();
                if SPEC.args.contains(&key.as_str()) && !args.has(&key) {
                    args.map.insert(key, d.get_item(&k)?);
                }
            }
        }
        let args = &args;
        let name = args.req_str("name")?;
        super::names::check_service(&name)?;
        let want = Want {
            masked: None,
            ..systemd::want_from(args)?
        };
        if want.state.is_none() && want.enabled.is_none() {
            return Ok(Plan::fail(
                "one of the following is required: state, enabled",
            ));
        }
        if mgr == "systemd" {
            return systemd::plan_unit(ctx, &name, &want, systemd::Flags::default());
        }
        let pattern = args.str("pattern");
        let out = ctx.run(&probe_cmd(&name, pattern.as_deref()))?;
        let st = parse_probe(&out.stdout_str());
        // In check mode an earlier task of the same run may be what installs the init script
        // (it did not, because nothing changes): predict for a stopped, disabled service.
        let assumed = (!st.exists && ctx.check && ctx.check_changed).then(|| SysvStatus {
            exists: true,
            ..SysvStatus::default()
        });
        let work = match decide_sysv(&name, assumed.as_ref().unwrap_or(&st), &want) {
            Ok(w) => w,
            Err(msg) => return Ok(Plan::fail(msg).with_value("name", name)),
        };
        let mut plan = if work.rc_verbs.is_empty() && work.action.is_none() {
            Plan::unchanged()
        } else {
            Plan::change(work)
        };
        if assumed.is_some() {
            plan = plan.with_msg(format!("/etc/init.d/{name} does not exist yet; check mode assumes an earlier task installs it"));
        }
        plan = plan.with_value("name", name);
        if let Some(s) = &want.state {
            let shown = if s == "stopped" { "stopped" } else { "started" };
            plan = plan.with_value("state", shown);
        }
        if let Some(e) = want.enabled {
            plan = plan.with_value("enabled", e);
        }
        Ok(plan)
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        if plan
            .work
            .as_ref()
            .is_some_and(|w| w.is::<systemd::UnitWork>())
        {
            return systemd::apply_unit(ctx, plan);
        }
        let work: SysvWork = plan.take_work()?;
        let n = quote(&work.name);
        let mut cmds: Vec<(String, String)> = Vec::new();
        let mut verbs = work.rc_verbs.as_slice();
        if let ["defaults", "enable", rest @ ..] = verbs {
            // As Ansible: register the script, then enable it; `enable` changes nothing when
            // the registration already started it in every runlevel 2–5, so it runs only
            // when one lacks an `S` link.
            cmds.push((
                format!("update-rc.d {n} defaults || exit
for l in 2 3 4 5; do set -- /etc/rc$l.d/S??{n}; if [ ! -e \"$1\" ] && [ ! -L \"$1\" ]; then exec update-rc.d {n} enable; fi; done"),
                "update-rc.d enable".to_string(),
            ));
            verbs = rest;
        }
        cmds.extend(
            verbs
                .iter()
                .map(|v| (format!("update-rc.d {n} {v}"), format!("update-rc.d {v}"))),
        );
        if let Some(a) = work.action {
            cmds.push((init_script_cmd(&n, a), a.to_string()));
        }
        for (cmd, what) in cmds {
            let out = ctx.run(&cmd)?;
            if out.rc != 0 {
                plan.failed = true;
                plan.msg = Some(format!(
                    "Unable to {what} service {}: {}",
                    work.name,
                    format!("{} {}", out.stdout_str().trim(), out.stderr_str().trim()).trim()
                ));
                return Ok(plan);
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(running: bool, enabled: bool, registered: bool) -> SysvStatus {
        SysvStatus {
            exists: true,
            running,
            enabled,
            registered,
        }
    }

    fn want(state: Option<&str>, enabled: Option<bool>) -> Want {
        Want {
            state: state.map(str::to_string),
            enabled,
            masked: None,
        }
    }

    #[test]
    fn sysv_decisions() {
        let fresh = st(false, false, false);
        let up = st(true, true, true);
        let disabled_running = st(true, false, true);
        let table: Vec<(&SysvStatus, Want, Vec<&str>, Option<&str>)> = vec![
            (
                &fresh,
                want(Some("started"), Some(true)),
                vec!["defaults", "enable"],
                Some("start"),
            ),
            (&up, want(Some("started"), Some(true)), vec![], None),
            (&up, want(Some("stopped"), None), vec![], Some("stop")),
            (&fresh, want(Some("stopped"), None), vec![], None),
            (&fresh, want(Some("stopped"), Some(false)), vec![], None),
            (&up, want(None, Some(false)), vec!["disable"], None),
            (
                &disabled_running,
                want(None, Some(true)),
                vec!["enable"],
                None,
            ),
            (&up, want(Some("restarted"), None), vec![], Some("restart")),
            (
                &fresh,
                want(Some("restarted"), None),
                vec![],
                Some("restart"),
            ),
            (&up, want(Some("reloaded"), None), vec![], Some("reload")),
            (&fresh, want(Some("reloaded"), None), vec![], Some("start")),
        ];
        for (s, w, verbs, action) in table {
            let got = decide_sysv("x", s, &w).unwrap();
            assert_eq!(got.rc_verbs, verbs, "{s:?} {w:?}");
            assert_eq!(got.action, action, "{s:?} {w:?}");
        }
    }

    #[test]
    fn a_missing_script_fails() {
        let err =
            decide_sysv("nope", &SysvStatus::default(), &want(Some("started"), None)).unwrap_err();
        assert!(err.contains("/etc/init.d/nope"), "{err}");
    }

    #[test]
    fn probe_parsing_and_pattern() {
        let s = parse_probe("script=1\nstatus=3\nenabled=1\nregistered=1\n");
        assert_eq!(s, st(false, true, true));
        let s = parse_probe("script=1\nstatus=0\npattern=0\n");
        assert!(!s.running);
        let s = parse_probe("script=1\nstatus=4\npattern=1\n");
        assert!(s.running);
    }

    #[test]
    fn probe_quotes_the_name_and_pattern() {
        let cmd = probe_cmd("a'b; rm -rf /", Some("$(id)"));
        assert!(cmd.starts_with("n='a'\\''b; rm -rf /'\n"), "{cmd}");
        assert!(cmd.contains("pgrep -f -- '$(id)'"), "{cmd}");
    }

    #[test]
    fn probe_runs_in_a_real_shell() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_cmd("drover-surely-missing-svc", None))
            .output()
            .unwrap();
        let s = parse_probe(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(s, SysvStatus::default());
    }
}
