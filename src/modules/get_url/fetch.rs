//! The download on the host: `curl` (or `wget`) into a temp file beside the destination, the
//! answer's status and headers, the checksums drover and Ansible compare, and the cleanup of
//! every download that will not be moved into place (a failed request, the same content, a
//! checksum that does not match, or a prediction: `keep` off).

use super::GetArgs;
use crate::modules::contract::Script;

/// What one download said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fetched {
    /// `curl`, `wget`, or empty when the host has neither.
    pub tool: String,
    pub status: u16,
    pub rc: i32,
    pub err: String,
    pub length: Option<String>,
    /// The server's reason phrase of the last answer (`Not Found`, `File not found`).
    pub reason: String,
    /// The file the download goes to (the name from `Content-Disposition` or the URL when
    /// `dest` is a directory).
    pub dest: String,
    pub sum_src: String,
    pub sum_dest: Option<String>,
    pub md5: String,
    pub size: u64,
    /// The downloaded file's checksum with the task's algorithm, when it gave one.
    pub got: Option<String>,
    /// The temp file kept for the write.
    pub tmp: Option<String>,
    /// The destination's directory is missing, or cannot take a temp file.
    pub nodir: Option<String>,
    pub unwritable: Option<String>,
}

/// The script; `keep`: leave a download that differs (and matches the checksum) for the
/// write, else remove it. `ims`: ask `If-Modified-Since` the destination's time.
pub fn script(a: &GetArgs, want: &str, ims: bool, keep: bool) -> Script {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut s = Script::new()
        .set("u", &a.url)
        .set("d", &a.dest)
        .set("name", &a.url_name)
        .set("timeout", &a.timeout.to_string())
        .set("agent", &a.agent)
        .set("user", a.user.as_deref().unwrap_or(""))
        .set("pass", a.password.as_deref().unwrap_or(""))
        .secret(a.password.as_deref().unwrap_or(""))
        .set("insecure", flag(!a.validate_certs))
        .set("noproxy", flag(!a.use_proxy))
        .set("ims", flag(ims))
        .set("keep", flag(keep))
        .set("algo", a.algo.as_deref().unwrap_or("sha1"))
        .set("want", want)
        .raw(
            "if command -v curl >/dev/null 2>&1; then tool=curl; elif command -v wget >/dev/null 2>&1; then tool=wget; else tool=; fi\necho \"tool $tool\"\n",
        )
        .raw("if [ -n \"$tool\" ]; then\n")
        .raw("if [ -d \"$d\" ]; then dir=$d; else dir=$(dirname -- \"$d\"); fi\n")
        .raw("if ! [ -d \"$dir\" ]; then echo \"nodir $dir\"; elif ! t=$(mktemp \"$dir/.drover-get_url.XXXXXX\" 2>/dev/null); then echo \"unwritable $dir\"; else\n")
        .raw("h=$(mktemp); [ \"$noproxy\" = 1 ] && unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY\n")
        .raw("if [ \"$tool\" = curl ]; then\nset -- -sS -L -o \"$t\" -D \"$h\" --max-time \"$timeout\" -A \"$agent\" -w '%{http_code}'\n")
        .raw("[ \"$insecure\" = 1 ] && set -- \"$@\" -k\n[ -n \"$user\" ] && set -- \"$@\" -u \"$user:$pass\"\n")
        .raw("[ \"$ims\" = 1 ] && set -- \"$@\" -z \"$d\"\n");
    for (k, v) in &a.headers {
        s = s
            .raw("set -- \"$@\" -H")
            .arg(&format!("{k}: {v}"))
            .raw("\n");
    }
    s.raw("code=$(curl \"$@\" -- \"$u\" 2>\"$h.err\"); rc=$?\nelse\n")
        .raw("set -- -q -S -O \"$t\" --timeout=\"$timeout\" -U \"$agent\"\n[ \"$insecure\" = 1 ] && set -- \"$@\" --no-check-certificate\n")
        .raw("[ -n \"$user\" ] && set -- \"$@\" --user=\"$user\" --password=\"$pass\"\n")
        .then(wget_headers(a))
        .raw("wget \"$@\" -- \"$u\" 2>\"$h\"; rc=$?; code=$(awk '/^  HTTP\\//{c=$2} END{print c}' \"$h\"); : >\"$h.err\"\n[ \"$rc\" = 8 ] && rc=0\nfi\n")
        .raw("echo \"status ${code:-0}\"; echo \"rc $rc\"; echo \"err $(head -c 400 \"$h.err\" 2>/dev/null | tr '\\n' ' ')\"\n")
        .raw("cdn=$(tr -d '\\r' <\"$h\" | sed -n 's/^ *[Cc]ontent-[Dd]isposition:.*filename=\"\\{0,1\\}\\([^\";]*\\).*/\\1/p' | tail -n 1); cdn=${cdn##*/}\n")
        .raw("len=$(tr -d '\\r' <\"$h\" | sed -n 's/^ *[Cc]ontent-[Ll]ength: *\\([0-9]*\\).*/\\1/p' | tail -n 1); echo \"length $len\"\n")
        .raw("echo \"reason $(tr -d '\\r' <\"$h\" | sed -n 's/^ *HTTP\\/[0-9.]* [0-9]* *//p' | tail -n 1)\"\n")
        .then(settle())
        .raw("rm -f \"$h\" \"$h.err\"\nfi\nfi\n")
}

/// The script for a host with neither `curl` nor `wget`: the controller downloaded the file
/// into `"$D/upload"` (`Observe::download`, its answer in `$dl_*`); the rest is the same.
pub fn script_from_controller(a: &GetArgs, want: &str, keep: bool) -> Script {
    Script::new()
        .set("d", &a.dest)
        .set("name", &a.url_name)
        .set("keep", if keep { "1" } else { "0" })
        .set("algo", a.algo.as_deref().unwrap_or("sha1"))
        .set("want", want)
        .raw("echo 'tool controller'
")
        .raw("if [ -d \"$d\" ]; then dir=$d; else dir=$(dirname -- \"$d\"); fi
")
        .raw("if ! [ -d \"$dir\" ]; then echo \"nodir $dir\"; rm -f \"$D/upload\"; elif ! t=$(mktemp \"$dir/.drover-get_url.XXXXXX\" 2>/dev/null); then echo \"unwritable $dir\"; rm -f \"$D/upload\"; else
")
        .raw("code=$dl_status; rc=$dl_rc; if [ \"$dl_sent\" = 1 ]; then cat \"$D/upload\" >\"$t\"; rm -f \"$D/upload\"; fi
")
        .raw("echo \"status $code\"; echo \"rc $rc\"; echo \"err $dl_err\"; echo \"length $dl_length\"; echo \"reason $dl_reason\"
")
        .raw("cdn=$(printf %s \"$dl_disposition\" | sed -n 's/.*filename=\"\\{0,1\\}\\([^\";]*\\).*/\\1/p'); cdn=${cdn##*/}
")
        .then(settle())
        .raw("fi
")
}

/// After a download into `$t` (`$code`, `$rc`, `$cdn` known): the destination, the sums,
/// and the temp file kept for the write or removed.
fn settle() -> Script {
    Script::new()
        .raw("if [ -d \"$d\" ]; then f=\"${d%/}/${cdn:-$name}\"; else f=$d; fi; echo \"dest $f\"
")
        .raw("if [ \"$rc\" = 0 ] && [ \"$code\" = 200 ]; then
")
        .raw("src=$(sha1sum <\"$t\" | cut -d' ' -f1); echo \"sum_src $src\"; echo \"md5 $(md5sum <\"$t\" | cut -d' ' -f1)\"; echo \"size $(wc -c <\"$t\")\"
")
        .raw("old=; [ -f \"$f\" ] && old=$(sha1sum <\"$f\" | cut -d' ' -f1) && echo \"sum_dest $old\"
")
        .raw("got=; [ -n \"$want\" ] && got=$(\"${algo}sum\" <\"$t\" | cut -d' ' -f1) && echo \"got $got\"
")
        .raw("if [ \"$keep\" = 1 ] && [ \"$src\" != \"$old\" ] && { [ -z \"$want\" ] || [ \"$got\" = \"$want\" ]; }; then echo \"tmp $t\"; else rm -f \"$t\"; fi
")
        .raw("else rm -f \"$t\"; fi
")
}

fn wget_headers(a: &GetArgs) -> Script {
    let mut s = Script::new();
    for (k, v) in &a.headers {
        s = s
            .raw("set -- \"$@\" --header")
            .arg(&format!("{k}: {v}"))
            .raw("\n");
    }
    s
}

/// Reads the script's answer.
pub fn parse(text: &str) -> Fetched {
    let mut f = Fetched::default();
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "tool" => f.tool = v.to_string(),
            "status" => f.status = v.trim().parse().unwrap_or(0),
            "rc" => f.rc = v.trim().parse().unwrap_or(-1),
            "err" => f.err = v.trim().to_string(),
            "length" if !v.trim().is_empty() => f.length = Some(v.trim().to_string()),
            "dest" => f.dest = v.to_string(),
            "reason" => f.reason = v.trim().to_string(),
            "sum_src" => f.sum_src = v.to_string(),
            "sum_dest" => f.sum_dest = Some(v.to_string()),
            "md5" => f.md5 = v.to_string(),
            "size" => f.size = v.trim().parse().unwrap_or(0),
            "got" => f.got = Some(v.to_string()),
            "tmp" => f.tmp = Some(v.to_string()),
            "nodir" => f.nodir = Some(v.to_string()),
            "unwritable" => f.unwritable = Some(v.to_string()),
            _ => {}
        }
    }
    f
}
