//! `fail`: fail the host with a message.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::Result;

pub struct Fail;

static SPEC: Spec = Spec {
    args: &["msg"],
    aliases: &[],
    free_form: None,
    any_args: false,
};

impl Module for Fail {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "fail"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    fn plan(&self, _ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        Ok(Plan::fail(
            args.str("msg")
                .unwrap_or_else(|| "Failed as requested from task".into()),
        ))
    }
}
