//! The driver: runs a [`Typed`] module as the executor asks (`Module::run`): parse, observe,
//! decide, then (outside check mode) apply and finish. Task failures become failed results
//! here, once; broken connections and deadlines pass through as errors.

use super::super::fileops::{self, catch, catch_apply};
use super::super::{Args, Module, ModuleCtx, Plan, SearchPaths, Spec, Verdict};
use super::{observe, Action, Outcome, Resolve, Step, Typed};
use crate::connection::Output;
use anyhow::Result;
use minijinja::Value;

/// What the steps of a change reported.
#[derive(Clone, Debug, Default)]
pub struct Done {
    /// The backup each `Put` step made, in order (`None`: no backup asked or no old file).
    pub backups: Vec<Option<String>>,
    /// The output of each `Exec` step, in order.
    pub outputs: Vec<Output>,
    /// When the last `Exec` step started and ended (Ansible's `start`/`end` format), and how
    /// long it took.
    pub started: String,
    pub ended: String,
    pub took: std::time::Duration,
    /// What each `Observe` step saw, in order.
    pub observed: Vec<observe::Observed>,
    /// An `Exec` exited non-zero: no step or stage ran after it.
    pub stopped: bool,
}

impl Done {
    /// The first backup made, as Ansible's `backup_file` / `backup` value.
    pub fn backup(&self) -> Option<&str> {
        self.backups.iter().flatten().next().map(String::as_str)
    }
}

/// The most further looks one task takes.
const MAX_LOOKS: usize = 4;

/// The most stages of steps one change takes (`apply`, then `apply_more` until it is done).
const MAX_STAGES: usize = 8;

/// A [`Typed`] module registered as a [`Module`].
pub struct Driven<T>(pub T);

impl Resolve for ModuleCtx<'_> {
    fn expand_path(&mut self, path: &str) -> Result<String> {
        fileops::expand_home(self, path)
    }
    fn vars(&self) -> &Value {
        self.vars
    }
    fn verbosity(&self) -> u8 {
        self.verbosity
    }
    fn diff_mode(&self) -> bool {
        self.diff
    }
    fn task_name(&self) -> &str {
        self.task_name
    }
    fn paths(&self) -> &SearchPaths {
        self.paths
    }
    fn earlier_change_predicted(&self) -> bool {
        self.check_changed
    }
    fn known_user(&mut self, user: &str) -> Option<String> {
        self.conn
            .as_deref_mut()?
            .memo()
            .get(&fileops::user_memo_key(user))
            .and_then(|l| l.strip_prefix("@U "))
            .map(|l| l.trim_end().to_string())
            .filter(|l| l.split(':').next() == Some(user))
    }
}

impl<T: Typed> Module for Driven<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn spec(&self) -> &'static Spec {
        self.0.spec()
    }

    fn leaves_accounts_alone(&self) -> bool {
        self.0.leaves_accounts_alone()
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<fileops::Ahead>> {
        self.0.looks_ahead(args)
    }

    fn controller_only(&self) -> bool {
        self.0.controller_only()
    }

    fn run(&self, ctx: &mut ModuleCtx, args: &Args, check: bool) -> Result<Plan> {
        let mut p = self.drive(ctx, args, check)?;
        // What only a prediction says.
        let extra = std::mem::take(&mut p.check_values);
        let real = std::mem::take(&mut p.real_values);
        let msg = p.check_msg.take();
        if !check {
            p.values.extend(real);
        }
        if check {
            p.values.extend(extra);
            if msg.is_some() {
                p.msg = msg;
            }
        }
        Ok(p)
    }
}

impl<T: Typed> Driven<T> {
    fn drive(&self, ctx: &mut ModuleCtx, args: &Args, check: bool) -> Result<Plan> {
        let m = &self.0;
        let typed = match m.parse(args, ctx) {
            Ok(a) => a,
            Err(e) => return catch(Err(e)),
        };
        let mut want = m.observe(&typed);
        if check {
            want.effects.clear();
        }
        let seen = look_all(m, &typed, &want, |o| look(ctx, o, check))?;
        let (change, mut report, pending) = match m.decide(&typed, &seen) {
            Outcome::Unchanged(report) if !check && matches!(ctx.background, Some((_, 0))) => {
                return catch(super::background::settled(ctx, &report))
            }
            Outcome::Unchanged(report) => return Ok(report),
            Outcome::Fail(f) => return Ok(f.into_plan()),
            Outcome::Change {
                change,
                report,
                pending,
            } => (change, report, pending),
        };
        if report.verdict != Verdict::Unpredictable {
            report.verdict = Verdict::Changed;
        }
        if check {
            if report.check_unchanged {
                report.verdict = Verdict::Unchanged;
            }
            return Ok(report);
        }
        if let Some(f) = pending {
            return Ok(f.into_plan());
        }
        let planned = report.clone();
        let mut done = Done::default();
        let mut steps = m.apply(&typed, &change);
        // In the background: a change that is one command (polled or not), or any change
        // when nobody waits for it (which then fails with a message).
        if let Some((secs, poll)) = ctx.background {
            if poll == 0 || matches!(steps.as_slice(), [Step::Exec { .. }]) {
                let cmd = report.values.get("cmd").cloned().unwrap_or_default();
                return catch(super::background::run(
                    ctx,
                    m.name(),
                    &steps,
                    secs,
                    poll,
                    &cmd,
                ));
            }
        }
        let mut stages = 0;
        while !steps.is_empty() {
            stages += 1;
            if stages > MAX_STAGES {
                anyhow::bail!(
                    "invariant: the {} module asked for more than {MAX_STAGES} stages of steps",
                    m.name()
                );
            }
            if let Err(e) = run_steps(ctx, &steps, &mut done) {
                return catch_apply(planned, Err(e));
            }
            if done.stopped {
                break;
            }
            steps = m.apply_more(&typed, &change, &done);
        }
        Ok(m.finish(&typed, &change, &done, report))
    }
}

/// The first look and the further ones, each formed from what the earlier ones saw (a
/// bounded few); `gather` takes one look.
pub(super) fn look_all<T: Typed>(
    m: &T,
    typed: &T::Args,
    first: &observe::Observe,
    mut gather: impl FnMut(&observe::Observe) -> Result<observe::Observed>,
) -> Result<observe::Observed> {
    let mut seen = gather(first)?;
    for _ in 0..MAX_LOOKS {
        let Some(more) = m.observe_again(typed, &seen) else {
            break;
        };
        seen.merge(gather(&more)?);
    }
    Ok(seen)
}

/// Gathers an observation, unless it serves only a prediction and this is a real run.
fn look(ctx: &mut ModuleCtx, want: &observe::Observe, check: bool) -> Result<observe::Observed> {
    if want.prediction_only && !check {
        Ok(observe::Observed::default())
    } else if check && !want.effects.is_empty() {
        // A check run makes no effects, in any look (nor their downloads).
        let mut quiet = want.clone();
        quiet.effects.clear();
        quiet.download = None;
        observe::gather(ctx, &quiet)
    } else {
        observe::gather(ctx, want)
    }
}

/// An [`Action`] registered as a [`Module`].
pub struct Acting<A>(pub A);

impl<A: Action> Module for Acting<A> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn spec(&self) -> &'static Spec {
        self.0.spec()
    }

    fn controller_only(&self) -> bool {
        true
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    /// The actions that are over at once and touch nothing keep the looks made ahead (those
    /// that let time pass, `pause`, or change what the run reaches, end them).
    fn looks_ahead(&self, _args: &Args) -> Option<Vec<fileops::Ahead>> {
        matches!(self.0.name(), "debug" | "set_fact" | "assert").then(Vec::new)
    }

    fn run(&self, ctx: &mut ModuleCtx, args: &Args, _check: bool) -> Result<Plan> {
        catch(self.0.act(args, ctx))
    }
}

/// Runs the steps of a change in order, adding what they report to `done`; an `Exec` that
/// exits non-zero stops them (`done.stopped`).
fn run_steps(ctx: &mut ModuleCtx, steps: &[Step], done: &mut Done) -> Result<()> {
    for step in steps {
        match step {
            Step::Run { what, script } => fileops::run_script(ctx, what, script.text())?,
            Step::Put {
                path,
                payload,
                opts,
            } => {
                let b = fileops::put_file(ctx, path, payload, opts)?;
                done.backups.push(b);
            }
            Step::Attrs { path, change } => {
                fileops::run_script(ctx, "setting attributes", change.to_script(path).text())?
            }
            Step::Exec { script, stdin } => {
                let start = std::time::Instant::now();
                done.started = super::super::chrono_like_now();
                let out = ctx.run_with_stdin(script.text(), stdin.as_deref())?;
                done.took = start.elapsed();
                done.ended = super::super::chrono_like_now();
                let failed = out.rc != 0;
                done.outputs.push(out);
                if failed {
                    done.stopped = true;
                    break;
                }
            }
            Step::Observe(want) => done.observed.push(observe::gather(ctx, want)?),
            Step::Change { what, script, then } => {
                let files = fileops::probe_after(ctx, Some((what, script.text())), then)?;
                done.observed.push(observe::Observed {
                    files,
                    ..observe::Observed::default()
                });
            }
            Step::Fail(f) => return Err(f.clone().into()),
            Step::WriteLocal { path, bytes } => write_local(path, bytes)?,
            Step::Mkdir { path } => fileops::run_script(
                ctx,
                "creating the parent directory",
                super::Script::new().cmd("mkdir -p --", [path]).text(),
            )?,
        }
    }
    Ok(())
}

/// Writes a controller file atomically (a temp file beside it, renamed), making its
/// directories; a failure fails the task with the path and the reason.
fn write_local(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        anyhow::Error::from(super::Failure::new(format!(
            "{what} {} on the controller failed: {e}",
            path.display()
        )))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail("making the directory of", e))?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.drover-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| fail("writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("writing", e)
    })
}
