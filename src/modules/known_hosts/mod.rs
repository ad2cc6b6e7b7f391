//! `known_hosts`: one host's key added to (or removed from) a `known_hosts` file, as
//! Ansible's module: one key per host and key type (a different key of the same type
//! replaces it), hashed names with `hash_host` (an entry already hashed keeps its hash), the
//! whole host removed when `state: absent` names no key. The file is read in the look and
//! matched as `ssh-keygen -F` matches (`hosts`), so the host needs no `ssh-keygen`; the write
//! is the in-place edit of `fileops::TextEdit`. The result always carries the `diff`.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Step, Typed};
use super::fileops::fail;
use super::fileops::{DiffStyle, EditChange, TextEdit};
use super::{Args, Diff, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod hosts;

pub struct KnownHosts;

static SPEC: Spec = Spec {
    args: &["name", "key", "path", "hash_host", "state"],
    aliases: &[("host", "name")],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct KhArgs {
    /// `name` as given (returned), and lowered (matched).
    name: String,
    host: String,
    /// The key as given (returned), and the line written (hashed with `hash_host`).
    key: Option<String>,
    line: Option<String>,
    hash_host: bool,
    present: bool,
    file: TextEdit,
}

impl Typed for KnownHosts {
    type Args = KhArgs;
    type Change = EditChange;

    fn name(&self) -> &'static str {
        "known_hosts"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<KhArgs> {
        let name = args.req_str("name")?;
        let lowered = name.to_lowercase();
        let key = args.str("key").filter(|k| !k.is_empty());
        let present = args.choice("state", &["absent", "present"], "present")? == "present";
        let hash_host = args.bool_or("hash_host", false)?;
        if key.is_none() && present {
            return Err(fail("No key specified when adding a host"));
        }
        let line = match &key {
            Some(k) => {
                let k = if hash_host {
                    hosts::hash_key(&lowered, k)
                } else {
                    k.clone()
                };
                // Ansible's `sanity_check`.
                let comma = regex::Regex::new(r"\S+(\s+)?,(\s+)?").expect("a valid pattern");
                if comma.is_match(&lowered) {
                    return Err(fail("Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file."));
                }
                if hosts::find(&k, &lowered).is_empty() {
                    return Err(fail(
                        "Host parameter does not match hashed host field in supplied key",
                    ));
                }
                Some(if k.ends_with('\n') {
                    k
                } else {
                    format!("{k}\n")
                })
            }
            None => None,
        };
        let path = host.expand_path(
            &args
                .str("path")
                .unwrap_or_else(|| "~/.ssh/known_hosts".into()),
        )?;
        Ok(KhArgs {
            name,
            host: lowered,
            key,
            line,
            hash_host,
            present,
            file: TextEdit {
                path,
                diff: DiffStyle::Single,
                follow: true,
                ..TextEdit::default()
            },
        })
    }

    fn observe(&self, a: &KhArgs) -> Observe {
        a.file.observe()
    }

    fn decide(&self, a: &KhArgs, seen: &Observed) -> Outcome<EditChange> {
        decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &KhArgs, c: &EditChange) -> Vec<Step> {
        c.steps()
    }

    fn finish(&self, _a: &KhArgs, _c: &EditChange, done: &Done, r: Plan) -> Plan {
        super::fileops::content_finish(done, r)
    }
}

/// Ansible's `search_for_host_key`: whether the host is in the file, whether the key must be
/// replaced or added, and the line of the entry of the same key type.
fn search(a: &KhArgs, text: &str, exists: bool) -> (bool, bool, Option<usize>) {
    let found = hosts::find(text, &a.host);
    if !exists || found.is_empty() {
        return (false, false, None);
    }
    let Some(line) = &a.line else {
        return (true, false, None);
    };
    let Some(mut new) = hosts::entry(line) else {
        return (true, true, None);
    };
    for (n, old) in found {
        let marked = old
            .marker
            .as_deref()
            .is_some_and(|m| m.starts_with("@cert-authority") || m.starts_with("@revoke"));
        if marked {
            if new == old {
                return (true, false, Some(n));
            }
            continue;
        }
        if new.host.starts_with("|1|") && old.host.starts_with("|1|") {
            new.host = old.host.clone();
        }
        if new == old {
            return (true, false, Some(n));
        } else if new.ktype == old.ktype {
            return (true, true, Some(n));
        }
    }
    (true, true, None)
}

/// The file's path info after the task: as the look found it, or as the write leaves it (a new
/// file is the shell user's, with the umask's mode).
fn path_info(
    seen: &Observed,
    cur: &super::fileops::Current,
    written: Option<usize>,
) -> Vec<(String, Value)> {
    let st = &seen.files.states[1];
    let mut after = st.clone();
    if !cur.exists {
        let Some(len) = written else {
            return Vec::new();
        };
        let Ok(me) = super::fileops::AttrWant::default().final_new(&seen.files, false) else {
            return Vec::new();
        };
        after = super::fileops::FileState {
            exists: true,
            st_mode: super::fileops::S_IFREG | me.mode,
            uid: me.uid,
            gid: me.gid,
            owner: me.owner,
            group: me.group,
            ..super::fileops::FileState::default()
        };
        after.size = len as u64;
    } else if let Some(len) = written {
        after.size = len as u64;
    }
    super::fileops::path_info(&after)
}

fn decide(a: &KhArgs, seen: &Observed) -> Result<Outcome<EditChange>, Failure> {
    let cur = a.file.current(seen)?;
    let before = String::from_utf8_lossy(&cur.content).into_owned();
    let (found, replace, at) = search(a, &before, cur.exists);
    // Removing a key the file does not have changes nothing.
    let unmatched_removal = !a.present && a.key.is_some() && at.is_none();
    let whole_host = found && a.key.is_none() && !a.present;
    let rewrite = !unmatched_removal && (replace || found != a.present);
    let lines: Vec<&str> = before.split_inclusive('\n').collect();
    let mut after: Vec<&str> = lines.clone();
    if whole_host {
        // `ssh-keygen -R`: every entry of the host but the marked ones.
        let gone: Vec<usize> = hosts::find(&before, &a.host)
            .into_iter()
            .filter(|(_, e)| e.marker.is_none())
            .map(|(n, _)| n)
            .collect();
        after = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(&(i + 1)))
            .map(|(_, l)| *l)
            .collect();
    } else if rewrite && (replace || !a.present) {
        if let Some(n) = at {
            after.remove(n - 1);
        }
    }
    let line = a.line.clone().unwrap_or_default();
    if rewrite && a.present {
        after.push(&line);
    }
    let after = after.concat();
    let new = (after != before).then(|| after.clone().into_bytes());
    let path = &a.file.path;
    // A real run returns the parameters and the file's path info (as Ansible's `exit_json`
    // adds it); check mode returns only `changed` and `diff`.
    let mut report = Plan::unchanged();
    report.real_values = vec![
        ("name".into(), Value::from(a.name.as_str())),
        (
            "key".into(),
            a.key.as_deref().map_or(Value::from(()), Value::from),
        ),
        ("path".into(), Value::from(path.as_str())),
        ("hash_host".into(), Value::from(a.hash_host)),
        (
            "state".into(),
            Value::from(if a.present { "present" } else { "absent" }),
        ),
    ];
    report
        .real_values
        .extend(path_info(seen, &cur, new.as_ref().map(Vec::len)));
    let shown_after = after;
    let before_header = if cur.exists {
        path.clone()
    } else {
        "/dev/null".into()
    };
    let out = a.file.outcome(seen, &cur, new, String::new(), report)?;
    Ok(out.map_report(|mut r| {
        r.msg = None;
        r.diffs = vec![Diff {
            before_header: before_header.clone(),
            after_header: path.clone(),
            before: before.clone(),
            after: shown_after.clone(),
            prepared: None,
        }];
        r.diff_value = Some(crate::vars::map_value([
            ("before_header".to_string(), Value::from(before_header)),
            ("after_header".to_string(), Value::from(path.as_str())),
            ("before".to_string(), Value::from(before)),
            ("after".to_string(), Value::from(shown_after)),
        ]));
        r.diff_always = true;
        r
    }))
}
