//! `zoo package`, `zoo publish`, `zoo yank`, `zoo owner`.

use super::ui::Bars;
use super::{Output, RemoteArgs, print_json, say};
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
    if super::link_crate::is_link_crate(&args.dir) {
        bail!(
            "{} is a Rust crate (a Cargo.toml, no zoo.toml): `zoo publish {}` publishes a Link or \
             Function crate through cargo; `zoo package` packs a folder with a zoo.toml",
            args.dir.display(),
            args.dir.display()
        );
    }
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
    zoo_term::outln!("sha256 {}", packed.sha256);
    Ok(())
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The package directory (holding zoo.toml), or a Link crate's (holding
    /// a Cargo.toml with [package.metadata.zoo]).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Sign the whole index entry (name, version, kind, dependencies, the
    /// archive's and every file's sha256) with your key from `zoo keygen`;
    /// installs can then require trusted signatures.
    #[arg(long)]
    sign: bool,
    /// The secret key to sign with (default: signing.key in ZOO_HOME when set, else in <config dir>/zoo).
    #[arg(long, value_name = "FILE", requires = "sign")]
    key: Option<PathBuf>,
    /// Link crates: skip cargo's verification build of the packaged crate.
    #[arg(long)]
    no_verify: bool,
    /// Link crates: package uncommitted changes (cargo's --allow-dirty).
    #[arg(long)]
    allow_dirty: bool,
    /// Print what was published as JSON (zoo packages).
    #[arg(long)]
    pub json: bool,
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
        if args.json {
            bail!(
                "--json applies to zoo packages; a Link crate in {} is published through cargo, \
                 whose output is its own",
                args.dir.display()
            );
        }
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
                .context("no config directory found (set HOME or ZOO_HOME)")?,
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
    let p = &report.published;
    if args.json {
        return print_json(&serde_json::json!({
            "name": p.name,
            "version": p.version.to_string(),
            "registry": client.config.registry,
            "archive_sha256": p.archive_sha256,
            "uploaded": report.uploaded.iter().map(|(path, size)| serde_json::json!({"path": path, "size": size})).collect::<Vec<_>>(),
            "skipped": report.skipped,
            "signed_by": key.as_ref().map(|k| k.public().to_string()),
        }));
    }
    for (path, size) in &report.uploaded {
        say!(out, "uploaded {path} ({size} bytes)");
    }
    for path in &report.skipped {
        say!(out, "skipped {path} (the registry has it)");
    }
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
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
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
    // Said as the registry knows it: the canonical name, and the version
    // without build metadata (which never tells versions apart).
    let name = zoo_format::normalize_name(name);
    let version = zoo_format::version::without_build(&version);
    if args.json {
        return print_json(&serde_json::json!({
            "name": name,
            "version": version.to_string(),
            "yanked": !args.undo,
        }));
    }
    let action = if args.undo { "un-yanked" } else { "yanked" };
    say!(out, "{action} {name}@{version}");
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// Show the owners of a package.
    List {
        /// The package.
        name: String,
        /// Print the logins as a JSON array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Give a user ownership of a package.
    #[command(mut_arg("user", |user| user.help("The registry login of the new owner")))]
    Add(OwnerChangeArgs),
    /// Take ownership away from a user.
    #[command(mut_arg("user", |user| {
        user.help("The registry login of the owner to remove")
    }))]
    Remove(OwnerChangeArgs),
}

/// What `zoo owner add` and `zoo owner remove` both take (each names its
/// `user` in its own help).
#[derive(Debug, Args)]
pub struct OwnerChangeArgs {
    /// The package.
    name: String,
    user: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

impl OwnerCommand {
    pub fn json(&self) -> bool {
        match self {
            OwnerCommand::List { json, .. } => *json,
            OwnerCommand::Add(change) | OwnerCommand::Remove(change) => change.json,
        }
    }
}

pub fn owner(command: OwnerCommand, out: Output) -> Result<()> {
    let (change, add) = match command {
        OwnerCommand::List { name, json, remote } => {
            let owners = remote.client()?.api().owners(&name)?;
            if json {
                return print_json(&owners);
            }
            for login in owners {
                zoo_term::outln!("{login}");
            }
            return Ok(());
        }
        OwnerCommand::Add(change) => (change, true),
        OwnerCommand::Remove(change) => (change, false),
    };
    let OwnerChangeArgs {
        name,
        user,
        json,
        remote,
    } = change;
    let msg = remote
        .client()?
        .api()
        .change_owners(&name, std::slice::from_ref(&user), add)?;
    if json {
        return print_json(&serde_json::json!({
            "name": name,
            "user": user,
            "owner": add,
            "message": msg,
        }));
    }
    say!(out, "{msg}");
    Ok(())
}
