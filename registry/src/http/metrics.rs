//! Prometheus text-format metrics (`GET /metrics`), counted by one
//! middleware around every route so that handlers stay free of bookkeeping.
//!
//! Hand-formatted (the text exposition format is a few lines per family)
//! to keep the server's dependencies light.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::AppState;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Cumulative counts per bucket of [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// What one route has seen. Looked up by `&str` and updated in place, so a
/// request costs one lock and no allocation once its route has been seen.
#[derive(Debug, Default)]
struct RouteStats {
    /// `(method label, status class)` → count; a handful of rows per route.
    requests: Vec<(&'static str, &'static str, u64)>,
    latency: Histogram,
}

/// Counters shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route pattern → its counters.
    routes: Mutex<BTreeMap<String, RouteStats>>,
    blob_bytes_served: AtomicU64,
    zoo_publishes: AtomicU64,
    cargo_publishes: AtomicU64,
    zoo_index_documents: AtomicU64,
    cargo_index_documents: AtomicU64,
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The `method` label: the methods HTTP defines, else `other`. Any token
/// is a valid method, so labelling each one seen would let a client grow
/// `/metrics` (and this process's memory) without bound.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    const LABELS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .position(|known| known == method)
        .map_or("other", |i| LABELS[i])
}

/// Escapes a label value for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Records one finished request. `route` is the matched route pattern
    /// (`/blobs/{sha256}`, `unmatched` for the fallback), never the raw
    /// path, and the method outside HTTP's own is `other`, so label sets
    /// stay bounded whatever clients send.
    pub fn record(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        seconds: f64,
        body_len: Option<u64>,
    ) {
        let class = status_class(status);
        let method_name = method_label(method);
        if let Ok(mut routes) = self.routes.lock() {
            if !routes.contains_key(route) {
                routes.insert(route.to_string(), RouteStats::default());
            }
            if let Some(stats) = routes.get_mut(route) {
                match stats
                    .requests
                    .iter_mut()
                    .find(|(m, c, _)| *m == method_name && *c == class)
                {
                    Some((_, _, count)) => *count += 1,
                    None => stats.requests.push((method_name, class, 1)),
                }
                stats.latency.observe(seconds);
            }
        }
        let ok = status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT;
        match (method, route) {
            (
                &Method::GET,
                "/blobs/{sha256}" | "/cargo/api/v1/crates/{name}/{version}/download",
            ) if ok => {
                self.blob_bytes_served
                    .fetch_add(body_len.unwrap_or(0), Ordering::Relaxed);
            }
            (&Method::PUT, "/api/v1/packages/new") if status == StatusCode::CREATED => {
                self.zoo_publishes.fetch_add(1, Ordering::Relaxed);
            }
            (&Method::PUT, "/cargo/api/v1/crates/new") if status == StatusCode::OK => {
                self.cargo_publishes.fetch_add(1, Ordering::Relaxed);
            }
            (&Method::GET, "/index/{*path}") if status == StatusCode::OK => {
                self.zoo_index_documents.fetch_add(1, Ordering::Relaxed);
            }
            (&Method::GET, "/cargo/index/{*path}") if status == StatusCode::OK => {
                self.cargo_index_documents.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP zoo_http_requests_total HTTP requests by method, route and status class.\n",
        );
        out.push_str("# TYPE zoo_http_requests_total counter\n");
        let routes = match self.routes.lock() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (route, stats) in routes.iter() {
            let mut rows: Vec<_> = stats.requests.iter().collect();
            rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            for (method, class, count) in rows {
                let _ = writeln!(
                    out,
                    "zoo_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{class}\"}} {count}",
                    method,
                    label(route)
                );
            }
        }
        out.push_str("# HELP zoo_http_request_duration_seconds Time to produce the response head, by route.\n");
        out.push_str("# TYPE zoo_http_request_duration_seconds histogram\n");
        for (route, stats) in routes.iter() {
            let h = &stats.latency;
            let route = label(route);
            for (bound, count) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "zoo_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "zoo_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 zoo_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 zoo_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        drop(routes);
        let counter = |out: &mut String, name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "zoo_blob_bytes_served_total",
            "Bytes of blobs and .crate files sent (Content-Length of 200/206 GET answers).",
            &[("", load(&self.blob_bytes_served))],
        );
        counter(
            &mut out,
            "zoo_publishes_total",
            "Successful publishes, by registry.",
            &[
                ("{registry=\"zoo\"}", load(&self.zoo_publishes)),
                ("{registry=\"cargo\"}", load(&self.cargo_publishes)),
            ],
        );
        counter(
            &mut out,
            "zoo_index_documents_served_total",
            "Index documents answered with 200 (not 304), by registry.",
            &[
                ("{registry=\"zoo\"}", load(&self.zoo_index_documents)),
                ("{registry=\"cargo\"}", load(&self.cargo_index_documents)),
            ],
        );
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident set size.\n\
                 # TYPE process_resident_memory_bytes gauge\n\
                 process_resident_memory_bytes {rss}"
            );
        }
        out
    }
}

/// The process's resident set size from `/proc/self/statm` (Linux only).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Middleware: times and counts every request under its matched route
/// (`unmatched` for 404s from the fallback).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let body_len = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    state.metrics.record(
        &method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status(),
        started.elapsed().as_secs_f64(),
        body_len,
    );
    response
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record(
            &Method::GET,
            "/blobs/{sha256}",
            StatusCode::OK,
            0.003,
            Some(10),
        );
        m.record(
            &Method::GET,
            "/blobs/{sha256}",
            StatusCode::NOT_FOUND,
            0.2,
            Some(5),
        );
        m.record(
            &Method::PUT,
            "/api/v1/packages/new",
            StatusCode::CREATED,
            0.01,
            None,
        );
        let text = m.render();
        assert!(text.contains(
            "zoo_http_requests_total{method=\"GET\",route=\"/blobs/{sha256}\",status=\"2xx\"} 1"
        ));
        assert!(text.contains("status=\"4xx\"} 1"));
        assert!(text.contains("zoo_blob_bytes_served_total 10\n"), "{text}");
        assert!(text.contains("zoo_publishes_total{registry=\"zoo\"} 1"));
        assert!(text.contains(
            "zoo_http_request_duration_seconds_bucket{route=\"/blobs/{sha256}\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains("zoo_http_request_duration_seconds_count{route=\"/blobs/{sha256}\"} 2")
        );
    }

    /// Any token is a method: made-up ones share one `other` label, so
    /// clients cannot grow the label set (or the server's memory).
    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        for name in ["BBBB", "FOO", &"B".repeat(60_000)] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            m.record(&method, "unmatched", StatusCode::NOT_FOUND, 0.001, None);
        }
        m.record(
            &Method::PATCH,
            "unmatched",
            StatusCode::NOT_FOUND,
            0.001,
            None,
        );
        let text = m.render();
        assert!(
            text.contains(
                "zoo_http_requests_total{method=\"other\",route=\"unmatched\",status=\"4xx\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("method=\"PATCH\""), "{text}");
        assert!(!text.contains("BBBB") && !text.contains("FOO"), "{text}");
        assert!(text.len() < 4096, "{} bytes", text.len());
    }
}
