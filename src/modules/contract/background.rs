//! `async: N` with `poll: 0`: a module whose change is one command (`command`, `shell`,
//! `script`) starts it in the background on the host and returns at once with the job's id;
//! `async_status` reads the job later. The job lives in `~/.ansible_async/<jid>.*` files
//! (the command, its input, output, error, exit status, start and end times), written by
//! the host's shell: the command runs under `timeout N` in its own session, with no tie to
//! drover's session.

use super::super::{ModuleCtx, Plan, Verdict};
use super::{Script, Step};
use anyhow::{bail, Result};
use minijinja::Value;

/// The job files' directory, under the home of the user the task runs as (as Ansible's
/// `~/.ansible_async`).
pub const JOB_DIR: &str = "$HOME/.ansible_async";

/// A new job id, as Ansible's: `j` and twelve digits, `.`, and the controller's process id.
fn new_jid() -> String {
    let token = crate::connection::random_token();
    let n = token.bytes().fold(0u64, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    format!("j{:012}.{}", n % 1_000_000_000_000, std::process::id())
}

/// Runs the one `Exec` step of `steps` in the background for at most `secs` seconds: with
/// `poll` 0 the result is the started job's, else the job is looked at every `poll` seconds
/// until it finishes (its result, as `async_status` gives it, and its files erased) or the
/// time is up (Ansible's failure, with the last `async_result`).
pub fn run(
    ctx: &mut ModuleCtx,
    name: &str,
    steps: &[Step],
    secs: u64,
    poll: u64,
    cmd: &Value,
) -> Result<Plan> {
    let started = launch(ctx, name, steps, secs, cmd)?;
    if poll == 0 {
        return Ok(started);
    }
    let jid = started
        .values
        .get("ansible_job_id")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let begin = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(poll));
        let (status, running) = super::super::async_status::look(ctx, &jid)?;
        if !running {
            super::super::async_status::erase(ctx, &jid)?;
            return Ok(status);
        }
        if begin.elapsed().as_secs() >= secs {
            let mut failed = Plan::fail(format!(
                "async task did not complete within the requested time - {secs}s"
            ));
            let mut last = status.values;
            last.insert("finished".into(), Value::from(false));
            failed = failed.with_value("async_result", crate::vars::map_value(last));
            return Ok(failed);
        }
    }
}

/// Starts the one `Exec` step of `steps` in the background for at most `secs` seconds; the
/// result is Ansible's: `ansible_job_id`, `results_file`, `started`, `finished: false`,
/// changed. `cmd` (the module's `cmd` value) is kept with the job for `async_status`.
fn launch(ctx: &mut ModuleCtx, name: &str, steps: &[Step], secs: u64, cmd: &Value) -> Result<Plan> {
    let [Step::Exec { script, stdin }] = steps else {
        bail!(
            "`async` with `poll: 0` runs one command in the background: drover does it for `command`, `shell` and `script`, not yet for `{name}`"
        );
    };
    let jid = new_jid();
    let cmd_json = serde_json::to_string(cmd).unwrap_or_default();
    let launch = Script::new()
        .set("j", &jid)
        .raw("d=\"$HOME/.ansible_async\"; f=\"$d/$j\"; mkdir -p \"$d\" || exit 1\ncat >\"$f.in\"; printf %s")
        .arg(&cmd_json)
        .raw(" >\"$f.cmd\"; printf '%s\\n'")
        .arg(script.text())
        .raw(" >\"$f.sh\" || exit 1\nS=; command -v setsid >/dev/null 2>&1 && S=setsid\n")
        .raw("$S sh -c 'f=$1; date \"+%Y-%m-%d %H:%M:%S.%6N\" >\"$f.start\"; timeout \"$2\" sh \"$f.sh\" <\"$f.in\" >\"$f.out\" 2>\"$f.err\"; echo $? >\"$f.rc~\"; date \"+%Y-%m-%d %H:%M:%S.%6N\" >\"$f.end\"; mv \"$f.rc~\" \"$f.rc\"' sh \"$f\"")
        .arg(&secs.to_string())
        .raw(" </dev/null >/dev/null 2>&1 &\necho \"$f\"\n");
    let out = ctx.run_with_stdin(launch.text(), Some(stdin.as_deref().unwrap_or_default()))?;
    if out.rc != 0 {
        bail!(
            "starting the background job failed: {}",
            out.stderr_str().trim()
        );
    }
    let file = out.stdout_str().trim().to_string();
    let mut plan = Plan::unchanged()
        .with_value("ansible_job_id", jid)
        .with_value("results_file", file)
        .with_value("started", true)
        .with_value("finished", false);
    plan.verdict = Verdict::Changed;
    Ok(plan)
}

/// A background task that has nothing to do (`creates` names a file that is there): the
/// job is made finished at once, holding the result, as Ansible's job would report it.
pub fn settled(ctx: &mut ModuleCtx, report: &Plan) -> Result<Plan> {
    let jid = new_jid();
    let mut values = report.values.clone();
    values.insert("changed".into(), Value::from(false));
    if let Some(m) = &report.msg {
        values.insert("msg".into(), Value::from(m.as_str()));
    }
    let json = serde_json::to_string(&crate::vars::map_value(values)).unwrap_or_default();
    let write = Script::new()
        .set("j", &jid)
        .raw("d=\"$HOME/.ansible_async\"; f=\"$d/$j\"; mkdir -p \"$d\" || exit 1\nprintf %s")
        .arg(&json)
        .raw(" >\"$f.json\" && echo \"$f\"\n");
    let out = ctx.run(write.text())?;
    if out.rc != 0 {
        bail!(
            "writing the background job failed: {}",
            out.stderr_str().trim()
        );
    }
    let mut plan = Plan::unchanged()
        .with_value("ansible_job_id", jid)
        .with_value("results_file", out.stdout_str().trim().to_string())
        .with_value("started", true)
        .with_value("finished", false);
    plan.verdict = Verdict::Changed;
    Ok(plan)
}
