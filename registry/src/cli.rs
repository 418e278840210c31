//! Command line of `zoo-registry`: parsing and the small admin commands.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use zoo_registry::auth::{
    Scope, format_scopes, generate_token, parse_scopes, split_token, validate_login,
};
use zoo_registry::backends::{BackendError, Backends, Database};
use zoo_registry::config::{Config, DEFAULT_MAX_PACKAGE_SIZE};
use zoo_registry::db::{MetadataStore, User};
use zoo_registry::lock::DirLock;

/// The longest duration any flag takes: ten years, in seconds. Far beyond
/// any sensible setting, and far from overflowing the clocks the values are
/// added to (`Instant + timeout` panics on overflow).
const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// A whole number of seconds in `min..=MAX_SECONDS`.
fn seconds(min: u64) -> impl TypedValueParser<Value = u64> {
    clap::value_parser!(u64).range(min..=MAX_SECONDS)
}

/// A whole number of minutes up to [`MAX_SECONDS`].
fn minutes() -> impl TypedValueParser<Value = u64> {
    clap::value_parser!(u64).range(0..=MAX_SECONDS / 60)
}

/// `--index-cache-ttl`: seconds, fractions allowed, `0..=MAX_SECONDS`.
fn cache_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(0.0..=MAX_SECONDS as f64).contains(&seconds) {
        return Err(format!("{seconds} is not within 0..={MAX_SECONDS} seconds"));
    }
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// `--index-ttl`: 2 s up to ten years (`index::signing::MAX_INDEX_TTL`).
fn index_ttl() -> impl TypedValueParser<Value = u64> {
    use zoo_registry::index::signing::{MAX_INDEX_TTL, MIN_INDEX_TTL};
    clap::value_parser!(u64).range(MIN_INDEX_TTL.as_secs()..=MAX_INDEX_TTL.as_secs())
}

/// `--base-url`: an absolute http(s) URL without query or fragment (it is
/// signed into `/index/config.json` and prefixes every link), kept without
/// a trailing `/`.
fn base_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{text}`: only http:// and https:// URLs are served"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{text}`: a base URL has no user, query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

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
    /// The registry's index-signing key (created at first start).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Copy the whole registry (metadata rows and referenced blobs, each
    /// re-hashed) into a new or empty directory: a backup, or the first half
    /// of a move to other backends.
    Export(TransferArgs),
    /// Load an export into a registry with an empty database (any
    /// backends), then rewrite its index mirrors.
    Import(ImportArgs),
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Print the public key (what clients pin; `zoo trust registry KEY`).
    Show {
        #[command(flatten)]
        data: DataArg,
    },
    /// Create the key (before the first start), or replace it with --force.
    Generate {
        #[command(flatten)]
        data: DataArg,
        /// Replace an existing key: clients that pinned the old one refuse
        /// the index until they trust the new one.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
pub struct BackendArgs {
    /// Metadata database: sqlite://PATH or
    /// postgres://user:password@host:port/database
    /// (default: DATA/registry.sqlite3).
    #[arg(long, env = "ZOO_REGISTRY_DATABASE")]
    pub database: Option<String>,
    /// Blob storage: s3://bucket[/prefix], with credentials, region and
    /// endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ENDPOINT (default: DATA/blobs). Index mirrors then go to the
    /// bucket too.
    #[arg(long, env = "ZOO_REGISTRY_BLOBS")]
    pub blobs: Option<String>,
}

impl BackendArgs {
    fn backends(&self) -> Backends {
        Backends {
            database: self.database.clone(),
            blobs: self.blobs.clone(),
        }
    }
}

/// The registry an admin command works on: a data directory and/or
/// backend URLs (PostgreSQL needs no data directory for user and token
/// commands).
#[derive(Args)]
pub struct StoreArgs {
    /// The registry's data directory.
    #[arg(long, env = "ZOO_REGISTRY_DATA")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub backends: BackendArgs,
}

impl StoreArgs {
    fn data_dir(&self) -> Result<PathBuf> {
        match &self.data {
            Some(data) => Ok(data.clone()),
            None => Err(BackendError::NoDataDir.into()),
        }
    }

    /// Refuses a registry that does not exist yet (see
    /// [`Backends::require_existing`]).
    fn require_existing(&self) -> Result<()> {
        if let Some(data) = &self.data {
            self.backends.backends().require_existing(data)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match (&self.data, &self.backends.database) {
            (_, Some(database)) if !database.starts_with("sqlite") => {
                self.backends.backends().describe(Path::new("DATA"))
            }
            (Some(data), _) => data.display().to_string(),
            (None, _) => "(no --data)".into(),
        }
    }
}

#[derive(Args)]
pub struct TransferArgs {
    /// The export directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Go on without the export's index-signing key (keep the target's, or
    /// create one at first start); clients that pinned the old key must
    /// then trust the new one.
    #[arg(long)]
    pub new_key: bool,
}

#[derive(Args)]
pub struct FsckArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Temp files at least this many minutes old count as problems.
    #[arg(long, default_value_t = 60, value_parser = minutes())]
    pub temp_age_minutes: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backends: BackendArgs,
}

#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs and temp files younger than this (minutes);
    /// it must exceed the longest publish (docs/api.md, "gc").
    #[arg(long, default_value_t = 60, value_parser = minutes())]
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
    /// (default: http://<bound address>); an http:// or https:// URL.
    #[arg(long, value_parser = base_url)]
    pub base_url: Option<String>,
    /// Make the Cargo registry under /cargo/ private: every request (index,
    /// downloads, API) needs a token (`auth-required` in its config.json).
    #[arg(long)]
    pub cargo_auth_required: bool,
    /// Lifetime of a signed index document in seconds (re-signed when half
    /// of it is left); clients refuse documents past it.
    #[arg(long, value_name = "SECONDS", default_value_t = zoo_registry::index::signing::DEFAULT_INDEX_TTL.as_secs(), value_parser = index_ttl())]
    pub index_ttl: u64,
    /// Serve index documents from memory for at most SECONDS after rendering
    /// them (default: until this process changes the package). Set it when
    /// several registry processes share one database; 0 turns the cache off.
    #[arg(long, value_name = "SECONDS", value_parser = cache_seconds)]
    pub index_cache_ttl: Option<std::time::Duration>,
    #[command(flatten)]
    pub backends: BackendArgs,
    /// Create the registry if --data (or --database sqlite://…) holds none
    /// yet; without it a missing registry is an error, so that a mistyped
    /// path never starts an empty one.
    #[arg(long)]
    pub init: bool,
    /// Lock an address out of token-authenticated requests (429 with
    /// Retry-After) after this many invalid or revoked tokens within a
    /// minute; 0 turns the limit off (e.g. behind a proxy that limits).
    #[arg(long, default_value_t = zoo_registry::auth::limit::DEFAULT_MAX_FAILURES)]
    pub auth_failures_per_minute: u32,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Limits on connections and uploads (docs/api.md, "Limits").
#[derive(Args)]
pub struct LimitArgs {
    /// Close a connection that has not sent a request's whole header block
    /// within SECONDS (also how long an idle keep-alive connection stays open).
    #[arg(long, value_name = "SECONDS", default_value_t = zoo_registry::http::server::DEFAULT_HEADER_TIMEOUT.as_secs(), value_parser = seconds(1))]
    pub header_timeout: u64,
    /// Fail a request whose body sends nothing for SECONDS (slow uploads, slow
    /// sign-in forms).
    #[arg(long, value_name = "SECONDS", default_value_t = zoo_registry::http::server::DEFAULT_BODY_IDLE_TIMEOUT.as_secs(), value_parser = seconds(1))]
    pub body_idle_timeout: u64,
    /// Open connections at most; more are closed as soon as accepted.
    #[arg(long, default_value_t = zoo_registry::http::server::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_connections: usize,
    /// Uploads (blobs, archives, cargo publishes) in progress at once over
    /// all users; beyond it they are refused with 503 and Retry-After.
    #[arg(long, default_value_t = zoo_registry::http::uploads::DEFAULT_MAX_CONCURRENT, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_concurrent_uploads: usize,
    /// Uploads in progress at once per user (all their tokens together);
    /// beyond it they are refused with 429 and Retry-After.
    #[arg(long, default_value_t = zoo_registry::http::uploads::DEFAULT_MAX_PER_USER, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_uploads_per_user: usize,
    /// Bytes of uploaded blobs that no published version references yet
    /// that one user may keep; beyond it blob uploads get 413.
    #[arg(long, value_name = "BYTES", default_value_t = zoo_registry::http::uploads::DEFAULT_QUOTA)]
    pub upload_quota: u64,
    /// Delete an uploaded blob that no published version references after
    /// SECONDS (checked every quarter of it, at most every 10 minutes).
    #[arg(long, value_name = "SECONDS", default_value_t = zoo_registry::http::uploads::DEFAULT_GRACE.as_secs(), value_parser = seconds(1))]
    pub upload_grace: u64,
}

impl LimitArgs {
    fn server(&self) -> zoo_registry::http::server::ServerLimits {
        zoo_registry::http::server::ServerLimits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            body_idle_timeout: std::time::Duration::from_secs(self.body_idle_timeout),
            max_connections: self.max_connections,
        }
    }

    fn uploads(&self) -> zoo_registry::http::uploads::UploadLimits {
        zoo_registry::http::uploads::UploadLimits {
            max_concurrent: self.max_concurrent_uploads,
            max_per_user: self.max_uploads_per_user,
            quota: self.upload_quota,
            grace: std::time::Duration::from_secs(self.upload_grace),
        }
    }
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user and print a new API token for them (only the token goes
    /// to stdout).
    Add {
        /// The new user's login (letters, digits, `-` and `_`).
        name: String,
        #[command(flatten)]
        data: StoreArgs,
        /// Comma-separated: publish-new, publish-update, yank, owners.
        #[arg(long, default_value = "publish-new,publish-update,yank,owners")]
        scopes: String,
        /// Create the registry if --data holds none yet (the first user of
        /// a new registry); without it a missing registry is an error.
        #[arg(long)]
        init: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        data: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a new API token for an existing user.
    Create {
        /// The login of the user the token acts for.
        user: String,
        #[command(flatten)]
        data: StoreArgs,
        /// Comma-separated: publish-new, publish-update, yank, owners.
        #[arg(long, default_value = "publish-new,publish-update,yank,owners")]
        scopes: String,
    },
    /// List tokens (id, user, scopes, created, revoked); secrets are never shown.
    List {
        #[command(flatten)]
        data: StoreArgs,
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token, given its id or the whole token (never echoed).
    Revoke {
        /// The token's id (the 16 hex digits after `zoo_`, as `token list`
        /// shows) or the whole token `zoo_<id>_<secret>`.
        #[arg(value_name = "ID_OR_TOKEN")]
        id: String,
        #[command(flatten)]
        data: StoreArgs,
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

/// Opens the metadata store of an existing registry. Blocking.
fn store(args: &StoreArgs) -> Result<Arc<MetadataStore>> {
    args.require_existing()?;
    open_or_create(args)
}

/// Opens the metadata store, creating it if needed (`--init`). Blocking.
fn open_or_create(args: &StoreArgs) -> Result<Arc<MetadataStore>> {
    if let Some(data) = &args.data {
        zoo_registry::lock::check_data_dir(data)?;
    }
    let backends = args.backends.backends();
    let data_dir = match (&args.data, backends.database(Path::new(""))?) {
        (Some(data), _) => data.clone(),
        (None, Database::Postgres(_)) => PathBuf::new(),
        (None, Database::Sqlite(_)) => return Err(BackendError::NoDataDir.into()),
    };
    backends
        .open_metadata(&data_dir)
        .with_context(|| format!("opening the registry ({})", args.describe()))
}

/// The stores of `export` / `import`.
fn parts(args: &StoreArgs) -> Result<zoo_registry::Parts> {
    let config = config_for(&DataArg {
        data: args.data_dir()?,
    });
    zoo_registry::open_parts(&config, &args.backends.backends())
        .with_context(|| format!("opening the registry ({})", args.describe()))
}

fn issue_token(store: &MetadataStore, user: &User, scopes: &[Scope]) -> Result<String> {
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

/// Takes the data directory's writer lock (`zoo_registry::lock`) for
/// `purpose`: one `serve` or `import` per directory, and per SQLite file
/// kept elsewhere.
fn lock_data(data: &Path, backends: &Backends, purpose: &str) -> Result<Vec<DirLock>> {
    let sqlite_elsewhere = match backends.database(data)? {
        Database::Sqlite(path) if path.parent() != Some(data) => Some(path),
        _ => None,
    };
    Ok(DirLock::data_dir(
        data,
        sqlite_elsewhere.as_deref(),
        purpose,
    )?)
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let data_dir = args.data.data.clone();
    zoo_registry::lock::check_data_dir(&data_dir)?;
    let backends = args.backends.backends();
    if !args.init {
        backends.require_existing(&data_dir)?;
    }
    // Held until the server stops (the process exits).
    let _lock = lock_data(&data_dir, &backends, "serve")?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    let config = Config {
        data_dir,
        base_url: args.base_url.unwrap_or_else(|| format!("http://{addr}")),
        max_package_size: args.max_package_size,
        cargo_auth_required: args.cargo_auth_required,
    };
    // Other registry processes may write a PostgreSQL database (SQLite is
    // owned by one process).
    let shared_database = matches!(
        backends.database(&config.data_dir),
        Ok(zoo_registry::backends::Database::Postgres(_))
    );
    let cache_ttl = match args.index_cache_ttl {
        Some(ttl) => Some(ttl),
        // Another process may change a package in a shared database, which
        // this one would not notice: no cache unless asked for.
        None if shared_database => Some(std::time::Duration::ZERO),
        None => None,
    };
    let ttl = std::time::Duration::from_secs(args.index_ttl);
    let described = backends.describe(&config.data_dir);
    let state =
        tokio::task::spawn_blocking(move || zoo_registry::open_state_with(config, &backends, ttl))
            .await?
            .with_context(|| format!("opening the registry ({described})"))?
            .with_index_cache_ttl(cache_ttl)
            .with_upload_limits(args.limits.uploads())
            .with_auth_limiter(zoo_registry::auth::limit::AuthLimiter::new(
                args.auth_failures_per_minute,
                zoo_registry::auth::limit::DEFAULT_WINDOW,
            ));
    tracing::info!("{described}");
    tokio::spawn(zoo_registry::http::keep_index_fresh(state.clone()));
    tokio::spawn(zoo_registry::http::uploads::expiry::run(state.clone()));
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    let limits = args.limits.server();
    zoo_registry::http::server::run_with(
        listener,
        state,
        limits,
        zoo_registry::http::server::shutdown_signal(),
    )
    .await
    .context("serving HTTP")
}

pub fn user(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add {
            name,
            data,
            scopes,
            init,
        } => {
            validate_login(&name).map_err(anyhow::Error::msg)?;
            let scopes = parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let store = if init {
                open_or_create(&data)?
            } else {
                store(&data)?
            };
            // The store refuses a login taken by another whatever its case.
            let user = store.add_user(&name)?;
            zoo_term::outln!("{}", issue_token(&store, &user, &scopes)?);
        }
        UserCommand::List { data } => {
            for user in store(&data)?.list_users()? {
                zoo_term::outln!("{}", user.login);
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
            zoo_term::outln!("{}", issue_token(&store, &user, &scopes)?);
        }
        TokenCommand::List { data, user } => {
            let tokens = store(&data)?.list_tokens(user.as_deref())?;
            zoo_term::outln!(
                "{:<16}  {:<16}  {:<20}  {:<8}  scopes",
                "id",
                "user",
                "created",
                "state"
            );
            for t in tokens {
                let state = if t.revoked { "revoked" } else { "active" };
                zoo_term::outln!(
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
            let id = token_id(&id)?;
            store(&data)?.revoke_token(&id)?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(())
}

/// The id of a token given as its id or as the whole token. Whatever was
/// given may be a secret, so an error describes it without repeating it.
fn token_id(given: &str) -> Result<String> {
    if let Some((id, _secret)) = split_token(given) {
        return Ok(id.to_string());
    }
    if given.len() == 16 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(given.to_ascii_lowercase());
    }
    bail!(
        "the argument ({} characters, not shown: it may be a secret) is neither a token id \
         (16 hex digits, as `zoo-registry token list` shows) nor a whole token `zoo_<id>_<secret>`",
        given.chars().count()
    )
}

pub async fn fsck(args: FsckArgs) -> Result<()> {
    let data = args.data.data.clone();
    let temp_age = std::time::Duration::from_secs(args.temp_age_minutes * 60);
    let backends = args.backends.backends();
    let defaults = backends.database.is_none() && backends.blobs.is_none();
    let described = if defaults {
        data.display().to_string()
    } else {
        backends.describe(&data)
    };
    let report = if defaults {
        tokio::task::spawn_blocking(move || zoo_registry::ops::fsck::fsck(&data, temp_age))
            .await?
            .with_context(|| format!("checking {described}"))?
    } else {
        // Opened directly, not through `open_parts`: nothing is written.
        let opened = tokio::task::spawn_blocking(move || {
            backends.require_existing(&data)?;
            Ok::<_, anyhow::Error>((backends.open_metadata(&data)?, backends.bucket()?, data))
        })
        .await??;
        let (store, bucket, data) = opened;
        let report = match bucket {
            Some(bucket) => {
                zoo_registry::ops::fsck_bucket::fsck_bucket(store.clone(), &bucket).await
            }
            None => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    zoo_registry::ops::fsck::fsck_with(&store, &data, temp_age)
                })
                .await?
            }
        };
        // The store may own a runtime: drop it off the async workers.
        tokio::task::spawn_blocking(move || drop(store)).await?;
        report.with_context(|| format!("checking {described}"))?
    };
    if args.json {
        zoo_term::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        zoo_term::out!("{}", report.to_text());
    }
    if !report.ok {
        bail!("{} problem(s) in {described}", report.problems.len());
    }
    Ok(())
}

pub fn gc(args: GcArgs) -> Result<()> {
    zoo_registry::lock::check_data_dir(&args.data.data)?;
    // Not the server's lock: gc is safe next to a live server (see
    // `zoo_registry::ops::gc`); this one keeps two sweeps apart. A missing
    // directory is left for gc's own "not a registry" error.
    let _lock = match args.data.data.is_dir() {
        true => Some(DirLock::acquire(
            &args.data.data,
            zoo_registry::lock::GC_LOCK_FILE,
            "gc",
        )?),
        false => None,
    };
    let report = zoo_registry::ops::gc::gc(
        &args.data.data,
        std::time::Duration::from_secs(args.grace_minutes * 60),
        args.dry_run,
    )
    .with_context(|| format!("collecting garbage in {}", args.data.data.display()))?;
    if args.json {
        zoo_term::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        zoo_term::out!("{}", report.to_text());
    }
    Ok(())
}

pub fn key(command: KeyCommand) -> Result<()> {
    use zoo_registry::index::signing;
    match command {
        KeyCommand::Show { data } => {
            let Some(key) = signing::load_key(&data.data)
                .with_context(|| format!("reading {}", signing::key_path(&data.data).display()))?
            else {
                bail!(
                    "{} has no signing key yet: run `zoo-registry key generate` or start the server once",
                    data.data.display()
                );
            };
            zoo_term::outln!("{}", key.public());
        }
        KeyCommand::Generate { data, force } => {
            let key = signing::generate_key(&data.data, force)?;
            eprintln!("wrote {}", signing::key_path(&data.data).display());
            zoo_term::outln!("{}", key.public());
        }
    }
    Ok(())
}

/// `export`: copies an existing registry into a directory.
pub async fn export(args: TransferArgs) -> Result<()> {
    transfer(args, None).await
}

/// `import`: loads an export into an empty registry, holding the data
/// directory's writer lock so that no server starts on it meanwhile.
pub async fn import(args: ImportArgs) -> Result<()> {
    let data = args.transfer.store.data_dir()?;
    zoo_registry::lock::check_data_dir(&data)?;
    let backends = args.transfer.store.backends.backends();
    let _lock = lock_data(&data, &backends, "import")?;
    // A SQLite database this import creates goes again if it fails, so a
    // later `serve` finds no registry rather than an empty one.
    let created = match backends.database(&data)? {
        Database::Sqlite(path) if !path.exists() => Some(path),
        _ => None,
    };
    let result = transfer(args.transfer, Some(args.new_key)).await;
    if let (Err(_), Some(path)) = (&result, created) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
    result
}

/// `export` (`new_key: None`) or `import` (whether `--new-key` was given).
async fn transfer(args: TransferArgs, new_key: Option<bool>) -> Result<()> {
    let import = new_key.is_some();
    let store_args = StoreArgs {
        data: args.store.data.clone(),
        backends: BackendArgs {
            database: args.store.backends.database.clone(),
            blobs: args.store.backends.blobs.clone(),
        },
    };
    // Import fills a new registry; export reads an existing one.
    let key_choice = if new_key == Some(true) {
        zoo_registry::ops::transfer_key::KeyOnImport::New
    } else {
        zoo_registry::ops::transfer_key::KeyOnImport::Carry
    };
    let dir = args.dir.clone();
    let parts = tokio::task::spawn_blocking(move || {
        if import {
            // Refused before the target's database is created.
            let data = store_args.data_dir()?;
            zoo_registry::ops::transfer_key::check_import(&dir, &data, key_choice)?;
        } else {
            store_args.require_existing()?;
        }
        parts(&store_args)
    })
    .await??;
    use zoo_registry::ops::transfer_key::new_key_note;
    let data_dir = args.store.data_dir()?;
    let (verb, report) = if import {
        let report =
            zoo_registry::ops::transfer::import(&parts, &args.dir, &data_dir, key_choice).await;
        ("imported", report)
    } else {
        let report = zoo_registry::ops::transfer::export(&parts, &args.dir, &data_dir).await;
        ("exported", report)
    };
    // The store may own a runtime: drop it off the async workers.
    tokio::task::spawn_blocking(move || drop(parts)).await?;
    let report = report.with_context(|| {
        format!(
            "{} {}",
            if import {
                "importing from"
            } else {
                "exporting to"
            },
            args.dir.display()
        )
    })?;
    if new_key == Some(true) {
        eprintln!("note: {}", new_key_note());
    }
    if args.json {
        zoo_term::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        zoo_term::out!("{}", report.to_text(verb));
    }
    Ok(())
}
