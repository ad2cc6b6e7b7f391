//! `lineinfile`: ensure one line is present (inserted or replaced) or absent in a text file.
//! On the module contract: `parse` types and checks the arguments, `observe` asks for the
//! path's stat (link and target), the owner and group ids and the file's content in one
//! round trip, `decide` computes the new content by Ansible's exact algorithm (`present` /
//! `absent` in `edit.rs`) and the attribute changes of `check_file_attrs`, and `apply` writes
//! atomically only what differs.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::EditChange;
use super::{Args, Plan, Spec};
use crate::pyre::{Re as Regex, Template};
use anyhow::Result;

mod edit;
mod parse;

pub use edit::*;
pub use parse::LineArgs;

pub struct LineInFile;

pub static LINEINFILE: super::contract::Driven<LineInFile> = super::contract::Driven(LineInFile);

impl Typed for LineInFile {
    type Args = LineArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "lineinfile"
    }

    fn spec(&self) -> &'static Spec {
        &parse::SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn looks_ahead(&self, args: &Args) -> Option<Vec<super::fileops::Ahead>> {
        super::fileops::path_ahead(args)
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<LineArgs> {
        parse::parse(args, host)
    }

    fn observe(&self, a: &LineArgs) -> Observe {
        a.file.observe()
    }

    fn decide(&self, a: &LineArgs, seen: &Observed) -> Outcome<EditChange> {
        match decide(a, seen) {
            Ok(o) => o,
            Err(f) => Outcome::Fail(match a.warning {
                Some(w) => f.with("warnings", vec![w]),
                None => f,
            }),
        }
    }

    fn apply(&self, _a: &LineArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(
        &self,
        _a: &LineArgs,
        _c: &EditChange,
        done: &super::contract::Done,
        r: Plan,
    ) -> Plan {
        r.with_value("backup", done.backup().unwrap_or_default())
    }
}

fn decide(a: &LineArgs, seen: &Observed) -> Result<Outcome<EditChange>, Failure> {
    let cur = a.file.current(seen)?;
    let path = &a.file.path;
    let warned = |p: Plan| match a.warning {
        Some(w) => p.with_value("warnings", vec![w]),
        None => p,
    };
    if !cur.exists {
        if a.edit.is_absent() {
            let p = Plan::unchanged().with_msg("file not present");
            return Ok(Outcome::Unchanged(warned(
                p.with_value("found", 0).with_value("backup", ""),
            )));
        }
        if !a.create {
            return Err(
                Failure::new(format!("Destination {path} does not exist !")).with("rc", 257)
            );
        }
    }
    let lines = split_lines(&cur.content);
    let (new_lines, content_changed, msg, found) = match &a.edit {
        parse::Edit::Present(opts) => {
            let (l, c, m) = present(lines, opts);
            (l, c, m.to_string(), None)
        }
        parse::Edit::Absent(by) => {
            let (l, n) = absent(lines, by);
            let msg = if n > 0 {
                format!("{n} line(s) removed")
            } else {
                String::new()
            };
            (l, n > 0, msg, Some(n))
        }
    };
    let after = content_changed.then(|| new_lines.concat());
    let mut report = warned(Plan::unchanged().with_value("backup", ""));
    if let Some(n) = found {
        report = report.with_value("found", n);
    }
    a.file.outcome(seen, &cur, after, msg, report)
}

#[cfg(test)]
mod tests;
