//! `zoo cache verify`, `zoo cache gc`.

use super::{Output, print_json, say};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use zoo_client::Store;

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Re-hash every stored blob; corrupt ones are moved to quarantine/.
    Verify(VerifyArgs),
    /// Remove blobs no installed package uses.
    Gc(GcArgs),
}

impl CacheCommand {
    pub fn json(&self) -> bool {
        match self {
            CacheCommand::Verify(args) => args.json,
            CacheCommand::Gc(args) => args.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the report as JSON (problems still exit non-zero).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only report what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(command: CacheCommand, out: Output) -> Result<()> {
    let store = Store::open(zoo_client::config::default_home())?;
    match command {
        CacheCommand::Verify(args) => verify(&store, &args, out),
        CacheCommand::Gc(args) => gc(&store, &args, out),
    }
}

fn verify(store: &Store, args: &VerifyArgs, out: Output) -> Result<()> {
    let report = store.verify()?;
    if args.json {
        print_json(&serde_json::json!({
            "checked": report.checked,
            "bytes": report.bytes,
            "corrupt": report.corrupt.iter().map(|(expected, actual, moved)| serde_json::json!({
                "expected_sha256": expected,
                "actual_sha256": actual,
                "quarantined_at": moved,
            })).collect::<Vec<_>>(),
            "packages": report.packages,
            "broken": report.broken.iter().map(|b| serde_json::json!({
                "dir": b.dir,
                "problem": b.problem,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for (expected, actual, moved) in &report.corrupt {
            eprintln!(
                "corrupt blob {expected}: its content hashes to {actual}; moved to {}",
                moved.display()
            );
        }
        for broken in &report.broken {
            eprintln!("broken package {}: {}", broken.dir, broken.problem);
        }
        say!(
            out,
            "checked {} blobs ({} bytes): {} corrupt; {} installed packages: {} broken",
            report.checked,
            report.bytes,
            report.corrupt.len(),
            report.packages,
            report.broken.len()
        );
    }
    if !report.corrupt.is_empty() {
        bail!(
            "{} corrupt blob(s) quarantined; reinstall the packages that use them",
            report.corrupt.len()
        );
    }
    if !report.broken.is_empty() {
        bail!(
            "{} installed package(s) are incomplete or damaged: remove them with \
             `zoo uninstall NAME@VERSION` and install them again",
            report.broken.len()
        );
    }
    Ok(())
}

fn gc(store: &Store, args: &GcArgs, out: Output) -> Result<()> {
    let report = store.gc_with(args.dry_run)?;
    if args.json {
        return print_json(&serde_json::json!({
            "dry_run": report.dry_run,
            "removed": report.removed,
            "bytes": report.bytes,
        }));
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    say!(
        out,
        "{verb} {} unused blob(s), {} bytes",
        report.removed.len(),
        report.bytes
    );
    Ok(())
}
