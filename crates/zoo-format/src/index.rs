//! The registry index: one JSON line per published version (docs/api.md),
//! stored under Cargo's prefix layout so a static file server can serve it.

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::archive::FileEntry;
use crate::checksum::Sha256Digest;
use crate::manifest::{Kind, Manifest};
use crate::name::{normalize_name, validate_name};
use crate::relpath::validate_rel_path;
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

    /// Checks every field that a client turns into a path or a lookup key:
    /// the package and dependency names, the archive's and every file's
    /// sha256 (64 lowercase hex digits) and every file path. A registry can
    /// send anything; this runs when a document is parsed, before any of it
    /// reaches the file system. The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|why| format!("`name`: {why}"))?;
        for dep in &self.deps {
            validate_name(&dep.name).map_err(|why| format!("`deps[].name`: {why}"))?;
        }
        Sha256Digest::parse(&self.archive.sha256).map_err(|e| format!("`archive.sha256`: {e}"))?;
        for file in &self.files {
            validate_rel_path(&file.path).map_err(|why| format!("`files[].path`: {why}"))?;
            Sha256Digest::parse(&file.sha256)
                .map_err(|e| format!("`files[].sha256` of `{}`: {e}", file.path))?;
        }
        Ok(())
    }

    /// The bytes a publisher signs for this version (`signing::entry_message`):
    /// everything but `yanked` and the signature, with the name canonical and
    /// dependencies and files in a fixed order, so the registry's rendering
    /// of the same version gives the same bytes.
    pub fn canonical_json(&self) -> String {
        let mut canonical = self.clone();
        canonical.name = normalize_name(&canonical.name);
        canonical.yanked = false;
        canonical.signature = None;
        for dep in &mut canonical.deps {
            dep.name = normalize_name(&dep.name);
        }
        canonical.deps.sort_by(|a, b| a.name.cmp(&b.name));
        canonical.files.sort_by(|a, b| a.path.cmp(&b.path));
        canonical.to_line()
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
            let entry: IndexEntry =
                serde_json::from_str(line).map_err(|e| format!("index line {}: {e}", i + 1))?;
            entry
                .validate()
                .map_err(|e| format!("index line {}: {e}", i + 1))?;
            Ok(entry)
        })
        .collect()
}

/// Where a package's index document lives, relative to the index root, by
/// Cargo's layout on the canonical name: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`.
pub fn index_path(name: &str) -> String {
    crate::name::cargo_index_path(&normalize_name(name))
}

/// Index lines for other modules' tests.
#[cfg(test)]
pub(crate) mod samples {
    /// Version 1.0.0 of `name`: no dependencies, an archive of size 1 whose
    /// digest is all `a`s and one external file `w.bin` whose digest is all
    /// `b`s.
    pub(crate) fn line_with_external_file(name: &str) -> String {
        format!(
            r#"{{"name":"{name}","vers":"1.0.0","kind":"model","deps":[],"archive":{{"sha256":"{}","size":1}},"files":[{{"path":"w.bin","size":1,"sha256":"{}","external":true}}]}}"#,
            "a".repeat(64),
            "b".repeat(64)
        )
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
        let (aa, bb) = ("a".repeat(64), "b".repeat(64));
        let line = format!(
            r#"{{"name":"vgg16","vers":"1.0.0","kind":"model","deps":[{{"name":"peephole-lstm","req":"^0.1"}}],"archive":{{"sha256":"{aa}","size":12345}},"files":[{{"path":"weights.safetensors","size":553432081,"sha256":"{bb}","external":true}}],"yanked":false}}"#
        );
        let entries = parse_document(&format!("{line}\n\n")).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].deps[0].req, VersionReq::parse("^0.1").unwrap());
        assert_eq!(entries[0].to_line(), line);
        assert_eq!(render_document(&entries), format!("{line}\n"));
        assert!(parse_document("{}\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn digests_names_and_paths_are_checked_at_parse() {
        let good = samples::line_with_external_file("victim");
        assert_eq!(parse_document(&good).unwrap().len(), 1);
        let hostile = [
            (
                good.replace(&"a".repeat(64), "/tmp/zoo-evil"),
                "archive.sha256",
            ),
            (
                good.replace(&"a".repeat(64), "../../../../tmp/zoo-evil"),
                "archive.sha256",
            ),
            (good.replace(&"b".repeat(64), "../../x"), "files[].sha256"),
            (
                good.replace(&"b".repeat(64), &"B".repeat(64)),
                "files[].sha256",
            ),
            (good.replace("w.bin", "../w.bin"), "files[].path"),
            (good.replace("w.bin", "/etc/w.bin"), "files[].path"),
            (good.replace("\"victim\"", "\"../victim\""), "`name`"),
            (
                good.replace(r#""deps":[]"#, r#""deps":[{"name":"a/b","req":"*"}]"#),
                "deps[].name",
            ),
        ];
        for (line, field) in hostile {
            let err = parse_document(&line).unwrap_err();
            assert!(err.contains("line 1") && err.contains(field), "{err}");
        }
    }

    #[test]
    fn the_canonical_form_ignores_yanked_signature_and_order() {
        let (aa, bb, cc) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let line = format!(
            r#"{{"name":"Net_A","vers":"1.0.0","kind":"model","deps":[{{"name":"zed","req":"^1"}},{{"name":"Alpha","req":"^2"}}],"archive":{{"sha256":"{aa}","size":1}},"files":[{{"path":"z","size":1,"sha256":"{bb}","external":true}},{{"path":"a","size":1,"sha256":"{cc}","external":false}}]}}"#
        );
        let entry = &parse_document(&line).unwrap()[0];
        let mut other = entry.clone();
        other.yanked = true;
        other.name = "net-a".into();
        other.deps.reverse();
        other.files.reverse();
        assert_eq!(entry.canonical_json(), other.canonical_json());
        other.files[0].size = 2;
        assert_ne!(entry.canonical_json(), other.canonical_json());
    }
}
