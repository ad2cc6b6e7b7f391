//! What the subcommands share: resolving settings from options, loading the inventory, parsing
//! `-e`, and mapping run outcomes to exit codes.

use crate::cli::{ConnectArgs, OutputArgs, OutputFormat};
use crate::executor::Outcome;
use crate::inventory::Inventory;
use crate::output::{Fanout, Human, Json, Junit, Reporter};
use crate::settings::Settings;
use crate::vars::{varmap_from_value, VarMap};
use anyhow::{anyhow, Context, Result};
use std::path::PathBuf;

/// A user mistake found before any host was touched: exit code 5.
#[derive(Debug)]
pub struct InputError(pub anyhow::Error);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for InputError {}

/// The exit code of a command that stopped on an error: 5 for bad input, else 1.
pub fn error_exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<InputError>().is_some() {
        5
    } else {
        1
    }
}

/// Marks an error as bad input.
pub fn input<T>(r: Result<T>) -> Result<T> {
    r.map_err(|e| anyhow::Error::new(InputError(e)))
}

/// Exit code for a finished run (ansible-playbook's codes).
pub fn exit_code(o: &Outcome) -> i32 {
    if o.interrupted {
        99
    } else if o.any_failed {
        2
    } else if o.any_unreachable {
        4
    } else {
        0
    }
}

/// Runs a command between its reporters' `run_start` and `run_end`, so that a JSON stream
/// always ends by saying how the command ended: a stream without that end was cut short.
pub fn bracketed(
    reporter: &mut Fanout,
    shard: Option<crate::shard::Shard>,
    run: impl FnOnce(&mut Fanout) -> Result<i32>,
) -> Result<i32> {
    reporter.run_start(shard);
    let result = run(reporter);
    match &result {
        Ok(code) => reporter.run_end(*code, None),
        Err(e) => reporter.run_end(error_exit_code(e), Some(&format!("{e:#}"))),
    }
    result
}

/// Parses one `-e` value: `@file` (YAML/JSON), inline JSON/YAML mapping, or `k=v` pairs.
pub fn parse_extra_vars(raw: &str) -> Result<VarMap> {
    let raw = raw.trim();
    if let Some(path) = raw.strip_prefix('@') {
        let docs = crate::yaml::load_file(std::path::Path::new(path))?;
        return match docs.first() {
            Some(d) if d.as_map().is_some() => {
                Ok(varmap_from_value(&crate::yaml::node_to_value(d)))
            }
            Some(d) if d.is_null() => Ok(VarMap::new()),
            Some(d) => Err(anyhow!("{}: an extra-vars file must be a mapping", d.span)),
            None => Ok(VarMap::new()),
        };
    }
    if raw.starts_with('{') {
        let v = crate::yaml::value_from_yaml_str(raw)
            .with_context(|| format!("reading extra vars `{raw}`"))?;
        return Ok(varmap_from_value(&v));
    }
    let (pairs, _) = crate::playbook::parse_kv(raw, false, &|_| true).map_err(|e| {
        anyhow!("cannot read extra vars `{raw}`: {e}\nhint: use k=v pairs, a JSON object, or @file")
    })?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k, minijinja::Value::from(v)))
        .collect())
}

/// Reads the vault passwords the options name (running scripts, prompting) and makes them
/// the ones every later load decrypts with.
pub fn setup_vault(args: &crate::cli::VaultSecretArgs) -> Result<()> {
    let mut options = args.options();
    // `vault_password_file` of ansible.cfg/drover.toml when nothing else names a password.
    if options.password_files.is_empty()
        && options.vault_ids.is_empty()
        && !options.ask
        && std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE").is_none()
    {
        options
            .password_files
            .extend(crate::config::load()?.vault_password_file);
    }
    crate::vault::set_secrets(crate::vault::load_secrets(&options)?);
    Ok(())
}

/// A password asked on the terminal (`-K`, `-k`).
fn ask_secret(prompt: &str) -> Result<String> {
    let pw = crate::vault::prompt_tty(prompt, "give it in the inventory instead")?;
    String::from_utf8(pw).map_err(|_| anyhow!("the password is not UTF-8 text"))
}

/// Settings from the connection options, over what `ansible.cfg`/`drover.toml` say.
pub fn settings_from(c: &ConnectArgs) -> Result<Settings> {
    let cfg = crate::config::load()?;
    crate::template::conditional::set_allow_broken(cfg.allow_broken_conditionals == Some(true));
    let mut s = Settings {
        check: c.check,
        diff: c.diff,
        forks: c
            .forks
            .or(cfg.forks)
            .unwrap_or(crate::settings::DEFAULT_FORKS)
            .max(1),
        limit: c.limit.clone(),
        remote_user: c.user.clone().or(cfg.remote_user),
        become_enabled: c.become_ || cfg.become_ == Some(true),
        become_user: c.become_user.clone().or(cfg.become_user),
        become_method: match &c.become_method {
            Some(m) => {
                crate::playbook::check_become_method(m)
                    .map_err(|e| anyhow!("--become-method: {e}"))?;
                Some(m.clone())
            }
            None => None,
        },
        // Asked once, before anything runs, as ansible-playbook asks.
        become_password: match (&c.become_password_file, c.ask_become_pass) {
            (Some(f), _) => Some(password_from_file(f)?),
            (None, true) => Some(ask_secret("BECOME password: ")?),
            (None, false) => None,
        },
        conn_password: match (&c.connection_password_file, c.ask_pass) {
            (Some(f), _) => Some(password_from_file(f)?),
            (None, true) => Some(ask_secret("SSH password: ")?),
            (None, false) => None,
        },
        ssh_common_args: c.ssh_common_args.clone(),
        ssh_extra_args: c.ssh_extra_args.clone(),
        ignored_flags: ignored_flags(c),
        private_key: c.private_key.clone().or(cfg.private_key_file),
        connection: c.connection.clone(),
        connect_timeout: std::time::Duration::from_secs(
            c.timeout.or(cfg.timeout).unwrap_or(10).max(1),
        ),
        task_timeout: c.task_timeout.or(cfg.task_timeout).unwrap_or(0),
        verbosity: c.verbose,
        // Ansible's DEFAULT_NO_LOG: the environment over the configuration files.
        no_log: match std::env::var("ANSIBLE_NO_LOG") {
            Ok(v) if !v.is_empty() => crate::config::boolean(&v)
                .ok_or_else(|| anyhow!("ANSIBLE_NO_LOG must be a boolean, not `{v}`"))?,
            _ => cfg.no_log.unwrap_or(false),
        },
        gathering: cfg.gathering.clone().unwrap_or_else(|| "implicit".into()),
        debug: std::env::var("ANSIBLE_DEBUG")
            .ok()
            .and_then(|v| crate::config::boolean(&v))
            .unwrap_or(false),
        fact_cache: crate::executor::FactCache::from_config(
            cfg.fact_caching.as_deref(),
            cfg.fact_caching_connection.as_deref(),
            cfg.fact_caching_prefix.as_deref(),
            cfg.fact_caching_timeout,
        )?,
        ..Settings::default()
    };
    match (&c.host_key_checking, cfg.host_key_checking) {
        (Some(p), _) => s.host_key_policy = Some(p.parse().map_err(|e: String| anyhow!("{e}"))?),
        // `host_key_checking = False` in ansible.cfg: no checking, as Ansible.
        (None, Some(false)) => s.host_key_policy = Some(crate::connection::HostKeyPolicy::Off),
        (None, _) => {}
    }
    s.known_hosts = c.known_hosts.clone();
    s.ssh_config = std::sync::Arc::new(crate::connection::ssh_config::SshConfig::load(
        cfg.ssh_config.as_deref(),
    )?);
    if let Some(conn) = &c.connection {
        if !matches!(conn.as_str(), "ssh" | "local" | "chroot") {
            return Err(anyhow!(
                "unknown connection type `{conn}`\nhint: use `ssh`, `local` or `chroot`"
            ));
        }
    }
    for e in &c.extra_vars {
        s.extra_vars.extend(parse_extra_vars(e)?);
    }
    Ok(s)
}

/// The reporters of a run: `human` (the given one) or `json` on standard output, plus a
/// JUnit file with `--junit`.
pub fn reporters(out: &OutputArgs, human: impl FnOnce() -> Human) -> Result<Fanout> {
    let primary: Box<dyn Reporter> = match out.output {
        OutputFormat::Human => Box::new(human()),
        OutputFormat::Json => Box::new(Json::stdout()),
    };
    let mut reporter = Fanout::new(primary);
    if let Some(path) = &out.junit {
        reporter = reporter.also(Box::new(junit_file(path)?));
    }
    Ok(reporter)
}

/// The JUnit report `--junit FILE` asks for; its directory must exist.
pub fn junit_file(path: &std::path::Path) -> Result<Junit> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if path.is_dir() || !dir.is_dir() {
        anyhow::bail!(
            "--junit {}: not a file in an existing directory",
            path.display()
        );
    }
    Ok(Junit::new(path.to_path_buf()))
}

/// Loads the inventory sources; with none given, the implicit localhost.
pub fn load_inventory(sources: &[String], playbook_dirs: &[PathBuf]) -> Result<Inventory> {
    if sources.is_empty() {
        if let Ok(env) = std::env::var("ANSIBLE_INVENTORY") {
            let list: Vec<String> = env
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            return Inventory::load(&list, playbook_dirs);
        }
        let cfg = crate::config::load()?;
        if !cfg.inventory.is_empty() {
            return Inventory::load(&cfg.inventory, playbook_dirs);
        }
        return Ok(Inventory::implicit_localhost());
    }
    Inventory::load(sources, playbook_dirs)
}

/// The ansible-playbook flags given that change nothing in drover, each with why.
fn ignored_flags(c: &ConnectArgs) -> Vec<String> {
    let mut out = Vec::new();
    for (flag, given) in [
        ("--scp-extra-args", c.scp_extra_args.is_some()),
        ("--sftp-extra-args", c.sftp_extra_args.is_some()),
    ] {
        if given {
            out.push(format!(
                "{flag} is ignored: drover sends files over its shell session, not with scp or sftp"
            ));
        }
    }
    if !c.module_path.is_empty() {
        out.push(
            "--module-path is ignored: drover runs its own built-in modules, not Python modules"
                .to_string(),
        );
    }
    out
}

/// A password from `--become-password-file` or `--connection-password-file`, as
/// ansible-playbook reads one: `-` is standard input, an executable file is run (its output
/// the password), any other file is read; surrounding line breaks removed, empty refused.
fn password_from_file(path: &std::path::Path) -> Result<String> {
    use crate::vault::{open_source, Source, SourceError};
    use std::io::Read;
    let shown = path.display();
    let raw = if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        match open_source(path, &[]) {
            Ok(Source::Ran(out)) => out,
            Ok(Source::Read(b)) => b.trim_ascii().to_vec(),
            Err(SourceError::NotFound(_)) => {
                anyhow::bail!("The password file {shown} was not found")
            }
            Err(SourceError::Spawn(e)) => anyhow::bail!("Problem occurred when trying to run the password script {shown} ({e}). If this is not a script, remove the executable bit from the file."),
            Err(SourceError::Failed(code, stderr)) => anyhow::bail!(
                "The password script {shown} returned an error (rc={code}): {stderr}"
            ),
            Err(SourceError::Read(_)) => {
                anyhow::bail!("Could not read password file '{shown}'.")
            }
        }
    };
    let s = String::from_utf8_lossy(&raw)
        .trim_matches(['\r', '\n'])
        .to_string();
    if s.is_empty() {
        anyhow::bail!("Empty password was provided from file ({shown})");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_forms() {
        let kv = parse_extra_vars("a=1 b='x y'").unwrap();
        assert_eq!(kv.get("b").unwrap().as_str(), Some("x y"));
        let json = parse_extra_vars(r#"{"n": 3, "l": [1, 2]}"#).unwrap();
        assert_eq!(json.get("n").unwrap().as_i64(), Some(3));
        assert_eq!(json.get("l").unwrap().len(), Some(2));
        assert!(parse_extra_vars("oops").is_err());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&Outcome::default()), 0);
        assert_eq!(
            exit_code(&Outcome {
                any_failed: true,
                any_unreachable: true,
                ..Outcome::default()
            }),
            2
        );
        assert_eq!(
            exit_code(&Outcome {
                any_unreachable: true,
                ..Outcome::default()
            }),
            4
        );
        assert_eq!(
            exit_code(&Outcome {
                interrupted: true,
                ..Outcome::default()
            }),
            99
        );
    }
}
