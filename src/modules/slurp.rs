//! `slurp`: a file's content, base64-encoded, in the result (`content`, `source`,
//! `encoding`), read in one look; when the read gives no bytes, a second look asks `cat` why
//! (in the C locale), for Ansible's messages by errno. It changes nothing.

use super::contract::{
    Content, Failure, Observe, Observed, Outcome, Read, Resolve, Script, Step, Typed,
};
use super::{Args, Plan, Spec};
use anyhow::Result;
use base64::Engine as _;
use std::convert::Infallible;

pub struct Slurp;

static SPEC: Spec = Spec {
    args: &["src"],
    aliases: &[("path", "src")],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Typed for Slurp {
    /// The path, `~` and `$VAR` expanded on the host.
    type Args = String;
    type Change = Infallible;

    fn name(&self) -> &'static str {
        "slurp"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<String> {
        host.expand_path(&args.req_str("src")?)
    }

    fn observe(&self, src: &String) -> Observe {
        Observe {
            read: Some(Read::Path(src.clone())),
            ..Observe::default()
        }
    }

    fn observe_again(&self, src: &String, seen: &Observed) -> Option<Observe> {
        if matches!(seen.content, Content::Bytes(_)) || seen.sections.contains_key("why") {
            return None;
        }
        let why = Script::new()
            .raw("LC_ALL=C cat --")
            .arg(src)
            .raw(" 2>&1 >/dev/null");
        Some(Observe {
            sections: vec![("why", why)],
            ..Observe::default()
        })
    }

    fn decide(&self, src: &String, seen: &Observed) -> Outcome<Infallible> {
        let Content::Bytes(data) = &seen.content else {
            // Ansible's messages by errno, from what `cat` said.
            let said = seen.section("why");
            let why = if said.contains("No such file") {
                "File not found"
            } else if said.contains("Permission denied") {
                "File is not readable"
            } else if said.contains("Is a directory") {
                "Source is a directory and must be a file"
            } else {
                "Unable to slurp file"
            };
            return Outcome::Fail(Failure::new(format!("{why}: {src}")));
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        Outcome::Unchanged(
            Plan::unchanged()
                .with_value("content", b64)
                .with_value("source", src.as_str())
                .with_value("encoding", "base64"),
        )
    }

    fn apply(&self, _src: &String, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}
