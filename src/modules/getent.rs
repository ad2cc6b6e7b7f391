//! `getent`: a Name Service Switch database (`passwd`, `group`, `hosts`, ...) as facts, as
//! ansible-core's module returns it: `ansible_facts.getent_<database>` maps each entry's key
//! (its first field) to its other fields (fields split at `:` for passwd, shadow, group and
//! gshadow, at whitespace otherwise, or at `split`); a key found more than once maps to the
//! list of its entries. Read-only: the same in check mode.

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::Value;

pub struct Getent;

static SPEC: Spec = Spec {
    args: &["database", "key", "service", "split", "fail_key"],
    aliases: &[],
    free_form: None,
    any_args: false,
};

/// The entries of `getent` output, keyed by their first field.
fn parse(out: &str, split: Option<&str>) -> VarMap {
    let mut tree = VarMap::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for line in out.lines() {
        let record: Vec<String> = match split {
            Some(s) => line.split(s).map(str::to_string).collect(),
            None => line.split_whitespace().map(str::to_string).collect(),
        };
        let Some(first) = record.first().cloned() else {
            continue;
        };
        let rest = Value::from(
            record[1..]
                .iter()
                .map(|f| Value::from(f.as_str()))
                .collect::<Vec<_>>(),
        );
        match seen.get_mut(&first) {
            Some(n) => {
                let prev = tree.get(&first).cloned().unwrap_or_default();
                let mut all: Vec<Value> = if *n == 1 {
                    vec![prev]
                } else {
                    prev.try_iter().map(|i| i.collect()).unwrap_or_default()
                };
                all.push(rest);
                tree.insert(first, Value::from(all));
                *n += 1;
            }
            None => {
                tree.insert(first.clone(), rest);
                seen.insert(first, 1);
            }
        }
    }
    tree
}

impl Module for Getent {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "getent"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        let database = args.req_str("database")?;
        let key = args.str("key");
        let mut cmd = format!("getent {}", crate::shell::quote(&database));
        if let Some(k) = &key {
            cmd.push(' ');
            cmd.push_str(&crate::shell::quote(k));
        }
        if let Some(s) = args.str("service") {
            cmd.push_str(" -s ");
            cmd.push_str(&crate::shell::quote(&s));
        }
        let split = args.str("split").or_else(|| {
            ["passwd", "shadow", "group", "gshadow"]
                .contains(&database.as_str())
                .then(|| ":".to_string())
        });
        let out = ctx.run(&cmd)?;
        let tree_name = format!("getent_{database}");
        let facts = |tree: VarMap| {
            let mut f = VarMap::new();
            f.insert(tree_name.clone(), crate::vars::map_value(tree));
            f
        };
        let mut plan = match out.rc {
            0 => Plan::unchanged().with_facts(facts(parse(&out.stdout_str(), split.as_deref()))),
            1 => Plan::fail("Missing arguments, or database unknown."),
            2 => {
                let msg = "One or more supplied key could not be found in the database.";
                if args.bool_or("fail_key", true)? {
                    Plan::fail(msg)
                } else {
                    let mut tree = VarMap::new();
                    tree.insert(key.unwrap_or_default(), Value::from(()));
                    Plan::unchanged().with_facts(facts(tree)).with_msg(msg)
                }
            }
            3 => Plan::fail("Enumeration not supported on this database."),
            _ => Plan::fail(format!("Unexpected failure! {}", out.stderr_str().trim())),
        };
        plan.facts_kind = super::FactKind::ModuleFacts;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn entries_by_key_and_repeated_keys_as_lists() {
        let t = parse("root:x:0:0:root:/root:/bin/bash\n", Some(":"));
        assert_eq!(
            t.get("root").unwrap().to_string(),
            "['x', '0', '0', 'root', '/root', '/bin/bash']"
        );
        let t = parse("127.0.0.1 localhost\n127.0.0.1 other\n", None);
        assert_eq!(
            t.get("127.0.0.1").unwrap().to_string(),
            "[['localhost'], ['other']]"
        );
    }
}
