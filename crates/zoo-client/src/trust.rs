//! Which keys the client trusts, and the checks made with them
//! (SECURITY.md, "Signatures").
//!
//! `trusted-keys.toml` in [`crate::config::config_dir`] (`ZOO_HOME` when
//! set, else `<config dir>/zoo`; or `ZOO_TRUSTED_KEYS`) holds the
//! registries' index-signing keys, one per registry URL (pinned on first use
//! by `zoo login` or the first index read, or set with `zoo trust registry`),
//! and the publisher keys whose package signatures count as trusted
//! (`zoo trust add`, `zoo keygen` adds the user's own):
//!
//! ```toml
//! [registries]
//! "http://127.0.0.1:8000" = "ed25519:…"
//!
//! [[publishers]]
//! key = "ed25519:…"
//! name = "alice"
//! ```

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zoo_format::index::IndexEntry;
use zoo_format::signing::{Coverage, PublicKey, SecretKey};

/// A publisher key the user trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    pub key: String,
    /// Who the key belongs to, for messages.
    #[serde(default)]
    pub name: String,
}

/// The trusted-keys file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKeys {
    /// Registry URL (no trailing `/`) → its index-signing key.
    #[serde(default)]
    pub registries: BTreeMap<String, String>,
    #[serde(default)]
    pub publishers: Vec<Publisher>,
}

/// `ZOO_TRUSTED_KEYS`, or `trusted-keys.toml` in [`crate::config::config_dir`].
pub fn trusted_keys_path() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("ZOO_TRUSTED_KEYS")
        && !path.is_empty()
    {
        return Some(PathBuf::from(path));
    }
    crate::config::config_dir().map(|dir| dir.join("trusted-keys.toml"))
}

/// `signing.key` in [`crate::config::config_dir`]: the user's secret key
/// from `zoo keygen`.
pub fn signing_key_path() -> Option<PathBuf> {
    crate::config::config_dir().map(|dir| dir.join("signing.key"))
}

fn parse_key(text: &str, what: &str, path: &Path) -> Result<PublicKey> {
    text.parse().map_err(|e| Error::Parse {
        what: format!("{what} in {}", path.display()),
        message: format!("{e}"),
    })
}

fn registry_id(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

impl TrustedKeys {
    /// Reads the file; a missing file trusts nothing.
    pub fn load(path: &Path) -> Result<TrustedKeys> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).at("reading", path),
        };
        let keys: TrustedKeys = toml::from_str(&text).map_err(|e| Error::Parse {
            what: path.display().to_string(),
            message: zoo_format::manifest::toml_error_line(&text, &e),
        })?;
        // Refuse a malformed key now, naming it, rather than at first use.
        for (url, key) in &keys.registries {
            parse_key(key, &format!("the key of registry {url}"), path)?;
        }
        for publisher in &keys.publishers {
            parse_key(&publisher.key, "a publisher key", path)?;
        }
        Ok(keys)
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::fsutil::write_atomic(path, text.as_bytes(), false)
    }

    /// The pinned index-signing key of a registry.
    pub fn registry_key(&self, url: &str) -> Option<PublicKey> {
        self.registries
            .get(&registry_id(url))
            .and_then(|k| k.parse().ok())
    }

    /// The trusted publisher holding `key`.
    pub fn publisher(&self, key: &PublicKey) -> Option<&Publisher> {
        let text = key.to_string();
        self.publishers.iter().find(|p| p.key == text)
    }

    /// Trusts a publisher key (renaming it if already there).
    /// Trusts `key` under `name`; the name it had before, if it was
    /// already trusted under another.
    pub fn add_publisher(&mut self, key: &PublicKey, name: &str) -> Option<String> {
        let text = key.to_string();
        match self.publishers.iter_mut().find(|p| p.key == text) {
            Some(existing) if existing.name != name => {
                Some(std::mem::replace(&mut existing.name, name.to_string()))
            }
            Some(_) => None,
            None => {
                self.publishers.push(Publisher {
                    key: text,
                    name: name.to_string(),
                });
                None
            }
        }
    }

    /// Stops trusting a publisher key; whether it was trusted.
    pub fn remove_publisher(&mut self, key: &PublicKey) -> bool {
        let text = key.to_string();
        let before = self.publishers.len();
        self.publishers.retain(|p| p.key != text);
        before != self.publishers.len()
    }

    /// Pins (or with `replace`, re-pins) a registry's key.
    pub fn pin_registry(&mut self, url: &str, key: &PublicKey, replace: bool) -> Result<Pinned> {
        match self.registry_key(url) {
            Some(existing) if existing == *key => Ok(Pinned::Already),
            Some(existing) if !replace => Err(Error::Trust(format!(
                "the registry {url} now presents the index-signing key {key}, but {existing} is pinned for it; \
                 if the registry really changed its key, trust the new one with `zoo trust registry {key}`"
            ))),
            _ => {
                self.registries.insert(registry_id(url), key.to_string());
                Ok(Pinned::New)
            }
        }
    }
}

/// What pinning did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinned {
    New,
    Already,
}

/// Pins `key` for `url` in the trusted-keys file (created if needed).
pub fn pin_registry_key(url: &str, key: &PublicKey, replace: bool) -> Result<Pinned> {
    let path = trusted_keys_path()
        .ok_or_else(|| Error::Invalid("no config directory found (set HOME or ZOO_HOME)".into()))?;
    let mut keys = TrustedKeys::load(&path)?;
    let pinned = keys.pin_registry(url, key, replace)?;
    if pinned == Pinned::New {
        keys.save(&path)?;
    }
    Ok(pinned)
}

/// Reads the user's secret key (`zoo keygen` writes it).
pub fn load_signing_key(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Invalid(format!(
                "no signing key at {}: run `zoo keygen` first",
                path.display()
            ))
        } else {
            Error::Io {
                action: "reading",
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    SecretKey::from_file_text(&text).map_err(|e| Error::Parse {
        what: path.display().to_string(),
        message: e.to_string(),
    })
}

/// How a resolved version's signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageTrust {
    /// Signed by a trusted publisher (their name).
    Trusted(String),
    /// A valid signature by a key the user does not trust (allowed unless
    /// signatures are required).
    UnknownSigner(String),
    /// Not signed (allowed unless signatures are required).
    Unsigned,
}

/// Checks the publisher's signature of `entry` (run before anything is
/// downloaded). A signature that does not verify is always refused (the
/// version, its file list or its archive was changed after signing); with
/// `require`, so is a missing signature, an untrusted key, or an older
/// archive-only signature (it does not cover the file list, which would then
/// be checked only after the downloads).
pub fn check_package(
    entry: &IndexEntry,
    trusted: &TrustedKeys,
    require: bool,
) -> Result<PackageTrust> {
    let label = format!("{}@{}", entry.name, entry.vers);
    let Some(signature) = &entry.signature else {
        if require {
            return Err(Error::Trust(format!(
                "{label} is not signed, and signatures are required (require-signatures in the config file or ZOO_REQUIRE_SIGNATURES); \
                 ask its publisher to `zoo publish --sign`, or turn the requirement off"
            )));
        }
        return Ok(PackageTrust::Unsigned);
    };
    let (key, coverage) = signature.verify_entry(entry).map_err(|e| {
        Error::Trust(format!(
            "{label}: the publisher's signature does not match this version (archive sha256 {}): {e}; \
             the package or its index entry was changed after it was signed",
            entry.archive.sha256
        ))
    })?;
    if require && coverage == Coverage::ArchiveOnly {
        return Err(Error::Trust(format!(
            "{label} carries an older publisher signature that covers only its archive, not its file list, \
             and signatures are required; ask its publisher to re-sign by publishing a new version with \
             `zoo publish --sign`, or turn the requirement off"
        )));
    }
    match trusted.publisher(&key) {
        Some(publisher) => Ok(PackageTrust::Trusted(publisher.name.clone())),
        None if require => Err(Error::Trust(format!(
            "{label} is signed by {key}, which is not a trusted publisher key; \
             if you trust it: `zoo trust add {key} --name NAME`"
        ))),
        None => Ok(PackageTrust::UnknownSigner(key.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoo_format::signing::{sign_entry, sign_package};

    fn entry() -> IndexEntry {
        serde_json::from_value(serde_json::json!({
            "name": "abc", "vers": "1.0.0", "kind": "model", "deps": [],
            "archive": {"sha256": "a".repeat(64), "size": 1},
            "files": [{"path": "w.bin", "size": 1, "sha256": "b".repeat(64), "external": true}],
            "yanked": false,
        }))
        .unwrap()
    }

    #[test]
    fn package_policy() {
        let key = SecretKey::generate().unwrap();
        let mut trusted = TrustedKeys::default();
        let unsigned = entry();
        assert_eq!(
            check_package(&unsigned, &trusted, false).unwrap(),
            PackageTrust::Unsigned
        );
        let err = check_package(&unsigned, &trusted, true).unwrap_err();
        assert!(err.to_string().contains("not signed"), "{err}");

        let mut signed = entry();
        signed.signature = Some(sign_entry(&key, &entry()));
        assert!(matches!(
            check_package(&signed, &trusted, false).unwrap(),
            PackageTrust::UnknownSigner(_)
        ));
        let err = check_package(&signed, &trusted, true).unwrap_err();
        assert!(err.to_string().contains("zoo trust add"), "{err}");
        let _ = trusted.add_publisher(&key.public(), "alice");
        assert_eq!(
            check_package(&signed, &trusted, true).unwrap(),
            PackageTrust::Trusted("alice".into())
        );
        let mut tampered = signed.clone();
        tampered.archive.sha256 = "c".repeat(64);
        let mut new_files = signed.clone();
        new_files.files[0].sha256 = "d".repeat(64);
        for entry in [&tampered, &new_files] {
            for require in [false, true] {
                let err = check_package(entry, &trusted, require).unwrap_err();
                assert!(err.to_string().contains("changed after"), "{err}");
            }
        }

        // An archive-only (v1) signature: accepted unless signatures are
        // required, then refused with a message saying to re-sign.
        let mut legacy = entry();
        legacy.signature = Some(sign_package(&key, "abc", "1.0.0", &"a".repeat(64)));
        assert_eq!(
            check_package(&legacy, &trusted, false).unwrap(),
            PackageTrust::Trusted("alice".into())
        );
        let err = check_package(&legacy, &trusted, true).unwrap_err();
        assert!(err.to_string().contains("re-sign"), "{err}");
    }

    #[test]
    fn file_round_trip_and_pinning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted-keys.toml");
        let mut keys = TrustedKeys::load(&path).unwrap();
        let a = SecretKey::generate().unwrap().public();
        let b = SecretKey::generate().unwrap().public();
        assert_eq!(
            keys.pin_registry("http://r/", &a, false).unwrap(),
            Pinned::New
        );
        assert_eq!(
            keys.pin_registry("http://r", &a, false).unwrap(),
            Pinned::Already
        );
        assert!(keys.pin_registry("http://r", &b, false).is_err());
        let _ = keys.add_publisher(&b, "bob");
        keys.save(&path).unwrap();
        let again = TrustedKeys::load(&path).unwrap();
        assert_eq!(again, keys);
        assert_eq!(again.registry_key("http://r"), Some(a));
        std::fs::write(&path, "publishers = [{ key = \"ed25519:nope\" }]\n").unwrap();
        let err = TrustedKeys::load(&path).unwrap_err().to_string();
        assert!(err.contains("publisher key"), "{err}");
    }
}
