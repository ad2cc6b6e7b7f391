//! `uri`'s answer read back: the status line, the last header block (each header a key, as
//! Ansible's), the body (`content`, `json`), the file written and Ansible's messages.

use super::UriArgs;
use crate::modules::{Plan, Verdict};
use minijinja::Value;

/// The result from the answer.
pub(super) fn answer(a: &UriArgs, out: &[u8], mut plan: Plan) -> Plan {
    let text = String::from_utf8_lossy(out);
    let (token, text) = text.split_once('\n').unwrap_or((text.as_ref(), ""));
    let mark = format!("@@{token} ");
    let body_mark = format!("\n{mark}body\n");
    let (head, body) = match text.find(&body_mark) {
        Some(i) => (&text[..i], &text[i + body_mark.len()..]),
        None => (text, ""),
    };
    let info_mark = format!("\n{mark}info ");
    let (body, info) = match body.rfind(&info_mark) {
        Some(i) => (
            &body[..i],
            Some(body[i + info_mark.len()..].trim().to_string()),
        ),
        None => match body.strip_prefix(&format!("{mark}info ")) {
            Some(rest) => ("", Some(rest.trim().to_string())),
            None => (body, None),
        },
    };
    let (mut status, mut redirects, mut final_url) = (-1i64, 0i64, a.url.clone());
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut dest: Option<String> = None;
    let mut section = "";
    for line in head.lines() {
        if let Some(rest) = line.strip_prefix(&mark) {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            section = k;
            match k {
                "status" => {
                    let mut w = v.splitn(3, ' ');
                    status = w.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
                    redirects = w.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                    final_url = w.next().unwrap_or(&a.url).to_string();
                }
                "dest" => dest = Some(v.to_string()),
                _ => {}
            }
            continue;
        }
        if section == "headers" {
            if let Some((k, v)) = line.split_once(':') {
                headers.push((
                    k.trim().to_ascii_lowercase().replace('-', "_"),
                    v.trim().to_string(),
                ));
            }
        }
    }
    let reason = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("HTTP/")
                .and_then(|r| r.split_once(' '))
                .map(|(_, r)| r)
        })
        .and_then(|r| r.split_once(' ').map(|(_, p)| p.to_string()))
        .unwrap_or_default();
    let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
    let ok = a.status_code.contains(&status);
    let msg = if status == 200 || (ok && status < 400) {
        format!(
            "OK ({} bytes)",
            header("content_length").unwrap_or_else(|| "unknown".into())
        )
    } else if status <= 0 {
        "Status code was -1 and not [200]: Request failed".into()
    } else {
        format!("HTTP Error {status}: {reason}")
    };
    for (k, v) in &headers {
        plan = plan.with_value(k, v.as_str());
    }
    plan = plan
        .with_value("url", final_url)
        .with_value("redirected", redirects > 0)
        .with_value("status", status)
        .with_value("elapsed", 0);
    // urllib's answers: cookies for a success, the error body kept for an error status.
    if (0..400).contains(&status) {
        plan = plan
            .with_value(
                "cookies",
                crate::vars::map_value(Vec::<(String, Value)>::new()),
            )
            .with_value("cookies_string", "");
    }
    let ctype = header("content_type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let json_like = ctype.split(';').next().is_some_and(|t| {
        let sub = t.rsplit('/').next().unwrap_or_default();
        let sub = sub.rsplit('+').next().unwrap_or(sub);
        sub == "json" || sub == "javascript"
    });
    if json_like {
        if let Ok(j) = serde_json::from_str::<serde_json::Value>(body) {
            plan = plan.with_value("json", crate::template::filters::json_to_value(j));
        }
    }
    if a.return_content {
        plan = plan.with_value("content", body);
    }
    if status >= 400 && ok && !a.return_content && !json_like {
        plan = plan.with_value("body", body);
    }
    plan.verdict = Verdict::Unchanged;
    plan.msg = Some(msg.clone());
    if let (Some(d), true) = (&dest, ok && status != 304) {
        plan = plan.with_value("path", d.as_str());
        plan.verdict = Verdict::Changed;
    }
    // Ansible's path info for the `path` it wrote.
    if let (Some(_), Some(info)) = (&dest, info) {
        let w: Vec<&str> = info.splitn(7, ' ').collect();
        if let [uid, gid, owner, group, mode, size, kind] = w.as_slice() {
            let num = |s: &str| s.parse::<u64>().unwrap_or(0);
            let state = match *kind {
                "directory" => "directory",
                "symbolic link" => "link",
                _ => "file",
            };
            plan = plan
                .with_value("uid", num(uid))
                .with_value("gid", num(gid))
                .with_value("owner", *owner)
                .with_value("group", *group)
                .with_value(
                    "mode",
                    format!("0{:03o}", u32::from_str_radix(mode, 8).unwrap_or(0)),
                )
                .with_value("size", num(size))
                .with_value("state", state);
        }
    }
    if !ok {
        plan.mark_failed(false);
        plan.msg = Some(format!(
            "Status code was {status} and not {:?}: {msg}",
            a.status_code
        ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(status: Vec<i64>, return_content: bool) -> UriArgs {
        UriArgs {
            url: "http://api/x".into(),
            method: "GET".into(),
            body: None,
            remote_body: None,
            headers: Vec::new(),
            status_code: status,
            return_content,
            dest: None,
            guard: None,
            timeout: 30,
            follow: true,
            user: None,
            password: None,
            validate_certs: true,
            unix_socket: None,
            agent: "ansible-httpget".into(),
        }
    }

    #[test]
    fn answers_read_as_ansible_reports_them() {
        let out = b"T\n@@T status 200 1 http://api/y\n@@T headers\nHTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 9\n\n@@T body\n{\"a\": 1}\n";
        let p = answer(&args(vec![200], true), out, Plan::unchanged());
        let v = |k: &str| p.values.get(k).cloned().unwrap_or_default().to_string();
        assert_eq!(p.msg.as_deref(), Some("OK (9 bytes)"));
        assert_eq!(
            (v("status"), v("url"), v("redirected")),
            ("200".into(), "http://api/y".into(), "True".into())
        );
        assert_eq!(v("content_type"), "application/json");
        assert_eq!(v("content"), "{\"a\": 1}\n");
        assert_eq!(p.values["json"].get_attr("a").unwrap(), Value::from(1));
        assert!(!p.failed() && !p.changed());
        let out = b"T\n@@T status 404 0 http://api/x\n@@T headers\nHTTP/1.0 404 File not found\n\n@@T body\nmissing";
        let p = answer(&args(vec![200], false), out, Plan::unchanged());
        assert!(p.failed());
        assert_eq!(
            p.msg.as_deref(),
            Some("Status code was 404 and not [200]: HTTP Error 404: File not found")
        );
    }
}
