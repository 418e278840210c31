//! `zoo-registry`: parses the command line and dispatches.

mod cli;

use clap::Parser;
use cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("zoo_registry=info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => cli::serve(args).await,
        // Blocking: the PostgreSQL store blocks on its own runtime.
        Command::User(command) => tokio::task::spawn_blocking(move || cli::user(command)).await?,
        Command::Token(command) => tokio::task::spawn_blocking(move || cli::token(command)).await?,
        Command::Fsck(args) => cli::fsck(args).await,
        Command::Gc(args) => cli::gc(args),
        Command::Key(command) => cli::key(command),
        Command::Export(args) => cli::transfer(args, false).await,
        Command::Import(args) => cli::transfer(args, true).await,
    }
}
