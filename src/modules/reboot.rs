//! `reboot`: its arguments. The executor reboots the host and waits for it
//! (`executor/reboot.rs`), since it makes the connections; this module is never run.

use super::contract::{Action, Failure, Resolve};
use super::{Args, Plan, Spec};
use anyhow::Result;

pub struct Reboot;

static SPEC: Spec = Spec {
    args: &[
        "msg",
        "pre_reboot_delay",
        "post_reboot_delay",
        "reboot_timeout",
        "connect_timeout",
        "test_command",
        "search_paths",
        "boot_time_command",
        "reboot_command",
        "pre_reboot_delay_sec",
        "post_reboot_delay_sec",
        "reboot_timeout_sec",
        "connect_timeout_sec",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Action for Reboot {
    fn name(&self) -> &'static str {
        "reboot"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn act(&self, _args: &Args, _env: &dyn Resolve) -> Result<Plan> {
        Err(Failure::new("invariant: the executor runs reboot").into())
    }
}
