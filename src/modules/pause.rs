//! `pause`: wait on the controller, for `seconds`/`minutes`, or for Enter after a `prompt`
//! when a person is at the terminal (without one, a prompt without a time does not wait).
//! The host is not touched. The result has Ansible's keys.

use super::contract::{Action, Resolve};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

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

    fn act(&self, args: &Args, _env: &dyn Resolve) -> Result<Plan> {
        plan(args)
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

fn plan(args: &Args) -> Result<Plan> {
    let echo = args.bool_or("echo", true)?;
    let (seconds, minutes) = (number(args, "seconds")?, number(args, "minutes")?);
    if seconds.is_some() && minutes.is_some() {
        return Err(fail("parameters are mutually exclusive: minutes|seconds"));
    }
    let (wait, unit) = match (seconds, minutes) {
        (Some(s), _) => (Some(s.max(1)), "seconds"),
        (None, Some(m)) => (Some((m * 60).max(1)), "minutes"),
        (None, None) => (None, "minutes"),
    };
    let hidden = if echo { "" } else { " (output is hidden)" };
    let start = Instant::now();
    let started = super::chrono_like_now();
    let mut user_input = String::new();
    match wait {
        Some(secs) => {
            crate::output::eprintln_above(&format!("Pausing for {secs} seconds{hidden}"));
            if let Some(p) = args.str("prompt") {
                crate::output::eprintln_above(&format!("[pause]\n{p}{hidden}:"));
            }
            std::thread::sleep(Duration::from_secs(secs.unsigned_abs()));
        }
        None if std::io::stdin().is_terminal() => {
            let p = args
                .str("prompt")
                .unwrap_or_else(|| "Press enter to continue, Ctrl+C to interrupt".into());
            crate::output::eprintln_above(&format!("[pause]\n{p}{hidden}:"));
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            user_input = line.trim_end_matches(['\n', '\r']).to_string();
        }
        None => crate::output::eprintln_above(
            "[WARNING]: Not waiting for response to prompt as stdin is not interactive",
        ),
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
        .with_value("user_input", user_input))
}
