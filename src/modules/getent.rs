//! `getent`: a Name Service Switch database (`passwd`, `group`, `hosts`, ...) as facts, as
//! ansible-core's module returns it: `ansible_facts.getent_<database>` maps each entry's key
//! (its first field) to its other fields (fields split at `:` for passwd, shadow, group and
//! gshadow, at whitespace otherwise, or at `split`); a key found more than once maps to the
//! list of its entries. Read-only: the same in check mode.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec};
use crate::vars::VarMap;
use anyhow::Result;
use minijinja::Value;
use std::convert::Infallible;

pub struct Getent;

static SPEC: Spec = Spec {
    args: &["database", "key", "service", "split", "fail_key"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
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

/// `getent`'s arguments.
pub struct GetentArgs {
    database: String,
    key: Option<String>,
    service: Option<String>,
    split: Option<String>,
    fail_key: bool,
}

impl Typed for Getent {
    type Args = GetentArgs;
    type Change = Infallible;

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "getent"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<GetentArgs> {
        let database = args.req_str("database")?;
        let split = args.str("split").or_else(|| {
            ["passwd", "shadow", "group", "gshadow"]
                .contains(&database.as_str())
                .then(|| ":".to_string())
        });
        Ok(GetentArgs {
            key: args.str("key"),
            service: args.str("service"),
            fail_key: args.bool_or("fail_key", true)?,
            database,
            split,
        })
    }

    fn observe(&self, a: &GetentArgs) -> Observe {
        let mut words = vec![a.database.clone()];
        words.extend(a.key.clone());
        if let Some(s) = &a.service {
            words.extend(["-s".to_string(), s.clone()]);
        }
        Observe {
            sections: vec![("getent", Script::new().cmd("getent", words))],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &GetentArgs, seen: &Observed) -> Outcome<Infallible> {
        let tree_name = format!("getent_{}", a.database);
        let facts = |tree: VarMap| {
            let mut f = VarMap::new();
            f.insert(tree_name.clone(), crate::vars::map_value(tree));
            f
        };
        let fail = |msg: String| Outcome::Fail(Failure::new(msg));
        let mut plan = match seen.code("getent") {
            Some(0) => Plan::unchanged()
                .with_facts(facts(parse(seen.section("getent"), a.split.as_deref()))),
            Some(1) => return fail("Missing arguments, or database unknown.".into()),
            Some(2) => {
                let msg = "One or more supplied key could not be found in the database.";
                if a.fail_key {
                    return fail(msg.into());
                }
                let mut tree = VarMap::new();
                tree.insert(a.key.clone().unwrap_or_default(), Value::from(()));
                Plan::unchanged().with_facts(facts(tree)).with_msg(msg)
            }
            Some(3) => return fail("Enumeration not supported on this database.".into()),
            _ => return fail(format!("Unexpected failure! {}", seen.stderr.trim())),
        };
        plan.facts_kind = super::FactKind::ModuleFacts;
        Outcome::Unchanged(plan)
    }

    fn apply(&self, _a: &GetentArgs, change: &Infallible) -> Vec<Step> {
        match *change {}
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
