//! oneDNN convolutions with weights packed once (the C++ in
//! `csrc/mkldnn_conv.cpp`, calling libtorch's `mkldnn::` operators, which
//! tch does not bind).
//!
//! libtorch's eager `conv2d` reorders a channels-last kernel into oneDNN's
//! blocked layout on every call: for ResNet-18 at batch 1 that is about 2 ms
//! of a 17 ms forward pass on 2 cores. A [`PackedConv`] keeps the kernel in
//! the blocked layout for the input size it last saw and reuses it.

use crate::error::{NnError, Result};
use std::ffi::{CStr, c_char};
use std::sync::Mutex;
use tch::Tensor;
use torch_sys::C_tensor;

unsafe extern "C" {
    fn zoo_mkldnn_conv_available() -> i32;
    fn zoo_mkldnn_pack_conv_weight(
        weight: *const C_tensor,
        padding: *const i64,
        stride: *const i64,
        dilation: *const i64,
        groups: i64,
        input_size: *const i64,
        input_dims: i64,
        out: *mut *mut C_tensor,
        error: *mut *mut c_char,
    ) -> i32;
    fn zoo_mkldnn_conv(
        x: *const C_tensor,
        packed: *const C_tensor,
        bias: *const C_tensor,
        padding: *const i64,
        stride: *const i64,
        dilation: *const i64,
        groups: i64,
        attr: *const c_char,
        out: *mut *mut C_tensor,
        error: *mut *mut c_char,
    ) -> i32;
    fn zoo_mkldnn_free_error(error: *mut c_char);
}

/// Whether this libtorch has the operators (it was built with oneDNN).
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: a lookup in libtorch's operator registry.
    *AVAILABLE.get_or_init(|| unsafe { zoo_mkldnn_conv_available() } != 0)
}

/// Turns the shim's status and out-parameters into a tensor or an error.
fn finish(status: i32, out: *mut C_tensor, error: *mut c_char, what: &str) -> Result<Tensor> {
    if status == 0 && !out.is_null() {
        // SAFETY: on success the shim returned a new `at::Tensor*` that this
        // side now owns (tch frees it on drop).
        return Ok(unsafe { Tensor::from_ptr(out) });
    }
    let message = if error.is_null() {
        "no message".to_string()
    } else {
        // SAFETY: the shim wrote a NUL-terminated malloc'd string, freed here.
        let text = unsafe { CStr::from_ptr(error) }
            .to_string_lossy()
            .into_owned();
        unsafe { zoo_mkldnn_free_error(error) };
        text
    };
    Err(NnError::input(
        what,
        crate::error::strip_cpp_trace(&message),
    ))
}

/// A convolution's kernel packed for oneDNN, for the kernel and input size
/// it was packed for: packed again when another size comes (the layout
/// oneDNN picks depends on it) or another kernel (an ONNX Conv's weight is
/// an input, which a graph may compute).
#[derive(Debug, Default)]
pub struct PackedConv {
    slot: Mutex<Option<Packed>>,
}

#[derive(Debug)]
struct Packed {
    input_size: Vec<i64>,
    /// The kernel it was packed from, held so that its memory cannot be
    /// reused by another tensor while the address identifies it.
    source: Tensor,
    packed: Tensor,
}

/// What a packed convolution needs besides its input.
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec<'a> {
    pub weight: &'a Tensor,
    pub bias: Option<&'a Tensor>,
    pub padding: [i64; 2],
    pub stride: [i64; 2],
    pub dilation: [i64; 2],
    pub groups: i64,
}

impl PackedConv {
    /// `conv2d(x)` through oneDNN with the packed kernel; the output is
    /// channels-last like `x` (CPU f32, channels-last: the caller checks).
    pub fn forward(&self, x: &Tensor, spec: ConvSpec) -> Result<Tensor> {
        let size = x.size();
        let packed = {
            let mut slot = self
                .slot
                .lock()
                .map_err(|_| NnError::Other("a packed convolution's lock was poisoned".into()))?;
            match slot.as_ref() {
                Some(hit)
                    if hit.input_size == size
                        && hit.source.data_ptr() == spec.weight.data_ptr()
                        && hit.source.size() == spec.weight.size() =>
                {
                    hit.packed.shallow_clone()
                }
                _ => {
                    let packed = pack(&size, &spec)?;
                    *slot = Some(Packed {
                        input_size: size.clone(),
                        source: spec.weight.shallow_clone(),
                        packed: packed.shallow_clone(),
                    });
                    packed
                }
            }
        };
        let mut out = std::ptr::null_mut();
        let mut error = std::ptr::null_mut();
        let bias = spec.bias.map_or(std::ptr::null(), Tensor::as_ptr);
        // SAFETY: valid tensors and two-element arrays, alive for the call;
        // the shim catches every C++ exception.
        let status = unsafe {
            zoo_mkldnn_conv(
                x.as_ptr(),
                packed.as_ptr(),
                bias,
                spec.padding.as_ptr(),
                spec.stride.as_ptr(),
                spec.dilation.as_ptr(),
                spec.groups,
                c"none".as_ptr(),
                &mut out,
                &mut error,
            )
        };
        finish(status, out, error, "convolution")
    }
}

fn pack(size: &[i64], spec: &ConvSpec) -> Result<Tensor> {
    let mut out = std::ptr::null_mut();
    let mut error = std::ptr::null_mut();
    // SAFETY: as in `forward`.
    let status = unsafe {
        zoo_mkldnn_pack_conv_weight(
            spec.weight.as_ptr(),
            spec.padding.as_ptr(),
            spec.stride.as_ptr(),
            spec.dilation.as_ptr(),
            spec.groups,
            size.as_ptr(),
            size.len() as i64,
            &mut out,
            &mut error,
        )
    };
    finish(status, out, error, "convolution (packing the kernel)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::channels_last;
    use tch::{Device, Kind};

    #[test]
    fn packed_convolution_matches_conv2d_and_repacks_for_new_sizes() {
        assert!(available());
        tch::manual_seed(5);
        let weight =
            channels_last(&Tensor::randn([12, 6, 3, 3], (Kind::Float, Device::Cpu))).unwrap();
        let bias = Tensor::randn([12], (Kind::Float, Device::Cpu));
        let spec = ConvSpec {
            weight: &weight,
            bias: Some(&bias),
            padding: [1, 0],
            stride: [2, 1],
            dilation: [1, 1],
            groups: 1,
        };
        let packed = PackedConv::default();
        for batch in [1, 3, 1] {
            let x = channels_last(&Tensor::randn([batch, 6, 9, 7], (Kind::Float, Device::Cpu)))
                .unwrap();
            let y = packed.forward(&x, spec).unwrap();
            let reference = x.conv2d(&weight, Some(&bias), [2, 1], [1, 0], [1, 1], 1);
            assert_eq!(y.size(), reference.size());
            let diff = (&y - &reference).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "batch {batch}: {diff}");
        }
    }

    #[test]
    fn another_kernel_is_packed_anew() {
        let packed = PackedConv::default();
        let x = channels_last(&Tensor::randn([1, 3, 6, 6], (Kind::Float, Device::Cpu))).unwrap();
        for _ in 0..3 {
            let weight = Tensor::randn([4, 3, 3, 3], (Kind::Float, Device::Cpu));
            let spec = ConvSpec {
                weight: &weight,
                bias: None,
                padding: [1, 1],
                stride: [1, 1],
                dilation: [1, 1],
                groups: 1,
            };
            let y = packed.forward(&x, spec).unwrap();
            let reference = x.conv2d(&weight, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
            let diff = (&y - &reference).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{diff}");
        }
    }

    #[test]
    fn bad_arguments_are_errors_not_crashes() {
        let weight = Tensor::randn([4, 3, 3, 3], (Kind::Float, Device::Cpu));
        let spec = ConvSpec {
            weight: &weight,
            bias: None,
            padding: [0, 0],
            stride: [1, 1],
            dilation: [1, 1],
            groups: 1,
        };
        // 5 input channels against a kernel for 3.
        let x = channels_last(&Tensor::randn([1, 5, 8, 8], (Kind::Float, Device::Cpu))).unwrap();
        let err = PackedConv::default().forward(&x, spec).unwrap_err();
        assert!(err.to_string().contains("convolution"), "{err}");
    }
}
