//! Settings: the config file (`config.toml` in [`config_dir`]: `ZOO_HOME`
//! when set, else `<config dir>/zoo`), then the environment (`ZOO_HOME`, `ZOO_REGISTRY`, `ZOO_TOKEN`, `ZOO_OFFLINE`,
//! `ZOO_REQUIRE_SIGNATURES`, `ZOO_ALLOW_CODE`, `ZOO_CONNECT_TIMEOUT`,
//! `ZOO_READ_TIMEOUT`), then command-line flags — each later source wins.
//!
//! Saved tokens are kept per registry origin, as cargo's `[registries.NAME]`
//! credentials are, and only the one saved for the registry in use is sent:
//!
//! ```toml
//! registry = "http://127.0.0.1:8000"
//!
//! [registries."http://127.0.0.1:8000"]
//! token = "zoo_…"
//! ```
//!
//! A file from before (one top-level `token`) still works: that token
//! belongs to the top-level `registry` (or the default one) and to no other;
//! the next `zoo login` rewrites the file in the new form.

use crate::error::{Error, IoContext, Result};
use crate::http::{Timeouts, origin_of};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The registry used when nothing names one: `zoo-registry serve`'s default
/// address (also .cargo/config.toml's).
pub const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8000";

/// What the config file may hold.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub registry: Option<String>,
    /// A token from an older file: it belongs to `registry` (or the default
    /// registry) only. `zoo login` moves it into `registries`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Refuse unsigned packages and packages signed by untrusted keys.
    #[serde(rename = "require-signatures", skip_serializing_if = "Option::is_none")]
    pub require_signatures: Option<bool>,
    /// Seconds to wait for a connection.
    #[serde(rename = "connect-timeout", skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<f64>,
    /// Seconds to wait for an answer (and for each read of its body).
    #[serde(rename = "read-timeout", skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<f64>,
    /// Credentials by registry origin (`scheme://host:port`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registries: BTreeMap<String, RegistryCredentials>,
    /// Packages that contain code (TorchScript) the user agrees to install
    /// and run: `true` for all, or a list of package names.
    #[serde(rename = "allow-code", skip_serializing_if = "Option::is_none")]
    pub allow_code: Option<AllowCode>,
}

/// What is saved for one registry.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentials {
    pub token: Option<String>,
}

impl ConfigFile {
    /// The saved token for `registry`'s origin: from `[registries]`, else an
    /// older file's top-level token when it was saved for that origin.
    pub fn token_for(&self, registry: &str) -> Option<String> {
        let origin = origin_of(registry)?;
        if let Some(saved) = self.registries.get(&origin) {
            return saved.token.clone();
        }
        let legacy_owner = self.registry.as_deref().unwrap_or(DEFAULT_REGISTRY);
        (origin_of(legacy_owner).as_deref() == Some(&origin[..]))
            .then(|| self.token.clone())
            .flatten()
    }
}

/// Where the registry URL came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrySource {
    Flag,
    Environment,
    ConfigFile,
    Default,
}

impl std::fmt::Display for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegistrySource::Flag => "--registry",
            RegistrySource::Environment => "ZOO_REGISTRY",
            RegistrySource::ConfigFile => "the config file",
            RegistrySource::Default => "the default",
        })
    }
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
    /// Where `registry` came from.
    pub registry_source: RegistrySource,
    /// The token for `registry` (never one saved for another registry).
    pub token: Option<String>,
    pub offline: bool,
    /// Only install packages signed by a trusted publisher key
    /// (`require-signatures = true` or `ZOO_REQUIRE_SIGNATURES=1`).
    pub require_signatures: bool,
    pub timeouts: Timeouts,
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

/// Where the per-user files live (config.toml, trusted-keys.toml,
/// signing.key): `ZOO_HOME` when set, so that one `ZOO_HOME` holds all of a
/// user's zoo state as `CARGO_HOME` does cargo's; otherwise
/// `<config dir>/zoo` (`$XDG_CONFIG_HOME/zoo` or `~/.config/zoo` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(home) = env_value("ZOO_HOME") {
        return Some(PathBuf::from(home));
    }
    dirs::config_dir().map(|dir| dir.join("zoo"))
}

/// `config.toml` in [`config_dir`].
pub fn config_file_path() -> Option<PathBuf> {
    config_dir().map(|dir| dir.join("config.toml"))
}

/// One file or folder zoo reads or writes for this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePath {
    /// What it holds, in words (`config file`, `store`, …).
    pub what: &'static str,
    pub path: PathBuf,
}

/// Every per-user path zoo uses, as the environment places them now, for
/// `zoo doctor` and `zoo config paths`. `None` paths (no home directory)
/// are left out.
pub fn state_paths() -> Vec<StatePath> {
    let home = default_home();
    let store = |what, sub: &str| StatePath {
        what,
        path: home.join(sub),
    };
    let mut paths = Vec::new();
    let files = [
        ("config file", config_file_path()),
        ("trusted keys", crate::trust::trusted_keys_path()),
        ("signing key", crate::trust::signing_key_path()),
    ];
    for (what, path) in files {
        if let Some(path) = path {
            paths.push(StatePath { what, path });
        }
    }
    paths.push(StatePath {
        what: "store (ZOO_HOME)",
        path: home.clone(),
    });
    paths.extend([
        store("installed packages", "packages"),
        store("blobs", "blobs"),
        store("index cache", "index"),
        store("staging", "tmp"),
        store("locks", "locks"),
        store("quarantine", "quarantine"),
    ]);
    paths
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

/// Checks a registry URL before any request: `http` or `https` with a host
/// (`127.0.0.1:8000` without a scheme is refused, suggesting `http://`).
pub fn check_registry_url(url: &str, source: RegistrySource) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let bad = |why: &str| Error::Invalid(format!("the registry URL `{url}` (from {source}) {why}"));
    let has_scheme = url.starts_with("http://") || url.starts_with("https://");
    if !has_scheme {
        return Err(if url.contains("://") {
            bad("must use http:// or https://")
        } else {
            bad(&format!("has no scheme: write `http://{url}`"))
        });
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(url.to_string())
}

/// Seconds from a setting, refusing what is not a positive number.
fn seconds(value: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{what} must be a positive number of seconds, not {value}"
            ))
        })
}

fn timeout_setting(
    env: &str,
    file: Option<f64>,
    name: &str,
    default: Duration,
) -> Result<Duration> {
    if let Some(text) = env_value(env) {
        let value: f64 = text.trim().parse().map_err(|_| {
            Error::Invalid(format!("{env} must be a number of seconds, not `{text}`"))
        })?;
        return seconds(value, env);
    }
    match file {
        Some(value) => seconds(value, &format!("`{name}` in the config file")),
        None => Ok(default),
    }
}

impl Config {
    /// Reads the config file (if any), the environment and the overrides.
    pub fn load(overrides: &Overrides) -> Result<Config> {
        let file = match config_file_path() {
            Some(path) => read_config_file(&path)?,
            None => ConfigFile::default(),
        };
        let (registry, registry_source) = if let Some(url) = overrides.registry.clone() {
            (url, RegistrySource::Flag)
        } else if let Some(url) = env_value("ZOO_REGISTRY") {
            (url, RegistrySource::Environment)
        } else if let Some(url) = file.registry.clone() {
            (url, RegistrySource::ConfigFile)
        } else {
            (DEFAULT_REGISTRY.to_string(), RegistrySource::Default)
        };
        let registry = check_registry_url(&registry, registry_source)?;
        let token = overrides
            .token
            .clone()
            .or_else(|| env_value("ZOO_TOKEN"))
            .or_else(|| file.token_for(&registry));
        let offline = overrides.offline || env_value("ZOO_OFFLINE").is_some_and(|v| truthy(&v));
        let require_signatures = match env_value("ZOO_REQUIRE_SIGNATURES") {
            Some(value) => truthy(&value),
            None => file.require_signatures.unwrap_or(false),
        };
        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            connect: timeout_setting(
                "ZOO_CONNECT_TIMEOUT",
                file.connect_timeout,
                "connect-timeout",
                defaults.connect,
            )?,
            read: timeout_setting(
                "ZOO_READ_TIMEOUT",
                file.read_timeout,
                "read-timeout",
                defaults.read,
            )?,
        };
        let allow_code =
            if overrides.allow_code || env_value("ZOO_ALLOW_CODE").is_some_and(|v| truthy(&v)) {
                AllowCode::All(true)
            } else {
                file.allow_code.unwrap_or_default()
            };
        Ok(Config {
            home: default_home(),
            registry,
            registry_source,
            token,
            offline,
            require_signatures,
            timeouts,
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
        message: zoo_format::manifest::toml_error_line(&text, &e),
    })
}

/// Stores the token for `registry`'s origin in the config file (written to
/// a temporary file, made private, then renamed) and returns its path. The
/// registry becomes the default one; an older file's top-level token moves
/// under the origin it belonged to.
pub fn save_login(registry: &str, token: &str) -> Result<PathBuf> {
    let path = config_file_path()
        .ok_or_else(|| Error::Invalid("no config directory found (set HOME or ZOO_HOME)".into()))?;
    let mut file = read_config_file(&path)?;
    let registry = check_registry_url(registry, RegistrySource::Flag)?;
    let origin = origin_of(&registry)
        .ok_or_else(|| Error::Invalid(format!("the registry URL `{registry}` has no origin")))?;
    if let Some(legacy) = file.token.take() {
        let owner = file.registry.as_deref().unwrap_or(DEFAULT_REGISTRY);
        if let Some(owner) = origin_of(owner) {
            file.registries
                .entry(owner)
                .or_default()
                .token
                .get_or_insert(legacy);
        }
    }
    file.registries.entry(origin).or_default().token = Some(token.to_string());
    file.registry = Some(registry);
    let text = toml::to_string(&file).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&path, text.as_bytes(), true)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_one_origin() {
        let file: ConfigFile = toml::from_str(
            "registry = \"http://a:1\"\n[registries.\"http://a:1\"]\ntoken = \"ta\"\n",
        )
        .unwrap();
        assert_eq!(file.token_for("http://a:1/").as_deref(), Some("ta"));
        assert_eq!(file.token_for("http://a:1/sub").as_deref(), Some("ta"));
        assert_eq!(file.token_for("http://a:2"), None);
        assert_eq!(file.token_for("https://a:1"), None);
        assert_eq!(file.token_for("http://b:1"), None);
    }

    #[test]
    fn an_older_single_token_belongs_to_its_registry_only() {
        let file: ConfigFile =
            toml::from_str("registry = \"http://a:1\"\ntoken = \"old\"\n").unwrap();
        assert_eq!(file.token_for("http://a:1").as_deref(), Some("old"));
        assert_eq!(file.token_for("http://evil:1"), None);
        let no_registry: ConfigFile = toml::from_str("token = \"old\"\n").unwrap();
        assert_eq!(
            no_registry.token_for(DEFAULT_REGISTRY).as_deref(),
            Some("old")
        );
        assert_eq!(no_registry.token_for("http://a:1"), None);
    }

    #[test]
    fn registry_urls_need_a_scheme_and_a_host() {
        let err = check_registry_url("127.0.0.1:8000", RegistrySource::Flag).unwrap_err();
        assert!(
            err.to_string().contains("write `http://127.0.0.1:8000`"),
            "{err}"
        );
        assert!(err.to_string().contains("--registry"), "{err}");
        assert!(check_registry_url("localhost:8000", RegistrySource::Environment).is_err());
        assert!(check_registry_url("ftp://h", RegistrySource::Flag).is_err());
        assert!(check_registry_url("http://", RegistrySource::Flag).is_err());
        assert_eq!(
            check_registry_url("http://h:1/", RegistrySource::Flag).unwrap(),
            "http://h:1"
        );
    }

    #[test]
    fn timeouts_must_be_positive() {
        assert_eq!(seconds(1.5, "x").unwrap(), Duration::from_millis(1500));
        assert!(seconds(0.0, "x").is_err());
        assert!(seconds(-1.0, "x").is_err());
        assert!(seconds(f64::NAN, "x").is_err());
    }

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
