//! The registry's Cargo index (`/cargo/index/`), read the way cargo reads
//! it: `zoo publish` of a Link crate checks whether a version is already
//! there, and which `.crate` checksum the registry recorded for it.

use crate::api::Api;
use crate::error::{Error, Result};
use reqwest::Method;
use serde::Deserialize;

/// One line of a crate's index file (the fields zoo looks at).
#[derive(Debug, Clone, Deserialize)]
pub struct CrateIndexLine {
    pub name: String,
    pub vers: String,
    /// sha256 of the `.crate` file, lowercase hex.
    pub cksum: String,
    #[serde(default)]
    pub yanked: bool,
}

impl Api<'_> {
    /// The sparse index URL cargo is given for this registry.
    pub fn cargo_index_url(&self) -> String {
        format!(
            "sparse+{}/cargo/index/",
            self.registry.trim_end_matches('/')
        )
    }

    /// The index line of `name@version`, or `None` when the registry has no
    /// such crate version.
    pub fn crate_version(&self, name: &str, version: &str) -> Result<Option<CrateIndexLine>> {
        let url = format!(
            "{}/cargo/index/{}",
            self.registry.trim_end_matches('/'),
            zoo_format::cargo_index_path(name)
        );
        // The cargo index may require a token (auth-required registries).
        let response = match self.http.send_authenticated(Method::GET, &url, Ok) {
            Err(Error::Http { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let bytes = self
            .http
            .read_body(&url, response, crate::http::MAX_INDEX_DOCUMENT)?;
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: CrateIndexLine = serde_json::from_str(line).map_err(|e| Error::Parse {
                what: format!("a line of {url}"),
                message: e.to_string(),
            })?;
            if entry.vers == version {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }
}
