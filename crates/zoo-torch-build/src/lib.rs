//! Used from the `build.rs` of every crate that links `tch`.
//!
//! torch-sys asks the linker for `torch_cuda`, but the default `--as-needed`
//! drops it because nothing references its symbols directly; CUDA then reports
//! unavailable even on a GPU machine. The link arguments printed here keep it
//! (`--no-as-needed` before the libraries) and add an rpath to libtorch's
//! `lib/` so binaries and test executables start in a plain shell.

use std::path::{Path, PathBuf};

/// Prints the `cargo:` lines that link libtorch for every target of the
/// calling package (binaries, tests, examples, benches).
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = match libtorch_lib_dir() {
        Ok(lib) => lib,
        Err(message) => panic!("{message}"),
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-L{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-ltorch_cpu");
    println!("cargo:rustc-link-arg=-lc10");
}

/// The `lib/` folder of the libtorch that torch-sys builds against.
pub fn libtorch_lib_dir() -> Result<PathBuf, String> {
    let root = std::env::var_os("LIBTORCH").ok_or_else(|| {
        "LIBTORCH is not set: build through the workspace (its .cargo/config.toml \
         points at .venv/torch) after running `cargo xtask setup`"
            .to_string()
    })?;
    let lib = Path::new(&root).join("lib");
    if !lib.join("libtorch_cpu.so").exists() {
        return Err(format!(
            "libtorch was not found at {}: run `cargo xtask setup` first \
             (it installs torch==2.11.0 into .venv)",
            lib.display()
        ));
    }
    Ok(lib.canonicalize().unwrap_or(lib))
}
