//! `debconf`: a package's debconf answers read (`debconf-show`) and one set
//! (`debconf-set-selections`, the line on its standard input, so no value is shell code), as
//! Ansible's module compares them: booleans without case, multiselect lists sorted, passwords
//! read with `debconf-get-selections`. Results: `current`, `previous`, `msg`, and the diff
//! of the answers.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::value::ValueKind;
use minijinja::Value;

pub struct Debconf;

static SPEC: Spec = Spec {
    args: &["name", "question", "vtype", "value", "unseen"],
    aliases: &[
        ("pkg", "name"),
        ("selection", "question"),
        ("setting", "question"),
        ("answer", "value"),
    ],
    free_form: None,
    any_args: false,
    file_args: false,
};

const VTYPES: &[&str] = &[
    "boolean",
    "error",
    "multiselect",
    "note",
    "password",
    "seen",
    "select",
    "string",
    "text",
    "title",
];

/// The answer asked for.
enum Answer {
    Text(String),
    /// A multiselect list (its items as given).
    List(Vec<Value>),
}

pub struct DcArgs {
    pkg: String,
    question: Option<(String, String, Answer)>,
    unseen: bool,
}

/// The line for `debconf-set-selections`.
#[derive(Debug)]
pub struct DcChange {
    line: String,
}

/// A scalar as Python's `str()` shows it (`True`, `5`).
fn text(v: &Value) -> String {
    match v.kind() {
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::None | ValueKind::Undefined => "None".into(),
        _ => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

/// A multiselect list's items as strings, or Python's complaint about a mixed list.
fn items(list: &[Value], what: &str) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        match v.as_str() {
            Some(s) => out.push(s.to_string()),
            None => {
                let ty = crate::template::filters_more::type_debug(v);
                return Err(Failure::new(format!(
                    "Invalid value provided for 'multiselect': {}",
                    if what == "sort" {
                        format!("'<' not supported between instances of '{ty}' and 'str'")
                    } else {
                        format!("sequence item {i}: expected str instance, {ty} found")
                    }
                )));
            }
        }
    }
    Ok(out)
}

impl Typed for Debconf {
    type Args = DcArgs;
    type Change = DcChange;

    fn name(&self) -> &'static str {
        "debconf"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<DcArgs> {
        let pkg = args.req_str("name")?;
        let given = ["question", "vtype", "value"].map(|k| args.has(k));
        if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
            return Err(fail(
                "parameters are required together: question, vtype, value",
            ));
        }
        let question = match args.str("question") {
            None => None,
            Some(q) => {
                let vtype = args.choice("vtype", VTYPES, "string")?;
                let v = args.get("value").cloned().unwrap_or_default();
                let answer = match v.kind() {
                    ValueKind::Seq => Answer::List(v.try_iter()?.collect()),
                    ValueKind::None | ValueKind::Undefined => {
                        return Err(fail(
                            "when supplying a question you must supply a valid vtype and value",
                        ))
                    }
                    _ => Answer::Text(text(&v)),
                };
                Some((q, vtype, answer))
            }
        };
        Ok(DcArgs {
            pkg,
            question,
            unseen: args.bool_or("unseen", false)?,
        })
    }

    fn observe(&self, a: &DcArgs) -> Observe {
        let mut sections = vec![(
            "show",
            Script::new()
                .set("p", &a.pkg)
                .raw("command -v debconf-show >/dev/null 2>&1 || { echo \"missing debconf-show $PATH\"; exit 0; }\ndebconf-show \"$p\" 2>&1 | sed 's/^/s /'"),
        )];
        if matches!(&a.question, Some((_, t, _)) if t == "password") {
            sections.push((
                "getsel",
                Script::new()
                    .set("p", &a.pkg)
                    .raw("command -v debconf-get-selections >/dev/null 2>&1 || { echo \"missing debconf-get-selections $PATH\"; exit 0; }\ndebconf-get-selections 2>/dev/null | awk -v p=\"$p\" 'index($0, p) == 1' | sed 's/^/g /'"),
            ));
        }
        Observe {
            sections,
            ..Observe::default()
        }
    }

    fn decide(&self, a: &DcArgs, seen: &Observed) -> Outcome<DcChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &DcArgs, c: &DcChange) -> Vec<Step> {
        let mut s = Script::new().raw("debconf-set-selections");
        if a.unseen {
            s = s.raw(" -u");
        }
        vec![Step::Exec {
            script: s,
            stdin: Some(c.line.clone().into_bytes()),
        }]
    }

    fn finish(&self, _a: &DcArgs, _c: &DcChange, done: &Done, mut r: Plan) -> Plan {
        let out = &done.outputs[0];
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(out.stderr_str().to_string());
        } else {
            r.msg = Some(out.stdout_str().to_string());
        }
        r
    }
}

/// `missing NAME PATH`: Ansible's `get_bin_path` failure.
fn missing(section: &str) -> Option<Failure> {
    let rest = section.lines().find_map(|l| l.strip_prefix("missing "))?;
    let (bin, path) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(Failure::new(format!(
        "Failed to find required executable \"{bin}\" in paths: {path}"
    )))
}

fn decide(a: &DcArgs, seen: &Observed) -> Result<Outcome<DcChange>, Failure> {
    let show = seen.section("show");
    if let Some(f) = missing(show) {
        return Err(f);
    }
    if seen.codes.get("show").copied().unwrap_or(0) != 0 {
        return Err(Failure::new(show.replace("s ", "")));
    }
    // Ansible's `get_selections`: `question: value` lines, the `*` of seen ones dropped.
    let mut prev: Vec<(String, String)> = Vec::new();
    for line in show.lines().filter_map(|l| l.strip_prefix("s ")) {
        let (k, v) = line.split_once(':').unwrap_or((line, ""));
        prev.push((
            k.trim().trim_matches('*').trim().to_string(),
            v.trim().to_string(),
        ));
    }
    let as_map = |pairs: &[(String, String)]| {
        crate::vars::map_value(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str()))),
        )
    };
    let plan = Plan::unchanged().with_value("msg", "");
    let Some((q, vtype, answer)) = &a.question else {
        return Ok(Outcome::Unchanged(
            plan.with_value("current", as_map(&prev)),
        ));
    };
    let existing = prev.iter().find(|(k, _)| k == q).map(|(_, v)| v.clone());
    // The value as it is set, and whether it differs from the one there.
    let (value, differs) = match (answer, existing) {
        (Answer::List(list), None) => (items(list, "join")?.join(", "), true),
        (Answer::List(list), Some(old)) if vtype == "multiselect" => {
            let mut want = items(list, "sort")?;
            want.sort();
            let mut have: Vec<String> = old.split(',').map(|i| i.trim().to_string()).collect();
            have.sort();
            (want.join(", "), want != have)
        }
        (Answer::List(list), Some(_)) => (items(list, "join")?.join(", "), true),
        (Answer::Text(t), existing) => {
            let t = if vtype == "boolean" {
                t.to_lowercase()
            } else {
                t.clone()
            };
            let old = match (existing, vtype.as_str()) {
                (None, _) => None,
                (Some(e), "boolean") => Some(e.to_lowercase()),
                (Some(_), "password") => {
                    let sel = seen.section("getsel");
                    if let Some(f) = missing(sel) {
                        return Err(f);
                    }
                    password(sel, &a.pkg, q, vtype)
                }
                (Some(e), _) => Some(e),
            };
            let differs = old.as_deref() != Some(t.as_str());
            (t, differs)
        }
    };
    if !differs {
        return Ok(Outcome::Unchanged(
            plan.with_value("current", as_map(&prev)),
        ));
    }
    // As Ansible's: `previous` is the question's old answer, or every answer and the
    // question's empty one when it had none; the diff's after side is that with the new one.
    let before: Vec<(String, String)> = match prev.iter().find(|(k, _)| k == q) {
        Some(old) => vec![old.clone()],
        None => {
            let mut all = prev.clone();
            all.push((q.clone(), String::new()));
            all
        }
    };
    let mut after_all = before.clone();
    for (k, v) in after_all.iter_mut() {
        if k == q {
            *v = value.clone();
        }
    }
    let after = [(q.clone(), value.clone())];
    let mut report = plan
        .with_value("current", as_map(&after))
        .with_value("previous", as_map(&before));
    report.diff_value = Some(crate::vars::map_value([
        ("before".to_string(), as_map(&before)),
        ("after".to_string(), as_map(&after_all)),
    ]));
    report.plain_diff = Some(crate::vars::map_value(Vec::<(String, Value)>::new()));
    let json = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect()
    };
    report = report.with_diff(super::fileops::dict_diff(&json(&before), &json(&after_all)));
    Ok(Outcome::change(
        DcChange {
            line: format!("{} {q} {vtype} {value}", a.pkg),
        },
        report,
    ))
}

/// Ansible's `get_password_value`: the first line of the package whose question and type
/// match (a line without a value is an empty password).
fn password(sel: &str, pkg: &str, question: &str, vtype: &str) -> Option<String> {
    for line in sel.lines().filter_map(|l| l.strip_prefix("g ")) {
        if !line.starts_with(pkg) {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() <= 3 {
            return Some(String::new());
        }
        if f[1] == question && f[2] == vtype {
            return Some(f[3].to_string());
        }
    }
    None
}
