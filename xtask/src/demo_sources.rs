//! The demo's sources-only VGG16 (issue #14 parts 3 and 4): `vgg16-sources`
//! is the imported `vgg16` package without its 553 MB of weights, declaring
//! instead (`[[model.sources]]`) the caffemodel it converts from, served by
//! a local "upstream" HTTP server started here. A fresh ZOO_HOME installs it
//! (download into the store, conversion by zoo-torch, the pinned hash of
//! the converted weights checked), runs it, and installs it again offline.

use crate::demo_registry::DemoRegistry;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const NAME: &str = "vgg16-sources";

/// Publishes `vgg16-sources` made from the imported `package` (whose
/// weights came from `caffemodel`), then installs and runs it from a fresh
/// ZOO_HOME with the caffemodel served by a local upstream server.
pub fn run(
    registry: &DemoRegistry,
    package: &Path,
    caffemodel: &Path,
    image: &Path,
    work: &Path,
) -> Result<()> {
    let upstream = serve(caffemodel)?;
    println!("upstream server for the SYNTHETIC caffemodel: {upstream}");
    let started = Instant::now();
    let (source_sha, size) = zoo_format::checksum::sha256_file(caffemodel)
        .with_context(|| format!("hashing {}", caffemodel.display()))?;
    let weights = package.join("weights.safetensors");
    let (produced_sha, _) = zoo_format::checksum::sha256_file(&weights)
        .with_context(|| format!("hashing {}", weights.display()))?;
    let dir = sources_package(package, work, &upstream, &source_sha, size, &produced_sha)?;
    println!(
        "--- write {} (no weights; sha256 of both files): {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", std::fs::read_to_string(dir.join("zoo.toml"))?);
    crate::demo::timed(
        &format!("zoo publish {NAME} (no weights to upload)"),
        registry.zoo().arg("publish").arg(&dir),
    )?;
    crate::cmd::run(registry.zoo().args(["info", NAME]))?;

    let home = work.join("zoo-home-sources");
    let zoo = |args: &[&str]| -> Command {
        let mut command = registry.zoo();
        command.env("ZOO_HOME", &home).args(args);
        command
    };
    crate::demo::timed(
        &format!(
            "zoo install {NAME} into a fresh ZOO_HOME (download 553 MB from the upstream server, \
             convert with zoo import caffe's code, check produces_sha256)"
        ),
        &mut zoo(&["install", NAME]),
    )?;
    println!("(synthetic weights: the labels below are ImageNet's, the scores mean nothing)");
    crate::demo::timed(
        &format!("zoo run {NAME} IMAGE"),
        zoo(&["run", NAME]).arg(image),
    )?;
    crate::cmd::run(&mut zoo(&["uninstall", NAME]))?;
    crate::demo::timed(
        &format!("zoo install --offline {NAME} (the converted weights from the store)"),
        &mut zoo(&["install", "--offline", NAME]),
    )
}

/// The package folder: `package`'s files except its weights, renamed, with
/// the `[[model.sources]]` entry.
fn sources_package(
    package: &Path,
    work: &Path,
    upstream: &str,
    source_sha: &str,
    size: u64,
    produced_sha: &str,
) -> Result<PathBuf> {
    let dir = work.join(NAME);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(package)? {
        let path = entry?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if name != "weights.safetensors" && path.is_file() {
            std::fs::copy(&path, dir.join(name))?;
        }
    }
    let manifest_path = dir.join("zoo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)?;
    let manifest = manifest.replacen("name = \"vgg16\"", &format!("name = \"{NAME}\""), 1);
    let manifest = format!(
        "{manifest}\n[[model.sources]]\nurl = [\"{upstream}\"]\nsha256 = \"{source_sha}\"\n\
         size = {size}\nconvert = \"caffe\"\nproduces = \"weights.safetensors\"\n\
         produces_sha256 = \"{produced_sha}\"\n"
    );
    std::fs::write(&manifest_path, manifest)?;
    Ok(dir)
}

/// Serves `file` at `http://127.0.0.1:PORT/<its name>` (GET with
/// `Range: bytes=N-`) from a thread that lives as long as the demo.
fn serve(file: &Path) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let url = format!("http://{}/{name}", listener.local_addr()?);
    let file = file.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let file = file.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &file);
            });
        }
    });
    Ok(url)
}

fn answer(mut stream: std::net::TcpStream, path: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut start = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            start = v.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = start.min(len);
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\n",
            len.saturating_sub(1)
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    stream.write_all(
        format!(
            "{head}Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            len - start
        )
        .as_bytes(),
    )?;
    file.seek(SeekFrom::Start(start))?;
    std::io::copy(&mut file.take(len - start), &mut stream)?;
    stream.flush()
}
