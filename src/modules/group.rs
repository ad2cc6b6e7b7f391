//! `group`: ensure a local group is present (with a gid) or absent. One `getent group` probes
//! the host; `decide` (pure, table-tested) turns desired and observed state into the
//! `groupadd`/`groupmod`/`groupdel` argv that `apply` runs.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;

pub struct Group;

static SPEC: Spec = Spec {
    args: &[
        "name",
        "state",
        "gid",
        "system",
        "non_unique",
        "force",
        "local",
        "gid_min",
        "gid_max",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// A group as `getent group` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses one `getent group` line (`name:x:gid:a,b`).
pub fn parse_group(line: &str) -> Option<GroupEntry> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() < 4 {
        return None;
    }
    Some(GroupEntry {
        name: f[0].to_string(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// What the task asks for.
#[derive(Clone, Debug, Default)]
pub struct GroupWant {
    pub name: String,
    pub present: bool,
    pub gid: Option<u32>,
    pub system: bool,
    pub non_unique: bool,
    pub force: bool,
    pub gid_min: Option<u32>,
    pub gid_max: Option<u32>,
    /// `local: true`: libuser's `lgroupadd`/`lgroupmod`/`lgroupdel`, as Ansible's module.
    pub local: bool,
}

/// The command that brings `observed` to `want`, or `None` when nothing changes.
pub fn decide(want: &GroupWant, observed: Option<&GroupEntry>) -> Option<Vec<String>> {
    let mut argv: Vec<String> = Vec::new();
    match (want.present, observed) {
        (true, None) => {
            argv.push(if want.local { "lgroupadd" } else { "groupadd" }.into());
            if let Some(g) = want.gid {
                argv.extend(["-g".into(), g.to_string()]);
                if want.non_unique {
                    argv.push("-o".into());
                }
            }
            if want.system {
                argv.push("-r".into());
            }
            if let Some(m) = want.gid_min {
                argv.extend(["-K".into(), format!("GID_MIN={m}")]);
            }
            if let Some(m) = want.gid_max {
                argv.extend(["-K".into(), format!("GID_MAX={m}")]);
            }
        }
        (true, Some(cur)) => {
            let g = want.gid.filter(|g| *g != cur.gid)?;
            let tool = if want.local { "lgroupmod" } else { "groupmod" };
            argv.extend([tool.into(), "-g".into(), g.to_string()]);
            if want.non_unique {
                argv.push("-o".into());
            }
        }
        (false, Some(_)) => {
            argv.push(if want.local { "lgroupdel" } else { "groupdel" }.into());
            if want.force {
                argv.push("-f".into());
            }
        }
        (false, None) => return None,
    }
    argv.push(want.name.clone());
    Some(argv)
}

fn uint(args: &Args, key: &str) -> Result<Option<u32>> {
    match args.int(key)? {
        None => Ok(None),
        Some(i) => u32::try_from(i).map(Some).map_err(|_| {
            fail(format!(
                "argument `{key}` must be a non-negative id, not {i}"
            ))
        }),
    }
}

fn want_from(args: &Args) -> Result<GroupWant> {
    let local = args.bool_or("local", false)?;
    if local {
        for arg in ["gid_min", "gid_max"] {
            if args.has(arg) {
                return Err(fail(format!("'{arg}' can not be used with 'local'")));
            }
        }
        if args.bool_or("force", false)? {
            return Err(fail("force is not a valid option for local, force=True and local=True are mutually exclusive"));
        }
    }
    let name = args.req_str("name")?;
    super::names::check_account("group", &name)?;
    Ok(GroupWant {
        name,
        present: args.choice("state", &["present", "absent"], "present")? == "present",
        gid: uint(args, "gid")?,
        system: args.bool_or("system", false)?,
        non_unique: args.bool_or("non_unique", false)?,
        force: args.bool_or("force", false)?,
        gid_min: uint(args, "gid_min")?,
        gid_max: uint(args, "gid_max")?,
        local,
    })
}

/// The `getent group` lookup of one name, as a section.
fn lookup_script(name: &str) -> Script {
    Script::new().cmd("getent group --", [name])
}

/// The entry of `getent group`'s answer, if it is the group `name` (`getent group 1000`
/// finds gid 1000: only an entry of that name is this group).
fn entry_named(answer: &str, name: &str) -> Option<GroupEntry> {
    answer
        .lines()
        .next()
        .and_then(parse_group)
        .filter(|g| g.name == name)
}

/// The group's entry from the lookup section: `None` when it does not exist.
fn looked_up(seen: &Observed, section: &str, name: &str) -> Result<Option<GroupEntry>, Failure> {
    match seen.code(section) {
        Some(0) => Ok(entry_named(seen.section(section), name)),
        Some(2) => Ok(None),
        rc => Err(Failure::new(format!(
            "getent group {name} failed (rc={}): {}",
            rc.unwrap_or(-1),
            seen.stderr.trim()
        ))),
    }
}

impl Typed for Group {
    type Args = GroupWant;
    type Change = Vec<String>;

    fn name(&self) -> &'static str {
        "group"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<GroupWant> {
        let want = want_from(args)?;
        if want.non_unique && want.gid.is_none() {
            return Err(fail("non_unique requires gid"));
        }
        Ok(want)
    }

    fn observe(&self, want: &GroupWant) -> Observe {
        let mut sections = vec![("group", lookup_script(&want.name))];
        if let (true, Some(g)) = (want.local, want.gid) {
            // libuser's tools take a gid another group has: Ansible's module checks first.
            sections.push(("bygid", lookup_script(&g.to_string())));
        }
        Observe {
            sections,
            remember: vec![("group", "group", want.name.clone())],
            ..Observe::default()
        }
    }

    fn decide(&self, want: &GroupWant, seen: &Observed) -> Outcome<Vec<String>> {
        let cur = match looked_up(seen, "group", &want.name) {
            Ok(c) => c,
            Err(f) => return Outcome::Fail(f),
        };
        if let (true, Some(g)) = (want.local && want.present, want.gid) {
            let other = seen
                .section("bygid")
                .lines()
                .next()
                .and_then(parse_group)
                .filter(|e| e.gid == g && e.name != want.name);
            if let Some(e) = other {
                return Outcome::Fail(Failure::new(format!(
                    "GID '{g}' already exists with group '{}'",
                    e.name
                )));
            }
        }
        let mut report = Plan::unchanged()
            .with_value("name", want.name.as_str())
            .with_value("state", if want.present { "present" } else { "absent" });
        if want.present {
            report = report.with_value("system", want.system);
            if let Some(g) = want.gid.or(cur.as_ref().map(|c| c.gid)) {
                report = report.with_value("gid", g);
            }
        }
        match decide(want, cur.as_ref()) {
            Some(argv) => Outcome::change(argv, report),
            None => Outcome::Unchanged(report),
        }
    }

    /// The command, then the lookup that tells the gid it gave.
    fn apply(&self, want: &GroupWant, argv: &Vec<String>) -> Vec<Step> {
        vec![
            Step::Exec {
                script: Script::new().argv(argv),
                stdin: None,
            },
            Step::Exec {
                script: lookup_script(&want.name),
                stdin: None,
            },
        ]
    }

    fn finish(&self, want: &GroupWant, argv: &Vec<String>, done: &Done, report: Plan) -> Plan {
        let out = &done.outputs[0];
        if out.rc != 0 {
            return Plan::fail(format!(
                "{} failed (rc={}): {}",
                argv[0],
                out.rc,
                out.stderr_str().trim()
            ));
        }
        let after = &done.outputs[1];
        let entry = (after.rc == 0)
            .then(|| entry_named(&after.stdout_str(), &want.name))
            .flatten();
        match entry {
            Some(g) => report.with_value("gid", g.gid),
            None => report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::fileops::testing::show;
    use crate::shell::join;

    fn entry(gid: u32) -> GroupEntry {
        GroupEntry {
            name: "web".into(),
            gid,
            members: vec![],
        }
    }

    #[test]
    fn parses_getent_lines() {
        assert_eq!(
            parse_group("web:x:1001:alice,bob\n"),
            Some(GroupEntry {
                name: "web".into(),
                gid: 1001,
                members: vec!["alice".into(), "bob".into()]
            })
        );
        assert_eq!(parse_group("web:x:1001:").map(|g| g.members.len()), Some(0));
        assert_eq!(parse_group("garbage"), None);
    }

    #[test]
    fn decide_table() {
        let base = GroupWant {
            name: "web".into(),
            present: true,
            ..GroupWant::default()
        };
        let cases: Vec<(GroupWant, Option<GroupEntry>, Option<&str>)> = vec![
            (base.clone(), None, Some("groupadd web")),
            (
                GroupWant {
                    gid: Some(2000),
                    local: true,
                    ..base.clone()
                },
                None,
                Some("lgroupadd -g 2000 web"),
            ),
            (
                GroupWant {
                    gid: Some(2000),
                    local: true,
                    ..base.clone()
                },
                Some(entry(1001)),
                Some("lgroupmod -g 2000 web"),
            ),
            (
                GroupWant {
                    gid: Some(2000),
                    system: true,
                    ..base.clone()
                },
                None,
                Some("groupadd -g 2000 -r web"),
            ),
            (
                GroupWant {
                    gid: Some(2000),
                    non_unique: true,
                    ..base.clone()
                },
                None,
                Some("groupadd -g 2000 -o web"),
            ),
            (base.clone(), Some(entry(1001)), None),
            (
                GroupWant {
                    gid: Some(1001),
                    ..base.clone()
                },
                Some(entry(1001)),
                None,
            ),
            (
                GroupWant {
                    gid: Some(2000),
                    ..base.clone()
                },
                Some(entry(1001)),
                Some("groupmod -g 2000 web"),
            ),
            (
                GroupWant {
                    present: false,
                    ..base.clone()
                },
                Some(entry(1001)),
                Some("groupdel web"),
            ),
            (
                GroupWant {
                    present: false,
                    force: true,
                    ..base.clone()
                },
                Some(entry(1001)),
                Some("groupdel -f web"),
            ),
            (
                GroupWant {
                    present: false,
                    ..base.clone()
                },
                None,
                None,
            ),
        ];
        for (want, obs, expect) in cases {
            let got = decide(&want, obs.as_ref()).map(|a| show(&a));
            assert_eq!(got.as_deref(), expect, "{want:?} {obs:?}");
        }
    }

    #[test]
    fn hostile_names_stay_one_word() {
        let want = GroupWant {
            name: "a b;rm".into(),
            present: true,
            ..GroupWant::default()
        };
        assert_eq!(
            decide(&want, None).map(|a| join(&a)).as_deref(),
            Some("groupadd 'a b;rm'")
        );
    }
}
