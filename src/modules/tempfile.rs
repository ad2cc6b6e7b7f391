//! `tempfile`: make a temporary file or directory on the host (`mktemp`), named as Python's
//! `mkstemp`/`mkdtemp` name them: `prefix`, eight random characters, `suffix`, in `path` or
//! the host's `$TMPDIR` (else `/tmp`); mode 0600 (file) or 0700 (directory). It always changes
//! the host; like Ansible's module it cannot run in check mode (it is skipped there).

use super::{Args, Module, ModuleCtx, Plan, Spec};
use crate::shell::quote;
use anyhow::Result;

pub struct TempFile;

static SPEC: Spec = Spec {
    args: &["state", "path", "prefix", "suffix"],
    aliases: &[],
    free_form: None,
    any_args: false,
};

/// The `mktemp` command for the arguments, or why they are invalid.
fn command(args: &Args) -> Result<String, String> {
    let state = args.str("state").unwrap_or_else(|| "file".into());
    let prefix = args.str("prefix").unwrap_or_else(|| "ansible.".into());
    let suffix = args.str("suffix").unwrap_or_default();
    for (what, v) in [("prefix", &prefix), ("suffix", &suffix)] {
        if v.contains('/') || v.contains('\0') {
            return Err(format!(
                "{what} must be a valid file name component, got '{v}'"
            ));
        }
    }
    let dir_flag = match state.as_str() {
        "file" => "",
        "directory" => " -d",
        other => {
            return Err(format!(
                "value of state must be one of: file, directory, got: {other}"
            ))
        }
    };
    let dir = match args.str("path") {
        Some(p) => quote(&p),
        None => "\"${TMPDIR:-/tmp}\"".into(),
    };
    Ok(format!(
        "mktemp{dir_flag} -p {dir} --suffix={} -- {}",
        quote(&suffix),
        quote(&format!("{prefix}XXXXXXXX"))
    ))
}

impl Module for TempFile {
    fn leaves_accounts_alone(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "tempfile"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn plan(&self, _ctx: &mut ModuleCtx, args: &Args) -> Result<Plan> {
        Ok(match command(args) {
            Err(msg) => Plan::fail(msg),
            Ok(cmd) => {
                let mut plan = Plan::change(cmd);
                plan.skip_in_check = true;
                plan
            }
        })
    }
    fn apply(&self, ctx: &mut ModuleCtx, _args: &Args, mut plan: Plan) -> Result<Plan> {
        let cmd: String = plan.take_work()?;
        let out = ctx.run(&cmd)?;
        if out.rc != 0 {
            return Ok(Plan::fail(out.stderr_str().trim().to_string()));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        let state = if cmd.starts_with("mktemp -d") {
            "directory"
        } else {
            "file"
        };
        Ok(plan.with_value("path", path).with_value("state", state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Args {
        let mut a = Args::default();
        for (k, v) in pairs {
            a.map.insert(k.to_string(), minijinja::Value::from(*v));
        }
        a
    }

    #[test]
    fn commands() {
        assert_eq!(
            command(&args(&[])).unwrap(),
            "mktemp -p \"${TMPDIR:-/tmp}\" --suffix='' -- ansible.XXXXXXXX"
        );
        assert_eq!(
            command(&args(&[
                ("state", "directory"),
                ("path", "/srv/a b"),
                ("suffix", ".test")
            ]))
            .unwrap(),
            "mktemp -d -p '/srv/a b' --suffix=.test -- ansible.XXXXXXXX"
        );
        assert!(command(&args(&[("prefix", "../x")])).is_err());
    }
}
