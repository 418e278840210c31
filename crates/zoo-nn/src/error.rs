//! Errors of the nn crate: each names the file, parameter or input at fault.

use std::fmt;
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
    /// Parameters of a file that do not fit the model, all listed at once so
    /// that one run shows everything to fix.
    #[error("{path}: parameters do not match the model:{mismatch}")]
    ParamMismatch {
        path: PathBuf,
        mismatch: ParamMismatch,
    },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = NnError> = std::result::Result<T, E>;

impl NnError {
    /// An invalid-argument error of a function or link named `name`.
    pub fn input(name: impl Into<String>, message: impl Into<String>) -> Self {
        NnError::Input {
            name: name.into(),
            message: message.into(),
        }
    }

    /// A problem with the contents of the file at `path`.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        NnError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What differs between a parameter file and a model (names use `/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamMismatch {
    /// In the model, not in the file: (name, model shape).
    pub missing: Vec<(String, Vec<i64>)>,
    /// In the file, not in the model: (name, file shape).
    pub unexpected: Vec<(String, Vec<i64>)>,
    /// In both with different shapes: (name, model shape, file shape).
    pub misshaped: Vec<(String, Vec<i64>, Vec<i64>)>,
}

impl ParamMismatch {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.misshaped.is_empty()
    }
}

impl fmt::Display for ParamMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, shape) in &self.missing {
            write!(
                f,
                "\n  missing {name} {shape:?} (in the model, not in the file)"
            )?;
        }
        for (name, shape) in &self.unexpected {
            write!(
                f,
                "\n  unexpected {name} {shape:?} (in the file, not in the model)"
            )?;
        }
        for (name, model, file) in &self.misshaped {
            write!(f, "\n  mis-shaped {name}: model {model:?}, file {file:?}")?;
        }
        Ok(())
    }
}
