//! `zoo cache verify`, `zoo cache gc`.

use super::{Output, say};
use anyhow::{Result, bail};
use clap::Subcommand;
use zoo_client::Store;

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Re-hash every stored blob; corrupt ones are moved to quarantine/.
    Verify,
    /// Remove blobs no installed package uses.
    Gc,
}

pub fn run(command: CacheCommand, out: Output) -> Result<()> {
    let store = Store::open(zoo_client::config::default_home())?;
    match command {
        CacheCommand::Verify => {
            let report = store.verify()?;
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
        }
        CacheCommand::Gc => {
            let report = store.gc()?;
            say!(
                out,
                "removed {} unused blob(s), {} bytes",
                report.removed.len(),
                report.bytes
            );
        }
    }
    Ok(())
}
