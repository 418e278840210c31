//! Installing resolved packages: fetch every needed blob (in parallel), then
//! per package extract into a staging dir, link the external blobs in and
//! verify every file against the listing and the manifest against the index;
//! only when every package passed, rename each into
//! `packages/<name>/<version>`. A crash at any point leaves the previous
//! state: the staging dir is only ever renamed into place complete.

use crate::config::AllowCode;
use crate::download::{BlobRequest, fetch_blob};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::http::Http;
use crate::index::Index;
use crate::progress::Progress;
use crate::sources::{self, Converter, SourceContext};
use crate::store::{InstalledPackage, RECEIPT, Receipt, Store, hash_file};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zoo_format::FileEntry;
use zoo_format::checksum::Sha256Digest;
use zoo_format::index::IndexEntry;

/// At most this many downloads run at once.
const PARALLEL_DOWNLOADS: usize = 8;

/// What happened to one package.
#[derive(Debug, Clone)]
pub struct Installed {
    pub package: InstalledPackage,
    pub archive_sha256: String,
    /// False when that exact version was already installed (intact).
    pub fresh: bool,
    /// It was installed but marked broken by `cache verify`, and was
    /// installed again.
    pub repaired: bool,
}

/// A digest from an index entry as a store key. Entries are validated when
/// their document is parsed, so this refuses only entries made elsewhere.
fn digest_of(label: &str, what: &str, sha256: &str) -> Result<Sha256Digest> {
    Sha256Digest::parse(sha256).map_err(|e| Error::Format(format!("{label}: {what}: {e}")))
}

/// The blobs a package needs: its archive and every external file.
fn blobs_of(entry: &IndexEntry) -> Result<Vec<BlobRequest>> {
    let package = format!("{}@{}", entry.name, entry.vers);
    let mut blobs = vec![BlobRequest {
        package: package.clone(),
        file: "the archive".into(),
        sha256: digest_of(&package, "the archive", &entry.archive.sha256)?,
        size: entry.archive.size,
        refuse_html: false,
    }];
    for file in entry.files.iter().filter(|f| f.external) {
        blobs.push(BlobRequest {
            package: package.clone(),
            file: file.path.clone(),
            sha256: digest_of(&package, &file.path, &file.sha256)?,
            size: file.size,
            refuse_html: false,
        });
    }
    Ok(blobs)
}

/// Whether `entry` is installed with the same archive and not marked
/// broken (a broken one is installed again, which repairs it).
fn already_installed(store: &Store, entry: &IndexEntry) -> Option<InstalledPackage> {
    if store.broken_problem(&entry.name, &entry.vers).is_some() {
        return None;
    }
    let dir = store.package_dir(&entry.name, &entry.vers);
    let package = InstalledPackage {
        name: zoo_format::normalize_name(&entry.name),
        version: entry.vers.clone(),
        dir,
    };
    let receipt = store.receipt(&package).ok()?;
    (receipt.archive_sha256 == entry.archive.sha256).then_some(package)
}

/// How [`install_entries`] treats what it installs.
#[derive(Clone, Copy)]
pub struct InstallOptions<'a> {
    /// Which packages that contain code may be installed.
    pub allow_code: &'a AllowCode,
    /// Install again even intact installed versions.
    pub force: bool,
    /// Makes `[[model.sources]]` weights (none: such packages are refused).
    pub converter: Option<&'a dyn Converter>,
}

/// Installs the resolved `entries` into the store; a package that contains
/// code is refused (with every other package) unless `allow_code` allows it.
/// With `force`, intact installed versions are installed again too.
pub fn install_entries(
    http: &Http,
    index: &Index,
    store: &Store,
    entries: &[IndexEntry],
    options: &InstallOptions<'_>,
    progress: &dyn Progress,
) -> Result<Vec<Installed>> {
    let InstallOptions {
        allow_code,
        force,
        converter,
    } = *options;
    store.clean_stale_staging()?;
    let _shared = store.lock_store_shared()?;
    let keep = |entry: &IndexEntry| {
        if force {
            None
        } else {
            already_installed(store, entry)
        }
    };
    let repairing: HashSet<(String, semver::Version)> = entries
        .iter()
        .filter(|e| store.broken_problem(&e.name, &e.vers).is_some())
        .map(|e| (zoo_format::normalize_name(&e.name), e.vers.clone()))
        .collect();
    let todo: Vec<&IndexEntry> = entries.iter().filter(|e| keep(e).is_none()).collect();

    // Every blob once, whichever packages share it.
    let mut wanted: BTreeMap<Sha256Digest, BlobRequest> = BTreeMap::new();
    for entry in &todo {
        for blob in blobs_of(entry)? {
            wanted.entry(blob.sha256.clone()).or_insert(blob);
        }
    }
    let cached: HashSet<Sha256Digest> = wanted
        .keys()
        .filter(|sha| store.has_blob(sha))
        .cloned()
        .collect();
    let missing: Vec<BlobRequest> = wanted
        .into_values()
        .filter(|b| !cached.contains(&b.sha256))
        .collect();
    if index.offline() && !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|b| {
                format!(
                    "  {}: {} (sha256 {}, {} bytes)",
                    b.package, b.file, b.sha256, b.size
                )
            })
            .collect();
        return Err(Error::Offline(format!(
            "these files are not in the store {}:\n{}",
            store.home().display(),
            list.join("\n")
        )));
    }
    download_all(http, index, store, &missing, progress)?;
    let sources = SourceContext {
        http,
        offline: index.offline(),
        converter,
        progress,
    };

    // Every package is staged and verified before any is put in place, so a
    // refused package leaves its dependencies uninstalled too.
    let staged: Vec<Option<Staged>> = entries
        .iter()
        .map(|entry| match keep(entry) {
            Some(_) => Ok(None),
            None => {
                let staged = stage_one(store, entry, &cached, &sources)?;
                check_code_allowed(entry, entries, &staged.manifest, allow_code)?;
                Ok(Some(staged))
            }
        })
        .collect::<Result<_>>()?;
    let mut done = Vec::new();
    for (entry, staged) in entries.iter().zip(staged) {
        let committed = match staged {
            Some(staged) => commit_one(store, entry, staged, force)?,
            None => None,
        };
        let Some(package) = committed else {
            let package = already_installed(store, entry).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}@{} vanished from the store during the install",
                    entry.name, entry.vers
                ))
            })?;
            done.push(Installed {
                package,
                archive_sha256: entry.archive.sha256.clone(),
                fresh: false,
                repaired: false,
            });
            continue;
        };
        progress.note(&format!(
            "installed {}@{} into {}",
            entry.name,
            entry.vers,
            package.dir.display()
        ));
        let repaired = repairing.contains(&(package.name.clone(), package.version.clone()));
        done.push(Installed {
            package,
            archive_sha256: entry.archive.sha256.clone(),
            fresh: true,
            repaired,
        });
    }
    Ok(done)
}

/// Downloads `blobs` with up to [`PARALLEL_DOWNLOADS`] threads; the first
/// error (after the others finished) is returned.
fn download_all(
    http: &Http,
    index: &Index,
    store: &Store,
    blobs: &[BlobRequest],
    progress: &dyn Progress,
) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    let urls: Vec<String> = blobs
        .iter()
        .map(|b| index.blob_url(&b.sha256))
        .collect::<Result<_>>()?;
    let queue = Mutex::new((0..blobs.len()).collect::<Vec<_>>());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..blobs.len().min(PARALLEL_DOWNLOADS) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop());
                    let Some(i) = next else { break };
                    if let Err(error) =
                        fetch_blob(http, &urls[i], store, &blobs[i], false, progress)
                        && let Ok(mut errors) = errors.lock()
                    {
                        errors.push(error);
                    }
                }
            });
        }
    });
    match errors
        .into_inner()
        .ok()
        .and_then(|mut e| (!e.is_empty()).then(|| e.remove(0)))
    {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A package extracted, completed and verified in its staging dir.
struct Staged {
    /// Removed on drop (with whatever is left in it).
    _staging: crate::store::Staging,
    root: PathBuf,
    manifest: zoo_format::Manifest,
}

/// TorchScript packages are programs: refused unless the user opted in.
/// The error names the packages of this install that depend on it.
fn check_code_allowed(
    entry: &IndexEntry,
    entries: &[IndexEntry],
    manifest: &zoo_format::Manifest,
    allow_code: &AllowCode,
) -> Result<()> {
    let Some(file) = manifest.code_file() else {
        return Ok(());
    };
    if allow_code.allows(&entry.name) {
        return Ok(());
    }
    let name = zoo_format::normalize_name(&entry.name);
    let dependents: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.deps
                .iter()
                .any(|d| zoo_format::normalize_name(&d.name) == name)
        })
        .map(|e| format!("{}@{}", e.name, e.vers))
        .collect();
    Err(Error::CodeNotAllowed {
        package: format!("{}@{}", entry.name, entry.vers),
        name,
        file: file.to_string(),
        needed_by: if dependents.is_empty() {
            String::new()
        } else {
            format!(" (needed by {})", dependents.join(", "))
        },
    })
}

/// Extracts, completes and verifies one package in a staging dir; weights
/// from `[[model.sources]]` are fetched and converted there.
fn stage_one(
    store: &Store,
    entry: &IndexEntry,
    cached: &HashSet<Sha256Digest>,
    sources: &SourceContext<'_>,
) -> Result<Staged> {
    let label = format!("{}@{}", entry.name, entry.vers);
    let staging = store.staging_dir()?;
    let root = staging.dir.join("package");
    std::fs::create_dir(&root).at("creating", &root)?;
    let archive_path = store.blob_path(&digest_of(&label, "the archive", &entry.archive.sha256)?);
    let archive = std::fs::File::open(&archive_path).at("opening", &archive_path)?;
    let limits = zoo_format::archive::Limits::default();
    let listing = zoo_format::archive::unpack(std::io::BufReader::new(archive), &root, &limits)
        .map_err(|e| Error::Format(format!("{label}: {e}")))?;
    if listing.files != entry.files {
        return Err(Error::Format(format!(
            "{label}: the archive's file listing differs from the registry index"
        )));
    }
    check_manifest_matches(&label, &listing.manifest, entry)?;
    for file in listing.files.iter().filter(|f| f.external) {
        let digest = digest_of(&label, &file.path, &file.sha256)?;
        let blob = store.blob_path(&digest);
        let target = root.join(&file.path);
        fsutil::link_or_copy(&blob, &target)?;
        // Fresh downloads were hashed while streaming; older store blobs
        // are re-hashed here so a corrupted store is never installed from.
        verify_file(&label, &target, file, cached.contains(&digest))?;
    }
    for file in listing.files.iter().filter(|f| !f.external) {
        verify_file(&label, &root.join(&file.path), file, false)?;
    }
    let made = sources::complete(
        store,
        &label,
        &listing.manifest,
        &root,
        &staging.dir,
        sources,
    )?;
    let receipt = Receipt {
        name: zoo_format::normalize_name(&entry.name),
        version: entry.vers.to_string(),
        archive_sha256: entry.archive.sha256.clone(),
        blobs: listing
            .files
            .iter()
            .filter(|f| f.external)
            .map(|f| f.sha256.clone())
            .chain(made)
            .collect(),
    };
    let receipt_json =
        serde_json::to_vec_pretty(&receipt).map_err(|e| Error::Invalid(format!("{label}: {e}")))?;
    fsutil::write_atomic(&root.join(RECEIPT), &receipt_json, false)?;
    Ok(Staged {
        _staging: staging,
        root,
        manifest: listing.manifest,
    })
}

/// Renames a staged package into place; `None` when a concurrent zoo
/// installed that exact version meanwhile (unless `force`: then the staged
/// copy replaces it).
fn commit_one(
    store: &Store,
    entry: &IndexEntry,
    staged: Staged,
    force: bool,
) -> Result<Option<InstalledPackage>> {
    let _lock = store.lock_install(&entry.name, &entry.vers)?;
    if !force && already_installed(store, entry).is_some() {
        return Ok(None);
    }
    let target = store.package_dir(&entry.name, &entry.vers);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).at("creating", parent)?;
    }
    replace_dir(store, &staged.root, &target)?;
    Ok(Some(InstalledPackage {
        name: zoo_format::normalize_name(&entry.name),
        version: entry.vers.clone(),
        dir: target,
    }))
}

/// The archive's `zoo.toml` must say what the index says: the same name,
/// version, kind and dependencies. Otherwise the index (or the archive it
/// points at) was changed, and resolution was done on false information.
fn check_manifest_matches(
    label: &str,
    manifest: &zoo_format::Manifest,
    entry: &IndexEntry,
) -> Result<()> {
    let from_archive = IndexEntry::from_manifest(manifest, entry.archive.clone(), Vec::new());
    let mismatch = |field: &str, archive: String, index: String| {
        Err(Error::Format(format!(
            "{label}: the archive's zoo.toml has {field} {archive} but the registry index says {index}"
        )))
    };
    if zoo_format::normalize_name(&from_archive.name) != zoo_format::normalize_name(&entry.name) {
        return mismatch("name", from_archive.name, entry.name.clone());
    }
    if from_archive.vers != entry.vers {
        return mismatch(
            "version",
            from_archive.vers.to_string(),
            entry.vers.to_string(),
        );
    }
    if from_archive.kind != entry.kind {
        return mismatch(
            "kind",
            format!("{:?}", from_archive.kind),
            format!("{:?}", entry.kind),
        );
    }
    let deps = |deps: &[zoo_format::index::IndexDep]| {
        let mut list: Vec<String> = deps
            .iter()
            .map(|d| format!("{} {}", zoo_format::normalize_name(&d.name), d.req))
            .collect();
        list.sort();
        list.join(", ")
    };
    if deps(&from_archive.deps) != deps(&entry.deps) {
        return mismatch(
            "dependencies",
            format!("[{}]", deps(&from_archive.deps)),
            format!("[{}]", deps(&entry.deps)),
        );
    }
    Ok(())
}

/// Checks size (always) and sha256 (when `rehash`) of an installed file.
fn verify_file(label: &str, path: &Path, file: &FileEntry, rehash: bool) -> Result<()> {
    let size = std::fs::metadata(path).at("reading", path)?.len();
    let actual = if rehash {
        hash_file(path)?.0
    } else {
        file.sha256.clone()
    };
    if size != file.size || actual != file.sha256 {
        return Err(Error::Checksum {
            package: label.to_string(),
            file: file.path.clone(),
            expected: file.sha256.clone(),
            actual,
            expected_size: file.size,
            actual_size: size,
        });
    }
    Ok(())
}

/// Renames `from` to `to`; an existing `to` (an incomplete older install) is
/// moved aside first and deleted afterwards.
fn replace_dir(store: &Store, from: &Path, to: &Path) -> Result<()> {
    let mut old: Option<PathBuf> = None;
    if to.exists() {
        let trash = store
            .tmp_dir()
            .join(format!("trash-{}", fsutil::unique_suffix()));
        std::fs::rename(to, &trash).at("moving aside", to)?;
        old = Some(trash);
    }
    std::fs::rename(from, to).at("renaming into", to)?;
    if let Some(trash) = old {
        fsutil::remove_dir_all_if_exists(&trash)?;
    }
    Ok(())
}
