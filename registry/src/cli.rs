//! Command line of `zoo-registry`: parsing and the small admin commands.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use zoo_registry::auth::{Scope, format_scopes, generate_token, parse_scopes, validate_login};
use zoo_registry::config::{Config, DEFAULT_MAX_PACKAGE_SIZE};
use zoo_registry::db::{MetadataStore, User};

#[derive(Parser)]
#[command(
    name = "zoo-registry",
    version,
    about = "The zoo package registry server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API (docs/api.md).
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check a data directory: blobs (re-hashed), index files, temp files,
    /// database references. Exits non-zero on any problem.
    Fsck(FsckArgs),
    /// Remove blobs no version references, and stale temp files.
    Gc(GcArgs),
}

#[derive(Args)]
pub struct FsckArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Temp files at least this many minutes old count as problems.
    #[arg(long, default_value_t = 60)]
    pub temp_age_minutes: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs and temp files younger than this (minutes);
    /// it must exceed the longest publish (see `zoo_registry::ops::gc`).
    #[arg(long, default_value_t = 60)]
    pub grace_minutes: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DataArg {
    /// The registry's data directory (database, blobs, index files).
    #[arg(long, env = "ZOO_REGISTRY_DATA")]
    pub data: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Largest accepted upload (archive or blob) in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_PACKAGE_SIZE)]
    pub max_package_size: u64,
    /// Public URL of the registry, for `/index/config.json`
    /// (default: http://<bound address>).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Make the Cargo registry under /cargo/ private: every request (index,
    /// downloads, API) needs a token (`auth-required` in its config.json).
    #[arg(long)]
    pub cargo_auth_required: bool,
    /// Lock an address out of token-authenticated requests (429 with
    /// Retry-After) after this many invalid or revoked tokens within a
    /// minute; 0 turns the limit off (e.g. behind a proxy that limits).
    #[arg(long, default_value_t = zoo_registry::auth_limit::DEFAULT_MAX_FAILURES)]
    pub auth_failures_per_minute: u32,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user and print a new API token for them (only the token goes
    /// to stdout).
    Add {
        name: String,
        #[command(flatten)]
        data: DataArg,
        /// Comma-separated: publish-new, publish-update, yank, owners.
        #[arg(long, default_value = "publish-new,publish-update,yank,owners")]
        scopes: String,
    },
    /// List users.
    List {
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a new API token for an existing user.
    Create {
        user: String,
        #[command(flatten)]
        data: DataArg,
        #[arg(long, default_value = "publish-new,publish-update,yank,owners")]
        scopes: String,
    },
    /// List tokens (id, user, scopes, created, revoked); secrets are never shown.
    List {
        #[command(flatten)]
        data: DataArg,
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by its id (the 16 hex digits after `zoo_`).
    Revoke {
        id: String,
        #[command(flatten)]
        data: DataArg,
    },
}

fn config_for(data: &DataArg) -> Config {
    Config {
        data_dir: data.data.clone(),
        base_url: String::new(),
        max_package_size: DEFAULT_MAX_PACKAGE_SIZE,
        cargo_auth_required: false,
    }
}

fn store(data: &DataArg) -> Result<std::sync::Arc<zoo_registry::db::sqlite::SqliteStore>> {
    zoo_registry::open_store(&config_for(data))
        .with_context(|| format!("opening the registry data in {}", data.data.display()))
}

fn issue_token(store: &dyn MetadataStore, user: &User, scopes: &[Scope]) -> Result<String> {
    let token = generate_token().context("reading the system's random source")?;
    store.add_token(user, &token.id, &token.secret_sha256, scopes)?;
    eprintln!(
        "token {} for `{}` with scopes {}",
        token.id,
        user.login,
        format_scopes(scopes)
    );
    Ok(token.token)
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    let base_url = args
        .base_url
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let config = Config {
        data_dir: args.data.data.clone(),
        base_url,
        max_package_size: args.max_package_size,
        cargo_auth_required: args.cargo_auth_required,
    };
    let mut state = zoo_registry::open_state(config)
        .with_context(|| format!("opening the registry data in {}", args.data.data.display()))?;
    state.auth_limiter = std::sync::Arc::new(zoo_registry::auth_limit::AuthLimiter::new(
        args.auth_failures_per_minute,
        zoo_registry::auth_limit::DEFAULT_WINDOW,
    ));
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    zoo_registry::server::run(listener, state, zoo_registry::server::shutdown_signal())
        .await
        .context("serving HTTP")
}

pub fn user(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add { name, data, scopes } => {
            validate_login(&name).map_err(anyhow::Error::msg)?;
            let scopes = parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let store = store(&data)?;
            let user = store.add_user(&name)?;
            println!("{}", issue_token(&*store, &user, &scopes)?);
        }
        UserCommand::List { data } => {
            for user in store(&data)?.list_users()? {
                println!("{}", user.login);
            }
        }
    }
    Ok(())
}

pub fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create { user, data, scopes } => {
            let scopes = parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let store = store(&data)?;
            let Some(user) = store.find_user(&user)? else {
                bail!("there is no user named `{user}`; create one with `zoo-registry user add`");
            };
            println!("{}", issue_token(&*store, &user, &scopes)?);
        }
        TokenCommand::List { data, user } => {
            let tokens = store(&data)?.list_tokens(user.as_deref())?;
            println!(
                "{:<16}  {:<16}  {:<20}  {:<8}  scopes",
                "id", "user", "created", "state"
            );
            for t in tokens {
                let state = if t.revoked { "revoked" } else { "active" };
                println!(
                    "{:<16}  {:<16}  {:<20}  {:<8}  {}",
                    t.id,
                    t.user.login,
                    t.created_at,
                    state,
                    format_scopes(&t.scopes)
                );
            }
        }
        TokenCommand::Revoke { id, data } => {
            store(&data)?.revoke_token(&id)?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(())
}

pub fn fsck(args: FsckArgs) -> Result<()> {
    let report = zoo_registry::ops::fsck::fsck(
        &args.data.data,
        std::time::Duration::from_secs(args.temp_age_minutes * 60),
    )
    .with_context(|| format!("checking {}", args.data.data.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if !report.ok {
        bail!(
            "{} problem(s) in {}",
            report.problems.len(),
            args.data.data.display()
        );
    }
    Ok(())
}

pub fn gc(args: GcArgs) -> Result<()> {
    let report = zoo_registry::ops::gc::gc(
        &args.data.data,
        std::time::Duration::from_secs(args.grace_minutes * 60),
        args.dry_run,
    )
    .with_context(|| format!("collecting garbage in {}", args.data.data.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
