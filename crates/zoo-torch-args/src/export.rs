//! `zoo export torchscript MODEL`.

use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// Trace a model package into a TorchScript file (optionally a new package).
    Torchscript(TorchScriptArgs),
}

#[derive(Debug, clap::Args)]
pub struct TorchScriptArgs {
    /// An installed package NAME or NAME@REQ, or a package folder written as
    /// a path (`./dir`, `models/x`, `/abs/dir`).
    pub model: String,
    /// The TorchScript file to write.
    #[arg(long, short, value_name = "FILE.pt")]
    pub output: Option<PathBuf>,
    /// Also write a package folder (zoo.toml + model.pt) ready to publish.
    #[arg(long, value_name = "DIR")]
    pub package: Option<PathBuf>,
    /// The exported package's name (default: the source's name + "-torchscript").
    #[arg(long)]
    pub name: Option<String>,
    /// The shape to trace an input with, NAME=D1,D2,… (repeatable); default:
    /// the manifest's shape with a free batch dimension set to 1.
    #[arg(long = "input-shape", value_name = "NAME=D1,D2,…")]
    pub input_shapes: Vec<String>,
    /// Which output the file returns (default: the model's only default output).
    #[arg(long = "tensor", value_name = "OUTPUT")]
    pub tensor: Option<String>,
    /// Device to trace on: cpu, cuda or cuda:N. The file loads on any device
    /// unless the forward moves tensors to a device itself (then it runs there).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}
