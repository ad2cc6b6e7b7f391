//! `drover doc`: the modules drover implements (`--list`), or one module's arguments.

use crate::cli::DocArgs;
use anyhow::Result;

pub fn run_doc(args: &DocArgs) -> Result<i32> {
    match (&args.module, args.list) {
        (Some(name), _) => {
            let Some(m) = crate::modules::lookup(name) else {
                let known = if crate::modules::is_ansible_module(name, &[]) {
                    "an Ansible module that drover does not implement yet"
                } else {
                    "no module drover or Ansible knows"
                };
                return Err(super::InputError(anyhow::anyhow!(
                    "`{name}` is {known}; `drover doc --list` lists drover's modules"
                ))
                .into());
            };
            let spec = m.spec();
            println!("{}", m.name());
            let mut args: Vec<&str> = spec
                .args
                .iter()
                .copied()
                .filter(|a| !a.starts_with('_'))
                .collect();
            args.sort_unstable();
            println!("  arguments: {}", args.join(", "));
            if !spec.aliases.is_empty() {
                let aliases: Vec<String> = spec
                    .aliases
                    .iter()
                    .map(|(a, c)| format!("{a} (= {c})"))
                    .collect();
                println!("  aliases: {}", aliases.join(", "));
            }
            if let Some(f) = spec.free_form {
                println!("  free-form text: {}", f.trim_start_matches('_'));
            }
            Ok(0)
        }
        (None, _) => {
            let mut names: Vec<&str> = crate::modules::registry()
                .iter()
                .map(|m| m.name())
                .collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                println!("{n}");
            }
            Ok(0)
        }
    }
}
