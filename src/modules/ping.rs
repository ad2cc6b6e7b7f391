//! `ping`: the host's shell answers (`pong`, or `data`); `data: crash` fails as Ansible's does.

use super::contract::{Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec};
use anyhow::Result;
use std::convert::Infallible;

pub struct Ping;

static SPEC: Spec = Spec {
    args: &["data"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Typed for Ping {
    type Args = String;
    type Change = Infallible;

    fn name(&self) -> &'static str {
        "ping"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> Result<String> {
        Ok(args.str("data").unwrap_or_else(|| "pong".into()))
    }

    fn observe(&self, _data: &String) -> Observe {
        Observe {
            sections: vec![("pong", Script::new().cmd("echo", ["pong"]))],
            ..Observe::default()
        }
    }

    fn decide(&self, data: &String, seen: &Observed) -> Outcome<Infallible> {
        if data == "crash" {
            return Outcome::Fail(Failure::new("Task failed: Module failed: boom"));
        }
        if seen.section("pong") != "pong\n" {
            return Outcome::Fail(Failure::new(format!(
                "the shell did not answer: {}",
                seen.stderr.trim()
            )));
        }
        Outcome::Unchanged(Plan::unchanged().with_value("ping", data.as_str()))
    }

    fn apply(&self, _data: &String, change: &Infallible) -> Vec<Step> {
        match *change {}
    }
}
