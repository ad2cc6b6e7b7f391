//! Foreseeing what the next file tasks will probe on a host, so that the first of them looks
//! at all their paths in one round trip and the others are answered from that look
//! (`fileops::Looks`, which says when a look still serves). Only what is certain to be
//! harmless is rendered ahead: the arguments that name paths, of plain tasks (no delegation,
//! no `environment`, no templated keywords), and plain loops, with every lookup failing (a
//! lookup may run a command or write a file: only the task's own rendering runs it).

use super::context::{layers, PlayCtx};
use super::host::HostState;
use crate::modules::Ahead;
use crate::modules::Args;
use crate::playbook::Task;
use crate::template::tree::TTree;
use crate::vars::Scope;
use minijinja::Value;
use std::sync::Arc;

/// How many tasks after the current one are foreseen at most.
const TASKS_AHEAD: usize = 16;

/// How many paths are foreseen at most (one look's `stat` and request stay small).
const PATHS_AHEAD: usize = 256;

/// The arguments (and aliases) that name what a file task probes.
const PATH_ARGS: [&str; 6] = ["path", "dest", "destfile", "name", "src", "remote_src"];

/// The paths `task` (each of its loop `items`) and the tasks after it in its list (`ahead`)
/// will probe on `host`: empty unless the task probes files on the host itself, the host's
/// last task changed nothing, no look made earlier still serves and a new one may be made
/// (`Looks::may_look`).
pub(super) fn foresee(
    pc: &PlayCtx,
    host: &mut HostState,
    task: &Task,
    items: Option<&[Value]>,
    ahead: &[Task],
) -> Vec<Ahead> {
    // A background job (`async`, `poll: 0`) may change the host at any time: no looks.
    if !(host.quiet && plain(task)) || crate::connection::background_work() {
        return Vec::new();
    }
    let may = match host.conn.as_deref_mut() {
        Some(c) => {
            let looks = &mut c.memo().looks;
            !looks.fresh() && looks.may_look()
        }
        // The task makes the connection: nothing was looked at on it yet.
        None => true,
    };
    if !may {
        return Vec::new();
    }
    crate::template::lookups::without_lookups(|| foresee_all(pc, host, task, items, ahead))
}

/// `foresee` once a look may be made (lookups fail: see `without_lookups`).
fn foresee_all(
    pc: &PlayCtx,
    host: &HostState,
    task: &Task,
    items: Option<&[Value]>,
    ahead: &[Task],
) -> Vec<Ahead> {
    let mut out = Vec::new();
    if !paths_of(pc, host, task, items, &mut out) {
        return Vec::new();
    }
    for t in ahead.iter().take(TASKS_AHEAD) {
        if !plain(t) || out.len() >= PATHS_AHEAD {
            break;
        }
        let items = match &t.loop_items {
            None => None,
            Some(tree) if simple_loop(t) => {
                let base = Scope::new(layers(pc, host, Some(t), None)).into_value();
                match super::run_task::loop_items(pc, host, t, tree, &base) {
                    Ok(v) => Some(v),
                    Err(_) => continue,
                }
            }
            Some(_) => continue,
        };
        if !paths_of(pc, host, t, items.as_deref(), &mut out) {
            break;
        }
    }
    out
}

/// A task of a module that answers its probes from looks made ahead, run on its own host,
/// without `environment` (its commands would not run in the session shell) or keywords
/// decided per host.
fn plain(t: &Task) -> bool {
    t.delegate_to.is_none()
        && t.environment.is_empty()
        && t.templated_flags.is_empty()
        && t.module()
            .is_some_and(|m| m.looks_ahead(&Args::default()).is_some())
}

/// A `loop` (or `with_items`, `with_list`) with its own loop variable's name.
fn simple_loop(t: &Task) -> bool {
    matches!(t.loop_kind, "loop" | "with_items" | "with_list")
        && !crate::template::is_templated(&t.loop_var)
}

/// Adds what `t` will probe, per item; `false` when its module ends what looks ahead serve.
fn paths_of(
    pc: &PlayCtx,
    host: &HostState,
    t: &Task,
    items: Option<&[Value]>,
    out: &mut Vec<Ahead>,
) -> bool {
    let Some(m) = t.module() else {
        return false;
    };
    // Arguments given as one template are not foreseen.
    let TTree::Map(entries) = &t.args else {
        return true;
    };
    let named: Vec<(String, TTree)> = entries
        .iter()
        .filter(|(k, _)| PATH_ARGS.contains(&k.as_str()))
        .cloned()
        .collect();
    if named.is_empty() {
        return true;
    }
    let tree = TTree::Map(named);
    for i in 0..items.map_or(1, <[Value]>::len) {
        let iv = items.map(|all| Arc::new(super::run_task::item_vars(t, all, i)));
        let scope = Scope::new(layers(pc, host, Some(t), iv)).into_value();
        let Ok(v) = tree.render(&scope, &pc.omit) else {
            continue;
        };
        let Ok(args) = Args::from_value(m.name(), m.spec(), &v) else {
            continue;
        };
        match m.looks_ahead(&args) {
            Some(found) => out.extend(found),
            None => return false,
        }
    }
    true
}
