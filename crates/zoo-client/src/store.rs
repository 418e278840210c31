//! The local store under ZOO_HOME:
//!
//! ```text
//! blobs/sha256/ab/abcdef…          content-addressed blobs (archives, weights)
//! blobs/sha256/ab/abcdef….partial  an unfinished download (resumed with Range)
//! packages/<name>/<version>/       installed packages (renamed into place)
//! index/…                          cached index documents with their ETags
//! tmp/stage-*                      staging dirs (with a lock while alive)
//! locks/                           per-blob and per-install lock files
//! quarantine/                      blobs `zoo cache verify` found corrupt
//! ```
//!
//! A package `cache verify` finds damaged (a file changed, or a blob it uses
//! quarantined) gets a marker, `packages/<name>/<version>/.zoo/broken`
//! holding the problem: `zoo run` refuses it and `zoo install` repairs it.
//!
//! Blobs are shared by every version that lists them. Installs take the
//! store lock shared; `cache gc` and `cache verify` take it exclusively, so
//! they never remove a blob an install is about to link.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, FileLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use zoo_format::checksum::Sha256Digest;

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    pub name: String,
    pub version: semver::Version,
    pub dir: PathBuf,
}

/// What an install records next to the package (`.zoo/installed.json`), so
/// `cache gc` knows which blobs are in use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    pub name: String,
    pub version: String,
    pub archive_sha256: String,
    /// sha256 of every external file (blobs linked into the package), and
    /// of `[[model.sources]]` upstream files and the weights made from them.
    pub blobs: Vec<String>,
}

/// The receipt's path inside an installed package.
pub const RECEIPT: &str = ".zoo/installed.json";

/// The broken marker's path inside an installed package (written by
/// `cache verify`, removed by a reinstall, which replaces the directory).
pub const BROKEN_MARKER: &str = ".zoo/broken";

/// The store rooted at ZOO_HOME.
#[derive(Debug, Clone)]
pub struct Store {
    home: PathBuf,
}

mod check;
pub use check::BrokenPackage;

/// What `cache verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: usize,
    pub bytes: u64,
    /// (expected sha256, actual sha256, where the blob was moved)
    pub corrupt: Vec<(String, String, PathBuf)>,
    /// Installed package directories checked.
    pub packages: usize,
    /// Incomplete or damaged installed packages (left in place).
    pub broken: Vec<BrokenPackage>,
}

/// What `cache gc` removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// The blobs removed (with `dry_run`: that would be removed).
    pub removed: Vec<String>,
    /// Unfinished downloads removed (an interrupted install's `.partial`
    /// files, which only a retry of that install would resume).
    pub partial: Vec<String>,
    /// Bytes of both.
    pub bytes: u64,
    /// Nothing was removed: `removed` is what a real run would remove.
    pub dry_run: bool,
}

/// sha256 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).at("opening", path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).at("reading", path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Whether `s` looks like a lowercase hex sha256.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// Opens (and creates) the store at `home`.
    pub fn open(home: impl Into<PathBuf>) -> Result<Store> {
        let home = home.into();
        std::fs::create_dir_all(&home).at("creating", &home)?;
        Ok(Store { home })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    fn blobs_dir(&self) -> PathBuf {
        self.home.join("blobs").join("sha256")
    }

    /// Where the blob with this sha256 lives once complete. Only a checked
    /// [`Sha256Digest`] is accepted, so no string from a registry becomes a
    /// path unchecked.
    pub fn blob_path(&self, sha256: &Sha256Digest) -> PathBuf {
        self.blobs_dir()
            .join(sha256.fan_out())
            .join(sha256.as_str())
    }

    /// Where an unfinished download of this blob lives.
    pub fn partial_path(&self, sha256: &Sha256Digest) -> PathBuf {
        let mut path = self.blob_path(sha256).into_os_string();
        path.push(".partial");
        PathBuf::from(path)
    }

    pub fn has_blob(&self, sha256: &Sha256Digest) -> bool {
        self.blob_path(sha256).is_file()
    }

    pub fn index_dir(&self) -> PathBuf {
        self.home.join("index")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.home.join("tmp")
    }

    pub fn packages_dir(&self) -> PathBuf {
        self.home.join("packages")
    }

    pub fn package_dir(&self, name: &str, version: &semver::Version) -> PathBuf {
        self.packages_dir()
            .join(zoo_format::normalize_name(name))
            .join(version.to_string())
    }

    fn locks_dir(&self) -> PathBuf {
        self.home.join("locks")
    }

    /// Held while a blob is downloaded, so two processes never write one file.
    pub fn lock_blob(&self, sha256: &Sha256Digest) -> Result<FileLock> {
        FileLock::acquire(&self.locks_dir().join(format!("blob-{sha256}.lock")))
    }

    /// Held while a package version is installed or removed.
    pub fn lock_install(&self, name: &str, version: &semver::Version) -> Result<FileLock> {
        let name = zoo_format::normalize_name(name);
        FileLock::acquire(
            &self
                .locks_dir()
                .join(format!("install-{name}-{version}.lock")),
        )
    }

    /// Shared by installs; exclusive for gc/verify (see the module docs).
    pub fn lock_store_shared(&self) -> Result<StoreLock> {
        let path = self.locks_dir().join("store.lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).at("creating", dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at("opening lock file", &path)?;
        file.lock_shared().at("locking", &path)?;
        Ok(StoreLock { _file: file })
    }

    /// Exclusive store lock (gc, verify).
    pub fn lock_store_exclusive(&self) -> Result<FileLock> {
        FileLock::acquire(&self.locks_dir().join("store.lock"))
    }

    /// Installed package directories, highest version last per name.
    pub fn list_installed(&self) -> Result<Vec<InstalledPackage>> {
        let mut found = Vec::new();
        let root = self.packages_dir();
        let names = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e).at("reading", &root),
        };
        for name_entry in names {
            let name_entry = name_entry.at("reading", &root)?;
            let Some(name) = name_entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let name_dir = name_entry.path();
            if !name_dir.is_dir() {
                continue;
            }
            for version_entry in std::fs::read_dir(&name_dir).at("reading", &name_dir)? {
                let version_entry = version_entry.at("reading", &name_dir)?;
                let dir = version_entry.path();
                let parsed = version_entry
                    .file_name()
                    .to_str()
                    .and_then(|v| semver::Version::parse(v).ok());
                if let Some(version) = parsed
                    && dir.join(RECEIPT).is_file()
                {
                    found.push(InstalledPackage {
                        name: name.clone(),
                        version,
                        dir,
                    });
                }
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        Ok(found)
    }

    /// The highest installed version of `name` that matches `req`.
    pub fn find_installed(&self, name: &str, req: &semver::VersionReq) -> Result<InstalledPackage> {
        let wanted = zoo_format::normalize_name(name);
        let all = self.list_installed()?;
        let versions: Vec<&InstalledPackage> = all.iter().filter(|p| p.name == wanted).collect();
        if let Some(best) = versions
            .iter()
            .filter(|p| req.matches(&p.version))
            .max_by(|a, b| a.version.cmp(&b.version))
        {
            return Ok((*best).clone());
        }
        let home = self.home.display();
        if versions.is_empty() {
            Err(Error::NotInstalled(format!(
                "package `{name}` is not installed in {home}: run `zoo install {name}`"
            )))
        } else {
            let have: Vec<String> = versions.iter().map(|p| p.version.to_string()).collect();
            Err(Error::NotInstalled(format!(
                "no installed version of `{name}` matches {req} (installed in {home}: {}); run `zoo install '{name}@{req}'`",
                have.join(", ")
            )))
        }
    }

    /// The problem recorded for `name@version` by `cache verify`, if it is
    /// marked broken.
    pub fn broken_problem(&self, name: &str, version: &semver::Version) -> Option<String> {
        let marker = self.package_dir(name, version).join(BROKEN_MARKER);
        let text = std::fs::read_to_string(marker).ok()?;
        let text = text.trim();
        Some(if text.is_empty() {
            "marked broken".to_string()
        } else {
            text.to_string()
        })
    }

    /// Refuses an installed package that `cache verify` marked broken (or
    /// one that is not completely installed), naming the repair.
    pub fn check_intact(&self, name: &str, version: &semver::Version) -> Result<()> {
        let name = zoo_format::normalize_name(name);
        let broken = |problem: String| Error::Broken {
            name: name.clone(),
            version: version.to_string(),
            problem,
        };
        if let Some(problem) = self.broken_problem(&name, version) {
            return Err(broken(problem));
        }
        if !self.package_dir(&name, version).join(RECEIPT).is_file() {
            return Err(broken(format!("incomplete install: no {RECEIPT}")));
        }
        Ok(())
    }

    /// Marks an installed version directory broken (atomically: the marker
    /// is whole or absent).
    fn mark_broken(dir: &Path, problem: &str) -> Result<()> {
        fsutil::write_atomic(&dir.join(BROKEN_MARKER), problem.as_bytes(), false)
    }

    /// The receipt of an installed package.
    pub fn receipt(&self, package: &InstalledPackage) -> Result<Receipt> {
        let path = package.dir.join(RECEIPT);
        let text = std::fs::read_to_string(&path).at("reading", &path)?;
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            what: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Removes installed versions of `name` (all, or just `version`) and
    /// returns what was removed. The directory is first renamed into tmp/ so
    /// the removal is atomic for readers.
    pub fn uninstall(
        &self,
        name: &str,
        version: Option<&semver::Version>,
    ) -> Result<Vec<InstalledPackage>> {
        let wanted = zoo_format::normalize_name(name);
        let targets: Vec<InstalledPackage> = self
            .list_installed()?
            .into_iter()
            .filter(|p| {
                p.name == wanted
                    && version.is_none_or(|v| zoo_format::version::same_version(&p.version, v))
            })
            .collect();
        if targets.is_empty() {
            let what = match version {
                Some(v) => format!("{name}@{v}"),
                None => name.to_string(),
            };
            return Err(Error::NotInstalled(format!(
                "`{what}` is not installed in {}",
                self.home.display()
            )));
        }
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).at("creating", &tmp)?;
        for package in &targets {
            let _lock = self.lock_install(&package.name, &package.version)?;
            let trash = tmp.join(format!("trash-{}", fsutil::unique_suffix()));
            std::fs::rename(&package.dir, &trash).at("removing", &package.dir)?;
            fsutil::remove_dir_all_if_exists(&trash)?;
        }
        let name_dir = self.packages_dir().join(&wanted);
        let _ = std::fs::remove_dir(name_dir); // only succeeds when empty
        Ok(targets)
    }

    /// Every complete blob in the store (sha256, path).
    pub fn blobs(&self) -> Result<Vec<(String, PathBuf)>> {
        self.blob_files(|name| is_sha256(name).then(|| name.to_string()))
    }

    /// Every unfinished download in the store (sha256, path).
    pub fn partial_downloads(&self) -> Result<Vec<(String, PathBuf)>> {
        self.blob_files(|name| {
            let sha = name.strip_suffix(".partial")?;
            is_sha256(sha).then(|| sha.to_string())
        })
    }

    /// The files under blobs/ whose names `sha_of` turns into a sha256.
    fn blob_files(
        &self,
        sha_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        let root = self.blobs_dir();
        let fans = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e).at("reading", &root),
        };
        for fan in fans {
            let fan = fan.at("reading", &root)?.path();
            if !fan.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&fan).at("reading", &fan)? {
                let path = entry.at("reading", &fan)?.path();
                if let Some(sha) = path.file_name().and_then(|n| n.to_str()).and_then(&sha_of) {
                    found.push((sha, path));
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Re-hashes every blob (corrupt ones move to quarantine/), then checks
    /// every installed package against its archive's file listing and the
    /// store (every blob it uses must be there). Damaged packages are marked
    /// broken ([`BROKEN_MARKER`]); intact ones lose an old mark.
    pub fn verify(&self) -> Result<VerifyReport> {
        let _lock = self.lock_store_exclusive()?;
        let mut report = VerifyReport::default();
        let mut good = BTreeSet::new();
        for (expected, path) in self.blobs()? {
            let (actual, size) = hash_file(&path)?;
            report.checked += 1;
            report.bytes += size;
            if actual == expected {
                good.insert(expected);
            } else {
                let quarantine = self.home.join("quarantine");
                std::fs::create_dir_all(&quarantine).at("creating", &quarantine)?;
                let target = quarantine.join(format!("{expected}.{}", fsutil::unique_suffix()));
                std::fs::rename(&path, &target).at("quarantining", &path)?;
                report.corrupt.push((expected, actual, target));
            }
        }
        (report.packages, report.broken) = check::check_installed(self, &good)?;
        for broken in &report.broken {
            let dir = self.home.join(&broken.dir);
            if dir.is_dir() {
                Self::mark_broken(&dir, &broken.problem)?;
            }
        }
        Ok(report)
    }

    /// Removes blobs that no installed package references, unfinished
    /// downloads, and staging folders left by interrupted installs.
    pub fn gc(&self) -> Result<GcReport> {
        self.gc_with(false)
    }

    /// [`Store::gc`], or with `dry_run` only the report of what it would
    /// remove.
    pub fn gc_with(&self, dry_run: bool) -> Result<GcReport> {
        let _lock = self.lock_store_exclusive()?;
        let mut used = BTreeSet::new();
        for package in self.list_installed()? {
            let receipt = self.receipt(&package)?;
            used.insert(receipt.archive_sha256);
            used.extend(receipt.blobs);
        }
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };
        for (sha, path) in self.blobs()? {
            if !used.contains(&sha) {
                report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                if !dry_run {
                    std::fs::remove_file(&path).at("removing", &path)?;
                }
                report.removed.push(sha);
            }
        }
        // Installs hold the store lock shared, so none is writing these now.
        for (sha, path) in self.partial_downloads()? {
            report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                std::fs::remove_file(&path).at("removing", &path)?;
            }
            report.partial.push(sha);
        }
        if !dry_run {
            self.clean_stale_staging()?;
        }
        Ok(report)
    }

    /// Removes staging dirs left by crashed runs (their lock is free).
    pub fn clean_stale_staging(&self) -> Result<()> {
        let tmp = self.tmp_dir();
        let entries = match std::fs::read_dir(&tmp) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at("reading", &tmp),
        };
        for entry in entries {
            let path = entry.at("reading", &tmp)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if name.starts_with("trash-") {
                fsutil::remove_dir_all_if_exists(&path)?;
            } else if let Some(stem) = name.strip_suffix(".lock")
                && stem.starts_with("stage-")
                && let Some(lock) = FileLock::try_acquire(&path)?
            {
                fsutil::remove_dir_all_if_exists(&tmp.join(stem))?;
                let _ = std::fs::remove_file(lock.path());
            }
        }
        Ok(())
    }

    /// A new staging dir under tmp/, locked for as long as the guard lives.
    pub fn staging_dir(&self) -> Result<Staging> {
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).at("creating", &tmp)?;
        let name = format!("stage-{}", fsutil::unique_suffix());
        let lock = FileLock::acquire(&tmp.join(format!("{name}.lock")))?;
        let dir = tmp.join(name);
        std::fs::create_dir(&dir).at("creating", &dir)?;
        Ok(Staging {
            dir,
            lock: Some(lock),
        })
    }
}

/// A shared lock on the store (see [`Store::lock_store_shared`]).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// A staging directory; removed (with its lock file) when dropped unless it
/// was renamed away.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    lock: Option<FileLock>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fsutil::remove_dir_all_if_exists(&self.dir);
        if let Some(lock) = self.lock.take() {
            let path = lock.path().to_path_buf();
            let _ = std::fs::remove_file(path);
            drop(lock);
        }
    }
}

/// Installs for tests, here and in other modules.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;

    /// Installs `name@version` as its receipt alone (archive all `a`s, one
    /// blob all `b`s, no files); returns the package's folder.
    pub(crate) fn install(store: &Store, name: &str, version: &str) -> PathBuf {
        let dir = store.package_dir(name, &version.parse().unwrap());
        std::fs::create_dir_all(dir.join(".zoo")).unwrap();
        let receipt = Receipt {
            name: name.into(),
            version: version.into(),
            archive_sha256: "aa".repeat(32),
            blobs: vec!["bb".repeat(32)],
        };
        std::fs::write(dir.join(RECEIPT), serde_json::to_vec(&receipt).unwrap()).unwrap();
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_highest_matching_installed_version() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        fake::install(&store, "vgg16", "1.0.0");
        fake::install(&store, "vgg16", "1.2.0");
        fake::install(&store, "vgg16", "2.0.0");
        let found = store
            .find_installed("VGG16", &"^1".parse().unwrap())
            .unwrap();
        assert_eq!(found.version, semver::Version::new(1, 2, 0));
        assert_eq!(found.dir, home.path().join("packages/vgg16/1.2.0"));
        let none = store
            .find_installed("vgg16", &"^3".parse().unwrap())
            .unwrap_err();
        assert!(none.to_string().contains("1.0.0, 1.2.0, 2.0.0"), "{none}");
        let missing = store
            .find_installed("lstm", &semver::VersionReq::STAR)
            .unwrap_err();
        assert!(
            missing.to_string().contains("zoo install lstm"),
            "{missing}"
        );
    }

    #[test]
    fn gc_keeps_referenced_blobs_and_verify_quarantines_corrupt_ones() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        fake::install(&store, "a", "1.0.0");
        let good = zoo_format::checksum::sha256_hex(b"hello");
        let digest = |s: &str| Sha256Digest::parse(s).unwrap();
        for sha in ["aa".repeat(32), "bb".repeat(32), good.clone()] {
            let path = store.blob_path(&digest(&sha));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"hello").unwrap();
        }
        let report = store.verify().unwrap();
        assert_eq!(report.checked, 3);
        assert_eq!(report.corrupt.len(), 2);
        assert!(store.has_blob(&digest(&good)) && !store.has_blob(&digest(&"aa".repeat(32))));
        let dry = store.gc_with(true).unwrap();
        assert_eq!(dry.removed, vec![good.clone()]);
        assert!(
            dry.dry_run && store.has_blob(&digest(&good)),
            "a dry run removed"
        );
        let gc = store.gc().unwrap();
        assert_eq!(gc.removed, vec![good.clone()]);
        assert!(!store.has_blob(&digest(&good)));
    }

    #[test]
    fn gc_removes_unfinished_downloads_and_dead_staging() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let sha = Sha256Digest::parse(&"cc".repeat(32)).unwrap();
        let partial = store.partial_path(&sha);
        std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
        std::fs::write(&partial, b"half").unwrap();
        let stale = store.tmp_dir().join("stage-dead");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(store.tmp_dir().join("stage-dead.lock"), b"").unwrap();
        let dry = store.gc_with(true).unwrap();
        assert_eq!((dry.partial.clone(), dry.bytes), (vec!["cc".repeat(32)], 4));
        assert!(partial.exists() && stale.exists(), "a dry run removed");
        let gc = store.gc().unwrap();
        assert_eq!(gc.partial, vec!["cc".repeat(32)]);
        assert!(gc.removed.is_empty(), "a partial is not a blob");
        assert!(!partial.exists() && !stale.exists());
    }

    #[test]
    fn stale_staging_dirs_are_cleaned_but_live_ones_kept() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let live = store.staging_dir().unwrap();
        let stale = store.tmp_dir().join("stage-dead");
        std::fs::create_dir_all(stale.join("package")).unwrap();
        std::fs::write(store.tmp_dir().join("stage-dead.lock"), b"").unwrap();
        store.clean_stale_staging().unwrap();
        assert!(!stale.exists());
        assert!(live.dir.exists());
        let path = live.dir.clone();
        drop(live);
        assert!(!path.exists());
    }
}
