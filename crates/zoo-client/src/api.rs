//! The registry's web API: publish, yank, owners, search, package info.

use crate::error::{Error, IoContext, Result};
use crate::http::{Http, parse_json};
use crate::index::Index;
use crate::progress::{Bar, Progress};
use reqwest::Method;
use reqwest::blocking::Body;
use serde::Deserialize;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use zoo_format::checksum::Sha256Digest;
use zoo_format::signing::{SecretKey, sign_entry};

/// `GET /api/v1/search` answer.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct SearchResults {
    #[serde(default)]
    pub packages: Vec<SearchHit>,
    #[serde(default)]
    pub total: u64,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct SearchHit {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// `PUT /api/v1/packages/new` answer.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Published {
    pub name: String,
    pub version: String,
    pub archive_sha256: String,
}

/// What publishing did.
#[derive(Debug, Clone)]
pub struct PublishReport {
    pub published: Published,
    /// External blobs uploaded (path, bytes).
    pub uploaded: Vec<(String, u64)>,
    /// External blobs the registry already had.
    pub skipped: Vec<String>,
}

/// Calls of the web API for one registry.
pub struct Api<'a> {
    pub http: &'a Http,
    pub registry: &'a str,
}

impl Api<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.registry)
    }

    /// Packs `dir`, uploads the external blobs the registry lacks, then the
    /// archive.
    pub fn publish(
        &self,
        index: &Index,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<PublishReport> {
        self.publish_signed(index, dir, None, progress)
    }

    /// [`Api::publish`], signing the version with `key` when given: the
    /// signature covers the whole index entry (name, version, kind,
    /// dependencies, archive and every file's sha256) and travels in the `zoo-signing-key` / `zoo-signature`
    /// headers; the registry checks and records it.
    pub fn publish_signed(
        &self,
        index: &Index,
        dir: &Path,
        key: Option<&SecretKey>,
        progress: &dyn Progress,
    ) -> Result<PublishReport> {
        self.need_token("publishing")?;
        let packed = zoo_format::archive::pack(dir, &Default::default())
            .map_err(|e| Error::Format(e.to_string()))?;
        let mut report_uploaded = Vec::new();
        let mut skipped = Vec::new();
        for file in packed.external_files() {
            let digest = Sha256Digest::parse(&file.sha256)
                .map_err(|e| Error::Format(format!("{}: {e}", file.path)))?;
            let url = index.blob_url(&digest)?;
            match self.http.send(Method::HEAD, &url, Ok) {
                Ok(_) => {
                    progress.note(&format!("{} is already in the registry", file.path));
                    skipped.push(file.path.clone());
                    continue;
                }
                Err(Error::Http { status: 404, .. }) => {}
                Err(other) => return Err(other),
            }
            let path = dir.join(&file.path);
            let bar = progress.start(&format!("uploading {}", file.path), file.size);
            let put_url = self.url(&format!("blobs/{}", file.sha256));
            let upload_time = upload_timeout(self.http.timeouts().read, file.size);
            let sent = self
                .http
                .send_authenticated(Method::PUT, &put_url, |request| {
                    bar.set(0);
                    let handle = std::fs::File::open(&path).at("opening", &path)?;
                    let reader = ProgressReader {
                        inner: handle,
                        bar: Arc::clone(&bar),
                    };
                    Ok(request
                        .timeout(upload_time)
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(Body::sized(reader, file.size)))
                });
            bar.finish();
            sent?;
            report_uploaded.push((file.path.clone(), file.size));
        }
        // The whole version entry as the registry will list it, so clients
        // can check the file list before they download anything.
        let signature = key.map(|key| sign_entry(key, &packed.index_entry()));
        let bar = progress.start(&format!("uploading {}", packed.file_name()), packed.size);
        let upload_time = upload_timeout(self.http.timeouts().read, packed.size);
        let response =
            self.http
                .send_authenticated(Method::PUT, &self.url("packages/new"), |request| {
                    let request = match &signature {
                        Some(s) => request
                            .header("zoo-signing-key", &s.key)
                            .header("zoo-signature", &s.sig),
                        None => request,
                    };
                    Ok(request
                        .timeout(upload_time)
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(packed.bytes.clone()))
                });
        bar.set(packed.size);
        bar.finish();
        let url = self.url("packages/new");
        let published: Published = parse_json(self.http, &url, response?)?;
        Ok(PublishReport {
            published,
            uploaded: report_uploaded,
            skipped,
        })
    }

    /// Refuses before any request when no token is configured, naming
    /// every way to give one (the registry's own 401 speaks HTTP).
    fn need_token(&self, doing: &str) -> Result<()> {
        match self.http.token() {
            Some(_) => Ok(()),
            None => Err(Error::Invalid(format!(
                "{doing} on {} needs a token: run `zoo login`, set ZOO_TOKEN or pass --token",
                self.registry
            ))),
        }
    }

    /// Yanks (or with `undo`, un-yanks) a version.
    pub fn yank(&self, name: &str, version: &semver::Version, undo: bool) -> Result<()> {
        let (method, action) = if undo {
            (Method::PUT, "unyank")
        } else {
            (Method::DELETE, "yank")
        };
        self.need_token(if undo { "un-yanking" } else { "yanking" })?;
        let url = self.url(&format!("packages/{name}/{version}/{action}"));
        self.http.send_authenticated(method, &url, Ok)?;
        Ok(())
    }

    /// The owners' logins.
    pub fn owners(&self, name: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Owner {
            login: String,
        }
        #[derive(Deserialize)]
        struct Owners {
            users: Vec<Owner>,
        }
        let owners: Owners = self
            .http
            .get_json(&self.url(&format!("packages/{name}/owners")))?;
        Ok(owners.users.into_iter().map(|o| o.login).collect())
    }

    /// Adds (`add = true`) or removes owners; returns the registry's message.
    pub fn change_owners(&self, name: &str, users: &[String], add: bool) -> Result<String> {
        self.need_token("changing owners")?;
        let method = if add { Method::PUT } else { Method::DELETE };
        let url = self.url(&format!("packages/{name}/owners"));
        let body = serde_json::json!({ "users": users }).to_string();
        let response = self.http.send_authenticated(method, &url, |request| {
            Ok(request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()))
        })?;
        let value: serde_json::Value = parse_json(self.http, &url, response)?;
        Ok(value
            .get("msg")
            .and_then(|m| m.as_str())
            .unwrap_or("ok")
            .to_string())
    }

    pub fn search(&self, query: &str, per_page: u32) -> Result<SearchResults> {
        let url = reqwest::Url::parse_with_params(
            &self.url("search"),
            &[("q", query), ("per_page", &per_page.to_string())],
        )
        .map_err(|e| Error::Invalid(format!("bad registry URL {}: {e}", self.registry)))?;
        self.http.get_json(url.as_str())
    }

    /// `GET /api/v1/me`: the login and scopes of this client's token;
    /// `None` from a registry without the route (older than it).
    pub fn whoami(&self) -> Result<Option<Whoami>> {
        self.need_token("checking a token")?;
        let url = self.url("me");
        match self.http.send_authenticated(Method::GET, &url, Ok) {
            Ok(response) => parse_json(self.http, &url, response).map(Some),
            Err(Error::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v1/packages/{name}` as JSON (shown as is by `zoo info --json`).
    pub fn info(&self, name: &str) -> Result<serde_json::Value> {
        match self.http.get_json(&self.url(&format!("packages/{name}"))) {
            Err(Error::Http { status: 404, .. }) => Err(Error::NotFound {
                name: name.to_string(),
                registry: self.registry.to_string(),
            }),
            other => other,
        }
    }
}

/// How long an upload of `size` bytes may take: the read timeout plus one
/// second per 64 KiB (a slow link, not a hung one), since reqwest's
/// blocking timeout also bounds sending the body.
fn upload_timeout(read: std::time::Duration, size: u64) -> std::time::Duration {
    read + std::time::Duration::from_secs(size / (64 << 10))
}

/// Reports upload progress as reqwest reads the body.
struct ProgressReader {
    inner: std::fs::File,
    bar: Arc<dyn Bar>,
}

impl Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

/// Whose token a registry says this is (`GET /api/v1/me`).
#[derive(Debug, Clone, Deserialize)]
pub struct Whoami {
    pub login: String,
    pub scopes: Vec<String>,
}
