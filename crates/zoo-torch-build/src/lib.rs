//! Used from the `build.rs` of every crate that links `tch`.
//!
//! torch-sys asks the linker for `torch_cuda`, but the default `--as-needed`
//! drops it because nothing references its symbols directly; CUDA then reports
//! unavailable even on a GPU machine. The link arguments printed here keep it
//! (`--no-as-needed` before the libraries) and add an rpath to libtorch's
//! `lib/` so binaries and test executables start in a plain shell.
//! [`compile_cpp`] builds a crate's own C++ against libtorch's headers, with
//! the flags torch-sys uses for tch's.

use std::path::{Path, PathBuf};

/// Prints the `cargo:` lines that link libtorch for every target of the
/// calling package (binaries, tests, examples, benches).
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = match libtorch_lib_dir() {
        Ok(lib) => lib,
        Err(message) => panic!("{message}"),
    };
    print_link_args("rustc-link-arg", &lib);
}

/// The same link arguments for the calling package's integration tests
/// only: for a torch-free crate whose tests use tch through dev-dependencies.
/// Without libtorch it prints a warning instead of failing, so that the
/// crate itself still builds.
pub fn link_libtorch_for_tests() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = match libtorch_lib_dir() {
        Ok(lib) => lib,
        Err(message) => {
            println!("cargo:warning=tests that use libtorch will not link: {message}");
            return;
        }
    };
    print_link_args("rustc-link-arg-tests", &lib);
}

/// `directive` (`rustc-link-arg` or a per-target form) for each argument.
fn print_link_args(directive: &str, lib: &Path) {
    let mut args = vec![
        format!("-Wl,-rpath,{}", lib.display()),
        "-Wl,--no-as-needed".into(),
        format!("-L{}", lib.display()),
    ];
    if lib.join("libtorch_cuda.so").exists() {
        args.push("-ltorch_cuda".into());
    }
    args.extend(["-ltorch", "-ltorch_cpu", "-lc10"].map(String::from));
    for arg in args {
        println!("cargo:{directive}={arg}");
    }
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

/// Compiles `files` (C++ calling libtorch) into the static library `name`
/// that the calling crate links, against the headers of the libtorch that
/// torch-sys builds against (C++17, the new libstdc++ ABI, as torch-sys).
pub fn compile_cpp(name: &str, files: &[&str]) {
    let lib = libtorch_lib_dir().unwrap_or_else(|message| panic!("{message}"));
    let include = lib
        .parent()
        .map(|root| root.join("include"))
        .unwrap_or_else(|| panic!("{} has no parent folder", lib.display()));
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    cc::Build::new()
        .cpp(true)
        .files(files)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // libtorch's headers warn under -Wall; the crate's own code is small.
        .warnings(false)
        .compile(name);
}
