//! How to reach a host, as Ansible with OpenSSH would: the connection variables (inventory,
//! play, task) and the command line first, then the OpenSSH client configuration
//! (`~/.ssh/config`, looked up by `ansible_host` or the inventory name, after any `-o`/`-J` in
//! `ansible_ssh_common_args`/`ansible_ssh_extra_args`), then drover's defaults. `ProxyJump`
//! hops are resolved here too; opening the connection is `connection`'s.

use super::context::{layers, PlayCtx};
use super::host::HostState;
use super::run_task::var_str;
use crate::connection::ssh_config::{expand_path, Hop, HostConfig, SshConfig, Tokens};
use crate::connection::{current_user, ConnSpec, HostKeyPolicy};
use crate::playbook::Task;
use crate::settings::Settings;
use crate::vars::Scope;
use anyhow::{anyhow, bail, Result};
use minijinja::Value;
use std::path::PathBuf;

/// More jump hosts than this in one chain (counting those of the jump hosts' own
/// configuration) is taken for a loop.
const MAX_JUMPS: usize = 8;

/// How to reach a host, from its variables, the play and the command line.
pub fn conn_spec(pc: &PlayCtx, host: &HostState, task: Option<&Task>) -> Result<ConnSpec> {
    let scope = Scope::new(layers(pc, host, task, None)).into_value();
    spec_from_scope(pc, &host.name, &scope, task)
}

/// How to reach `name`, from a scope holding its connection variables.
pub fn spec_from_scope(
    pc: &PlayCtx,
    name: &str,
    scope: &Value,
    task: Option<&Task>,
) -> Result<ConnSpec> {
    let s = pc.settings;
    let transport = var_str(scope, &["ansible_connection"])
        .or_else(|| s.connection.clone())
        .or_else(|| pc.play.connection.clone())
        .unwrap_or_else(|| "ssh".into());
    // `ssh` is given ansible_host (or the inventory name): the config is looked up by it.
    let alias =
        var_str(scope, &["ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| name.to_string());
    let cfg = if matches!(transport.as_str(), "ssh" | "paramiko" | "smart") {
        let mut words = Vec::new();
        // A variable wins over the command line's `--ssh-common-args`/`--ssh-extra-args`.
        for (var, flag) in [
            ("ansible_ssh_common_args", &s.ssh_common_args),
            ("ansible_ssh_extra_args", &s.ssh_extra_args),
        ] {
            if let Some(v) = var_str(scope, &[var]).or_else(|| flag.clone()) {
                words.extend(
                    crate::shell::split(&v).map_err(|e| anyhow!("`{var}` of `{name}`: {e}"))?,
                );
            }
        }
        let args = SshConfig::parse_args(&words, &format!("ssh arguments of `{name}`"))?;
        s.ssh_config.lookup(&alias, &args)
    } else {
        HostConfig::default()
    };
    let port = match var_str(scope, &["ansible_port", "ansible_ssh_port"]) {
        Some(p) => p
            .parse()
            .map_err(|_| anyhow!("`ansible_port` of `{}` is not a port number: `{p}`", name))?,
        None => cfg.port.unwrap_or(22),
    };
    let explicit_policy = match var_str(
        scope,
        &["ansible_host_key_checking", "ansible_ssh_host_key_checking"],
    ) {
        Some(p) => Some(p.parse().map_err(|e: String| anyhow!("{e}"))?),
        None => s.host_key_policy,
    };
    let user = var_str(scope, &["ansible_user", "ansible_ssh_user"])
        .or_else(|| task.and_then(|t| t.remote_user.clone()))
        .or_else(|| pc.play.remote_user.clone())
        .or_else(|| s.remote_user.clone())
        .or_else(|| cfg.user.clone());
    let address = cfg.hostname.clone().unwrap_or_else(|| alias.clone());
    let explicit_key = var_str(
        scope,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    )
    .map(|k| expand_home(&k))
    .or_else(|| s.private_key.clone());
    refuse_proxy_command(&cfg)?;
    let jumps = match &cfg.proxy_jump {
        Some(hops) if !hops.is_empty() => {
            resolve_jumps(s, explicit_policy, hops, 0).map_err(|e| anyhow!("`{name}`: {e:#}"))?
        }
        _ => Vec::new(),
    };
    let mut spec = resolved(s, explicit_policy, &cfg, &alias, address, port, user)?;
    spec.name = name.to_string();
    spec.transport = transport;
    spec.password = var_str(scope, &["ansible_password", "ansible_ssh_pass"])
        .or_else(|| s.conn_password.clone());
    if let Some(k) = explicit_key {
        spec.private_keys = vec![k];
    }
    spec.jumps = jumps;
    Ok(spec)
}

/// An ssh spec for `alias` at `address:port` with the settings and configuration's keys,
/// host key policy and known_hosts file.
fn resolved(
    s: &Settings,
    explicit_policy: Option<HostKeyPolicy>,
    cfg: &HostConfig,
    alias: &str,
    address: String,
    port: u16,
    user: Option<String>,
) -> Result<ConnSpec> {
    let remote_user = user.clone().unwrap_or_else(current_user);
    let tokens = Tokens {
        alias,
        host: &address,
        port,
        remote_user: &remote_user,
    };
    // As OpenSSH, identity files that do not exist are passed over.
    let mut private_keys = Vec::new();
    for f in &cfg.identity_files {
        let p = expand_path(f, &tokens).map_err(|e| anyhow!("`IdentityFile {f}`: {e}"))?;
        if p.is_file() {
            private_keys.push(p);
        }
    }
    let known_hosts = match (&s.known_hosts, &cfg.user_known_hosts_file) {
        (Some(k), _) => k.clone(),
        (None, Some(f)) => {
            expand_path(f, &tokens).map_err(|e| anyhow!("`UserKnownHostsFile {f}`: {e}"))?
        }
        (None, None) => crate::settings::default_known_hosts(),
    };
    Ok(ConnSpec {
        name: alias.to_string(),
        transport: "ssh".into(),
        address,
        port,
        user,
        password: None,
        private_keys,
        connect_timeout: s.connect_timeout,
        host_key_policy: explicit_policy
            .or(cfg.strict_host_key_checking)
            .unwrap_or(HostKeyPolicy::Strict),
        known_hosts,
        jumps: Vec::new(),
    })
}

/// The jump hosts of a `ProxyJump` chain, each with its own configuration (`HostName`,
/// `User`, `Port`, `IdentityFile`...), `user@` and `:port` of the chain winning. As OpenSSH,
/// the first hop's own `ProxyJump` is followed too.
fn resolve_jumps(
    s: &Settings,
    explicit_policy: Option<HostKeyPolicy>,
    hops: &[Hop],
    depth: usize,
) -> Result<Vec<ConnSpec>> {
    let mut out = Vec::new();
    for (i, hop) in hops.iter().enumerate() {
        let cfg = s.ssh_config.lookup(&hop.host, &[]);
        if i == 0 {
            refuse_proxy_command(&cfg)?;
            if let Some(before) = cfg.proxy_jump.as_ref().filter(|h| !h.is_empty()) {
                if depth + hops.len() + before.len() > MAX_JUMPS {
                    bail!(
                        "`ProxyJump` through `{hop}` leads through more than {MAX_JUMPS} jump hosts (a loop in the ssh config?)"
                    );
                }
                out.extend(resolve_jumps(
                    s,
                    explicit_policy,
                    before,
                    depth + hops.len(),
                )?);
            }
        }
        let address = cfg.hostname.clone().unwrap_or_else(|| hop.host.clone());
        let port = hop.port.or(cfg.port).unwrap_or(22);
        let user = hop.user.clone().or_else(|| cfg.user.clone());
        let mut spec = resolved(s, explicit_policy, &cfg, &hop.host, address, port, user)?;
        if let Some(i) = &hop.identity {
            let remote_user = spec.user.clone().unwrap_or_else(current_user);
            let tokens = Tokens {
                alias: &hop.host,
                host: &spec.address,
                port: spec.port,
                remote_user: &remote_user,
            };
            let key = expand_path(i, &tokens).map_err(|e| anyhow!("`-i {i}`: {e}"))?;
            if key.is_file() {
                spec.private_keys.insert(0, key);
            }
        }
        out.push(spec);
    }
    if out.len() > MAX_JUMPS {
        bail!("`ProxyJump` names more than {MAX_JUMPS} jump hosts");
    }
    Ok(out)
}

/// drover runs no proxy commands; one other than `ssh -W %h:%p HOST` is refused rather than
/// silently connecting directly.
fn refuse_proxy_command(cfg: &HostConfig) -> Result<()> {
    match &cfg.proxy_command {
        Some(cmd) => bail!(
            "`ProxyCommand {cmd}` is not supported (drover's SSH client runs no proxy commands)\nhint: use `ProxyJump` (or `ProxyCommand ssh -W %h:%p HOST`), or `ProxyCommand none` for this host"
        ),
        None => Ok(()),
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}
