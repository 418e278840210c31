fn main() {
    // Only the converter links libtorch; the readers alone (fuzzing) do not.
    #[cfg(feature = "import")]
    zoo_torch_build::link_libtorch();
}
