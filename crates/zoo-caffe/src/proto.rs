//! The subset of Caffe's `caffe.proto` that the importer reads, as `prost`
//! messages written by hand (no protoc). Field numbers follow BVLC Caffe
//! (`src/caffe/proto/caffe.proto`); `permute_param` follows the SSD fork.
//! Fields not listed here are skipped when decoding.
//!
//! The big `blobs` of a caffemodel are not decoded through these structs:
//! [`crate::wire`] walks them in place over the memory-mapped file. The
//! `blobs` fields here serve small files (tests, prototxt-embedded blobs).

#![allow(missing_docs)]

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlobShape {
    #[prost(int64, repeated, packed = "true", tag = "1")]
    pub dim: Vec<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlobProto {
    #[prost(message, optional, tag = "7")]
    pub shape: Option<BlobShape>,
    #[prost(float, repeated, packed = "true", tag = "5")]
    pub data: Vec<f32>,
    #[prost(double, repeated, packed = "true", tag = "8")]
    pub double_data: Vec<f64>,
    #[prost(int32, optional, tag = "1")]
    pub num: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub channels: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub height: Option<i32>,
    #[prost(int32, optional, tag = "4")]
    pub width: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NetParameter {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    pub input_shape: Vec<BlobShape>,
    #[prost(int32, repeated, tag = "4")]
    pub input_dim: Vec<i32>,
    #[prost(message, repeated, tag = "100")]
    pub layer: Vec<LayerParameter>,
    #[prost(message, repeated, tag = "2")]
    pub layers: Vec<V1LayerParameter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Phase {
    Train = 0,
    Test = 1,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NetStateRule {
    #[prost(enumeration = "Phase", optional, tag = "1")]
    pub phase: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LayerParameter {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub r#type: Option<String>,
    #[prost(string, repeated, tag = "3")]
    pub bottom: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub top: Vec<String>,
    #[prost(enumeration = "Phase", optional, tag = "10")]
    pub phase: Option<i32>,
    #[prost(message, repeated, tag = "7")]
    pub blobs: Vec<BlobProto>,
    #[prost(message, repeated, tag = "8")]
    pub include: Vec<NetStateRule>,
    #[prost(message, repeated, tag = "9")]
    pub exclude: Vec<NetStateRule>,
    #[prost(message, optional, tag = "139")]
    pub batch_norm_param: Option<BatchNormParameter>,
    #[prost(message, optional, tag = "141")]
    pub bias_param: Option<BiasParameter>,
    #[prost(message, optional, tag = "104")]
    pub concat_param: Option<ConcatParameter>,
    #[prost(message, optional, tag = "106")]
    pub convolution_param: Option<ConvolutionParameter>,
    #[prost(message, optional, tag = "144")]
    pub crop_param: Option<CropParameter>,
    #[prost(message, optional, tag = "108")]
    pub dropout_param: Option<DropoutParameter>,
    #[prost(message, optional, tag = "110")]
    pub eltwise_param: Option<EltwiseParameter>,
    #[prost(message, optional, tag = "140")]
    pub elu_param: Option<EluParameter>,
    #[prost(message, optional, tag = "111")]
    pub exp_param: Option<ExpParameter>,
    #[prost(message, optional, tag = "135")]
    pub flatten_param: Option<FlattenParameter>,
    #[prost(message, optional, tag = "117")]
    pub inner_product_param: Option<InnerProductParameter>,
    #[prost(message, optional, tag = "143")]
    pub input_param: Option<InputParameter>,
    #[prost(message, optional, tag = "134")]
    pub log_param: Option<LogParameter>,
    #[prost(message, optional, tag = "118")]
    pub lrn_param: Option<LrnParameter>,
    #[prost(message, optional, tag = "121")]
    pub pooling_param: Option<PoolingParameter>,
    #[prost(message, optional, tag = "122")]
    pub power_param: Option<PowerParameter>,
    #[prost(message, optional, tag = "131")]
    pub prelu_param: Option<PReluParameter>,
    #[prost(message, optional, tag = "123")]
    pub relu_param: Option<ReluParameter>,
    #[prost(message, optional, tag = "133")]
    pub reshape_param: Option<ReshapeParameter>,
    #[prost(message, optional, tag = "142")]
    pub scale_param: Option<ScaleParameter>,
    #[prost(message, optional, tag = "125")]
    pub softmax_param: Option<SoftmaxParameter>,
    #[prost(message, optional, tag = "126")]
    pub slice_param: Option<SliceParameter>,
    #[prost(message, optional, tag = "202")]
    pub permute_param: Option<PermuteParameter>,
    #[prost(message, optional, tag = "100")]
    pub transform_param: Option<TransformationParameter>,
}

/// A data layer's image preprocessing (`transform_param`): where Caffe
/// records the mean, scale and crop a model was trained with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransformationParameter {
    #[prost(float, optional, tag = "1")]
    pub scale: Option<f32>,
    #[prost(uint32, optional, tag = "3")]
    pub crop_size: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub mean_file: Option<String>,
    #[prost(float, repeated, tag = "5")]
    pub mean_value: Vec<f32>,
}

/// The old (V1) layer, with its type as an enum: the layout of the official
/// VGG16/VGG19 caffemodels.
#[derive(Clone, PartialEq, prost::Message)]
pub struct V1LayerParameter {
    #[prost(string, repeated, tag = "2")]
    pub bottom: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    pub top: Vec<String>,
    #[prost(string, optional, tag = "4")]
    pub name: Option<String>,
    #[prost(message, repeated, tag = "32")]
    pub include: Vec<NetStateRule>,
    #[prost(message, repeated, tag = "33")]
    pub exclude: Vec<NetStateRule>,
    #[prost(enumeration = "V1LayerType", optional, tag = "5")]
    pub r#type: Option<i32>,
    #[prost(message, repeated, tag = "6")]
    pub blobs: Vec<BlobProto>,
    #[prost(message, optional, tag = "9")]
    pub concat_param: Option<ConcatParameter>,
    #[prost(message, optional, tag = "10")]
    pub convolution_param: Option<ConvolutionParameter>,
    #[prost(message, optional, tag = "12")]
    pub dropout_param: Option<DropoutParameter>,
    #[prost(message, optional, tag = "24")]
    pub eltwise_param: Option<EltwiseParameter>,
    #[prost(message, optional, tag = "41")]
    pub exp_param: Option<ExpParameter>,
    #[prost(message, optional, tag = "17")]
    pub inner_product_param: Option<InnerProductParameter>,
    #[prost(message, optional, tag = "18")]
    pub lrn_param: Option<LrnParameter>,
    #[prost(message, optional, tag = "19")]
    pub pooling_param: Option<PoolingParameter>,
    #[prost(message, optional, tag = "21")]
    pub power_param: Option<PowerParameter>,
    #[prost(message, optional, tag = "30")]
    pub relu_param: Option<ReluParameter>,
    #[prost(message, optional, tag = "39")]
    pub softmax_param: Option<SoftmaxParameter>,
    #[prost(message, optional, tag = "31")]
    pub slice_param: Option<SliceParameter>,
    #[prost(message, optional, tag = "36")]
    pub transform_param: Option<TransformationParameter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum V1LayerType {
    None = 0,
    Absval = 35,
    Accuracy = 1,
    Argmax = 30,
    Bnll = 2,
    Concat = 3,
    ContrastiveLoss = 37,
    Convolution = 4,
    Data = 5,
    Deconvolution = 39,
    Dropout = 6,
    DummyData = 32,
    EuclideanLoss = 7,
    Eltwise = 25,
    Exp = 38,
    Flatten = 8,
    Hdf5Data = 9,
    Hdf5Output = 10,
    HingeLoss = 28,
    Im2col = 11,
    ImageData = 12,
    InfogainLoss = 13,
    InnerProduct = 14,
    Lrn = 15,
    MemoryData = 29,
    MultinomialLogisticLoss = 16,
    Mvn = 34,
    Pooling = 17,
    Power = 26,
    Relu = 18,
    Sigmoid = 19,
    SigmoidCrossEntropyLoss = 27,
    Silence = 36,
    Softmax = 20,
    SoftmaxLoss = 21,
    Split = 22,
    Slice = 33,
    Tanh = 23,
    WindowData = 24,
    Threshold = 31,
}

/// V1 enum names as written in prototxt files, with their numbers.
pub const V1_LAYER_TYPE_NAMES: &[(&str, i32)] = &[
    ("NONE", 0),
    ("ABSVAL", 35),
    ("ACCURACY", 1),
    ("ARGMAX", 30),
    ("BNLL", 2),
    ("CONCAT", 3),
    ("CONTRASTIVE_LOSS", 37),
    ("CONVOLUTION", 4),
    ("DATA", 5),
    ("DECONVOLUTION", 39),
    ("DROPOUT", 6),
    ("DUMMY_DATA", 32),
    ("EUCLIDEAN_LOSS", 7),
    ("ELTWISE", 25),
    ("EXP", 38),
    ("FLATTEN", 8),
    ("HDF5_DATA", 9),
    ("HDF5_OUTPUT", 10),
    ("HINGE_LOSS", 28),
    ("IM2COL", 11),
    ("IMAGE_DATA", 12),
    ("INFOGAIN_LOSS", 13),
    ("INNER_PRODUCT", 14),
    ("LRN", 15),
    ("MEMORY_DATA", 29),
    ("MULTINOMIAL_LOGISTIC_LOSS", 16),
    ("MVN", 34),
    ("POOLING", 17),
    ("POWER", 26),
    ("RELU", 18),
    ("SIGMOID", 19),
    ("SIGMOID_CROSS_ENTROPY_LOSS", 27),
    ("SILENCE", 36),
    ("SOFTMAX", 20),
    ("SOFTMAX_LOSS", 21),
    ("SPLIT", 22),
    ("SLICE", 33),
    ("TANH", 23),
    ("WINDOW_DATA", 24),
    ("THRESHOLD", 31),
];

#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchNormParameter {
    #[prost(bool, optional, tag = "1")]
    pub use_global_stats: Option<bool>,
    #[prost(float, optional, tag = "3", default = "1e-5")]
    pub eps: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BiasParameter {
    #[prost(int32, optional, tag = "1", default = "1")]
    pub axis: Option<i32>,
    #[prost(int32, optional, tag = "2", default = "1")]
    pub num_axes: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ConcatParameter {
    #[prost(int32, optional, tag = "2", default = "1")]
    pub axis: Option<i32>,
    #[prost(uint32, optional, tag = "1", default = "1")]
    pub concat_dim: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ConvolutionParameter {
    #[prost(uint32, optional, tag = "1")]
    pub num_output: Option<u32>,
    #[prost(bool, optional, tag = "2", default = "true")]
    pub bias_term: Option<bool>,
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub pad: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "4")]
    pub kernel_size: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "6")]
    pub stride: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "18")]
    pub dilation: Vec<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub pad_h: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub pad_w: Option<u32>,
    #[prost(uint32, optional, tag = "11")]
    pub kernel_h: Option<u32>,
    #[prost(uint32, optional, tag = "12")]
    pub kernel_w: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub stride_h: Option<u32>,
    #[prost(uint32, optional, tag = "14")]
    pub stride_w: Option<u32>,
    #[prost(uint32, optional, tag = "5", default = "1")]
    pub group: Option<u32>,
    #[prost(int32, optional, tag = "16", default = "1")]
    pub axis: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CropParameter {
    #[prost(int32, optional, tag = "1", default = "2")]
    pub axis: Option<i32>,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub offset: Vec<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DropoutParameter {
    #[prost(float, optional, tag = "1", default = "0.5")]
    pub dropout_ratio: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EltwiseOp {
    Prod = 0,
    Sum = 1,
    Max = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EltwiseParameter {
    #[prost(enumeration = "EltwiseOp", optional, tag = "1", default = "Sum")]
    pub operation: Option<i32>,
    #[prost(float, repeated, packed = "false", tag = "2")]
    pub coeff: Vec<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EluParameter {
    #[prost(float, optional, tag = "1", default = "1")]
    pub alpha: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExpParameter {
    #[prost(float, optional, tag = "1", default = "-1")]
    pub base: Option<f32>,
    #[prost(float, optional, tag = "2", default = "1")]
    pub scale: Option<f32>,
    #[prost(float, optional, tag = "3", default = "0")]
    pub shift: Option<f32>,
}

/// Log has the same fields as Exp.
pub type LogParameter = ExpParameter;

#[derive(Clone, PartialEq, prost::Message)]
pub struct FlattenParameter {
    #[prost(int32, optional, tag = "1", default = "1")]
    pub axis: Option<i32>,
    #[prost(int32, optional, tag = "2", default = "-1")]
    pub end_axis: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InnerProductParameter {
    #[prost(uint32, optional, tag = "1")]
    pub num_output: Option<u32>,
    #[prost(bool, optional, tag = "2", default = "true")]
    pub bias_term: Option<bool>,
    #[prost(int32, optional, tag = "5", default = "1")]
    pub axis: Option<i32>,
    #[prost(bool, optional, tag = "6", default = "false")]
    pub transpose: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InputParameter {
    #[prost(message, repeated, tag = "1")]
    pub shape: Vec<BlobShape>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NormRegion {
    AcrossChannels = 0,
    WithinChannel = 1,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LrnParameter {
    #[prost(uint32, optional, tag = "1", default = "5")]
    pub local_size: Option<u32>,
    #[prost(float, optional, tag = "2", default = "1")]
    pub alpha: Option<f32>,
    #[prost(float, optional, tag = "3", default = "0.75")]
    pub beta: Option<f32>,
    #[prost(
        enumeration = "NormRegion",
        optional,
        tag = "4",
        default = "AcrossChannels"
    )]
    pub norm_region: Option<i32>,
    #[prost(float, optional, tag = "5", default = "1")]
    pub k: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PoolMethod {
    Max = 0,
    Ave = 1,
    Stochastic = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RoundMode {
    Ceil = 0,
    Floor = 1,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PoolingParameter {
    #[prost(enumeration = "PoolMethod", optional, tag = "1", default = "Max")]
    pub pool: Option<i32>,
    #[prost(uint32, optional, tag = "4", default = "0")]
    pub pad: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub pad_h: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub pad_w: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub kernel_size: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub kernel_h: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub kernel_w: Option<u32>,
    #[prost(uint32, optional, tag = "3", default = "1")]
    pub stride: Option<u32>,
    #[prost(uint32, optional, tag = "7")]
    pub stride_h: Option<u32>,
    #[prost(uint32, optional, tag = "8")]
    pub stride_w: Option<u32>,
    #[prost(bool, optional, tag = "12", default = "false")]
    pub global_pooling: Option<bool>,
    #[prost(enumeration = "RoundMode", optional, tag = "13", default = "Ceil")]
    pub round_mode: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PowerParameter {
    #[prost(float, optional, tag = "1", default = "1")]
    pub power: Option<f32>,
    #[prost(float, optional, tag = "2", default = "1")]
    pub scale: Option<f32>,
    #[prost(float, optional, tag = "3", default = "0")]
    pub shift: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PReluParameter {
    #[prost(bool, optional, tag = "2", default = "false")]
    pub channel_shared: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReluParameter {
    #[prost(float, optional, tag = "1", default = "0")]
    pub negative_slope: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReshapeParameter {
    #[prost(message, optional, tag = "1")]
    pub shape: Option<BlobShape>,
    #[prost(int32, optional, tag = "2", default = "0")]
    pub axis: Option<i32>,
    #[prost(int32, optional, tag = "3", default = "-1")]
    pub num_axes: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScaleParameter {
    #[prost(int32, optional, tag = "1", default = "1")]
    pub axis: Option<i32>,
    #[prost(int32, optional, tag = "2", default = "1")]
    pub num_axes: Option<i32>,
    #[prost(bool, optional, tag = "4", default = "false")]
    pub bias_term: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SoftmaxParameter {
    #[prost(int32, optional, tag = "2", default = "1")]
    pub axis: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SliceParameter {
    #[prost(int32, optional, tag = "3", default = "1")]
    pub axis: Option<i32>,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub slice_point: Vec<u32>,
    #[prost(uint32, optional, tag = "1", default = "1")]
    pub slice_dim: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PermuteParameter {
    #[prost(uint32, repeated, packed = "false", tag = "1")]
    pub order: Vec<u32>,
}
