//! Running plays: resolve each play's hosts, split them into `serial` batches, run each task
//! on every live host of the batch in parallel (one worker per host, up to `--forks`), report
//! results in inventory order, flush handlers after each section, and stop the play when a
//! batch fails beyond `max_fail_percentage`. Per-host work lives in `run_task.rs`, variable
//! layering in `context.rs`.

mod conn_spec;
mod context;
mod descriptors;
mod environment;
mod fact_cache;
mod free;
mod handlers;
mod host;
mod lookahead;
mod loops;
mod prompt;
pub use prompt::check_answerable;
mod reboot;
mod result;
mod run_task;
mod tags;
mod wait_connection;
mod workers;

pub use fact_cache::FactCache;
pub use handlers::check_notify;
pub use host::{HostState, Stats};
pub use result::{FailureOrigin, HostResult, ItemResult, Status};
pub use tags::{rendered as rendered_tags, TagFilter};

/// A play's `hosts:` as written.
pub fn pattern_text(play: &Play) -> String {
    match &play.hosts {
        crate::template::tree::TTree::Value(v) => v.to_string(),
        crate::template::tree::TTree::Tmpl(t, _) => t.source().to_string(),
        _ => String::new(),
    }
}

/// A task's title without rendering (for `--list-tasks`).
pub fn task_title(t: &Task) -> String {
    let role = t
        .role
        .as_ref()
        .map(|r| format!("{} : ", r.fqcn))
        .unwrap_or_default();
    let name = match &t.name {
        Some(crate::template::tree::TTree::Value(v)) => v.to_string(),
        Some(crate::template::tree::TTree::Tmpl(tm, _)) => tm.source().to_string(),
        _ => t.module_name.clone(),
    };
    format!("{role}{name}")
}

/// Whether `--start-at-task NAME` names this task: its title, or its name without the role.
pub fn starts_at(task: &Task, wanted: &str) -> bool {
    let title = task_title(task);
    let bare = title.split_once(" : ").map(|(_, n)| n).unwrap_or(&title);
    title == wanted || bare == wanted
}

/// Whether some task a play runs (blocks and static imports included, handlers not) is the
/// one `--start-at-task` names.
pub fn play_starts_at(play: &Play, wanted: &str) -> bool {
    let mut tasks = Vec::new();
    for t in play.sections.iter().flatten() {
        t.flatten(&mut tasks);
    }
    tasks.iter().any(|t| starts_at(t, wanted))
}

use crate::inventory::Inventory;
use crate::output::{Counts, Reporter};
use crate::playbook::{BatchSize, Play, Playbook, Task, TaskKind};
use crate::settings::Settings;
use crate::vars::VarMap;
use anyhow::{anyhow, bail, Result};
use context::PlayCtx;
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use workers::Workers;

/// Set by the SIGINT handler: stop scheduling new tasks.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How a run ended, for the exit code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub any_failed: bool,
    pub any_unreachable: bool,
    pub interrupted: bool,
    /// A play was stopped by its failures; the plays after it did not run.
    pub stopped: bool,
}

/// A whole run: host states that persist across plays and playbooks.
pub struct Runner<'a> {
    /// The inventory, shared with the play contexts; `group_by`/`add_host` change it (copy
    /// on write).
    pub inventory: Arc<Inventory>,
    pub settings: &'a Settings,
    pub hosts: Vec<HostState>,
    workers: Workers,
    omit: String,
    /// `meta: end_play` ran: no further batches of the current play.
    end_play: bool,
    /// `--start-at-task` not reached yet: tasks are skipped until one has this name.
    start_at: Option<String>,
    /// How many `include_tasks` are running inside each other.
    include_depth: usize,
    /// Running the tasks a handler's `include_tasks` brought in: they show as handlers.
    in_handler: bool,
    /// Hosts of the current batch already failed or unreachable when it began (an earlier
    /// play): their failure does not count against this batch's `max_fail_percentage`.
    batch_down: Vec<usize>,
    /// Under the `free` strategy, a runner holds one host; the others' variables as of the
    /// start of the batch are read from here.
    peers: Option<Arc<crate::vars::HostVars>>,
    /// `--step` and no `c` answered yet: each task is confirmed first.
    step: bool,
    /// A play was stopped by its failures: no further play runs.
    stopped: bool,
    /// The current play's `vars_prompt` answers.
    prompted: Arc<VarMap>,
    /// The live status line's counters, when the output shows one.
    live: Option<Arc<Counts>>,
    /// The current play's `strategy`, `serial` and `max_fail_percentage`, templates rendered.
    shape: PlayShape,
    /// The hosts of the batch being run (for the failure share of `max_fail_percentage`).
    batch: Vec<usize>,
    /// The hosts of the current play (for `ansible_play_hosts`).
    play_all: Vec<usize>,
    /// How many enclosing blocks with a (selected) `rescue` the tasks running now are in the
    /// `block:` part of: a failure there counts as `rescued`, not `failed` (as Ansible counts).
    rescue_depth: usize,
    /// Bumped by `meta: clear_host_errors`, so a failure it cleared stays cleared.
    cleared: u64,
    /// An error that ends the run once the current task is recorded (a notification no
    /// handler answers).
    pub(crate) fatal: Option<String>,
    /// Reads the inventory sources again (`meta: refresh_inventory`).
    pub reload_inventory: Option<Box<dyn Fn() -> Result<Inventory> + 'a>>,
    /// The `add_host`/`group_by` changes of the run, replayed after a refresh (as Ansible keeps
    /// its dynamic hosts and groups): host, groups (with parents), vars.
    dynamic: Vec<DynamicChange>,
    /// Descriptors the connections held between tasks use now, and may use at most (see
    /// `descriptors.rs`).
    held: AtomicUsize,
    held_cap: usize,
}

/// One `add_host` (vars and groups) or `group_by` (one group and its parents) change.
#[derive(Clone, Debug)]
enum DynamicChange {
    Group(String, String, Vec<String>),
    Host(String, Vec<String>, IndexMap<String, Value>),
}

/// A play's keywords that may be templates, as decided when the play starts.
#[derive(Clone, Debug, Default)]
struct PlayShape {
    strategy: String,
    serial: Vec<BatchSize>,
    max_fail_percentage: Option<f64>,
}

/// `ansible_failed_task`: the task as Ansible serializes it (its own name without the role,
/// the action as written and resolved, and the keywords that are plain data).
fn failed_task_value(t: &Task) -> Value {
    let name = match &t.name {
        Some(crate::template::tree::TTree::Value(v)) => v.to_string(),
        Some(crate::template::tree::TTree::Tmpl(tm, _)) => tm.source().to_string(),
        _ => String::new(),
    };
    let short = t.module_name.rsplit('.').next().unwrap_or(&t.module_name);
    let resolved = if t.module_name.contains('.') {
        t.module_name.clone()
    } else {
        format!("ansible.builtin.{short}")
    };
    let when: Vec<Value> = t.when.iter().map(|c| Value::from(c.source())).collect();
    crate::vars::map_value([
        ("name".to_string(), Value::from(name)),
        ("action".to_string(), Value::from(t.module_name.as_str())),
        ("_resolved_action".to_string(), Value::from(resolved)),
        ("tags".to_string(), Value::from(t.tags.clone())),
        ("when".to_string(), Value::from(when)),
        ("notify".to_string(), Value::from(t.notify.clone())),
        ("ignore_errors".to_string(), Value::from(t.ignore_errors)),
        ("register".to_string(), Value::from(t.register.clone())),
        ("run_once".to_string(), Value::from(t.run_once)),
        ("no_log".to_string(), Value::from(t.no_log)),
    ])
}

/// A repeatable, comma-separated option (`--tags a,b --tags c`) as its list of values.
fn split_list_option(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `groups`: every group's hosts (descendants' too), `all` first.
fn groups_value(inv: &Inventory) -> Value {
    let mut groups: IndexMap<String, Value> = IndexMap::new();
    groups.insert(
        "all".into(),
        Value::from(
            inv.hosts
                .keys()
                .map(|h| Value::from(h.as_str()))
                .collect::<Vec<_>>(),
        ),
    );
    for g in inv.groups.keys() {
        groups.insert(
            g.clone(),
            Value::from(
                inv.group_hosts(g)
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<_>>(),
            ),
        );
    }
    crate::vars::map_value(groups)
}

/// The most worker threads a run starts, whatever `--forks` says.
const MAX_WORKERS: usize = 1024;

/// Worker threads for `forks` over an inventory of `hosts`: no more than there are hosts to
/// work on (as Ansible, which starts at most one worker per host of the batch), keeping a
/// few spare for hosts `add_host` adds, and never more than [`MAX_WORKERS`].
fn worker_count(forks: usize, hosts: usize) -> usize {
    forks.clamp(1, MAX_WORKERS).min(hosts.max(64))
}

/// Deeper nesting of dynamic includes is taken for a recursion without end.
const MAX_INCLUDE_DEPTH: usize = 64;

impl<'a> Runner<'a> {
    pub fn new(inventory: &Inventory, settings: &'a Settings) -> Result<Runner<'a>> {
        let limit = descriptors::raise();
        let wanted = worker_count(settings.forks, inventory.hosts.len());
        let workers = limit.workers(wanted);
        let held_cap = limit.held_cap(workers);
        if settings.verbosity >= 1 {
            if limit.soft > limit.before {
                eprintln!(
                    "open files: soft limit raised from {} to {} (the hard limit)",
                    limit.before, limit.soft
                );
            }
            if workers < wanted {
                eprintln!(
                    "open files: {workers} workers instead of {wanted}, for the limit of {}",
                    limit.soft
                );
            }
            let hosts = held_cap / 2;
            if hosts < inventory.hosts.len() {
                eprintln!("open files: connections are kept between tasks for about {hosts} local hosts or {} over SSH; the others reconnect for each task", held_cap);
            }
        }
        Ok(Runner {
            inventory: Arc::new(inventory.clone()),
            settings,
            hosts: Vec::new(),
            workers: Workers::new(workers),
            end_play: false,
            start_at: settings.start_at_task.clone(),
            include_depth: 0,
            in_handler: false,
            batch_down: Vec::new(),
            peers: None,
            step: settings.step,
            stopped: false,
            prompted: Arc::new(VarMap::new()),
            live: None,
            shape: PlayShape::default(),
            batch: Vec::new(),
            play_all: Vec::new(),
            rescue_depth: 0,
            cleared: 0,
            reload_inventory: None,
            dynamic: Vec::new(),
            fatal: None,
            held: AtomicUsize::new(0),
            held_cap,
            omit: format!(
                "__omit_place_holder__{:016x}",
                std::process::id() as u64 * 0x9e37_79b9
            ),
        })
    }

    fn host_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.hosts.iter().position(|h| h.name == name) {
            return i;
        }
        let (vars, groups) = match self.inventory.get_host(name) {
            Some(h) => (h.vars.clone(), h.groups.clone()),
            None => (VarMap::new(), Vec::new()),
        };
        let mut h = HostState::new(name.to_string(), vars, &groups);
        // Facts a previous run cached are the host's facts from the start, as in Ansible.
        if let Some(cached) = self.settings.fact_cache.as_ref().and_then(|c| c.load(name)) {
            h.set_cached_facts(&cached);
            h.cache_entries = cached;
        }
        self.hosts.push(h);
        self.hosts.len() - 1
    }

    /// The play's hosts after `--limit` and `--shard`, in inventory order.
    pub fn play_hosts(&self, play: &Play) -> Result<Vec<String>> {
        let pattern = self.play_pattern(play)?;
        let hosts = self
            .inventory
            .resolve_pattern(&pattern)
            .map_err(|e| anyhow!("{}: {e:#}", play.hosts_span))?;
        let hosts = match &self.settings.limit {
            Some(limit) => self.inventory.apply_limit(hosts, limit)?,
            None => hosts,
        };
        Ok(match &self.settings.shard {
            Some(shard) => hosts.into_iter().filter(|h| shard.owns(h)).collect(),
            None => hosts,
        })
    }

    /// The play's host pattern, rendered with `-e` (a list joined with commas).
    pub fn play_pattern(&self, play: &Play) -> Result<String> {
        let scope = crate::vars::Scope::new(vec![crate::vars::Layer::templated(Arc::new(
            self.settings.extra_vars.clone(),
        ))])
        .into_value();
        let pattern = play.hosts.render(&scope, &self.omit)?;
        Ok(match pattern.kind() {
            minijinja::value::ValueKind::Seq => pattern
                .try_iter()?
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
            _ => pattern.to_string(),
        })
    }

    /// The play's `strategy`, `serial` and `max_fail_percentage`: literal, or templates
    /// rendered with the play's vars and `-e` (an omitted value is the default).
    fn play_shape(&self, play: &Play) -> Result<PlayShape> {
        let mut shape = PlayShape {
            strategy: play.strategy.clone(),
            serial: play.serial.clone(),
            max_fail_percentage: play.max_fail_percentage,
        };
        if play.templated.is_empty() {
            return Ok(shape);
        }
        let mut magic = VarMap::new();
        magic.insert("omit".into(), Value::from(self.omit.as_str()));
        let scope = crate::vars::Scope::new(vec![
            crate::vars::Layer::data(Arc::new(magic)),
            crate::vars::Layer::templated(play.vars.clone()),
            crate::vars::Layer::templated(Arc::new(self.settings.extra_vars.clone())),
        ])
        .into_value();
        for (key, tree) in &play.templated {
            let v = tree
                .render(&scope, &self.omit)
                .map_err(|e| anyhow!("{}: `{key}`: {e:#}", play.span))?;
            let omitted = v.as_str() == Some(self.omit.as_str());
            match *key {
                "strategy" if !omitted => {
                    let mut s = v.to_string();
                    if s == "host_pinned" {
                        s = "free".into();
                    }
                    if s != "linear" && s != "free" {
                        return Err(anyhow!(
                            "{}: `strategy: {s}` is not supported by drover (use `linear` or `free`)",
                            play.span
                        ));
                    }
                    shape.strategy = s;
                }
                "serial" if !omitted => {
                    shape.serial = crate::playbook::serial_from_value(&v)
                        .map_err(|e| anyhow!("{}: {e:#}", play.span))?;
                }
                "max_fail_percentage" if !omitted => {
                    let s = v.to_string();
                    shape.max_fail_percentage =
                        Some(s.trim().trim_end_matches('%').parse().map_err(|_| {
                            anyhow!(
                                "{}: `max_fail_percentage` must be a number, not `{s}`",
                                play.span
                            )
                        })?);
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    /// Runs every play of a playbook.
    pub fn run_playbook(&mut self, pb: &Playbook, reporter: &mut dyn Reporter) -> Result<Outcome> {
        let mut outcome = Outcome::default();
        // `hostvars` covers every inventory host, in a play or not (as in Ansible).
        let names: Vec<String> = self.inventory.hosts.keys().cloned().collect();
        for n in &names {
            self.host_index(n);
        }
        let tags = TagFilter::new(&self.settings.tags, &self.settings.skip_tags);
        self.live = reporter.progress();
        reporter.playbook_start(&pb.path.display().to_string(), pb.plays.len());
        for play in &pb.plays {
            if INTERRUPTED.load(Ordering::SeqCst) {
                outcome.interrupted = true;
                break;
            }
            if self.stopped {
                break;
            }
            let mut names = self.play_hosts(play)?;
            order_hosts(&mut names, &play.order);
            reporter.play_start(&play.name, &names);
            if names.is_empty() {
                reporter.no_hosts_matched();
                continue;
            }
            self.prompted = Arc::new(prompt::ask(play, &self.settings.extra_vars)?);
            // A host that failed in an earlier play stays out of the later ones (as in
            // Ansible); `meta: end_host` lasts one play.
            let idx: Vec<usize> = names.iter().map(|n| self.host_index(n)).collect();
            for i in &idx {
                self.hosts[*i].ended = false;
                self.hosts[*i].removed = false;
                self.hosts[*i].notified.clear();
                self.hosts[*i].roles_ran.clear();
                self.hosts[*i].roles_done.clear();
                self.hosts[*i].ending_role = false;
            }
            self.end_play = false;
            self.shape = self.play_shape(play)?;
            let batches = batches(&idx, &self.shape.serial);
            let mut stopped = false;
            for batch in batches {
                let stop = self.run_batch(play, pb, &idx, &batch, &tags, reporter)?;
                if INTERRUPTED.load(Ordering::SeqCst) {
                    outcome.interrupted = true;
                    break;
                }
                if stop {
                    stopped = true;
                    break;
                }
                if self.end_play {
                    break;
                }
            }
            // A play stopped by its failures (a wholly failed batch, max_fail_percentage,
            // any_errors_fatal) ends the whole run, as ansible-playbook does.
            if stopped {
                outcome.stopped = true;
                self.stopped = true;
            }
        }
        // As ansible-playbook: the exit code says whether hosts are still failed (or were
        // unreachable) at the end, not what the recap counted (a cleared failure is none).
        for h in &self.hosts {
            outcome.any_failed |= h.failed && !h.unreachable;
            outcome.any_unreachable |= h.stats.unreachable > 0 && h.unreachable;
        }
        Ok(outcome)
    }

    fn play_ctx<'p>(
        &self,
        play: &'p Play,
        pb: &Playbook,
        all: &[usize],
        batch: &[usize],
    ) -> PlayCtx<'p>
    where
        'a: 'p,
    {
        let names = |ix: &[usize]| {
            Value::from(
                ix.iter()
                    .map(|i| Value::from(self.hosts[*i].name.as_str()))
                    .collect::<Vec<_>>(),
            )
        };
        let mut magic = VarMap::new();
        magic.insert("groups".into(), groups_value(&self.inventory));
        magic.insert("play_hosts".into(), names(batch));
        magic.insert("ansible_play_batch".into(), names(batch));
        magic.insert("ansible_play_hosts".into(), names(all));
        magic.insert("ansible_play_hosts_all".into(), names(all));
        magic.insert("ansible_play_name".into(), Value::from(play.name.as_str()));
        let play_roles = Value::from(play.play_role_names.clone());
        magic.insert("role_names".into(), play_roles.clone());
        magic.insert("ansible_play_role_names".into(), play_roles);
        magic.insert(
            "ansible_dependent_role_names".into(),
            Value::from(play.dep_role_names.clone()),
        );
        let mut all: Vec<String> = play
            .play_role_names
            .iter()
            .chain(&play.dep_role_names)
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        magic.insert("ansible_role_names".into(), Value::from(all));
        let dir = std::fs::canonicalize(&pb.dir).unwrap_or_else(|_| pb.dir.clone());
        magic.insert(
            "playbook_dir".into(),
            Value::from(dir.display().to_string()),
        );
        magic.insert("omit".into(), Value::from(self.omit.as_str()));
        magic.insert(
            "ansible_check_mode".into(),
            Value::from(play.check_mode.unwrap_or(self.settings.check)),
        );
        magic.insert(
            "ansible_diff_mode".into(),
            Value::from(play.diff.unwrap_or(self.settings.diff)),
        );
        magic.insert(
            "ansible_run_tags".into(),
            Value::from(if self.settings.tags.is_empty() {
                vec!["all".to_string()]
            } else {
                split_list_option(&self.settings.tags)
            }),
        );
        magic.insert(
            "ansible_skip_tags".into(),
            Value::from(split_list_option(&self.settings.skip_tags)),
        );
        magic.insert(
            "ansible_version".into(),
            crate::vars::map_value([
                ("full".to_string(), Value::from(env!("CARGO_PKG_VERSION"))),
                ("string".to_string(), Value::from(env!("CARGO_PKG_VERSION"))),
            ]),
        );
        let extra = Arc::new(self.settings.extra_vars.clone());
        PlayCtx {
            play,
            prompted: self.prompted.clone(),
            settings: self.settings,
            hostvars: context::hostvars_snapshot(&self.hosts, &extra),
            extra,
            play_magic: Arc::new(magic),
            omit: self.omit.clone(),
            playbook_dir: pb.dir.clone(),
            inventory: self.inventory.clone(),
            open_gates: Default::default(),
        }
    }

    /// `--step`: asks on stderr whether to run the task, reads the answer from stdin
    /// (Ansible's prompt; end of input counts as `n`).
    fn confirm_step(&mut self, task: &Task) -> bool {
        use std::io::{BufRead, Write};
        let title = task_title(task);
        loop {
            eprint!("Perform task: TASK: {title} (N)o/(y)es/(c)ontinue: ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
                eprintln!();
                return false;
            }
            match line.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => return true,
                "" | "n" | "no" => return false,
                "c" | "continue" => {
                    self.step = false;
                    return true;
                }
                _ => continue,
            }
        }
    }

    /// Every host's variables now, for `hostvars`.
    fn hostvars_now(&self, extra: &Arc<VarMap>) -> Value {
        Value::from_object(context::hostvars_over(
            &self.hosts,
            extra,
            self.peers.as_deref(),
        ))
    }

    /// Runs one batch; returns true if the play must stop.
    fn run_batch(
        &mut self,
        play: &Play,
        pb: &Playbook,
        all: &[usize],
        batch: &[usize],
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
    ) -> Result<bool> {
        let mut pc = self.play_ctx(play, pb, all, batch);
        // Hosts that were already down when the batch began (failed in an earlier play): as
        // Ansible counts, their failure is not this batch's.
        self.batch_down = batch
            .iter()
            .copied()
            .filter(|i| self.hosts[*i].failed || self.hosts[*i].unreachable)
            .collect();
        let down_before = self.batch_down.len();
        self.batch = batch.to_vec();
        self.play_all = all.to_vec();
        let interrupted = if self.shape.strategy == "free" {
            self.run_batch_free(play, batch, tags, reporter, &pc)?
        } else {
            self.run_sections(play, batch, tags, reporter, &mut pc)?
        };
        if interrupted {
            return Ok(true);
        }
        // Hosts that failed or became unreachable (not those that ended by `meta`).
        let failed = batch
            .iter()
            .filter(|i| self.hosts[**i].failed || self.hosts[**i].unreachable)
            .count()
            .saturating_sub(down_before);
        // Ansible: stop when the failed share of the batch exceeds the percentage, and in any
        // case when every host of the batch failed (even with `max_fail_percentage: 100`).
        let stop = failed == batch.len()
            || match self.shape.max_fail_percentage {
                Some(p) => (failed as f64) * 100.0 / (batch.len().max(1) as f64) > p,
                None => play.any_errors_fatal && failed > 0,
            };
        Ok(stop)
    }

    /// Facts, then each section and its handlers, for the batch; true when interrupted.
    fn run_sections(
        &mut self,
        play: &Play,
        batch: &[usize],
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
        pc: &mut PlayCtx,
    ) -> Result<bool> {
        let gathering = self.settings.gathering.as_str();
        let gather = play.gather_facts.unwrap_or(gathering != "explicit");
        if gather && tags.gathers_facts(&play.tags) {
            reporter.task_start("Gathering Facts", false, &play.span);
            // `smart`: hosts whose facts this run already gathered are not asked again.
            let batch: Vec<usize> = batch
                .iter()
                .copied()
                .filter(|i| gathering != "smart" || !self.hosts[*i].facts_gathered)
                .collect();
            let batch = &batch[..];
            let results = self.on_hosts(
                batch,
                |h| {
                    let started = std::time::Instant::now();
                    let r = run_task::gather_facts(pc, h, None);
                    fact_result(h, r, started)
                },
                0,
                false,
                Some((None, &mut *reporter)),
            );
            self.record(&results, None, reporter, pc, true);
        }
        for section in &play.sections {
            if self.run_list(play, section, batch, tags, reporter, pc)? {
                return Ok(true);
            }
            if self.settings.debug {
                // Ansible's `display.debug` line for its implicit flush.
                for i in batch {
                    let h = &self.hosts[*i];
                    if !h.notified.is_empty() {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs_f64())
                            .unwrap_or(0.0);
                        crate::output::eprintln_above(&format!(
                            "{:>6} {now:.5}: META: triggered running handlers for {}",
                            std::process::id(),
                            h.name
                        ));
                    }
                }
            }
            handlers::flush(self, play, batch, pc, reporter)?;
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs a list of tasks on the batch's live hosts; returns true when interrupted.
    fn run_list(
        &mut self,
        play: &Play,
        tasks: &[Task],
        batch: &[usize],
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
        pc: &mut PlayCtx,
    ) -> Result<bool> {
        for (k, task) in tasks.iter().enumerate() {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Ok(true);
            }
            let task_tags = tags::rendered(&task.tags, || pc.play_scope());
            if !tags.selects(&task_tags) && !matches!(task.kind, TaskKind::Block(_)) {
                continue;
            }
            // A role completed on a host does not run there again in this play (unless it
            // allows duplicates): its tasks leave those hosts silently, as in Ansible.
            // Hosts ending a role (`meta: end_role`) skip everything up to its completion; a
            // role completed on a host does not run there again in this play (unless it
            // allows duplicates): its tasks leave those hosts silently, as in Ansible.
            let completing = matches!(task.kind, TaskKind::RoleComplete);
            let done_role = task
                .role
                .as_ref()
                .filter(|r| !r.allow_duplicates && !self.in_handler);
            let skips = |h: &HostState| {
                (h.ending_role && !completing)
                    || done_role.is_some_and(|r| h.roles_done.contains(&r.key))
            };
            let remaining;
            let batch = if batch.iter().any(|i| skips(&self.hosts[*i])) {
                remaining = batch
                    .iter()
                    .copied()
                    .filter(|i| !skips(&self.hosts[*i]))
                    .collect::<Vec<_>>();
                if remaining.is_empty() {
                    continue;
                }
                &remaining[..]
            } else {
                batch
            };
            match &task.kind {
                TaskKind::RoleComplete => {
                    if let Some(r) = &task.role {
                        for i in batch.iter().copied() {
                            let h = &mut self.hosts[i];
                            h.ending_role = false;
                            if h.active() && h.roles_ran.contains(&r.key) {
                                h.roles_done.insert(r.key.clone());
                            }
                        }
                    }
                    continue;
                }
                TaskKind::EndRole => {
                    let role = task
                        .role
                        .as_ref()
                        .map(|r| r.fqcn.clone())
                        .unwrap_or_default();
                    let v = self.settings.verbosity;
                    let live = self.live(batch);
                    for i in live {
                        // ansible-playbook's linear strategy shows the banner per host.
                        self.meta_banner(task, pc, reporter);
                        let name = self.hosts[i].name.clone();
                        if run_task::when_holds(pc, task, &self.hosts[i]) {
                            reporter.meta(&format!("ending role {role} for {name}"), v);
                            self.hosts[i].ending_role = true;
                        } else {
                            let suffix = format!("continuing role {role} for {name}");
                            self.meta_skipped(reporter, i, "end_role", &suffix);
                        }
                    }
                    continue;
                }
                TaskKind::FlushHandlers => {
                    let v = self.settings.verbosity;
                    // Only the hosts for which its condition holds flush (the others keep
                    // their notifications). Shown once per host, as ansible-playbook does.
                    let mut flushing = Vec::new();
                    let live = self.live(batch);
                    for i in live {
                        self.meta_banner(task, pc, reporter);
                        let h = self.hosts[i].name.clone();
                        if run_task::when_holds(pc, task, &self.hosts[i]) {
                            reporter.meta(&format!("triggered running handlers for {h}"), v);
                            flushing.push(i);
                        } else {
                            self.meta_skipped(
                                reporter,
                                i,
                                "flush_handlers",
                                &format!(", not running handlers for {h}"),
                            );
                        }
                    }
                    if task.when.is_empty() {
                        handlers::flush(self, play, batch, pc, reporter)?;
                    } else {
                        handlers::flush(self, play, &flushing, pc, reporter)?;
                    }
                    continue;
                }
                TaskKind::RefreshInventory => {
                    self.meta_banner(task, pc, reporter);
                    self.refresh_inventory(pc)?;
                    reporter.meta("inventory successfully refreshed", self.settings.verbosity);
                    continue;
                }
                TaskKind::Noop => {
                    if task.module_name.rsplit('.').next() == Some("meta") {
                        // Once per host, as ansible-playbook shows it.
                        for _ in 0..self.live(batch).len() {
                            self.meta_banner(task, pc, reporter);
                            reporter.meta("noop", self.settings.verbosity);
                        }
                    }
                    continue;
                }
                TaskKind::ClearHostErrors => {
                    self.meta_banner(task, pc, reporter);
                    // Decided on the batch's live hosts: with none left the play is over.
                    let holds = batch
                        .iter()
                        .copied()
                        .filter(|i| self.hosts[*i].active())
                        .any(|i| run_task::when_holds(pc, task, &self.hosts[i]));
                    if !holds {
                        continue;
                    }
                    // Every host of the run loses its failed or unreachable mark (so the exit
                    // code and later plays count it again), but one that already stopped in
                    // this play stays stopped for the rest of it, as in Ansible.
                    for h in self.hosts.iter_mut() {
                        if h.failed || h.unreachable {
                            h.ended = true;
                        }
                        h.failed = false;
                        h.unreachable = false;
                    }
                    self.cleared += 1;
                    reporter.meta("cleared host errors", self.settings.verbosity);
                    continue;
                }
                TaskKind::ClearFacts | TaskKind::ResetConnection => {
                    let clear = matches!(task.kind, TaskKind::ClearFacts);
                    if clear {
                        self.meta_banner(task, pc, reporter);
                    }
                    for i in batch.iter().copied() {
                        if !self.hosts[i].active() {
                            continue;
                        }
                        // `reset_connection` is shown once per host.
                        if !clear {
                            self.meta_banner(task, pc, reporter);
                        }
                        let name = self.hosts[i].name.clone();
                        if !run_task::when_holds(pc, task, &self.hosts[i]) {
                            let (what, suffix) = if clear {
                                (
                                    "clear_facts",
                                    format!(", not clearing facts and fact cache for {name}"),
                                )
                            } else {
                                (
                                    "reset_connection",
                                    format!(", not resetting connection to {name}"),
                                )
                            };
                            self.meta_skipped(reporter, i, what, &suffix);
                            continue;
                        }
                        let h = &mut self.hosts[i];
                        let line = if clear {
                            h.facts = Arc::new(VarMap::new());
                            h.facts_gathered = false;
                            "facts cleared"
                        } else if h.conn.is_some() {
                            h.conn = None;
                            h.delegated.clear();
                            "reset connection"
                        } else {
                            "no connection, nothing to reset"
                        };
                        reporter.meta(line, self.settings.verbosity);
                    }
                    continue;
                }
                TaskKind::EndBatch => {
                    self.meta_banner(task, pc, reporter);
                    let first = batch.iter().copied().find(|i| self.hosts[*i].active());
                    if let Some(i) = first {
                        if run_task::when_holds(pc, task, &self.hosts[i]) {
                            reporter.meta("ending batch", self.settings.verbosity);
                            for i in batch {
                                self.hosts[*i].ended = true;
                            }
                            return Ok(false);
                        }
                        self.meta_skipped(reporter, i, "end_batch", ", continuing current batch");
                    }
                    continue;
                }
                TaskKind::EndHost | TaskKind::EndPlay => {
                    let end_play = matches!(task.kind, TaskKind::EndPlay);
                    // ansible-playbook's linear strategy shows `end_host` once per host, other
                    // metas once.
                    if end_play {
                        self.meta_banner(task, pc, reporter);
                    }
                    let live = self.live(batch);
                    // end_play is decided once for the batch (on its first host).
                    let considered: Vec<usize> = if end_play {
                        live.first().copied().into_iter().collect()
                    } else {
                        live
                    };
                    let mut hit = Vec::new();
                    for i in considered {
                        if !end_play {
                            self.meta_banner(task, pc, reporter);
                        }
                        let name = self.hosts[i].name.clone();
                        if run_task::when_holds(pc, task, &self.hosts[i]) {
                            let line = if end_play {
                                "ending play".to_string()
                            } else {
                                format!("ending play for {name}")
                            };
                            reporter.meta(&line, self.settings.verbosity);
                            hit.push(i);
                        } else if end_play {
                            self.meta_skipped(reporter, i, "end_play", ", continuing play");
                        } else {
                            self.meta_skipped(
                                reporter,
                                i,
                                "end_host",
                                &format!(", continuing execution for {name}"),
                            );
                        }
                    }
                    if end_play && !hit.is_empty() {
                        self.end_play = true;
                        for h in self.hosts.iter_mut() {
                            h.ended = true;
                        }
                        return Ok(false);
                    }
                    for i in hit {
                        self.hosts[i].ended = true;
                    }
                    continue;
                }
                TaskKind::Block(b) => {
                    if self.run_block(play, b, batch, tags, reporter, pc)? {
                        return Ok(true);
                    }
                    continue;
                }
                TaskKind::Include(inc) => {
                    if self.run_include(play, task, inc, batch, tags, reporter, pc)? {
                        return Ok(true);
                    }
                    continue;
                }
                TaskKind::Module(_) => {}
            }
            if let Some(wanted) = &self.start_at {
                if !starts_at(task, wanted) {
                    continue;
                }
                self.start_at = None;
            }
            if !batch.iter().any(|i| self.hosts[*i].active()) {
                break;
            }
            if self.step && !self.confirm_step(task) {
                continue;
            }
            pc.hostvars = self.hostvars_now(&pc.extra);
            self.refresh_play_hosts(pc);
            let first = batch
                .iter()
                .find(|i| self.hosts[**i].active())
                .map(|i| &self.hosts[*i]);
            reporter.task_start(
                &run_task::display_name(pc, task, first),
                self.in_handler,
                &task.span,
            );
            if task.run_once && self.peers.is_some() {
                // As ansible-playbook: a one-host runner of the free strategy cannot tell
                // whether another host ran the task already.
                reporter.warning("Using run_once with the free strategy is not currently supported. This task will still be executed for every host in the inventory list.");
            }
            // Results print as each host finishes, but for `add_host` and `group_by`, whose
            // results the inventory changes complete.
            let streams = !task
                .module()
                .is_some_and(|m| matches!(m.name(), "add_host" | "group_by"));
            let show = streams.then_some(&mut *reporter);
            let mut results = self.run_on_batch(task, &tasks[k + 1..], batch, pc, show);
            self.apply_inventory_changes(&mut results, pc, task);
            self.record(&results, Some(task), reporter, pc, streams);
            if let Some(e) = self.fatal.take() {
                bail!("{e}");
            }
            if task.any_errors_fatal.unwrap_or(play.any_errors_fatal)
                && results
                    .iter()
                    .any(|r| r.status == Status::Failed && !r.ignored)
            {
                for i in batch {
                    self.hosts[*i].failed = true;
                }
            }
            // `max_fail_percentage` is checked after every task (Ansible's linear strategy):
            // past it, no host of the batch runs anything more, and the play ends.
            if let Some(p) = self.shape.max_fail_percentage {
                let all = &self.batch;
                let failed = all
                    .iter()
                    .filter(|i| self.hosts[**i].failed || self.hosts[**i].unreachable)
                    .filter(|i| !self.batch_down.contains(i))
                    .count();
                if !all.is_empty() && (failed as f64) * 100.0 / (all.len() as f64) > p {
                    for i in all.clone() {
                        self.hosts[i].ended = true;
                    }
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// `block` / `rescue` / `always` (Ansible's semantics): hosts that fail in the block run
    /// `rescue`, and count as rescued (not failed) if it succeeds; every host that entered the
    /// block runs `always`, and a host whose failure was not rescued stays failed.
    fn run_block(
        &mut self,
        play: &Play,
        b: &crate::playbook::BlockTasks,
        batch: &[usize],
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
        pc: &mut PlayCtx,
    ) -> Result<bool> {
        let entered = self.live(batch);
        // A rescue counts only if `--tags` selects some task of it.
        let rescuable = {
            let mut all = Vec::new();
            for t in &b.rescue {
                t.flatten(&mut all);
            }
            all.iter().any(|t| tags.selects(&t.tags))
        };
        if rescuable {
            self.rescue_depth += 1;
        }
        let interrupted = self.run_list(play, &b.block, &entered, tags, reporter, pc);
        if rescuable {
            self.rescue_depth -= 1;
        }
        if interrupted? {
            return Ok(true);
        }
        let failed: Vec<usize> = entered
            .iter()
            .copied()
            .filter(|i| self.hosts[*i].failed && !self.hosts[*i].unreachable)
            .collect();
        if rescuable && !failed.is_empty() {
            for i in &failed {
                let h = &mut self.hosts[*i];
                h.failed = false;
                let (task, result) = h.last_failure.clone().unwrap_or_default();
                h.set_var("ansible_failed_task", task);
                h.set_var("ansible_failed_result", result);
            }
            if self.run_list(play, &b.rescue, &failed, tags, reporter, pc)? {
                return Ok(true);
            }
        }
        if !b.always.is_empty() {
            // `always` runs on hosts that failed too; their failure stands afterwards, unless
            // `meta: clear_host_errors` cleared it.
            let still_failed: Vec<usize> = entered
                .iter()
                .copied()
                .filter(|i| self.hosts[*i].failed && !self.hosts[*i].unreachable)
                .collect();
            for i in &still_failed {
                self.hosts[*i].failed = false;
            }
            let targets: Vec<usize> = entered
                .iter()
                .copied()
                .filter(|i| !self.hosts[*i].unreachable)
                .collect();
            let cleared = self.cleared;
            let interrupted = self.run_list(play, &b.always, &targets, tags, reporter, pc)?;
            if self.cleared == cleared {
                for i in &still_failed {
                    self.hosts[*i].failed = true;
                }
            }
            if interrupted {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `include_tasks`: each live host works out what it includes (its `when`, its loop), then
    /// each distinct file and parameter set runs, in order, for the hosts that included it
    /// (Ansible's grouping of identical included files). Returns true when interrupted.
    #[allow(clippy::too_many_arguments)]
    fn run_include(
        &mut self,
        play: &Play,
        task: &Task,
        inc: &crate::playbook::IncludeTasks,
        batch: &[usize],
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
        pc: &mut PlayCtx,
    ) -> Result<bool> {
        if !batch.iter().any(|i| self.hosts[*i].active()) || self.start_at.is_some() {
            return Ok(false);
        }
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            anyhow::bail!(
                "{}: include_tasks nested more than {MAX_INCLUDE_DEPTH} deep (a recursive include?)",
                task.span
            );
        }
        pc.hostvars = self.hostvars_now(&pc.extra);
        let first = batch
            .iter()
            .find(|i| self.hosts[**i].active())
            .map(|i| &self.hosts[*i]);
        reporter.task_start(
            &run_task::display_name(pc, task, first),
            self.in_handler,
            &task.span,
        );
        let workers = self.workers;
        let shared: &PlayCtx = pc;
        let mut targets: Vec<(usize, &mut HostState)> = self
            .hosts
            .iter_mut()
            .enumerate()
            .filter(|(i, h)| batch.contains(i) && h.active())
            .collect();
        let live = self.live.as_deref();
        if let Some(c) = live {
            c.begin(targets.len());
        }
        let found: Vec<(usize, std::time::Duration, Result<Vec<run_task::Inclusion>>)> = workers
            .map(&mut targets, |(i, h)| {
                let started = std::time::Instant::now();
                let r = Counts::track(
                    live,
                    || run_task::inclusions(shared, task, inc, h),
                    Result::is_err,
                );
                (*i, started.elapsed(), r)
            });
        if let Some(c) = live {
            c.end();
        }
        // Hosts that include nothing are skipped, hosts whose include failed are failed; the
        // rest count as ok and are listed on the `included:` lines.
        let mut groups: Vec<(run_task::Inclusion, Vec<usize>)> = Vec::new();
        let mut results = Vec::new();
        for (i, duration, r) in found {
            let name = self.hosts[i].name.clone();
            match r {
                Ok(list) if list.is_empty() => {
                    results.push(HostResult::simple(name, Status::Skipped, None, duration))
                }
                Ok(list) => {
                    // One ok per inclusion (a looped include: per item), as Ansible counts.
                    self.hosts[i].stats.ok += u32::try_from(list.len()).unwrap_or(u32::MAX);
                    if let Some(role) = &task.role {
                        self.hosts[i].roles_ran.insert(role.key.clone());
                    }
                    for inclusion in list {
                        match groups
                            .iter_mut()
                            .find(|(g, _)| g.file == inclusion.file && g.params == inclusion.params)
                        {
                            Some((_, hosts)) => hosts.push(i),
                            None => groups.push((inclusion, vec![i])),
                        }
                    }
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    let unreachable = crate::connection::is_unreachable(&e);
                    let status = if unreachable {
                        Status::Unreachable
                    } else {
                        Status::Failed
                    };
                    results.push(HostResult::simple(name, status, Some(msg), duration));
                }
            }
        }
        if let (Some(g), false) = (inc.handlers_gate, groups.is_empty()) {
            pc.open_gates.insert(g);
        }
        self.record(&results, Some(task), reporter, pc, false);
        if task.no_log || self.settings.no_log {
            // The `included:` line shows the loop item; a `no_log` include shows `None`.
            for (g, _) in &mut groups {
                if g.label.is_some() {
                    g.label = Some("None".into());
                }
            }
        }
        self.include_depth += 1;
        let res = self.run_inclusions(play, inc, groups, tags, reporter, pc);
        self.include_depth -= 1;
        res
    }

    fn run_inclusions(
        &mut self,
        play: &Play,
        inc: &crate::playbook::IncludeTasks,
        groups: Vec<(run_task::Inclusion, Vec<usize>)>,
        tags: &TagFilter,
        reporter: &mut dyn Reporter,
        pc: &mut PlayCtx,
    ) -> Result<bool> {
        // Every `included:` line first, then each inclusion's tasks, as ansible-playbook.
        let mut shown_groups = Vec::new();
        for (inclusion, hosts) in groups {
            let hosts = self.live(&hosts);
            if hosts.is_empty() {
                continue;
            }
            let shown = inc.inherit.file_dir.join(&inclusion.file);
            let names: Vec<&str> = hosts.iter().map(|i| self.hosts[*i].name.as_str()).collect();
            reporter.included(
                &shown.display().to_string(),
                &names,
                inclusion.label.as_deref(),
            );
            shown_groups.push((inclusion, hosts));
        }
        for (inclusion, hosts) in shown_groups {
            let hosts = self.live(&hosts);
            if hosts.is_empty() {
                continue;
            }
            let tasks = match &inc.tasks {
                Some(t) => t.clone(),
                None => match crate::playbook::load_include_at_run_time(inc, &inclusion.file) {
                    Ok(t) => Arc::new(t),
                    Err(e) => {
                        let results: Vec<HostResult> = hosts
                            .iter()
                            .map(|i| {
                                HostResult::simple(
                                    self.hosts[*i].name.clone(),
                                    Status::Failed,
                                    Some(format!("{e:#}")),
                                    std::time::Duration::ZERO,
                                )
                            })
                            .collect();
                        self.record(&results, None, reporter, pc, false);
                        continue;
                    }
                },
            };
            let tasks: Vec<Task> = tasks
                .iter()
                .map(|t| t.with_include_params(&inclusion.params))
                .collect();
            if self.run_list(play, &tasks, &hosts, tags, reporter, pc)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs a task on the batch's live hosts (the first one only for `run_once`); with
    /// `show`, each result is reported as its host finishes.
    fn run_on_batch<'r>(
        &mut self,
        task: &Task,
        ahead: &[Task],
        batch: &[usize],
        pc: &PlayCtx,
        show: Option<&mut (dyn Reporter + 'r)>,
    ) -> Vec<HostResult> {
        let show = show.map(|r| (Some(task), r));
        let results = if task.run_once {
            let first = batch.iter().copied().find(|i| self.hosts[*i].active());
            match first {
                Some(i) => {
                    let r = self.on_hosts(
                        &[i],
                        |h| run_task::run_task(pc, task, ahead, h),
                        task.throttle,
                        false,
                        show,
                    );
                    // As in Ansible, every host of the batch gets the registered result whole
                    // and the facts the task set.
                    let facts = std::mem::take(&mut self.hosts[i].once_facts);
                    let registered = task
                        .register
                        .as_ref()
                        .and_then(|name| r.first().map(|res| (name, res.result.clone())));
                    for j in batch.iter().copied().filter(|j| *j != i) {
                        let h = &mut self.hosts[j];
                        if !h.active() {
                            continue;
                        }
                        for (f, kind) in &facts {
                            h.set_vars_of(*kind, f.clone());
                        }
                        if let Some((name, v)) = &registered {
                            h.set_var(name, v.clone());
                        }
                    }
                    r
                }
                None => Vec::new(),
            }
        } else {
            self.on_hosts(
                batch,
                |h| run_task::run_task(pc, task, ahead, h),
                task.throttle,
                false,
                show,
            )
        };
        self.hand_over_delegated_facts();
        results
    }

    /// `ansible_play_hosts`, `ansible_play_batch` and `play_hosts` as they are now: without
    /// the hosts that failed (outside a rescuable block), became unreachable or ended.
    fn refresh_play_hosts(&self, pc: &mut PlayCtx) {
        let live = |ix: &[usize]| {
            Value::from(
                ix.iter()
                    .filter(|i| !self.hosts[**i].removed && !self.hosts[**i].ended)
                    .map(|i| Value::from(self.hosts[*i].name.as_str()))
                    .collect::<Vec<_>>(),
            )
        };
        if self.play_all.is_empty() {
            return;
        }
        let (hosts, batch) = (live(&self.play_all), live(&self.batch));
        if pc.play_magic.get("ansible_play_hosts") == Some(&hosts)
            && pc.play_magic.get("ansible_play_batch") == Some(&batch)
        {
            return;
        }
        let m = Arc::make_mut(&mut pc.play_magic);
        m.insert("ansible_play_hosts".into(), hosts);
        m.insert("play_hosts".into(), batch.clone());
        m.insert("ansible_play_batch".into(), batch);
    }

    /// The hosts of `ix` still taking part (not failed, unreachable or ended).
    fn live(&self, ix: &[usize]) -> Vec<usize> {
        ix.iter()
            .copied()
            .filter(|i| self.hosts[*i].active())
            .collect()
    }

    /// The banner of a `meta` task (`TASK [meta]`, or its name), as ansible-playbook shows it.
    fn meta_banner(&self, task: &Task, pc: &PlayCtx, reporter: &mut dyn Reporter) {
        let first = self.hosts.iter().find(|h| h.active());
        reporter.task_start(
            &run_task::display_name(pc, task, first),
            self.in_handler,
            &task.span,
        );
    }

    /// A `meta` task whose `when` does not hold on host `i`: ansible-playbook's `META:` line
    /// and `skipping:` result (not counted in the recap).
    fn meta_skipped(&self, reporter: &mut dyn Reporter, i: usize, action: &str, suffix: &str) {
        let reason = format!("{action} conditional evaluated to False{suffix}");
        reporter.meta(&reason, self.settings.verbosity);
        let msg = if action == "end_host" {
            format!("end_host conditional evaluated to false{suffix}")
        } else {
            action.to_string()
        };
        let mut r = HostResult::simple(
            self.hosts[i].name.clone(),
            Status::Skipped,
            Some(msg),
            std::time::Duration::ZERO,
        );
        r.result = run_task::with_keys(&r.result, &[("skip_reason", Value::from(reason))]);
        reporter.host_result(&r, self.settings.verbosity);
    }

    /// What `group_by` and `add_host` results ask of the inventory (Ansible's `add_group` /
    /// `add_host` result keys, per item of a loop): applied now, so the next task sees the
    /// new `groups` and `group_names`, and later plays the new hosts and groups.
    fn apply_inventory_changes(
        &mut self,
        results: &mut [HostResult],
        pc: &mut PlayCtx,
        task: &Task,
    ) {
        let mut changed = false;
        for r in results.iter_mut() {
            let looped = !r.items.is_empty();
            let n = if looped { r.items.len() } else { 1 };
            let (mut touched, mut any_item_changed) = (false, false);
            for idx in 0..n {
                let res = if looped {
                    r.items[idx].result.clone()
                } else {
                    r.result.clone()
                };
                let get = |k: &str| {
                    res.get_attr(k)
                        .ok()
                        .filter(|v| !v.is_undefined() && !v.is_none())
                };
                let list = |v: Option<Value>| -> Vec<String> {
                    v.and_then(|v| {
                        v.try_iter()
                            .ok()
                            .map(|it| it.map(|x| x.to_string()).collect())
                    })
                    .unwrap_or_default()
                };
                let mut this_changed: Option<bool> = None;
                if let Some(g) = get("add_group") {
                    let parents: Vec<String> = list(get("parent_groups"))
                        .into_iter()
                        .filter(|p| p != "all")
                        .collect();
                    this_changed = Some(Arc::make_mut(&mut self.inventory).add_to_group(
                        &r.host,
                        &g.to_string(),
                        &parents,
                    ));
                    self.dynamic.push(DynamicChange::Group(
                        r.host.clone(),
                        g.to_string(),
                        parents.clone(),
                    ));
                    changed = true;
                }
                if let Some(add) = get("add_host") {
                    let name = add
                        .get_attr("host_name")
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    if name.is_empty() {
                        continue;
                    }
                    let groups = list(add.get_attr("groups").ok());
                    let vars = crate::vars::varmap_from_value(
                        &add.get_attr("host_vars").unwrap_or_default(),
                    );
                    this_changed = Some(Arc::make_mut(&mut self.inventory).add_runtime_host(
                        &name,
                        &groups,
                        vars.clone(),
                    ));
                    self.dynamic.push(DynamicChange::Host(
                        name.clone(),
                        groups.clone(),
                        vars.clone(),
                    ));
                    let i = self.host_index(&name);
                    let inv = Arc::make_mut(&mut self.hosts[i].inv_vars);
                    inv.extend(vars);
                    changed = true;
                }
                // Ansible's `changed` for these is whether the inventory changed; then the
                // task's `changed_when` is evaluated again, seeing that.
                let Some(mut c) = this_changed else {
                    continue;
                };
                if task.changed_when.is_some() {
                    let res = run_task::with_keys(&res, &[("changed", Value::from(c))]);
                    let i = self.host_index(&r.host);
                    if let Some(again) =
                        run_task::changed_when_again(pc, task, &self.hosts[i], &res)
                    {
                        c = again;
                    }
                }
                touched = true;
                any_item_changed |= c;
                let fix = |st: Status| match st {
                    Status::Ok | Status::Changed if c => Status::Changed,
                    Status::Ok | Status::Changed => Status::Ok,
                    other => other,
                };
                if looped {
                    let it = &mut r.items[idx];
                    it.status = fix(it.status);
                    it.result = run_task::with_keys(&it.result, &[("changed", Value::from(c))]);
                } else {
                    r.status = fix(r.status);
                    r.result = run_task::with_keys(&r.result, &[("changed", Value::from(c))]);
                }
            }
            if looped && touched {
                r.status = match r.status {
                    Status::Ok | Status::Changed if any_item_changed => Status::Changed,
                    Status::Ok | Status::Changed => Status::Ok,
                    other => other,
                };
                // The registered `results` carry each item's corrected `changed` too.
                let items: Vec<Value> = r.items.iter().map(|i| i.result.clone()).collect();
                r.result = run_task::with_keys(
                    &r.result,
                    &[
                        ("changed", Value::from(any_item_changed)),
                        ("results", Value::from(items)),
                    ],
                );
            }
            // The registered result says so too.
            if let (true, Some(name)) = (touched, &task.register) {
                let i = self.host_index(&r.host);
                self.hosts[i].set_var(name, r.result.clone());
            }
        }
        if !changed {
            return;
        }
        for h in &mut self.hosts {
            if let Some(ih) = self.inventory.hosts.get(&h.name) {
                h.group_names = Value::from(ih.groups.clone());
                // The variables of groups joined at run time.
                if *h.inv_vars != ih.vars {
                    h.inv_vars = Arc::new(ih.vars.clone());
                }
            }
        }
        pc.inventory = self.inventory.clone();
        Arc::make_mut(&mut pc.play_magic).insert("groups".into(), groups_value(&self.inventory));
    }

    /// `meta: refresh_inventory`: the sources read again, the run's `add_host`/`group_by`
    /// changes applied again; hosts keep their run state, with the new inventory variables.
    fn refresh_inventory(&mut self, pc: &mut PlayCtx) -> Result<()> {
        let Some(reload) = &self.reload_inventory else {
            return Ok(());
        };
        let mut inv = reload()?;
        for c in &self.dynamic {
            match c {
                DynamicChange::Group(h, g, parents) => {
                    inv.add_to_group(h, g, parents);
                }
                DynamicChange::Host(h, groups, vars) => {
                    inv.add_runtime_host(h, groups, vars.clone());
                }
            }
        }
        self.inventory = Arc::new(inv);
        for h in &mut self.hosts {
            if let Some(ih) = self.inventory.get_host(&h.name) {
                h.inv_vars = Arc::new(ih.vars.clone());
                h.group_names = Value::from(ih.groups.clone());
            }
        }
        pc.inventory = self.inventory.clone();
        Arc::make_mut(&mut pc.play_magic).insert("groups".into(), groups_value(&self.inventory));
        Ok(())
    }

    /// `delegate_facts`: facts a task set for its `delegate_to` host go to that host.
    fn hand_over_delegated_facts(&mut self) {
        let pending: Vec<(String, VarMap, crate::modules::FactKind)> = self
            .hosts
            .iter_mut()
            .flat_map(|h| std::mem::take(&mut h.delegated_facts))
            .collect();
        for (target, facts, kind) in pending {
            let i = self.host_index(&target);
            self.hosts[i].set_vars_of(kind, facts);
        }
    }

    /// Runs `f` on each active host of `ix` in parallel (at most `throttle` at once when it is
    /// not 0); results in inventory order.
    /// Runs `f` on the live hosts among `ix` in parallel (at most `throttle` at once when
    /// set); with `failed_too`, hosts that failed (not unreachable ones) run as well: forced
    /// handlers. With `show`, each result is reported as its host finishes (the
    /// linear strategy's output, as ansible-playbook prints it); the results come back in
    /// inventory order for the bookkeeping of [`Runner::record`].
    fn on_hosts<'r, F>(
        &mut self,
        ix: &[usize],
        f: F,
        throttle: usize,
        failed_too: bool,
        show: Option<(Option<&Task>, &mut (dyn Reporter + 'r))>,
    ) -> Vec<HostResult>
    where
        F: Fn(&mut HostState) -> HostResult + Sync,
    {
        let workers = self.workers;
        let settings = self.settings;
        let (held, held_cap) = (&self.held, self.held_cap);
        let mut targets: Vec<&mut HostState> = self
            .hosts
            .iter_mut()
            .enumerate()
            .filter(|(i, h)| {
                ix.contains(i) && (h.active() || (failed_too && !h.unreachable && !h.ended))
            })
            .map(|(_, h)| h)
            .collect();
        let live = self.live.as_deref();
        if let Some(c) = live {
            c.begin(targets.len());
        }
        let (tx, rx) = std::sync::mpsc::channel::<HostResult>();
        let streaming = show.is_some();
        let f = &f;
        let work = move |targets: &mut Vec<&mut HostState>| -> Vec<HostResult> {
            // Counted as each host starts and finishes, for the status line. After Ctrl-C a
            // host still waiting for a worker (more hosts than forks, or a later throttle
            // chunk) does not start the task; those already running it finish.
            let f = |h: &mut HostState| {
                (!INTERRUPTED.load(Ordering::SeqCst)).then(|| {
                    let r = Counts::track(
                        live,
                        || {
                            let r = f(h);
                            descriptors::keep_or_close(h, held, held_cap);
                            r
                        },
                        |r: &HostResult| {
                            matches!(r.status, Status::Failed | Status::Unreachable) && !r.ignored
                        },
                    );
                    if streaming {
                        // The receiver lives until this worker is done.
                        let _ = tx.send(r.clone());
                    }
                    r
                })
            };
            if throttle == 0 || throttle >= targets.len() {
                workers
                    .map(targets, |h| f(h))
                    .into_iter()
                    .flatten()
                    .collect()
            } else {
                let mut out = Vec::with_capacity(targets.len());
                for chunk in targets.chunks_mut(throttle) {
                    out.extend(workers.map(chunk, |h| f(h)).into_iter().flatten());
                }
                out
            }
        };
        let out = match show {
            None => work(&mut targets),
            Some((task, reporter)) => std::thread::scope(|s| {
                let worker = s.spawn(move || work(&mut targets));
                for r in rx.iter() {
                    reporter.host_result(&shown(&r, task, settings), settings.verbosity);
                }
                worker
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
        };
        if let Some(c) = live {
            c.end();
        }
        out
    }

    /// Updates counters, notifications and failure state; reports each result (unless
    /// `shown_already`: reported as each host finished).
    fn record(
        &mut self,
        results: &[HostResult],
        task: Option<&Task>,
        reporter: &mut dyn Reporter,
        pc: &PlayCtx,
        shown_already: bool,
    ) {
        for r in results {
            let Some(h) = self.hosts.iter_mut().find(|h| h.name == r.host) else {
                continue;
            };
            // A role counts as run on a host once any of its tasks ran there (ok, changed or
            // failed; not skipped or unreachable).
            if let Some(role) = task.and_then(|t| t.role.as_ref()) {
                if matches!(r.status, Status::Ok | Status::Changed | Status::Failed) {
                    h.roles_ran.insert(role.key.clone());
                }
            }
            match r.status {
                Status::Ok => h.stats.ok += 1,
                Status::Changed => {
                    h.stats.ok += 1;
                    h.stats.changed += 1;
                }
                Status::Skipped => h.stats.skipped += 1,
                Status::Failed if r.ignored => {
                    h.stats.ok += 1;
                    h.stats.ignored += 1;
                    // An ignored failure that changed the host counts as changed too.
                    if r.result.get_attr("changed").is_ok_and(|c| c.is_true()) {
                        h.stats.changed += 1;
                    }
                }
                Status::Failed => {
                    // In the `block:` part of a block with a rescue, a failure counts as
                    // rescued (ansible-core counts it so when it happens).
                    if self.rescue_depth > 0 {
                        h.stats.rescued += 1;
                    } else {
                        h.stats.failed += 1;
                        h.removed = true;
                    }
                    h.failed = true;
                    h.last_failure = Some((
                        task.map(failed_task_value).unwrap_or_default(),
                        r.result.clone(),
                    ));
                }
                // `ignore_unreachable`: counted ok and ignored, as Ansible counts it.
                Status::Unreachable if r.ignored => {
                    h.stats.ok += 1;
                    h.stats.ignored += 1;
                }
                Status::Unreachable => {
                    h.stats.unreachable += 1;
                    h.unreachable = true;
                    h.removed = true;
                }
            }
            if let Some(t) = task {
                if r.status == Status::Changed {
                    for n in &t.notify {
                        for name in render_notify(n, pc, h, t) {
                            let answering = handlers::answering(pc.play, &name, pc);
                            if answering.is_empty() {
                                let msg = handlers::missing_message(&name);
                                if self.settings.error_on_missing_handler {
                                    self.fatal.get_or_insert(msg);
                                } else {
                                    reporter.warning(&msg);
                                }
                                continue;
                            }
                            h.notified.extend(answering);
                        }
                    }
                }
                for w in handlers::take_warnings() {
                    reporter.warning(&w);
                }
            }
            if !shown_already {
                reporter.host_result(&shown(r, task, self.settings), self.settings.verbosity);
            }
        }
    }

    /// Final counters per host that took part, in first-seen order.
    /// Hosts that never got a result (e.g. batches a failed canary stopped) are left out, as
    /// in Ansible's recap.
    /// The hosts that did anything, sorted by name as Ansible's recap is.
    pub fn recap(&self) -> Vec<(String, Stats)> {
        let mut recap: Vec<(String, Stats)> = self
            .hosts
            .iter()
            .filter(|h| {
                let s = &h.stats;
                s.ok + s.changed + s.unreachable + s.failed + s.skipped + s.rescued + s.ignored > 0
            })
            .map(|h| (h.name.clone(), h.stats.clone()))
            .collect();
        recap.sort_by(|a, b| a.0.cmp(&b.0));
        recap
    }
}

/// The handler names a `notify` entry gives: itself, or what its template renders to (each
/// element of a list).
fn render_notify(n: &str, pc: &PlayCtx, h: &HostState, t: &Task) -> Vec<String> {
    if !crate::template::is_templated(n) {
        return vec![n.to_string()];
    }
    let scope = context::scope(pc, h, Some(t), None);
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    match crate::template::compile(n).and_then(|tm| tm.render(&scope)) {
        Ok(v) if v.kind() == minijinja::value::ValueKind::Seq => v
            .try_iter()
            .map(|it| it.map(|x| text(&x)).collect())
            .unwrap_or_default(),
        Ok(v) => vec![text(&v)],
        Err(_) => vec![n.to_string()],
    }
}

fn fact_result(h: &HostState, r: Result<()>, started: std::time::Instant) -> HostResult {
    let (status, msg) = match r {
        Ok(()) => (Status::Ok, None),
        Err(e) => (Status::Unreachable, Some(format!("{e:#}"))),
    };
    HostResult {
        host: h.name.clone(),
        status,
        ignored: false,
        result: crate::vars::map_value([
            ("changed".to_string(), Value::from(false)),
            (
                "msg".to_string(),
                Value::from(msg.clone().unwrap_or_default()),
            ),
        ]),
        items: Vec::new(),
        diffs: Vec::new(),
        msg,
        no_log: false,
        show: false,
        duration: started.elapsed(),
        origin: None,
        delegated_to: None,
    }
}

/// Splits hosts into `serial` batches; the last size repeats (Ansible's rule).
/// Applies a play's `order` to its hosts (inventory order as they come).
pub fn order_hosts(names: &mut [String], order: &str) {
    match order {
        "reverse_inventory" => names.reverse(),
        "sorted" => names.sort(),
        "reverse_sorted" => {
            names.sort();
            names.reverse();
        }
        "shuffle" => {
            // Fisher-Yates with bytes from the kernel's generator.
            use std::io::Read;
            let mut bytes = vec![0u8; names.len() * 4];
            let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
            for i in (1..names.len()).rev() {
                let r = u32::from_le_bytes([
                    bytes[4 * i],
                    bytes[4 * i + 1],
                    bytes[4 * i + 2],
                    bytes[4 * i + 3],
                ]);
                names.swap(i, r as usize % (i + 1));
            }
        }
        _ => {}
    }
}

pub fn batches(hosts: &[usize], serial: &[BatchSize]) -> Vec<Vec<usize>> {
    if serial.is_empty() {
        return vec![hosts.to_vec()];
    }
    let total = hosts.len();
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < total {
        let spec = &serial[k.min(serial.len() - 1)];
        let n = match spec {
            BatchSize::Count(0) => total,
            BatchSize::Count(c) => *c,
            BatchSize::Percent(p) => ((total as f64) * p / 100.0).floor().max(1.0) as usize,
        };
        let end = (i + n).min(total);
        out.push(hosts[i..end].to_vec());
        i = end;
        k += 1;
    }
    out
}

/// A result as the reporters see it: a failure with where its task was written
/// (ansible-core's `[ERROR]`), and censored when the task (or the run) has `no_log`, also
/// for results no module made (an include that failed, a connection error).
fn shown<'r>(
    r: &'r HostResult,
    task: Option<&Task>,
    settings: &Settings,
) -> std::borrow::Cow<'r, HostResult> {
    let mut shown = std::borrow::Cow::Borrowed(r);
    if let (Some(t), true) = (
        task,
        r.status == Status::Failed || r.items.iter().any(|i| i.status == Status::Failed),
    ) {
        let by_condition = r
            .result
            .get_attr("failed_when_result")
            .is_ok_and(|v| v.is_true());
        let on_host = t.module().is_some_and(|m| !m.controller_only()) && !by_condition;
        shown.to_mut().origin = Some(Box::new(result::FailureOrigin {
            span: t.span.clone(),
            on_host,
        }));
    }
    if !r.no_log && (settings.no_log || task.is_some_and(|t| t.no_log)) {
        shown.to_mut().no_log = true;
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_batches() {
        let hosts: Vec<usize> = (0..10).collect();
        let sizes = |b: Vec<Vec<usize>>| b.iter().map(|x| x.len()).collect::<Vec<_>>();
        assert_eq!(sizes(batches(&hosts, &[])), [10]);
        assert_eq!(sizes(batches(&hosts, &[BatchSize::Count(3)])), [3, 3, 3, 1]);
        assert_eq!(
            sizes(batches(
                &hosts,
                &[BatchSize::Count(1), BatchSize::Percent(50.0)]
            )),
            [1, 5, 4]
        );
        assert_eq!(
            sizes(batches(&hosts, &[BatchSize::Percent(25.0)])),
            [2, 2, 2, 2, 2]
        );
        assert_eq!(
            sizes(batches(
                &hosts,
                &[
                    BatchSize::Count(1),
                    BatchSize::Percent(25.0),
                    BatchSize::Percent(100.0)
                ]
            )),
            [1, 2, 7]
        );
    }
}
