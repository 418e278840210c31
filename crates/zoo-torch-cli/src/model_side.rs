//! The tensor side of an import (zoo-caffe links no libtorch): built-in
//! architectures' parameters and golden recording, from zoo-models.
//! zoo-caffe's tests include this file by path, so that they import with
//! what zoo-torch passes.

use std::path::Path;

pub struct TorchModels;

impl zoo_caffe::ModelSide for TorchModels {
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
