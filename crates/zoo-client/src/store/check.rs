//! `zoo cache verify`'s check of installed packages: each version directory
//! must be a complete install (a receipt naming it), and every file the
//! package's archive lists must be there with its size and sha256. The
//! listing comes from the archive blob the receipt names, so nothing extra
//! is recorded at install time.

use std::collections::BTreeSet;
use std::path::Path;

use super::{BROKEN_MARKER, RECEIPT, Receipt, Store, hash_file};
use crate::error::{IoContext, Result};
use zoo_format::checksum::Sha256Digest;

/// One damaged or incomplete installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenPackage {
    /// `packages/<name>/<version>` relative to ZOO_HOME.
    pub dir: String,
    /// The package name and version, from the directory's names.
    pub name: String,
    pub version: String,
    pub problem: String,
}

impl BrokenPackage {
    /// The command that repairs it.
    pub fn repair(&self) -> String {
        format!("zoo install {}@={}", self.name, self.version)
    }
}

/// Checks every directory under `packages/`. `verified_blobs` are blobs
/// just re-hashed successfully: files hard-linked to them are not hashed
/// again. Returns how many packages were checked and what is broken.
pub(super) fn check_installed(
    store: &Store,
    verified_blobs: &BTreeSet<String>,
) -> Result<(usize, Vec<BrokenPackage>)> {
    let root = store.packages_dir();
    let mut checked = 0;
    let mut broken = Vec::new();
    let names = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, broken)),
        Err(e) => return Err(e).at("reading", &root),
    };
    for name in names {
        let name_dir = name.at("reading", &root)?.path();
        if !name_dir.is_dir() {
            continue;
        }
        for version in std::fs::read_dir(&name_dir).at("reading", &name_dir)? {
            let dir = version.at("reading", &name_dir)?.path();
            checked += 1;
            match check_one(store, &dir, verified_blobs) {
                Err(problem) => {
                    let rel = dir.strip_prefix(store.home()).unwrap_or(&dir);
                    let file_name = |p: &Path| {
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    };
                    broken.push(BrokenPackage {
                        dir: rel.display().to_string(),
                        name: file_name(&name_dir),
                        version: file_name(&dir),
                        problem,
                    });
                }
                Ok(()) => {
                    // Intact now (repaired by hand, or the blob is back):
                    // the old mark goes.
                    let marker = dir.join(BROKEN_MARKER);
                    if marker.exists() {
                        std::fs::remove_file(&marker).at("removing", &marker)?;
                    }
                }
            }
        }
    }
    broken.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok((checked, broken))
}

/// The first problem of one installed version directory.
fn check_one(
    store: &Store,
    dir: &Path,
    verified_blobs: &BTreeSet<String>,
) -> std::result::Result<(), String> {
    let (Some(name), Some(version)) = (
        dir.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str()),
        dir.file_name().and_then(|n| n.to_str()),
    ) else {
        return Err("the directory name is not UTF-8".into());
    };
    let receipt_path = dir.join(RECEIPT);
    let text = std::fs::read_to_string(&receipt_path)
        .map_err(|e| format!("incomplete install: cannot read {RECEIPT}: {e}"))?;
    let receipt: Receipt =
        serde_json::from_str(&text).map_err(|e| format!("{RECEIPT} is not valid: {e}"))?;
    if receipt.name != name || receipt.version != version {
        return Err(format!(
            "{RECEIPT} names {}@{}, not {name}@{version}",
            receipt.name, receipt.version
        ));
    }
    let archive_sha256 = Sha256Digest::parse(&receipt.archive_sha256)
        .map_err(|e| format!("{RECEIPT}: `archive_sha256`: {e}"))?;
    let archive_path = store.blob_path(&archive_sha256);
    let archive = std::fs::File::open(&archive_path).map_err(|e| {
        format!(
            "its archive blob {} cannot be opened: {e}",
            receipt.archive_sha256
        )
    })?;
    let listing = zoo_format::archive::read_listing(
        std::io::BufReader::new(archive),
        &zoo_format::archive::Limits::default(),
    )
    .map_err(|e| format!("its archive blob {}: {e}", receipt.archive_sha256))?;
    let external: Vec<String> = listing.external_files().map(|f| f.sha256.clone()).collect();
    if external != receipt.blobs {
        return Err(format!(
            "{RECEIPT} lists other blobs than the archive's external files"
        ));
    }
    // A blob it uses that is gone was quarantined (or deleted by hand): the
    // package cannot be reinstalled from the store, so it counts as broken.
    for sha in &receipt.blobs {
        let present = Sha256Digest::parse(sha).is_ok_and(|d| store.has_blob(&d));
        if !present {
            return Err(format!(
                "its blob {sha} is not in the store (corrupt and quarantined, or removed)"
            ));
        }
    }
    for file in &listing.files {
        let path = dir.join(&file.path);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("`{}` is missing: {e}", file.path))?;
        if !meta.is_file() {
            return Err(format!("`{}` is not a regular file", file.path));
        }
        if meta.len() != file.size {
            return Err(format!(
                "`{}` is {} bytes, the package lists {}",
                file.path,
                meta.len(),
                file.size
            ));
        }
        if file.external
            && verified_blobs.contains(&file.sha256)
            && let Ok(digest) = Sha256Digest::parse(&file.sha256)
            && same_file(&path, &store.blob_path(&digest))
        {
            continue; // the very blob that was just re-hashed
        }
        let (actual, _) = hash_file(&path).map_err(|e| e.to_string())?;
        if actual != file.sha256 {
            return Err(format!(
                "`{}` hashes to {actual}, the package lists {}",
                file.path, file.sha256
            ));
        }
    }
    Ok(())
}

/// Whether two paths are hard links to one file.
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &Path, _: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoo_format::archive::{PackOptions, pack};

    /// Installs a two-file package by hand the way `install` lays it out:
    /// the archive and the external file as blobs, the files, the receipt.
    fn install_by_hand(store: &Store) -> std::path::PathBuf {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(
            src.path().join("zoo.toml"),
            "[package]\nname = \"pkg\"\nversion = \"1.0.0\"\nkind = \"function\"\n\
             description = \"d\"\nlicense = \"MIT\"\n",
        )
        .unwrap();
        std::fs::write(src.path().join("big.bin"), vec![7u8; 64]).unwrap();
        std::fs::write(src.path().join("notes.txt"), b"hello").unwrap();
        let options = PackOptions {
            external_threshold: 32,
        };
        let packed = pack(src.path(), &options).unwrap();
        let put_blob = |sha: &str, bytes: &[u8]| {
            let path = store.blob_path(&Sha256Digest::parse(sha).unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        put_blob(&packed.sha256, &packed.bytes);
        let dir = store.package_dir("pkg", &semver::Version::new(1, 0, 0));
        std::fs::create_dir_all(dir.join(".zoo")).unwrap();
        let mut blobs = Vec::new();
        for file in &packed.files {
            let bytes = std::fs::read(src.path().join(&file.path)).unwrap();
            if file.external {
                put_blob(&file.sha256, &bytes);
                let digest = Sha256Digest::parse(&file.sha256).unwrap();
                std::fs::hard_link(store.blob_path(&digest), dir.join(&file.path)).unwrap();
                blobs.push(file.sha256.clone());
            } else {
                std::fs::write(dir.join(&file.path), bytes).unwrap();
            }
        }
        assert_eq!(blobs.len(), 1, "big.bin is external");
        let receipt = Receipt {
            name: "pkg".into(),
            version: "1.0.0".into(),
            archive_sha256: packed.sha256.clone(),
            blobs,
        };
        std::fs::write(dir.join(RECEIPT), serde_json::to_vec(&receipt).unwrap()).unwrap();
        dir
    }

    #[test]
    fn complete_installs_pass_and_damage_is_named() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let dir = install_by_hand(&store);
        let report = store.verify().unwrap();
        assert_eq!((report.packages, report.broken.clone()), (1, vec![]));
        assert_eq!(report.corrupt.len(), 0);

        std::fs::write(dir.join("notes.txt"), b"HELLO").unwrap();
        let report = store.verify().unwrap();
        assert_eq!(report.broken.len(), 1);
        assert!(
            report.broken[0].problem.contains("`notes.txt` hashes to"),
            "{:?}",
            report.broken
        );
        assert_eq!(report.broken[0].dir, "packages/pkg/1.0.0");

        std::fs::write(dir.join("notes.txt"), b"hi").unwrap();
        let report = store.verify().unwrap();
        assert!(
            report.broken[0].problem.contains("is 2 bytes"),
            "{:?}",
            report.broken
        );

        std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
        std::fs::remove_file(dir.join(RECEIPT)).unwrap();
        let report = store.verify().unwrap();
        assert!(
            report.broken[0].problem.contains("incomplete install"),
            "{:?}",
            report.broken
        );
    }

    #[test]
    fn a_package_using_a_quarantined_blob_is_marked_broken_until_reinstalled() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let dir = install_by_hand(&store);
        let version = semver::Version::new(1, 0, 0);
        store.check_intact("pkg", &version).unwrap();

        // The external blob (hard-linked into the package) goes bad.
        std::fs::write(dir.join("big.bin"), vec![8u8; 64]).unwrap();
        let report = store.verify().unwrap();
        assert_eq!(report.corrupt.len(), 1);
        assert_eq!(report.broken.len(), 1, "{:?}", report.broken);
        let broken = &report.broken[0];
        assert!(broken.problem.contains("not in the store"), "{broken:?}");
        assert_eq!(broken.repair(), "zoo install pkg@=1.0.0");
        assert!(dir.join(BROKEN_MARKER).is_file());
        let err = store.check_intact("PKG", &version).unwrap_err().to_string();
        assert!(err.contains("pkg@1.0.0 is broken"), "{err}");
        assert!(err.contains("zoo install pkg@=1.0.0"), "{err}");
        // Still broken on the next run: the blob stays gone.
        assert_eq!(store.verify().unwrap().broken.len(), 1);

        // A reinstall replaces the directory (and so the mark).
        std::fs::remove_dir_all(&dir).unwrap();
        install_by_hand(&store);
        store.check_intact("pkg", &version).unwrap();
        let report = store.verify().unwrap();
        assert!(report.broken.is_empty() && report.corrupt.is_empty());

        // A mark on a package that checks out intact is removed.
        std::fs::write(dir.join(BROKEN_MARKER), "old").unwrap();
        assert!(store.check_intact("pkg", &version).is_err());
        assert!(store.verify().unwrap().broken.is_empty());
        assert!(!dir.join(BROKEN_MARKER).exists());
        store.check_intact("pkg", &version).unwrap();
    }
}
