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
            say!(
                out,
                "checked {} blobs ({} bytes): {} corrupt",
                report.checked,
                report.bytes,
                report.corrupt.len()
            );
            if !report.corrupt.is_empty() {
                bail!(
                    "{} corrupt blob(s) quarantined; reinstall the packages that use them",
                    report.corrupt.len()
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
