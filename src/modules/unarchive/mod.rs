//! `unarchive`: a tar archive (gzip, bzip2, xz, zstd or none; GNU tar on the host) unpacked
//! into an existing directory, from the controller (sent into the session's temp dir in the
//! look) or from the host (`remote_src`). Idempotent as Ansible's: `tar --diff` against the
//! destination, differences in what the task sets anyway (`mode`, `owner`, `group`) not
//! counting; the files' attributes are then set as asked. One look, one step.

use super::contract::{Done, Failure, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{ProbeItem, ProbeReq};
use super::{Args, Plan, Spec};
use anyhow::Result;
use minijinja::Value;

mod decide;

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

pub struct UnArgs {
    /// The archive on the host, or on the controller (sent as `$D/upload`).
    src: String,
    local: Option<(std::path::PathBuf, String)>,
    dest: String,
    creates: Option<String>,
    list_files: bool,
    /// Options of both `tar --diff` and `tar --extract`, then the members to take.
    opts: Vec<String>,
    include: Vec<String>,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

/// What to do: unpack (or only set attributes), and to which files.
#[derive(Debug)]
pub struct UnChange {
    extract: Option<Vec<String>>,
    attrs: Option<Script>,
}

fn fail(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(msg).into()
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
        let remote = args.bool_or("remote_src", !args.bool_or("copy", true)?)?;
        if src.contains("://") {
            return Err(fail(
                "unarchive from a URL is not implemented by drover yet: download it with get_url first",
            ));
        }
        let local = if remote {
            None
        } else {
            let path = host.paths().find("files", &src).ok_or_else(|| {
                fail(format!(
                    "Could not find or access '{src}' on the Ansible Controller."
                ))
            })?;
            let (sum, _, _) = super::transfer::hash_file(&path)?;
            Some((path, sum))
        };
        let mut opts = Vec::new();
        for o in args.list("extra_opts") {
            opts.push(o);
        }
        if args.bool_or("keep_newer", false)? {
            opts.push("--keep-newer-files".into());
        }
        for e in args.list_untrimmed("exclude") {
            opts.push(format!("--exclude={e}"));
        }
        Ok(UnArgs {
            src: if remote { host.expand_path(&src)? } else { src },
            local,
            dest,
            creates: args.str("creates"),
            list_files: args.bool_or("list_files", false)?,
            opts,
            include: args.list_untrimmed("include"),
            mode: args.mode("mode")?,
            owner: args.str("owner"),
            group: args.str("group"),
        })
    }

    fn observe(&self, a: &UnArgs) -> Observe {
        let mut s = Script::new()
            .set("src", &a.src)
            .set("dest", &a.dest)
            .set("creates", a.creates.as_deref().unwrap_or(""))
            .raw("[ -n \"$creates\" ] && [ -e \"$creates\" ] && echo created\n");
        if a.local.is_some() {
            s = s.raw("src=\"$D/upload\"\n");
        }
        s = s
            .raw("[ -d \"$dest\" ] || echo nodest\n[ -e \"$src\" ] || echo nosrc\n[ -r \"$src\" ] || echo unreadable\n[ -s \"$src\" ] || echo empty\n")
            .raw("h=; if tar -tzf \"$src\" >/dev/null 2>&1; then h=z; z=-z; elif tar -tf \"$src\" >/dev/null 2>&1; then h=tar; z=; fi\necho \"handler $h\"\n")
            .raw("if [ -n \"$h\" ] && [ -d \"$dest\" ]; then\nset --");
        for o in &a.opts {
            s = s.arg(o);
        }
        s = s.raw("\nset -- \"$@\" -f \"$src\"");
        for i in &a.include {
            s = s.arg(i);
        }
        let s = s
            .raw("\ntar -t $z \"$@\" 2>/dev/null | sed 's/^/f /'\n")
            .raw("e=$(mktemp); { LC_ALL=C tar --diff -C \"$dest\" $z \"$@\" 2>\"$e\"; echo \"rc $?\" >\"$e.rc\"; } | sed 's/^/o /'; cat \"$e.rc\"; sed 's/^/e /' \"$e\"; rm -f \"$e\" \"$e.rc\"\n")
            .raw("cd \"$dest\" && tar -t $z \"$@\" 2>/dev/null | while IFS= read -r f; do [ -e \"$f\" ] && stat -c 's %a %U %G|%n' -- \"$f\"; done\nfi\n");
        Observe {
            files: Some(ProbeReq {
                items: vec![ProbeItem::new(&a.dest, true)],
                ..ProbeReq::default()
            }),
            sections: vec![("look", s)],
            upload: a.local.clone(),
            ..Observe::default()
        }
    }

    fn decide(&self, a: &UnArgs, seen: &Observed) -> Outcome<UnChange> {
        decide::decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, a: &UnArgs, c: &UnChange) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(words) = &c.extract {
            let mut s = match a.local {
                Some(_) => Script::new().raw("src=\"$D/upload\"\n"),
                None => Script::new().set("src", &a.src),
            };
            s = s.raw("tar");
            for w in words {
                s = s.arg(w);
            }
            s = s.raw(" -f \"$src\"");
            for i in &a.include {
                s = s.arg(i);
            }
            s = s.raw("\n");
            if a.local.is_some() {
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
        let Some(cmd) = &c.extract else {
            return r;
        };
        let out = &done.outputs[0];
        let mut shown = vec![Value::from("tar")];
        shown.extend(cmd.iter().map(|w| Value::from(w.as_str())));
        shown.push(Value::from("-f"));
        shown.push(Value::from(a.src.as_str()));
        shown.extend(a.include.iter().map(|w| Value::from(w.as_str())));
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
            r.msg = Some(format!("Failed to unpack {} to {}", a.src, a.dest));
        }
        r
    }
}
