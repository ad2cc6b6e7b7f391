//! The jump hosts of `ProxyJump` (`[user@]host[:port]` chains) and of the one `ProxyCommand`
//! drover understands, `ssh -W %h:%p HOST`.

use std::path::Path;

/// One `[user@]host[:port]` of a `ProxyJump` chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// `-i` of a `ProxyCommand ssh -W ...`, tokens not expanded.
    pub identity: Option<String>,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host)
    }
}

/// The jump host of the classic `ProxyCommand ssh [-q] [-p PORT] [-l USER] [-i KEY]
/// [-o ...] -W %h:%p [USER@]HOST`; `None` for any other command.
pub(super) fn ssh_w_hop(words: &[String]) -> Option<Hop> {
    let (prog, rest) = words.split_first()?;
    if Path::new(prog).file_name()? != "ssh" {
        return None;
    }
    let (mut user, mut port, mut identity, mut dest, mut forwards) =
        (None, None, None, None, false);
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        let Some(opt) = w.strip_prefix('-') else {
            if dest.replace(w.clone()).is_some() {
                return None; // a remote command: not a plain -W forward
            }
            continue;
        };
        let mut chars = opt.chars();
        let flag = chars.next()?;
        if "BbcDEeFIiJLlmOoPpQRSWw".contains(flag) {
            let attached = chars.as_str();
            let value = if attached.is_empty() {
                it.next()?.clone()
            } else {
                attached.to_string()
            };
            match flag {
                'W' if value == "%h:%p" || value == "[%h]:%p" => forwards = true,
                'p' => port = Some(value.parse::<u16>().ok().filter(|p| *p != 0)?),
                'l' => user = Some(value),
                'i' => identity = Some(value),
                'o' => {}
                _ => return None,
            }
        } else if !opt.chars().all(|c| "46AaCfGgKkMNnqsTtVvXxYy".contains(c)) {
            return None;
        }
    }
    if !forwards {
        return None;
    }
    let mut hop = parse_hop(&dest?).ok()?;
    hop.user = hop.user.or(user);
    hop.port = hop.port.or(port);
    hop.identity = identity;
    Some(hop)
}

/// A `ProxyJump` value: `none`, or a comma-separated chain of `[user@]host[:port]` or
/// `ssh://[user@]host[:port]`.
pub fn parse_jumps(v: &str) -> Result<Vec<Hop>, String> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    v.split(',').map(parse_hop).collect()
}

fn parse_hop(raw: &str) -> Result<Hop, String> {
    let bad = |why: &str| format!("`ProxyJump` entry `{raw}`: {why}");
    let s = raw.trim();
    let s = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, hostport) = match s.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err(bad("empty user name")),
        None => (None, s),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("no host name"));
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("`{p}` is not a port number")))?,
        ),
        None => None,
    };
    Ok(Hop {
        user,
        host: host.to_string(),
        port,
        identity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_parse() {
        assert_eq!(
            parse_jumps("[::1]:2200").unwrap()[0],
            Hop {
                user: None,
                host: "::1".into(),
                port: Some(2200),
                identity: None,
            }
        );
        for other in [
            "ssh bastion nc %h %p",
            "ssh -W %h:22 b",
            "ssh -J x -W %h:%p b",
        ] {
            let words = crate::shell::split(other).unwrap();
            assert_eq!(ssh_w_hop(&words), None, "{other}");
        }
    }
}
