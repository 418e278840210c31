#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoo_onnx_fuzz::targets::onnx(data));
