//! The controller's download for a look (`Observe::download`): its `curl` fetches the URL into
//! a temp file, which goes to the host's session temp dir as `"$D/upload"` (in chunks, memory
//! flat), and the answer's status line comes back as shell variables for the look. Also the
//! host's own download of a URL (`host_fetch`), as Ansible's `fetch_file` on the target.

use super::observe::Download;
use super::Script;
use crate::modules::ModuleCtx;
use anyhow::{anyhow, Result};
use std::process::Command;

/// Downloads `d` and sends the body to the host on a 200; the variables for the look.
pub fn fetch(ctx: &mut ModuleCtx, d: &Download) -> Result<Script> {
    let dir = std::env::temp_dir().join(format!(
        "drover-download-{}",
        crate::connection::random_token()
    ));
    std::fs::create_dir_all(&dir)?;
    let (body, head) = (dir.join("body"), dir.join("head"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-L", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&head)
        .args(["--max-time", &d.timeout.to_string(), "-A", &d.agent])
        .args(["-w", "%{http_code}"]);
    if !d.validate_certs {
        cmd.arg("-k");
    }
    if let Some(u) = &d.user {
        cmd.arg("-u")
            .arg(format!("{u}:{}", d.password.as_deref().unwrap_or_default()));
    }
    for (k, v) in &d.headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    cmd.arg("--").arg(&d.url);
    let out = cmd.output().map_err(|e| {
        let _ = std::fs::remove_dir_all(&dir);
        anyhow!("the host has neither curl nor wget, and the controller's curl did not run: {e}")
    })?;
    let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let headers = std::fs::read_to_string(&head)
        .unwrap_or_default()
        .replace('\r', "");
    let last = |name: &str| {
        headers
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .next_back()
            .unwrap_or_default()
    };
    let reason = headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.splitn(3, ' ').nth(2))
        .unwrap_or_default()
        .to_string();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let sent = if out.status.success() && status == "200" {
        let (sum, _, _) = crate::modules::transfer::hash_file(&body)?;
        crate::modules::transfer::upload(ctx, &body, &sum).map(|()| true)
    } else {
        Ok(false)
    };
    let _ = std::fs::remove_dir_all(&dir);
    let sent = sent?;
    Ok(Script::new()
        .set("dl_rc", if out.status.success() { "0" } else { "1" })
        .set("dl_status", if status.is_empty() { "0" } else { &status })
        .set("dl_reason", &reason)
        .set("dl_length", &last("content-length"))
        .set("dl_disposition", &last("content-disposition"))
        .set("dl_err", &err)
        .set("dl_sent", if sent { "1" } else { "0" }))
}

/// The host downloads `url` into `dest` (shell text, such as `"$D/upload"`) with its `curl`,
/// else `wget`, as Ansible's `fetch_file` (10 s): `dl` ends `ok`, `notool` (neither program:
/// `notool` is printed) or `fail` (`dlfail MESSAGE` is printed, in `fetch_file`'s words).
pub fn host_fetch(dest: &'static str, url: &str, insecure: bool) -> Script {
    Script::new()
        .set("u", url)
        .set("insecure", if insecure { "1" } else { "0" })
        .raw("f=")
        .raw(dest)
        .raw("\ndl=ok\nif command -v curl >/dev/null 2>&1; then\n")
        .raw("set -- -sS -L -o \"$f\" -D \"$D/dl.h\" --max-time 10 -w '%{http_code}'; [ \"$insecure\" = 1 ] && set -- \"$@\" -k\n")
        .raw("code=$(curl \"$@\" -- \"$u\" 2>\"$D/dl.e\"); rc=$?\n")
        .raw("elif command -v wget >/dev/null 2>&1; then\n")
        .raw("set -- -q -S -O \"$f\" --timeout=10; [ \"$insecure\" = 1 ] && set -- \"$@\" --no-check-certificate\n")
        .raw("wget \"$@\" -- \"$u\" 2>\"$D/dl.h\"; rc=$?; code=$(awk '/^  HTTP\\//{c=$2} END{print c}' \"$D/dl.h\"); [ \"$rc\" = 8 ] && rc=0; : >\"$D/dl.e\"\n")
        .raw("else rc=notool; fi\n")
        .raw("if [ \"$rc\" = notool ]; then dl=notool; echo notool\n")
        .raw("elif [ \"$rc\" != 0 ]; then dl=fail; echo \"dlfail Request failed: $(head -c 400 \"$D/dl.e\" | tr '\\n' ' ')\"\n")
        .raw("elif [ \"$code\" != 200 ]; then dl=fail; echo \"dlfail HTTP Error $code: $(tr -d '\\r' <\"$D/dl.h\" | sed -n 's/^ *HTTP\\/[0-9.]* [0-9]* *//p' | tail -n 1)\"; fi\n")
        .raw("rm -f \"$D/dl.h\" \"$D/dl.e\"\n")
}
