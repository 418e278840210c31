//! `zoo install`, `zoo uninstall`, `zoo list`.

use super::ui::Bars;
use super::{Output, RemoteArgs, print_json, say};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use zoo_client::{InstallRequest, Store, lockfile};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Packages as NAME or NAME@REQ (e.g. `vgg16@^1.0`); none: the project's
    /// zoo.toml dependencies and zoo.lock.
    specs: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Install again even versions already installed intact (a version
    /// `zoo cache verify` marked broken is always installed again).
    #[arg(long)]
    force: bool,
    /// After installing, re-run each newly installed model package's golden
    /// input (`zoo verify`); a mismatch fails the command, the install stays.
    #[arg(long)]
    verify: bool,
    /// Refuse, before installing anything, when zoo.lock would change (CI:
    /// install exactly what is locked).
    #[arg(long)]
    locked: bool,
    /// Set by `zoo update`: the packages whose pins to drop (empty: all).
    #[arg(skip)]
    update: Option<Vec<String>>,
}

/// What `zoo install` and `zoo update` share.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The lockfile to read pins from and write (default: ./zoo.lock in a
    /// project, i.e. when ./zoo.toml or ./zoo.lock exists).
    #[arg(long, value_name = "FILE")]
    lockfile: Option<PathBuf>,
    /// Print what was installed as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also install packages that contain code (TorchScript models, which
    /// run as programs); also `allow-code` in config.toml, ZOO_ALLOW_CODE=1.
    #[arg(long)]
    allow_code: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Packages whose locked versions to update to the newest that the
    /// project's zoo.toml allows; none: every package in zoo.lock.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    #[command(flatten)]
    pub project: ProjectArgs,
}

/// `zoo update [NAME…]`: `zoo install` in the project without the named
/// packages' pins (or any), writing the new versions to zoo.lock.
pub fn update(args: UpdateArgs, out: Output) -> Result<i32> {
    if let Some(spec) = args.names.iter().find(|n| n.contains('@')) {
        bail!(
            "`zoo update` takes package names, not `{spec}`: it moves each to the newest version \
             the project's zoo.toml allows (change the requirement there to go further)"
        );
    }
    install(
        InstallArgs {
            specs: Vec::new(),
            project: args.project,
            force: false,
            verify: false,
            locked: false,
            update: Some(args.names),
        },
        out,
    )
}

/// The exit status: 1 when `--verify` found a package whose golden check
/// failed (the install stays); under `--json` that is only on stderr, so
/// that stdout stays one document.
pub fn install(args: InstallArgs, out: Output) -> Result<i32> {
    let specs = args
        .specs
        .iter()
        .map(|s| zoo_client::parse_spec(s))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = std::env::current_dir().context("finding the current directory")?;
    let request = InstallRequest {
        specs,
        lockfile: lockfile::project_lockfile(args.project.lockfile.as_deref(), &cwd),
        force: args.force,
        update: args.update,
        locked: args.locked,
    };
    let mut client = args
        .project
        .remote
        .client_allowing_code(args.project.allow_code)?;
    client.converter = Some(std::sync::Arc::new(crate::torch::SourceConverter));
    let bars = Bars::new(out);
    let report = client.install(&request, &bars)?;
    if !out.quiet {
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
    }
    // Verified before anything is printed, so that --json carries the result.
    let mut verified = vec![None; report.installed.len()];
    if args.verify {
        for (item, result) in report.installed.iter().zip(verified.iter_mut()) {
            if item.fresh && has_golden(&item.package.dir)? {
                let mut verify_args: Vec<std::ffi::OsString> = Vec::new();
                if out.quiet {
                    verify_args.push("--quiet".into());
                }
                if out.verbose {
                    verify_args.push("--verbose".into());
                }
                verify_args.push("verify".into());
                verify_args.push(item.package.dir.clone().into_os_string());
                if args.project.allow_code {
                    verify_args.push("--allow-code".into());
                }
                let code = crate::torch::run_engine("verify", &verify_args, !args.project.json)?;
                *result = Some(code == 0);
            }
        }
    }
    let failed: Vec<String> = report
        .installed
        .iter()
        .zip(&verified)
        .filter(|(_, ok)| **ok == Some(false))
        .map(|(i, _)| format!("{}@{}", i.package.name, i.package.version))
        .collect();
    let verify_failure = || {
        anyhow::anyhow!(
            "zoo verify failed for {} (installed, but its golden input did not give its golden \
             outputs; `zoo verify NAME@=VERSION` shows why, `zoo uninstall` removes it)",
            failed.join(", ")
        )
    };
    if args.project.json {
        let items: Vec<serde_json::Value> = report
            .installed
            .iter()
            .zip(&verified)
            .map(|(i, verified)| {
                serde_json::json!({
                    "name": i.package.name,
                    "version": i.package.version.to_string(),
                    "dir": i.package.dir,
                    "archive_sha256": i.archive_sha256,
                    "fresh": i.fresh,
                    "repaired": i.repaired,
                    "verified": verified,
                })
            })
            .collect();
        print_json(&items)?;
        if failed.is_empty() {
            return Ok(0);
        }
        eprintln!("{}", zoo_term::error_line(&verify_failure()));
        return Ok(1);
    }
    for item in &report.installed {
        let what = match (item.fresh, item.repaired) {
            (true, true) => "repaired",
            (true, false) => "installed",
            (false, _) => "already installed",
        };
        say!(
            out,
            "{what} {}@{} in {}",
            item.package.name,
            item.package.version,
            item.package.dir.display()
        );
    }
    if let Some(path) = &report.lockfile {
        say!(out, "wrote {}", path.display());
    }
    if !failed.is_empty() {
        return Err(verify_failure());
    }
    Ok(0)
}

/// Whether the installed package in `dir` records a golden file.
fn has_golden(dir: &std::path::Path) -> Result<bool> {
    let manifest = zoo_format::manifest::Manifest::load(dir)?;
    Ok(manifest.model.is_some_and(|m| m.golden.is_some()))
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Packages as NAME (every installed version), NAME@VERSION (that
    /// version) or NAME@REQ (every installed version matching, as `install`
    /// reads it: `timer@0.1` is `^0.1`).
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<String>,
}

/// Which installed versions of a package an uninstall spec names.
enum Versions {
    All,
    Exact(semver::Version),
    Matching(semver::VersionReq),
}

/// `NAME`, `NAME@VERSION` or `NAME@REQ`. A full version means that version,
/// not `^VERSION`: `lib@1.0.0` never removes 1.2.0.
fn parse_uninstall_spec(spec: &str) -> Result<(&str, Versions)> {
    let (name, versions) = match spec.split_once('@') {
        Some((name, text)) => {
            let versions = match semver::Version::parse(text.trim_start_matches('=')) {
                Ok(version) => Versions::Exact(version),
                Err(_) => {
                    Versions::Matching(semver::VersionReq::parse(text).with_context(|| {
                        format!("`{spec}`: `{text}` is neither a version nor a version requirement")
                    })?)
                }
            };
            (name, versions)
        }
        None => (spec, Versions::All),
    };
    if name.is_empty() {
        bail!("`{spec}`: expected NAME, NAME@VERSION or NAME@REQ");
    }
    Ok((name, versions))
}

pub fn uninstall(args: UninstallArgs, out: Output) -> Result<()> {
    // Every spec is checked, and requirements matched to installed
    // versions, before anything is removed.
    let store = Store::open(zoo_client::config::default_home())?;
    let installed = store.list_installed()?;
    let mut targets: Vec<(&str, Option<semver::Version>)> = Vec::new();
    for spec in &args.specs {
        match parse_uninstall_spec(spec)? {
            (name, Versions::All) => targets.push((name, None)),
            (name, Versions::Exact(version)) => targets.push((name, Some(version))),
            (name, Versions::Matching(req)) => {
                let canonical = zoo_format::normalize_name(name);
                let versions: Vec<&semver::Version> = installed
                    .iter()
                    .filter(|p| p.name == canonical)
                    .map(|p| &p.version)
                    .collect();
                let matching: Vec<&semver::Version> = versions
                    .iter()
                    .copied()
                    .filter(|v| req.matches(&zoo_format::version::without_build(v)))
                    .collect();
                if matching.is_empty() {
                    let there: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
                    bail!(
                        "no installed version of `{name}` matches `{req}` (installed: {})",
                        if there.is_empty() {
                            "none".to_string()
                        } else {
                            there.join(", ")
                        }
                    );
                }
                targets.extend(matching.into_iter().map(|v| (name, Some(v.clone()))));
            }
        }
    }
    for (name, version) in targets {
        for package in store.uninstall(name, version.as_ref())? {
            say!(out, "removed {}@{}", package.name, package.version);
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn list(args: ListArgs) -> Result<()> {
    let store = Store::open(zoo_client::config::default_home())?;
    let installed = store.list_installed()?;
    if args.json {
        let items: Vec<serde_json::Value> = installed
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "version": p.version.to_string(),
                    "dir": p.dir,
                    "broken": store.broken_problem(&p.name, &p.version),
                })
            })
            .collect();
        return print_json(&items);
    }
    if installed.is_empty() {
        zoo_term::outln!("no packages installed in {}", store.home().display());
    }
    for package in installed {
        let broken = match store.broken_problem(&package.name, &package.version) {
            Some(problem) => format!(
                "  (broken: {problem}; repair with `zoo install {}@={}`)",
                package.name, package.version
            ),
            None => String::new(),
        };
        zoo_term::outln!(
            "{} {}  {}{broken}",
            package.name,
            package.version,
            package.dir.display()
        );
    }
    Ok(())
}
