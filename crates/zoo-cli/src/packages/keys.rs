//! `zoo keygen` and `zoo trust`: the user's signing key and the keys they
//! trust (zoo_client::trust).

use super::{Output, say};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zoo_client::trust::{self, Pinned, TrustedKeys};
use zoo_format::signing::{PublicKey, SecretKey};

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (default: signing.key in ZOO_HOME when set, else in <config dir>/zoo).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace an existing key (packages signed with the old one stay
    /// verifiable by whoever trusts the old public key).
    #[arg(long)]
    force: bool,
}

/// Writes a new key pair, trusts its public key, prints it on stdout.
pub fn keygen(args: KeygenArgs, out: Output) -> Result<()> {
    let path = match args.output.clone() {
        Some(path) => path,
        None => {
            trust::signing_key_path().context("no config directory found (set HOME or ZOO_HOME)")?
        }
    };
    if path.is_dir() {
        bail!(
            "{} is a folder; --output names the key file to write",
            path.display()
        );
    }
    // zoo's own config folder is created; a folder the user named is not.
    if args.output.is_some()
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!(
            "{}: the folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    if path.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    let key = SecretKey::generate()?;
    // Readable by its owner only (0600), whole or absent.
    zoo_client::fsutil::write_atomic(&path, key.to_file_text().as_bytes(), true)?;
    let public = key.public();
    let keys_path = trusted_keys_path()?;
    let mut keys = TrustedKeys::load(&keys_path)?;
    let _ = keys.add_publisher(&public, "own key");
    keys.save(&keys_path)?;
    say!(
        out,
        "wrote the secret key to {} (keep it private); your packages signed with it are trusted here ({})",
        path.display(),
        keys_path.display()
    );
    // The public key is the command's result: printed even with --quiet.
    zoo_term::outln!("{public}");
    Ok(())
}

fn trusted_keys_path() -> Result<PathBuf> {
    trust::trusted_keys_path().context("no config directory found (set HOME or ZOO_HOME)")
}

fn parse_key(text: &str) -> Result<PublicKey> {
    Ok(text.parse()?)
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Show the pinned registry keys and the trusted publisher keys.
    List,
    /// Trust a publisher's key (`ed25519:…`, as `zoo keygen` printed it).
    Add {
        /// The publisher's public key, `ed25519:…`.
        key: String,
        /// Whose key it is, for messages.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Stop trusting a publisher's key.
    Remove {
        /// The publisher's public key, `ed25519:…`, as `zoo trust list` shows it.
        key: String,
    },
    /// Pin a registry's index-signing key (`zoo-registry key show` prints
    /// it), replacing any pinned before.
    Registry {
        /// The registry's index-signing public key, `ed25519:…`.
        key: String,
        /// The registry (default: the configured one).
        #[arg(long, value_name = "URL")]
        registry: Option<String>,
    },
}

pub fn trust(command: TrustCommand, out: Output) -> Result<()> {
    let path = trusted_keys_path()?;
    let mut keys = TrustedKeys::load(&path)?;
    match command {
        TrustCommand::List => {
            zoo_term::outln!("registries ({}):", path.display());
            for (url, key) in &keys.registries {
                zoo_term::outln!("  {url}  {key}");
            }
            zoo_term::outln!("publishers:");
            for p in &keys.publishers {
                zoo_term::outln!("  {}  {}", p.key, p.name);
            }
        }
        TrustCommand::Add { key, name } => {
            let key = parse_key(&key)?;
            if name.chars().any(char::is_control) {
                bail!("--name {name:?}: a publisher's name is one line of text");
            }
            let renamed = keys.add_publisher(&key, &name);
            keys.save(&path)?;
            match renamed {
                Some(old) => say!(
                    out,
                    "publisher key {key} ({}) was already trusted as {old:?}; now named {name:?}",
                    key.fingerprint()
                ),
                None => say!(out, "trusting publisher key {key} ({})", key.fingerprint()),
            }
        }
        TrustCommand::Remove { key } => {
            let key = parse_key(&key)?;
            if !keys.remove_publisher(&key) {
                bail!("{key} is not a trusted publisher key ({})", path.display());
            }
            keys.save(&path)?;
            say!(out, "no longer trusting {key}");
        }
        TrustCommand::Registry { key, registry } => {
            let key = parse_key(&key)?;
            let registry = match registry {
                Some(url) => url,
                None => zoo_client::Config::load(&Default::default())?.registry,
            };
            keys.pin_registry(&registry, &key, true)?;
            keys.save(&path)?;
            say!(out, "pinned {key} as the index-signing key of {registry}");
        }
    }
    Ok(())
}

/// Pins the registry's index-signing key at `zoo login` (trust on first use).
/// An unreachable registry is only a warning (the key is then pinned at the
/// first index read; `Ok(false)`); a key other than the pinned one is an
/// error.
pub fn pin_at_login(registry: &str, out: Output) -> Result<bool> {
    let config = zoo_client::Config::load(&zoo_client::Overrides {
        registry: Some(registry.to_string()),
        ..Default::default()
    })?;
    let client = zoo_client::Client::new(config)?;
    let config = match client.index.config() {
        Ok(config) => config,
        Err(e @ (zoo_client::Error::Network { .. } | zoo_client::Error::Http { .. })) => {
            eprintln!(
                "warning: could not read {registry}/index/config.json ({e}); its index-signing key will be pinned on first use"
            );
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(text) = config.key else {
        say!(
            out,
            "the registry {registry} does not sign its index; nothing to pin"
        );
        return Ok(true);
    };
    let key =
        parse_key(&text).with_context(|| format!("the key in {registry}/index/config.json"))?;
    match trust::pin_registry_key(registry, &key, false)? {
        Pinned::New => say!(out, "pinned the index-signing key {key} of {registry}"),
        Pinned::Already => say!(out, "the index-signing key of {registry} is the pinned one"),
    }
    Ok(true)
}
