//! Package commands: login, new, package, publish, yank, owner, install, list,
//! info, search, uninstall, cache, config, keygen, trust. Thin wrappers over
//! `zoo_client`.

mod auth;
mod cache;
mod install;
mod keys;
mod link_crate;
mod new;
mod publish;
mod query;
mod settings;
mod ui;

use anyhow::Result;
use clap::{Args, Subcommand};
use zoo_client::{Client, Config, Overrides};

/// Flags shared by every command that talks to a registry.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Registry URL (default: ZOO_REGISTRY, the config file, then http://127.0.0.1:8000).
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
    /// API token (default: ZOO_TOKEN, then the config file).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Use only the local store and the cached index (also ZOO_OFFLINE=1).
    #[arg(long)]
    offline: bool,
}

impl RemoteArgs {
    fn client(&self) -> Result<Client> {
        self.client_allowing_code(false)
    }

    /// A client that, with `allow_code`, installs packages containing code
    /// (TorchScript) too (`--allow-code`).
    fn client_allowing_code(&self, allow_code: bool) -> Result<Client> {
        let config = Config::load(&Overrides {
            registry: self.registry.clone(),
            token: self.token.clone(),
            offline: self.offline,
            allow_code,
        })?;
        Ok(Client::new(config)?)
    }
}

/// Global output settings from the top-level flags.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub quiet: bool,
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Save a registry token in the config file.
    Login(auth::LoginArgs),
    /// Pack a package directory into a deterministic .zoo archive.
    Package(publish::PackageArgs),
    /// Create a new package from a template (`zoo new link NAME`).
    #[command(subcommand)]
    New(new::NewCommand),
    /// Upload a package (its large files first) to the registry; in a Link
    /// crate, publish the crate with cargo and a zoo package of its kind.
    Publish(publish::PublishArgs),
    /// Hide a version from new resolutions (lockfiles still get it).
    Yank(publish::YankArgs),
    /// List, add or remove the owners of a package.
    #[command(subcommand)]
    Owner(publish::OwnerCommand),
    /// Resolve, download, verify and install packages.
    Install(install::InstallArgs),
    /// Move a project's locked packages to the newest versions its zoo.toml
    /// allows, and install them (`zoo update [NAME…]`).
    Update(install::UpdateArgs),
    /// Remove installed packages.
    Uninstall(install::UninstallArgs),
    /// List installed packages.
    List(install::ListArgs),
    /// Show a package's versions and metadata from the registry.
    Info(query::InfoArgs),
    /// Search the registry.
    Search(query::SearchArgs),
    /// Check or clean the local store.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Show zoo's settings files (`zoo config paths`).
    #[command(subcommand)]
    Config(settings::ConfigCommand),
    /// Create your signing key pair (for `zoo publish --sign`); prints the
    /// public key.
    Keygen(keys::KeygenArgs),
    /// Manage trusted keys: publishers' keys and registries' index keys.
    #[command(subcommand)]
    Trust(keys::TrustCommand),
}

impl PackageCommand {
    /// Whether the command was asked for JSON output (its errors are then
    /// JSON too).
    pub fn json(&self) -> bool {
        match self {
            PackageCommand::Publish(args) => args.json,
            PackageCommand::Yank(args) => args.json,
            PackageCommand::Owner(command) => command.json(),
            PackageCommand::Install(args) => args.project.json,
            PackageCommand::Update(args) => args.project.json,
            PackageCommand::List(args) => args.json,
            PackageCommand::Info(args) => args.json,
            PackageCommand::Search(args) => args.json,
            PackageCommand::Cache(command) => command.json(),
            PackageCommand::Config(command) => command.json(),
            _ => false,
        }
    }
}

/// The exit status (0, or 1 for a command that reported its own problem),
/// or the error to report.
pub fn run(command: PackageCommand, out: Output) -> Result<i32> {
    let done = match command {
        PackageCommand::Login(args) => auth::login(args, out),
        PackageCommand::Package(args) => publish::package(args, out),
        PackageCommand::New(command) => new::run(command, out),
        PackageCommand::Publish(args) => publish::publish(args, out),
        PackageCommand::Yank(args) => publish::yank(args, out),
        PackageCommand::Owner(command) => publish::owner(command, out),
        PackageCommand::Install(args) => return install::install(args, out),
        PackageCommand::Update(args) => return install::update(args, out),
        PackageCommand::Uninstall(args) => install::uninstall(args, out),
        PackageCommand::List(args) => install::list(args),
        PackageCommand::Info(args) => query::info(args),
        PackageCommand::Search(args) => query::search(args),
        PackageCommand::Cache(command) => return cache::run(command, out),
        PackageCommand::Config(command) => settings::run(command),
        PackageCommand::Keygen(args) => keys::keygen(args, out),
        PackageCommand::Trust(command) => keys::trust(command, out),
    };
    done.map(|()| 0)
}

/// Prints unless `--quiet`.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        if !$out.quiet {
            zoo_term::outln!($($arg)*);
        }
    };
}
pub(crate) use say;

/// Prints a value as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    zoo_term::outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
