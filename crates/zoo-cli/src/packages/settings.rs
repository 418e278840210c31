//! `zoo config paths`: where zoo keeps this user's files (the same list
//! `zoo doctor` prints, without starting libtorch).

use super::print_json;
use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List every file and folder zoo reads or writes for this user
    /// (config.toml, keys, the store), as ZOO_HOME and the environment
    /// place them now.
    Paths(PathsArgs),
}

impl ConfigCommand {
    pub fn json(&self) -> bool {
        match self {
            ConfigCommand::Paths(args) => args.json,
        }
    }
}

#[derive(Debug, Args)]
pub struct PathsArgs {
    /// Print as JSON: a list of {"what", "path"}.
    #[arg(long)]
    json: bool,
}

pub fn run(command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Paths(args) => paths(&args),
    }
}

fn paths(args: &PathsArgs) -> Result<()> {
    let paths = zoo_client::config::state_paths();
    if args.json {
        let items: Vec<serde_json::Value> = paths
            .iter()
            .map(|p| serde_json::json!({"what": p.what, "path": p.path}))
            .collect();
        return print_json(&items);
    }
    for path in paths {
        zoo_term::outln!("{:<20} {}", path.what, path.path.display());
    }
    Ok(())
}
