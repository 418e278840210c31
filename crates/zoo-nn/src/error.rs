//! Errors of the nn crate: each names the file, parameter or input at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("invalid device {0:?}: expected cpu, cuda or cuda:N")]
    InvalidDevice(String),
    #[error("device {0} is not available: {1}")]
    DeviceUnavailable(String, String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid input {name}: {message}")]
    Input { name: String, message: String },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = NnError> = std::result::Result<T, E>;
