//! Server settings.

use std::path::PathBuf;

/// Default cap on one upload (archive or blob): 4 GiB.
pub const DEFAULT_MAX_PACKAGE_SIZE: u64 = 4 << 30;

/// What a running registry needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `registry.sqlite3`, `blobs/`, `index/`, `tmp/`.
    pub data_dir: PathBuf,
    /// Public URL of the registry (no trailing `/`), used in `/index/config.json`.
    pub base_url: String,
    /// Largest accepted request body (archive or blob), in bytes.
    pub max_package_size: u64,
    /// Whether every request under `/cargo/` needs a token (Cargo's
    /// `auth-required`, for private crate registries).
    pub cargo_auth_required: bool,
}

impl Config {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("registry.sqlite3")
    }

    /// The Cargo index URL without `sparse+`, ending in `/`.
    pub fn cargo_index_url(&self) -> String {
        format!("{}/cargo/index/", self.base_url.trim_end_matches('/'))
    }
}
