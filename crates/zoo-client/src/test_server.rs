//! A local HTTP server for unit tests: it records one header of every
//! request and answers what the test says, so a test states only its
//! answers.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The watched header of each request, in order (lowercased; `None` where
/// the request had none).
pub(crate) type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// Serves on a free local port until the test ends; returns
/// `http://host:port` and what it saw. `answer` gets the server's own
/// address and the request's `header` value and returns the whole
/// response; the connection closes after it.
pub(crate) fn serve(
    header: &str,
    mut answer: impl FnMut(&str, Option<&str>) -> Vec<u8> + Send + 'static,
) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let prefix = format!("{}:", header.to_ascii_lowercase());
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let value = header_value(&stream, &prefix);
            log.lock().unwrap().push(value.clone());
            let own = stream.local_addr().unwrap().to_string();
            let _ = stream.write_all(&answer(&own, value.as_deref()));
        }
    });
    (url, seen)
}

/// Reads a request's head; the value of its line starting with `prefix`.
fn header_value(stream: &TcpStream, prefix: &str) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut value = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            return value;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix(prefix) {
            value = Some(v.trim().to_string());
        }
    }
}
