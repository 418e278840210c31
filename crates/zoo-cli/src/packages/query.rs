//! `zoo info`, `zoo search`.

use super::{RemoteArgs, print_json};
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The package.
    name: String,
    /// Print the registry's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn info(args: InfoArgs) -> Result<()> {
    let client = args.remote.client()?;
    if client.config.offline {
        // Offline: what the cached index knows.
        let entries = client.index.entries(&args.name)?;
        if args.json {
            return print_json(&entries);
        }
        zoo_term::outln!("{} (from the cached index; offline)", args.name);
        for e in entries {
            let yanked = if e.yanked { "  (yanked)" } else { "" };
            zoo_term::outln!("  {}  {} files{yanked}", e.vers, e.files.len());
        }
        return Ok(());
    }
    let info = client.api().info(&args.name)?;
    if args.json {
        return print_json(&info);
    }
    let text = |key: &str| info.get(key).and_then(|v| v.as_str()).unwrap_or("");
    zoo_term::outln!("{} ({})", text("name"), text("kind"));
    if !text("description").is_empty() {
        zoo_term::outln!("{}", text("description"));
    }
    if let Some(owners) = info.get("owners").and_then(|o| o.as_array()) {
        let names: Vec<String> = owners
            .iter()
            .map(|o| {
                o.get("login")
                    .and_then(|l| l.as_str())
                    .or_else(|| o.as_str())
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        zoo_term::outln!("owners: {}", names.join(", "));
    }
    zoo_term::outln!("versions:");
    for version in info
        .get("versions")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let field = |key: &str| version.get(key).and_then(|v| v.as_str()).unwrap_or("");
        let yanked = if version.get("yanked").and_then(|y| y.as_bool()) == Some(true) {
            "  (yanked)"
        } else {
            ""
        };
        let size: u64 = version
            .get("files")
            .and_then(|f| f.as_array())
            .map(|files| files.iter().filter_map(|f| f.get("size")?.as_u64()).sum())
            .unwrap_or(0);
        let signed = version
            .get("signature")
            .and_then(|s| s.get("key"))
            .and_then(|k| k.as_str())
            .map(|key| format!("  signed by {key}"))
            .unwrap_or_default();
        zoo_term::outln!(
            "  {}  published {}  {} bytes{yanked}{signed}",
            field("version"),
            field("published_at"),
            size
        );
        // A TorchScript model is a program: say so before anyone installs it.
        if let Some(code) = version.get("code").and_then(|c| c.as_str()) {
            println!(
                "    contains code: {code} is TorchScript (runs as a program); \
                 install and run need --allow-code"
            );
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for in names, descriptions and keywords.
    query: String,
    /// How many results to show.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn search(args: SearchArgs) -> Result<()> {
    let client = args.remote.client()?;
    let results = client.api().search(&args.query, args.limit)?;
    if args.json {
        return print_json(&results);
    }
    if results.packages.is_empty() {
        zoo_term::outln!("no packages match `{}`", args.query);
    }
    for hit in &results.packages {
        zoo_term::outln!(
            "{} {} ({})  {}",
            hit.name,
            hit.version,
            hit.kind,
            hit.description
        );
    }
    if results.total > results.packages.len() as u64 {
        zoo_term::outln!("… {} results in all", results.total);
    }
    Ok(())
}
