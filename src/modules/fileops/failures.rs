//! Task failures: `fail`, `fail_with`, `TaskFail`, and turning them into results.

use super::*;

/// A failure of the task (as opposed to a broken connection): becomes a failed `Plan`.
#[derive(Debug)]
pub struct TaskFail {
    pub msg: String,
    pub values: Vec<(String, Value)>,
}

impl std::fmt::Display for TaskFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for TaskFail {}

/// An error that fails the task with `msg`.
pub fn fail(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(TaskFail {
        msg: msg.into(),
        values: Vec::new(),
    })
}

/// A failed write as a task failure, unless the transport broke or the task ran out of time
/// (those stay what they are: the host is unreachable, the task timed out).
pub fn fail_write(e: anyhow::Error) -> anyhow::Error {
    if crate::connection::is_transport_error(&e) || crate::connection::is_deadline_exceeded(&e) {
        e
    } else {
        fail(format!("{e:#}"))
    }
}

/// Reads a controller source file (`copy`/`template` `src`). With `decrypt`, a vault-encrypted
/// file is decrypted in memory; the flag says it was, so its content stays out of diffs.
pub fn read_source(path: &std::path::Path, decrypt: bool) -> Result<(Vec<u8>, bool)> {
    let data = std::fs::read(path)
        .map_err(|e| fail(format!("could not read src={}: {e}", path.display())))?;
    if !decrypt {
        return Ok((data, false));
    }
    crate::vault::open_bytes(data).map_err(|e| match e {
        // Ansible's words, ending with the path; the hint goes in a key of its own.
        crate::vault::DecryptError::NoSecrets { .. } => fail_with(
            format!(
                "A vault password or secret must be specified to decrypt {}",
                path.display()
            ),
            vec![("hint".into(), Value::from(e.hint()))],
        ),
        _ => fail(format!(
            "could not decrypt the vault-encrypted src={}: {}",
            path.display(),
            e.report()
        )),
    })
}

/// An error that fails the task with `msg` and extra return values.
pub fn fail_with(msg: impl Into<String>, values: Vec<(String, Value)>) -> anyhow::Error {
    anyhow::Error::new(TaskFail {
        msg: msg.into(),
        values,
    })
}

/// Turns a `TaskFail` into a failed plan; other errors pass through.
pub fn catch(res: Result<Plan>) -> Result<Plan> {
    match res {
        Err(e) => match e.downcast::<TaskFail>() {
            Ok(f) => {
                let mut plan = Plan::fail(f.msg);
                for (k, v) in f.values {
                    plan.values.insert(k, v);
                }
                Ok(plan)
            }
            Err(e) => Err(e),
        },
        ok => ok,
    }
}

/// Like `catch` for `apply`: a task failure marks the planned result as failed and, as a
/// module's `fail_json` in Ansible, not changed.
pub fn catch_apply(mut plan: Plan, res: Result<Plan>) -> Result<Plan> {
    match res {
        Ok(p) => Ok(p),
        Err(e) => match e.downcast::<TaskFail>() {
            Ok(f) => {
                plan.mark_failed(false);
                plan.msg = Some(f.msg);
                for (k, v) in f.values {
                    plan.values.insert(k, v);
                }
                Ok(plan)
            }
            Err(e) => Err(e),
        },
    }
}
