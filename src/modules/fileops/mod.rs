//! Shared file machinery for `copy`, `template`, `file`, `lineinfile`, `replace`, `blockinfile`
//! and `stat`: one-command
//! probes of paths (stat fields, link target, checksum, owner/group lookups), Ansible's mode
//! arithmetic (symbolic modes computed exactly from the current mode), attribute planning and
//! its diff, atomic writes with backup and validation, and the content-write path that `copy`
//! and `template` share (plan read-only, then apply exactly what was planned).
//!
//! One file per concern: task failures (`failures.rs`), paths, checksums, probes (the script
//! and `parse.rs`), modes, attributes, diffs, atomic writes (`write.rs`), the in-place edit of a text file (`edit.rs`) and the content write of `copy`/`template`
//! (`content.rs`); everything is reachable as `fileops::NAME`.

use super::{Diff, ModuleCtx, Plan};
use crate::connection::{
    temp_attrs_script, temp_beside_script, temp_fill_script, write_file_atomic, FileAttrs,
};
use anyhow::{anyhow, Result};
use minijinja::Value;
use std::collections::BTreeMap;

/// Diffs of files larger than this are replaced by a note.
pub const MAX_DIFF_SIZE: usize = 64 * 1024;

pub const S_IFMT: u32 = 0o170_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFBLK: u32 = 0o060_000;
pub const S_IFIFO: u32 = 0o010_000;
pub const S_IFSOCK: u32 = 0o140_000;

mod attrs;
mod checksum;
mod content;
mod diffs;
mod edit;
mod failures;
mod looks;
mod memo;
mod modes;
mod parse;
mod paths;
mod probe;
mod probe_run;
mod write;

pub use attrs::*;
pub use checksum::*;
pub use content::*;
pub use diffs::*;
pub use edit::*;
pub use failures::*;
use looks::*;
pub use looks::{content_ahead, path_ahead, Ahead, Looks};
pub use memo::*;
pub use modes::*;
use parse::*;
pub use paths::*;
pub use probe::*;
pub use probe_run::*;
pub use write::*;

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests;
