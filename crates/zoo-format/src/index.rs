//! The registry index: one JSON line per published version (docs/api.md),
//! stored under Cargo's prefix layout so a static file server can serve it.

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::archive::FileEntry;
use crate::manifest::{Kind, Manifest};
use crate::name::normalize_name;
use crate::signing::{PackageSignature, split_signed};

/// One version of a package, as a line of its index document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The package's display name as first published.
    pub name: String,
    pub vers: Version,
    pub kind: Kind,
    #[serde(default)]
    pub deps: Vec<IndexDep>,
    pub archive: ArchiveRef,
    /// Every file of the package (as in `.zoo/files.json`).
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// The only field that ever changes after publication.
    #[serde(default)]
    pub yanked: bool,
    /// The publisher's signature, when the version was published signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<PackageSignature>,
}

/// A dependency requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDep {
    pub name: String,
    pub req: VersionReq,
}

/// The archive blob of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRef {
    pub sha256: String,
    pub size: u64,
}

impl IndexEntry {
    /// The index line for a freshly published version.
    pub fn from_manifest(manifest: &Manifest, archive: ArchiveRef, files: Vec<FileEntry>) -> Self {
        IndexEntry {
            name: manifest.package.name.clone(),
            vers: manifest.package.version.clone(),
            kind: manifest.package.kind,
            deps: manifest
                .dependencies
                .iter()
                .map(|(name, req)| IndexDep {
                    name: name.clone(),
                    req: req.clone(),
                })
                .collect(),
            archive,
            files,
            yanked: false,
            signature: None,
        }
    }

    /// The entry as one line of JSON (no trailing newline).
    pub fn to_line(&self) -> String {
        // Serializing plain data to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Renders an index document: one line per entry, each ending in `\n`.
pub fn render_document(entries: &[IndexEntry]) -> String {
    entries.iter().map(|e| e.to_line() + "\n").collect()
}

/// Parses an index document; blank lines are ignored, and so is the
/// registry's signature line at the end (checking it is
/// [`crate::signing::SignedIndex::verify`]'s job). The error names the line.
pub fn parse_document(text: &str) -> Result<Vec<IndexEntry>, String> {
    let (entries, _) = split_signed(text)?;
    entries
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| format!("index line {}: {e}", i + 1))
        })
        .collect()
}

/// Where a package's index document lives, relative to the index root, by
/// Cargo's layout on the canonical name: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`.
pub fn index_path(name: &str) -> String {
    let name = normalize_name(name);
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_prefix_layout() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("AB"), "2/ab");
        assert_eq!(index_path("Vgg"), "3/v/vgg");
        assert_eq!(index_path("vgg16"), "vg/g1/vgg16");
        assert_eq!(index_path("Peephole_LSTM"), "pe/ep/peephole-lstm");
    }

    #[test]
    fn line_round_trip_matches_the_documented_shape() {
        let line = r#"{"name":"vgg16","vers":"1.0.0","kind":"model","deps":[{"name":"peephole-lstm","req":"^0.1"}],"archive":{"sha256":"aa","size":12345},"files":[{"path":"weights.safetensors","size":553432081,"sha256":"bb","external":true}],"yanked":false}"#;
        let entries = parse_document(&format!("{line}\n\n")).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].deps[0].req, VersionReq::parse("^0.1").unwrap());
        assert_eq!(entries[0].to_line(), line);
        assert_eq!(render_document(&entries), format!("{line}\n"));
        assert!(parse_document("{}\n").unwrap_err().contains("line 1"));
    }
}
