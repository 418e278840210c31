//! 2-D convolution for the graph executor: libtorch's, except where its
//! fixed per-call cost (oneDNN builds a primitive descriptor and reorders
//! the weights on every call, 50–70 µs on a 2-core machine) dwarfs small
//! problems, which mobile networks are made of:
//!
//! - a depthwise convolution (one filter per channel) runs through
//!   zoo-kernels' NHWC kernel;
//! - a pointwise (1×1, stride 1, unpadded) convolution is a matrix
//!   product over the channels-last pixels (zoo-kernels' `pointwise`,
//!   blocks of pixel rows per thread);
//! - a convolution of one group with a small kernel (an image network's
//!   first layer: 3 channels × 3×3 taps, or a strided 1×1) multiplies
//!   gathered input patches (zoo-kernels' `patch_conv`), from NCHW or
//!   channels-last inputs.
//!
//! Both read weights that a graph stores input-major (`[kh][kw][in][out]`
//! in memory, see [`own_product_layout`]), so no call repacks them.
//!
//! - any other convolution of a graph layer runs through oneDNN with the
//!   layer's kernel packed once (`crate::mkldnn`).
//!
//! All take CPU `f32` inputs when nothing records ops (no TorchScript
//! trace, no autograd), channels-last except for the patch path; results
//! differ from libtorch's only in summation order.

use crate::error::{NnError, Result};
use crate::mkldnn::{ConvSpec, PackedConv};
use tch::{Device, Kind, Tensor};
use zoo_kernels::depthwise_conv::{DepthwiseConv2d, Nhwc};
use zoo_kernels::patch_conv::{PatchConv2d, Strided};
use zoo_kernels::{Activation, Window};

/// Below this many multiply-adds a depthwise convolution runs on the calling
/// thread: waking the others would cost more than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 16;

/// A convolution's geometry; pads are per spatial axis, before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    pub stride: [i64; 2],
    pub dilation: [i64; 2],
    pub pad_begin: [i64; 2],
    pub pad_end: [i64; 2],
    pub groups: i64,
}

/// `conv2d(x, weight, bias)` with `geometry`, on the fastest path that
/// applies. `packed`, a layer's own cache, lets other CPU convolutions keep
/// their kernel in oneDNN's layout between calls.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: Conv2d,
    packed: Option<&PackedConv>,
) -> Result<Tensor> {
    conv2d_then(x, weight, bias, geometry, packed, Activation::Identity)
}

/// [`conv2d`] then `activation`. On the fast paths the activation runs on
/// the fresh output in place (in the depthwise kernel, row by row while in
/// cache); elsewhere it is libtorch's.
pub fn conv2d_then(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: Conv2d,
    packed: Option<&PackedConv>,
    activation: Activation,
) -> Result<Tensor> {
    if x.dim() == 4 && weight.dim() == 4 && untraced_cpu_f32(x, weight, bias)? {
        let nhwc = is_channels_last(x);
        if nhwc {
            if let Some(y) = depthwise(x, weight, bias, geometry, activation)? {
                return Ok(y);
            }
            if let Some(y) = pointwise(x, weight, bias, geometry, activation)? {
                return Ok(y);
            }
        }
        if let Some(y) = patched(x, weight, bias, geometry, activation)? {
            return Ok(y);
        }
        if let Some(packed) = packed
            && nhwc
            && geometry.pad_begin == geometry.pad_end
            && !x.size().contains(&0)
            && crate::mkldnn::available()
        {
            let spec = ConvSpec {
                weight,
                bias,
                padding: geometry.pad_begin,
                stride: geometry.stride,
                dilation: geometry.dilation,
                groups: geometry.groups,
            };
            let y = packed.forward(x, spec)?;
            return super::activation::activate_fresh(y, activation);
        }
    }
    let Conv2d {
        stride,
        dilation,
        pad_begin,
        pad_end,
        groups,
    } = geometry;
    let (x, padding) = if pad_begin == pad_end {
        (x.shallow_clone(), pad_begin)
    } else {
        // libtorch pads symmetrically; the extra rows and columns first.
        let pads = [pad_begin[1], pad_end[1], pad_begin[0], pad_end[0]];
        (x.f_constant_pad_nd(pads.as_slice())?, [0, 0])
    };
    let mut y = x.f_conv2d(weight, bias, stride, padding, dilation, groups)?;
    // The executor keeps activations channels-last (its kernels are): a
    // graph's first convolution gets the caller's NCHW input, and libtorch
    // answers in NCHW where oneDNN does not run (small problems). Copying
    // the input instead would cost more: 0.09 ms for a 3×224×224 image.
    let own_layout = is_channels_last(weight) || is_input_major(weight);
    if y.dim() == 4 && own_layout && !is_channels_last(&y) {
        let converted = super::channels_last(&y)?;
        if fast_paths_apply(&converted, weight, bias)? {
            y = converted;
        }
    }
    // A fresh output: the activation may run in place (it checks the rest).
    super::activation::activate_fresh(y, activation)
}

/// Depthwise kernels stored tap-major (`[kh][kw][channel]` in memory, the
/// shape unchanged) reach the kernel without a per-call transpose. Other
/// kernels are returned as they are.
pub fn depthwise_weight_layout(weight: &Tensor, groups: i64) -> Result<Tensor> {
    if !is_depthwise_kernel(&weight.size(), groups) {
        return Ok(weight.shallow_clone());
    }
    input_major(weight)
}

/// Largest patch (input channels × kernel taps, other than 1×1) and weight
/// (patch × outputs values) that zoo's own product kernel takes: every
/// tile reads the weight in place from L2, unpacked, so it must fit
/// there (256 KiB); larger kernels do better in oneDNN's blocked layout or
/// the `gemm` crate's packed one. ResNet-18's 256→512 strided 1×1 (512
/// KiB of weights) took 0.18–0.21 ms here against oneDNN's 0.12–0.15; its
/// 3→64 7×7 stem (147-value patches) 1.5 ms either way.
const OWN_PRODUCT_MAX_PATCH: i64 = 256;
const OWN_PRODUCT_MAX_WEIGHT: i64 = 1 << 16;

/// A graph's kernel of `size` in the layout its convolution reads fastest:
/// input-major for zoo's product kernels (pointwise and patch
/// convolutions of one group and a weight that fits in L2), tap-major for
/// depthwise ones, channels-last for oneDNN's.
pub fn own_product_layout(kernel: &Tensor, groups: i64) -> Result<Tensor> {
    let size = kernel.size();
    if is_depthwise_kernel(&size, groups) {
        return depthwise_weight_layout(kernel, groups);
    }
    let fits = size.len() == 4 && groups == 1 && {
        let patch = size[1] * size[2] * size[3];
        let one_by_one = size[2] == 1 && size[3] == 1;
        (one_by_one || patch <= OWN_PRODUCT_MAX_PATCH) && patch * size[0] <= OWN_PRODUCT_MAX_WEIGHT
    };
    if fits {
        input_major(kernel)
    } else {
        super::channels_last(kernel)
    }
}

/// `[out][in][kh][kw]` values laid out `[kh][kw][in][out]`, the shape
/// unchanged: one patch value's weights for all outputs are contiguous.
fn input_major(weight: &Tensor) -> Result<Tensor> {
    Ok(weight
        .f_permute([2, 3, 1, 0])?
        .f_contiguous()?
        .f_permute([3, 2, 0, 1])?)
}

/// Whether a 4-d kernel's values lie `[kh][kw][in][out]` (see
/// [`own_product_layout`]); a size-1 axis may have any stride.
fn is_input_major(weight: &Tensor) -> bool {
    let (size, stride) = (weight.size(), weight.stride());
    let [o, i, _, kw] = [size[0], size[1], size[2], size[3]];
    let expected = [1, o, kw * i * o, i * o];
    (0..4).all(|axis| size[axis] == 1 || stride[axis] == expected[axis])
}

/// A 4-d kernel with one filter per group of one channel each.
pub fn is_depthwise_kernel(size: &[i64], groups: i64) -> bool {
    size.len() == 4 && groups > 1 && size[0] == groups && size[1] == 1
}

fn fast_paths_apply(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<bool> {
    Ok(untraced_cpu_f32(x, weight, bias)? && is_channels_last(x))
}

/// CPU `f32` operands of which nothing records ops: what zoo's kernels take.
fn untraced_cpu_f32(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<bool> {
    let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float;
    if !(cpu_f32(x) && cpu_f32(weight) && bias.is_none_or(cpu_f32)) {
        return Ok(false);
    }
    let mut tensors = vec![x, weight];
    tensors.extend(bias);
    Ok(!crate::link::ops_are_recorded(&tensors)?)
}

/// NHWC strides (the layout oneDNN's outputs have after channels-last
/// kernels, see `GraphModel`); a size-1 axis may have any stride.
pub(crate) fn is_channels_last(x: &Tensor) -> bool {
    let (size, stride) = (x.size(), x.stride());
    let [_, c, h, w] = [size[0], size[1], size[2], size[3]];
    let expected = [h * w * c, 1, w * c, c];
    (0..4).all(|axis| size[axis] == 1 || stride[axis] == expected[axis])
}

impl Conv2d {
    /// The geometry as zoo-kernels' `Window` for a kernel of `kernel`
    /// (height, width); an error where a value is negative.
    fn window(&self, kernel: [i64; 2]) -> Result<Window> {
        Ok(Window {
            kernel: as_usize(kernel, "kernel")?,
            stride: as_usize(self.stride, "strides")?,
            dilation: as_usize(self.dilation, "dilations")?,
            pad_begin: as_usize(self.pad_begin, "pads")?,
            pad_end: as_usize(self.pad_end, "pads")?,
        })
    }
}

fn as_usize(values: [i64; 2], what: &str) -> Result<[usize; 2]> {
    let convert = |v: i64| {
        usize::try_from(v).map_err(|_| {
            NnError::input(
                "convolution",
                format!("{what} {values:?} must not be negative"),
            )
        })
    };
    Ok([convert(values[0])?, convert(values[1])?])
}

fn depthwise(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: Conv2d,
    activation: Activation,
) -> Result<Option<Tensor>> {
    let (size, wsize) = (x.size(), weight.size());
    let channels = size[1];
    let empty = size.contains(&0);
    if empty || g.groups != channels || wsize[0] != channels || wsize[1] != 1 || channels <= 1 {
        return Ok(None);
    }
    let (kh, kw) = (wsize[2], wsize[3]);
    let tap_major = [1, channels, kw * channels, channels];
    let weight = if (0..4).all(|axis| axis == 1 || weight.stride()[axis] == tap_major[axis]) {
        weight.shallow_clone()
    } else {
        depthwise_weight_layout(weight, g.groups)?
    };
    let bias = bias.map(dense).transpose()?;
    let kernel = DepthwiseConv2d {
        channels: channels as usize,
        window: g.window([kh, kw])?,
        weight: f32_slice(&weight),
        bias: bias.as_ref().map(f32_slice),
        activation,
    };
    let shape = Nhwc {
        batch: size[0] as usize,
        height: size[2] as usize,
        width: size[3] as usize,
    };
    let [oh, ow] = kernel
        .output_size(shape.height, shape.width)
        .map_err(|e| NnError::input("convolution", e.to_string()))?;
    let y = nhwc_output([size[0], channels, oh as i64, ow as i64])?;
    let (rows, row_len) = kernel
        .output_rows(shape)
        .map_err(|e| NnError::input("convolution", e.to_string()))?;
    let macs = rows * row_len * (kh * kw) as usize;
    let input = f32_slice(x);
    fill_rows(&y, (rows, row_len), macs, &|first, share| {
        kernel.forward_rows(input, shape, first, share)
    })?;
    Ok(Some(y))
}

/// A 1×1 convolution, stride 1, no padding: `[N·H·W, cin] × [cin, cout]`
/// on the channels-last pixels, in blocks of pixel rows per thread through
/// zoo-kernels' `pointwise` (the `gemm` crate, bias and activation applied
/// to each block in cache); one pixel (a squeeze-excitation block) as a
/// weight stream. MKL's `addmm` (with the activation a second pass) took
/// about 8 % longer over MobileNet V3 small's 40 pointwise convolutions at
/// batch 1 (4 alternations on a noisy 2-core machine: 0.82–1.14).
fn pointwise(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: Conv2d,
    activation: Activation,
) -> Result<Option<Tensor>> {
    let (size, wsize) = (x.size(), weight.size());
    let (cin, cout) = (size[1], wsize[0]);
    let plain = g.groups == 1 && g.stride == [1, 1] && g.pad_begin == [0, 0] && g.pad_end == [0, 0];
    if !plain || wsize[1] != cin || wsize[2] != 1 || wsize[3] != 1 {
        return Ok(None);
    }
    let (n, h, w) = (size[0], size[2], size[3]);
    let operands = PointwiseOperands::new(weight, bias)?;
    // One pixel (a squeeze-excitation block's pooled vector): a weight
    // stream, without MKL's per-call cost.
    if n * h * w == 1 && !operands.input_major {
        let pixel = x.f_reshape([1, cin])?;
        if let Some(y) = super::linear_row(&pixel, &operands.rows, bias)? {
            let y = super::activation::activate_fresh(y, activation)?;
            return Ok(Some(y.f_view([n, cout, h, w])?));
        }
    }
    let kernel = operands.kernel(activation);
    let (count, k, m) = ((n * h * w) as usize, cin as usize, cout as usize);
    let y = nhwc_output([n, cout, h, w])?;
    // Channels-last: the pixels lie one after another, `cin` values each.
    let input = f32_slice(x);
    fill_rows(&y, (count, m), count * k * m, &|first, share| {
        let rows = share.len() / m;
        kernel.forward_rows(&input[first * k..(first + rows) * k], share)
    })?;
    Ok(Some(y))
}

/// Fills the fresh output `y` (`rows` of `row_len` values) by `body`, on
/// libtorch's threads when `macs` multiply-adds are worth waking them.
fn fill_rows<E: std::fmt::Display>(
    y: &Tensor,
    (rows, row_len): (usize, usize),
    macs: usize,
    body: &crate::parallel::PartBody<E>,
) -> Result<()> {
    let parts = crate::parallel::parts_for(macs, PARALLEL_MIN_MACS, rows);
    crate::parallel::fill_in_parts("convolution", y, (rows, row_len), parts, body)
}

/// A fresh `[N, C, H, W]` CPU f32 tensor with channels-last strides: one
/// libtorch call (each costs about a microsecond, and a mobile network
/// runs fifty convolutions).
fn nhwc_output([n, c, h, w]: [i64; 4]) -> Result<Tensor> {
    Ok(Tensor::f_empty_strided(
        [n, c, h, w].as_slice(),
        [h * w * c, 1, w * c, c].as_slice(),
        (Kind::Float, Device::Cpu),
    )?)
}

/// `t` itself when its values are already dense (no libtorch call).
fn dense(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        Ok(t.shallow_clone())
    } else {
        Ok(t.f_contiguous()?)
    }
}

/// A 1×1 kernel `[cout, cin, 1, 1]` and bias as zoo-kernels' `Pointwise`
/// reads them: input-major weights (a graph's) are `[cin][cout]` in
/// memory; others are read as `[cout][cin]` rows (the kernel itself when
/// contiguous or channels-last, the same memory for a 1×1 kernel).
struct PointwiseOperands {
    rows: Tensor,
    input_major: bool,
    bias: Option<Tensor>,
    inputs: usize,
    outputs: usize,
}

impl PointwiseOperands {
    fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let size = weight.size();
        let (cout, cin) = (size[0], size[1]);
        let input_major = is_input_major(weight);
        let rows = if input_major || weight.is_contiguous() || is_channels_last(weight) {
            weight.shallow_clone()
        } else {
            weight.f_reshape([cout, cin])?.f_contiguous()?
        };
        Ok(PointwiseOperands {
            rows,
            input_major,
            bias: bias.map(dense).transpose()?,
            inputs: cin as usize,
            outputs: cout as usize,
        })
    }

    fn kernel(&self, activation: Activation) -> zoo_kernels::pointwise::Pointwise<'_> {
        zoo_kernels::pointwise::Pointwise {
            inputs: self.inputs,
            outputs: self.outputs,
            weight: f32_slice(&self.rows),
            input_major: self.input_major,
            bias: self.bias.as_ref().map(f32_slice),
            activation,
        }
    }
}

/// `conv2d(x · scales)` for a pointwise convolution (1×1, stride 1, no
/// padding, one group) and per-channel `scales` (`[N or 1, C, 1, 1]`, a
/// squeeze-excitation gate), then `activation`: the gated image goes
/// straight into the product (zoo-kernels' `forward_scaled_rows`) instead
/// of being written out first. `None` where the fast path does not apply
/// (the caller multiplies, then convolves).
pub fn pointwise_scaled(
    x: &Tensor,
    scales: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    activation: Activation,
) -> Result<Option<Tensor>> {
    if x.dim() != 4 || weight.dim() != 4 || scales.dim() != 4 {
        return Ok(None);
    }
    let (size, wsize, ssize) = (x.size(), weight.size(), scales.size());
    let (n, cin, h, w, cout) = (size[0], size[1], size[2], size[3], wsize[0]);
    let gate = (ssize[0] == n || ssize[0] == 1) && ssize[1..] == [cin, 1, 1];
    let one_by_one = wsize[1..] == [cin, 1, 1] && size.iter().all(|&d| d > 0);
    let cpu_f32 = scales.device() == Device::Cpu && scales.kind() == Kind::Float;
    if !(gate && one_by_one && cpu_f32 && fast_paths_apply(x, weight, bias)?)
        || crate::link::ops_are_recorded(&[scales])?
    {
        return Ok(None);
    }
    let operands = PointwiseOperands::new(weight, bias)?;
    let kernel = operands.kernel(activation);
    // `[N or 1, C, 1, 1]`: one image's gate is C values whenever its
    // channel stride is 1.
    let scales = if scales.stride()[1] == 1 || cin == 1 {
        scales.shallow_clone()
    } else {
        scales.f_contiguous()?
    };
    let (k, m, per_image) = (cin as usize, cout as usize, (h * w) as usize);
    let count = (n * h * w) as usize;
    let shared = ssize[0] == 1;
    let y = nhwc_output([n, cout, h, w])?;
    let (input, gates) = (f32_slice(x), f32_slice(&scales));
    fill_rows(&y, (count, m), count * k * m, &|first, share| {
        // Image by image: each has its own gate.
        super::nhwc::by_image(first, share, (m, per_image), |image, pixel, now| {
            let gate = if shared { 0 } else { image };
            let pixels = now.len() / m;
            kernel.forward_scaled_rows(
                &input[pixel * k..(pixel + pixels) * k],
                &gates[gate * k..(gate + 1) * k],
                now,
            )
        })
    })?;
    Ok(Some(y))
}

/// A convolution of one group whose kernel a graph stores input-major (see
/// [`own_product_layout`]): the product of gathered input patches, from an
/// NCHW or channels-last input, into a channels-last output.
fn patched(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: Conv2d,
    activation: Activation,
) -> Result<Option<Tensor>> {
    let (size, wsize) = (x.size(), weight.size());
    let dense_input = x.is_contiguous() || is_channels_last(x);
    let fits = g.groups == 1 && wsize[1] == size[1] && !size.contains(&0);
    if !(dense_input && fits && is_input_major(weight)) {
        return Ok(None);
    }
    let strides: Vec<usize> = match x.stride().iter().map(|&s| usize::try_from(s)).collect() {
        Ok(strides) => strides,
        Err(_) => return Ok(None),
    };
    let bias = bias.map(dense).transpose()?;
    let kernel = PatchConv2d {
        inputs: size[1] as usize,
        outputs: wsize[0] as usize,
        window: g.window([wsize[2], wsize[3]])?,
        weight: f32_slice(weight),
        bias: bias.as_ref().map(f32_slice),
        activation,
    };
    let shape = Strided {
        batch: size[0] as usize,
        height: size[2] as usize,
        width: size[3] as usize,
        strides: [strides[0], strides[1], strides[2], strides[3]],
    };
    let bad = |e: zoo_kernels::KernelError| NnError::input("convolution", e.to_string());
    let [oh, ow] = kernel.output_size(shape.height, shape.width).map_err(bad)?;
    let y = nhwc_output([size[0], wsize[0], oh as i64, ow as i64])?;
    let (rows, row_len) = kernel.output_rows(shape).map_err(bad)?;
    let input = f32_slice(x);
    let macs = rows * row_len * kernel.patch_len();
    fill_rows(&y, (rows, row_len), macs, &|first, share| {
        kernel.forward_rows(input, shape, first, share)
    })?;
    Ok(Some(y))
}

/// The values of a contiguous CPU f32 tensor (checked by the callers).
pub(crate) fn f32_slice(t: &Tensor) -> &[f32] {
    let len = t.numel();
    if len == 0 {
        return &[];
    }
    // SAFETY: `t` is a CPU f32 tensor whose `numel` values lie densely from
    // `data_ptr` (contiguous, channels-last or tap-major: each a permutation
    // of a dense block); the borrow keeps it alive, and nothing writes it
    // during the call.
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, len) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::channels_last;

    fn compare(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: Conv2d) {
        let fast = conv2d(x, w, b, g, None).unwrap();
        let pads = [g.pad_begin[1], g.pad_end[1], g.pad_begin[0], g.pad_end[0]];
        let reference = x
            .constant_pad_nd(pads.as_slice())
            .to_kind(Kind::Double)
            .conv2d(
                &w.to_kind(Kind::Double),
                b.map(|b| b.to_kind(Kind::Double)),
                g.stride,
                [0, 0],
                g.dilation,
                g.groups,
            );
        assert_eq!(fast.size(), reference.size());
        let diff = (fast.to_kind(Kind::Double) - &reference)
            .abs()
            .max()
            .double_value(&[]);
        let scale = reference.abs().max().double_value(&[]);
        assert!(
            diff <= 1e-5 * (1.0 + scale),
            "{g:?}: {diff} against {scale}"
        );
    }

    fn geometry(stride: i64, pad_begin: [i64; 2], pad_end: [i64; 2], groups: i64) -> Conv2d {
        Conv2d {
            stride: [stride, stride],
            dilation: [1, 1],
            pad_begin,
            pad_end,
            groups,
        }
    }

    #[test]
    fn depthwise_matches_libtorch() {
        tch::manual_seed(3);
        let x = channels_last(&Tensor::randn([2, 24, 13, 11], (Kind::Float, Device::Cpu))).unwrap();
        let w = Tensor::randn([24, 1, 5, 3], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([24], (Kind::Float, Device::Cpu));
        for (stride, begin, end) in [
            (1, [2, 1], [2, 1]),
            (2, [0, 1], [2, 0]),
            (1, [0, 0], [0, 0]),
        ] {
            let g = geometry(stride, begin, end, 24);
            compare(&x, &w, Some(&b), g);
            compare(&x, &depthwise_weight_layout(&w, 24).unwrap(), None, g);
            assert!(
                depthwise(&x, &w, None, g, Activation::Identity)
                    .unwrap()
                    .is_some()
            );
        }
    }

    #[test]
    fn pointwise_matches_libtorch() {
        tch::manual_seed(4);
        let x = channels_last(&Tensor::randn([3, 40, 7, 5], (Kind::Float, Device::Cpu))).unwrap();
        let w = channels_last(&Tensor::randn([16, 40, 1, 1], (Kind::Float, Device::Cpu))).unwrap();
        let b = Tensor::randn([16], (Kind::Float, Device::Cpu));
        let g = geometry(1, [0, 0], [0, 0], 1);
        compare(&x, &w, Some(&b), g);
        compare(&x, &w, None, g);
        let widening = Tensor::randn([72, 40, 1, 1], (Kind::Float, Device::Cpu));
        compare(
            &x,
            &widening,
            Some(&Tensor::randn([72], (Kind::Float, Device::Cpu))),
            g,
        );
        assert!(
            pointwise(&x, &w, None, g, Activation::Identity)
                .unwrap()
                .is_some()
        );
        let y = conv2d(&x, &w, Some(&b), g, None).unwrap();
        assert!(is_channels_last(&y));
        // One pixel: the weight-stream path.
        let pooled = x.mean_dim([2i64, 3].as_slice(), true, Kind::Float);
        let pooled = pooled.narrow(0, 0, 1);
        compare(&pooled, &w, Some(&b), g);
        compare(&pooled, &widening, None, g);
    }

    #[test]
    fn small_one_group_kernels_take_the_patch_path() {
        tch::manual_seed(5);
        let options = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([2, 3, 15, 12], options);
        let w = own_product_layout(&Tensor::randn([16, 3, 3, 3], options), 1).unwrap();
        let b = Tensor::randn([16], options);
        assert!(is_input_major(&w));
        for input in [x.shallow_clone(), channels_last(&x).unwrap()] {
            for g in [
                geometry(2, [1, 1], [1, 1], 1),
                geometry(1, [0, 1], [2, 0], 1),
            ] {
                let y = patched(&input, &w, Some(&b), g, Activation::Identity).unwrap();
                assert!(y.is_some_and(|y| is_channels_last(&y)));
                compare(&input, &w, Some(&b), g);
            }
        }
        // A strided 1×1 with many inputs, and the pointwise product and its
        // one-pixel case on an input-major weight.
        let x = channels_last(&Tensor::randn([2, 300, 9, 9], options)).unwrap();
        let w = own_product_layout(&Tensor::randn([40, 300, 1, 1], options), 1).unwrap();
        let b = Tensor::randn([40], options);
        assert!(is_input_major(&w));
        let strided = geometry(2, [0, 0], [0, 0], 1);
        assert!(
            patched(&x, &w, None, strided, Activation::Identity)
                .unwrap()
                .is_some()
        );
        compare(&x, &w, Some(&b), strided);
        let plain = geometry(1, [0, 0], [0, 0], 1);
        assert!(
            pointwise(&x, &w, None, plain, Activation::Identity)
                .unwrap()
                .is_some()
        );
        compare(&x, &w, Some(&b), plain);
        let pooled = x
            .mean_dim([2i64, 3].as_slice(), true, Kind::Float)
            .narrow(0, 1, 1);
        compare(&pooled, &w, Some(&b), plain);
        // A gate per image, and one shared, on the way in.
        for gate in [
            Tensor::rand([2, 300, 1, 1], options),
            Tensor::rand([1, 300, 1, 1], options),
        ] {
            let got = pointwise_scaled(&x, &gate, &w, Some(&b), Activation::Identity)
                .unwrap()
                .unwrap();
            let want = conv2d(&(&x * &gate), &w, Some(&b), plain, None).unwrap();
            assert!((got - want).abs().max().double_value(&[]) < 1e-4);
        }
        let nchw = x.contiguous();
        assert!(
            pointwise_scaled(
                &nchw,
                &x.narrow(2, 0, 1).narrow(3, 0, 1),
                &w,
                None,
                Activation::Relu
            )
            .unwrap()
            .is_none()
        );
        // Larger kernels keep oneDNN's channels-last layout.
        let big = own_product_layout(&Tensor::randn([64, 64, 3, 3], options), 1).unwrap();
        assert!(is_channels_last(&big) && !is_input_major(&big));
        let grouped = own_product_layout(&Tensor::randn([8, 2, 3, 3], options), 4).unwrap();
        assert!(!is_input_major(&grouped));
    }

    #[test]
    fn other_convolutions_take_libtorch() {
        let x = Tensor::randn([1, 8, 6, 6], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([8, 1, 3, 3], (Kind::Float, Device::Cpu));
        // NCHW input: no fast path, same results.
        assert!(!fast_paths_apply(&x, &w, None).unwrap());
        compare(&x, &w, None, geometry(1, [1, 1], [1, 1], 8));
        // A strided 1×1 and a grouped (not depthwise) one.
        let x = channels_last(&x).unwrap();
        let wide = Tensor::randn([16, 8, 1, 1], (Kind::Float, Device::Cpu));
        let strided = geometry(2, [0, 0], [0, 0], 1);
        assert!(
            pointwise(&x, &wide, None, strided, Activation::Identity)
                .unwrap()
                .is_none()
        );
        compare(&x, &wide, None, strided);
        let grouped = Tensor::randn([8, 2, 3, 3], (Kind::Float, Device::Cpu));
        let g = geometry(1, [1, 1], [1, 1], 4);
        assert!(
            depthwise(&x, &grouped, None, g, Activation::Identity)
                .unwrap()
                .is_none()
        );
        compare(&x, &grouped, None, g);
        // Something that records ops: a weight that requires grad.
        let traced = w.set_requires_grad(true);
        tch::with_grad(|| assert!(!fast_paths_apply(&x, &traced, None).unwrap()));
    }
}
