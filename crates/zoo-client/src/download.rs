//! Verified, resumable blob downloads into the store.
//!
//! Bytes stream through sha256 into `<blob>.partial`; an existing partial is
//! re-hashed and continued with an HTTP `Range` request. Only a blob whose
//! size and sha256 match is renamed into place; a mismatch deletes the
//! partial and names the package, the file and both hashes.

use crate::error::{Error, IoContext, Result};
use crate::http::{Http, error_chain};
use crate::progress::{Bar, Progress};
use crate::store::Store;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use zoo_format::checksum::Sha256Digest;

/// How many times a download may break off without making progress.
const STALLS: u32 = 4;

/// One blob to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRequest {
    /// `name@version`, for messages.
    pub package: String,
    /// The file inside the package (or `the archive`), for messages.
    pub file: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// An upstream file (not a registry blob): an HTML answer (a login,
    /// error or "moved" page served with 200) is refused at once, naming
    /// the URL, instead of being downloaded and failing its hash.
    pub refuse_html: bool,
}

/// Makes sure the blob is in the store and returns its path.
pub fn fetch_blob(
    http: &Http,
    url: &str,
    store: &Store,
    blob: &BlobRequest,
    offline: bool,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let target = store.blob_path(&blob.sha256);
    if target.is_file() {
        return Ok(target);
    }
    if offline {
        return Err(Error::Offline(format!(
            "{}: {} (sha256 {}) is not in the store",
            blob.package, blob.file, blob.sha256
        )));
    }
    let _lock = store.lock_blob(&blob.sha256)?;
    if target.is_file() {
        return Ok(target); // another process finished it while we waited
    }
    let partial = store.partial_path(&blob.sha256);
    if let Some(dir) = partial.parent() {
        std::fs::create_dir_all(dir).at("creating", dir)?;
    }
    let bar = progress.start(&format!("{} {}", blob.package, blob.file), blob.size);
    let result = download_into(http, url, &partial, blob, progress, bar.as_ref());
    bar.finish();
    let actual = result?;
    if blob.sha256 != actual.0 || actual.1 != blob.size {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Checksum {
            package: blob.package.clone(),
            file: blob.file.clone(),
            expected: blob.sha256.to_string(),
            actual: actual.0,
            expected_size: blob.size,
            actual_size: actual.1,
        });
    }
    std::fs::rename(&partial, &target).at("renaming into", &target)?;
    Ok(target)
}

/// Streams the rest of the blob into `partial`; returns (sha256, size) of
/// the whole file.
fn download_into(
    http: &Http,
    url: &str,
    partial: &Path,
    blob: &BlobRequest,
    progress: &dyn Progress,
    bar: &dyn Bar,
) -> Result<(String, u64)> {
    let (mut hasher, mut have) = rehash_partial(partial, blob.size)?;
    if have > 0 {
        progress.note(&format!(
            "resuming {} {} at byte {have} of {}",
            blob.package, blob.file, blob.size
        ));
    }
    bar.set(have);
    let mut stalls = 0;
    while have < blob.size {
        let start = have;
        let sent = http.send(Method::GET, url, |request| {
            Ok(if start > 0 {
                request.header(reqwest::header::RANGE, format!("bytes={start}-"))
            } else {
                request
            })
        });
        let response = match sent {
            Ok(response) => response,
            // The server's blob is shorter than listed: verification below
            // reports the mismatch.
            Err(Error::Http { status: 416, .. }) => break,
            Err(other) => return Err(other),
        };
        if blob.refuse_html && is_html(&response) {
            return Err(Error::Invalid(format!(
                "{url} answered with an HTML page (Content-Type {}), not {}; refused",
                content_type(&response),
                blob.file
            )));
        }
        let mut file = match response.status() {
            StatusCode::PARTIAL_CONTENT if start > 0 => OpenOptions::new()
                .append(true)
                .open(partial)
                .at("opening", partial)?,
            _ => {
                // A full answer: start over.
                hasher = Sha256::new();
                have = 0;
                bar.set(0);
                File::create(partial).at("creating", partial)?
            }
        };
        let before = have;
        let sniff = blob.refuse_html && have == 0;
        let outcome = copy_body(
            response,
            &mut file,
            &mut hasher,
            &mut have,
            blob.size,
            bar,
            sniff,
        );
        // No fsync: a blob cut short by a power loss fails its hash when an
        // install re-hashes store blobs it did not download itself.
        let flushed = file.flush().at("writing", partial);
        if let Err(CopyError::Html) = outcome {
            drop(file);
            let _ = std::fs::remove_file(partial);
            return Err(Error::Invalid(format!(
                "{url} answered with a page starting with `<` (HTML), not {}; refused",
                blob.file
            )));
        }
        let outcome = outcome.map_err(|e| match e {
            CopyError::Broken(message) => message,
            CopyError::Html => String::new(),
        });
        match outcome {
            Ok(()) => {
                flushed?;
                break;
            }
            Err(message) => {
                flushed?;
                stalls = if have > before { 0 } else { stalls + 1 };
                if stalls >= STALLS {
                    return Err(Error::Network {
                        method: "GET".into(),
                        url: url.to_string(),
                        attempts: STALLS,
                        message,
                    });
                }
                progress.note(&format!(
                    "{} {}: connection broke at byte {have} ({message}); resuming",
                    blob.package, blob.file
                ));
            }
        }
    }
    Ok((hex::encode(hasher.finalize()), have))
}

/// Whether an answer says it is HTML.
fn is_html(response: &reqwest::blocking::Response) -> bool {
    content_type(response)
        .to_ascii_lowercase()
        .starts_with("text/html")
}

fn content_type(response: &reqwest::blocking::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Why a body copy stopped early.
enum CopyError {
    /// The connection broke (resumable); the text says how.
    Broken(String),
    /// The first byte was `<`: an HTML page, not the file.
    Html,
}

/// Hashes what an earlier run left; a partial longer than the blob is
/// discarded.
fn rehash_partial(partial: &Path, size: u64) -> Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut file = match File::open(partial) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
        Err(e) => return Err(e).at("opening", partial),
    };
    let len = file.metadata().at("reading", partial)?.len();
    if len > size {
        drop(file);
        std::fs::remove_file(partial).at("removing", partial)?;
        return Ok((hasher, 0));
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = file.read(&mut buf).at("reading", partial)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher, total))
}

/// Copies the body into `file` while hashing; stops at `size` bytes (more
/// would be a wrong blob anyway). Errors are returned as text so the caller
/// can resume; with `refuse_html`, a body starting with `<` is refused.
///
/// The hash runs inline: reqwest's runtime thread already receives the
/// socket while this thread writes and hashes, so the two cores of a small
/// machine are both busy. A third, hashing thread (tried: commit 4c8aa24)
/// made a 512 MiB install from loopback 0.5 s → 0.9 s slower on an idle
/// 2-core machine, where it only competes with the other two.
fn copy_body(
    mut response: reqwest::blocking::Response,
    file: &mut File,
    hasher: &mut Sha256,
    have: &mut u64,
    size: u64,
    bar: &dyn Bar,
    refuse_html: bool,
) -> std::result::Result<(), CopyError> {
    let broken = |e: std::io::Error| CopyError::Broken(e.to_string());
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 256 << 10];
    let mut first = refuse_html;
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep what arrived before the break: a resume starts there.
                out.flush().map_err(broken)?;
                return Err(CopyError::Broken(error_chain(&e)));
            }
        };
        if std::mem::take(&mut first) && buf[0] == b'<' {
            return Err(CopyError::Html);
        }
        out.write_all(&buf[..n]).map_err(broken)?;
        hasher.update(&buf[..n]);
        *have += n as u64;
        bar.advance(n as u64);
        if *have > size {
            break;
        }
    }
    out.flush().map_err(broken)?;
    if *have < size {
        return Err(CopyError::Broken(format!(
            "the body ended at byte {have} of {size}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::test_server::{self, Seen};

    /// A one-blob HTTP server whose first answer breaks off mid-body; it
    /// records the `Range` of every request.
    fn flaky_server(body: Vec<u8>) -> (String, Seen) {
        let mut answered = 0;
        let (url, seen) = test_server::serve("range", move |_, range| {
            let start = range
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
            let from = start.unwrap_or(0);
            let head = match start {
                Some(s) => format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{}\r\nConnection: close\r\n\r\n",
                    body.len() - from,
                    body.len() - 1,
                    body.len()
                ),
                None => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ),
            };
            let end = if answered == 0 {
                body.len() / 3
            } else {
                body.len()
            };
            answered += 1;
            // the connection closes after the answer (mid-body at first)
            [head.as_bytes(), &body[from..end]].concat()
        });
        (format!("{url}/blob"), seen)
    }

    /// A store in a fresh home, and a client.
    fn store_and_http() -> (tempfile::TempDir, Store, Http) {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        (home, store, Http::new(Default::default()).unwrap())
    }

    /// A registry blob of package `m@1.0.0`.
    fn blob_request(file: &str, sha256: Sha256Digest, size: usize) -> BlobRequest {
        BlobRequest {
            package: "m@1.0.0".into(),
            file: file.into(),
            sha256,
            size: size as u64,
            refuse_html: false,
        }
    }

    #[test]
    fn a_broken_connection_resumes_with_range_and_verifies() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (url, seen) = flaky_server(body.clone());
        let (_home, store, http) = store_and_http();
        let blob = blob_request("w.bin", Sha256Digest::of(&body), body.len());
        let path = fetch_blob(&http, &url, &store, &blob, false, &Silent).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), body);
        assert_eq!(
            *seen.lock().unwrap(),
            [None, Some("bytes=100000-".to_string())]
        );
        assert!(!store.partial_path(&blob.sha256).exists());
    }

    #[test]
    fn a_wrong_hash_is_refused_and_the_partial_deleted() {
        let body = vec![7u8; 50_000];
        let (url, _) = flaky_server(body.clone());
        let (_home, store, http) = store_and_http();
        let wrong = Sha256Digest::parse(&"ab".repeat(32)).unwrap();
        let blob = blob_request("w.bin", wrong, body.len());
        let error = fetch_blob(&http, &url, &store, &blob, false, &Silent).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("m@1.0.0") && text.contains("w.bin"), "{text}");
        assert!(text.contains(&"ab".repeat(32)), "{text}");
        assert!(
            text.contains(&zoo_format::checksum::sha256_hex(&body)),
            "{text}"
        );
        assert!(!store.partial_path(&blob.sha256).exists());
        assert!(!store.has_blob(&blob.sha256));
    }

    /// Answers every request with `body` as `content_type`.
    fn fixed_server(content_type: &'static str, body: &'static [u8]) -> String {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let response = [head.as_bytes(), body].concat();
        let (url, _) = test_server::serve("host", move |_, _| response.clone());
        format!("{url}/VGG.caffemodel")
    }

    #[test]
    fn an_upstream_html_page_is_refused_naming_the_url() {
        let page: &[u8] = b"<html><body>Please log in</body></html>";
        for (content_type, expected) in [
            ("text/html; charset=utf-8", "Content-Type text/html"),
            ("application/octet-stream", "starting with `<`"),
        ] {
            let url = fixed_server(content_type, page);
            let (_home, store, http) = store_and_http();
            let mut blob = blob_request("VGG.caffemodel", Sha256Digest::of(page), page.len());
            blob.refuse_html = true;
            let text = fetch_blob(&http, &url, &store, &blob, false, &Silent)
                .unwrap_err()
                .to_string();
            assert!(
                text.contains(&url) && text.contains("HTML") && text.contains(expected),
                "{text}"
            );
            assert!(!store.partial_path(&blob.sha256).exists());
            assert!(!store.has_blob(&blob.sha256));
            // A registry blob is bytes like any other.
            blob.refuse_html = false;
            fetch_blob(&http, &url, &store, &blob, false, &Silent).unwrap();
        }
    }
}
