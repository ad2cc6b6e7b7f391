//! One file per subcommand; each turns parsed arguments into a run and returns its exit code.
//! `common.rs` holds what they share: settings from options, inventory loading, extra vars.

mod adhoc;
mod common;
mod doc;
mod inventory;
mod play;
mod report;
mod vault;
mod vault_edit;

pub use adhoc::run_adhoc;
pub use common::{error_exit_code, exit_code, InputError};
pub use doc::run_doc;
pub use inventory::run_inventory;
pub use play::run_play;
pub use report::run_report;
pub use vault::run_vault;
