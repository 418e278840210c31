//! Errors of the models crate; each names the package, file or input at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("package {package}: {message}")]
    Package { package: String, message: String },
    #[error("invalid input {name}: {message}")]
    Input { name: String, message: String },
    #[error(
        "unknown built-in architecture {0:?}: expected vgg16, vgg19, vgg-mini, peephole-lstm, nested-rnn or cell-counter"
    )]
    UnknownArchitecture(String),
    /// A task decoder's message, complete as it stands (it names the input).
    #[error("{0}")]
    Decode(String),
    #[error("parameter {name}: {message}")]
    Parameter { name: String, message: String },
    #[error(transparent)]
    Nn(#[from] zoo_nn::NnError),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    pub fn input(name: &str, message: impl Into<String>) -> Self {
        ModelError::Input {
            name: name.to_string(),
            message: message.into(),
        }
    }
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ModelError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<ModelError> for zoo_nn::NnError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::Nn(inner) => inner,
            ModelError::Input { name, message } => zoo_nn::NnError::Input { name, message },
            other => zoo_nn::NnError::Other(other.to_string()),
        }
    }
}
