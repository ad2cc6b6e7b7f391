//! `drover inventory`: `--list` (JSON), `--graph [GROUP] [--vars]`, `--host`, printed as
//! `ansible-inventory` prints them (JSON with sorted keys and four-space indentation). Vault values are shown as
//! `********`, never in plain text.

use super::common::{input, load_inventory, setup_vault};
use crate::cli::InventoryArgs;
use crate::inventory::render;
use crate::output::python_json;
use crate::vault::redact;
use anyhow::{anyhow, Result};

/// Prints the inventory; returns the exit code.
pub fn run_inventory(args: &InventoryArgs) -> Result<i32> {
    input(setup_vault(&args.vault))?;
    let inv = input(load_inventory(&args.inventory, &[]))?;
    if let Some(group) = &args.graph {
        if group != "all" && !inv.groups.contains_key(group) {
            return input(Err(anyhow!(
                "no group named `{group}` in the inventory\nhint: --graph takes a group name (as ansible-inventory); `drover inventory --graph` shows them all"
            )));
        }
        println!(
            "{}",
            redact(&render::graph_with_vars(&inv, group, args.vars))
        );
    } else if let Some(host) = &args.host {
        let v = input(render::host_json(&inv, host))?;
        println!("{}", redact(&python_json(&v, true)));
    } else if args.list {
        println!("{}", redact(&python_json(&render::list_json(&inv), true)));
    } else {
        return input(Err(anyhow!(
            "say what to show: --list, --graph [GROUP] or --host HOST"
        )));
    }
    Ok(0)
}
