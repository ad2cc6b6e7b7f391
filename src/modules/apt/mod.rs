//! `apt`: manage Debian packages with `dpkg-query`, `apt-cache` and `apt-get` (no Python).
//!
//! `plan` probes in one command (cache age, `dpkg-query -W` for the named packages,
//! `apt-cache policy` candidates for `state: latest`, `dpkg-deb -f` for `deb:`), decides in
//! the pure `decide` function which names to give apt. In check mode it then asks
//! `apt-get -s` (a simulation, which never changes the host) what apt would really do: the
//! prediction is exact, dependencies and autoremovals included, and a name apt cannot find
//! fails with apt's own message. A real run skips the simulation: `apply` runs apt-get
//! between two `dpkg-query` listings of every package, in one round trip, and reports what
//! the listings show changed (what dpkg did, not what apt planned). When the cache must be
//! updated first (`update_cache`, or `cache_valid_time` expired) the package decision is made
//! in `apply` after `apt-get update` (in the same round trip as the stamp; the probe is
//! repeated only for `state: latest`, whose candidates the update may change); in check mode
//! the cache is not updated and the prediction uses the current cache.
//!
//! Files: `request.rs` (arguments, command lines), `probe.rs`, `decide.rs` (pure: specs,
//! parsers of dpkg/apt output, `decide`), `ops.rs` (the apt-get operation: chosen,
//! simulated, run), this file (the plan and apply of the module).
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
//!   `autoclean`, `clean`, `policy_rc_d` and `fail_on_autoremove` are not supported yet.
//! - `upgrade: yes`/`safe` run `apt-get upgrade --with-new-pkgs`, `full`/`dist` run
//!   `apt-get dist-upgrade` (no aptitude).

use super::fileops::fail_with;
use super::sections::Marks;
use super::{Args, Diff, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
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
};

/// The argument spec, for `package` to translate its arguments.
pub fn spec() -> &'static Spec {
    &SPEC
}

const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
const LISTS: &str = "/var/lib/apt/lists";

struct Work {
    update: bool,
    /// The apt-get operation chosen at plan time (chosen again after the update for
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

impl Apt {
    fn plan_inner(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let req = Request::from_args(args)?;
        let p = probe(ctx, &req)?;
        let fresh = req.cache_valid_time > 0
            && p.cache_mtime > 0
            && p.now - p.cache_mtime < req.cache_valid_time;
        let update = req.update_cache && !fresh;
        let mut plan = Plan::unchanged()
            .with_value("cache_updated", update && ctx.check)
            .with_value("cache_update_time", p.cache_mtime);
        if !ctx.check {
            // A real run: `apply` does the work and reports what dpkg's state shows changed.
            let op = choose_op(&req, &p)?;
            let mark = to_mark_manual(&req, &p, &op);
            // Marking alone is done in `apply` but reports no change.
            plan.changed = update || op.is_some() || !mark.is_empty();
            if plan.changed {
                plan.work = Some(Box::new(Work { update, op, mark }));
            }
            return Ok(plan);
        }
        let pkgs = match plan_packages(ctx, &req, &p) {
            // A cache update is pending: the update may make the package known.
            Err(_) if update => {
                plan.changed = true;
                plan.msg = Some(
                    "the apt cache would be updated; packages cannot be predicted before that"
                        .into(),
                );
                return Ok(plan);
            }
            r => r?,
        };
        let pkg_changed = pkgs.as_ref().is_some_and(|k| !k.changes.is_empty());
        plan.changed = pkg_changed || (update && !req.has_package_work());
        if let Some(k) = &pkgs {
            for (key, v) in output_values(&k.sim_stdout, "") {
                plan.values.insert(key, v);
            }
            if pkg_changed {
                plan.diffs.push(diff_of(&k.changes));
                plan.msg = Some(summary(&k.changes));
            }
        }
        Ok(plan)
    }

    fn apply_inner(&self, ctx: &mut ModuleCtx, args: &Args, plan: &mut Plan) -> Result<()> {
        let work: Work = plan.take_work()?;
        let req = Request::from_args(args)?;
        let mut op = work.op;
        let mut cache_updated = false;
        if work.update {
            // The update and Debian's periodic stamp of the last update, in one round trip.
            let cmd = format!(
                "( {}\n) || exit $?\n{{ [ -d /var/lib/apt/periodic ] || mkdir -p /var/lib/apt/periodic; }} && : >{STAMP} && printf '@@stamp %s\\n' \"$(stat -c %Y {STAMP})\"",
                with_lock_retry(
                    "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q update",
                    req.lock_timeout,
                )
            );
            let out = ctx.run(&cmd)?;
            if out.rc != 0 {
                let (so, se) = (out.stdout_str(), out.stderr_str());
                let msg = if is_lock_error(&se) {
                    format!("Failed to lock the apt lists for the cache update: another process held it for more than lock_timeout={} seconds", req.lock_timeout)
                } else {
                    format!("Failed to update apt cache: {}", apt_errors(&se, &so))
                };
                let mut values = output_values(&so, &se);
                values.push(("rc".into(), Value::from(out.rc)));
                return Err(fail_with(msg, values));
            }
            cache_updated = true;
            plan.values
                .insert("cache_updated".into(), Value::from(true));
            let so = out.stdout_str();
            if let Some(ts) = so
                .lines()
                .find_map(|l| l.strip_prefix("@@stamp "))
                .and_then(|t| t.trim().parse::<i64>().ok())
            {
                plan.values
                    .insert("cache_update_time".into(), Value::from(ts));
            }
            if req.state == State::Latest && !req.names.is_empty() {
                let p = probe(ctx, &req)?;
                op = choose_op(&req, &p)?;
            }
        }
        plan.diffs.clear();
        plan.msg = None;
        plan.changed = cache_updated && !req.has_package_work();
        if let Some(op) = op {
            let (so, se, changes) = run_apt_tracked(ctx, &req, &op)?;
            for (key, v) in output_values(&so, &se) {
                plan.values.insert(key, v);
            }
            if !changes.is_empty() {
                plan.changed = true;
                plan.diffs.push(diff_of(&changes));
                plan.msg = Some(summary(&changes));
            }
        }
        if !work.mark.is_empty() {
            let names: Vec<String> = work.mark.iter().map(|n| quote(n)).collect();
            let cmd = format!("apt-mark manual {}", names.join(" "));
            let out = ctx.run(&with_lock_retry(&cmd, req.lock_timeout))?;
            if out.rc != 0 {
                let (so, se) = (out.stdout_str(), out.stderr_str());
                return Err(fail_with(
                    format!("'{cmd}' failed: {}", se.trim()),
                    output_values(&so, &se),
                ));
            }
        }
        Ok(())
    }
}

impl Module for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        self.plan_inner(ctx, args)
    }

    fn apply(&self, ctx: &mut ModuleCtx, args: &Args, mut plan: Plan) -> Result<Plan> {
        // Marked failed and not changed (a failed apt-get resolves before it acts), with what
        // `apply_inner` learnt before the failure (`cache_updated`), unlike `apply_task`'s
        // planned result.
        match self.apply_inner(ctx, args, &mut plan) {
            Ok(()) => Ok(plan),
            Err(e) => super::fileops::catch_apply(plan, Err(e)),
        }
    }
}

#[cfg(test)]
mod tests;
