//! `fail`: fail the host with a message.

use super::contract::{Action, Resolve};
use super::{Args, Plan, Spec};
use anyhow::Result;

pub struct Fail;

static SPEC: Spec = Spec {
    args: &["msg"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Action for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn act(&self, args: &Args, _env: &dyn Resolve) -> Result<Plan> {
        Ok(Plan::fail(
            args.str("msg")
                .unwrap_or_else(|| "Failed as requested from task".into()),
        ))
    }
}
