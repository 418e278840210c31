fn main() {
    zoo_torch_build::link_libtorch();
}
