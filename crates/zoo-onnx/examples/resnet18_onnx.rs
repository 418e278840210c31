//! Writes a ResNet-18-shaped ONNX model with SYNTHETIC weights:
//! torchvision's architecture with batch normalisation folded into the
//! convolutions (as `torch.onnx.export` of an eval-mode model leaves it),
//! torchvision's parameter names (`layer1.0.conv1.weight`, `fc.bias`),
//! a dynamic batch, opset 17. `cargo xtask gpu-check` runs it on the GPU
//! machine, which has no onnx or torchvision to export a model with; the
//! PyTorch peer there (`models/bench/gpu_resnet18.py`) builds the same
//! network from the imported package's weights.
//!
//!     resnet18_onnx OUT.onnx

use bytes::Bytes;
use prost::Message;
use zoo_onnx::DataType;
use zoo_onnx::proto::{
    AttributeProto, AttributeType, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};

/// A seeded uniform generator (xorshift), so that every run writes the
/// same file.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    count: usize,
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

impl Builder {
    fn node(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        let output = format!("/{op}_{}", self.count + 1);
        self.node_to(op, inputs, attributes, output)
    }

    /// A node whose output has the given name.
    fn node_to(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        output: String,
    ) -> String {
        self.count += 1;
        self.nodes.push(NodeProto {
            name: Some(format!("{op}_{}", self.count)),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            attribute: attributes,
            ..Default::default()
        });
        output
    }

    /// A parameter of `shape`, uniform in ±`scale`.
    fn parameter(&mut self, name: &str, shape: &[i64], scale: f32, rng: &mut Uniform) {
        let count: i64 = shape.iter().product();
        let mut raw = Vec::with_capacity(count as usize * 4);
        for _ in 0..count {
            raw.extend_from_slice(&(rng.next() * scale).to_le_bytes());
        }
        self.initializers.push(TensorProto {
            dims: shape.to_vec(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.into()),
            raw_data: Some(Bytes::from(raw)),
            ..Default::default()
        });
    }

    /// A convolution with bias (batch normalisation folded in): He-scaled
    /// weights keep the activations' scale through the network.
    fn conv(
        &mut self,
        x: &str,
        name: &str,
        (cin, cout, kernel, stride): (i64, i64, i64, i64),
        rng: &mut Uniform,
    ) -> String {
        let fan_in = (cin * kernel * kernel) as f32;
        let (weight, bias) = (format!("{name}.weight"), format!("{name}.bias"));
        self.parameter(
            &weight,
            &[cout, cin, kernel, kernel],
            (6.0 / fan_in).sqrt(),
            rng,
        );
        self.parameter(&bias, &[cout], 0.1, rng);
        let pad = kernel / 2;
        self.node(
            "Conv",
            &[x, &weight, &bias],
            vec![
                ints("kernel_shape", &[kernel, kernel]),
                ints("strides", &[stride, stride]),
                ints("pads", &[pad, pad, pad, pad]),
                ints("dilations", &[1, 1]),
                int("group", 1),
            ],
        )
    }
}

fn tensor_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            dim_value: *d,
            dim_param: d.is_none().then(|| "N".to_string()),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn resnet18() -> ModelProto {
    let mut rng = Uniform(0x2545_f491_4f6c_dd1d);
    let mut b = Builder::default();
    let x = b.conv("input", "conv1", (3, 64, 7, 2), &mut rng);
    let x = b.node("Relu", &[&x], vec![]);
    let mut x = b.node(
        "MaxPool",
        &[&x],
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
        ],
    );
    let mut channels = 64;
    for (layer, width) in [64i64, 128, 256, 512].into_iter().enumerate() {
        for block in 0..2 {
            let stride = if layer > 0 && block == 0 { 2 } else { 1 };
            let name = format!("layer{}.{block}", layer + 1);
            let y = b.conv(
                &x,
                &format!("{name}.conv1"),
                (channels, width, 3, stride),
                &mut rng,
            );
            let y = b.node("Relu", &[&y], vec![]);
            let y = b.conv(&y, &format!("{name}.conv2"), (width, width, 3, 1), &mut rng);
            let shortcut = if stride != 1 || channels != width {
                b.conv(
                    &x,
                    &format!("{name}.downsample.0"),
                    (channels, width, 1, stride),
                    &mut rng,
                )
            } else {
                x.clone()
            };
            let sum = b.node("Add", &[&y, &shortcut], vec![]);
            x = b.node("Relu", &[&sum], vec![]);
            channels = width;
        }
    }
    let pooled = b.node("GlobalAveragePool", &[&x], vec![]);
    let flat = b.node("Flatten", &[&pooled], vec![int("axis", 1)]);
    b.parameter("fc.weight", &[1000, 512], (6.0f32 / 512.0).sqrt(), &mut rng);
    b.parameter("fc.bias", &[1000], 0.1, &mut rng);
    b.node_to(
        "Gemm",
        &[&flat, "fc.weight", "fc.bias"],
        vec![int("transB", 1)],
        "logits".into(),
    );
    ModelProto {
        ir_version: Some(8),
        producer_name: Some("zoo resnet18_onnx (synthetic weights)".into()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("resnet18".into()),
            node: b.nodes,
            initializer: b.initializers,
            input: vec![tensor_info("input", &[None, Some(3), Some(224), Some(224)])],
            output: vec![tensor_info("logits", &[None, Some(1000)])],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(out) = std::env::args().nth(1) else {
        return Err("usage: resnet18_onnx OUT.onnx".into());
    };
    let bytes = resnet18().encode_to_vec();
    std::fs::write(&out, &bytes).map_err(|e| format!("writing {out}: {e}"))?;
    println!(
        "{out}: ResNet-18-shaped ONNX model, SYNTHETIC weights, {} bytes",
        bytes.len()
    );
    Ok(())
}
