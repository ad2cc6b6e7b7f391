//! `uri`: an HTTP request made by the host's `curl`, with Ansible's arguments and result
//! (`status`, `url`, `redirected`, `msg`, every response header as a key, `content` with
//! `return_content`, `json` for a JSON answer, `dest` to keep the body). A request may change
//! the other side, so check mode skips it, as Ansible's (`creates`/`removes` are looked at
//! first). The request is one step; its answer comes back framed by a token the host draws.
//! A `form-multipart` body is built on the controller (`multipart`).

use super::contract::{Done, Observe, Observed, Outcome, Resolve, Script, Step, Typed};
use super::{Args, Plan, Spec, Verdict};
use anyhow::Result;
use minijinja::Value;

mod answer;
mod multipart;

use super::fileops::fail;
use answer::answer;

pub struct Uri;

static SPEC: Spec = Spec {
    args: &[
        "url",
        "dest",
        "url_username",
        "url_password",
        "body",
        "body_format",
        "src",
        "method",
        "return_content",
        "follow_redirects",
        "creates",
        "removes",
        "status_code",
        "timeout",
        "headers",
        "unix_socket",
        "remote_src",
        "ca_path",
        "unredirected_headers",
        "decompress",
        "ciphers",
        "use_netrc",
        "force",
        "http_agent",
        "use_proxy",
        "validate_certs",
        "force_basic_auth",
        "client_cert",
        "client_key",
        "use_gssapi",
    ],
    aliases: &[("user", "url_username"), ("password", "url_password")],
    free_form: None,
    any_args: false,
    file_args: true,
};

pub struct UriArgs {
    url: String,
    method: String,
    body: Option<Vec<u8>>,
    /// `src` with `remote_src`: the host's file is the body.
    remote_body: Option<String>,
    headers: Vec<(String, String)>,
    status_code: Vec<i64>,
    return_content: bool,
    dest: Option<String>,
    guard: Option<(String, bool)>,
    timeout: i64,
    follow: bool,
    user: Option<String>,
    password: Option<String>,
    validate_certs: bool,
    unix_socket: Option<String>,
    agent: String,
}

/// Python's `urlencode` of a form.
fn form_urlencoded(v: &Value) -> Result<String> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let mut parts = Vec::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        parts.push(format!("{}={}", enc(&text(&k)), enc(&text(&val))));
    }
    Ok(parts.join("&"))
}

impl Typed for Uri {
    type Args = UriArgs;
    type Change = ();

    fn name(&self) -> &'static str {
        "uri"
    }

    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn leaves_accounts_alone(&self) -> bool {
        true
    }

    fn parse(&self, args: &Args, host: &mut dyn Resolve) -> Result<UriArgs> {
        for k in [
            "client_cert",
            "client_key",
            "ciphers",
            "ca_path",
            "mode",
            "owner",
            "group",
        ] {
            if args.has(k) {
                return Err(fail(format!(
                    "uri's `{k}` is not implemented by drover yet"
                )));
            }
        }
        let method = args.str("method").unwrap_or_else(|| "GET".into());
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(fail(
                "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
            ));
        }
        let format = args.choice(
            "body_format",
            &["form-urlencoded", "json", "raw", "form-multipart"],
            "raw",
        )?;
        let mut headers = args.pairs("headers")?;
        let has_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if args.has("body") && args.has("src") {
            return Err(fail("parameters are mutually exclusive: body|src"));
        }
        // `src`: the body is a file, the controller's (sent with the request) or the host's.
        let mut remote_body = None;
        let body_from_src = match args.str("src") {
            None => None,
            Some(src) if args.bool_or("remote_src", false)? => {
                remote_body = Some(host.expand_path(&src)?);
                None
            }
            Some(src) => {
                let path = host.paths().find("files", &src).ok_or_else(|| {
                    fail(format!(
                        "Could not find or access '{src}' on the Ansible Controller."
                    ))
                })?;
                Some(std::fs::read(&path)?)
            }
        };
        let body = match (args.get("body"), format.as_str()) {
            (None, _) => body_from_src,
            (Some(b), "json") => {
                if !has_type {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                // As Python's `json.dumps` writes it (Ansible's request body).
                Some(match b.as_str() {
                    Some(s) => s.as_bytes().to_vec(),
                    None => super::copy::pyjson::py_json(b).into_bytes(),
                })
            }
            (Some(b), "form-urlencoded") => {
                if !has_type {
                    headers.push((
                        "Content-Type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
                Some(match b.as_str() {
                    Some(s) => s.as_bytes().to_vec(),
                    None => form_urlencoded(b)?.into_bytes(),
                })
            }
            (Some(b), "form-multipart") => {
                let remote = args.bool_or("remote_src", false)?;
                let mut read = |f: &str| -> Result<Vec<u8>> {
                    if remote {
                        return Err(fail(
                            "uri's form-multipart `filename` with `remote_src` is not implemented by drover yet",
                        ));
                    }
                    let path = host.paths().find("files", f).ok_or_else(|| {
                        fail(format!(
                            "Could not find or access '{f}' on the Ansible Controller."
                        ))
                    })?;
                    Ok(std::fs::read(path)?)
                };
                let (ct, body) = multipart::build(b, &mut read)?;
                if !has_type {
                    headers.push(("Content-Type".into(), ct));
                }
                Some(body)
            }
            (Some(b), _) => Some(
                b.as_str()
                    .map_or_else(|| b.to_string(), str::to_string)
                    .into_bytes(),
            ),
        };
        let mut status_code = Vec::new();
        for s in args.list("status_code") {
            status_code.push(s.trim().parse::<i64>().map_err(|_| {
                fail(format!(
                    "argument 'status_code' has an invalid element: {s}"
                ))
            })?);
        }
        if status_code.is_empty() {
            status_code.push(200);
        }
        let guard = match (args.str("creates"), args.str("removes")) {
            (Some(c), _) => Some((host.expand_path(&c)?, true)),
            (None, Some(r)) => Some((host.expand_path(&r)?, false)),
            _ => None,
        };
        let follow = args.choice(
            "follow_redirects",
            &["all", "no", "none", "safe", "urllib2", "yes"],
            "safe",
        )?;
        let follow = match follow.as_str() {
            "all" | "yes" => true,
            "no" | "none" => false,
            _ => method == "GET" || method == "HEAD",
        };
        Ok(UriArgs {
            url: args.req_str("url")?,
            method,
            body,
            remote_body,
            headers,
            status_code,
            return_content: args.bool_or("return_content", false)?,
            dest: match args.str("dest") {
                Some(d) => Some(host.expand_path(&d)?),
                None => None,
            },
            guard,
            timeout: args.int("timeout")?.unwrap_or(30),
            follow,
            user: args.str("url_username"),
            password: args.str("url_password"),
            validate_certs: args.bool_or("validate_certs", true)?,
            unix_socket: args.str("unix_socket"),
            agent: args
                .str("http_agent")
                .unwrap_or_else(|| "ansible-httpget".into()),
        })
    }

    fn observe(&self, a: &UriArgs) -> Observe {
        let Some((path, _)) = &a.guard else {
            return Observe::default();
        };
        Observe {
            sections: vec![(
                "guard",
                Script::new()
                    .raw("if [ -e")
                    .arg(path)
                    .raw(" ]; then echo exists; fi"),
            )],
            ..Observe::default()
        }
    }

    fn decide(&self, a: &UriArgs, seen: &Observed) -> Outcome<()> {
        if let Some((path, creates)) = &a.guard {
            let exists = seen.section("guard").trim() == "exists";
            if exists == *creates {
                let why = if *creates { "exists" } else { "does not exist" };
                let out = format!("skipped, since '{path}' {why}");
                return Outcome::Unchanged(
                    Plan::unchanged()
                        .with_value("stdout_lines", vec![out.clone()])
                        .with_value("stdout", out),
                );
            }
        }
        let mut report = Plan::unchanged();
        report.verdict = Verdict::Unpredictable;
        report.check_msg = Some("This action (uri) does not support check mode.".into());
        Outcome::change((), report)
    }

    fn apply(&self, a: &UriArgs, _c: &()) -> Vec<Step> {
        vec![Step::Exec {
            script: request(a),
            stdin: a.body.clone(),
        }]
    }

    fn finish(&self, a: &UriArgs, _c: &(), done: &Done, report: Plan) -> Plan {
        answer(a, &done.outputs[0].stdout, report)
    }
}

/// The request: headers and body into temp files, then the status line, the last header
/// block and the body, each after a line with the token.
fn request(a: &UriArgs) -> Script {
    let mut s = Script::new()
        .set("u", &a.url)
        .set("m", &a.method)
        .set("timeout", &a.timeout.to_string())
        .set("agent", &a.agent)
        .set("user", a.user.as_deref().unwrap_or(""))
        .set("pass", a.password.as_deref().unwrap_or(""))
        .secret(a.password.as_deref().unwrap_or(""))
        .set("sock", a.unix_socket.as_deref().unwrap_or(""))
        .set("dest", a.dest.as_deref().unwrap_or(""))
        .set(
            "ok",
            &a.status_code.iter().map(i64::to_string).collect::<Vec<_>>().join(" "),
        )
        .raw("command -v curl >/dev/null 2>&1 || { echo 'uri needs curl on the host' >&2; exit 127; }\n")
        // The parts of the answer are framed by a token the host draws: the first line.
        .raw("tok=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \\n'); echo \"$tok\"\n")
        .raw("h=$(mktemp) && b=$(mktemp) || exit 1\nset -- -sS -X \"$m\" -D \"$h\" -o \"$b\" --max-time \"$timeout\" -A \"$agent\" -w '%{http_code} %{num_redirects} %{url_effective}'\n")
        .raw("[ -n \"$user\" ] && set -- \"$@\" -u \"$user:$pass\"\n[ -n \"$sock\" ] && set -- \"$@\" --unix-socket \"$sock\"\n");
    if a.follow {
        s = s.raw("set -- \"$@\" -L --max-redirs 50\n");
    }
    if !a.validate_certs {
        s = s.raw("set -- \"$@\" -k\n");
    }
    if a.body.is_some() {
        s = s.raw("set -- \"$@\" --data-binary @-\n");
    }
    if let Some(src) = &a.remote_body {
        s = s
            .raw("set -- \"$@\" --data-binary")
            .arg(&format!("@{src}"))
            .raw("\n");
    }
    for (k, v) in &a.headers {
        s = s
            .raw("set -- \"$@\" -H")
            .arg(&format!("{k}: {v}"))
            .raw("\n");
    }
    if a.body.is_none() {
        s = s.raw("exec </dev/null\n");
    }
    s.raw("w=$(curl \"$@\" -- \"$u\"); rc=$?\n")
        .raw("echo \"@@$tok status $w\"; echo \"@@$tok headers\"; tr -d '\\r' <\"$h\" | awk '/^HTTP\\// { n = \"\" } { n = n $0 \"\\n\" } END { printf \"%s\", n }'\n")
        .raw("if [ -n \"$dest\" ] && [ \"$rc\" = 0 ]; then f=$dest; [ -d \"$f\" ] && f=\"$f/index.html\"; echo \"@@$tok dest $f\"; fi\n")
        .raw("echo \"@@$tok body\"; cat \"$b\"; rm -f \"$h\"\n")
        // The body goes to `dest` when the status is one the task expects (not 304): into
        // the file that is there (its attributes kept), else a new one as the umask has it.
        .raw("code=${w%% *}; case \" $ok \" in *\" $code \"*) if [ -n \"$f\" ] && [ \"$code\" != 304 ]; then if [ -e \"$f\" ]; then cat \"$b\" >\"$f\"; else mv -f \"$b\" \"$f\" && chmod \"$(printf %o $((0666 & ~0$(umask))))\" \"$f\"; fi; fi;; esac; rm -f \"$b\"\n")
        .raw("[ -n \"$f\" ] && [ -e \"$f\" ] && stat -c \"@@$tok info %u %g %U %G %a %s %F\" -- \"$f\"\nexit $rc\n")
}
