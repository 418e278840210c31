//! `zoo`: the command-line client. Each command group lives in its own module;
//! this file only parses arguments and dispatches.

mod packages;
mod shell;
mod torch;

use clap::{Parser, Subcommand};
use zoo_torch_args::{GlobalArgs, TorchCommand};

#[derive(Debug, Parser)]
#[command(
    name = "zoo",
    version,
    about = "A model zoo and package registry for neural networks"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// doctor, export, import, run, verify: parsed here, run by zoo-torch.
    #[command(flatten)]
    Torch(TorchCommand),
    #[command(flatten)]
    Packages(packages::PackageCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Print zoo's man page (roff), or a command's: `zoo man > zoo.1`, `zoo man install`.
    Man(shell::ManArgs),
}

fn main() {
    let cli = Cli::parse();
    let GlobalArgs { quiet, verbose } = cli.global;
    let errors = match &cli.command {
        Command::Packages(command) if command.json() => zoo_term::ErrorFormat::Json,
        _ => zoo_term::ErrorFormat::Text,
    };
    let result = match cli.command {
        Command::Torch(command) => torch::forward(command.name()),
        Command::Completions(args) => shell::completions(args).map(|()| 0),
        Command::Man(args) => shell::man(args).map(|()| 0),
        Command::Packages(command) => packages::run(command, packages::Output { quiet, verbose }),
    };
    zoo_term::exit_as(result, errors);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_argument_has_help_in_words() {
        use clap::CommandFactory;
        zoo_term::assert_arguments_documented(&super::Cli::command());
    }
}
