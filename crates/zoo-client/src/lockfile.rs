//! `zoo.lock`: the exact versions (and archive hashes) a project installed,
//! so a later install gets the same bytes even if a version was yanked.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const LOCKFILE: &str = "zoo.lock";

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: semver::Version,
    pub archive_sha256: String,
}

/// The whole lockfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
}

impl Lockfile {
    /// Reads a lockfile; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Lockfile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at("reading", path),
        };
        // An empty file (or only comments) pins nothing yet.
        if text
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
        {
            return Ok(Some(Lockfile {
                version: 1,
                packages: Vec::new(),
            }));
        }
        let lock: Lockfile = toml::from_str(&text).map_err(|e| Error::Parse {
            what: path.display().to_string(),
            message: zoo_format::manifest::toml_error_line(&text, &e),
        })?;
        if lock.version != 1 {
            return Err(Error::Invalid(format!(
                "{}: lockfile version {} is not supported (expected 1)",
                path.display(),
                lock.version
            )));
        }
        Ok(Some(lock))
    }

    /// Writes the lockfile atomically, packages sorted by name.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut sorted = self.clone();
        sorted.version = 1;
        sorted
            .packages
            .sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        let body = toml::to_string(&sorted).map_err(|e| Error::Invalid(e.to_string()))?;
        let text = format!("# Written by `zoo install`; pins exact package versions.\n{body}");
        fsutil::write_atomic(path, text.as_bytes(), false)
    }

    /// Canonical name → pinned version.
    pub fn pins(&self) -> HashMap<String, semver::Version> {
        self.packages
            .iter()
            .map(|p| (zoo_format::normalize_name(&p.name), p.version.clone()))
            .collect()
    }

    /// The pinned archive hash of `name@version`, if locked.
    pub fn archive_sha256(&self, name: &str, version: &semver::Version) -> Option<&str> {
        let name = zoo_format::normalize_name(name);
        self.packages
            .iter()
            .find(|p| {
                zoo_format::normalize_name(&p.name) == name
                    && zoo_format::version::same_version(&p.version, version)
            })
            .map(|p| p.archive_sha256.as_str())
    }

    /// Adds or replaces the pin of a package.
    pub fn pin(&mut self, package: LockedPackage) {
        let name = zoo_format::normalize_name(&package.name);
        self.packages
            .retain(|p| zoo_format::normalize_name(&p.name) != name);
        self.packages.push(package);
    }
}

/// Which lockfile a command in `cwd` uses: `--lockfile`, else `cwd/zoo.lock`
/// when it exists or `cwd` has a `zoo.toml`; `None` outside a project.
pub fn project_lockfile(explicit: Option<&Path>, cwd: &Path) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let candidate = cwd.join(LOCKFILE);
    (candidate.is_file() || cwd.join("zoo.toml").is_file()).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_lockfile_pins_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCKFILE);
        for text in ["", "\n  \n", "# nothing pinned yet\n"] {
            std::fs::write(&path, text).unwrap();
            let lock = Lockfile::load(&path).unwrap().unwrap();
            assert!(lock.packages.is_empty() && lock.version == 1, "{text:?}");
        }
        std::fs::write(&path, "version = 1\n[[package]]\nname = 3\n").unwrap();
        assert!(Lockfile::load(&path).is_err());
    }

    #[test]
    fn round_trips_and_pins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCKFILE);
        assert_eq!(Lockfile::load(&path).unwrap(), None);
        let mut lock = Lockfile::default();
        lock.pin(LockedPackage {
            name: "b".into(),
            version: "1.0.0".parse().unwrap(),
            archive_sha256: "00".repeat(32),
        });
        lock.pin(LockedPackage {
            name: "a".into(),
            version: "0.1.0".parse().unwrap(),
            archive_sha256: "11".repeat(32),
        });
        lock.save(&path).unwrap();
        let back = Lockfile::load(&path).unwrap().unwrap();
        assert_eq!(back.packages[0].name, "a");
        assert_eq!(back.pins()["b"], "1.0.0".parse().unwrap());
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("archive-sha256")
        );
    }
}
