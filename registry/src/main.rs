//! `zoo-registry`: parses the command line and dispatches.

mod cli;

use clap::Parser;
use cli::{Cli, Command};

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // A log redirected to a file stays plain text.
        .with_ansi(zoo_term::colour_on_stderr())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("zoo_registry=info")),
        )
        .init();
    let command = Cli::parse().command;
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(command)));
    // Errors are messages (`error: …`), not backtraces.
    zoo_term::exit(result.map(|()| 0));
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => cli::serve(args).await,
        // Blocking: the PostgreSQL store blocks on its own runtime.
        Command::User(command) => tokio::task::spawn_blocking(move || cli::user(command)).await?,
        Command::Token(command) => tokio::task::spawn_blocking(move || cli::token(command)).await?,
        Command::Fsck(args) => cli::fsck(args).await,
        Command::Gc(args) => cli::gc(args),
        Command::Key(command) => cli::key(command),
        Command::Export(args) => cli::export(args).await,
        Command::Import(args) => cli::import(args).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_argument_has_help_in_words() {
        use clap::CommandFactory;
        zoo_term::assert_arguments_documented(&super::Cli::command());
    }
}
