//! One view of a Caffe net whatever its format: V1 (`layers`, enum types)
//! and V2 (`layer`, type strings) layers become [`NetLayer`]s with V2 type
//! names and parameters, and the net's declared inputs are collected.

use crate::error::{CaffeError, Result};
use crate::proto::{
    LayerParameter, NetParameter, NetStateRule, Phase, V1LayerParameter, V1LayerType,
};
use crate::wire::{Blob, RawLayer, RawParam};

#[derive(Debug, Clone)]
pub struct NetLayer<'a> {
    pub name: String,
    /// The V2 type name (`"Convolution"`), V1 enums translated.
    pub kind: String,
    pub bottoms: Vec<String>,
    pub tops: Vec<String>,
    /// Parameters in V2 form (V1 ones copied over).
    pub param: LayerParameter,
    pub blobs: Vec<Blob<'a>>,
}

/// A declared input: name and shape (`None` when the net does not say).
#[derive(Debug, Clone, PartialEq)]
pub struct NetInput {
    pub name: String,
    pub shape: Option<Vec<i64>>,
}

/// The V2 name of a V1 layer type.
pub fn v1_type_name(kind: V1LayerType) -> &'static str {
    use V1LayerType as T;
    match kind {
        T::None => "None",
        T::Absval => "AbsVal",
        T::Accuracy => "Accuracy",
        T::Argmax => "ArgMax",
        T::Bnll => "BNLL",
        T::Concat => "Concat",
        T::ContrastiveLoss => "ContrastiveLoss",
        T::Convolution => "Convolution",
        T::Data => "Data",
        T::Deconvolution => "Deconvolution",
        T::Dropout => "Dropout",
        T::DummyData => "DummyData",
        T::EuclideanLoss => "EuclideanLoss",
        T::Eltwise => "Eltwise",
        T::Exp => "Exp",
        T::Flatten => "Flatten",
        T::Hdf5Data => "HDF5Data",
        T::Hdf5Output => "HDF5Output",
        T::HingeLoss => "HingeLoss",
        T::Im2col => "Im2col",
        T::ImageData => "ImageData",
        T::InfogainLoss => "InfogainLoss",
        T::InnerProduct => "InnerProduct",
        T::Lrn => "LRN",
        T::MemoryData => "MemoryData",
        T::MultinomialLogisticLoss => "MultinomialLogisticLoss",
        T::Mvn => "MVN",
        T::Pooling => "Pooling",
        T::Power => "Power",
        T::Relu => "ReLU",
        T::Sigmoid => "Sigmoid",
        T::SigmoidCrossEntropyLoss => "SigmoidCrossEntropyLoss",
        T::Silence => "Silence",
        T::Softmax => "Softmax",
        T::SoftmaxLoss => "SoftmaxWithLoss",
        T::Split => "Split",
        T::Slice => "Slice",
        T::Tanh => "TanH",
        T::WindowData => "WindowData",
        T::Threshold => "Threshold",
    }
}

/// Whether a layer takes part in the TEST phase (Caffe's include/exclude
/// rules; only the phase is considered).
fn in_test_phase(include: &[NetStateRule], exclude: &[NetStateRule]) -> bool {
    let matches = |rule: &NetStateRule| rule.phase.is_none_or(|p| p == Phase::Test as i32);
    if !include.is_empty() {
        return include.iter().any(matches);
    }
    !exclude.iter().any(matches)
}

fn from_v2<'a>(param: LayerParameter, blobs: Vec<Blob<'a>>) -> Option<NetLayer<'a>> {
    if !in_test_phase(&param.include, &param.exclude) {
        return None;
    }
    Some(NetLayer {
        name: param.name().to_string(),
        kind: param.r#type().to_string(),
        bottoms: param.bottom.clone(),
        tops: param.top.clone(),
        param,
        blobs,
    })
}

fn from_v1<'a>(old: V1LayerParameter, blobs: Vec<Blob<'a>>) -> Option<NetLayer<'a>> {
    if !in_test_phase(&old.include, &old.exclude) {
        return None;
    }
    let kind = match V1LayerType::try_from(old.r#type.unwrap_or(0)) {
        Ok(t) => v1_type_name(t).to_string(),
        Err(_) => format!("V1 type {}", old.r#type.unwrap_or(0)),
    };
    let param = LayerParameter {
        name: old.name.clone(),
        r#type: Some(kind.clone()),
        bottom: old.bottom.clone(),
        top: old.top.clone(),
        concat_param: old.concat_param,
        convolution_param: old.convolution_param,
        dropout_param: old.dropout_param,
        eltwise_param: old.eltwise_param,
        exp_param: old.exp_param,
        inner_product_param: old.inner_product_param,
        lrn_param: old.lrn_param,
        pooling_param: old.pooling_param,
        power_param: old.power_param,
        relu_param: old.relu_param,
        softmax_param: old.softmax_param,
        slice_param: old.slice_param,
        transform_param: old.transform_param,
        ..Default::default()
    };
    Some(NetLayer {
        name: old.name.unwrap_or_default(),
        kind,
        bottoms: old.bottom,
        tops: old.top,
        param,
        blobs,
    })
}

/// The TEST-phase layers of a prototxt (blobs embedded in it included).
pub fn layers_of_net(net: &NetParameter) -> Vec<NetLayer<'static>> {
    let mut layers: Vec<NetLayer<'static>> = Vec::new();
    for p in &net.layers {
        let blobs = p.blobs.iter().map(owned_blob).collect();
        layers.extend(from_v1(p.clone(), blobs));
    }
    for p in &net.layer {
        let blobs = p.blobs.iter().map(owned_blob).collect();
        layers.extend(from_v2(p.clone(), blobs));
    }
    layers
}

fn owned_blob(blob: &crate::proto::BlobProto) -> Blob<'static> {
    let legacy = [blob.num, blob.channels, blob.height, blob.width];
    let shape = if legacy.iter().any(Option::is_some) {
        legacy.iter().map(|d| i64::from(d.unwrap_or(0))).collect()
    } else {
        blob.shape
            .as_ref()
            .map(|s| s.dim.clone())
            .unwrap_or_default()
    };
    let data = if blob.data.is_empty() {
        blob.double_data.iter().map(|&v| v as f32).collect()
    } else {
        blob.data.clone()
    };
    Blob {
        shape,
        data: crate::wire::BlobData::Owned(data),
        offset: 0,
    }
}

/// The TEST-phase layers of a caffemodel, in file order.
pub fn layers_of_model<'a>(raw: Vec<RawLayer<'a>>) -> Vec<NetLayer<'a>> {
    raw.into_iter()
        .filter_map(|layer| match layer.param {
            RawParam::V2(p) => from_v2(*p, layer.blobs),
            RawParam::V1(p) => from_v1(*p, layer.blobs),
        })
        .collect()
}

/// Inputs declared by `input` + `input_shape`/`input_dim` and by Input layers.
pub fn declared_inputs(net: &NetParameter, layers: &[NetLayer<'_>]) -> Result<Vec<NetInput>> {
    let mut inputs = Vec::new();
    for (i, name) in net.input.iter().enumerate() {
        let shape = if !net.input_shape.is_empty() {
            let Some(shape) = net.input_shape.get(i) else {
                return Err(CaffeError::Invalid(format!(
                    "input {name:?} has no input_shape ({} inputs, {} shapes)",
                    net.input.len(),
                    net.input_shape.len()
                )));
            };
            Some(shape.dim.clone())
        } else if !net.input_dim.is_empty() {
            let dims = net.input_dim.get(4 * i..4 * i + 4).ok_or_else(|| {
                CaffeError::Invalid(format!(
                    "input {name:?} has no input_dim (need 4 per input, found {})",
                    net.input_dim.len()
                ))
            })?;
            Some(dims.iter().map(|&d| i64::from(d)).collect())
        } else {
            None
        };
        inputs.push(NetInput {
            name: name.clone(),
            shape,
        });
    }
    for layer in layers.iter().filter(|l| l.kind == "Input") {
        let shapes = layer
            .param
            .input_param
            .as_ref()
            .map(|p| p.shape.clone())
            .unwrap_or_default();
        for (i, top) in layer.tops.iter().enumerate() {
            let shape = match shapes.len() {
                0 => None,
                1 => Some(shapes[0].dim.clone()),
                _ => shapes.get(i).map(|s| s.dim.clone()),
            };
            inputs.push(NetInput {
                name: top.clone(),
                shape,
            });
        }
    }
    Ok(inputs)
}
