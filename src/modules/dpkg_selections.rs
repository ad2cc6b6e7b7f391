//! `dpkg_selections`: a package's selection (`install`, `hold`, `deinstall`, `purge`) read
//! with `dpkg --get-selections` and set through `dpkg --set-selections`' standard input, as
//! Ansible's module. Results: `before`, `after`.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec};
use anyhow::Result;

pub struct DpkgSelections;

static SPEC: Spec = Spec {
    args: &["name", "selection"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct SelArgs {
    name: String,
    selection: String,
}

impl Typed for DpkgSelections {
    type Args = SelArgs;
    type Change = ();

    fn name(&self) -> &'static str {
        "dpkg_selections"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<SelArgs> {
        let name = args.req_str("name")?;
        if !args.has("selection") {
            return Err(Failure::new("missing required arguments: selection").into());
        }
        Ok(SelArgs {
            name,
            selection: args.choice("selection", &["install", "hold", "deinstall", "purge"], "")?,
        })
    }

    fn observe(&self, a: &SelArgs) -> Observe {
        Observe {
            sections: vec![(
                "sel",
                Script::new()
                    .set("p", &a.name)
                    .raw("command -v dpkg >/dev/null 2>&1 || { echo \"missing $PATH\"; exit 0; }\n")
                    .raw("e=$(LC_ALL=C dpkg --get-selections \"$p\" 2>&1 >/dev/null); o=$(LC_ALL=C dpkg --get-selections \"$p\" 2>/dev/null)\n")
                    .raw("case $e in *'no packages found matching'*) echo nomatch;; esac\necho \"out $o\""),
            )],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &SelArgs, seen: &Observed) -> Outcome<()> {
        let text = seen.section("sel");
        if let Some(f) = Failure::missing_program(text, "dpkg") {
            return Outcome::Fail(f);
        }
        if text.lines().any(|l| l == "nomatch") {
            return Outcome::Fail(Failure::new(format!(
                "Failed to find package '{}' to perform selection '{}'.",
                a.name, a.selection
            )));
        }
        let out = text
            .lines()
            .find_map(|l| l.strip_prefix("out"))
            .unwrap_or_default();
        let current = out
            .split_whitespace()
            .nth(1)
            .unwrap_or("not present")
            .to_string();
        let report = Plan::unchanged()
            .with_value("before", current.as_str())
            .with_value("after", a.selection.as_str());
        if current == a.selection {
            return Outcome::Unchanged(report);
        }
        Outcome::change((), report)
    }

    fn apply(&self, a: &SelArgs, _c: &()) -> Vec<Step> {
        vec![Step::Exec {
            script: Script::new().raw("LC_ALL=C dpkg --set-selections"),
            stdin: Some(format!("{} {}", a.name, a.selection).into_bytes()),
        }]
    }

    fn finish(&self, _a: &SelArgs, _c: &(), done: &Done, mut r: Plan) -> Plan {
        let out = &done.outputs[0];
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(out.stderr_str().trim().to_string());
        }
        r
    }
}
