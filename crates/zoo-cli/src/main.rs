//! `zoo`: the command-line client. Each command group lives in its own module;
//! this file only parses arguments and dispatches.

mod doctor;
mod export;
mod import;
mod packages;
mod run;
mod settings;

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
    Doctor(doctor::DoctorArgs),
    /// Export a model package to another framework's format (TorchScript).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Convert a model from another framework into a zoo package.
    #[command(subcommand)]
    Import(import::ImportCommand),
    #[command(flatten)]
    Packages(packages::PackageCommand),
    /// Run a model package on images, sequences, videos or .npy tensors.
    Run(run::RunArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Doctor(args) => doctor::run(args),
        Command::Run(args) => run::run(args),
        Command::Import(command) => import::run(command, cli.quiet),
        Command::Export(command) => export::run(command, cli.quiet),
        Command::Packages(command) => packages::run(
            command,
            packages::Output {
                quiet: cli.quiet,
                verbose: cli.verbose,
            },
        ),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
