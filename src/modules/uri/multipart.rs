//! `uri`'s `body_format: form-multipart`: the body built on the controller as Ansible's
//! `prepare_multipart` builds it (fields sorted; a string is a `text/plain` part; a mapping
//! is a file part from `content`, or from `filename` read on the controller and encoded
//! `base64` or `7or8bit`, its type from `mime_type` or guessed from the name).

use super::fail;
use anyhow::Result;
use base64::Engine;
use minijinja::value::ValueKind;
use minijinja::Value;
use std::collections::BTreeMap;

/// A field's part before it is written.
struct Part {
    headers: Vec<(String, String)>,
    payload: Vec<u8>,
}

/// Python's `mimetypes.guess_type` for common names (else `application/octet-stream`).
fn guess(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "conf" | "cfg" | "log" | "ini") => "text/plain",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("csv") => "text/csv",
        Some("xml") => "text/xml",
        Some("js") => "text/javascript",
        Some("yml" | "yaml") => "application/yaml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("tar") => "application/x-tar",
        Some("sh") => "application/x-sh",
        _ => "application/octet-stream",
    }
}

/// A header parameter as Python's email package quotes it.
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Line ends as the email package's HTTP policy writes text payloads.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The `Content-Type` header and the body; `read` reads a `filename` (the controller's file
/// the task names, found as Ansible's action finds it).
pub fn build(
    body: &Value,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<(String, Vec<u8>)> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if body.kind() != ValueKind::Map {
        return Err(fail(format!(
            "body must be mapping, cannot be type {}",
            crate::template::filters_more::type_debug(body)
        )));
    }
    let mut fields = BTreeMap::new();
    for k in body.try_iter()? {
        fields.insert(text(&k), body.get_item(&k)?);
    }
    let mut parts = Vec::new();
    for (name, v) in &fields {
        let mut disposition = format!("form-data; name={}", quoted(name));
        let part = if v.kind() != ValueKind::Map {
            Part {
                headers: vec![("Content-Type".into(), "text/plain".into())],
                payload: crlf(text(v).as_bytes()),
            }
        } else {
            let get = |k: &str| {
                v.get_attr(k)
                    .ok()
                    .filter(|x| !x.is_undefined() && !x.is_none())
                    .map(|x| text(&x))
                    .filter(|s| !s.is_empty())
            };
            let (filename, content) = (get("filename"), get("content"));
            if filename.is_none() && content.is_none() {
                return Err(fail("at least one of filename or content must be provided"));
            }
            let mime = get("mime_type")
                .unwrap_or_else(|| guess(filename.as_deref().unwrap_or_default()).to_string());
            if let Some(f) = &filename {
                let base = f.rsplit('/').next().unwrap_or(f);
                disposition.push_str(&format!("; filename={}", quoted(base)));
            }
            match (content, &filename) {
                (Some(c), _) => Part {
                    headers: vec![("Content-Type".into(), mime)],
                    payload: crlf(c.as_bytes()),
                },
                (None, Some(f)) => {
                    let data = read(f)?;
                    let enc = get("multipart_encoding").unwrap_or_else(|| "base64".into());
                    let (cte, payload) = match enc.as_str() {
                        "base64" => ("base64", base64_lines(&data)),
                        "7or8bit" if data.is_ascii() => ("7bit", crlf(&data)),
                        "7or8bit" => ("8bit", crlf(&data)),
                        _ => return Err(fail(
                            "multipart_encoding must be one of dict_keys(['base64', '7or8bit']).",
                        )),
                    };
                    Part {
                        headers: vec![
                            ("Content-Transfer-Encoding".into(), cte.into()),
                            ("Content-Type".into(), mime),
                        ],
                        payload,
                    }
                }
                (None, None) => unreachable!("checked above"),
            }
        };
        let mut part = part;
        part.headers
            .push(("Content-Disposition".into(), disposition));
        parts.push(part);
    }
    let boundary = format!(
        "==============={:019}==",
        u64::from_str_radix(&crate::connection::random_token()[..15], 16).unwrap_or(7)
            % 10_000_000_000_000_000_000
    );
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (k, v) in &p.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.payload);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary=\"{boundary}\""), out))
}

/// Python's `base64.encodebytes`: lines of 76 characters, each ended (here with CRLF).
fn base64_lines(data: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_as_ansible_writes_them() {
        let body = crate::template::filters::json_to_value(serde_json::json!({
            "text": "x",
            "g": {"filename": "/etc/hostname", "multipart_encoding": "7or8bit"},
            "f": {"filename": "files/v.bin"},
            "h": {"content": "q", "filename": "a b\"c.json"},
        }));
        let (ct, b) = build(&body, &mut |f: &str| {
            Ok(if f == "/etc/hostname" {
                b"vm\n".to_vec()
            } else {
                f.as_bytes().to_vec()
            })
        })
        .unwrap();
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=\"")
            .and_then(|b| b.strip_suffix('"'))
            .unwrap();
        assert_eq!(boundary.len(), 36);
        let want = "--B\r\nContent-Transfer-Encoding: base64\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"f\"; filename=\"v.bin\"\r\n\r\nZmlsZXMvdi5iaW4=\r\n\r\n--B\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"g\"; filename=\"hostname\"\r\n\r\nvm\r\n\r\n--B\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name=\"h\"; filename=\"a b\\\"c.json\"\r\n\r\nq\r\n--B\r\nContent-Type: text/plain\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nx\r\n--B--\r\n";
        assert_eq!(
            String::from_utf8(b).unwrap(),
            want.replace("--B", &format!("--{boundary}"))
        );
    }
}
