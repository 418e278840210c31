#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoo_format_fuzz::targets::manifest(data));
