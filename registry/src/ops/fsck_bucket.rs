//! `zoo-registry fsck` for blobs in a bucket (`--blobs s3://…`): the checks
//! of [`super::fsck`] with the bucket in place of the data directory. Every
//! object under `blobs/` is re-hashed; every reference must resolve with its
//! recorded size; every document under `index/` and `cargo-index/` must
//! equal what the database renders, and no other may exist there.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use zoo_format::checksum::to_hex;

use super::OpsError;
use super::fsck::{FsckReport, check_references};
use crate::blob::BlobBackend;
use crate::blob::s3::{Bucket, S3Blobs};

fn io(what: &str) -> impl FnOnce(std::io::Error) -> OpsError + '_ {
    move |source| OpsError::Io {
        path: what.into(),
        source,
    }
}

/// The sha256 and size of a stored blob, streamed.
async fn hash_blob(blobs: &S3Blobs, sha256: &str, key: &str) -> Result<(String, u64), OpsError> {
    let mut stream = blobs.get(sha256, None).await.map_err(io(key))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(io(key))?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((to_hex(&hasher.finalize().into()), size))
}

/// Documents the database renders: key → (what, bytes).
type Expected = BTreeMap<String, (String, String)>;

/// Renders every index document of both registries (blocking).
fn expected_documents(
    store: &crate::db::MetadataStore,
    report: &mut FsckReport,
) -> Result<Expected, OpsError> {
    let mut expected = Expected::new();
    for name in store.package_names()? {
        let versions = store.versions(&name)?;
        report.checked.packages += 1;
        report.checked.versions += versions.len();
        expected.insert(
            format!("index/{}", zoo_format::index::index_path(&name)),
            (
                format!("zoo package {name}"),
                crate::index::render(&versions),
            ),
        );
    }
    for name in store.cargo_crate_names()? {
        let versions = store.cargo_versions(&zoo_format::normalize_name(&name))?;
        report.checked.crates += 1;
        report.checked.crate_versions += versions.len();
        match crate::index::cargo::render(&versions) {
            Ok(document) => {
                expected.insert(
                    format!("cargo-index/{}", crate::index::cargo::index_path(&name)),
                    (format!("crate {name}"), document),
                );
            }
            Err(e) => report.problem(
                "database",
                format!("a stored index line of crate `{name}` is not valid JSON: {e}"),
            ),
        }
    }
    Ok(expected)
}

/// Checks the metadata in `store` against the bucket.
pub async fn fsck_bucket(
    store: std::sync::Arc<crate::db::MetadataStore>,
    bucket: &Bucket,
) -> Result<FsckReport, OpsError> {
    let (mut report, uses, expected) = tokio::task::spawn_blocking(move || {
        let mut report = FsckReport::default();
        for problem in store.integrity_problems()? {
            report.problem("database", problem);
        }
        let uses = super::referenced_blobs(&store)?;
        let expected = expected_documents(&store, &mut report)?;
        Ok::<_, OpsError>((report, uses, expected))
    })
    .await
    .map_err(|e| OpsError::Io {
        path: "fsck".into(),
        source: std::io::Error::other(e),
    })??;

    let mut stored = BTreeMap::new();
    let mut present = BTreeSet::new();
    let blobs = S3Blobs::new(bucket.clone());
    for listed in blobs.list().await.map_err(io("blobs/"))? {
        let key = listed.key;
        let Some(claim) = listed.sha256 else {
            report.problem(
                "misplaced-blob",
                format!(
                    "{}: {key} is not at blobs/sha256/<first 2 hex digits>/<64 hex digits>",
                    bucket.url
                ),
            );
            continue;
        };
        let (actual, size) = hash_blob(&blobs, &claim, &key).await?;
        report.checked.blobs += 1;
        report.checked.blob_bytes += size;
        present.insert(claim.clone());
        if actual == claim {
            stored.insert(actual, size);
        } else {
            report.problem(
                "blob-hash",
                format!("blob {claim} ({key}) has content with sha256 {actual}"),
            );
        }
    }
    check_references(&mut report, &uses, &stored, |sha| present.contains(sha));

    for (key, (what, document)) in &expected {
        report.checked.index_documents += 1;
        let object = object_store::path::Path::from(key.as_str());
        let bytes = match bucket.read(&object).await {
            Ok(mut stream) => {
                let mut bytes = Vec::new();
                while let Some(chunk) = stream.next().await {
                    bytes.extend_from_slice(&chunk.map_err(io(key))?);
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problem("index-missing", format!("{key} ({what}) does not exist"));
                continue;
            }
            Err(e) => return Err(io(key)(e)),
        };
        // Zoo index documents end in the registry's signature line (checked
        // by clients); their entries must be what the database renders.
        let text = String::from_utf8_lossy(&bytes);
        let entries = match zoo_format::signing::split_signed(&text) {
            Ok((content, Some(_))) if key.starts_with("index/") => content,
            _ => &text[..],
        };
        if entries != document.as_str() {
            report.problem(
                "index-mismatch",
                format!("{key} ({what}) differs from what the database renders"),
            );
        }
    }
    for root in ["index/", "cargo-index/"] {
        for (key, _) in bucket.list(root).await.map_err(io(root))? {
            if key != format!("{root}config.json") && !expected.contains_key(&key) {
                report.problem(
                    "index-stray",
                    format!("{key} is not the index file of any package in the database"),
                );
            }
        }
    }
    report.ok = report.problems.is_empty();
    Ok(report)
}
