//! `slurp`: a file's content, base64-encoded, in the result (`content`, `source`,
//! `encoding`), read in the one look; it changes nothing.

use super::contract::{Content, Failure, Observe, Observed, Outcome, Read, Resolve, Step, Typed};
use super::fileops::{ProbeItem, ProbeReq};
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
            files: Some(ProbeReq {
                items: vec![ProbeItem::new(src, true)],
                ..ProbeReq::default()
            }),
            read: Some(Read::Path(src.clone())),
            ..Observe::default()
        }
    }

    fn decide(&self, src: &String, seen: &Observed) -> Outcome<Infallible> {
        let st = &seen.files.states[0];
        let fail = |why: &str| Outcome::Fail(Failure::new(format!("{why}: {src}")));
        if !st.exists {
            return fail("File not found");
        }
        if st.is_dir() {
            return fail("Source is a directory and must be a file");
        }
        let data = match &seen.content {
            Content::Bytes(b) => b,
            Content::Unreadable(_) => return fail("File is not readable"),
            // Not a regular file (a device, a socket): nothing drover reads.
            Content::Absent => return fail("Unable to slurp file"),
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
