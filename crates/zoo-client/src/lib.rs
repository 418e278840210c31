//! zoo registry client: HTTP, resolver, store, install. No torch.
//!
//! [`Store::find_installed`] is what the model loaders use; [`Client`] ties
//! configuration, HTTP, the index cache and the store together for the CLI.

pub mod api;
pub mod config;
pub mod crates;
pub mod download;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod index;
pub mod install;
pub mod lockfile;
pub mod package_arg;
pub mod progress;
pub mod reach;
pub mod resolve;
pub mod sources;
pub mod store;
#[cfg(test)]
mod test_server;
pub mod trust;

pub use config::{Config, Overrides};
pub use error::{Error, Result};
pub use install::Installed;
pub use lockfile::{LockedPackage, Lockfile};
pub use progress::{Bar, Progress, Silent};
pub use store::{InstalledPackage, Store};

use semver::VersionReq;
use std::path::PathBuf;
use zoo_format::index::IndexEntry;

/// Parses `name` or `name@req` (`req` is a semver requirement, `1.2` means
/// `^1.2`, `=1.2.3` an exact version).
pub fn parse_spec(spec: &str) -> Result<(String, VersionReq)> {
    let (name, req) = match spec.split_once('@') {
        Some((name, req)) => {
            let parsed = VersionReq::parse(req).map_err(|e| {
                Error::Invalid(format!(
                    "`{spec}`: `{req}` is not a version requirement: {e}"
                ))
            })?;
            (name, parsed)
        }
        None => (spec, VersionReq::STAR),
    };
    zoo_format::validate_name(name)
        .map_err(|why| Error::Invalid(format!("`{spec}`: invalid package name: {why}")))?;
    Ok((name.to_string(), req))
}

/// What `zoo install` asks for.
#[derive(Debug, Default, Clone)]
pub struct InstallRequest {
    /// Requested packages; empty means "the project's zoo.toml dependencies
    /// and lockfile".
    pub specs: Vec<(String, VersionReq)>,
    /// The project's lockfile (read for pins, then rewritten).
    pub lockfile: Option<PathBuf>,
    /// Install again even the versions already installed intact
    /// (`zoo install --force`).
    pub force: bool,
    /// `zoo update`: resolve the project again without the lockfile's pins
    /// of these packages (empty: of every package).
    pub update: Option<Vec<String>>,
    /// `--locked`: refuse, before installing anything, an install that
    /// would change the lockfile.
    pub locked: bool,
}

/// What `zoo install` did.
#[derive(Debug, Clone, Default)]
pub struct InstallReport {
    pub installed: Vec<Installed>,
    /// The lockfile, when this install wrote it (it changed).
    pub lockfile: Option<PathBuf>,
    /// Things the user should know, e.g. that a yanked version was installed.
    pub warnings: Vec<String>,
}

/// Configuration, HTTP, index cache and store of one zoo invocation.
pub struct Client {
    pub config: Config,
    pub http: http::Http,
    pub store: Store,
    pub index: index::Index,
    /// Turns `[[model.sources]]` upstream files into weights at install
    /// (the CLI's runs zoo-torch); without one such packages are refused.
    pub converter: Option<std::sync::Arc<dyn sources::Converter>>,
}

impl Client {
    pub fn new(config: Config) -> Result<Client> {
        let hint = reach::unreachable_hint(&config);
        let http = http::Http::new(config.timeouts)?
            .with_token(&config.registry, config.token.clone())?
            .with_unreachable_hint(&config.registry, hint);
        let store = Store::open(&config.home)?;
        let trust = index::IndexTrust {
            keys_file: trust::trusted_keys_path(),
            trust_on_first_use: true,
            require: config.require_signatures,
        };
        let index = index::Index::new(http.clone(), &store, &config.registry, config.offline)
            .with_trust(trust);
        Ok(Client {
            config,
            http,
            store,
            index,
            converter: None,
        })
    }

    pub fn api(&self) -> api::Api<'_> {
        api::Api {
            http: &self.http,
            registry: &self.config.registry,
        }
    }

    /// Resolves and installs; writes the lockfile when there is one.
    pub fn install(
        &self,
        request: &InstallRequest,
        progress: &dyn Progress,
    ) -> Result<InstallReport> {
        if request.update.is_some() && request.lockfile.is_none() {
            return Err(Error::Invalid(
                "`zoo update` updates a project's zoo.lock: run it in a folder with a zoo.toml \
                 (or name the lockfile with --lockfile)"
                    .into(),
            ));
        }
        let lock = match &request.lockfile {
            Some(path) => lockfile::Lockfile::load(path)?,
            None => None,
        };
        for (i, (name, req)) in request.specs.iter().enumerate() {
            let canonical = zoo_format::normalize_name(name);
            if let Some((other, other_req)) = request.specs[..i]
                .iter()
                .find(|(n, _)| zoo_format::normalize_name(n) == canonical)
            {
                return Err(Error::Invalid(format!(
                    "`{other}` is asked for twice (`{other}@{other_req}` and `{name}@{req}`); name each package once"
                )));
            }
        }
        // The project's zoo.toml, read once: its dependencies are the roots
        // of a plain install, bound what is asked for by name, and decide
        // what the lockfile keeps.
        let declared = match &request.lockfile {
            Some(path) => manifest_dependencies(path)?,
            None => None,
        };
        let mut requirements = request.specs.clone();
        if requirements.is_empty() {
            requirements = project_requirements(declared.as_deref(), lock.as_ref());
        }
        if requirements.is_empty()
            && let Some(manifest) = request
                .lockfile
                .as_deref()
                .filter(|_| declared.is_some())
                .map(|lock| lock.with_file_name(zoo_format::manifest::MANIFEST_FILE))
        {
            // A project without dependencies is installed (as `cargo build`
            // of a crate without any is fine), and its lockfile pins nothing.
            let mut warnings = vec![format!(
                "{}: no [dependencies], so nothing to install",
                manifest.display()
            )];
            if let Some(path) = &request.lockfile
                && let Some(new_lock) = self.lock_after_install(
                    path,
                    request,
                    declared.as_deref(),
                    lock.as_ref(),
                    &[],
                    &mut warnings,
                )?
                && lock.as_ref().is_some_and(|old| !old.packages.is_empty())
            {
                new_lock.save(path)?;
            }
            return Ok(InstallReport {
                warnings,
                ..InstallReport::default()
            });
        }
        if requirements.is_empty() {
            return Err(Error::Invalid(
                "nothing to install: name packages (`zoo install NAME[@REQ]`) or run in a project whose zoo.toml has [dependencies]".into(),
            ));
        }
        if request.locked && lock.is_none() {
            return Err(Error::Invalid(format!(
                "--locked needs a {}: there is none here (run `zoo install` once without --locked)",
                lockfile::LOCKFILE
            )));
        }
        let mut pins = lock.as_ref().map(Lockfile::pins).unwrap_or_default();
        match &request.update {
            Some(names) if names.is_empty() => pins.clear(),
            Some(names) => {
                for name in names {
                    if pins.remove(&zoo_format::normalize_name(name)).is_none() {
                        return Err(Error::Invalid(format!(
                            "`{name}` is not pinned in {}, so there is nothing to update; \
                             `zoo update` alone updates every package",
                            lockfile::LOCKFILE
                        )));
                    }
                }
            }
            None => {}
        }
        // `NAME@=VERSION` asks for that version even if yanked (as cargo's
        // `--precise` does); it overrides the lockfile's pin.
        let exact: Vec<(String, semver::Version)> = request
            .specs
            .iter()
            .filter_map(|(name, req)| {
                Some((
                    zoo_format::normalize_name(name),
                    resolve::exact_version(req)?,
                ))
            })
            .collect();
        pins.extend(exact.iter().cloned());
        let resolution = resolve::Request { requirements, pins };
        let resolved = resolve::resolve(&self.index, &resolution);
        for notice in self.index.take_notices() {
            progress.note(&notice);
        }
        let entries = resolved?;
        if let (Some(path), Some(declared)) = (&request.lockfile, &declared) {
            check_manifest_allows(path, declared, &entries)?;
        }
        let warnings = yank_warnings(&entries, &exact, lock.as_ref());
        let trusted = match trust::trusted_keys_path() {
            Some(path) => trust::TrustedKeys::load(&path)?,
            None => trust::TrustedKeys::default(),
        };
        // Every version is checked before anything is downloaded.
        for entry in &entries {
            match trust::check_package(entry, &trusted, self.config.require_signatures)? {
                trust::PackageTrust::Trusted(who) => progress.note(&format!(
                    "{}@{}: signed by trusted publisher `{who}`",
                    entry.name, entry.vers
                )),
                trust::PackageTrust::UnknownSigner(key) => progress.note(&format!(
                    "{}@{}: signed by {key}, not a trusted publisher key (`zoo trust add` trusts it)",
                    entry.name, entry.vers
                )),
                trust::PackageTrust::Unsigned => {}
            }
        }
        if let Some(lock) = &lock {
            for entry in &entries {
                if let Some(pinned) = lock.archive_sha256(&entry.name, &entry.vers)
                    && pinned != entry.archive.sha256
                {
                    return Err(Error::Invalid(format!(
                        "{}@{}: the registry's archive (sha256 {}) differs from the one {} pins (sha256 {pinned}); \
                         nothing was installed. A published version never changes, so either the lockfile was edited \
                         or the registry serves other bytes than when it was locked. If you trust the registry's \
                         archive, remove the `{}` entry from {} and run `zoo install` again",
                        entry.name,
                        entry.vers,
                        entry.archive.sha256,
                        lockfile::LOCKFILE,
                        entry.name,
                        lockfile::LOCKFILE
                    )));
                }
            }
        }
        let mut warnings = warnings;
        let new_lock = match &request.lockfile {
            Some(path) => self.lock_after_install(
                path,
                request,
                declared.as_deref(),
                lock.as_ref(),
                &entries,
                &mut warnings,
            )?,
            None => None,
        };
        if request.locked {
            check_lock_unchanged(lock.as_ref(), new_lock.as_ref())?;
        }
        let installed = install::install_entries(
            &self.http,
            &self.index,
            &self.store,
            &entries,
            &install::InstallOptions {
                allow_code: &self.config.allow_code,
                force: request.force,
                converter: self.converter.as_deref(),
            },
            progress,
        )?;
        // Written only when it changes (`--locked` never writes it).
        let mut written = None;
        if let (Some(path), Some(new_lock)) = (&request.lockfile, new_lock)
            && !lock.as_ref().is_some_and(|old| same_pins(old, &new_lock))
        {
            new_lock.save(path)?;
            written = Some(path.clone());
        }
        Ok(InstallReport {
            installed,
            lockfile: written,
            warnings,
        })
    }

    /// What the project's zoo.lock records after an install: as cargo's
    /// Cargo.lock, the resolution of the project's zoo.toml dependencies and
    /// nothing else (a dependency taken out of zoo.toml leaves the lock),
    /// preferring the versions locked before and those just installed. A
    /// package asked for by name that zoo.toml does not list is installed
    /// but not locked; the warning says so. A lockfile without a zoo.toml
    /// beside it keeps every package it pinned and gains what was installed.
    /// `None`: leave the lockfile as it is (the reason is in `warnings`).
    fn lock_after_install(
        &self,
        path: &std::path::Path,
        request: &InstallRequest,
        declared: Option<&[(String, VersionReq)]>,
        lock: Option<&Lockfile>,
        installed: &[IndexEntry],
        warnings: &mut Vec<String>,
    ) -> Result<Option<Lockfile>> {
        let manifest = path.with_file_name(zoo_format::manifest::MANIFEST_FILE);
        let Some(requirements) = declared else {
            let mut merged = lock.cloned().unwrap_or_default();
            for entry in installed {
                merged.pin(locked(entry));
            }
            return Ok(Some(merged));
        };
        let tree = if request.specs.is_empty() {
            // Resolved from zoo.toml's dependencies alone: the tree itself.
            installed.to_vec()
        } else {
            for (name, _) in &request.specs {
                let canonical = zoo_format::normalize_name(name);
                if !requirements
                    .iter()
                    .any(|(n, _)| zoo_format::normalize_name(n) == canonical)
                {
                    warnings.push(format!(
                        "{name} is not among the [dependencies] of {}, so {} does not record it \
                         (add it there to lock it)",
                        manifest.display(),
                        path.display()
                    ));
                }
            }
            if requirements.is_empty() {
                Vec::new()
            } else {
                let mut pins = lock.map(Lockfile::pins).unwrap_or_default();
                for entry in installed {
                    pins.insert(zoo_format::normalize_name(&entry.name), entry.vers.clone());
                }
                let request = resolve::Request {
                    requirements: requirements.to_vec(),
                    pins,
                };
                match resolve::resolve(&self.index, &request) {
                    Ok(tree) => tree,
                    Err(e) => {
                        warnings.push(format!(
                            "{} was not updated: the dependencies in {} do not resolve beside what was \
                             installed: {e}",
                            path.display(),
                            manifest.display()
                        ));
                        return Ok(None);
                    }
                }
            }
        };
        let mut new_lock = Lockfile::default();
        for entry in &tree {
            if let Some(pinned) = lock.and_then(|l| l.archive_sha256(&entry.name, &entry.vers))
                && pinned != entry.archive.sha256
            {
                warnings.push(format!(
                    "{} was not updated: it pins {}@{} with archive sha256 {pinned}, but the registry \
                     now serves {}",
                    path.display(),
                    entry.name,
                    entry.vers,
                    entry.archive.sha256
                ));
                return Ok(None);
            }
            new_lock.pin(locked(entry));
        }
        let kept = new_lock.pins();
        let mut dropped: Vec<String> = lock
            .map(|l| l.packages.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|p| !kept.contains_key(&zoo_format::normalize_name(&p.name)))
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        if !dropped.is_empty() {
            dropped.sort();
            warnings.push(format!(
                "{} no longer pins {}: no dependency in {} needs it",
                path.display(),
                dropped.join(", "),
                manifest.display()
            ));
        }
        Ok(Some(new_lock))
    }
}

/// `--locked`: the lockfile as it would be written must pin exactly what it
/// pins now (an unchanged lock is `None` too: nothing would be written).
fn check_lock_unchanged(old: Option<&Lockfile>, new: Option<&Lockfile>) -> Result<()> {
    let (Some(old), Some(new)) = (old, new) else {
        return Ok(());
    };
    let set = |lock: &Lockfile| -> std::collections::BTreeSet<String> {
        lock.packages
            .iter()
            .map(|p| format!("{}@{}", zoo_format::normalize_name(&p.name), p.version))
            .collect()
    };
    let (before, after) = (set(old), set(new));
    if before == after {
        return Ok(());
    }
    let mut changes: Vec<String> = after.difference(&before).map(|p| format!("+{p}")).collect();
    changes.extend(before.difference(&after).map(|p| format!("-{p}")));
    Err(Error::Invalid(format!(
        "{} would change ({}) and --locked was given; nothing was installed. Run `zoo install` \
         without --locked to update it",
        lockfile::LOCKFILE,
        changes.join(", ")
    )))
}

/// Whether two lockfiles pin the same versions with the same archives.
fn same_pins(a: &Lockfile, b: &Lockfile) -> bool {
    let sorted = |lock: &Lockfile| {
        let mut packages = lock.packages.clone();
        packages.sort_by(|x, y| x.name.cmp(&y.name).then(x.version.cmp(&y.version)));
        packages
    };
    sorted(a) == sorted(b)
}

/// The lockfile's record of an index entry.
fn locked(entry: &IndexEntry) -> LockedPackage {
    LockedPackage {
        name: zoo_format::normalize_name(&entry.name),
        version: entry.vers.clone(),
        archive_sha256: entry.archive.sha256.clone(),
    }
}

/// One warning per yanked version about to be installed: asked for exactly,
/// or pinned by the lockfile.
fn yank_warnings(
    entries: &[IndexEntry],
    exact: &[(String, semver::Version)],
    lock: Option<&Lockfile>,
) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.yanked)
        .map(|e| {
            let name = zoo_format::normalize_name(&e.name);
            if exact
                .iter()
                .any(|(n, v)| *n == name && zoo_format::version::same_version(v, &e.vers))
            {
                format!(
                    "{}@{} is yanked (its publisher withdrew it); installing it because it was asked for exactly",
                    e.name, e.vers
                )
            } else if lock.is_some_and(|l| l.archive_sha256(&e.name, &e.vers).is_some()) {
                format!(
                    "{}@{} is yanked (its publisher withdrew it), but {} pins it; remove its entry there and run `zoo install` to move to a version that is not",
                    e.name,
                    e.vers,
                    lockfile::LOCKFILE
                )
            } else {
                format!("{}@{} is yanked", e.name, e.vers)
            }
        })
        .collect()
}

/// The project's own requirements (its zoo.toml next to the lockfile);
/// `None` without a zoo.toml there.
fn manifest_dependencies(lockfile: &std::path::Path) -> Result<Option<Vec<(String, VersionReq)>>> {
    let dir = match lockfile.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    if !dir.join(zoo_format::manifest::MANIFEST_FILE).is_file() {
        return Ok(None);
    }
    Ok(Some(
        project_manifest(dir)?.dependencies.into_iter().collect(),
    ))
}

/// The project's zoo.toml in `dir`; without a [package] table the error
/// says that a project's zoo.toml is a whole package manifest.
fn project_manifest(dir: &std::path::Path) -> Result<zoo_format::Manifest> {
    zoo_format::Manifest::load(dir).map_err(|e| match e.field() {
        Some("package") => Error::Format(format!(
            "{e}; a project's zoo.toml is a package manifest: a [package] table (name, version, kind, description) besides [dependencies]"
        )),
        _ => Error::Format(e.to_string()),
    })
}

/// Refuses versions outside the project's zoo.toml requirements: the
/// lockfile would pin them, and the next plain `zoo install` would go back.
fn check_manifest_allows(
    lockfile: &std::path::Path,
    declared: &[(String, VersionReq)],
    entries: &[IndexEntry],
) -> Result<()> {
    for entry in entries {
        let name = zoo_format::normalize_name(&entry.name);
        let Some((declared_name, req)) = declared
            .iter()
            .find(|(n, _)| zoo_format::normalize_name(n) == name)
        else {
            continue;
        };
        if !resolve::req_to_ranges(req)?.contains(&zoo_format::version::without_build(&entry.vers))
        {
            let manifest = lockfile
                .with_file_name(zoo_format::manifest::MANIFEST_FILE)
                .display()
                .to_string();
            return Err(Error::Invalid(format!(
                "{}@{} is outside the project's requirement `{declared_name} = \"{req}\"` in {manifest}, \
                 so the next `zoo install` would go back to a version within it; nothing was installed. \
                 Change that line (e.g. to `{declared_name} = \"^{}\"`) and run `zoo install`",
                entry.name, entry.vers, entry.vers
            )));
        }
    }
    Ok(())
}

/// The roots of a plain install: the project's zoo.toml dependencies; or,
/// for a lockfile without a zoo.toml beside it, everything it pins.
fn project_requirements(
    declared: Option<&[(String, VersionReq)]>,
    lock: Option<&Lockfile>,
) -> Vec<(String, VersionReq)> {
    match (declared, lock) {
        (Some(declared), _) => declared.to_vec(),
        (None, Some(lock)) => {
            let mut roots: Vec<(String, VersionReq)> = Vec::new();
            for package in &lock.packages {
                let canonical = zoo_format::normalize_name(&package.name);
                if !roots
                    .iter()
                    .any(|(n, _)| zoo_format::normalize_name(n) == canonical)
                {
                    roots.push((package.name.clone(), VersionReq::STAR));
                }
            }
            roots
        }
        (None, None) => Vec::new(),
    }
}
