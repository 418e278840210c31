//! `zoo package`, `zoo publish`, `zoo yank`, `zoo owner`.

use super::ui::Bars;
use super::{Output, RemoteArgs, say};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The package directory (holding zoo.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the archive (default: NAME-VERSION.zoo here).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn package(args: PackageArgs, out: Output) -> Result<()> {
    let packed = zoo_format::archive::pack(&args.dir, &Default::default())
        .with_context(|| format!("packing {}", args.dir.display()))?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(packed.file_name()));
    packed.write_to(&path)?;
    say!(out, "wrote {} ({} bytes)", path.display(), packed.size);
    for file in packed.external_files() {
        say!(
            out,
            "  external: {} ({} bytes, sha256 {}) is uploaded separately by `zoo publish`",
            file.path,
            file.size,
            file.sha256
        );
    }
    // The hash is the command's result: printed even with --quiet.
    println!("sha256 {}", packed.sha256);
    Ok(())
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The package directory (holding zoo.toml), or a Link crate's (holding
    /// a Cargo.toml with [package.metadata.zoo]).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Sign the version (name, version and archive sha256) with your key
    /// from `zoo keygen`; installs can then require trusted signatures.
    #[arg(long)]
    sign: bool,
    /// The secret key to sign with (default: <config dir>/zoo/signing.key).
    #[arg(long, value_name = "FILE", requires = "sign")]
    key: Option<PathBuf>,
    /// Link crates: skip cargo's verification build of the packaged crate.
    #[arg(long)]
    no_verify: bool,
    /// Link crates: package uncommitted changes (cargo's --allow-dirty).
    #[arg(long)]
    allow_dirty: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn publish(args: PublishArgs, out: Output) -> Result<()> {
    if args.remote.offline {
        bail!("cannot publish in offline mode");
    }
    let client = args.remote.client()?;
    if client.config.offline {
        bail!("cannot publish in offline mode (ZOO_OFFLINE is set)");
    }
    if super::link_crate::is_link_crate(&args.dir) {
        if args.sign {
            bail!(
                "--sign applies to zoo packages; a Link crate in {} is published through \
                 cargo, whose .crate checksum the registry records (sign the model packages \
                 that depend on it)",
                args.dir.display()
            );
        }
        let flags = super::link_crate::CargoFlags {
            no_verify: args.no_verify,
            allow_dirty: args.allow_dirty,
        };
        return super::link_crate::publish(&args.dir, &client, flags, out)
            .with_context(|| format!("publishing the crate in {}", args.dir.display()));
    }
    let key = if args.sign {
        let path = match args.key {
            Some(path) => path,
            None => zoo_client::trust::signing_key_path()
                .context("no config directory found (set HOME)")?,
        };
        Some(zoo_client::trust::load_signing_key(&path)?)
    } else {
        None
    };
    let bars = Bars::new(out);
    let report = client
        .api()
        .publish_signed(&client.index, &args.dir, key.as_ref(), &bars)
        .with_context(|| format!("publishing {}", args.dir.display()))?;
    for (path, size) in &report.uploaded {
        say!(out, "uploaded {path} ({size} bytes)");
    }
    for path in &report.skipped {
        say!(out, "skipped {path} (the registry has it)");
    }
    let p = &report.published;
    say!(
        out,
        "published {}@{} to {} (archive sha256 {})",
        p.name,
        p.version,
        client.config.registry,
        p.archive_sha256
    );
    if let Some(key) = &key {
        say!(out, "signed with {}", key.public());
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct YankArgs {
    /// NAME@VERSION (an exact version).
    spec: String,
    /// Un-yank instead.
    #[arg(long)]
    undo: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn yank(args: YankArgs, out: Output) -> Result<()> {
    let Some((name, version)) = args.spec.split_once('@') else {
        bail!("`{}`: expected NAME@VERSION", args.spec);
    };
    let version = semver::Version::parse(version.trim_start_matches('='))
        .with_context(|| format!("`{}`: `{version}` is not a version", args.spec))?;
    let client = args.remote.client()?;
    client.api().yank(name, &version, args.undo)?;
    let action = if args.undo { "un-yanked" } else { "yanked" };
    say!(out, "{action} {name}@{version}");
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// Show the owners of a package.
    List {
        name: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Give a user ownership of a package.
    Add {
        name: String,
        user: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Take ownership away from a user.
    Remove {
        name: String,
        user: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

pub fn owner(command: OwnerCommand, out: Output) -> Result<()> {
    match command {
        OwnerCommand::List { name, remote } => {
            for login in remote.client()?.api().owners(&name)? {
                println!("{login}");
            }
        }
        OwnerCommand::Add { name, user, remote } => {
            let msg = remote.client()?.api().change_owners(&name, &[user], true)?;
            say!(out, "{msg}");
        }
        OwnerCommand::Remove { name, user, remote } => {
            let msg = remote
                .client()?
                .api()
                .change_owners(&name, &[user], false)?;
            say!(out, "{msg}");
        }
    }
    Ok(())
}
