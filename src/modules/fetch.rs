//! `fetch`: a file of the host copied to the controller, into `dest/HOST/PATH` (or `dest`
//! itself with `flat`), as Ansible's action does: the host's checksum compared with the
//! controller copy's, the content read only when they differ, written atomically on the
//! controller and its checksum checked (`validate_checksum`). Ansible's action does not run
//! in check mode: drover skips it there too.

use super::contract::Content;
use super::contract::{
    Done, Failure, Observe, Observed, Outcome, Read, Resolve, Script, Step, Typed,
};
use super::fileops::{md5_hex, sha1_hex, Alg, ProbeItem, ProbeReq};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;
use minijinja::Value;
use std::path::PathBuf;

pub struct Fetch;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "dest",
        "flat",
        "fail_on_missing",
        "validate_checksum",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: false,
};

pub struct FetchArgs {
    src: String,
    dest: PathBuf,
    fail_on_missing: bool,
    validate: bool,
    /// The controller copy's SHA-1, when there is one.
    local_sum: Option<String>,
}

/// The write, when the contents differ.
#[derive(Debug)]
pub struct FetchChange {
    bytes: Option<Vec<u8>>,
    sum: String,
}

impl Typed for Fetch {
    type Args = FetchArgs;
    type Change = FetchChange;

    fn name(&self) -> &'static str {
        "fetch"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<FetchArgs> {
        for (key, what) in [("src", "source"), ("dest", "dest")] {
            if args.get(key).is_some_and(|v| v.as_str().is_none()) {
                return Err(Failure::new(format!(
                    "Invalid type supplied for {what} option, it must be a string"
                ))
                .into());
            }
        }
        let (Some(src), Some(dest)) = (args.str("src"), args.str("dest")) else {
            return Err(Failure::new("src and dest are required").into());
        };
        let src = host.expand_path(&src)?;
        let home = std::env::var("HOME").unwrap_or_default();
        let dest = match dest.strip_prefix("~/") {
            Some(rest) => format!("{home}/{rest}"),
            None => dest,
        };
        // A relative `dest` is the playbook's directory's, as Ansible's `path_dwim`.
        let base = host.paths().dirs.last().cloned().unwrap_or_default();
        let mut path = if dest.starts_with('/') {
            PathBuf::from(&dest)
        } else {
            base.join(&dest)
        };
        let name = src.rsplit('/').next().unwrap_or(&src).to_string();
        if args.bool_or("flat", false)? {
            if path.is_dir() && !dest.ends_with('/') {
                return Err(Failure::new("dest is an existing directory, use a trailing slash if you want to fetch src into that directory").into());
            }
            if dest.ends_with('/') {
                path = path.join(&name);
                if path.is_dir() {
                    return Err(Failure::new(format!("calculated dest '{}' is an existing directory, use another path that does not point to an existing directory", path.display())).into());
                }
            }
        } else {
            let host_name = host
                .vars()
                .get_attr("inventory_hostname")
                .ok()
                .filter(|v| !v.is_undefined())
                .map(|v| v.to_string())
                .unwrap_or_default();
            let within = path.clone();
            path = path.join(host_name).join(src.trim_start_matches('/'));
            // `..` in `src` may not lead out of `dest`.
            let mut norm = PathBuf::new();
            for c in path.components() {
                match c {
                    std::path::Component::ParentDir => {
                        norm.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => norm.push(c),
                }
            }
            if !norm.starts_with(&within) {
                return Err(Failure::new(format!(
                    "Detected directory traversal, expected to be contained in '{}' but got '{}'",
                    within.display(),
                    norm.display()
                ))
                .into());
            }
            path = norm;
        }
        let local_sum = std::fs::read(&path).ok().map(|b| sha1_hex(&b));
        Ok(FetchArgs {
            src,
            dest: path,
            fail_on_missing: args.bool_or("fail_on_missing", true)?,
            validate: args.bool_or("validate_checksum", true)?,
            local_sum,
        })
    }

    fn observe(&self, a: &FetchArgs) -> Observe {
        Observe {
            files: Some(ProbeReq {
                items: vec![ProbeItem::new(&a.src, true).sum(Alg::Sha1)],
                ..ProbeReq::default()
            }),
            ..Observe::default()
        }
    }

    /// The content, only when the controller's copy differs; or why the file cannot be seen
    /// (as `slurp` says it).
    fn observe_again(&self, a: &FetchArgs, seen: &Observed) -> Option<Observe> {
        let st = &seen.files.states[0];
        if !st.exists && seen.more.is_empty() {
            let why = Script::new()
                .raw("LC_ALL=C cat --")
                .arg(&a.src)
                .raw(" 2>&1 >/dev/null");
            return Some(Observe {
                sections: vec![("why", why)],
                ..Observe::default()
            });
        }
        let differs = st.is_reg() && st.checksum != a.local_sum;
        (seen.more.is_empty() && differs).then(|| Observe {
            read: Some(Read::Path(a.src.clone())),
            ..Observe::default()
        })
    }

    fn decide(&self, a: &FetchArgs, seen: &Observed) -> Outcome<FetchChange> {
        let st = &seen.files.states[0];
        let dest = a.dest.display().to_string();
        if !st.exists && seen.section("why").contains("Permission denied") {
            let msg = format!("File is not readable: {}", a.src);
            if a.fail_on_missing {
                return Outcome::Fail(Failure::new(msg));
            }
            return Outcome::Unchanged(
                Plan::unchanged()
                    .with_msg(msg)
                    .with_value("file", a.src.as_str()),
            );
        }
        if !st.exists {
            let msg = "the remote file does not exist, not transferring, ignored";
            if a.fail_on_missing {
                return Outcome::Fail(Failure::new(msg));
            }
            return Outcome::Unchanged(
                Plan::unchanged()
                    .with_msg(msg)
                    .with_value("file", a.src.as_str()),
            );
        }
        if st.is_dir() {
            let msg = "remote file is a directory, fetch cannot work on directories";
            if a.fail_on_missing {
                return Outcome::Fail(Failure::new(msg));
            }
            return Outcome::Unchanged(
                Plan::unchanged().with_msg(format!("{msg}, not transferring, ignored")),
            );
        }
        let sum = st.checksum.clone().unwrap_or_default();
        let bytes = match seen.more.first().map(|m| &m.content) {
            Some(Content::Bytes(b)) => Some(b.clone()),
            Some(Content::Unreadable(e)) => {
                return Outcome::Fail(Failure::new(format!("unable to read {}: {e}", a.src)))
            }
            _ => None,
        };
        if a.validate {
            if let Some(b) = &bytes {
                let got = sha1_hex(b);
                if got != sum {
                    return Outcome::Fail(
                        Failure::new("checksum mismatch")
                            .with("file", a.src.as_str())
                            .with("dest", dest.as_str())
                            .with("checksum", got.as_str())
                            .with("remote_checksum", sum.as_str()),
                    );
                }
            }
        }
        // Ansible's action does not run in check mode.
        let mut report = Plan::unchanged().with_value("dest", dest.as_str());
        report.verdict = Verdict::Unpredictable;
        report.check_msg = Some("check mode not (yet) supported for this module".into());
        Outcome::change(FetchChange { bytes, sum }, report)
    }

    fn apply(&self, a: &FetchArgs, c: &FetchChange) -> Vec<Step> {
        match &c.bytes {
            Some(b) => vec![Step::WriteLocal {
                path: a.dest.clone(),
                bytes: b.clone(),
            }],
            None => Vec::new(),
        }
    }

    fn finish(&self, a: &FetchArgs, c: &FetchChange, _done: &Done, mut r: Plan) -> Plan {
        let local = std::fs::read(&a.dest).unwrap_or_default();
        r = r
            .with_value("checksum", c.sum.as_str())
            .with_value("md5sum", md5_hex(&local));
        if c.bytes.is_some() {
            r.verdict = Verdict::Changed;
            r.with_value("remote_checksum", c.sum.as_str())
                .with_value("remote_md5sum", Value::from(()))
        } else {
            r.verdict = Verdict::Unchanged;
            r.with_value("file", a.src.as_str())
        }
    }
}
