//! A VGG16-shaped V1 caffemodel with deterministic weights, for tests and the
//! import benchmark (pretrained weights cannot be downloaded here). Layer
//! names, types and blob layouts follow the official
//! VGG_ILSVRC_16_layers.caffemodel (V1 `layers`, legacy 4-D blobs); values
//! come from [`zoo_graph::synthetic`] under the keys `<layer>/W`, `<layer>/b`,
//! so that numpy (tests/fixtures/synthetic.py) reproduces them.

use crate::proto::{
    ConvolutionParameter, DropoutParameter, InnerProductParameter, NetParameter, PoolingParameter,
    V1LayerParameter, V1LayerType,
};
use crate::writer::{BlobOut, CaffemodelWriter};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use zoo_graph::synthetic::synthetic_values;

/// Which VGG16: the real size (553 MB, 224×224 input) or a miniature with the
/// same layers and names as `zoo_models` VGG-mini (widths / 8, fc 256,
/// 10 classes, 32×32 input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VggSize {
    Full,
    Mini,
}

impl VggSize {
    /// Channels of the five conv stages, fc width, classes, input side.
    fn dims(self) -> ([i64; 5], i64, i64, i64) {
        match self {
            VggSize::Full => ([64, 128, 256, 512, 512], 4096, 1000, 224),
            VggSize::Mini => ([8, 16, 32, 64, 64], 256, 10, 32),
        }
    }

    pub fn input_side(self) -> i64 {
        self.dims().3
    }

    /// The deterministic test input, shape (1, 3, side, side): the synthetic
    /// values of key `input/data` with shape (3·side², 1) (fan-in 1, so
    /// values in ±√6), reshaped.
    pub fn input(self) -> Vec<f32> {
        let side = self.input_side();
        synthetic_values("input/data", &[3 * side * side, 1])
    }
}

fn layer(name: &str, kind: V1LayerType, bottom: &str, top: &str) -> V1LayerParameter {
    V1LayerParameter {
        name: Some(name.into()),
        r#type: Some(kind as i32),
        bottom: vec![bottom.into()],
        top: vec![top.into()],
        ..Default::default()
    }
}

/// Writes the caffemodel to `path`.
pub fn write_vgg16(path: &Path, size: VggSize) -> io::Result<()> {
    write_vgg(path, size, 16)
}

/// Writes a VGG16 (`depth` 16) or VGG19 (`depth` 19: four convs in each of
/// the last three stages, as VGG_ILSVRC_19_layers) caffemodel to `path`.
pub fn write_vgg(path: &Path, size: VggSize, depth: u32) -> io::Result<()> {
    let file = std::fs::File::create(path)?;
    let out = write_vgg_to(BufWriter::with_capacity(1 << 20, file), size, depth)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

pub fn write_vgg16_to<W: Write>(w: W, size: VggSize) -> io::Result<W> {
    write_vgg_to(w, size, 16)
}

pub fn write_vgg_to<W: Write>(w: W, size: VggSize, depth: u32) -> io::Result<W> {
    if depth != 16 && depth != 19 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("VGG depth {depth}: expected 16 or 19"),
        ));
    }
    let (widths, fc, classes, side) = size.dims();
    let net = NetParameter {
        name: Some(format!("VGG_ILSVRC_{depth}_layers")),
        input: vec!["data".into()],
        input_dim: vec![1, 3, side as i32, side as i32],
        ..Default::default()
    };
    let mut writer = CaffemodelWriter::new(w, &net)?;
    let mut bottom = "data".to_string();
    let mut channels = 3i64;
    for (stage, &width) in widths.iter().enumerate() {
        let convs = match (stage < 2, depth) {
            (true, _) => 2,
            (false, 16) => 3,
            (false, _) => 4,
        };
        for i in 1..=convs {
            let name = format!("conv{}_{i}", stage + 1);
            let mut conv = layer(&name, V1LayerType::Convolution, &bottom, &name);
            conv.convolution_param = Some(ConvolutionParameter {
                num_output: Some(width as u32),
                pad: vec![1],
                kernel_size: vec![3],
                ..Default::default()
            });
            let w_shape = [width, channels, 3, 3];
            let weights = synthetic_values(&format!("{name}/W"), &w_shape);
            let bias = synthetic_values(&format!("{name}/b"), &[width]);
            writer.v1_layer(
                &conv,
                &[
                    BlobOut {
                        shape: w_shape.to_vec(),
                        legacy: true,
                        values: &weights,
                    },
                    BlobOut {
                        shape: vec![width],
                        legacy: true,
                        values: &bias,
                    },
                ],
            )?;
            let relu = format!("relu{}_{i}", stage + 1);
            writer.v1_layer(&layer(&relu, V1LayerType::Relu, &name, &name), &[])?;
            bottom = name;
            channels = width;
        }
        let pool = format!("pool{}", stage + 1);
        let mut pooling = layer(&pool, V1LayerType::Pooling, &bottom, &pool);
        pooling.pooling_param = Some(PoolingParameter {
            pool: Some(0),
            kernel_size: Some(2),
            stride: Some(2),
            ..Default::default()
        });
        writer.v1_layer(&pooling, &[])?;
        bottom = pool;
    }
    let spatial = side / 32;
    let mut inputs = channels * spatial * spatial;
    for (index, outputs) in [(6, fc), (7, fc), (8, classes)] {
        let name = format!("fc{index}");
        let mut ip = layer(&name, V1LayerType::InnerProduct, &bottom, &name);
        ip.inner_product_param = Some(InnerProductParameter {
            num_output: Some(outputs as u32),
            ..Default::default()
        });
        let w_shape = [outputs, inputs];
        let weights = synthetic_values(&format!("{name}/W"), &w_shape);
        let bias = synthetic_values(&format!("{name}/b"), &[outputs]);
        writer.v1_layer(
            &ip,
            &[
                BlobOut {
                    shape: w_shape.to_vec(),
                    legacy: true,
                    values: &weights,
                },
                BlobOut {
                    shape: vec![outputs],
                    legacy: true,
                    values: &bias,
                },
            ],
        )?;
        if index < 8 {
            let relu = format!("relu{index}");
            writer.v1_layer(&layer(&relu, V1LayerType::Relu, &name, &name), &[])?;
            let drop = format!("drop{index}");
            let mut dropout = layer(&drop, V1LayerType::Dropout, &name, &name);
            dropout.dropout_param = Some(DropoutParameter {
                dropout_ratio: Some(0.5),
            });
            writer.v1_layer(&dropout, &[])?;
        }
        bottom = name;
        inputs = outputs;
    }
    writer.v1_layer(&layer("prob", V1LayerType::Softmax, &bottom, "prob"), &[])?;
    writer.finish()
}
