//! ONNX reader: decodes a `.onnx` model (protobuf, the project's own prost
//! messages in [`proto`]) from a memory map, resolves external data inside
//! the model's folder, records the opsets, and checks the graph (every tensor
//! defined once, no cycles, tensor sizes against their bytes) before anything
//! converts it. Initializer bytes stay borrowed from the maps.
//!
//! ```no_run
//! let model = zoo_onnx::Model::open(std::path::Path::new("resnet18.onnx"))?;
//! println!("opset {} with {} nodes", model.opset(), model.graph.nodes.len());
//! # Ok::<(), zoo_onnx::OnnxError>(())
//! ```

#[cfg(feature = "import")]
pub mod convert;
pub mod error;
#[cfg(feature = "import")]
mod fuse;
#[cfg(feature = "import")]
mod import;
pub mod model;
pub mod proto;
pub mod tensor;

pub use error::{OnnxError, Result};
#[cfg(feature = "import")]
pub use import::{ImportOptions, ImportSummary, import};
pub use model::{Attribute, Dim, Graph, Model, Node, ValueInfo};
pub use proto::DataType;
pub use tensor::{MappedFile, Tensor};
