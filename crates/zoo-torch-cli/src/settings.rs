//! Where zoo keeps its data and which registry it talks to.

use std::path::PathBuf;

/// The default registry when neither `--registry`, `ZOO_REGISTRY` nor the
/// config file names one.
pub const DEFAULT_REGISTRY: &str = zoo_client::config::DEFAULT_REGISTRY;

/// `ZOO_HOME`, or `~/.zoo`.
pub fn zoo_home() -> PathBuf {
    if let Some(home) = std::env::var_os("ZOO_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".zoo")
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
