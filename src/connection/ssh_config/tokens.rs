//! Tokens and `~` in ssh config values, as OpenSSH expands them.

use anyhow::{bail, Result};
use std::path::PathBuf;

pub(super) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `HostName` tokens: `%h` is the alias given, `%%` a percent sign.
pub(super) fn expand_hostname(v: &str, alias: &str) -> String {
    v.replace("%%", "\u{0}")
        .replace("%h", alias)
        .replace('\u{0}', "%")
}

pub(super) fn expand_tilde(v: &str) -> String {
    match (v.strip_prefix("~/"), home()) {
        (Some(rest), Some(h)) => h.join(rest).display().to_string(),
        _ if v == "~" => home().map(|h| h.display().to_string()).unwrap_or_default(),
        _ => v.to_string(),
    }
}

/// Values for the tokens of `IdentityFile` and `UserKnownHostsFile`.
pub struct Tokens<'a> {
    /// `%n`: the alias as given.
    pub alias: &'a str,
    /// `%h`: the host name after `HostName`.
    pub host: &'a str,
    /// `%p`
    pub port: u16,
    /// `%r`: the remote user.
    pub remote_user: &'a str,
}

/// Expands `~` and the tokens `%d` (home), `%u` (local user), `%i` (its uid), `%l`/`%L`
/// (local host name, long/short), `%h`, `%n`, `%p`, `%r` and `%%` in a file name.
pub fn expand_path(v: &str, t: &Tokens) -> Result<PathBuf> {
    let v = expand_tilde(v);
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&home().unwrap_or_default().display().to_string()),
            Some('u') => out.push_str(&crate::connection::current_user()),
            Some('l') => out.push_str(&local_hostname()),
            Some('L') => out.push_str(local_hostname().split('.').next().unwrap_or_default()),
            // SAFETY: getuid has no preconditions and cannot fail.
            Some('i') => out.push_str(&unsafe { libc::getuid() }.to_string()),
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.alias),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(t.remote_user),
            Some(o) => bail!("unknown token `%{o}` in `{v}`"),
            None => bail!("`{v}` ends with a lone `%`"),
        }
    }
    Ok(PathBuf::from(out))
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand_in_file_names() {
        let t = Tokens {
            alias: "web",
            host: "10.0.0.5",
            port: 2222,
            remote_user: "deploy",
        };
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            expand_path("~/.ssh/%r@%h:%p-%n%%", &t).unwrap(),
            PathBuf::from(format!("{home}/.ssh/deploy@10.0.0.5:2222-web%"))
        );
        assert_eq!(
            expand_path("%d/k", &t).unwrap(),
            PathBuf::from(format!("{home}/k"))
        );
        assert!(expand_path("%q", &t).is_err());
        assert_eq!(expand_hostname("%h.lan%%", "db"), "db.lan%");
    }
}
