//! Key lines as ansible.posix's authorized_key reads and writes them (pure, table-tested):
//! options, type, blob and comment; the keys a task names; the file's new content.

use super::*;

pub(super) const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "ssh-xmss@openssh.com",
];

pub(super) fn is_key_type(t: &str) -> bool {
    KEY_TYPES.contains(&t)
        || t.strip_suffix("-cert-v01@openssh.com").is_some_and(|base| {
            KEY_TYPES
                .iter()
                .any(|k| k.trim_end_matches("@openssh.com") == base)
        })
}

/// One key line: `[options] type blob [comment]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLine {
    pub options: Vec<String>,
    pub ktype: String,
    pub blob: String,
    pub comment: Option<String>,
}

/// Splits an options string on commas outside double quotes.
pub fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Takes the first whitespace-delimited word (double quotes group), returning it and the rest.
pub(super) fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

/// Parses a key line; `None` for blank lines, comments and anything that is not a key.
pub fn parse_key(line: &str) -> Option<KeyLine> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (w, rest) = first_word(line);
    let (options, ktype, rest) = if is_key_type(w) {
        (Vec::new(), w, rest)
    } else {
        let (t, rest2) = first_word(rest);
        if !is_key_type(t) {
            return None;
        }
        (split_options(w), t, rest2)
    };
    let (blob, rest) = first_word(rest);
    if blob.is_empty() {
        return None;
    }
    // As Ansible's authorized_key: the comment is the remaining words joined by one space.
    let comment = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(KeyLine {
        options,
        ktype: ktype.to_string(),
        blob: blob.to_string(),
        comment: (!comment.is_empty()).then(|| comment.to_string()),
    })
}

/// A key as a line of `authorized_keys`.
pub fn render(k: &KeyLine) -> String {
    let mut s = String::new();
    if !k.options.is_empty() {
        s.push_str(&k.options.join(","));
        s.push(' ');
    }
    s.push_str(&k.ktype);
    s.push(' ');
    s.push_str(&k.blob);
    if let Some(c) = &k.comment {
        s.push(' ');
        s.push_str(c);
    }
    s
}

/// The keys a task names: each non-blank, non-comment line of `key`, with `key_options` and
/// `comment` replacing the line's own, in order (a repeated blob too, as Ansible has them).
pub fn wanted_keys(
    key: &str,
    key_options: Option<&str>,
    comment: Option<&str>,
) -> Result<Vec<KeyLine>, Failure> {
    // A line break in an option or a comment would start a line of its own in the file: a key
    // nobody asked for.
    for (what, v) in [("key_options", key_options), ("comment", comment)] {
        if v.is_some_and(|v| v.contains(['\n', '\r', '\0'])) {
            return Err(Failure::new(format!(
                "invalid {what}: it must be one line (no line breaks or NUL)"
            )));
        }
    }
    if key.contains('\0') {
        return Err(Failure::new(
            "invalid key specified: it contains a NUL byte",
        ));
    }
    let mut out: Vec<KeyLine> = Vec::new();
    for line in key.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some(mut k) = parse_key(t) else {
            return Err(Failure::new(format!("invalid key specified: {t}")));
        };
        if let Some(o) = key_options {
            k.options = split_options(o);
        }
        if let Some(c) = comment {
            k.comment = (!c.is_empty()).then(|| c.to_string());
        }
        out.push(k);
    }
    Ok(out)
}

/// A line of an authorized_keys file as the module keeps it: a key, or any other line as is.
pub(super) enum Entry {
    Key(KeyLine),
    Raw(String),
}

/// The file's new content, or `None` when it stays as it is; ansible.posix's algorithm: the
/// file's lines keyed by key blob (any other line by its text; a later line with the same
/// key wins, keeping the place of the first), each with its line number as rank; a wanted key
/// that differs is removed and added again after every existing line, in the order given;
/// `exclusive` drops every other entry, comments too; the file is written sorted by rank.
pub fn update(existing: &str, keys: &[KeyLine], present: bool, exclusive: bool) -> Option<String> {
    let mut map: indexmap::IndexMap<String, (Entry, usize)> = indexmap::IndexMap::new();
    for (rank, line) in existing.lines().enumerate() {
        match parse_key(line) {
            Some(k) => map.insert(k.blob.clone(), (Entry::Key(k), rank)),
            None => map.insert(line.to_string(), (Entry::Raw(line.to_string()), rank)),
        };
    }
    let max_rank = map.len();
    let mut keep: HashSet<&str> = HashSet::new();
    let mut write = false;
    for (idx, k) in keys.iter().enumerate() {
        let same = match map.get(&k.blob) {
            None => None,
            Some((Entry::Key(e), _)) => Some(e == k),
            Some((Entry::Raw(_), _)) => Some(false),
        };
        if present {
            keep.insert(&k.blob);
            if same == Some(false) {
                map.shift_remove(&k.blob);
            }
            if same != Some(true) {
                map.insert(k.blob.clone(), (Entry::Key(k.clone()), max_rank + idx));
                write = true;
            }
        } else if same.is_some() {
            map.shift_remove(&k.blob);
            write = true;
        }
    }
    if present && exclusive {
        let before = map.len();
        map.retain(|k, _| keep.contains(k.as_str()));
        write |= map.len() != before;
    }
    if !write {
        return None;
    }
    let mut entries: Vec<&(Entry, usize)> = map.values().collect();
    entries.sort_by_key(|(_, rank)| *rank);
    let mut s = String::new();
    for (e, _) in entries {
        match e {
            Entry::Key(k) => s.push_str(&render(k)),
            Entry::Raw(l) => s.push_str(l),
        }
        s.push('\n');
    }
    Some(s)
}
