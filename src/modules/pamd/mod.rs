//! `community.general.pamd`: a rule of a PAM service file (`/etc/pam.d/NAME`) updated,
//! inserted before or after another, removed, or given or stripped of arguments, as
//! Ansible's module edits the file (`service`), written with the in-place edit of
//! `fileops::TextEdit` and its `# Updated by Ansible` line. Results: `change_count`,
//! `backupdest`.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::{DiffStyle, EditChange, TextEdit};
use super::{Args, Plan, Spec};
use anyhow::Result;

mod service;
use super::fileops::fail;
use service::{find, neighbour, parse, parse_args, render, validate, Line, Rule, TYPES};

pub struct Pamd;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "type",
        "control",
        "module_path",
        "new_type",
        "new_control",
        "new_module_path",
        "module_arguments",
        "state",
        "path",
        "backup",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct PamdArgs {
    rtype: String,
    control: String,
    path: String,
    new_type: Option<String>,
    new_control: Option<String>,
    new_path: Option<String>,
    args: Option<Vec<String>>,
    state: String,
    file: TextEdit,
}

impl Typed for Pamd {
    type Args = PamdArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "pamd"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<PamdArgs> {
        for k in ["name", "type", "control", "module_path"] {
            if !args.has(k) {
                return Err(fail(format!("missing required arguments: {k}")));
            }
        }
        let rtype = args.choice("type", TYPES, "")?;
        let new_type = match args.str("new_type") {
            None => None,
            Some(_) => Some(args.choice("new_type", TYPES, "")?),
        };
        let state = args.choice(
            "state",
            &[
                "absent",
                "after",
                "args_absent",
                "args_present",
                "before",
                "updated",
            ],
            "updated",
        )?;
        let margs = args
            .has("module_arguments")
            .then(|| args.list("module_arguments"));
        let need: &[&str] = match state.as_str() {
            "args_present" | "args_absent" => &["module_arguments"],
            "before" | "after" => &["new_control", "new_type", "new_module_path"],
            _ => &[],
        };
        let missing: Vec<&str> = need.iter().copied().filter(|k| !args.has(k)).collect();
        if !missing.is_empty() {
            return Err(fail(format!(
                "state is {state} but all of the following are missing: {}",
                missing.join(", ")
            )));
        }
        let dir = host.expand_path(&args.str("path").unwrap_or_else(|| "/etc/pam.d".into()))?;
        let name = args.req_str("name")?;
        Ok(PamdArgs {
            rtype,
            control: args.req_str("control")?,
            path: args.req_str("module_path")?,
            new_type,
            new_control: args.str("new_control"),
            new_path: args.str("new_module_path"),
            args: margs,
            state,
            file: TextEdit {
                path: format!("{}/{name}", dir.trim_end_matches('/')),
                backup: args.bool_or("backup", false)?,
                diff: DiffStyle::Single,
                follow: true,
                ..TextEdit::default()
            },
        })
    }

    fn observe(&self, a: &PamdArgs) -> Observe {
        a.file.observe()
    }

    fn decide(&self, a: &PamdArgs, seen: &Observed) -> Outcome<EditChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &PamdArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(&self, _a: &PamdArgs, _c: &EditChange, done: &Done, r: Plan) -> Plan {
        match done.backup() {
            Some(b) => r.with_value("backupdest", b),
            None => r,
        }
    }
}

/// The edit, as Ansible's `PamdService` methods make it; the number of rules changed.
fn edit(a: &PamdArgs, lines: &mut Vec<Line>) -> Result<usize, Failure> {
    let found = find(lines, &a.rtype, &a.control, &a.path);
    let new_rule = || {
        Rule::new(
            a.new_type.as_deref().unwrap_or_default(),
            a.new_control.as_deref().unwrap_or_default(),
            a.new_path.as_deref().unwrap_or_default(),
            parse_args(a.args.as_deref().unwrap_or_default()),
        )
    };
    let (nt, nc, np) = (
        a.new_type.as_deref().unwrap_or_default(),
        a.new_control.as_deref().unwrap_or_default(),
        a.new_path.as_deref().unwrap_or_default(),
    );
    let mut changes = 0;
    match a.state.as_str() {
        "updated" => {
            let new_args = a.args.as_deref().map(parse_args);
            for i in found {
                let Line::Rule(r) = &mut lines[i] else {
                    continue;
                };
                let before = r.clone();
                if let Some(t) = &a.new_type {
                    r.rtype = t.clone();
                }
                if let Some(c) = &a.new_control {
                    *r = Rule::new(&r.rtype.clone(), c, &r.path.clone(), r.args.clone());
                }
                if let Some(p) = &a.new_path {
                    r.path = p.clone();
                }
                if let Some(args) = &new_args {
                    r.args = args.clone();
                }
                if *r != before {
                    changes += 1;
                }
            }
        }
        "before" | "after" => {
            let after = a.state == "after";
            // From the last, so the indexes of the earlier ones stay right.
            for i in found.into_iter().rev() {
                let near = neighbour(lines, i, after);
                if near.is_some_and(|r| r.matches(nt, nc, np)) {
                    continue;
                }
                lines.insert(if after { i + 1 } else { i }, Line::Rule(new_rule()));
                changes += 1;
            }
        }
        "args_absent" => {
            let gone = parse_args(a.args.as_deref().unwrap_or_default());
            for i in found {
                let Line::Rule(r) = &mut lines[i] else {
                    continue;
                };
                if r.args.iter().any(|x| gone.contains(x)) {
                    r.args.retain(|x| !gone.contains(x));
                    changes += 1;
                }
            }
        }
        "args_present" => {
            let add = parse_args(a.args.as_deref().unwrap_or_default());
            if add.iter().any(|x| x.starts_with('[')) {
                return Err(Failure::new("Unable to process bracketed '[' complex arguments with 'args_present'. Please use 'updated'."));
            }
            for i in found {
                let Line::Rule(r) = &mut lines[i] else {
                    continue;
                };
                let before = r.args.clone();
                for arg in &add {
                    match arg.split_once('=') {
                        None => {
                            if !r.args.contains(arg) {
                                r.args.push(arg.clone());
                            }
                        }
                        Some((k, _)) => {
                            let prefix = format!("{k}=");
                            match r.args.iter().position(|x| x.starts_with(&prefix)) {
                                Some(p) => r.args[p] = arg.clone(),
                                None => r.args.push(arg.clone()),
                            }
                        }
                    }
                }
                if r.args != before {
                    changes += 1;
                }
            }
        }
        _ => {
            // absent
            for i in found.into_iter().rev() {
                lines.remove(i);
                changes += 1;
            }
        }
    }
    Ok(changes)
}

fn decide(a: &PamdArgs, seen: &Observed) -> Result<Outcome<EditChange>, Failure> {
    let cur = a.file.current(seen)?;
    if !cur.exists {
        return Err(Failure::new(format!(
            "Unable to open/read PAM module file {} with error [Errno 2] No such file or directory: '{}'.",
            a.file.path, a.file.path
        )));
    }
    let mut lines = parse(&String::from_utf8_lossy(&cur.content));
    let changes = edit(a, &mut lines)?;
    validate(&lines).map_err(Failure::new)?;
    let report = Plan::unchanged()
        .with_value("change_count", changes)
        .with_value("backupdest", "");
    if changes == 0 {
        return Ok(Outcome::Unchanged(report));
    }
    let now = super::chrono_like_now().replacen(' ', "T", 1);
    let text = render(&lines, &now);
    let out = a
        .file
        .outcome(seen, &cur, Some(text.into_bytes()), String::new(), report)?;
    Ok(out.map_report(|mut r| {
        r.msg = None;
        r
    }))
}
