//! `reboot`: as Ansible's action, the host's boot id (`boot_time_command`) read, `shutdown -r`
//! (found in `search_paths`, or `reboot_command`) run, then fresh connections until the boot
//! id differs and `test_command` succeeds, within `reboot_timeout`. It is the executor's,
//! like `wait_for_connection`: it drops the host's connection and makes new ones. Check mode
//! reports the reboot it would make and runs nothing.

use super::conn_spec::conn_spec;
use super::context::PlayCtx;
use super::host::HostState;
use crate::connection::{self, Become};
use crate::modules::{Args, Plan};
use crate::playbook::Task;
use anyhow::Result;
use std::time::{Duration, Instant};

/// Ansible's defaults.
const REBOOT_TIMEOUT: i64 = 600;
const BOOT_TIME_COMMAND: &str = "cat /proc/sys/kernel/random/boot_id";
const TEST_COMMAND: &str = "whoami";
const MESSAGE: &str = "Reboot initiated by Ansible";
const SEARCH_PATHS: &[&str] = &["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"];
/// The longest pause between tries (Ansible's `max_fail_sleep`).
const MAX_SLEEP: f64 = 12.0;

struct Opts {
    pre_delay: i64,
    post_delay: u64,
    timeout: u64,
    connect_timeout: Option<u64>,
    boot_time: String,
    test: String,
    msg: String,
    search: Vec<String>,
    reboot_command: Option<String>,
}

fn opts(args: &Args) -> Result<Opts> {
    // Each takes its old `_sec` name too, as Ansible's action does.
    let int = |k: &str| -> Result<Option<i64>> {
        match args.int(k)? {
            Some(v) => Ok(Some(v)),
            None => args.int(&format!("{k}_sec")),
        }
    };
    let search = if args.has("search_paths") {
        args.list("search_paths")
    } else {
        SEARCH_PATHS.iter().map(|s| s.to_string()).collect()
    };
    Ok(Opts {
        pre_delay: int("pre_reboot_delay")?.unwrap_or(0).max(0),
        post_delay: int("post_reboot_delay")?.unwrap_or(0).max(0) as u64,
        timeout: int("reboot_timeout")?.unwrap_or(REBOOT_TIMEOUT).max(0) as u64,
        connect_timeout: int("connect_timeout")?.map(|v| v.max(1) as u64),
        boot_time: args
            .str("boot_time_command")
            .unwrap_or_else(|| BOOT_TIME_COMMAND.into()),
        test: args
            .str("test_command")
            .unwrap_or_else(|| TEST_COMMAND.into()),
        msg: args.str("msg").unwrap_or_else(|| MESSAGE.into()),
        search,
        reboot_command: args.str("reboot_command"),
    })
}

/// Python's `repr` of a list of strings, for Ansible's message.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Reboots `host` and waits for it.
pub(super) fn reboot(
    pc: &PlayCtx,
    host: &mut HostState,
    task: &Task,
    args: &Args,
    check: bool,
    as_user: Option<&Become>,
) -> Result<Plan> {
    let o = opts(args)?;
    let transport = conn_spec(pc, host, Some(task))?.transport;
    if transport == "local" {
        return Ok(Plan::fail(
            "Running reboot with local connection would reboot the control node.",
        )
        .with_value("elapsed", 0)
        .with_value("rebooted", false));
    }
    if check {
        let mut p = Plan::unchanged()
            .with_value("elapsed", 0)
            .with_value("rebooted", true);
        p.verdict = crate::modules::Verdict::Changed;
        return Ok(p);
    }
    let before = match run(pc, host, task, &o.boot_time, as_user, None) {
        Ok((0, out, _)) => out.trim().to_string(),
        Ok((rc, out, err)) => {
            return Ok(Plan::fail(format!(
                "reboot: failed to get host boot time info, rc: {rc}, stdout: {out}, stderr: {err}"
            ))
            .with_value("reboot", false))
        }
        Err(e) => return Err(e),
    };
    // The shutdown command: `reboot_command`'s first word (or `shutdown`), found in the
    // search paths unless absolute; its arguments as given, or `-r MINUTES "MESSAGE"`.
    let (bin, rest) = match &o.reboot_command {
        Some(c) => {
            let (b, r) = c.split_once(' ').unwrap_or((c.as_str(), ""));
            (b.to_string(), Some(r.to_string()))
        }
        None => ("shutdown".to_string(), None),
    };
    let path = if bin.starts_with('/') {
        bin.clone()
    } else {
        let mut find = String::from("for d in");
        for d in &o.search {
            find.push(' ');
            find.push_str(&crate::shell::quote(d));
        }
        find.push_str(
            "; do if [ -f \"$d/$b\" ] || [ -L \"$d/$b\" ]; then echo \"$d/$b\"; break; fi; done",
        );
        let script = format!("b={}; {find}", crate::shell::quote(&bin));
        let (_, out, _) = run(pc, host, task, &script, as_user, None)?;
        match out.lines().next().filter(|l| !l.is_empty()) {
            Some(p) => p.to_string(),
            None => {
                return Ok(Plan::fail(format!(
                    "Unable to find command \"{bin}\" in search paths: {}",
                    py_list(&o.search)
                ))
                .with_value("rebooted", false))
            }
        }
    };
    let command = match rest {
        // The user's command line, as Ansible runs it.
        Some(r) => format!("{} {r}", crate::shell::quote(&path)),
        None => format!(
            "{} -r {} {}",
            crate::shell::quote(&path),
            o.pre_delay / 60,
            crate::shell::quote(&o.msg)
        ),
    };
    let start = Instant::now();
    // The connection may end under the command: the host is going down.
    if let Ok((rc, out, err)) = run(pc, host, task, &command, as_user, Some(10)) {
        if rc != 0 {
            return Ok(Plan::fail(format!(
                "Reboot command failed. Error was: '{}, {}'",
                out.trim(),
                err.trim()
            ))
            .with_value("rebooted", false)
            .with_value("elapsed", start.elapsed().as_secs()));
        }
    }
    host.conn = None;
    host.conn_spec = None;
    std::thread::sleep(Duration::from_secs(o.post_delay));
    let ct = o.connect_timeout;
    let booted = until(o.timeout, "last boot time check", || {
        let (rc, out, err) = run(pc, host, task, &o.boot_time, as_user, ct)?;
        let now = out.trim();
        if rc != 0 {
            anyhow::bail!("rc {rc}: {}", err.trim());
        }
        if now.is_empty() || now == before {
            anyhow::bail!("boot time has not changed");
        }
        Ok(())
    });
    let tested = booted.and_then(|()| {
        until(o.timeout, "post-reboot test command", || {
            let (rc, out, err) = run(pc, host, task, &o.test, as_user, ct)?;
            if rc != 0 {
                anyhow::bail!("Test command failed: {err} {out}");
            }
            Ok(())
        })
    });
    let elapsed = start.elapsed().as_secs();
    Ok(match tested {
        Ok(()) => {
            let mut p = Plan::unchanged()
                .with_value("rebooted", true)
                .with_value("elapsed", elapsed);
            p.verdict = crate::modules::Verdict::Changed;
            p
        }
        Err(e) => Plan::fail(e.to_string())
            .with_value("rebooted", true)
            .with_value("elapsed", elapsed),
    })
}

/// Tries `action` until it succeeds or `timeout` seconds pass, backing off as Ansible's
/// `do_until_success_or_timeout` (2^n seconds, at most 12).
fn until(timeout: u64, what: &str, mut action: impl FnMut() -> Result<()>) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(timeout);
    let mut fails = 0i32;
    while Instant::now() < end {
        if action().is_ok() {
            return Ok(());
        }
        let sleep = 2f64.powi(fails.min(8)).min(MAX_SLEEP);
        fails += 1;
        let left = end.saturating_duration_since(Instant::now());
        std::thread::sleep(Duration::from_secs_f64(sleep).min(left));
    }
    anyhow::bail!("Timed out waiting for {what} (timeout={timeout})")
}

/// Runs `cmd` on the host (connecting first if there is no connection; a failed run drops
/// it), as the become user; `(rc, stdout, stderr)`.
fn run(
    pc: &PlayCtx,
    host: &mut HostState,
    task: &Task,
    cmd: &str,
    as_user: Option<&Become>,
    connect_timeout: Option<u64>,
) -> Result<(i32, String, String)> {
    if host.conn.is_none() {
        let mut spec = conn_spec(pc, host, Some(task))?;
        if let Some(t) = connect_timeout {
            spec.connect_timeout = Duration::from_secs(t);
        }
        host.conn = Some(connection::connect(&spec)?);
        host.conn_spec = Some(spec);
    }
    let conn = host.conn.as_deref_mut().expect("connected");
    if let Some(t) = connect_timeout {
        conn.set_deadline(Some(Instant::now() + Duration::from_secs(t.max(1) * 3)));
    }
    let out = conn.run(cmd, None, as_user);
    conn.set_deadline(None);
    match out {
        Ok(o) => Ok((o.rc, o.stdout_str().to_string(), o.stderr_str().to_string())),
        Err(e) => {
            host.conn = None;
            host.conn_spec = None;
            Err(e)
        }
    }
}
