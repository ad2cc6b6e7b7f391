//! `tempfile`: make a temporary file or directory on the host (`mktemp`), named as Python's
//! `mkstemp`/`mkdtemp` name them: `prefix`, eight random characters, `suffix`, in `path` or
//! the host's `$TMPDIR` (else `/tmp`); mode 0600 (file) or 0700 (directory). It always changes
//! the host; like Ansible's module it cannot run in check mode (it is skipped there).

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec, Verdict};

pub struct TempFile;

static SPEC: Spec = Spec {
    args: &["state", "path", "prefix", "suffix"],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

/// The `mktemp` command for the arguments, or why they are invalid.
/// `tempfile`'s arguments.
#[derive(Debug)]
pub struct TempArgs {
    dir: bool,
    path: Option<String>,
    prefix: String,
    suffix: String,
}

fn parse(args: &Args) -> Result<TempArgs, Failure> {
    let state = args.str("state").unwrap_or_else(|| "file".into());
    let prefix = args.str("prefix").unwrap_or_else(|| "ansible.".into());
    let suffix = args.str("suffix").unwrap_or_default();
    for (what, v) in [("prefix", &prefix), ("suffix", &suffix)] {
        if v.contains('/') || v.contains('\0') {
            return Err(Failure::new(format!(
                "{what} must be a valid file name component, got '{v}'"
            )));
        }
    }
    let dir = match state.as_str() {
        "file" => false,
        "directory" => true,
        other => {
            return Err(Failure::new(format!(
                "value of state must be one of: file, directory, got: {other}"
            )))
        }
    };
    Ok(TempArgs {
        dir,
        path: args.str("path"),
        prefix,
        suffix,
    })
}

/// The `mktemp` command: in `path`, else the host's `$TMPDIR`, else `/tmp`.
fn command(a: &TempArgs) -> Script {
    let s = Script::new().raw(if a.dir { "mktemp -d -p" } else { "mktemp -p" });
    let s = match &a.path {
        Some(p) => s.arg(p),
        None => s.raw(" \"${TMPDIR:-/tmp}\""),
    };
    s.raw(" --suffix")
        .arg(&a.suffix)
        .raw(" --")
        .arg(&format!("{}XXXXXXXX", a.prefix))
        .raw("\n")
}

impl Typed for TempFile {
    type Args = TempArgs;
    type Change = ();

    fn leaves_accounts_alone(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "tempfile"
    }
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn parse(&self, args: &Args, _host: &mut dyn Resolve) -> anyhow::Result<TempArgs> {
        parse(args).map_err(Into::into)
    }
    fn observe(&self, _a: &TempArgs) -> Observe {
        Observe::default()
    }
    fn decide(&self, _a: &TempArgs, _seen: &Observed) -> Outcome<()> {
        let mut report = Plan::unchanged();
        report.verdict = Verdict::Unpredictable;
        Outcome::change((), report)
    }
    fn apply(&self, a: &TempArgs, _c: &()) -> Vec<Step> {
        vec![Step::Exec {
            script: command(a),
            stdin: None,
        }]
    }
    fn finish(&self, a: &TempArgs, _c: &(), done: &Done, report: Plan) -> Plan {
        let out = &done.outputs[0];
        if out.rc != 0 {
            return Plan::fail(out.stderr_str().trim().to_string());
        }
        let path = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        let state = if a.dir { "directory" } else { "file" };
        report.with_value("path", path).with_value("state", state)
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
        let cmd = |a: &Args| command(&parse(a).unwrap()).text().to_string();
        assert_eq!(
            cmd(&args(&[])),
            "mktemp -p \"${TMPDIR:-/tmp}\" --suffix '' -- ansible.XXXXXXXX\n"
        );
        assert_eq!(
            cmd(&args(&[
                ("state", "directory"),
                ("path", "/srv/a b"),
                ("suffix", ".test")
            ])),
            "mktemp -d -p '/srv/a b' --suffix .test -- ansible.XXXXXXXX\n"
        );
        assert!(parse(&args(&[("prefix", "../x")])).is_err());
    }
}
