//! `lineinfile`'s arguments: accepted names, and their typed form (`LineArgs`) with the
//! checks Ansible's argument spec makes (mutually exclusive pairs, required-if).

use super::{AbsentBy, Anchor, PresentOpts};
use crate::modules::contract::{Failure, Resolve};
use crate::modules::fileops::{DiffStyle, TextEdit};
use crate::modules::{Args, Spec};
use crate::pyre::Re as Regex;
use anyhow::Result;

pub static SPEC: Spec = Spec {
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
    ],
    aliases: &[
        ("dest", "path"),
        ("destfile", "path"),
        ("name", "path"),
        ("regex", "regexp"),
        ("value", "line"),
    ],
    free_form: None,
    any_args: false,
    file_args: true,
};

/// What to do to the lines.
pub enum Edit {
    Present(Box<PresentOpts>),
    Absent(AbsentBy),
}

impl Edit {
    pub fn is_absent(&self) -> bool {
        matches!(self, Edit::Absent(_))
    }
}

/// `lineinfile`'s arguments, typed.
pub struct LineArgs {
    /// The file, its common arguments, `backup` and `validate`.
    pub file: TextEdit,
    pub edit: Edit,
    pub create: bool,
    /// Ansible's warning for an empty `regexp` or `search_string` (it matches every line).
    pub warning: Option<&'static str>,
}

const EMPTY_REGEXP: &str = "The regular expression is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending. If this is desired, use '^' to match every line in the file and avoid this warning.";
const EMPTY_SEARCH: &str = "The search string is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending.";

/// Compiles a Python-style regular expression (see `pyre`).
fn compile(key: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern, false, false).map_err(|e| {
        Failure::new(format!(
            "invalid `{key}` regular expression `{pattern}`: {e}"
        ))
        .into()
    })
}

pub fn parse(args: &Args, host: &mut dyn Resolve) -> Result<LineArgs> {
    let path = host.expand_path(&args.req_str("path")?)?;
    let state = args.choice("state", &["present", "absent"], "present")?;
    let regexp = args.str("regexp");
    let search = args.str("search_string");
    let line = args.str("line");
    let backrefs = args.bool_or("backrefs", false)?;
    let warning = match (&regexp, &search) {
        (Some(r), _) if r.is_empty() => Some(EMPTY_REGEXP),
        (_, Some(s)) if s.is_empty() => Some(EMPTY_SEARCH),
        _ => None,
    };
    for (a, b) in [
        ("insertbefore", "insertafter"),
        ("regexp", "search_string"),
        ("backrefs", "search_string"),
    ] {
        if args.has(a) && args.has(b) {
            return Err(Failure::new(format!("parameters are mutually exclusive: {a}|{b}")).into());
        }
    }
    if state == "present" && line.is_none() {
        return Err(
            Failure::new("state is present but all of the following are missing: line").into(),
        );
    }
    if backrefs && regexp.is_none() {
        return Err(Failure::new("regexp is required with backrefs=true").into());
    }
    if state == "absent" && regexp.is_none() && search.is_none() && line.is_none() {
        return Err(Failure::new(
            "one of line, search_string, or regexp is required with state=absent",
        )
        .into());
    }
    let edit = if state == "present" {
        let anchor = |key: &str, eof_ok: bool| -> Result<Option<Anchor>> {
            Ok(match args.str(key).as_deref() {
                None => None,
                Some("BOF") => Some(Anchor::Bof),
                Some("EOF") if eof_ok => Some(Anchor::Eof),
                Some(r) => Some(Anchor::Re(compile(key, r)?)),
            })
        };
        let mut insertafter = anchor("insertafter", true)?;
        let insertbefore = anchor("insertbefore", false)?;
        if insertafter.is_none() && insertbefore.is_none() {
            insertafter = Some(Anchor::Eof);
        }
        Edit::Present(Box::new(PresentOpts {
            regexp: regexp
                .as_deref()
                .map(|r| compile("regexp", r))
                .transpose()?,
            search_string: search.as_ref().map(|s| s.as_bytes().to_vec()),
            line: line.unwrap_or_default().into_bytes(),
            insertafter,
            insertbefore,
            backrefs,
            firstmatch: args.bool_or("firstmatch", false)?,
        }))
    } else {
        Edit::Absent(match (regexp, search, line) {
            (Some(r), _, _) => AbsentBy::Re(compile("regexp", &r)?),
            (None, Some(s), _) => AbsentBy::Search(s.into_bytes()),
            (None, None, l) => AbsentBy::Line(l.unwrap_or_default().into_bytes()),
        })
    };
    Ok(LineArgs {
        file: TextEdit::from_args(args, path, DiffStyle::Listed, true)?,
        edit,
        create: args.bool_or("create", false)?,
        warning,
    })
}
