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
    /// An output (layer, blob) was asked for that the model does not have.
    #[error("the model has no output named {name:?}; its outputs: {}", known.join(", "))]
    UnknownOutput { name: String, known: Vec<String> },
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
    /// Reading or writing the file at `path` failed.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NnError::Io {
            path: path.into(),
            source,
        }
    }

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

/// The first part of a libtorch error: its message without the C++
/// "Exception raised from …" location and stack frames that follow it, which
/// say nothing to a user (`zoo run -v` prints them in full).
pub fn torch_message(error: &tch::TchError) -> String {
    strip_cpp_trace(&error.to_string())
}

/// `text` without libtorch's C++ trace lines ("Exception raised from …",
/// "frame #N: …"), wherever in an error chain they appear.
pub fn strip_cpp_trace(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut in_trace = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("Exception raised from") {
            in_trace = true;
            continue;
        }
        if in_trace && (trimmed.starts_with("frame #") || trimmed.is_empty()) {
            continue;
        }
        in_trace = false;
        kept.push(line);
    }
    kept.join("\n").trim_end().to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpp_traces_are_cut_from_torch_messages() {
        let text = "The size of tensor a (2) must match the size of tensor b (1) at non-singleton dimension 0\n\
                    Exception raised from infer_size_impl at /pytorch/aten/src/ATen/ExpandUtils.cpp:31 (most recent call first):\n\
                    frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x9d (0x7f in libc10.so)\n\
                    frame #1: at::infer_size_impl + 0x1b (0x7f in libtorch_cpu.so)\n";
        assert_eq!(
            strip_cpp_trace(text),
            "The size of tensor a (2) must match the size of tensor b (1) at non-singleton dimension 0"
        );
        let error = tch::TchError::Torch(text.to_string());
        assert!(!torch_message(&error).contains("frame #"));
        assert_eq!(strip_cpp_trace("plain: message"), "plain: message");
    }
}
