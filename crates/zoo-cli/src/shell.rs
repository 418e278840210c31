//! `zoo completions SHELL` and `zoo man`: generated from the same clap
//! definitions as the parser, so they never drift from it.

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use std::io::Write;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for; e.g. `zoo completions bash >
    /// ~/.local/share/bash-completion/completions/zoo`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for the shell.
pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "zoo", &mut script);
    write_stdout(&script)
}

#[derive(Debug, Args)]
pub struct ManArgs {}

/// Prints the man page (roff): `zoo man > zoo.1; man ./zoo.1`.
pub fn man(_args: ManArgs) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::Cli::command())
        .render(&mut page)
        .context("rendering the man page")?;
    write_stdout(&page)
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    zoo_term::out!("{}", String::from_utf8_lossy(bytes));
    std::io::stdout().flush().ok();
    Ok(())
}
