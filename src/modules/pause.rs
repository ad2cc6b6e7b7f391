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

/// A duration argument: a number (of seconds or minutes).
fn number(args: &Args, key: &str) -> Result<Option<f64>> {
    let Some(v) = args.get(key) else {
        return Ok(None);
    };
    let text = v
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(Some)
        .ok_or_else(|| {
            fail(format!(
                "non-integer value given for prompt duration:\n{text}"
            ))
        })
}

fn plan(args: &Args) -> Result<Plan> {
    let echo = args.bool_or("echo", true)?;
    let (wait, stdout) = match (number(args, "seconds")?, number(args, "minutes")?) {
        (Some(s), _) => (Some(s), format!("Paused for {s} seconds")),
        (None, Some(m)) => (Some(m * 60.0), format!("Paused for {m} minutes")),
        (None, None) => (None, String::new()),
    };
    let start = Instant::now();
    let started = super::chrono_like_now();
    let mut user_input = String::new();
    match wait {
        Some(secs) => {
            if let Some(p) = args.str("prompt") {
                crate::output::eprintln_above(&format!("[pause]\n{p}"));
            }
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
        None if std::io::stdin().is_terminal() => {
            let p = args
                .str("prompt")
                .unwrap_or_else(|| "Press enter to continue, Ctrl+C to interrupt".into());
            crate::output::eprintln_above(&format!("[pause]\n{p}:"));
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            user_input = line.trim_end_matches(['\n', '\r']).to_string();
        }
        None => {}
    }
    let waited = start.elapsed().as_secs_f64();
    let stdout = if stdout.is_empty() {
        format!("Paused for {:.2} minutes", waited / 60.0)
    } else {
        stdout
    };
    Ok(Plan::unchanged()
        .with_value("start", started)
        .with_value("stop", super::chrono_like_now())
        .with_value("delta", waited.round() as i64)
        .with_value("echo", echo)
        .with_value("rc", 0)
        .with_value("stdout", stdout)
        .with_value("stderr", "")
        .with_value("user_input", user_input))
}
