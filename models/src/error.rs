//! Errors of the models crate; each names the package, file or input at fault.
//! File and input errors are zoo-nn's ([`ModelError::Nn`]): the models run
//! through its executor, which reports the same faults in the same words.

use std::path::PathBuf;
use zoo_nn::NnError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("package {package}: {message}")]
    Package { package: String, message: String },
    #[error(
        "unknown built-in architecture {0:?}: expected one of {list}",
        list = zoo_format::manifest::BUILTIN_ARCHITECTURES.join(", ")
    )]
    UnknownArchitecture(String),
    /// A task decoder's message, complete as it stands (it names the input).
    #[error("{0}")]
    Decode(String),
    #[error("parameter {name}: {message}")]
    Parameter { name: String, message: String },
    /// Files, inputs and everything else zoo-nn reports.
    #[error(transparent)]
    Nn(#[from] NnError),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    /// An invalid input named `name`.
    pub fn input(name: &str, message: impl Into<String>) -> Self {
        NnError::input(name, message).into()
    }
    /// A problem with the contents of the file at `path`.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        NnError::file(path, message).into()
    }
    /// Reading or writing the file at `path` failed.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NnError::io(path, source).into()
    }
}

impl From<ModelError> for NnError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::Nn(inner) => inner,
            other => NnError::Other(other.to_string()),
        }
    }
}
