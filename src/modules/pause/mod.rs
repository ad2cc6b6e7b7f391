//! `pause`: wait on the controller, for `seconds`/`minutes`, or for Enter after a `prompt`
//! when a person is at the terminal (`tty`: Ctrl+C then `C` continues early, then `A`
//! aborts; `echo: false` hides the input). Without a terminal, a prompt without a time does
//! not wait, with a warning. It runs once for the batch, as Ansible's (`BYPASS_HOST_LOOP`).
//! The host is not touched. The result has Ansible's keys.

use super::contract::{Action, Resolve};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;
use std::time::{Duration, Instant};

mod tty;

pub struct Pause;

static SPEC: Spec = Spec {
    args: &["seconds", "minutes", "prompt", "echo"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

impl Action for Pause {
    fn name(&self) -> &'static str {
        "pause"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn act(&self, args: &Args, env: &dyn Resolve) -> Result<Plan> {
        plan(args, env.task_name())
    }
}

/// A duration argument, read as Python's `int()` reads it (Ansible's argument spec uses it
/// so that floats keep working: they are truncated).
fn number(args: &Args, key: &str) -> Result<Option<i64>> {
    let Some(v) = args.get(key) else {
        return Ok(None);
    };
    if let Some(f) = v
        .as_str()
        .is_none()
        .then(|| f64::try_from(v.clone()).ok())
        .flatten()
    {
        return Ok(Some(f.trunc() as i64));
    }
    let text = v
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    text.trim().replace('_', "").parse::<i64>().map(Some).map_err(|_| {
        fail(format!(
            "argument '{key}' is of type {} and we were unable to convert to int: invalid literal for int() with base 10: '{text}'",
            crate::template::conditional::type_name(v)
        ))
    })
}

/// A number as Python prints a float (`1.0`, `0.02`).
fn py_float(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.1}")
    } else {
        format!("{n}")
    }
}

const CONTROLS: &str = "(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)\r";

fn plan(args: &Args, task: &str) -> Result<Plan> {
    let echo = args.bool_or("echo", true)?;
    let (seconds, minutes) = (number(args, "seconds")?, number(args, "minutes")?);
    if seconds.is_some() && minutes.is_some() {
        return Err(fail("parameters are mutually exclusive: minutes|seconds"));
    }
    let (wait, unit) = match (seconds, minutes) {
        (Some(s), _) => (Some(s.max(1).unsigned_abs()), "seconds"),
        (None, Some(m)) => (Some((m * 60).max(1).unsigned_abs()), "minutes"),
        (None, None) => (None, "minutes"),
    };
    let hidden = if echo { "" } else { " (output is hidden)" };
    let asked = args.str("prompt").filter(|p| !p.is_empty());
    let header = if task.is_empty() { "pause" } else { task };
    let mut prompt = format!(
        "[{header}]\n{}{hidden}:",
        asked
            .as_deref()
            .unwrap_or("Press enter to continue, Ctrl+C to interrupt")
    );
    let start = Instant::now();
    let started = super::chrono_like_now();
    let interactive = tty::interactive();
    let mut notes = Vec::new();
    if let Some(secs) = wait {
        notes.push(format!("Pausing for {secs} seconds{hidden}"));
        if asked.is_some() {
            notes.push(CONTROLS.to_string());
        } else {
            // Enter does not end a timed pause: only the time or Ctrl+C does.
            prompt = CONTROLS.to_string();
        }
    }
    // Only an untimed pause takes (and echoes) input.
    let echo_input = wait.is_none() && echo;
    let mut user_input = Vec::new();
    if !interactive {
        for n in &notes {
            crate::output::eprintln_above(n.trim_end_matches('\r'));
        }
        match wait {
            None => crate::output::eprintln_above(
                "[WARNING]: Not waiting for response to prompt as stdin is not interactive",
            ),
            Some(secs) => std::thread::sleep(Duration::from_secs(secs)),
        }
    } else {
        let asked = crate::output::with_screen_held(|| -> Result<Option<Vec<u8>>> {
            for n in &notes {
                eprintln!("{n}");
            }
            let complete: Option<&[u8]> = wait.map(|_| &b""[..]);
            let got = tty::prompt_until(&prompt, !echo_input, wait, None, complete)?;
            let input = match got {
                tty::Ended::Input(text) => text,
                tty::Ended::Interrupted => {
                    match tty::prompt_until(
                        "Press 'C' to continue the play or 'A' to abort \r",
                        !echo_input,
                        None,
                        Some(b"a"),
                        Some(b"c"),
                    )? {
                        tty::Ended::Interrupted => return Ok(None),
                        tty::Ended::Input(text) => return Ok(Some(text)),
                    }
                }
            };
            Ok(Some(if wait.is_none() { input } else { Vec::new() }))
        })?;
        match asked {
            Some(text) => user_input = text,
            None => return Ok(Plan::fail("user requested abort!")),
        }
    }
    let waited = start.elapsed().as_secs_f64();
    let shown = if unit == "minutes" {
        waited / 60.0
    } else {
        waited
    };
    let stdout = format!(
        "Paused for {} {unit}",
        py_float((shown * 100.0).round() / 100.0)
    );
    Ok(Plan::unchanged()
        .with_value("start", started)
        .with_value("stop", super::chrono_like_now())
        .with_value("delta", waited.trunc() as i64)
        .with_value("echo", echo)
        .with_value("rc", 0)
        .with_value("stdout", stdout)
        .with_value("stderr", "")
        .with_value(
            "user_input",
            String::from_utf8_lossy(&user_input).into_owned(),
        ))
}
