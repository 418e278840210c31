//! A tiny HTTP proxy for tampering tests: it forwards GET and HEAD requests
//! to the registry and can answer chosen paths with other bytes (a man in
//! the middle, a broken mirror, a replaying cache).
//!
//! One request per connection (`Connection: close` both ways); upstream is
//! asked over HTTP/1.0 so bodies arrive unchunked. `/index/config.json`
//! is rewritten so that blob downloads come through the proxy too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Path → (status line, body) answered instead of forwarding.
type Rules = HashMap<String, (String, Vec<u8>)>;

/// A running proxy; the thread lives as long as the test process.
pub struct Proxy {
    pub url: String,
    upstream: String,
    rules: Arc<Mutex<Rules>>,
}

impl Proxy {
    /// Proxies `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let rules: Arc<Mutex<Rules>> = Arc::default();
        let upstream_addr = upstream.trim_start_matches("http://").to_string();
        let (shared, own, up) = (Arc::clone(&rules), url.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let rules = Arc::clone(&shared);
                let (own, up, addr) = (own.clone(), up.clone(), upstream_addr.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &addr, &up, &own, &rules);
                });
            }
        });
        Proxy {
            url,
            upstream: upstream.to_string(),
            rules,
        }
    }

    /// Answers `GET path` with `body` (200) until [`Proxy::clear`].
    pub fn replace(&self, path: &str, body: Vec<u8>) {
        self.rules
            .lock()
            .expect("the rules lock")
            .insert(path.to_string(), ("HTTP/1.1 200 OK".into(), body));
    }

    /// Answers `GET path` with `304 Not Modified`, whatever the client has
    /// cached (a cache or mirror that froze), until [`Proxy::clear`].
    pub fn not_modified(&self, path: &str) {
        self.rules.lock().expect("the rules lock").insert(
            path.to_string(),
            ("HTTP/1.1 304 Not Modified".into(), Vec::new()),
        );
    }

    /// Back to forwarding everything.
    pub fn clear(&self) {
        self.rules.lock().expect("the rules lock").clear();
    }

    /// The registry behind the proxy.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
}

fn serve(
    stream: TcpStream,
    upstream_addr: &str,
    upstream_url: &str,
    own_url: &str,
    rules: &Mutex<Rules>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if !(lower.starts_with("host:") || lower.starts_with("connection:")) {
            headers.push(line.trim_end().to_string());
        }
    }
    let mut out = stream;
    let replaced = rules.lock().ok().and_then(|r| r.get(&path).cloned());
    if let Some((status, body)) = replaced {
        return respond(&mut out, &status, &[], &body, method == "HEAD");
    }
    let mut up = TcpStream::connect(upstream_addr)?;
    let mut head =
        format!("{method} {path} HTTP/1.0\r\nHost: {upstream_addr}\r\nConnection: close\r\n");
    for header in &headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    up.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    up.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head_text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head_text.split("\r\n");
    let status = lines
        .next()
        .unwrap_or("HTTP/1.1 502 Bad Gateway")
        .replacen("HTTP/1.0", "HTTP/1.1", 1);
    let kept: Vec<String> = lines
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            !(lower.starts_with("content-length:")
                || lower.starts_with("connection:")
                || lower.starts_with("transfer-encoding:"))
        })
        .map(str::to_owned)
        .collect();
    if path == "/index/config.json" {
        body = String::from_utf8_lossy(&body)
            .replace(upstream_url, own_url)
            .into_bytes();
    }
    respond(&mut out, &status, &kept, &body, method == "HEAD")
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut head = format!("{status}\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    head.push_str("Connection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    if !head_only {
        out.write_all(body)?;
    }
    out.flush()
}

/// `GET url` over HTTP/1.0: the status and the body.
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(addr).expect("connecting");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("sending");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reading");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, raw[split + 4..].to_vec())
}
