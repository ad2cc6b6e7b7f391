//! A `known_hosts` file as OpenSSH reads it (`ssh-keygen -F`/`-R`), without `ssh-keygen`:
//! lines with an optional marker, a host field (matched by the connection's host key check:
//! patterns or a hashed name), a key type and a key whose blob names that type.

use base64::Engine;

/// A line's fields (Ansible's `normalize_known_hosts_key`).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// `@cert-authority` or `@revoked`.
    pub marker: Option<String>,
    pub host: String,
    pub ktype: String,
    pub key: String,
}

/// The fields of a key line, or `None` for a blank line, a comment or too few fields.
pub fn entry(line: &str) -> Option<Entry> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = t.split_whitespace().collect();
    let (marker, rest) = if f[0].starts_with('@') {
        (Some(f[0].to_string()), &f[1..])
    } else {
        (None, &f[..])
    };
    if rest.len() < 3 {
        return None;
    }
    Some(Entry {
        marker,
        host: rest[0].to_string(),
        ktype: rest[1].to_string(),
        key: rest[2].to_string(),
    })
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Whether the key's blob is a key of its type, as `ssh-keygen` checks before it lists a
/// line (a blob starts with its type's name).
fn key_parses(e: &Entry) -> bool {
    let Some(blob) = b64(&e.key) else {
        return false;
    };
    if blob.len() < 4 {
        return false;
    }
    let n = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    blob.get(4..4 + n) == Some(e.ktype.as_bytes())
}

/// Whether a host field names `name` (hashed or as patterns), as the connection's
/// host key check decides.
pub fn host_matches(field: &str, name: &str) -> bool {
    crate::connection::known_hosts::host_field_matches(field, name)
}

/// The lines `ssh-keygen -F name` lists: (line number from 1, fields), in file order.
pub fn find(text: &str, name: &str) -> Vec<(usize, Entry)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| entry(l).map(|e| (i + 1, e)))
        .filter(|(_, e)| key_parses(e) && host_matches(&e.host, name))
        .collect()
}

/// Ansible's `hash_host_key`: the key line with its host field hashed with a random salt.
pub fn hash_key(name: &str, key: &str) -> String {
    let salt: Vec<u8> = (0..20)
        .map(|_| {
            u8::from_str_radix(&crate::connection::random_token()[..2], 16).unwrap_or_default()
        })
        .collect();
    let hashed = crate::connection::known_hosts::hmac_sha1(&salt, name.as_bytes());
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut parts: Vec<String> = key.split_whitespace().map(String::from).collect();
    let i = usize::from(parts.first().is_some_and(|p| p.starts_with('@')));
    if let Some(p) = parts.get_mut(i) {
        *p = format!("|1|{}|{}", enc(&salt), enc(&hashed));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIIzlnSq5ESxLgW0avvPk3j7zLV59hcAPkxrMNdnZMKP2";

    #[test]
    fn finds_hosts_as_ssh_keygen() {
        let text = format!(
            "# comment\nexample.org,10.0.0.1 ssh-ed25519 {KEY}\n*.example.com,!bad.example.com ssh-ed25519 {KEY}\nbroken ssh-ed25519 AAAA\n@cert-authority *.example.net ssh-ed25519 {KEY}\n"
        );
        let lines = |n: &str| find(&text, n).iter().map(|(l, _)| *l).collect::<Vec<_>>();
        assert_eq!(lines("example.org"), vec![2]);
        assert_eq!(lines("EXAMPLE.ORG"), vec![2]);
        assert_eq!(lines("10.0.0.1"), vec![2]);
        assert_eq!(lines("www.example.com"), vec![3]);
        assert_eq!(lines("bad.example.com"), Vec::<usize>::new());
        assert_eq!(lines("broken"), Vec::<usize>::new());
        assert_eq!(lines("h.example.net"), vec![5]);
    }

    #[test]
    fn hashed_names_match_their_host_only() {
        let line = hash_key("example.org", &format!("example.org ssh-ed25519 {KEY}"));
        assert!(line.starts_with("|1|"));
        assert_eq!(find(&line, "example.org").len(), 1);
        assert!(find(&line, "example.com").is_empty());
        // A hash made by ssh-keygen -H for `example.org`.
        assert!(host_matches(
            "|1|TvEINnKSfN1zw25zUq2PVR/6Dhg=|PJgJOv8EfF1Yw7u7XuqbMSQa/54=",
            "example.org"
        ));
    }
}
