//! Host key verification against an OpenSSH `known_hosts` file, with the policies `strict`
//! (the default: unknown and changed keys are refused), `accept-new` (unknown keys are recorded,
//! changed keys refused) and `off`. Never prompts. Hashed entries (`|1|…`) are understood.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// What to do with a host key that is not (or differently) in known_hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    Strict,
    AcceptNew,
    Off,
}

impl std::str::FromStr for HostKeyPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "strict" | "yes" | "true" => Ok(HostKeyPolicy::Strict),
            "accept-new" | "accept_new" => Ok(HostKeyPolicy::AcceptNew),
            "off" | "no" | "false" => Ok(HostKeyPolicy::Off),
            _ => Err(format!(
                "`{s}` is not a host key policy (use strict, accept-new or off)"
            )),
        }
    }
}

/// One parsed known_hosts line.
struct Entry {
    line: usize,
    patterns: String,
    key_type: String,
    key: Vec<u8>,
}

/// The name under which OpenSSH records a host: `host` on port 22, `[host]:port` otherwise.
pub fn host_entry_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// OpenSSH's fingerprint format: `SHA256:` and unpadded base64 of the key blob's SHA-256.
pub fn fingerprint(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

fn read_entries(path: &Path) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", path.display())),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_t = line.trim();
        if line_t.is_empty() || line_t.starts_with('#') || line_t.starts_with('@') {
            continue;
        }
        let mut f = line_t.split_whitespace();
        let (Some(patterns), Some(key_type), Some(key)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key) else {
            continue;
        };
        out.push(Entry {
            line: i + 1,
            patterns: patterns.to_string(),
            key_type: key_type.to_string(),
            key,
        });
    }
    Ok(out)
}

/// OpenSSH compares names and patterns without case.
fn glob_match(pattern: &str, name: &str) -> bool {
    crate::glob::wildcard(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase())
}

fn hashed_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.trim_start_matches("|1|").split('|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    hmac_sha1(&salt, name.as_bytes()) == hash.as_slice()
}

/// HMAC-SHA1, as a hashed entry (`|1|salt|hash`) hashes its name.
pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn entry_matches(e: &Entry, name: &str) -> bool {
    host_field_matches(&e.patterns, name)
}

/// Whether a known_hosts line's host field (a hashed name, or patterns with `*`, `?` and
/// `!negation`) names `name`, as OpenSSH's `match_hostname` decides.
pub fn host_field_matches(field: &str, name: &str) -> bool {
    if field.starts_with("|1|") {
        return hashed_match(field, name);
    }
    let mut matched = false;
    for p in field.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob_match(neg, name) {
                return false;
            }
        } else if glob_match(p, name) {
            matched = true;
        }
    }
    matched
}

/// Key types known_hosts records for this host, to prefer them in the key exchange.
pub fn known_key_types(path: &Path, address: &str, port: u16) -> Vec<String> {
    let name = host_entry_name(address, port);
    let mut types: Vec<String> = read_entries(path)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| entry_matches(e, &name))
        .map(|e| e.key_type)
        .collect();
    types.dedup();
    types
}

static APPEND_LOCK: Mutex<()> = Mutex::new(());

/// Checks the key a server offered. `host` is the inventory name, for messages.
pub fn verify(
    policy: HostKeyPolicy,
    path: &Path,
    host: &str,
    address: &str,
    port: u16,
    key_type: &str,
    key: &[u8],
) -> Result<()> {
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let name = host_entry_name(address, port);
    let fp = fingerprint(key);
    let entries = read_entries(path)?;
    let mut same_type = entries
        .iter()
        .filter(|e| e.key_type == key_type && entry_matches(e, &name))
        .peekable();
    if same_type.peek().is_some() {
        let mut mismatch = None;
        for e in same_type {
            if e.key == key {
                return Ok(());
            }
            mismatch = Some(e.line);
        }
        let line = mismatch.unwrap_or(0);
        bail!(
            "host key for `{host}` ({name}) has CHANGED: the server offered {key_type} {fp}, which differs from the key recorded at {}:{line}; refusing to connect\nhint: if the host was rebuilt on purpose, remove the old key with `ssh-keygen -R '{name}' -f {}` and connect again",
            path.display(),
            path.display()
        );
    }
    match policy {
        HostKeyPolicy::Strict => Err(anyhow!(
            "host key for `{host}` ({name}) is unknown: the server offered {key_type} {fp}, and `{}` has no key for it; refusing to connect (host key checking is strict)\nhint: check the fingerprint and add the key with `ssh-keyscan -p {port} {address} >> {}`, or use `--host-key-checking accept-new` to record keys of new hosts",
            path.display(),
            path.display()
        )),
        HostKeyPolicy::AcceptNew => {
            let _guard = APPEND_LOCK.lock().map_err(|_| anyhow!("known_hosts lock poisoned"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating `{}`", dir.display()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening `{}` to record a new host key", path.display()))?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(key);
            writeln!(f, "{name} {key_type} {b64}")
                .with_context(|| format!("recording the host key of `{host}` in `{}`", path.display()))?;
            Ok(())
        }
        HostKeyPolicy::Off => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_globs() {
        assert_eq!(host_entry_name("h", 22), "h");
        assert_eq!(host_entry_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
        assert!(glob_match("*.example.com", "a.example.com"));
        assert!(!glob_match("*.example.com", "example.org"));
    }

    #[test]
    fn hashed_entries_match() {
        // `ssh-keygen -H` style: |1|base64(salt)|base64(hmac_sha1(salt, name))
        let salt = b"0123456789abcdefghij";
        let mac = hmac_sha1(salt, b"[127.0.0.1]:2200");
        let b64 = base64::engine::general_purpose::STANDARD;
        let pattern = format!("|1|{}|{}", b64.encode(salt), b64.encode(mac));
        assert!(hashed_match(&pattern, "[127.0.0.1]:2200"));
        assert!(!hashed_match(&pattern, "[127.0.0.1]:2201"));
    }

    #[test]
    fn policies() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let key = b"key-one";
        let err = verify(
            HostKeyPolicy::Strict,
            &kh,
            "web1",
            "10.0.0.1",
            2222,
            "ssh-ed25519",
            key,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`web1`") && err.contains("is unknown") && err.contains("hint:"),
            "{err}"
        );
        verify(
            HostKeyPolicy::AcceptNew,
            &kh,
            "web1",
            "10.0.0.1",
            2222,
            "ssh-ed25519",
            key,
        )
        .unwrap();
        let text = std::fs::read_to_string(&kh).unwrap();
        assert!(text.starts_with("[10.0.0.1]:2222 ssh-ed25519 "), "{text}");
        verify(
            HostKeyPolicy::Strict,
            &kh,
            "web1",
            "10.0.0.1",
            2222,
            "ssh-ed25519",
            key,
        )
        .unwrap();
        for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
            let err = verify(
                policy,
                &kh,
                "web1",
                "10.0.0.1",
                2222,
                "ssh-ed25519",
                b"other",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("CHANGED") && err.contains(":1;"), "{err}");
        }
    }
}
