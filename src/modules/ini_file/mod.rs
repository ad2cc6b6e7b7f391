//! `community.general.ini_file` (also `ini_file` by its short name): an option of a section
//! of an INI file set, added, or removed, or a section removed, by the collection's algorithm
//! (`edit.rs`). The file's look, attributes, atomic write and backup are `fileops::TextEdit`'s.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::{path_info, resolve_mode, DiffStyle, EditChange, TextEdit};
use super::{Args, Plan, Spec};
use anyhow::Result;

mod edit;

use super::fileops::fail;
use edit::{read_lines, IniEdit};

pub struct IniFile;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "section",
        "section_has_values",
        "option",
        "value",
        "values",
        "backup",
        "state",
        "exclusive",
        "no_extra_spaces",
        "ignore_spaces",
        "allow_no_value",
        "modify_inactive_option",
        "create",
        "follow",
    ],
    aliases: &[("dest", "path"), ("key", "option")],
    free_form: None,
    any_args: false,
    file_args: true,
};

pub struct IniArgs {
    file: TextEdit,
    edit: IniEdit,
    create: bool,
}

impl Typed for IniFile {
    type Args = IniArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "ini_file"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<IniArgs> {
        let path = host.expand_path(&args.req_str("path")?)?;
        let present = args.choice("state", &["absent", "present"], "present")? == "present";
        if args.has("value") && args.has("values") {
            return Err(fail("parameters are mutually exclusive: value|values"));
        }
        let allow_no_value = args.bool_or("allow_no_value", false)?;
        let values = match args.str("value") {
            Some(v) => vec![v],
            None => args.list_untrimmed("values"),
        };
        if present && !allow_no_value && !args.has("value") && values.is_empty() {
            return Err(fail(
                "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
            ));
        }
        let mut has_values = Vec::new();
        if let Some(list) = args.get("section_has_values") {
            for c in list.try_iter()? {
                let get = |k: &str| {
                    c.get_attr(k)
                        .ok()
                        .filter(|v| !v.is_undefined() && !v.is_none())
                };
                let option = get("option")
                    .map(|v| v.to_string())
                    .ok_or_else(|| fail("section_has_values: option is required"))?;
                let vals: Vec<String> = match (get("value"), get("values")) {
                    (Some(v), _) => vec![v.to_string()],
                    (None, Some(vs)) => vs.try_iter()?.map(|v| v.to_string()).collect(),
                    (None, None) => Vec::new(),
                };
                has_values.push((option, vals));
            }
        }
        Ok(IniArgs {
            file: TextEdit::from_args(
                args,
                path,
                DiffStyle::SingleContent,
                args.bool_or("follow", false)?,
            )?,
            edit: IniEdit {
                section: args.str("section"),
                has_values,
                option: args.str("option"),
                values,
                present,
                exclusive: args.bool_or("exclusive", true)?,
                no_extra_spaces: args.bool_or("no_extra_spaces", false)?,
                ignore_spaces: args.bool_or("ignore_spaces", false)?,
                allow_no_value,
                modify_inactive_option: args.bool_or("modify_inactive_option", true)?,
            },
            create: args.bool_or("create", true)?,
        })
    }

    fn observe(&self, a: &IniArgs) -> Observe {
        a.file.observe()
    }

    fn decide(&self, a: &IniArgs, seen: &Observed) -> Outcome<EditChange> {
        let cur = match a.file.current(seen) {
            Ok(c) => c,
            Err(f) => return Outcome::Fail(f),
        };
        if !cur.exists && !a.create {
            return Outcome::Fail(
                Failure::new(format!("Destination {} does not exist!", a.file.path))
                    .with("rc", 257),
            );
        }
        let lines = read_lines(&String::from_utf8_lossy(&cur.content));
        let (new, changed, msg) = a.edit.apply(lines);
        let after = new.concat().into_bytes();
        let size = after.len();
        let write = (changed && (after != cur.content || !cur.exists)).then_some(after);
        let st = &seen.files.states[1];
        let mut report = Plan::unchanged().with_value("path", a.file.path.as_str());
        // The file as the task leaves it (Ansible's add_path_info after the write).
        if st.exists {
            let mut after_st = st.clone();
            after_st.size = size as u64;
            if let Some(m) = &a.file.mode {
                if let Ok(mode) = resolve_mode(m, st.perm(), false, seen.files.umask) {
                    after_st.st_mode = (st.st_mode & !0o7777) | mode;
                }
            }
            for (k, v) in path_info(&after_st) {
                report = report.with_value(&k, v);
            }
        }
        // The module's own message, whatever the attributes did.
        let msg = msg.to_string();
        match a.file.outcome(seen, &cur, write, msg.clone(), report) {
            Ok(o) => o.map_report(|mut p| {
                p.msg = Some(msg.clone());
                p
            }),
            Err(f) => Outcome::Fail(f),
        }
    }

    fn apply(&self, _a: &IniArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(&self, _a: &IniArgs, _c: &EditChange, done: &Done, r: Plan) -> Plan {
        super::fileops::content_finish(done, r)
    }
}
