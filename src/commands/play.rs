//! `drover play`: load and validate every playbook, then run them.

use super::common::{
    bracketed, exit_code, input, load_inventory, reporters, settings_from, setup_vault,
};
use crate::cli::{OutputFormat, PlayArgs};
use crate::executor::Runner;
use crate::output::{Fanout, Human, Reporter};
use crate::playbook::{check_variables, load_playbook, LoadOptions, TaskKind};
use anyhow::Result;
use std::io::Write;

/// The reporters `--output`, `--junit`, `--no-progress` and `--profile` ask for.
fn reporter_for(args: &PlayArgs) -> Result<Fanout> {
    let listing = args.syntax_check || args.list_hosts || args.list_tasks || args.list_tags;
    if args.out.output == OutputFormat::Json && listing {
        anyhow::bail!(
            "--output json reports runs; --syntax-check, --list-hosts, --list-tasks and --list-tags print text\nhint: drop --output json"
        );
    }
    // `--step` asks on the terminal before each task: no status line in between.
    let reporter = reporters(&args.out, || {
        Human::stdout(args.out.no_progress || args.step).verbosity(args.conn.verbose)
    })?;
    Ok(if args.profile {
        reporter.profiled()
    } else {
        reporter
    })
}

/// Runs `drover play`; returns the exit code.
pub fn run_play(args: &PlayArgs) -> Result<i32> {
    let mut reporter = input(reporter_for(args))?;
    let shard = shard_of(args);
    let first = shard.as_ref().ok().copied().flatten();
    bracketed(&mut reporter, first, |reporter| play(args, shard, reporter))
}

fn play(
    args: &PlayArgs,
    shard: Result<Option<crate::shard::Shard>>,
    reporter: &mut Fanout,
) -> Result<i32> {
    input(setup_vault(&args.conn.vault))?;
    let mut settings = input(settings_from(&args.conn))?;
    settings.tags = args.tags.clone();
    settings.skip_tags = args.skip_tags.clone();
    settings.force_handlers =
        args.force_handlers || input(crate::config::load())?.force_handlers == Some(true);
    settings.error_on_missing_handler =
        input(crate::config::load())?.error_on_missing_handler != Some(false);
    settings.start_at_task = args.start_at_task.clone();
    settings.step = args.step;
    settings.shard = input(shard)?;
    let dirs: Vec<_> = args
        .playbooks
        .iter()
        .map(|p| {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.to_path_buf())
                .unwrap_or_else(|| ".".into())
        })
        .collect();
    let inventory = input(load_inventory(&args.conn.inventory, &dirs))?;
    let opts = LoadOptions {
        extra_vars: settings.extra_vars.clone(),
        roles_path: args
            .roles_path
            .iter()
            .cloned()
            .chain(input(crate::config::load())?.roles_path)
            .collect(),
    };
    // `--flush-cache`: every inventory host's cached facts go first.
    if let (true, Some(cache)) = (args.flush_cache, &settings.fact_cache) {
        for h in inventory.group_hosts("all") {
            cache.flush(h);
        }
    }
    let mut books = Vec::new();
    for p in &args.playbooks {
        let pb = input(load_playbook(p, &opts))?;
        for w in input(check_variables(&pb, &inventory, &settings.extra_vars))? {
            reporter.warning(&w);
        }
        for play in &pb.plays {
            for w in crate::executor::check_notify(play) {
                reporter.warning(&w);
            }
        }
        books.push(pb);
    }
    // A listing runs nothing: what a shard cannot run alone does not matter to it.
    let listing = args.syntax_check || args.list_hosts || args.list_tasks || args.list_tags;
    if let (Some(shard), false) = (settings.shard, listing) {
        let all = inventory
            .group_hosts("all")
            .iter()
            .map(|h| h.to_string())
            .collect();
        let in_run: std::collections::HashSet<String> = match &settings.limit {
            Some(limit) => input(inventory.apply_limit(all, limit))?
                .into_iter()
                .collect(),
            None => all.into_iter().collect(),
        };
        let check = crate::shard::shard_check(&books, shard, &in_run, &inventory, args.per_shard);
        for w in input(check)? {
            reporter.warning(&w);
        }
    }
    let mut runner = Runner::new(&inventory, &settings)?;
    let sources = args.conn.inventory.clone();
    let reload_dirs = dirs.clone();
    runner.reload_inventory = Some(Box::new(move || load_inventory(&sources, &reload_dirs)));
    // Host patterns and --limit are input too: a bad one is reported before any play runs.
    for pb in &books {
        for play in &pb.plays {
            input(runner.play_hosts(play))?;
        }
    }
    targets_check(
        &inventory,
        &settings,
        &args.conn.inventory,
        &books,
        &runner,
        reporter,
    )?;
    if !listing {
        for pb in &books {
            input(crate::executor::check_answerable(pb, &settings.extra_vars))?;
        }
    }
    if listing {
        let mut out = std::io::stdout().lock();
        for pb in &books {
            if args.syntax_check {
                writeln!(out, "\nplaybook: {}", pb.path.display())?;
                continue;
            }
            writeln!(out, "\nplaybook: {}", pb.path.display())?;
            for (n, play) in pb.plays.iter().enumerate() {
                let hosts = input(runner.play_hosts(play))?;
                let pattern = crate::executor::pattern_text(play);
                writeln!(
                    out,
                    "\n  play #{} ({pattern}): {}\tTAGS: [{}]",
                    n + 1,
                    play.name,
                    play.tags.join(", ")
                )?;
                if args.list_hosts {
                    writeln!(
                        out,
                        "    pattern: {:?}\n    hosts ({}):",
                        [pattern.as_str()],
                        hosts.len()
                    )?;
                    for h in &hosts {
                        writeln!(out, "      {h}")?;
                    }
                }
                if args.list_tags {
                    let mut all: Vec<String> = play
                        .all_tasks()
                        .iter()
                        .flat_map(|t| t.tags.clone())
                        .collect();
                    all.sort();
                    all.dedup();
                    writeln!(out, "      TASK TAGS: [{}]", all.join(", "))?;
                }
                if args.list_tasks {
                    writeln!(out, "    tasks:")?;
                    let filter =
                        crate::executor::TagFilter::new(&settings.tags, &settings.skip_tags);
                    // As ansible-playbook lists them: what imports and blocks bring in, and a
                    // dynamic include as itself (its tasks are only known at run time).
                    // Only a block's own tasks are listed (not rescue/always), meta tasks too.
                    fn walk<'a>(
                        ts: &'a [crate::playbook::Task],
                        out: &mut Vec<&'a crate::playbook::Task>,
                    ) {
                        for t in ts {
                            match &t.kind {
                                TaskKind::Block(b) => walk(&b.block, out),
                                _ => out.push(t),
                            }
                        }
                    }
                    let mut listed = Vec::new();
                    for section in &play.sections {
                        walk(section, &mut listed);
                    }
                    // Templated tags are rendered with the play's vars and `-e`.
                    let scope = || {
                        crate::vars::Scope::new(vec![
                            crate::vars::Layer::templated(play.vars.clone()),
                            crate::vars::Layer::templated(std::sync::Arc::new(
                                settings.extra_vars.clone(),
                            )),
                        ])
                        .into_value()
                    };
                    for t in listed {
                        let tags = crate::executor::rendered_tags(&t.tags, scope);
                        if !filter.selects(&tags) {
                            continue;
                        }
                        let mut shown: Vec<String> =
                            tags.iter().chain(&play.tags).cloned().collect();
                        shown.sort();
                        shown.dedup();
                        let name = crate::executor::task_title(t);
                        writeln!(out, "      {name}\tTAGS: [{}]", shown.join(", "))?;
                    }
                }
            }
        }
        return Ok(0);
    }
    let _ = &mut runner;
    let mut outcome = crate::executor::Outcome::default();
    for pb in &books {
        let o = runner.run_playbook(pb, reporter)?;
        outcome.any_failed |= o.any_failed;
        outcome.any_unreachable |= o.any_unreachable;
        outcome.interrupted |= o.interrupted;
        if o.interrupted {
            break;
        }
    }
    if outcome.interrupted {
        reporter.warning(
            "interrupted (Ctrl-C): the tasks running then finished and no further task started; exit code 99",
        );
    }
    reporter.recap(&runner.recap());
    reporter.finish()?;
    Ok(exit_code(&outcome))
}

/// `--shard I/N`, or `--shards N` with the index a Kubernetes Indexed Job sets.
fn shard_of(args: &PlayArgs) -> Result<Option<crate::shard::Shard>> {
    use crate::shard::Shard;
    match (&args.shard, args.shards) {
        (Some(s), _) => Ok(Some(Shard::parse(s)?)),
        (None, Some(n)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                anyhow::anyhow!("--shards {n} takes this run's index from JOB_COMPLETION_INDEX, which is not set\nhint: use --shard I/{n}")
            })?;
            let i = index.trim().parse::<u32>().map_err(|_| {
                anyhow::anyhow!("JOB_COMPLETION_INDEX `{index}` is not a shard index")
            })?;
            Ok(Some(Shard::new(i, n)?))
        }
        (None, None) => Ok(None),
    }
}

/// What ansible-playbook says before running about what the run targets: an empty inventory
/// (warnings), host patterns and `--limit` terms that match nothing (warnings), a `--limit`
/// that leaves no host (an error, exit 1), and (better than Ansible, which runs and then
/// says so with exit 0) a `--start-at-task` that names no task (an error, exit 1).
fn targets_check(
    inventory: &crate::inventory::Inventory,
    settings: &crate::settings::Settings,
    sources: &[String],
    books: &[crate::playbook::Playbook],
    runner: &Runner,
    reporter: &mut dyn crate::output::Reporter,
) -> Result<()> {
    for w in &settings.ignored_flags {
        reporter.warning(w);
    }
    let empty = inventory.group_hosts("all").is_empty();
    if empty {
        if sources.is_empty() {
            reporter.warning("No inventory was parsed, only implicit localhost is available");
        }
        reporter.warning("provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'");
    }
    if let Some(limit) = &settings.limit {
        for term in inventory.unmatched_terms(limit) {
            reporter.warning(&format!(
                "Could not match supplied host pattern, ignoring: {term}"
            ));
        }
        let all = inventory
            .group_hosts("all")
            .iter()
            .map(|h| h.to_string())
            .collect();
        if !empty && input(inventory.apply_limit(all, limit))?.is_empty() {
            anyhow::bail!("Specified inventory, host pattern and/or --limit leaves us with no hosts to target.");
        }
    }
    for pb in books {
        for play in &pb.plays {
            let pattern = input(runner.play_pattern(play))?;
            for term in inventory.unmatched_terms(&pattern) {
                reporter.warning(&format!(
                    "Could not match supplied host pattern, ignoring: {term}"
                ));
            }
        }
    }
    if let Some(wanted) = &settings.start_at_task {
        let found = books
            .iter()
            .flat_map(|pb| &pb.plays)
            .any(|play| crate::executor::play_starts_at(play, wanted));
        if !found {
            anyhow::bail!("No matching task \"{wanted}\" found. Note: --start-at-task can only follow static includes.");
        }
    }
    Ok(())
}
