//! zoo-models as the import's tensor side: zoo-torch's own adapter,
//! included by path.

#[path = "../../../zoo-torch-cli/src/model_side.rs"]
mod model_side;

pub use model_side::TorchModels as Models;
