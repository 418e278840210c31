//! `zoo publish` inside a Link (or Function) crate: a folder whose
//! Cargo.toml has `[package.metadata.zoo] kind = "link"`.
//!
//! Two registry entries come out, both under the crate's name and version:
//!
//! 1. the crate, published by running `cargo publish --registry zoo` itself
//!    against zoo's configured registry (index URL and token handed to cargo
//!    through `CARGO_REGISTRIES_ZOO_*`). Running cargo rather than rebuilding
//!    its upload is what makes the entry the one `cargo publish` makes: the
//!    same `.crate` bytes, checksum, dependency list and features;
//! 2. a zoo package of that kind whose files are the `.crate`'s files plus a
//!    `zoo.toml` generated from the packaged Cargo.toml, so `zoo search`,
//!    `zoo info` and `zoo install` see it and model packages depend on it.
//!
//! Order: `cargo package` (verified unless `--no-verify`) → the zoo package is
//! assembled and checked → the crate is published (skipped when the registry
//! already holds this version with the same checksum, so a rerun after a
//! failed second step completes it) → the registry's checksum is compared
//! with the `.crate` → the zoo package is uploaded.

use super::ui::Bars;
use super::{Output, say};
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use zoo_client::Client;
use zoo_format::manifest::{Kind, MANIFEST_FILE, Manifest, PackageMeta};

/// The `zoo` name cargo knows the registry by (`registry = "zoo"`).
const REGISTRY_NAME: &str = "zoo";

/// Cargo flags `zoo publish` passes through.
#[derive(Debug, Clone, Copy, Default)]
pub struct CargoFlags {
    pub no_verify: bool,
    pub allow_dirty: bool,
}

/// Whether `dir` is a crate to publish this way: a Cargo.toml and no zoo.toml.
pub fn is_link_crate(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && !dir.join(MANIFEST_FILE).exists()
}

pub fn publish(dir: &Path, client: &Client, flags: CargoFlags, out: Output) -> Result<()> {
    let token = client
        .http
        .token()
        .ok_or_else(|| {
            anyhow!(
                "publishing to {} needs a token: run `zoo login`, set ZOO_TOKEN or pass --token",
                client.config.registry
            )
        })?
        .to_string();
    let cargo = Cargo::new(dir, &client.api().cargo_index_url(), &token);
    let target = cargo.metadata()?;
    let package = &target.package;
    say!(
        out,
        "packaging {} {} with cargo",
        package.name,
        package.version
    );
    cargo.run("package", flags)?;
    let crate_file = target.crate_file();
    let packaged = CratePackage::read(&crate_file, &package.name, &package.version, &target.zoo)?;
    let staged = packaged.zoo_package()?;
    let packed = zoo_format::archive::pack(staged.path(), &Default::default())
        .with_context(|| format!("the zoo package made from {}", crate_file.display()))?;

    let api = client.api();
    let (name, version) = (&package.name, &package.version);
    let crate_state = match api.crate_version(name, version)? {
        None => Published::No,
        Some(line) if line.cksum == packaged.sha256 => Published::Same,
        Some(line) => bail!(
            "crate {name}@{version} is already published with a different .crate (sha256 {}, \
             this one {}); bump the version in {}",
            line.cksum,
            packaged.sha256,
            dir.join("Cargo.toml").display()
        ),
    };
    let package_state = zoo_package_state(client, name, version, &packed.sha256)?;
    if crate_state == Published::Same && package_state == Published::Same {
        bail!(
            "{name}@{version} is already published, as a crate and as a {} package; bump the \
             version in {}",
            packaged.kind,
            dir.join("Cargo.toml").display()
        );
    }
    if crate_state == Published::Same {
        say!(
            out,
            "crate {name}@{version} is already in the registry with this .crate (sha256 {}); \
             not republished",
            packaged.sha256
        );
    } else {
        // `cargo package` verified already; cargo rebuilds the same bytes.
        cargo.run(
            "publish",
            CargoFlags {
                no_verify: true,
                ..flags
            },
        )?;
        let recorded = api.crate_version(name, version)?.ok_or_else(|| {
            anyhow!("cargo published {name}@{version} but the registry's index does not list it")
        })?;
        let republished = zoo_format::checksum::sha256_file(&crate_file)
            .with_context(|| format!("reading {}", crate_file.display()))?
            .0;
        if recorded.cksum != packaged.sha256 || republished != packaged.sha256 {
            bail!(
                "the crate files changed while publishing: the registry recorded .crate sha256 \
                 {}, `cargo package` made {}; the {} package was not published (publish a new \
                 version)",
                recorded.cksum,
                packaged.sha256,
                packaged.kind
            );
        }
        say!(
            out,
            "published crate {name}@{version} (.crate sha256 {})",
            recorded.cksum
        );
    }
    if package_state == Published::Same {
        say!(
            out,
            "{} package {name}@{version} is already in the registry with these files; not \
             republished",
            packaged.kind
        );
        return Ok(());
    }

    let bars = Bars::new(out);
    let report = api
        .publish(&client.index, staged.path(), &bars)
        .with_context(|| {
            format!(
                "publishing the zoo package {}@{} (the crate is published; rerun `zoo publish` \
                 to finish)",
                package.name, package.version
            )
        })?;
    let p = &report.published;
    say!(
        out,
        "published {} package {}@{} to {} (archive sha256 {})",
        packaged.kind,
        p.name,
        p.version,
        client.config.registry,
        p.archive_sha256
    );
    Ok(())
}

/// Whether the registry holds a version already, with the same contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Published {
    No,
    Same,
}

/// The zoo package `name@version` in the registry: absent, the same archive
/// (`sha256`), or an error when it differs (refused before any upload).
fn zoo_package_state(
    client: &Client,
    name: &str,
    version: &str,
    sha256: &str,
) -> Result<Published> {
    let info = match client.api().info(name) {
        Err(zoo_client::Error::NotFound { .. }) => return Ok(Published::No),
        other => other?,
    };
    let versions = info["versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(entry) = versions.iter().find(|v| v["version"] == version) else {
        return Ok(Published::No);
    };
    match entry["archive"]["sha256"].as_str() {
        Some(recorded) if recorded == sha256 => Ok(Published::Same),
        recorded => bail!(
            "the zoo package {name}@{version} is already published with other files (archive \
             sha256 {}, this one {sha256}); bump the version",
            recorded.unwrap_or("unknown")
        ),
    }
}

/// The real `cargo`, pointed at zoo's registry for one crate.
struct Cargo {
    manifest: PathBuf,
    index: String,
    token: String,
}

/// The package `cargo metadata` reports for the crate's Cargo.toml.
#[derive(Debug, Deserialize)]
struct MetaPackage {
    name: String,
    version: String,
    manifest_path: PathBuf,
    #[serde(default)]
    publish: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
    /// `[package.metadata]` as JSON.
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    target_directory: PathBuf,
}

/// The crate to publish and where cargo leaves its `.crate`.
struct Target {
    package: MetaPackage,
    zoo: ZooMetadata,
    target_directory: PathBuf,
}

impl Target {
    /// `target/package/NAME-VERSION.crate`, as `cargo package` writes it.
    fn crate_file(&self) -> PathBuf {
        self.target_directory.join("package").join(format!(
            "{}-{}.crate",
            self.package.name, self.package.version
        ))
    }
}

impl Cargo {
    fn new(dir: &Path, index: &str, token: &str) -> Cargo {
        Cargo {
            manifest: dir.join("Cargo.toml"),
            index: index.to_string(),
            token: token.to_string(),
        }
    }

    /// `cargo SUBCOMMAND --manifest-path …` with zoo's registry as `zoo`.
    fn command(&self, subcommand: &str) -> Command {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(program);
        command
            .arg(subcommand)
            .arg("--manifest-path")
            .arg(&self.manifest)
            .env("CARGO_REGISTRIES_ZOO_INDEX", &self.index)
            .env("CARGO_REGISTRIES_ZOO_TOKEN", &self.token)
            .env("CARGO_REGISTRIES_ZOO_CREDENTIAL_PROVIDER", "cargo:token");
        command
    }

    fn metadata(&self) -> Result<Target> {
        let output = self
            .command("metadata")
            .args(["--format-version", "1", "--no-deps"])
            .output()
            .context("running `cargo metadata` (is cargo on PATH?)")?;
        if !output.status.success() {
            bail!(
                "`cargo metadata` failed for {}:\n{}",
                self.manifest.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let metadata: Metadata = serde_json::from_slice(&output.stdout)
            .context("reading the output of `cargo metadata`")?;
        let manifest = self
            .manifest
            .canonicalize()
            .with_context(|| format!("reading {}", self.manifest.display()))?;
        let package = metadata
            .packages
            .into_iter()
            .find(|p| p.manifest_path.canonicalize().ok().as_deref() == Some(manifest.as_path()))
            .ok_or_else(|| {
                anyhow!(
                    "{} is a workspace manifest without a [package]; run `zoo publish` in the \
                     crate's folder",
                    self.manifest.display()
                )
            })?;
        if let Some(allowed) = &package.publish
            && !allowed.iter().any(|r| r == REGISTRY_NAME)
        {
            bail!(
                "{}: field `package.publish` is {allowed:?}; add \"{REGISTRY_NAME}\" to publish \
                 to zoo's registry",
                self.manifest.display()
            );
        }
        let zoo = zoo_metadata(&package, &self.manifest)?;
        Ok(Target {
            package,
            zoo,
            target_directory: metadata.target_directory,
        })
    }

    /// `cargo package|publish --registry zoo [--no-verify] [--allow-dirty]`,
    /// cargo's own output shown as it goes.
    fn run(&self, subcommand: &str, flags: CargoFlags) -> Result<()> {
        let mut command = self.command(subcommand);
        command.args(["--registry", REGISTRY_NAME]);
        if flags.no_verify {
            command.arg("--no-verify");
        }
        if flags.allow_dirty {
            command.arg("--allow-dirty");
        }
        let status = command
            .status()
            .with_context(|| format!("running `cargo {subcommand}` (is cargo on PATH?)"))?;
        if !status.success() {
            bail!(
                "`cargo {subcommand} --registry {REGISTRY_NAME}` failed for {} ({status}); \
                 its messages are above",
                self.manifest.display()
            );
        }
        Ok(())
    }
}

/// Reads and checks `[package.metadata.zoo]` (and the fields the zoo
/// package needs) before cargo packages or uploads anything.
fn zoo_metadata(package: &MetaPackage, manifest: &Path) -> Result<ZooMetadata> {
    let file = manifest.display();
    let zoo = package
        .metadata
        .as_ref()
        .and_then(|m| m.get("zoo"))
        .ok_or_else(|| {
            anyhow!(
                "{file} has no [package.metadata.zoo] table; add `kind = \"link\"` (or \
                 \"function\") there to publish the crate with zoo"
            )
        })?;
    let zoo: ZooMetadata = serde_json::from_value(zoo.clone())
        .map_err(|e| anyhow!("{file}: field `package.metadata.zoo`: {e}"))?;
    if zoo.kind == Kind::Model {
        bail!(
            "{file}: field `package.metadata.zoo.kind` is \"model\"; a crate publishes a \
             \"link\" or \"function\" (models are zoo.toml packages)"
        );
    }
    if package.description.as_deref().is_none_or(str::is_empty) {
        bail!("{file}: field `package.description` is required to publish");
    }
    Ok(zoo)
}

/// A `.crate` file and what its packaged Cargo.toml says.
struct CratePackage {
    path: PathBuf,
    sha256: String,
    kind: Kind,
    meta: PackageMeta,
    dependencies: std::collections::BTreeMap<String, semver::VersionReq>,
}

/// `[package.metadata.zoo]` of a Link crate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZooMetadata {
    kind: Kind,
    /// Other zoo packages this one needs (as in zoo.toml's [dependencies]).
    #[serde(default)]
    dependencies: std::collections::BTreeMap<String, semver::VersionReq>,
}

/// The part of the packaged (normalized) Cargo.toml the zoo manifest uses.
#[derive(Debug, Deserialize)]
struct CargoManifest {
    package: CargoPackage,
}

#[derive(Debug, Deserialize)]
struct CargoPackage {
    name: String,
    version: semver::Version,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    homepage: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default, deserialize_with = "readme_path")]
    readme: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
}

/// Cargo's `readme`: a path, or `false` (none; what `cargo package` writes
/// into the packaged Cargo.toml of a crate without a README) or `true`
/// (`README.md`).
fn readme_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Readme {
        Path(String),
        Flag(bool),
    }
    Ok(match Readme::deserialize(d)? {
        Readme::Path(path) => Some(path),
        Readme::Flag(true) => Some("README.md".to_string()),
        Readme::Flag(false) => None,
    })
}

impl CratePackage {
    fn read(path: &Path, name: &str, version: &str, zoo: &ZooMetadata) -> Result<CratePackage> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading {} (made by `cargo package`)", path.display()))?;
        let sha256 = zoo_format::checksum::sha256_hex(&bytes);
        let wanted = format!("{name}-{version}/Cargo.toml");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut cargo_toml = None;
        for entry in archive
            .entries()
            .with_context(|| format!("reading {}", path.display()))?
        {
            let mut entry = entry.with_context(|| format!("reading {}", path.display()))?;
            let entry_path = entry.path()?.to_string_lossy().into_owned();
            if entry_path == format!("{name}-{version}/{MANIFEST_FILE}") {
                bail!(
                    "the crate ships its own {MANIFEST_FILE}; a Link crate's zoo metadata lives \
                     in Cargo.toml's [package.metadata.zoo] (remove the file or exclude it)"
                );
            }
            if entry_path == wanted {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text)?;
                cargo_toml = Some(text);
            }
        }
        let text = cargo_toml.ok_or_else(|| anyhow!("{} has no {wanted}", path.display()))?;
        let manifest: CargoManifest = toml::from_str(&text)
            .with_context(|| format!("the packaged Cargo.toml in {}", path.display()))?;
        let package = manifest.package;
        let description = package.description.clone().unwrap_or_default();
        Ok(CratePackage {
            path: path.to_path_buf(),
            sha256,
            kind: zoo.kind,
            meta: PackageMeta {
                name: package.name,
                version: package.version,
                kind: zoo.kind,
                description,
                license: package.license,
                authors: package.authors,
                homepage: package.homepage,
                repository: package.repository,
                readme: package.readme,
                keywords: package.keywords,
            },
            dependencies: zoo.dependencies.clone(),
        })
    }

    /// The zoo package: the `.crate`'s files (unpacked with tar's checks
    /// against paths leaving the folder) plus a generated zoo.toml.
    fn zoo_package(&self) -> Result<StagedPackage> {
        let dir = tempfile::tempdir().context("creating a temporary folder")?;
        let bytes = std::fs::read(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()))
            .unpack(dir.path())
            .with_context(|| format!("unpacking {}", self.path.display()))?;
        let root = dir
            .path()
            .join(format!("{}-{}", self.meta.name, self.meta.version));
        let manifest = Manifest {
            package: self.meta.clone(),
            dependencies: self.dependencies.clone(),
            model: None,
        };
        let text = manifest
            .to_toml_string()
            .context("writing the generated zoo.toml")?;
        Manifest::from_toml_str(&text)
            .map_err(|e| anyhow!("the zoo.toml generated from Cargo.toml: {e}"))?;
        std::fs::write(root.join(MANIFEST_FILE), text)
            .with_context(|| format!("writing {}", root.join(MANIFEST_FILE).display()))?;
        Ok(StagedPackage { _dir: dir, root })
    }
}

/// The zoo package's folder, deleted on drop.
struct StagedPackage {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl StagedPackage {
    fn path(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme_of(line: &str) -> Option<String> {
        let text = format!("[package]\nname = \"relu-fn\"\nversion = \"0.1.0\"\n{line}\n");
        let manifest: CargoManifest = toml::from_str(&text).unwrap();
        manifest.package.readme
    }

    /// cargo 1.95 packages a crate without a README with `readme = false`.
    #[test]
    fn every_form_of_cargos_readme_field_is_read() {
        assert_eq!(readme_of("readme = false"), None);
        assert_eq!(readme_of("readme = true").as_deref(), Some("README.md"));
        assert_eq!(
            readme_of("readme = \"docs/card.md\"").as_deref(),
            Some("docs/card.md")
        );
        assert_eq!(readme_of(""), None);
    }
}
