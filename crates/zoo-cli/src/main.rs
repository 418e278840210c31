//! `zoo`: the command-line client. Each command group lives in its own module;
//! this file only parses arguments and dispatches.

mod packages;
mod shell;
mod torch;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "zoo",
    version,
    about = "A model zoo and package registry for neural networks"
)]
struct Cli {
    /// Print only errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print more about what zoo does.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show libtorch, CUDA and where zoo keeps its data.
    #[command(disable_help_flag = true)]
    Doctor(torch::ForwardedArgs),
    /// Export a model package to another framework's format (TorchScript).
    #[command(disable_help_flag = true)]
    Export(torch::ForwardedArgs),
    /// Convert a model from another framework into a zoo package.
    #[command(disable_help_flag = true)]
    Import(torch::ForwardedArgs),
    #[command(flatten)]
    Packages(packages::PackageCommand),
    /// Run a model package on images, sequences, videos or .npy tensors.
    #[command(disable_help_flag = true)]
    Run(torch::ForwardedArgs),
    /// Re-run a model package's golden input and compare its recorded outputs.
    #[command(disable_help_flag = true)]
    Verify(torch::ForwardedArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Print zoo's man page (roff): `zoo man > zoo.1`.
    Man(shell::ManArgs),
}

fn main() {
    let cli = Cli::parse();
    let errors = match &cli.command {
        Command::Packages(command) if command.json() => zoo_term::ErrorFormat::Json,
        _ => zoo_term::ErrorFormat::Text,
    };
    let forward = |name: &str, args| torch::forward(name, args, cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Doctor(args) => forward("doctor", args),
        Command::Run(args) => forward("run", args),
        Command::Import(args) => forward("import", args),
        Command::Export(args) => forward("export", args),
        Command::Verify(args) => forward("verify", args),
        Command::Completions(args) => shell::completions(args).map(|()| 0),
        Command::Man(args) => shell::man(args).map(|()| 0),
        Command::Packages(command) => packages::run(
            command,
            packages::Output {
                quiet: cli.quiet,
                verbose: cli.verbose,
            },
        )
        .map(|()| 0),
    };
    zoo_term::exit_as(result, errors);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--help` explains every argument in words (no `<NAME>` left bare,
    /// no Rust module paths).
    #[test]
    fn every_argument_has_help_in_words() {
        let problems = zoo_term::undocumented_arguments(&super::Cli::command());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
