//! The registry's own key and the signatures on its index documents
//! (SECURITY.md, "Signatures").
//!
//! The key is created at first start as `DATA/keys/index-signing.key` (mode
//! 0600; `zoo-registry key show|generate`). Every index document ends with a
//! [`SignedIndex`] line: package name, a version that only grows, an expiry,
//! and the sha256 of the entry lines. Clients pin the public key (from
//! `/index/config.json`, on first use) and refuse documents that are
//! unsigned, signed by another key, expired, or older than one they have seen.
//!
//! Coexisting with caching: a signed document is reused byte for byte (same
//! ETag, so `304 Not Modified` keeps working and the static mirror under
//! `DATA/index/` is the very same file) until its entries change or less than
//! half of its lifetime is left; then it is signed again with a higher version
//! and a new expiry. The server's `keep_index_fresh` task re-signs on that schedule even when
//! nobody asks, so a mirror served by a plain file server never goes stale.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zoo_format::signing::{PublicKey, SecretKey, SignedIndex, split_signed};

/// Where the secret key lives, relative to the data directory.
pub const KEY_FILE: &str = "keys/index-signing.key";
/// How long a signed index document stays valid by default: one day.
pub const DEFAULT_INDEX_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest lifetime a signed index document may have: ten years. A
/// document meant to outlive any key rotation is a mistake, and the bound
/// keeps `now + ttl` far from overflowing the signature's `expires`.
pub const MAX_INDEX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The shortest: re-signing happens at half of it, in whole seconds.
pub const MIN_INDEX_TTL: Duration = Duration::from_secs(2);

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The key file: `ZOO_REGISTRY_SIGNING_KEY`, else `data_dir`'s. Replicas
/// behind one URL point the variable at one shared key, so that clients that
/// pinned it accept every replica's documents.
pub fn key_path(data_dir: &Path) -> PathBuf {
    match std::env::var_os("ZOO_REGISTRY_SIGNING_KEY").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => data_dir.join(KEY_FILE),
    }
}

/// Reads the key, if there is one.
pub fn load_key(data_dir: &Path) -> io::Result<Option<SecretKey>> {
    let path = key_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => SecretKey::from_file_text(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a new key; refuses to replace one unless `force` (clients that
/// pinned the old key will refuse the new signatures until re-pinned).
pub fn generate_key(data_dir: &Path, force: bool) -> io::Result<SecretKey> {
    let path = key_path(data_dir);
    if !force && path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists; pass --force to replace it (clients that pinned the old key will refuse the index until they trust the new one)",
                path.display()
            ),
        ));
    }
    let key = SecretKey::generate().map_err(|e| io::Error::other(e.to_string()))?;
    // Readable by the server's user only; whole or absent.
    crate::index::write_atomic_mode(&path, key.to_file_text().as_bytes(), Some(0o600))?;
    Ok(key)
}

/// The key, created on first use.
pub fn load_or_create_key(data_dir: &Path) -> io::Result<SecretKey> {
    match load_key(data_dir)? {
        Some(key) => Ok(key),
        None => generate_key(data_dir, false),
    }
}

/// Signs index documents and remembers the last signed form of each.
pub struct IndexSigner {
    key: SecretKey,
    ttl: Duration,
    /// Last signed document per canonical name.
    signed: Mutex<HashMap<String, String>>,
}

impl IndexSigner {
    pub fn new(key: SecretKey, ttl: Duration) -> IndexSigner {
        IndexSigner {
            key,
            ttl: ttl.clamp(MIN_INDEX_TTL, MAX_INDEX_TTL),
            signed: Mutex::new(HashMap::new()),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The lifetime in whole seconds (at most [`MAX_INDEX_TTL`], so it fits).
    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }

    /// The signature of `/index/config.json`'s download template and API
    /// base ([`zoo_format::signing::config_message`]), so clients that
    /// pinned this key refuse a config.json that a mirror or an attacker
    /// pointed elsewhere.
    pub fn sign_config(&self, dl: &str, api: &str) -> String {
        self.key.sign(&zoo_format::signing::config_message(dl, api))
    }

    /// The remembered signed document of `name` if it still signs `content`
    /// and has at least half its lifetime left. (Only documents this signer
    /// produced are remembered, so the signature is not checked again.)
    pub fn cached(&self, name: &str, content: &str) -> Option<String> {
        let signed = self.signed.lock().ok()?;
        let document = signed.get(name)?;
        let (body, signature) = split_signed(document).ok()?;
        (body == content && self.fresh_enough(signature?.expires)).then(|| document.clone())
    }

    fn fresh_enough(&self, expires: i64) -> bool {
        expires.saturating_sub(unix_now()) >= self.ttl_secs() / 2
    }

    /// The signature of `document` if this signer made it for `name` (a file
    /// on disk may have been edited).
    fn own_signature(&self, name: &str, document: &str) -> Option<(String, SignedIndex)> {
        let (body, signature) = split_signed(document).ok()?;
        let signature = signature?;
        signature
            .verify(&self.public_key(), name, body)
            .ok()
            .map(|_| (body.to_string(), signature))
    }

    /// The signed document for `content`: `previous` (what is on disk) when
    /// this signer signed it, for these entries, with at least half its
    /// lifetime left; else a new signature with a version above `previous`'s
    /// (when that one is genuine). Remembered for [`IndexSigner::cached`].
    pub fn sign(&self, name: &str, content: &str, previous: Option<&str>) -> String {
        let previous = previous.and_then(|p| Some((p, self.own_signature(name, p)?)));
        let document = match previous {
            Some((document, (body, signature)))
                if body == content && self.fresh_enough(signature.expires) =>
            {
                document.to_string()
            }
            _ => {
                let last = previous.map(|(_, (_, s))| s.version).unwrap_or(0);
                // Milliseconds keep versions growing even if the mirror file
                // (the only record of the last version) is lost.
                let version = unix_millis().max(last.saturating_add(1));
                let expires = unix_now().saturating_add(self.ttl_secs());
                let signature = SignedIndex::sign(&self.key, name, version, expires, content);
                format!("{content}{}", signature.to_line())
            }
        };
        if let Ok(mut signed) = self.signed.lock() {
            signed.insert(name.to_string(), document.clone());
        }
        document
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_reused_until_content_or_half_life_changes() {
        let dir = tempfile::tempdir().unwrap();
        let key = load_or_create_key(dir.path()).unwrap();
        let again = load_or_create_key(dir.path()).unwrap();
        assert_eq!(key.public(), again.public());
        assert!(generate_key(dir.path(), false).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let signer = IndexSigner::new(key, Duration::from_secs(3600));
        let first = signer.sign("abc", "{}\n", None);
        assert_eq!(signer.sign("abc", "{}\n", Some(&first)), first);
        assert_eq!(signer.cached("abc", "{}\n").as_deref(), Some(&first[..]));
        assert!(signer.cached("abc", "{\"x\":1}\n").is_none());
        let changed = signer.sign("abc", "{\"x\":1}\n", Some(&first));
        let v = |doc: &str| split_signed(doc).unwrap().1.unwrap().version;
        assert!(v(&changed) > v(&first));

        // A file edited on disk is never reused, and its claimed version is
        // ignored (it could be anything, even u64::MAX).
        let mallory = SecretKey::generate().unwrap();
        let forged = SignedIndex::sign(&mallory, "abc", u64::MAX, i64::MAX, "{\"x\":1}\n");
        let forged = format!("{{\"x\":1}}\n{}", forged.to_line());
        let repaired = signer.sign("abc", "{\"x\":1}\n", Some(&forged));
        assert_ne!(repaired, forged);
        let (body, signature) = split_signed(&repaired).unwrap();
        signature
            .unwrap()
            .verify(&signer.public_key(), "abc", body)
            .unwrap();

        // Past half its lifetime, a document is signed again.
        let short = IndexSigner::new(SecretKey::generate().unwrap(), Duration::from_secs(2));
        let doc = short.sign("abc", "{}\n", None);
        std::thread::sleep(Duration::from_millis(2100));
        let resigned = short.sign("abc", "{}\n", Some(&doc));
        assert_ne!(resigned, doc);
        assert!(v(&resigned) > v(&doc));
    }

    /// A huge lifetime (the tester's `--index-ttl 18446744073709551615`)
    /// is capped, never wrapped into a document that expired long ago.
    #[test]
    fn huge_lifetimes_are_capped_not_wrapped() {
        let signer = IndexSigner::new(SecretKey::generate().unwrap(), Duration::MAX);
        assert_eq!(signer.ttl(), MAX_INDEX_TTL);
        let doc = signer.sign("abc", "{}\n", None);
        let expires = split_signed(&doc).unwrap().1.unwrap().expires;
        let left = expires - unix_now();
        assert!(left > MAX_INDEX_TTL.as_secs() as i64 - 60, "{left}");
        assert_eq!(signer.sign("abc", "{}\n", Some(&doc)), doc);
    }
}
