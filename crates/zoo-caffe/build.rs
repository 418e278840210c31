fn main() {
    // zoo-caffe links no libtorch; its integration tests run the converted
    // packages through zoo-nn and zoo-models (dev-dependencies).
    zoo_torch_build::link_libtorch_for_tests();
}
