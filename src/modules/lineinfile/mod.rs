//! `lineinfile`: ensure one line is present (inserted or replaced) or absent in a text file.
//! The file is read with one `cat`, the new content computed in Rust by Ansible's exact
//! algorithm (`present`/`absent` in `edit.rs`, pure and table-tested), and written atomically
//! only if it differs; owner/group/mode follow Ansible's `check_file_attrs`.

use super::fileops::{
    self, catch, dict_diff, fail, fail_with, AttrChange, AttrWant, DiffMap, Payload, ProbeItem,
    ProbeReq, PutOpts,
};
use super::{Args, Diff, Module, ModuleCtx, Plan, Spec};
use crate::pyre::{Re as Regex, Template};
use anyhow::Result;
use minijinja::Value;

mod edit;

pub use edit::*;

pub struct LineInFile;

static SPEC: Spec = Spec {
    args: &[
        "path",
        "state",
        "regexp",
        "search_string",
        "line",
        "insertafter",
        "insertbefore",
        "create",
        "backrefs",
        "firstmatch",
        "backup",
        "validate",
        "mode",
        "owner",
        "group",
        "unsafe_writes",
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
    ],
    aliases: &[
        ("dest", "path"),
        ("destfile", "path"),
        ("name", "path"),
        ("regex", "regexp"),
        ("value", "line"),
        ("attr", "attributes"),
    ],
    free_form: None,
    any_args: false,
};

/// Compiles a Python-style regular expression (see `pyre`).
fn compile(key: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern, false, false).map_err(|e| {
        fail(format!(
            "invalid `{key}` regular expression `{pattern}`: {e}"
        ))
    })
}

struct Work {
    path: String,
    mkdir: Option<String>,
    write: Option<(Vec<u8>, PutOpts)>,
    attrs: Option<AttrChange>,
}

impl Module for LineInFile {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "lineinfile"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn plan(&self, ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        // An empty `regexp` or `search_string` matches every line: Ansible warns.
        let warning = match (args.str("regexp"), args.str("search_string")) {
            (Some(r), _) if r.is_empty() => Some("The regular expression is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending. If this is desired, use '^' to match every line in the file and avoid this warning."),
            (_, Some(s)) if s.is_empty() => Some("The search string is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending."),
            _ => None,
        };
        let plan = catch(plan(ctx, args))?;
        Ok(match warning {
            Some(w) => plan.with_value("warnings", vec![w]),
            None => plan,
        })
    }

    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        let work: Work = plan.take_work()?;
        if let Some(dir) = &work.mkdir {
            fileops::run_script(
                ctx,
                "creating the parent directory",
                &format!("mkdir -p -- {}", crate::shell::quote(dir)),
            )?;
        }
        let mut backup = None;
        if let Some((data, opts)) = &work.write {
            backup = fileops::put_file(ctx, &work.path, &Payload::Bytes(data.clone()), opts)?;
        }
        if let Some(c) = &work.attrs {
            fileops::run_script(ctx, "setting attributes", &c.script(&work.path, false))?;
        }
        Ok(plan.with_value("backup", backup.unwrap_or_default()))
    }
}

fn plan(ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
    let path = fileops::expand_home(ctx, &args.req_str("path")?)?;
    let state = args.choice("state", &["present", "absent"], "present")?;
    let regexp = args.str("regexp");
    let search = args.str("search_string");
    let line = args.str("line");
    let backrefs = args.bool_or("backrefs", false)?;
    let firstmatch = args.bool_or("firstmatch", false)?;
    let create = args.bool_or("create", false)?;
    let backup = args.bool_or("backup", false)?;
    let ins_after = args.str("insertafter");
    let ins_before = args.str("insertbefore");
    for (a, b) in [
        ("insertbefore", "insertafter"),
        ("regexp", "search_string"),
        ("backrefs", "search_string"),
    ] {
        if args.has(a) && args.has(b) {
            return Err(fail(format!("parameters are mutually exclusive: {a}|{b}")));
        }
    }
    if state == "present" && line.is_none() {
        return Err(fail(
            "state is present but all of the following are missing: line",
        ));
    }
    if backrefs && regexp.is_none() {
        return Err(fail("regexp is required with backrefs=true"));
    }
    if state == "absent" && regexp.is_none() && search.is_none() && line.is_none() {
        return Err(fail(
            "one of line, search_string, or regexp is required with state=absent",
        ));
    }
    let validate = args.str("validate");
    if let Some(v) = &validate {
        if !v.contains("%s") {
            return Err(fail(format!("validate must contain %s: {v}")));
        }
    }

    let req = ProbeReq {
        items: vec![ProbeItem::new(&path, false), ProbeItem::new(&path, true)],
        owner: args.str("owner"),
        group: args.str("group"),
        times: Vec::new(),
    };
    let probe = fileops::probe(ctx, &req)?;
    let want = AttrWant::from_args(args, &probe)?;
    let (lst, st) = (&probe.states[0], &probe.states[1]);
    if st.is_dir() {
        return Err(fail_with(
            format!("Path {path} is a directory !"),
            vec![("rc".into(), Value::from(256))],
        ));
    }
    // Writes go to the link's target, as Ansible writes to realpath(dest).
    let real = match (&lst.link_source, lst.is_link()) {
        (Some(r), true) => r.clone(),
        _ => path.clone(),
    };
    let exists = st.exists;
    if !exists {
        if state == "absent" {
            return Ok(Plan::unchanged()
                .with_msg("file not present")
                .with_value("found", 0)
                .with_value("backup", ""));
        }
        if !create {
            return Err(fail_with(
                format!("Destination {path} does not exist !"),
                vec![("rc".into(), Value::from(257))],
            ));
        }
    }
    let before = if exists {
        fileops::read_file(ctx, &real)?
    } else {
        Vec::new()
    };
    let lines = split_lines(&before);
    let (new_lines, mut changed, mut msg, found) = if state == "present" {
        let anchor = |key: &str, v: &Option<String>, eof_ok: bool| -> Result<Option<Anchor>> {
            Ok(match v.as_deref() {
                None => None,
                Some("BOF") => Some(Anchor::Bof),
                Some("EOF") if eof_ok => Some(Anchor::Eof),
                Some(r) => Some(Anchor::Re(compile(key, r)?)),
            })
        };
        let mut insertafter = anchor("insertafter", &ins_after, true)?;
        let insertbefore = anchor("insertbefore", &ins_before, false)?;
        if insertafter.is_none() && insertbefore.is_none() {
            insertafter = Some(Anchor::Eof);
        }
        let opts = PresentOpts {
            regexp: regexp
                .as_deref()
                .map(|r| compile("regexp", r))
                .transpose()?,
            search_string: search.as_ref().map(|s| s.as_bytes().to_vec()),
            line: line.clone().unwrap_or_default().into_bytes(),
            insertafter,
            insertbefore,
            backrefs,
            firstmatch,
        };
        let (l, c, m) = present(lines, &opts);
        (l, c, m.to_string(), None)
    } else {
        let by = match (&regexp, &search, &line) {
            (Some(r), _, _) => AbsentBy::Re(compile("regexp", r)?),
            (None, Some(s), _) => AbsentBy::Search(s.as_bytes().to_vec()),
            (None, None, l) => AbsentBy::Line(l.clone().unwrap_or_default().into_bytes()),
        };
        let (l, n) = absent(lines, &by);
        let msg = if n > 0 {
            format!("{n} line(s) removed")
        } else {
            String::new()
        };
        (l, n > 0, msg, Some(n))
    };
    let after: Vec<u8> = new_lines.concat();

    // Attributes: those of the file as it will be (a new file starts at 0666 & ~umask).
    let current = if exists {
        st.clone()
    } else {
        let me = AttrWant::default().final_new(&probe, false)?;
        fileops::FileState {
            exists: true,
            st_mode: fileops::S_IFREG | me.mode,
            uid: me.uid,
            gid: me.gid,
            owner: me.owner,
            group: me.group,
            ..fileops::FileState::default()
        }
    };
    let attr_change = want.changes(&current, probe.umask)?;
    if !attr_change.is_empty() {
        if changed {
            msg.push_str(" and ");
        }
        msg.push_str("ownership, perms or SE linux context changed");
    }
    let content_changed = changed;
    changed = changed || !attr_change.is_empty();

    let mut plan = if changed {
        let write = content_changed.then(|| {
            (
                after.clone(),
                // An existing file's attributes are known from the probe: naming them lets
                // the temp file be created with its mode and skips a `chown` to the writer's
                // own ids (instead of copying both from the old file with two processes).
                PutOpts {
                    mode: attr_change
                        .mode
                        .map(|m| m.1)
                        .or(exists.then_some(st.st_mode & 0o7777)),
                    owner: attr_change.owner.map(|o| o.1).or(exists.then_some(st.uid)),
                    group: attr_change.group.map(|g| g.1).or(exists.then_some(st.gid)),
                    backup: backup && exists,
                    validate: validate.clone(),
                },
            )
        });
        let attrs = (!content_changed && !attr_change.is_empty()).then(|| attr_change.clone());
        let parent = fileops::dirname(&real);
        let mkdir = (!exists && !parent.is_empty()).then_some(parent);
        Plan::change(Work {
            path: real.clone(),
            mkdir,
            write,
            attrs,
        })
    } else {
        Plan::unchanged()
    };
    let header = format!("{path} (content)");
    if content_changed {
        plan = plan.with_diff(Diff {
            before_header: header.clone(),
            after_header: header,
            before: String::from_utf8_lossy(&before).into_owned(),
            after: String::from_utf8_lossy(&after).into_owned(),
        });
    }
    if !attr_change.is_empty() {
        let (mut b, mut a) = (DiffMap::new(), DiffMap::new());
        attr_change.add_to(&mut b, &mut a);
        let mut d = dict_diff(&b, &a);
        d.before_header = format!("{path} (file attributes)");
        d.after_header = d.before_header.clone();
        plan = plan.with_diff(d);
    }
    plan = plan.with_msg(msg).with_value("backup", "");
    if let Some(n) = found {
        plan = plan.with_value("found", n);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
