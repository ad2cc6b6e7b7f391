//! A task whose module name is a template (`action: "{{ ansible_facts.pkg_mgr }}"`): the name
//! is rendered per host when the task runs, and that module runs.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub struct Dynamic {
    source: &'static str,
}

static SPEC: Spec = Spec {
    args: &[],
    aliases: &[],
    free_form: Some("_raw_params"),
    any_args: true,
    file_args: false,
};

/// The stand-in for a templated module name, made once per template for the whole run.
pub fn dynamic(source: &str) -> &'static dyn Module {
    static MADE: OnceLock<Mutex<HashMap<String, &'static Dynamic>>> = OnceLock::new();
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(m) = made.get(source) {
        return *m;
    }
    // Leaked on purpose: one small value per distinct template, living for the whole run.
    let m: &'static Dynamic = Box::leak(Box::new(Dynamic {
        source: Box::leak(source.to_string().into_boxed_str()),
    }));
    made.insert(source.to_string(), m);
    m
}

impl Dynamic {
    /// The module this host's variables name, with the arguments checked against it.
    fn resolve(&self, ctx: &ModuleCtx, args: &Args) -> Result<(&'static dyn Module, Args)> {
        let name = crate::template::compile_lenient(self.source)
            .render(ctx.vars)
            .map_err(|e| anyhow!("templating the module name `{}`: {e}", self.source))?
            .to_string();
        let module = super::lookup(&name).ok_or_else(|| {
            anyhow!(
                "the module name `{}` rendered to `{name}`, which is not a module drover has",
                self.source
            )
        })?;
        let map = crate::vars::map_value(args.map.clone());
        Ok((module, Args::from_value(&name, module.spec(), &map)?))
    }
}

impl Module for Dynamic {
    fn name(&self) -> &'static str {
        self.source
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn run(&self, ctx: &mut ModuleCtx, args: &Args, check: bool) -> Result<Plan> {
        let (module, args) = self.resolve(ctx, args)?;
        module.run(ctx, &args, check)
    }
}
