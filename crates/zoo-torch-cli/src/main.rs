//! `zoo-torch`: the commands of `zoo` that need libtorch (doctor, run,
//! export, import, verify). `zoo` itself does not link libtorch, so that package
//! commands start fast and small (libtorch_cuda alone maps ~350 MB at
//! start-up); it starts this binary, which sits next to it, for these
//! commands. This binary links libtorch_cuda for real (see zoo-torch-build).

mod allow_code;
mod doctor;
mod export;
mod import;
mod run;
mod settings;
mod verify;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "zoo",
    bin_name = "zoo",
    version,
    about = "A model zoo and package registry for neural networks (libtorch commands)"
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
    Doctor(doctor::DoctorArgs),
    /// Export a model package to another framework's format (TorchScript).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Convert a model from another framework into a zoo package.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Run a model package on images, sequences, videos or .npy tensors.
    Run(run::RunArgs),
    /// Re-run a package's golden input and compare its recorded outputs.
    Verify(verify::VerifyArgs),
    /// Convert a package's `[[model.sources]]` file into its weights (run
    /// by `zoo install`).
    #[command(hide = true)]
    ConvertSource(import::ConvertSourceArgs),
}

fn main() {
    let cli = Cli::parse();
    if let (true, Ok(exe)) = (cli.verbose, std::env::current_exe()) {
        eprintln!("zoo: libtorch commands run by {}", exe.display());
    }
    let result = match cli.command {
        Command::Doctor(args) => doctor::run(args),
        Command::Run(args) => run::run(args, cli.verbose),
        Command::Import(command) => import::run(command, cli.quiet),
        Command::Export(command) => export::run(command, cli.quiet, cli.verbose),
        Command::Verify(args) => verify::run(args, cli.quiet, cli.verbose),
        Command::ConvertSource(args) => import::convert_source(args),
    };
    // One `error:` line; libtorch's C++ trace only with -v.
    let result = result.map(|()| 0).map_err(|error| {
        if cli.verbose {
            error
        } else {
            anyhow::anyhow!(zoo_nn::error::strip_cpp_trace(&format!("{error:#}")))
        }
    });
    zoo_term::exit(result)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `zoo run --help` and the other torch commands explain every argument
    /// in words, as `zoo`'s own commands do.
    #[test]
    fn every_argument_has_help_in_words() {
        let problems = zoo_term::undocumented_arguments(&super::Cli::command());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
