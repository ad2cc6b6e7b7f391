//! `drover inventory`: `--list` (JSON), `--graph`, `--host`. Vault values are shown as
//! `********`, never in plain text.

use super::common::{input, load_inventory, setup_vault};
use crate::cli::InventoryArgs;
use crate::inventory::render;
use crate::vault::redact;
use anyhow::{anyhow, Result};

/// Prints the inventory; returns the exit code.
pub fn run_inventory(args: &InventoryArgs) -> Result<i32> {
    input(setup_vault(&args.vault))?;
    let inv = input(load_inventory(&args.inventory, &[]))?;
    if let Some(group) = &args.graph {
        if group != "all" && !inv.groups.contains_key(group) {
            return input(Err(anyhow!("no group named `{group}` in the inventory")));
        }
        println!("{}", render::graph(&inv, group));
    } else if let Some(host) = &args.host {
        let v = input(render::host_json(&inv, host))?;
        println!("{}", redact(&serde_json::to_string_pretty(&v)?));
    } else if args.list {
        println!(
            "{}",
            redact(&serde_json::to_string_pretty(&render::list_json(&inv))?)
        );
    } else {
        return input(Err(anyhow!(
            "say what to show: --list, --graph [GROUP] or --host HOST"
        )));
    }
    Ok(0)
}
