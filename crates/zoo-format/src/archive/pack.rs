//! Packing a package directory into a deterministic `.zoo` archive.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;

use flate2::Compression;

use super::{ArchiveError, EXTENSION, EXTERNAL_THRESHOLD, FILES_JSON, FileEntry, FileList};
use crate::checksum::sha256_hex;
use crate::manifest::{GoldenArray, MANIFEST_FILE, Manifest};
use crate::relpath::validate_rel_path;

/// Fixed gzip level: part of what makes archives byte-for-byte reproducible.
const GZIP_LEVEL: u32 = 6;
/// How to pack.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// Files at least this large become external blobs (weights always do).
    pub external_threshold: u64,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            external_threshold: EXTERNAL_THRESHOLD,
        }
    }
}

/// A packed archive, with what was learnt about the package on the way.
#[derive(Debug, Clone)]
pub struct Packed {
    pub manifest: Manifest,
    /// The `.zoo` archive.
    pub bytes: Vec<u8>,
    /// sha256 of `bytes`.
    pub sha256: String,
    pub size: u64,
    /// Every file of the package, sorted by path (as in `.zoo/files.json`).
    pub files: Vec<FileEntry>,
}

impl Packed {
    /// Files stored outside the archive, which `zoo publish` uploads as blobs.
    pub fn external_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(|f| f.external)
    }

    /// The version's whole index entry: what the registry lists and what a
    /// whole-entry signature covers.
    pub fn index_entry(&self) -> crate::index::IndexEntry {
        let archive = crate::index::ArchiveRef {
            sha256: self.sha256.clone(),
            size: self.size,
        };
        crate::index::IndexEntry::from_manifest(&self.manifest, archive, self.files.clone())
    }

    /// `NAME-VERSION.zoo`.
    pub fn file_name(&self) -> String {
        archive_file_name(&self.manifest)
    }

    /// Writes the archive to `path` atomically (temp file in the same
    /// directory, fsync, rename), so readers never see half an archive.
    pub fn write_to(&self, path: &Path) -> Result<(), ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&self.bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io_err)
    }
}

/// `NAME-VERSION.zoo` for a manifest.
pub fn archive_file_name(manifest: &Manifest) -> String {
    format!(
        "{}-{}.{EXTENSION}",
        manifest.package.name, manifest.package.version
    )
}

/// Packs the package in `dir` (which must hold a valid `zoo.toml`).
///
/// Skipped: every file or directory whose name starts with `.` (`.git`,
/// editor files, and the reserved `.zoo/`) at any depth, and a top-level
/// `target/` (build output), package archives (`*.zoo` files, such as the
/// one `zoo package` writes here), and weights made at install from
/// `[[model.sources]]`. Symlinks, special files and non-UTF-8 names are
/// errors, as are two paths that differ only in case (they would collide on
/// case-insensitive file systems).
pub fn pack(dir: &Path, options: &PackOptions) -> Result<Packed, ArchiveError> {
    let manifest = Manifest::load(dir)?;
    let weights: HashSet<&str> = manifest
        .model
        .iter()
        .flat_map(|m| m.weights.iter().map(String::as_str))
        .collect();

    let mut paths = Vec::new();
    collect_files(dir, dir, &mut paths)?;
    // Weights made at install time from [[model.sources]] are never packed,
    // even when a local conversion left them in the folder.
    paths.retain(|p| !manifest.is_produced(p));
    paths.sort();
    let collected: HashSet<&str> = paths.iter().map(String::as_str).collect();
    for (field, path) in manifest.referenced_files() {
        if !collected.contains(path) {
            return Err(ArchiveError::Package {
                path: dir.join(path),
                reason: format!(
                    "named by `{field}` in zoo.toml but left out of packages (names starting \
                     with `.`, `*.zoo` archives and a top-level `target/` are never packed)"
                ),
            });
        }
    }
    check_builtin_name(dir, &manifest)?;
    check_golden_members(dir, &manifest)?;
    let mut lower = HashMap::new();
    for path in &paths {
        if let Some(other) = lower.insert(path.to_lowercase(), path) {
            return Err(ArchiveError::Package {
                path: dir.to_path_buf(),
                reason: format!("`{other}` and `{path}` differ only in case"),
            });
        }
    }

    let mut files = Vec::with_capacity(paths.len());
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for rel in &paths {
        let full = dir.join(rel);
        let io_err = |source| ArchiveError::Io {
            path: full.clone(),
            source,
        };
        let meta_size = std::fs::metadata(&full).map_err(io_err)?.len();
        let must_be_external = weights.contains(rel.as_str()) && rel != MANIFEST_FILE;
        if !must_be_external && (meta_size < options.external_threshold || rel == MANIFEST_FILE) {
            let bytes = std::fs::read(&full).map_err(io_err)?;
            files.push(FileEntry {
                path: rel.clone(),
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
                external: false,
            });
            contents.insert(rel.clone(), bytes);
        } else {
            let (sha256, size) = crate::checksum::sha256_file(&full).map_err(io_err)?;
            files.push(FileEntry {
                path: rel.clone(),
                size,
                sha256,
                external: true,
            });
        }
    }

    let listing = FileList {
        files: files.clone(),
    };
    let mut listing_json =
        serde_json::to_vec_pretty(&listing).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    listing_json.push(b'\n');

    let bytes = write_tar_gz(&listing_json, &contents).map_err(|source| ArchiveError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(Packed {
        manifest,
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
        bytes,
        files,
    })
}

/// A built-in architecture this zoo does not know would publish a version
/// that no `zoo run` can load, and versions are immutable.
fn check_builtin_name(dir: &Path, manifest: &Manifest) -> Result<(), ArchiveError> {
    let Some(model) = &manifest.model else {
        return Ok(());
    };
    match &model.architecture {
        crate::manifest::Architecture::Builtin { name, .. }
            if !crate::manifest::BUILTIN_ARCHITECTURES.contains(&name.as_str()) =>
        {
            Err(ArchiveError::Package {
                path: dir.join(crate::manifest::MANIFEST_FILE),
                reason: format!(
                    "`model.architecture.builtin = {name:?}` is not a built-in architecture: \
                     expected one of {}",
                    crate::manifest::BUILTIN_ARCHITECTURES.join(", ")
                ),
            })
        }
        _ => Ok(()),
    }
}

/// The golden file's arrays must be `inputs/NAME` or `outputs/NAME`, with at
/// least one of each, and its inputs exactly the model's declared inputs:
/// otherwise `zoo verify` would fail on every user's machine after install.
/// Only the zip directory is read (no tensors: this crate is torch-free).
fn check_golden_members(dir: &Path, manifest: &Manifest) -> Result<(), ArchiveError> {
    let Some(model) = &manifest.model else {
        return Ok(());
    };
    let Some(golden) = &model.golden else {
        return Ok(());
    };
    let path = dir.join(&golden.file);
    let refuse = |reason: String| ArchiveError::Package {
        path: path.clone(),
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|source| ArchiveError::Io {
        path: path.clone(),
        source,
    })?;
    let archive = zip::ZipArchive::new(file).map_err(|e| {
        refuse(format!(
            "`model.golden.file` is not a readable npz (zip): {e}"
        ))
    })?;
    let mut inputs = BTreeSet::new();
    let mut outputs = 0;
    for member in archive.file_names() {
        let name = member.strip_suffix(".npy").unwrap_or(member);
        match GoldenArray::parse(name) {
            Some(GoldenArray::Input(input)) => {
                inputs.insert(input.to_string());
            }
            Some(GoldenArray::Output(_)) => outputs += 1,
            None => {
                return Err(refuse(format!(
                    "array `{name}` is neither inputs/NAME nor outputs/NAME"
                )));
            }
        }
    }
    if inputs.is_empty() || outputs == 0 {
        return Err(refuse(
            "needs at least one inputs/NAME and one outputs/NAME array".to_string(),
        ));
    }
    if model.inputs.is_empty() {
        return Ok(());
    }
    let declared: BTreeSet<String> = model.inputs.iter().map(|i| i.name.clone()).collect();
    if inputs != declared {
        let list = |names: &BTreeSet<String>| {
            names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(refuse(format!(
            "holds inputs [{}] but zoo.toml's [[model.inputs]] declares [{}]; \
             regenerate it (zoo import, cargo xtask train) or fix the names",
            list(&inputs),
            list(&declared)
        )));
    }
    Ok(())
}

/// Recursively lists the files under `dir` as `/`-separated paths relative to `root`.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), ArchiveError> {
    let io_err = |source| ArchiveError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(ArchiveError::Package {
                path,
                reason: "the file name is not valid UTF-8".into(),
            });
        };
        if name.starts_with('.') || (dir == root && name == "target") {
            continue;
        }
        // Package archives (`zoo package` writes NAME-VERSION.zoo into the
        // folder by default) are never content: packing one would put each
        // earlier archive inside the next.
        if name.ends_with(&format!(".{EXTENSION}")) && !entry.path().is_dir() {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .map_err(|_| ArchiveError::Package {
                path: path.clone(),
                reason: "outside the package directory".into(),
            })?
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let file_type = entry.file_type().map_err(|source| ArchiveError::Io {
            path: path.clone(),
            source,
        })?;
        if file_type.is_dir() {
            collect_files(root, &path, out)?;
        } else if file_type.is_file() {
            validate_rel_path(&rel).map_err(|reason| ArchiveError::Package {
                path: path.clone(),
                reason,
            })?;
            out.push(rel);
        } else {
            let what = if file_type.is_symlink() {
                "a symlink"
            } else {
                "not a regular file"
            };
            return Err(ArchiveError::Package {
                path,
                reason: format!("{what}; packages hold only regular files and directories"),
            });
        }
    }
    Ok(())
}

/// Writes the deterministic tar.gz: listing, manifest, then the rest by path.
fn write_tar_gz(listing_json: &[u8], contents: &BTreeMap<String, Vec<u8>>) -> io::Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new().write(Vec::new(), Compression::new(GZIP_LEVEL));
    let mut tar = tar::Builder::new(gz);
    append_file(&mut tar, FILES_JSON, listing_json)?;
    if let Some(manifest) = contents.get(MANIFEST_FILE) {
        append_file(&mut tar, MANIFEST_FILE, manifest)?;
    }
    for (path, bytes) in contents {
        if path != MANIFEST_FILE {
            append_file(&mut tar, path, bytes)?;
        }
    }
    tar.into_inner()?.finish()
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    tar.append_data(&mut header, path, bytes)
}
