//! The fuzzed function: any bytes give a model or an error, never a panic,
//! and what the reader accepts holds what it promises (tensor bytes match
//! their shapes, every node input defined before the node).

use std::collections::HashSet;
use std::path::Path;

/// Every target with the name of its seed directory.
pub const TARGETS: &[(&str, super::mutate::Target)] = &[("onnx", onnx)];

/// `zoo_onnx::Model::from_bytes` without a folder (external data refused).
pub fn onnx(data: &[u8]) {
    let Ok(model) = zoo_onnx::Model::from_bytes(bytes::Bytes::copy_from_slice(data), None) else {
        return;
    };
    let graph = &model.graph;
    for tensor in graph.initializers.values() {
        let size = zoo_onnx::tensor::dtype_size(tensor.dtype).expect("a sized type");
        assert_eq!(tensor.data.len(), tensor.numel() * size, "{}", tensor.name);
    }
    let mut defined: HashSet<&str> = graph.initializers.keys().map(String::as_str).collect();
    defined.extend(graph.inputs.iter().map(|i| i.name.as_str()));
    for node in &graph.nodes {
        for input in node.inputs.iter().filter(|i| !i.is_empty()) {
            assert!(
                defined.contains(input.as_str()),
                "{} reads {input} too early",
                node.name
            );
        }
        for output in node.outputs.iter().filter(|o| !o.is_empty()) {
            assert!(defined.insert(output), "{output} defined twice");
        }
    }
}

/// The seeds of `target`: `seeds/<target>/*`, `regressions/<target>/*` and
/// the committed `.onnx` fixtures of crates/zoo-onnx/tests/fixtures.
pub fn seeds(fuzz_dir: &Path, target: &str) -> Vec<Vec<u8>> {
    let dirs = [
        fuzz_dir.join("seeds").join(target),
        fuzz_dir.join("regressions").join(target),
        fuzz_dir.join("../tests/fixtures/ops"),
    ];
    let fixtures = fuzz_dir.join("../tests");
    super::mutate::read_seeds(dirs, |path| {
        !path.starts_with(&fixtures) || path.extension().is_some_and(|e| e == "onnx")
    })
}
