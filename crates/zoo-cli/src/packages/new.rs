//! `zoo new link NAME [--path DIR]`: scaffolds a Link crate ready to publish
//! to zoo's Cargo registry (and as a zoo package of kind `link`).
//!
//! The files come from templates under `templates/link/` with `{{name}}`,
//! `{{crate_name}}`, `{{type_name}}` and `{{zoo_nn_req}}` filled in. They are
//! written into a temporary sibling folder that is renamed into place, so a
//! failure leaves nothing half-written.

use super::{Output, say};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A Link crate: Cargo.toml (zoo-nn from the `zoo` registry,
    /// publish = ["zoo"], [package.metadata.zoo] kind = "link"), a Link
    /// skeleton with forward tests, build.rs and a README.
    Link(NewLinkArgs),
}

#[derive(Debug, Args)]
pub struct NewLinkArgs {
    /// The crate's (and zoo package's) name: ASCII letters, digits, `-`, `_`.
    name: String,
    /// Where to create it (default: ./NAME). Must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
}

/// (path inside the crate, template).
const LINK_TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/link/Cargo.toml.in"),
    ),
    ("build.rs", include_str!("../../templates/link/build.rs.in")),
    ("src/lib.rs", include_str!("../../templates/link/lib.rs.in")),
    (
        "README.md",
        include_str!("../../templates/link/README.md.in"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/link/gitignore.in"),
    ),
];

/// Rust keywords cargo refuses as crate names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield", "Self",
];

/// Crate names cargo reserves for the standard library and test harness.
const RESERVED_CRATES: &[&str] = &["test", "std", "core", "alloc", "proc_macro"];

/// Crates the scaffold depends on: a Link crate of the same name would
/// depend on itself.
const DEPENDENCIES: &[&str] = &["zoo_nn", "zoo_torch_build", "tch", "torch_sys"];

/// Names the scaffold's code and README import, which its Link type must
/// not take.
const IMPORTED_TYPES: &[&str] = &[
    "Link", "Mode", "NnError", "Result", "Tensor", "VarStore", "Device", "Kind",
];

pub fn run(command: NewCommand, out: Output) -> Result<()> {
    match command {
        NewCommand::Link(args) => new_link(args, out),
    }
}

fn new_link(args: NewLinkArgs, out: Output) -> Result<()> {
    let name = args.name.as_str();
    zoo_format::validate_name(name).map_err(|e| anyhow::anyhow!("package name: {e}"))?;
    check_scaffold_name(name)?;
    let dir = args.path.unwrap_or_else(|| PathBuf::from(name));
    let files = render(name)?;
    write_new_dir(&dir, &files)?;
    say!(out, "created Link crate `{name}` in {}", dir.display());
    say!(
        out,
        "next: set LIBTORCH, add [registries.zoo] to ~/.cargo/config.toml (see its README), \
         `cargo test`, then `zoo publish`"
    );
    Ok(())
}

/// Refuses names whose scaffold could not build: a Rust keyword or a
/// reserved crate name (cargo refuses them), one of the scaffold's own
/// dependencies, or a Link type name that its code already imports.
fn check_scaffold_name(name: &str) -> Result<()> {
    let crate_name = name.replace('-', "_");
    if KEYWORDS.contains(&crate_name.as_str()) {
        bail!("package name: `{name}` is a Rust keyword, which cargo refuses as a crate name");
    }
    if RESERVED_CRATES.contains(&crate_name.to_lowercase().as_str()) {
        bail!("package name: `{name}` is reserved for Rust's own crates; cargo refuses it");
    }
    if DEPENDENCIES.contains(&crate_name.to_lowercase().as_str()) {
        bail!("package name: `{name}` is a crate the Link depends on; choose another name");
    }
    let type_name = type_name(name);
    if IMPORTED_TYPES.contains(&type_name.as_str()) {
        bail!(
            "package name: its Link type would be `{type_name}`, which the scaffold imports from \
             zoo_nn or tch; choose another name (e.g. `my-{name}`)"
        );
    }
    Ok(())
}

/// The scaffold's files for `name`, templates filled in.
fn render(name: &str) -> Result<Vec<(&'static str, String)>> {
    let crate_name = name.replace('-', "_");
    let type_name = type_name(name);
    let zoo_nn_req = nn_requirement()?;
    Ok(LINK_TEMPLATES
        .iter()
        .map(|(path, template)| {
            let text = template
                .replace("{{name}}", name)
                .replace("{{crate_name}}", &crate_name)
                .replace("{{type_name}}", &type_name)
                .replace("{{zoo_nn_req}}", &zoo_nn_req);
            (*path, text)
        })
        .collect())
}

/// The semver requirement on zoo-nn matching this zoo: `MAJOR.MINOR`
/// (zoo-nn is versioned with the workspace, so with this binary).
fn nn_requirement() -> Result<String> {
    let version = semver::Version::parse(env!("CARGO_PKG_VERSION"))
        .context("zoo's own version is not semver")?;
    Ok(if version.major == 0 {
        format!("0.{}", version.minor)
    } else {
        version.major.to_string()
    })
}

/// `peephole-link` → `PeepholeLink`, the Link type's name.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Writes `files` into a temporary sibling of `dir`, then renames it to
/// `dir` (which must not exist, or be an empty folder).
fn write_new_dir(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "{} already exists and is not an empty folder",
                dir.display()
            );
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".zoo-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    for (path, text) in files {
        let full = staging.path().join(path);
        if let Some(folder) = full.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("creating {}", folder.display()))?;
        }
        std::fs::write(&full, text).with_context(|| format!("writing {}", full.display()))?;
    }
    if dir.exists() {
        // An empty folder: rename refuses to replace it on some systems.
        std::fs::remove_dir(dir).with_context(|| format!("replacing {}", dir.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).with_context(|| {
        let _ = std::fs::remove_dir_all(&staged);
        format!("moving the new crate into {}", dir.display())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("peephole-link"), "PeepholeLink");
        assert_eq!(type_name("my_gru2"), "MyGru2");
        assert_eq!(type_name("a--b"), "AB");
    }

    #[test]
    fn names_whose_scaffold_could_not_build_are_refused() {
        for (name, why) in [
            ("link", "would be `Link`"),
            ("tensor", "would be `Tensor`"),
            ("nn-error", "would be `NnError`"),
            ("Self", "keyword"),
            ("test", "reserved"),
            ("zoo-nn", "depends on"),
        ] {
            let e = check_scaffold_name(name).unwrap_err().to_string();
            assert!(e.contains(why), "{name}: {e}");
        }
        check_scaffold_name("peephole-link").unwrap();
        check_scaffold_name("linker").unwrap();
    }

    #[test]
    fn every_placeholder_is_filled() {
        for (path, text) in render("my-link").unwrap() {
            assert!(!text.contains("{{"), "{path} keeps a placeholder:\n{text}");
        }
        let files = render("my-link").unwrap();
        let cargo = &files.iter().find(|(p, _)| *p == "Cargo.toml").unwrap().1;
        let manifest: toml::Value = toml::from_str(cargo).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some("my-link"));
        assert_eq!(
            manifest["package"]["metadata"]["zoo"]["kind"].as_str(),
            Some("link")
        );
        assert_eq!(
            manifest["dependencies"]["zoo-nn"]["registry"].as_str(),
            Some("zoo")
        );
        let lib = &files.iter().find(|(p, _)| *p == "src/lib.rs").unwrap().1;
        assert!(lib.contains("pub struct MyLink"), "{lib}");
    }

    #[test]
    fn refuses_a_non_empty_folder_and_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("taken");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let error = write_new_dir(&dir, &render("taken").unwrap()).unwrap_err();
        assert!(error.to_string().contains("not an empty folder"), "{error}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn writes_into_an_empty_folder() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("fresh");
        std::fs::create_dir(&dir).unwrap();
        write_new_dir(&dir, &render("fresh").unwrap()).unwrap();
        assert!(dir.join("src/lib.rs").is_file());
        assert!(dir.join("Cargo.toml").is_file());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
