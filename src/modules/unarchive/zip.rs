//! `unarchive`'s zip archives, as Ansible's `ZipArchive`: Info-ZIP's `unzip` (and `zipinfo`,
//! or `unzip -Z` for `ZipZArchive`) on the host list the archive; each member is compared
//! with the destination by type, time, size, CRC-32 (the host's `gzip` computes the file's),
//! mode, owner and group; any difference unpacks the whole archive again with `unzip -o`.

use super::UnArgs;
use crate::modules::contract::Failure;
use crate::modules::fileops::resolve_mode;
use std::collections::HashMap;

/// A member's state under `dest`.
struct St {
    kind: String,
    mode: u32,
    size: u64,
    /// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`, local time.
    mtime: String,
    user: String,
    group: String,
    uid: String,
    gid: String,
    /// The file's CRC-32 (regular files).
    crc: Option<u32>,
}

/// What the look said about a zip archive.
#[derive(Default)]
pub(super) struct ZipSeen {
    pub names: Vec<String>,
    lines: Vec<String>,
    zrc: i32,
    crcs: HashMap<String, u32>,
    stats: HashMap<String, St>,
    uid: String,
    user: String,
    group: String,
    groups: Vec<String>,
    umask: u32,
}

/// Python's `str.split(None, n)`: at most `n` splits on runs of whitespace.
fn split_ws(line: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if out.len() == n {
            out.push(rest);
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    out
}

pub(super) fn read(text: &str) -> ZipSeen {
    let mut z = ZipSeen {
        zrc: -1,
        umask: 0o022,
        ..ZipSeen::default()
    };
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "f" => z.names.push(v.to_string()),
            "z" => z.lines.push(v.to_string()),
            "zrc" => z.zrc = v.trim().parse().unwrap_or(-1),
            "v" => {
                let f = split_ws(v, 7);
                if f.len() == 8 && f[6].len() == 8 {
                    if let Ok(crc) = u32::from_str_radix(f[6], 16) {
                        z.crcs.insert(f[7].to_string(), crc);
                    }
                }
            }
            "me" => {
                let mut w = v.split(' ');
                z.uid = w.next().unwrap_or_default().into();
                z.user = w.next().unwrap_or_default().into();
                z.group = w.next().unwrap_or_default().into();
            }
            "groups" => z.groups = v.split_whitespace().map(String::from).collect(),
            "umask" => z.umask = u32::from_str_radix(v.trim(), 8).unwrap_or(0o022),
            "zs" => {
                let f: Vec<&str> = v.splitn(10, '|').collect();
                if f.len() == 10 {
                    // `od -tx1` of gzip's trailer: the CRC's bytes, least significant first.
                    let crc = (f[8].len() == 8)
                        .then(|| u32::from_str_radix(f[8], 16).ok())
                        .flatten()
                        .map(u32::swap_bytes);
                    z.stats.insert(
                        f[9].to_string(),
                        St {
                            kind: f[0].into(),
                            mode: u32::from_str_radix(f[1], 8).unwrap_or(0),
                            size: f[2].parse().unwrap_or(0),
                            mtime: f[3].chars().take(29).collect(),
                            user: f[4].into(),
                            group: f[5].into(),
                            uid: f[6].into(),
                            gid: f[7].into(),
                            crc,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    z
}

/// Ansible's `files_in_archive`: the members an `include` matches (once per matching
/// pattern, as Ansible's loop), else those no `exclude` matches.
pub(super) fn files_in_archive(a: &UnArgs, z: &ZipSeen) -> Vec<String> {
    let fnmatch = crate::glob::fnmatch;
    let mut out = Vec::new();
    for m in &z.names {
        if !a.include.is_empty() {
            for i in &a.include {
                if fnmatch(i, m) {
                    out.push(m.clone());
                }
            }
        } else if !a.exclude.iter().any(|e| fnmatch(e, m)) {
            out.push(m.clone());
        }
    }
    out
}

/// Ansible's `_valid_time_stamp` as local time text (`zipinfo -T`'s `YYYYMMDD.hhmmss`).
fn zip_time(t: &str) -> String {
    let b = t.as_bytes();
    let ok = b.len() == 15
        && b[8] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit());
    let year: u32 = if ok { t[..4].parse().unwrap_or(0) } else { 0 };
    if !ok || year < 1980 {
        return "1980-01-01 00:00:00".into();
    }
    if year > 2107 {
        return "2107-12-31 23:59:59".into();
    }
    format!(
        "{}-{}-{} {}:{}:{}",
        &t[..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    )
}

/// Ansible's `_permstr_to_octal`: `rw-r--r--` less the umask.
fn perm_octal(perm: &str, umask: u32) -> u32 {
    let rev: Vec<char> = perm.chars().rev().collect();
    let mut mode = 0;
    for (i, c) in rev.iter().enumerate().take(9) {
        if "rwxst".contains(*c) {
            mode |= 1 << i;
        }
    }
    mode & !umask
}

/// Whether `perm` is nine `[r-][w-][SsTtx-]` triplets (Ansible's `ZIP_FILE_MODE_RE`).
fn perm_ok(perm: &str) -> bool {
    let c: Vec<char> = perm.chars().collect();
    c.len() == 9
        && c.chunks(3)
            .all(|t| "r-".contains(t[0]) && "w-".contains(t[1]) && "SsTtx-".contains(t[2]))
}

/// Ansible's `ZipArchive.is_unarchived`.
pub(super) struct Check {
    pub unarchived: bool,
    /// The itemized changes (`diff: {prepared: ...}`).
    pub diff: String,
    /// `exclude` and, with `keep_newer`, the members newer on the host.
    pub excludes: Vec<String>,
}

pub(super) fn check(a: &UnArgs, z: &ZipSeen) -> Result<Check, Failure> {
    let mut unarchived = z.zrc == 0;
    let mut excludes = a.exclude.clone();
    let mut includes: Vec<String> = Vec::new();
    let mut diff = String::new();
    let root = z.uid == "0";
    let fut_owner = a.owner.clone().unwrap_or_else(|| z.user.clone());
    let fut_group = a.group.clone().unwrap_or_else(|| z.group.clone());
    for line in &z.lines {
        let pcs = split_ws(line, 7);
        if pcs.len() != 8 || ![7, 8, 10].contains(&pcs[0].chars().count()) || pcs[6].len() != 15 {
            continue;
        }
        let ztype = pcs[0].chars().next().unwrap_or(' ');
        let mut perm: String = pcs[0].chars().skip(1).collect();
        if !"dl-?".contains(ztype) || !perm.chars().all(|c| "rwxstah-".contains(c)) {
            continue;
        }
        let path = pcs[7].to_string();
        if excludes.contains(&path) {
            continue;
        }
        let ftype = if path.ends_with('/') {
            'd'
        } else if ztype == 'l' {
            'L'
        } else {
            'f'
        };
        let file_umask = match perm.chars().count() {
            6 => {
                perm = if path.ends_with('/') || perm == "rwx---" {
                    "rwxrwxrwx"
                } else {
                    "rw-rw-rw-"
                }
                .into();
                z.umask
            }
            7 => {
                perm = if perm == "rwxa---" {
                    "rwxrwxrwx"
                } else {
                    "rw-rw-rw-"
                }
                .into();
                z.umask
            }
            _ => 0,
        };
        if !perm_ok(&perm) {
            return Err(Failure::new(format!(
                "ZIP info perm format incorrect, {perm}"
            )));
        }
        let Some(st) = z.stats.get(&path) else {
            includes.push(path.clone());
            diff.push_str(&format!(">{ftype}++++++.?? {path}\n"));
            continue;
        };
        let wrong_type = match ftype {
            'd' => st.kind != "directory",
            'L' => st.kind != "symbolic link",
            _ => !st.kind.starts_with("regular"),
        };
        if wrong_type {
            if ftype == 'f' {
                unarchived = false;
            }
            includes.push(path.clone());
            diff.push_str(&format!("c{ftype}++++++.?? {path}\n"));
            continue;
        }
        let regular = st.kind.starts_with("regular");
        let mut item: Vec<char> = format!(".{ftype}.......??").chars().collect();
        let mut change = false;
        if regular {
            let zt = format!("{}.000000000", zip_time(pcs[6]));
            if a.keep_newer {
                if zt.as_str() > st.mtime.as_str() {
                    change = true;
                    item[4] = 't';
                } else if zt.as_str() < st.mtime.as_str() {
                    excludes.push(path.clone());
                    continue;
                }
            } else if zt != st.mtime {
                change = true;
                item[4] = 't';
            }
            if pcs[3].parse::<u64>().ok() != Some(st.size) {
                change = true;
                item[3] = 's';
            }
            if st.crc.is_none() || st.crc != z.crcs.get(&path).copied() {
                change = true;
                item[2] = 'c';
            }
        }
        if ftype != 'L' {
            let want = match &a.mode {
                Some(m) => resolve_mode(m, st.mode, ftype == 'd', z.umask)
                    .map_err(|e| Failure::new(e.to_string()))?,
                None if ztype == '?' => perm_octal(&perm, 0),
                None => perm_octal(&perm, file_umask),
            };
            if want != st.mode & 0o7777 {
                change = true;
                item[5] = 'p';
            }
        }
        if !root && fut_owner != z.user {
            return Err(Failure::new(format!(
                "Cannot change ownership of {path} to {fut_owner}, as user {}",
                z.user
            )));
        }
        if !same_account(&fut_owner, &st.user, &st.uid) {
            change = true;
            item[6] = 'o';
        }
        if !root && fut_group != z.group && !z.groups.contains(&fut_group) {
            return Err(Failure::new(format!(
                "Cannot change group ownership of {path} to {fut_group}, as user {}",
                z.user
            )));
        }
        if !same_account(&fut_group, &st.group, &st.gid) {
            change = true;
            item[6] = 'g';
        }
        if change {
            if !includes.contains(&path) {
                includes.push(path.clone());
            }
            diff.push_str(&format!("{} {path}\n", item.iter().collect::<String>()));
        }
    }
    if !includes.is_empty() {
        unarchived = false;
    }
    Ok(Check {
        unarchived,
        diff,
        excludes,
    })
}

/// An account asked by name or number against a file's (`UNKNOWN` names compare by number).
fn same_account(want: &str, name: &str, id: &str) -> bool {
    if want.bytes().all(|b| b.is_ascii_digit()) && !want.is_empty() && name != want {
        want == id
    } else {
        want == name
    }
}

/// `unzip -o` over the archive (with `-x` of the excludes), into `dest`: the words after
/// `unzip` and before the archive's path, and those after it.
pub(super) fn extract(a: &UnArgs, excludes: &[String]) -> (Vec<String>, Vec<String>) {
    let mut before = vec!["-o".to_string()];
    before.extend(a.extra.iter().cloned());
    let mut after = Vec::new();
    if !excludes.is_empty() {
        after.push("-x".to_string());
        after.extend(excludes.iter().cloned());
    }
    after.extend(a.include.iter().cloned());
    after.push("-d".into());
    after.push(a.dest.clone());
    (before, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_python() {
        assert_eq!(
            split_ws("  -rw-r--r--  3.0 unx  4 tx stor 20170511.153000 a b  c", 7),
            vec![
                "-rw-r--r--",
                "3.0",
                "unx",
                "4",
                "tx",
                "stor",
                "20170511.153000",
                "a b  c"
            ]
        );
        assert_eq!(split_ws("a", 7), vec!["a"]);
    }

    #[test]
    fn times_and_modes_as_ansible() {
        assert_eq!(zip_time("20170511.153000"), "2017-05-11 15:30:00");
        assert_eq!(zip_time("19700101.000000"), "1980-01-01 00:00:00");
        assert_eq!(zip_time("garbage"), "1980-01-01 00:00:00");
        assert_eq!(perm_octal("rw-r--r--", 0), 0o644);
        assert_eq!(perm_octal("rwxrwxrwx", 0o022), 0o755);
        assert!(perm_ok("rwsr-xr-T"));
        assert!(!perm_ok("rw-a--"));
    }
}
