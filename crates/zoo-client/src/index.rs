//! The registry's index: one document per package, one JSON line per version.
//! Documents are cached on disk under ZOO_HOME/index/<registry>/ with their
//! ETag; a revalidation answered 304 reuses the cached bytes, and offline
//! mode reads only the cache.
//!
//! Every document is checked before it is used or cached ([`IndexTrust`]):
//! signed by the registry's pinned key, for this package, not expired (also
//! after a 304: a frozen index is refused) and not older than the cached one
//! (a rolled-back or replayed index is refused). The cache therefore always
//! holds the newest document accepted so far.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::http::{self, Http};
use crate::store::Store;
use reqwest::Method;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use zoo_format::checksum::Sha256Digest;
use zoo_format::index::IndexEntry;
use zoo_format::signing::{PublicKey, config_message, split_signed};

use crate::trust::TrustedKeys;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `/index/config.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct IndexConfig {
    /// Download URL template with `{sha256}`.
    pub dl: String,
    /// Base URL of the web API.
    pub api: String,
    /// The registry's index-signing key (`ed25519:…`), pinned on first use.
    #[serde(default)]
    pub key: Option<String>,
    /// That key's signature of `dl` and `api`
    /// ([`zoo_format::signing::config_message`]).
    #[serde(default)]
    pub signature: Option<String>,
}

/// How index documents are checked.
#[derive(Debug, Clone, Default)]
pub struct IndexTrust {
    /// The trusted-keys file holding pinned registry keys; `None` checks
    /// nothing (for tools and tests that bring their own documents).
    pub keys_file: Option<PathBuf>,
    /// Pin the key the registry's config.json names when none is pinned.
    pub trust_on_first_use: bool,
    /// Refuse unsigned documents even when no key is pinned.
    pub require: bool,
}

/// Reads (and caches) index documents of one registry.
pub struct Index {
    http: Http,
    registry: String,
    cache_dir: PathBuf,
    offline: bool,
    /// Documents read in this run; `None` for a package the registry lacks.
    memo: Mutex<HashMap<String, Option<Vec<IndexEntry>>>>,
    config: Mutex<Option<IndexConfig>>,
    trust: IndexTrust,
    /// The registry key, once looked up (`Some(None)`: there is none).
    key: Mutex<Option<Option<PublicKey>>>,
    /// Things the user should hear about (a key pinned on first use).
    notices: Mutex<Vec<String>>,
}

impl Index {
    pub fn new(http: Http, store: &Store, registry: &str, offline: bool) -> Index {
        let key: String = registry
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Index {
            http,
            registry: registry.trim_end_matches('/').to_string(),
            cache_dir: store.index_dir().join(key),
            offline,
            memo: Mutex::new(HashMap::new()),
            config: Mutex::new(None),
            trust: IndexTrust::default(),
            key: Mutex::new(None),
            notices: Mutex::new(Vec::new()),
        }
    }

    /// Checks documents as `trust` says (the default checks nothing).
    pub fn with_trust(mut self, trust: IndexTrust) -> Index {
        self.trust = trust;
        self
    }

    /// Messages for the user gathered so far (emptied by the call).
    pub fn take_notices(&self) -> Vec<String> {
        self.notices
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Every version of `name` the registry lists (yanked ones included).
    pub fn entries(&self, name: &str) -> Result<Vec<IndexEntry>> {
        let canonical = zoo_format::normalize_name(name);
        let not_found = || Error::NotFound {
            name: name.to_string(),
            registry: self.registry.clone(),
        };
        if let Ok(memo) = self.memo.lock()
            && let Some(found) = memo.get(&canonical)
        {
            return found.clone().ok_or_else(not_found);
        }
        zoo_format::validate_name(name)
            .map_err(|why| Error::Invalid(format!("invalid package name: {why}")))?;
        let rel = zoo_format::index::index_path(&canonical);
        let entries = match self.document(&canonical, &rel) {
            Ok(bytes) => Some(parse_document(&canonical, &bytes)?),
            Err(Error::NotFound { .. }) => None,
            Err(other) => return Err(other),
        };
        if let Ok(mut memo) = self.memo.lock() {
            memo.insert(canonical, entries.clone());
        }
        entries.ok_or_else(not_found)
    }

    /// The bytes of one index document, revalidated or from the cache.
    fn document(&self, name: &str, rel: &str) -> Result<Vec<u8>> {
        let cached = self.cache_dir.join(rel);
        let etag_path = cached.with_extension("etag");
        if self.offline {
            let bytes = std::fs::read(&cached).map_err(|_| {
                Error::Offline(format!(
                    "package `{name}` is not in the cached index ({}); run once without --offline to fetch it",
                    cached.display()
                ))
            })?;
            // Offline, freshness cannot be had: the signature still must hold.
            self.verify(name, &bytes, None, false)?;
            return Ok(bytes);
        }
        let etag = std::fs::read_to_string(&etag_path).ok();
        let have_cache = cached.is_file();
        let url = format!("{}/index/{rel}", self.registry);
        let result = self.http.send(Method::GET, &url, |request| {
            Ok(match (&etag, have_cache) {
                (Some(tag), true) => request.header(reqwest::header::IF_NONE_MATCH, tag.trim()),
                _ => request,
            })
        });
        let response = match result {
            Ok(response) => response,
            Err(Error::Http { status: 404, .. }) | Err(Error::Http { status: 410, .. }) => {
                return Err(Error::NotFound {
                    name: name.to_string(),
                    registry: self.registry.clone(),
                });
            }
            Err(other) => return Err(other),
        };
        if response.status() == StatusCode::NOT_MODIFIED {
            let bytes = std::fs::read(&cached).at("reading cached index", &cached)?;
            self.verify(name, &bytes, None, true)?;
            return Ok(bytes);
        }
        let new_etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self
            .http
            .read_body(&url, response, http::MAX_INDEX_DOCUMENT)?;
        let previous = std::fs::read(&cached).ok();
        if !self.verify(name, &bytes, previous.as_deref(), true)? {
            return Ok(bytes.to_vec());
        }
        fsutil::write_atomic(&cached, &bytes, false)?;
        match new_etag {
            Some(tag) => fsutil::write_atomic(&etag_path, tag.as_bytes(), false)?,
            None => {
                let _ = std::fs::remove_file(&etag_path);
            }
        }
        Ok(bytes.to_vec())
    }

    /// The registry's pinned key: from the trusted-keys file, else (online,
    /// trust on first use) the one config.json names, pinned now.
    fn registry_key(&self) -> Result<Option<PublicKey>> {
        if let Ok(guard) = self.key.lock()
            && let Some(key) = guard.as_ref()
        {
            return Ok(*key);
        }
        let Some(path) = &self.trust.keys_file else {
            return Ok(None);
        };
        let mut key = TrustedKeys::load(path)?.registry_key(&self.registry);
        if key.is_none()
            && self.trust.trust_on_first_use
            && !self.offline
            && let Some(text) = self.config()?.key
        {
            let offered: PublicKey = text.parse().map_err(|e| Error::Parse {
                what: format!("{}/index/config.json", self.registry),
                message: format!("{e}"),
            })?;
            let mut keys = TrustedKeys::load(path)?;
            keys.pin_registry(&self.registry, &offered, false)?;
            keys.save(path)?;
            if let Ok(mut notices) = self.notices.lock() {
                notices.push(format!(
                    "pinned the index-signing key {offered} of {} (first use) in {}",
                    self.registry,
                    path.display()
                ));
            }
            key = Some(offered);
        }
        if let Ok(mut guard) = self.key.lock() {
            *guard = Some(key);
        }
        Ok(key)
    }

    /// Checks one document of `name`: signature by the pinned key over these
    /// entries of this package; unless offline, not expired; and not older
    /// than `previous` (the cached document accepted before). Returns whether
    /// the document may replace `previous`: not when it is an older signature
    /// over the same entries (another replica's), which is accepted but must
    /// not lower the version later documents are held to.
    fn verify(
        &self,
        name: &str,
        bytes: &[u8],
        previous: Option<&[u8]>,
        check_expiry: bool,
    ) -> Result<bool> {
        if self.trust.keys_file.is_none() {
            return Ok(true);
        }
        let refuse = |why: String| {
            Error::Trust(format!(
                "the index of `{name}` from {} is refused: {why}",
                self.registry
            ))
        };
        let key = self.registry_key()?;
        let text = std::str::from_utf8(bytes).map_err(|e| refuse(e.to_string()))?;
        let (content, signature) = split_signed(text).map_err(refuse)?;
        let (key, signature) = match (key, signature) {
            (Some(key), Some(signature)) => (key, signature),
            (Some(key), None) => {
                return Err(refuse(format!(
                    "it is not signed, but the registry's key {key} is pinned"
                )));
            }
            (None, _) if self.trust.require => {
                return Err(refuse(format!(
                    "signatures are required but no index-signing key is trusted for {}: run `zoo login` or `zoo trust registry KEY` (`zoo-registry key show` prints it)",
                    self.registry
                )));
            }
            (None, _) => return Ok(true),
        };
        if signature.key != key.to_string() {
            return Err(refuse(format!(
                "it is signed by {} but the trusted registry key is {key}; if the registry's key really \
                 changed (`zoo-registry key show` on the server), trust the new one with `zoo trust registry KEY`",
                signature.key
            )));
        }
        signature.verify(&key, name, content).map_err(refuse)?;
        let seen = previous
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| split_signed(p).ok())
            .and_then(|(body, s)| s.filter(|s| s.verify(&key, name, body).is_ok()));
        let mut replaces = true;
        if let Some(seen) = seen {
            // Replicas each sign the same entries at their own times, so an
            // older signature over the very same entries is no rollback.
            if signature.version < seen.version && signature.sha256 != seen.sha256 {
                return Err(refuse(format!(
                    "it is older (signed version {}) than the one already seen (signed version {}): a rolled-back or replayed index",
                    signature.version, seen.version
                )));
            }
            replaces = signature.version >= seen.version;
            if signature.version == seen.version && signature.sha256 != seen.sha256 {
                return Err(refuse(format!(
                    "it differs from the document already seen with the same signed version {}",
                    signature.version
                )));
            }
        }
        if check_expiry {
            let now = unix_now();
            if signature.expires <= now {
                return Err(refuse(format!(
                    "its signature expired {} s ago (signed version {}): a frozen or replayed index",
                    now - signature.expires,
                    signature.version
                )));
            }
        }
        Ok(replaces)
    }

    /// `/index/config.json` (cached on disk for offline use).
    pub fn config(&self) -> Result<IndexConfig> {
        if let Ok(guard) = self.config.lock()
            && let Some(config) = guard.as_ref()
        {
            return Ok(config.clone());
        }
        let cached = self.cache_dir.join("config.json");
        let url = config_url(&self.registry);
        let bytes = if self.offline {
            std::fs::read(&cached).map_err(|_| {
                Error::Offline(format!(
                    "the registry's config.json is not cached ({})",
                    cached.display()
                ))
            })?
        } else {
            download_config(&self.http, &url)?
        };
        let config = parse_config(&url, &bytes)?;
        self.verify_config(&url, &config)?;
        if !self.offline {
            fsutil::write_atomic(&cached, &bytes, false)?;
        }
        if let Ok(mut guard) = self.config.lock() {
            *guard = Some(config.clone());
        }
        Ok(config)
    }

    /// Checks config.json's signature of `dl` and `api`: by the pinned key
    /// when there is one (required then), else by the key it offers for
    /// pinning on first use. A registry without a key (none pinned, none
    /// offered) is accepted unsigned, as before.
    fn verify_config(&self, url: &str, config: &IndexConfig) -> Result<()> {
        let Some(path) = &self.trust.keys_file else {
            return Ok(());
        };
        let refuse = |why: String| Error::Trust(format!("{url} is refused: {why}"));
        let pinned = TrustedKeys::load(path)?.registry_key(&self.registry);
        if let (Some(pinned), Some(offered)) = (pinned, &config.key)
            && *offered != pinned.to_string()
        {
            return Err(Error::Trust(format!(
                "the registry {} now presents the index-signing key {offered}, but {pinned} is pinned for it; \
                 if the registry really changed its key, trust the new one with `zoo trust registry {offered}`",
                self.registry
            )));
        }
        let key = match (pinned, &config.key) {
            (Some(key), _) => key,
            (None, Some(offered)) => offered.parse().map_err(|e| Error::Parse {
                what: url.to_string(),
                message: format!("{e}"),
            })?,
            (None, None) => return Ok(()),
        };
        let Some(signature) = &config.signature else {
            return Err(refuse(format!(
                "it is not signed, but the registry's key {key} is {}",
                if pinned.is_some() {
                    "pinned"
                } else {
                    "offered"
                }
            )));
        };
        key.verify(&config_message(&config.dl, &config.api), signature)
            .map_err(|e| {
                refuse(format!(
                    "its download template `{}` and API `{}` are not signed by the registry's key: {e}",
                    config.dl, config.api
                ))
            })
    }

    /// The download URL of a blob.
    pub fn blob_url(&self, sha256: &Sha256Digest) -> Result<String> {
        let config = self.config()?;
        Ok(if config.dl.contains("{sha256}") {
            config.dl.replace("{sha256}", sha256.as_str())
        } else {
            format!("{}/{sha256}", config.dl.trim_end_matches('/'))
        })
    }
}

/// Parses an index document, naming the package on error.
pub fn parse_document(name: &str, bytes: &[u8]) -> Result<Vec<IndexEntry>> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Parse {
        what: format!("the index of `{name}`"),
        message: e.to_string(),
    })?;
    zoo_format::index::parse_document(text).map_err(|message| Error::Parse {
        what: format!("the index of `{name}`"),
        message,
    })
}

/// Where a registry serves its `config.json`.
pub(crate) fn config_url(registry: &str) -> String {
    format!("{registry}/index/config.json")
}

/// The bytes of a registry's `config.json` (size-capped), unchecked.
pub(crate) fn download_config(http: &crate::http::Http, url: &str) -> Result<Vec<u8>> {
    let response = http.send(Method::GET, url, Ok)?;
    http.read_body(url, response, http::MAX_CONFIG_JSON)
}

/// `config.json` parsed; its signature is checked by the caller.
pub(crate) fn parse_config(url: &str, bytes: &[u8]) -> Result<IndexConfig> {
    serde_json::from_slice(bytes).map_err(|e| Error::Parse {
        what: url.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{self, Seen};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    const LINE: &str = r#"{"name":"abc","vers":"1.0.0","kind":"model","deps":[],"archive":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1},"files":[],"yanked":false}"#;

    /// Serves `/index/3/a/abc` with an ETag; records each If-None-Match.
    fn index_server() -> (String, Seen) {
        test_server::serve("if-none-match", |_, tag| {
            let answer = if tag == Some("\"v1\"") {
                "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n".to_string()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{LINE}\n",
                    LINE.len() + 1
                )
            };
            answer.into_bytes()
        })
    }

    #[test]
    fn revalidates_with_etag_and_reads_the_cache_offline() {
        let (url, seen) = index_server();
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let http = Http::new(Default::default()).unwrap();
        for _ in 0..2 {
            let index = Index::new(http.clone(), &store, &url, false);
            let entries = index.entries("ABC").unwrap();
            assert_eq!(entries[0].vers, semver::Version::new(1, 0, 0));
            // memoised within one run: no second request
            index.entries("abc").unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), [None, Some("\"v1\"".to_string())]);
        let offline = Index::new(http.clone(), &store, &url, true);
        assert_eq!(offline.entries("abc").unwrap().len(), 1);
        let missing = offline.entries("other").unwrap_err().to_string();
        assert!(
            missing.contains("offline") && missing.contains("other"),
            "{missing}"
        );
    }

    /// Serves `/index/config.json` (naming and signed by `secret`) and, at
    /// `/index/3/a/abc`, whatever `doc` holds at the time of the request
    /// (no ETags).
    fn signed_server(secret: &zoo_format::signing::SecretKey, doc: Arc<Mutex<String>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let own = url.clone();
        let key = secret.public().to_string();
        let dl = format!("{own}/blobs/{{sha256}}");
        let signature = secret.sign(&config_message(&dl, &own));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                }
                let body = if request.contains("config.json") {
                    serde_json::json!({"dl": dl, "api": own, "key": key, "signature": signature})
                        .to_string()
                } else {
                    doc.lock().unwrap().clone()
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        url
    }

    #[test]
    fn signed_documents_are_pinned_checked_and_never_rolled_back() {
        use zoo_format::signing::{SecretKey, SignedIndex};
        let key = SecretKey::generate().unwrap();
        let sign_lines = |line: &str, version: u64, expires: i64| {
            let content = format!("{line}\n");
            let signature = SignedIndex::sign(&key, "abc", version, expires, &content);
            format!("{content}{}", signature.to_line())
        };
        let sign = |version: u64, expires: i64| sign_lines(LINE, version, expires);
        let later = unix_now() + 3600;
        let doc = Arc::new(Mutex::new(sign(2, later)));
        let url = signed_server(&key, Arc::clone(&doc));
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let keys_file = home.path().join("trusted-keys.toml");
        let trust = IndexTrust {
            keys_file: Some(keys_file.clone()),
            trust_on_first_use: true,
            require: false,
        };
        let index = || {
            Index::new(Http::new(Default::default()).unwrap(), &store, &url, false)
                .with_trust(trust.clone())
        };
        let error = |index: Index| index.entries("abc").unwrap_err().to_string();

        // First use pins the key and accepts the document.
        let first = index();
        assert_eq!(first.entries("abc").unwrap().len(), 1);
        assert!(first.take_notices()[0].contains("pinned the index-signing key"));
        let pinned = TrustedKeys::load(&keys_file).unwrap();
        assert_eq!(pinned.registry_key(&url), Some(key.public()));

        // An older signature over the very same entries (another replica
        // signed them at another time) is no rollback.
        *doc.lock().unwrap() = sign(1, later);
        assert_eq!(index().entries("abc").unwrap().len(), 1);

        // Older documents with other entries, expired, unsigned or foreign
        // documents are refused.
        let yanked = LINE.replace(r#""yanked":false"#, r#""yanked":true"#);
        *doc.lock().unwrap() = sign_lines(&yanked, 1, later);
        assert!(error(index()).contains("older"));
        *doc.lock().unwrap() = sign(3, unix_now() - 1);
        assert!(error(index()).contains("expired"));
        *doc.lock().unwrap() = format!("{LINE}\n");
        assert!(error(index()).contains("not signed"));
        let other = SecretKey::generate().unwrap();
        let content = format!("{LINE}\n");
        let foreign = SignedIndex::sign(&other, "abc", 9, later, &content);
        *doc.lock().unwrap() = format!("{content}{}", foreign.to_line());
        assert!(error(index()).contains("zoo trust registry"));

        // A newer genuine document is accepted; older ones with other
        // entries stay refused, also after an older signature over the same
        // entries was accepted (it must not lower the bar).
        *doc.lock().unwrap() = sign(4, later);
        assert_eq!(index().entries("abc").unwrap().len(), 1);
        *doc.lock().unwrap() = sign(2, later);
        assert_eq!(index().entries("abc").unwrap().len(), 1);
        *doc.lock().unwrap() = sign_lines(&yanked, 3, later);
        assert!(error(index()).contains("older"));
        // Offline, the cached (newest accepted) document still verifies.
        let offline = Index::new(Http::new(Default::default()).unwrap(), &store, &url, true)
            .with_trust(trust.clone());
        assert_eq!(offline.entries("abc").unwrap().len(), 1);
    }
}
