//! `wait_for_connection`: its arguments. The executor does the waiting, also for a
//! `delegate_to` target (`executor/wait_connection.rs`), since it makes the connections; this
//! module is never run.

use super::contract::{Action, Failure, Resolve};
use super::{Args, Plan, Spec};
use anyhow::Result;

pub struct WaitForConnection;

static SPEC: Spec = Spec {
    args: &["connect_timeout", "delay", "sleep", "timeout"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Action for WaitForConnection {
    fn name(&self) -> &'static str {
        "wait_for_connection"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn act(&self, _args: &Args, _env: &dyn Resolve) -> Result<Plan> {
        Err(Failure::new("invariant: the executor runs wait_for_connection").into())
    }
}
