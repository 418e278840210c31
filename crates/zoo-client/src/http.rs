//! HTTP with retries: network errors and 5xx answers are retried with
//! exponential backoff; other error answers become [`Error::Http`] carrying
//! the registry's `errors[].detail` message.

use crate::error::{Error, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode, Url};
use std::io::Read;
use std::time::Duration;

/// How many times a request is tried before giving up.
const ATTEMPTS: u32 = 4;
/// The first backoff; doubled after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Largest index document the client reads (an endless or huge answer is
/// refused at this size instead of filling memory).
pub const MAX_INDEX_DOCUMENT: u64 = 8 << 20;
/// Largest `/index/config.json` the client reads.
pub const MAX_CONFIG_JSON: u64 = 64 << 10;
/// Largest JSON answer of the web API (search, package info, owners).
pub const MAX_API_ANSWER: u64 = 8 << 20;
/// How much of an error answer is read for its message.
const MAX_ERROR_BODY: u64 = 64 << 10;

/// Connect and read timeouts (`connect-timeout` / `read-timeout` in the
/// config file, `ZOO_CONNECT_TIMEOUT` / `ZOO_READ_TIMEOUT`, in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect: Duration,
    /// Longest wait for an answer's head after the request was sent, and for
    /// each read of its body: a registry that accepts the connection and
    /// never answers is given up on after this long.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
        }
    }
}

/// The saved token and the only origin it may be sent to.
#[derive(Debug, Clone)]
struct Credential {
    token: String,
    /// `scheme://host:port` of the registry the token belongs to.
    origin: String,
}

/// A blocking HTTP client. Requests are anonymous unless sent with
/// [`Http::send_authenticated`], which attaches the token only to the
/// registry's own origin: downloads from a mirror or CDN named by
/// config.json, and any other host, never see it.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    credential: Option<Credential>,
    timeouts: Timeouts,
    /// Added to network errors for URLs under a prefix (the registry's), so
    /// an unreachable registry's message says where its URL came from.
    unreachable_hint: Option<(String, String)>,
}

/// `scheme://host:port` of a URL (what credentials are keyed by).
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

impl Http {
    /// An anonymous client.
    pub fn new(timeouts: Timeouts) -> Result<Http> {
        let client = Client::builder()
            .user_agent(concat!("zoo/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeouts.connect)
            // In reqwest's blocking client this bounds the wait for the
            // answer's head and each body read, not the whole transfer.
            .timeout(timeouts.read)
            .build()
            .map_err(|e| Error::Invalid(format!("could not set up HTTP: {e}")))?;
        Ok(Http {
            client,
            credential: None,
            timeouts,
            unreachable_hint: None,
        })
    }

    /// Appends `hint` to the message of network errors for URLs under
    /// `prefix` (connection refused, no route, DNS, timeouts).
    pub fn with_unreachable_hint(mut self, prefix: &str, hint: String) -> Http {
        self.unreachable_hint = Some((prefix.to_string(), hint));
        self
    }

    fn hint_for(&self, url: &str) -> String {
        match &self.unreachable_hint {
            Some((prefix, hint)) if url.starts_with(prefix.as_str()) => format!("; {hint}"),
            _ => String::new(),
        }
    }

    /// The same client holding `token` for `registry`'s origin only.
    pub fn with_token(mut self, registry: &str, token: Option<String>) -> Result<Http> {
        self.credential = match token {
            Some(token) => Some(Credential {
                token,
                origin: origin_of(registry).ok_or_else(|| {
                    Error::Invalid(format!("the registry URL `{registry}` has no origin"))
                })?,
            }),
            None => None,
        };
        Ok(self)
    }

    pub fn token(&self) -> Option<&str> {
        self.credential.as_ref().map(|c| c.token.as_str())
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Sends an anonymous request built by `build` (called once per attempt,
    /// so bodies can be re-created), retrying network errors and 5xx
    /// answers. Returns any answer below 400 plus 304; other statuses become
    /// errors. A timeout is not retried: it names the URL and the setting.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        self.send_with(method, url, None, build)
    }

    /// [`Http::send`] with the token, for calls that need one. The token goes
    /// only to the origin it was saved for; asking to send it elsewhere is
    /// an error, not a silent leak.
    pub fn send_authenticated(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let token = match &self.credential {
            Some(credential) if origin_of(url).as_deref() == Some(&credential.origin[..]) => {
                Some(credential.token.as_str())
            }
            Some(credential) => {
                return Err(Error::Invalid(format!(
                    "refusing to send the token of {} to {url}, another origin",
                    credential.origin
                )));
            }
            None => None,
        };
        self.send_with(method, url, token, build)
    }

    fn send_with(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        build: impl Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let mut backoff = FIRST_BACKOFF;
        let mut last_problem = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut request = self.client.request(method.clone(), url);
            if let Some(token) = token {
                request = request.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            match build(request)?.send() {
                Ok(response) if response.status().is_server_error() => {
                    last_problem = describe_error_response(response);
                }
                Ok(response) if response.status().is_client_error() => {
                    let status = response.status().as_u16();
                    return Err(Error::Http {
                        method: method.to_string(),
                        url: url.to_string(),
                        status,
                        detail: describe_error_response(response),
                    });
                }
                Ok(response) => return Ok(response),
                Err(error) if error.is_timeout() => {
                    return Err(self.timeout_error(&method, url, error.is_connect()));
                }
                Err(error) => last_problem = error_chain(&error),
            }
            if attempt < ATTEMPTS {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
        }
        Err(Error::Network {
            method: method.to_string(),
            url: url.to_string(),
            attempts: ATTEMPTS,
            message: last_problem + &self.hint_for(url),
        })
    }

    /// The error for a request that timed out, naming the setting to change.
    pub fn timeout_error(&self, method: &Method, url: &str, connecting: bool) -> Error {
        let (phase, limit, setting) = if connecting {
            (
                "could not connect",
                self.timeouts.connect,
                "connect-timeout / ZOO_CONNECT_TIMEOUT",
            )
        } else {
            (
                "no answer",
                self.timeouts.read,
                "read-timeout / ZOO_READ_TIMEOUT",
            )
        };
        Error::Timeout {
            method: method.to_string(),
            url: url.to_string(),
            message: format!(
                "{phase} within {} s (the limit is {setting}, in seconds){}",
                limit.as_secs_f64(),
                self.hint_for(url)
            ),
        }
    }

    /// GET and parse a JSON answer (at most [`MAX_API_ANSWER`] bytes).
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let response = self.send(Method::GET, url, Ok)?;
        parse_json(self, url, response)
    }

    /// Reads a whole answer of at most `limit` bytes; a longer one (by its
    /// `Content-Length` or by what arrives) is refused naming the URL, after
    /// reading no more than `limit + 1` bytes.
    pub fn read_body(&self, url: &str, response: Response, limit: u64) -> Result<Vec<u8>> {
        let too_big = || Error::TooLarge {
            url: url.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        response
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut || is_timeout(&e) {
                    self.timeout_error(&Method::GET, url, false)
                } else {
                    Error::Network {
                        method: "GET".into(),
                        url: url.to_string(),
                        attempts: 1,
                        message: error_chain(&e),
                    }
                }
            })?;
        if bytes.len() as u64 > limit {
            return Err(too_big());
        }
        Ok(bytes)
    }
}

/// Whether an I/O error from a body read wraps reqwest's timeout.
fn is_timeout(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
        .is_some_and(reqwest::Error::is_timeout)
}

/// Parses a JSON answer (at most [`MAX_API_ANSWER`] bytes), naming the URL
/// when it is not what we expect.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    http: &Http,
    url: &str,
    response: Response,
) -> Result<T> {
    let bytes = http.read_body(url, response, MAX_API_ANSWER)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Parse {
        what: format!("the answer of {url}"),
        message: e.to_string(),
    })
}

/// The status plus the registry's `errors[].detail` (or the body's start).
fn describe_error_response(response: Response) -> String {
    let status = response.status();
    let mut raw = Vec::new();
    let _ = response.take(MAX_ERROR_BODY).read_to_end(&mut raw);
    let body = String::from_utf8_lossy(&raw);
    let detail = error_detail(&body).unwrap_or_else(|| body.chars().take(300).collect());
    if status == StatusCode::NOT_FOUND && detail.is_empty() {
        return "not found".into();
    }
    if detail.is_empty() {
        status.to_string()
    } else {
        detail
    }
}

/// Joins the `detail` strings of `{"errors":[{"detail":…}]}`.
pub fn error_detail(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let details: Vec<&str> = value
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("detail").and_then(|d| d.as_str()))
        .collect();
    (!details.is_empty()).then(|| details.join("; "))
}

/// An error with its causes ("error sending request: connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{self, Seen};

    /// A server answering every request with `answer`; records each
    /// request's `Authorization` header.
    fn server(answer: impl Fn(&str) -> String + Send + 'static) -> (String, Seen) {
        test_server::serve("authorization", move |own, _| answer(own).into_bytes())
    }

    fn ok_answer(_: &str) -> String {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".into()
    }

    #[test]
    fn the_token_goes_only_to_its_origin_and_only_when_asked() {
        let (registry, seen) = server(ok_answer);
        let (elsewhere, seen_elsewhere) = server(ok_answer);
        let http = Http::new(Timeouts::default())
            .unwrap()
            .with_token(&registry, Some("secret".into()))
            .unwrap();
        http.send(Method::GET, &format!("{registry}/index/x"), Ok)
            .unwrap();
        http.send_authenticated(Method::GET, &format!("{registry}/api/v1/x"), Ok)
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), [None, Some("bearer secret".into())]);
        http.send(Method::GET, &format!("{elsewhere}/blobs/x"), Ok)
            .unwrap();
        let err = http
            .send_authenticated(Method::GET, &format!("{elsewhere}/api/v1/x"), Ok)
            .unwrap_err();
        assert!(err.to_string().contains("another origin"), "{err}");
        assert_eq!(*seen_elsewhere.lock().unwrap(), [None]);
    }

    #[test]
    fn a_cross_origin_redirect_drops_the_token() {
        let (target, seen_target) = server(ok_answer);
        let location = format!("{target}/landed");
        let (registry, seen) = server(move |_| {
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        });
        let http = Http::new(Timeouts::default())
            .unwrap()
            .with_token(&registry, Some("secret".into()))
            .unwrap();
        http.send_authenticated(Method::GET, &format!("{registry}/api/v1/x"), Ok)
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), [Some("bearer secret".into())]);
        assert_eq!(*seen_target.lock().unwrap(), [None]);
    }

    #[test]
    fn answers_over_the_cap_are_refused_naming_the_url() {
        let (url, _) = server(|_| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
                "x".repeat(100)
            )
        });
        let http = Http::new(Timeouts::default()).unwrap();
        let response = http.send(Method::GET, &url, Ok).unwrap();
        let err = http.read_body(&url, response, 99).unwrap_err().to_string();
        assert!(
            err.contains(&url) && err.contains("larger than 99 bytes"),
            "{err}"
        );
        let response = http.send(Method::GET, &url, Ok).unwrap();
        assert_eq!(http.read_body(&url, response, 100).unwrap().len(), 100);
    }

    #[test]
    fn reads_registry_error_details() {
        let body = r#"{"errors":[{"detail":"version 1.0.0 of `a` already exists"}]}"#;
        assert_eq!(
            error_detail(body).as_deref(),
            Some("version 1.0.0 of `a` already exists")
        );
        assert_eq!(error_detail("<html>"), None);
    }
}
