//! The arguments of zoo's libtorch commands (doctor, run, export, import,
//! verify), declared once. `zoo-torch` parses them and runs the command;
//! `zoo`, which links no libtorch, declares the same tree, so that its
//! `--help`, completions and man page show every argument and a typo fails
//! before libtorch starts, and then hands its command line to `zoo-torch`.

mod export;
mod import;
mod run;

pub use export::{ExportCommand, TorchScriptArgs};
pub use import::{CaffeArgs, ConvertSourceArgs, ImportCommand, OnnxArgs, parse_named_file};
pub use run::{DEFAULT_MAX_PIXELS, RunArgs};

/// The flags every `zoo` command takes, before or after its name.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct GlobalArgs {
    /// Print only results and errors: no progress, notes or lines that
    /// confirm files written (warnings about results stay).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print more about what zoo does.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

/// The libtorch commands, as both binaries declare them.
#[derive(Debug, clap::Subcommand)]
pub enum TorchCommand {
    /// Show libtorch, CUDA and where zoo keeps its data.
    Doctor(DoctorArgs),
    /// Export a model package to another framework's format (TorchScript).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Convert a model from another framework into a zoo package.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Run a model package on images, sequences, videos or .npy tensors.
    Run(RunArgs),
    /// Re-run a package's golden input and compare its recorded outputs.
    Verify(VerifyArgs),
    /// Convert a package's `[[model.sources]]` file into its weights (run
    /// by `zoo install`).
    #[command(hide = true)]
    ConvertSource(ConvertSourceArgs),
}

impl TorchCommand {
    /// The command's name on the command line (`run`, `import`, …).
    pub fn name(&self) -> &'static str {
        match self {
            TorchCommand::Doctor(_) => "doctor",
            TorchCommand::Export(_) => "export",
            TorchCommand::Import(_) => "import",
            TorchCommand::Run(_) => "run",
            TorchCommand::Verify(_) => "verify",
            TorchCommand::ConvertSource(_) => "convert-source",
        }
    }
}

/// `zoo doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also run several links on DEVICE (e.g. `cuda`) and on the CPU with the
    /// same weights and report the largest difference; fails above 1e-4.
    #[arg(long, value_name = "DEVICE")]
    pub parity: Option<String>,
}

/// `zoo verify MODEL`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// An installed package (NAME or NAME@REQ), or a package folder written
    /// as a path (`./vgg-mini`, `models/vgg-mini`, `/abs/dir`).
    pub model: String,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Verify a package that contains code (a TorchScript model); also
    /// `allow-code` in config.toml or ZOO_ALLOW_CODE=1.
    #[arg(long)]
    pub allow_code: bool,
}
