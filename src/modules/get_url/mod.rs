//! `get_url`: a file downloaded over HTTP(S) or FTP by the host itself (its `curl`, else
//! `wget`), as Ansible's module does it: `If-Modified-Since` the destination's time unless
//! `force`, a `checksum` (`ALGO:HEX`, or `ALGO:URL` of a checksum file) that skips the
//! download when the destination has it and must match what was downloaded, a directory
//! `dest` named from `Content-Disposition` or the URL. The download goes to a temp file
//! beside the destination; what changes is written as `copy` writes a remote source (the
//! content write of `fileops`: atomic, attributes, backup). In check mode the download is
//! made and removed, so the prediction is the real run's (Ansible only asks `HEAD`).

use super::contract::{Done, Download, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::fileops::{
    content_finish, content_steps, Alg, ContentChange, ContentWrite, Payload, ProbeItem,
};
use super::{Args, Plan, Spec};
use anyhow::Result;

mod decide;
mod fetch;

use super::fileops::fail;
use decide::{already_there, renamed, wanted};

pub struct GetUrl;

static SPEC: Spec = Spec {
    args: &[
        "url",
        "dest",
        "backup",
        "checksum",
        "timeout",
        "headers",
        "tmp_dest",
        "unredirected_headers",
        "decompress",
        "ciphers",
        "use_netrc",
        "force",
        "http_agent",
        "use_proxy",
        "validate_certs",
        "url_username",
        "url_password",
        "force_basic_auth",
        "client_cert",
        "client_key",
        "use_gssapi",
    ],
    aliases: &[
        ("username", "url_username"),
        ("password", "url_password"),
        ("thirsty", "force"),
    ],
    free_form: None,
    any_args: false,
    file_args: true,
};

/// `get_url`'s arguments, typed.
pub struct GetArgs {
    url: String,
    dest: String,
    /// The URL's file name (Ansible's `url_filename`: `index.html` for none).
    url_name: String,
    force: bool,
    backup: bool,
    /// `checksum`: the algorithm, and the digest or the URL of a checksum file.
    algo: Option<String>,
    checksum: Option<String>,
    checksum_url: Option<String>,
    timeout: i64,
    headers: Vec<(String, String)>,
    user: Option<String>,
    password: Option<String>,
    validate_certs: bool,
    use_proxy: bool,
    agent: String,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    /// In check mode, an earlier task predicted a change on this host.
    earlier_change: bool,
}

/// The decided change: the write, and the temp download to remove after it.
#[derive(Debug)]
pub struct GetChange {
    /// None: a prediction resting on an earlier task (the destination's directory).
    write: Option<ContentChange>,
    tmp: Option<String>,
}

fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Ansible's `url_filename`: the last segment of the URL's path.
fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => "index.html".into(),
    }
}

impl Typed for GetUrl {
    type Args = GetArgs;
    type Change = GetChange;

    fn name(&self) -> &'static str {
        "get_url"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<GetArgs> {
        for k in ["client_cert", "client_key", "ciphers"] {
            if args.has(k) {
                return Err(fail(format!(
                    "get_url's `{k}` is not implemented by drover yet"
                )));
            }
        }
        if args.bool_or("use_gssapi", false)? {
            return Err(fail(
                "get_url's `use_gssapi` is not implemented by drover yet",
            ));
        }
        let url = args.req_str("url")?;
        // A directory is known by what is there, as Ansible's `os.path.isdir(dest)`.
        let dest = host.expand_path(&args.req_str("dest")?)?;
        let dest = match dest.trim_end_matches('/') {
            "" => "/".to_string(),
            d => d.to_string(),
        };
        let (mut algo, mut checksum, mut checksum_url) = (None, None, None);
        if let Some(c) = args.str("checksum").filter(|c| !c.is_empty()) {
            let Some((a, v)) = c.split_once(':') else {
                return Err(fail(
                    "The checksum parameter has to be in format <algorithm>:<checksum>",
                ));
            };
            if Alg::parse(a).is_none() {
                return Err(fail(format!("unsupported hash algorithm: {a}")));
            }
            algo = Some(a.to_ascii_lowercase());
            if is_url(v) {
                checksum_url = Some(v.to_string());
            } else {
                let v: String = v
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_lowercase();
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(fail("The checksum format is invalid"));
                }
                checksum = Some(v);
            }
        }
        let headers = args.pairs("headers")?;
        Ok(GetArgs {
            url_name: url_filename(&url),
            url,
            dest,
            force: args.bool_or("force", false)?,
            backup: args.bool_or("backup", false)?,
            algo,
            checksum,
            checksum_url,
            timeout: args.int("timeout")?.unwrap_or(10),
            headers,
            user: args.str("url_username"),
            password: args.str("url_password"),
            validate_certs: args.bool_or("validate_certs", true)?,
            use_proxy: args.bool_or("use_proxy", true)?,
            agent: args
                .str("http_agent")
                .unwrap_or_else(|| "ansible-httpget".into()),
            mode: args.mode("mode")?,
            owner: args.str("owner"),
            group: args.str("group"),
            earlier_change: host.earlier_change_predicted(),
        })
    }

    fn observe(&self, a: &GetArgs) -> Observe {
        let mut want = write(a, &a.dest, Payload::Bytes(Vec::new())).observe();
        // Whether the host downloads itself, or the controller for it.
        want.sections.push((
            "tool",
            Script::new().raw("if command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1; then echo host; fi"),
        ));
        if let (Some(req), Some(alg)) = (&mut want.files, a.algo.as_deref().and_then(Alg::parse)) {
            req.items.push(ProbeItem::new(&a.dest, true).sum(alg));
        }
        want
    }

    fn observe_again(&self, a: &GetArgs, seen: &Observed) -> Option<Observe> {
        let first = usize::from(a.checksum_url.is_some());
        let stage = seen.more.len();
        if stage < first {
            let url = a.checksum_url.as_deref().unwrap_or_default();
            let s = Script::new()
                .set("u", url)
                .set("timeout", &a.timeout.to_string())
                .raw("if command -v curl >/dev/null 2>&1; then curl -sS -L --max-time \"$timeout\" -- \"$u\"; else wget -q -O - --timeout=\"$timeout\" -- \"$u\"; fi");
            return Some(Observe {
                sections: vec![("sums", s)],
                ..Observe::default()
            });
        }
        let want = match wanted(a, seen) {
            Ok(w) => w,
            Err(_) => return None,
        };
        if stage == first && already_there(a, seen, &want) {
            return None;
        }
        let ims = !a.force && want.is_empty() && {
            let st = &seen.files.states[1];
            st.exists && !st.is_dir()
        };
        // A host without curl or wget: the controller downloads and sends the file.
        let controller = seen.section("tool").trim() != "host";
        let download = controller.then(|| {
            Box::new(Download {
                url: a.url.clone(),
                headers: a.headers.clone(),
                user: a.user.clone(),
                password: a.password.clone(),
                timeout: a.timeout,
                validate_certs: a.validate_certs,
                agent: a.agent.clone(),
            })
        });
        let dl = |keep: bool| {
            if controller {
                fetch::script_from_controller(a, &want, keep)
            } else {
                fetch::script(a, &want, ims, keep)
            }
        };
        match stage - first {
            // The prediction's download, removed at once; the real one, kept for the write.
            0 => Some(Observe {
                sections: vec![("dl", dl(false))],
                prediction_only: true,
                download: download.clone(),
                ..Observe::default()
            }),
            1 => Some(Observe {
                effects: vec![("dl", dl(true))],
                download,
                ..Observe::default()
            }),
            // A directory `dest` and a name from `Content-Disposition`: that file's state.
            2 => {
                let got = fetch::parse(seen.section("dl"));
                renamed(a, seen, &got)
                    .then(|| write(a, &got.dest, Payload::Bytes(Vec::new())).observe())
            }
            _ => None,
        }
    }

    fn decide(&self, a: &GetArgs, seen: &Observed) -> Outcome<GetChange> {
        decide::decide(a, seen).unwrap_or_else(Outcome::Fail)
    }

    fn apply(&self, _a: &GetArgs, c: &GetChange) -> Vec<Step> {
        let mut steps = c.write.as_ref().map(content_steps).unwrap_or_default();
        if let Some(t) = &c.tmp {
            steps.push(Step::Run {
                what: "removing the download",
                script: Script::new().cmd("rm -f --", [t.as_str()]),
            });
        }
        steps
    }

    fn finish(&self, _a: &GetArgs, _c: &GetChange, done: &Done, report: Plan) -> Plan {
        content_finish(done, report)
    }
}

/// The content write of `dest` from `payload`, with the task's file arguments.
pub(super) fn write(a: &GetArgs, dest: &str, payload: Payload) -> ContentWrite {
    ContentWrite {
        dest: dest.to_string(),
        payload,
        src_label: None,
        basename: Some(a.url_name.clone()),
        content_mode: false,
        mode: a.mode.clone(),
        owner: a.owner.clone(),
        group: a.group.clone(),
        directory_mode: None,
        force: true,
        backup: a.backup,
        follow: true,
        validate: None,
        after_header: a.url.clone(),
        diff: false,
        secret: false,
    }
}
