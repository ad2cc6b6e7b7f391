//! `set_fact`: set host variables (at `set_fact` precedence) from already-rendered arguments.

use super::contract::{Action, Resolve};
use super::{Args, Plan, Spec};
use anyhow::Result;

pub struct SetFact;

static SPEC: Spec = Spec {
    args: &["cacheable"],
    aliases: &[],
    free_form: None,
    any_args: true,
    file_args: false,
};

impl Action for SetFact {
    fn name(&self) -> &'static str {
        "set_fact"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn act(&self, args: &Args, _env: &dyn Resolve) -> Result<Plan> {
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
