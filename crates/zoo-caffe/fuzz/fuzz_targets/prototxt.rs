#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoo_caffe_fuzz::prototxt(data));
