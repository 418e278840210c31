//! The fuzzed functions: any input must give a value or an error, never a
//! panic, and what parses must survive a round trip. Shared by the
//! cargo-fuzz targets and the stable smoke runs (included by path from
//! crates/zoo-format/tests/fuzz_smoke.rs).

use std::path::Path;

use zoo_format::archive::{Limits, read_listing};
use zoo_format::index::{parse_document, render_document};
use zoo_format::manifest::Manifest;

/// Every target with the name of its seed directory.
pub const TARGETS: &[(&str, super::mutate::Target)] = &[
    ("manifest", manifest),
    ("archive", archive),
    ("index", index),
];

/// `zoo.toml`: parsed and validated; a valid manifest re-serialises to a
/// manifest that parses back to the same value.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Manifest::from_toml_str(text) {
        let again = parsed
            .to_toml_string()
            .expect("a parsed manifest serialises");
        let reparsed = Manifest::from_toml_str(&again).expect("a serialised manifest parses");
        assert_eq!(parsed, reparsed, "the manifest changed in a round trip");
    }
}

/// A `.zoo` archive through the safe reader (gzip, tar, listing, limits),
/// with small limits so that the fuzzer reaches them.
pub fn archive(data: &[u8]) {
    let limits = Limits {
        max_entries: 64,
        max_total_size: 1 << 20,
        ..Limits::default()
    };
    if let Ok(listing) = read_listing(data, &limits) {
        assert!(
            listing.files.iter().any(|f| f.path == "zoo.toml"),
            "a listing without zoo.toml was accepted"
        );
    }
}

/// Index documents (one JSON entry per line): what parses renders to a
/// document that parses to the same entries.
pub fn index(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entries) = parse_document(text) {
        let rendered = render_document(&entries);
        let again = parse_document(&rendered).expect("a rendered index parses");
        assert_eq!(entries, again, "the index changed in a round trip");
    }
}

/// The seeds of `target`: `seeds/<target>/*` and `regressions/<target>/*`
/// under `fuzz_dir`, plus the repository's own manifests for `manifest`.
pub fn seeds(fuzz_dir: &Path, target: &str) -> Vec<Vec<u8>> {
    let mut dirs = vec![
        fuzz_dir.join("seeds").join(target),
        fuzz_dir.join("regressions").join(target),
    ];
    if target == "manifest" {
        let models = fuzz_dir.join("../../../models");
        for entry in std::fs::read_dir(models).into_iter().flatten().flatten() {
            dirs.push(entry.path());
        }
    }
    super::mutate::read_seeds(dirs, |path| {
        target != "manifest" || path.file_name().is_some_and(|n| n == "zoo.toml")
    })
}
