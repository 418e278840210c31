//! The index-signing key in an export (`DIR/keys/index-signing.key`, mode
//! 0600). Clients pin a registry's key, so a registry restored at the same
//! URL must sign with the same key or every client refuses its index:
//! `export` carries the key, and `import` installs it, keeps an identical
//! one, or refuses before any byte moves unless told to go on with a new
//! key (`--new-key`), saying what clients must then do.

use std::path::{Path, PathBuf};

use zoo_format::signing::{PublicKey, SecretKey};

use super::transfer::TransferError;
use crate::index::signing;

/// Where an export keeps the key, relative to its directory.
pub const EXPORT_KEY_FILE: &str = "keys/index-signing.key";

/// What clients that pinned the old key must do when it changes.
const CLIENTS_MUST: &str = "clients that pinned the old key refuse this registry's index until \
    they run `zoo trust registry NEW_KEY --registry URL` (`zoo-registry key show` prints NEW_KEY)";

/// What `import` does with the index-signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOnImport {
    /// Restore the export's key (the default).
    Carry,
    /// Keep the target's key, or let the server create one at first start
    /// (`--new-key`).
    New,
}

/// The key step of an import, decided before anything is written.
pub(super) enum KeyPlan {
    /// Write the export's key into the target.
    Install(SecretKey),
    /// The target keeps the key it has (if any).
    Keep(Option<PublicKey>),
}

impl KeyPlan {
    /// The public key the imported registry signs with, if known yet.
    pub(super) fn public(&self) -> Option<PublicKey> {
        match self {
            KeyPlan::Install(key) => Some(key.public()),
            KeyPlan::Keep(key) => *key,
        }
    }
}

fn key_error(path: &Path, error: impl std::fmt::Display) -> TransferError {
    TransferError::Invalid(format!("{}: {error}", path.display()))
}

/// Copies the source registry's key into the export; `None` when it has
/// none (it never started, so no client pinned it).
pub(super) fn export_key(data_dir: &Path, dir: &Path) -> Result<Option<PublicKey>, TransferError> {
    let source = signing::key_path(data_dir);
    let Some(key) = signing::load_key(data_dir).map_err(|e| key_error(&source, e))? else {
        return Ok(None);
    };
    let target = dir.join(EXPORT_KEY_FILE);
    crate::index::write_atomic_mode(&target, key.to_file_text().as_bytes(), Some(0o600)).map_err(
        |source| TransferError::Io {
            path: target,
            source,
        },
    )?;
    Ok(Some(key.public()))
}

fn read_exported(dir: &Path) -> Result<Option<SecretKey>, TransferError> {
    let path: PathBuf = dir.join(EXPORT_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => SecretKey::from_file_text(&text)
            .map(Some)
            .map_err(|e| key_error(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TransferError::Io { path, source }),
    }
}

/// Refuses an import whose key step would fail, before anything (even the
/// target's database) is created.
pub fn check_import(dir: &Path, data_dir: &Path, choice: KeyOnImport) -> Result<(), TransferError> {
    plan_import(dir, data_dir, choice).map(drop)
}

/// Decides the key step of an import into `data_dir`, or refuses.
pub(super) fn plan_import(
    dir: &Path,
    data_dir: &Path,
    choice: KeyOnImport,
) -> Result<KeyPlan, TransferError> {
    let target = signing::key_path(data_dir);
    let existing = signing::load_key(data_dir).map_err(|e| key_error(&target, e))?;
    let existing = existing.map(|key| key.public());
    if choice == KeyOnImport::New {
        return Ok(KeyPlan::Keep(existing));
    }
    match (read_exported(dir)?, existing) {
        (Some(exported), None) => Ok(KeyPlan::Install(exported)),
        (Some(exported), Some(existing)) if exported.public() == existing => {
            Ok(KeyPlan::Keep(Some(existing)))
        }
        (Some(exported), Some(existing)) => Err(TransferError::Invalid(format!(
            "{} holds another index-signing key ({existing}) than the export's ({}): remove \
             it to restore the registry's own key, or pass --new-key to keep it ({CLIENTS_MUST})",
            target.display(),
            exported.public()
        ))),
        // Restored by hand next to an older export: that is the key.
        (None, Some(existing)) => Ok(KeyPlan::Keep(Some(existing))),
        (None, None) => Err(TransferError::Invalid(format!(
            "{} carries no index-signing key (an export made before exports carried it, or of \
             a registry that never started): put the old registry's key at {} first, or pass \
             --new-key to go on with a new key ({CLIENTS_MUST})",
            dir.display(),
            target.display()
        ))),
    }
}

/// Carries out the key step, after everything else was imported.
pub(super) fn finish_import(plan: &KeyPlan, data_dir: &Path) -> Result<(), TransferError> {
    if let KeyPlan::Install(key) = plan {
        let path = signing::key_path(data_dir);
        crate::index::write_atomic_mode(&path, key.to_file_text().as_bytes(), Some(0o600))
            .map_err(|source| TransferError::Io { path, source })?;
    }
    Ok(())
}

/// The note `import --new-key` prints.
pub fn new_key_note() -> String {
    format!("the index-signing key was not carried over: {CLIENTS_MUST}")
}
