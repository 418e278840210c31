//! Whether the configured registry answers, and whether its index-signing
//! key is the one this user pinned: what `zoo doctor` reports, checked
//! without writing anything (no store, no index cache, no pinning).

use serde::Serialize;

use crate::config::Config;
use crate::http::Http;
use crate::index::{self, IndexConfig};
use crate::trust::{TrustedKeys, trusted_keys_path};

/// What asking the registry for its `config.json` showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryCheck {
    pub url: String,
    /// Where `url` came from (`--registry`, `ZOO_REGISTRY`, the config file,
    /// the default).
    pub source: String,
    #[serde(flatten)]
    pub state: Reach,
    /// The key pinned for `url` in the trusted-keys file, if any.
    pub pinned_key: Option<String>,
}

/// The outcome of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Reach {
    /// Not asked: the configuration says offline.
    Offline,
    /// It answered with a config.json offering `key` (none: an unsigned
    /// registry).
    Reachable { key: Option<String> },
    /// No usable answer; `error` says why and what to do.
    Unreachable { error: String },
}

impl RegistryCheck {
    /// Whether its answer offers another key than the pinned one: `zoo
    /// install` would refuse its index.
    pub fn key_differs(&self) -> bool {
        match (&self.state, &self.pinned_key) {
            (Reach::Reachable { key: Some(offered) }, Some(pinned)) => offered != pinned,
            (Reach::Reachable { key: None }, Some(_)) => true,
            _ => false,
        }
    }
}

/// The message for a registry that cannot be reached: which URL, where it
/// came from, and how to start one or point elsewhere.
pub fn unreachable_hint(config: &Config) -> String {
    format!(
        "the registry {} (from {}) could not be reached: start one with `zoo-registry serve --init --data DIR` \
         (it listens on 127.0.0.1:8000), or point elsewhere with --registry URL, ZOO_REGISTRY or \
         `registry` in the config file",
        config.registry, config.registry_source
    )
}

/// Asks the configured registry for `/index/config.json` (unless offline).
pub fn check_registry(config: &Config) -> RegistryCheck {
    let pinned_key = trusted_keys_path()
        .and_then(|path| TrustedKeys::load(&path).ok())
        .and_then(|keys| keys.registry_key(&config.registry))
        .map(|key| key.to_string());
    let state = if config.offline {
        Reach::Offline
    } else {
        match fetch_config(config) {
            Ok(answer) => Reach::Reachable { key: answer.key },
            Err(error) => Reach::Unreachable {
                error: error.to_string(),
            },
        }
    };
    RegistryCheck {
        url: config.registry.clone(),
        source: config.registry_source.to_string(),
        state,
        pinned_key,
    }
}

fn fetch_config(config: &Config) -> crate::Result<IndexConfig> {
    let client = Http::new(config.timeouts)?
        .with_unreachable_hint(&config.registry, unreachable_hint(config));
    let url = index::config_url(&config.registry);
    index::parse_config(&url, &index::download_config(&client, &url)?)
}
