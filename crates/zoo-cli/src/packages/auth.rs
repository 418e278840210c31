//! `zoo login`: saves the token and pins the registry's index-signing key.

use super::{Output, say};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::BufRead;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry the token is for (default: the configured one).
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
    /// The token; read from standard input when omitted.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

pub fn login(args: LoginArgs, out: Output) -> Result<()> {
    let registry = match args.registry {
        Some(url) => url,
        None => zoo_client::Config::load(&Default::default())?.registry,
    };
    let token = match args.token {
        Some(token) => token,
        None => {
            if !out.quiet {
                eprintln!("paste the API token for {registry}:");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the token from standard input")?;
            line.trim().to_string()
        }
    };
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        bail!("the token is empty or contains whitespace");
    }
    // The key first: a registry presenting another key gets no token.
    super::keys::pin_at_login(&registry, out)?;
    let path = zoo_client::config::save_login(&registry, &token)?;
    say!(out, "saved the token for {registry} in {}", path.display());
    Ok(())
}
