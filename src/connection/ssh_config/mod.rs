//! `~/.ssh/config` as OpenSSH reads it, for the options drover's own SSH client honours:
//! `Host` blocks (patterns with `*`, `?`, `!negation`), `Match all`, `Include`, and the keywords
//! HostName, User, Port, IdentityFile, ProxyJump (and `ProxyCommand ssh -W %h:%p HOST`, taken
//! as a jump: `hops.rs`), StrictHostKeyChecking and UserKnownHostsFile (tokens: `tokens.rs`);
//! the first value obtained wins. Other keywords are ignored; other `Match` criteria make their
//! block apply to no host. Combining the result with inventory variables is the executor's.

mod hops;
mod tokens;

pub use hops::{parse_jumps, Hop};
pub use tokens::{expand_path, Tokens};

use super::HostKeyPolicy;
use anyhow::{anyhow, bail, Context, Result};
use hops::ssh_w_hop;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokens::{expand_hostname, expand_tilde, home};

/// OpenSSH's limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

/// One `Host` (or `Match`) condition: which aliases a line applies to.
#[derive(Debug)]
enum Cond {
    /// `Host` patterns: any positive one matches and no negated one does.
    Host(Vec<String>),
    /// `Match all` or `Host *`-like: every host.
    All,
    /// A `Match` drover cannot evaluate: no host.
    Never,
}

impl Cond {
    fn matches(&self, alias: &str) -> bool {
        match self {
            Cond::All => true,
            Cond::Never => false,
            Cond::Host(patterns) => {
                let alias = alias.to_ascii_lowercase();
                let mut any = false;
                for p in patterns {
                    match p.strip_prefix('!') {
                        Some(neg) if glob(&neg.to_ascii_lowercase(), &alias) => return false,
                        Some(_) => {}
                        None => any |= glob(&p.to_ascii_lowercase(), &alias),
                    }
                }
                any
            }
        }
    }
}

/// One keyword value with the conditions it sits under (all must match: a `Host` block, and
/// the block an `Include` stood in).
#[derive(Clone, Debug)]
struct Line {
    conds: Vec<Arc<Cond>>,
    value: Opt,
}

/// A keyword drover understands, with its value checked.
#[derive(Clone, Debug, PartialEq)]
enum Opt {
    HostName(String),
    User(String),
    Port(u16),
    IdentityFile(String),
    ProxyJump(Vec<Hop>),
    /// A `ProxyCommand` that is not `ssh -W %h:%p HOST` (which becomes a `ProxyJump`).
    ProxyCommand(String),
    StrictHostKeyChecking(HostKeyPolicy),
    UserKnownHostsFile(String),
}

/// What the configuration says for one host alias (each `None` when it does not say).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// In order, tokens not yet expanded (`%r` needs the final user): see `expand_path`.
    pub identity_files: Vec<String>,
    /// `Some(empty)` for `ProxyJump none`. Also set by a `ProxyCommand ssh -W %h:%p HOST`.
    pub proxy_jump: Option<Vec<Hop>>,
    /// Any other `ProxyCommand` (drover runs no proxy commands: the caller refuses it).
    pub proxy_command: Option<String>,
    pub strict_host_key_checking: Option<HostKeyPolicy>,
    pub user_known_hosts_file: Option<String>,
}

/// A parsed configuration: every line of the file and its includes, in reading order.
#[derive(Clone, Debug, Default)]
pub struct SshConfig {
    lines: Vec<Line>,
    /// The file read, for messages.
    pub path: Option<PathBuf>,
}

impl SshConfig {
    /// Reads the configuration `DROVER_SSH_CONFIG` names (`none`: no configuration), else
    /// `setting` (from drover.toml/ansible.cfg), else `~/.ssh/config` if it exists. A file
    /// named explicitly must exist.
    pub fn load(setting: Option<&Path>) -> Result<SshConfig> {
        let named = std::env::var_os("DROVER_SSH_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| setting.map(Path::to_path_buf));
        match named {
            Some(p) if p.as_os_str() == "none" => Ok(SshConfig::default()),
            Some(p) => load_file(&p),
            None => match home() {
                Some(h) if h.join(".ssh/config").is_file() => load_file(&h.join(".ssh/config")),
                _ => Ok(SshConfig::default()),
            },
        }
    }

    /// Parses configuration text; `path` names it in messages and anchors relative `Include`s
    /// (which, as for a user configuration, are relative to `~/.ssh`).
    pub fn parse(text: &str, path: &Path) -> Result<SshConfig> {
        let mut lines = Vec::new();
        parse_into(text, path, &[], 0, &mut lines)?;
        Ok(SshConfig {
            lines,
            path: Some(path.to_path_buf()),
        })
    }

    /// Options given as `ssh` arguments (`ansible_ssh_common_args`/`ansible_ssh_extra_args`):
    /// `-o Key=Value`, `-o Key Value`, `-J hops`, `-p port`, `-i identity`, `-l user`. Other
    /// flags (`-C`, `-q`, `-v`, `-A`, ...) have no effect (the README says so). They apply
    /// before the file, as OpenSSH's command-line options do.
    pub fn parse_args(words: &[String], origin: &str) -> Result<Vec<ArgOption>> {
        let mut out = Vec::new();
        let mut it = words.iter();
        while let Some(w) = it.next() {
            let (key, value) = if let Some(rest) = w.strip_prefix("-o") {
                let text = if rest.is_empty() {
                    it.next().cloned().unwrap_or_default()
                } else {
                    rest.to_string()
                };
                match split_keyword(&text) {
                    Some((k, v)) => (k.to_ascii_lowercase(), v.to_string()),
                    None => bail!("{origin}: `-o {text}` has no value"),
                }
            } else if let Some((flag, key)) = [
                ("-J", "proxyjump"),
                ("-p", "port"),
                ("-i", "identityfile"),
                ("-l", "user"),
            ]
            .iter()
            .find(|(f, _)| w.starts_with(f))
            {
                // `-J host`, `-p 2222`, `-i key`, `-l user`, or glued (`-p2222`): as ssh's.
                let rest = &w[flag.len()..];
                let v = if rest.is_empty() {
                    it.next().cloned().unwrap_or_default()
                } else {
                    rest.to_string()
                };
                (key.to_string(), v)
            } else {
                continue;
            };
            let args = split_args(&value).map_err(|e| anyhow!("{origin}: {e}"))?;
            if let Some(opt) = parse_opt(&key, &args).map_err(|e| anyhow!("{origin}: {e}"))? {
                out.push(ArgOption(Line {
                    conds: Vec::new(),
                    value: opt,
                }));
            }
        }
        Ok(out)
    }

    /// What applies to `alias` (the name `ssh` would be given): `args` first, then the file's
    /// lines in order; the first value of each keyword wins, IdentityFile accumulates.
    pub fn lookup(&self, alias: &str, args: &[ArgOption]) -> HostConfig {
        let mut c = HostConfig::default();
        let lines = args.iter().map(|a| &a.0).chain(
            self.lines
                .iter()
                .filter(|l| l.conds.iter().all(|c| c.matches(alias))),
        );
        for l in lines {
            match &l.value {
                Opt::HostName(v) => set(&mut c.hostname, || expand_hostname(v, alias)),
                Opt::User(v) => set(&mut c.user, || v.clone()),
                Opt::Port(v) => set(&mut c.port, || *v),
                Opt::IdentityFile(v) => c.identity_files.push(v.clone()),
                // Whichever of ProxyJump and ProxyCommand comes first wins, as in OpenSSH.
                Opt::ProxyJump(v) if c.proxy_command.is_none() => {
                    set(&mut c.proxy_jump, || v.clone())
                }
                Opt::ProxyCommand(v) if c.proxy_jump.is_none() => {
                    set(&mut c.proxy_command, || v.clone())
                }
                Opt::ProxyJump(_) | Opt::ProxyCommand(_) => {}
                Opt::StrictHostKeyChecking(v) => set(&mut c.strict_host_key_checking, || *v),
                Opt::UserKnownHostsFile(v) => set(&mut c.user_known_hosts_file, || v.clone()),
            }
        }
        c
    }
}

/// An option from `ssh` arguments, see `SshConfig::parse_args`.
#[derive(Clone, Debug)]
pub struct ArgOption(Line);

fn set<T>(slot: &mut Option<T>, value: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(value());
    }
}

fn load_file(path: &Path) -> Result<SshConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the ssh config `{}`", path.display()))?;
    SshConfig::parse(&text, path)
}

/// `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = &line[..end];
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    Some((key, rest)).filter(|(k, _)| !k.is_empty())
}

/// OpenSSH's argument splitting: whitespace-separated, `"double quotes"` group, an unquoted
/// word starting with `#` ends the line.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            _ => {}
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c == '"' {
                quoted = !quoted;
                chars.next();
            } else if c.is_whitespace() && !quoted {
                break;
            } else {
                word.push(c);
                chars.next();
            }
        }
        if quoted {
            return Err("unterminated quote".into());
        }
        out.push(word);
    }
    Ok(out)
}

fn parse_into(
    text: &str,
    path: &Path,
    outer: &[Arc<Cond>],
    depth: usize,
    out: &mut Vec<Line>,
) -> Result<()> {
    let mut conds: Vec<Arc<Cond>> = outer.to_vec();
    for (n, raw) in text.lines().enumerate() {
        let origin = format!("{}:{}", path.display(), n + 1);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, rest)) = split_keyword(trimmed) else {
            bail!("{origin}: cannot read `{trimmed}`");
        };
        let key = key.to_ascii_lowercase();
        let args = split_args(rest).map_err(|e| anyhow!("{origin}: {e}"))?;
        let first = args.first().map(String::as_str);
        match key.as_str() {
            "host" => {
                if args.is_empty() {
                    bail!("{origin}: `Host` needs at least one pattern");
                }
                conds = outer.to_vec();
                conds.push(Arc::new(Cond::Host(args)));
            }
            "match" => {
                conds = outer.to_vec();
                let cond = match first.map(str::to_ascii_lowercase).as_deref() {
                    Some("all") if args.len() == 1 => Cond::All,
                    Some(_) => Cond::Never,
                    None => bail!("{origin}: `Match` needs a criterion"),
                };
                conds.push(Arc::new(cond));
            }
            "include" => {
                if args.is_empty() {
                    bail!("{origin}: `Include` needs a file name");
                }
                if depth >= MAX_INCLUDE_DEPTH {
                    bail!("{origin}: `Include` nested more than {MAX_INCLUDE_DEPTH} deep");
                }
                for pattern in &args {
                    for file in include_files(pattern).map_err(|e| anyhow!("{origin}: {e}"))? {
                        let text = std::fs::read_to_string(&file).with_context(|| {
                            format!("{origin}: reading included `{}`", file.display())
                        })?;
                        parse_into(&text, &file, &conds, depth + 1, out)?;
                    }
                }
            }
            _ => {
                if let Some(value) = parse_opt(&key, &args).map_err(|e| anyhow!("{origin}: {e}"))? {
                    out.push(Line {
                        conds: conds.clone(),
                        value,
                    });
                }
            }
        }
    }
    Ok(())
}

/// A keyword's value, checked; `None` for keywords drover does not use.
fn parse_opt(key: &str, args: &[String]) -> Result<Option<Opt>, String> {
    let one = || -> Result<String, String> {
        match args {
            [v] => Ok(v.clone()),
            [] => Err(format!("`{key}` needs a value")),
            _ => Err(format!("`{key}` takes one value, got `{}`", args.join(" "))),
        }
    };
    Ok(Some(match key {
        "hostname" => Opt::HostName(one()?),
        "user" => Opt::User(one()?),
        "port" => {
            let v = one()?;
            Opt::Port(
                v.parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`Port` must be a port number, not `{v}`"))?,
            )
        }
        "identityfile" => Opt::IdentityFile(one()?),
        "proxyjump" => Opt::ProxyJump(parse_jumps(&one()?)?),
        "proxycommand" => match args {
            [] => return Err(format!("`{key}` needs a value")),
            [none] if none == "none" => Opt::ProxyJump(Vec::new()),
            _ => match ssh_w_hop(args) {
                Some(hop) => Opt::ProxyJump(vec![hop]),
                None => Opt::ProxyCommand(args.join(" ")),
            },
        },
        "stricthostkeychecking" => {
            let v = one()?;
            Opt::StrictHostKeyChecking(match v.to_ascii_lowercase().as_str() {
                // drover cannot ask: `ask` refuses unknown hosts, as in batch mode.
                "yes" | "ask" | "true" => HostKeyPolicy::Strict,
                "accept-new" => HostKeyPolicy::AcceptNew,
                "no" | "off" | "false" => HostKeyPolicy::Off,
                _ => {
                    return Err(format!(
                        "`StrictHostKeyChecking` must be yes, accept-new, no or ask, not `{v}`"
                    ))
                }
            })
        }
        // Several files may be listed; drover reads and records keys in the first.
        "userknownhostsfile" => match args.first() {
            Some(v) => Opt::UserKnownHostsFile(v.clone()),
            None => return Err(format!("`{key}` needs a value")),
        },
        _ => return Ok(None),
    }))
}

/// The files an `Include` pattern names: relative ones are in `~/.ssh`; `*` and `?` in the
/// last component are matched against the directory (sorted, as glob(3)); no match is no file.
fn include_files(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let expanded = expand_tilde(pattern);
    let path = if Path::new(&expanded).is_absolute() {
        PathBuf::from(expanded)
    } else {
        home()
            .ok_or("relative `Include` without a home directory")?
            .join(".ssh")
            .join(expanded)
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if !name.contains(['*', '?']) {
        return Ok(if path.is_file() {
            vec![path]
        } else {
            Vec::new()
        });
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| !n.starts_with('.') && glob(&name, n))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// `*` (any run) and `?` (any one character) pattern matching, as OpenSSH's match_pattern.
pub fn glob(pattern: &str, s: &str) -> bool {
    crate::glob::wildcard(pattern, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> SshConfig {
        SshConfig::parse(text, Path::new("/cfg")).unwrap()
    }

    #[test]
    fn patterns_match_as_openssh() {
        let yes = |pats: &[&str], alias: &str| {
            Cond::Host(pats.iter().map(|s| s.to_string()).collect()).matches(alias)
        };
        assert!(yes(&["*"], "anything"));
        assert!(yes(&["web?"], "web1") && !yes(&["web?"], "web12"));
        assert!(yes(&["*.example.com"], "A.Example.COM"));
        assert!(yes(&["db*", "web*"], "web3"));
        assert!(!yes(&["*", "!bastion"], "bastion"));
        assert!(yes(&["*", "!bastion"], "bastion2"));
        // A negation alone matches nothing.
        assert!(!yes(&["!bastion"], "other"));
        assert!(glob("a*b*c", "aXXbYYc") && !glob("a*b*c", "aXXbYY"));
        assert!(glob("10.0.?.*", "10.0.1.77"));
    }

    #[test]
    fn first_obtained_value_wins_and_identity_files_accumulate() {
        let c = cfg("\
# comment
User first
Host web* !web9
  HostName %h.internal
  Port 2222
  IdentityFile ~/.ssh/web_key
Host *
  User=ignored
  Port = 22
  IdentityFile \"/keys/with space\"
  ProxyJump admin@bastion:2201,ssh://jump2
  StrictHostKeyChecking accept-new
  UserKnownHostsFile /kh/%h %d/other
Match all
  HostName later
");
        let web = c.lookup("web1", &[]);
        assert_eq!(web.hostname.as_deref(), Some("web1.internal"));
        assert_eq!(web.user.as_deref(), Some("first"));
        assert_eq!(web.port, Some(2222));
        assert_eq!(web.identity_files, ["~/.ssh/web_key", "/keys/with space"]);
        assert_eq!(
            web.proxy_jump,
            Some(vec![
                Hop {
                    user: Some("admin".into()),
                    host: "bastion".into(),
                    port: Some(2201),
                    identity: None,
                },
                Hop {
                    user: None,
                    host: "jump2".into(),
                    port: None,
                    identity: None,
                }
            ])
        );
        assert_eq!(web.strict_host_key_checking, Some(HostKeyPolicy::AcceptNew));
        assert_eq!(web.user_known_hosts_file.as_deref(), Some("/kh/%h"));
        let web9 = c.lookup("web9", &[]);
        assert_eq!(web9.hostname.as_deref(), Some("later"));
        assert_eq!(web9.port, Some(22));
        // Options from ssh arguments come first.
        let args = SshConfig::parse_args(
            &["-o".into(), "Port=2300".into(), "-J".into(), "none".into()],
            "ansible_ssh_common_args",
        )
        .unwrap();
        let c2 = c.lookup("web1", &args);
        assert_eq!((c2.port, c2.proxy_jump), (Some(2300), Some(vec![])));
        let args =
            SshConfig::parse_args(&["-oProxyJump=b1".into(), "-C".into(), "-Jb2".into()], "x")
                .unwrap();
        assert_eq!(c.lookup("z", &args).proxy_jump.unwrap()[0].host, "b1");
    }

    #[test]
    fn proxy_command_ssh_w_becomes_a_jump_and_competes_with_proxy_jump() {
        let words = |s: &str| crate::shell::split(s).unwrap();
        let args = SshConfig::parse_args(
            &words(r#"-o ProxyCommand="ssh -W %h:%p -q -p 2201 -i ~/k ops@bastion""#),
            "x",
        )
        .unwrap();
        let c = SshConfig::default().lookup("t", &args);
        assert_eq!(
            c.proxy_jump,
            Some(vec![Hop {
                user: Some("ops".into()),
                host: "bastion".into(),
                port: Some(2201),
                identity: Some("~/k".into()),
            }])
        );
        let c = cfg("Host a\n  ProxyCommand nc -X connect -x proxy:8080 %h %p\n  ProxyJump b\nHost *\n  ProxyCommand=none\n");
        let a = c.lookup("a", &[]);
        assert_eq!(
            (a.proxy_jump, a.proxy_command.as_deref()),
            (None, Some("nc -X connect -x proxy:8080 %h %p"))
        );
        let z = c.lookup("z", &[]);
        assert_eq!((z.proxy_jump, z.proxy_command), (Some(vec![]), None));
    }

    #[test]
    fn match_other_than_all_applies_to_no_host_and_unknown_keywords_are_ignored() {
        let c =
            cfg("Match host foo exec \"true\"\n  User never\nForwardAgent yes\nHost x\n  User x\n");
        assert_eq!(c.lookup("foo", &[]).user, None);
        assert_eq!(c.lookup("x", &[]).user.as_deref(), Some("x"));
    }

    #[test]
    fn include_is_conditional_on_its_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.conf"),
            "User from-a\nHost inner\n  Port 99\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.conf"), "Port 77\n").unwrap();
        let text = format!(
            "Host only\n  Include {0}/a.conf\nHost *\n  Include {0}/b*.conf {0}/missing\n",
            dir.path().display()
        );
        let c = cfg(&text);
        assert_eq!(c.lookup("only", &[]).user.as_deref(), Some("from-a"));
        // The `Host inner` inside the include stays under `Host only`.
        assert_eq!(c.lookup("inner", &[]).port, Some(77));
        assert_eq!(c.lookup("only", &[]).port, Some(77));
        assert_eq!(c.lookup("other", &[]).user, None);
        let looping = dir.path().join("loop.conf");
        std::fs::write(&looping, format!("Include {}\n", looping.display())).unwrap();
        let err = load_file(&looping).unwrap_err();
        assert!(
            format!("{err:#}").contains("nested more than 16"),
            "{err:#}"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = |text: &str| {
            SshConfig::parse(text, Path::new("/home/u/.ssh/config"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("Host a\n  Port twenty\n"),
            "/home/u/.ssh/config:2: `Port` must be a port number, not `twenty`"
        );
        assert_eq!(
            err("\n\nHost\n"),
            "/home/u/.ssh/config:3: `Host` needs at least one pattern"
        );
        assert_eq!(
            err("ProxyJump user@:22\n"),
            "/home/u/.ssh/config:1: `ProxyJump` entry `user@:22`: no host name"
        );
        assert_eq!(
            err("ProxyJump b:0\n"),
            "/home/u/.ssh/config:1: `ProxyJump` entry `b:0`: `0` is not a port number"
        );
        assert_eq!(
            err("StrictHostKeyChecking maybe\n"),
            "/home/u/.ssh/config:1: `StrictHostKeyChecking` must be yes, accept-new, no or ask, not `maybe`"
        );
        assert_eq!(
            err("User \"open\n"),
            "/home/u/.ssh/config:1: unterminated quote"
        );
        assert_eq!(
            err("HostName a b\n"),
            "/home/u/.ssh/config:1: `hostname` takes one value, got `a b`"
        );
    }
}
