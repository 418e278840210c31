#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoo_nn_fuzz::targets::npz(data));
