//! `ansible.posix.sysctl`: a kernel setting in a sysctl file (rewritten as Ansible's module
//! rewrites it: one `key=value` line per key, lines trimmed), set at once with
//! `sysctl -w` (`sysctl_set`) and the file applied with `sysctl -p` (`reload`), as Ansible's
//! module decides (the file's value, then the running one). The file is written with the
//! in-place edit of `fileops::TextEdit`.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::fileops::{DiffStyle, EditChange, TextEdit};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::value::ValueKind;

pub struct Sysctl;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "value",
        "state",
        "reload",
        "sysctl_set",
        "ignoreerrors",
        "sysctl_file",
    ],
    aliases: &[("key", "name"), ("val", "value")],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct SysArgs {
    name: String,
    value: String,
    present: bool,
    reload: bool,
    set: bool,
    ignore: bool,
    file: TextEdit,
}

/// What to run: `sysctl -w`, the file's new text, `sysctl -p`.
#[derive(Debug)]
pub struct SysChange {
    set: bool,
    edit: Option<EditChange>,
    reload: bool,
}

/// Ansible's `_parse_value`: booleans as `1`/`0`, text trimmed.
fn parse_value(v: &minijinja::Value) -> String {
    let s = match v.kind() {
        ValueKind::Bool => return if v.is_true() { "1" } else { "0" }.into(),
        _ => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    };
    match s.to_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" => "1".into(),
        "n" | "no" | "off" | "0" | "false" | "f" => "0".into(),
        _ => s.trim().to_string(),
    }
}

/// The file's lines trimmed, and each key's first value.
fn read_file(text: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut lines = Vec::new();
    let mut values: Vec<(String, String)> = Vec::new();
    for l in text.lines() {
        let l = l.trim().to_string();
        if !(l.is_empty() || l.starts_with(['#', ';']) || !l.contains('=')) {
            let (k, v) = l.split_once('=').unwrap_or_default();
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            match values.iter_mut().find(|(x, _)| *x == k) {
                // Python's dict keeps the last value of a repeated key.
                Some(e) => e.1 = v,
                None => values.push((k, v)),
            }
        }
        lines.push(l);
    }
    (lines, values)
}

impl Typed for Sysctl {
    type Args = SysArgs;
    type Change = SysChange;

    fn name(&self) -> &'static str {
        "sysctl"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<SysArgs> {
        let name = args.req_str("name")?.trim().to_string();
        let present = args.choice("state", &["present", "absent"], "present")? == "present";
        let value = args
            .get("value")
            .filter(|v| !v.is_none() && !v.is_undefined());
        if present && value.is_none() {
            return Err(fail(
                "state is present but all of the following are missing: value",
            ));
        }
        if name.is_empty() {
            return Err(fail("name cannot be blank"));
        }
        let value = value.map(parse_value).unwrap_or_default();
        if present && value.is_empty() {
            return Err(fail("value cannot be blank"));
        }
        let path = host.expand_path(
            &args
                .str("sysctl_file")
                .unwrap_or_else(|| "/etc/sysctl.conf".into()),
        )?;
        Ok(SysArgs {
            name,
            value,
            present,
            reload: args.bool_or("reload", true)?,
            set: args.bool_or("sysctl_set", false)?,
            ignore: args.bool_or("ignoreerrors", false)?,
            file: TextEdit {
                path,
                diff: DiffStyle::Single,
                follow: true,
                ..TextEdit::default()
            },
        })
    }

    fn observe(&self, a: &SysArgs) -> Observe {
        let mut o = a.file.observe();
        o.sections.push((
            "proc",
            Script::new()
                .set("k", &a.name)
                .raw("command -v sysctl >/dev/null 2>&1 || { echo \"missing $PATH\"; exit 0; }\nv=$(LC_ALL=C sysctl -e -n \"$k\" 2>/dev/null) && printf 'value %s\\n' \"$v\""),
        ));
        o
    }

    fn decide(&self, a: &SysArgs, seen: &Observed) -> Outcome<SysChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &SysArgs, c: &SysChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if c.set {
            let mut s = Script::new().raw("LC_ALL=C sysctl");
            if a.ignore {
                s = s.raw(" -e");
            }
            steps.push(Step::Exec {
                script: s.raw(" -w").arg(&format!("{}={}", a.name, a.value)),
                stdin: None,
            });
        }
        if let Some(e) = &c.edit {
            steps.extend(e.steps());
        }
        if c.reload {
            let mut s = Script::new().raw("LC_ALL=C sysctl");
            if a.ignore {
                s = s.raw(" -e");
            }
            steps.push(Step::Exec {
                script: s.raw(" -p").arg(&a.file.path),
                stdin: None,
            });
        }
        steps
    }

    fn finish(&self, a: &SysArgs, c: &SysChange, done: &Done, mut r: Plan) -> Plan {
        // sysctl may fail to set a value and still exit 0: its message says so.
        let refused = regex::Regex::new(
            r#"(?m)^sysctl: setting key "[^"]+": (Invalid argument|Read-only file system)$"#,
        )
        .expect("a valid pattern");
        let mut outs = done.outputs.iter();
        let checks = [
            (c.set, format!("setting {} failed: ", a.name)),
            (c.reload, "Failed to reload sysctl: ".to_string()),
        ];
        for (ran, prefix) in checks {
            if !ran {
                continue;
            }
            let Some(out) = outs.next() else {
                break;
            };
            let err = out.stderr_str();
            if out.rc != 0 || refused.is_match(&err) {
                r.mark_failed(false);
                r.msg = Some(format!("{prefix}{}{err}", out.stdout_str()));
                return r;
            }
        }
        r
    }
}

fn decide(a: &SysArgs, seen: &Observed) -> Result<Outcome<SysChange>, Failure> {
    let proc_text = seen.section("proc");
    if let Some(f) = Failure::missing_program(proc_text, "sysctl") {
        return Err(f);
    }
    let current = proc_text
        .strip_prefix("value ")
        .map(|v| v.trim_end_matches('\n').to_string());
    let same = |x: &str| {
        current
            .as_deref()
            .is_some_and(|c| c.split_whitespace().eq(x.split_whitespace()))
    };
    let cur = a.file.current(seen)?;
    let (lines, values) = read_file(&String::from_utf8_lossy(&cur.content));
    let in_file = values
        .iter()
        .find(|(k, _)| *k == a.name)
        .map(|(_, v)| v.clone());
    let (mut changed, mut write) = (false, false);
    match (&in_file, a.present) {
        (None, true) => (changed, write) = (true, true),
        (None, false) => {}
        (Some(v), false) if !v.is_empty() => (changed, write) = (true, true),
        (Some(v), _) if *v != a.value => (changed, write) = (true, true),
        _ if a.reload => changed = current.is_none() || !same(&a.value),
        _ => {}
    }
    let mut set = false;
    if a.set && a.present {
        if current.is_none() {
            changed = true;
        } else if !same(&a.value) {
            changed = true;
            set = true;
        }
    }
    if !changed {
        return Ok(Outcome::Unchanged(Plan::unchanged()));
    }
    // Ansible's `fix_lines`: each key once (`key=value`), the task's key set or left out.
    let mut fixed: Vec<String> = Vec::new();
    let mut checked: Vec<String> = Vec::new();
    for l in &lines {
        if l.is_empty() || l.starts_with(['#', ';']) || !l.contains('=') {
            fixed.push(l.clone());
            continue;
        }
        let (k, v) = l.split_once('=').unwrap_or_default();
        let (k, v) = (k.trim(), v.trim());
        if checked.iter().any(|c| c == k) {
            continue;
        }
        checked.push(k.to_string());
        if k == a.name {
            if a.present {
                fixed.push(format!("{k}={}", a.value));
            }
        } else {
            fixed.push(format!("{k}={v}"));
        }
    }
    if a.present && !checked.contains(&a.name) {
        fixed.push(format!("{}={}", a.name, a.value));
    }
    let text: String = fixed.iter().map(|l| format!("{}\n", l.trim())).collect();
    let edit = if write {
        match a.file.outcome(
            seen,
            &cur,
            Some(text.into_bytes()),
            String::new(),
            Plan::unchanged(),
        )? {
            Outcome::Change { change, .. } => Some(change),
            _ => None,
        }
    } else {
        None
    };
    Ok(Outcome::change(
        SysChange {
            set,
            edit,
            reload: a.reload,
        },
        Plan::unchanged(),
    ))
}
