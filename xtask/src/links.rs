//! The custom-Link worked example, with a full build: `cargo xtask links`
//! on its own registry, and a step of `cargo xtask demo` on the demo's.
//!
//! zoo-torch-build, zoo-kernels, zoo-graph and zoo-nn go to the registry's Cargo side with
//! `cargo publish`; a Link crate made by `zoo new link` and the shipped
//! `peephole-link` crate are tested and published with `zoo publish`; the
//! separate `peephole-consumer` crate gets the Link through
//! `registry = "zoo"`, runs it on trained weights and exports it as
//! TorchScript; the `peephole-timing` model package (which depends on the
//! link package) is installed and run, and the fresh export must give the
//! committed model.pt's outputs.
//!
//! These builds compile tch for crates outside the workspace, which takes
//! minutes the first time: they share one target dir, `target/links/target`,
//! kept between runs, and the user's CARGO_HOME (its crates.io downloads; the
//! registry is named to cargo through `CARGO_REGISTRIES_ZOO_*` only, so no
//! cargo config is written). The CI test `tests/links.rs` covers the same
//! flow without compiling tch.

use crate::cmd;
use crate::demo_registry::DemoRegistry;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The interval example: spikes at steps 5 and 17, so the net spikes at 29.
const INTERVAL_12: &str = "0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,\
                           0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0";
const EXPECTED_SPIKE: &str = "29";

/// `cargo xtask links`: set-up, build, a registry of its own, the example.
pub fn run(_args: &[String]) -> Result<()> {
    crate::setup::run()?;
    cmd::run(cmd::cargo().args(["build", "--workspace", "--bins"]))?;
    let root = cmd::root();
    let target = cmd::target_dir();
    let registry = DemoRegistry::start(&target.join("debug"), &root.join("target/links/run"))?;
    worked_example(&registry, &root)
}

/// Cargo pointed at `registry` as `zoo`, with the persistent target dir
/// under `target/links/`.
struct LinkCargo {
    target: PathBuf,
    index: String,
    token: String,
}

impl LinkCargo {
    fn new(registry: &DemoRegistry, root: &Path) -> Result<LinkCargo> {
        Ok(LinkCargo {
            target: root.join("target/links/target"),
            index: format!("sparse+{}/cargo/index/", registry.url),
            token: registry.token.clone(),
        })
    }

    fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        // `zoo` runs with a HOME of its own: name the user's CARGO_HOME so
        // that its cargo shares the downloads and compiled dependencies.
        if let Some(home) = cargo_home() {
            command.env("CARGO_HOME", home);
        }
        command
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_REGISTRIES_ZOO_INDEX", &self.index)
            .env("CARGO_REGISTRIES_ZOO_TOKEN", &self.token)
            .env("CARGO_REGISTRIES_ZOO_CREDENTIAL_PROVIDER", "cargo:token")
            // As the workspace's .cargo/config.toml sets it (another value
            // would rebuild torch-sys), unless the user set their own.
            .env(
                "LIBTORCH",
                std::env::var_os("LIBTORCH")
                    .unwrap_or_else(|| cmd::root().join(".venv/torch").into_os_string()),
            )
    }

    /// `cargo ARGS` in `dir`.
    fn cargo(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.args(args).current_dir(dir);
        self.apply(&mut command);
        command
    }
}

/// The worked example against `registry` (the demo's or our own). Cargo
/// caches each registry URL (one per run: the port is free-picked) in
/// CARGO_HOME/registry/{index,cache,src}/127.0.0.1-HASH; the folders this run
/// added are removed afterwards.
pub fn worked_example(registry: &DemoRegistry, root: &Path) -> Result<()> {
    let before = local_registry_caches();
    let result = run_example(registry, root);
    for dir in local_registry_caches().difference(&before) {
        if let Err(error) = std::fs::remove_dir_all(dir) {
            eprintln!(
                "note: could not remove cargo's cache {}: {error}",
                dir.display()
            );
        }
    }
    result
}

/// Cargo's cache folders of registries on 127.0.0.1 in the user's CARGO_HOME.
fn local_registry_caches() -> std::collections::BTreeSet<PathBuf> {
    let Some(home) = cargo_home() else {
        return Default::default();
    };
    ["index", "cache", "src"]
        .iter()
        .filter_map(|kind| std::fs::read_dir(home.join("registry").join(kind)).ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("127.0.0.1-"))
        .map(|e| e.path())
        .collect()
}

/// The user's CARGO_HOME (cargo's default when unset: ~/.cargo).
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

fn run_example(registry: &DemoRegistry, root: &Path) -> Result<()> {
    let cargo = LinkCargo::new(registry, root)?;
    let work = registry
        .data
        .parent()
        .map(|p| p.join("links"))
        .context("the registry's data dir has no parent")?;
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("emptying {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let examples = root.join("examples");

    println!("\n--- zoo's nn core to the registry's Cargo side");
    for krate in ["zoo-torch-build", "zoo-kernels", "zoo-graph", "zoo-nn"] {
        cmd::run(&mut cargo.cargo(
            root,
            &[
                "publish",
                "--registry",
                "zoo",
                "-p",
                krate,
                "--no-verify",
                "--allow-dirty",
            ],
        ))?;
    }

    println!("\n--- zoo new link, cargo test, zoo publish");
    cmd::run(
        registry
            .zoo()
            .current_dir(&work)
            .args(["new", "link", "my-link"]),
    )?;
    let my_link = work.join("my-link");
    cmd::run(&mut cargo.cargo(&my_link, &["test"]))?;
    cmd::run(cargo.apply(registry.zoo().current_dir(&my_link).arg("publish")))?;

    println!("\n--- the peephole-link crate: cargo test, zoo publish");
    let link = work.join("peephole-link");
    copy_crate(&examples.join("peephole-link"), &link)?;
    cmd::run(&mut cargo.cargo(&link, &["test"]))?;
    cmd::run(cargo.apply(registry.zoo().current_dir(&link).arg("publish")))?;
    cmd::run(registry.zoo().args(["search", "peephole"]))?;

    println!("\n--- a separate crate using it through registry = \"zoo\"");
    let consumer = work.join("peephole-consumer");
    copy_crate(&examples.join("peephole-consumer"), &consumer)?;
    cmd::run(&mut cargo.cargo(&consumer, &["test"]))?;
    let weights = root.join("models/peephole-lstm/weights.safetensors");
    let weights = weights.to_str().context("a non-UTF-8 path")?;
    let out = cmd::output(&mut cargo.cargo(
        &consumer,
        &["run", "--quiet", "--", "run", weights, INTERVAL_12],
    ))?;
    print!("{out}");
    if !out.contains(&format!("[{EXPECTED_SPIKE}]")) {
        bail!("peephole-consumer should spike at step {EXPECTED_SPIKE} only; it printed {out}");
    }
    let fresh = work.join("model.pt");
    let fresh_text = fresh.to_str().context("a non-UTF-8 path")?;
    cmd::run(&mut cargo.cargo(
        &consumer,
        &["run", "--quiet", "--", "export", weights, fresh_text],
    ))?;

    println!("\n--- the TorchScript model package that depends on the link package");
    let timing = examples.join("peephole-timing");
    registry.publish(&timing)?;
    let user = registry.zoo_home.with_file_name("links-user-home");
    if user.exists() {
        std::fs::remove_dir_all(&user)?;
    }
    cmd::run(registry.zoo().env("ZOO_HOME", &user).args([
        "install",
        "--allow-code",
        "peephole-timing",
    ]))?;
    let installed = user.join("packages/peephole-link/0.1.0/src/lib.rs");
    if !installed.is_file() {
        bail!(
            "installing peephole-timing did not install peephole-link ({} is missing)",
            installed.display()
        );
    }
    let input = timing.join("examples/interval-12.npy");
    let committed = work.join("committed-logits.npy");
    let exported = work.join("fresh-logits.npy");
    let fresh_package = work.join("peephole-timing-fresh");
    copy_crate(&timing, &fresh_package)?;
    std::fs::copy(&fresh, fresh_package.join("model.pt"))?;
    for (package, output) in [
        ("peephole-timing", &committed),
        (
            fresh_package.to_str().context("a non-UTF-8 path")?,
            &exported,
        ),
    ] {
        cmd::run(
            registry
                .zoo()
                .env("ZOO_HOME", &user)
                .args(["run", "--allow-code", package, "--input"])
                .arg(format!("x={}", input.display()))
                .arg("--output")
                .arg(format!("logits={}", output.display())),
        )?;
    }
    // The same code and weights: equal up to rounding. The committed file
    // keeps each traced constant in its own storage, a fresh export may
    // share one, and MKL's products then round differently on some CPUs
    // (1.8e-5 of 16.7 on an AVX2 EPYC); a stale model.pt differs by far more.
    let (a, b) = (read_npy_f32(&committed)?, read_npy_f32(&exported)?);
    let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    let finite = a.iter().chain(&b).all(|v| v.is_finite());
    if a.len() != b.len() || !finite || diff > 1e-5 * scale {
        bail!(
            "examples/peephole-timing/model.pt and a fresh export from peephole-link disagree \
             ({} and {} logits, max difference {diff:e} of {scale}); \
             re-export it with `peephole-consumer export` (see its README)",
            a.len(),
            b.len()
        );
    }
    println!(
        "the committed model.pt and a fresh export give the same logits \
         (max difference {diff:e} of {scale})"
    );
    Ok(())
}

/// The values of a little-endian f32 .npy file (what `zoo run --output`
/// writes), so that xtask needs no numpy or tensor crate.
fn read_npy_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = || anyhow::anyhow!("{}: not a little-endian f32 .npy file", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad()),
    };
    let header = bytes
        .get(start..start + header_len)
        .map(String::from_utf8_lossy)
        .ok_or_else(bad)?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(bad());
    }
    let data = &bytes[start + header_len..];
    if data.len() % 4 != 0 {
        return Err(bad());
    }
    Ok(data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Copies a crate or package folder without build output or lock files.
fn copy_crate(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_crate(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
