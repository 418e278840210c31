//! Weights from pinned upstream sources (`[[model.sources]]`): a package
//! may name an official file (Caffe's VGG16 release) instead of carrying
//! the converted weights. Installing it makes each such weights file in the
//! staged package:
//!
//! 1. with `produces_sha256` pinned and that blob in the store: reuse it
//!    (re-hashed), no network;
//! 2. else the upstream file from the store, or downloaded into it (mirrors
//!    in order, streamed through sha256, `.partial` resumed with `Range`,
//!    HTML answers, wrong sizes and hashes refused, naming the URL);
//! 3. converted by the [`Converter`] (zoo-torch: the code of
//!    `zoo import caffe --like`, this package as the like folder) into a
//!    file of the staging dir, checked against `produces_sha256`, moved into
//!    the store, and linked into the package.
//!
//! Nothing is renamed into place before every check passed, so a failure
//! leaves no package and no unverified blob behind.

use crate::download::{BlobRequest, fetch_blob};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::http::Http;
use crate::progress::Progress;
use crate::store::{Store, hash_file};
use std::path::{Path, PathBuf};
use zoo_format::Manifest;
use zoo_format::checksum::Sha256Digest;
use zoo_format::manifest::{Convert, WeightsSource};

/// One conversion of an upstream file into a weights file.
#[derive(Debug)]
pub struct ConvertJob<'a> {
    /// `name@version`, for messages.
    pub package: &'a str,
    pub convert: Convert,
    /// The staged package: its architecture, labels and deploy file.
    pub package_dir: &'a Path,
    /// The deploy file inside `package_dir`, when the source names one.
    pub deploy: Option<PathBuf>,
    /// The upstream file (in the store).
    pub source: &'a Path,
    /// Where to write the weights (must not exist yet).
    pub output: &'a Path,
}

/// Turns upstream files into weights. zoo-client links no libtorch, so
/// the CLI supplies this (it runs `zoo-torch`).
pub trait Converter: Send + Sync {
    /// Writes `job.output`; the error text says what was wrong with which file.
    fn convert(&self, job: &ConvertJob<'_>) -> std::result::Result<(), String>;
}

/// What completing a package's sources needs from the install.
pub struct SourceContext<'a> {
    pub http: &'a Http,
    pub offline: bool,
    pub converter: Option<&'a dyn Converter>,
    pub progress: &'a dyn Progress,
}

/// Makes every `[[model.sources]]` weights file of the package staged at
/// `root` (temporary files go to `scratch`, beside it); returns the store
/// blobs the package now uses (upstream files and converted weights), for
/// the receipt.
pub fn complete(
    store: &Store,
    label: &str,
    manifest: &Manifest,
    root: &Path,
    scratch: &Path,
    cx: &SourceContext<'_>,
) -> Result<Vec<String>> {
    let mut used = Vec::new();
    let sources = manifest.model.iter().flat_map(|m| m.sources.iter());
    for (i, source) in sources.enumerate() {
        let target = root.join(&source.produces);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).at("creating", parent)?;
        }
        let pin = source
            .produces_sha256
            .as_deref()
            .map(|sha| digest(label, "model.sources.produces_sha256", sha))
            .transpose()?;
        if let Some(pin) = &pin
            && stored_intact(store, pin)?
        {
            cx.progress.note(&format!(
                "{label}: {} (sha256 {pin}) is in the store; not converting {}",
                source.produces,
                source.file_name()
            ));
            fsutil::link_or_copy(&store.blob_path(pin), &target)?;
            used.push(pin.to_string());
            continue;
        }
        let upstream = obtain(store, label, source, cx)?;
        let output = scratch.join(format!("source-{i}.converted"));
        if output.exists() {
            std::fs::remove_file(&output).at("removing", &output)?;
        }
        let converter = cx.converter.ok_or_else(|| {
            Error::Invalid(format!(
                "{label}: {} must be converted from {} ({}), and this zoo has no converter",
                source.produces,
                source.file_name(),
                source.convert.as_str()
            ))
        })?;
        cx.progress.note(&format!(
            "{label}: converting {} into {}",
            source.file_name(),
            source.produces
        ));
        let job = ConvertJob {
            package: label,
            convert: source.convert,
            package_dir: root,
            deploy: source.deploy.as_ref().map(|d| root.join(d)),
            source: &upstream,
            output: &output,
        };
        converter.convert(&job).map_err(|message| {
            let _ = std::fs::remove_file(&output);
            Error::Invalid(format!(
                "{label}: converting {} (sha256 {}, from {}) into {} failed: {message}; \
                 nothing was installed",
                source.file_name(),
                source.sha256,
                source.url.join(", "),
                source.produces
            ))
        })?;
        let (sha, _) = hash_file(&output)?;
        if let Some(pin) = &pin
            && pin.as_str() != sha
        {
            let _ = std::fs::remove_file(&output);
            return Err(Error::Invalid(format!(
                "{label}: converting {} gave {} with sha256 {sha}, but the package pins \
                 produces_sha256 = {pin} (another converter version, or a different upstream \
                 file); nothing was installed",
                source.file_name(),
                source.produces
            )));
        }
        let produced = digest(label, &source.produces, &sha)?;
        let blob = store.blob_path(&produced);
        {
            let _lock = store.lock_blob(&produced)?;
            if blob.is_file() {
                std::fs::remove_file(&output).at("removing", &output)?;
            } else {
                if let Some(parent) = blob.parent() {
                    std::fs::create_dir_all(parent).at("creating", parent)?;
                }
                std::fs::rename(&output, &blob).at("renaming into", &blob)?;
            }
        }
        fsutil::link_or_copy(&blob, &target)?;
        used.push(source.sha256.clone());
        used.push(sha);
    }
    Ok(used)
}

fn digest(label: &str, what: &str, sha: &str) -> Result<Sha256Digest> {
    Sha256Digest::parse(sha).map_err(|e| Error::Format(format!("{label}: {what}: {e}")))
}

/// Whether the store holds `sha` intact. Blobs this run did not download
/// are re-hashed, so a damaged store is never installed from; a damaged
/// copy is removed (it is made again).
fn stored_intact(store: &Store, sha: &Sha256Digest) -> Result<bool> {
    let path = store.blob_path(sha);
    if !path.is_file() {
        return Ok(false);
    }
    if hash_file(&path)?.0 == sha.as_str() {
        return Ok(true);
    }
    std::fs::remove_file(&path).at("removing", &path)?;
    Ok(false)
}

/// The upstream file in the store: already there, or downloaded from the
/// first mirror that serves it intact (each failure reported).
fn obtain(
    store: &Store,
    label: &str,
    source: &WeightsSource,
    cx: &SourceContext<'_>,
) -> Result<PathBuf> {
    let sha = digest(label, "model.sources.sha256", &source.sha256)?;
    if stored_intact(store, &sha)? {
        return Ok(store.blob_path(&sha));
    }
    if cx.offline {
        return Err(Error::Offline(format!(
            "{label}: {} is made from {} (sha256 {}, {} bytes), which is not in the store {} \
             (it is downloaded from {} when online)",
            source.produces,
            source.file_name(),
            source.sha256,
            source.size,
            store.home().display(),
            source.url.join(", ")
        )));
    }
    let request = BlobRequest {
        package: label.to_string(),
        file: source.file_name().to_string(),
        sha256: sha,
        size: source.size,
        refuse_html: true,
    };
    let mut failures = Vec::new();
    for url in &source.url {
        match fetch_blob(cx.http, url, store, &request, false, cx.progress) {
            Ok(path) => return Ok(path),
            Err(error) => {
                let failure = format!("{url}: {error}");
                if failures.len() + 1 < source.url.len() {
                    cx.progress
                        .warn(&format!("{label}: {failure}; trying the next mirror"));
                }
                failures.push(failure);
            }
        }
    }
    Err(Error::Invalid(format!(
        "{label}: could not get {} (sha256 {}, {} bytes) from its {} URL(s); nothing was \
         installed:\n  {}",
        source.file_name(),
        source.sha256,
        source.size,
        source.url.len(),
        failures.join("\n  ")
    )))
}
