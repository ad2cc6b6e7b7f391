//! Running one task on one host: connect on first need, evaluate `when`, expand the loop,
//! render arguments, `plan`, then `apply` unless in check mode; apply `changed_when`,
//! `failed_when`, `until`, `register` and `notify`. Gathers facts lazily the first time a
//! task reads one.

use super::conn_spec::{conn_spec, spec_from_scope};
use super::context::{layers, PlayCtx};
use super::host::HostState;
use super::result::{HostResult, ItemResult, Status};
use crate::connection::{self, is_deadline_exceeded, is_transport_error, Become};
use crate::modules::{Args, Diff, FactKind, Module, ModuleCtx, Plan, Verdict};
use crate::playbook::{search_paths, Task};
use crate::template::Tmpl;
use crate::vars::{map_value, Layer, Scope, VarMap};
use anyhow::{anyhow, bail, Result};
use minijinja::value::ValueKind;
use minijinja::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Renders a connection variable (they may be templates) from the host's scope.
pub(super) fn var_str(scope: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let v = scope.get_attr(n).ok()?;
        if v.is_undefined() || v.is_none() {
            return None;
        }
        Some(
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        )
    })
}

/// The user to become for this task, if any.
fn become_for(pc: &PlayCtx, host: &HostState, task: &Task, scope: &Value) -> Option<Become> {
    let _ = host;
    become_with(pc, Some(task), scope)
}

/// The user to become for play-level work (fact gathering): the `ansible_become*` variables
/// over the play's keywords over the command line, as for a task.
fn play_become(pc: &PlayCtx, scope: &Value) -> Option<Become> {
    become_with(pc, None, scope)
}

/// Become for a task (or the play): as in Ansible, the `ansible_become*` variables win over
/// the `become*` keywords (the task's, inherited from its blocks and role, then the play's),
/// which win over the command line; a keyword may be a template (`become_user: "{{ u }}"`).
fn become_with(pc: &PlayCtx, task: Option<&Task>, scope: &Value) -> Option<Become> {
    let var_enabled = var_str(scope, &["ansible_become"])
        .and_then(|v| crate::modules::args_to_bool(&Value::from(v)));
    let enabled = var_enabled
        .or(task.and_then(|t| t.become_opts.enabled))
        .or(pc.play.become_opts.enabled)
        .unwrap_or(pc.settings.become_enabled);
    if !enabled {
        return None;
    }
    let keyword = task
        .and_then(|t| t.become_opts.user.clone())
        .or_else(|| pc.play.become_opts.user.clone())
        .map(|u| rendered_keyword(&u, scope));
    let user = var_str(scope, &["ansible_become_user"])
        .or(keyword)
        .or_else(|| pc.settings.become_user.clone())
        .unwrap_or_else(|| "root".into());
    let keyword = task
        .and_then(|t| t.become_opts.method.clone())
        .or_else(|| pc.play.become_opts.method.clone())
        .map(|m| rendered_keyword(&m, scope));
    let method = var_str(scope, &["ansible_become_method"])
        .or(keyword)
        .or_else(|| pc.settings.become_method.clone())
        .or_else(|| crate::config_lookup::explicit("DEFAULT_BECOME_METHOD", None))
        .unwrap_or_else(|| "sudo".into());
    // Keywords are checked at load time; a method a variable names that drover lacks fails
    // the shell that needs it.
    let (method, refused) = match crate::connection::BecomeMethod::parse(&method) {
        Ok(m) => (m, None),
        Err(why) => (Default::default(), Some(why)),
    };
    use crate::connection::BecomeMethod;
    // The plugin's options: its variables, else the environment or ansible.cfg.
    let plugin = Some(("become", method.name()));
    let option = |vars: &[&str], name: &str| {
        var_str(scope, vars).or_else(|| crate::config_lookup::explicit(name, plugin))
    };
    let (exe_vars, flag_vars): (&[&str], &[&str]) = match method {
        BecomeMethod::Su => (
            &["ansible_become_exe", "ansible_su_exe"],
            &["ansible_become_flags", "ansible_su_flags"],
        ),
        BecomeMethod::Doas => (
            &["ansible_become_exe", "ansible_doas_exe"],
            &["ansible_become_flags", "ansible_doas_flags"],
        ),
        BecomeMethod::Sudo => (
            &["ansible_become_exe", "ansible_sudo_exe"],
            &["ansible_become_flags", "ansible_sudo_flags"],
        ),
    };
    Some(Become {
        user,
        method,
        refused,
        password: var_str(
            scope,
            &[
                "ansible_become_password",
                "ansible_become_pass",
                "ansible_sudo_pass",
            ],
        )
        .or_else(|| pc.settings.become_password.clone()),
        exe: option(exe_vars, "become_exe"),
        flags: option(flag_vars, "become_flags"),
        chdir: match method {
            BecomeMethod::Sudo => option(&["ansible_sudo_chdir"], "sudo_chdir"),
            _ => None,
        },
    })
}

/// A keyword's string value, rendered when it is a template (left as written if it fails:
/// the command using it reports the problem).
fn rendered_keyword(s: &str, scope: &Value) -> String {
    if !crate::template::is_templated(s) {
        return s.to_string();
    }
    match crate::template::compile_lenient(s).render(scope) {
        Ok(v) => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        Err(_) => s.to_string(),
    }
}

/// Opens the host's connection if it has none (or the wanted one differs).
fn ensure_connection(pc: &PlayCtx, host: &mut HostState, task: Option<&Task>) -> Result<()> {
    let spec = conn_spec(pc, host, task)?;
    let same = host.conn_spec.as_ref().is_some_and(|s| {
        s.transport == spec.transport
            && s.address == spec.address
            && s.port == spec.port
            && s.user == spec.user
            && s.jumps.len() == spec.jumps.len()
    });
    if host.conn.is_none() || !same {
        host.conn = None;
        if pc.settings.verbosity >= 3 {
            eprintln!("{}", describe_connection(&spec));
        }
        host.conn = Some(connection::connect(&spec)?);
        host.conn_spec = Some(spec);
    }
    Ok(())
}

/// `-vvv`: how a host is reached, as Ansible's `ESTABLISH ... CONNECTION FOR USER` lines.
fn describe_connection(spec: &connection::ConnSpec) -> String {
    let user = spec.user.clone().unwrap_or_else(connection::current_user);
    let name = &spec.name;
    match spec.transport.as_str() {
        "local" | "chroot" | "community.general.chroot" => format!(
            "<{name}> ESTABLISH {} CONNECTION FOR USER: {user}",
            spec.transport
                .rsplit('.')
                .next()
                .unwrap_or("local")
                .to_uppercase()
        ),
        _ => {
            let keys: Vec<String> = spec
                .private_keys
                .iter()
                .map(|k| k.display().to_string())
                .collect();
            let jumps: Vec<String> = spec
                .jumps
                .iter()
                .map(|j| {
                    format!(
                        "{}@{}:{}",
                        j.user.as_deref().unwrap_or(&user),
                        j.address,
                        j.port
                    )
                })
                .collect();
            format!(
                "<{name}> ESTABLISH SSH CONNECTION FOR USER: {user}\n<{name}> SSH: {user}@{}:{}, identity files [{}], host key checking {:?} against {}, connect timeout {}s{}{}",
                spec.address,
                spec.port,
                keys.join(", "),
                spec.host_key_policy,
                spec.known_hosts.display(),
                spec.connect_timeout.as_secs(),
                if spec.password.is_some() { ", password authentication" } else { "" },
                if jumps.is_empty() { String::new() } else { format!(", through {}", jumps.join(" -> ")) },
            )
        }
    }
}

/// Opens (once) the connection to a `delegate_to` target: an inventory host with its own
/// connection variables, or the controller for `localhost` when the inventory lacks it.
fn ensure_delegate(pc: &PlayCtx, host: &mut HostState, task: &Task, target: &str) -> Result<()> {
    if host.delegated.contains_key(target) {
        return Ok(());
    }
    let spec = delegate_spec(pc, task, target)?;
    let conn = connection::connect(&spec)?;
    host.delegated.insert(target.to_string(), conn);
    Ok(())
}

/// How to reach a `delegate_to` target (see [`ensure_delegate`]).
pub(super) fn delegate_spec(
    pc: &PlayCtx,
    task: &Task,
    target: &str,
) -> Result<connection::ConnSpec> {
    let vars = match pc.inventory.get_host(target) {
        Some(h) => h.vars.clone(),
        None if matches!(target, "localhost" | "127.0.0.1" | "::1") => {
            let mut v = VarMap::new();
            v.insert("ansible_connection".into(), Value::from("local"));
            v
        }
        None => {
            return Err(anyhow!(
                "`delegate_to: {target}` names no host of the inventory"
            ))
        }
    };
    let scope = Scope::new(vec![
        Layer::templated(Arc::new(vars)),
        Layer::templated(pc.extra.clone()),
    ])
    .into_value();
    spec_from_scope(pc, target, &scope, Some(task))
}

/// Facts referenced by name in a task's templates (`ansible_*` other than drover's own).
fn reads_facts(task: &Task) -> bool {
    let own = [
        "ansible_check_mode",
        "ansible_diff_mode",
        "ansible_loop",
        "ansible_play_hosts",
        "ansible_play_batch",
        "ansible_play_hosts_all",
        "ansible_run_tags",
        "ansible_skip_tags",
        "ansible_version",
        "ansible_index_var",
        "ansible_loop_var",
    ];
    let check = |t: &Tmpl| {
        t.variables().iter().any(|v| {
            v.starts_with("ansible_")
                && !own.contains(&v.as_str())
                && !v.starts_with("ansible_become")
                && !v.starts_with("ansible_ssh")
                && !matches!(
                    v.as_str(),
                    "ansible_host"
                        | "ansible_port"
                        | "ansible_user"
                        | "ansible_connection"
                        | "ansible_password"
                )
        })
    };
    task.args.templates().iter().any(|(t, _)| check(t))
        || task.when.iter().any(|t| check(t))
        || task
            .loop_items
            .as_ref()
            .is_some_and(|l| l.templates().iter().any(|(t, _)| check(t)))
        || task
            .name
            .as_ref()
            .is_some_and(|l| l.templates().iter().any(|(t, _)| check(t)))
}

/// Gathers facts on a host with the `setup` module.
pub fn gather_facts(pc: &PlayCtx, host: &mut HostState, task: Option<&Task>) -> Result<()> {
    ensure_connection(pc, host, task)?;
    let scope = Scope::new(layers(pc, host, task, None)).into_value();
    let as_user = match task {
        Some(t) => become_for(pc, host, t, &scope),
        None => play_become(pc, &scope),
    };
    let paths = crate::modules::SearchPaths::default();
    let module =
        crate::modules::lookup("setup").ok_or_else(|| anyhow!("invariant: setup is registered"))?;
    // Facts are gathered with the play's (or the task's) `environment`.
    let levels = task.map_or(&pc.play.environment, |t| &t.environment);
    let env = super::environment::pairs(levels, &scope, &pc.omit)?;
    let mut mctx = ModuleCtx {
        host: &host.name,
        conn: host.conn.as_deref_mut(),
        as_user: as_user.as_ref(),
        diff: false,
        vars: &scope,
        paths: &paths,
        env: &env,
        verbosity: pc.settings.verbosity,
        check_changed: false,
        background: None,
        task_name: "",
        no_log: pc.settings.no_log,
        ahead: Vec::new(),
    };
    // The play's `gather_subset`, `fact_path` and `gather_timeout` shape its own gathering.
    let args = match task {
        None => Args {
            map: pc.play.gather_args.clone(),
        },
        Some(_) => Args::default(),
    };
    let plan = module.run(&mut mctx, &args, false)?;
    if let Some(f) = plan.facts {
        host.set_facts(&f);
        cache_facts(pc, host, &f, crate::modules::FactKind::AnsibleFacts)?;
    }
    Ok(())
}

/// Gathered facts and cacheable `set_fact` values go to the fact cache, when there is one.
fn cache_facts(
    pc: &PlayCtx,
    host: &mut HostState,
    facts: &VarMap,
    kind: crate::modules::FactKind,
) -> Result<()> {
    use crate::modules::FactKind;
    let Some(cache) = &pc.settings.fact_cache else {
        return Ok(());
    };
    match kind {
        FactKind::AnsibleFacts => host.cache_add(facts, true),
        FactKind::CacheableHostVars => host.cache_add(facts, false),
        _ => return Ok(()),
    }
    cache.store(&host.name, &host.cache_entries)
}

/// Whether a task's `when` holds on a host (false when it cannot be evaluated).
pub fn when_holds(pc: &PlayCtx, task: &Task, host: &HostState) -> bool {
    let scope = Scope::new(layers(pc, host, Some(task), None)).into_value();
    matches!(eval_conditions(&task.when, &scope), Ok(None))
}

/// Runs a task on a host and updates the host's state (register, set_fact, notify, counters
/// are left to the caller, which reports in inventory order).
/// `ahead`: the tasks after this one in its list, whose file probes this task's first probe
/// may make ahead (`lookahead.rs`).
pub fn run_task(pc: &PlayCtx, task: &Task, ahead: &[Task], host: &mut HostState) -> HostResult {
    let started = Instant::now();
    // Boolean keywords written as templates are this host's to decide.
    let decided;
    let mut early_error = None;
    let task = if task.templated_flags.is_empty() {
        task
    } else {
        let scope = Scope::new(layers(pc, host, Some(task), None)).into_value();
        // A loop's `retries`/`delay` may use the item: decided per item (`run_item`).
        let per_item: &[&str] = if task.loop_items.is_some() {
            &["retries", "delay"]
        } else {
            &[]
        };
        match task.with_flags_decided(&pc.omit, per_item, |tm| Ok(tm.render(&scope)?)) {
            Ok(t) => {
                decided = t;
                &decided
            }
            Err(e) => {
                early_error = Some(e);
                task
            }
        }
    };
    if let (None, Some((secs, _))) = (&early_error, task.async_poll) {
        let short = task.module_name.rsplit('.').next().unwrap_or_default();
        if secs > 0 && NO_ASYNC.contains(&short) {
            early_error = Some(anyhow!(
                "This action ({}) does not support async.",
                task.module_name
            ));
        }
    }
    let inner = match early_error {
        Some(e) => Err(e),
        None => run_task_inner(pc, task, ahead, host),
    };
    let mut res = match inner {
        Ok(r) => r,
        Err(e) => {
            let timed_out = is_deadline_exceeded(&e);
            let unreachable =
                !timed_out && (is_transport_error(&e) || connection::is_unreachable(&e));
            let limit = time_limit(pc, task);
            let by_async =
                matches!(task.async_poll, Some((secs, poll)) if poll > 0 && secs == limit);
            let msg = if timed_out && by_async {
                // Ansible's words for a polled task past its `async` time.
                format!("async task did not complete within the requested time - {limit}s")
            } else if timed_out {
                // Ansible's words for a task past its `timeout`.
                format!(
                    "The {} action failed to execute in the expected time frame ({}) and was terminated",
                    task.module_name, limit
                )
            } else {
                format!("{e:#}")
            };
            HostResult {
                host: host.name.clone(),
                status: if unreachable {
                    Status::Unreachable
                } else {
                    Status::Failed
                },
                ignored: false,
                result: {
                    let mut r = vec![
                        ("failed".to_string(), Value::from(!unreachable)),
                        ("unreachable".to_string(), Value::from(unreachable)),
                        ("msg".to_string(), Value::from(msg.clone())),
                        ("changed".to_string(), Value::from(false)),
                    ];
                    // Ansible reports a failure raised as an error with its traceback.
                    if !unreachable {
                        r.push((
                            "exception".to_string(),
                            Value::from("(traceback unavailable)"),
                        ));
                    }
                    map_value(r)
                },
                items: Vec::new(),
                diffs: Vec::new(),
                msg: Some(msg),
                no_log: task.no_log,
                show: false,
                duration: std::time::Duration::ZERO,
                origin: None,
                delegated_to: None,
            }
        }
    };
    // A host that stopped answering while a timed-out command was being killed: the next
    // task connects again (and finds it unreachable within the connect timeout).
    if host.conn.as_ref().is_some_and(|c| c.broken()) {
        host.conn = None;
    }
    host.delegated.retain(|_, c| !c.broken());
    if res.status == Status::Unreachable {
        host.conn = None;
        if task.ignore_unreachable || pc.play.ignore_unreachable {
            res.ignored = true;
        }
    }
    if res.status == Status::Failed && task.ignore_errors {
        res.ignored = true;
    }
    if let Some(r) = &task.register {
        if res.status != Status::Unreachable || res.ignored {
            host.set_var(r, res.result.clone());
        }
    }
    // Shown `[host -> delegate]`, as Ansible's default output does.
    if let Some(tree) = &task.delegate_to {
        let scope = Scope::new(layers(pc, host, Some(task), None)).into_value();
        if let Ok(v) = tree.render(&scope, &pc.omit) {
            let d = v.to_string();
            if d != host.name && !d.is_empty() {
                res.delegated_to = Some(d);
            }
        }
    }
    res.duration = started.elapsed();
    res
}

fn run_task_inner(
    pc: &PlayCtx,
    task: &Task,
    ahead: &[Task],
    host: &mut HostState,
) -> Result<HostResult> {
    if !host.facts_gathered && reads_facts(task) {
        gather_facts(pc, host, Some(task)).map_err(connection::unreachable)?;
    }
    let base = Scope::new(layers(pc, host, Some(task), None)).into_value();
    let task = &*loop_names_rendered(task, &base)?;
    let items: Option<Vec<Value>> = match &task.loop_items {
        None => None,
        Some(tree) => match loop_items(pc, host, task, tree, &base) {
            Ok(v) => Some(v),
            // As Ansible: a loop that cannot be evaluated fails the task only when its
            // condition holds; otherwise the task is skipped (run once, without items).
            Err(_) if matches!(eval_conditions(&task.when, &base), Ok(Some(_))) => None,
            Err(e) => return Err(e),
        },
    };
    // A task with a time limit looks at its own paths only (a look ahead is its time too).
    let foreseen = match time_limit(pc, task) {
        0 => super::lookahead::foresee(pc, host, task, items.as_deref(), ahead),
        _ => Vec::new(),
    };
    let Some(items) = items else {
        let (status, result, diffs) = run_item(pc, task, host, None, foreseen)?;
        return Ok(finish(host, task, status, result, diffs, Vec::new()));
    };
    let mut outs = Vec::with_capacity(items.len());
    // As ansible-core's loop: while it runs, the register name holds the previous item's
    // result (what the next item's conditions see).
    let mut previous: Option<Value> = None;
    let mut foreseen = Some(foreseen);
    for (i, item) in items.iter().enumerate() {
        if i > 0 && task.loop_pause > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(task.loop_pause));
        }
        let mut vars = item_vars(task, &items, i);
        if let (Some(r), Some(p)) = (&task.register, &previous) {
            vars.insert(r.clone(), p.clone());
        }
        let iv = Arc::new(vars);
        let item = item.clone();
        // An item that fails to render or evaluate fails alone (the loop goes on, as in
        // Ansible); a lost connection still ends the task.
        let first = foreseen.take().unwrap_or_default();
        let (status, mut result, diffs) = match run_item(pc, task, host, Some(iv.clone()), first) {
            Ok(r) => r,
            Err(e)
                if !is_transport_error(&e)
                    && !is_deadline_exceeded(&e)
                    && !connection::is_unreachable(&e) =>
            {
                let msg = format!("{e:#}");
                (
                    Status::Failed,
                    map_value([
                        ("failed".to_string(), Value::from(true)),
                        ("msg".to_string(), Value::from(msg)),
                        ("changed".to_string(), Value::from(false)),
                        (
                            "exception".to_string(),
                            Value::from("(traceback unavailable)"),
                        ),
                    ]),
                    Vec::new(),
                )
            }
            Err(e) => return Err(e),
        };
        // The label sees this item's result under the register name (Ansible sets it for
        // that purpose); a label that fails to render fails the item.
        let mut status = status;
        let label = match &task.loop_label {
            Some(l) => {
                let mut ls = layers(pc, host, Some(task), Some(iv.clone()));
                if let Some(r) = &task.register {
                    let mut reg = VarMap::new();
                    reg.insert(r.clone(), result.clone());
                    ls.push(crate::vars::Layer::data(Arc::new(reg)));
                }
                match l.render(&Scope::new(ls).into_value(), &pc.omit) {
                    Ok(v) => v.to_string(),
                    Err(e) => {
                        status = Status::Failed;
                        let msg = format!("Failed to template loop_control.label: {e:#}");
                        result = with_keys(
                            &result,
                            &[("failed", Value::from(true)), ("msg", Value::from(msg))],
                        );
                        item.to_string()
                    }
                }
            }
            None => item.to_string(),
        };
        result = with_keys(
            &result,
            &[
                (task.loop_var.as_str(), item.clone()),
                ("ansible_loop_var", Value::from(task.loop_var.as_str())),
            ],
        );
        let item_result = result.clone();
        previous = Some(result.clone());
        outs.push(ItemResult {
            label,
            status,
            result,
            diffs,
        });
        if status == Status::Unreachable {
            break;
        }
        // `loop_control.break_when`: evaluated after each item, with that item's result under
        // the register name.
        if let Some(conds) = &task.loop_break_when {
            let mut l = layers(pc, host, Some(task), Some(iv.clone()));
            if let Some(r) = &task.register {
                let mut reg = VarMap::new();
                reg.insert(r.clone(), item_result);
                l.push(crate::vars::Layer::data(Arc::new(reg)));
            }
            let scope = Scope::new(l).into_value();
            let mut stop = true;
            for c in conds {
                stop &= crate::template::conditional::evaluate(c, &scope).map_err(|e| {
                    anyhow!("the condition `{}` of `break_when` failed: {e}", c.source())
                })?;
            }
            if stop {
                break;
            }
        }
    }
    Ok(aggregate(host, task, outs))
}

/// A task's loop items. A `with_<lookup>` without a loop of its own in `loops.rs`
/// (`with_fileglob`, `with_first_found`, `with_lines`, `with_community.general.flattened`...)
/// hands its terms to the lookup of that name (with the task's search paths), as Ansible's
/// `with_<lookup>` does.
pub(super) fn loop_items(
    pc: &PlayCtx,
    host: &HostState,
    task: &Task,
    tree: &crate::template::tree::TTree,
    base: &Value,
) -> Result<Vec<Value>> {
    // Ansible's first_found drops terms that are undefined (`{{ missing }}foo`).
    let v = if task.loop_kind == "with_first_found" {
        tree.render_lazy(base, &pc.omit)?
    } else {
        tree.render(base, &pc.omit)?
    };
    let Some(lookup) = task.loop_kind.strip_prefix("with_") else {
        return super::loops::loop_values(&v, task.loop_kind);
    };
    // `with_community.general.flattened` is the same loop as `with_flattened`.
    let short = lookup.rsplit('.').next().unwrap_or(lookup);
    // As Ansible: a `with_*` value that is no list is the one term of the lookup
    // (`with_list: "{{ a_dict }}"` loops once, over the dict).
    let v = match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => v,
        _ if matches!(short, "sequence" | "dict" | "items") => v,
        _ => Value::from(vec![v]),
    };
    if super::loops::NATIVE.contains(&short) {
        return super::loops::loop_values(&v, &format!("with_{short}"));
    }
    let mut terms = VarMap::new();
    terms.insert("__drover_loop_terms".into(), v);
    // `with_first_found` looks in the subdirectory the task's action suggests (Ansible:
    // `template` → templates/, `include_vars` → vars/, else files/).
    let action = task.module_name.as_str();
    let subdir = ["template", "var", "file"]
        .into_iter()
        .find(|k| action.contains(k))
        .unwrap_or("file");
    terms.insert(
        "__drover_lookup_subdir".into(),
        Value::from(format!("{subdir}s")),
    );
    let scope = Scope::new(layers(pc, host, Some(task), Some(Arc::new(terms)))).into_value();
    let expr =
        crate::template::compile_condition(&format!("query('{lookup}', __drover_loop_terms)"))?;
    let found = expr
        .render(&scope)
        .map_err(|e| anyhow!("`{}`: {e:#}", task.loop_kind))?;
    super::loops::loop_values(&found, "loop")
}

/// The variables one loop item defines: the loop variable, `index_var`, `ansible_loop_var`,
/// and with `loop_control.extended` `ansible_loop` (with `allitems` unless
/// `extended_allitems: false`), as Ansible defines them.
pub(super) fn item_vars(task: &Task, all: &[Value], i: usize) -> VarMap {
    let n = all.len();
    let item = &all[i];
    let mut iv = VarMap::new();
    iv.insert(task.loop_var.clone(), item.clone());
    if let Some(ix) = &task.index_var {
        iv.insert(ix.clone(), Value::from(i));
    }
    if task.loop_extended {
        let mut l = vec![
            ("index".to_string(), Value::from(i + 1)),
            ("index0".to_string(), Value::from(i)),
            ("revindex".to_string(), Value::from(n - i)),
            ("revindex0".to_string(), Value::from(n - i - 1)),
            ("first".to_string(), Value::from(i == 0)),
            ("last".to_string(), Value::from(i + 1 == n)),
            ("length".to_string(), Value::from(n)),
        ];
        if i > 0 {
            l.push(("previtem".to_string(), all[i - 1].clone()));
        }
        if i + 1 < n {
            l.push(("nextitem".to_string(), all[i + 1].clone()));
        }
        if task.loop_allitems {
            l.push(("allitems".to_string(), Value::from(all.to_vec())));
        }
        iv.insert("ansible_loop".into(), map_value(l));
    }
    iv.insert(
        "ansible_loop_var".into(),
        Value::from(task.loop_var.as_str()),
    );
    if let Some(ix) = &task.index_var {
        iv.insert("ansible_index_var".into(), Value::from(ix.as_str()));
    }
    iv
}

/// One file a host includes: the rendered name, the include parameters (the include's `vars`
/// and, in a loop, the item's variables) and the item's label.
#[derive(Clone, Debug)]
pub struct Inclusion {
    pub file: String,
    pub params: Arc<VarMap>,
    pub label: Option<String>,
}

/// The task with a templated `loop_control.loop_var` / `index_var` rendered for this host
/// (`loop_var: "{{ name }}"`), as Ansible templates `loop_control` before looping.
fn loop_names_rendered<'t>(task: &'t Task, base: &Value) -> Result<std::borrow::Cow<'t, Task>> {
    let templated = |s: &str| crate::template::is_templated(s);
    if !templated(&task.loop_var) && !task.index_var.as_deref().is_some_and(templated) {
        return Ok(std::borrow::Cow::Borrowed(task));
    }
    let render = |s: &str| -> Result<String> {
        let v = crate::template::compile_lenient(s).render(base)?;
        Ok(v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()))
    };
    let mut t = task.clone();
    t.loop_var = render(&task.loop_var)?;
    if let Some(ix) = &task.index_var {
        t.index_var = Some(render(ix)?);
    }
    Ok(std::borrow::Cow::Owned(t))
}

/// What an `include_tasks` includes on a host: one inclusion, or one per loop item, for
/// which the include's `when` holds (evaluated per item, as Ansible does).
pub fn inclusions(
    pc: &PlayCtx,
    task: &Task,
    inc: &crate::playbook::IncludeTasks,
    host: &mut HostState,
) -> Result<Vec<Inclusion>> {
    if !host.facts_gathered && reads_facts(task) {
        gather_facts(pc, host, Some(task)).map_err(connection::unreachable)?;
    }
    let base = Scope::new(layers(pc, host, Some(task), None)).into_value();
    let task = &*loop_names_rendered(task, &base)?;
    let items: Vec<Option<VarMap>> = match &task.loop_items {
        None => vec![None],
        Some(tree) => {
            let values = loop_items(pc, host, task, tree, &base)?;
            (0..values.len())
                .map(|i| Some(item_vars(task, &values, i)))
                .collect()
        }
    };
    let mut out = Vec::new();
    for iv in items {
        let iv = iv.map(Arc::new);
        let scope = Scope::new(layers(pc, host, Some(task), iv.clone())).into_value();
        if eval_conditions(&task.when, &scope)?.is_some() {
            continue;
        }
        let file = inc.file.render(&scope, &pc.omit)?;
        let file = file
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| file.to_string());
        // The parameters of the includes around this one come first (inner ones win), as
        // Ansible's included tasks see every enclosing include's vars.
        let mut params = task.include_params.as_deref().cloned().unwrap_or_default();
        params.extend(inc.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut label = None;
        if let Some(iv) = &iv {
            params.extend(iv.iter().map(|(k, v)| (k.clone(), v.clone())));
            let item = iv.get(&task.loop_var).cloned().unwrap_or_default();
            label = Some(match &task.loop_label {
                Some(l) => l
                    .render(&scope, &pc.omit)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| item.to_string()),
                None => item.to_string(),
            });
        }
        out.push(Inclusion {
            file,
            params: Arc::new(params),
            label,
        });
    }
    Ok(out)
}

pub(super) fn with_keys(result: &Value, extra: &[(&str, Value)]) -> Value {
    let mut m = crate::vars::varmap_from_value(result);
    for (k, v) in extra {
        m.insert(k.to_string(), v.clone());
    }
    map_value(m)
}

fn eval_conditions(conds: &[Arc<Tmpl>], scope: &Value) -> Result<Option<String>> {
    use crate::template::conditional::{evaluate, CondError};
    for c in conds {
        let holds = evaluate(c, scope).map_err(|e| {
            let src = c
                .source()
                .trim()
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim();
            match e {
                CondError::Render(e) => match crate::template::tree::undefined_message(c, scope) {
                    Some(what) => anyhow!("the condition `{src}` failed: {what}"),
                    None => anyhow!("the condition `{src}` failed: {e}"),
                },
                other => anyhow!("the condition `{src}` failed: {other}"),
            }
        })?;
        if !holds {
            let src = c
                .source()
                .trim()
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim();
            return Ok(Some(src.to_string()));
        }
    }
    Ok(None)
}

/// Runs the module once (one item); returns the status, the result map and diffs.
fn run_item(
    pc: &PlayCtx,
    task: &Task,
    host: &mut HostState,
    item: Option<Arc<VarMap>>,
    mut ahead: Vec<crate::modules::Ahead>,
) -> Result<(Status, Value, Vec<Diff>)> {
    let scope_layers = layers(pc, host, Some(task), item.clone());
    let scope = Scope::new(scope_layers.clone()).into_value();
    let decided;
    let task = if task.templated_flags.is_empty() {
        task
    } else {
        decided = task.with_flags_decided(&pc.omit, &[], |tm| Ok(tm.render(&scope)?))?;
        &decided
    };
    if let Some(false_cond) = eval_conditions(&task.when, &scope)? {
        let r = map_value([
            ("changed".to_string(), Value::from(false)),
            ("skipped".to_string(), Value::from(true)),
            (
                "skip_reason".to_string(),
                Value::from("Conditional result was False"),
            ),
            ("false_condition".to_string(), Value::from(false_cond)),
        ]);
        return Ok((Status::Skipped, r, Vec::new()));
    }
    let Some(module) = task.module() else {
        return Ok((
            Status::Ok,
            map_value([("changed".to_string(), Value::from(false))]),
            Vec::new(),
        ));
    };
    let check = task
        .check_mode
        .or(pc.play.check_mode)
        .unwrap_or(pc.settings.check);
    let diff = task.diff.or(pc.play.diff).unwrap_or(pc.settings.diff);
    let rendered = task.args.render(&scope, &pc.omit).map_err(|e| {
        anyhow!(
            "Task failed: Finalization of task args for 'ansible.builtin.{}' failed: {e:#}",
            module.name()
        )
    })?;
    let args = Args::from_value(module.name(), module.spec(), &rendered)?;
    // Words that are no `k=v` in the arguments of a module that takes no free-form text:
    // Ansible loads the task and fails it when it runs (`set_fact` ignores them).
    if module.spec().free_form.is_none() && args.has("_raw_params") {
        match module.name() {
            "set_fact" => {}
            "add_host" => bail!(
                "Invalid raw parameters passed, requires a dictionary/mapping got a  <class 'str'>"
            ),
            name => {
                let fqcn = if task.module_name.contains('.') {
                    task.module_name.clone()
                } else {
                    format!("ansible.builtin.{name}")
                };
                bail!("Task failed: Action '{fqcn}' does not support raw params.")
            }
        }
    }
    let delegate = match &task.delegate_to {
        Some(tree) => Some(tree.render(&scope, &pc.omit)?.to_string()).filter(|d| *d != host.name),
        None => None,
    };
    // A task whose module does not answer from looks made ahead may change a host or let
    // time pass: what was looked at ahead no longer serves.
    if module.looks_ahead(&args).is_none() {
        connection::note_host_change();
    }
    if matches!(task.async_poll, Some((secs, 0)) if secs > 0) {
        connection::note_background_work();
    }
    // It makes the connection the others use (and is Ansible's action, not a module).
    if module.name() == "wait_for_connection" {
        let plan = super::wait_connection::wait(pc, host, task, &args, delegate.as_deref())?;
        let (status, result, diffs, _) = plan_to_result(plan, check, diff);
        return Ok((status, result, diffs));
    }
    // It drops the host's connection and makes new ones, as wait_for_connection.
    if module.name() == "reboot" {
        let plan = match &delegate {
            None => {
                let as_user = become_for(pc, host, task, &scope);
                super::reboot::reboot(pc, host, task, &args, check, as_user.as_ref())?
            }
            Some(_) => Plan::fail("reboot with delegate_to is not implemented yet"),
        };
        let (status, result, diffs, _) = plan_to_result(plan, check, diff);
        return Ok((status, result, diffs));
    }
    if !module.controller_only() {
        match &delegate {
            None => ensure_connection(pc, host, Some(task)),
            Some(target) => ensure_delegate(pc, host, task, target),
        }
        .map_err(connection::unreachable)?;
    }
    let as_user = become_for(pc, host, task, &scope);
    let paths = search_paths(task, &pc.playbook_dir);
    let env = super::environment::pairs(&task.environment, &scope, &pc.omit)?;
    // `pause` shows it in its prompt.
    let task_name = if module.name() == "pause" {
        display_name(pc, task, Some(host))
    } else {
        String::new()
    };
    let mut attempts = 0usize;
    loop {
        attempts += 1;
        let plan = {
            let mut conn = match &delegate {
                None => host.conn.as_deref_mut(),
                Some(target) => host.delegated.get_mut(target).map(|c| c.as_mut()),
            };
            let limit = time_limit(pc, task);
            let deadline = (limit > 0).then(|| Instant::now() + Duration::from_secs(limit));
            if let Some(c) = conn.as_deref_mut() {
                c.set_deadline(deadline);
            }
            let check_changed = host.check_changed;
            let mut mctx = ModuleCtx {
                host: &host.name,
                conn,
                as_user: as_user.as_ref(),
                diff,
                vars: &scope,
                paths: &paths,
                env: &env,
                verbosity: pc.settings.verbosity,
                check_changed,
                background: task.async_poll.filter(|(secs, _)| *secs > 0),
                task_name: &task_name,
                no_log: task.no_log || pc.settings.no_log,
                ahead: std::mem::take(&mut ahead),
            };
            let planned = run_module(module, &mut mctx, &args, check);
            if let Some(c) = mctx.conn.as_deref_mut() {
                c.set_deadline(None);
            }
            planned?
        };
        // A prediction changes nothing: the host stays as the looks saw it.
        host.quiet = check || !(plan.changed() || plan.failed());
        let (mut status, mut result, diffs, facts) = plan_to_result(plan, check, diff);
        // At -vvv a module's result shows the arguments it ran with, as Ansible's does.
        if pc.settings.verbosity >= 3
            && !module.controller_only()
            && !task.no_log
            && !pc.settings.no_log
        {
            // Secrets are masked as Ansible masks its modules' `no_log` arguments.
            let module_args = crate::vars::map_value(args.map.iter().map(|(k, v)| {
                let secret = k == "content"
                    || ["password", "passphrase", "secret", "token", "private_key"]
                        .iter()
                        .any(|s| k.contains(s));
                let v = if secret && !v.is_none() {
                    Value::from("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
                } else {
                    v.clone()
                };
                (k.clone(), v)
            }));
            result = with_keys(
                &result,
                &[(
                    "invocation",
                    crate::vars::map_value([("module_args".to_string(), module_args)]),
                )],
            );
        }
        if check
            && status == Status::Changed
            && !matches!(
                module.name(),
                "service" | "systemd" | "systemd_service" | "sysvinit"
            )
        {
            host.check_changed = true;
        }
        // The facts the module set are what changed_when/failed_when/until see (Ansible's
        // task vars updated with the result's `ansible_facts`), and are the host's only if the
        // task does not fail.
        let fact_layer = match &facts {
            Some((f, crate::modules::FactKind::AnsibleFacts)) => Some(Layer::data(Arc::new(
                f.iter()
                    .map(|(k, v)| (format!("ansible_{k}"), v.clone()))
                    .collect::<VarMap>(),
            ))),
            Some((f, _)) if !(task.delegate_facts && delegate.is_some()) => {
                Some(Layer::data(Arc::new(f.clone())))
            }
            _ => None,
        };
        let scope_layers = {
            let mut l = scope_layers.clone();
            l.extend(fact_layer);
            l
        };
        // changed_when / failed_when see the result under the register name.
        if task.changed_when.is_some() || task.failed_when.is_some() || task.until.is_some() {
            // With `until`, the attempt number is in the result the conditions see.
            if task.until.is_some() {
                result = with_keys(&result, &[("attempts", Value::from(attempts))]);
            }
            let rscope = result_scope(scope_layers.clone(), task, &result);
            // As ansible-core: changed_when first, then failed_when; an error in either fails
            // the task but keeps the module's result, the error under `<cond>_when_result`
            // (and the other condition is not evaluated).
            let module_failed = status == Status::Failed;
            let mut cond_error = false;
            if let Some(cw) = task
                .changed_when
                .as_ref()
                .filter(|_| status != Status::Skipped)
            {
                match eval_conditions(cw, &rscope) {
                    Ok(r) => {
                        let changed = r.is_none();
                        if status != Status::Failed {
                            status = if changed { Status::Changed } else { Status::Ok };
                        }
                        result = with_keys(&result, &[("changed", Value::from(changed))]);
                    }
                    Err(e) => {
                        cond_error = true;
                        status = Status::Failed;
                        result = with_keys(
                            &result,
                            &[
                                ("failed", Value::from(true)),
                                ("changed_when_result", Value::from(condition_error_text(&e))),
                            ],
                        );
                    }
                }
            }
            if let Some(fw) = task
                .failed_when
                .as_ref()
                .filter(|_| status != Status::Skipped && !cond_error)
            {
                match eval_conditions(fw, &rscope) {
                    Ok(r) => {
                        let failed = r.is_none();
                        result = with_keys(
                            &result,
                            &[
                                ("failed", Value::from(failed)),
                                ("failed_when_result", Value::from(failed)),
                            ],
                        );
                        if failed {
                            status = Status::Failed;
                        } else if status == Status::Failed {
                            status = if result
                                .get_attr("changed")
                                .map(|v| v.is_true())
                                .unwrap_or(false)
                            {
                                Status::Changed
                            } else {
                                Status::Ok
                            };
                            // The module's own failure, suppressed, keeps its trace here.
                            if module_failed {
                                result = with_keys(
                                    &result,
                                    &[(
                                        "failed_when_suppressed_exception",
                                        Value::from("(traceback unavailable)"),
                                    )],
                                );
                            }
                        }
                    }
                    Err(e) => {
                        status = Status::Failed;
                        result = with_keys(
                            &result,
                            &[
                                ("failed", Value::from(true)),
                                ("failed_when_result", Value::from(condition_error_text(&e))),
                            ],
                        );
                    }
                }
            }
            if let Some(until) = &task.until {
                // `until` sees the result as changed_when/failed_when left it.
                let rscope = result_scope(scope_layers.clone(), task, &result);
                let done = eval_conditions(std::slice::from_ref(until), &rscope)
                    .map(|r| r.is_none())
                    .unwrap_or(false);
                result = with_keys(&result, &[("attempts", Value::from(attempts))]);
                if !done {
                    if attempts <= task.retries && !check {
                        std::thread::sleep(std::time::Duration::from_secs_f64(task.delay.max(0.0)));
                        continue;
                    }
                    // Out of attempts: `failed` is set, but with `failed_when` the task's
                    // failure is what `failed_when` decided (Ansible's `is_failed` reads
                    // `failed_when_result` when there is one).
                    if task.failed_when.is_none() {
                        status = Status::Failed;
                    }
                    result = with_keys(&result, &[("failed", Value::from(true))]);
                }
            }
        }
        if let (Some((facts, kind)), false) = (facts, status == Status::Failed) {
            match (task.delegate_facts, &delegate) {
                (true, Some(target)) => host.delegated_facts.push((target.clone(), facts, kind)),
                _ => {
                    if task.run_once {
                        // The other hosts of the batch get them too (see `run_on_batch`).
                        host.once_facts.push((facts.clone(), kind));
                    }
                    cache_facts(pc, host, &facts, kind)?;
                    host.set_vars_of(kind, facts)
                }
            }
        }
        return Ok((status, with_exception(status, result), diffs));
    }
}

/// ansible-core 2.19 gives every failed result an `exception` (a playbook sees
/// `(traceback unavailable)`); the output never shows it.
fn with_exception(status: Status, result: Value) -> Value {
    if status == Status::Failed && result.get_attr("exception").is_ok_and(|v| v.is_undefined()) {
        with_keys(
            &result,
            &[("exception", Value::from("(traceback unavailable)"))],
        )
    } else {
        result
    }
}

/// `changed_when` evaluated again on a result whose `changed` the run updated (Ansible
/// re-evaluates it after `add_host`/`group_by` changed the inventory): `None` when the task
/// has none or it fails to evaluate.
pub fn changed_when_again(
    pc: &PlayCtx,
    task: &Task,
    host: &HostState,
    result: &Value,
) -> Option<bool> {
    let cw = task.changed_when.as_ref()?;
    let mut item = VarMap::new();
    if let Ok(v) = result.get_attr(&task.loop_var) {
        if !v.is_undefined() {
            item.insert(task.loop_var.clone(), v);
        }
    }
    let l = layers(pc, host, Some(task), Some(Arc::new(item)));
    let scope = result_scope(l, task, result);
    eval_conditions(cw, &scope).ok().map(|r| r.is_none())
}

/// The scope `changed_when`, `failed_when` and `until` see: `layers` with the task's result
/// under its register name and its keys (`rc`, `stdout`...) as variables.
fn result_scope(mut layers: Vec<Layer>, task: &Task, result: &Value) -> Value {
    let mut reg = VarMap::new();
    if let Some(r) = &task.register {
        reg.insert(r.clone(), result.clone());
    }
    for (k, v) in crate::vars::varmap_from_value(result) {
        reg.entry(k).or_insert(v);
    }
    layers.push(Layer::data(Arc::new(reg)));
    Scope::new(layers).into_value()
}

/// The text Ansible puts under `changed_when_result`/`failed_when_result` for a condition
/// that could not be evaluated.
fn condition_error_text(e: &anyhow::Error) -> String {
    let msg = format!("{e:#}");
    let inner = msg
        .split_once("` failed: ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(msg);
    format!("Error while evaluating conditional: {inner}")
}

/// A task's time limit in seconds: its own `timeout` (or its block's or play's), else the
/// run's `--task-timeout`; 0 is none.
fn time_limit(pc: &PlayCtx, task: &Task) -> u64 {
    let limit = task.timeout.unwrap_or(pc.settings.task_timeout);
    // `async: N` with polling: the task may run N seconds.
    match task.async_poll {
        Some((secs, poll)) if poll > 0 && secs > 0 && (limit == 0 || secs < limit) => secs,
        _ => limit,
    }
}

/// `plan`, then `apply` when there is something to do and this is not check mode.
/// Lookups memoized on the connection are forgotten once a module that may change accounts
/// has changed something (a plan only reads; `apply`, which runs commands too, writes).
fn run_module(module: &dyn Module, mctx: &mut ModuleCtx, args: &Args, check: bool) -> Result<Plan> {
    let res = module.run(mctx, args, check);
    let applied = res.as_ref().map_or(true, |p| p.changed() || p.failed());
    if !check && applied && may_touch_accounts(module, args) {
        if let Some(c) = mctx.conn.as_deref_mut() {
            c.memo().clear();
        }
    }
    res
}

/// Whether a task may change users, groups or name lookups: any module but the file-only ones,
/// and those too when they edit an account database (`lineinfile: path=/etc/group`).
fn may_touch_accounts(module: &dyn Module, args: &Args) -> bool {
    const ACCOUNT_FILES: [&str; 4] = ["passwd", "group", "shadow", "nsswitch"];
    !module.leaves_accounts_alone()
        || ["path", "dest"]
            .iter()
            .filter_map(|k| args.str(k))
            .any(|p| ACCOUNT_FILES.iter().any(|n| p.contains(n)))
}

/// The modules whose Ansible action plugins refuse `async` (`_supports_async` unset).
const NO_ASYNC: &[&str] = &[
    "add_host",
    "assemble",
    "assert",
    "copy",
    "debug",
    "fail",
    "fetch",
    "gather_facts",
    "group_by",
    "include_vars",
    "pause",
    "raw",
    "reboot",
    "script",
    "set_fact",
    "set_stats",
    "template",
    "unarchive",
    "validate_argument_spec",
    "wait_for_connection",
];

type Facts = Option<(VarMap, FactKind)>;

fn plan_to_result(plan: Plan, check: bool, diff: bool) -> (Status, Value, Vec<Diff>, Facts) {
    let mut m = plan.values;
    let status = match &plan.verdict {
        Verdict::Failed { .. } => Status::Failed,
        Verdict::Skipped(_) => Status::Skipped,
        Verdict::Unpredictable if check => Status::Skipped,
        Verdict::Changed | Verdict::Unpredictable => Status::Changed,
        Verdict::Unchanged => Status::Ok,
    };
    // A command that ran and failed still changed the host (Ansible reports `changed`), so
    // `failed_when: false` turns it into a change, not an ok.
    let changed =
        status == Status::Changed || (plan.verdict == Verdict::Failed { changed: true } && !check);
    m.insert("changed".into(), Value::from(changed));
    if status == Status::Failed {
        m.insert("failed".into(), Value::from(true));
    } else if !matches!(plan.verdict, Verdict::Skipped(_)) {
        // A module's own skip has no `failed` key, as Ansible's.
        m.entry("failed".into()).or_insert(Value::from(false));
    }
    if let Verdict::Skipped(reason) = &plan.verdict {
        m.insert("skipped".into(), Value::from(true));
        if reason.is_empty() {
            m.insert("msg".into(), Value::from(plan.msg.unwrap_or_default()));
        } else {
            m.insert("skipped_reason".into(), Value::from(reason.as_str()));
        }
    } else if status == Status::Skipped {
        m.insert("skipped".into(), Value::from(true));
        let msg = plan
            .msg
            .unwrap_or_else(|| "skipped, running in check mode".into());
        m.insert("msg".into(), Value::from(msg));
    } else if let Some(msg) = plan.msg {
        m.insert("msg".into(), Value::from(msg));
    }
    // Content decrypted from a vault has no diff to show, whatever `--diff` says.
    let diff = diff && !plan.secret;
    if let (false, Some(v)) = (diff, &plan.plain_diff) {
        m.insert("diff".into(), v.clone());
    } else if let (true, Some(v)) = (diff || plan.diff_always && !plan.secret, &plan.diff_value) {
        m.insert("diff".into(), v.clone());
    } else if diff && !plan.diffs.is_empty() {
        let d: Vec<Value> = plan
            .diffs
            .iter()
            .map(|d| {
                map_value([
                    ("before".to_string(), Value::from(d.before.as_str())),
                    ("after".to_string(), Value::from(d.after.as_str())),
                    (
                        "before_header".to_string(),
                        Value::from(d.before_header.as_str()),
                    ),
                    (
                        "after_header".to_string(),
                        Value::from(d.after_header.as_str()),
                    ),
                ])
            })
            .collect();
        m.insert("diff".into(), Value::from(d));
    }
    let facts = plan.facts.map(|f| (f, plan.facts_kind));
    let diffs = if diff && status != Status::Skipped {
        plan.diffs
    } else {
        Vec::new()
    };
    (status, map_value(m), diffs, facts)
}

fn finish(
    host: &HostState,
    task: &Task,
    status: Status,
    result: Value,
    diffs: Vec<Diff>,
    items: Vec<ItemResult>,
) -> HostResult {
    let msg = result
        .get_attr("msg")
        .ok()
        .filter(|m| !m.is_undefined() && !m.is_none())
        .map(|m| {
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        });
    HostResult {
        host: host.name.clone(),
        status,
        ignored: false,
        result,
        items,
        diffs,
        msg,
        no_log: task.no_log,
        show: matches!(
            task.module_name.trim_start_matches("ansible.builtin."),
            "debug" | "assert"
        ),
        duration: std::time::Duration::ZERO,
        origin: None,
        delegated_to: None,
    }
}

fn aggregate(host: &HostState, task: &Task, items: Vec<ItemResult>) -> HostResult {
    let any = |s: Status| items.iter().any(|i| i.status == s);
    let status = if any(Status::Unreachable) {
        Status::Unreachable
    } else if any(Status::Failed) {
        Status::Failed
    } else if any(Status::Changed) {
        Status::Changed
    } else if !items.is_empty() && items.iter().all(|i| i.status == Status::Skipped) {
        Status::Skipped
    } else {
        Status::Ok
    };
    let results: Vec<Value> = items.iter().map(|i| i.result.clone()).collect();
    // As Ansible: changed when any item's result says so (a command item that ran and failed).
    let changed = status == Status::Changed
        || results
            .iter()
            .any(|r| r.get_attr("changed").is_ok_and(|c| c.is_true()));
    let mut m = VarMap::new();
    m.insert("changed".into(), Value::from(changed));
    m.insert("failed".into(), Value::from(status == Status::Failed));
    if status == Status::Skipped {
        m.insert("skipped".into(), Value::from(true));
    }
    if status == Status::Failed {
        m.insert("msg".into(), Value::from("One or more items failed"));
    } else if items.is_empty() {
        m.insert("msg".into(), Value::from("All items completed"));
        m.insert("skipped".into(), Value::from(true));
        m.insert("skipped_reason".into(), Value::from("No items in the list"));
    } else {
        m.insert("msg".into(), Value::from("All items completed"));
    }
    m.insert("results".into(), Value::from(results));
    let result = map_value(m);
    let status = if items.is_empty() {
        Status::Skipped
    } else {
        status
    };
    let mut r = finish(host, task, status, result, Vec::new(), items);
    r.diffs = r.items.iter().flat_map(|i| i.diffs.clone()).collect();
    r
}

/// Renders a task's display name for this host set (first host's scope), falling back to the
/// module name as Ansible does.
pub fn display_name(pc: &PlayCtx, task: &Task, host: Option<&HostState>) -> String {
    // An `include_role` is shown as Ansible names it: `include_role : ROLE` unless it has a
    // name, without the enclosing role.
    if task.module_name.rsplit('.').next() == Some("include_role") {
        if let (None, crate::playbook::TaskKind::Include(inc)) = (&task.name, &task.kind) {
            let role = match (&inc.file, host) {
                (crate::template::tree::TTree::Value(v), _) => {
                    let shown = v.to_string();
                    shown
                        .rsplit_once("/tasks/")
                        .map_or(shown.clone(), |(r, _)| r.to_string())
                }
                (tree, Some(h)) => {
                    let scope = Scope::new(layers(pc, h, Some(task), None)).into_value();
                    tree.render(&scope, &pc.omit)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|_| raw_name(tree))
                }
                (tree, None) => raw_name(tree),
            };
            return format!("{} : {role}", task.module_name);
        }
    }
    let role = task
        .role
        .as_ref()
        .filter(|_| task.module_name.rsplit('.').next() != Some("include_role"))
        .map(|r| format!("{} : ", r.fqcn))
        .unwrap_or_default();
    let name = match (&task.name, host) {
        (Some(tree), Some(h)) => {
            let scope = Scope::new(layers(pc, h, Some(task), None)).into_value();
            tree.render(&scope, &pc.omit)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| raw_name(tree))
        }
        (Some(tree), None) => raw_name(tree),
        (None, _) => task.module_name.clone(),
    };
    format!("{role}{name}")
}

fn raw_name(tree: &crate::template::tree::TTree) -> String {
    match tree {
        crate::template::tree::TTree::Value(v) => v.to_string(),
        crate::template::tree::TTree::Tmpl(t, _) => t.source().to_string(),
        _ => String::new(),
    }
}
