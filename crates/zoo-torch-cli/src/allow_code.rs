//! `zoo run` of a package that contains code: a TorchScript model is a
//! program, so it runs only when the user opted in (`--allow-code`, or
//! `allow-code` in zoo's config.toml / `ZOO_ALLOW_CODE=1`, the same setting
//! `zoo install` reads). The loader scans the file either way.

use anyhow::{Result, bail};
use zoo_format::manifest::Manifest;

/// Ok when running `manifest`'s package may run its code file `file`.
pub fn check(manifest: &Manifest, file: &str, flag: bool) -> Result<()> {
    if flag {
        return Ok(());
    }
    let config = zoo_client::Config::load(&zoo_client::Overrides::default())?;
    if config.allow_code.allows(&manifest.package.name) {
        return Ok(());
    }
    bail!(
        "{}@{} contains code: its model {file} is TorchScript, a program that runs with your \
         permissions, not just weights. Run it only if you trust its publisher: pass \
         --allow-code, or set `allow-code = true` (or `allow-code = [\"{}\"]`) in zoo's \
         config.toml",
        manifest.package.name,
        manifest.package.version,
        manifest.normalized_name()
    )
}
