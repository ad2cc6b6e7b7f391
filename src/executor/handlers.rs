//! Handlers: after each section (and on `meta: flush_handlers`), every handler that a host
//! notified (by name or `listen` topic) runs once on that host, in definition order; a
//! handler may notify later handlers.

use super::context::{hostvars_snapshot, PlayCtx};
use super::{run_task, Runner};
use crate::output::Reporter;
use crate::playbook::{Play, Task};
use anyhow::Result;

fn matches(handler: &Task, name: &str, pc: &PlayCtx) -> bool {
    let own = run_task::display_name(pc, handler, None);
    let bare = own
        .split_once(" : ")
        .map(|(_, n)| n.to_string())
        .unwrap_or(own.clone());
    own == name || bare == name || handler.listen.iter().any(|l| l == name)
}

/// Runs notified handlers on the batch's hosts.
pub fn flush(
    runner: &mut Runner,
    play: &Play,
    batch: &[usize],
    pc: &mut PlayCtx,
    reporter: &mut dyn Reporter,
) -> Result<()> {
    // Each pass runs, in definition order, every handler that a notification pending at the
    // start of the pass names (by name or `listen` topic: all listeners of a topic run); what
    // the handlers themselves notify runs in the next pass. As in ansible-core, a handler runs
    // at most once per host in a flush: one notified again (by itself, or by a handler it
    // notified) does not run again, so handlers that notify each other end.
    let mut ran: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
    loop {
        let pending: Vec<(usize, Vec<String>)> = batch
            .iter()
            .map(|i| (*i, runner.hosts[*i].notified.iter().cloned().collect()))
            .filter(|(_, n): &(usize, Vec<String>)| !n.is_empty())
            .collect();
        if pending.is_empty() {
            break;
        }
        for (hi, handler) in play.handlers.iter().enumerate() {
            // Ctrl-C: no handler starts either (they run in the next run, as in Ansible).
            if super::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            let targets: Vec<usize> = pending
                .iter()
                .filter(|(i, notified)| {
                    let h = &runner.hosts[*i];
                    !ran.contains(&(hi, *i))
                        && (h.active()
                            || (play.force_handlers || runner.settings.force_handlers)
                                && !h.unreachable)
                        && notified.iter().any(|n| matches(handler, n, pc))
                })
                .map(|(i, _)| *i)
                .collect();
            if targets.is_empty() {
                continue;
            }
            ran.extend(targets.iter().map(|i| (hi, *i)));
            pc.hostvars = hostvars_snapshot(&runner.hosts, &pc.extra);
            reporter.task_start(
                &run_task::display_name(pc, handler, None),
                true,
                &handler.span,
            );
            let forced = play.force_handlers || runner.settings.force_handlers;
            let results = runner.on_hosts_forced(
                &targets,
                |h| run_task::run_task(pc, handler, h),
                handler.throttle,
                forced,
            );
            runner.record(&results, Some(handler), reporter, pc);
        }
        for (i, notified) in pending {
            for n in notified {
                runner.hosts[i].notified.shift_remove(&n);
            }
        }
    }
    for i in batch {
        runner.hosts[*i].notified.clear();
    }
    Ok(())
}

/// Checks that every `notify` names a handler or a `listen` topic of the play.
pub fn check_notify(play: &Play) -> Result<()> {
    for t in play.all_tasks() {
        for n in &t.notify {
            if crate::template::is_templated(n) {
                continue;
            }
            let found = play.handlers.iter().any(|h| {
                let name = match &h.name {
                    Some(crate::template::tree::TTree::Value(v)) => v.to_string(),
                    _ => String::new(),
                };
                let with_role = h.role.as_ref().map(|r| format!("{} : {name}", r.fqcn));
                name == *n
                    || with_role.as_deref() == Some(n.as_str())
                    || h.listen.iter().any(|l| l == n)
            });
            if !found {
                anyhow::bail!("{}: `notify: {n}` names no handler or `listen` topic of this play\nhint: check the handler's `name:` spelling", t.span_of("notify"));
            }
        }
    }
    Ok(())
}
