//! `community.general.pam_limits`: one `domain type item value` line of
//! `/etc/security/limits.conf` (or `dest`), found and replaced as Ansible's module does
//! (`use_max`/`use_min` keep the larger or smaller limit, every line's value checked), written
//! with the in-place edit of `fileops::TextEdit`. The result carries `msg` (the line) and
//! the `diff` whatever the mode, as Ansible's.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::fileops::{DiffStyle, EditChange, TextEdit};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

pub struct PamLimits;

static SPEC: Spec = Spec {
    args: &[
        "domain",
        "limit_type",
        "limit_item",
        "value",
        "use_max",
        "use_min",
        "backup",
        "dest",
        "comment",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

const ITEMS: &[&str] = &[
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "maxlogins",
    "maxsyslogins",
    "priority",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "chroot",
];

pub struct PlArgs {
    domain: String,
    ltype: String,
    item: String,
    value: String,
    use_max: bool,
    use_min: bool,
    comment: String,
    file: TextEdit,
}

/// Python's `repr` of a text.
fn repr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Ansible's `_assert_is_valid_value`.
fn check_value(item: &str, value: &str, prefix: &str) -> Result<(), Failure> {
    if item == "nice" || item == "priority" {
        let ok = value
            .trim()
            .parse::<i64>()
            .is_ok_and(|n| (-20..=19).contains(&n));
        if !ok {
            return Err(Failure::new(format!("{prefix} Value of {} for item {} is invalid. Value must be a number in the range -20 to 19 inclusive. Refer to the limits.conf(5) manual pages for more details.", repr(value), repr(item))));
        }
    } else if !(["unlimited", "infinity", "-1"].contains(&value)
        || (!value.is_empty() && value.chars().all(|c| c.is_ascii_digit())))
    {
        return Err(Failure::new(format!("{prefix} Value of {} for item {} is invalid. Value must either be 'unlimited', 'infinity' or -1, all of which indicate no limit, or a limit of 0 or larger. Refer to the limits.conf(5) manual pages for more details.", repr(value), repr(item))));
    }
    Ok(())
}

impl Typed for PamLimits {
    type Args = PlArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "pam_limits"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<PlArgs> {
        let ltype = args.choice("limit_type", &["soft", "hard", "-"], "")?;
        let item = args.choice("limit_item", ITEMS, "")?;
        for k in ["domain", "limit_type", "limit_item", "value"] {
            if !args.has(k) {
                return Err(fail(format!("missing required arguments: {k}")));
            }
        }
        let (use_max, use_min) = (
            args.bool_or("use_max", false)?,
            args.bool_or("use_min", false)?,
        );
        if use_max && use_min {
            return Err(fail("Cannot use use_min and use_max at the same time."));
        }
        if args.bool_or("backup", false)? {
            return Err(fail(
                "pam_limits' `backup` is not implemented by drover yet",
            ));
        }
        let path = host.expand_path(
            &args
                .str("dest")
                .unwrap_or_else(|| "/etc/security/limits.conf".into()),
        )?;
        Ok(PlArgs {
            domain: args.req_str("domain")?,
            ltype,
            item,
            value: args.req_str("value")?,
            use_max,
            use_min,
            comment: args.str("comment").unwrap_or_default(),
            file: TextEdit {
                path,
                diff: DiffStyle::Single,
                follow: true,
                ..TextEdit::default()
            },
        })
    }

    fn observe(&self, a: &PlArgs) -> Observe {
        let mut o = a.file.observe();
        o.sections.push((
            "dir",
            Script::new()
                .set("p", &a.file.path)
                .raw("d=$(dirname -- \"$p\"); if [ -e \"$p\" ]; then [ -w \"$p\" ] || echo unwritable; elif ! [ -d \"$d\" ] || ! [ -w \"$d\" ]; then echo \"nodir $d\"; fi"),
        ));
        o
    }

    fn decide(&self, a: &PlArgs, seen: &Observed) -> Outcome<EditChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &PlArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(&self, _a: &PlArgs, _c: &EditChange, done: &Done, r: Plan) -> Plan {
        super::fileops::content_finish(done, r)
    }
}

fn decide(a: &PlArgs, seen: &Observed) -> Result<Outcome<EditChange>, Failure> {
    let dir = seen.section("dir");
    if dir.trim() == "unwritable" {
        return Err(Failure::new(format!(
            "{} is not writable. Use sudo",
            a.file.path
        )));
    }
    if let Some(d) = dir.lines().find_map(|l| l.strip_prefix("nodir ")) {
        return Err(Failure::new(format!(
            "directory {d} is not writable (check presence, access rights, use sudo)"
        )));
    }
    check_value(&a.item, &a.value, "")?;
    let cur = a.file.current(seen)?;
    let before = String::from_utf8_lossy(&cur.content).into_owned();
    let unlimited = |v: &str| ["unlimited", "infinity", "-1"].contains(&v);
    let mut out = String::new();
    let mut message = String::new();
    let mut found = false;
    let mut new_value = a.value.clone();
    for line in before.split_inclusive('\n') {
        if line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let squeezed = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if squeezed.is_empty() {
            out.push_str(line);
            continue;
        }
        let fields_text = squeezed.split('#').next().unwrap_or_default().trim_end();
        let f: Vec<&str> = fields_text.split(' ').collect();
        if f.len() != 4 {
            out.push_str(line);
            continue;
        }
        check_value(
            f[2],
            f[3],
            &format!("Invalid configuration found in '{}'.", a.file.path),
        )?;
        if !(f[0] == a.domain && f[1] == a.ltype && f[2] == a.item) {
            out.push_str(line);
            continue;
        }
        found = true;
        // The task's comment, else the line's own (without its line end).
        let mut comment = if a.comment.is_empty() {
            line.split_once('#')
                .map(|(_, c)| c.trim_end_matches(['\r', '\n']).to_string())
                .unwrap_or_default()
        } else {
            a.comment.clone()
        };
        let actual = f[3];
        if a.value == actual {
            message = line.to_string();
            out.push_str(line);
            continue;
        }
        let num = |v: &str| v.parse::<i64>().unwrap_or(0);
        if a.use_max {
            new_value = if unlimited(actual) {
                actual.to_string()
            } else if unlimited(&a.value) {
                a.value.clone()
            } else {
                num(&a.value).max(num(actual)).to_string()
            };
        }
        if a.use_min {
            new_value = match (unlimited(actual), unlimited(&a.value)) {
                (true, true) => actual.to_string(),
                (true, false) => a.value.clone(),
                (false, true) => actual.to_string(),
                _ => num(&a.value).min(num(actual)).to_string(),
            };
        }
        if new_value != actual {
            if !comment.is_empty() {
                comment = format!("\t#{comment}");
            }
            let l = format!(
                "{}\t{}\t{}\t{new_value}{comment}\n",
                a.domain, a.ltype, a.item
            );
            message = l.clone();
            out.push_str(&l);
        } else {
            message = line.to_string();
            out.push_str(line);
        }
    }
    if !found {
        let comment = if a.comment.is_empty() {
            String::new()
        } else {
            format!("\t#{}", a.comment)
        };
        let l = format!(
            "{}\t{}\t{}\t{new_value}{comment}\n",
            a.domain, a.ltype, a.item
        );
        message = l.clone();
        out.push_str(&l);
    }
    let after = out;
    let report = Plan::unchanged();
    // A missing file is created, even when its content would be empty.
    let new = (after != before || !cur.exists).then(|| after.clone().into_bytes());
    let out = a.file.outcome(seen, &cur, new, String::new(), report)?;
    Ok(out.map_report(|mut r| {
        r.msg = Some(message.clone());
        r.diff_value = Some(crate::vars::map_value([
            ("before".to_string(), Value::from(before.as_str())),
            ("after".to_string(), Value::from(after.as_str())),
        ]));
        r.diff_always = true;
        r
    }))
}
