//! Errors of the importer: each names the file and where in it (line and
//! column for prototxt, byte offset for caffemodel) or the layer at fault.

use std::path::PathBuf;

/// A prototxt syntax error at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TextError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A malformed caffemodel at a byte offset from the start of the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("byte offset {offset}: {message}")]
pub struct WireError {
    pub offset: u64,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CaffeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Prototxt {
        path: PathBuf,
        #[source]
        source: TextError,
    },
    #[error("{path}: {source}")]
    Caffemodel {
        path: PathBuf,
        #[source]
        source: WireError,
    },
    #[error("layer {layer:?} ({kind}): {message}")]
    Layer {
        layer: String,
        kind: String,
        message: String,
    },
    #[error("layer {layer:?} has unsupported type {kind:?}; supported types: {supported}")]
    Unsupported {
        layer: String,
        kind: String,
        supported: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Package(#[from] zoo_format::package_dir::PackageDirError),
}

impl CaffeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CaffeError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = CaffeError> = std::result::Result<T, E>;
