//! `zoo install`, `zoo uninstall`, `zoo list`.

use super::ui::Bars;
use super::{Output, RemoteArgs, print_json, say};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use zoo_client::{InstallRequest, Store, lockfile};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Packages as NAME or NAME@REQ (e.g. `vgg16@^1.0`); none: the project's
    /// zoo.toml dependencies and zoo.lock.
    specs: Vec<String>,
    /// The lockfile to read pins from and write (default: ./zoo.lock in a
    /// project, i.e. when ./zoo.toml or ./zoo.lock exists).
    #[arg(long, value_name = "FILE")]
    lockfile: Option<PathBuf>,
    /// Print what was installed as JSON.
    #[arg(long)]
    json: bool,
    /// Also install packages that contain code (TorchScript models, which
    /// run as programs); also `allow-code` in config.toml, ZOO_ALLOW_CODE=1.
    #[arg(long)]
    allow_code: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn install(args: InstallArgs, out: Output) -> Result<()> {
    let specs = args
        .specs
        .iter()
        .map(|s| zoo_client::parse_spec(s))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = std::env::current_dir().context("finding the current directory")?;
    let request = InstallRequest {
        specs,
        lockfile: lockfile::project_lockfile(args.lockfile.as_deref(), &cwd),
    };
    let client = args.remote.client_allowing_code(args.allow_code)?;
    let bars = Bars::new(out);
    let report = client.install(&request, &bars)?;
    if args.json {
        let items: Vec<serde_json::Value> = report
            .installed
            .iter()
            .map(|i| {
                serde_json::json!({
                    "name": i.package.name,
                    "version": i.package.version.to_string(),
                    "dir": i.package.dir,
                    "archive_sha256": i.archive_sha256,
                    "fresh": i.fresh,
                })
            })
            .collect();
        return print_json(&items);
    }
    for item in &report.installed {
        let what = if item.fresh {
            "installed"
        } else {
            "already installed"
        };
        say!(
            out,
            "{what} {}@{} in {}",
            item.package.name,
            item.package.version,
            item.package.dir.display()
        );
    }
    if let Some(path) = &report.lockfile {
        say!(out, "wrote {}", path.display());
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// NAME or NAME@VERSION.
    spec: String,
}

pub fn uninstall(args: UninstallArgs, out: Output) -> Result<()> {
    let (name, version) = match args.spec.split_once('@') {
        Some((name, version)) => {
            let version = semver::Version::parse(version.trim_start_matches('='))
                .with_context(|| format!("`{}`: `{version}` is not a version", args.spec))?;
            (name, Some(version))
        }
        None => (args.spec.as_str(), None),
    };
    if name.is_empty() {
        bail!("`{}`: expected NAME or NAME@VERSION", args.spec);
    }
    let store = Store::open(zoo_client::config::default_home())?;
    for package in store.uninstall(name, version.as_ref())? {
        say!(out, "removed {}@{}", package.name, package.version);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

pub fn list(args: ListArgs) -> Result<()> {
    let store = Store::open(zoo_client::config::default_home())?;
    let installed = store.list_installed()?;
    if args.json {
        let items: Vec<serde_json::Value> = installed
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "version": p.version.to_string(),
                    "dir": p.dir,
                })
            })
            .collect();
        return print_json(&items);
    }
    if installed.is_empty() {
        println!("no packages installed in {}", store.home().display());
    }
    for package in installed {
        println!(
            "{} {}  {}",
            package.name,
            package.version,
            package.dir.display()
        );
    }
    Ok(())
}
