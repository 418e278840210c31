fn main() {
    zoo_torch_build::link_libtorch();
    // oneDNN convolutions with packed weights (src/mkldnn.rs).
    zoo_torch_build::compile_cpp("zoo_mkldnn", &["csrc/mkldnn_conv.cpp"]);
}
