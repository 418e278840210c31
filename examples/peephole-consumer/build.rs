//! Links libtorch into this crate's tests, examples and binaries (found
//! through LIBTORCH, as torch-sys finds it), with an rpath to its `lib/`.

fn main() {
    zoo_torch_build::link_libtorch();
}
