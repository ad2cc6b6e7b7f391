//! `wait_for_connection`: waits until the host answers again (after a reboot, or while it
//! comes up), as Ansible's action: after `delay`, a fresh connection and a test command every
//! `sleep` seconds, each try bounded by `connect_timeout`, until `timeout`. With
//! `delegate_to`, it waits for that host (its connection is the one the task uses). It is the
//! executor's, not a module's: it makes the connections the modules use.

use super::conn_spec::conn_spec;
use super::context::PlayCtx;
use super::host::HostState;
use crate::connection;
use crate::modules::{Args, Plan};
use crate::playbook::Task;
use anyhow::Result;
use std::time::{Duration, Instant};

/// Ansible's defaults.
const TIMEOUT: i64 = 600;
const CONNECT_TIMEOUT: i64 = 5;
const SLEEP: i64 = 1;

/// Waits for `host` (or the `delegate_to` target), keeping the connection that answered.
pub(super) fn wait(
    pc: &PlayCtx,
    host: &mut HostState,
    task: &Task,
    args: &Args,
    delegate: Option<&str>,
) -> Result<Plan> {
    let secs = |k: &str, d: i64| -> Result<u64> { Ok(args.int(k)?.unwrap_or(d).max(0) as u64) };
    let (delay, sleep) = (secs("delay", 0)?, secs("sleep", SLEEP)?);
    let (timeout, connect_timeout) = (
        secs("timeout", TIMEOUT)?,
        secs("connect_timeout", CONNECT_TIMEOUT)?,
    );
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(delay));
    let end = start + Duration::from_secs(timeout);
    loop {
        let tried = answers(pc, host, task, connect_timeout, delegate);
        match tried {
            Ok(()) => return Ok(Plan::unchanged().with_value("elapsed", start.elapsed().as_secs())),
            Err(e) => {
                match delegate {
                    Some(target) => {
                        host.delegated.remove(target);
                    }
                    None => {
                        host.conn = None;
                        host.conn_spec = None;
                    }
                }
                if Instant::now() + Duration::from_secs(sleep) >= end {
                    let mut p =
                        Plan::fail(format!("timed out waiting for ping module test: {e:#}"));
                    p = p.with_value("elapsed", start.elapsed().as_secs());
                    return Ok(p);
                }
                std::thread::sleep(Duration::from_secs(sleep));
            }
        }
    }
}

/// One try: the connection there is (or a new one) runs a test command in time.
fn answers(
    pc: &PlayCtx,
    host: &mut HostState,
    task: &Task,
    connect_timeout: u64,
    delegate: Option<&str>,
) -> Result<()> {
    let limit = Duration::from_secs(connect_timeout.max(1));
    let conn = match delegate {
        Some(target) => {
            if !host.delegated.contains_key(target) {
                let mut spec = super::run_task::delegate_spec(pc, task, target)?;
                spec.connect_timeout = limit;
                host.delegated
                    .insert(target.to_string(), connection::connect(&spec)?);
            }
            host.delegated.get_mut(target).expect("connected").as_mut()
        }
        None => {
            if host.conn.is_none() {
                let mut spec = conn_spec(pc, host, Some(task))?;
                spec.connect_timeout = limit;
                host.conn = Some(connection::connect(&spec)?);
                host.conn_spec = Some(spec);
            }
            host.conn.as_deref_mut().expect("connected")
        }
    };
    conn.set_deadline(Some(
        Instant::now() + Duration::from_secs(connect_timeout.max(1)),
    ));
    let out = conn.run("echo pong", None, None);
    conn.set_deadline(None);
    let out = out?;
    if out.stdout_str().trim() != "pong" {
        anyhow::bail!(
            "the host's shell did not answer: {}",
            out.stderr_str().trim()
        );
    }
    Ok(())
}
