//! The apt-get operation a plan chooses, its simulation in check mode, and the real run
//! between two dpkg listings; results, diffs and summaries of package changes.

use super::*;

/// The apt-get operation chosen for the packages.
#[derive(Clone, Debug)]
pub(super) struct Op {
    pub(super) sub: &'static str,
    pub(super) extra: Vec<&'static str>,
    pub(super) words: Vec<String>,
}

pub(super) fn choose_op(req: &Request, p: &Probe) -> Result<Option<Op>, Failure> {
    let auto: Vec<&'static str> = if req.autoremove {
        vec!["--autoremove"]
    } else {
        vec![]
    };
    if let Some((name, version)) = &p.deb {
        let same = p
            .observed
            .get(name)
            .is_some_and(|i| i.installed && i.version == *version);
        return Ok((!same).then(|| Op {
            sub: "install",
            extra: auto,
            words: p.deb_path.clone().or(req.deb_arg()).into_iter().collect(),
        }));
    }
    if req.upgrade != "no" {
        let (sub, extra) = match req.upgrade.as_str() {
            "full" | "dist" => ("dist-upgrade", auto),
            _ => ("upgrade", [vec!["--with-new-pkgs"], auto].concat()),
        };
        return Ok(Some(Op {
            sub,
            extra,
            words: vec![],
        }));
    }
    if req.names.is_empty() {
        return Ok(req.autoremove.then(|| Op {
            sub: "autoremove",
            extra: if req.purge { vec!["--purge"] } else { vec![] },
            words: vec![],
        }));
    }
    let d = decide(
        &req.names,
        req.state,
        req.only_upgrade,
        req.purge,
        &p.observed,
        &p.candidates,
    )?;
    if !d.install.is_empty() {
        let mut extra = auto;
        if req.only_upgrade {
            extra.push("--only-upgrade");
        }
        return Ok(Some(Op {
            sub: "install",
            extra,
            words: d.install,
        }));
    }
    if !d.remove.is_empty() {
        let mut extra = auto;
        if req.purge {
            extra.push("--purge");
        }
        return Ok(Some(Op {
            sub: "remove",
            extra,
            words: d.remove,
        }));
    }
    Ok(None)
}

pub(super) fn output_values(stdout: &str, stderr: &str) -> Vec<(String, Value)> {
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    vec![
        ("stdout".into(), Value::from(stdout)),
        ("stderr".into(), Value::from(stderr)),
        ("stdout_lines".into(), Value::from(lines(stdout))),
        ("stderr_lines".into(), Value::from(lines(stderr))),
    ]
}

/// The task failure for an apt-get command that exited non-zero, with apt's own message.
pub(super) fn apt_failure(
    req: &Request,
    op: &Op,
    cmd: &str,
    rc: i32,
    stdout: &str,
    stderr: &str,
) -> Failure {
    let msg = if is_lock_error(stderr) {
        format!(
            "Failed to lock apt for exclusive operation: another process held /var/lib/dpkg/lock-frontend (or apt's lists lock) for more than lock_timeout={} seconds",
            req.lock_timeout
        )
    } else {
        format!(
            "apt-get {}{} failed: {}",
            op.sub,
            op.words.iter().map(|w| format!(" {w}")).collect::<String>(),
            apt_errors(stderr, stdout)
        )
    };
    let mut values = output_values(stdout, stderr);
    values.push(("rc".into(), Value::from(rc)));
    values.push(("cmd".into(), Value::from(cmd)));
    Failure::with_values(msg, values)
}

/// Asks apt what the operation would do (`apt-get -s`; never changes the host): a second
/// look that only a prediction needs.
pub(super) fn observe_simulation(req: &Request, op: &Op) -> Observe {
    Observe {
        sections: vec![("sim", req.apt_get(true, op.sub, &op.extra, &op.words))],
        prediction_only: true,
        ..Observe::default()
    }
}

pub(super) fn diff_of(changes: &[Change]) -> Diff {
    let mut changes = changes.to_vec();
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut before = String::new();
    let mut after = String::new();
    for c in &changes {
        if let Some(o) = &c.old {
            before.push_str(&format!("{} {o}\n", c.name));
        }
        if let Some(n) = &c.new {
            after.push_str(&format!("{} {n}\n", c.name));
        }
    }
    Diff {
        before_header: "packages".into(),
        after_header: "packages".into(),
        before,
        after,
        prepared: None,
    }
}

pub(super) fn summary(changes: &[Change]) -> String {
    let mut changes = changes.to_vec();
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    let names = |acts: &[&str]| {
        changes
            .iter()
            .filter(|c| acts.contains(&c.action.as_str()))
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (inst, rem) = (names(&["Inst"]), names(&["Remv", "Purg"]));
    match (inst.is_empty(), rem.is_empty()) {
        (false, true) => format!("installed: {inst}"),
        (true, false) => format!("removed: {rem}"),
        (false, false) => format!("installed: {inst}; removed: {rem}"),
        (true, true) => String::new(),
    }
}

/// The apt-get operation run for real between two listings of dpkg's database, in one
/// round trip: the sections `before`, `apt` (with apt's status) and `after` of one answer.
pub(super) fn observe_tracked(req: &Request, op: &Op) -> Observe {
    let list = || {
        Script::new()
            .raw("dpkg-query -W -f=")
            .raw(DPKG_FORMAT_Q)
            .raw(" 2>/dev/null\n")
    };
    let mut run = Script::new()
        .raw("(\n")
        .then(with_lock_retry(
            req.apt_get(false, op.sub, &op.extra, &op.words),
            req.lock_timeout,
        ))
        .raw(")\n");
    // As Ansible's `PolicyRcD`: a policy-rc.d that exits with the code for the run, the one
    // there before put back after it.
    if let Some(code) = req.policy_rc_d {
        run = Script::new()
            .set("prc", &code.to_string())
            .raw("pb=; if [ -e /usr/sbin/policy-rc.d ]; then pb=$(mktemp -d) && mv /usr/sbin/policy-rc.d \"$pb/\"; fi\n")
            .raw("printf '#!/bin/sh\\nexit %d\\n' \"$prc\" >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d\n")
            .then(run)
            .raw("r=$?\nrm -f /usr/sbin/policy-rc.d; if [ -n \"$pb\" ]; then mv \"$pb/policy-rc.d\" /usr/sbin/policy-rc.d; rmdir \"$pb\"; fi\n(exit $r)\n");
    }
    Observe {
        sections: vec![("before", list()), ("apt", run), ("after", list())],
        ..Observe::default()
    }
}

/// What a tracked run did: apt's output and the package changes dpkg's state shows, or
/// apt's failure.
pub(super) fn tracked_result(
    req: &Request,
    op: &Op,
    seen: &Observed,
) -> Result<(String, String, Vec<Change>), Failure> {
    let apt_out = seen.section("apt");
    let stderr = seen.stderr.clone();
    let rc = seen.code("apt").unwrap_or(-1);
    if rc != 0 {
        let cmd = req.apt_get(false, op.sub, &op.extra, &op.words);
        return Err(apt_failure(
            req,
            op,
            cmd.text().trim_end(),
            rc,
            apt_out,
            &stderr,
        ));
    }
    let changes = dpkg_changes(
        &parse_dpkg(seen.section("before")),
        &parse_dpkg(seen.section("after")),
    );
    Ok((apt_out.to_string(), stderr, changes))
}
