//! `set_fact`: set host variables (at `set_fact` precedence) from already-rendered arguments.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::Result;

pub struct SetFact;

static SPEC: Spec = Spec {
    args: &["cacheable"],
    aliases: &[],
    free_form: None,
    any_args: true,
};

impl Module for SetFact {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "set_fact"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    fn plan(&self, _ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let mut facts = args.map.clone();
        let cacheable = args.bool_or("cacheable", false)?;
        facts.shift_remove("cacheable");
        let mut plan = Plan::unchanged();
        plan.values.insert(
            "ansible_facts".into(),
            crate::vars::map_value(facts.clone()),
        );
        plan.facts = Some(facts);
        if cacheable {
            plan.facts_kind = super::FactKind::CacheableHostVars;
        }
        Ok(plan)
    }
}
