//! A tiny HTTP proxy for tampering tests: it forwards GET and HEAD requests
//! to the registry and can answer chosen paths with other bytes (a man in
//! the middle, a broken mirror, a replaying cache).
//!
//! One request per connection (`Connection: close` both ways); upstream is
//! asked over HTTP/1.0 so bodies arrive unchunked. `/index/config.json`
//! is rewritten so that blob downloads come through the proxy too, and
//! re-signed with the registry's key when the proxy holds it (a mirror the
//! registry's operator runs); without the key the rewritten file is what a
//! tampering mirror would serve. Every request's path and `Authorization`
//! header are recorded ([`Proxy::requests`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use zoo_format::signing::{SecretKey, config_message};

/// How a path is answered instead of forwarding.
#[derive(Clone)]
enum Answer {
    /// This status line and body.
    Fixed(String, Vec<u8>),
    /// `200 OK` and a body that never ends (no length, bytes forever).
    Endless,
    /// The connection is accepted and the request read, then nothing.
    Silent,
}

type Rules = HashMap<String, Answer>;

/// What the proxy saw of one request.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// The `Authorization` header, if one was sent.
    pub authorization: Option<String>,
}

/// A running proxy; the thread lives as long as the test process.
pub struct Proxy {
    pub url: String,
    upstream: String,
    rules: Arc<Mutex<Rules>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// What every connection of one proxy shares.
struct Shared {
    upstream_addr: String,
    upstream_url: String,
    own_url: String,
    /// Where config.json's `dl` points instead of the proxy itself.
    downloads: Option<String>,
    key: Option<SecretKey>,
    rules: Arc<Mutex<Rules>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl Proxy {
    /// Proxies `upstream` (`http://127.0.0.1:PORT`) without its key: a
    /// rewritten config.json keeps the registry's (now wrong) signature.
    pub fn start(upstream: &str) -> Proxy {
        Proxy::launch(upstream, None, None)
    }

    /// Proxies `upstream`, re-signing the rewritten config.json with `key`
    /// (the registry's index-signing key).
    pub fn start_signed(upstream: &str, key: SecretKey) -> Proxy {
        Proxy::launch(upstream, Some(key), None)
    }

    /// Like [`Proxy::start_signed`], with config.json's `dl` pointing at
    /// `downloads` (another host: a mirror or CDN), signed.
    pub fn start_with_downloads(upstream: &str, key: SecretKey, downloads: &str) -> Proxy {
        Proxy::launch(upstream, Some(key), Some(downloads.to_string()))
    }

    fn launch(upstream: &str, key: Option<SecretKey>, downloads: Option<String>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let rules: Arc<Mutex<Rules>> = Arc::default();
        let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
        let shared = Arc::new(Shared {
            upstream_addr: upstream.trim_start_matches("http://").to_string(),
            upstream_url: upstream.to_string(),
            own_url: url.clone(),
            downloads,
            key,
            rules: Arc::clone(&rules),
            seen: Arc::clone(&seen),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Proxy {
            url,
            upstream: upstream.to_string(),
            rules,
            seen,
        }
    }

    fn rule(&self, path: &str, answer: Answer) {
        self.rules
            .lock()
            .expect("the rules lock")
            .insert(path.to_string(), answer);
    }

    /// Answers `GET path` with `body` (200) until [`Proxy::clear`].
    pub fn replace(&self, path: &str, body: Vec<u8>) {
        self.rule(path, Answer::Fixed("HTTP/1.1 200 OK".into(), body));
    }

    /// Answers `GET path` with `304 Not Modified`, whatever the client has
    /// cached (a cache or mirror that froze), until [`Proxy::clear`].
    pub fn not_modified(&self, path: &str) {
        self.rule(
            path,
            Answer::Fixed("HTTP/1.1 304 Not Modified".into(), Vec::new()),
        );
    }

    /// Answers `GET path` with a body that never ends, until [`Proxy::clear`].
    pub fn endless(&self, path: &str) {
        self.rule(path, Answer::Endless);
    }

    /// Reads `GET path` and never answers, until [`Proxy::clear`].
    pub fn silent(&self, path: &str) {
        self.rule(path, Answer::Silent);
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("the log lock").clone()
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

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let upstream_addr = shared.upstream_addr.as_str();
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("authorization:") {
            authorization = line.split_once(':').map(|(_, v)| v.trim().to_string());
        }
        if !(lower.starts_with("host:") || lower.starts_with("connection:")) {
            headers.push(line.trim_end().to_string());
        }
    }
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push(SeenRequest {
            method: method.clone(),
            path: path.clone(),
            authorization,
        });
    }
    let mut out = stream;
    let replaced = shared.rules.lock().ok().and_then(|r| r.get(&path).cloned());
    match replaced {
        Some(Answer::Fixed(status, body)) => {
            return respond(&mut out, &status, &[], &body, method == "HEAD");
        }
        Some(Answer::Endless) => {
            out.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            let chunk = vec![b'{'; 64 << 10];
            loop {
                out.write_all(&chunk)?; // ends when the client hangs up
            }
        }
        Some(Answer::Silent) => {
            // Hold the connection open without a byte until the client gives up.
            let mut sink = [0u8; 1024];
            while reader.read(&mut sink)? > 0 {}
            return Ok(());
        }
        None => {}
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
        body = rewrite_config(&body, shared);
    }
    respond(&mut out, &status, &kept, &body, method == "HEAD")
}

/// Points config.json's URLs at the proxy; re-signs them when the proxy
/// holds the registry's key.
fn rewrite_config(body: &[u8], shared: &Shared) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).replace(&shared.upstream_url, &shared.own_url);
    let (Some(key), Ok(mut config)) = (
        &shared.key,
        serde_json::from_str::<serde_json::Value>(&text),
    ) else {
        return text.into_bytes();
    };
    if let Some(downloads) = &shared.downloads {
        config["dl"] = format!("{downloads}/blobs/{{sha256}}").into();
    }
    let dl = config["dl"].as_str().unwrap_or_default().to_string();
    let api = config["api"].as_str().unwrap_or_default().to_string();
    config["signature"] = key.sign(&config_message(&dl, &api)).into();
    config.to_string().into_bytes()
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
