//! The driver's guarantees, on a local shell: check mode runs no effect and no step; a
//! pending failure fails a real run before any step; a look only a prediction needs is not
//! taken in a real run; a failing `Exec` stops the steps and stages after it.

use super::super::fileops::testing::Harness;
use super::super::{Args, Module, Spec};
use super::*;
use std::path::PathBuf;

struct Probe;

static SPEC: Spec = Spec {
    args: &["dir", "pending", "fail_first"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

struct A {
    dir: String,
    pending: bool,
    fail_first: bool,
}

impl Typed for Probe {
    type Args = A;
    type Change = ();

    fn name(&self) -> &'static str {
        "probe"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> anyhow::Result<A> {
        Ok(A {
            dir: args.req_str("dir")?,
            pending: args.bool_or("pending", false)?,
            fail_first: args.bool_or("fail_first", false)?,
        })
    }
    fn observe(&self, a: &A) -> Observe {
        Observe {
            effects: vec![(
                "effect",
                Script::new().cmd("touch --", [format!("{}/effect", a.dir)]),
            )],
            sections: vec![("hello", Script::new().cmd("echo", ["hello"]))],
            ..Observe::default()
        }
    }
    fn observe_again(&self, a: &A, seen: &Observed) -> Option<Observe> {
        seen.more.is_empty().then(|| Observe {
            sections: vec![(
                "predicted",
                Script::new().cmd("touch --", [format!("{}/looked", a.dir)]),
            )],
            prediction_only: true,
            ..Observe::default()
        })
    }
    fn decide(&self, a: &A, seen: &Observed) -> Outcome<()> {
        assert_eq!(seen.section("hello"), "hello\n");
        Outcome::Change {
            change: (),
            report: Plan::unchanged().with_msg("would do"),
            pending: a.pending.then(|| Failure::new("needs an earlier task")),
        }
    }
    fn apply(&self, a: &A, _c: &()) -> Vec<Step> {
        let first = if a.fail_first { "false" } else { "true" };
        vec![
            Step::Exec {
                script: Script::new().raw(first).raw("\n"),
                stdin: None,
            },
            Step::Run {
                what: "second",
                script: Script::new().cmd("touch --", [format!("{}/second", a.dir)]),
            },
        ]
    }
    fn apply_more(&self, a: &A, _c: &(), done: &Done) -> Vec<Step> {
        // One more stage after the first (its own `Exec` makes the second output).
        if done.outputs.len() == 1 {
            let stage = format!("{}/stage", a.dir);
            return vec![Step::Exec {
                script: Script::new().cmd("mkdir --", [stage]),
                stdin: None,
            }];
        }
        Vec::new()
    }
    fn finish(&self, _a: &A, _c: &(), done: &Done, report: Plan) -> Plan {
        match done.outputs.first() {
            Some(o) if o.rc != 0 => Plan::fail("first step failed"),
            _ => report,
        }
    }
}

fn args(dir: &std::path::Path, extra: &[(&str, bool)]) -> Args {
    let mut m = serde_json::json!({"dir": dir.to_str().unwrap()});
    for (k, v) in extra {
        m[*k] = serde_json::Value::from(*v);
    }
    super::super::fileops::testing::args(m)
}

fn exists(dir: &std::path::Path, name: &str) -> bool {
    PathBuf::from(dir).join(name).exists()
}

#[test]
fn check_mode_runs_no_effect_and_no_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let p = Driven(Probe)
        .run(&mut h.ctx(), &args(dir.path(), &[]), true)
        .unwrap();
    assert!(p.changed() && !p.failed());
    assert_eq!(p.msg.as_deref(), Some("would do"));
    assert!(!exists(dir.path(), "effect") && !exists(dir.path(), "second"));
    // The look only a prediction needs was taken.
    assert!(exists(dir.path(), "looked"));
}

#[test]
fn a_real_run_runs_effects_steps_and_stages_but_not_prediction_looks() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let p = Driven(Probe)
        .run(&mut h.ctx(), &args(dir.path(), &[]), false)
        .unwrap();
    assert!(p.changed() && !p.failed(), "{:?}", p.msg);
    assert!(exists(dir.path(), "effect") && exists(dir.path(), "second"));
    assert!(exists(dir.path(), "stage"), "apply_more's stage ran");
    assert!(!exists(dir.path(), "looked"));
}

#[test]
fn a_pending_failure_fails_a_real_run_before_any_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let a = args(dir.path(), &[("pending", true)]);
    let p = Driven(Probe).run(&mut h.ctx(), &a, false).unwrap();
    assert!(p.failed() && !p.changed());
    assert_eq!(p.msg.as_deref(), Some("needs an earlier task"));
    assert!(!exists(dir.path(), "second") && !exists(dir.path(), "stage"));
    // Check mode predicts the change instead.
    let p = Driven(Probe).run(&mut h.ctx(), &a, true).unwrap();
    assert!(p.changed() && !p.failed());
}

#[test]
fn a_module_that_keeps_adding_stages_is_stopped() {
    struct Endless;
    impl Typed for Endless {
        type Args = ();
        type Change = ();
        fn name(&self) -> &'static str {
            "endless"
        }
        fn spec(&self) -> &'static Spec {
            &SPEC
        }
        fn parse(&self, _args: &Args, _host: &mut dyn Resolve) -> anyhow::Result<()> {
            Ok(())
        }
        fn observe(&self, _a: &()) -> Observe {
            Observe::default()
        }
        fn decide(&self, _a: &(), _seen: &Observed) -> Outcome<()> {
            Outcome::change((), Plan::unchanged())
        }
        fn apply(&self, _a: &(), _c: &()) -> Vec<Step> {
            vec![Step::Run {
                what: "nothing",
                script: Script::new().raw("true\n"),
            }]
        }
        fn apply_more(&self, _a: &(), _c: &(), _done: &Done) -> Vec<Step> {
            self.apply(&(), &())
        }
    }
    let mut h = Harness::new();
    let Err(err) = Driven(Endless).run(&mut h.ctx(), &Args::default(), false) else {
        panic!("an endless module must be stopped");
    };
    assert!(format!("{err:#}").contains("stages"), "{err:#}");
}

#[test]
fn a_failing_exec_stops_the_steps_and_stages_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new();
    let a = args(dir.path(), &[("fail_first", true)]);
    let p = Driven(Probe).run(&mut h.ctx(), &a, false).unwrap();
    assert!(p.failed());
    assert_eq!(p.msg.as_deref(), Some("first step failed"));
    assert!(
        !exists(dir.path(), "second"),
        "the step after the failing one ran"
    );
    assert!(
        !exists(dir.path(), "stage"),
        "a stage after the failing step ran"
    );
}
