//! `apt`: manage Debian packages with `dpkg-query`, `apt-cache` and `apt-get` (no Python).
//!
//! It observes in one round trip (cache age, `dpkg-query -W` for the named packages,
//! `apt-cache policy` candidates for `state: latest`, `dpkg-deb -f` for `deb:`) and decides
//! in the pure `decide` function which names to give apt. A prediction then asks
//! `apt-get -s` (a simulation, which never changes the host) what apt would really do: the
//! prediction is exact, dependencies and autoremovals included, and a name apt cannot find
//! fails with apt's own message. A real run skips the simulation: its steps run apt-get
//! between two `dpkg-query` listings of every package, in one round trip, and report what
//! the listings show changed (what dpkg did, not what apt planned). When the cache must be
//! updated first (`update_cache`, or `cache_valid_time` expired) the update runs first (in the
//! same round trip as the stamp); `state: latest` then reads its candidates again, as the
//! update may change them; in check mode the cache is not updated and the prediction uses the
//! current cache.
//!
//! Files: `request.rs` (arguments, command lines), `probe.rs`, `decide.rs` (pure: specs,
//! parsers of dpkg/apt output, `decide`), `ops.rs` (the apt-get operation: chosen,
//! simulated, tracked), this file (the module on the contract).
//!
//! Choices (documented differences from Ansible):
//! - `install_recommends` unset follows apt's own configuration (as Ansible); `false` adds
//!   `--no-install-recommends`, `true` adds `-o APT::Install-Recommends=true`.
//! - `cache_updated` is true whenever drover ran `apt-get update` successfully; afterwards it
//!   touches `/var/lib/apt/periodic/update-success-stamp` (as Debian's periodic hook does), and
//!   `cache_valid_time` compares against that stamp, or the mtime of `/var/lib/apt/lists`
//!   when there is no stamp. A task that only updates the cache is `changed` exactly when the
//!   cache was updated; with packages, `changed` reflects the packages only (as Ansible).
//! - `lock_timeout` retries apt while another process holds the dpkg/apt locks, then fails
//!   with a message naming the lock.
//! - `diff` lists the packages that change, `name version` before and after.
//! - `force_apt_get`, `update_cache_retries` and `update_cache_retry_max_delay` are accepted
//!   and ignored (drover always uses apt-get and updates once); `state: build-dep`/`fixed`,
//!   `autoclean`, `clean` and `fail_on_autoremove` are not supported yet.
//! - `deb:` with a URL is downloaded by the host (`curl`, else `wget`) into the session's
//!   temp dir, as Ansible's `fetch_file` downloads it on the target.
//! - `policy_rc_d` puts `/usr/sbin/policy-rc.d` (exiting with its code) in place while
//!   apt-get runs and the one there before back after, as Ansible's.
//! - `upgrade: yes`/`safe` run `apt-get upgrade --with-new-pkgs`, `full`/`dist` run
//!   `apt-get dist-upgrade` (no aptitude).

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail_with;
use super::{Args, Diff, Plan, Spec, Verdict};
use anyhow::Result;
use minijinja::Value;
use std::collections::BTreeMap;

mod decide;
mod ops;
mod probe;
mod request;

pub use decide::*;
use ops::*;
use probe::*;
use request::*;

pub struct Apt;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "state",
        "update_cache",
        "cache_valid_time",
        "install_recommends",
        "purge",
        "autoremove",
        "upgrade",
        "deb",
        "lock_timeout",
        "force",
        "allow_downgrade",
        "allow_unauthenticated",
        "allow_change_held_packages",
        "dpkg_options",
        "default_release",
        "only_upgrade",
        "force_apt_get",
        "update_cache_retries",
        "update_cache_retry_max_delay",
        "policy_rc_d",
    ],
    aliases: &[
        ("package", "name"),
        ("pkg", "name"),
        ("update-cache", "update_cache"),
        ("install-recommends", "install_recommends"),
        ("allow-downgrade", "allow_downgrade"),
        ("allow_downgrades", "allow_downgrade"),
        ("allow-downgrades", "allow_downgrade"),
        ("allow-unauthenticated", "allow_unauthenticated"),
        ("allow-change-held-packages", "allow_change_held_packages"),
        ("default-release", "default_release"),
    ],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// The argument spec, for `package` to translate its arguments.
pub fn spec() -> &'static Spec {
    &SPEC
}

/// What a real run does: update the cache, run the operation, mark packages manual.
pub struct AptChange {
    update: bool,
    /// The apt-get operation chosen from the probe (chosen again after the update for
    /// `state: latest`, whose candidates the update may change).
    op: Option<Op>,
    /// Requested packages installed as dependencies: marked as installed manually, as
    /// ansible-core's `apt` does for every package it is asked to install (no change is
    /// reported for that).
    mark: Vec<String>,
}

/// The requested packages that are installed only as another's dependency (not `op`'s).
fn to_mark_manual(req: &Request, p: &Probe, op: &Option<Op>) -> Vec<String> {
    if req.deb.is_some() || req.upgrade != "no" {
        return Vec::new();
    }
    req.names
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| p.auto.contains(n))
        .filter(|n| {
            !op.as_ref().is_some_and(|o| {
                o.words
                    .iter()
                    .any(|w| w == n || w.starts_with(&format!("{n}=")))
            })
        })
        .collect()
}

/// Whether the cache must be updated first.
fn must_update(req: &Request, p: &Probe) -> bool {
    let fresh = req.cache_valid_time > 0
        && p.cache_mtime > 0
        && p.now - p.cache_mtime < req.cache_valid_time;
    req.update_cache && !fresh
}

/// The update and Debian's periodic stamp of the last update, in one round trip; the
/// stamp's time is the last line.
fn update_script(req: &Request) -> Script {
    // apt-get exits 0 when an index could not be fetched; Ansible's update (python-apt's)
    // fails then, and so does this.
    let update = Script::new().raw(concat!(
        "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q update 2>\"$D/aptue\"; r=$?; cat \"$D/aptue\" >&2\n",
        "if [ \"$r\" = 0 ] && grep -qE '^(W: (Failed to fetch|Some index files failed)|E:)' \"$D/aptue\"; then r=100; fi\n",
        "rm -f \"$D/aptue\"; (exit $r)\n"
    ));
    Script::new()
        .raw("(\n")
        .then(with_lock_retry(update, req.lock_timeout))
        .raw(concat!(
            ") || exit $?\n",
            "{ [ -d /var/lib/apt/periodic ] || mkdir -p /var/lib/apt/periodic; } && ",
            ": >/var/lib/apt/periodic/update-success-stamp && ",
            "stat -c %Y /var/lib/apt/periodic/update-success-stamp\n"
        ))
}

/// The operation's steps: the tracked run, then the manual marks.
fn op_steps(req: &Request, op: &Option<Op>, mark: &[String]) -> Vec<Step> {
    let mut steps: Vec<Step> = op
        .iter()
        .map(|o| Step::Observe(observe_tracked(req, o)))
        .collect();
    if !mark.is_empty() {
        let cmd = mark
            .iter()
            .fold(Script::new().raw("apt-mark manual"), |s, n| s.arg(n))
            .raw("\n");
        steps.push(Step::Exec {
            script: with_lock_retry(cmd, req.lock_timeout),
            stdin: None,
        });
    }
    steps
}

impl Typed for Apt {
    type Args = Request;
    type Change = AptChange;

    fn name(&self) -> &'static str {
        "apt"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<Request> {
        Request::from_args(args)
    }

    fn observe(&self, req: &Request) -> Observe {
        observe_probe(req)
    }

    /// A prediction asks apt's simulation what the chosen operation would do: exact,
    /// dependencies and autoremovals included, and a name apt cannot find fails with apt's
    /// own message. A real run skips it and reports what dpkg's listings show changed.
    fn observe_again(&self, req: &Request, seen: &Observed) -> Option<Observe> {
        if !seen.more.is_empty() {
            return None;
        }
        let p = probe_from(req, seen).ok()?;
        let op = choose_op(req, &p).ok()??;
        Some(observe_simulation(req, &op))
    }

    fn decide(&self, req: &Request, seen: &Observed) -> Outcome<AptChange> {
        decide_apt(req, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, req: &Request, c: &AptChange) -> Vec<Step> {
        if c.update {
            return vec![Step::Exec {
                script: update_script(req),
                stdin: None,
            }];
        }
        op_steps(req, &c.op, &c.mark)
    }

    /// After the update: `state: latest` reads its candidates again and chooses anew.
    fn apply_more(&self, req: &Request, c: &AptChange, done: &Done) -> Vec<Step> {
        let latest = req.state == State::Latest && !req.names.is_empty();
        match (c.update, done.outputs.len(), done.observed.len()) {
            (true, 1, 0) if latest => vec![Step::Observe(observe_probe(req))],
            (true, 1, 0) => op_steps(req, &c.op, &c.mark),
            (true, 1, 1) if latest => match after_update_op(req, done) {
                Ok(op) => op_steps(req, &op, &c.mark),
                Err(f) => vec![Step::Fail(f)],
            },
            _ => Vec::new(),
        }
    }

    fn finish(&self, req: &Request, c: &AptChange, done: &Done, report: Plan) -> Plan {
        finish_apt(req, c, done, report).unwrap_or_else(|p| *p)
    }
}

/// The operation chosen from the probe repeated after the cache update.
fn after_update_op(req: &Request, done: &Done) -> Result<Option<Op>, Failure> {
    let p = probe_from(req, &done.observed[0])?;
    choose_op(req, &p)
}

fn decide_apt(req: &Request, seen: &Observed) -> Result<Outcome<AptChange>, Failure> {
    let p = probe_from(req, seen)?;
    let update = must_update(req, &p);
    let report = Plan::unchanged()
        .with_value("cache_updated", update)
        .with_value("cache_update_time", p.cache_mtime);
    let op = match choose_op(req, &p) {
        Ok(op) => op,
        // A cache update is pending: the update may make the package known.
        Err(_) if update => {
            let change = AptChange {
                update,
                op: None,
                mark: Vec::new(),
            };
            let report = report.with_msg(
                "the apt cache would be updated; packages cannot be predicted before that",
            );
            return Ok(Outcome::change(change, report));
        }
        Err(f) => return Err(f),
    };
    let mark = to_mark_manual(req, &p, &op);
    let change = AptChange {
        update,
        op: op.clone(),
        mark,
    };
    let Some(op) = op.filter(|_| seen.code("sim").is_some()) else {
        // A real run (no simulation): apply does the work and reports what dpkg's state
        // shows changed; marking alone reports no change.
        // Only the cache update is left for packages already as asked: a real run reports
        // what dpkg shows changed (nothing); the prediction says so too, as Ansible's.
        let mut report = report;
        report.check_unchanged = change.op.is_none()
            && change.mark.is_empty()
            && (!req.names.is_empty() || req.deb.is_some() || req.upgrade != "no");
        return Ok(
            if change.update || change.op.is_some() || !change.mark.is_empty() {
                Outcome::change(change, report)
            } else {
                Outcome::Unchanged(report)
            },
        );
    };
    // A prediction, from apt's simulation.
    let sim = seen.section("sim");
    if seen.code("sim") != Some(0) {
        if update {
            let report = report.with_msg(
                "the apt cache would be updated; packages cannot be predicted before that",
            );
            return Ok(Outcome::change(change, report));
        }
        let cmd = req.apt_get(true, op.sub, &op.extra, &op.words);
        let rc = seen.code("sim").unwrap_or(-1);
        return Err(apt_failure(
            req,
            &op,
            cmd.text().trim_end(),
            rc,
            sim,
            &seen.stderr,
        ));
    }
    let changes = parse_simulation(sim);
    let mut report = report;
    for (key, v) in output_values(sim, "") {
        report.values.insert(key, v);
    }
    let pkg_changed = !changes.is_empty();
    if pkg_changed {
        report.diffs.push(diff_of(&changes));
        report.msg = Some(summary(&changes));
    }
    Ok(if pkg_changed || (update && !req.has_package_work()) {
        Outcome::change(change, report)
    } else {
        Outcome::Unchanged(report)
    })
}

/// The result from what the steps reported; `Err` holds a failed result.
fn finish_apt(
    req: &Request,
    c: &AptChange,
    done: &Done,
    mut plan: Plan,
) -> Result<Plan, Box<Plan>> {
    let fail = |mut plan: Plan, f: Failure| {
        plan.mark_failed(false);
        plan.msg = Some(f.msg);
        plan.values.extend(f.values);
        Box::new(plan)
    };
    let mut outputs = done.outputs.iter();
    let mut observed = done.observed.iter();
    plan.diffs.clear();
    plan.msg = None;
    plan.values
        .insert("cache_updated".into(), Value::from(false));
    let mut op = c.op.clone();
    if c.update {
        let out = outputs.next().ok_or_else(|| Box::new(plan.clone()))?;
        let (so, se) = (out.stdout_str(), out.stderr_str());
        if out.rc != 0 {
            let msg = if is_lock_error(&se) {
                format!("Failed to lock the apt lists for the cache update: another process held it for more than lock_timeout={} seconds", req.lock_timeout)
            } else {
                format!("Failed to update apt cache: {}", apt_errors(&se, &so))
            };
            let mut values = output_values(&so, &se);
            values.push(("rc".into(), Value::from(out.rc)));
            return Err(fail(plan, Failure::with_values(msg, values)));
        }
        plan.values
            .insert("cache_updated".into(), Value::from(true));
        if let Some(ts) = so.lines().last().and_then(|t| t.trim().parse::<i64>().ok()) {
            plan.values
                .insert("cache_update_time".into(), Value::from(ts));
        }
        if req.state == State::Latest && !req.names.is_empty() {
            observed.next();
            op = after_update_op(req, done).map_err(|f| fail(plan.clone(), f))?;
        }
    }
    plan.verdict = if c.update && !req.has_package_work() {
        Verdict::Changed
    } else {
        Verdict::Unchanged
    };
    if let Some(op) = &op {
        let seen = observed.next().ok_or_else(|| Box::new(plan.clone()))?;
        let (so, se, changes) = tracked_result(req, op, seen).map_err(|f| fail(plan.clone(), f))?;
        for (key, v) in output_values(&so, &se) {
            plan.values.insert(key, v);
        }
        if !changes.is_empty() {
            plan.verdict = Verdict::Changed;
            plan.diffs.push(diff_of(&changes));
            plan.msg = Some(summary(&changes));
        }
    }
    if !c.mark.is_empty() {
        if let Some(out) = outputs.next().filter(|o| o.rc != 0) {
            let (so, se) = (out.stdout_str(), out.stderr_str());
            let names = c.mark.join(" ");
            let f = Failure::with_values(
                format!("'apt-mark manual {names}' failed: {}", se.trim()),
                output_values(&so, &se),
            );
            return Err(fail(plan, f));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
