//! zoo package format: manifest (`zoo.toml`), deterministic archives, checksums
//! and the index line shared by the registry and the client.
//!
//! No network and no torch: both `zoo-registry` and `zoo-client` build on it.

pub mod archive;
pub mod checksum;
pub mod index;
pub mod manifest;
pub mod name;
pub mod npy;
pub mod package_dir;
pub mod relpath;
pub mod signing;
pub mod version;

pub use archive::FileEntry;
pub use manifest::{Kind, Manifest};
pub use name::{cargo_index_path, normalize_name, validate_name};
