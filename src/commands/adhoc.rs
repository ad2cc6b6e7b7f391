//! `drover run PATTERN -m MODULE -a ARGS`: one module on matching hosts, as a one-task play.

use super::common::{
    bracketed, exit_code, input, load_inventory, reporters, settings_from, setup_vault,
};
use crate::cli::RunArgs;
use crate::executor::Runner;
use crate::output::{Fanout, Human, Reporter};
use crate::playbook::{load_playbook_str, LoadOptions};
use anyhow::Result;

/// Runs an ad-hoc module; returns the exit code (as `drover play`'s).
pub fn run_adhoc(args: &RunArgs) -> Result<i32> {
    let mut reporter = input(reporters(&args.out, || {
        Human::stdout(args.out.no_progress).adhoc(&args.module)
    }))?;
    bracketed(&mut reporter, None, |reporter| adhoc(args, reporter))
}

fn adhoc(args: &RunArgs, reporter: &mut Fanout) -> Result<i32> {
    input(setup_vault(&args.conn.vault))?;
    let mut settings = input(settings_from(&args.conn))?;
    // Ad-hoc runs exist to see results: show them as `ansible` does.
    settings.verbosity = settings.verbosity.max(1);
    let inventory = input(load_inventory(&args.conn.inventory, &[]))?;
    let task_args = args.args.clone().unwrap_or_default();
    // The ad-hoc task is built as YAML so it goes through the same validation as playbooks.
    let yaml = format!(
        "- hosts: {}\n  gather_facts: false\n  tasks:\n    - name: {}\n      {}: {}\n",
        serde_json::to_string(&args.pattern)?,
        serde_json::to_string(&args.module)?,
        args.module,
        serde_json::to_string(&task_args)?
    );
    let pb = input(load_playbook_str(
        &yaml,
        "<command line>",
        &LoadOptions::default(),
    ))?;
    for w in input(crate::playbook::check_variables(
        &pb,
        &inventory,
        &settings.extra_vars,
    ))? {
        reporter.warning(&w);
    }
    let mut runner = Runner::new(&inventory, &settings)?;
    let outcome = runner.run_playbook(&pb, reporter)?;
    reporter.recap(&runner.recap());
    reporter.finish()?;
    Ok(exit_code(&outcome))
}
