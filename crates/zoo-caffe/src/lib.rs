//! Caffe importer: reads a deploy prototxt (protobuf text format) and a
//! caffemodel (binary protobuf, V1 `layers` or V2 `layer`) and writes a zoo
//! model package: `zoo.toml`, a graph file (docs/graph-format.md) and
//! safetensors weights named `<layer>/<role>`.
//!
//! No libtorch: what needs tensors comes from the caller ([`ModelSide`]).
//!
//! ```no_run
//! # use std::path::Path;
//! # fn demo(model: &dyn zoo_caffe::ModelSide) -> Result<(), zoo_caffe::CaffeError> {
//! let summary = zoo_caffe::import(
//!     Some(Path::new("deploy.prototxt")),
//!     Path::new("net.caffemodel"),
//!     Path::new("out/vgg16"),
//!     &zoo_caffe::ImportOptions::default(),
//!     model, // zoo-torch passes zoo-models' side
//! )?;
//! println!("{} layers", summary.layers);
//! # Ok(()) }
//! ```

#[cfg(feature = "import")]
pub mod convert;
pub mod error;
#[cfg(feature = "import")]
mod import;
pub mod net;
#[cfg(feature = "import")]
pub mod package;
pub mod proto;
#[cfg(feature = "import")]
pub mod runnable;
#[cfg(feature = "import")]
pub mod synthetic_vgg;
pub mod text;
pub mod wire;
pub mod writer;

pub use error::{CaffeError, Result, TextError, WireError};
#[cfg(feature = "import")]
pub use import::{ImportOptions, ImportSummary, ModelSide, import};
#[cfg(feature = "import")]
pub use runnable::PreprocessOptions;
