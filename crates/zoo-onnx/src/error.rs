//! Errors of the reader: each names the file, tensor or node at fault, so
//! that a hostile or broken model is refused with a message a user can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not an ONNX model (protobuf decode failed: {0})")]
    Decode(#[from] prost::DecodeError),
    /// Any error while reading a model file, with that file's path.
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: Box<OnnxError>,
    },
    #[error("tensor {tensor:?}: {message}")]
    Tensor { tensor: String, message: String },
    #[error("tensor {tensor:?}: external data {location:?} is outside the model's folder {folder}")]
    ExternalOutside {
        tensor: String,
        location: String,
        folder: PathBuf,
    },
    #[error("node {node:?} ({op_type}): {message}")]
    Node {
        node: String,
        op_type: String,
        message: String,
    },
    #[error("graph: {0}")]
    Graph(String),
    /// An import option or the package being written (labels, `--like`,
    /// preprocessing, destination); the message names the file at fault.
    #[error("{0}")]
    Import(String),
}

impl OnnxError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OnnxError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn tensor(tensor: &str, message: impl Into<String>) -> Self {
        OnnxError::Tensor {
            tensor: tensor.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn node(node: &str, op_type: &str, message: impl Into<String>) -> Self {
        OnnxError::Node {
            node: node.to_owned(),
            op_type: op_type.to_owned(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
