//! `cargo xtask demo`: the main job, end to end, on this machine: set-up,
//! build, a local registry on 127.0.0.1, publish the model zoo's packages and
//! a Caffe import, search, install into a fresh `ZOO_HOME`, and run them.

use crate::demo_registry::DemoRegistry;
use crate::{cmd, setup};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

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
    step("publish and use a custom Link (Rust crate and TorchScript)");
    crate::links::worked_example(&registry, &root)?;
    step("demo finished");
    Ok(())
}

fn step(title: &str) {
    println!("\n=== {title}");
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
