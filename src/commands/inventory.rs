//! `drover inventory`: `--list` (JSON), `--graph`, `--host`.

use super::common::{input, load_inventory};
use crate::cli::InventoryArgs;
use crate::inventory::render;
use anyhow::{anyhow, Result};

/// Prints the inventory; returns the exit code.
pub fn run_inventory(args: &InventoryArgs) -> Result<i32> {
    let inv = input(load_inventory(&args.inventory, &[]))?;
    if let Some(group) = &args.graph {
        if group != "all" && !inv.groups.contains_key(group) {
            return input(Err(anyhow!("no group named `{group}` in the inventory")));
        }
        println!("{}", render::graph(&inv, group));
    } else if let Some(host) = &args.host {
        let v = input(render::host_json(&inv, host))?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if args.list {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::list_json(&inv))?
        );
    } else {
        return input(Err(anyhow!(
            "say what to show: --list, --graph [GROUP] or --host HOST"
        )));
    }
    Ok(0)
}
