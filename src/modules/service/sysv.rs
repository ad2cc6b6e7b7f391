//! Init-script services (hosts without systemd): status from `/etc/init.d/NAME status` (rc 0
//! = running), actions run the script the way `service` would (same clean environment, without
//! the wrapper's processes), boot-time enablement from the `S??NAME` links in `/etc/rc[2-5].d`
//! and `update-rc.d`.

use super::Want;
use crate::modules::contract::{Failure, Script, Step};

/// An init-script service as probed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct SysvStatus {
    /// `/etc/init.d/NAME` exists.
    pub exists: bool,
    pub running: bool,
    /// An `S??NAME` link exists in `/etc/rc[2-5].d`.
    pub enabled: bool,
    /// Any `[SK]??NAME` link exists (the script was registered with `update-rc.d`).
    pub registered: bool,
}

/// What to do to an init-script service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SysvWork {
    pub name: String,
    /// `update-rc.d NAME <verb>` runs, in order.
    pub rc_verbs: Vec<&'static str>,
    /// `service NAME <action>`.
    pub action: Option<&'static str>,
}

/// Parses the probe's `key=value` lines; with a pattern, `pattern=1` decides `running`.
pub(super) fn parse_probe(text: &str) -> SysvStatus {
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
pub(super) fn decide_sysv(name: &str, st: &SysvStatus, want: &Want) -> Result<SysvWork, Failure> {
    if !st.exists {
        return Err(Failure::new(format!(
            "cannot find init script /etc/init.d/{name} for service {name}, possible typo in service name?"
        )));
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
            other => return Err(Failure::new(format!("unknown state `{other}`"))),
        };
    }
    Ok(work)
}

/// Runs `/etc/init.d/$n ACTION` exactly as `service(8)` does on a host without systemd (a
/// clean environment with only the locale, `PATH` and `TERM`), without its wrapper processes.
const INIT_SCRIPT: &str = concat!(
    "env -i LANG=\"${LANG-}\" LANGUAGE=\"${LANGUAGE-}\" LC_CTYPE=\"${LC_CTYPE-}\" ",
    "LC_NUMERIC=\"${LC_NUMERIC-}\" LC_TIME=\"${LC_TIME-}\" LC_COLLATE=\"${LC_COLLATE-}\" ",
    "LC_MONETARY=\"${LC_MONETARY-}\" LC_MESSAGES=\"${LC_MESSAGES-}\" LC_PAPER=\"${LC_PAPER-}\" ",
    "LC_NAME=\"${LC_NAME-}\" LC_ADDRESS=\"${LC_ADDRESS-}\" LC_TELEPHONE=\"${LC_TELEPHONE-}\" ",
    "LC_MEASUREMENT=\"${LC_MEASUREMENT-}\" LC_IDENTIFICATION=\"${LC_IDENTIFICATION-}\" ",
    "LC_ALL=\"${LC_ALL-}\" PATH=\"${PATH-}\" TERM=\"${TERM-}\" \"/etc/init.d/$n\" "
);

/// The section that reads everything the decision needs (`key=value` lines).
pub(super) fn probe_script(name: &str, pattern: Option<&str>) -> Script {
    let s = Script::new().set("n", name).raw(concat!(
        "if [ -f \"/etc/init.d/$n\" ]; then echo script=1; else echo script=0; fi\n",
        "if [ -x \"/etc/init.d/$n\" ]; then \"/etc/init.d/$n\" status >/dev/null 2>&1; echo \"status=$?\"; fi\n",
        "set -- /etc/rc[2-5].d/S??\"$n\"; if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo enabled=1; fi\n",
        "set -- /etc/rc[0-6S].d/[SK]??\"$n\"; if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo registered=1; fi\n",
    ));
    match pattern {
        Some(p) => s
            .raw("if pgrep -f --")
            .arg(p)
            .raw(" >/dev/null 2>&1; then echo pattern=1; else echo pattern=0; fi\n"),
        None => s,
    }
}

/// The commands of a change, each with what its failure message says it was.
pub(super) fn sysv_steps(work: &SysvWork) -> Vec<(Step, String)> {
    let named = || Script::new().set("n", &work.name);
    let exec = |script: Script| Step::Exec {
        script,
        stdin: None,
    };
    let mut steps = Vec::new();
    let mut verbs = work.rc_verbs.as_slice();
    if let ["defaults", "enable", rest @ ..] = verbs {
        // As Ansible: register the script, then enable it; `enable` changes nothing when
        // the registration already started it in every runlevel 2–5, so it runs only
        // when one lacks an `S` link.
        let s = named().raw(concat!(
            "update-rc.d \"$n\" defaults || exit\n",
            "for l in 2 3 4 5; do set -- /etc/rc$l.d/S??\"$n\"; if [ ! -e \"$1\" ] && [ ! -L \"$1\" ]; then exec update-rc.d \"$n\" enable; fi; done\n"
        ));
        steps.push((exec(s), "update-rc.d enable".to_string()));
        verbs = rest;
    }
    for v in verbs {
        let s = named().raw("update-rc.d \"$n\" ").raw(v).raw("\n");
        steps.push((exec(s), format!("update-rc.d {v}")));
    }
    if let Some(a) = work.action {
        let s = named().raw(INIT_SCRIPT).raw(a).raw("\n");
        steps.push((exec(s), a.to_string()));
    }
    steps
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
        let err = decide_sysv("nope", &SysvStatus::default(), &want(Some("started"), None))
            .unwrap_err()
            .msg;
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
        let s = probe_script("a'b; rm -rf /", Some("$(id)"));
        let cmd = s.text();
        assert!(cmd.starts_with("n='a'\\''b; rm -rf /'\n"), "{cmd}");
        assert!(cmd.contains("pgrep -f -- '$(id)'"), "{cmd}");
    }

    #[test]
    fn probe_runs_in_a_real_shell() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_script("drover-surely-missing-svc", None).text())
            .output()
            .unwrap();
        let s = parse_probe(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(s, SysvStatus::default());
    }
}
