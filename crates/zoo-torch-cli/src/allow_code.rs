//! `zoo run` of a package that contains code: a TorchScript model is a
//! program, so it runs only when the user opted in (`--allow-code`, or
//! `allow-code` in zoo's config.toml / `ZOO_ALLOW_CODE=1`, the same setting
//! `zoo install` reads). The loader scans the file either way.

use anyhow::{Result, anyhow, bail};
use std::path::Path;
use zoo_format::manifest::Manifest;

/// The decision for the package folder `dir`, as `zoo_models::load` takes
/// it: true when it has code and running it is allowed, false when it has
/// no code; an error when it has code that is not allowed.
pub fn check_package(dir: &Path, flag: bool) -> Result<bool> {
    let manifest = Manifest::load(dir).map_err(|e| anyhow!("{e}"))?;
    match manifest.code_file() {
        Some(file) => check(&manifest, file, flag).map(|()| true),
        None => Ok(false),
    }
}

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
