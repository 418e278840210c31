//! Settings: the config file (`<config dir>/zoo/config.toml`), then the
//! environment (`ZOO_HOME`, `ZOO_REGISTRY`, `ZOO_TOKEN`, `ZOO_OFFLINE`,
//! `ZOO_REQUIRE_SIGNATURES`, `ZOO_ALLOW_CODE`), then command-line flags — each
//! later source wins.

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The registry used when nothing names one.
pub const DEFAULT_REGISTRY: &str = "http://127.0.0.1:7878";

/// What the config file may hold.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub registry: Option<String>,
    pub token: Option<String>,
    /// Refuse unsigned packages and packages signed by untrusted keys.
    #[serde(rename = "require-signatures", skip_serializing_if = "Option::is_none")]
    pub require_signatures: Option<bool>,
    /// Packages that contain code (TorchScript) the user agrees to install
    /// and run: `true` for all, or a list of package names.
    #[serde(rename = "allow-code", skip_serializing_if = "Option::is_none")]
    pub allow_code: Option<AllowCode>,
}

/// Which packages may contain code (TorchScript models run as programs).
/// Nothing by default: a package that carries code is refused unless the
/// user opted in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AllowCode {
    /// `allow-code = true` (or `false`).
    All(bool),
    /// `allow-code = ["peephole-timing", …]`.
    Packages(Vec<String>),
}

impl Default for AllowCode {
    fn default() -> Self {
        AllowCode::All(false)
    }
}

impl AllowCode {
    /// Whether the package `name` may contain code.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            AllowCode::All(all) => *all,
            AllowCode::Packages(names) => names
                .iter()
                .any(|n| zoo_format::normalize_name(n) == zoo_format::normalize_name(name)),
        }
    }
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store, index cache and installed packages live.
    pub home: PathBuf,
    /// Base URL of the registry, without a trailing `/`.
    pub registry: String,
    pub token: Option<String>,
    pub offline: bool,
    /// Only install packages signed by a trusted publisher key
    /// (`require-signatures = true` or `ZOO_REQUIRE_SIGNATURES=1`).
    pub require_signatures: bool,
    /// Packages allowed to contain code (`--allow-code`, `ZOO_ALLOW_CODE=1`
    /// or `allow-code` in the config file).
    pub allow_code: AllowCode,
}

/// Values given on the command line (they win over everything).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub registry: Option<String>,
    pub token: Option<String>,
    pub offline: bool,
    /// `--allow-code`: every package of this command may contain code.
    pub allow_code: bool,
}

/// `<config dir>/zoo/config.toml` (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
pub fn config_file_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("zoo").join("config.toml"))
}

/// `ZOO_HOME`, or `~/.zoo`.
pub fn default_home() -> PathBuf {
    if let Some(home) = env_value("ZOO_HOME") {
        return PathBuf::from(home);
    }
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".zoo")
}

fn env_value(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn truthy(value: &str) -> bool {
    !matches!(
        value.to_ascii_lowercase().as_str(),
        "0" | "false" | "no" | "off"
    )
}

impl Config {
    /// Reads the config file (if any), the environment and the overrides.
    pub fn load(overrides: &Overrides) -> Result<Config> {
        let file = match config_file_path() {
            Some(path) => read_config_file(&path)?,
            None => ConfigFile::default(),
        };
        let registry = overrides
            .registry
            .clone()
            .or_else(|| env_value("ZOO_REGISTRY"))
            .or(file.registry)
            .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
        let token = overrides
            .token
            .clone()
            .or_else(|| env_value("ZOO_TOKEN"))
            .or(file.token);
        let offline = overrides.offline || env_value("ZOO_OFFLINE").is_some_and(|v| truthy(&v));
        let require_signatures = match env_value("ZOO_REQUIRE_SIGNATURES") {
            Some(value) => truthy(&value),
            None => file.require_signatures.unwrap_or(false),
        };
        let allow_code =
            if overrides.allow_code || env_value("ZOO_ALLOW_CODE").is_some_and(|v| truthy(&v)) {
                AllowCode::All(true)
            } else {
                file.allow_code.unwrap_or_default()
            };
        Ok(Config {
            home: default_home(),
            registry: registry.trim_end_matches('/').to_string(),
            token,
            offline,
            require_signatures,
            allow_code,
        })
    }

    /// The token, or an error saying how to get one.
    pub fn require_token(&self) -> Result<&str> {
        self.token.as_deref().ok_or_else(|| {
            Error::Invalid(format!(
                "no token for {}: run `zoo login`, set ZOO_TOKEN or pass --token",
                self.registry
            ))
        })
    }
}

/// Reads a config file; a missing file is an empty config.
pub fn read_config_file(path: &Path) -> Result<ConfigFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(e).at("reading", path),
    };
    toml::from_str(&text).map_err(|e| Error::Parse {
        what: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Stores the registry and token in the config file (written to a temporary
/// file, made private, then renamed) and returns its path.
pub fn save_login(registry: &str, token: &str) -> Result<PathBuf> {
    let path = config_file_path()
        .ok_or_else(|| Error::Invalid("no config directory found (set HOME)".into()))?;
    let mut file = read_config_file(&path)?;
    file.registry = Some(registry.trim_end_matches('/').to_string());
    file.token = Some(token.to_string());
    let text = toml::to_string(&file).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&path, text.as_bytes(), true)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_code_is_off_by_default_and_takes_true_or_names() {
        let parse = |text: &str| toml::from_str::<ConfigFile>(text).unwrap().allow_code;
        assert_eq!(parse(""), None);
        assert!(!AllowCode::default().allows("peephole-timing"));
        let all = parse("allow-code = true").unwrap();
        assert!(all.allows("anything"));
        let some = parse("allow-code = [\"Peephole_Timing\"]").unwrap();
        assert!(some.allows("peephole-timing"));
        assert!(!some.allows("other"));
        assert!(toml::from_str::<ConfigFile>("allow-code = 3").is_err());
    }
}
