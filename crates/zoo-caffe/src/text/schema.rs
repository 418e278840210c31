//! Field names, numbers and types of the messages in [`crate::proto`], for
//! the text format: prost has no reflection, so the text parser encodes what
//! it reads into the binary wire format with this table and prost decodes
//! that into the very same structs as a caffemodel. Caffe fields that zoo
//! does not model are absent here and skipped by the parser.

use crate::proto::V1_LAYER_TYPE_NAMES;

#[derive(Debug, Clone, Copy)]
pub enum FieldType {
    Int32,
    Int64,
    UInt32,
    Float,
    Double,
    Bool,
    String,
    Enum(&'static [(&'static str, i32)]),
    Message(&'static MessageDesc),
}

#[derive(Debug)]
pub struct FieldDesc {
    pub name: &'static str,
    pub number: u32,
    pub ty: FieldType,
}

#[derive(Debug)]
pub struct MessageDesc {
    pub name: &'static str,
    pub fields: &'static [FieldDesc],
}

impl MessageDesc {
    pub fn field(&self, name: &str) -> Option<&FieldDesc> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(name: &'static str, number: u32, ty: FieldType) -> FieldDesc {
    FieldDesc { name, number, ty }
}

use FieldType::*;

pub static BLOB_SHAPE: MessageDesc = MessageDesc {
    name: "BlobShape",
    fields: &[f("dim", 1, Int64)],
};

pub static BLOB_PROTO: MessageDesc = MessageDesc {
    name: "BlobProto",
    fields: &[
        f("shape", 7, Message(&BLOB_SHAPE)),
        f("data", 5, Float),
        f("double_data", 8, Double),
        f("num", 1, Int32),
        f("channels", 2, Int32),
        f("height", 3, Int32),
        f("width", 4, Int32),
    ],
};

const PHASE: &[(&str, i32)] = &[("TRAIN", 0), ("TEST", 1)];

pub static NET_STATE_RULE: MessageDesc = MessageDesc {
    name: "NetStateRule",
    fields: &[f("phase", 1, Enum(PHASE))],
};

pub static NET_PARAMETER: MessageDesc = MessageDesc {
    name: "NetParameter",
    fields: &[
        f("name", 1, String),
        f("input", 3, String),
        f("input_shape", 8, Message(&BLOB_SHAPE)),
        f("input_dim", 4, Int32),
        f("layer", 100, Message(&LAYER_PARAMETER)),
        f("layers", 2, Message(&V1_LAYER_PARAMETER)),
    ],
};

pub static LAYER_PARAMETER: MessageDesc = MessageDesc {
    name: "LayerParameter",
    fields: &[
        f("name", 1, String),
        f("type", 2, String),
        f("bottom", 3, String),
        f("top", 4, String),
        f("phase", 10, Enum(PHASE)),
        f("blobs", 7, Message(&BLOB_PROTO)),
        f("include", 8, Message(&NET_STATE_RULE)),
        f("exclude", 9, Message(&NET_STATE_RULE)),
        f("batch_norm_param", 139, Message(&BATCH_NORM)),
        f("bias_param", 141, Message(&BIAS)),
        f("concat_param", 104, Message(&CONCAT)),
        f("convolution_param", 106, Message(&CONVOLUTION)),
        f("crop_param", 144, Message(&CROP)),
        f("dropout_param", 108, Message(&DROPOUT)),
        f("eltwise_param", 110, Message(&ELTWISE)),
        f("elu_param", 140, Message(&ELU)),
        f("exp_param", 111, Message(&EXP)),
        f("flatten_param", 135, Message(&FLATTEN)),
        f("inner_product_param", 117, Message(&INNER_PRODUCT)),
        f("input_param", 143, Message(&INPUT)),
        f("log_param", 134, Message(&EXP)),
        f("lrn_param", 118, Message(&LRN)),
        f("pooling_param", 121, Message(&POOLING)),
        f("power_param", 122, Message(&POWER)),
        f("prelu_param", 131, Message(&PRELU)),
        f("relu_param", 123, Message(&RELU)),
        f("reshape_param", 133, Message(&RESHAPE)),
        f("scale_param", 142, Message(&SCALE)),
        f("softmax_param", 125, Message(&SOFTMAX)),
        f("slice_param", 126, Message(&SLICE)),
        f("permute_param", 202, Message(&PERMUTE)),
        f("transform_param", 100, Message(&TRANSFORM)),
    ],
};

pub static V1_LAYER_PARAMETER: MessageDesc = MessageDesc {
    name: "V1LayerParameter",
    fields: &[
        f("bottom", 2, String),
        f("top", 3, String),
        f("name", 4, String),
        f("include", 32, Message(&NET_STATE_RULE)),
        f("exclude", 33, Message(&NET_STATE_RULE)),
        f("type", 5, Enum(V1_LAYER_TYPE_NAMES)),
        f("blobs", 6, Message(&BLOB_PROTO)),
        f("concat_param", 9, Message(&CONCAT)),
        f("convolution_param", 10, Message(&CONVOLUTION)),
        f("dropout_param", 12, Message(&DROPOUT)),
        f("eltwise_param", 24, Message(&ELTWISE)),
        f("exp_param", 41, Message(&EXP)),
        f("inner_product_param", 17, Message(&INNER_PRODUCT)),
        f("lrn_param", 18, Message(&LRN)),
        f("pooling_param", 19, Message(&POOLING)),
        f("power_param", 21, Message(&POWER)),
        f("relu_param", 30, Message(&RELU)),
        f("softmax_param", 39, Message(&SOFTMAX)),
        f("slice_param", 31, Message(&SLICE)),
        f("transform_param", 36, Message(&TRANSFORM)),
    ],
};

static TRANSFORM: MessageDesc = MessageDesc {
    name: "TransformationParameter",
    fields: &[
        f("scale", 1, Float),
        f("crop_size", 3, UInt32),
        f("mean_file", 4, String),
        f("mean_value", 5, Float),
    ],
};

static BATCH_NORM: MessageDesc = MessageDesc {
    name: "BatchNormParameter",
    fields: &[f("use_global_stats", 1, Bool), f("eps", 3, Float)],
};

static BIAS: MessageDesc = MessageDesc {
    name: "BiasParameter",
    fields: &[f("axis", 1, Int32), f("num_axes", 2, Int32)],
};

static CONCAT: MessageDesc = MessageDesc {
    name: "ConcatParameter",
    fields: &[f("axis", 2, Int32), f("concat_dim", 1, UInt32)],
};

static CONVOLUTION: MessageDesc = MessageDesc {
    name: "ConvolutionParameter",
    fields: &[
        f("num_output", 1, UInt32),
        f("bias_term", 2, Bool),
        f("pad", 3, UInt32),
        f("kernel_size", 4, UInt32),
        f("stride", 6, UInt32),
        f("dilation", 18, UInt32),
        f("pad_h", 9, UInt32),
        f("pad_w", 10, UInt32),
        f("kernel_h", 11, UInt32),
        f("kernel_w", 12, UInt32),
        f("stride_h", 13, UInt32),
        f("stride_w", 14, UInt32),
        f("group", 5, UInt32),
        f("axis", 16, Int32),
    ],
};

static CROP: MessageDesc = MessageDesc {
    name: "CropParameter",
    fields: &[f("axis", 1, Int32), f("offset", 2, UInt32)],
};

static DROPOUT: MessageDesc = MessageDesc {
    name: "DropoutParameter",
    fields: &[f("dropout_ratio", 1, Float)],
};

static ELTWISE: MessageDesc = MessageDesc {
    name: "EltwiseParameter",
    fields: &[
        f("operation", 1, Enum(&[("PROD", 0), ("SUM", 1), ("MAX", 2)])),
        f("coeff", 2, Float),
    ],
};

static ELU: MessageDesc = MessageDesc {
    name: "ELUParameter",
    fields: &[f("alpha", 1, Float)],
};

static EXP: MessageDesc = MessageDesc {
    name: "ExpParameter",
    fields: &[
        f("base", 1, Float),
        f("scale", 2, Float),
        f("shift", 3, Float),
    ],
};

static FLATTEN: MessageDesc = MessageDesc {
    name: "FlattenParameter",
    fields: &[f("axis", 1, Int32), f("end_axis", 2, Int32)],
};

static INNER_PRODUCT: MessageDesc = MessageDesc {
    name: "InnerProductParameter",
    fields: &[
        f("num_output", 1, UInt32),
        f("bias_term", 2, Bool),
        f("axis", 5, Int32),
        f("transpose", 6, Bool),
    ],
};

static INPUT: MessageDesc = MessageDesc {
    name: "InputParameter",
    fields: &[f("shape", 1, Message(&BLOB_SHAPE))],
};

static LRN: MessageDesc = MessageDesc {
    name: "LRNParameter",
    fields: &[
        f("local_size", 1, UInt32),
        f("alpha", 2, Float),
        f("beta", 3, Float),
        f(
            "norm_region",
            4,
            Enum(&[("ACROSS_CHANNELS", 0), ("WITHIN_CHANNEL", 1)]),
        ),
        f("k", 5, Float),
    ],
};

static POOLING: MessageDesc = MessageDesc {
    name: "PoolingParameter",
    fields: &[
        f(
            "pool",
            1,
            Enum(&[("MAX", 0), ("AVE", 1), ("STOCHASTIC", 2)]),
        ),
        f("pad", 4, UInt32),
        f("pad_h", 9, UInt32),
        f("pad_w", 10, UInt32),
        f("kernel_size", 2, UInt32),
        f("kernel_h", 5, UInt32),
        f("kernel_w", 6, UInt32),
        f("stride", 3, UInt32),
        f("stride_h", 7, UInt32),
        f("stride_w", 8, UInt32),
        f("global_pooling", 12, Bool),
        f("round_mode", 13, Enum(&[("CEIL", 0), ("FLOOR", 1)])),
    ],
};

static POWER: MessageDesc = MessageDesc {
    name: "PowerParameter",
    fields: &[
        f("power", 1, Float),
        f("scale", 2, Float),
        f("shift", 3, Float),
    ],
};

static PRELU: MessageDesc = MessageDesc {
    name: "PReLUParameter",
    fields: &[f("channel_shared", 2, Bool)],
};

static RELU: MessageDesc = MessageDesc {
    name: "ReLUParameter",
    fields: &[f("negative_slope", 1, Float)],
};

static RESHAPE: MessageDesc = MessageDesc {
    name: "ReshapeParameter",
    fields: &[
        f("shape", 1, Message(&BLOB_SHAPE)),
        f("axis", 2, Int32),
        f("num_axes", 3, Int32),
    ],
};

static SCALE: MessageDesc = MessageDesc {
    name: "ScaleParameter",
    fields: &[
        f("axis", 1, Int32),
        f("num_axes", 2, Int32),
        f("bias_term", 4, Bool),
    ],
};

static SOFTMAX: MessageDesc = MessageDesc {
    name: "SoftmaxParameter",
    fields: &[f("axis", 2, Int32)],
};

static SLICE: MessageDesc = MessageDesc {
    name: "SliceParameter",
    fields: &[
        f("axis", 3, Int32),
        f("slice_point", 2, UInt32),
        f("slice_dim", 1, UInt32),
    ],
};

static PERMUTE: MessageDesc = MessageDesc {
    name: "PermuteParameter",
    fields: &[f("order", 1, UInt32)],
};
