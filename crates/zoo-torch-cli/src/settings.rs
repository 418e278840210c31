//! Where zoo keeps its data and which registry it talks to.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// The default registry when neither `--registry`, `ZOO_REGISTRY` nor the
/// config file names one.
pub const DEFAULT_REGISTRY: &str = zoo_client::config::DEFAULT_REGISTRY;

/// `ZOO_HOME`, or `~/.zoo` (the same rule as `zoo`'s, from zoo-client).
pub fn zoo_home() -> PathBuf {
    zoo_client::config::default_home()
}

/// `ZOO_REGISTRY`, then the config file (see `zoo_client::config`), or the
/// default.
pub fn registry_url() -> String {
    zoo_client::Config::load(&Default::default())
        .map(|config| config.registry)
        .unwrap_or_else(|_| {
            std::env::var("ZOO_REGISTRY")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_REGISTRY.to_string())
        })
}

/// The folder of run's and export's package argument: a path only when it
/// looks like one, else the installed package, which must be intact
/// (`zoo_client::package_arg`). With `verbose`, says which one on stderr.
pub fn package_dir(arg: &str, verbose: bool) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("finding the current directory")?;
    let resolved = zoo_client::package_arg::resolve_package_arg(&zoo_home(), &cwd, arg)?;
    if verbose {
        eprintln!("zoo: using {}", resolved.describe());
    }
    Ok(resolved.dir)
}
