//! `zoo-load [--seconds N] [--connections N]`: the loopback load test of
//! `zoo-registry` (see `zoo_e2e::load`); prints a Markdown report and exits
//! non-zero on any error. Run through `cargo xtask bench load`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use zoo_e2e::load::{LoadOptions, run};

fn main() -> Result<()> {
    let mut options = LoadOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| -> Result<u64> {
            args.next()
                .with_context(|| format!("{arg} needs {what}"))?
                .parse()
                .with_context(|| format!("{arg} needs {what}"))
        };
        match arg.as_str() {
            "--seconds" => options.duration = Duration::from_secs(value("a number of seconds")?),
            "--connections" => options.connections = value("a number")? as usize,
            "--seed-packages" => options.seed_packages = value("a number")?.max(1) as usize,
            other => bail!(
                "unknown argument {other:?}; usage: zoo-load [--seconds N] [--connections N] [--seed-packages N]"
            ),
        }
    }
    let report = run(options)?;
    print!("{}", report.to_markdown());
    if report.errors() > 0 || report.fsck_problems > 0 {
        bail!(
            "{} errors, {} fsck problems",
            report.errors(),
            report.fsck_problems
        );
    }
    Ok(())
}
