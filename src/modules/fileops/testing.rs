//! A hand-built `ModuleCtx` over a local connection, for module tests.
use crate::connection::{Connection, LocalConnection};
use crate::modules::{Args, Module, ModuleCtx, Plan, SearchPaths};
use minijinja::Value;

pub struct Harness {
    pub conn: Box<dyn Connection>,
    pub vars: Value,
    pub paths: SearchPaths,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            conn: Box::new(LocalConnection::new().expect("local shell")),
            vars: Value::from(minijinja::value::Serde(serde_json::json!({}))),
            paths: SearchPaths::default(),
        }
    }

    pub fn ctx(&mut self) -> ModuleCtx<'_> {
        ModuleCtx {
            host: "localhost",
            conn: Some(&mut *self.conn),
            as_user: None,
            diff: true,
            vars: &self.vars,
            paths: &self.paths,
            env: &[],
            verbosity: 0,
            check_changed: false,
            background: None,
            task_name: "",
            no_log: false,
            ahead: Vec::new(),
        }
    }

    /// A real run: plan, then apply when the plan changes something.
    pub fn run(&mut self, m: &dyn Module, a: &Args) -> Plan {
        let done = m.run(&mut self.ctx(), a, false).expect("run");
        assert!(!done.failed(), "{:?}", done.msg);
        done
    }

    /// Check mode predicts a change and touches nothing; the real run changes; a second
    /// run neither changes nor fails. Returns the prediction and the real run's result.
    pub fn cycle(&mut self, m: &dyn Module, dir: &std::path::Path, a: &Args) -> (Plan, Plan) {
        let snap = snapshot(dir);
        let predicted = m.run(&mut self.ctx(), a, true).expect("plan");
        assert!(
            predicted.changed() && !predicted.failed(),
            "{:?}",
            predicted.msg
        );
        assert_eq!(snapshot(dir), snap, "check mode changed the disk");
        let done = self.run(m, a);
        let again = m.run(&mut self.ctx(), a, true).expect("plan");
        assert!(
            !again.changed() && !again.failed(),
            "second run: {:?} {:?}",
            again.msg,
            again.diffs
        );
        (predicted, done)
    }
}

/// Arguments from a JSON object.
pub fn args(v: serde_json::Value) -> Args {
    let value = Value::from(minijinja::value::Serde(&v));
    Args {
        map: crate::vars::varmap_from_value(&value),
    }
}

/// Every file under a directory with its bytes, mode and link target: a snapshot to
/// prove check mode left it untouched.
pub fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>, u32, Option<String>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let link = std::fs::read_link(&p)
                .ok()
                .map(|l| l.to_string_lossy().into_owned());
            let bytes = if md.is_file() {
                std::fs::read(&p).unwrap_or_default()
            } else {
                Vec::new()
            };
            if md.is_dir() {
                stack.push(p.clone());
            }
            out.push((
                p.to_string_lossy().into_owned(),
                bytes,
                md.permissions().mode(),
                link,
            ));
        }
    }
    out.sort();
    out
}

pub fn mode_of(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0)
}

/// An argv shown with shell quoting, except that flags stay bare for readability (decide
/// tables of `user` and `group`).
pub fn show(v: &[String]) -> String {
    v.iter()
        .map(|w| {
            if w.starts_with('-') && !w.contains(' ') {
                w.clone()
            } else {
                crate::shell::join(&[w])
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
