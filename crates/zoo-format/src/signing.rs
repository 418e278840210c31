//! Ed25519 signatures shared by the registry and the client (SECURITY.md).
//!
//! Two things are signed, each over a small text message with its own domain
//! prefix so a signature for one can never be replayed as the other:
//!
//! - a **package** by its publisher: the whole version entry of the index
//!   (v2, [`entry_message`]: name, version, kind, dependencies, the archive's
//!   sha256 and size and every file's path, size and sha256), so a client can
//!   check the file list before it downloads anything. Older signatures (v1,
//!   [`package_message`]) cover name, version and the archive's sha256 only;
//!   they still verify, reported as [`Coverage::ArchiveOnly`];
//! - an **index document** by the registry: package name, a sequence number
//!   that only grows, an expiry time and the sha256 of the document's entry
//!   lines (TUF's timestamp role, per document). The signature travels as the
//!   document's last line ([`SignedIndex`]), so a static mirror of the index
//!   files carries it too.
//!
//! Keys are written `ed25519:<base64 of the 32 public bytes>`; a secret key
//! file holds one line `zoo-secret-key-v1 ed25519:<base64 of the 32-byte seed>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::checksum::sha256_hex;
use crate::index::IndexEntry;

/// How keys start when written out.
pub const KEY_PREFIX: &str = "ed25519:";
/// The first word of a secret key file.
const SECRET_HEADER: &str = "zoo-secret-key-v1";

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("`{0}` is not an ed25519 public key (expected `ed25519:` and 32 bytes in base64)")]
    BadKey(String),
    #[error("the secret key file is malformed: {0}")]
    BadSecret(String),
    #[error("the signature is not 64 bytes of base64")]
    BadSignature,
    #[error("the signature does not verify with key {0}")]
    Mismatch(String),
    #[error("reading the system's random source: {0}")]
    Random(String),
}

/// A public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// A short fingerprint for messages: the first 16 hex digits of the
    /// sha256 of the key bytes.
    pub fn fingerprint(&self) -> String {
        sha256_hex(self.0.as_bytes())[..16].to_string()
    }

    /// Checks `signature` (base64) over `message`. Strict verification: no
    /// malleable or small-order signatures.
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), SignatureError> {
        let bytes = B64
            .decode(signature.trim())
            .map_err(|_| SignatureError::BadSignature)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| SignatureError::Mismatch(self.to_string()))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{}", B64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = SignatureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SignatureError::BadKey(s.to_string());
        let encoded = s.trim().strip_prefix(KEY_PREFIX).ok_or_else(bad)?;
        let bytes: [u8; 32] = B64
            .decode(encoded)
            .map_err(|_| bad())?
            .try_into()
            .map_err(|_| bad())?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
        // A small-order point (the all-zero key among them) verifies
        // signatures no one made; it is never a real publisher's key.
        if key.is_weak() {
            return Err(bad());
        }
        Ok(PublicKey(key))
    }
}

/// A secret (signing) key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, SignatureError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SignatureError::Random(e.to_string()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The signature of `message`, in base64.
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.0.sign(message).to_bytes())
    }

    /// The content of a secret key file (keep it private: mode 0600).
    pub fn to_file_text(&self) -> String {
        format!(
            "{SECRET_HEADER} {KEY_PREFIX}{}\n",
            B64.encode(self.0.to_bytes())
        )
    }

    /// Reads what [`SecretKey::to_file_text`] wrote.
    pub fn from_file_text(text: &str) -> Result<SecretKey, SignatureError> {
        let rest = text.trim().strip_prefix(SECRET_HEADER).ok_or_else(|| {
            SignatureError::BadSecret(format!("it does not start with `{SECRET_HEADER}`"))
        })?;
        let encoded = rest.trim().strip_prefix(KEY_PREFIX).ok_or_else(|| {
            SignatureError::BadSecret(format!("the key does not start with `{KEY_PREFIX}`"))
        })?;
        let seed: [u8; 32] = B64
            .decode(encoded)
            .map_err(|e| SignatureError::BadSecret(e.to_string()))?
            .try_into()
            .map_err(|_| SignatureError::BadSecret("the seed is not 32 bytes".into()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }
}

/// A publisher's signature of one package version, as recorded in the index
/// entry (`"signature": {"key": …, "sig": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSignature {
    /// The publisher's public key, `ed25519:…`.
    pub key: String,
    /// Base64 signature of [`package_message`].
    pub sig: String,
}

/// What a publisher signs: identity plus content.
pub fn package_message(name: &str, version: &str, archive_sha256: &str) -> Vec<u8> {
    format!(
        "zoo-package-signature-v1\nname {}\nversion {version}\narchive-sha256 {archive_sha256}\n",
        crate::normalize_name(name)
    )
    .into_bytes()
}

/// Signs a package version.
pub fn sign_package(
    key: &SecretKey,
    name: &str,
    version: &str,
    archive_sha256: &str,
) -> PackageSignature {
    PackageSignature {
        key: key.public().to_string(),
        sig: key.sign(&package_message(name, version, archive_sha256)),
    }
}

/// What a v2 publisher signature covers: the version entry's canonical form
/// ([`IndexEntry::canonical_json`]).
pub fn entry_message(entry: &IndexEntry) -> Vec<u8> {
    format!("zoo-package-signature-v2\n{}\n", entry.canonical_json()).into_bytes()
}

/// Signs a whole version entry (what `zoo publish --sign` sends).
pub fn sign_entry(key: &SecretKey, entry: &IndexEntry) -> PackageSignature {
    PackageSignature {
        key: key.public().to_string(),
        sig: key.sign(&entry_message(entry)),
    }
}

/// How much of a version a valid publisher signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The whole entry, file list included (v2).
    Entry,
    /// Name, version and archive sha256 only (v1, before the file list was
    /// signed): the file list can only be checked after the download.
    ArchiveOnly,
}

impl PackageSignature {
    /// Checks the signature against `entry`: first as a v2 signature of the
    /// whole entry, then as a v1 signature of its name, version and archive.
    pub fn verify_entry(
        &self,
        entry: &IndexEntry,
    ) -> Result<(PublicKey, Coverage), SignatureError> {
        let key = self.public_key()?;
        if key.verify(&entry_message(entry), &self.sig).is_ok() {
            return Ok((key, Coverage::Entry));
        }
        key.verify(
            &package_message(&entry.name, &entry.vers.to_string(), &entry.archive.sha256),
            &self.sig,
        )?;
        Ok((key, Coverage::ArchiveOnly))
    }

    /// The signing key, parsed.
    pub fn public_key(&self) -> Result<PublicKey, SignatureError> {
        self.key.parse()
    }

    /// Checks the signature against the version's identity and archive hash.
    pub fn verify(
        &self,
        name: &str,
        version: &str,
        archive_sha256: &str,
    ) -> Result<PublicKey, SignatureError> {
        let key = self.public_key()?;
        key.verify(&package_message(name, version, archive_sha256), &self.sig)?;
        Ok(key)
    }
}

/// The registry's signature of one index document: the document's last line,
/// `{"signed-index": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIndex {
    /// The package's canonical name.
    pub name: String,
    /// Grows with every signing of this document (never reused), so an older
    /// signed document is recognisably older.
    pub version: u64,
    /// Unix seconds after which the document must not be trusted.
    pub expires: i64,
    /// sha256 of the entry lines (everything before this line).
    pub sha256: String,
    /// The registry's public key, `ed25519:…`.
    pub key: String,
    /// Base64 signature of [`index_message`].
    pub sig: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    #[serde(rename = "signed-index")]
    signed_index: SignedIndex,
}

/// What the registry signs in `/index/config.json` (its `signature` field):
/// the download template and the API base, so a mirror or a tampered file
/// cannot point downloads or API calls elsewhere without the index key.
pub fn config_message(dl: &str, api: &str) -> Vec<u8> {
    format!("zoo-config-signature-v1\ndl {dl}\napi {api}\n").into_bytes()
}

/// What the registry signs for one index document.
pub fn index_message(name: &str, version: u64, expires: i64, sha256: &str) -> Vec<u8> {
    format!(
        "zoo-index-signature-v1\nname {}\nversion {version}\nexpires {expires}\nsha256 {sha256}\n",
        crate::normalize_name(name)
    )
    .into_bytes()
}

impl SignedIndex {
    /// Signs `content` (the entry lines) of `name`'s document.
    pub fn sign(key: &SecretKey, name: &str, version: u64, expires: i64, content: &str) -> Self {
        let sha256 = sha256_hex(content.as_bytes());
        let name = crate::normalize_name(name);
        SignedIndex {
            sig: key.sign(&index_message(&name, version, expires, &sha256)),
            key: key.public().to_string(),
            name,
            version,
            expires,
            sha256,
        }
    }

    /// The trailer line, with its `\n`.
    pub fn to_line(&self) -> String {
        let trailer = Trailer {
            signed_index: self.clone(),
        };
        // Serializing plain data to a String cannot fail.
        serde_json::to_string(&trailer).unwrap_or_default() + "\n"
    }

    /// Checks the signature with `key` and that it covers `content` of `name`.
    /// Expiry and rollback are the caller's (they need the clock and history).
    pub fn verify(&self, key: &PublicKey, name: &str, content: &str) -> Result<(), String> {
        if self.key != key.to_string() {
            return Err(format!(
                "it is signed by {} but the trusted registry key is {key}",
                self.key
            ));
        }
        if self.name != crate::normalize_name(name) {
            return Err(format!(
                "it is the signed index of `{}`, not of `{name}`",
                self.name
            ));
        }
        let actual = sha256_hex(content.as_bytes());
        if self.sha256 != actual {
            return Err(format!(
                "its entries (sha256 {actual}) are not the signed ones (sha256 {})",
                self.sha256
            ));
        }
        key.verify(
            &index_message(&self.name, self.version, self.expires, &self.sha256),
            &self.sig,
        )
        .map_err(|e| e.to_string())
    }
}

/// Splits a document into its entry lines and its signature line, if the last
/// non-blank line is one. A malformed signature line is an error, not
/// something to skip.
pub fn split_signed(text: &str) -> Result<(&str, Option<SignedIndex>), String> {
    let body = text.trim_end_matches(['\n', '\r', ' ', '\t']);
    let start = body.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let last = &body[start..];
    if !last.trim_start().starts_with("{\"signed-index\"") {
        return Ok((text, None));
    }
    let trailer: Trailer = serde_json::from_str(last)
        .map_err(|e| format!("the index signature line is malformed: {e}"))?;
    Ok((&text[..start], Some(trailer.signed_index)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_bad_keys_are_named() {
        let secret = SecretKey::generate().unwrap();
        let again = SecretKey::from_file_text(&secret.to_file_text()).unwrap();
        assert_eq!(secret.public(), again.public());
        let text = secret.public().to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.parse::<PublicKey>().unwrap(), secret.public());
        // The all-zero key is a small-order point: refused, not trusted.
        let zero = format!("ed25519:{}", B64.encode([0u8; 32]));
        for bad in ["", "ed25519:", "ed25519:AAAA", "rsa:abc", &text[1..], &zero] {
            assert!(bad.parse::<PublicKey>().is_err(), "{bad}");
        }
        assert!(SecretKey::from_file_text("nonsense").is_err());
    }

    #[test]
    fn a_package_signature_binds_name_version_and_archive() {
        let key = SecretKey::generate().unwrap();
        let sig = sign_package(&key, "Tiny_Net", "1.0.0", "aa");
        assert!(sig.verify("tiny-net", "1.0.0", "aa").is_ok());
        assert!(sig.verify("tiny-net", "1.0.1", "aa").is_err());
        assert!(sig.verify("other", "1.0.0", "aa").is_err());
        assert!(sig.verify("tiny-net", "1.0.0", "ab").is_err());
        let mut flipped = sig.clone();
        flipped.sig = key.sign(b"something else");
        assert!(flipped.verify("tiny-net", "1.0.0", "aa").is_err());
        let stranger = SecretKey::generate().unwrap();
        let mut swapped = sig.clone();
        swapped.key = stranger.public().to_string();
        assert!(swapped.verify("tiny-net", "1.0.0", "aa").is_err());
    }

    #[test]
    fn an_entry_signature_covers_the_file_list() {
        let line = crate::index::samples::line_with_external_file("abc");
        let entry = crate::index::parse_document(&line).unwrap().remove(0);
        let key = SecretKey::generate().unwrap();
        let signed = sign_entry(&key, &entry);
        assert_eq!(
            signed.verify_entry(&entry).unwrap(),
            (key.public(), Coverage::Entry)
        );
        let mut yanked = entry.clone();
        yanked.yanked = true;
        assert!(signed.verify_entry(&yanked).is_ok());
        let mut altered = entry.clone();
        altered.files[0].sha256 = "c".repeat(64);
        assert!(signed.verify_entry(&altered).is_err());
        let mut bigger = entry.clone();
        bigger.archive.size += 1;
        assert!(signed.verify_entry(&bigger).is_err());
        // A v1 signature still verifies, reported as archive-only, and keeps
        // verifying when the file list changes (what v2 closes).
        let legacy = sign_package(&key, "abc", "1.0.0", &entry.archive.sha256);
        assert_eq!(
            legacy.verify_entry(&altered).unwrap().1,
            Coverage::ArchiveOnly
        );
    }

    #[test]
    fn index_signature_lines_split_and_verify() {
        let key = SecretKey::generate().unwrap();
        let content = "{\"a\":1}\n{\"b\":2}\n";
        let signed = SignedIndex::sign(&key, "abc", 7, 1_900_000_000, content);
        let doc = format!("{content}{}", signed.to_line());
        let (body, found) = split_signed(&doc).unwrap();
        assert_eq!(body, content);
        let found = found.unwrap();
        assert_eq!(found, signed);
        found.verify(&key.public(), "abc", body).unwrap();
        assert!(found.verify(&key.public(), "abd", body).is_err());
        assert!(found.verify(&key.public(), "abc", "{\"a\":1}\n").is_err());
        let other = SecretKey::generate().unwrap();
        assert!(found.verify(&other.public(), "abc", body).is_err());
        let mut later = found.clone();
        later.expires += 1;
        assert!(later.verify(&key.public(), "abc", body).is_err());
        // Unsigned documents pass through; a broken signature line does not.
        assert_eq!(split_signed(content).unwrap(), (content, None));
        assert!(split_signed("{\"signed-index\":{}}\n").is_err());
    }
}
