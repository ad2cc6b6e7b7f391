//! `unarchive`: a zip archive (Info-ZIP's `unzip` on the host, see `zip`) or a tar archive
//! (gzip, bzip2, xz, zstd or none; GNU tar on the host) unpacked into an existing directory,
//! from the controller (sent into the session's temp dir in the look), from the host
//! (`remote_src`), or from a URL the host downloads (`remote_src` and `://`; the controller
//! downloads for a host without `curl` or `wget`). Idempotent as Ansible's: for tar,
//! `tar --diff` against the destination, differences in what the task sets anyway (`mode`,
//! `owner`, `group`) not counting; for zip, each member compared. The files' attributes are
//! then set as asked. One look (two for the controller's download), one step.

use super::contract::{Done, Download, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::fail;
use super::fileops::{ProbeItem, ProbeReq};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod decide;
mod look;
mod zip;

pub struct Unarchive;

static SPEC: Spec = Spec {
    args: &[
        "src",
        "dest",
        "remote_src",
        "creates",
        "list_files",
        "exclude",
        "include",
        "keep_newer",
        "extra_opts",
        "io_buffer_size",
        "validate_certs",
        "decrypt",
        "copy",
    ],
    aliases: &[],
    free_form: None,
    any_args: false,
    file_args: true,
};

/// Where the archive comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum From {
    Host,
    /// A controller file and its SHA-1, sent as `"$D/upload"`.
    Controller(std::path::PathBuf, String),
    /// A URL the host (or, for a host without `curl` or `wget`, the controller) downloads
    /// into `"$D/upload"`.
    Url,
}

pub struct UnArgs {
    /// The archive's path on the host, the controller's file as the task names it, or the URL.
    src: String,
    from: From,
    dest: String,
    creates: Option<String>,
    list_files: bool,
    keep_newer: bool,
    validate_certs: bool,
    extra: Vec<String>,
    exclude: Vec<String>,
    include: Vec<String>,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

/// What to do: unpack, or only set attributes, and to which files.
#[derive(Debug)]
pub struct UnChange {
    extract: Option<Extract>,
    attrs: Option<Script>,
}

/// The unpacking command: `prog before... flag "$src" after...`.
#[derive(Debug)]
pub struct Extract {
    prog: &'static str,
    /// Where the host finds `prog` (shown in the result, as Ansible's).
    bin: String,
    before: Vec<String>,
    /// `-f` for tar.
    flag: Option<&'static str>,
    after: Vec<String>,
}

impl Extract {
    /// The command as the result's `extract_results.cmd` shows it.
    fn shown(&self, src: &str) -> Vec<Value> {
        let prog = if self.bin.is_empty() {
            self.prog
        } else {
            self.bin.as_str()
        };
        std::iter::once(prog)
            .chain(self.before.iter().map(String::as_str))
            .chain(self.flag)
            .chain(std::iter::once(src))
            .chain(self.after.iter().map(String::as_str))
            .map(Value::from)
            .collect()
    }
}

impl UnArgs {
    /// Options of both `tar --diff` and `tar --extract` (before `-f`).
    fn tar_opts(&self) -> Vec<String> {
        let mut opts = Vec::new();
        if !self.extra.is_empty() {
            opts.push("--show-transformed-names".to_string());
            opts.extend(self.extra.iter().cloned());
        }
        if self.keep_newer {
            opts.push("--keep-newer-files".into());
        }
        for e in &self.exclude {
            opts.push(format!("--exclude={}", e.trim_end_matches('/')));
        }
        opts
    }

    /// The archive in the host's shell: its path, or the upload or download.
    fn src_var(&self) -> Script {
        match self.from {
            From::Host => Script::new().set("src", &self.src),
            _ => Script::new().raw("src=\"$D/upload\"\n"),
        }
    }
}

impl Typed for Unarchive {
    type Args = UnArgs;
    type Change = UnChange;

    fn name(&self) -> &'static str {
        "unarchive"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<UnArgs> {
        let src = args.req_str("src")?;
        let dest = host.expand_path(&args.req_str("dest")?)?;
        if args.has("copy") && args.has("remote_src") {
            return Err(fail(
                "parameters are mutually exclusive: ('copy', 'remote_src')",
            ));
        }
        let remote = args.bool_or("remote_src", !args.bool_or("copy", true)?)?;
        let (include, exclude) = (
            args.list_untrimmed("include"),
            args.list_untrimmed("exclude"),
        );
        if !include.is_empty() && !exclude.is_empty() {
            return Err(fail("parameters are mutually exclusive: include|exclude"));
        }
        let from = if src.contains("://") {
            if !remote {
                return Err(fail(format!(
                    "Unsupported option, an URI src ({src}) is only supported when remote_src is True"
                )));
            }
            From::Url
        } else if remote {
            From::Host
        } else {
            let path = host.paths().find("files", &src).ok_or_else(|| {
                fail(format!(
                    "Could not find or access '{src}' on the Ansible Controller."
                ))
            })?;
            let (sum, _, _) = super::transfer::hash_file(&path)?;
            From::Controller(path, sum)
        };
        Ok(UnArgs {
            src: if from == From::Host {
                host.expand_path(&src)?
            } else {
                src
            },
            from,
            dest,
            creates: args.str("creates"),
            list_files: args.bool_or("list_files", false)?,
            keep_newer: args.bool_or("keep_newer", false)?,
            validate_certs: args.bool_or("validate_certs", true)?,
            extra: args.list("extra_opts"),
            exclude,
            include,
            mode: args.mode("mode")?,
            owner: args.str("owner"),
            group: args.str("group"),
        })
    }

    fn observe(&self, a: &UnArgs) -> Observe {
        Observe {
            files: Some(ProbeReq {
                items: vec![ProbeItem::new(&a.dest, true)],
                ..ProbeReq::default()
            }),
            sections: vec![("look", look::look(a, false))],
            upload: match &a.from {
                From::Controller(path, sum) => Some((path.clone(), sum.clone())),
                _ => None,
            },
            ..Observe::default()
        }
    }

    fn observe_again(&self, a: &UnArgs, seen: &Observed) -> Option<Observe> {
        // A host without `curl` or `wget`: the controller downloads, the look is made again.
        let notool = seen.section("look").lines().any(|l| l == "notool");
        (notool && seen.more.is_empty()).then(|| Observe {
            sections: vec![("look", look::look(a, true))],
            download: Some(Box::new(Download {
                url: a.src.clone(),
                timeout: 10,
                validate_certs: a.validate_certs,
                agent: "ansible-httpget".into(),
                ..Download::default()
            })),
            ..Observe::default()
        })
    }

    fn decide(&self, a: &UnArgs, seen: &Observed) -> Outcome<UnChange> {
        decide::decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &UnArgs, c: &UnChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(x) = &c.extract {
            let mut s = a.src_var().raw(x.prog);
            for w in &x.before {
                s = s.arg(w);
            }
            if let Some(f) = x.flag {
                s = s.raw(" ").raw(f);
            }
            s = s.raw(" \"$src\"");
            for w in &x.after {
                s = s.arg(w);
            }
            s = s.raw("\n");
            if a.from != From::Host {
                s = s.raw("r=$?; rm -f \"$D/upload\"; exit $r\n");
            }
            steps.push(Step::Exec {
                script: s,
                stdin: None,
            });
        }
        if let Some(attrs) = &c.attrs {
            steps.push(Step::Run {
                what: "setting the unpacked files' attributes",
                script: attrs.clone(),
            });
        }
        steps
    }

    fn finish(&self, a: &UnArgs, c: &UnChange, done: &Done, mut r: Plan) -> Plan {
        let Some(x) = &c.extract else {
            return r;
        };
        let out = &done.outputs[0];
        let shown = x.shown(&a.src);
        r = r.with_value(
            "extract_results",
            crate::vars::map_value([
                ("cmd".to_string(), Value::from(shown)),
                ("err".to_string(), Value::from(out.stderr_str())),
                ("out".to_string(), Value::from(out.stdout_str())),
                ("rc".to_string(), Value::from(out.rc)),
            ]),
        );
        if out.rc != 0 {
            r.mark_failed(false);
            r.msg = Some(format!("failed to unpack {} to {}", a.src, a.dest));
        }
        r
    }
}
