//! `replace`: every match of a (Python) regular expression in a file replaced, optionally only
//! in the section between `after` and `before`, as Ansible's `re.subn` with `MULTILINE` does.
//! The look, the attributes, the diff and the atomic write are the in-place edit of
//! `fileops::TextEdit`; `decide` computes the new content.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::{DiffStyle, EditChange, TextEdit};
use super::{Args, Plan, Spec};
use crate::pyre::{Re, Template};
use anyhow::Result;

pub struct Replace;

static SPEC: Spec = Spec {
    args: &[
        "path", "regexp", "replace", "after", "before", "backup", "validate", "encoding",
    ],
    aliases: &[("dest", "path"), ("destfile", "path"), ("name", "path")],
    free_form: None,
    any_args: false,
    file_args: true,
};

/// `replace`'s arguments, typed.
pub struct ReplaceArgs {
    file: TextEdit,
    /// The pattern as given (Ansible's error messages show it) and compiled.
    regexp: Result<(Re, Template), String>,
    /// The section pattern as Ansible builds it from `after`/`before`, and compiled.
    section: Option<(String, Result<Re, String>)>,
}

impl Typed for Replace {
    type Args = ReplaceArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "replace"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        super::fileops::path_ahead(args)
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<ReplaceArgs> {
        let path = host.expand_path(&args.req_str("path")?)?;
        let pattern = args.req_str("regexp")?;
        let replacement = args.str("replace").unwrap_or_default();
        // Python compiles the section pattern and the expression lazily, when it reaches
        // them: a bad one fails only when the file exists and the section is found.
        let regexp = Re::new(&pattern, false, true).and_then(|re| {
            let t = Template::parse(&replacement, &re)?;
            Ok((re, t))
        });
        let (after, before) = (
            args.str("after").filter(|s| !s.is_empty()),
            args.str("before").filter(|s| !s.is_empty()),
        );
        let section = match (after, before) {
            (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
            (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
            (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
            (None, None) => None,
        }
        .map(|p| {
            let re = Re::new(&format!("(?s){p}"), false, false);
            (p, re)
        });
        Ok(ReplaceArgs {
            file: TextEdit::from_args(args, path, DiffStyle::Single, true)?,
            regexp,
            section,
        })
    }

    fn observe(&self, a: &ReplaceArgs) -> Observe {
        a.file.observe()
    }

    fn decide(&self, a: &ReplaceArgs, seen: &Observed) -> Outcome<EditChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &ReplaceArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(&self, _a: &ReplaceArgs, _c: &EditChange, done: &Done, r: Plan) -> Plan {
        super::fileops::content_finish(done, r)
    }
}

fn decide(a: &ReplaceArgs, seen: &Observed) -> Result<Outcome<EditChange>, Failure> {
    let cur = a.file.current(seen)?;
    let path = &a.file.path;
    if !cur.exists {
        return Err(Failure::new(format!("Path {path} does not exist !")).with("rc", 257));
    }
    let contents = &cur.content;
    let (start, end) = match &a.section {
        None => (0, contents.len()),
        Some((pattern, re)) => {
            let re = re.as_ref().map_err(|e| {
                Failure::new(format!("Unable to process replace due to error: {e}"))
            })?;
            let group = re.group_index("subsection").unwrap_or(1);
            match re
                .captures(contents)
                .and_then(|c| c.get(group).copied().flatten())
            {
                Some(span) => span,
                None => {
                    let msg = format!(
                        "Pattern for before/after params did not match the given file: {pattern}"
                    );
                    return Ok(Outcome::Unchanged(
                        Plan::unchanged().with_msg(msg).with_value("rc", 0),
                    ));
                }
            }
        }
    };
    let (re, template) = a
        .regexp
        .as_ref()
        .map_err(|e| Failure::new(format!("Unable to process replace due to error: {e}")))?;
    let section = &contents[start..end];
    let matches = re.captures_all(section, 0);
    let replaced = template.substitute(section, &matches);
    let report = Plan::unchanged().with_value("rc", 0);
    if matches.is_empty() || replaced == section {
        return a.file.outcome(seen, &cur, None, String::new(), report);
    }
    let mut after = contents[..start].to_vec();
    after.extend_from_slice(&replaced);
    after.extend_from_slice(&contents[end..]);
    let msg = format!("{} replacements made", matches.len());
    a.file.outcome(seen, &cur, Some(after), msg, report)
}
