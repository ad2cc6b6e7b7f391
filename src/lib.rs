//! drover: run Ansible inventories, roles and playbooks over SSH, without Python on targets.
//!
//! Data flow: `cli` → `commands` (settings, inventory, playbooks loaded and validated) →
//! `executor` (plays, batches, tasks per host in parallel over `connection`s, through
//! `modules`) → `output` (a `Reporter`).

pub mod cli;
pub mod commands;
pub mod config;
pub mod config_lookup;
pub mod connection;
pub mod executor;
pub mod fuzz;
pub mod glob;
pub mod interrupt;
pub mod inventory;
pub mod modules;
pub mod output;
pub mod playbook;
pub mod pyre;
pub mod settings;
pub mod shard;
pub mod shell;
pub mod template;
pub mod vars;
pub mod vault;
pub mod yaml;
