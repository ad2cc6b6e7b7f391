//! `pip`: Python packages installed, upgraded or removed with the host's pip, in a virtualenv
//! (created with `virtualenv_command` when missing) or for the host's `python3`, as Ansible's
//! module runs pip. One look lists what is installed (`pip list --format=freeze`); a plain
//! requirement is present when an installed version satisfies it (`req.rs`). Where the list
//! cannot tell (`latest`, a requirements file, `extra_args`, URLs and paths), pip's own
//! `install --dry-run` says whether anything would be installed, so check mode predicts what
//! a run does (Ansible's check mode says "changed" there).

use super::contract::{
    Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed, SBIN_PATH,
};
use super::fileops::fail;
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod req;

use req::{recover_names, Package};

pub struct Pip;

static SPEC: Spec = Spec {
    args: &[
        "state",
        "name",
        "version",
        "requirements",
        "virtualenv",
        "virtualenv_site_packages",
        "virtualenv_command",
        "virtualenv_python",
        "extra_args",
        "editable",
        "chdir",
        "executable",
        "umask",
        "break_system_packages",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct PipArgs {
    state: String,
    names: Option<Vec<String>>,
    packages: Vec<Package>,
    version: Option<String>,
    requirements: Option<String>,
    env: Option<String>,
    site_packages: bool,
    venv_command: Vec<String>,
    venv_python: Option<String>,
    extra: Vec<String>,
    chdir: String,
    executable: Option<String>,
    umask: Option<String>,
    break_system: bool,
}

/// What a run does.
#[derive(Debug)]
pub struct PipChange {
    create_venv: bool,
    /// The pip words (`install -U ...`).
    words: Vec<String>,
}

impl PipArgs {
    /// The pip words after the program: the state's command, `extra_args`, the packages.
    fn words(&self) -> Vec<String> {
        let mut w: Vec<String> = match self.state.as_str() {
            "absent" => vec!["uninstall".into(), "-y".into()],
            "latest" => vec!["install".into(), "-U".into()],
            "forcereinstall" => vec!["install".into(), "-U".into(), "--force-reinstall".into()],
            _ => vec!["install".into()],
        };
        w.extend(self.extra.iter().cloned());
        match &self.requirements {
            Some(r) if self.names.is_none() => w.extend(["-r".to_string(), r.clone()]),
            _ => w.extend(self.packages.iter().map(|p| p.text.clone())),
        }
        w
    }

    /// Whether the installed list alone decides (plain names, present or absent, no extra
    /// arguments).
    fn list_decides(&self) -> bool {
        (self.state == "absent"
            || (self.state == "present"
                && self.extra.is_empty()
                && self.requirements.is_none()
                && self.packages.iter().all(|p| p.name.is_some())))
            && self.names.is_some()
    }

    /// Finds pip (the virtualenv's, `executable`, or `python3 -m pip`) into `pipc`, and the
    /// working directory; `echo found` when there is one.
    fn find_pip(&self) -> Script {
        Script::new()
            .raw(SBIN_PATH)
            .set("env", self.env.as_deref().unwrap_or(""))
            .set("exe", self.executable.as_deref().unwrap_or(""))
            .set("cwd", &self.chdir)
            .raw(concat!(
                "p=; pm=\n",
                "if [ -n \"$env\" ]; then\n",
                "  for b in pip3 pip; do if [ -x \"$env/bin/$b\" ]; then p=\"$env/bin/$b\"; break; fi; done\n",
                "elif [ -n \"$exe\" ]; then\n",
                "  case $exe in /*) p=$exe;; *) p=$(command -v -- \"$exe\");; esac\n",
                "elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then pm=1\n",
                "else p=$(command -v pip3); fi\n",
                "pipc() { if [ -n \"$pm\" ]; then python3 -m pip \"$@\"; else \"$p\" \"$@\"; fi; }\n",
            ))
    }
}

fn parse(args: &Args, host: &mut dyn Resolve) -> Result<PipArgs> {
    let state = args.choice(
        "state",
        &["present", "absent", "latest", "forcereinstall"],
        "present",
    )?;
    let names = args.has("name").then(|| args.list("name"));
    let requirements = args.str("requirements");
    if names.is_none() && requirements.is_none() {
        return Err(fail("one of the following is required: name, requirements"));
    }
    if names.is_some() && requirements.is_some() {
        return Err(fail("parameters are mutually exclusive: name|requirements"));
    }
    if args.has("executable") && args.has("virtualenv") {
        return Err(fail(
            "parameters are mutually exclusive: executable|virtualenv",
        ));
    }
    let version = args.str("version");
    if state == "latest" && version.is_some() {
        return Err(fail("version is incompatible with state=latest"));
    }
    let mut packages: Vec<Package> = names
        .as_deref()
        .map(recover_names)
        .unwrap_or_default()
        .iter()
        .map(|n| Package::parse(n, None))
        .collect();
    if let Some(v) = &version {
        if packages.len() > 1 {
            return Err(fail("'version' argument is ambiguous when installing multiple package distributions. Please specify version restrictions next to each package in 'name' argument."));
        }
        if packages.first().is_some_and(Package::has_specifier) {
            return Err(fail("The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument."));
        }
        if let Some(p) = packages.first_mut() {
            *p = Package::parse(&p.text, Some(v));
        }
    }
    let mut extra_text = args.str("extra_args").unwrap_or_default();
    if args.bool_or("editable", false)? && !extra_text.split(' ').any(|w| w == "-e") {
        extra_text = if extra_text.is_empty() {
            "-e".into()
        } else {
            format!("{extra_text} -e")
        };
    }
    let extra = crate::shell::split(&extra_text).map_err(fail)?;
    let chdir = match args.str("chdir") {
        Some(c) => host.expand_path(&c)?,
        None => "/tmp".into(),
    };
    let env = match args.str("virtualenv") {
        Some(e) => {
            let e = host.expand_path(&e)?;
            Some(if e.starts_with('/') || !args.has("chdir") {
                e
            } else {
                format!("{}/{e}", chdir.trim_end_matches('/'))
            })
        }
        None => None,
    };
    let venv_text = args
        .str("virtualenv_command")
        .unwrap_or_else(|| "virtualenv".into());
    let venv_command = crate::shell::split(&venv_text).map_err(fail)?;
    if venv_command.is_empty() {
        return Err(fail("virtualenv_command is empty"));
    }
    let venv_python = args.str("virtualenv_python");
    if venv_python.is_some() && is_venv_command(&venv_command) && env.is_some() {
        return Err(fail("virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command"));
    }
    let umask = match args.str("umask") {
        Some(u) if u.is_empty() || !u.chars().all(|c| c.is_digit(8)) => {
            return Err(fail("umask must be an octal integer"))
        }
        u => u,
    };
    Ok(PipArgs {
        state,
        names,
        packages,
        version,
        requirements,
        env,
        site_packages: args.bool_or("virtualenv_site_packages", false)?,
        venv_command,
        venv_python,
        extra,
        chdir,
        executable: args.str("executable"),
        umask,
        break_system: args.bool_or("break_system_packages", false)?,
    })
}

/// Ansible's `_is_venv_command`: `pyvenv`, or `-m venv`.
fn is_venv_command(cmd: &[String]) -> bool {
    cmd.first().is_some_and(|c| c == "pyvenv")
        || cmd.windows(2).any(|w| w[0] == "-m" && w[1] == "venv")
        || cmd.iter().any(|w| w == "-mvenv")
}

impl Typed for Pip {
    type Args = PipArgs;
    type Change = PipChange;

    fn name(&self) -> &'static str {
        "pip"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<PipArgs> {
        parse(args, host)
    }

    fn observe(&self, a: &PipArgs) -> Observe {
        let s = a.find_pip().raw(concat!(
            "if [ -n \"$env\" ] && [ -e \"$env/bin/activate\" ]; then echo venv; fi\n",
            "if [ -n \"$p$pm\" ]; then echo found; (cd \"$cwd\" 2>/dev/null; LC_ALL=C pipc list --format=freeze --disable-pip-version-check 2>/dev/null) | sed 's/^/pkg /'; fi\n",
        ));
        Observe {
            sections: vec![("pip", s)],
            ..Observe::default()
        }
    }

    fn observe_again(&self, a: &PipArgs, seen: &Observed) -> Option<Observe> {
        let text = seen.section("pip");
        let found = text.lines().any(|l| l == "found");
        if a.list_decides()
            || a.state == "forcereinstall"
            || !found
            || seen.sections.contains_key("dry")
        {
            return None;
        }
        let mut s = a
            .find_pip()
            .raw("{ (cd \"$cwd\" 2>/dev/null; ")
            .raw(if a.break_system {
                "PIP_BREAK_SYSTEM_PACKAGES=1 "
            } else {
                ""
            })
            .raw("LC_ALL=C pipc install --dry-run --disable-pip-version-check");
        for w in a.words().iter().skip(1) {
            s = s.arg(w);
        }
        s = s.raw(" 2>&1); echo \"rc $?\"; } | awk '/^rc -?[0-9]+$/ { print; next } /^Would install/ { print \"would \" $0 } { n++; if (n <= 20) print \"o \" $0 }'\n");
        Some(Observe {
            sections: vec![("dry", s)],
            ..Observe::default()
        })
    }

    fn decide(&self, a: &PipArgs, seen: &Observed) -> Outcome<PipChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &PipArgs, c: &PipChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if c.create_venv {
            let env = a.env.clone().unwrap_or_default();
            let mut s = Script::new()
                .raw(SBIN_PATH)
                .set("v0", &a.venv_command[0])
                .set("cwd", &a.chdir)
                .raw("command -v -- \"$v0\" >/dev/null 2>&1 || { echo \"Failed to find required executable \\\"$v0\\\" in paths: $PATH\" >&2; exit 1; }\ncd \"$cwd\" && ");
            if let Some(u) = &a.umask {
                s = s.raw("umask").arg(u).raw(" && ");
            }
            s = s.raw("\"$v0\"");
            for w in &a.venv_command[1..] {
                s = s.arg(w);
            }
            if a.site_packages {
                s = s.raw(" --system-site-packages");
            }
            if !is_venv_command(&a.venv_command) {
                match &a.venv_python {
                    Some(p) => s = s.arg(&format!("-p{p}")),
                    None => s = s.raw(" -p\"$(command -v python3)\""),
                }
            }
            steps.push(Step::Exec {
                script: s.arg(&env).raw("\n"),
                stdin: None,
            });
        }
        let mut s = a.find_pip().raw(concat!(
            "[ -n \"$p$pm\" ] || { echo 'pip was not found' >&2; exit 1; }\n",
            "[ -z \"$env\" ] || PATH=\"$env/bin:$PATH\"\n",
            "cd \"$cwd\" || exit 1\n",
        ));
        if let Some(u) = &a.umask {
            s = s.raw("umask").arg(u).raw("\n");
        }
        if a.break_system {
            s = s.raw("export PIP_BREAK_SYSTEM_PACKAGES=1\n");
        }
        s = s.raw("LC_ALL=C pipc");
        for w in &c.words {
            s = s.arg(w);
        }
        steps.push(Step::Exec {
            script: s.raw("\n"),
            stdin: None,
        });
        steps
    }

    fn finish(&self, a: &PipArgs, _c: &PipChange, done: &Done, mut r: Plan) -> Plan {
        for (i, out) in done.outputs.iter().enumerate() {
            let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
            let last = i + 1 == done.outputs.len();
            let not_installed = a.state == "absent"
                && out.rc == 1
                && (stdout.contains("not installed") || stderr.contains("not installed"));
            if out.rc != 0 && !not_installed {
                let mut msg = String::new();
                if !stdout.is_empty() {
                    msg.push_str(&format!("stdout: {stdout}"));
                }
                if !stderr.is_empty() {
                    msg.push_str(&format!("\n:stderr: {stderr}"));
                }
                r.mark_failed(false);
                r.msg = Some(msg);
                return r;
            }
            if last {
                r = r
                    .with_value("stdout", stdout.to_string())
                    .with_value("stderr", stderr.to_string());
            }
        }
        r
    }
}

fn decide(a: &PipArgs, seen: &Observed) -> Result<Outcome<PipChange>, Failure> {
    let text = seen.section("pip");
    let venv = text.lines().any(|l| l == "venv");
    let found = text.lines().any(|l| l == "found");
    let create_venv = a.env.is_some() && !venv;
    if !found && !create_venv {
        return Err(Failure::new(match &a.env {
            Some(e) => format!("Unable to find pip in the virtualenv, {e}, under any of these names: pip3, pip. Make sure pip is present in the virtualenv."),
            None => match &a.executable {
                Some(x) => format!("Unable to find any of {x} to use.  pip needs to be installed."),
                None => "Unable to find any of pip3 to use.  pip needs to be installed.".into(),
            },
        }));
    }
    let installed: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("pkg "))
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let words = a.words();
    let report = Plan::unchanged()
        .with_value("cmd", words.clone())
        .with_value("name", a.names.clone().map_or(Value::from(()), Value::from))
        .with_value(
            "version",
            a.version.clone().map_or(Value::from(()), Value::from),
        )
        .with_value("state", a.state.as_str())
        .with_value(
            "requirements",
            a.requirements.clone().map_or(Value::from(()), Value::from),
        )
        .with_value(
            "virtualenv",
            a.env.clone().map_or(Value::from(()), Value::from),
        );
    let changed = if create_venv || a.state == "forcereinstall" {
        true
    } else if a.list_decides() {
        let present = |p: &Package| p.present_in(&installed);
        match a.state.as_str() {
            "absent" => a.packages.iter().any(present),
            _ => !a.packages.iter().all(present),
        }
    } else {
        let dry = seen.section("dry");
        let rc = dry
            .lines()
            .find_map(|l| l.strip_prefix("rc "))
            .and_then(|r| r.parse::<i32>().ok())
            .unwrap_or(0);
        if rc != 0 {
            let out: Vec<&str> = dry.lines().filter_map(|l| l.strip_prefix("o ")).collect();
            return Err(Failure::new(format!("stdout: {}", out.join("\n"))));
        }
        dry.lines().any(|l| l.starts_with("would "))
    };
    Ok(if changed {
        Outcome::change(PipChange { create_venv, words }, report)
    } else {
        Outcome::Unchanged(report)
    })
}
