//! `cargo xtask setup-services`: what the registry's backend tests run
//! against (tests/src/services.rs): PostgreSQL, nginx and Chromium (the
//! browser test) from the system's packages (apt-get, when missing and
//! running as root), and the
//! S3-compatible server `s3s-fs` built from crates.io into `.tools/bin`.
//! A second run only checks. `cargo xtask test` runs it first.

use crate::cmd;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const S3S_FS_VERSION: &str = "0.14.1";

/// `.tools/bin/s3s-fs` in the workspace (git-ignored).
pub fn s3s_fs_path() -> PathBuf {
    cmd::root().join(".tools/bin/s3s-fs")
}

fn postgres_installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|v| v.path().join("bin/initdb").is_file())
        || Command::new("pg_config")
            .arg("--bindir")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Debian's Chromium, which the registry's browser test drives headless.
fn chromium_installed() -> bool {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

fn nginx_installed() -> bool {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !root || !Path::new("/usr/bin/apt-get").is_file() {
        bail!(
            "{} missing; install with your package manager (Debian/Ubuntu: \
             `sudo apt-get install -y {}`) and run again",
            packages.join(" and "),
            packages.join(" ")
        );
    }
    cmd::run(Command::new("apt-get").args(["update", "-q"]))?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

pub fn run() -> Result<()> {
    let mut missing = Vec::new();
    if !postgres_installed() {
        missing.push("postgresql");
    }
    if !nginx_installed() {
        missing.push("nginx-light");
    }
    if !chromium_installed() {
        missing.push("chromium");
    }
    if missing.is_empty() {
        eprintln!("PostgreSQL, nginx and Chromium are installed");
    } else {
        apt_install(&missing)?;
    }
    let s3s = s3s_fs_path();
    let version = Command::new(&s3s).arg("--version").output();
    if version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(S3S_FS_VERSION)) {
        eprintln!("s3s-fs {S3S_FS_VERSION} is installed at {}", s3s.display());
        return Ok(());
    }
    cmd::run(
        cmd::cargo()
            .args(["install", &format!("s3s-fs@{S3S_FS_VERSION}")])
            .args(["--locked", "--features", "binary", "--root"])
            .arg(cmd::root().join(".tools"))
            // Its own build directory, not the workspace's target.
            .env_remove("CARGO_TARGET_DIR"),
    )
}
