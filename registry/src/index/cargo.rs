//! Cargo's sparse index (`/cargo/index/`): lines rendered from the
//! database and mirrored as files under `DATA/cargo-index/` (the bytes a
//! static server would need to serve).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::db::Namespace;
use crate::db::cargo::CrateVersionRecord;
use crate::index::Mirror;

/// One line of a crate's index file (the Cargo book's "Registry Index").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexLine {
    pub name: String,
    pub vers: String,
    pub deps: Vec<IndexDep>,
    /// sha256 of the `.crate` file.
    pub cksum: String,
    pub features: BTreeMap<String, Vec<String>>,
    pub yanked: bool,
    pub links: Option<String>,
    /// 2 when `features2` is present (features using `dep:` or `?/`).
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
}

/// A dependency as the index states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDep {
    /// The name the dependent uses (its rename, if any).
    pub name: String,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    pub target: Option<String>,
    /// `normal`, `dev` or `build`.
    pub kind: String,
    /// The index URL of another registry; `None` means this one.
    pub registry: Option<String>,
    /// The real crate name when `name` is a rename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

/// Where a crate's index file lives below the index root: Cargo's layout on
/// the lowercase name (`_` and `-` are kept, unlike zoo's own index).
pub fn index_path(name: &str) -> String {
    zoo_format::cargo_index_path(name)
}

/// `config.json`: downloads at `{api}/api/v1/crates/{crate}/{version}/download`.
pub fn config_json(config: &Config) -> String {
    let base = config.base_url.trim_end_matches('/');
    let mut doc = serde_json::json!({
        "dl": format!("{base}/cargo/api/v1/crates"),
        "api": format!("{base}/cargo"),
    });
    if config.cargo_auth_required {
        doc["auth-required"] = serde_json::Value::Bool(true);
    }
    doc.to_string()
}

/// A crate's index file: its stored lines, in publication order, with the
/// yanked flags as currently recorded.
pub fn render(versions: &[CrateVersionRecord]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for version in versions {
        let mut line: IndexLine = serde_json::from_str(&version.index_line)?;
        line.yanked = version.yanked;
        out.push_str(&serde_json::to_string(&line)?);
        out.push('\n');
    }
    Ok(out)
}

/// The mirror under `DATA/cargo-index/` (or the bucket's `cargo-index/`).
#[derive(Debug, Clone)]
pub struct CargoIndexFiles {
    mirror: Mirror,
}

impl std::ops::Deref for CargoIndexFiles {
    type Target = Mirror;

    fn deref(&self) -> &Mirror {
        &self.mirror
    }
}

impl CargoIndexFiles {
    pub fn open(data_dir: &Path) -> io::Result<CargoIndexFiles> {
        CargoIndexFiles::open_in(data_dir, None)
    }

    /// With a bucket, documents go to the bucket instead of `DATA/cargo-index/`.
    pub fn open_in(
        data_dir: &Path,
        bucket: Option<crate::blob::s3::Bucket>,
    ) -> io::Result<CargoIndexFiles> {
        Ok(CargoIndexFiles {
            mirror: Mirror::open(data_dir, Namespace::Cargo, bucket)?,
        })
    }

    pub fn write_config(&self, config: &Config) -> io::Result<()> {
        self.mirror.write(
            "config.json",
            config_json(config).as_bytes(),
            "application/json",
        )
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn cargo_layout_keeps_underscores() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("Ab"), "2/ab");
        assert_eq!(index_path("a_b"), "3/a/a_b");
        assert_eq!(index_path("Peephole_Demo"), "pe/ep/peephole_demo");
    }

    #[test]
    fn config_names_downloads_api_and_auth() {
        let mut config = Config {
            data_dir: PathBuf::new(),
            base_url: "http://h:1/".into(),
            max_package_size: 1,
            cargo_auth_required: false,
        };
        let v: serde_json::Value = serde_json::from_str(&config_json(&config)).unwrap();
        assert_eq!(v["dl"], "http://h:1/cargo/api/v1/crates");
        assert_eq!(v["api"], "http://h:1/cargo");
        assert!(v.get("auth-required").is_none());
        config.cargo_auth_required = true;
        let v: serde_json::Value = serde_json::from_str(&config_json(&config)).unwrap();
        assert_eq!(v["auth-required"], true);
    }

    #[test]
    fn render_applies_current_yanked_flags() {
        let line = r#"{"name":"x","vers":"0.1.0","deps":[],"cksum":"ab","features":{},"yanked":false,"links":null,"v":1}"#;
        let record = |yanked| CrateVersionRecord {
            vers: semver::Version::new(0, 1, 0),
            yanked,
            cksum: "ab".into(),
            index_line: line.into(),
        };
        assert_eq!(render(&[record(false)]).unwrap(), format!("{line}\n"));
        assert!(
            render(&[record(true)])
                .unwrap()
                .contains(r#""yanked":true"#)
        );
    }
}
