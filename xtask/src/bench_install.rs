//! `cargo xtask bench install`: `zoo install` of a package with a large
//! weights file against `curl -o FILE` + `openssl dgst -sha256 FILE` of the
//! same blob from the same local registry, zoo's peak RSS, and the index
//! request rate of zoo-registry against nginx serving the same index files
//! (both measured with wrk). Release binaries; everything on 127.0.0.1.
//!
//! Options: `--size-mib N` (default 512), `--runs N` (default 3), `--vgg16`
//! (install the `vgg16` package instead: the synthetic VGG16-shaped
//! caffemodel imported with `--like models/vgg16`, 553 MB of weights, as in
//! the demo; needs a release `zoo-torch` for the import).

use crate::cmd;
use crate::demo_registry::DemoRegistry;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const PACKAGE: &str = "bench-weights";

struct Options {
    size_mib: u64,
    runs: usize,
    vgg16: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        size_mib: 512,
        runs: 3,
        vgg16: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--vgg16" {
            options.vgg16 = true;
            continue;
        }
        let value = it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--size-mib" => options.size_mib = value?.parse().context("--size-mib")?,
            "--runs" => options.runs = value?.parse().context("--runs")?,
            other => bail!("unknown option {other:?} (expected --size-mib N, --runs N, --vgg16)"),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    ensure_tools()?;
    let mut build = cmd::cargo();
    build.args(["build", "--release", "-p", "zoo-cli", "-p", "zoo-registry"]);
    if options.vgg16 {
        build.args(["-p", "zoo-torch-cli"]);
    }
    cmd::run(&mut build)?;
    let target = cmd::target_dir();
    let bin = target.join("release");
    let work = target.join("bench-install");
    let registry = DemoRegistry::start(&bin, &work.join("run"))?;

    let (package, name, weights) = if options.vgg16 {
        let package = work.join("vgg16");
        std::fs::remove_dir_all(&package).ok();
        let caffemodel = crate::bench_caffe::synthetic_vgg16()?;
        cmd::run(
            Command::new(bin.join("zoo-torch"))
                .args(["import", "caffe"])
                .arg(&caffemodel)
                .arg("--like")
                .arg(cmd::root().join("models/vgg16"))
                .arg("-o")
                .arg(&package),
        )?;
        let weights = package.join("weights.safetensors");
        (package, "vgg16", weights)
    } else {
        let package = work.join("package");
        write_package(&package, options.size_mib)?;
        let weights = package.join("weights.bin");
        (package, PACKAGE, weights)
    };
    let weights_mib = std::fs::metadata(&weights)?.len() as f64 / (1 << 20) as f64;
    registry.publish(&package)?;
    let sha = openssl_sha256(&weights)?;
    let url = registry.blob_url(&sha);

    let mut zoo_secs = Vec::new();
    let mut zoo_rss = Vec::new();
    let mut peer_secs = Vec::new();
    let mut curl_secs = Vec::new();
    for run in 0..options.runs {
        // zoo: a fresh store each time, so the whole blob is fetched.
        std::fs::remove_dir_all(&registry.zoo_home).ok();
        cmd::settle()?;
        let mut install = registry.zoo();
        install.args(["--quiet", "install", name]);
        let (secs, rss_kib) = cmd::timed_with_rss(&mut install)?;
        zoo_secs.push(secs);
        zoo_rss.push(rss_kib);
        // curl alone: the same bytes to a file, nothing checked.
        let file = work.join("curl.bin");
        std::fs::remove_file(&file).ok();
        cmd::settle()?;
        let started = Instant::now();
        cmd::run(
            Command::new("curl")
                .args(["-sf", "-o"])
                .arg(&file)
                .arg(&url),
        )?;
        curl_secs.push(started.elapsed().as_secs_f64());
        // curl + openssl: the same bytes to a file, then hashed.
        std::fs::remove_file(&file).ok();
        let script = format!(
            "curl -sf -o '{}' '{url}' && openssl dgst -sha256 '{}' > /dev/null",
            file.display(),
            file.display()
        );
        cmd::settle()?;
        let started = Instant::now();
        cmd::run(Command::new("sh").args(["-c", &script]))?;
        peer_secs.push(started.elapsed().as_secs_f64());
        eprintln!(
            "run {}: zoo install {:.3} s ({} MiB peak RSS), curl {:.3} s, curl+openssl {:.3} s",
            run + 1,
            zoo_secs[run],
            zoo_rss[run] / 1024,
            curl_secs[run],
            peer_secs[run]
        );
    }
    // What the binary costs before doing anything: libtorch is linked in.
    let (list_secs, list_rss) = cmd::timed_with_rss(registry.zoo().args(["--quiet", "list"]))?;

    let index_path = format!("/index/{}", index_path(name));
    let zoo_rps = wrk(&format!("{}{index_path}", registry.url))?;
    let nginx_rps = with_nginx(&registry.data, &work, |base| {
        wrk(&format!("{base}{index_path}"))
    })?;

    let zoo_median = median(&mut zoo_secs);
    let peer_median = median(&mut peer_secs);
    let curl_median = median(&mut curl_secs);
    let rss_max = zoo_rss.iter().copied().max().unwrap_or(0);
    let report = format!(
        "install of {name} ({weights_mib:.0} MiB weights, median of {} runs, release build, loopback):\n\
         \x20 zoo install            {zoo_median:.3} s\n\
         \x20 curl -o                {curl_median:.3} s\n\
         \x20 curl -o + openssl dgst {peer_median:.3} s\n\
         \x20 ratio zoo / curl       {:.2} (goal <= 1.1)\n\
         \x20 ratio zoo / curl+dgst  {:.2} (goal <= 1.3)\n\
         \x20 zoo peak RSS           {} MiB (goal <= 64; `zoo list` alone: {} MiB, {list_secs:.3} s)\n\
         index (wrk -t2 -c32 -d5s, GET {index_path}):\n\
         \x20 zoo-registry           {zoo_rps:.0} req/s\n\
         \x20 nginx                  {nginx_rps:.0} req/s\n\
         \x20 ratio zoo / nginx      {:.2} (goal >= 0.8)\n",
        options.runs,
        zoo_median / curl_median,
        zoo_median / peer_median,
        rss_max / 1024,
        list_rss / 1024,
        zoo_rps / nginx_rps,
    );
    print!("{report}");
    let out = work.join("results.txt");
    std::fs::write(&out, &report)?;
    eprintln!("written to {}", out.display());
    Ok(())
}

/// Installs wrk and nginx from Debian when missing (root only).
fn ensure_tools() -> Result<()> {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for tool in ["curl", "openssl"] {
        if !have(tool) {
            bail!("{tool} is needed: apt-get install -y {tool}");
        }
    }
    let mut missing = Vec::new();
    if !have("wrk") {
        missing.push("wrk");
    }
    if !have("nginx") && !Path::new("/usr/sbin/nginx").exists() {
        missing.push("nginx-light");
    }
    if !Path::new("/usr/bin/time").exists() {
        missing.push("time");
    }
    if !missing.is_empty() {
        cmd::run(
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(&missing),
        )
        .with_context(|| format!("installing {missing:?} (needs root and apt)"))?;
    }
    Ok(())
}

/// A package with one big random weights file (an external blob).
fn write_package(dir: &Path, size_mib: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("zoo.toml"),
        format!(
            "[package]\nname = \"{PACKAGE}\"\nversion = \"1.0.0\"\nkind = \"function\"\n\
             description = \"install benchmark\"\nlicense = \"MIT\"\n"
        ),
    )?;
    let path = dir.join("weights.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..size_mib {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&chunk)?;
    }
    file.flush()?;
    Ok(())
}

fn openssl_sha256(path: &Path) -> Result<String> {
    let out = cmd::output(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-r"])
            .arg(path),
    )?;
    out.split_whitespace()
        .next()
        .map(str::to_owned)
        .context("openssl printed no hash")
}

/// Requests per second that wrk reaches on `url`.
fn wrk(url: &str) -> Result<f64> {
    let out = cmd::output(Command::new("wrk").args(["-t2", "-c32", "-d5s", url]))?;
    if out.contains("Non-2xx") {
        bail!("wrk got error answers from {url}:\n{out}");
    }
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{out}"))
}

/// Runs nginx serving `data/index` under `/index/` on a free port.
fn with_nginx<T>(data: &Path, work: &Path, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let prefix = work.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes auto;\nerror_log {logs}/error.log;\npid {logs}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  default_type application/json;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    location /index/ {{ root {data}; etag on; }}\n  }}\n}}\n",
            logs = prefix.join("logs").display(),
            data = data.display(),
        ),
    )?;
    let nginx = if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    cmd::run(
        Command::new(nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf),
    )?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let result = f(&format!("http://127.0.0.1:{port}"));
    let _ = Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-s", "stop"])
        .status();
    result
}

/// Cargo's index layout (docs/api.md) for a canonical name.
fn index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
