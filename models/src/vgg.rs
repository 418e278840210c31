//! VGG16 / VGG19 (Simonyan & Zisserman, configurations D and E) with Caffe's
//! and Chainer's layer names, and the same topology with narrower layers
//! ("VGG-mini") for training on synthetic data.
//!
//! `extract` mirrors Chainer's `VGG16Layers.forward(x, layers=[...])`: each
//! conv key includes its ReLU, `fc6`/`fc7` include ReLU (and dropout when
//! training), `fc8` is the logits and `prob` their softmax.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{Kind, Tensor, nn};
use zoo_nn::init::Initializer;
use zoo_nn::links::{
    Convolution2D, Convolution2DConfig, Linear, LinearConfig, convolution_2d, linear_with,
};
use zoo_nn::{Link, Mode};

/// The shape of a VGG network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VggConfig {
    /// 16 (configuration D) or 19 (configuration E).
    pub depth: usize,
    /// Divides every conv width (64..512); 1 for the real networks.
    #[serde(default = "one")]
    pub width_divisor: i64,
    /// Width of fc6 and fc7 (4096 for the real networks).
    #[serde(default = "fc_default")]
    pub fc_width: i64,
    /// Number of classes of fc8.
    #[serde(default = "classes_default")]
    pub classes: i64,
    /// Height and width of the (square) input image.
    #[serde(default = "size_default")]
    pub input_size: i64,
}

fn one() -> i64 {
    1
}
fn fc_default() -> i64 {
    4096
}
fn classes_default() -> i64 {
    1000
}
fn size_default() -> i64 {
    224
}

impl VggConfig {
    pub fn vgg16() -> Self {
        VggConfig {
            depth: 16,
            width_divisor: 1,
            fc_width: 4096,
            classes: 1000,
            input_size: 224,
        }
    }
    pub fn vgg19() -> Self {
        VggConfig {
            depth: 19,
            ..Self::vgg16()
        }
    }
    /// VGG16's 13 convs and 3 fc layers, widths /8, fc 256, 10 classes, 32×32.
    pub fn mini() -> Self {
        VggConfig {
            depth: 16,
            width_divisor: 8,
            fc_width: 256,
            classes: 10,
            input_size: 32,
        }
    }

    /// Convs per block: D has 2,2,3,3,3 and E has 2,2,4,4,4.
    fn convs_per_block(&self) -> Result<[usize; 5]> {
        match self.depth {
            16 => Ok([2, 2, 3, 3, 3]),
            19 => Ok([2, 2, 4, 4, 4]),
            other => Err(ModelError::Package {
                package: "vgg".into(),
                message: format!("depth {other} is not a VGG configuration: expected 16 or 19"),
            }),
        }
    }

    fn validate(&self) -> Result<()> {
        self.convs_per_block()?;
        if self.width_divisor < 1 || 64 % self.width_divisor != 0 {
            return Err(ModelError::Package {
                package: "vgg".into(),
                message: format!("width_divisor {} must divide 64", self.width_divisor),
            });
        }
        if self.input_size < 32 || self.input_size % 32 != 0 {
            return Err(ModelError::Package {
                package: "vgg".into(),
                message: format!("input_size {} must be a multiple of 32", self.input_size),
            });
        }
        Ok(())
    }
}

/// One named step of the network, in execution order.
#[derive(Debug)]
enum Layer {
    Conv {
        name: String,
        conv: Convolution2D,
    },
    Pool {
        name: String,
    },
    Fc {
        name: String,
        fc: Linear,
        relu: bool,
    },
    Prob,
}

impl Layer {
    fn name(&self) -> &str {
        match self {
            Layer::Conv { name, .. } | Layer::Pool { name } | Layer::Fc { name, .. } => name,
            Layer::Prob => "prob",
        }
    }
}

/// A VGG network whose parameters live in the given var store.
#[derive(Debug)]
pub struct Vgg {
    pub config: VggConfig,
    layers: Vec<Layer>,
}

/// A 3×3 convolution with padding 1, He-initialised (it feeds a ReLU).
fn conv3x3(path: &nn::Path, in_channels: i64, out_channels: i64) -> Convolution2D {
    let config = Convolution2DConfig {
        pad: [1, 1],
        initial_w: Initializer::HeNormal,
        ..Default::default()
    };
    convolution_2d(path, in_channels, out_channels, [3, 3], config)
}

/// A fully connected layer: He-initialised when a ReLU follows, else LeCun.
fn fully_connected(path: &nn::Path, in_size: i64, out_size: i64, relu: bool) -> Linear {
    let config = LinearConfig {
        initial_w: if relu {
            Initializer::HeNormal
        } else {
            Initializer::LeCunNormal
        },
        ..Default::default()
    };
    linear_with(path, in_size, out_size, config)
}

impl Vgg {
    /// Builds the layers under `path` (parameters `conv1_1/W`, `conv1_1/b`, …, `fc8/b`),
    /// He-initialised (what training from scratch needs; loading overwrites them).
    pub fn new(path: &nn::Path, config: VggConfig) -> Result<Self> {
        config.validate()?;
        let widths = [64, 128, 256, 512, 512].map(|w| w / config.width_divisor);
        let mut layers = Vec::new();
        let mut in_channels = 3;
        for (block, (&convs, &width)) in config
            .convs_per_block()?
            .iter()
            .zip(widths.iter())
            .enumerate()
        {
            for index in 1..=convs {
                let name = format!("conv{}_{}", block + 1, index);
                let conv = conv3x3(&path.sub(&name), in_channels, width);
                layers.push(Layer::Conv { name, conv });
                in_channels = width;
            }
            layers.push(Layer::Pool {
                name: format!("pool{}", block + 1),
            });
        }
        let side = config.input_size / 32;
        let flat = in_channels * side * side;
        let fc_shapes = [
            ("fc6", flat, config.fc_width, true),
            ("fc7", config.fc_width, config.fc_width, true),
            ("fc8", config.fc_width, config.classes, false),
        ];
        for (name, in_size, out_size, relu) in fc_shapes {
            let fc = fully_connected(&path.sub(name), in_size, out_size, relu);
            layers.push(Layer::Fc {
                name: name.into(),
                fc,
                relu,
            });
        }
        layers.push(Layer::Prob);
        Ok(Vgg { config, layers })
    }

    /// Switches the conv weights to the channels-last layout (same shape and
    /// values, NHWC strides), in place in their var store, and with them the
    /// activations `extract` feeds the convs: libtorch's CPU convolutions
    /// (oneDNN) run about 15% faster so (`cargo xtask bench models`). What
    /// PyTorch's `model.to(memory_format=torch.channels_last)` does. Package
    /// loading turns it on; training leaves it off, so that its numerics stay
    /// those the committed weights were trained with. Weights loaded later
    /// keep the layout (loading copies into the variables).
    pub fn use_channels_last(&self) -> Result<()> {
        for layer in &self.layers {
            if let Layer::Conv { conv, .. } = layer {
                let nhwc = zoo_nn::functions::channels_last(&conv.weight)?;
                let mut variable = conv.weight.shallow_clone();
                tch::no_grad(|| variable.f_set_data(&nhwc))?;
            }
        }
        Ok(())
    }

    /// [`Vgg::use_channels_last`]'s layout for weights about to be loaded:
    /// each conv weight becomes a fresh channels-last tensor, its current
    /// values dropped rather than copied (loading overwrites them).
    pub fn channels_last_for_loading(&self) -> Result<()> {
        for layer in &self.layers {
            if let Layer::Conv { conv, .. } = layer {
                let size = conv.weight.size();
                let [_, channels, height, width] = size[..] else {
                    continue;
                };
                let strides = [channels * height * width, 1, width * channels, channels];
                let nhwc = Tensor::f_empty_strided(
                    &size,
                    strides,
                    (conv.weight.kind(), conv.weight.device()),
                )?;
                let mut variable = conv.weight.shallow_clone();
                tch::no_grad(|| variable.f_set_data(&nhwc))?;
            }
        }
        Ok(())
    }

    /// Whether `use_channels_last` is in effect (the first conv's channel
    /// stride is 1).
    fn is_channels_last(&self) -> bool {
        self.layers.iter().find_map(|layer| match layer {
            Layer::Conv { conv, .. } => {
                let w = &conv.weight;
                Some(w.stride().get(1) == Some(&1) && w.size()[1] > 1)
            }
            _ => None,
        }) == Some(true)
    }

    /// The names `extract` accepts, in network order.
    pub fn layer_names(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name().to_string()).collect()
    }

    /// Checks that `x` is a batch of 3-channel images of the configured size.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        let s = self.config.input_size;
        if size.len() != 4 || size[1] != 3 || size[2] != s || size[3] != s {
            return Err(ModelError::input(
                "data",
                format!("expected shape [N, 3, {s}, {s}], got {size:?}"),
            ));
        }
        if size[0] == 0 {
            return Err(ModelError::input("data", "empty batch"));
        }
        Ok(())
    }

    /// Runs the network up to the last of `wanted` and returns each wanted
    /// layer's output (Chainer's `forward(x, layers=[...])`).
    pub fn extract(
        &self,
        x: &Tensor,
        wanted: &[&str],
        mode: Mode,
    ) -> Result<HashMap<String, Tensor>> {
        self.check_input(x)?;
        let names = self.layer_names();
        for name in wanted {
            if !names.iter().any(|n| n == name) {
                return Err(ModelError::input(
                    "layers",
                    format!("unknown layer {name:?}; known: {}", names.join(", ")),
                ));
            }
        }
        let mut out = HashMap::new();
        // Converting only when needed keeps traced TorchScript device-free.
        let mut h = if x.kind() == Kind::Float {
            x.shallow_clone()
        } else {
            x.to_kind(Kind::Float)
        };
        if self.is_channels_last() {
            h = zoo_nn::functions::channels_last(&h)?;
        }
        for layer in &self.layers {
            if out.len() == wanted.len() {
                break;
            }
            h = match layer {
                Layer::Conv { conv, .. } => conv.f_forward(&h, mode)?.f_relu()?,
                Layer::Pool { .. } => h.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true)?,
                Layer::Fc { fc, relu, .. } => {
                    let y = fc.f_forward(&h, mode)?;
                    if *relu {
                        y.f_relu()?.f_dropout(0.5, mode.is_train())?
                    } else {
                        y
                    }
                }
                Layer::Prob => h.f_softmax(1, Kind::Float)?,
            };
            if wanted.contains(&layer.name()) {
                out.insert(layer.name().to_string(), h.shallow_clone());
            }
        }
        Ok(out)
    }

    /// Logits (fc8).
    pub fn logits(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut out = self.extract(x, &["fc8"], mode)?;
        out.remove("fc8")
            .ok_or_else(|| ModelError::input("layers", "fc8 was not computed"))
    }
}
