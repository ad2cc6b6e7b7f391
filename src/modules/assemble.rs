//! `assemble`: the regular files of a directory (on the host, or on the controller with
//! `remote_src: false`), in name order, concatenated into `dest` with Ansible's rules
//! (`delimiter` between fragments, a newline after a fragment or delimiter that lacks one,
//! `regexp` on the names, `ignore_hidden`). The fragments come back in the look
//! (base64, so any byte survives); the result is written as `copy` writes content (the
//! content write of `fileops`: atomic, attributes, backup, `validate`).

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::fileops::{content_finish, content_steps, ContentChange, ContentWrite, Payload};
use super::{Args, Plan, Spec};
use crate::pyre::Re;
use anyhow::Result;
use base64::Engine as _;

pub struct Assemble;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "dest",
        "delimiter",
        "backup",
        "remote_src",
        "regexp",
        "ignore_hidden",
        "validate",
        "decrypt",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: true,
};

pub struct AssembleArgs {
    src: String,
    dest: String,
    delimiter: Option<Vec<u8>>,
    regexp: Option<Re>,
    ignore_hidden: bool,
    /// The fragments read on the controller (`remote_src: false`), by name.
    local: Option<Vec<(String, Vec<u8>)>>,
    write: ContentWrite,
}

impl Typed for Assemble {
    type Args = AssembleArgs;
    type Change = ContentChange;

    fn name(&self) -> &'static str {
        "assemble"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<AssembleArgs> {
        let src = args.req_str("src")?;
        let dest = host.expand_path(&args.req_str("dest")?)?;
        let regexp = match args.str("regexp") {
            Some(r) => Some(
                Re::new(&r, false, false)
                    .map_err(|e| fail(format!("Invalid Regexp ({e}) in \"{r}\"")))?,
            ),
            None => None,
        };
        let validate = args.str("validate");
        if let Some(v) = validate.as_deref().filter(|v| !v.contains("%s")) {
            return Err(fail(format!("validate must contain %s: {v}")));
        }
        let local = if args.bool_or("remote_src", true)? {
            None
        } else {
            let dir = host
                .paths()
                .find("files", &src)
                .ok_or_else(|| fail(format!("Source ({src}) does not exist")))?;
            if !dir.is_dir() {
                return Err(fail(format!("Source ({src}) is not a directory")));
            }
            let mut frags = Vec::new();
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                if e.file_type()?.is_file() {
                    frags.push((
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path())?,
                    ));
                }
            }
            Some(frags)
        };
        let src = if local.is_some() {
            src
        } else {
            host.expand_path(&src)?
        };
        Ok(AssembleArgs {
            write: ContentWrite {
                dest: dest.clone(),
                payload: Payload::Bytes(Vec::new()),
                src_label: None,
                basename: None,
                content_mode: true,
                mode: args.mode("mode")?,
                owner: args.str("owner"),
                group: args.str("group"),
                directory_mode: None,
                force: true,
                backup: args.bool_or("backup", false)?,
                follow: true,
                validate,
                after_header: src.clone(),
                diff: host.diff_mode(),
                secret: false,
            },
            src,
            dest,
            delimiter: args
                .str("delimiter")
                .map(|d| crate::playbook::decode_escapes(&d).into_bytes()),
            regexp,
            ignore_hidden: args.bool_or("ignore_hidden", false)?,
            local,
        })
    }

    fn observe(&self, a: &AssembleArgs) -> Observe {
        let mut want = a.write.observe();
        if a.local.is_none() {
            // Each regular file: its name and content, both in base64.
            let s = Script::new()
                .set("src", &a.src)
                .raw("if ! [ -e \"$src\" ]; then echo missing; elif ! [ -d \"$src\" ]; then echo notdir; else\nfor f in \"$src\"/* \"$src\"/.*; do [ -f \"$f\" ] || continue; printf 'f %s ' \"$(printf %s \"${f##*/}\" | base64 -w0)\"; base64 -w0 <\"$f\"; echo; done; fi");
            want.sections.push(("frags", s));
        }
        want
    }

    fn observe_again(&self, a: &AssembleArgs, seen: &Observed) -> Option<Observe> {
        a.write.next_look(seen)
    }

    fn decide(&self, a: &AssembleArgs, seen: &Observed) -> Outcome<ContentChange> {
        let frags = match &a.local {
            Some(l) => l.clone(),
            None => {
                let text = seen.section("frags");
                match text.trim() {
                    "missing" => {
                        return Outcome::Fail(Failure::new(format!(
                            "Source ({}) does not exist",
                            a.src
                        )))
                    }
                    "notdir" => {
                        return Outcome::Fail(Failure::new(format!(
                            "Source ({}) is not a directory",
                            a.src
                        )))
                    }
                    _ => {}
                }
                let b64 = base64::engine::general_purpose::STANDARD;
                text.lines()
                    .filter_map(|l| {
                        let mut w = l.strip_prefix("f ")?.split(' ');
                        let name = b64.decode(w.next()?).ok()?;
                        let data = b64.decode(w.next().unwrap_or_default()).ok()?;
                        Some((String::from_utf8_lossy(&name).into_owned(), data))
                    })
                    .collect()
            }
        };
        let data = assemble(a, frags);
        let sum = super::fileops::sha1_hex(&data);
        let md5 = super::fileops::md5_hex(&data);
        let mut w = a.write.clone();
        w.payload = Payload::Bytes(data);
        let fix = |mut p: Plan| {
            p.values.shift_remove("path");
            // Ansible's action returns its one diff as a dict.
            if let [d] = p.diffs.as_slice() {
                p.diff_value = Some(crate::vars::map_value([
                    (
                        "before".to_string(),
                        minijinja::Value::from(d.before.as_str()),
                    ),
                    (
                        "after".to_string(),
                        minijinja::Value::from(d.after.as_str()),
                    ),
                    (
                        "before_header".to_string(),
                        minijinja::Value::from(d.before_header.as_str()),
                    ),
                    (
                        "after_header".to_string(),
                        minijinja::Value::from(d.after_header.as_str()),
                    ),
                ]));
            }
            p.with_value("src", a.src.as_str())
                .with_value("dest", a.dest.as_str())
                .with_value("checksum", sum.as_str())
                .with_value("md5sum", md5.as_str())
                .with_msg("OK")
        };
        w.decide_seen(seen).map_report(fix)
    }

    fn apply(&self, _a: &AssembleArgs, c: &ContentChange) -> Vec<Step> {
        content_steps(c)
    }

    fn finish(&self, _a: &AssembleArgs, _c: &ContentChange, done: &Done, r: Plan) -> Plan {
        content_finish(done, r)
    }
}

/// Ansible's `assemble_from_fragments`: sorted names, the regexp and hidden filters, the
/// delimiter between fragments and a newline wherever one is missing before the next.
fn assemble(a: &AssembleArgs, mut frags: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    frags.sort_by(|x, y| x.0.cmp(&y.0));
    let mut out = Vec::new();
    let (mut delimit, mut add_newline) = (false, false);
    for (name, content) in frags {
        if a.regexp
            .as_ref()
            .is_some_and(|r| !r.is_match(name.as_bytes()))
        {
            continue;
        }
        if a.ignore_hidden && name.starts_with('.') {
            continue;
        }
        if add_newline {
            out.push(b'\n');
        }
        if delimit {
            if let Some(d) = a.delimiter.as_ref().filter(|d| !d.is_empty()) {
                out.extend_from_slice(d);
                if d.last() != Some(&b'\n') {
                    out.push(b'\n');
                }
            }
        }
        out.extend_from_slice(&content);
        delimit = true;
        add_newline = !content.ends_with(b"\n");
    }
    out
}
