//! `zoo cache verify`, `zoo cache gc`.

use super::{Output, print_json, say};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use zoo_client::Store;

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Re-hash every stored blob (corrupt ones are moved to quarantine/) and
    /// check every installed package; damaged ones are marked broken (`zoo
    /// run` refuses them, `zoo install NAME@=VERSION` repairs them).
    Verify(VerifyArgs),
    /// Remove blobs no installed package uses, unfinished downloads of
    /// interrupted installs and their staging folders.
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

/// The exit status, or the error to report.
pub fn run(command: CacheCommand, out: Output) -> Result<i32> {
    let store = Store::open(zoo_client::config::default_home())?;
    match command {
        CacheCommand::Verify(args) => verify(&store, &args, out),
        CacheCommand::Gc(args) => gc(&store, &args, out).map(|()| 0),
    }
}

/// Exits 1 when something is damaged; under `--json` the problem is the
/// report's `error` field, so stdout holds exactly one JSON document.
fn verify(store: &Store, args: &VerifyArgs, out: Output) -> Result<i32> {
    let report = store.verify()?;
    let repairs: Vec<String> = report.broken.iter().map(|b| b.repair()).collect();
    let problem = if !report.corrupt.is_empty() {
        Some(format!(
            "{} corrupt blob(s) quarantined; {} installed package(s) marked broken{}",
            report.corrupt.len(),
            report.broken.len(),
            if repairs.is_empty() {
                String::new()
            } else {
                format!(": repair with `{}`", repairs.join("`, `"))
            }
        ))
    } else if !report.broken.is_empty() {
        Some(format!(
            "{} installed package(s) are incomplete or damaged and marked broken: repair with `{}`",
            report.broken.len(),
            repairs.join("`, `")
        ))
    } else {
        None
    };
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
                "dir": store.home().join(&b.dir),
                "name": b.name,
                "version": b.version,
                "problem": b.problem,
                "repair": b.repair(),
            })).collect::<Vec<_>>(),
            "error": problem,
        }))?;
        if let Some(problem) = problem {
            eprintln!("error: {problem}");
            return Ok(1);
        }
        return Ok(0);
    }
    for (expected, actual, moved) in &report.corrupt {
        eprintln!(
            "corrupt blob {expected}: its content hashes to {actual}; moved to {}",
            moved.display()
        );
    }
    for broken in &report.broken {
        eprintln!(
            "broken package {}: {}; marked broken, repair with `{}`",
            store.home().join(&broken.dir).display(),
            broken.problem,
            broken.repair()
        );
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
    match problem {
        Some(problem) => bail!(problem),
        None => Ok(0),
    }
}

fn gc(store: &Store, args: &GcArgs, out: Output) -> Result<()> {
    let report = store.gc_with(args.dry_run)?;
    if args.json {
        return print_json(&serde_json::json!({
            "dry_run": report.dry_run,
            "removed": report.removed,
            "partial": report.partial,
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
        "{verb} {} unused blob(s) and {} unfinished download(s), {} bytes",
        report.removed.len(),
        report.partial.len(),
        report.bytes
    );
    Ok(())
}
