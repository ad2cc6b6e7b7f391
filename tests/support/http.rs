//! A small HTTP/1.0 server on loopback for the download modules' tests: fixed files by path
//! (`GET`, `HEAD`), `404` for others, `304` to an `If-Modified-Since` no older than the
//! files' fixed time, `Content-Disposition`/`Content-Type` where a file asks for them, and a
//! log of the requests (with the body a request sent). Test hosts share the machine's loopback, so they reach it too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One file the server answers with.
#[derive(Clone)]
pub struct Served {
    pub body: Vec<u8>,
    /// A `Content-Disposition` file name.
    pub disposition: Option<String>,
    pub content_type: Option<String>,
}

pub struct HttpServer {
    pub port: u16,
    /// `METHOD PATH` of each request, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// The files' `Last-Modified`: a fixed time in the past.
const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

impl HttpServer {
    pub fn start(files: HashMap<String, Served>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let (mut ims, mut length) = (false, 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    let l = line.to_ascii_lowercase();
                    ims |= l.starts_with("if-modified-since:");
                    if let Some(n) = l.strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap_or(0);
                    }
                }
                // A request's body is read (and logged) before the answer.
                let mut body = vec![0u8; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let mut words = first.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let sent = String::from_utf8_lossy(&body);
                log.lock().unwrap().push(format!(
                    "{method} {path}{}{sent}",
                    if sent.is_empty() { "" } else { " " }
                ));
                let reply = match files.get(path) {
                    None => b"HTTP/1.0 404 File not found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    // Every If-Modified-Since a client sends comes from a file it wrote after
                    // LAST_MODIFIED: not modified since.
                    Some(_) if ims => b"HTTP/1.0 304 Not Modified\r\n\r\n".to_vec(),
                    Some(f) => {
                        let mut r = format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\n",
                            f.body.len()
                        );
                        if let Some(t) = &f.content_type {
                            r.push_str(&format!("Content-Type: {t}\r\n"));
                        }
                        if let Some(n) = &f.disposition {
                            r.push_str(&format!(
                                "Content-Disposition: attachment; filename=\"{n}\"\r\n"
                            ));
                        }
                        r.push_str("\r\n");
                        let mut r = r.into_bytes();
                        if method != "HEAD" {
                            r.extend_from_slice(&f.body);
                        }
                        r
                    }
                };
                let _ = stream.write_all(&reply);
            }
        });
        HttpServer { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}
