//! Handlers: after each section (and on `meta: flush_handlers`), every handler that a host
//! notified (by name or `listen` topic) runs once on that host, in definition order; a
//! handler may notify later handlers.

use super::context::{hostvars_snapshot, PlayCtx};
use super::{run_task, Runner};
use crate::output::Reporter;
use crate::playbook::{Play, Task};
use anyhow::Result;

/// Warnings found while searching handlers (a name that cannot be templated), each said
/// once per run; `take_warnings` hands them to the reporter.
static WARNINGS: std::sync::Mutex<Vec<(String, bool)>> = std::sync::Mutex::new(Vec::new());

/// The search warnings not reported yet.
pub fn take_warnings() -> Vec<String> {
    let Ok(mut w) = WARNINGS.lock() else {
        return Vec::new();
    };
    w.iter_mut()
        .filter(|(_, said)| !*said)
        .map(|(text, said)| {
            *said = true;
            text.clone()
        })
        .collect()
}

/// The handler's name as notifications name it: templated with the play's variables (not a
/// host's), as Ansible does; `None` when it cannot be rendered (with Ansible's warning, for a
/// handler that has no `listen` topic to be found by instead).
fn handler_name(handler: &Task, pc: &PlayCtx) -> Option<String> {
    match &handler.name {
        None => Some(handler.module_name.clone()),
        Some(tree) => {
            let scope = pc.play_scope();
            match tree.render(&scope, &pc.omit) {
                Ok(v) => Some(
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                ),
                Err(e) => {
                    if handler.listen.is_empty() {
                        let raw = match tree {
                            crate::template::tree::TTree::Tmpl(t, _) => t.source().to_string(),
                            other => format!("{other:?}"),
                        };
                        let why = tree
                            .templates()
                            .first()
                            .and_then(|(t, _)| crate::template::tree::undefined_message(t, &scope))
                            .unwrap_or_else(|| format!("{e:#}"));
                        let text = format!("Handler '{raw}' is unusable because it has no listen topics and the name could not be templated (host-specific variables are not supported in handler names). The error: {why}");
                        if let Ok(mut w) = WARNINGS.lock() {
                            if !w.iter().any(|(t, _)| *t == text) {
                                w.push((text, false));
                            }
                        }
                    }
                    None
                }
            }
        }
    }
}

/// Whether `name` is `n`, alone or after `role : ` (the handler's short or qualified role).
fn named(handler: &Task, n: &str, name: &str) -> bool {
    n == name
        || handler.role.as_ref().is_some_and(|r| {
            name == format!("{} : {n}", r.name) || name == format!("{} : {n}", r.fqcn)
        })
}

/// Whether the handler is part of the play yet (an included role's once the include ran).
fn present(handler: &Task, pc: &PlayCtx) -> bool {
    handler
        .handler_gate
        .is_none_or(|g| pc.open_gates.contains(&g))
}

fn by_name(handler: &Task, name: &str, pc: &PlayCtx) -> bool {
    present(handler, pc) && handler_name(handler, pc).is_some_and(|n| named(handler, &n, name))
}

fn by_listen(handler: &Task, name: &str, pc: &PlayCtx) -> bool {
    present(handler, pc) && handler.listen.iter().any(|l| named(handler, l, name))
}

/// Whether handler `hi` of the play answers a notification, as Ansible searches: every
/// handler listening to it, and one handler of that name — Ansible's handler blocks (here:
/// runs of handlers from the same role, or from the play) are searched last-loaded first, the
/// handlers of a block in order, and the first found wins.
fn answers(play: &Play, hi: usize, name: &str, pc: &PlayCtx) -> bool {
    by_listen(&play.handlers[hi], name, pc) || name_winner(play, name, pc) == Some(hi)
}

fn name_winner(play: &Play, name: &str, pc: &PlayCtx) -> Option<usize> {
    let origin = |t: &Task| t.role.as_ref().map(|r| r.fqcn.clone());
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    for (i, h) in play.handlers.iter().enumerate() {
        match blocks.last_mut() {
            Some((start, end)) if origin(&play.handlers[*start]) == origin(h) => *end = i + 1,
            _ => blocks.push((i, i + 1)),
        }
    }
    blocks
        .iter()
        .rev()
        .find_map(|(s, e)| (*s..*e).find(|i| by_name(&play.handlers[*i], name, pc)))
}

/// Ansible's words for a notification that no handler answers.
pub fn missing_message(name: &str) -> String {
    format!("The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list")
}

/// The handlers (by index) a notification names, as Ansible resolves it when it is made.
pub fn answering(play: &Play, name: &str, pc: &PlayCtx) -> Vec<usize> {
    (0..play.handlers.len())
        .filter(|hi| answers(play, *hi, name, pc))
        .collect()
}

/// Runs notified handlers on the batch's hosts.
pub fn flush(
    runner: &mut Runner,
    play: &Play,
    batch: &[usize],
    pc: &mut PlayCtx,
    reporter: &mut dyn Reporter,
) -> Result<()> {
    // As ansible-core: one pass over the handlers in definition order; each runs on the hosts
    // that notified it so far (a handler notified by an earlier one in this pass runs in this
    // pass; one notified again after it ran, or an earlier one, waits for the next flush).
    {
        for (hi, handler) in play.handlers.iter().enumerate() {
            // Ctrl-C: no handler starts either (they run in the next run, as in Ansible).
            if super::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            let forced_handlers = play
                .force_handlers
                .unwrap_or(runner.settings.force_handlers);
            let targets: Vec<usize> = batch
                .iter()
                .copied()
                .filter(|i| {
                    let h = &runner.hosts[*i];
                    h.notified.contains(&hi) && (h.active() || forced_handlers && !h.unreachable)
                })
                .collect();
            if targets.is_empty() {
                continue;
            }
            for i in &targets {
                runner.hosts[*i].notified.shift_remove(&hi);
            }

            // An `include_tasks` handler: its file's tasks run now, as handlers, on the hosts
            // that include it (what they notify runs in the next pass).
            use crate::playbook::TaskKind;
            let all = super::TagFilter::new(&[], &[]);
            match &handler.kind {
                TaskKind::Include(inc) => {
                    // Forced handlers: hosts that failed take part in the include (and stay
                    // failed after it).
                    let forced: Vec<usize> = targets
                        .iter()
                        .copied()
                        .filter(|i| runner.hosts[*i].failed)
                        .collect();
                    for i in &forced {
                        runner.hosts[*i].failed = false;
                    }
                    let was = std::mem::replace(&mut runner.in_handler, true);
                    let r = runner.run_include(play, handler, inc, &targets, &all, reporter, pc);
                    runner.in_handler = was;
                    for i in &forced {
                        runner.hosts[*i].failed = true;
                    }
                    r?;
                    continue;
                }
                TaskKind::FlushHandlers => {
                    reporter.task_start(
                        &run_task::display_name(pc, handler, None),
                        true,
                        &handler.span,
                    );
                    anyhow::bail!("flush_handlers cannot be used as a handler");
                }
                TaskKind::Module(_) | TaskKind::Block(_) => {}
                // Other `meta` tasks do as they do in a task list.
                _ => {
                    let was = std::mem::replace(&mut runner.in_handler, true);
                    let r = runner.run_list(
                        play,
                        std::slice::from_ref(handler),
                        &targets,
                        &all,
                        reporter,
                        pc,
                    );
                    runner.in_handler = was;
                    r?;
                    continue;
                }
            }
            // `run_once`: the first notified host runs it (the others' notification is used).
            let targets: Vec<usize> = if handler.run_once {
                targets.into_iter().take(1).collect()
            } else {
                targets
            };
            pc.hostvars = hostvars_snapshot(&runner.hosts, &pc.extra);
            reporter.task_start(
                &run_task::display_name(pc, handler, None),
                true,
                &handler.span,
            );
            let forced = play
                .force_handlers
                .unwrap_or(runner.settings.force_handlers);
            let results = runner.on_hosts(
                &targets,
                |h| run_task::run_task(pc, handler, &[], h),
                handler.throttle,
                forced,
                Some((Some(handler), &mut *reporter)),
            );
            runner.record(&results, Some(handler), reporter, pc, true);
            if let Some(e) = runner.fatal.take() {
                anyhow::bail!("{e}");
            }
            // `any_errors_fatal` covers handlers too: a handler's failure fails every host.
            if handler.any_errors_fatal.unwrap_or(play.any_errors_fatal)
                && results
                    .iter()
                    .any(|r| r.status == crate::executor::result::Status::Failed && !r.ignored)
            {
                for i in batch {
                    runner.hosts[*i].failed = true;
                }
            }
        }
    }
    Ok(())
}

/// Warnings for `notify` names that no handler or `listen` topic of the play answers (the run
/// fails, as Ansible's does, only if such a task changes something).
pub fn check_notify(play: &Play) -> Vec<String> {
    let mut out = Vec::new();
    // A templated handler name may answer anything.
    if play
        .handlers
        .iter()
        .any(|h| matches!(&h.name, Some(crate::template::tree::TTree::Tmpl(..))))
    {
        return out;
    }
    for t in play.all_tasks() {
        for n in &t.notify {
            if crate::template::is_templated(n) {
                continue;
            }
            let found = play.handlers.iter().any(|h| {
                let name = match &h.name {
                    Some(crate::template::tree::TTree::Value(v)) => v.to_string(),
                    _ => h.module_name.clone(),
                };
                let with = |x: &str| {
                    x == n
                        || h.role.as_ref().is_some_and(|r| {
                            *n == format!("{} : {x}", r.name) || *n == format!("{} : {x}", r.fqcn)
                        })
                };
                with(&name) || h.listen.iter().any(|l| with(l))
            });
            if !found {
                out.push(format!(
                    "{}: `notify: {n}` names no handler or `listen` topic of this play; the run fails if this task changes something\nhint: check the handler's `name:` spelling",
                    t.span_of("notify")
                ));
            }
        }
    }
    out
}
