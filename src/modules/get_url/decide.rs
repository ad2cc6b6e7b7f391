//! `get_url`'s decision from what was seen: the digest wanted, whether the file is already
//! there, and the outcome of the download (the content write of `fileops` when it changes).

use super::{fetch, write, GetArgs, GetChange};
use crate::modules::contract::{Failure, Observed, Outcome};
use crate::modules::fileops::Payload;
use crate::modules::Plan;
use minijinja::Value;

/// The digest the download must have: the task's, or its file's line in the checksum file.
pub(super) fn wanted(a: &GetArgs, seen: &Observed) -> Result<String, Failure> {
    if let Some(c) = &a.checksum {
        return Ok(c.clone());
    }
    let Some(url) = &a.checksum_url else {
        return Ok(String::new());
    };
    let text = seen.section("sums");
    // Ansible's parse_digest_lines: `DIGEST` alone, or `DIGEST [*]NAME` (`./` ignored).
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let found = if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        Some(lines[0].trim().to_string())
    } else {
        lines.iter().find_map(|l| {
            let mut w = l.split_whitespace();
            let (sum, name) = (w.next()?, w.next()?);
            let name = name.trim_start_matches('*').trim_start_matches("./");
            (name == a.url_name).then(|| sum.to_string())
        })
    };
    match found {
        Some(s) => Ok(s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()),
        None => Err(Failure::new(format!(
            "Unable to find a checksum for file '{}' in '{url}'",
            a.url_name
        ))),
    }
}

/// A directory `dest` whose file is named by `Content-Disposition`, not by the URL: the first
/// look did not see that file.
pub(super) fn renamed(a: &GetArgs, seen: &Observed, got: &fetch::Fetched) -> bool {
    let default = crate::modules::fileops::join(a.dest.trim_end_matches('/'), &a.url_name);
    got.status == 200 && seen.files.states[1].is_dir() && got.dest != default
}

/// The destination is a file with the digest wanted, and no `force`: no download.
pub(super) fn already_there(a: &GetArgs, seen: &Observed, want: &str) -> bool {
    let st = &seen.files.states[1];
    !a.force
        && !want.is_empty()
        && st.exists
        && !st.is_dir()
        && seen.files.states.get(5).and_then(|s| s.checksum.as_deref()) == Some(want)
}

/// The keys every result has (and not the content write's `path` and `checksum`).
fn base_values(a: &GetArgs, mut p: Plan, dest: &str) -> Plan {
    p.values.shift_remove("path");
    p.values.shift_remove("checksum");
    p.with_value("url", a.url.as_str())
        .with_value("dest", dest)
        .with_value("elapsed", 0)
}

/// The state of the file the download goes to, as the first look saw it.
fn final_state(seen: &Observed) -> &crate::modules::fileops::FileState {
    let s = &seen.files.states;
    if s[1].is_dir() {
        &s[3]
    } else {
        &s[1]
    }
}

pub(super) fn decide(a: &GetArgs, seen: &Observed) -> Result<Outcome<GetChange>, Failure> {
    let want = wanted(a, seen)?;
    let dest_state = &seen.files.states[1];
    if already_there(a, seen, &want) {
        let sum = dest_state.checksum.clone().unwrap_or_default();
        let payload = Payload::Remote {
            path: a.dest.clone(),
            checksum: sum,
            size: dest_state.size,
        };
        let o = write(a, &a.dest, payload).decide(&seen.files, None);
        let fix = |p: Plan, changed: bool| {
            let msg = if changed {
                "file already exists but file attributes changed"
            } else {
                "file already exists"
            };
            base_values(a, p, &a.dest)
                .with_value("checksum_src", ())
                .with_value("checksum_dest", ())
                .with_msg(msg)
        };
        let changed = matches!(o, Outcome::Change { .. });
        return Ok(o
            .map(|change| GetChange {
                write: Some(change),
                tmp: None,
            })
            .map_report(|p| fix(p, changed)));
    }
    let got = fetch::parse(seen.section("dl"));
    let fail_with = |msg: String| {
        Failure::new(msg)
            .with("url", a.url.as_str())
            .with("dest", a.dest.as_str())
    };
    if got.tool.is_empty() {
        return Err(fail_with(
            "get_url's download did not run on the host".into(),
        ));
    }
    if let Some(d) = &got.nodir {
        let missing = fail_with(format!("Destination {d} does not exist"));
        // In check mode, an earlier task may be about to make the directory.
        if a.earlier_change {
            let report = base_values(a, Plan::unchanged(), &got.dest).with_msg(format!(
                "download predicted, assuming an earlier task creates {d}"
            ));
            return Ok(Outcome::Change {
                change: GetChange {
                    write: None,
                    tmp: None,
                },
                report,
                pending: Some(missing),
            });
        }
        return Err(missing);
    }
    if let Some(d) = &got.unwritable {
        return Err(fail_with(format!("Destination {d} is not writable")));
    }
    if got.rc != 0 {
        return Err(fail_with(format!("Request failed: {}", got.err)).with("elapsed", 0));
    }
    if got.status == 304 {
        let mut p = base_values(a, Plan::unchanged(), &got.dest)
            .with_value("status_code", 304)
            .with_msg("HTTP Error 304: Not Modified");
        for (k, v) in crate::modules::fileops::path_info(dest_state) {
            p = p.with_value(&k, v);
        }
        return Ok(Outcome::Unchanged(p));
    }
    if got.status != 200 {
        return Err(fail_with("Request failed".into())
            .with("status_code", got.status)
            .with(
                "response",
                format!("HTTP Error {}: {}", got.status, got.reason),
            )
            .with("elapsed", 0));
    }
    let tmp_label = got
        .tmp
        .clone()
        .unwrap_or_else(|| format!("{}.download", got.dest));
    if let Some(g) = got
        .got
        .as_deref()
        .filter(|g| !want.is_empty() && *g != want)
    {
        let mut f = Failure::new(format!(
            "The checksum for {tmp_label} did not match {want}; it was {g}."
        ))
        .with("url", a.url.as_str())
        .with("dest", got.dest.as_str())
        .with("elapsed", 0)
        .with("src", tmp_label.as_str())
        .with("checksum_src", got.sum_src.as_str())
        .with(
            "checksum_dest",
            got.sum_dest.as_deref().map_or(Value::from(()), Value::from),
        );
        let st = final_state(seen);
        if st.exists {
            for (k, v) in crate::modules::fileops::path_info(st) {
                f = f.with(&k, v);
            }
        }
        return Err(f);
    }
    let payload = Payload::Remote {
        path: got.tmp.clone().unwrap_or_default(),
        checksum: got.sum_src.clone(),
        size: got.size,
    };
    // The file as the first look saw it (`dest`, or the URL's name in it), or as the look
    // after the download did (a name from `Content-Disposition`).
    let o = match seen.more.iter().rev().find(|m| !m.files.states.is_empty()) {
        Some(m) if renamed(a, seen, &got) => write(a, &got.dest, payload).decide(&m.files, None),
        _ => write(a, &a.dest, payload).decide(&seen.files, None),
    };
    let msg = format!("OK ({} bytes)", got.length.as_deref().unwrap_or("unknown"));
    let values = |p: Plan| {
        base_values(a, p, &got.dest)
            .with_value("status_code", 200)
            .with_value("checksum_src", got.sum_src.as_str())
            .with_value(
                "checksum_dest",
                got.sum_dest.as_deref().map_or(Value::from(()), Value::from),
            )
            .with_value("md5sum", got.md5.as_str())
            .with_value("src", tmp_label.as_str())
            .with_msg(msg.clone())
    };
    let said = |p: Plan| match got.tool.as_str() {
        // Said with each result, so that a run on hosts without a downloader shows it.
        "controller" => p.with_value(
            "warnings",
            vec![format!(
                "the host has neither curl nor wget: the controller downloaded {} and sent it",
                a.url
            )],
        ),
        _ => p,
    };
    Ok(o.map(|change| GetChange {
        write: Some(change),
        tmp: got.tmp.clone(),
    })
    .map_report(|p| said(values(p))))
}
