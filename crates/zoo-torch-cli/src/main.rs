//! `zoo-torch`: the commands of `zoo` that need libtorch (doctor, run,
//! export, import, verify). `zoo` itself does not link libtorch, so that package
//! commands start fast and small (libtorch_cuda alone maps ~350 MB at
//! start-up); it starts this binary, which sits next to it, for these
//! commands. This binary links libtorch_cuda for real (see zoo-torch-build).

mod allow_code;
mod doctor;
mod export;
mod import;
mod model_side;
mod run;
mod settings;
mod verify;

use clap::Parser;
use zoo_torch_args::{GlobalArgs, TorchCommand};

#[derive(Debug, Parser)]
#[command(
    name = "zoo",
    bin_name = "zoo",
    version,
    about = "A model zoo and package registry for neural networks (libtorch commands)"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: TorchCommand,
}

fn main() {
    zoo_nn::allocator::keep_freed_memory();
    zoo_nn::guard::quiet_guarded_panics();
    let cli = Cli::parse();
    if let (true, Ok(exe)) = (cli.global.verbose, std::env::current_exe()) {
        eprintln!("zoo: libtorch commands run by {}", exe.display());
    }
    let GlobalArgs { quiet, verbose } = cli.global;
    let result = match cli.command {
        TorchCommand::Doctor(args) => doctor::run(args),
        TorchCommand::Run(args) => run::run(args, run::Report { verbose, quiet }),
        TorchCommand::Import(command) => import::run(command, quiet),
        TorchCommand::Export(command) => export::run(command, quiet, verbose),
        TorchCommand::Verify(args) => verify::run(args, quiet, verbose),
        TorchCommand::ConvertSource(args) => import::convert_source(args),
    };
    // One `error:` line; libtorch's C++ trace only with -v.
    let result = result.map(|()| 0).map_err(|error| {
        if verbose {
            error
        } else {
            anyhow::anyhow!(zoo_nn::error::strip_cpp_trace(&zoo_term::error_text(
                &error
            )))
        }
    });
    // Every command has closed its files by now; libtorch's exit-time
    // destructors would only add a tenth of a second (zoo_nn::process).
    zoo_nn::process::exit_now(zoo_term::report(result, zoo_term::ErrorFormat::Text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_argument_has_help_in_words() {
        use clap::CommandFactory;
        zoo_term::assert_arguments_documented(&super::Cli::command());
    }
}
