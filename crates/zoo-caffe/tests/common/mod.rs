//! zoo-models as the import's tensor side, as zoo-torch passes it.

use std::path::Path;

pub struct Models;

impl zoo_caffe::ModelSide for Models {
    fn builtin_parameters(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<Vec<(String, Vec<i64>)>, String> {
        zoo_models::package::builtin_parameters(name, config).map_err(|e| e.to_string())
    }

    fn record_golden(&self, staged: &Path) -> Result<(), String> {
        zoo_models::golden::record(staged)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
