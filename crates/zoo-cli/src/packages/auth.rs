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
    if super::keys::pin_at_login(&registry, out)? {
        check_token(&registry, &token, out)?;
    }
    let path = zoo_client::config::save_login(&registry, &token)?;
    say!(out, "saved the token for {registry} in {}", path.display());
    Ok(())
}

/// Asks the registry whose token this is, so that a mistyped or revoked
/// token is refused now rather than at the first publish. An unreachable
/// registry (login may come before it runs) and one without the route only
/// skip the check.
fn check_token(registry: &str, token: &str, out: Output) -> Result<()> {
    let config = zoo_client::Config::load(&zoo_client::Overrides {
        registry: Some(registry.to_string()),
        token: Some(token.to_string()),
        ..Default::default()
    })?;
    let client = zoo_client::Client::new(config)?;
    match client.api().whoami() {
        Ok(Some(me)) => {
            say!(
                out,
                "the token is {}'s (scopes: {})",
                me.login,
                me.scopes.join(", ")
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(zoo_client::Error::Http {
            status: 401 | 403,
            detail,
            ..
        }) => bail!("{registry} refused this token ({detail}); nothing was saved"),
        Err(e @ zoo_client::Error::Network { .. }) => {
            eprintln!("warning: could not check the token with {registry} ({e}); saving it anyway");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
