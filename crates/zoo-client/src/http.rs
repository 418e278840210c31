//! HTTP with retries: network errors and 5xx answers are retried with
//! exponential backoff; other error answers become [`Error::Http`] carrying
//! the registry's `errors[].detail` message.

use crate::error::{Error, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode};
use std::time::Duration;

/// How many times a request is tried before giving up.
const ATTEMPTS: u32 = 4;
/// The first backoff; doubled after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// A blocking HTTP client with the registry token attached.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    token: Option<String>,
}

impl Http {
    pub fn new(token: Option<String>) -> Result<Http> {
        let client = Client::builder()
            .user_agent(concat!("zoo/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .build()
            .map_err(|e| Error::Invalid(format!("could not set up HTTP: {e}")))?;
        Ok(Http { client, token })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends a request built by `build` (called once per attempt, so bodies
    /// can be re-created), retrying network errors and 5xx answers. Returns
    /// any answer below 400 plus 304; other statuses become errors.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let mut backoff = FIRST_BACKOFF;
        let mut last_problem = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut request = self.client.request(method.clone(), url);
            if let Some(token) = &self.token {
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
            message: last_problem,
        })
    }

    /// GET and parse a JSON answer.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T> {
        let response = self.send(Method::GET, url, Ok)?;
        parse_json(url, response)
    }
}

/// Parses a JSON answer, naming the URL when it is not what we expect.
pub fn parse_json<T: serde::de::DeserializeOwned>(url: &str, response: Response) -> Result<T> {
    let bytes = response.bytes().map_err(|e| Error::Network {
        method: "GET".into(),
        url: url.to_string(),
        attempts: 1,
        message: error_chain(&e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Parse {
        what: format!("the answer of {url}"),
        message: e.to_string(),
    })
}

/// The status plus the registry's `errors[].detail` (or the body's start).
fn describe_error_response(response: Response) -> String {
    let status = response.status();
    let body = response.text().unwrap_or_default();
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
    use super::error_detail;

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
