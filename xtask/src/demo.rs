//! `cargo xtask demo`: the main job, end to end, on this machine: set-up,
//! build, a local registry on 127.0.0.1, publish the model zoo's packages and
//! a Caffe import, search, install into a fresh `ZOO_HOME`, and run them;
//! then the headline at full size (`zoo install vgg16`, `zoo run vgg16`,
//! from a VGG16-shaped caffemodel with synthetic weights) and its
//! sources-only variant `vgg16-sources` (the caffemodel downloaded from a
//! local upstream server and converted at install), each step timed.

use crate::demo_registry::DemoRegistry;
use crate::{cmd, setup};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn run(_args: &[String]) -> Result<()> {
    setup::run()?;
    cmd::run(cmd::cargo().args(["build", "--workspace", "--bins"]))?;
    let root = cmd::root();
    let bin = root.join("target/debug");
    let work = root.join("target/demo");

    step("zoo doctor");
    cmd::run(std::process::Command::new(bin.join("zoo")).arg("doctor"))?;

    step("start a local registry");
    let registry = DemoRegistry::start(&bin, &work)?;

    step("import a Caffe model (deploy prototxt + caffemodel, old V1 format)");
    let fixtures = root.join("crates/zoo-caffe/tests/fixtures");
    let imported = work.join("caffe-demo-net");
    cmd::run(
        registry
            .zoo()
            .args(["import", "caffe"])
            .arg(fixtures.join("net_v1.prototxt"))
            .arg(fixtures.join("net_v1.caffemodel"))
            .arg("-o")
            .arg(&imported)
            .args(["--name", "caffe-demo-net", "--version", "1.0.0"]),
    )?;

    step("publish the model zoo and the import");
    let packages = model_packages(&root)?;
    for dir in packages.iter().chain(std::iter::once(&imported)) {
        registry.publish(dir)?;
    }

    step("search and inspect");
    cmd::run(registry.zoo().args(["search", "lstm"]))?;
    cmd::run(registry.zoo().args(["info", "cell-counter"]))?;

    step("install into a fresh ZOO_HOME");
    let mut names: Vec<String> = packages
        .iter()
        .filter_map(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    names.push("caffe-demo-net".into());
    let specs: Vec<&str> = names.iter().map(String::as_str).collect();
    registry.install(&specs)?;
    println!("{}", registry.list()?);

    step("run the installed models");
    crate::demo_run::run_models(
        &|args: &[&str]| {
            let mut command = registry.zoo();
            command.args(args).current_dir(&work);
            command
        },
        &root,
        &work,
    )?;
    headline_vgg16(&registry, &root, &work)?;
    step("publish and use a custom Link (Rust crate and TorchScript)");
    crate::links::worked_example(&registry, &root)?;
    step("demo finished");
    Ok(())
}

fn step(title: &str) {
    println!("\n=== {title}");
}

/// Runs `command`, then prints how long it took.
pub(crate) fn timed(what: &str, command: &mut std::process::Command) -> Result<()> {
    let started = Instant::now();
    cmd::run(command)?;
    println!("--- {what}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The headline, `zoo install vgg16` then `zoo run vgg16 IMAGE`, at full
/// size: the official VGG16 release can't be downloaded here, so a
/// VGG16-shaped V1 caffemodel with the official layer names and shapes and
/// SYNTHETIC weights (553 MB, `zoo_caffe::synthetic_vgg`) stands in for
/// `VGG_ILSVRC_16_layers.caffemodel`. Its labels are ImageNet's, its
/// answers are not: the weights are a formula, not a trained network.
fn headline_vgg16(registry: &DemoRegistry, root: &Path, work: &Path) -> Result<()> {
    step(
        "the headline at full size: a VGG16-shaped caffemodel (SYNTHETIC weights, official layer \
         names and shapes) imported --like models/vgg16, published, installed and run",
    );
    let caffemodel = work.join("VGG_ILSVRC_16_layers.caffemodel");
    if !caffemodel.is_file() {
        timed(
            "write the synthetic 553 MB caffemodel",
            cmd::cargo()
                .args([
                    "run",
                    "--quiet",
                    "-p",
                    "zoo-caffe",
                    "--example",
                    "vgg_caffemodel",
                    "--",
                ])
                .arg("full")
                .arg(&caffemodel),
        )?;
    }
    let package = work.join("vgg16");
    if package.exists() {
        std::fs::remove_dir_all(&package)?;
    }
    timed(
        "zoo import caffe VGG_ILSVRC_16_layers.caffemodel --like models/vgg16",
        crate::bench_caffe::import_vgg16(&mut registry.zoo(), root, &caffemodel, &package),
    )?;
    timed(
        "zoo publish vgg16 (553 MB)",
        registry.zoo().arg("publish").arg(&package),
    )?;
    timed(
        "zoo install vgg16",
        registry.zoo().args(["install", "vgg16"]),
    )?;
    let image = root.join("models/vgg-mini/examples/0-diamond.png");
    println!("(synthetic weights: the labels below are ImageNet's, the scores mean nothing)");
    timed(
        "zoo run vgg16 IMAGE (cold: process start, 553 MB of weights, one 224x224 forward pass)",
        registry.zoo().args(["run", "vgg16"]).arg(&image),
    )?;
    step(&format!(
        "a sources-only variant, {}: no weights in the package, the SYNTHETIC caffemodel \
         pinned by sha256 and downloaded from a local upstream server at install",
        crate::demo_sources::NAME
    ));
    crate::demo_sources::run(registry, &package, &caffemodel, &image, work)
}

/// Every folder under models/ with a zoo.toml and its weights: the trained
/// model packages. VGG16/19 ship without weights (ImageNet weights can't be
/// downloaded here; `zoo import caffe` or a Chainer npz provides them).
fn model_packages(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root.join("models"))? {
        let path = entry?.path();
        if !path.join("zoo.toml").is_file() {
            continue;
        }
        if path.join("weights.safetensors").is_file() {
            dirs.push(path);
        } else {
            println!(
                "skipping {}: it ships without weights (see its README)",
                path.display()
            );
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        bail!("no model packages under models/ (train them with `cargo xtask train`)");
    }
    Ok(dirs)
}
