//! The graph executor: runs a zoo graph file (docs/graph-format.md, written
//! by `zoo import caffe`) with its safetensors weights, as a [`Model`].

mod fusion;
mod ops;
pub mod ops_onnx;
pub mod profile;

/// The graph format itself lives in the torch-free `zoo-graph` crate.
pub use zoo_graph as format;
pub use zoo_graph::{
    GRAPH_FORMAT, GRAPH_VERSION, Graph, GraphInput, LayerDef, Op, SUPPORTED_TYPES,
};

use crate::error::{NnError, Result};
use crate::model::Model;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A loaded graph: layers in execution order with their parameters on `device`.
#[derive(Debug)]
pub struct GraphModel {
    graph: Graph,
    layers: Vec<ops::Weights>,
    /// Per layer, its convolution kernel packed for oneDNN (CPU).
    packed: Vec<ops::PackedConv>,
    device: Device,
    /// Inputs and layer tops, computed once (checked on every run).
    blob_names: Vec<String>,
    /// Per layer, the blobs it reads last (and does not write): a run
    /// drops them after the layer, unless asked for, so memory holds only
    /// live activations.
    dies_after: Vec<Vec<String>>,
    /// Activations folded into convolutions (see [`fusion`]).
    fusions: Vec<fusion::Fusion>,
    /// ONNX Constant layers' tops and the layer holding each value: a run
    /// reads them in place instead of running the layers (MobileNet V3
    /// has 108, a blob insertion and removal each per run).
    constants: HashMap<String, usize>,
    /// Per-channel gates folded into the pointwise convolution after them
    /// (see [`fusion::ScaleFusion`]).
    scale_fusions: Vec<fusion::ScaleFusion>,
}

impl GraphModel {
    /// Reads `graph_file` and the parameters its layers need from `weights`
    /// (safetensors, `<layer>/<role>`), checks names and shapes, and moves
    /// them to `device`.
    pub fn load(graph_file: &Path, weights: &[PathBuf], device: Device) -> Result<GraphModel> {
        let text = std::fs::read_to_string(graph_file).map_err(|source| NnError::Io {
            path: graph_file.to_path_buf(),
            source,
        })?;
        let graph = Graph::from_json(&text)
            .map_err(|e| NnError::file(graph_file, format!("not a zoo graph: {e}")))?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let mut files = Vec::with_capacity(weights.len());
        for path in weights {
            let file = crate::params::MappedSafetensors::open(path)?;
            tensors.extend(file.tensors()?);
            files.push(file);
        }
        let model = Self::from_parts(graph, tensors, device).map_err(|e| match e {
            NnError::Other(message) => NnError::file(graph_file, message),
            other => other,
        })?;
        // A parameter the model now holds in another layout, type or device
        // (a channels-last kernel, a CUDA copy), or does not use, left its
        // view of the file unused: its pages need not stay resident. Nothing
        // has written to the views (loading only reads them).
        let layer_index: HashMap<&str, usize> = model
            .graph
            .layers
            .iter()
            .enumerate()
            .map(|(index, layer)| (layer.name.as_str(), index))
            .collect();
        // Where the model holds parameter `<layer>/<role>` on the CPU.
        let held = |name: &str| {
            let (layer, role) = name.rsplit_once('/')?;
            let tensor = model.layers.get(*layer_index.get(layer)?)?.get(role)?;
            (tensor.device() == Device::Cpu).then(|| tensor.data_ptr() as usize)
        };
        for file in &files {
            file.release_unless_held(held);
        }
        Ok(model)
    }

    /// Builds a model from a parsed graph and named parameters.
    pub fn from_parts(
        graph: Graph,
        mut tensors: HashMap<String, Tensor>,
        device: Device,
    ) -> Result<GraphModel> {
        graph.check().map_err(NnError::Other)?;
        let mut layers = Vec::with_capacity(graph.layers.len());
        for layer in &graph.layers {
            let mut weights = ops::Weights::new();
            for role in layer.op.weights(layer.bottoms.len()) {
                let key = format!("{}/{role}", layer.name);
                let tensor = tensors.remove(&key).ok_or_else(|| {
                    NnError::Other(format!(
                        "layer {:?} ({}) needs parameter {key:?}, which the weights lack",
                        layer.name,
                        layer.op.type_name()
                    ))
                })?;
                // Floating-point parameters run as f32; ONNX constants keep
                // integer and boolean types (shape vectors, indices).
                let tensor = if tensor.is_floating_point() {
                    tensor.f_to_kind(Kind::Float)?
                } else {
                    tensor
                };
                weights.insert(role, tensor.f_to_device(device)?);
            }
            layers.push(weights);
        }
        if device == Device::Cpu {
            use_channels_last(&graph, &mut layers)?;
        }
        let blob_names = graph.blob_names();
        let dies_after = dies_after(&graph);
        let fusions = fusion::plan(&graph);
        let constants = graph
            .layers
            .iter()
            .enumerate()
            .filter(|(index, layer)| {
                matches!(layer.op, Op::Onnx(format::onnx::OnnxOp::Constant))
                    && layer.tops.len() == 1
                    && layers[*index].contains_key("value")
            })
            .map(|(index, layer)| (layer.tops[0].clone(), index))
            .collect::<HashMap<String, usize>>();
        // A convolution is pointwise when its kernel, a constant, is 1×1.
        let scale_fusions = fusion::plan_scales(&graph, |conv| {
            let kernel = graph.layers[conv]
                .bottoms
                .get(1)
                .and_then(|w| constants.get(w))
                .and_then(|&index| layers[index].get("value"));
            kernel.is_some_and(|k| k.dim() == 4 && k.size()[2..] == [1, 1])
        });
        let packed = graph
            .layers
            .iter()
            .map(|_| ops::PackedConv::default())
            .collect();
        Ok(GraphModel {
            graph,
            layers,
            packed,
            device,
            blob_names,
            dies_after,
            fusions,
            constants,
            scale_fusions,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Every blob name a caller may ask for: inputs and all layer tops.
    pub fn blob_names(&self) -> Vec<String> {
        self.blob_names.clone()
    }
}

impl Model for GraphModel {
    fn input_names(&self) -> Vec<String> {
        self.graph.inputs.iter().map(|i| i.name.clone()).collect()
    }

    fn default_outputs(&self) -> Vec<String> {
        self.graph.outputs.clone()
    }

    fn run(
        &self,
        inputs: &[(String, Tensor)],
        outputs: &[String],
    ) -> Result<Vec<(String, Tensor)>> {
        let wanted: Vec<String> = if outputs.is_empty() {
            self.graph.outputs.clone()
        } else {
            outputs.to_vec()
        };
        for name in &wanted {
            if !self.blob_names.contains(name) {
                return Err(NnError::UnknownOutput {
                    name: name.clone(),
                    known: self.blob_names.clone(),
                });
            }
        }
        let mut blobs: HashMap<String, Tensor> = HashMap::new();
        for input in &self.graph.inputs {
            let Some((_, tensor)) = inputs.iter().find(|(n, _)| n == &input.name) else {
                return Err(NnError::input(&input.name, "missing input"));
            };
            check_input(input, tensor)?;
            // Convert only when needed: TorchScript tracing records every
            // conversion and would pin an exported graph to this device.
            let mut value = tensor.shallow_clone();
            if value.kind() != Kind::Float {
                value = value.f_to_kind(Kind::Float)?;
            }
            if value.device() != self.device {
                value = value.f_to_device(self.device)?;
            }
            blobs.insert(input.name.clone(), value);
        }
        for (name, _) in inputs {
            if !self.graph.inputs.iter().any(|i| &i.name == name) {
                return Err(NnError::input(
                    name,
                    format!(
                        "not an input of this graph (inputs: {})",
                        self.input_names().join(", ")
                    ),
                ));
            }
        }
        // Blobs that are overwritten in place must be captured when written
        // if asked for: Caffe's semantics are the value after the last layer
        // that writes them, which is what we keep.
        let last_needed = self.last_layer_needed(&wanted);
        // Per layer: the fusion that starts there, or that folded it in.
        let mut fused_at = vec![None; self.graph.layers.len()];
        let mut folded = vec![false; self.graph.layers.len()];
        for fusion in &self.fusions {
            if fusion.hidden.iter().any(|blob| wanted.contains(blob)) {
                continue;
            }
            fused_at[fusion.conv] = Some(fusion);
            for &index in &fusion.folded {
                folded[index] = true;
            }
        }
        // Per layer: the gate (Mul) folded into it, or whether it is one.
        let mut scaled_by = vec![None; self.graph.layers.len()];
        let mut is_gate = vec![false; self.graph.layers.len()];
        for fusion in &self.scale_fusions {
            if !wanted.contains(&fusion.hidden) {
                scaled_by[fusion.conv] = Some(fusion.mul);
                folded[fusion.mul] = true;
                is_gate[fusion.mul] = true;
            }
        }
        tch::no_grad(|| -> Result<()> {
            let layers = self.graph.layers.iter().zip(&self.layers).zip(&self.packed);
            for (index, ((layer, weights), packed)) in layers.enumerate() {
                if index > last_needed {
                    break;
                }
                if folded[index] {
                    // A folded Mul's inputs live until its convolution.
                    if !is_gate[index] {
                        self.drop_dead(index, &wanted, &mut blobs);
                    }
                    continue;
                }
                let constant = layer.tops.first().filter(|top| {
                    self.constants.get(top.as_str()) == Some(&index) && !wanted.contains(top)
                });
                if constant.is_some() {
                    continue;
                }
                // A convolution with a gate folded in reads the Mul's two
                // inputs in place of the product.
                let names: Vec<&String> = match scaled_by[index] {
                    Some(mul) => self.graph.layers[mul]
                        .bottoms
                        .iter()
                        .chain(layer.bottoms.iter().skip(1))
                        .collect(),
                    None => layer.bottoms.iter().collect(),
                };
                let xs = names
                    .iter()
                    .map(|b| match blobs.get(b.as_str()) {
                        Some(blob) => Ok(blob.shallow_clone()),
                        None => self.constant(b, &layer.name),
                    })
                    .collect::<Result<Vec<Tensor>>>()?;
                let started = profile::enabled().then(std::time::Instant::now);
                let activation = fused_at[index].map(|f| f.activation);
                let ys = crate::guard::no_panic(|| match (scaled_by[index], &layer.op) {
                    (Some(_), Op::Onnx(op)) => {
                        let act = activation.unwrap_or(crate::functions::Activation::Identity);
                        ops_onnx::scaled_conv_then(op, &xs, packed, act).map(|y| vec![y])
                    }
                    (Some(_), _) => Err(NnError::input(
                        &layer.name,
                        "a folded Mul needs an ONNX convolution after it",
                    )),
                    (None, _) => match activation {
                        Some(activation) => {
                            ops::forward_conv_then(&layer.op, &xs, weights, packed, activation)
                                .map(|y| vec![y])
                        }
                        None => ops::forward(&layer.op, &xs, layer.tops.len(), weights, packed),
                    },
                });
                let ys = ys.map_err(|e| {
                    // One line naming the layer and what it was given; the
                    // C++ trace of a libtorch error says nothing to a user.
                    let message = match &e {
                        NnError::Torch(torch) => crate::error::torch_message(torch),
                        other => other.to_string(),
                    };
                    let given: Vec<String> = names
                        .iter()
                        .zip(&xs)
                        .map(|(name, x)| format!("{name} {:?}", x.size()))
                        .collect();
                    NnError::input(
                        format!("layer {} ({})", layer.name, layer.op.type_name()),
                        format!("{message} (inputs: {})", given.join(", ")),
                    )
                })?;
                if let Some(started) = started {
                    let mut label = match scaled_by[index] {
                        // The gate, the kernel, …: the kernel is second.
                        Some(_) => format!("{} × gate", profile_label(&layer.op, &xs[1..])),
                        None => profile_label(&layer.op, &xs),
                    };
                    if let Some(fusion) = fused_at[index] {
                        label = format!("{label} + {}", fusion.activation.name());
                    }
                    profile::record(&label, started.elapsed());
                }
                if let Some(mul) = scaled_by[index] {
                    self.drop_dead(mul, &wanted, &mut blobs);
                }
                if let Some(fusion) = fused_at[index] {
                    blobs.extend(ys.into_iter().map(|y| (fusion.output.clone(), y)));
                    self.drop_dead(index, &wanted, &mut blobs);
                    continue;
                }
                if ys.len() != layer.tops.len() {
                    return Err(NnError::input(
                        &layer.name,
                        format!(
                            "produced {} tensors for {} tops",
                            ys.len(),
                            layer.tops.len()
                        ),
                    ));
                }
                for (top, y) in layer.tops.iter().zip(ys) {
                    blobs.insert(top.clone(), y);
                }
                self.drop_dead(index, &wanted, &mut blobs);
            }
            Ok(())
        })?;
        Ok(wanted
            .into_iter()
            .map(|name| {
                let tensor = blobs[name.as_str()].shallow_clone();
                (name, tensor)
            })
            .collect())
    }

    fn device(&self) -> Device {
        self.device
    }
}

impl GraphModel {
    /// A Constant layer's value, read in place (`run` skips the layer),
    /// for the bottom `name` of layer `reader`.
    fn constant(&self, name: &str, reader: &str) -> Result<Tensor> {
        self.constants
            .get(name)
            .and_then(|&index| self.layers[index].get("value"))
            .map(Tensor::shallow_clone)
            .ok_or_else(|| {
                NnError::input(
                    format!("layer {reader}"),
                    format!("reads blob {name:?}, which no earlier layer wrote"),
                )
            })
    }

    /// Drops the blobs whose last reader is layer `index`, unless asked for.
    fn drop_dead(&self, index: usize, wanted: &[String], blobs: &mut HashMap<String, Tensor>) {
        for dead in &self.dies_after[index] {
            if !wanted.contains(dead) {
                blobs.remove(dead);
            }
        }
    }

    /// The index of the last layer that writes a wanted blob (−1 → none).
    fn last_layer_needed(&self, wanted: &[String]) -> usize {
        self.graph
            .layers
            .iter()
            .rposition(|l| l.tops.iter().any(|t| wanted.contains(t)))
            .unwrap_or(0)
    }
}

/// A layer's kind for [`profile`]: ONNX element-wise ops by function,
/// convolutions by the path `functions::conv2d` takes.
fn profile_label(op: &Op, xs: &[Tensor]) -> String {
    use format::onnx::OnnxOp;
    let conv = |groups: i64| match xs.get(1).map(|w| w.size()) {
        Some(w) if crate::functions::is_depthwise_kernel(&w, groups) => "depthwise",
        Some(w) if w.len() == 4 && w[2] == 1 && w[3] == 1 => "1x1",
        _ => "other",
    };
    match op {
        Op::Onnx(OnnxOp::Unary { func }) => format!("{func:?}"),
        Op::Onnx(OnnxOp::Binary { func }) => format!("{func:?}"),
        Op::Onnx(OnnxOp::Variadic { func }) => format!("{func:?}"),
        Op::Onnx(OnnxOp::Conv { group, .. }) => format!("Conv ({})", conv(*group)),
        Op::Onnx(other) => other.name().to_string(),
        other => other.type_name().to_string(),
    }
}

/// Per layer, the blobs whose last reader it is, leaving out those it
/// writes itself (Caffe's in-place layers).
fn dies_after(graph: &Graph) -> Vec<Vec<String>> {
    let mut last_reader: HashMap<&str, usize> = HashMap::new();
    for (index, layer) in graph.layers.iter().enumerate() {
        for bottom in &layer.bottoms {
            last_reader.insert(bottom, index);
        }
    }
    let mut dies = vec![Vec::new(); graph.layers.len()];
    for (blob, index) in last_reader {
        if !graph.layers[index].tops.iter().any(|top| top == blob) {
            dies[index].push(blob.to_string());
        }
    }
    dies
}

/// Gives every 2-D convolution's kernel libtorch's channels-last layout
/// (NHWC strides, the same values), as PyTorch's
/// `model.to(memory_format=torch.channels_last)` does: oneDNN then runs the
/// convolutions without reordering, and their outputs, and the elementwise
/// and pooling layers after them, stay channels-last. Results change only
/// by rounding. Depthwise kernels are stored tap-major and small one-group
/// kernels input-major instead (`functions::own_product_layout`), the
/// layouts `functions::conv2d`'s own kernels read. Caffe kernels are the layer's
/// `W`; ONNX kernels are the second bottom, a Constant layer's `value`.
fn use_channels_last(graph: &Graph, layers: &mut [ops::Weights]) -> Result<()> {
    let constants: HashMap<&str, usize> = graph
        .layers
        .iter()
        .enumerate()
        .filter(|(_, layer)| matches!(layer.op, Op::Onnx(format::onnx::OnnxOp::Constant)))
        .flat_map(|(index, layer)| layer.tops.iter().map(move |top| (top.as_str(), index)))
        .collect();
    for (index, layer) in graph.layers.iter().enumerate() {
        let (owner, role, groups) = match &layer.op {
            Op::Convolution(p) => (index, "W", p.group),
            Op::Onnx(format::onnx::OnnxOp::Conv { group, .. }) => {
                match layer.bottoms.get(1).and_then(|w| constants.get(w.as_str())) {
                    Some(&constant) => (constant, "value", *group),
                    None => continue,
                }
            }
            _ => continue,
        };
        if let Some(kernel) = layers[owner].get_mut(role)
            && kernel.dim() == 4
            && kernel.is_floating_point()
        {
            *kernel = crate::functions::own_product_layout(kernel, groups)?;
        }
    }
    Ok(())
}

fn check_input(input: &GraphInput, tensor: &Tensor) -> Result<()> {
    let Some(shape) = &input.shape else {
        return Ok(());
    };
    let actual = tensor.size();
    let fits = actual.len() == shape.len()
        && actual
            .iter()
            .zip(shape)
            .enumerate()
            .all(|(axis, (&a, &s))| s == -1 || a == s || axis == 0);
    if !fits {
        return Err(NnError::input(
            &input.name,
            format!("expected shape {shape:?} (−1 free, any batch size), got {actual:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use format::{LayerDef, Op};

    fn tiny() -> GraphModel {
        let graph = Graph {
            format: GRAPH_FORMAT.into(),
            version: GRAPH_VERSION,
            name: "tiny".into(),
            inputs: vec![GraphInput {
                name: "x".into(),
                shape: Some(vec![1, 2]),
            }],
            outputs: vec!["y".into()],
            layers: vec![
                LayerDef {
                    name: "scale".into(),
                    op: Op::Power {
                        power: 1.0,
                        scale: 2.0,
                        shift: 0.0,
                    },
                    bottoms: vec!["x".into()],
                    tops: vec!["y".into()],
                },
                LayerDef {
                    name: "relu".into(),
                    op: Op::Relu {
                        negative_slope: 0.0,
                    },
                    bottoms: vec!["y".into()],
                    tops: vec!["y".into()],
                },
            ],
        };
        GraphModel::from_parts(graph, HashMap::new(), Device::Cpu).unwrap()
    }

    #[test]
    fn runs_in_place_layers_and_names_bad_requests() {
        let model = tiny();
        let x = Tensor::from_slice(&[-1.0f32, 3.0]).reshape([1, 2]);
        let out = model.run(&[("x".into(), x.shallow_clone())], &[]).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(out[0].1.reshape([-1])).unwrap(),
            vec![0.0, 6.0]
        );
        let err = model
            .run(&[("x".into(), x.shallow_clone())], &["z".into()])
            .unwrap_err();
        assert!(err.to_string().contains("no output named"), "{err}");
        let err = model.run(&[("w".into(), x)], &[]).unwrap_err();
        assert!(err.to_string().contains("missing input"), "{err}");
        let wrong = Tensor::zeros([1, 3], (tch::Kind::Float, Device::Cpu));
        let err = model.run(&[("x".into(), wrong)], &[]).unwrap_err();
        assert!(err.to_string().contains("expected shape"), "{err}");
    }

    /// conv (channels-last kernel on the CPU) → relu → conv: the same
    /// values as libtorch's calls on the plain layout, intermediate blobs
    /// still answer when asked for, and the kernel has NHWC strides.
    #[test]
    fn convolutions_run_channels_last_with_the_same_results() {
        let conv = |name: &str, bottom: &str, top: &str, outputs: usize| {
            format!(
                r#"{{"name": "{name}", "type": "Convolution",
                    "params": {{"num_output": {outputs}, "kernel": [3, 3], "stride": [1, 1],
                               "pad": [1, 1], "dilation": [1, 1], "group": 1,
                               "bias_term": true}},
                    "bottoms": ["{bottom}"], "tops": ["{top}"]}}"#
            )
        };
        let text = format!(
            r#"{{"format": "{GRAPH_FORMAT}", "version": {GRAPH_VERSION}, "name": "convs",
                "inputs": [{{"name": "x"}}], "outputs": ["z"],
                "layers": [{},
                  {{"name": "relu", "type": "ReLU", "params": {{"negative_slope": 0.0}},
                    "bottoms": ["y"], "tops": ["r"]}},
                  {}]}}"#,
            conv("c1", "x", "y", 32),
            conv("c2", "r", "z", 4)
        );
        let graph = Graph::from_json(&text).unwrap();
        let w1 = crate::synthetic::synthetic_tensor("c1/W", &[32, 3, 3, 3]);
        let b1 = crate::synthetic::synthetic_tensor("c1/b", &[32]);
        let w2 = crate::synthetic::synthetic_tensor("c2/W", &[4, 32, 3, 3]);
        let b2 = crate::synthetic::synthetic_tensor("c2/b", &[4]);
        let tensors: HashMap<String, Tensor> =
            [("c1/W", &w1), ("c1/b", &b1), ("c2/W", &w2), ("c2/b", &b2)]
                .into_iter()
                .map(|(n, t)| (n.to_string(), t.copy()))
                .collect();
        let model = GraphModel::from_parts(graph, tensors, Device::Cpu).unwrap();
        // A 27-value patch: input-major, for zoo's patch convolution; a
        // 288-value one: NHWC, for oneDNN.
        let kernel = &model.layers[0]["W"];
        assert_eq!(kernel.stride(), vec![1, 32, 288, 96], "input-major strides");
        let kernel = &model.layers[2]["W"];
        assert_eq!(kernel.stride(), vec![288, 1, 96, 32], "NHWC strides");
        let x = crate::synthetic::synthetic_tensor("x", &[2, 3, 8, 8]);
        let y = x.conv2d(&w1, Some(&b1), [1, 1], [1, 1], [1, 1], 1);
        let z = y.relu().conv2d(&w2, Some(&b2), [1, 1], [1, 1], [1, 1], 1);
        let out = model
            .run(&[("x".into(), x)], &["z".into(), "y".into()])
            .unwrap();
        for ((name, got), want) in out.iter().zip([&z, &y]) {
            let diff = (got - want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{name}: {diff}");
        }
    }

    #[test]
    fn missing_parameters_name_the_layer() {
        let mut graph = tiny().graph().clone();
        graph.layers[0].op = Op::BatchNorm { eps: 1e-5 };
        let err = GraphModel::from_parts(graph, HashMap::new(), Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("scale/mean"), "{err}");
    }
}
