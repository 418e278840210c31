//! zoo package format: manifest, semver, deterministic archives, checksums.
