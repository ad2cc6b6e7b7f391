//! The apt-get operation a plan chooses, its simulation in check mode, and the real run
//! between two dpkg listings; results, diffs and summaries of package changes.

use super::*;

/// The apt-get operation chosen for the packages.
#[derive(Clone, Debug)]
pub(super) struct Op {
    pub(super) sub: String,
    pub(super) extra: Vec<&'static str>,
    pub(super) words: Vec<String>,
}

/// The package operation (if any) and what apt's simulation says it changes.
pub(super) struct PkgPlan {
    pub(super) changes: Vec<Change>,
    pub(super) sim_stdout: String,
}

pub(super) fn choose_op(req: &Request, p: &Probe) -> Result<Option<Op>> {
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
            sub: "install".into(),
            extra: auto,
            words: req.deb_arg().into_iter().collect(),
        }));
    }
    if req.upgrade != "no" {
        let (sub, extra) = match req.upgrade.as_str() {
            "full" | "dist" => ("dist-upgrade", auto),
            _ => ("upgrade", [vec!["--with-new-pkgs"], auto].concat()),
        };
        return Ok(Some(Op {
            sub: sub.into(),
            extra,
            words: vec![],
        }));
    }
    if req.names.is_empty() {
        return Ok(req.autoremove.then(|| Op {
            sub: "autoremove".into(),
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
    )
    .map_err(|m| fail_with(m, vec![]))?;
    if !d.install.is_empty() {
        let mut extra = auto;
        if req.only_upgrade {
            extra.push("--only-upgrade");
        }
        return Ok(Some(Op {
            sub: "install".into(),
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
            sub: "remove".into(),
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
) -> anyhow::Error {
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
    fail_with(msg, values)
}

/// Asks apt what the operation would do (`apt-get -s`; never changes the host).
pub(super) fn simulate(ctx: &mut ModuleCtx, req: &Request, op: &Op) -> Result<String> {
    let cmd = req.apt_get(true, &op.sub, &op.extra, &op.words);
    let out = ctx.run(&cmd)?;
    let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
    if out.rc != 0 {
        return Err(apt_failure(req, op, &cmd, out.rc, &stdout, &stderr));
    }
    Ok(stdout)
}

pub(super) fn plan_packages(
    ctx: &mut ModuleCtx,
    req: &Request,
    p: &Probe,
) -> Result<Option<PkgPlan>> {
    let Some(op) = choose_op(req, p)? else {
        return Ok(None);
    };
    let sim_stdout = simulate(ctx, req, &op)?;
    let changes = parse_simulation(&sim_stdout);
    Ok(Some(PkgPlan {
        changes,
        sim_stdout,
    }))
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

/// The marker lines around apt-get's own output in a tracked run.
pub(super) const RUN_MARK: &str = "@@drover-apt-run\n";
pub(super) const DONE_MARK: &str = "\n@@drover-apt-done\n";

/// Runs the apt-get operation for real, between two listings of dpkg's database (one round
/// trip), and returns apt's stdout and stderr and the package changes dpkg's state shows.
pub(super) fn run_apt_tracked(
    ctx: &mut ModuleCtx,
    req: &Request,
    op: &Op,
) -> Result<(String, String, Vec<Change>)> {
    let cmd = req.apt_get(false, &op.sub, &op.extra, &op.words);
    let list = format!("dpkg-query -W -f={} 2>/dev/null", quote(DPKG_FORMAT));
    let line = format!(
        "LC_ALL=C; export LC_ALL\n{list}\nprintf '%s' {run}\n( {retry}\n)\nR=$?\nprintf '%s' {done}\n{list}\nexit $R",
        run = quote(RUN_MARK),
        retry = with_lock_retry(&cmd, req.lock_timeout),
        done = quote(DONE_MARK),
    );
    let out = ctx.run(&line)?;
    let text = out.stdout_str();
    let (before, rest) = text.split_once(RUN_MARK).unwrap_or(("", &text));
    let (apt_out, after) = rest.rsplit_once(DONE_MARK).unwrap_or((rest, ""));
    let stderr = out.stderr_str();
    if out.rc != 0 {
        return Err(apt_failure(req, op, &cmd, out.rc, apt_out, &stderr));
    }
    let changes = dpkg_changes(&parse_dpkg(before), &parse_dpkg(after));
    Ok((apt_out.to_string(), stderr, changes))
}
